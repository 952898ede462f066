"""Fixtures that start real servers of the catalog on 127.0.0.1 through the local backend."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from flasklab.core.catalog import Scenario, Server, lab_root, load_scenarios, load_servers
from flasklab.core.settings import START_TIMEOUT_S
from flasklab.measure.backends.base import RunningTarget
from flasklab.measure.backends.local import LocalBackend
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.needs import unavailable

if TYPE_CHECKING:
    from playwright.sync_api import Browser

ROOT = lab_root()
# The shared end-to-end run: the seed's single-threaded server, sync workers and greenlets, on both core scenarios.
QUICK_RUN_SERVERS = ("dev-single", "gunicorn-sync", "gunicorn-gevent")
QUICK_RUN_SCENARIOS = ("hello", "io")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Nothing skips: a test that skipped (a marker, a helper, a plugin) is reported as failed, with its reason."""
    report = yield
    if report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped, and nothing may skip here: {report.longrepr}"
    return report


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
        unavailable(problem)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def shared_quick_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real quick run (real servers, real Locust, the probe on) for every end-to-end test that reads a run: the
    report, the slides, export and the planner. Tests never write into it: they take ``quick_run_copy``."""
    out = tmp_path_factory.mktemp("shared") / "run"
    command = [sys.executable, "-m", "flasklab", "run", "--profile", "quick", "--out", str(out)]
    command += ["--servers", ",".join(QUICK_RUN_SERVERS), "--scenarios", ",".join(QUICK_RUN_SCENARIOS)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def quick_run_copy(shared_quick_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the shared run's folder, for one test module to write reports, slides and CSV into."""
    return Path(shutil.copytree(shared_quick_run, tmp_path_factory.mktemp("run") / "run"))
