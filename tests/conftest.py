"""Fixtures that start real servers of the catalog on 127.0.0.1 through the local backend."""

from __future__ import annotations

import shutil
import signal
import subprocess
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
from tests.quiet import Machine, UnitScheduling, write_units

if TYPE_CHECKING:
    from playwright.sync_api import Browser
    from xdist.remote import Producer

ROOT = lab_root()
# The shared end-to-end run: the seed's single-threaded server, sync workers and greenlets, on both core scenarios.
QUICK_RUN_SERVERS = ("dev-single", "gunicorn-sync", "gunicorn-gevent")
QUICK_RUN_SCENARIOS = ("hello", "io")
QUICK_RUN = ROOT / "tests" / "fixtures" / "runs" / "quick"
QUICK_RUN_B = ROOT / "tests" / "fixtures" / "runs" / "quick-b"  # gunicorn-sync alone, measured after QUICK_RUN


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fast",
        action="store_true",
        help="the pure tier: leave out tests marked real, and fail any test left that starts a process",
    )


def pytest_configure(config: pytest.Config) -> None:
    """SIGINT as a terminal delivers it, whoever started the suite: a shell without job control starts a background
    command (``nohup scripts/test &``) with SIGINT ignored, every process it starts inherits that, and the tests that
    interrupt a run with Ctrl-C would measure the launcher. An ignored SIGINT is given back Python's own handler
    here, so the runs these tests start get the default (exec resets handlers, never an ignored signal).

    Under --fast a test that starts a process without its ``real`` mark fails, naming the mark: the tier stays
    pure because it is checked, not because it was hoped."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if config.getoption("--fast"):
        config.option.markexpr = "not real"

        def refuse(self: subprocess.Popen[bytes], args: object, *rest: object, **kwargs: object) -> None:
            raise RuntimeError(f"this test starts a process ({args!r}): mark it @pytest.mark.real")

        subprocess.Popen.__init__ = refuse  # type: ignore[method-assign,assignment]


# The work units scripts/test's workers take first, longest first (their durations on a fresh clone), so that no
# long one starts last; every other module follows in collection order. The measuring unit goes first: it holds the
# machine alone, so it costs the same wherever it runs, and a failed measurement shows early.
FIRST = ("measuring", "docker", "test_user_app.py", "test_live.py", "test_faults.py")
UNIT = pytest.StashKey[str]()  # each test's work unit
MACHINE = Machine()  # this worker's hold on the machine


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Docker's tests and the sweeps over many servers start processes by definition: they are real too.

    The work units of pytest-xdist's workers: a module is one (its module fixtures run once); Docker's tests are one
    (one engine, one compose project at a time); every test marked ``measuring`` outside Docker's is in one, which
    holds the machine alone from its first test to its last (tests/quiet.py), so a module fixture shared by a
    measuring test and others runs in both units. The long units go first."""
    for item in items:
        if item.get_closest_marker("docker") or item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.real)
        if item.get_closest_marker("docker"):
            unit = "docker"
        else:
            unit = "measuring" if item.get_closest_marker("measuring") else item.path.name
        item.stash[UNIT] = unit
    items.sort(key=lambda item: FIRST.index(item.stash[UNIT]) if item.stash[UNIT] in FIRST else len(FIRST))
    if hasattr(config, "workerinput"):  # a pytest-xdist worker: its controller splits the tests by these units
        write_units({item.nodeid: item.stash[UNIT] for item in items})
        MACHINE.writer_first = any(item.stash[UNIT] == "measuring" for item in items)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Producer) -> UnitScheduling | None:
    """Scope scheduling by the units above (``--dist loadscope``); other modes as pytest-xdist has them."""
    return UnitScheduling(config, log) if config.getvalue("dist") == "loadscope" else None


def alone(item: pytest.Item) -> bool:
    """The measuring unit holds the machine alone; so does a measuring test among Docker's."""
    return item.stash.get(UNIT, "") == "measuring" or item.get_closest_marker("measuring") is not None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, object, object]:
    """Each test holds the machine from its setup to its teardown: alone if it measures (tests/quiet.py)."""
    MACHINE.hold(alone(item))
    try:
        return (yield)
    finally:
        if nextitem is None or not (alone(item) and alone(nextitem)):
            MACHINE.release()


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
def chromium(request: pytest.FixtureRequest) -> Iterator[Browser]:
    """Debian's Chromium driven by Playwright; a test fails where it is missing (nothing skips)."""
    if request.config.getoption("--fast"):  # refused here: Playwright's driver would hang on the refused process
        pytest.fail("this test starts Chromium: mark it @pytest.mark.real")
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
def shared_quick_run() -> Path:
    """The committed real quick run (scripts/record-fixtures: real servers, real Locust, the probe on) that every view
    test reads: the report, the slides, export, the projector and the planner. The views are pure functions of
    results.json, so they are tested on a recorded run; the run itself is tested end to end by tests/test_quick_sweep.py
    and the runner's tests. Tests never write into it: they take ``quick_run_copy``."""
    return QUICK_RUN


@pytest.fixture(scope="module")
def quick_run_copy(shared_quick_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the shared run's folder, for one test module to write reports, slides and CSV into."""
    return Path(shutil.copytree(shared_quick_run, tmp_path_factory.mktemp("run") / "run"))
