"""flasklab plan --verify: run one instance of a planned option at its share of the traffic and hold the prediction
against the measurement.

One instance of the option's server (its configuration, and the tuned setting when the plan came from a tuning) is
offered its share, R / instances, rounded up to whole requests per second, as Poisson arrivals (the open model,
seeded) of the request's scenario, for a window long enough to put about VERIFY_SAMPLES requests in it. The run is an
ordinary run folder whose ``meta.prediction`` holds what the planner predicted, so its report shows the two side by
side. Two verdicts, each in words and in ``--json``:

- **the objective**: the plan *held* when that step counts (flasklab.core.analysis: not generator-bound, stable, < 1 %
  failures, enough samples) and its p95 met the objective. This one sets the exit code (0 held, 1 not).
- **the prediction**: the predicted p95 was *within* VERIFY_TOLERANCE (25 %) of the measured one, |predicted -
  measured| / measured. An objective can hold on a wrong prediction (a margin, a utilisation cap that added
  instances) and a good prediction can miss a tight objective: a planner is judged on both. No verdict (None) when
  the step measured no p95.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from flasklab.core.analysis import check_objective
from flasklab.core.catalog import Scenario, Server
from flasklab.core.results import Results
from flasklab.core.settings import Profile
from flasklab.core.sweep import Sweep
from flasklab.planning.fleet_model import FleetPrediction, fleet_prediction
from flasklab.planning.law import estimate
from flasklab.planning.option import Option, Plan
from flasklab.planning.queueing import ServiceTime, predict_served

VERIFY_SAMPLES = 2000  # requests in the window: a p99 from 2,000 has 20 samples beyond it
VERIFY_MIN_WINDOW_S = 20.0
VERIFY_MAX_WINDOW_S = 300.0
VERIFY_WARMUP_S = 3.0
VERIFY_TOLERANCE = 0.25  # a prediction within 25 % of the measured p95 is a good one
ONE_INSTANCE = "the plan's model of one instance at its share"


class VerifyError(ValueError):
    """A plan that cannot be verified (no offered option, a server or scenario the catalog lacks)."""


@dataclass(frozen=True)
class Verification:
    """A prediction beside the measurement of the same instance at the same load."""

    server: str
    setting: str
    rate_rps: int
    window_s: float
    objective_p95_ms: float
    predicted_p95_ms: float | None
    predicted_p99_ms: float | None
    measured_p95_ms: float | None
    measured_p99_ms: float | None
    measured_rps: float | None
    backlog: int | None
    failures: int
    requests: int
    flags: tuple[str, ...]
    held: bool  # the objective: the step counts and its p95 met it
    run_dir: str
    p95_error: float | None = None  # |predicted - measured| / measured p95 (None: either is missing)
    p99_error: float | None = None
    prediction_within: bool | None = None  # the p95 error at most VERIFY_TOLERANCE (None: no p95 to judge)
    tolerance: float = VERIFY_TOLERANCE
    instances: int = 1  # run at once: 1 (its share), or the whole fleet behind nginx (--cluster, the whole rate)
    predicted_by: str = ONE_INSTANCE


def relative_error(predicted: float | None, measured: float | None) -> float | None:
    """|predicted - measured| / measured (None: either is missing, or nothing was measured)."""
    if predicted is None or not measured:
        return None
    return abs(predicted - measured) / measured


def chosen_option(plan: Plan, server: str | None) -> Option:
    """The option to verify: the recommended one, or the named server's."""
    offered = [option for option in plan.options if option.instances is not None]
    if server is not None:
        named = [option for option in offered if option.server == server]
        if not named:
            valid = ", ".join(dict.fromkeys(option.server for option in offered)) or "none"
            raise VerifyError(f"no offered option for {server!r}; offered: {valid}")
        return next((option for option in named if option.recommended), named[0])
    chosen = next((option for option in offered if option.recommended), None)
    if chosen is None:
        raise VerifyError("the plan offers no option to verify")
    return chosen


def whole_rps(plan: Plan) -> int:
    """The plan's whole traffic, in whole requests per second (rounded up): what a fleet verified whole is offered."""
    return math.ceil(plan.request.rps - 1e-9)


def share_rps(plan: Plan, option: Option) -> int:
    """One instance's share of the traffic (the busiest one's where the plan learnt a material imbalance), in whole
    requests per second (rounded up: the safe side)."""
    assert option.instances is not None
    return max(1, math.ceil(plan.request.share(option.instances) - 1e-9))


