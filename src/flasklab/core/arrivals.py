"""When the open model's requests are due: Poisson arrivals (seeded) or evenly spaced ones.

Pure (no gevent, no Locust): the Locust process's open loop sends by it, and tests check it without importing Locust
(which monkey-patches the process that imports it).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Literal

Arrivals = Literal["poisson", "uniform"]
ARRIVALS: tuple[Arrivals, ...] = ("poisson", "uniform")


@dataclass
class Schedule:
    """One step's arrivals from ``start`` until ``end`` (perf_counter seconds): Poisson when it has a generator of
    its own (``gaps``), else every 1/rate seconds."""

    rate: float
    start: float
    gaps: random.Random | None = None
    end: float = math.inf  # set once the step's window has begun, and so its end is known
    sent: int = 0  # arrivals spawned so far
    dues: list[float] = field(default_factory=list)  # Poisson due times drawn so far, in order

    def due(self, index: int) -> float:
        if self.gaps is None:
            return self.start + index / self.rate
        while len(self.dues) <= index:
            self.dues.append((self.dues[-1] if self.dues else self.start) + self.gaps.expovariate(self.rate))
        return self.dues[index]

    def unsent(self, now: float) -> list[float]:
        """Due times that have passed (before ``now`` and ``end``) but whose arrivals were not spawned yet."""
        last = min(now, self.end)
        found: list[float] = []
        while (due := self.due(self.sent + len(found))) < last:
            found.append(due)
        return found


def step_generator(arrivals: Arrivals, seed: int, step: int) -> random.Random | None:
    """The gap generator of one step: the same for every server at that step of a run with that seed."""
    return random.Random(f"{seed}:{step}") if arrivals == "poisson" else None
