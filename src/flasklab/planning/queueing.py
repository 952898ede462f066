"""Queueing predictions from a measured service time: what latency c slots give at an arrival rate.

The planner's law. A request's service time is measured, not assumed: a step where requests did not queue (one
closed-loop user) gives its distribution as a few exact percentiles (p50, p95, p99, max) and its mean. Between them
the distribution is read as piecewise linear in its quantiles, which keeps the measured mean and tail.

An instance with ``c`` slots (workers, threads or connections) fed Poisson arrivals at ``rate`` is an M/G/c queue:

- the chance a request waits for a slot is Erlang C of the offered load ``a = rate x E[S]``;
- the mean wait is Allen and Cunneen's approximation, M/M/c's wait scaled by ``(Ca² + Cs²) / 2`` (Ca² = 1 for
  Poisson arrivals, Cs² the service time's squared coefficient of variation): constant work waits about half as
  long as exponential work, bursty work longer;
- a request that waits, waits an exponential time with that mean; its latency is its own service time plus its wait.

For one slot and exponential service this is exact (M/M/1's latency is exponential with rate μ - λ), and its mean
wait is the Pollaczek-Khinchine formula for any service time (both checked by tests/test_queueing.py); for more slots
and other service times it is the usual engineering approximation, which is why every plan can be verified by
running it (``flasklab plan --verify``).
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from dataclasses import dataclass
from itertools import pairwise

GRID = 400  # quantile points the service-time distribution is sampled at for the latency percentiles


class QueueingError(ValueError):
    """A service time or a load the model cannot use (missing percentiles, a non-positive mean)."""


@dataclass(frozen=True)
class ServiceTime:
    """A service-time distribution as its quantile function: (quantile, ms) points, linear in between."""

    points: tuple[tuple[float, float], ...]

    @classmethod
    def from_percentiles(cls, p50: float, p95: float, p99: float, maximum: float, mean: float) -> ServiceTime:
        """From a step's exact percentiles and mean; the lower half is placed so the distribution keeps the mean."""
        upper = ((0.5, p50), (0.95, p95), (0.99, p99), (1.0, maximum))
        if not 0 < p50 <= p95 <= p99 <= maximum or mean <= 0:
            raise QueueingError(f"service-time percentiles out of order: {p50}, {p95}, {p99}, {maximum}")
        upper_mean = sum((q1 - q0) * (x0 + x1) / 2 for (q0, x0), (q1, x1) in pairwise(upper))
        lowest = 4 * (mean - upper_mean) - p50  # the first segment, (0, lowest) to (0.5, p50), carries the rest
        return cls(((0.0, min(max(lowest, 0.0), p50)), *upper))

    @classmethod
    def constant(cls, ms: float) -> ServiceTime:
        return cls(((0.0, ms), (1.0, ms)))

    def quantile(self, q: float) -> float:
        for (q0, x0), (q1, x1) in pairwise(self.points):
            if q <= q1:
                return x0 if q1 == q0 else x0 + (x1 - x0) * (q - q0) / (q1 - q0)
        return self.points[-1][1]

    @property
    def mean_ms(self) -> float:
        pairs = pairwise(self.points)
        return sum((q1 - q0) * (x0 + x1) / 2 for (q0, x0), (q1, x1) in pairs)

    @property
    def scv(self) -> float:
        """Squared coefficient of variation, Var[S] / E[S]²: 0 for constant work, 1 for exponential."""
        pairs = pairwise(self.points)
        second = sum((q1 - q0) * (x0 * x0 + x0 * x1 + x1 * x1) / 3 for (q0, x0), (q1, x1) in pairs)
        mean = self.mean_ms
        return max(second / (mean * mean) - 1, 0.0)

    def samples(self) -> list[float]:
        """The distribution at GRID evenly spaced quantiles (mid-points): what the latency percentiles sum over."""
        return [self.quantile((i + 0.5) / GRID) for i in range(GRID)]


@dataclass(frozen=True)
class Prediction:
    """One instance at one arrival rate: how busy it is and the latency its requests see."""

    rate_rps: float
    slots: int
    utilisation: float
    wait_probability: float
    mean_wait_ms: float
    p95_ms: float
    p99_ms: float


def erlang_c(slots: int, offered: float) -> float:
    """Probability that an arrival waits for a slot in an M/M/c queue (offered load in erlangs; 1 when overloaded)."""
    if offered >= slots:
        return 1.0
    blocked = 1.0  # Erlang B, by its numerically stable recursion
    for k in range(1, slots + 1):
        blocked = offered * blocked / (k + offered * blocked)
    return slots * blocked / (slots - offered * (1 - blocked))


