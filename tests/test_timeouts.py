"""Requests longer than the servers' own timeout: the setting the catalog's commands read, the rule that reads a
target's steps, and real gunicorn workers under real Locust load (sync: killed; gthread: its timeout is a heartbeat,
the request runs on)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from flasklab.core.catalog import CatalogError, Scenario, load_servers
from flasklab.core.results import Step, Target
from flasklab.core.settings import PROFILES, START_TIMEOUT_S
from flasklab.core.timeouts import timeout_outcome, verdict
from flasklab.measure.backends.local import LocalBackend
from flasklab.measure.load import LoadJob, run_load
from tests.helpers import ROOT

GUNICORN = (
    "gunicorn-sync",
    "gunicorn-gthread",
    "gunicorn-gthread-capped",
    "gunicorn-gevent",
    "gunicorn-eventlet",
    "gunicorn-tornado",
)
WITHOUT = ("dev-single", "dev-threaded", "dev-processes", "waitress", "granian")


def test_gunicorn_uwsgi_and_nginx_s_gunicorn_read_the_timeout_and_the_others_have_none() -> None:
    servers = load_servers(ROOT, {"LAB_SERVER_TIMEOUT_S": "5"})
    for name in GUNICORN:
        assert servers[name].timeout_s == 5 and "--timeout 5 " in servers[name].command, name
    for name in ("uwsgi", "uwsgi-gevent"):
        assert servers[name].timeout_s == 5 and "--harakiri 5 " in servers[name].command, name
    for name in ("nginx-gunicorn-sync", "nginx-gunicorn-sync-unbuffered"):
        assert servers[name].timeout_s == 5 and "LAB_SERVER_TIMEOUT_S=5 " in servers[name].command, name
    assert all(servers[name].timeout_s is None for name in WITHOUT)
    assert load_servers(ROOT, {})["gunicorn-sync"].timeout_s == 30  # gunicorn's own default, now explicit
    assert "LAB_SERVER_TIMEOUT_S" not in servers["gunicorn-sync"].worker_settings  # tune still finds one setting
    with pytest.raises(CatalogError, match="LAB_SERVER_TIMEOUT_S='0': 0 is not in the range 1<=x<=3600"):
        load_servers(ROOT, {"LAB_SERVER_TIMEOUT_S": "0"})


def test_the_timeout_scenario_declares_what_must_outlast_the_timeout(catalog_scenarios: dict[str, Scenario]) -> None:
    scenario = catalog_scenarios["timeout"]
    assert scenario.outlasts_server_timeout == "long_ms" and scenario.params["long_ms"] > scenario.params["ms"]
    assert scenario.profiles == ()  # asked for by name: the standard sweep's 20 minutes are not its
    assert [s.name for s in catalog_scenarios.values() if s.outlasts_server_timeout] == ["timeout"]


@pytest.mark.parametrize(
    ("timeout_s", "long_ok", "long_failed", "expected"),
    [
        (1, 0, 3, "ended"),
        (1, 2, 1, "ended"),  # some ended: the timeout fired
        (1, 2, 0, "ran on"),
        (None, 2, 0, "no timeout"),
        (3, 2, 0, "not outlasted"),  # 3 s against 3,000 ms requests: nothing to see
        (1, 0, 0, "not measured"),
    ],
)
def test_the_verdict_reads_the_long_requests(
    timeout_s: int | None, long_ok: int, long_failed: int, expected: str
) -> None:
    assert verdict(timeout_s, 3000, long_ok, long_failed) == expected


def step(names: dict[str, int], failures: dict[str, int], errors: dict[str, int], started: int) -> Step:
    return Step.model_validate(
        {
            **{field: 1.0 for field in ("p50_ms", "p95_ms", "p99_ms", "max_ms", "generator_cpu", "server_cpu")},
            "generator_saturated": False,
            "server_rss_mb": 60.0,
            "users": 8,
            "duration_s": 4.0,
            "requests": sum(names.values()),
            "failures": sum(failures.values()),
            "rps": sum(names.values()) / 4,
            "names": names,
            "name_failures": failures,
            "name_p95_ms": {"/io": 180.0, "/io (long)": 3004.0} if "/io (long)" not in failures else {"/io": 180.0},
            "errors": errors,
            "workers_started": started,
        }
    )


def test_an_outcome_sums_its_target_s_steps_and_tells_what_the_clients_saw() -> None:
    cut = "RemoteDisconnected('Remote end closed connection without response')"
    killed = Target(
        server="gunicorn-sync",
        scenario="timeout",
        concurrency=4,
        params={"ms": 100, "long_ms": 3000},
        status="ok",
        steps=[
            step({"/io": 120, "/io (long)": 2}, {"/io (long)": 2}, {cut: 2}, 2),
            step({"/io": 118, "/io (long)": 3}, {"/io (long)": 3, "/io": 1}, {cut: 4}, 3),
        ],
    )
    outcome = timeout_outcome(killed, "long_ms", 1)
    assert outcome is not None and outcome.verdict == "ended"
    assert (outcome.long_ok, outcome.long_failed, outcome.short_failed, outcome.workers_started) == (0, 5, 1, 5)
    assert outcome.errors == ((cut, 6),) and outcome.long_p95_ms is None
    assert outcome.text.startswith("a 1 s timeout ended 5 of 5 long requests (3,000 ms): the clients saw RemoteDis")
    ran = killed.model_copy(
        update={"server": "gunicorn-gthread", "steps": [step({"/io": 300, "/io (long)": 1}, {}, {}, 0)]}
    )
    outcome = timeout_outcome(ran, "long_ms", 1)
    assert outcome is not None and outcome.verdict == "ran on" and outcome.long_p95_ms == 3004.0
    assert outcome.text == "a 1 s timeout: all 1 long requests (3,000 ms) ran their length, p95 3,004 ms"
    assert timeout_outcome(ran.model_copy(update={"steps": [step({"/io": 9}, {}, {}, 0)]}), "long_ms", 1) is None


def lab(*args: str, **environment: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "flasklab", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT, env=os.environ | environment)


@pytest.mark.real  # a process of the CLI
def test_a_timeout_the_long_requests_would_not_outlast_exits_2(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = lab("run", "--servers", "gunicorn-sync", "--scenarios", "timeout", "--out", str(out))
    assert result.returncode == 2, result.stderr
    assert "Invalid value for --server-timeout" in result.stderr
    assert "the timeout scenario's long requests (long_ms=3000 ms) must outlast the servers' own timeout (30 s): " in (
        " ".join(result.stderr.split())
    )
    zero = lab("run", "--server-timeout", "0", "--out", str(out))
    assert zero.returncode == 2 and "0 is not in the range 1<=x<=3600" in zero.stderr, zero.stderr
    assert not out.exists()


@pytest.mark.real
@pytest.mark.measuring
def test_a_sync_worker_past_its_timeout_is_killed_and_a_gthread_one_runs_on(
    local_backend: LocalBackend, catalog_scenarios: dict[str, Scenario]
) -> None:
    """One window of 8 users (7 short, 1 long of 3 s) against a 1 s timeout: gunicorn's arbiter kills the sync worker
    that stopped notifying it (the client gets an HTTP 500, a new worker boots: the lab counts it once it answers,
    which a replacement that takes the next long request never does); a gthread worker's main thread
    keeps notifying while a thread sleeps, so the long request runs its 3 s."""
    scenario = catalog_scenarios["timeout"]
    servers = load_servers(ROOT, {"LAB_SERVER_TIMEOUT_S": "1"})
    profile = replace(PROFILES["quick"], steps=(8,), window_s=6.0)  # a replacement is counted once it answers
    outcomes, boots = {}, {}
    for name in ("gunicorn-sync", "gunicorn-gthread"):
        target = local_backend.start(servers[name])
        steps: list[Step] = []
        try:
            target.wait_healthy(START_TIMEOUT_S)
            job = LoadJob.of(scenario.locustfile, dict(scenario.params), profile, windows="fixed")
            run_load(job, target, local_backend, lambda *_: None, steps.append)
            boots[name] = sum("Booting worker" in line for line in target.log_tail(400).splitlines())
        finally:
            target.stop()
        recorded = Target(server=name, scenario="timeout", concurrency=None, params=scenario.params, status="ok")
        outcomes[name] = timeout_outcome(recorded.model_copy(update={"steps": steps}), "long_ms", 1)
    sync, gthread = outcomes["gunicorn-sync"], outcomes["gunicorn-gthread"]
    workers = int(servers["gunicorn-sync"].concurrency or 0)
    assert sync is not None and sync.verdict == "ended" and sync.long_failed >= 1 and sync.long_ok == 0, sync
    # Each kill was followed by a replacement (gunicorn's log); the lab counts the ones that answered, never more.
    assert boots["gunicorn-sync"] - workers >= sync.long_failed - 1, boots
    assert 0 <= sync.workers_started <= boots["gunicorn-sync"] - workers, (sync, boots)
    assert gthread is not None and gthread.verdict == "ran on" and gthread.long_ok >= 1, gthread
    assert gthread.long_p95_ms is not None and gthread.long_p95_ms >= 3000 and gthread.workers_started == 0, gthread
