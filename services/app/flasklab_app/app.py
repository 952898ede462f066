"""The lab's Flask app: one endpoint per scenario, every parameter validated and bounded.

Nothing a request sends chooses an address the app calls: the upstream and the self-call URLs come from the
environment the lab sets (``LAB_UPSTREAM_URL``, ``LAB_SELF_URL``).
"""

from __future__ import annotations

import http.client
import importlib.metadata
import os
import platform
import random
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from flasklab_app.inflight import counted
from flasklab_app.usage import server_usage

# Bounds keep every request's work finite whatever its parameters say.
MAX_SLEEP_MS = 10_000
MAX_CPU_MS = 2_000
MAX_PAYLOAD_KB = 10_240
MAX_UPLOAD_KB = 1_024
MAX_SEED = 2**31 - 1
DISTRIBUTIONS = ("const", "exp")  # /io's service time: ms itself, or exponential of mean ms (the default first)
EXP_CAP = 10  # an exponential sleep is cut at this many means
SELF_CALL_TIMEOUT_S = float(os.environ.get("LAB_SELF_TIMEOUT_S", "2"))
UPSTREAM_TIMEOUT_S = 30.0
CODE_VERSION_FILE = "LAB_APP_VERSION_FILE"  # the lab writes the next version there before a graceful reload
SERVER_PACKAGES = ("flask", "werkzeug", "gunicorn", "gevent", "eventlet", "tornado", "pyuwsgi", "waitress", "granian")

app = Flask(__name__)
app.config["MAX_CONTENT_LENGTH"] = MAX_UPLOAD_KB * 1024
app.wsgi_app = counted(app.wsgi_app)  # type: ignore[method-assign,assignment]  # X-Lab-In-Flight on every answer
_PAYLOAD_BLOCK = b"x" * 1024
_DRAWS = random.SystemRandom()  # unseeded draws: no state a fork (dev-processes) would copy into every child


def code_version() -> str:
    """The version of the app's code this process imported: what the lab last wrote to $LAB_APP_VERSION_FILE (a
    reload's new code), "1" without one. Read once, at import, as a deploy's new code would be."""
    path = os.environ.get(CODE_VERSION_FILE)
    try:
        with open(path or os.devnull) as file:
            return file.read().strip()[:40] or "1"
    except OSError:
        return "1"


CODE_VERSION = code_version()


class BadParameter(ValueError):
    """A query parameter outside its documented range."""


def bounded_int(name: str, default: int, low: int, high: int) -> int:
    """The integer query parameter ``name``, or a 400 naming the valid range."""
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParameter(f"{name} must be an integer between {low} and {high}, got {raw[:32]!r}") from None
    if not low <= value <= high:
        raise BadParameter(f"{name} must be between {low} and {high}, got {value}")
    return value


def choice(name: str, choices: tuple[str, ...]) -> str:
    """The query parameter ``name``, one of ``choices`` (the first is the default), or a 400 naming them."""
    raw = request.args.get(name)
    if raw is None:
        return choices[0]
    if raw not in choices:
        raise BadParameter(f"{name} must be one of {', '.join(choices)}, got {raw[:32]!r}")
    return raw


@app.errorhandler(BadParameter)
def bad_parameter(error: BadParameter) -> tuple[Response, int]:
    return jsonify(error=str(error)), 400


@app.errorhandler(HTTPException)
def http_error(error: HTTPException) -> tuple[Response, int]:
    return jsonify(error=error.description), error.code or 500


@app.get("/health")
def health() -> str:
    return "ok"


@app.get("/hello")
def hello() -> str:
    return "Hello, World!"


@app.get("/cpu")
def cpu() -> Response:
    """Burn ``ms`` milliseconds of this thread's CPU time: pure CPU, no I/O to yield on.

    The loop runs until the thread's own CPU clock (``time.thread_time``) has advanced by ``ms``, not the wall clock:
    threads that share a core under the GIL each get their full ``ms`` of CPU, so a server's cpu throughput is
    bounded by its cores (cores x 1000 / ms a second) whatever its threads. A loop on wall time let threads sharing
    one core finish sooner than their CPU share allows: 1.9 to 2.5 cores' worth of "work" from one
    (tests/test_cpu_work.py). Greenlets (gevent, eventlet, uWSGI's async) share their OS thread, but the loop never
    yields, so the clock is this request's alone.
    """
    ms = bounded_int("ms", 10, 0, MAX_CPU_MS)
    deadline = time.thread_time() + ms / 1000
    spins = 0
    while time.thread_time() < deadline:
        spins += 1
    return jsonify(ms=ms, spins=spins)


@app.get("/io")
def io() -> Response:
    """Blocking sleep (patched into a cooperative one by gevent and eventlet workers) of ``ms``, or with
    ``dist=exp`` of an exponential time of mean ``ms`` (``seed`` fixes the draw; see service_time_ms).

    The server-side start and end times let the probe count how many requests really overlap; the process and
    thread (a greenlet under gevent and eventlet) that served it let it count them per worker.
    """
    ms = bounded_int("ms", 100, 0, MAX_SLEEP_MS)
    sleep_ms = service_time_ms(ms, choice("dist", DISTRIBUTIONS), bounded_int("seed", -1, 0, MAX_SEED))
    start = time.time()
    time.sleep(sleep_ms / 1000)
    return jsonify(
        ms=ms, slept_ms=sleep_ms, start=start, end=time.time(), pid=os.getpid(), thread=threading.get_ident()
    )


