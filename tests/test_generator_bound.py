"""Generator-bound from measurement: real gunicorn sync (4 workers), real Locust, one short step each.

The server's side is measured by the lab's app (each answer's time in the app, summed over the window: the mean
requests in flight there, by Little's law), the generator's by its CPU and its own lag. Two cases with an
independent expectation each:

- Locust given too little CPU (two busy loops share its one pinned CPU, so it runs a third of the time) in front of
  gunicorn sync at 64 users on hello: the server idles (its CPU well under its budget, under one request in flight of
  four), so the step measured Locust and is flagged generator-bound, whatever its 64 configured users.
- The server the bottleneck (io, 100 ms sleeps, 16 users on 4 sync workers): every worker always holds a request,
  so 4 are in flight (Little's law: 40 rps x 0.1 s) and the step is the server's (neither generator-bound nor a
  lower bound; other work on the server's CPU, from whatever else this machine runs, may still flag it).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from flasklab.core.analysis import SERVER_IN_FLIGHT_SHARE, SERVER_NEAR_BUDGET, analyse
from flasklab.core.catalog import Scenario, Server
from flasklab.core.results import Results, load_results
from flasklab.core.settings import Profile
from flasklab.core.sweep import Sweep
from flasklab.measure.backends.local import LocalBackend, pinned
from flasklab.measure.observer import Quiet
from flasklab.measure.runner import Run

# Every test here starts processes and measures: it reads CPU, requests in flight, the generator flag (tests/quiet.py).
pytestmark = [pytest.mark.real, pytest.mark.measuring]


WORKERS = 4  # gunicorn-sync's configured concurrency (the catalog's GUNICORN_SYNC_WORKERS)
HOGS = 2  # busy loops beside Locust on its CPU: it gets about a third of it


def one_step(backend: LocalBackend, out: Path, server: Server, scenario: Scenario, users: int) -> Results:
    profile = Profile("one-step", (users,), 0.5, 2.0, "one short step")
    Run(Sweep([server], [scenario], profile, out, probe=False), backend, Quiet()).execute()
    return load_results(out)


@contextmanager
def busy_loops(cpus: list[int], count: int) -> Iterator[None]:
    """``count`` processes spinning on ``cpus`` (the generator's CPU set) while the block runs."""
    command = pinned([sys.executable, "-c", "while True: pass"], cpus)
    hogs = [subprocess.Popen(command) for _ in range(count)]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def test_locust_short_of_cpu_in_front_of_an_idle_server_is_generator_bound(
    tmp_path: Path, root: Path, catalog_servers: dict[str, Server], catalog_scenarios: dict[str, Scenario]
) -> None:
    server = catalog_servers["gunicorn-sync"]
    assert server.concurrency == WORKERS
    backend = LocalBackend(root, tmp_path / "logs", report=lambda _: None)
    if backend.pinning is None:
        pytest.fail("this test needs 2 CPUs: the generator pinned apart from the server (tests/needs.py: no skips)")
    with busy_loops(backend.pinning["generator"], HOGS):
        results = one_step(backend, tmp_path / "run", server, catalog_scenarios["hello"], 64)
    (target,) = results.targets
    (standing,) = analyse(target, results.meta).steps
    step = standing.step
    assert step.users == 64 and step.failures == 0
    # The independent expectation: the server had room (neither its CPU nor its workers were the limit) ...
    assert step.server_cpu is not None and step.server_cpu < SERVER_NEAR_BUDGET, step
    assert step.server_in_flight is not None and step.server_in_flight < 0.5 * WORKERS, step
    assert step.server_in_flight_max == 1  # a sync worker serves one request at a time
    # ... while the generator's CPU set was taken: the step measured Locust.
    assert step.generator_set_busy is not None and step.generator_set_busy >= 0.9, step
    assert [flag.kind for flag in standing.flags] == ["generator-bound"], standing.causes
    assert f"{step.server_in_flight:.2f} requests in flight" in standing.causes
    assert step.loop_lag_p95_ms is not None and step.loop_lag_max_ms is not None  # the closed loop's lag, recorded
    print(
        f"hello: {step.rps} rps, server CPU {step.server_cpu}, {step.server_in_flight} in flight, loop lag p95 "
        f"{step.loop_lag_p95_ms} ms; {standing.causes}"
    )


def test_a_server_at_its_workers_limit_is_not_generator_bound(
    tmp_path: Path, root: Path, catalog_servers: dict[str, Server], catalog_scenarios: dict[str, Scenario]
) -> None:
    scenario = catalog_scenarios["io"]
    assert scenario.params == {"ms": 100}
    backend = LocalBackend(root, tmp_path / "logs", report=lambda _: None)
    results = one_step(backend, tmp_path / "run", catalog_servers["gunicorn-sync"], scenario, 16)
    (target,) = results.targets
    (standing,) = analyse(target, results.meta).steps
    step = standing.step
    # Little's law, two ways: 4 workers each always holding a 100 ms request; and the rps that gives.
    assert step.server_in_flight is not None and step.server_in_flight == pytest.approx(WORKERS, abs=0.3), step
    assert step.server_in_flight == pytest.approx(step.rps * 0.1, rel=0.1), step
    assert step.server_in_flight >= SERVER_IN_FLIGHT_SHARE * WORKERS and step.server_in_flight_max == 1
    # It counts as the server's, whatever else the machine did (its other flags, if any, are not the generator's).
    assert not {flag.kind for flag in standing.flags} & {"generator-bound", "lower bound"}, standing.causes
    print(f"io: {step.rps} rps, {step.server_in_flight} in flight, causes: {standing.causes or 'none'}")
