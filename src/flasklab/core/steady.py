"""When a step's measurement may begin, and when an open-model step did not hold: the rules, as pure functions.

- **Steady warm-up.** A step's warm-up is cut in sub-windows (half the profile's warm-up each). The window may begin
  once the last two sub-windows completed requests at the same rate (within 10 %, or within the counting noise of so
  few completions) and the requests in flight held still (closed loop: the same users running at both sub-windows'
  ends, so no spawning or dying in between; open model: requests due and unanswered at the same level). A warm-up
  lasts at least the profile's and at most WARMUP_CAP times it, and never less than WARMUP_CAP_S (the standard profile's
  0.3 s warm-up may run to 1.5 s, as its 0.5 s one did); a step whose cap was hit is *not steady*.
- **Unstable (open model): the server did not keep up.** The backlog (requests due and unanswered) is read at the
  window's start, at each of its TREND_SLICES slices' boundaries and at its end. Each slice's growth is its arrivals
  minus its completions. The step is unstable when their mean is above zero by more than their own noise: a
  one-sided Student's t test at 5 % (t > TREND_T, TREND_SLICES - 1 degrees of freedom). A trend, not a fixed share:
  a server offered a few per cent more than it can do falls behind by a steady amount every slice, which the test
  sees once it stands out of the slices' noise, whatever the window's arrivals.

  *False alarms.* A server that keeps up returns its backlog to its level, so its slices' growths are negatively
  correlated and the test is stricter than its nominal 5 %. Simulated (one server, Poisson arrivals, constant or
  exponential service, the standard profile's 0.3 s warm-up and 5 s window; tests/test_steady.py): 0-2 % at
  utilisation 0.8 and at most 3 % at 0.9 from 10 to 1,000 rps. A server at exactly its capacity, whose backlog does
  grow (as the square root of time), is flagged 5-11 % of the time.

  *Power.* A server offered ε over its capacity μ (rps) falls behind by ε μ T requests in a window of T s, against
  noise of √((Ca² + Cs²) μ T) (Ca², Cs²: squared coefficients of variation of the gaps between arrivals, 1 for
  Poisson, 0 evenly spaced, and of the service time). The test flags it with probability about 95 % once
  ε ≥ 3.6 √((Ca² + Cs²) / (μ T)). In the standard profile's 5 s window with Poisson arrivals and constant service,
  5 % over is flagged 20 % of the time at 100 rps, 50 % at 300 rps and 94 % at 1,000 rps; 10 % over 60 %, 95 % and
  100 %. Evenly spaced arrivals (Ca² = 0) leave only the service time's own noise: a real dev-single 5 % over its
  measured capacity is flagged in that window (tests/test_open_model.py). Slow servers need longer windows or larger
  overloads to be told apart from noise: a window of T s cannot see less than that.

Used inside the Locust process (flasklab.loadgen) and by tests and views; no Locust, no gevent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise

RATE_TOLERANCE = 0.10  # two sub-windows' completions within 10 % of each other ...
NOISE_SIGMAS = 2.0  # ... or within 2 standard deviations of their (Poisson) counting noise
WARMUP_CAP = 3.0  # a warm-up lasts at most this many times the profile's ...
WARMUP_CAP_S = 1.5  # ... or this many seconds, whichever is longer
WARMUP_SLICES = 2  # sub-windows per profile warm-up: the shortest warm-up is exactly two of them
TREND_SLICES = 10  # a window's backlog is read at its start, at these slices' boundaries and at its end
TREND_T = 1.833  # Student's t, one-sided 5 %, TREND_SLICES - 1 = 9 degrees of freedom


def warmup_cap_slices(warmup_s: float) -> int:
    """The most sub-windows a steady warm-up may take, for a profile's warm-up of ``warmup_s`` (more than 0)."""
    slice_s = warmup_s / WARMUP_SLICES
    return max(round(WARMUP_CAP * WARMUP_SLICES), math.ceil(WARMUP_CAP_S / slice_s - 1e-9))


def same_level(first: float, second: float) -> bool:
    """Are two counts over equal durations the same level: within 10 %, or within their counting noise?

    Noise matters for short sub-windows: 2 against 3 completions of a 100 ms request say nothing about a trend.
    """
    return abs(first - second) <= max(RATE_TOLERANCE * max(first, second), NOISE_SIGMAS * math.sqrt(first + second))


def warmed_up(completions: tuple[int, int], in_flight: tuple[int, int], closed: bool) -> bool:
    """Were the last two warm-up sub-windows steady?

    ``completions`` counts each sub-window's completions; ``in_flight`` is what was in flight at each one's end:
    in a closed loop the users running, which must be the same; in the open model the requests due and unanswered,
    which must be at the same level. Two sub-windows with no completion at all say nothing (a stall, or requests
    longer than the sub-windows): not steady.
    """
    if not sum(completions) or not same_level(*completions):
        return False
    return in_flight[0] == in_flight[1] if closed else same_level(*in_flight)


def backlog_trend(path: Sequence[int]) -> float | None:
    """The t statistic of the backlog's growth per slice (None: it did not grow on average, or too few slices).

    ``path`` is the backlog at the window's start, at each slice boundary and at its end. Its increments are the
    slices' arrivals minus completions: independent when the server falls behind (the backlog is then a random walk
    with a drift), negatively correlated when it keeps up (a stable queue returns to its level), which only makes
    the test stricter. Every slice growing by the same amount has no noise at all: an infinite t.
    """
    growth = [later - earlier for earlier, later in pairwise(path)]
    if len(growth) < 2:
        return None
    mean = sum(growth) / len(growth)
    if mean <= 0:
        return None
    spread = math.sqrt(sum((each - mean) ** 2 for each in growth) / (len(growth) - 1))
    return math.inf if spread == 0 else mean / (spread / math.sqrt(len(growth)))


def unstable(path: Sequence[int]) -> bool:
    """Did an open-model window's backlog grow as a trend beyond its noise: the offered rate was not kept up with?"""
    trend = backlog_trend(path)
    return trend is not None and trend > TREND_T
