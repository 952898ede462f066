"""The server container's agent, run here as a process on 127.0.0.1: it starts, stops and reports a real server.

The same agent is every server container's PID 1 (services/entrypoint.sh); the conductor's network backend
(flasklab.measure.backends.network.AgentTarget) relies on its HTTP API, so the backend's reading of it is tested here
too.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from flasklab.core.catalog import Server
from flasklab.measure.backends.local import LocalBackend, free_port
from flasklab.measure.backends.network import AgentTarget

pytestmark = pytest.mark.real  # every test here starts processes


STOP_GRACE_S = 3


@dataclass
class Agent:
    process: subprocess.Popen[bytes]
    url: str
    server_url: str
    output: Path

    def get(self, path: str) -> tuple[int, str]:
        return self.request("GET", path)

    def post(self, path: str) -> dict[str, Any]:
        status, body = self.request("POST", path)
        assert status == 200, body
        reading = json.loads(body)
        assert isinstance(reading, dict)
        return reading

    def status(self) -> dict[str, Any]:
        status, body = self.get("/status")
        assert status == 200, body
        reading = json.loads(body)
        assert isinstance(reading, dict)
        return reading

    def request(self, method: str, path: str) -> tuple[int, str]:
        request = urllib.request.Request(self.url + path, method=method, data=b"" if method == "POST" else None)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def server_answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.server_url + "/health", timeout=5) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def wait_serving(self) -> None:
        deadline = time.monotonic() + 30
        while not self.server_answers():
            assert time.monotonic() < deadline, self.output.read_text()
            time.sleep(0.05)

    def wait_state(self, state: str) -> dict[str, Any]:
        deadline = time.monotonic() + 15
        while (reading := self.status())["state"] != state:
            assert time.monotonic() < deadline, reading
            time.sleep(0.05)
        return reading


@pytest.fixture
def start_agent(root: Path, tmp_path: Path) -> Iterator[Callable[..., Agent]]:
    """Start the agent (LAB_SERVER_START as given) over the lab's threaded dev server, after the shell commands
    ``before`` if any; every one is killed after."""
    started: list[Agent] = []

    def start(mode: str, before: str = "", server: str | None = None) -> Agent:
        """``server``: a command of its own, with {port} for the port (default: the threaded dev server)."""
        agent_port, server_port = free_port(), free_port()
        devserver = f"{sys.executable} -m flasklab_app.devserver --mode threaded --host 127.0.0.1 --port {{port}}"
        command = f"{before}exec {(server or devserver).format(port=server_port)}"
        environment = {
            **os.environ,
            "PYTHONPATH": str(root / "services" / "app"),
            "LAB_AGENT_HOST": "127.0.0.1",
            "LAB_AGENT_PORT": str(agent_port),
            "LAB_SERVER_START": mode,
            "LAB_STOP_GRACE_S": str(STOP_GRACE_S),
            "PORT": str(server_port),  # as the compose file sets it: the port whose accept queue the agent reads
            "LAB_APP_VERSION_FILE": str(tmp_path / f"code-version-{agent_port}"),  # the container's /tmp in the lab
        }
        environment.pop("LAB_USAGE_SOURCE", None)
        output = tmp_path / f"agent-{agent_port}.log"
        with output.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "flasklab_app.agent", command],
                env=environment,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        agent = Agent(process, f"http://127.0.0.1:{agent_port}", f"http://127.0.0.1:{server_port}", output)
        started.append(agent)
        deadline = time.monotonic() + 20
        while True:
            try:
                agent.status()
                return agent
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, output.read_text()
                time.sleep(0.05)

    yield start
    for agent in started:
        kill_session(agent.process.pid)
        agent.process.wait()


def kill_session(session: int) -> None:
    """Every process of the agent's session: the agent, and its server in a process group of its own (a test that
    killed the agent's group left the server running)."""
    for process in psutil.process_iter():
        with contextlib.suppress(OSError, psutil.Error):
            if os.getsid(process.pid) == session:
                process.kill()


def test_the_server_starts_with_the_agent_and_restarts_as_a_new_process(start_agent: Callable[..., Agent]) -> None:
    agent = start_agent("now")
    agent.wait_serving()
    first = agent.status()
    assert first["state"] == "running" and first["starts"] == 1 and isinstance(first["pid"], int)
    assert first["oom_kills"] == 0 and "not in a container" in first["oom_source"]
    restarted = agent.post("/restart")
    assert restarted["state"] == "running" and restarted["starts"] == 2
    assert restarted["pid"] != first["pid"]
    agent.wait_serving()
    stopped = agent.post("/stop")
    assert stopped["state"] == "stopped" and stopped["pid"] is None
    assert not agent.server_answers()
    again = agent.post("/start")
    assert again["state"] == "running" and again["pid"] not in (first["pid"], restarted["pid"])
    assert agent.post("/start")["pid"] == again["pid"]  # a running server is left running
    agent.wait_serving()


