"""The app's endpoints, through real servers of the catalog."""

from __future__ import annotations

import http.client
import json
import os
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest

from flasklab.measure.backends.base import RunningTarget, http_get
from flasklab.measure.backends.local import LocalBackend, LocalTarget
from flasklab_app.usage import process_group_usage

pytestmark = pytest.mark.real  # every test here starts processes


@pytest.fixture
def threaded(start_server: Callable[[str], RunningTarget]) -> RunningTarget:
    return start_server("dev-threaded")


@pytest.mark.parametrize(
    "path",
    [
        "/io?ms=-1",
        "/io?ms=10001",
        "/io?ms=abc",
        "/cpu?ms=999999",
        "/payload?kb=0",
        "/payload?kb=99999999",
        "/upstream?ms=1e9",
        "/cpu?ms=%00",
        "/io?dist=normal",
        "/io?dist=",
        "/io?dist=exp&seed=-1",
        "/io?seed=2147483648",
    ],
)
def test_bad_parameters_get_400_with_json_error(threaded: RunningTarget, path: str) -> None:
    status, body = http_get(threaded.url + path, timeout=5)
    assert status == 400
    assert "must be" in json.loads(body)["error"]


def test_scenario_endpoints_answer(threaded: RunningTarget) -> None:
    assert http_get(threaded.url + "/hello", 5) == (200, b"Hello, World!")
    status, body = http_get(threaded.url + "/io?ms=50", 5)
    document = json.loads(body)
    assert status == 200 and 0.045 <= document["end"] - document["start"] < 1
    assert isinstance(document["pid"], int) and isinstance(document["thread"], int)  # who served it, for the probe
    status, body = http_get(threaded.url + "/payload?kb=3", 5)
    assert status == 200 and len(body) == 3 * 1024
    status, body = http_get(threaded.url + "/upstream?ms=20", 5)
    assert status == 200 and json.loads(body)["upstream_status"] == 200
    status, body = http_get(threaded.url + "/cpu?ms=5", 5)
    assert status == 200 and json.loads(body)["spins"] > 0


def test_an_unknown_distribution_is_refused_naming_the_choices(threaded: RunningTarget) -> None:
    status, body = http_get(threaded.url + "/io?dist=uniform", timeout=5)
    assert status == 400 and json.loads(body)["error"] == "dist must be one of const, exp, got 'uniform'"


def test_exponential_io_sleeps_are_seeded_capped_and_of_their_mean(threaded: RunningTarget) -> None:
    """The same seed, the same sleep (slept for real); over many seeds the draws' mean is ms (an exponential's
    mean of 400 draws has a standard error of 5 %: 4 of them is 20 %), none above the 10-means cap."""
    answers = [json.loads(http_get(threaded.url + "/io?ms=5&dist=exp&seed=7", 5)[1]) for _ in range(2)]
    assert answers[0]["slept_ms"] == answers[1]["slept_ms"] > 0
    assert answers[0]["end"] - answers[0]["start"] >= answers[0]["slept_ms"] / 1000
    draws = [json.loads(http_get(threaded.url + f"/io?ms=1&dist=exp&seed={seed}", 5)[1]) for seed in range(400)]
    slept = [answer["slept_ms"] for answer in draws]
    assert 0.8 <= sum(slept) / len(slept) <= 1.2 and max(slept) <= 10 and len(set(slept)) == len(slept)
    assert json.loads(http_get(threaded.url + "/io?ms=5", 5)[1])["slept_ms"] == 5  # const: ms itself


def test_usage_counts_the_whole_process_group(start_server: Callable[[str], RunningTarget]) -> None:
    target = start_server("gunicorn-sync")
    deadline = time.monotonic() + 10
    while True:  # the first worker answers /health while the others still boot
        status, body = http_get(target.url + "/_lab/usage", 5)
        usage = json.loads(body)
        if usage["processes"] >= 5 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert status == 200
    assert usage["source"] == "process-group"
    assert usage["processes"] >= 5  # the master and its 4 workers
    assert usage["rss_bytes"] > 20 * 2**20
    # PSS splits the pages the workers share with their master: the sum is below the RSS sum, yet well above zero.
    assert usage["memory_measure"] == "pss"
    assert 10 * 2**20 < usage["memory_bytes"] < usage["rss_bytes"]
    before = target.usage()
    http_get(target.url + "/cpu?ms=300", 5)
    after = target.usage()
    assert before and after and after.cpu_seconds - before.cpu_seconds >= 0.15  # a worker's, not the master's


def test_debugger_is_never_on(threaded: RunningTarget) -> None:
    # A route that does not exist must not reveal a Werkzeug debugger page or console.
    status, body = http_get(threaded.url + "/console", 5)
    assert status == 404 and b"Werkzeug Debugger" not in body


def test_local_memory_is_pss_and_results_say_so(
    start_server: Callable[[str], RunningTarget], local_backend: LocalBackend
) -> None:
    """The local backend reads PSS (shared pages counted once over a forked server) and declares it for meta."""
    assert local_backend.memory_measure == "pss"
    target = start_server("gunicorn-sync")
    assert isinstance(target, LocalTarget)
    reading = process_group_usage(os.getpgid(target.process.pid))
    usage = target.usage()
    assert usage is not None and reading["memory_measure"] == "pss"
    # The same measure as the reading (not the RSS sum, which counts every shared page once per worker).
    assert usage.rss_bytes < reading["rss_bytes"]


def post_upload(url: str, query: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """POST ``body`` to /upload with ``query``: the answer's status and JSON."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        connection.putrequest("POST", f"/upload{query}")
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.parametrize("query", ["?kb=-1", "?kb=1025", "?kb=abc"])
def test_upload_bounds_its_declared_size(threaded: RunningTarget, query: str) -> None:
    status, document = post_upload(threaded.url, query, b"x" * 1024)
    assert status == 400 and "kb must be" in document["error"]


def test_upload_checks_the_body_it_got_against_the_declared_size(threaded: RunningTarget) -> None:
    """A slow sender's body that arrived whole is counted; one that does not match what it declared is a 400."""
    assert post_upload(threaded.url, "?kb=2", b"x" * 2048) == (200, {"received": 2048})
    status, document = post_upload(threaded.url, "?kb=3", b"x" * 2048)
    assert status == 400 and "says 3072 bytes, got 2048" in document["error"]
    assert post_upload(threaded.url, "", b"x" * 100) == (200, {"received": 100})