def verify_profile(rate: int, window_s: float | None) -> Profile:
    """One open-model step at the share's rate, its window long enough for about VERIFY_SAMPLES requests."""
    window = window_s or min(max(VERIFY_SAMPLES / rate, VERIFY_MIN_WINDOW_S), VERIFY_MAX_WINDOW_S)
    return Profile("verify", (1,), VERIFY_WARMUP_S, window, "one instance at its planned share", (rate,))


def predicted_at(plan: Plan, option: Option, rate: int) -> tuple[float | None, float | None]:
    """The option's p95 and p99 by its own model at the rate actually run (R / instances rounded up to whole rps):
    the verdict then judges the model, not the rounding. Without the model's inputs, the plan's own figures."""
    if option.basis == "measured" and option.service_points and option.slots:
        sharing = None
        if option.shared_admitted is not None and option.shared_cores is not None:
            sharing = option.shared_admitted, option.shared_cores
        found = predict_served(rate, option.slots, ServiceTime(tuple(option.service_points)), sharing)
        return (found.p95_ms, found.p99_ms) if found is not None else (None, None)
    if option.basis == "law" and option.workers and option.cpu_ms_per_request is not None:
        law = estimate(rate, plan.workload.io_ms, option.cpu_ms_per_request, option.workers, plan.cpus)
        return (law.p95_ms, None) if law is not None else (None, None)
    return option.expected_p95_ms, option.expected_p99_ms


def prediction_meta(plan: Plan, option: Option, rate: int) -> dict[str, str]:
    """What the planner predicted at that rate, for results.json's meta.prediction (strings: the meta's map)."""
    p95, p99 = predicted_at(plan, option, rate)
    figures = {
        "server": option.server,
        "setting": option.setting or option.shape,
        "instances": str(option.instances),
        "total_rps": f"{plan.request.rps:g}",
        "rate_rps": str(rate),
        "objective_p95_ms": f"{plan.request.p95_ms:g}",
        "predicted_p95_ms": f"{p95:.1f}" if p95 is not None else "",
        "predicted_p99_ms": f"{p99:.1f}" if p99 is not None else "",
        "utilisation": f"{option.utilisation:.3f}" if option.utilisation is not None else "",
        "basis": option.basis,
    }
    return {key: value for key, value in figures.items() if value}


def verification_sweep(
    plan: Plan,
    option: Option,
    server: Server,
    scenario: Scenario,
    out: Path,
    window_s: float | None = None,
    seed: int | None = None,
    whole: bool = False,
) -> Sweep:
    """One instance of ``option`` at its share of the planned rate (``whole``: the fleet, flasklab.planning.cluster,
    at the whole rate), as Poisson arrivals, with the prediction kept."""
    rate = whole_rps(plan) if whole else share_rps(plan, option)
    work = plan.workload
    return Sweep(
        servers=[server],
        scenarios=[scenario],
        profile=verify_profile(rate, window_s),
        out=out,
        probe=False,
        params={scenario.name: {"ms": round(work.ms)}} if work.ms is not None else {},
        model="open",
        arrivals="poisson",
        seed=seed,
        prediction=prediction_meta(plan, option, rate),
    )


def fleet_predicted(plan: Plan, option: Option, instances: int, method: str) -> FleetPrediction | None:
    """The whole fleet behind ``method`` at the whole rate, simulated (flasklab.planning.fleet_model) on the option's
    own service time and slots: the measured quantile function, or the law's work as a constant. None where the
    option's model is not slots (time-sliced CPU) or lacks its inputs."""
    if option.basis == "measured" and option.service_points and option.slots and option.shared_admitted is None:
        service, slots = ServiceTime(tuple(option.service_points)), option.slots
    elif option.basis == "law" and option.workers and option.cpu_ms_per_request is not None:
        service, slots = ServiceTime.constant(plan.workload.io_ms + option.cpu_ms_per_request), option.workers
    else:
        return None
    return fleet_prediction(whole_rps(plan), instances, slots, service, method)


