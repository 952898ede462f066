"""The slowclient scenario against real servers, real nginx and real Locust, in short steps.

Sixteen users (8 fast, 4 slow senders, 4 slow readers) hold all 4 sync workers: gunicorn-sync's fast users starve,
nginx's buffering keeps them served, and nginx without buffering starves them as gunicorn alone does (at 8 users it
did not: its socket buffers alone took enough of two slow readers' responses to free the workers now and then).
A slow sender that never finishes is cut by the server's own timeout and counted as a failure of its request name.
"""

from __future__ import annotations

import dataclasses
import html
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from flasklab.core.catalog import Server
from flasklab.core.results import Step, load_results
from flasklab.core.settings import START_TIMEOUT_S, Profile
from flasklab.core.slow_client_claims import FAST_USERS, FastUsers, fast_users, protected
from flasklab.measure.backends.base import RunningTarget
from flasklab.measure.backends.local import LocalBackend
from flasklab.measure.load import LoadJob, run_load
from flasklab.views.compare import compare_runs
from flasklab.views.report import render_report
from tests.needs import unavailable

SEND_NAME, READ_NAME = "/upload (slow send)", "/payload (slow read)"
# Slow clients take 0.8 s each: a 3 s window sees several of each kind finish.
PARAMS = {"send_kb": 16, "send_ms": 800, "read_kb": 8192, "read_ms": 800}
SHORT = Profile("slowclient-test", (16,), 0.5, 3.0, "one short step of 16 users")


def one_step(
    root: Path, target: RunningTarget, backend: LocalBackend, params: dict[str, int], profile: Profile = SHORT
) -> Step:
    steps: list[Step] = []
    job = LoadJob.of(root / "locustfiles" / "slowclient.py", {**PARAMS, **params}, profile, windows="fixed")  # a mix
    run_load(job, target, backend, lambda *_: None, steps.append)
    (step,) = steps
    return step


def fast_figures(step: Step) -> FastUsers:
    figures = fast_users(step)
    assert figures is not None, step.names
    return figures


@pytest.mark.measuring
@pytest.mark.real
def test_buffering_nginx_protects_sync_workers_and_unbuffered_does_not(
    root: Path, local_backend: LocalBackend, start_server: Callable[[str], RunningTarget]
) -> None:
    if shutil.which("nginx") is None:
        unavailable("nginx is not installed")
    steps = {
        name: one_step(root, start_server(name), local_backend, {})
        for name in ("gunicorn-sync", "nginx-gunicorn-sync", "nginx-gunicorn-sync-unbuffered")
    }
    for name, step in steps.items():
        assert {FAST_USERS, SEND_NAME, READ_NAME} <= set(step.names), (name, step.names)
        assert not step.name_failures, (name, step.errors)
        assert step.name_p95_ms[SEND_NAME] >= PARAMS["send_ms"], name  # every slow sender took its time
    plain, buffered = fast_figures(steps["gunicorn-sync"]), fast_figures(steps["nginx-gunicorn-sync"])
    unbuffered = fast_figures(steps["nginx-gunicorn-sync-unbuffered"])
    assert buffered.p95_ms is not None and buffered.p95_ms < 200, buffered
    assert protected(plain, buffered), (plain, buffered)
    assert not protected(plain, unbuffered), (plain, unbuffered)


@pytest.mark.real
def test_a_slow_sender_that_never_finishes_is_cut_by_the_servers_timeout(
    root: Path, local_backend: LocalBackend, catalog_servers: dict[str, Server]
) -> None:
    """gunicorn's own --timeout (1 s here) kills the sync worker held by a body that takes a minute to arrive.

    gunicorn notices a silent worker 2 to 4 s after its request began, and the sender its closed connection at its
    next 1 KiB piece (under 1 s later): a 6 s window sees at least one cut.
    """
    sync = catalog_servers["gunicorn-sync"]
    server = dataclasses.replace(sync, command=sync.command.replace(" --workers", " --timeout 1 --workers"))
    target = local_backend.start(server)
    try:
        target.wait_healthy(START_TIMEOUT_S)
        stalled = {"send_kb": 64, "send_ms": 60_000, "read_kb": 64}
        step = one_step(root, target, local_backend, stalled, Profile("stall", (3,), 0.5, 6.0, "one of each kind"))
    finally:
        target.stop()
    assert step.name_failures.get(SEND_NAME, 0) >= 1, (step.names, step.errors)
    assert SEND_NAME not in step.name_p95_ms  # not one slow send succeeded
    assert step.name_failures.get(FAST_USERS, 0) == 0 and step.names[FAST_USERS] > 0


def test_report_and_compare_show_each_kind_of_client_apart(root: Path) -> None:
    """On the committed slowclient run: the report's table by request name, compare's rows per request name."""
    run = load_results(root / "tests" / "fixtures" / "claims" / "slowclient" / "confirmed.json")
    page = render_report(run, with_chart_library=False)
    assert 'id="request-names"' in page
    for name in (FAST_USERS, SEND_NAME, READ_NAME):
        assert f"<code>{html.escape(name)}</code>" in page
    (row,) = [row for row in compare_runs(run, run) if row.server == "nginx-gunicorn-sync"]
    names = {change.name: change for change in row.names}
    assert set(names) == {FAST_USERS, SEND_NAME, READ_NAME}
    fast = names[FAST_USERS]
    assert fast.rps_a == fast.rps_b and fast.rps_a is not None and fast.rps_a > 100
    assert fast.p95_a_ms is not None and fast.p95_a_ms < names[SEND_NAME].p95_a_ms  # type: ignore[operator]
