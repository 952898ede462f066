"""slowclient: clients that send or read slowly, beside fast users of a cheap endpoint.

Three kinds of user share every step by weight (fast : slow senders : slow readers, ``fast_weight`` :
``sender_weight`` : ``reader_weight``, 2 : 1 : 1 by default; Locust fills the first step with a fast user, adds a slow
reader at 2 users, and from 4 users on every kind is there in its share):

- fast users GET ``/hello`` back to back (request name ``/hello``): the traffic a slow client must not starve;
- slow senders POST ``send_kb`` KiB to ``/upload`` in 1 KiB pieces spread over ``send_ms`` (``/upload (slow send)``);
- slow readers GET ``read_kb`` KiB from ``/payload`` and read it in 16 KiB pieces over ``read_ms`` through a small
  receive buffer (``/payload (slow read)``), so the server's writes wait on the client rather than on the kernel.

The slow clients speak HTTP/1.1 over their own sockets (Locust's clients send and read at full speed), one
connection per request. A server that gives up on one (its own timeout) closes the connection: the request fails
under its name. Each kind's throughput, failures and exact p95 are a step's ``names``, ``name_failures`` and
``name_p95_ms``. A sync worker is held for as long as its client takes; nginx buffering in front takes that wait
off the workers. Alone: ``locust -f locustfiles/slowclient.py --headless -H http://127.0.0.1:8000``.
"""

from __future__ import annotations

import socket
import time
from typing import Any
from urllib.parse import urlsplit

import gevent
from locust import FastHttpUser, User, constant, task

from _lab import StepLoadShape, request_timeout_s, scenario_params  # noqa: F401  (Locust finds the shape in this module)

LAB_SCENARIO = {
    "name": "slowclient",
    "description": "fast /hello users beside clients that send (to /upload) or read (from /payload) slowly",
    "work": "mixed",
    "holds_connections": True,  # a busy generator does not stop its curve (flasklab.core.stopping)
    "params": {
        "send_kb": 64,
        "send_ms": 2000,
        "read_kb": 8192,
        "read_ms": 2000,
        "fast_weight": 2,
        "sender_weight": 1,
        "reader_weight": 1,
    },
    "profiles": ["standard", "full"],
}
PARAMS = scenario_params(LAB_SCENARIO)
FAST_NAME = "/hello"  # flasklab.core.slow_client_claims reads the fast users' figures by this name
SEND_NAME = "/upload (slow send)"
READ_NAME = "/payload (slow read)"
SEND_PIECE = 1024
READ_PIECE = 16 * 1024
READ_BUFFER = 64 * 1024  # a slow reader's receive buffer: the kernel cannot swallow the response for it
TIMEOUT_S = request_timeout_s()


class SlowClientError(Exception):
    """A slow client's request that the server answered with an error or cut short."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code  # an HTTP status, counted as "HTTP <code>" like Locust's own clients' errors


def read_head(stream: Any) -> tuple[int, int | None]:
    """The status and Content-Length of an HTTP response whose head is next on ``stream``."""
    status_line = stream.readline()
    if not status_line:
        raise SlowClientError("connection closed before any response (the server gave up on the client)")
    status = int(status_line.split()[1])
    length = None
    while (line := stream.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    return status, length


def read_body(stream: Any, length: int | None, piece_s: float) -> int:
    """Read the body (to Content-Length, or to the close) in READ_PIECE pieces, ``piece_s`` apart; its size."""
    received = 0
    while length is None or received < length:
        chunk = stream.read(min(READ_PIECE, length - received) if length is not None else READ_PIECE)
        if not chunk:
            break
        received += len(chunk)
        if piece_s:
            gevent.sleep(piece_s)
    if length is not None and received < length:
        raise SlowClientError(f"response cut short: {received} of {length} bytes")
    return received


class SlowClient(User):
    """A client on a raw socket that paces its own sending or reading; each request is one connection."""

    abstract = True
    wait_time = constant(0)

    def address(self) -> tuple[str, int]:
        parts = urlsplit(self.host or "")
        return parts.hostname or "127.0.0.1", parts.port or 80

    def connect(self, receive_buffer: int | None = None) -> socket.socket:
        connection = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer:  # before connecting, so the window the server sees is small from the start
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        connection.settimeout(TIMEOUT_S)
        connection.connect(self.address())
        return connection

    def timed(self, name: str, method: str, exchange: Any) -> None:
        """Run one exchange and report it to Locust under ``name`` (an exception is a failure of that name)."""
        start = time.perf_counter()
        length, error = 0, None
        try:
            length = exchange()
        except (OSError, ValueError, SlowClientError) as problem:
            error = problem
        self.environment.events.request.fire(
            request_type=method,
            name=name,
            response_time=(time.perf_counter() - start) * 1000,
            response_length=length,
            exception=error,
            context={},
        )


class SlowSender(SlowClient):
    """POSTs a body in 1 KiB pieces spread over ``send_ms``: a server that reads it as it comes waits with it."""

    weight = PARAMS["sender_weight"]

    def upload(self) -> int:
        size = PARAMS["send_kb"] * 1024
        pieces = max(size // SEND_PIECE, 1)
        head = (
            f"POST /upload?kb={PARAMS['send_kb']} HTTP/1.1\r\nHost: {self.address()[0]}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
        )
        with self.connect() as connection:
            connection.sendall(head.encode("ascii"))
            for _ in range(pieces):
                gevent.sleep(PARAMS["send_ms"] / 1000 / pieces)
                connection.sendall(b"x" * (size // pieces))
            stream = connection.makefile("rb")
            status, length = read_head(stream)
            received = read_body(stream, length, 0)
        if status >= 400:
            raise SlowClientError(f"HTTP {status}", status)
        return received

    @task
    def slow_send(self) -> None:
        self.timed(SEND_NAME, "POST", self.upload)


class SlowReader(SlowClient):
    """GETs a large response and reads it in 16 KiB pieces over ``read_ms`` through a 64 KiB receive buffer."""

    weight = PARAMS["reader_weight"]

    def download(self) -> int:
        pieces = max(PARAMS["read_kb"] * 1024 // READ_PIECE, 1)
        head = f"GET /payload?kb={PARAMS['read_kb']} HTTP/1.1\r\nHost: {self.address()[0]}\r\nConnection: close\r\n\r\n"
        with self.connect(READ_BUFFER) as connection:
            connection.sendall(head.encode("ascii"))
            stream = connection.makefile("rb", buffering=0)
            status, length = read_head(stream)
            received = read_body(stream, length, PARAMS["read_ms"] / 1000 / pieces)
        if status >= 400:
            raise SlowClientError(f"HTTP {status}", status)
        return received

    @task
    def slow_read(self) -> None:
        self.timed(READ_NAME, "GET", self.download)


class FastUser(FastHttpUser):
    """An ordinary user of a cheap endpoint: its throughput and p95 show whether slow clients starve it."""

    weight = PARAMS["fast_weight"]
    wait_time = constant(0)

    @task
    def hello(self) -> None:
        self.client.get(FAST_NAME)
