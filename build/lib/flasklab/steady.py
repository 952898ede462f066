"""When a step's measurement may begin, and when an open-model step did not hold: the rules, as pure functions.

- **Steady warm-up.** A step's warm-up is cut in sub-windows (half the profile's warm-up each). The window may begin
  once the last two sub-windows completed requests at the same rate (within 10 %, or within the counting noise of so
  few completions) and the requests in flight held still (closed loop: the same users running at both sub-windows'
  ends, so no spawning or dying in between; open model: requests due and unanswered at the same level). A warm-up
  lasts at least the profile's and at most WARMUP_CAP times it; a step whose cap was hit is *not steady*.
- **Unstable (open model).** Requests due and unanswered (the backlog) grew over the window by more than counting
  noise allows (BACKLOG_GROWTH_MIN requests, or BACKLOG_GROWTH_SHARE of the window's arrivals): the server did not
  keep up with the offered rate, and the window's latencies only say how long the queue had grown so far.

Used inside the Locust process (flasklab.loadgen) and by tests; no Locust, no gevent.
"""

from __future__ import annotations

import math

RATE_TOLERANCE = 0.10  # two sub-windows' completions within 10 % of each other ...
NOISE_SIGMAS = 2.0  # ... or within 2 standard deviations of their (Poisson) counting noise
WARMUP_CAP = 3.0  # a warm-up lasts at most this many times the profile's
WARMUP_SLICES = 2  # sub-windows per profile warm-up: the shortest warm-up is exactly two of them
BACKLOG_GROWTH_MIN = 5
BACKLOG_GROWTH_SHARE = 0.05


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


def unstable(backlog_start: int, backlog_end: int, arrivals: float) -> bool:
    """Did an open-model window's backlog grow by more than noise: the offered rate was not kept up with?"""
    return backlog_end - backlog_start > max(BACKLOG_GROWTH_MIN, BACKLOG_GROWTH_SHARE * arrivals)
