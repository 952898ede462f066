"""The machine, shared between tests that run at once (scripts/test runs the suite on several pytest-xdist workers).

Most tests check what a run did (statuses, files, errors, pages) and run side by side. A test marked ``measuring``
asserts on figures the machine decides (throughput, percentiles, CPU, a verdict decided from them, a short elapsed
time): it holds the machine alone, as a writer holds a readers-writer lock. Every test takes the lock: the ones that
measure exclusively, the others shared, so no test runs beside a measurement, the pure ones included (a Hypothesis
test on the other core would slow a sweep's Locust).

The lock is two ``flock`` files of the test run: a turnstile and the room. A reader passes the turnstile and takes
the room shared, for one test; a writer holds the turnstile while it waits for the room, so readers that come after
it wait behind it and a measurement is never starved by a stream of readers. A writer keeps the room across the tests
that follow it alone on its worker, so a run of measuring tests costs one wait for the readers, not one each. A test
holds its share from its setup to its teardown, module fixtures included (a module fixture that runs a sweep runs
inside its first test's hold).
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import time
from pathlib import Path
from typing import IO

import pytest
from xdist.remote import Producer
from xdist.scheduler import LoadScopeScheduling


def lock_folder() -> Path:
    """One folder per test run, shared by its workers (pytest-xdist gives them the run's id), private otherwise."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"solo-{os.getpid()}"
    folder = Path(tempfile.gettempdir()) / f"flasklab-tests-{run}"
    folder.mkdir(exist_ok=True)
    return folder


# How long a worker's first shared test waits for the measuring unit's worker to take the turnstile, when the run has
# a measuring unit: without it a reader that came first (a module fixture building environments for a minute) held
# the room while the writer and every other worker waited.
WRITER_FIRST_S = 10.0
WRITER_BEGAN = "writer-began"


class Machine:
    """This worker's hold on the machine: none, shared (one test beside others) or alone (measuring tests).

    ``writer_first``: the run has a measuring unit, scheduled first; this worker's first shared test lets it begin.
    """

    def __init__(self) -> None:
        self.files: tuple[IO[str], IO[str]] | None = None
        self.alone = False
        self.writer_first = False

    def hold(self, alone: bool) -> None:
        if self.files is not None and self.alone and alone:
            return  # a writer keeps the room for the next measuring test
        self.release()
        folder = lock_folder()
        if self.writer_first and not alone:
            self.writer_first = False
            deadline = time.monotonic() + WRITER_FIRST_S
            while not (folder / WRITER_BEGAN).exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        turnstile, room = (folder / "turnstile").open("a"), (folder / "room").open("a")
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        if alone:
            (folder / WRITER_BEGAN).touch()  # readers may come now: they queue behind the turnstile held here
            fcntl.flock(room, fcntl.LOCK_EX)  # the turnstile stays held: readers queue behind this test
        else:
            fcntl.flock(room, fcntl.LOCK_SH)
            fcntl.flock(turnstile, fcntl.LOCK_UN)
        self.files, self.alone = (turnstile, room), alone

    def release(self) -> None:
        if self.files is None:
            return
        for handle in reversed(self.files):  # closing a file drops its lock: the room first, then the turnstile
            handle.close()
        self.files = None


# pytest-xdist's work units. Its own grouping (``--dist loadgroup``, the ``xdist_group`` mark) renames each test's
# node id, which pytest 9 no longer lets a plugin do: every test became a unit of its own. Here each worker writes the
# unit of every test it collected (all workers collect the same tests) to a file its controller, their parent
# process, reads when it splits the collection into units.


def units_file(controller_pid: int) -> Path:
    return Path(tempfile.gettempdir()) / f"flasklab-tests-units-{controller_pid}.json"


def write_units(units: dict[str, str]) -> None:
    """On a worker: the unit of each collected test, for the controller (this process's parent)."""
    path = units_file(os.getppid())
    partial = path.with_name(f"{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(units))
    partial.replace(path)


class UnitScheduling(LoadScopeScheduling):  # type: ignore[misc]  # pytest-xdist is untyped
    """pytest-xdist's scope scheduling, a scope being the test's unit as the workers wrote it (its module else)."""

    def __init__(self, config: pytest.Config, log: Producer | None = None) -> None:
        super().__init__(config, log)
        self.units: dict[str, str] | None = None

    def _split_scope(self, nodeid: str) -> str:
        if self.units is None:
            path = units_file(os.getpid())
            self.units = json.loads(path.read_text())
            path.unlink(missing_ok=True)
        return self.units.get(nodeid) or nodeid.split("::", 1)[0]
