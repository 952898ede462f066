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
from typing import Any

import pytest

from flasklab.core.protocol import LoadConfig
from flasklab.core.settings import CONNECTIONS

ROOT = Path(__file__).resolve().parents[1]
USERS = 4


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


def run_locust(url: str, connections: str) -> None:
    """The hello locustfile for one short step of USERS users, its connections as the lab's setting says."""
    config = LoadConfig(locustfile="hello.py", host=url, steps=(USERS,), warmup_s=0.2, window_s=1.0)
    environment = {**os.environ, **config.model_copy(update={"connections": connections}).locustfile_environment()}
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        "locustfiles/hello.py",
        "--headless",
        "-H",
        url,
        "--loglevel",
        "WARNING",
    ]
    subprocess.run(command, cwd=ROOT, env=environment, check=True, timeout=60)


def test_the_load_config_hands_the_mode_to_the_locustfiles() -> None:
    config = LoadConfig(locustfile="io.py", host="http://127.0.0.1:1", steps=(1,), warmup_s=0, window_s=1)
    assert config.locustfile_environment()[CONNECTIONS.envvar] == "keepalive"
    closing = config.model_copy(update={"connections": "close"})
    assert closing.locustfile_environment()[CONNECTIONS.envvar] == "close"


@pytest.mark.parametrize("mode", ["keepalive", "close"])
def test_connections_per_request_follow_the_setting(counting_server: CountingServer, mode: str) -> None:
    run_locust(f"http://127.0.0.1:{counting_server.server_address[1]}", mode)
    requests, connections = counting_server.requests, counting_server.connections
    assert requests > 100, requests
    if mode == "keepalive":
        assert connections <= USERS, (connections, requests)  # each user kept its one connection
    else:
        assert connections >= requests, (connections, requests)  # a new TCP connection for every request
