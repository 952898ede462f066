"""Rounds: the same target measured several times, in shuffled order, combined into one step per load level.

A combined step holds the rounds' medians (rps, percentiles, server CPU, generator CPU in total and its CPU set's
busy share, warm-up used), their sums (requests, failures, errors, censored latencies) and their worst cases (max
latency, memory, busiest generator process, backlog; saturated, unstable or percentiles a lower bound if any round
was, steady only if every round was), with the spread (median, min, max of rps and p95) beside them. Its
within-window intervals (``rps_low`` ...) are left out: across rounds the spread is the honest measure of noise,
and compare and the planner read it instead.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence

from flasklab.results import Spread, Step


def _median(values: Sequence[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def _maximum(values: Sequence[float | None]) -> float | None:
    return max((value for value in values if value is not None), default=None)


def _any(values: Sequence[bool | None]) -> bool | None:
    """True if any round was, False if every measured round was not, None if none was measured."""
    measured = [value for value in values if value is not None]
    return any(measured) if measured else None


def _all(values: Sequence[bool | None]) -> bool | None:
    """True only if every measured round was (an unmeasured round says nothing), None if none was measured."""
    measured = [value for value in values if value is not None]
    return all(measured) if measured else None


def _sum(values: Sequence[int | None]) -> int | None:
    present = [value for value in values if value is not None]
    return sum(present) if present else None


def combine(steps: Sequence[Step]) -> Step:
    """One load level's steps from several rounds as one step with their spread (a single step is returned as is)."""
    if len(steps) == 1:
        return steps[0]
    rps = [step.rps for step in steps]
    p95 = [step.p95_ms for step in steps if step.p95_ms is not None]
    errors: Counter[str] = Counter()
    names: Counter[str] = Counter()
    for step in steps:
        errors.update(step.errors)
        names.update(step.names)
    return Step(
        users=max(step.users for step in steps),  # the same users, or (open model) the most held open
        offered_rps=steps[0].offered_rps,
        backlog=max((step.backlog for step in steps if step.backlog is not None), default=None),
        duration_s=sum(step.duration_s for step in steps),
        requests=sum(step.requests for step in steps),
        failures=sum(step.failures for step in steps),
        rps=statistics.median(rps),
        p50_ms=_median([step.p50_ms for step in steps]),
        p95_ms=_median(p95),
        p99_ms=_median([step.p99_ms for step in steps]),
        max_ms=_maximum([step.max_ms for step in steps]),
        mean_ms=_median([step.mean_ms for step in steps]),
        errors=dict(errors.most_common(20)),
        names=dict(names.most_common(30)),
        generator_cpu=max(step.generator_cpu for step in steps),
        generator_saturated=any(step.generator_saturated for step in steps),
        generator_cpu_total=_median([step.generator_cpu_total for step in steps]),
        generator_cpus=min((step.generator_cpus for step in steps if step.generator_cpus), default=None),
        generator_set_busy=_median([step.generator_set_busy for step in steps]),
        server_set_busy=_median([step.server_set_busy for step in steps]),
        steady=_all([step.steady for step in steps]),
        warmup_used_s=_median([step.warmup_used_s for step in steps]),
        censored=_sum([step.censored for step in steps]),
        percentiles_lower_bound=any(step.percentiles_lower_bound for step in steps),
        unstable=_any([step.unstable for step in steps]),
        generator_workers=max(step.generator_workers for step in steps),
        server_cpu=_median([step.server_cpu for step in steps]),
        server_rss_mb=_maximum([step.server_rss_mb for step in steps]),
        spread=Spread(
            rounds=len(steps),
            rps_median=statistics.median(rps),
            rps_min=min(rps),
            rps_max=max(rps),
            p95_median_ms=statistics.median(p95) if p95 else None,
            p95_min_ms=min(p95, default=None),
            p95_max_ms=max(p95, default=None),
        ),
    )


def combine_rounds(rounds: Sequence[Sequence[Step]]) -> list[Step]:
    """Every load level measured in any round, in order of users, combined across the rounds that measured it."""
    by_load: dict[float, list[Step]] = {}
    for steps in rounds:
        for step in steps:
            by_load.setdefault(step.load, []).append(step)
    return [combine(by_load[load]) for load in sorted(by_load)]
