"""The open model: requests arrive on a fixed schedule whatever the server does, timed from when they were due.

A closed loop (Locust's users) sends the next request only when the previous answered, so a stalled server also
stalls the load and its worst moments go unmeasured: coordinated omission. Here each step has an offered rate; the
i-th request of a step is due at ``start + i / rate`` and is sent then, by a client taken from a pool (a User of the
scenario's locustfile, reused so its keep-alive connection is too). Its latency runs from the due time, so time spent
queued anywhere, even in the generator (at most ``max_in_flight`` requests are open at once), is counted.

Runs inside the load generator process (gevent, Locust imported); flasklab.loadgen drives it step by step.
"""

from __future__ import annotations

import inspect
import random
import time
from typing import Any

import gevent
import gevent.lock
import gevent.pool

from flasklab.lab_users import record_task_failure

DUE = "flasklab_due"  # attribute of the greenlet making a request: when it was due (perf_counter seconds)
MAX_IN_FLIGHT = 1000


class OpenLoopError(ValueError):
    """A locustfile the open model cannot drive (its users' tasks must be plain @task functions)."""


def due_time() -> float | None:
    """When the request being made by the current greenlet was due, in the open model (None in a closed loop)."""
    return getattr(gevent.getcurrent(), DUE, None)


class OpenLoop:
    """Arrivals at an offered rate, each served by a pooled client; counts what it holds open."""

    def __init__(self, environment: Any, user_classes: list[type], max_in_flight: int = MAX_IN_FLIGHT) -> None:
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
        self.user_classes = user_classes
        self.weights = [max(getattr(cls, "weight", 1), 0) or 1 for cls in user_classes]
        self.idle: list[Any] = []
        self.slots = gevent.lock.BoundedSemaphore(max_in_flight)
        self.greenlets = gevent.pool.Group()
        self.pending = 0  # due and not yet answered (sent, or waiting for a slot)
        self.peak = 0

    def _client(self) -> Any:
        if self.idle:
            return self.idle.pop()
        user_class = random.choices(self.user_classes, self.weights)[0]
        user = user_class(self.environment)
        user.on_start()  # what Locust does when it starts a user (a login, a first page...)
        return user

    def _arrival(self, due: float) -> None:
        setattr(gevent.getcurrent(), DUE, due)
        try:
            with self.slots:
                user = self._client()
                try:
                    random.choice(user.tasks)(user)
                except Exception as error:  # a task that raises is a failed request, counted as such
                    record_task_failure(self.environment, error)
                finally:
                    self.idle.append(user)
        finally:
            self.pending -= 1

    def arrivals(self, rate: float, start: float, end: float) -> None:
        """Send requests due every 1/rate seconds from ``start`` until ``end`` (perf_counter seconds)."""
        due = start
        count = 0
        while due < end:
            delay = due - time.perf_counter()
            if delay > 0:
                gevent.sleep(delay)
            self.pending += 1
            self.peak = max(self.peak, self.pending)
            self.greenlets.spawn(self._arrival, due)
            count += 1
            due = start + count / rate

    def reset_peak(self) -> None:
        self.peak = self.pending

    def stop(self) -> None:
        self.greenlets.kill(block=False)
