"""The concurrency probe: how many requests does a server really process at once?

It sends ``width`` concurrent ``/io`` requests released together and reads, from each response, when the server
started and finished sleeping and which process and thread served it. The largest number of those server-side
intervals that overlap is the measured concurrency: no timing from the client's side, so queueing in a backlog or a
proxy does not count as serving. The same count inside each process tells whether a worker served one request at a
time. Then it calls ``/self`` once to see whether the server can answer a request to itself while serving one, and
sends one more request while /self waits: a server that begins it is serving others, so an inner call that timed out
meanwhile was slow, not deadlocked.

Its clients connect as the run's load does (``--connections``): with ``close`` each request is a connection of its
own, opened when the requests are released, so the server's accept loop spreads them as it spreads new clients; with
``keepalive`` each client opens its connection and sends one request on it first, as a user that has been browsing,
so the /io requests arrive on connections the workers already hold (where gthread, granian and tornado keep them).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

from flasklab.core.catalog import Server
from flasklab.core.results import ProbeRequest, ProbeResult
from flasklab.core.settings import CONNECTIONS, PROBE_IO_MS, PROBE_WIDTH, SELF_CALL_CLIENT_TIMEOUT_S
from flasklab.measure.backends.base import http_get

# The other request beside /self is sent this long after it: well inside the app's own wait for itself (2 s), and
# later than a self-call that works takes (a few ms), so it is only sent when /self is still waiting.
OTHER_AFTER_S = 0.2
# Requests sent beyond the configured concurrency, so that "serves exactly N" can be told apart from "serves more".
PROBE_HEADROOM = 8
# At most this many at once: each is a thread and a fresh connection of the orchestrator, and 64 stays well inside
# every catalog server's listen queue (uWSGI's default is 100), so the probe never measures its own refused
# connections. A server configured for more than 56 can only be shown to serve "at least 64" (enough for "many").
PROBE_MAX_WIDTH = 64


@dataclass(frozen=True)
class Served:
    """One probe request as the server saw it: its sleep's start and end, and the process and thread that slept."""

    start: float
    end: float
    pid: int | None
    thread: int | None


def probe_width(configured: int | None) -> int:
    """How many requests to send: at least PROBE_WIDTH and configured + PROBE_HEADROOM, at most PROBE_MAX_WIDTH.

    An unbounded server gets the cap: its claim is "many", which the cap is far above.
    """
    if configured is None:
        return PROBE_MAX_WIDTH
    return min(PROBE_MAX_WIDTH, max(PROBE_WIDTH, configured + PROBE_HEADROOM))


