"""The network backend (the compose conductor's): a target is loaded by address, not by a name resolved per request."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator

import pytest

from flasklab.measure.backends.network import AgentTarget, by_address

RUNNING = json.dumps({"state": "running", "pid": 1, "starts": 1, "oom_kills": 0, "log_tail": ""}).encode()


class Healthy(http.server.BaseHTTPRequestHandler):
    """A server that answers /health, and an agent (of tests/test_agent.py's contract) whose server runs."""

    def do_GET(self) -> None:
        self.reply(RUNNING if self.path == "/status" else b"")

    def do_POST(self) -> None:
        self.reply(RUNNING)

    def reply(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def health_port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Healthy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_host_name_is_replaced_by_its_address() -> None:
    assert by_address("http://localhost:8000") in ("http://127.0.0.1:8000", "http://[::1]:8000")
    assert by_address("http://127.0.0.1:8000/") == "http://127.0.0.1:8000/"


def test_a_name_that_does_not_resolve_is_left_to_the_client() -> None:
    assert by_address("http://no-such-service.invalid:8000") == "http://no-such-service.invalid:8000"


def test_a_healthy_target_is_then_loaded_by_address(health_port: int) -> None:
    target = AgentTarget(f"http://localhost:{health_port}", f"http://localhost:{health_port}")
    target.wait_healthy(5)
    assert target.url in (f"http://127.0.0.1:{health_port}", f"http://[::1]:{health_port}")
