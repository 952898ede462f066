"""flasklab.core.steady's unstable rule against hand-worked backlogs and against the exact queue, simulated.

The simulation is the referee: one server, first come first served, arrivals Poisson (seeded), constant or
exponential service. Its backlog (requests arrived and not yet answered) is read where the Locust process reads it:
at the window's start, at each slice boundary and at its end, after the standard profile's 0.3 s warm-up, over its
5 s window. The rule's stated false-alarm rate and power (the module's docstring) must hold there.
"""

from __future__ import annotations

import bisect
import math
import random
from itertools import pairwise

import pytest

from flasklab.core.settings import PROFILES
from flasklab.core.steady import TREND_SLICES, WARMUP_CAP_S, WARMUP_SLICES, backlog_trend, unstable, warmup_cap_slices

STANDARD = PROFILES["standard"]


def simulated_path(rng: random.Random, rate: float, capacity: float, exponential: bool) -> list[int]:
    """One window's backlog path of a single-server queue fed Poisson arrivals at ``rate`` (capacity: 1 / mean
    service time), from empty, read after the warm-up at the window's TREND_SLICES + 1 boundaries."""
    end = STANDARD.warmup_s + STANDARD.window_s
    arrived, answered, moment, free = [], [], 0.0, 0.0
    while (moment := moment + rng.expovariate(rate)) < end:
        service = rng.expovariate(capacity) if exponential else 1 / capacity
        free = max(free, moment) + service
        arrived.append(moment)
        answered.append(free)
    marks = [STANDARD.warmup_s + k * STANDARD.window_s / TREND_SLICES for k in range(TREND_SLICES + 1)]
    return [bisect.bisect_right(arrived, m) - bisect.bisect_right(answered, m) for m in marks]


def flagged_share(utilisation: float, capacity: float, exponential: bool, windows: int = 300) -> float:
    rng = random.Random(f"{utilisation}:{capacity}:{exponential}")
    paths = (simulated_path(rng, utilisation * capacity, capacity, exponential) for _ in range(windows))
    return sum(unstable(path) for path in paths) / windows


def test_a_steady_trend_is_unstable_and_a_level_backlog_is_not() -> None:
    # 8 % over a 250 rps capacity: 20 requests a second behind, 10 per 0.5 s slice of a 5 s window, give or take.
    growing = [0, 9, 21, 30, 39, 52, 60, 71, 80, 88, 101]
    increments = [b - a for a, b in pairwise(growing)]
    mean = sum(increments) / 10  # 10.1
    sd = math.sqrt(sum((i - mean) ** 2 for i in increments) / 9)  # about 1.97
    assert backlog_trend(growing) == pytest.approx(16.2, abs=0.05)  # far beyond 1.833
    assert backlog_trend(growing) == pytest.approx(mean / (sd / math.sqrt(10)))
    assert unstable(growing)
    assert unstable([5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15])  # one more every slice: no noise at all
    assert not unstable([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5])  # wanders about a level
    assert not unstable([2] * 11) and backlog_trend([2] * 11) is None
    assert not unstable([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 60])  # one jump in the last slice is no trend
    assert not unstable([60, 50, 40, 30, 20, 10, 0, 0, 0, 0, 0])  # a queue draining
    assert not unstable([4, 9])  # one slice: no noise to judge it against


@pytest.mark.parametrize("exponential", [False, True])
def test_a_server_that_keeps_up_is_rarely_flagged(exponential: bool) -> None:
    """The stated false alarms: at most 3 % at utilisation 0.9, from 10 to 1,000 rps."""
    for capacity in (10.0, 100.0, 1000.0):
        assert flagged_share(0.8, capacity, exponential) <= 0.03
        assert flagged_share(0.9, capacity, exponential) <= 0.05


@pytest.mark.parametrize("exponential", [False, True])
def test_an_overload_is_flagged_with_the_stated_power(exponential: bool) -> None:
    """ε = 3.6 √((Ca² + Cs²) / (μ T)) over capacity is flagged about 95 % of the time: at 400 rps with Poisson
    arrivals, 8 % (constant service) or 11.4 % (exponential); a quarter of that overload is seldom seen."""
    capacity, noise = 400.0, 2.0 if exponential else 1.0
    over = 3.6 * math.sqrt(noise / (capacity * STANDARD.window_s))
    assert flagged_share(1 + over, capacity, exponential) >= 0.9
    assert flagged_share(1 + over / 4, capacity, exponential) <= 0.4


def test_a_warm_up_is_capped_at_three_times_the_profile_s_or_one_and_a_half_seconds() -> None:
    # full (2 s: sub-windows of 1 s) keeps three times its warm-up; quick and standard (0.3 s) run to 1.5 s.
    assert warmup_cap_slices(PROFILES["quick"].warmup_s) == 10
    assert warmup_cap_slices(PROFILES["full"].warmup_s) == 6
    assert warmup_cap_slices(0.5) == 6
    assert warmup_cap_slices(STANDARD.warmup_s) * STANDARD.warmup_s / WARMUP_SLICES == pytest.approx(WARMUP_CAP_S)
    assert warmup_cap_slices(0.3) == 10
    assert warmup_cap_slices(0.1) == 30
