"""The probe against real servers of the catalog: overlap on the server, per worker, and the self-call."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flasklab.core.catalog import Server, compose_environment, load_servers
from flasklab.core.probe_claims import evaluate_claims
from flasklab.core.results import Claim, ProbeResult
from flasklab.core.settings import PROBE_WIDTH, SELF_CALL_CLIENT_TIMEOUT_S, START_TIMEOUT_S
from flasklab.measure.backends.base import RunningTarget
from flasklab.measure.backends.local import LocalBackend, free_port
from flasklab.measure.probe import (
    PROBE_MAX_WIDTH,
    max_overlap,
    probe_concurrency,
    probe_width,
)


def test_max_overlap_counts_simultaneous_intervals() -> None:
    assert max_overlap([]) == 0
    assert max_overlap([(0, 1), (1, 2), (2, 3)]) == 1  # back to back on one worker is not overlap
    assert max_overlap([(0, 3), (1, 2), (1.5, 4), (3.5, 5)]) == 3


def test_probe_width_follows_the_configuration() -> None:
    """At least the old 24 and configured + 8, at most the cap; unbounded servers get the cap."""
    assert [probe_width(n) for n in (1, 4, 16, 17, 32, 56, 57, 2000)] == [24, 24, 24, 25, 40, 64, 64, 64]
    assert probe_width(None) == PROBE_MAX_WIDTH
    assert probe_width(1) == PROBE_WIDTH


def claim(probe: ProbeResult, name: str, catalog: dict[str, Server]) -> Claim:
    return next(claim for claim in evaluate_claims([probe], catalog) if claim.claim == name)


@pytest.mark.real
@pytest.mark.parametrize(
    ("name", "expected", "selfcall", "workers"),
    [
        ("dev-single", 1, 504, 1),
        ("gunicorn-sync", 4, 200, None),
        ("dev-processes", 3, 200, 12),  # a fork per request: every request has a process of its own
    ],
)
@pytest.mark.measuring  # counts requests overlapping within short timeouts
def test_probe_measures_the_seed(
    start_server: Callable[[str], RunningTarget],
    catalog_servers: dict[str, Server],
    name: str,
    expected: int,
    selfcall: int,
    workers: int | None,
) -> None:
    target = start_server(name)
    result = probe_concurrency(target.url, catalog_servers[name], width=12, io_ms=150, connections="close")
    assert result.measured == expected
    assert (result.completed, result.failed, result.connections) == (12, 0, "close")
    assert result.selfcall_status == selfcall
    assert result.per_worker_max == 1  # each of these processes serves one request at a time
    assert result.workers_seen is not None and 1 <= result.workers_seen <= (workers or expected)
    if workers is not None:
        assert result.workers_seen == workers
    # the timeline: every answered request, by start from the first, on the worker that served it
    assert len(result.requests) == result.completed and result.requests[0].start_s == 0
    assert [r.start_s for r in result.requests] == sorted(r.start_s for r in result.requests)
    assert all(r.end_s - r.start_s >= 0.14 for r in result.requests)  # each slept its 150 ms
    assert len({r.pid for r in result.requests}) == result.workers_seen


@pytest.mark.measuring  # counts requests overlapping within short timeouts
@pytest.mark.real
def test_probe_sees_many_on_gevent_at_its_default_width(
    start_server: Callable[[str], RunningTarget], catalog_servers: dict[str, Server]
) -> None:
    target = start_server("gunicorn-gevent")
    result = probe_concurrency(target.url, catalog_servers["gunicorn-gevent"], io_ms=400)
    assert result.width == PROBE_MAX_WIDTH and result.failed == 0
    assert result.measured == PROBE_MAX_WIDTH
    assert result.per_worker_max is not None and result.per_worker_max > 1  # greenlets overlap inside one worker


@pytest.mark.real
def test_tornado_serves_one_at_a_time_per_worker(
    start_server: Callable[[str], RunningTarget], catalog_servers: dict[str, Server]
) -> None:
    server = catalog_servers["gunicorn-tornado"]
    result = probe_concurrency(start_server("gunicorn-tornado").url, server)
    assert result.width == probe_width(server.concurrency) and result.failed == 0
    assert result.per_worker_max == 1
    assert result.workers_seen is not None and 1 <= result.workers_seen <= (server.concurrency or 0)
    assert result.measured is not None and result.measured <= result.workers_seen  # one at a time in each
    verdict = claim(result, "gunicorn-tornado-one-per-worker", catalog_servers)
    assert verdict.verdict == "confirmed", verdict.evidence
    assert f"{result.workers_seen} of {server.concurrency} workers got connections" in verdict.evidence


@pytest.mark.real
def test_gthread_threads_overlap_inside_one_worker(
    start_server: Callable[[str], RunningTarget], catalog_servers: dict[str, Server]
) -> None:
    result = probe_concurrency(start_server("gunicorn-gthread").url, catalog_servers["gunicorn-gthread"], io_ms=300)
    assert result.per_worker_max is not None and result.per_worker_max > 1
    assert result.workers_seen is not None and result.workers_seen <= 2


@pytest.mark.measuring  # counts requests overlapping within short timeouts
@pytest.mark.real
@pytest.mark.parametrize("connections", ["keepalive", "close"])
def test_the_probe_connects_as_the_load_does(
    start_server: Callable[[str], RunningTarget], catalog_servers: dict[str, Server], connections: str
) -> None:
    """Both modes measure (the keep-alive clients' first request is not a probe sample) and say which they were."""
    target = start_server("uwsgi")
    result = probe_concurrency(target.url, catalog_servers["uwsgi"], width=8, io_ms=150, connections=connections)
    assert (result.measured, result.completed, result.failed, result.connections) == (8, 8, 0, connections)


@pytest.mark.real
def test_capping_gthread_connections_spreads_them_over_the_workers(
    start_server: Callable[[str], RunningTarget], catalog_servers: dict[str, Server]
) -> None:
    """--worker-connections equal to the threads (gunicorn's remedy): no worker holds more than it can serve."""
    server = catalog_servers["gunicorn-gthread-capped"]
    result = probe_concurrency(start_server(server.name).url, server, width=16, io_ms=300, connections="keepalive")
    assert result.failed == 0 and result.workers_seen == 2, result
    assert result.per_worker_max is not None and result.per_worker_max <= 8


@pytest.fixture
def uwsgi_tuned_to_32(local_backend: LocalBackend, root: Path) -> Iterator[tuple[RunningTarget, Server]]:
    """uWSGI with 2 processes x 16 threads, configured through the environment as .env would."""
    server = load_servers(root, {**compose_environment(root), "UWSGI_PROCESSES": "2", "UWSGI_THREADS": "16"})["uwsgi"]
    target = local_backend.start(server)
    try:
        target.wait_healthy(START_TIMEOUT_S)
        yield target, server
    finally:
        target.stop()


@pytest.mark.measuring  # counts requests overlapping within short timeouts
@pytest.mark.real
def test_a_server_configured_above_24_is_confirmed(
    uwsgi_tuned_to_32: tuple[RunningTarget, Server], catalog_servers: dict[str, Server]
) -> None:
    target, server = uwsgi_tuned_to_32
    assert server.concurrency == 32
    result = probe_concurrency(target.url, server, io_ms=400)
    assert result.width == 40 and result.failed == 0
    verdict = claim(result, "uwsgi-tunable", {**catalog_servers, "uwsgi": server})
    assert verdict.verdict == "confirmed", verdict.evidence
    assert "32" in verdict.text


@pytest.mark.real
def test_a_self_call_without_any_answer_is_deadlock_evidence(
    start_server: Callable[[str], RunningTarget],
    catalog_servers: dict[str, Server],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """dev-single whose app waits longer for itself than the probe waits for /self: no answer at all."""
    monkeypatch.setenv("LAB_SELF_TIMEOUT_S", str(SELF_CALL_CLIENT_TIMEOUT_S + 20))
    target = start_server("dev-single")
    result = probe_concurrency(target.url, catalog_servers["dev-single"], width=4, io_ms=50)
    assert result.selfcall_status is None and (result.selfcall_s or 0) >= SELF_CALL_CLIENT_TIMEOUT_S
    assert "no answer within" in (result.error or "")
    verdict = claim(result, "selfcall-deadlocks-single", catalog_servers)
    assert verdict.verdict == "confirmed", verdict.evidence


def test_a_probe_whose_requests_fail_decides_nothing(catalog_servers: dict[str, Server]) -> None:
    """Nothing listens on the port: every request fails, and no claim is refuted for it."""
    server = catalog_servers["gunicorn-sync"]
    result = probe_concurrency(f"http://127.0.0.1:{free_port()}", server, width=8, io_ms=50)
    assert (result.status, result.completed, result.failed, result.measured) == ("failed", 0, 8, None)
    assert "Connection refused" in (result.error or "")
    verdict = claim(result, "gunicorn-sync-serves-workers", catalog_servers)
    assert verdict.verdict == "not-run" and "0 of 8" in verdict.evidence