def test_a_killed_server_is_reported_with_its_signal(start_agent: Callable[..., Agent]) -> None:
    agent = start_agent("now")
    agent.wait_serving()
    pid = agent.status()["pid"]
    os.kill(pid, signal.SIGKILL)
    ended = agent.wait_state("exited")
    assert (ended["signal"], ended["exit_code"], ended["pid"]) == (9, None, None)
    assert f"[agent] the server (pid {pid}) was killed by signal 9" in ended["log_tail"]
    status, log = agent.get("/log")
    started = "dev server (threaded) on http://127.0.0.1"  # the server's own output, through the pipe
    assert status == 200 and started in log
    assert started in agent.output.read_text()  # and copied to the agent's stdout


def test_what_a_dead_server_leaves_behind_goes_with_it(start_agent: Callable[..., Agent]) -> None:
    """A worker whose master died would go on holding the port: the agent ends the server's whole group."""
    agent = start_agent("now", before="sleep 300 & echo worker $!; ")
    agent.wait_serving()
    worker = int(next(line for line in agent.status()["log_tail"].splitlines() if line.startswith("worker")).split()[1])
    os.kill(worker, 0)
    os.kill(agent.status()["pid"], signal.SIGKILL)
    agent.wait_state("exited")
    deadline = time.monotonic() + 10
    while not ended(worker):
        assert time.monotonic() < deadline, "the worker outlived its server"
        time.sleep(0.05)


