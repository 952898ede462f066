"""What a run's steps add up to: each target's curve of usable steps, and the figures read from it.

The one module the views, the planner, the claims and the benchmarks ask what a run measured. A step's standing (usable
or flagged, and why; its marked percentiles) is flasklab.core.standing's, who set its pace flasklab.core.bottleneck's,
and both are importable from here under the same names, so that a caller needs this module only.

From the usable steps of a target: the **peak** (highest rps), the **capacity** within an SLO (the highest-rps step
whose p95 met it) and the **knee** (the last step before doubling the load added less than 10 %, KNEE_GROWTH,
throughput). A step's intervals (its rps, its p95) are named for what they are: across rounds, or within its window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from flasklab.core.bottleneck import (
    LAG_FLOOR_MS,
    LAG_SHARE,
    SERVER_IN_FLIGHT_SHARE,
    SERVER_NEAR_BUDGET,
    SHARED_SERVER_CPU,
    Limits,
    budget_value,
    generator_busy,
    limits,
    server_limit,
    server_use,
)
from flasklab.core.intervals import two_sided_min
from flasklab.core.results import Meta, Results, Step, Target
from flasklab.core.standing import (
    CAPACITY_PERCENTILE,
    LOWER_BOUND_MARK,
    MAX_FAILURE_RATE,
    MIN_SAMPLES,
    NOT_THE_SERVER,
    PERCENTILES,
    THIN_MARK,
    Flag,
    FlagKind,
    Standing,
    assess,
    failure_rate,
    is_thin,
    latency_samples,
    load_text,
    milliseconds,
    min_samples,
    step_flags,
    successes,
    unstable_cause,
)

__all__ = [
    "CAPACITY_PERCENTILE",
    "KNEE_GROWTH",
    "LAG_FLOOR_MS",
    "LAG_SHARE",
    "LOWER_BOUND_MARK",
    "MAX_FAILURE_RATE",
    "MIN_SAMPLES",
    "NOT_THE_SERVER",
    "P95_APPROXIMATE",
    "P95_EXACT",
    "P95_NO_UPPER",
    "PERCENTILES",
    "ROUNDS_INTERVAL",
    "ROUNDS_RANGE",
    "SERVER_IN_FLIGHT_SHARE",
    "SERVER_NEAR_BUDGET",
    "SHARED_SERVER_CPU",
    "SLICES_INTERVAL",
    "THIN_MARK",
    "Flag",
    "FlagKind",
    "Interval",
    "Limits",
    "ObjectiveCheck",
    "Standing",
    "TargetAnalysis",
    "analyse",
    "assess",
    "budget_value",
    "capacity",
    "check_objective",
    "failure_rate",
    "generator_busy",
    "is_thin",
    "knee",
    "knee_of",
    "latency_samples",
    "limits",
    "littles_law_efficiency",
    "load_text",
    "milliseconds",
    "min_samples",
    "p95_interval",
    "peak",
    "rounds_interval",
    "rps_interval",
    "server_limit",
    "server_use",
    "step_flags",
    "successes",
    "unstable_cause",
]

# The knee: the next step, with at least twice the load, adds less than 10 % throughput.
KNEE_GROWTH = 1.10


@dataclass(frozen=True)
class TargetAnalysis:
    """A target's steps in load order with their standing, and what its usable steps add up to."""

    target: Target
    steps: tuple[Standing, ...]

    @property
    def usable(self) -> list[Step]:
        return [standing.step for standing in self.steps if standing.usable]

    @property
    def flagged(self) -> list[Standing]:
        return [standing for standing in self.steps if not standing.usable]

    @property
    def peak(self) -> Step | None:
        """The usable step of highest rps."""
        return max(self.usable, key=lambda step: step.rps, default=None)

    @property
    def lower_bound(self) -> Step | None:
        """The highest rps of the steps that are a lower bound of the server's capacity (generator and server both at
        their limit), when it is above the peak: then the server can do at least that, and its peak is not known."""
        bounds = [standing.step for standing in self.steps if standing.capacity_lower_bound]
        best = max(bounds, key=lambda step: step.rps, default=None)
        top = self.peak
        return best if best is not None and (top is None or best.rps > top.rps) else None

    @property
    def knee(self) -> Step | None:
        """The usable step after which throughput stops growing: the next usable one, at twice the load, adds < 10 %."""
        return knee_of(self.usable)

    def within_slo(self, slo_p95_ms: float) -> list[Step]:
        """The usable steps whose p95 met the SLO: a measurable p95 (not thin) only."""
        return [
            standing.step
            for standing in self.steps
            if standing.usable
            and standing.p95_measurable
            and standing.step.p95_ms is not None
            and standing.step.p95_ms <= slo_p95_ms
        ]

    @property
    def p95_not_measurable(self) -> list[Step]:
        """The usable steps whose p95 is only the maximum of too few samples: they cannot meet or miss an SLO."""
        return [standing.step for standing in self.steps if standing.usable and not standing.p95_measurable]

    def capacity(self, slo_p95_ms: float) -> Step | None:
        """The step of highest rps among the usable ones whose p95 met the SLO."""
        return max(self.within_slo(slo_p95_ms), key=lambda step: step.rps, default=None)

    def standing(self, step: Step) -> Standing:
        """The standing of one of this target's steps."""
        return next(standing for standing in self.steps if standing.step is step)

    def at_load(self, load: float) -> Step | None:
        """The usable step at exactly this load (users, or the offered rate), if any."""
        return next((step for step in self.usable if step.load == load), None)