def unsupported(url: str) -> str | None:
    """Why the probe cannot measure this app (it needs the lab's /io: JSON with server-side start and end), or None."""
    try:
        status, body = http_get(f"{url}/io?ms=1", timeout=5)
        document = json.loads(body) if status == 200 else None
    except (OSError, ValueError):
        document = None
    if isinstance(document, dict) and {"start", "end"} <= document.keys():
        return None
    return "the app has no lab-style /io endpoint (JSON with its server-side start and end): not probed"


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """Largest number of [start, end) intervals that contain one instant (ends before starts at a tie)."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    current = best = 0
    for _, change in events:
        current += change
        best = max(best, current)
    return best


def per_process_overlap(served: list[Served]) -> dict[int, int]:
    """Largest overlap inside each server process, by pid (requests without a pid are left out)."""
    by_pid: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for request in served:
        if request.pid is not None:
            by_pid[request.pid].append((request.start, request.end))
    return {pid: max_overlap(intervals) for pid, intervals in by_pid.items()}


def timeline(served: list[Served]) -> list[ProbeRequest]:
    """The requests by start, in seconds after the earliest start (microseconds are as fine as the server's clock)."""
    if not served:
        return []
    first = min(request.start for request in served)
    return [
        ProbeRequest(
            start_s=round(request.start - first, 6),
            end_s=round(max(request.end, request.start) - first, 6),
            pid=request.pid,
            thread=request.thread,
        )
        for request in sorted(served, key=lambda request: (request.start, request.end))
    ]


def _optional_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _kept_alive_get(url: str, path: str, barrier: threading.Barrier, timeout_s: float) -> tuple[int, bytes]:
    """GET ``path`` on a connection opened and used once (GET /health) before the barrier: a keep-alive client."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout_s)
    try:
        try:
            connection.request("GET", "/health")
            connection.getresponse().read()
        finally:
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=10)
        try:
            return _get(connection, path)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # The server closed the kept connection (uWSGI's --http-socket does, without saying so): a new one, once,
            # as keep-alive clients (geventhttpclient, browsers) retry an idempotent request.
            connection.close()
            return _get(connection, path)
    finally:
        connection.close()


def _get(connection: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
    connection.request("GET", path)
    response = connection.getresponse()
    return response.status, response.read()


def _timed_io(url: str, io_ms: int, barrier: threading.Barrier, timeout_s: float, connections: str) -> Served | str:
    """One /io request released with the others: what the server reports, or why it failed."""
    try:
        if connections == "keepalive":
            status, body = _kept_alive_get(url, f"/io?ms={io_ms}", barrier, timeout_s)
        else:
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=10)
            status, body = http_get(f"{url}/io?ms={io_ms}", timeout=timeout_s)  # urllib: Connection: close
    except (OSError, http.client.HTTPException) as error:
        return f"{type(error).__name__}: {error}"
    if status != 200:
        return f"HTTP {status}"
    try:
        document = json.loads(body)
        return Served(
            float(document["start"]),
            float(document["end"]),
            _optional_int(document.get("pid")),
            _optional_int(document.get("thread")),
        )
    except (ValueError, KeyError, TypeError):
        return "a 200 answer without the server-side start and end"


def send_io_requests(url: str, width: int, io_ms: int, connections: str = "close") -> list[Served | str]:
    """``width`` concurrent /io requests released together: each one's record, or its error."""
    barrier = threading.Barrier(width)
    # Enough time for a server that serves one at a time to answer them all, plus start-up slack.
    timeout_s = width * io_ms / 1000 * 1.5 + 10
    with ThreadPoolExecutor(max_workers=width) as pool:
        return list(pool.map(lambda _: _timed_io(url, io_ms, barrier, timeout_s, connections), range(width)))


def probe_concurrency(
    url: str,
    server: Server,
    width: int | None = None,
    io_ms: int = PROBE_IO_MS,
    connections: str = CONNECTIONS.default,
) -> ProbeResult:
    """Measure ``server`` at ``url`` (``width``: by default from its configuration, see probe_width) with clients
    connecting as ``connections`` says (keepalive or close, as the run's load).

    A server that answers nothing gets ``measured=None``; failed requests are counted and their errors kept, so the
    claims can tell a measurement from a partial one. Per-process figures need the pid in /io's answer.
    """
    width = width if width is not None else probe_width(server.concurrency)
    outcomes = send_io_requests(url, width, io_ms, connections)
    served = [outcome for outcome in outcomes if isinstance(outcome, Served)]
    errors = sorted({outcome for outcome in outcomes if isinstance(outcome, str)})
    selfcall = self_call(url)
    if selfcall.error:
        errors.append(selfcall.error)
    known_pids = bool(served) and all(request.pid is not None for request in served)
    per_process = per_process_overlap(served) if known_pids else {}
    return ProbeResult(
        server=server.name,
        status="ok" if served else "failed",
        configured=server.concurrency,
        measured=max_overlap([(request.start, request.end) for request in served]) if served else None,
        width=width,
        io_ms=io_ms,
        completed=len(served),
        failed=width - len(served),
        workers_seen=len(per_process) if per_process else None,
        per_worker_max=max(per_process.values()) if per_process else None,
        connections=connections,
        selfcall_status=selfcall.status,
        selfcall_s=round(selfcall.elapsed_s, 3),
        selfcall_inner_status=selfcall.inner_status,
        selfcall_inner_s=None if selfcall.inner_s is None else round(selfcall.inner_s, 3),
        selfcall_others_served=selfcall.others_served,
        selfcall_other_s=selfcall.other_s,
        error="; ".join(errors)[:400] or None,
        requests=timeline(served),
    )


@dataclass(frozen=True)
class SelfCall:
    """GET /self as the probe saw it: the outer answer, the app's own call inside it, and whether the server served
    another request meanwhile (what tells a deadlock from a slow machine)."""

    status: int | None  # /self's HTTP status (None: no answer)
    elapsed_s: float
    error: str | None = None
    inner_status: int | None = None  # what the app's call to its own server got (None: it timed out, or unknown)
    inner_s: float | None = None
    others_served: bool | None = None  # None: not checked (/self ended before the other request was sent)
    other_s: float | None = None


@dataclass(frozen=True)
class Timed:
    """One GET's outcome: when it was sent and ended by the client's clock, and its JSON body (server-side times)."""

    status: int | None  # None: no answer (see error)
    sent: float
    ended: float
    document: dict[str, object]
    error: str | None = None
    timed_out: bool = False

    @property
    def waited_s(self) -> float:
        return self.ended - self.sent


def _timed_get(url: str, timeout_s: float) -> Timed:
    sent = time.monotonic()
    try:
        status, body = http_get(url, timeout=timeout_s)
    except OSError as error:
        reason = getattr(error, "reason", error)
        ended = time.monotonic()
        timed_out = isinstance(reason, TimeoutError) or ended - sent >= timeout_s
        return Timed(None, sent, ended, {}, f"{type(error).__name__}: {reason}", timed_out)
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    return Timed(status, sent, time.monotonic(), document if isinstance(document, dict) else {})


def _number(document: dict[str, object], key: str) -> float | None:
    value = document.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def served_meanwhile(selfcall: Timed, other: Timed) -> bool:
    """Did the server begin ``other`` before /self ended? By the server's clock when both answers carry it (its
    start, /self's end), else by the client's: the other answer came first. No answer to it: not served."""
    if other.status is None:
        return False
    began, ended = _number(other.document, "start"), _number(selfcall.document, "end")
    if began is not None and ended is not None:
        return began < ended
    return selfcall.status is None or other.ended < selfcall.ended


def self_call(url: str) -> SelfCall:
    """GET /self, and while it waits (after OTHER_AFTER_S) one GET /io?ms=0 beside it.

    /self's answer says what the app's call to its own server got and how long it waited; the other request says
    whether the server was serving anything else meanwhile. No answer to /self within SELF_CALL_CLIENT_TIMEOUT_S is
    a status of None after that long.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(_timed_get, f"{url}/self", SELF_CALL_CLIENT_TIMEOUT_S)
        try:
            outer, other = pending.result(timeout=OTHER_AFTER_S), None
        except TimeoutError:
            other = _timed_get(f"{url}/io?ms=0", SELF_CALL_CLIENT_TIMEOUT_S)
            outer = pending.result()
    error = outer.error and f"GET /self: {outer.error}"
    if outer.timed_out:
        error = f"GET /self: no answer within {SELF_CALL_CLIENT_TIMEOUT_S:g} s"
    inner = outer.document.get("inner_status")
    return SelfCall(
        status=outer.status,
        elapsed_s=outer.waited_s,
        error=error,
        inner_status=inner if isinstance(inner, int) and not isinstance(inner, bool) else None,
        inner_s=_number(outer.document, "elapsed_s"),
        others_served=None if other is None else served_meanwhile(outer, other),
        other_s=None if other is None or other.status is None else round(other.waited_s, 3),
    )
