"""The open model: requests arrive on a fixed schedule whatever the server does, timed from when they were due.

A closed loop (Locust's users) sends the next request only when the previous answered, so a stalled server also
stalls the load and its worst moments go unmeasured: coordinated omission. Here each step has an offered rate and
its requests are due either as Poisson arrivals (independent users: exponential gaps of mean 1/rate, drawn from a
seeded generator, so a run is repeatable and every server gets the same arrivals at the same step) or evenly spaced
(the i-th at ``start + i / rate``, which queues far less than real traffic and so flatters a server). Each is sent
when due, by a client taken from a pool (a User of the scenario's locustfile, reused so its keep-alive connection is
too). Its latency runs from the due time, so time spent
queued anywhere, even in the generator (at most ``max_in_flight`` requests are open at once), is counted. How
late each request left (its send lag: from its due time to its task starting, a wait for a slot included) and how
many arrivals found every slot taken are kept per window: both are the generator's delay, not the server's backlog.

A request still unanswered when a window ends is data about that window: ``overdue`` gives the due times of every
request due and unanswered (sent and waiting, waiting for a slot, or not even sent yet by a lagging schedule), so
the window can count them as censored latencies of their age. A new client's ``on_start`` is set-up: its requests
are not samples, the arrival that waited for it is timed from when it was done (set-up is no part of a sample
either: the closed loop leaves it in the warm-up), and an exception in it is one failure (that arrival's), the
client then discarded.

Runs inside the load generator process (gevent, Locust imported); flasklab.loadgen.process drives it step by step.
"""

from __future__ import annotations

import inspect
import itertools
import random
import time
from typing import Any

import gevent
import gevent.lock
import gevent.pool

from flasklab.core.arrivals import Arrivals, Schedule, step_generator
from flasklab.loadgen.lab_users import guard_on_start, record_task_failure

DUE = "flasklab_due"  # attribute of the greenlet making a request: when it was due (perf_counter seconds)
MAX_IN_FLIGHT = 1000


class OpenLoopError(ValueError):
    """A locustfile the open model cannot drive (its users' tasks must be plain @task functions)."""


def due_time() -> float | None:
    """When the request being made by the current greenlet was due, in the open model (None in a closed loop)."""
    return getattr(gevent.getcurrent(), DUE, None)


class OpenLoop:
    """Arrivals at an offered rate, each served by a pooled client; keeps what it holds open."""

    def __init__(
        self,
        environment: Any,
        user_classes: list[type],
        max_in_flight: int = MAX_IN_FLIGHT,
        arrivals: Arrivals = "poisson",
        seed: int = 0,
    ) -> None:
        for user_class in user_classes:
            for task in user_class.tasks:  # type: ignore[attr-defined]
                if inspect.isclass(task) or not callable(task):
                    raise OpenLoopError(
                        f"{user_class.__name__}: the open model runs plain @task functions, not TaskSets"
                    )
        self.environment = environment
        for user_class in user_classes:
            if environment.host:  # what Locust's runner does before it spawns users
                user_class.host = environment.host  # type: ignore[attr-defined]
            guard_on_start(user_class)
        self.user_classes = user_classes
        self.weights = [max(getattr(cls, "weight", 1), 0) or 1 for cls in user_classes]
        self.idle: list[Any] = []
        self.slots = gevent.lock.BoundedSemaphore(max_in_flight)
        self.greenlets = gevent.pool.Group()
        self.waiting: dict[int, float] = {}  # arrival number -> due time: spawned and not yet answered
        self.numbers = itertools.count()
        self.schedule: Schedule | None = None
        self.scheduler: gevent.Greenlet | None = None
        self.arrivals = arrivals
        self.seed = seed
        self.peak = 0
        self.send_lags_ms: list[float] = []  # the window's arrivals: due time to request sent
        self.capped = 0  # the window's arrivals that found every slot taken

    @property
    def pending(self) -> int:
        """Requests spawned and not yet answered (sent, or waiting for a slot)."""
        return len(self.waiting)

    def _client(self) -> Any | None:
        """A pooled client, or a new one after its ``on_start``; None (one failure counted) when that raised."""
        if self.idle:
            return self.idle.pop()
        user_class = random.choices(self.user_classes, self.weights)[0]
        user = user_class(self.environment)
        try:
            user.on_start()  # what Locust does when it starts a user (a login, a first page...)
        except Exception as error:
            record_task_failure(self.environment, error, "ON_START")
            return None
        current = gevent.getcurrent()  # this arrival is timed from the end of its client's set-up
        setattr(current, DUE, max(getattr(current, DUE), time.perf_counter()))
        return user

    def _arrival(self, number: int, due: float) -> None:
        setattr(gevent.getcurrent(), DUE, due)
        if self.slots.locked():
            self.capped += 1
        try:
            with self.slots:
                user = self._client()
                if user is None:
                    return
                self.send_lags_ms.append((time.perf_counter() - getattr(gevent.getcurrent(), DUE)) * 1000)
                try:
                    random.choice(user.tasks)(user)
                except Exception as error:  # a task that raises is a failed request, counted as such
                    record_task_failure(self.environment, error)
                finally:
                    self.idle.append(user)
        finally:
            self.waiting.pop(number, None)

    def _arrivals(self, schedule: Schedule) -> None:
        while (due := schedule.due(schedule.sent)) < schedule.end:
            delay = due - time.perf_counter()
            if delay > 0:
                gevent.sleep(delay)
                if due >= schedule.end:  # the end was set while this one waited
                    return
            number = next(self.numbers)
            self.waiting[number] = due
            schedule.sent += 1
            self.peak = max(self.peak, self.pending)
            self.greenlets.spawn(self._arrival, number, due)

    def begin(self, rate: float, start: float, step: int = 0) -> Schedule:
        """Start step ``step``'s arrivals at ``rate`` per second from ``start``; they run until its end is set."""
        self.schedule = Schedule(rate, start, step_generator(self.arrivals, self.seed, step))
        self.scheduler = gevent.spawn(self._arrivals, self.schedule)
        return self.schedule

    def overdue(self, now: float) -> list[float]:
        """Due times of every request due before ``now`` and not answered yet: spawned, or not yet sent."""
        unsent = self.schedule.unsent(now) if self.schedule is not None else []
        return [due for due in self.waiting.values() if due < now] + unsent

    def reset_peak(self) -> None:
        self.peak = self.pending

    def reset_lag(self) -> None:
        """A window begins: its send lags and capped arrivals count from now."""
        self.send_lags_ms, self.capped = [], 0

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.kill(block=False)
        self.greenlets.kill(block=False)