def predict(rate_rps: float, slots: int, service: ServiceTime, arrival_scv: float = 1.0) -> Prediction | None:
    """Latency of an M/G/c queue at ``rate_rps`` (None when it cannot keep up: utilisation >= 1)."""
    if rate_rps <= 0 or slots < 1:
        raise QueueingError(f"a rate above 0 and at least one slot are needed (rate {rate_rps}, slots {slots})")
    mean_s = service.mean_ms / 1000
    offered = rate_rps * mean_s
    if offered >= slots:
        return None
    waits = erlang_c(slots, offered)
    mmc_wait_s = waits / (slots / mean_s - rate_rps)
    mean_wait_ms = 1000 * mmc_wait_s * (arrival_scv + service.scv) / 2
    samples = service.samples()
    return Prediction(
        rate_rps=rate_rps,
        slots=slots,
        utilisation=offered / slots,
        wait_probability=waits,
        mean_wait_ms=mean_wait_ms,
        p95_ms=latency_quantile(0.95, samples, waits, mean_wait_ms),
        p99_ms=latency_quantile(0.99, samples, waits, mean_wait_ms),
    )


def latency_quantile(q: float, service_ms: list[float], waits: float, mean_wait_ms: float) -> float:
    """The q-quantile of service + wait, where a share ``waits`` of requests wait an exponential time."""
    waited_mean = mean_wait_ms / waits if waits > 0 else 0.0

    def exceeds(t: float) -> float:  # P(latency > t)
        total = 0.0
        for s in service_ms:
            if s > t:
                total += 1.0
            elif waited_mean > 0:
                total += waits * math.exp(-(t - s) / waited_mean)
        return total / len(service_ms)

    low, high = 0.0, max(service_ms) + 50 * waited_mean + 1.0
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if exceeds(middle) > 1 - q else (low, middle)
    return high


def highest_rate(slots: int, service: ServiceTime, p95_ms: float, utilisation: float) -> float | None:
    """The highest Poisson rate one instance takes with its predicted p95 within ``p95_ms`` and its utilisation at
    most ``utilisation`` (None when even a trickle misses the objective)."""
    ceiling = utilisation * slots / (service.mean_ms / 1000)

    def meets(rate: float) -> bool:
        found = predict(rate, slots, service)
        return found is not None and found.p95_ms <= p95_ms

    if not meets(ceiling * 1e-6):
        return None
    if meets(ceiling):
        return ceiling
    low, high = ceiling * 1e-6, ceiling
    for _ in range(50):
        middle = (low + high) / 2
        low, high = (middle, high) if meets(middle) else (low, middle)
    return low


SHARED_REQUESTS = 40_000  # simulated requests of a shared-core prediction (the first tenth, from empty, left out)


