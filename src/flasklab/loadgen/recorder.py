"""Files each completion into its step's measurement window, by the time it completed.

Warm-ups and overruns are discarded (a warm-up only counts its completions per sub-window, to judge when the load
is steady: flasklab.core.steady). Completions arrive from Locust's request event in a single process, from the open
model's own listener (latency from when the request was due), or as raw samples in Locust workers' reports
(flasklab.loadgen.distributed). A successful request made in a user's ``on_start`` is set-up, not a sample; a
failed one is a failure.

Each answer of the lab's app says how long it spent in the app (its ``X-Lab-In-Flight`` header, see
services/app/flasklab_app/inflight.py): the window sums it into the requests in flight at the server. A user's own
app sends no such header, and Locust workers do not forward it: their windows' in-flight is then not measured.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import gevent

from flasklab.core.steady import WARMUP_SLICES, warmed_up
from flasklab.loadgen.distributed import CPU_KEY, SAMPLES_KEY, error_kind, process_started, served
from flasklab.loadgen.lab_users import starting
from flasklab.loadgen.openloop import due_time
from flasklab.loadgen.window import Window

MAX_NAME_LENGTH = 120


@dataclass
class Phase:
    """One step's timeline in seconds of run time: its warm-up from ``start``, then its window.

    ``completed`` holds the completions counted by the end of each warm-up sub-window (boundary 1, 2, ...) and
    ``in_flight`` what was in flight then; with workers, ``warmup`` counts their late samples per sub-window instead.
    """

    step: int
    start: float
    slice_s: float
    window_start: float | None = None
    window_end: float | None = None
    warmup: Counter[int] = field(default_factory=Counter)
    completed: dict[int, int] = field(default_factory=dict)
    in_flight: dict[int, int] = field(default_factory=dict)

    def steady_at(self, boundary: int, closed: bool) -> bool | None:
        """Were the two warm-up sub-windows before ``boundary`` steady (None: not measured)?"""
        if boundary < WARMUP_SLICES or boundary not in self.in_flight or boundary - 1 not in self.in_flight:
            return None
        if boundary in self.completed:
            marks = [self.completed.get(index, 0) for index in range(boundary - 2, boundary + 1)]
            counts = (marks[1] - marks[0], marks[2] - marks[1])
        else:
            counts = (self.warmup[boundary - 2], self.warmup[boundary - 1])
        return warmed_up(counts, (self.in_flight[boundary - 1], self.in_flight[boundary]), closed)


class Recorder:
    """Puts each completion into its step's window by the time it completed (warm-ups and overruns discarded)."""

    def __init__(self, shape: Any) -> None:
        self.shape = shape
        self.phases: list[Phase] = []
        self.windows: dict[int, Window] = {}
        self.worker_cpu: dict[str, list[tuple[float, float]]] = {}
        self.completed = 0  # completions recorded so far, warm-ups included
        self.kinds: set[str] = set()  # the request names that have succeeded so far, warm-ups included
        self.last_seen: dict[Hashable, float] = {}  # each user's last completion (a closed loop in this process)
        self.process_starts: dict[int, float] = {}  # each server process that answered: when it started (run time)

    def started_process(self, pid: int, born: float) -> None:
        """An answer's server process and its start (Unix time), noted in run time the first time it answers."""
        if pid not in self.process_starts:
            self.process_starts[pid] = born - (time.time() - (time.perf_counter() - self.shape.start_time))

    def starts(self, begin: float) -> list[float]:
        """When the server processes that started from ``begin`` on (run time) started (the window takes its own)."""
        return [moment for moment in self.process_starts.values() if begin <= moment]

    def begin(self, step: int, start: float) -> Phase:
        phase = Phase(step, start, self.shape.warmup_s / WARMUP_SLICES)
        self.phases.append(phase)
        return phase

    def phase_at(self, run_time: float) -> Phase | None:
        for phase in reversed(self.phases):
            if phase.start <= run_time:
                return phase
        return None

    def record(
        self,
        run_time: float,
        response_ms: float,
        error: str | None,
        name: str | None = None,
        app: tuple[int, float] | None = None,
        user: Hashable | None = None,
        process: tuple[int, float] | None = None,
    ) -> None:
        """File one completion; ``app``: what the app's header said of it (flasklab.loadgen.distributed.served);
        ``user``: the closed-loop user that made it, in this process (its rate is then counted by cycles);
        ``process``: the server process that answered and its start (``process_started``)."""
        if process is not None:
            self.started_process(*process)
        cycle_begin = None
        if user is not None:
            cycle_begin = self.last_seen.get(user, run_time - response_ms / 1000)
            self.last_seen[user] = run_time
        phase = self.phase_at(run_time)
        if phase is None or (phase.window_end is not None and run_time >= phase.window_end):
            return
        self.completed += 1
        name = name[:MAX_NAME_LENGTH] if name is not None else None
        if name is not None and error is None:
            self.kinds.add(name)
        if phase.window_start is None or run_time < phase.window_start:
            if phase.slice_s > 0:
                phase.warmup[int((run_time - phase.start) / phase.slice_s)] += 1
            return
        window = self.windows.get(phase.step)
        if window is None:
            window = self.windows[phase.step] = self.open_window(phase, user is not None)
        if user is not None and cycle_begin is not None:
            window.cycled(user, cycle_begin, run_time)
        window.add(run_time, response_ms, error, name, app)
        window.told_starts |= process is not None

    def open_window(self, phase: Phase, cycles: bool) -> Window:
        """A step's window, at its first completion. Counted by cycles, it notes each user's last completion before
        it began and how many users the step runs (those never seen are running since the step began)."""
        assert phase.window_start is not None
        if not cycles:
            return Window(phase.window_start)
        before = {user: moment for user, moment in self.last_seen.items() if moment < phase.window_start}
        users = int(self.shape.steps[phase.step])
        return Window(phase.window_start, cycles=[], before=before, users=users, spawned=phase.start)

    def local_listener(
        self,
        response_time: float,
        exception: BaseException | None = None,
        name: str | None = None,
        response: Any = None,
        **_: Any,
    ) -> None:
        if exception is None and starting():
            return
        error = error_kind(exception) if exception else None
        now = time.perf_counter() - self.shape.start_time
        process = process_started(response)
        self.record(now, response_time, error, name, served(response), gevent.getcurrent(), process)

    def open_listener(
        self,
        response_time: float,
        exception: BaseException | None = None,
        name: str | None = None,
        response: Any = None,
        **_: Any,
    ) -> None:
        """The open model's completions: latency from when the request was due, not from when it left."""
        if exception is None and starting():
            return
        now = time.perf_counter()
        due = due_time()
        response_ms = (now - due) * 1000 if due is not None else response_time
        error = error_kind(exception) if exception else None
        process = process_started(response)
        self.record(now - self.shape.start_time, response_ms, error, name, served(response), None, process)

    def worker_listener(self, client_id: str, data: dict[str, Any]) -> None:
        """Samples a worker sent with its report: (wall-clock end, response ms, error kind or None, request name,
        what the app said of it or None, the answering process and its start or None); a worker of an older lab sends
        the first four or five."""
        wall_start = time.time() - (time.perf_counter() - self.shape.start_time)
        for ended, response_ms, error, *rest in data.get(SAMPLES_KEY, ()):
            name = rest[0] if rest else None
            app = (int(rest[1][0]), float(rest[1][1])) if len(rest) > 1 and rest[1] else None
            process = (int(rest[2][0]), float(rest[2][1])) if len(rest) > 2 and rest[2] else None
            self.record(ended - wall_start, response_ms, error, name, app, None, process)
        if CPU_KEY in data:
            self.worker_cpu.setdefault(client_id, []).append(tuple(data[CPU_KEY]))
