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

import math
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