def verdict(
    plan: Plan, option: Option, run: Results, run_dir: Path, fleet: int = 1, method: str | None = None
) -> Verification:
    """The measured step beside the prediction; held when the step counts and its p95 met the objective. ``fleet``:
    the instances run (more than one: the whole fleet at the whole rate behind ``method``, predicted by simulating
    the fleet where the option's model allows, else as evenly balanced shares)."""
    objective = plan.request.p95_ms
    checked = check_objective(run, objective)
    step, held = checked.step, checked.held
    flags = tuple(cause for cause in checked.causes.split("; ") if cause)
    measured_p95, measured_p99 = (step.p95_ms, step.p99_ms) if step else (None, None)
    rate = share_rps(plan, option)
    predicted_p95, predicted_p99 = predicted_at(plan, option, rate)
    whole = fleet_predicted(plan, option, fleet, method) if fleet > 1 and method is not None else None
    if whole is not None:
        predicted_p95, predicted_p99 = whole.p95_ms, whole.p99_ms
    p95_error = relative_error(predicted_p95, measured_p95)
    return Verification(
        server=option.server,
        setting=option.setting or option.shape,
        rate_rps=whole_rps(plan) if fleet > 1 else rate,
        window_s=run.meta.window_s,
        objective_p95_ms=objective,
        predicted_p95_ms=predicted_p95,
        predicted_p99_ms=predicted_p99,
        measured_p95_ms=measured_p95,
        measured_p99_ms=measured_p99,
        measured_rps=step.rps if step else None,
        backlog=step.backlog if step else None,
        failures=step.failures if step else 0,
        requests=step.requests if step else 0,
        flags=flags,
        held=held,
        run_dir=str(run_dir),
        p95_error=p95_error,
        p99_error=relative_error(predicted_p99, measured_p99),
        prediction_within=None if p95_error is None else p95_error <= VERIFY_TOLERANCE,
        instances=fleet,
        predicted_by=whole.text if whole is not None else ONE_INSTANCE,
    )


def verification_table(verification: Verification) -> Table:
    """Prediction and measurement side by side, with the verdict as the title."""
    table = Table(title=f"Verify: {what_ran(verification)} at {verification.rate_rps} rps")
    for column in ("", "p95 ms", "p99 ms", "rps", "backlog", "failures"):
        table.add_column(column, justify="left" if not column else "right")
    table.add_row("predicted", _ms(verification.predicted_p95_ms), _ms(verification.predicted_p99_ms), "", "", "")
    table.add_row(
        "measured",
        _ms(verification.measured_p95_ms),
        _ms(verification.measured_p99_ms),
        f"{verification.measured_rps:.1f}" if verification.measured_rps is not None else "—",
        str(verification.backlog) if verification.backlog is not None else "—",
        f"{verification.failures} of {verification.requests}",
    )
    errors = [
        f"{name} off by {error:.0%}"
        for name, error in (("p95", verification.p95_error), ("p99", verification.p99_error))
        if error is not None
    ]
    table.caption = "; ".join([f"predicted: {verification.predicted_by}", *errors, *verification.flags])
    return table


def verdict_line(verification: Verification) -> str:
    """The objective's verdict in words, with what was run."""
    held = "[green]HELD[/]" if verification.held else "[red]DID NOT HOLD[/]"
    return (
        f"verdict: {held}: p95 objective {verification.objective_p95_ms:g} ms; {what_ran(verification)} "
        f"({verification.setting}) offered {verification.rate_rps} rps as Poisson arrivals for "
        f"{verification.window_s:g} s; run and report: {verification.run_dir}"
    )


def what_ran(verification: Verification) -> str:
    if verification.instances > 1:
        return f"{verification.instances} x {verification.server} behind nginx"
    return f"one {verification.server}"


def prediction_line(verification: Verification) -> str:
    """The prediction's verdict in words: within the tolerance of the measured p95 or not."""
    band = f"±{verification.tolerance:.0%}"
    if verification.prediction_within is None or verification.p95_error is None:
        return f"prediction: [yellow]NOT JUDGED[/]: no measured and predicted p95 to compare (band {band})"
    within = "[green]WITHIN[/]" if verification.prediction_within else "[red]OUTSIDE[/]"
    return (
        f"prediction: {within} {band}: predicted p95 {_ms(verification.predicted_p95_ms)} ms, measured "
        f"{_ms(verification.measured_p95_ms)} ms (off by {verification.p95_error:.0%}); p99 predicted "
        f"{_ms(verification.predicted_p99_ms)} ms, measured {_ms(verification.measured_p99_ms)} ms"
    )


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"
