"""Distribution-free 95 % intervals of a quantile from order statistics, with their exact binomial coverage.

Of n independent draws from a continuous distribution, the number B at or below its q-quantile is Binomial(n, q),
whatever the distribution. So the order statistics X(l) and X(u) (1-based ranks) enclose the quantile with
probability P(l <= B < u), exactly. ``quantile_ranks`` picks the ranks with equal tails, each at most 2.5 %; where one
side runs out of samples (a p95 from fewer than 72 samples) that side takes the extreme order statistic and the other
side the rest of the 5 %. Below ``two_sided_min(q)`` samples (59 for the p95: the top order statistic still misses
the quantile with probability 0.95**n) no pair covers 95 %, and only a one-sided 95 % bound exists: the side that
has one is given, the other is None ("no upper bound"), never a fake one.

The median of a run's rounds uses the same ranks (q = 0.5): from 6 rounds on they give a 95 % interval of the
rounds' median; below that the rounds' range (min to max) covers it with probability 1 - 2 * 0.5**k only.

Pure (the Locust process and the orchestrator both use it): tests/test_intervals.py checks the coverage exactly for
every n from 20 to 2000 and by simulation.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from functools import lru_cache

CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE
TAIL_SDS = 12  # the binomial's mass beyond this many standard deviations (plus a margin) is far below 1e-20


@dataclass(frozen=True)
class Ranks:
    """1-based ranks of the order statistics bounding a quantile; None: no bound on that side at 95 %."""

    low: int | None
    high: int | None


def binomial_tails(n: int, q: float) -> tuple[int, list[float]]:
    """``(first, cdf)``: P(B <= first + i) for B ~ Binomial(n, q), over the ranks where it is neither ~0 nor ~1."""
    spread = TAIL_SDS * math.sqrt(n * q * (1 - q)) + TAIL_SDS
    first, last = max(math.floor(n * q - spread), 0), min(math.ceil(n * q + spread), n)
    log_q, log_rest = math.log(q), math.log1p(-q)
    cdf, total = [], 0.0
    for k in range(first, last + 1):
        total += math.exp(
            math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * log_q + (n - k) * log_rest
        )
        cdf.append(total)
    return first, cdf


def binomial_at_least(n: int, k: int, q: float) -> float:
    """P(B >= k) for B ~ Binomial(n, q), from binomial_tails (beyond its ranks the mass is below 1e-20): a test of a
    share against q from one side, as a window's failures against the failure limit."""
    if k <= 0:
        return 1.0
    first, cdf = binomial_tails(n, q)
    below = k - 1 - first  # the index of P(B <= k - 1)
    if below < 0:
        return 1.0
    if below >= len(cdf):
        return 0.0
    return max(1.0 - cdf[below], 0.0)


@lru_cache(maxsize=4096)
def quantile_ranks(n: int, q: float) -> Ranks:
    """The order statistics' ranks of a 95 % interval of the q-quantile of n samples (see the module text)."""
    if n < 1 or not 0 < q < 1:
        return Ranks(None, None)
    first, cdf = binomial_tails(n, q)

    def low_rank(tail: float) -> int | None:  # the highest l >= 1 with P(B < l) <= tail
        if tail < 0:
            return None
        rank = first + bisect.bisect_right(cdf, tail)
        return min(rank, n) if rank >= 1 else None

    def high_rank(tail: float) -> int | None:  # the lowest u <= n with P(B >= u) <= tail
        if tail < 0:
            return None
        rank = first + bisect.bisect_left(cdf, 1 - tail) + 1
        return rank if rank <= n else None

    low, high = low_rank(ALPHA / 2), high_rank(ALPHA / 2)
    if high is None and low is not None:  # out of samples above: the top one, the rest of the 5 % below
        high, low = n, low_rank(ALPHA - q**n)
    elif low is None and high is not None:
        low, high = 1, high_rank(ALPHA - (1 - q) ** n)
    if low is not None and high is not None and low < high:
        return Ranks(low, high)
    return Ranks(low_rank(ALPHA), None) if q >= 0.5 else Ranks(None, high_rank(ALPHA))


def two_sided_min(q: float) -> int:
    """The fewest samples with a two-sided 95 % interval of the q-quantile: q**n + (1 - q)**n <= 5 %."""
    n = 1
    while q**n + (1 - q) ** n > ALPHA:
        n += 1
    return n


def nearest_rank(ordered: list[float], percent: float) -> float | None:
    """The exact percentile of sorted values: the smallest value with at least ``percent`` % at or below it."""
    if not ordered:
        return None
    return ordered[max(math.ceil(percent / 100 * len(ordered)) - 1, 0)]
