"""A fleet behind its balancer, simulated: the prediction ``plan --verify --cluster`` holds the whole fleet to.

The plan sizes each instance as its own queue fed Poisson arrivals at R / N (flasklab.planning.queueing): the safe
side, and what one instance verified at its share measures. A whole fleet is not N separate Poisson queues. The
balancer decides which instance a request meets, and the measured fleets were far faster than that model
(``docs/runs/bench-plan.txt``: 107 ms against 171 ms predicted): round-robin hands each instance every Nth arrival,
spaced more evenly than Poisson, and least-conn sends a request where a slot is free, so the instances' slots serve
nearly as one pool.

So the fleet is simulated as nginx runs it: seeded Poisson arrivals at the whole rate R, each sent to an instance by
the method (nginx's):

- ``round-robin``: the next instance in turn;
- ``least-conn``: the instance with the fewest requests in flight at it (its slots and its queue), ties in turn;
- ``random-two``: two instances drawn at random, the one with fewer in flight.

Each instance serves its requests first come first served on its ``slots``, each taking a service time drawn from
the option's model (the measured quantile function, or the law's work as a constant). The fleet's p95 and p99 are
the exact nearest-rank percentiles of FLEET_REQUESTS simulated latencies after the first WARMUP_SHARE (one instance
of exponential service is the exact M/M/c queue to 3 %, and least-conn the pooled M/M/Nc: tests/test_fleet_model.py;
about 0.1 s). A request's
CPU shares cores in the per-instance model where requests are time-sliced (processor sharing); this simulation has
slots only, so such an option keeps its per-instance prediction (``fleet_prediction`` returns None).
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from dataclasses import dataclass

from flasklab.core.intervals import nearest_rank
from flasklab.planning.queueing import ServiceTime

FLEET_REQUESTS = 40_000
WARMUP_SHARE = 0.1
METHODS = ("round-robin", "least-conn", "random-two")


@dataclass(frozen=True)
class FleetPrediction:
    method: str
    instances: int
    slots: int
    rate_rps: float
    p95_ms: float
    p99_ms: float
    busiest_share: float  # the largest share of requests one instance received, over the mean share

    @property
    def text(self) -> str:
        return (
            f"the fleet simulated ({self.instances} x {self.slots} slots behind {self.method}, Poisson arrivals at "
            f"{self.rate_rps:g} rps)"
        )


class Instance:
    """One instance: the end times of the requests in its slots, and the requests waiting for one (index, work)."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.ends: list[float] = []
        self.waiting: deque[tuple[int, float]] = deque()

    @property
    def in_flight(self) -> int:
        return len(self.ends) + len(self.waiting)


class Dispatcher:
    """nginx's choice of instance for each request, by METHOD."""

    def __init__(self, method: str, count: int, draws: random.Random) -> None:
        if method not in METHODS:
            raise ValueError(f"unknown balancing method {method!r}: one of {', '.join(METHODS)}")
        self.method, self.count, self.draws, self.turn = method, count, draws, 0

    def choose(self, instances: list[Instance]) -> int:
        if self.method == "random-two" and self.count > 1:
            first, second = self.draws.sample(range(self.count), 2)
            return first if instances[first].in_flight <= instances[second].in_flight else second
        order = [(self.turn + step) % self.count for step in range(self.count)]
        chosen = order[0] if self.method == "round-robin" else min(order, key=lambda i: instances[i].in_flight)
        self.turn = (chosen + 1) % self.count
        return chosen


class Fleet:
    """The instances and the requests in their slots, in the order they end."""

    def __init__(self, instances: int, slots: int) -> None:
        self.members = [Instance(slots) for _ in range(instances)]
        self.finishing: list[tuple[float, int, int]] = []  # (end time, instance, request) of each request in a slot
        self.arrived: list[float] = []
        self.latency: list[float] = []

    def begin(self, member: int, request: int, start: float, work: float) -> None:
        self.members[member].ends.append(start + work)
        heapq.heappush(self.finishing, (start + work, member, request))

    def end_until(self, moment: float) -> None:
        """Every request that ends by ``moment`` leaves its slot, and the next waiting one takes it."""
        while self.finishing and self.finishing[0][0] <= moment:
            ended, member, request = heapq.heappop(self.finishing)
            instance = self.members[member]
            instance.ends.remove(ended)
            self.latency[request] = ended - self.arrived[request]
            if instance.waiting:
                waiting, work = instance.waiting.popleft()
                self.begin(member, waiting, ended, work)

    def arrive(self, member: int, moment: float, work: float) -> None:
        request = len(self.arrived)
        self.arrived.append(moment)
        self.latency.append(math.nan)
        if len(self.members[member].ends) < self.members[member].slots:
            self.begin(member, request, moment, work)
        else:
            self.members[member].waiting.append((request, work))


def simulate_fleet(
    rate_rps: float, instances: int, slots: int, service: ServiceTime, method: str, requests: int = FLEET_REQUESTS
) -> tuple[list[float], list[int]]:
    """Every request's latency (ms, in arrival order) and each instance's count of requests, from seeded Poisson
    arrivals at ``rate_rps`` sent by ``method`` to ``instances`` FCFS queues of ``slots`` each."""
    draws = random.Random(0)
    dispatcher = Dispatcher(method, instances, draws)
    fleet = Fleet(instances, slots)
    counts = [0] * instances
    now = 0.0
    for _ in range(requests):
        now += draws.expovariate(rate_rps / 1000)
        fleet.end_until(now)
        member = dispatcher.choose(fleet.members)
        counts[member] += 1
        fleet.arrive(member, now, service.quantile(draws.random()))
    fleet.end_until(math.inf)
    return fleet.latency, counts


def fleet_prediction(
    rate_rps: float, instances: int, slots: int, service: ServiceTime, method: str
) -> FleetPrediction | None:
    """The fleet's p95 and p99 at ``rate_rps`` (None: its slots cannot keep up with the rate)."""
    if rate_rps * service.mean_ms / 1000 >= instances * slots:
        return None
    latency, counts = simulate_fleet(rate_rps, instances, slots, service, method)
    kept = sorted(latency[int(WARMUP_SHARE * len(latency)) :])
    p95, p99 = nearest_rank(kept, 95), nearest_rank(kept, 99)
    assert p95 is not None and p99 is not None  # FLEET_REQUESTS latencies, most of them kept
    return FleetPrediction(
        method,
        instances,
        slots,
        rate_rps,
        p95_ms=p95,
        p99_ms=p99,
        busiest_share=max(counts) / (sum(counts) / instances),
    )
