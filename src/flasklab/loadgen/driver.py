"""What drives a step in the Locust process: Locust's users (closed loop) or the open model's arrivals, and its warm-up.

flasklab.loadgen.process applies each step through a ``Driver`` on its own boundaries, and waits out the step's warm-up
sub-window by sub-window until it is steady (flasklab.core.steady) before its window begins.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import gevent

from flasklab.core.steady import WARMUP_SLICES, warmup_cap_slices
from flasklab.loadgen.openloop import OpenLoop
from flasklab.loadgen.recorder import Phase


def wait_until(moment: float) -> None:
    """Sleep (cooperatively) until ``moment``, in perf_counter seconds."""
    gevent.sleep(max(moment - time.perf_counter(), 0))


class Driver:
    """What drives a step: Locust's users (closed loop) or the open model's arrivals, and what they hold open."""

    def __init__(self, runner: Any, arrivals: OpenLoop | None, run_start: float) -> None:
        self.runner = runner
        self.arrivals = arrivals
        self.run_start = run_start

    def begin(self, shape: Any, step: int, start: float) -> None:
        """Apply step ``step``'s load from ``start`` (run time): its users, or its rate of arrivals."""
        users, spawn_rate = shape.load(step)
        if self.arrivals is None:
            self.runner.start(users, spawn_rate=spawn_rate)
        else:  # the step's "users" are its rate: requests due per second until its window ends
            self.arrivals.begin(float(users), self.run_start + start, step)

    def in_flight(self) -> int:
        """Closed loop: the users running; open model: the requests due and unanswered."""
        if self.arrivals is None:
            return int(self.runner.user_count)
        return len(self.arrivals.overdue(time.perf_counter()))

    def end_at(self, window_end: float) -> None:
        """The open model's arrivals of this step stop at its window's end (run time)."""
        if self.arrivals is not None and self.arrivals.schedule is not None:
            self.arrivals.schedule.end = self.run_start + window_end


def warm_up(phase: Phase, driver: Driver, closed: bool, completed: Callable[[], int] | None) -> bool | None:
    """Wait out a step's warm-up, sub-window by sub-window; the window may begin when this returns.

    With ``completed`` (a count of completions available at once) the warm-up goes on until two sub-windows are
    steady or its cap has passed (WARMUP_CAP times the profile's warm-up, at least WARMUP_CAP_S), and says which
    (True: steady, False: cap hit).
    Without it (Locust workers: samples arrive late) it lasts the profile's warm-up and returns None: its
    steadiness is judged once the samples are in.
    """
    if phase.slice_s <= 0:
        return None
    last = warmup_cap_slices(phase.slice_s * WARMUP_SLICES) if completed is not None else WARMUP_SLICES
    if completed is not None:
        phase.completed[0] = completed()
    for boundary in range(1, last + 1):
        wait_until(driver.run_start + phase.start + boundary * phase.slice_s)
        phase.in_flight[boundary] = driver.in_flight()
        if completed is None:
            continue
        phase.completed[boundary] = completed()
        steady = phase.steady_at(boundary, closed)
        if steady or (steady is not None and boundary == last):
            return steady
    return None
