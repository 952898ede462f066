"""A measurement window's figures: exact percentiles, their intervals, and the step fields they fill.

Percentiles are exact (nearest rank over the window's successful completions; failures are counted apart), not
Locust's 1 ms / 10 ms buckets, and a window's rps counts what happened inside it only (not ramp-up): a closed loop's
requests by the share of each user's cycle inside it (cycle_slices), other loads their completions inside it. In the
open model, requests due and unanswered at the window's end are data about it: those older than its median success
join its percentiles as censored latencies of their age (which then are lower bounds).

The dictionaries returned here are keyed by flasklab.core.results.Step's field names: the Locust process builds its
Step from them.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Collection, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from flasklab.core.intervals import binomial_at_least, nearest_rank, quantile_ranks
from flasklab.core.settings import WINDOW_FLOOR as WINDOW_FLOOR  # the rule's floor, with the profiles
from flasklab.core.standing import MAX_FAILURE_RATE

MAX_NAMES = 30  # requests counted by name per step: the most frequent ones
MAX_ERRORS = 20
RATE_SLICES = 10  # a window's rps spread: its completions counted in this many equal slices
T95_SLICES = 2.262  # Student's t, 95 %, 9 degrees of freedom
RPS_DIGITS = 3
# Windows sized by what they need (a closed loop in one Locust process, recording exactly): a window ends at the first
# check, every WINDOW_CHECK_S from WINDOW_FLOOR (flasklab.core.settings) of the profile's window on, where its most
# frequent kind of request holds MIN_WINDOW_SAMPLES successes (a p95 more than their maximum), every other kind that
# has succeeded in the target so far holds MIN_KIND_SAMPLES (slowclient's 2 s clients beside its fast users: a p95 of
# a handful is their maximum either way, as in a whole 5 s window, which held 2 to 12 of each), and the t-interval of
# its rate over its slices (rate_interval) is within RATE_WIDTH of the rate either side; else at the profile's
# window. A fast step (2,000 rps) ends at its floor; a slow one (10 rps), or one whose completions come in bursts (a
# 100 ms sleep for a few users), runs its whole window.
# A window whose failures already decide its step ends too (failures_decide): at least MIN_KIND_SAMPLES failures, and
# the exact binomial test of its failed share against the failure limit (MAX_FAILURE_RATE, 1 %) below
# FAILURES_ALPHA. That step stops its curve whatever the rest of the window would hold (flasklab.core.stopping), and
# a deadlock's requests time out one by one: waiting the whole window only counted a third of them. FAILURES_ALPHA is
# 0.1 %, not 5 %, because the test is made 20 times a second: simulated 5 s windows of 500 requests ended early in
# none of 10,000 at 0.5 % failures, in 0.3 % of them at the 1 % limit itself (0.5 % of 2,000 windows of 5,000
# requests), and in all but 0.3 % at 5 % (tests/test_intervals.py runs the 0.5 % and 5 % cases).
# A window's timeline: one-second slices, each with its exact p99 and the server processes started in it. A worker
# start (flasklab_app.inflight's BORN) is "around" the successes that complete within START_REACH_S after it: the
# p99.9 without them (p999_apart_ms) is the tail the starts did not touch. Starts within TOGETHER_S of each other are
# together. A p99.9 needs MIN_P999_SAMPLES successes to be more than their maximum.
TIMELINE_SLICE_S = 1.0
START_REACH_S = 1.0
TOGETHER_S = 1.0
MIN_P999_SAMPLES = 1000
WINDOW_CHECK_S = 0.05
MIN_WINDOW_SAMPLES = 20
MIN_KIND_SAMPLES = 2
RATE_WIDTH = 0.10
FAILURES_ALPHA = 0.001


def percentile_interval(ordered: list[float], percent: float) -> tuple[float | None, float | None]:
    """A distribution-free 95 % confidence interval of a percentile: two order statistics (flasklab.core.intervals).

    Their ranks come from the binomial exactly, so the interval covers the true percentile at least 95 % of the time
    for any continuous latency distribution. Too few samples for a two-sided one (a p95 below 59): the high end is
    None, and the low end alone is a one-sided 95 % lower bound.
    """
    ranks = quantile_ranks(len(ordered), percent / 100)
    return (
        None if ranks.low is None else ordered[ranks.low - 1],
        None if ranks.high is None else ordered[ranks.high - 1],
    )


def rate_interval(ended: list[float], start: float, duration_s: float) -> tuple[float, float]:
    """A t-interval of the window's rps over its completions counted in RATE_SLICES equal slices (batch means).

    What it covers: the rate of the process that produced this window, and only where slices are independent,
    that is where requests are short against a slice and their times not heavy-tailed. A simulation of a closed loop
    (c busy workers, tests/test_intervals.py) gives about 95 % for exponential service times, less for heavy-tailed
    ones, and next to nothing for regular ones (a fixed 100 ms sleep: every slice holds the same count, so the
    interval is nearly empty while the window's edges still cut requests in two). It says nothing of the machine's
    drift from one run to the next: rounds (``--rounds N``) measure that. The views call it what it is.
    """
    counts = [0.0] * RATE_SLICES
    for moment in ended:
        counts[min(max(int((moment - start) / duration_s * RATE_SLICES), 0), RATE_SLICES - 1)] += 1
    return slices_interval(counts, duration_s)


def slices_interval(counts: Sequence[float], duration_s: float) -> tuple[float, float]:
    """The t-interval of a window's rate from what each of its RATE_SLICES equal slices counted."""
    rates = [count * RATE_SLICES / duration_s for count in counts]
    mean = sum(rates) / RATE_SLICES
    spread = math.sqrt(sum((rate - mean) ** 2 for rate in rates) / (RATE_SLICES - 1))
    half = T95_SLICES * spread / math.sqrt(RATE_SLICES)
    return max(mean - half, 0.0), mean + half


# A closed loop's rate, counted by cycles. Each user's requests follow one another, so its time is a row of cycles,
# each from its previous completion (or its first request's start) to its next completion. Counting the completions
# inside a window reads whole cycles: a window of a few seconds holds k or k + 1 of a user's 100 ms cycles, and users
# that started together complete together, so the rate read up to a cycle per user high or low (the fidelity bench's
# steps at 0.96 and 1.02 of the bound). Counted by the share of each cycle inside the window instead, the edges cut
# nothing: a cycle cut by the window's start counts for its part inside, and the cycle each user has open at the
# window's end for the part it has run, over the length expected of a cycle that has already run that long (the mean
# of the window's cycles longer than that). Regular cycles sum to the window's length over the cycle exactly. A cycle
# open longer than every cycle of the window counts for nothing: nothing says it will end (a hung request), and a
# window without a completion reads 0 as before. Where a window holds fewer than CYCLES_PER_USER completions a user
# (requests as long as the window, or longer: a queue), its edges cut no quantum worth the name, while the open cycles,
# half of what it would count, would rest on the few cycles that ended: when the load has just doubled those began
# in a shorter queue than the open ones (dev-processes at 64 users read 31 rps so, against 26 counted and 25 to 27 at
# the loads before). Such a window counts its completions.
CYCLES_PER_USER = 2


def cycle_slices(
    cycles: Sequence[tuple[float, float]], open_since: Sequence[float], start: float, duration_s: float
) -> list[float]:
    """The requests of each of the window's RATE_SLICES slices, counted by the share of each cycle inside it.

    ``cycles``: (begin, end) of every cycle that ended inside the window; ``open_since``: when each user's cycle open
    at the window's end began (the rule above).
    """
    slices = [0.0] * RATE_SLICES
    width, end_time = duration_s / RATE_SLICES, start + duration_s

    def spread(begin: float, end: float, length: float) -> None:
        low, high = max(begin, start), min(end, end_time)
        if length <= 0:  # a cycle of no length: one request, where it ended
            slices[min(max(int((end - start) / width), 0), RATE_SLICES - 1)] += 1.0
            return
        for index in range(max(int((low - start) / width), 0), min(int((high - start) / width), RATE_SLICES - 1) + 1):
            inside = min(high, start + (index + 1) * width) - max(low, start + index * width)
            slices[index] += max(inside, 0.0) / length

    for begin, end in cycles:
        spread(begin, end, end - begin)
    lengths = sorted(end - begin for begin, end in cycles)
    longer = [0.0] * (len(lengths) + 1)  # longer[i]: the sum of lengths[i:]; cycles as long as ``ran`` or longer
    for index in range(len(lengths) - 1, -1, -1):
        longer[index] = longer[index + 1] + lengths[index]
    for begin in open_since:
        ran = end_time - begin
        first = bisect.bisect_left(lengths, ran)
        if ran > 0 and first < len(lengths):  # longer than every cycle: no evidence it ends, counted for nothing
            spread(begin, end_time, longer[first] / (len(lengths) - first))
    return slices


def enough(window: Window | None, elapsed_s: float, kinds: Collection[str] = ()) -> bool:
    """Does a window ``elapsed_s`` long hold enough for its figures (the rule above WINDOW_FLOOR)? ``kinds``: the
    request names that have succeeded in the target so far, each of which must be in the window too."""
    if window is None or elapsed_s <= 0:
        return False
    if failures_decide(window):
        return True
    most = max((len(latencies) for latencies in window.name_ms.values()), default=len(window.response_ms))
    if most < MIN_WINDOW_SAMPLES or any(len(window.name_ms.get(kind, ())) < MIN_KIND_SAMPLES for kind in kinds):
        return False
    low, high = rate_interval(window.ended, window.start, elapsed_s)
    rate = len(window.ended) / elapsed_s
    return (high - low) / 2 <= RATE_WIDTH * rate


def failures_decide(window: Window) -> bool:
    """The window's failures pass the failure limit beyond doubt (the rule above): its step's verdict is in."""
    completed, failed = len(window.ended), window.failures
    if failed < MIN_KIND_SAMPLES or failed <= completed * MAX_FAILURE_RATE:
        return False
    return binomial_at_least(completed, failed, MAX_FAILURE_RATE) < FAILURES_ALPHA


@dataclass
class Window:
    """Every completion recorded inside one step's measurement window (latencies of the successful ones)."""

    start: float
    response_ms: list[float] = field(default_factory=list)  # successes only: a fast failure is no latency
    succeeded_at: list[float] = field(default_factory=list)  # when each of those completed (run time)
    ended: list[float] = field(default_factory=list)  # every completion, failed or not
    failures: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    names: Counter[str] = field(default_factory=Counter)
    name_failures: Counter[str] = field(default_factory=Counter)
    name_ms: dict[str, list[float]] = field(default_factory=dict)  # successes by request name
    app_s: float = 0.0  # seconds in the app of the completions whose answer said so (flasklab_app.inflight)
    app_answers: int = 0
    app_in_flight_max: int = 0  # the most requests one server process held when one of them began
    told_starts: bool = False  # an answer said when its server process started (flasklab_app.inflight's BORN)
    # A closed loop in this process counts its rate by cycles (cycle_slices): each completion's cycle, each user's
    # last completion before the window and inside it, and the users that had not completed yet, running since the
    # step began. None: completions only (the open model, Locust workers).
    cycles: list[tuple[float, float]] | None = None
    before: dict[Hashable, float] = field(default_factory=dict)
    last: dict[Hashable, float] = field(default_factory=dict)
    users: int = 0
    spawned: float = 0.0

    def add(
        self, run_time: float, response_ms: float, error: str | None, name: str | None, app: tuple[int, float] | None
    ) -> None:
        """One completion inside the window: when, how long, its failure's kind or None, its request name, and what
        the app's header said of it (flasklab.loadgen.distributed.served)."""
        self.ended.append(run_time)
        if app is not None:
            self.served(*app)
        if name is not None:
            self.names[name] += 1
        if error is not None:
            self.failures += 1
            self.errors[error] += 1
            if name is not None:
                self.name_failures[name] += 1
            return
        self.response_ms.append(response_ms)
        self.succeeded_at.append(run_time)
        if name is not None:
            self.name_ms.setdefault(name, []).append(response_ms)

    def cycled(self, user: Hashable, begin: float, end: float) -> None:
        """One completion's cycle, of ``user``: from ``begin`` (its previous completion, or its request's start)."""
        if self.cycles is not None:
            self.cycles.append((begin, end))
            self.last[user] = end

    def rate_slices(self, duration_s: float) -> list[float] | None:
        """The window's slices counted by cycles (None: not a closed loop of this process, or too few cycles)."""
        known = self.before | self.last
        if self.cycles is None or len(self.cycles) < CYCLES_PER_USER * max(self.users, len(known)):
            return None
        open_since = list(known.values()) + [self.spawned] * max(self.users - len(known), 0)
        return cycle_slices(self.cycles, open_since, self.start, duration_s)

    def served(self, in_flight: int, seconds: float) -> None:
        """One completion's answer from the lab's app: its process's in-flight count at its start, its time there."""
        self.app_s += seconds
        self.app_answers += 1
        self.app_in_flight_max = max(self.app_in_flight_max, in_flight)

    def server_in_flight(self, duration_s: float) -> dict[str, Any]:
        """Requests in flight at the server: the mean over the window (Little's law: the completions' time in the
        app over the window's length, across every process) and the most one process held; None: not measured."""
        measured = self.app_answers > 0
        return {
            "server_in_flight": round(self.app_s / duration_s, 3) if measured else None,
            "server_in_flight_max": self.app_in_flight_max if measured else None,
        }

    def figures(
        self, duration_s: float, overdue_ms: list[float] | None = None, starts: Sequence[float] = ()
    ) -> dict[str, Any]:
        """The window's step fields. ``overdue_ms`` (open model): ages of the requests due and unanswered at its end;
        ``starts``: when server processes started (run time), as the answers told them.

        Those in flight longer than the window's median success are censored latencies: they join the percentiles
        at their age, which then are lower bounds. Younger ones are the window edge's ordinary traffic (their like
        from the previous window's end completed in this one), and counting them at their young age would pull the
        percentiles down; an overloaded server's queue is all old, and all of it counts.
        """
        median = nearest_rank(sorted(self.response_ms), 50) or 0.0
        censored = [age for age in overdue_ms or () if age > median]
        ordered = sorted(self.response_ms + censored)
        count = len(self.ended)
        slices = self.rate_slices(duration_s)
        if slices is None:
            rps = count / duration_s
            rps_low, rps_high = rate_interval(self.ended, self.start, duration_s)
        else:
            rps = sum(slices) / duration_s
            rps_low, rps_high = slices_interval(slices, duration_s)
        p95_low, p95_high = percentile_interval(ordered, 95)
        return {
            **counted_figures(count, self.failures, duration_s),
            "rps": round(rps, RPS_DIGITS),
            "p50_ms": nearest_rank(ordered, 50),
            "p95_ms": nearest_rank(ordered, 95),
            "p99_ms": nearest_rank(ordered, 99),
            "rps_low": round(rps_low, RPS_DIGITS),
            "rps_high": round(rps_high, RPS_DIGITS),
            "p95_low_ms": p95_low,
            "p95_high_ms": p95_high,
            "p95_ranks": "exact",
            "max_ms": ordered[-1] if ordered else None,
            "mean_ms": sum(ordered) / len(ordered) if ordered else None,
            "censored": None if overdue_ms is None else len(censored),
            "percentiles_lower_bound": bool(censored),
            "errors": dict(self.errors.most_common(MAX_ERRORS)),
            "p999_ms": nearest_rank(ordered, 99.9) if len(ordered) >= MIN_P999_SAMPLES else None,
            **self.server_in_flight(duration_s),
            **self.name_figures(),
            **start_figures(self, duration_s, starts),
        }

    def name_figures(self) -> dict[str, Any]:
        """Completions, failures and exact p95 per request name (the most frequent names), to read kinds apart."""
        names = dict(self.names.most_common(MAX_NAMES))
        return {
            "names": names,
            "name_failures": {name: count for name, count in self.name_failures.items() if name in names},
            "name_p95_ms": {
                name: nearest_rank(sorted(times), 95) for name, times in self.name_ms.items() if name in names and times
            },
        }


def start_figures(window: Window, duration_s: float, starts: Sequence[float]) -> dict[str, Any]:
    """The window's timeline and its server processes started (the rule above TIMELINE_SLICE_S); the starts'
    fields null where no answer told them."""
    inside = sorted(moment for moment in starts if window.start <= moment < window.start + duration_s)
    figures: dict[str, Any] = {"timeline": timeline(window, duration_s, inside)}
    if not window.told_starts:
        return figures | {"workers_started": None, "workers_started_together": None, "p999_apart_ms": None}

    def around(moment: float) -> bool:  # within START_REACH_S after the latest start before it
        latest = bisect.bisect_right(inside, moment) - 1
        return latest >= 0 and moment - inside[latest] <= START_REACH_S

    apart = sorted(
        latency for latency, moment in zip(window.response_ms, window.succeeded_at, strict=True) if not around(moment)
    )
    together = max(
        (bisect.bisect_right(inside, moment + TOGETHER_S) - index for index, moment in enumerate(inside)), default=0
    )
    return figures | {
        "workers_started": len(inside),
        "workers_started_together": together,
        "p999_apart_ms": nearest_rank(apart, 99.9) if inside and len(apart) >= MIN_P999_SAMPLES else None,
    }


def timeline(window: Window, duration_s: float, starts: Sequence[float]) -> list[dict[str, Any]]:
    """The window in TIMELINE_SLICE_S slices: completions, failures, exact p99 of the successes, starts."""
    count = max(math.ceil(duration_s / TIMELINE_SLICE_S - 1e-9), 1)

    def index(moment: float) -> int:
        return min(max(int((moment - window.start) / TIMELINE_SLICE_S), 0), count - 1)

    completed, started = Counter(index(moment) for moment in window.ended), Counter(index(m) for m in starts)
    latencies: dict[int, list[float]] = {}
    for latency, moment in zip(window.response_ms, window.succeeded_at, strict=True):
        latencies.setdefault(index(moment), []).append(latency)
    successes = {slot: len(values) for slot, values in latencies.items()}
    return [
        {
            "t_s": round(window.start + slot * TIMELINE_SLICE_S, 3),
            "length_s": max(round(min(TIMELINE_SLICE_S, duration_s - slot * TIMELINE_SLICE_S), 3), 0.001),
            "requests": completed[slot],
            "failures": completed[slot] - successes.get(slot, 0),
            "p99_ms": nearest_rank(sorted(latencies.get(slot, [])), 99),
            "workers_started": started[slot],
        }
        for slot in range(count)
    ]


def counted_figures(requests: int, failures: int, duration_s: float) -> dict[str, Any]:
    """A window's counts and rps; alone (Locust's own running totals, ``exact`` off) its percentiles are unknown."""
    return {
        "duration_s": duration_s,
        "requests": requests,
        "failures": failures,
        "rps": round(requests / duration_s, RPS_DIGITS),
        "p50_ms": None,
        "p95_ms": None,
        "p99_ms": None,
        "max_ms": None,
    }