def predict_shared(
    rate_rps: float, cores: float, admitted: int, service: ServiceTime, requests: int = SHARED_REQUESTS
) -> Prediction | None:
    """Latency when requests take turns on the cores instead of each holding a slot to itself (None: overloaded).

    CPU-bound requests on threads (the GIL hands the core round every 5 ms) or on more worker processes than cores
    (the OS scheduler's time slices) are served by *processor sharing*: up to ``admitted`` requests at once split
    ``cores`` evenly (each at most one), the rest wait first come first served. A request then takes longer than its
    own work whenever others are in, and its latency's tail is longer than a first-come-first-served queue's (M/D/1
    at 63 % busy: p95 71 ms processor-shared against 47 ms in turn, for 10.5 ms of work). Its percentiles have no
    closed form, so the queue is simulated: seeded Poisson arrivals, service times drawn from ``service``, the same
    draws at every rate (so a higher rate never predicts a lower latency).
    """
    if rate_rps <= 0 or cores <= 0 or admitted < 1:
        raise QueueingError(f"a rate, cores and admitted requests above 0 are needed ({rate_rps}, {cores}, {admitted})")
    utilisation = rate_rps * service.mean_ms / 1000 / cores
    if utilisation >= 1:
        return None
    latencies, waited = simulate_sharing(rate_rps, cores, admitted, service, requests)
    kept = sorted(latencies[requests // 10 :])
    return Prediction(
        rate_rps=rate_rps,
        slots=admitted,
        utilisation=utilisation,
        wait_probability=waited / requests,
        mean_wait_ms=max(sum(kept) / len(kept) - service.mean_ms, 0.0),
        p95_ms=kept[math.ceil(0.95 * len(kept)) - 1],
        p99_ms=kept[math.ceil(0.99 * len(kept)) - 1],
    )


def simulate_sharing(
    rate_rps: float, cores: float, admitted: int, service: ServiceTime, requests: int
) -> tuple[list[float], int]:
    """``requests`` seeded Poisson arrivals through processor sharing: each one's latency (ms) in the order they
    finish, and how many queued to be admitted. Every request in service progresses at the same speed, so one count
    of work done stands for them all and the heap orders them by the count at which each finishes."""
    draws = random.Random(0)
    latencies: list[float] = []
    waited = 0
    done = 0.0  # work each request in service has received since the first (they all progress alike)
    serving: list[tuple[float, float]] = []  # heap of (work done when it finishes, arrival time)
    queued: deque[tuple[float, float]] = deque()  # (arrival time, work ms)
    now, next_arrival, left = 0.0, draws.expovariate(rate_rps / 1000), requests
    while left or serving:
        speed = min(1.0, cores / len(serving)) if serving else 0.0
        to_finish = (serving[0][0] - done) / speed if serving else math.inf
        if left and next_arrival - now <= to_finish:
            done += (next_arrival - now) * speed
            now, left = next_arrival, left - 1
            work = service.quantile(draws.random())
            if len(serving) < admitted:
                heapq.heappush(serving, (done + work, now))
            else:
                queued.append((now, work))
                waited += 1
            next_arrival = now + draws.expovariate(rate_rps / 1000)
            continue
        now, done = now + to_finish, serving[0][0]
        latencies.append(now - heapq.heappop(serving)[1])
        if queued:
            since, work = queued.popleft()
            heapq.heappush(serving, (done + work, since))
    return latencies, waited


def predict_served(
    rate_rps: float, slots: int, service: ServiceTime, sharing: tuple[int, float] | None
) -> Prediction | None:
    """One instance as the planner models it: an M/G/c queue on its ``slots``, or, when ``sharing`` gives the
    requests it admits at once and the cores they take turns on, processor sharing."""
    if sharing is not None:
        admitted, cores = sharing
        return predict_shared(rate_rps, cores, admitted, service)
    return predict(rate_rps, slots, service)


def mmc_response_survival(t_ms: float, rate_rps: float, slots: int, mean_ms: float) -> float:
    """P(response > t) in an M/M/c queue (FCFS): exact, not the M/G/c approximation above.

    A request waits with probability C (Erlang C), and then an exponential time of rate θ = cμ - λ; its response is
    that wait plus its own exponential service of rate μ. Summing the two exponentials:

        P(T > t) = e^(-μt) · (1 + C·μt·g((θ - μ)t)),   g(x) = (1 - e^(-x)) / x,   g(0) = 1

    which is the hypoexponential tail (1 - C)e^(-μt) + C(θe^(-μt) - μe^(-θt)) / (θ - μ) written so that θ = μ (the
    Erlang-2 tail e^(-μt)(1 + μt)) and θ near μ need no special case. For one slot C = λ/μ and it is e^(-(μ - λ)t).
    """
    mu, rate = 1000 / mean_ms, rate_rps
    if rate <= 0 or slots < 1 or rate >= slots * mu:
        raise QueueingError(f"an M/M/c queue needs 0 < rate < c / mean (rate {rate_rps}, {slots} x {mean_ms} ms)")
    if t_ms <= 0:
        return 1.0
    t = t_ms / 1000
    waits = erlang_c(slots, rate / mu)
    x = (slots * mu - rate - mu) * t
    g = 1.0 if x == 0 else -math.expm1(-x) / x
    return math.exp(-mu * t) * (1 + waits * mu * t * g)


def mmc_response_percentile(q: float, rate_rps: float, slots: int, mean_ms: float) -> float:
    """The q-quantile (0 < q < 1) of an M/M/c queue's response time in ms, by bisection on its exact tail."""
    if not 0 < q < 1:
        raise QueueingError(f"a quantile is between 0 and 1, got {q}")
    low, high = 0.0, mean_ms
    while mmc_response_survival(high, rate_rps, slots, mean_ms) > 1 - q:
        low, high = high, 2 * high
    for _ in range(100):
        middle = (low + high) / 2
        low, high = (middle, high) if mmc_response_survival(middle, rate_rps, slots, mean_ms) > 1 - q else (low, middle)
        if high - low <= 1e-9 * high:
            break
    return (low + high) / 2
