"""The network backend: servers of compose services, reached by service name, started and stopped by their agents.

This is how the conductor container measures the lab that `docker compose up` started. It has no Docker socket (on
purpose), so it asks each container's agent (port 8001; services/app/flasklab_app/agent.py), which runs the server as
its child: POST /start before a server is measured, POST /stop after, so that every round and the restart after a
busy scenario get a fresh process and an idle container holds nothing but its agent. Usage comes from the agent (its
container's cgroup), and so does the server's fate: how it exited, or that the memory limit killed it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import signal
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flasklab.core.catalog import Server, compose_environment
from flasklab.measure.backends.base import Backend, RunningTarget, TargetFailed, Usage, http_get, server_budget
from flasklab_app.listen import AcceptQueue

SERVER_PORT = 8000
AGENT_PORT = 8001
AGENT_TIMEOUT_S = 5.0
REDEPLOY_TIMEOUT_S = 30.0  # a restart waits for the server's stop: the agent's grace (LAB_STOP_GRACE_S, 10 s) and more
STOP_TIMEOUT_S = 40.0  # the agent's own grace (LAB_STOP_GRACE_S, 10 s) and its SIGKILL fit in it
RETRY_S = 0.25  # between tries to reach an agent whose container is still coming up
AGENT_ERRORS = (OSError, http.client.HTTPException, ValueError)  # no answer, a cut one, or not the JSON expected


def http_post(url: str, timeout: float) -> tuple[int, bytes]:
    """A POST with no body (the agent's actions take no parameters)."""
    request = urllib.request.Request(url, data=b"", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


class AgentQueueSampler:
    """The accept queue of a container's server, read by its agent inside the container's network namespace (POST
    /queue/start and /queue/stop); an agent that cannot (an older image, no answer) reads as not measured."""

    def __init__(self, agent_url: str) -> None:
        self.agent_url = agent_url

    def start(self) -> AgentQueueSampler:
        with contextlib.suppress(*AGENT_ERRORS):
            http_post(f"{self.agent_url}/queue/start", AGENT_TIMEOUT_S)
        return self

    def stop(self) -> AcceptQueue | None:
        try:
            status, body = http_post(f"{self.agent_url}/queue/stop", AGENT_TIMEOUT_S)
            reading = json.loads(body) if status == 200 else None
            return AcceptQueue(**reading) if isinstance(reading, dict) else None
        except (*AGENT_ERRORS, TypeError):
            return None


def agent_reading(body: bytes) -> dict[str, Any] | None:
    """An agent's JSON status, or None for anything else."""
    try:
        reading = json.loads(body)
    except ValueError:
        return None
    return reading if isinstance(reading, dict) else None


def agent_deploy(agent_url: str, action: str) -> str:
    """POST /reload or /redeploy to a server's agent: the code version it deployed (TargetFailed: it did not)."""
    try:
        waited = AGENT_TIMEOUT_S if action == "reload" else REDEPLOY_TIMEOUT_S
        status, body = http_post(f"{agent_url}/{action}", timeout=waited)
        reading = json.loads(body)
    except AGENT_ERRORS as error:
        raise TargetFailed(f"the agent did not {action} the server: {error}") from error
    if status != 200 or not isinstance(reading, dict) or "code_version" not in reading:
        raise TargetFailed(f"the agent did not {action} the server ({status}: {reading.get('error', body[:200])})")
    return str(reading["code_version"])


class AgentTarget(RunningTarget):
    """A server run by the agent of its container, which starts and stops it and says how it ended."""

    def __init__(self, url: str, agent_url: str, memory_limit: str = "") -> None:
        self.url = url
        self.agent_url = agent_url
        # SERVER_MEM as configured, named when the limit killed the server (a container's own limit may differ: the
        # agent's log line of the kill gives that one)
        self.memory_limit = memory_limit
        self.started = False  # the agent has started the server for this target
        self.stopped = False  # and this run has stopped it since
        self.oom_kills_at_start = 0
        self.last_tail = ""  # the server's log tail as the agent last gave it: what is left once the container is gone

    def wait_healthy(self, timeout_s: float) -> None:
        """Have the agent start the server (once), then wait for the server's health path."""
        deadline = time.monotonic() + timeout_s
        if not self.started:
            self.start_server(deadline, timeout_s)
        super().wait_healthy(max(deadline - time.monotonic(), 0.1))
        self.url = by_address(self.url)

    def start_server(self, deadline: float, timeout_s: float) -> None:
        """POST /start, retried while the container (or its agent) is still coming up."""
        last_error = "no answer"
        while time.monotonic() < deadline:
            try:
                status, body = http_post(f"{self.agent_url}/start", AGENT_TIMEOUT_S)
            except (OSError, http.client.HTTPException) as error:
                last_error = str(getattr(error, "reason", error)) or type(error).__name__
                time.sleep(RETRY_S)
                continue
            if status in (404, 405, 501):
                raise TargetFailed(
                    f"its agent cannot start servers (POST /start answered {status}): the server image is older than "
                    "the conductor; rebuild the images (docker compose build)"
                )
            reading = agent_reading(body) if status == 200 else None
            if reading is None:
                raise TargetFailed(f"its agent could not start the server ({status}: {body.decode(errors='replace')})")
            self.oom_kills_at_start = int(reading.get("oom_kills", 0))
            self.last_tail = str(reading.get("log_tail", ""))
            self.started = True
            return
        raise TargetFailed(f"its agent did not answer within {timeout_s:.0f} s ({last_error})")

    def status(self) -> dict[str, Any] | None:
        """The agent's /status (its log tail kept), or None when the agent does not answer, asked twice."""
        for attempt in range(2):
            try:
                code, body = http_get(f"{self.agent_url}/status", timeout=AGENT_TIMEOUT_S)
                reading = agent_reading(body) if code == 200 else None
            except AGENT_ERRORS:
                reading = None
            if reading is not None:
                self.last_tail = str(reading.get("log_tail", self.last_tail))
                return reading
            if attempt == 0:
                time.sleep(RETRY_S)
        return None

    def alive(self) -> bool:
        """True while the server runs (and while its container is still starting: it cannot be told apart yet)."""
        return not self.stopped and self.ended() is None

    def ended(self) -> str | None:
        """How the server ended, from its agent: the memory limit, its exit code or signal, or the container gone."""
        if self.stopped or not self.started:
            return None
        reading = self.status()
        if reading is None:
            return self.agent_gone()
        return None if reading.get("state") == "running" else self.ending(reading)

    def agent_gone(self) -> str:
        return "the container stopped (its agent does not answer)"

    def ending(self, reading: dict[str, Any]) -> str:
        """How the server ended, from the agent's status."""
        kills = int(reading.get("oom_kills") or 0) - self.oom_kills_at_start
        if kills > 0:
            limit = reading.get("memory_limit") or "unknown"
            budget = f"; the lab's SERVER_MEM is {self.memory_limit}" if self.memory_limit else ""
            return (
                f"OOM-killed: the container's memory limit ({limit}) killed the server "
                f"({kills} kill{'s' if kills > 1 else ''}, "
                f"from {reading.get('oom_source', 'the cgroup')}{budget})"
            )
        if reading.get("state") == "stopped":
            return "the server was stopped by its agent (not by this run: a stop request or the container stopping)"
        if reading.get("signal") is not None:
            number = int(reading["signal"])
            try:
                name = f" ({signal.Signals(number).name})"
            except ValueError:
                name = ""
            return f"the server was killed by signal {number}{name}"
        return f"the server exited with code {reading.get('exit_code')}"

    def queue_sampler(self) -> AgentQueueSampler:
        return AgentQueueSampler(self.agent_url)

    def reload(self) -> str:
        """The agent deploys the next code version and sends the server its SIGHUP (POST /reload)."""
        return agent_deploy(self.agent_url, "reload")

    def redeploy(self) -> str:
        """The agent deploys the next code version and restarts the server (POST /redeploy)."""
        return agent_deploy(self.agent_url, "redeploy")

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
        """From the agent's /log; once the container is gone, the last tail its /status gave."""
        try:
            status, body = http_get(f"{self.agent_url}/log", timeout=AGENT_TIMEOUT_S)
        except AGENT_ERRORS:
            status, body = 0, b""
        text = body.decode(errors="replace") if status == 200 else self.last_tail
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """The agent stops the server (SIGTERM, then SIGKILL after its grace); the container stays, idle.

        Asked even when the start was not confirmed: a run interrupted while POST /start was on its way must not
        leave the server running (stopping a stopped server is nothing to the agent)."""
        if self.stopped:
            return
        self.stopped = True
        with contextlib.suppress(*AGENT_ERRORS):  # no answer: the container is gone, and its server with it
            http_post(f"{self.agent_url}/stop", STOP_TIMEOUT_S)


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
        """The server's target; its agent starts it in wait_healthy, which has the time the runner allows."""
        name = server.name
        return AgentTarget(f"http://{name}:{SERVER_PORT}", f"http://{name}:{AGENT_PORT}", self.budget["memory"])
