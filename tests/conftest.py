"""Fixtures that start real servers of the catalog on 127.0.0.1 through the local backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flasklab.backends.base import RunningTarget
from flasklab.backends.local import LocalBackend
from flasklab.catalog import Scenario, Server, lab_root, load_scenarios, load_servers
from flasklab.settings import START_TIMEOUT_S

ROOT = lab_root()


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def catalog_servers() -> dict[str, Server]:
    return load_servers(ROOT)


@pytest.fixture(scope="session")
def catalog_scenarios() -> dict[str, Scenario]:
    return load_scenarios(ROOT)


@pytest.fixture(scope="session")
def local_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBackend]:
    backend = LocalBackend(ROOT, tmp_path_factory.mktemp("logs"), report=lambda _: None)
    backend.prepare(list(load_servers(ROOT).values()))
    yield backend
    backend.close()


@pytest.fixture
def start_server(
    local_backend: LocalBackend, catalog_servers: dict[str, Server]
) -> Iterator[Callable[[str], RunningTarget]]:
    """Start catalog servers by name (healthy on return); every one is stopped after the test."""
    started: list[RunningTarget] = []

    def start(name: str) -> RunningTarget:
        target = local_backend.start(catalog_servers[name])
        started.append(target)
        target.wait_healthy(START_TIMEOUT_S)
        return target

    yield start
    for target in started:
        target.stop()
