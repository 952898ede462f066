"""Fixtures that start real servers of the catalog on 127.0.0.1 through the local backend."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from flasklab.backends.base import RunningTarget
from flasklab.backends.local import LocalBackend
from flasklab.catalog import Scenario, Server, lab_root, load_scenarios, load_servers
from flasklab.settings import START_TIMEOUT_S
from tests.browser import CHROMIUM, CHROMIUM_ARGS

if TYPE_CHECKING:
    from playwright.sync_api import Browser

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


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium driven by Playwright; skipped where it is missing, except in CI (which must have it)."""
    problem = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problem = "the playwright package is not installed"
    if problem is None and not CHROMIUM.is_file():
        problem = f"{CHROMIUM} is missing (apt-get install chromium)"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the browser test: {problem}")
        pytest.skip(problem)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()