def ended(pid: int) -> bool:
    """Gone, or a zombie waiting for whoever inherited it to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_on_request_starts_nothing_until_asked(start_agent: Callable[..., Agent]) -> None:
    agent = start_agent("on-request")
    time.sleep(0.5)
    idle = agent.status()
    assert (idle["state"], idle["pid"], idle["starts"]) == ("stopped", None, 0)
    assert not agent.server_answers()
    assert agent.post("/start")["state"] == "running"
    agent.wait_serving()


def test_sigterm_stops_the_server_then_the_agent(start_agent: Callable[..., Agent]) -> None:
    agent = start_agent("now")
    agent.wait_serving()
    pid = agent.status()["pid"]
    agent.process.send_signal(signal.SIGTERM)
    code = agent.process.wait(timeout=STOP_GRACE_S + 10)
    assert code == 128 + signal.SIGTERM  # the server's own end: Werkzeug's dev server dies of SIGTERM
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert "SIGTERM: stopping the server, then the agent" in agent.output.read_text()


def test_only_its_own_paths_and_methods(start_agent: Callable[..., Agent]) -> None:
    agent = start_agent("on-request")
    assert agent.request("GET", "/start")[0] == 405
    assert agent.request("POST", "/status")[0] == 405
    assert agent.request("DELETE", "/stop")[0] == 405
    assert agent.request("GET", "/nothing")[0] == 404
    assert agent.request("POST", "/start?command=id")[0] == 404  # no request parameters at all
    assert agent.status()["starts"] == 0
    status, body = agent.get("/usage")
    assert status == 200 and "cpu_seconds" in json.loads(body)


def test_the_backend_starts_the_server_and_says_how_it_ended(start_agent: Callable[..., Agent]) -> None:
    agent = start_agent("on-request")
    target = AgentTarget(agent.server_url, agent.url, "512m")
    target.wait_healthy(30)  # POST /start, then /health
    assert target.alive() and agent.status()["starts"] == 1
    os.kill(agent.status()["pid"], signal.SIGKILL)
    agent.wait_state("exited")
    assert not target.alive()
    assert target.gone() == "the server was killed by signal 9 (SIGKILL)"
    target.stop()
    restarted = AgentTarget(agent.server_url, agent.url, "512m")  # what the runner's restart does
    restarted.wait_healthy(30)
    assert agent.status()["starts"] == 2
    os.killpg(agent.process.pid, signal.SIGKILL)  # the container gone: its agent (the server is the fixture's to end)
    agent.process.wait()
    assert not restarted.alive()
    assert restarted.gone() == "the container stopped (its agent does not answer)"
    assert "[agent] started the server" in restarted.log_tail()  # the last tail the agent gave


def test_a_client_that_leaves_before_its_answer_leaves_no_traceback(start_agent: Callable[..., Agent]) -> None:
    """A poll or health check that gives up resets its connection: the agent answers the next one as before and
    prints nothing (its output is the container's log, which the compose log shows a room)."""
    agent = start_agent("on-request")
    port = int(agent.url.rsplit(":", 1)[1])
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            client.sendall(b"GET /status HTTP/1.1\r\nHost: agent\r\n\r\n")
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close: a reset
    assert agent.status()["state"] == "stopped"
    time.sleep(0.3)
    assert "Traceback" not in agent.output.read_text(), agent.output.read_text()[-2000:]


def test_the_agent_reads_its_servers_accept_queue(start_agent: Callable[..., Agent]) -> None:
    """The conductor's window edges: POST /queue/start and /queue/stop, read inside the agent's network namespace
    (the container's in the lab). The threaded dev server accepts at once: an empty queue of werkzeug's backlog."""
    agent = start_agent("now")
    agent.wait_serving()
    target = AgentTarget(agent.server_url, agent.url)
    sampler = target.queue_sampler().start()
    for _ in range(5):
        assert agent.server_answers()
    time.sleep(0.2)
    window = sampler.stop()
    assert window is not None and window.readings >= 5 and window.backlog >= 1 and window.max <= 1, window
    assert target.queue_sampler().stop() is None  # no reading open: nothing to say
    status, body = agent.get("/queue/stop")
    assert status == 405 and "POST" in body
    agent.post("/stop")
    agent.wait_state("stopped")
    assert target.queue_sampler().start().stop() is None  # no socket on the port: not read, not an empty queue


def serving_version_1(start_agent: Callable[..., Agent], server: str) -> tuple[Agent, AgentTarget, int]:
    """An agent running ``server`` now, its target, and the server's process id; the app answers with code 1."""
    agent = start_agent("now", server=server)
    agent.wait_serving()
    target = AgentTarget(agent.server_url, agent.url, "512m")
    assert target.served_versions() == ["1"]
    return agent, target, int(agent.status()["pid"])


@pytest.mark.measuring
def test_a_reload_through_the_agent_deploys_the_next_code_version(
    start_agent: Callable[..., Agent], local_backend: LocalBackend, catalog_servers: dict[str, Server]
) -> None:
    """POST /reload (the compose lab's deploy under load): the next code version written where the app reads it,
    then SIGHUP to gunicorn's master, whose new workers import the new code; the master stays, the old workers go."""
    venv = local_backend.environment(catalog_servers["gunicorn-sync"].requirements)
    gunicorn = f"{venv / 'bin' / 'gunicorn'} --workers 2 --bind 127.0.0.1:{{port}} flasklab_app.app:app"
    agent, target, master = serving_version_1(start_agent, gunicorn)
    assert target.reload() == "2"
    deadline = time.monotonic() + 20
    while target.served_versions(asks=6) != ["2"]:
        assert time.monotonic() < deadline, agent.output.read_text()[-2000:]
        time.sleep(0.2)
    status = agent.status()
    assert status["state"] == "running" and status["pid"] == master and status["starts"] == 1
    assert f"reloaded the server (SIGHUP to pid {master}): code version 2" in target.log_tail()
    agent.post("/stop")
    assert agent.request("POST", "/reload")[0] == 409  # nothing to reload


@pytest.mark.measuring
def test_a_redeploy_through_the_agent_restarts_the_server_on_the_next_code_version(
    start_agent: Callable[..., Agent], local_backend: LocalBackend, catalog_servers: dict[str, Server]
) -> None:
    """POST /redeploy (a deploy of a server without a graceful reload): the next code version, then the server stopped
    and started again as a new process, which answers with it."""
    venv = local_backend.environment(catalog_servers["waitress"].requirements)
    waitress = f"{venv / 'bin' / 'waitress-serve'} --host 127.0.0.1 --port {{port}} flasklab_app.app:app"
    agent, target, first = serving_version_1(start_agent, waitress)
    assert target.redeploy() == "2"
    agent.wait_serving()
    assert target.served_versions() == ["2"]
    status = agent.status()
    assert status["state"] == "running" and status["pid"] != first and status["starts"] == 2
    assert "redeployed the server by a restart: code version 2" in target.log_tail()
    assert agent.request("GET", "/redeploy")[0] == 405
