"""Connection reuse as a setting of the load: real Locust against a real HTTP/1.1 server that counts its connections.

The server is the standard library's threaded HTTP/1.1 server (it keeps a connection open unless the request says
``Connection: close``), so what is counted is what the client did, not a server's own policy.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

import pytest

from flasklab.core.protocol import LoadConfig, StepMeasured, WindowEnded, WindowStarted, read_event
from flasklab.core.settings import CONNECTION_MODES, CONNECTIONS

pytestmark = pytest.mark.real  # every test here starts processes


ROOT = Path(__file__).resolve().parents[1]
USERS = 4
Connections = Literal["keepalive", "close"]


class CountingServer(ThreadingHTTPServer):
    """Counts accepted TCP connections and served requests."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), CountingHandler)
        self.lock = threading.Lock()
        self.connections = self.requests = 0

    def get_request(self) -> tuple[Any, Any]:
        accepted = super().get_request()
        with self.lock:
            self.connections += 1
        return accepted


class CountingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        server = self.server
        assert isinstance(server, CountingServer)
        with server.lock:
            server.requests += 1
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads the counters, not a log."""


@pytest.fixture
def counting_server() -> Iterator[CountingServer]:
    server = CountingServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def run_locust(url: str, connections: Connections) -> None:
    """The lab's Locust process on the hello locustfile for one short step of USERS users, its connections as its
    load says; LAB_CONNECTIONS in its environment says the opposite, and is no channel for the load's knobs."""
    config = LoadConfig(
        locustfile=str(ROOT / "locustfiles" / "hello.py"),
        host=url,
        steps=(USERS,),
        warmup_s=0.2,
        window_s=1.0,
        windows="fixed",  # a second of requests, whatever their count: the count below is the connections'
        connections=connections,
    )
    opposite = next(mode for mode in CONNECTION_MODES if mode != connections)
    command = [sys.executable, "-m", "flasklab.loadgen", "--config", config.model_dump_json()]
    environment = {**os.environ, CONNECTIONS.envvar: opposite}
    result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert [type(read_event(line)) for line in result.stdout.splitlines()] == [WindowStarted, WindowEnded, StepMeasured]


@pytest.mark.parametrize("mode", ["keepalive", "close"])
def test_connections_per_request_follow_the_setting(counting_server: CountingServer, mode: Connections) -> None:
    run_locust(f"http://127.0.0.1:{counting_server.server_address[1]}", mode)
    requests, connections = counting_server.requests, counting_server.connections
    assert requests > 100, requests
    if mode == "keepalive":
        assert connections <= USERS, (connections, requests)  # each user kept its one connection
    else:
        assert connections >= requests, (connections, requests)  # a new TCP connection for every request
