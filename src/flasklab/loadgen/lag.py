"""How late the generator itself is: a busy Locust process sends late and reads answers late, whatever its CPU says.

Two measures, each summed up per window as a p95 and a maximum (flasklab.core.analysis judges them):

- **Send lag** (open model): each arrival's delay from its due time to its request being sent, a wait for one of
  the open loop's slots included (flasklab.loadgen.openloop records it). A generator that keeps up sends on time.
- **Loop lag** (both models): a greenlet sleeps LOOP_TICK_S again and again and records by how much it overslept.
  gevent runs every greenlet that is ready (users handling answers, arrivals being sent) before a timer's greenlet
  wakes, so the oversleep is how long an answer or a send waits for the generator's CPU: a closed loop's users
  are that much late for their next request, and their latencies that much long.

Runs inside the Locust process (gevent).
"""

from __future__ import annotations

import time
from typing import Any

import gevent

from flasklab.core.intervals import nearest_rank

LOOP_TICK_S = 0.010
LAG_DIGITS = 3


def lag_figures(prefix: str, lags_ms: list[float]) -> dict[str, Any]:
    """``{prefix}_p95_ms`` and ``{prefix}_max_ms`` of a window's lags; None for both when there were none."""
    ordered = sorted(lags_ms)
    p95 = nearest_rank(ordered, 95)
    return {
        f"{prefix}_p95_ms": None if p95 is None else round(p95, LAG_DIGITS),
        f"{prefix}_max_ms": round(ordered[-1], LAG_DIGITS) if ordered else None,
    }


class LoopLag:
    """The event loop's oversleeps, in ms, since the last ``reset``: one per LOOP_TICK_S of sleep."""

    def __init__(self, tick_s: float = LOOP_TICK_S) -> None:
        self.tick_s = tick_s
        self.lags_ms: list[float] = []
        self.greenlet: gevent.Greenlet | None = None

    def start(self) -> None:
        self.greenlet = gevent.spawn(self._run)

    def _run(self) -> None:
        while True:
            before = time.perf_counter()
            gevent.sleep(self.tick_s)
            self.lags_ms.append(max(time.perf_counter() - before - self.tick_s, 0.0) * 1000)

    def reset(self) -> None:
        self.lags_ms = []

    def figures(self) -> dict[str, Any]:
        """The window's loop lag fields (``loop_lag_p95_ms``, ``loop_lag_max_ms``)."""
        return lag_figures("loop_lag", self.lags_ms)

    def stop(self) -> None:
        if self.greenlet is not None:
            self.greenlet.kill(block=False)
