"""No request chooses where the app connects: the upstream and self-call targets come from the lab's environment."""

from __future__ import annotations

import ast
import json
import select
import socket
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from flasklab.measure.backends.base import RunningTarget
from flasklab_app import app as app_module

APP_SOURCE = Path(app_module.__file__)
ENDPOINTS = ["/health", "/hello", "/cpu", "/io", "/upstream", "/self", "/payload", "/_lab/usage", "/_lab/info"]


@pytest.fixture
def canary() -> Iterator[socket.socket]:
    """A listening socket on 127.0.0.1 that no request may make the server connect to."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield listener


def steering(port: int) -> tuple[dict[str, str], dict[str, str]]:
    """Query parameters and headers that would redirect a naive app to the canary."""
    url = f"http://127.0.0.1:{port}/"
    names = ["url", "target", "upstream", "self", "base_url", "host", "LAB_UPSTREAM_URL", "LAB_SELF_URL", "next"]
    query = {name: url for name in names} | {"port": str(port), "ms": "1"}
    headers = {
        "X-Forwarded-Host": f"127.0.0.1:{port}",
        "X-Forwarded-Port": str(port),
        "Forwarded": f"host=127.0.0.1:{port}",
        "X-Original-URL": url,
        "Referer": url,
    }
    return query, headers


@pytest.mark.real
def test_no_parameter_or_header_makes_the_server_connect_elsewhere(
    start_server: Callable[[str], RunningTarget], canary: socket.socket
) -> None:
    target = start_server("dev-threaded")
    query, headers = steering(canary.getsockname()[1])
    answers = {}
    for path in ENDPOINTS:
        request = urllib.request.Request(f"{target.url}{path}?{urlencode(query)}", headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            answers[path] = (response.status, response.read())
    readable, _, _ = select.select([canary], [], [], 0.5)
    assert not readable, "the server connected to an address a request named"
    # The calls went where the lab configured them, and answered.
    assert json.loads(answers["/upstream"][1])["upstream_status"] == 200
    assert json.loads(answers["/self"][1])["inner_status"] == 200


def test_the_app_reads_no_address_from_a_request() -> None:
    tree = ast.parse(APP_SOURCE.read_text())
    # What the app reads from a request: query parameters (through bounded_int) and the upload's body, nothing else.
    read = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "request"
    }
    assert read == {"args", "get_data"}
    # Every outgoing call goes through _get, with a base URL read from the environment.
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "_get"]
    assert len(calls) == 2
    sources = {
        ast.unparse(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == ["base_url"]
    }
    assert sources == {"os.environ.get('LAB_UPSTREAM_URL')", "os.environ.get('LAB_SELF_URL')"}
    assert all(ast.unparse(call.args[0]) == "base_url" for call in calls)
    connecting = {"HTTPConnection", "urlopen", "create_connection", "socket"}
    callers = {
        function.name
        for function in ast.walk(tree)
        if isinstance(function, ast.FunctionDef)
        for node in ast.walk(function)
        if isinstance(node, ast.Attribute) and node.attr in connecting
    }
    assert callers == {"_get"}
