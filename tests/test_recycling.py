"""Worker recycling measured: the switches the catalog reads, each window's timeline and worker starts, and real
gunicorn workers recycled by max_requests under real Locust load."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from flasklab.core.catalog import (
    CatalogError,
    Recycling,
    Scenario,
    load_servers,
    recycling_unsupported,
)
from flasklab.core.results import Step, load_results
from flasklab.core.settings import PROFILES
from flasklab.loadgen.window import MIN_P999_SAMPLES, Window
from flasklab.measure.backends.base import RunningTarget
from flasklab.measure.backends.local import LocalBackend
from flasklab.measure.load import LoadJob, run_load
from flasklab.views.chart_style import server_styles
from flasklab.views.moment_charts import moments_figure
from tests.helpers import ROOT

RECYCLED = ("gunicorn-sync", "gunicorn-gthread", "gunicorn-gthread-capped", "gunicorn-gevent", "gunicorn-eventlet")


def test_the_gunicorn_and_uwsgi_commands_read_the_switches_and_the_others_do_not() -> None:
    servers = load_servers(ROOT, {"LAB_MAX_REQUESTS": "500", "LAB_MAX_REQUESTS_JITTER": "100"})
    assert all(servers[name].recycling == Recycling(500, 100) for name in (*RECYCLED, "gunicorn-tornado"))
    assert "--max-requests 500 --max-requests-jitter 100" in servers["gunicorn-sync"].command
    assert servers["uwsgi"].recycling == Recycling(500, None) and "--max-requests 500" in servers["uwsgi"].command
    assert servers["waitress"].recycling is None and servers["dev-single"].recycling is None
    assert "GUNICORN_SYNC_WORKERS" in servers["gunicorn-sync"].worker_settings  # tune still finds one setting
    assert "LAB_MAX_REQUESTS" not in servers["gunicorn-sync"].worker_settings
    unset = load_servers(ROOT, {})
    assert unset["gunicorn-sync"].recycling == Recycling(0, 0)


def test_a_server_without_the_asked_recycling_is_skipped_with_the_reason() -> None:
    servers = load_servers(ROOT, {})
    asked = {"LAB_MAX_REQUESTS": "500"}
    assert recycling_unsupported(servers["gunicorn-sync"], asked) is None
    assert recycling_unsupported(servers["waitress"], {}) is None  # nothing asked: measured as always
    reason = recycling_unsupported(servers["waitress"], asked)
    assert reason is not None and reason.startswith("waitress recycles no worker (LAB_MAX_REQUESTS=500: only the")
    jitter = recycling_unsupported(servers["uwsgi"], asked | {"LAB_MAX_REQUESTS_JITTER": "50"})
    assert jitter is not None and jitter.startswith("uwsgi has no random jitter")


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"LAB_MAX_REQUESTS": "lots"}, "LAB_MAX_REQUESTS='lots': 'lots' is not a valid integer range"),
        ({"LAB_MAX_REQUESTS": "-5"}, "LAB_MAX_REQUESTS='-5': -5 is not in the range 0<=x<=10000000"),
        (
            {"LAB_MAX_REQUESTS_JITTER": "50"},
            "LAB_MAX_REQUESTS_JITTER spreads LAB_MAX_REQUESTS: set it too",
        ),
    ],
)
def test_bad_switches_are_named(environment: dict[str, str], message: str) -> None:
    with pytest.raises(CatalogError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_servers(ROOT, environment)


def lab(*args: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """``python -m flasklab ARGS`` with the switches in its environment."""
    command = [sys.executable, "-m", "flasklab", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT, env=os.environ | environment)


@pytest.mark.real  # a process of the CLI
def test_a_bad_switch_exits_2_before_any_server_starts(tmp_path: Path) -> None:
    result = lab("run", "--servers", "gunicorn-sync", "--out", str(tmp_path / "run"), LAB_MAX_REQUESTS="x")
    assert result.returncode == 2 and "Invalid value for '--max-requests': 'x'" in result.stderr, result.stderr
    spread = lab("run", "--max-requests-jitter", "10", "--out", str(tmp_path / "run"))
    assert spread.returncode == 2 and "--max-requests-jitter spreads --max-requests: set it too" in spread.stderr
    assert not (tmp_path / "run").exists()


def window_with(latency_at: list[tuple[float, float]], duration_s: float) -> Window:
    window = Window(0.0)
    for moment, latency in latency_at:
        window.ended.append(moment)
        window.response_ms.append(latency)
        window.succeeded_at.append(moment)
    window.told_starts = True
    return window


def test_the_timeline_counts_each_second_and_the_starts_in_it() -> None:
    """1,000 rps for 3 s, 1 ms each, but 50 ms in the second after a start at 0.5 s (another at 0.7 s)."""
    completions = [(k / 1000, 50.0 if 0.5 <= k / 1000 < 1.5 else 1.0) for k in range(3000)]
    figures = window_with(completions, 3.0).figures(3.0, starts=[0.5, 0.7, 3.5, -1.0])  # two outside the window
    assert [part["workers_started"] for part in figures["timeline"]] == [2, 0, 0]
    assert [part["requests"] for part in figures["timeline"]] == [1000, 1000, 1000]
    assert [part["p99_ms"] for part in figures["timeline"]] == [50.0, 50.0, 1.0]
    assert figures["workers_started"] == 2 and figures["workers_started_together"] == 2
    assert figures["p999_ms"] == 50.0  # a third of the requests were slow
    assert figures["p999_apart_ms"] == 1.0  # 1,800 completed more than a second after both starts: all fast
    Step.model_validate(
        {
            **figures,
            "users": 4,
            "generator_cpu": 0.1,
            "generator_saturated": False,
            "server_cpu": None,
            "server_rss_mb": None,
        }
    )


def test_starts_a_second_apart_are_not_together_and_thin_tails_are_not_told() -> None:
    completions = [(k / 100, 1.0) for k in range(250)]  # 100 rps for 2.5 s: under 1,000 successes
    figures = window_with(completions, 2.5).figures(2.5, starts=[0.2, 1.3, 2.4])
    assert figures["workers_started"] == 3 and figures["workers_started_together"] == 1
    assert figures["p999_ms"] is None and figures["p999_apart_ms"] is None and len(completions) < MIN_P999_SAMPLES
    assert [part["length_s"] for part in figures["timeline"]] == [1.0, 1.0, 0.5]
    untold = Window(0.0).figures(2.5, starts=[])
    assert untold["workers_started"] is None and untold["workers_started_together"] is None  # no answer told


@pytest.mark.real
@pytest.mark.measuring
def test_recycled_gunicorn_workers_show_as_starts_and_a_server_without_recycling_is_skipped(tmp_path: Path) -> None:
    """gunicorn-sync's 4 workers on hello (hundreds of requests a second): with LAB_MAX_REQUESTS=100 each worker is
    replaced every 100 requests, and the windows tell the new processes; waitress, which has no such setting, is
    skipped with the reason, and the report draws the starts under the latency."""
    out = tmp_path / "run"
    result = lab(
        "run",
        "--servers",
        "gunicorn-sync,waitress",
        "--scenarios",
        "hello",
        "--profile",
        "quick",
        "--out",
        str(out),
        "--no-probe",
        LAB_MAX_REQUESTS="100",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    results = load_results(out / "results.json")
    waitress = next(target for target in results.targets if target.server == "waitress")
    assert waitress.status == "skipped" and waitress.error is not None and "recycles no worker" in waitress.error
    entry = (results.meta.server_entries or {})["gunicorn-sync"]
    assert (entry.max_requests, entry.max_requests_jitter) == (100, 0)
    recycled = next(target for target in results.targets if target.server == "gunicorn-sync")
    started = sum(step.workers_started or 0 for step in recycled.steps)
    assert started >= 4, [(step.users, step.requests, step.workers_started) for step in recycled.steps]
    for step in recycled.steps:
        assert step.timeline and sum(part.workers_started for part in step.timeline) == step.workers_started
        assert sum(part.requests for part in step.timeline) == step.requests
    assert moments_figure(results, "hello", server_styles(results)) is not None
    assert 'id="figure-moments-hello"' in (out / "report.html").read_text()


@pytest.mark.real
@pytest.mark.measuring
def test_workers_that_are_not_recycled_show_no_start(
    start_server: Callable[[str], RunningTarget], local_backend: LocalBackend, catalog_scenarios: dict[str, Scenario]
) -> None:
    """The same server without the switch, one step of 4 users: every answer tells its process, none started."""
    profile = replace(PROFILES["quick"], steps=(4,))
    steps: list[Step] = []
    job = LoadJob.of(catalog_scenarios["hello"].locustfile, {}, profile)
    run_load(job, start_server("gunicorn-sync"), local_backend, lambda *_: None, steps.append)
    assert len(steps) == 1 and steps[0].workers_started == 0 and steps[0].workers_started_together == 0
    assert steps[0].timeline and steps[0].requests > 100
