"""Rounds: the same target measured several times, in shuffled order, combined into one step per load level.

How each step field combines is one table, ``RULES``: medians (rps, percentiles, server CPU, generator CPU in total
and its CPU set's busy share, warm-up used), sums (requests, failures, errors, censored latencies) and worst cases
(max latency, memory, busiest generator process, backlog; saturated, unstable or percentiles a lower bound if any
round was, steady only if every round was), with the spread (median, min, max of rps and p95) beside them. The
within-window intervals (``rps_low`` ...) are left out: across rounds the spread is the honest measure of noise, and
compare and the planner read it instead, as what it is: the range of the rounds (which holds their median with
probability 1 - 2 * 0.5**k only: 50 % for 2 rounds), or from 6 rounds on a 95 % interval of the median from two
order statistics (flasklab.core.intervals). A new step field needs its rule here (tests/test_rounds.py checks).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from flasklab.core.intervals import quantile_ranks
from flasklab.core.results import Spread, Step

Rule = Callable[[Sequence[Any]], Any]  # the rounds' values of one field (None where unmeasured) -> the combined one


def _present(values: Sequence[Any]) -> list[Any]:
    return [value for value in values if value is not None]


def median(values: Sequence[float | None]) -> float | None:
    present = _present(values)
    return statistics.median(present) if present else None


def maximum(values: Sequence[float | None]) -> float | None:
    return max(_present(values), default=None)


def minimum(values: Sequence[float | None]) -> float | None:
    return min(_present(values), default=None)


def total(values: Sequence[float | None]) -> float | None:
    present = _present(values)
    return sum(present) if present else None


def any_round(values: Sequence[bool | None]) -> bool | None:
    """True if any round was, False if every measured round was not, None if none was measured."""
    measured = _present(values)
    return any(measured) if measured else None


def every_round(values: Sequence[bool | None]) -> bool | None:
    """True only if every measured round was (an unmeasured round says nothing), None if none was measured."""
    measured = _present(values)
    return all(measured) if measured else None


def first(values: Sequence[Any]) -> Any:
    """A field every round shares (the offered rate of a load level)."""
    return values[0]


def dropped(_: Sequence[Any]) -> None:
    """Left out of a combined step (the within-window intervals: the spread replaces them)."""
    return None


def counts(most: int) -> Rule:
    """Counts by key (errors, names) summed over the rounds, the ``most`` frequent kept."""

    def combine_counts(values: Sequence[dict[str, int]]) -> dict[str, int]:
        summed: Counter[str] = Counter()
        for value in values:
            summed.update(value)
        return dict(summed.most_common(most))

    return combine_counts


def medians_by_key(values: Sequence[dict[str, float]]) -> dict[str, float]:
    """Figures by key (a request name's p95) as the median of the rounds that have the key."""
    keys = {key for value in values for key in value}
    return {key: statistics.median([value[key] for value in values if key in value]) for key in sorted(keys)}


# Every Step field but ``spread`` (built from the rounds' steps themselves), in the model's order.
RULES: dict[str, Rule] = {
    "users": maximum,  # the same users, or (open model) the most held open
    "offered_rps": first,
    "backlog": maximum,
    "duration_s": total,
    "requests": total,
    "failures": total,
    "rps": median,
    "p50_ms": median,
    "p95_ms": median,
    "p99_ms": median,
    "max_ms": maximum,
    "mean_ms": median,
    "rps_low": dropped,
    "rps_high": dropped,
    "p95_low_ms": dropped,
    "p95_high_ms": dropped,
    "p95_ranks": dropped,
    "errors": counts(20),
    "names": counts(30),
    "name_failures": counts(30),
    "name_p95_ms": medians_by_key,
    "generator_cpu": maximum,
    "generator_saturated": any_round,
    "generator_cpu_total": median,
    "generator_cpus": minimum,
    "generator_set_busy": median,
    "server_set_busy": median,
    "server_in_flight": median,
    "server_in_flight_max": maximum,
    "accept_queue_max": maximum,
    "accept_queue_mean": median,
    "accept_backlog": maximum,
    "listen_overflows": total,
    "send_lag_p95_ms": maximum,  # the generator's worst round: a lag in any round is the generator's, not noise
    "send_lag_max_ms": maximum,
    "loop_lag_p95_ms": maximum,
    "loop_lag_max_ms": maximum,
    "capped_arrivals": total,
    "steady": every_round,
    "warmup_used_s": median,
    "censored": total,
    "percentiles_lower_bound": any_round,
    "unstable": any_round,
    "backlog_path": dropped,  # each round's own path: "unstable" (any round's) says what it decided
    "p999_ms": median,
    "workers_started": total,
    "workers_started_together": maximum,
    "p999_apart_ms": median,
    "timeline": dropped,  # each round's own seconds: the rounds' steps keep theirs
    "reload": dropped,  # each round's own deploy: the rounds' steps keep theirs
    "generator_workers": maximum,
    "server_cpu": median,
    "server_rss_mb": maximum,
}


def median_interval(values: Sequence[float]) -> tuple[float | None, float | None]:
    """A 95 % interval of the rounds' median from two of their values (exact binomial ranks); None, None below 6."""
    ranks = quantile_ranks(len(values), 0.5)
    if ranks.low is None or ranks.high is None:
        return None, None
    ordered = sorted(values)
    return ordered[ranks.low - 1], ordered[ranks.high - 1]


def spread(steps: Sequence[Step]) -> Spread:
    """The rounds' rps and p95: median, min and max, and from 6 rounds a 95 % interval of the median."""
    rps = [step.rps for step in steps]
    p95 = _present([step.p95_ms for step in steps])
    rps_low, rps_high = median_interval(rps)
    p95_low, p95_high = median_interval(p95)
    return Spread(
        rounds=len(steps),
        rps_median=statistics.median(rps),
        rps_min=min(rps),
        rps_max=max(rps),
        p95_median_ms=median(p95),
        p95_min_ms=minimum(p95),
        p95_max_ms=maximum(p95),
        rps_low=rps_low,
        rps_high=rps_high,
        p95_low_ms=p95_low,
        p95_high_ms=p95_high,
    )


def combine(steps: Sequence[Step]) -> Step:
    """One load level's steps from several rounds as one step with their spread (a single step is returned as is)."""
    if len(steps) == 1:
        return steps[0]
    fields = {name: rule([getattr(step, name) for step in steps]) for name, rule in RULES.items()}
    return Step(**fields, spread=spread(steps))


def combine_rounds(rounds: Sequence[Sequence[Step]]) -> list[Step]:
    """Every load level measured in any round, in order of users, combined across the rounds that measured it."""
    by_load: dict[float, list[Step]] = {}
    for steps in rounds:
        for step in steps:
            by_load.setdefault(step.load, []).append(step)
    return [combine(by_load[load]) for load in sorted(by_load)]
