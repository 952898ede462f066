"""The measuring side of a step: generator CPU as a whole, steady warm-ups, successes-only percentiles, on_start.

Pure rules (flasklab.core.generator_side, flasklab.core.steady) on fixed inputs; the Locust process itself run for real
(``python -m flasklab.loadgen``) against a real server on 127.0.0.1 with short windows.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flasklab.core.analysis import generator_busy
from flasklab.core.generator_side import busy_signs, cpu_ticks, online_cpus, saturated, set_busy, step_signs
from flasklab.core.protocol import LoadConfig
from flasklab.core.results import Step
from flasklab.core.steady import same_level, warmed_up  # the unstable rule: tests/test_steady.py
from flasklab.measure.backends.base import RunningTarget

ROOT = Path(__file__).resolve().parents[1]

STAT_BEFORE = """cpu  100 0 50 800 10 0 5 0 0 0
cpu0 50 0 25 400 5 0 2 0 0 0
cpu1 50 0 25 400 5 0 3 0 0 0
intr 12345
"""
# cpu1 then spent 60 ticks in user, 10 in system, 20 in softirq and 10 idle: 90 of 100 busy.
STAT_AFTER = """cpu  210 0 65 850 10 0 25 0 0 0
cpu0 100 0 30 440 5 0 2 0 0 0
cpu1 110 0 35 410 5 0 23 0 0 0
intr 23456
"""


def test_cpu_set_busy_counts_softirq() -> None:
    assert online_cpus(STAT_BEFORE) == {0, 1}
    busy = set_busy(cpu_ticks(STAT_BEFORE, {1}), cpu_ticks(STAT_AFTER, {1}))
    assert busy == pytest.approx(0.9)
    assert set_busy(cpu_ticks(STAT_BEFORE, {0}), cpu_ticks(STAT_AFTER, {0})) == pytest.approx(55 / 95)
    assert set_busy(cpu_ticks(STAT_BEFORE, {1}), cpu_ticks(STAT_BEFORE, {1})) is None  # nothing counted


@pytest.mark.parametrize(
    ("busiest", "total", "cpus", "busy", "expected"),
    [
        (0.95, 0.95, 2, None, True),  # one process at its limit
        (0.60, 1.85, 2, None, True),  # no single process, but the side as a whole
        (0.60, 0.70, 1, 0.93, True),  # the CPU set busy (softirq, the dashboard, the upstream)
        (0.60, 1.20, 2, 0.70, False),
        (0.60, None, None, None, False),  # an old-style step: only the busiest process known
        (0.90, 0.90, 2, None, True),  # at the threshold: one rule, ">=" for the process as for the side and the set
        (0.50, 1.80, 2, None, True),
        (0.50, 0.60, 1, 0.90, True),
    ],
)
def test_the_generator_side_is_saturated_as_a_whole(
    busiest: float, total: float | None, cpus: int | None, busy: float | None, expected: bool
) -> None:
    assert saturated(busiest, total, cpus, busy, 0.90) is expected


def test_the_busy_signs_say_which_measure_passed_the_threshold() -> None:
    """What flasklab.core.analysis prints in a generator-bound cause comes from the same rule as ``saturated``."""
    assert busy_signs(0.60, 0.70, 1, 0.93, 0.90) == ["its CPU set 93 % busy"]
    assert busy_signs(0.60, 1.85, 2, None, 0.90) == ["its processes used 1.85 of 2 cores"]
    assert busy_signs(0.95, None, None, None, 0.90) == ["busiest process at 95 % of a core"]
    assert busy_signs(0.60, 1.20, 2, 0.70, 0.90) == []


@pytest.mark.parametrize(("busiest", "total", "cpus", "busy"), [(0.90, None, None, None), (0.5, 1.8, 2, None)])
def test_the_locust_process_and_the_analysis_decide_saturation_by_the_one_rule(
    busiest: float, total: float | None, cpus: int | None, busy: float | None
) -> None:
    """At the threshold exactly (GENERATOR_SATURATION, the default of both), the step the Locust process calls
    saturated is the step the analysis calls busy: one definition, ">=", read twice."""
    verdict = saturated(busiest, total, cpus, busy)
    step = step_of(busiest, total, cpus, busy, verdict)
    assert verdict and step_signs(step) == busy_signs(busiest, total, cpus, busy) != []
    assert generator_busy(step) == ", ".join(busy_signs(busiest, total, cpus, busy))
    just_under = step_of(busiest - 0.001, None, None, None, saturated(busiest - 0.001, None, None, None))
    assert not just_under.generator_saturated and step_signs(just_under) == [] and generator_busy(just_under) is None


def test_a_recorded_verdict_counts_where_the_figures_kept_do_not_show_it() -> None:
    """Rounds keep the median of the side's total: a round that was saturated as a whole still flags the step."""
    step = step_of(0.60, 1.20, 2, None, True)
    assert busy_signs(0.60, 1.20, 2, None) == [] and step_signs(step) == ["busiest process at 60 % of a core"]


def step_of(busiest: float, total: float | None, cpus: int | None, busy: float | None, verdict: bool) -> Step:
    figures = {"generator_cpu": busiest, "generator_cpu_total": total, "generator_cpus": cpus}
    return Step.model_validate(
        {"users": 1, "duration_s": 1.0, "requests": 100, "failures": 0, "rps": 100.0, "p50_ms": 5.0}
        | {"p95_ms": 9.0, "p99_ms": 9.0, "max_ms": 9.0, "server_cpu": 0.1, "server_rss_mb": 30.0}
        | figures
        | {"generator_set_busy": busy, "generator_saturated": verdict}
    )


