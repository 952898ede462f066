"""The external backend: servers already deployed elsewhere, given by URL (``--target NAME=URL``).

Nothing is started or stopped and the lab cannot see their CPU or memory. Only loopback addresses are accepted
unless the user opts in with ``--allow-remote`` (load is never sent anywhere by accident).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from flasklab.core.catalog import Server
from flasklab.measure.backends.base import Backend, RunningTarget, TargetFailed, Usage, http_get


class TargetURLError(ValueError):
    """A --target that is not NAME=http(s)://host[:port] or points beyond loopback without --allow-remote."""


def parse_target(text: str, allow_remote: bool) -> Server:
    """``NAME=URL`` as a Server whose command is its URL."""
    name, separator, url = text.partition("=")
    try:
        parts = urlsplit(url)
        if parts.port == 0:  # .port raises ValueError for anything but a number from 0 to 65535
            raise ValueError("port 0 is not a server's port")
    except ValueError as error:
        raise TargetURLError(f"{text!r}: {error} (for example app=http://127.0.0.1:8000)") from error
    if not separator or not name.strip() or parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetURLError(f"{text!r} is not NAME=http://host[:port] (for example app=http://127.0.0.1:8000)")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise TargetURLError(f"{text!r}: give the server's base URL only (no path, query or credentials)")
    if not allow_remote and not _is_loopback(parts.hostname):
        raise TargetURLError(f"{text!r} is not on this machine's loopback; add --allow-remote to load it on purpose")
    return Server(
        name=name.strip(),
        software="external",
        worker_model="deployed elsewhere",
        concurrency=None,
        command=f"{parts.scheme}://{parts.netloc}",
    )


def _is_loopback(host: str) -> bool:
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror:
        return False
    return all(ipaddress.ip_address(str(address).split("%")[0]).is_loopback for address in addresses)


class ExternalTarget(RunningTarget):
    def __init__(self, url: str) -> None:
        self.url = url

    def wait_healthy(self, timeout_s: float) -> None:
        """Any HTTP answer means the server is there (a user's app may have no /health)."""
        try:
            http_get(f"{self.url}/", timeout=min(timeout_s, 10))
        except OSError as error:
            raise TargetFailed(f"{self.url} does not answer: {error}") from error

    def alive(self) -> bool:
        return True

    def usage(self) -> Usage | None:
        return None

    def stop(self) -> None:
        """Not ours to stop."""

    def log_tail(self, lines: int = 40) -> str:
        return ""


class ExternalBackend(Backend):
    name = "external"
    cannot_restart = "an external server cannot be restarted by the lab: each round and scenario meets it as it was"

    def __init__(self, root: Path, logs: Path, report: Callable[[str], None] = print) -> None:
        self.budget = {"cpus": "unknown (deployed elsewhere)", "memory": "unknown (deployed elsewhere)"}
        self.pinning = None

    def unavailable(self, server: Server) -> str | None:
        return None

    def start(self, server: Server) -> ExternalTarget:
        return ExternalTarget(server.command)
