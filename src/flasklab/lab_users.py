"""What the lab sets on every Locust user it runs, so that a fault shows in a step instead of a quiet gap.

- A bounded request time: a FastHttpUser request unanswered for ``LAB_REQUEST_TIMEOUT_S`` (default 30 s, Locust's own
  is 60 s) fails as a timeout and is counted in its step (unless the locustfile sets its own ``network_timeout``).
- A task that raises counts as a failed request (kind ``<Exception>: message``), as it does in the open model;
  Locust itself only logs it, which left a broken locustfile's steps looking merely empty.

Imported by locustfiles/_lab.py and flasklab.loadgen (a module, so registered once however often Locust re-executes
the locustfiles); it acts on Locust's ``init`` event, in a local run, the master's workers and ``locust -f`` alike.
"""

from __future__ import annotations

from typing import Any

from locust import FastHttpUser, events

from flasklab.settings import REQUEST_TIMEOUT_S


def bound_requests(user_classes: list[type], timeout_s: float = REQUEST_TIMEOUT_S) -> None:
    for user_class in user_classes:
        if issubclass(user_class, FastHttpUser) and user_class.network_timeout == FastHttpUser.network_timeout:
            user_class.network_timeout = user_class.connection_timeout = timeout_s


def record_task_failure(environment: Any, exception: BaseException) -> None:
    """A task that raised, as a failed request of its own kind (so its step counts it)."""
    environment.events.request.fire(
        request_type="TASK",
        name=type(exception).__name__,
        response_time=0.0,
        response_length=0,
        exception=exception,
        context={},
    )


def prepare_users(environment: Any, **_: Any) -> None:
    bound_requests(environment.user_classes)

    def task_failed(exception: BaseException, **__: Any) -> None:
        record_task_failure(environment, exception)

    environment.events.user_error.add_listener(task_failed)


events.init.add_listener(prepare_users)  # type: ignore[no-untyped-call]
