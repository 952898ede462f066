"""What the lab sets on every Locust user it runs, so that a fault shows in a step instead of a quiet gap.

- A bounded request time: a FastHttpUser request unanswered for the load's ``request_timeout_s`` (default 30 s,
  Locust's own is 60 s) fails as a timeout and is counted in its step (unless the locustfile sets its own
  ``network_timeout``).
- Connection reuse as the load's ``connections`` says: ``keepalive`` leaves each user its connection; ``close`` sends
  ``Connection: close`` with every request, so the server answers and closes, and geventhttpclient (which returns a
  socket to its pool only when the answer allows keep-alive) opens a new TCP connection for the next request: one
  connection per request, as behind a proxy that does not reuse its upstream connections.
- A task that raises counts as a failed request (kind ``<Exception>: message``), as it does in the open model;
  Locust itself only logs it, which left a broken locustfile's steps looking merely empty.
- ``on_start`` is set-up, not load: its successful requests are not latency samples (the lab's recorders skip them,
  see ``starting``); one that fails, or an exception out of ``on_start``, is a failure like any other (Locust fires
  ``user_error`` for it, counted here as for a task; the open model records it itself). The user then never runs.

The load's knobs come from the document the process was given (flasklab.loadgen.config); under ``locust -f`` by hand,
from the user's own settings (``LAB_REQUEST_TIMEOUT_S``, ``LAB_CONNECTIONS``). Imported by locustfiles/_lab.py and
flasklab.loadgen.recorder (a module, so registered once however often Locust re-executes the locustfiles); it acts on
Locust's ``init`` event, in a local run, the master's workers and ``locust -f`` alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gevent
from locust import FastHttpUser, events

from flasklab.core.settings import CONNECTIONS, REQUEST_TIMEOUT
from flasklab.loadgen.config import given

STARTING = "flasklab_starting"  # attribute of the greenlet running a user's on_start
GUARDED = "flasklab_guarded"  # marks an on_start already wrapped (Locust may load a locustfile more than once)


def bound_requests(user_classes: list[type], timeout_s: float) -> None:
    for user_class in user_classes:
        if issubclass(user_class, FastHttpUser) and user_class.network_timeout == FastHttpUser.network_timeout:
            user_class.network_timeout = user_class.connection_timeout = timeout_s


def set_connections(user_classes: list[type], mode: str) -> None:
    """``close``: every FastHttpUser request carries ``Connection: close`` (see the module's docstring)."""
    if mode != "close":
        return
    for user_class in user_classes:
        if issubclass(user_class, FastHttpUser):
            user_class.default_headers = {**(user_class.default_headers or {}), "Connection": "close"}


def starting() -> bool:
    """Is the current greenlet inside a user's ``on_start`` (its requests are set-up, not latency samples)?"""
    return bool(getattr(gevent.getcurrent(), STARTING, False))


def guard_on_start(user_class: type) -> None:
    """Wrap the class's ``on_start`` so that the requests it makes are marked as set-up (see ``starting``)."""
    original: Callable[[Any], None] = user_class.on_start  # type: ignore[attr-defined]
    if getattr(original, GUARDED, False):
        return

    def on_start(user: Any) -> None:
        current = gevent.getcurrent()
        setattr(current, STARTING, True)
        try:
            original(user)
        finally:
            setattr(current, STARTING, False)

    setattr(on_start, GUARDED, True)
    user_class.on_start = on_start  # type: ignore[attr-defined]


def record_task_failure(environment: Any, exception: BaseException, request_type: str = "TASK") -> None:
    """A task (or ``on_start``) that raised, as a failed request of its own kind (so its step counts it)."""
    environment.events.request.fire(
        request_type=request_type,
        name=type(exception).__name__,
        response_time=0.0,
        response_length=0,
        exception=exception,
        context={},
    )


def prepare_users(environment: Any, **_: Any) -> None:
    config = given()  # None under `locust -f` by hand: the user's own settings then
    bound_requests(environment.user_classes, config.request_timeout_s if config else REQUEST_TIMEOUT.value())
    set_connections(environment.user_classes, config.connections if config else CONNECTIONS.value())
    for user_class in environment.user_classes:
        guard_on_start(user_class)

    def task_failed(exception: BaseException, **__: Any) -> None:
        record_task_failure(environment, exception)

    environment.events.user_error.add_listener(task_failed)


events.init.add_listener(prepare_users)