def analyse(target: Target, meta: Meta) -> TargetAnalysis:
    """Every step of the target assessed against its server's limits, in load order."""
    server = limits(target, meta)
    ordered = sorted(target.steps, key=lambda step: step.load)
    return TargetAnalysis(target, tuple(assess(step, server) for step in ordered))


def peak(target: Target, meta: Meta) -> Step | None:
    """The usable step of highest rps."""
    return analyse(target, meta).peak


def capacity(target: Target, meta: Meta, slo_p95_ms: float) -> Step | None:
    """The usable step of highest rps whose p95 met the SLO."""
    return analyse(target, meta).capacity(slo_p95_ms)


def knee(target: Target, meta: Meta) -> Step | None:
    """The last usable step before throughput stopped growing."""
    return analyse(target, meta).knee


def knee_of(steps: Sequence[Step]) -> Step | None:
    """The knee of a curve of usable steps in load order: the first step the next one, at twice the load or more,
    outgrows by less than KNEE_GROWTH."""
    for step, following in pairwise(steps):
        if following.load >= 2 * step.load and following.rps < KNEE_GROWTH * step.rps:
            return step
    return None


def littles_law_efficiency(target: Target, step: Step) -> float | None:
    """Measured rps over Little's bound min(users, concurrency) / service time (closed loops of a fixed `ms` only)."""
    ms = target.params.get("ms")
    if not ms or step.users == 0 or step.offered_rps is not None:  # the law bounds a closed loop's users
        return None
    in_flight = min(step.users, target.concurrency or step.users)
    return step.rps / (in_flight / (ms / 1000))


@dataclass(frozen=True)
class Interval:
    """A figure's interval and what it is: views print ``label`` with it, so a range is never read as 95 %."""

    low: float
    high: float | None  # None: no upper bound (too few samples for a 95 % one)
    label: str  # "95 % order-statistic interval", "range of 2 rounds", "t-interval of 10 slices", ...


ROUNDS_INTERVAL = "95 % interval of the median of {rounds} rounds (order statistics)"
ROUNDS_RANGE = "range of {rounds} rounds"
SLICES_INTERVAL = "t-interval of the window's 10 slices"
P95_EXACT = "95 % interval (order statistics)"
P95_NO_UPPER = "95 % lower bound; no upper bound (n < {samples})"
P95_APPROXIMATE = "order statistics at approximate ranks (an older run: under 95 % below ~100 samples)"


def rounds_interval(rounds: int, interval: tuple[float | None, float | None], extent: tuple[float, float]) -> Interval:
    """Across rounds: the 95 % interval of their median where there is one (6 rounds and more), else their range."""
    low, high = interval
    if low is not None and high is not None:
        return Interval(low, high, ROUNDS_INTERVAL.format(rounds=rounds))
    return Interval(*extent, ROUNDS_RANGE.format(rounds=rounds))


def rps_interval(step: Step) -> Interval | None:
    """A step's throughput interval, named: across rounds (rounds_interval), else the window's own slices' t-interval.

    The slices' interval holds the window's rate only where its slices are independent (flasklab.loadgen.window's
    rate_interval says where), and says nothing of the drift between runs.
    """
    if (spread := step.spread) is not None:
        return rounds_interval(spread.rounds, (spread.rps_low, spread.rps_high), (spread.rps_min, spread.rps_max))
    if step.rps_low is None or step.rps_high is None:
        return None
    return Interval(step.rps_low, step.rps_high, SLICES_INTERVAL)


def p95_interval(step: Step) -> Interval | None:
    """A step's p95 interval, named: across rounds (rounds_interval), else the window's own order statistics.

    Exact binomial ranks give a distribution-free 95 % interval, or below ``two_sided_min`` samples only a lower
    bound (``high`` None, "no upper bound"); a run written before them had approximate ranks, and says so.
    """
    if (spread := step.spread) is not None and spread.p95_min_ms is not None and spread.p95_max_ms is not None:
        interval = (spread.p95_low_ms, spread.p95_high_ms)
        return rounds_interval(spread.rounds, interval, (spread.p95_min_ms, spread.p95_max_ms))
    if step.p95_low_ms is None:
        return None
    if step.p95_ranks != "exact":
        return None if step.p95_high_ms is None else Interval(step.p95_low_ms, step.p95_high_ms, P95_APPROXIMATE)
    if step.p95_high_ms is None:
        return Interval(step.p95_low_ms, None, P95_NO_UPPER.format(samples=two_sided_min(PERCENTILES["p95"] / 100)))
    return Interval(step.p95_low_ms, step.p95_high_ms, P95_EXACT)


@dataclass(frozen=True)
class ObjectiveCheck:
    """A one-step run (``plan --verify``) held against a p95 objective: the step, why it does not count, the verdict."""

    step: Step | None
    causes: str  # why the step does not count ("" when it does; "not measured" without one)
    held: bool


def check_objective(results: Results, p95_ms: float) -> ObjectiveCheck:
    """Held when the run's first step counts (usable), its p95 is measurable and met the objective."""
    target = results.targets[0] if results.targets else None
    step = target.steps[0] if target is not None and target.steps else None
    if target is None or step is None:
        reason = target.error if target is not None and target.error else "no target was measured"
        return ObjectiveCheck(None, f"not measured: {reason}", False)
    standing = analyse(target, results.meta).standing(step)
    causes = standing.causes
    if not causes and not standing.p95_measurable:
        causes = f"p95 not measurable: {standing.samples} samples (a p95 needs {MIN_SAMPLES})"
    return ObjectiveCheck(step, causes, not causes and step.p95_ms is not None and step.p95_ms <= p95_ms)
