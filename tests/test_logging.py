"""Fair logging: no server writes a line per request by default, and LAB_ACCESS_LOG=1 turns one on for every server."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from flasklab.core.catalog import Server, compose_environment, load_servers
from flasklab.core.settings import START_TIMEOUT_S
from flasklab.measure.backends.base import http_get
from flasklab.measure.backends.local import LocalBackend
from tests.needs import unavailable

REQUESTS = 20
LOG_WAIT_S = 2.0
SILENT_WAIT_S = 0.5
# One server per way of logging: Werkzeug's logger, gunicorn's access log, the lab's WSGI access log (tornado worker,
# waitress), uWSGI's request log, granian's, nginx's.
LOGGERS = ["dev-threaded", "gunicorn-sync", "gunicorn-tornado", "uwsgi", "waitress", "granian", "nginx-gunicorn-sync"]


def servers_with(root: Path, access_log: str) -> dict[str, Server]:
    return load_servers(root, {**compose_environment(root), "LAB_ACCESS_LOG": access_log})


def test_every_server_command_follows_the_setting(root: Path) -> None:
    """Every catalog entry's command changes with LAB_ACCESS_LOG: none is left logging (or silent) on its own."""
    off, on = servers_with(root, "0"), servers_with(root, "1")
    assert [name for name in off if off[name].command == on[name].command] == []


def hello_lines(local_backend: LocalBackend, server: Server) -> int:
    log = local_backend.logs / f"{server.name}.log"
    return sum("/hello" in line for line in log.read_text(errors="replace").splitlines())


def request_lines(local_backend: LocalBackend, server: Server, *, logging: bool) -> int:
    """Start ``server``, send REQUESTS GET /hello, stop it: how many lines of its log name /hello.

    A server's worker may write its access log a moment after the response (granian's did, once: 19 lines of 20 when
    it was stopped at once), so a logging server keeps running until the lines are all there or LOG_WAIT_S has passed,
    and a silent one for SILENT_WAIT_S, time enough for a late line to show.
    """
    target = local_backend.start(server)
    try:
        target.wait_healthy(START_TIMEOUT_S)
        for _ in range(REQUESTS):
            assert http_get(f"{target.url}/hello", timeout=5)[0] == 200
        deadline = time.monotonic() + (LOG_WAIT_S if logging else SILENT_WAIT_S)
        while hello_lines(local_backend, server) < REQUESTS and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        target.stop()
    return hello_lines(local_backend, server)


@pytest.mark.real
@pytest.mark.parametrize("name", LOGGERS)
def test_a_server_logs_requests_only_when_asked(local_backend: LocalBackend, root: Path, name: str) -> None:
    if "nginx" in name and shutil.which("nginx") is None:
        unavailable("nginx is not installed")
    assert request_lines(local_backend, servers_with(root, "0")[name], logging=False) == 0
    assert request_lines(local_backend, servers_with(root, "1")[name], logging=True) == REQUESTS
