"""The intervals say what they cover: exact binomial coverage, hand-checked ranks and seeded simulations.

A p95 interval from order statistics covers the true p95 with probability P(l <= B < u), B ~ Binomial(n, 0.95),
for any continuous distribution; here that sum is done in exact integers (independently of flasklab.core.intervals'
floating-point tails) for every n from 20 to 2000, and a simulation on exponential latencies checks the whole path
from samples to the window's figures. The throughput interval is simulated on a closed loop whose long-run rate is
known by the law (c workers always busy: c / mean service time), which shows where it holds and where it does not.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from fractions import Fraction

import pytest

from flasklab.core.analysis import P95_APPROXIMATE, Interval, p95_interval, rps_interval
from flasklab.core.intervals import binomial_at_least, quantile_ranks, two_sided_min
from flasklab.core.results import Spread, Step
from flasklab.loadgen.window import (
    MIN_KIND_SAMPLES,
    MIN_WINDOW_SAMPLES,
    WINDOW_CHECK_S,
    WINDOW_FLOOR,
    Window,
    cycle_slices,
    enough,
    failures_decide,
    percentile_interval,
    rate_interval,
)
from flasklab.measure.rounds import combine

P95 = Fraction(19, 20)


def coverage(n: int, q: Fraction, low: int, high: int | None) -> Fraction:
    """P(low <= B < high) for B ~ Binomial(n, q) (high None: no upper bound), in exact arithmetic."""
    top = n if high is None else high - 1
    weights = sum(
        math.comb(n, k) * q.numerator**k * (q.denominator - q.numerator) ** (n - k) for k in range(low, top + 1)
    )
    return Fraction(weights, q.denominator**n)


def test_p95_ranks_cover_95_percent_for_every_n_from_20_to_2000() -> None:
    for n in range(20, 2001):
        ranks = quantile_ranks(n, 0.95)
        assert ranks.low is not None, n
        assert coverage(n, P95, ranks.low, ranks.high) >= Fraction(95, 100), (n, ranks)
        # two-sided exactly where the widest pair, the minimum and the maximum, can cover 95 %: from 59 on
        assert (ranks.high is not None) == (1 - P95**n - (1 - P95) ** n >= Fraction(95, 100)), (n, ranks)


def test_median_ranks_of_rounds_cover_95_percent() -> None:
    half = Fraction(1, 2)
    for k in range(2, 41):
        ranks = quantile_ranks(k, 0.5)
        if ranks.high is None:  # below 6 rounds the range (min to max) covers 1 - 2 * 0.5**k < 95 % only
            assert k < 6 and coverage(k, half, 1, k) < Fraction(95, 100)
            continue
        assert ranks.low is not None and coverage(k, half, ranks.low, ranks.high) >= Fraction(95, 100), k
        assert ranks.low + ranks.high == k + 1, "the median's ranks are symmetric"


def test_ranks_by_hand() -> None:
    """Conover's table: the median of 10 samples lies between the 2nd and 9th (coverage 1 - 22/1024 = 97.9 %).

    The p95: 0.95**58 = 0.0510 > 5 %, so 58 samples have no upper bound; 0.95**59 = 0.0485, so 59 have one, the
    maximum. With 9 rounds, P(B <= 1) = 10/512 < 2.5 %: the 2nd and the 8th values.
    """
    assert (quantile_ranks(10, 0.5).low, quantile_ranks(10, 0.5).high) == (2, 9)
    assert two_sided_min(0.95) == 59
    assert quantile_ranks(58, 0.95).high is None and quantile_ranks(59, 0.95).high == 59
    assert (quantile_ranks(9, 0.5).low, quantile_ranks(9, 0.5).high) == (2, 8)
    assert quantile_ranks(1000, 0.05).low == 1001 - (quantile_ranks(1000, 0.95).high or 0)  # mirror images


def simulated_coverage(n: int, draws: int, rng: random.Random) -> tuple[float, float]:
    """Share of windows of n exponential latencies whose p95 interval holds the true p95, and with an upper bound."""
    truth = -math.log(0.05)  # the p95 of Exp(1)
    held = bounded = 0
    for _ in range(draws):
        low, high = percentile_interval(sorted(rng.expovariate(1.0) for _ in range(n)), 95)
        bounded += high is not None
        held += low is not None and low <= truth and (high is None or truth <= high)
    return held / draws, bounded / draws


@pytest.mark.parametrize("n", [20, 30, 50, 59, 100, 400])
def test_p95_interval_covers_by_simulation(n: int) -> None:
    """2,000 seeded windows each: at least 95 % less three standard errors (0.5 %) of the simulation."""
    held, bounded = simulated_coverage(n, 2000, random.Random(n))
    assert held >= 0.935, (n, held)
    assert bounded == (1.0 if n >= 59 else 0.0)


def test_a_window_of_30_successes_has_no_upper_bound_and_says_so() -> None:
    ended = [i / 10 for i in range(30)]
    window = Window(start=0.0, response_ms=[float(ms) for ms in range(1, 31)], ended=ended, succeeded_at=ended)
    figures = window.figures(3.0)
    assert (figures["p95_ranks"], figures["p95_high_ms"], figures["p95_ms"]) == ("exact", None, 29.0)
    # a one-sided 95 % lower bound, B ~ Binomial(30, 0.95) by hand: P(B >= 27) = 0.939 is too little, P(B >= 26) = 0.984
    assert figures["p95_low_ms"] == 26.0
    interval = p95_interval(Step.model_validate(base_step() | figures | step_extra()))
    assert interval is not None and interval.high is None and interval.label.endswith("no upper bound (n < 59)")


def base_step() -> dict[str, object]:
    return {"users": 4, "duration_s": 3.0, "requests": 30, "failures": 0, "rps": 10.0}


def step_extra() -> dict[str, object]:
    return {"generator_cpu": 0.1, "generator_saturated": False, "server_cpu": None, "server_rss_mb": None}


def test_an_older_runs_p95_interval_is_shown_for_what_it_was() -> None:
    """Before exact ranks, the p95 interval came from a normal approximation: labelled so, not as 95 %."""
    fields = base_step() | step_extra() | {"p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": 3.0, "max_ms": 4.0}
    old = Step.model_validate(fields | {"p95_low_ms": 1.5, "p95_high_ms": 3.0})
    assert p95_interval(old) == Interval(1.5, 3.0, P95_APPROXIMATE)
    assert rps_interval(old) is None


def rounds_of(values: list[float]) -> Step:
    fields = base_step() | step_extra() | {"p50_ms": 1.0, "p99_ms": 3.0, "max_ms": 4.0}
    return combine([Step.model_validate(fields | {"rps": v, "p95_ms": v / 10}) for v in values])


def test_rounds_are_a_range_below_6_and_a_median_interval_from_6() -> None:
    two = rounds_of([10.0, 30.0])
    assert rps_interval(two) == Interval(10.0, 30.0, "range of 2 rounds")
    nine = rounds_of([float(v) for v in (5, 9, 1, 3, 7, 2, 8, 4, 6)])  # by hand: the 2nd and 8th of 1..9
    spread = nine.spread
    assert isinstance(spread, Spread) and (spread.rps_low, spread.rps_high) == (2.0, 8.0)
    assert rps_interval(nine) == Interval(2.0, 8.0, "95 % interval of the median of 9 rounds (order statistics)")
    assert p95_interval(nine) == Interval(0.2, 0.8, "95 % interval of the median of 9 rounds (order statistics)")
    old = two.model_copy(update={"spread": Spread.model_validate(spread.model_dump(exclude={"rps_low", "rps_high"}))})
    assert rps_interval(old) == Interval(1.0, 9.0, "range of 9 rounds")  # written before: the range is all there is


Draw = Callable[[random.Random], float]
SERVICE: dict[str, Draw] = {
    "exponential": lambda rng: rng.expovariate(10.0),  # mean 100 ms
    "fixed 100 ms": lambda rng: 0.1 * (1 + 0.01 * rng.random()),  # the io scenario: a sleep and a little jitter
}
MEAN_S = {"exponential": 0.1, "fixed 100 ms": 0.1005}


def closed_loop_window(rng: random.Random, draw: Draw, workers: int, warmup_s: float, window_s: float) -> list[float]:
    """Completion times in the window of a closed loop with more users than workers and no think time.

    Every worker is then always busy, so its completions are a renewal process of service times and the long-run
    rate is workers / mean service time exactly. All start together, as Locust's users do at a step's start.
    """
    ended = []
    for _ in range(workers):
        moment = 0.0
        while moment < warmup_s + window_s:
            moment += draw(rng)
            if warmup_s <= moment < warmup_s + window_s:
                ended.append(moment)
    return ended


def rate_coverage(service: str, draws: int) -> float:
    rng, workers, warmup_s, window_s = random.Random(21), 4, 1.0, 5.0
    truth = workers / MEAN_S[service]
    held = 0
    for _ in range(draws):
        low, high = rate_interval(closed_loop_window(rng, SERVICE[service], workers, warmup_s, window_s), 1.0, 5.0)
        held += low <= truth <= high
    return held / draws


def test_the_slices_t_interval_holds_for_random_service_and_not_for_regular_service() -> None:
    """What rps_low..rps_high is: a t-interval of the window's slices, 95 % only where slices are independent.

    Exponential service (a Poisson stream of completions): about 95 %. A fixed 100 ms sleep: every slice holds
    nearly the same count, the interval nearly nothing, and the window's edges still cut requests in two, so it
    rarely holds the long-run rate: the views call it a t-interval of the window's slices, not a 95 % interval of
    the server's throughput, and compare does not lean on it alone (its noise floor).
    """
    assert rate_coverage("exponential", 600) >= 0.92
    assert rate_coverage("fixed 100 ms", 300) <= 0.5


# A closed loop's rate counted by cycles (flasklab.loadgen.window.cycle_slices)


def user_cycles(
    rng: random.Random, draw: Draw, users: int, window: tuple[float, float]
) -> tuple[list[tuple[float, float]], list[float], int]:
    """Users that all start at 0 (a step's users start together) and run cycles back to back: the cycles that ended
    inside the window, when each user's cycle open at its end began, and how many completions it holds."""
    cycles, open_since = [], []
    for _ in range(users):
        moment = 0.0
        while (end := moment + draw(rng)) < window[1]:
            if end >= window[0]:
                cycles.append((moment, end))
            moment = end
        open_since.append(moment)
    return cycles, open_since, len(cycles)


def test_cycles_read_a_regular_closed_loop_exactly_where_completions_read_a_cycle_high_or_low() -> None:
    """8 users of a 100 ms sleep, windows of 1.25 to 2 s at any phase: counted by completions, a window reads whole
    cycles (the fidelity bench's 0.96 and 1.02); counted by cycles, within 1 % of the law's rate every time."""
    rng, users = random.Random(5), 8
    truth = users / MEAN_S["fixed 100 ms"]
    by_cycles, by_completions = [], []
    for _ in range(300):
        start = rng.uniform(0.5, 0.6)
        length = rng.uniform(1.25, 2.0)
        cycles, open_since, completed = user_cycles(rng, SERVICE["fixed 100 ms"], users, (start, start + length))
        by_cycles.append(sum(cycle_slices(cycles, open_since, start, length)) / length / truth)
        by_completions.append(completed / length / truth)
    assert all(abs(ratio - 1) < 0.01 for ratio in by_cycles), (min(by_cycles), max(by_cycles))
    assert min(by_completions) < 0.96 and max(by_completions) > 1.04


def test_cycles_read_a_random_closed_loop_without_bias() -> None:
    """Exponential cycles (mean 100 ms), 4 users, 1.25 s windows: the mean over 400 windows is the law's rate within
    2 %, and no worse spread than counting completions."""
    rng, users, length = random.Random(8), 4, 1.25
    truth = users / MEAN_S["exponential"]
    by_cycles, by_completions = [], []
    for _ in range(400):
        cycles, open_since, completed = user_cycles(rng, SERVICE["exponential"], users, (0.5, 0.5 + length))
        by_cycles.append(sum(cycle_slices(cycles, open_since, 0.5, length)) / length)
        by_completions.append(completed / length)
    assert abs(sum(by_cycles) / len(by_cycles) / truth - 1) < 0.02
    spread = [
        math.sqrt(sum((rate - truth) ** 2 for rate in rates) / len(rates)) for rates in (by_cycles, by_completions)
    ]
    assert spread[0] <= spread[1]


def test_a_cycle_open_longer_than_any_counts_for_nothing() -> None:
    """A hung request (open since before the window, longer than every cycle of it) adds nothing; one open for part
    of a cycle adds that part; a window without a completion reads nothing."""
    # One user's 100 ms cycles ending from the window's start (the first has nothing inside) to 0.1 s before its end.
    cycles = [(0.9 + 0.1 * index, 1.0 + 0.1 * index) for index in range(10)]
    alone = sum(cycle_slices(cycles, [1.9], 1.0, 1.0))
    assert alone == pytest.approx(10.0)  # 9 whole cycles and the open one, which has run a whole cycle
    assert sum(cycle_slices(cycles, [1.9, 0.2], 1.0, 1.0)) == pytest.approx(alone)
    assert sum(cycle_slices(cycles, [1.9, 1.95], 1.0, 1.0)) == pytest.approx(10.5)
    assert sum(cycle_slices([], [0.2, 0.5], 1.0, 1.0)) == 0


def test_a_window_counted_by_cycles_gives_its_rps_and_an_interval_around_it() -> None:
    """The step's rps is the cycles' count over the window, and its slices' interval is of the same counts."""
    cycles = [(0.95 + 0.1 * index, 1.05 + 0.1 * index) for index in range(10)]  # one user, from 0.95 s
    ended = [end for _, end in cycles]
    window = Window(start=1.0, response_ms=[100.0] * 10, ended=ended, succeeded_at=ended, cycles=cycles)
    window.last = {"user": cycles[-1][1]}  # open since 1.95 s: half a cycle in
    window.users = 1
    figures = window.figures(1.0)
    assert figures["requests"] == 10
    assert figures["rps"] == pytest.approx(10.0, abs=0.01)  # nine whole cycles, half of the first, half the open one
    assert figures["rps_low"] <= figures["rps"] <= figures["rps_high"]


# Windows sized by what they need (flasklab.loadgen.window.enough)


def test_a_fast_even_window_has_enough_at_its_floor() -> None:
    window = Window(start=0.0, response_ms=[1.0] * 500, ended=[i / 1000 for i in range(500)])
    assert enough(window, 0.5)


def test_a_window_needs_twenty_successes_for_its_p95() -> None:
    window = Window(start=0.0, response_ms=[100.0] * 15, ended=[i / 30 for i in range(15)])
    assert not enough(window, 0.5) and not enough(None, 0.5)


def test_a_window_of_bursts_runs_on() -> None:
    """4 users of a 100 ms sleep: completions come 4 at a time every 100 ms, so half the 50 ms slices of a 0.5 s window
    hold 4 and half none: the rate's interval is far wider than its 10 % either side."""
    ended = [burst / 10 + 0.001 * user for burst in range(5) for user in range(4)]
    window = Window(start=0.0, response_ms=[100.0] * 20, ended=ended)
    assert not enough(window, 0.5)


def kinds_window(slow_successes: int) -> Window:
    """A second of 100 fast successes (one request name) beside ``slow_successes`` of a slow kind."""
    fast = [i / 100 for i in range(100)]
    slow = [0.5 + i / 10 for i in range(slow_successes)]
    window = Window(start=0.0, response_ms=[5.0] * 100 + [2000.0] * slow_successes, ended=sorted(fast + slow))
    window.name_ms = {"/hello": [5.0] * 100}
    if slow_successes:
        window.name_ms["/payload (slow read)"] = [2000.0] * slow_successes
    return window


def test_a_kind_that_has_succeeded_before_holds_the_window_until_two_of_it_succeed() -> None:
    """slowclient: the fast users fill their 20 at once; a slow kind that has succeeded in the target must succeed
    twice in the window too, or its p95 (and the slow-client claims' comparison) would be missing."""
    kinds = {"/hello", "/payload (slow read)"}
    assert not enough(kinds_window(0), 1.0, kinds)
    assert not enough(kinds_window(MIN_KIND_SAMPLES - 1), 1.0, kinds)
    assert enough(kinds_window(MIN_KIND_SAMPLES), 1.0, kinds)
    assert enough(kinds_window(0), 1.0, {"/hello"})  # a kind not yet seen to succeed does not hold it


def test_the_most_frequent_kind_needs_twenty_successes() -> None:
    window = kinds_window(MIN_KIND_SAMPLES)
    window.name_ms["/hello"] = [5.0] * (MIN_WINDOW_SAMPLES - 1)
    assert not enough(window, 1.0, {"/hello"})


def test_the_binomial_tail_by_hand() -> None:
    assert binomial_at_least(3, 2, 0.01) == pytest.approx(3 * 0.01**2 * 0.99 + 0.01**3)
    assert binomial_at_least(10, 0, 0.01) == 1.0 and binomial_at_least(10, 11, 0.01) == 0.0
    exact = sum(math.comb(500, k) * 0.01**k * 0.99 ** (500 - k) for k in range(10, 501))
    assert binomial_at_least(500, 10, 0.01) == pytest.approx(exact, rel=1e-9)


def failing_window(rng: random.Random, share: float, rps: float = 100.0, window_s: float = 5.0) -> bool:
    """Did a closed-loop window of ``rps`` completions a second, each failing with probability ``share``, end early
    on its failures (checked every WINDOW_CHECK_S from its floor on, as the Locust process does)?"""
    window, moment, check = Window(start=0.0), 0.0, WINDOW_FLOOR * window_s
    while moment < window_s:
        moment += 1 / rps
        window.ended.append(moment)
        window.failures += rng.random() < share
        if moment >= check:
            check += WINDOW_CHECK_S
            if failures_decide(window):
                return True
    return False


def test_failures_end_a_window_only_beyond_doubt() -> None:
    """A deadlock's two timeouts decide its step; 2 failures in 13 do not yet, 3 do (p < 0.1 %). Checked 20 times a
    second, a server at 0.5 % failures (under the 1 % limit) never ended a window early in 2,000 simulated ones; one at
    5 % ended 99 % of them early."""
    deadlock = Window(start=0.0, ended=[1.5, 3.0], failures=2)
    assert failures_decide(deadlock) and enough(deadlock, 3.0)
    assert not failures_decide(Window(start=0.0, ended=[1.5], failures=1))  # one is not yet MIN_KIND_SAMPLES
    assert not failures_decide(Window(start=0.0, ended=[i / 10 for i in range(13)], failures=2))
    assert failures_decide(Window(start=0.0, ended=[i / 10 for i in range(13)], failures=3))
    rng = random.Random(7)
    assert not any(failing_window(rng, 0.005) for _ in range(2000))
    assert sum(failing_window(rng, 0.05) for _ in range(500)) >= 495


def test_a_window_of_few_cycles_a_user_counts_its_completions() -> None:
    """8 users and 10 cycles: requests about as long as the window. Its open cycles would be most of its count, so the
    window counts its completions, as the open model and Locust workers do."""
    cycles = [(0.95 + 0.1 * index, 1.05 + 0.1 * index) for index in range(10)]
    ended = [end for _, end in cycles]
    window = Window(start=1.0, response_ms=[100.0] * 10, ended=ended, succeeded_at=ended, cycles=cycles)
    window.last = {"user": cycles[-1][1]}
    window.users = 8
    assert window.figures(1.0)["rps"] == 10.0 and window.rate_slices(1.0) is None
    window.users = 5  # two cycles a user: counted by cycles
    assert window.rate_slices(1.0) is not None
