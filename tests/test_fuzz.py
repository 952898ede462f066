"""Arbitrary requests to real servers: never a 5xx, a JSON 400 for bad parameters, and no more work than documented.

Queries are generated (hypothesis) for every endpoint: huge, negative and boundary integers, floats, unicode, empty
and repeated parameters, stray percent signs, overlong values. Each answer is timed: a request may take its own
``ms`` (at most the documented maximum) plus a margin, and a rejected one only the margin. services/app/openapi.yaml
is the contract: schemathesis generates cases from it and checks every answer against it. Servers: the threaded dev
server and gunicorn's sync workers, each started once for the module.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from flasklab.core.catalog import Server
from flasklab.core.settings import START_TIMEOUT_S
from flasklab.measure.backends.base import RunningTarget
from flasklab.measure.backends.local import LocalBackend
from flasklab_app import app as app_module

pytestmark = pytest.mark.real  # every test here starts processes


OPENAPI = Path(__file__).resolve().parents[1] / "services/app/openapi.yaml"
MARGIN_S = 2.0  # scheduling, the server's own cost and a busy 2-core machine; far below any unbounded wait
CHEAP_MS = 30  # valid work the generators ask for; the maxima themselves are timed once, in their own test
# Endpoint → its bounded parameter (name, low, high) and the most it may wait beyond its own ms.
ENDPOINTS: dict[str, tuple[str, int, int] | None] = {
    "/health": None,
    "/hello": None,
    "/cpu": ("ms", 0, app_module.MAX_CPU_MS),
    "/io": ("ms", 0, app_module.MAX_SLEEP_MS),
    "/upstream": ("ms", 0, app_module.MAX_SLEEP_MS),
    "/self": None,
    "/payload": ("kb", 1, app_module.MAX_PAYLOAD_KB),
    "/_lab/usage": None,
    "/_lab/info": None,
}
FUZZ = settings(
    max_examples=120,
    deadline=None,  # each request is timed against its own documented bound instead
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@dataclass
class Answer:
    status: int
    content_type: str
    body: bytes
    elapsed_s: float

    def json(self) -> dict[str, object]:
        assert self.content_type.startswith("application/json"), (self.status, self.content_type, self.body[:200])
        document = json.loads(self.body)
        assert isinstance(document, dict)
        return document


def send(url: str, method: str, target: bytes, body: bytes = b"", headers: dict[str, str] | None = None) -> Answer:
    """One request with the request target sent byte for byte (http.client would refuse non-ASCII)."""
    parts = urlsplit(url)
    assert parts.hostname and parts.port
    lines = [f"Host: {parts.netloc}", "Connection: close", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    head = method.encode() + b" " + target + b" HTTP/1.1\r\n" + "\r\n".join(lines).encode() + b"\r\n\r\n"
    start = time.perf_counter()
    with socket.create_connection((parts.hostname, parts.port), timeout=app_module.MAX_SLEEP_MS / 1000 + 30) as sock:
        sock.sendall(head + body)
        response = http.client.HTTPResponse(sock)
        response.begin()
        content = response.read()
    return Answer(response.status, response.getheader("Content-Type") or "", content, time.perf_counter() - start)


@pytest.fixture(scope="module", params=["dev-threaded", "gunicorn-sync"])
def server(
    request: pytest.FixtureRequest, local_backend: LocalBackend, catalog_servers: dict[str, Server]
) -> Iterator[RunningTarget]:
    target = local_backend.start(catalog_servers[request.param])
    try:
        target.wait_healthy(START_TIMEOUT_S)
        yield target
    finally:
        target.stop()


def values(bound: tuple[str, int, int] | None) -> st.SearchStrategy[str]:
    """Parameter values: mostly wrong, sometimes right (and then cheap)."""
    low, high = (bound[1], bound[2]) if bound else (0, 0)
    return st.one_of(
        st.integers(max_value=low - 1).map(str),
        st.integers(min_value=high + 1).map(str),
        st.sampled_from([low - 1, low, high + 1, 2**63, -(2**63), 10**100]).map(str),
        st.integers(low, max(low, CHEAP_MS)).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.sampled_from(["", " ", "+3", " 3 ", "3_0", "0x10", "1e3", "\uff13", "\u0663", "-0", "0" * 3000 + "7"]),
        st.just("9" * 4400),  # beyond int()'s 4300 digits
        st.text(max_size=40),
        st.text(alphabet="0123456789-+_ .e", min_size=1, max_size=12),
        st.text(min_size=500, max_size=1500),
    )


@st.composite
def queries(draw: st.DrawFn, path: str) -> str:
    """A query string for ``path``: its own parameter (possibly repeated or blank) among others, percent-encoded."""
    bound = ENDPOINTS[path]
    names = st.sampled_from([bound[0] if bound else "ms", "kb", "ms", "url", "target", "MS", "ms[]", ""]) | st.text(
        max_size=8
    )
    pairs = draw(st.lists(st.tuples(names, values(bound)), max_size=4))
    fragments = [f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in pairs]
    fragments += draw(
        st.lists(st.sampled_from(["%", "%zz", "%ff", "=", "ms", "ms=", "=5", "&", "+", "ms=%2B5"]), max_size=2)
    )
    return "&".join(draw(st.permutations(fragments)))[:3500]  # under gunicorn's 4094-byte request line


def expected_work_s(path: str, query: str) -> float:
    """What the app may spend on the request: its parameter when valid (werkzeug reads the first), else nothing."""
    if path == "/self":
        return app_module.SELF_CALL_TIMEOUT_S
    bound = ENDPOINTS[path]
    if bound is None or bound[0] != "ms":
        return 0.0
    name, low, high = bound
    pairs = parse_qsl(query, keep_blank_values=True, errors="replace")
    given_values = [value for key, value in pairs if key == name]
    # /io?dist=exp sleeps an exponential time of mean ms, cut at EXP_CAP means and at the maximum sleep
    exponential = path == "/io" and [value for key, value in pairs if key == "dist"][:1] == ["exp"]
    spread = app_module.EXP_CAP if exponential else 1
    if not given_values:
        return min(spread * {"/cpu": 10, "/io": 100, "/upstream": 100}[path], high) / 1000
    try:
        value = int(given_values[0])
    except ValueError:
        return 0.0
    return min(spread * value, high) / 1000 if low <= value <= high else 0.0


def check_answer(path: str, answer: Answer, work_s: float) -> None:
    assert answer.status < 500 or (path == "/self" and answer.status == 504), answer
    assert answer.elapsed_s <= work_s + MARGIN_S, f"{path}: {answer.elapsed_s:.2f} s for {work_s:.2f} s of work"
    if answer.status == 400:
        assert "must be" in str(answer.json()["error"])
    if answer.status == 200 and path == "/payload":
        assert len(answer.body) % 1024 == 0 and 1024 <= len(answer.body) <= app_module.MAX_PAYLOAD_KB * 1024
    if answer.status == 200 and ENDPOINTS[path] and path != "/payload":
        ms = answer.json()["ms"]
        assert isinstance(ms, int) and 0 <= ms <= ENDPOINTS[path][2]  # type: ignore[index]


@FUZZ
@given(data=st.data())
def test_arbitrary_queries_get_bounded_answers(server: RunningTarget, data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(list(ENDPOINTS)), label="path")
    query = data.draw(queries(path), label="query")
    answer = send(server.url, "GET", f"{path}?{query}".encode())
    check_answer(path, answer, expected_work_s(path, query))


@settings(FUZZ, max_examples=40)
@given(path=st.sampled_from(list(ENDPOINTS)), raw=st.binary(min_size=1, max_size=64))
def test_raw_bytes_in_the_query_are_refused_or_read_never_a_server_error(
    server: RunningTarget, path: str, raw: bytes
) -> None:
    # Bytes outside ASCII or control characters: the server itself may refuse the request line (400).
    target = path.encode() + b"?ms=" + bytes(b for b in raw if b not in b" \r\n\t")
    answer = send(server.url, "GET", target)
    assert answer.status < 500 and answer.elapsed_s <= expected_work_s(path, "") + MARGIN_S, answer


@pytest.mark.parametrize(
    ("path", "query"), [("/cpu", f"ms={app_module.MAX_CPU_MS}"), ("/payload", f"kb={app_module.MAX_PAYLOAD_KB}")]
)
@pytest.mark.measuring
def test_the_documented_maxima_are_served_within_their_bound(server: RunningTarget, path: str, query: str) -> None:
    answer = send(server.url, "GET", f"{path}?{query}".encode())
    assert answer.status == 200
    check_answer(path, answer, expected_work_s(path, query))


def test_overlong_request_lines_are_refused_quickly(server: RunningTarget) -> None:
    answer = send(server.url, "GET", b"/io?ms=" + b"9" * 70_000)
    assert answer.status in (400, 414) and answer.elapsed_s <= MARGIN_S


@settings(FUZZ, max_examples=30)
@given(size=st.integers(0, app_module.app.config["MAX_CONTENT_LENGTH"] * 3))
def test_upload_reads_at_most_its_limit(server: RunningTarget, size: int) -> None:
    limit = app_module.app.config["MAX_CONTENT_LENGTH"]
    try:
        answer = send(server.url, "POST", b"/upload", b"x" * size, {"Content-Type": "application/octet-stream"})
    except ConnectionError:
        assert size > limit  # refused while the client still sent: the server stopped reading, as it should
        return
    if size <= limit:
        assert answer.status == 200 and answer.json()["received"] == size
    else:
        assert answer.status == 413 and answer.json()["error"]
    assert answer.elapsed_s <= MARGIN_S


def test_unknown_paths_and_methods_answer_json_errors(server: RunningTarget) -> None:
    for method, target, status in [("GET", b"/nope", 404), ("POST", b"/hello", 405), ("DELETE", b"/io?ms=1", 405)]:
        answer = send(server.url, method, target)
        assert answer.status == status and answer.json()["error"]


# The contract: cases generated from services/app/openapi.yaml, each answer checked against it.
schema = schemathesis.openapi.from_path(OPENAPI)


def cheap(case: schemathesis.Case[Any]) -> schemathesis.Case[Any]:
    """Valid work parameters reduced to a few ms, so the whole contract runs in seconds (the maxima are above)."""
    parameters = schema.raw_schema["paths"][case.path][case.method.lower()].get("parameters", [])
    high = next((p["schema"]["maximum"] for p in parameters if p["name"] == "ms"), 0)  # the documented maximum

    def reduce(value: object) -> object:
        if isinstance(value, list):
            return [reduce(item) for item in value]
        valid = isinstance(value, int) and not isinstance(value, bool) and 0 < value <= high
        return value % (CHEAP_MS + 1) if valid else value  # type: ignore[operator]

    if high and case.query and "ms" in case.query:
        case.query = {**case.query, "ms": reduce(case.query["ms"])}
    if case.path == "/upload" and case.query and "kb" in case.query:
        declared(case)
    return case


def declared(case: schemathesis.Case[Any]) -> None:
    """/upload's ``kb`` is the size the client declares for its body, which a schema cannot tie to the body (and
    schemathesis may send a body of its own at call time): a valid kb is dropped, an invalid one stays, to be refused.
    tests/test_app.py checks a declared size against the body."""
    kb = case.query["kb"]
    if isinstance(kb, int) and not isinstance(kb, bool) and 0 <= kb <= app_module.MAX_UPLOAD_KB:
        case.query = {key: value for key, value in case.query.items() if key != "kb"}


OPERATIONS = {operation.label: operation for operation in (result.ok() for result in schema.get_all_operations())}  # type: ignore[union-attr]


CASES = [(label, GenerationMode.POSITIVE) for label in OPERATIONS] + [
    (label, GenerationMode.NEGATIVE)  # only what takes input can be sent invalid input
    for label, operation in OPERATIONS.items()
    if operation.query or operation.body
]


@pytest.mark.parametrize(("label", "mode"), CASES, ids=[f"{label} {mode.value}" for label, mode in CASES])
def test_answers_conform_to_the_openapi_description(server: RunningTarget, label: str, mode: GenerationMode) -> None:
    @settings(FUZZ, max_examples=25)
    @given(case=OPERATIONS[label].as_strategy(generation_mode=mode).map(cheap))
    def check(case: schemathesis.Case[Any]) -> None:
        start = time.perf_counter()
        try:
            response = case.call(base_url=server.url, timeout=app_module.MAX_SLEEP_MS / 1000 + 30)
        except requests.ConnectionError:
            # An upload over the limit may be cut off while it is still being sent: the server stopped reading.
            body = case.body if isinstance(case.body, (bytes, str)) else b""
            assert case.path == "/upload" and len(body) > app_module.app.config["MAX_CONTENT_LENGTH"]
            return
        elapsed = time.perf_counter() - start
        case.validate_response(response)
        query = urlencode(case.query or {}, doseq=True)
        work_s = expected_work_s(case.path, query) if case.method == "GET" else 0.0
        assert elapsed <= work_s + MARGIN_S, f"{case.method} {case.path}?{query}: {elapsed:.2f} s"

    check()
