"""Adaptive steps' one stopping rule (flasklab.core.stopping), and the time left that learns the curves' lengths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from flasklab.cli import main
from flasklab.core.results import Meta, Results, Step, Target, load_results
from flasklab.core.settings import STEPS, WINDOW_FLOOR
from flasklab.core.stopping import FLAT_DOUBLINGS, STEPS_RULES, stop_reason
from flasklab.core.sweep import PRIOR_CURVES, PRIOR_STEPS, remaining, step_length, whole_windows
from tests.helpers import flasklab, step


def io_step(users: int, rps: float, p50_ms: float, **fields: object) -> Step:
    """A closed-loop io step with a tight rps interval (±1 %), as a regular 100 ms sleep gives."""
    figures: dict[str, Any] = {"p50_ms": p50_ms, "rps_low": rps * 0.99, "rps_high": rps * 1.01} | fields
    return step(users, rps, **figures)


def test_a_single_worker_on_io_stops_after_two_flat_doublings() -> None:
    """dev-single on io: 10 rps from 1 user on, each doubling of the users doubling the wait (Little's law)."""
    curve = [io_step(1, 10.0, 100), io_step(2, 10.0, 200), io_step(4, 9.95, 400)]
    assert stop_reason(curve[:2]) is None  # one flat doubling is not yet the limit
    reason = stop_reason(curve)
    assert reason is not None and reason.startswith(f"throughput flat for {FLAT_DOUBLINGS} doublings (1 user to 4")
    assert "10.0 → 10.0 → 9.9 rps" in reason and "p50 grew (100 → 200 → 400 ms)" in reason


def test_a_climbing_curve_runs_to_the_top() -> None:
    """gevent on io: throughput doubles with the users, and a flat doubling followed by growth starts the count anew."""
    climbing = [io_step(users, 10.0 * users, 100) for users in (1, 2, 4, 8, 16, 32, 64)]
    assert all(stop_reason(climbing[: k + 1]) is None for k in range(len(climbing)))
    interrupted = [io_step(1, 10, 100), io_step(2, 10, 200), io_step(4, 40, 100), io_step(8, 40, 200)]
    assert stop_reason(interrupted) is None


def test_one_quadrupling_spans_two_doublings() -> None:
    """The quick profile (1, 4, 16 users): a flat step from 1 to 4 users has shown the limit."""
    reason = stop_reason([io_step(1, 10.0, 100), io_step(4, 10.0, 400)])
    assert reason is not None and "1 user to 4 users" in reason


@pytest.mark.parametrize(
    ("rps_high", "grown_to", "stops"),
    [
        (101.0, 100.5, True),  # within its interval and under 10 %: flat
        (101.0, 105.0, True),  # past a tight interval but under 10 %: the drift between windows, flat
        (130.0, 125.0, True),  # past 10 % but within a wide interval: not shown to grow, flat
        (130.0, 135.0, False),  # past both: still growing
        (None, 109.0, True),  # no interval: 10 % decides
        (None, 111.0, False),
    ],
)
def test_flat_is_within_ten_percent_or_the_interval(rps_high: float | None, grown_to: float, stops: bool) -> None:
    low = None if rps_high is None else 99.0
    curve = [
        step(4, 100.0, p50_ms=40, rps_high=rps_high, rps_low=low),
        step(8, grown_to, p50_ms=80, rps_high=None if rps_high is None else grown_to * 1.3, rps_low=low),
        step(16, grown_to, p50_ms=160, rps_high=rps_high, rps_low=low),
    ]
    assert (stop_reason(curve) is not None) is stops


def test_flat_throughput_without_more_latency_does_not_stop() -> None:
    """The generator holding the load back (latency unchanged, or up by 10 % or less): no sign of the server's limit.
    The standard sweep's slowclient on gunicorn-sync: 1,178 then 1,091 rps at 1 and 2 users, p50 0.746 and 0.750 ms."""
    assert stop_reason([io_step(1, 10, 100), io_step(2, 10, 100), io_step(4, 10, 100)]) is None
    assert stop_reason([io_step(1, 10, 100), io_step(2, 10, 110), io_step(4, 10, 121)]) is None
    assert stop_reason([io_step(1, 10, 100), io_step(2, 10, 111), io_step(4, 10, 124)]) is not None


def test_a_starved_server_stops_once_its_latency_grew_over_the_span() -> None:
    """dev-single on slowclient in compose (results of 2026-12-05): slow clients starve the one thread, the rps
    collapses while the p50 first stands still (1 to 2 users), then jumps. It ran every load to 64 while each step had
    to show growth; the span's ends decide now: stop after 4 users."""
    curve = [
        step(1, 307.4, p50_ms=2.99, rps_low=281.1, rps_high=333.8),
        step(2, 72.0, p50_ms=2.81, rps_low=0.0, rps_high=144.4),
        step(4, 2.2, p50_ms=2048.0, rps_low=0.24, rps_high=4.16),
    ]
    assert stop_reason(curve[:2]) is None
    reason = stop_reason(curve)
    assert reason is not None and reason.startswith("throughput flat for 2 doublings (1 user to 4 users: 307.4 →")
    assert "p50 grew (3.0 → 2.8 → 2,048 ms)" in reason
    # The same span with the p50 as flat at its end (a generator holding the load back) goes on.
    assert stop_reason([*curve[:2], step(4, 2.2, p50_ms=3.6, rps_low=0.24, rps_high=4.16)]) is None


def test_a_generator_busy_over_two_doublings_stops_unless_the_users_hold_connections() -> None:
    """dev-single on hello (docs/runs/standard): every step from 2 users on flagged generator-bound, the rps the
    generator's noise (up 20 % from 4 to 8 users, so never flat) while it ran to 64. It stops after 8 users now; a
    slowclient curve (its slow clients hold connections whatever the generator's pace) goes on."""
    busy = {"generator_saturated": True, "generator_cpu": 0.97}
    curve = [
        step(1, 1076.0, p50_ms=0.9),
        step(2, 1724.0, p50_ms=1.1, **busy),
        step(4, 1509.0, p50_ms=2.6, **busy),
        step(8, 1808.0, p50_ms=4.2, **busy),
    ]
    assert stop_reason(curve[:3]) is None  # one busy doubling (2 to 4 users) is not yet the generator's curve
    reason = stop_reason(curve)
    assert reason == (
        "generator busy for 2 doublings (2 users to 8 users: 1,724 → 1,509 → 1,808 rps, every step flagged): "
        "the steps above would measure the generator, not the server"
    )
    assert stop_reason(curve, holds_connections=True) is None
    # A step at ease inside the span starts the count anew.
    eased = [*curve[:2], step(4, 1509.0, p50_ms=2.6), curve[3]]
    assert stop_reason(eased) is None
    # The quick profile: two busy steps a quadrupling apart.
    assert stop_reason([step(4, 2000.0, **busy), step(16, 2100.0, **busy)]) is not None


def test_failures_and_an_unstable_backlog_stop_at_once() -> None:
    failing = step(4, 100.0, requests=500, failures=6)
    reason = stop_reason([step(1, 50.0), failing])
    assert reason == "failures 1.2 % at 4 users, past the 1 % limit"
    assert stop_reason([step(1, 50.0), step(4, 100.0, requests=500, failures=5)]) is None  # 1 %: at the limit
    assert stop_reason([step(2, 0.0, requests=3, failures=3)]) == "no request succeeded at 2 users"
    unstable = step(40, 30.0, offered_rps=40.0, unstable=True)
    assert stop_reason([unstable]) == "unstable at 40 rps offered: the backlog grew, the server did not keep up"
    capped = step(40, 30.0, offered_rps=40.0, unstable=True, capped_arrivals=12)
    assert stop_reason([capped]) is None  # the generator's own backlog, not the server's


def test_the_setting_offers_the_rules() -> None:
    assert isinstance(STEPS.type, click.Choice) and tuple(STEPS.type.choices) == STEPS_RULES
    assert STEPS.default == "adaptive"


def run_of(targets: list[Target], steps_rule: str = "adaptive") -> Results:
    meta = Meta.model_validate(
        {
            "run_id": "r",
            "status": "running",
            "backend": "local",
            "profile": "standard",
            "steps": [1, 2, 4, 8, 16, 32, 64],
            "steps_rule": steps_rule,
            "warmup_s": 1.0,
            "window_s": 5.0,
            "scenarios": ["hello", "io"],
            "servers": ["dev-single", "gunicorn-gevent", "waitress"],
            "probe": False,
            "started": "now",
            "host": {"cores": 2},
            "budget": {},
            "pinning": None,
            "versions": {},
        }
    )
    return Results(meta=meta, targets=targets)


def curve(server: str, scenario: str, loads: list[int], stopped: str | None, status: str = "ok") -> Target:
    return Target(
        server=server,
        scenario=scenario,
        concurrency=1,
        status=status,  # type: ignore[arg-type]
        steps=[step(users, 10.0, duration_s=1.0, warmup_used_s=0.5) for users in loads],
        stopped=stopped,
    )


def test_the_time_left_expects_each_scenario_to_stop_as_its_finished_curves_did() -> None:
    """Before any curve ends every step counts; then each scenario's lengths, shrunk towards the whole grid as if
    PRIOR_CURVES curves had run it (so that dev-single's short curves, measured first, do not decide the rest)."""
    assert remaining(run_of([])).steps == 3 * 2 * 7
    done = [curve("dev-single", "hello", [1, 2, 4], "flat"), curve("dev-single", "io", [1, 2, 4, 8, 16], "flat")]
    prior = (PRIOR_CURVES * 7 + 3 + 5) / (PRIOR_CURVES + 2)  # every known length, shrunk towards 7
    hello, io = ((PRIOR_CURVES * prior + known) / (PRIOR_CURVES + 1) for known in (3, 5))
    assert 3 < hello < io < 7
    left = remaining(run_of(done))
    assert (left.done, left.steps, left.targets) == (8, round(2 * (hello + io)), 4)  # two servers left
    running = curve("gunicorn-gevent", "hello", [1, 2], None, status="running")  # expected to run hello's length
    assert remaining(run_of([*done, running])).steps == round((hello - 2) + io + hello + io)
    fixed = run_of(done, steps_rule="fixed")  # a fixed grid: every step of every target not done
    assert remaining(fixed).steps == 2 * 2 * 7


def test_a_step_s_length_leans_on_the_whole_window_where_every_window_runs_whole() -> None:
    """Measured steps are shrunk towards the shortest a step may be: a fifth of the window where windows end once they
    hold enough, the whole window where they run whole (the moments profile, a deploy, the timeout scenario); a run
    of 32 s steps was told 12 s a step before."""
    done = [curve("dev-single", "hello", [1, 2, 4], "flat")]  # 1.5 s each
    enough = run_of(done)
    assert step_length(enough) == pytest.approx(
        (3 * 1.5 + PRIOR_STEPS * (1.0 + WINDOW_FLOOR * 5.0)) / (3 + PRIOR_STEPS)
    )
    for whole in (
        enough.model_copy(update={"meta": enough.meta.model_copy(update={"profile": "moments"})}),
        enough.model_copy(update={"meta": enough.meta.model_copy(update={"reload_at_s": 2.0})}),
    ):
        assert whole_windows(whole)
        assert step_length(whole) == pytest.approx((3 * 1.5 + PRIOR_STEPS * 6.0) / (3 + PRIOR_STEPS))
    assert not whole_windows(enough)


@pytest.mark.real
def test_fixed_steps_run_every_load_of_a_flat_curve(tmp_path: Path) -> None:
    """`--steps fixed`: dev-single on io runs 1, 4 and 16 users though it is flat from 1 (the quick sweep's own run,
    adaptive, stops it after 4: tests/test_quick_sweep.py)."""
    out = tmp_path / "fixed"
    result = flasklab("run", "--servers", "dev-single", "--scenarios", "io", "--profile", "quick", "--no-probe",
                      "--steps", "fixed", "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    results = load_results(out)
    (target,) = results.targets
    assert results.meta.steps_rule == "fixed" and target.stopped is None
    assert [step.users for step in target.steps] == [1, 4, 16]
    assert "stopped" not in result.stderr and "start   dev-single · io: 3 steps of 1.8 s" in result.stderr


def test_a_bad_steps_rule_exits_2_naming_the_rules() -> None:
    result = CliRunner().invoke(main, ["run", "--steps", "sideways", "--servers", "dev-single"])
    assert result.exit_code == 2 and "'adaptive'" in result.output and "'fixed'" in result.output, result.output
