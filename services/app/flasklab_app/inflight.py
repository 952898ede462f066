"""Requests in flight inside the app, measured where they run: each answer says its process, how many requests that
process held at its start, and how long the app took to answer it.

A closed loop's configured users are not requests at the server: a busy generator sends fewer. The lab's app
therefore answers every request with the header ``X-Lab-In-Flight: PID COUNT SECONDS BORN`` (the serving process,
the requests in the app in that process when this one began, itself included, the time from entering the app to the
response's start, and when the serving process was started: Unix time, from the kernel's start time of the
process). The generator sums SECONDS over a window's completions: divided by the window's length that is the mean
number of requests in the app over the window, across every process (Little's law, exact up to the requests cut by
the window's edges). A user's own app (``--app``) sends no header: its in-flight is then not measured.

BORN tells the generator when each serving process started, so that a worker started during the load shows: one
recycled by ``max_requests``, restarted after a crash, or the dev server's process per request. A forked worker's
start is its fork (``/proc/self/stat``), not the app's import, which a uWSGI master does before it forks; read once
per process.

The time runs to the response's start (``start_response``), not to the body's last byte: the lab's endpoints build
their body before starting the response, and a server streaming a body to a slow client is the server's work, not
the app's. Wrapped around Flask's ``wsgi_app`` (Flask's own place for middleware), so every server of the catalog
(each loads ``flasklab_app.app:app``) and the access log wrapper (flasklab_app.accesslog) carry it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

HEADER = "X-Lab-In-Flight"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_born: dict[int, float] = {}  # process id -> its start (Unix time); a forked worker inherits the parent's entries


def process_born(pid: int) -> float:
    """When this process started (Unix time): the kernel's start time of the process since boot (in clock ticks),
    against the time since boot now (/proc/uptime, to the hundredth), else now."""
    if (born := _born.get(pid)) is not None:
        return born
    born = time.time()
    try:
        with open("/proc/self/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()  # after the command's name, which may hold spaces
        with open("/proc/uptime") as uptime:
            up_s = float(uptime.read().split()[0])
        born -= up_s - int(fields[19]) / CLOCK_TICKS  # field 22 of proc(5): starttime, in clock ticks since boot
    except (OSError, IndexError, ValueError):
        pass
    _born[pid] = born
    return born


StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class InFlight:
    """The requests in the app in this process (a lock: threads and greenlets alike enter it side by side)."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()  # gevent and eventlet patch it into their own: never held across a switch

    def enter(self) -> int:
        with self.lock:
            self.count += 1
            return self.count

    def leave(self) -> None:
        with self.lock:
            self.count -= 1


def counted(wrapped: WSGIApp) -> WSGIApp:
    """``wrapped``, answering each request with HEADER: process id, in-flight count at its start, seconds in the app."""
    in_flight = InFlight()

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        count = in_flight.enter()

        def timed_start_response(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            elapsed = time.perf_counter() - started
            pid = os.getpid()
            headers.append((HEADER, f"{pid} {count} {elapsed:.6f} {process_born(pid):.2f}"))
            return start_response(status, headers, *exc_info)

        try:
            return wrapped(environ, timed_start_response)
        finally:
            in_flight.leave()

    return application
