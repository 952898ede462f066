"""Rounds: a real run measuring every target twice in shuffled order, and how its steps combine."""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from flasklab.cli import main
from flasklab.core.analysis import Interval, p95_interval, rps_interval
from flasklab.core.results import Results, Step, load_results
from flasklab.measure.rounds import RULES, combine, combine_rounds
from flasklab.views.report import live_status, render_report

# Every test here measures: its module sweep's rates are asserted (tests/quiet.py).
pytestmark = pytest.mark.measuring

ROOT = Path(__file__).resolve().parents[1]
SERVERS = ("dev-single", "gunicorn-sync")


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Results:
    out = tmp_path_factory.mktemp("rounds") / "run"
    command = [sys.executable, "-m", "flasklab", "run", "--profile", "quick", "--scenarios", "io", "--no-probe"]
    command += ["--servers", ",".join(SERVERS), "--rounds", "2", "--seed", "7", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return load_results(out)


@pytest.mark.real
def test_every_target_is_measured_once_per_round(results: Results) -> None:
    assert (results.meta.rounds, results.meta.seed, results.meta.status) == (2, 7, "complete")
    assert len(results.targets) == len(SERVERS)
    for target in results.targets:
        assert target.status == "ok"
        first = [step.users for step in target.rounds[0]]
        # the second round repeats the loads the first one ran: all of them, or up to where its curve stopped
        assert first == [1, 4, 16][: len(first)] and (first == [1, 4, 16]) is (target.stopped is None), target
        assert [[step.users for step in steps] for steps in target.rounds] == [first, first]
        assert [step.users for step in target.steps] == first
    single_io = results.target("dev-single", "io")
    assert single_io is not None and single_io.stopped is not None and len(single_io.steps) == 2  # flat from 1 user


@pytest.mark.real
def test_steps_hold_the_rounds_median_and_spread(results: Results) -> None:
    for target in results.targets:
        for level, step in enumerate(target.steps):
            measured = [steps[level] for steps in target.rounds]
            rps = [s.rps for s in measured]
            assert step.spread is not None and step.spread.rounds == 2
            assert step.rps == statistics.median(rps)
            assert (step.spread.rps_min, step.spread.rps_max) == (min(rps), max(rps))
            assert step.requests == sum(s.requests for s in measured)
            assert step.generator_saturated == any(s.generator_saturated for s in measured)
            # compare reads the spread across rounds, not one window's own interval
            # two rounds: their range, named as one (it holds their median half the time), not a 95 % interval
            assert rps_interval(step) == Interval(min(rps), max(rps), "range of 2 rounds")
            p95 = [s.p95_ms for s in measured if s.p95_ms is not None]
            assert p95_interval(step) == Interval(min(p95), max(p95), "range of 2 rounds")


@pytest.mark.real
def test_single_server_behaviour_survives_rounds(results: Results) -> None:
    """dev-single serves one request at a time in both rounds: io at 4 users stays near 10 rps (one 100 ms sleep)."""
    target = results.target("dev-single", "io")
    assert target is not None
    for steps in target.rounds:
        assert 7 <= steps[1].rps <= 11, steps[1]


@pytest.mark.real
def test_combining_one_round_changes_nothing(results: Results) -> None:
    target = results.targets[0]
    assert combine([target.rounds[0][0]]) == target.rounds[0][0]
    assert combine_rounds([target.rounds[0]]) == target.rounds[0]


@pytest.mark.real
def test_live_status_counts_rounds(results: Results) -> None:
    running = Results.model_validate(results.model_dump())
    running.meta.status = "running"
    target = running.targets[-1]
    target.status = "running"
    target.rounds[-1] = target.rounds[-1][:1]
    now = live_status(running)
    assert now is not None
    assert (now.server, now.scenario, now.step, now.round, now.rounds) == (target.server, target.scenario, 2, 2, 2)
    total = sum(2 * len(t.rounds[0]) for t in running.targets)  # each round runs the first round's loads
    assert (now.done_steps, now.total_steps) == (total - (len(target.rounds[0]) - 1), total)


@pytest.mark.real
def test_report_draws_round_whiskers(results: Results) -> None:
    html = render_report(results)
    assert "median of 2 rounds" in html and '"arrayminus"' in html
    assert "the range of the 2 rounds, min to max, not a 95 % interval" in html
    assert "with probability 50.0 % only" in html


@pytest.mark.parametrize("value", ["0", "21", "two"])
def test_bad_rounds_exit_2(value: str) -> None:
    result = CliRunner().invoke(main, ["run", "--rounds", value, "--servers", "gunicorn-sync"])
    assert result.exit_code == 2 and "--rounds" in result.output


def test_rounds_combine_the_generator_side_warm_up_and_open_model_fields() -> None:
    """Worst cases where one bad round taints the level (unstable, not steady, lower bounds); sums of counts."""

    def measured(**fields: object) -> Step:
        base: dict[str, object] = {
            "users": 8,
            "offered_rps": 40.0,
            "duration_s": 1.5,
            "requests": 60,
            "failures": 0,
            "rps": 40.0,
            "p50_ms": 100.0,
            "p95_ms": 110.0,
            "p99_ms": 120.0,
            "max_ms": 130.0,
            "generator_cpu": 0.2,
            "generator_saturated": False,
            "server_cpu": 0.1,
            "server_rss_mb": 50.0,
        }
        return Step.model_validate(base | fields)

    first = measured(generator_cpu_total=0.3, generator_cpus=1, generator_set_busy=0.4, steady=True, warmup_used_s=0.5)
    second = measured(
        generator_cpu_total=0.5,
        generator_cpus=1,
        generator_set_busy=0.6,
        steady=False,
        warmup_used_s=1.5,
        censored=7,
        percentiles_lower_bound=True,
        unstable=True,
        backlog=30,
    )
    third = measured(generator_cpu_total=0.4, generator_cpus=1, generator_set_busy=0.5, steady=True, censored=0)
    third = third.model_copy(update={"unstable": False, "warmup_used_s": 0.5})
    step = combine([first, second, third])
    assert (step.steady, step.unstable, step.percentiles_lower_bound) == (False, True, True)
    assert (step.censored, step.backlog) == (7, 30)
    assert (step.generator_cpu_total, step.generator_set_busy, step.generator_cpus) == (0.4, 0.5, 1)
    assert step.warmup_used_s == 0.5
    unmeasured = combine([measured(), measured()])  # steps written before these fields: still unknown
    assert (unmeasured.steady, unmeasured.unstable, unmeasured.censored) == (None, None, None)


def test_every_step_field_has_its_rounds_rule() -> None:
    """A new step field costs its model field, where it is measured, and its rule here: this says which is missing."""
    assert set(RULES) | {"spread"} == set(Step.model_fields)


def test_a_combined_step_takes_each_fields_rule() -> None:
    """Medians, sums, worst cases and counts by kind, one rule per field; the within-window intervals left out."""
    base: dict[str, object] = {"users": 4, "duration_s": 1.0, "failures": 0, "p50_ms": 1.0, "p95_ms": 2.0}
    base |= {"p99_ms": 3.0, "max_ms": 4.0}
    base |= {"generator_cpu": 0.1, "generator_saturated": False, "server_cpu": None, "server_rss_mb": None}
    steps = [
        Step.model_validate(base | {"requests": 10, "rps": 10.0, "rps_low": 9.0, "errors": {"HTTP 500": 1}}),
        Step.model_validate(base | {"requests": 30, "rps": 30.0, "max_ms": 9.0, "errors": {"HTTP 500": 2}}),
        Step.model_validate(base | {"requests": 20, "rps": 20.0, "server_rss_mb": 40.0, "names": {"/io": 20}}),
    ]
    step = combine(steps)
    assert (step.requests, step.rps, step.max_ms, step.duration_s) == (60, 20.0, 9.0, 3.0)
    assert (step.errors, step.names, step.server_rss_mb, step.server_cpu) == ({"HTTP 500": 3}, {"/io": 20}, 40.0, None)
    assert step.rps_low is None and step.spread is not None and step.spread.rounds == 3
