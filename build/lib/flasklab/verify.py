"""flasklab plan --verify: run one instance of a planned option at its share of the traffic and hold the prediction
against the measurement.

One instance of the option's server (its configuration, and the tuned setting when the plan came from a tuning) is
offered its share, R / instances, rounded up to whole requests per second, as Poisson arrivals (the open model,
seeded) of the request's scenario, for a window long enough to put about VERIFY_SAMPLES requests in it. The run is an
ordinary run folder whose ``meta.prediction`` holds what the planner predicted, so its report shows the two side by
side. The verdict: the plan *held* when that step counts (flasklab.analysis: not generator-bound, stable, < 1 %
failures, enough samples) and its p95 met the objective.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from flasklab.analysis import check_objective
from flasklab.catalog import Scenario, Server
from flasklab.plan import Option, Plan
from flasklab.results import Results
from flasklab.runner import Sweep
from flasklab.settings import Profile

VERIFY_SAMPLES = 2000  # requests in the window: a p99 from 2,000 has 20 samples beyond it
VERIFY_MIN_WINDOW_S = 20.0
VERIFY_MAX_WINDOW_S = 300.0
VERIFY_WARMUP_S = 3.0


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
    held: bool
    run_dir: str

    @property
    def p95_error(self) -> float | None:
        """|predicted - measured| / measured p95."""
        if self.predicted_p95_ms is None or not self.measured_p95_ms:
            return None
        return abs(self.predicted_p95_ms - self.measured_p95_ms) / self.measured_p95_ms


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


def share_rps(plan: Plan, option: Option) -> int:
    """One instance's share of the traffic, in whole requests per second (rounded up: the safe side)."""
    assert option.instances is not None
    return max(1, math.ceil(plan.request.rps / option.instances - 1e-9))


def verify_profile(rate: int, window_s: float | None) -> Profile:
    """One open-model step at the share's rate, its window long enough for about VERIFY_SAMPLES requests."""
    window = window_s or min(max(VERIFY_SAMPLES / rate, VERIFY_MIN_WINDOW_S), VERIFY_MAX_WINDOW_S)
    return Profile("verify", (1,), VERIFY_WARMUP_S, window, "one instance at its planned share", (rate,))


def prediction_meta(plan: Plan, option: Option, rate: int) -> dict[str, str]:
    """What the planner predicted, for results.json's meta.prediction (strings: the meta's simple map)."""
    figures = {
        "server": option.server,
        "setting": option.setting or option.shape,
        "instances": str(option.instances),
        "total_rps": f"{plan.request.rps:g}",
        "rate_rps": str(rate),
        "objective_p95_ms": f"{plan.request.p95_ms:g}",
        "predicted_p95_ms": f"{option.expected_p95_ms:.1f}" if option.expected_p95_ms is not None else "",
        "predicted_p99_ms": f"{option.expected_p99_ms:.1f}" if option.expected_p99_ms is not None else "",
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
) -> Sweep:
    """One instance of ``option`` at its share of the planned rate, as Poisson arrivals, with the prediction kept."""
    rate = share_rps(plan, option)
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


def verdict(plan: Plan, option: Option, run: Results, run_dir: Path) -> Verification:
    """The measured step beside the prediction; held when the step counts and its p95 met the objective."""
    objective = plan.request.p95_ms
    checked = check_objective(run, objective)
    step, held = checked.step, checked.held
    flags = tuple(cause for cause in checked.causes.split("; ") if cause)
    return Verification(
        server=option.server,
        setting=option.setting or option.shape,
        rate_rps=share_rps(plan, option),
        window_s=run.meta.window_s,
        objective_p95_ms=objective,
        predicted_p95_ms=option.expected_p95_ms,
        predicted_p99_ms=option.expected_p99_ms,
        measured_p95_ms=step.p95_ms if step else None,
        measured_p99_ms=step.p99_ms if step else None,
        measured_rps=step.rps if step else None,
        backlog=step.backlog if step else None,
        failures=step.failures if step else 0,
        requests=step.requests if step else 0,
        flags=flags,
        held=held,
        run_dir=str(run_dir),
    )


def verification_table(verification: Verification) -> Table:
    """Prediction and measurement side by side, with the verdict as the title."""
    table = Table(title=f"Verify: one {verification.server} at {verification.rate_rps} rps")
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
    notes = [f"p95 off by {verification.p95_error:.0%}"] if verification.p95_error is not None else []
    table.caption = "; ".join([*notes, *verification.flags])
    return table


def verdict_line(verification: Verification) -> str:
    """The verdict in words, with what was run."""
    held = "[green]HELD[/]" if verification.held else "[red]DID NOT HOLD[/]"
    return (
        f"verdict: {held}: p95 objective {verification.objective_p95_ms:g} ms; one {verification.server} "
        f"({verification.setting}) offered {verification.rate_rps} rps as Poisson arrivals for "
        f"{verification.window_s:g} s; run and report: {verification.run_dir}"
    )


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"
