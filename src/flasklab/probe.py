"""The concurrency probe: how many requests does a server really process at once?

It sends ``width`` concurrent ``/io`` requests released together and reads, from each response, when the server
started and finished sleeping. The largest number of those server-side intervals that overlap is the measured
concurrency: no timing from the client's side, so queueing in a backlog or a proxy does not count as serving.
Then it calls ``/self`` once to see whether the server can answer a request to itself while serving one.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from flasklab.backends.base import http_get
from flasklab.catalog import Server
from flasklab.results import ProbeResult

SELF_CALL_CLIENT_TIMEOUT_S = 15.0


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


def _timed_io(url: str, io_ms: int, barrier: threading.Barrier, timeout_s: float) -> tuple[float, float] | str:
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait(timeout=10)
    try:
        status, body = http_get(f"{url}/io?ms={io_ms}", timeout=timeout_s)
    except OSError as error:
        return f"{type(error).__name__}: {error}"
    if status != 200:
        return f"HTTP {status}"
    document = json.loads(body)
    return float(document["start"]), float(document["end"])


def probe_concurrency(url: str, server: Server, width: int, io_ms: int) -> ProbeResult:
    """Measure ``server`` at ``url``; a server that answers nothing gets ``measured=None`` and the error."""
    barrier = threading.Barrier(width)
    # Enough time for a server that serves one at a time to answer them all, plus start-up slack.
    timeout_s = width * io_ms / 1000 * 1.5 + 10
    with ThreadPoolExecutor(max_workers=width) as pool:
        outcomes = list(pool.map(lambda _: _timed_io(url, io_ms, barrier, timeout_s), range(width)))
    intervals = [outcome for outcome in outcomes if isinstance(outcome, tuple)]
    errors = sorted({outcome for outcome in outcomes if isinstance(outcome, str)})
    status, elapsed = self_call(url)
    return ProbeResult(
        server=server.name,
        status="ok" if intervals else "failed",
        configured=server.concurrency,
        measured=max_overlap(intervals) if intervals else None,
        width=width,
        io_ms=io_ms,
        completed=len(intervals),
        selfcall_status=status,
        selfcall_s=round(elapsed, 3),
        error="; ".join(errors)[:400] or None,
    )


def self_call(url: str) -> tuple[int | None, float]:
    """Status of GET /self (200: the server answered itself; 504: it could not) and the time it took."""
    started = time.monotonic()
    try:
        status, _ = http_get(f"{url}/self", timeout=SELF_CALL_CLIENT_TIMEOUT_S)
    except OSError:
        status = None
    return status, time.monotonic() - started