def test_steady_means_same_rate_within_noise_and_in_flight_held() -> None:
    assert same_level(1000, 950) and not same_level(1000, 800)
    assert same_level(2, 3)  # two against three 100 ms requests: noise, not a trend
    assert warmed_up((500, 480), (16, 16), closed=True)
    assert not warmed_up((500, 480), (12, 16), closed=True)  # users still spawning
    assert not warmed_up((300, 500), (16, 16), closed=True)  # throughput still climbing
    assert not warmed_up((0, 0), (1, 1), closed=True)  # nothing completed: nothing to judge
    assert warmed_up((50, 52), (20, 24), closed=False) and not warmed_up((50, 52), (20, 90), closed=False)


ON_START_LOCUSTFILE = """
from locust import FastHttpUser, constant, task


class Mixed(FastHttpUser):
    wait_time = constant(0)

    def on_start(self):
        self.client.get("/io?ms=300", name="setup")  # set-up: slow, and never a sample

    @task
    def work(self):
        self.client.get("/io?ms=100", name="io")
        self.client.get("/missing", name="missing")  # a fast 404: a failure, never a latency


class Broken(FastHttpUser):
    wait_time = constant(0)

    def on_start(self):
        raise RuntimeError("no login")

    @task
    def hello(self):
        self.client.get("/hello", name="hello")
"""


def loadgen(locustfile: Path, url: str, **load: Any) -> list[Step]:
    """Run the Locust process as flasklab does (one LoadConfig document); its steps, as far as it measures them."""
    config = LoadConfig(locustfile=str(locustfile), host=url, **load)
    command = [sys.executable, "-m", "flasklab.loadgen", "--config", config.model_dump_json()]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    events = [json.loads(line) for line in result.stdout.splitlines()]
    return [Step.model_validate(event["figures"]) for event in events if event["event"] == "step"]


@pytest.mark.measuring
@pytest.mark.real
@pytest.mark.parametrize("model", ["closed", "open"])
def test_percentiles_are_of_successes_and_on_start_is_set_up(
    start_server: Callable[[str], RunningTarget], tmp_path: Path, model: str
) -> None:
    """No warm-up, so every user's on_start falls inside the window: its 300 ms request is no sample (max < 300),
    Broken's exception is a failure, and the fast 404s are failures outside the percentiles (p50 >= 100 ms)."""
    target = start_server("gunicorn-gevent")
    locustfile = tmp_path / "on_start.py"
    locustfile.write_text(ON_START_LOCUSTFILE)
    load = 4 if model == "closed" else 20  # 4 users (2 of each class), or 20 arrivals a second
    # The whole window: its first failures (Broken's on_start) would end it early (they pass the failure limit).
    (step,) = loadgen(locustfile, target.url, model=model, steps=[load], warmup_s=0, window_s=1.5, windows="fixed")
    assert "setup" not in step.names, step.names
    assert step.errors.get("RuntimeError: no login", 0) >= 1, step.errors
    assert step.errors.get("HTTP 404", 0) >= 1 and step.names["io"] >= 1, step
    assert step.failures == sum(step.errors.values()) and step.requests > step.failures
    assert step.p50_ms is not None and step.max_ms is not None
    assert 100 <= step.p50_ms <= step.max_ms < 300, step
    assert step.server_cpu is None and step.server_rss_mb is None  # the orchestrator's to measure


@pytest.mark.measuring
@pytest.mark.real
def test_a_warm_up_that_completes_nothing_is_not_steady_and_stops_at_its_cap(
    start_server: Callable[[str], RunningTarget], root: Path
) -> None:
    """1 user of 2.5 s requests: nothing completes in 0.2 s sub-windows, so the warm-up runs to its cap: 3 x 0.4 s,
    but never less than 1.5 s (WARMUP_CAP_S): 8 sub-windows, 1.6 s."""
    target = start_server("gunicorn-gevent")
    locustfile = root / "locustfiles" / "io.py"
    steps = loadgen(locustfile, target.url, steps=[1], warmup_s=0.4, window_s=0.5, params={"ms": 2500})
    assert steps[0].steady is False
    assert steps[0].warmup_used_s == pytest.approx(1.6, abs=0.1)


@pytest.mark.measuring
@pytest.mark.real
def test_a_steady_step_starts_its_window_after_the_profile_warm_up(
    start_server: Callable[[str], RunningTarget], root: Path
) -> None:
    target = start_server("gunicorn-gevent")
    steps = loadgen(root / "locustfiles" / "hello.py", target.url, steps=[2, 4], warmup_s=0.6, window_s=0.5)
    for step in steps:
        assert step.warmup_used_s is not None and step.generator_cpus is not None
        assert step.warmup_used_s >= 0.6 - 0.01 and step.warmup_used_s <= 3 * 0.6 + 0.1
        assert step.steady is (step.warmup_used_s < 3 * 0.6 - 0.01)
        assert step.generator_cpus >= 1 and (step.generator_cpu_total or 0) >= step.generator_cpu
    assert any(step.steady for step in steps)  # hello at 2 and 4 users settles within a few sub-windows


@pytest.mark.real
def test_a_bad_config_is_an_error_event() -> None:
    """The Locust process validates its one input before Locust loads anything."""
    command = [sys.executable, "-m", "flasklab.loadgen", "--config", '{"locustfile": "x.py", "steps": []}']
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)
    (event,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 1 and event["event"] == "error" and "host" in event["message"], event
