"""The network backend: servers already running as compose services, reached by service name.

This is how the conductor container measures the lab that `docker compose up` started: it cannot start or stop
containers (no Docker socket anywhere), so "start" waits for the service to answer, usage and the log tail come
from each container's agent (port 8001, its own cgroup), and "stop" leaves the idle service to compose.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from flasklab.backends.base import Backend, RunningTarget, Usage, http_get, server_budget
from flasklab.catalog import Server, compose_environment

SERVER_PORT = 8000
AGENT_PORT = 8001


class AgentTarget(RunningTarget):
    """A server in a container whose agent reports its cgroup's usage and the server's log."""

    def __init__(self, url: str, agent_url: str) -> None:
        self.url = url
        self.agent_url = agent_url
        self.started = False

    def wait_healthy(self, timeout_s: float) -> None:
        super().wait_healthy(timeout_s)
        self.started = True
        self.url = by_address(self.url)

    def alive(self) -> bool:
        if not self.started:  # a container still starting cannot be told from one that exited: wait for health
            return True
        try:
            return http_get(f"{self.agent_url}/usage", timeout=2)[0] == 200
        except OSError:
            return False

    def usage(self) -> Usage | None:
        try:
            status, body = http_get(f"{self.agent_url}/usage", timeout=2)
        except OSError:
            return None
        if status != 200:
            return None
        reading = json.loads(body)
        memory = reading.get("memory_bytes", reading["rss_bytes"])  # an agent from before memory_bytes: the same
        return Usage(float(reading["cpu_seconds"]), int(memory), time.monotonic())

    def log_tail(self, lines: int = 40) -> str:
        try:
            status, body = http_get(f"{self.agent_url}/log", timeout=2)
        except OSError as error:
            return f"(log unavailable: {error})"
        return "\n".join(body.decode(errors="replace").splitlines()[-lines:]) if status == 200 else ""

    def stop(self) -> None:
        """Nothing to do: the service stays up, idle, until compose stops the lab."""


def by_address(url: str) -> str:
    """``url`` with its host name replaced by the address it resolves to now (an address is kept as it is).

    Locust's FastHttpUser resolves the host for every new connection. Against a compose service name that is a query
    to Docker's embedded DNS server, which runs in dockerd, outside both CPU sets: for a server that closes the
    connection after each response it cost about 190 us of dockerd CPU and a round trip per request, and gunicorn-sync
    gave 1,074 rps by name against 2,451 by address (medians of 3 interleaved runs, 16 users), with neither the
    server nor the generator busy enough to be flagged. A container keeps its address while it runs; a restarted
    target is started (and resolved) again.
    """
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname
    if host is None:
        return url
    try:
        address = socket.getaddrinfo(host, parts.port, type=socket.SOCK_STREAM)[0][4][0]
    except (OSError, IndexError):
        return url  # the health check just reached it: leave resolving to the client rather than fail here
    if address == host:
        return url
    netloc = f"[{address}]" if ":" in str(address) else str(address)
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def cpuset(text: str) -> list[int]:
    """Docker's cpuset syntax ("0", "0-1", "0,2") as a list of CPUs."""
    cpus: list[int] = []
    for part in filter(None, text.split(",")):
        low, _, high = part.partition("-")
        cpus.extend(range(int(low), int(high or low) + 1))
    return cpus


def container_budget(root: Path) -> tuple[dict[str, str], dict[str, list[int]] | None]:
    """The compose lab's budget per server and its CPU split, as .env (or the environment) sets them."""
    settings = compose_environment(root)
    budget = server_budget(root)
    server_cpus, load_cpus = settings.get("SERVER_CPUSET", ""), settings.get("LOAD_CPUSET", "")
    pinning = {"server": cpuset(server_cpus), "generator": cpuset(load_cpus)} if server_cpus else None
    return budget, pinning


class NetworkBackend(Backend):
    name = "network"
    memory_measure = "cgroup"

    def __init__(self, root: Path, logs: Path, report: Callable[[str], None] = print) -> None:
        self.budget, self.pinning = container_budget(root)

    def unavailable(self, server: Server) -> str | None:
        return None

    def start(self, server: Server) -> AgentTarget:
        return AgentTarget(f"http://{server.name}:{SERVER_PORT}", f"http://{server.name}:{AGENT_PORT}")