def service_time_ms(mean_ms: int, distribution: str, seed: int) -> float:
    """The sleep of one /io request: ``mean_ms`` itself (``const``), or an exponential draw of that mean (``exp``).

    With exponential sleeps a server of c sync workers fed Poisson arrivals is an M/M/c queue, whose response-time
    distribution is known exactly (flasklab.planning.queueing.mmc_response_percentile): the lab's referee. A ``seed``
    fixes the draw (the same seed, the same sleep), so a client that numbers its requests' seeds makes a run's service
    times reproducible whichever worker serves which request; without one the process's own generator draws. The draw is
    capped at EXP_CAP means (and MAX_SLEEP_MS) so no request's work is unbounded: an exponential passes 10 means with
    probability e^-10 (4.5e-5), so the cap lowers the mean by that share and moves no percentile up to p99.99 of the
    service time: the exact M/M/c figures hold to well under 0.1 %.
    """
    if distribution == "const" or mean_ms == 0:
        return float(mean_ms)
    draw = (random.Random(seed) if seed >= 0 else _DRAWS).expovariate(1 / mean_ms)
    return min(draw, EXP_CAP * mean_ms, MAX_SLEEP_MS)


def _get(base_url: str, path: str, timeout: float) -> int:
    """GET ``path`` on a configured base URL with the standard library (which gevent/eventlet patch)."""
    parts = urlsplit(base_url)
    if parts.scheme != "http" or not parts.hostname:
        raise RuntimeError(f"configured URL must be http://host:port, got {base_url!r}")
    connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


@app.get("/upstream")
def upstream() -> tuple[Response, int]:
    """Real socket I/O: wait for the lab's slow upstream service to answer after ``ms``."""
    ms = bounded_int("ms", 100, 0, MAX_SLEEP_MS)
    base_url = os.environ.get("LAB_UPSTREAM_URL")
    if not base_url:
        return jsonify(error="LAB_UPSTREAM_URL is not configured"), 503
    start = time.time()
    try:
        status = _get(base_url, f"/?ms={ms}", UPSTREAM_TIMEOUT_S)
    except OSError as error:
        return jsonify(error=f"upstream unreachable: {error}"), 502
    return jsonify(ms=ms, upstream_status=status, start=start, end=time.time()), 200


@app.get("/self")
def self_call() -> tuple[Response, int]:
    """Call this same server while holding a request: a single-threaded server cannot answer and times out.

    The answer says what the inner call got (``inner_status``: null when it timed out) and how long it waited
    (``elapsed_s``, against ``timeout_s``), and when it waited by the server's clock (``start``, ``end``, as /io
    says): a timeout alone does not tell a deadlock from a slow machine, a request the server began meanwhile does.
    """
    base_url = os.environ.get("LAB_SELF_URL")
    if not base_url:
        return jsonify(error="LAB_SELF_URL is not configured"), 503
    start, started = time.time(), time.perf_counter()
    waited = {"timeout_s": SELF_CALL_TIMEOUT_S, "start": start, "pid": os.getpid()}
    try:
        status = _get(base_url, "/hello", SELF_CALL_TIMEOUT_S)
    except TimeoutError:
        elapsed = time.perf_counter() - started
        error = "self-call timed out: the server could not answer itself"
        return jsonify(error=error, inner_status=None, elapsed_s=elapsed, end=time.time(), **waited), 504
    except OSError as error:
        return jsonify(error=f"self-call failed: {error}", elapsed_s=time.perf_counter() - started), 502
    return jsonify(inner_status=status, elapsed_s=time.perf_counter() - started, end=time.time(), **waited), 200


@app.get("/payload")
def payload() -> Response:
    """A response of ``kb`` KiB."""
    kb = bounded_int("kb", 256, 1, MAX_PAYLOAD_KB)
    return Response(_PAYLOAD_BLOCK * kb, mimetype="application/octet-stream")


@app.post("/upload")
def upload() -> Response:
    """Read a request body (at most 1 MiB), for clients that send slowly (the slowclient scenario).

    ``kb`` is the size the client says it sends: a body that arrived shorter (cut by a proxy or a timeout, or a
    chunked body the server ended early) is a 400, never a quiet success.
    """
    kb = bounded_int("kb", -1, 0, MAX_UPLOAD_KB)
    body = request.get_data(cache=False)
    if kb >= 0 and len(body) != kb * 1024:
        raise BadParameter(f"kb must be the body's size: kb={kb} says {kb * 1024} bytes, got {len(body)}")
    return jsonify(received=len(body))


@app.get("/_lab/usage")
def usage() -> Response:
    """CPU seconds and memory of the whole server (all its processes; in a container, its cgroup)."""
    return jsonify(server_usage())


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


@app.get("/_lab/info")
def info() -> Response:
    """Versions of Python and of every server package importable here, and of the app's code this process serves."""
    versions: dict[str, Any] = {"python": platform.python_version()}
    versions.update({name: _version(name) for name in SERVER_PACKAGES if _version(name)})
    return jsonify(versions=versions, pid=os.getpid(), code_version=CODE_VERSION)
