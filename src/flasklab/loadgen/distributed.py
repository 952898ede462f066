"""Exact percentiles in Locust's distributed mode: each worker sends its raw samples with its regular report.

Imported by locustfiles/_lab.py, so every lab locustfile a worker fetches from the master brings it along; on a
worker it records (wall-clock end, response ms, error kind, request name, what the app said of it: ``served``) per
request and attaches them to the report the worker sends every few seconds, with the worker's CPU seconds so far;
flasklab's master (flasklab.loadgen.recorder) files the samples into its step windows (the requests in flight at the
server included, as from its own users) and adds the CPU to the generator side's total.
A successful request made in a user's ``on_start`` is set-up, not a sample (flasklab.loadgen.lab_users.starting).
"""

from __future__ import annotations

import time
from typing import Any

import psutil
from locust import events
from locust.runners import WorkerRunner

from flasklab.loadgen.lab_users import starting

SAMPLES_KEY = "flasklab_samples"
CPU_KEY = "flasklab_cpu"  # (wall-clock time, CPU seconds so far) of the worker process
IN_FLIGHT_HEADER = "X-Lab-In-Flight"  # flasklab_app.inflight.HEADER: "PID COUNT SECONDS BORN" (BORN since 0.x)


def app_header(response: Any) -> list[str]:
    """The lab app's header of this answer, split; empty without it (a user's app, no answer at all)."""
    headers = getattr(response, "headers", None)
    text = headers.get(IN_FLIGHT_HEADER) if headers is not None else None
    parts = text.split() if isinstance(text, str) else []
    return parts if len(parts) in (3, 4) else []


def served(response: Any) -> tuple[int, float] | None:
    """What the app said of this answer: (requests in its process at its start, seconds in the app); None without
    the header or with one that does not read as the lab's."""
    parts = app_header(response)
    try:
        return (int(parts[1]), float(parts[2])) if parts else None
    except ValueError:
        return None


def process_started(response: Any) -> tuple[int, float] | None:
    """Which server process answered and when it started: (process id, Unix time); None where the app did not say
    (a user's app, or the lab's before it said)."""
    parts = app_header(response)
    try:
        return (int(parts[0]), float(parts[3])) if len(parts) == 4 else None
    except ValueError:
        return None


def error_kind(exception: BaseException) -> str:
    """A failure's kind without the parts that differ per request (URL, address)."""
    code = getattr(exception, "code", None)
    if isinstance(code, int):
        return f"HTTP {code}"
    text = str(exception).split(": ", 1)[-1] if "URL " in str(exception) else str(exception)
    return f"{type(exception).__name__}: {text}"[:160] if text else type(exception).__name__


def forward_samples(environment: Any, **_: Any) -> None:
    if not isinstance(environment.runner, WorkerRunner):
        return
    Sample = tuple[float, float, str | None, str | None, tuple[int, float] | None, tuple[int, float] | None]
    samples: list[Sample] = []

    def on_request(
        response_time: float,
        exception: BaseException | None = None,
        name: str | None = None,
        response: Any = None,
        **__: Any,
    ) -> None:
        if exception is None and starting():
            return
        error = error_kind(exception) if exception else None
        samples.append((time.time(), response_time, error, name, served(response), process_started(response)))

    process = psutil.Process()

    def on_report(client_id: str, data: dict[str, Any]) -> None:
        data[SAMPLES_KEY] = samples.copy()
        samples.clear()
        times = process.cpu_times()
        data[CPU_KEY] = (time.time(), times.user + times.system)

    environment.events.request.add_listener(on_request)
    environment.events.report_to_master.add_listener(on_report)


events.init.add_listener(forward_samples)
