"""Faults in the compose lab are results: real containers, real Locust, the conductor measuring by service name.

One compose project, one run of the conductor over three servers (catalog order), each meeting a fault:

- dev-single's container is killed (``docker kill``) during its first scenario: its target fails, saying that the
  container stopped, with the log tail its agent last gave; the sweep goes on;
- dev-threaded's memory limit (tests/fixtures/compose/faults.yml) is below what its server needs: the container's
  cgroup counts the OOM kill, and the target says "OOM-killed";
- the conductor itself is stopped (``compose stop``: SIGTERM) during gunicorn-sync's first scenario: it exits 143,
  and results.json and report.html keep what was measured; gunicorn-sync's agent was told to stop its server.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from flasklab.core.catalog import load_servers
from flasklab.core.results import Results, load_results
from tests.compose_support import compose_command, compose_lock, require_docker

pytestmark = pytest.mark.docker
SERVERS = ("dev-single", "dev-threaded", "gunicorn-sync")  # in catalog order: the order the conductor measures them
KILLED, OOM_KILLED, INTERRUPTED = SERVERS
OVERRIDE = Path(__file__).parent / "fixtures" / "compose" / "faults.yml"
BUILD_TIMEOUT_S = 1500
RUN_TIMEOUT_S = 300
IMAGE_USER = 10001  # the lab image's user: a results folder made by root goes to it, as scripts/docker-lab does


@dataclass
class FaultRun:
    results: Results
    folder: Path
    conductor_exit: int
    conductor_log: str
    agents_after: dict[str, dict[str, Any]]  # each server's agent /status once the conductor is gone


class Project:
    """The test's compose project: the lab's compose file with the faults override, its own name."""

    def __init__(self, root: Path, results: Path) -> None:
        self.root = root
        self.environment = {
            **os.environ,
            "COMPOSE_PROJECT_NAME": f"flasklabfaults{os.getpid()}",
            "COMPOSE_FILE": os.pathsep.join(["docker-compose.yml", str(OVERRIDE)]),
            "COMPOSE_PROFILES": ",".join(SERVERS),  # a compose file with per-server profiles starts only these
            "LAB_SERVERS": ",".join(SERVERS),
            "LAB_SCENARIOS": "io",
            "LAB_PROFILE": "quick",
            "FLASKLAB_FAULTS_RESULTS": str(results),
            "LAB_UID": str(results.stat().st_uid),
            "LAB_GID": str(results.stat().st_gid),
        }
        self.environment.setdefault("BASE_IMAGE", "flasklab/python-base:3.13")

    def run(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*compose_command(), *args],
            cwd=self.root,
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert not check or result.returncode == 0, (args, result.stderr[-3000:])
        return result

    def container(self, service: str) -> str:
        return self.run("ps", "-q", service).stdout.strip()


def run_folder(results: Path) -> Path | None:
    folders = [folder for folder in results.iterdir() if (folder / "results.json").exists()]
    return folders[0] if folders else None


def measured(results: Path, server: str) -> bool:
    """Has the conductor recorded a step of ``server`` yet (results.json is rewritten atomically after each)?"""
    folder = run_folder(results)
    try:
        document = json.loads((folder / "results.json").read_text()) if folder else {}
    except (OSError, ValueError):
        return False
    return any(target["server"] == server and target.get("steps") for target in document.get("targets", []))


def running(container: str) -> bool:
    state = subprocess.run(["docker", "inspect", "--format", "{{.State.Running}}", container], capture_output=True)
    return state.stdout.strip() == b"true"


def wait_until_measured(results: Path, server: str, project: Project) -> None:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    conductor = project.container("conductor")
    while not measured(results, server):
        if time.monotonic() > deadline or not running(conductor):
            pytest.fail(f"no step of {server} recorded: {project.run('logs', '--tail', '40', 'conductor').stdout}")
        time.sleep(0.2)


def agent_status(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=10) as response:
        reading = json.loads(response.read())
    assert isinstance(reading, dict)
    return reading


@pytest.fixture(scope="module")
def fault_run(root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultRun]:
    require_docker(root)
    results = tmp_path_factory.mktemp("faults-results")
    if os.geteuid() == 0:
        shutil.chown(results, IMAGE_USER, IMAGE_USER)
    project = Project(root, results)
    project.run("build", "upstream", "conductor", timeout=BUILD_TIMEOUT_S)
    with compose_lock():
        try:
            project.run("up", "-d", "--no-build", "conductor", *SERVERS, timeout=300)
            wait_until_measured(results, KILLED, project)
            subprocess.run(["docker", "kill", project.container(KILLED)], check=True, capture_output=True)
            wait_until_measured(results, INTERRUPTED, project)
            conductor = project.container("conductor")
            project.run("stop", "--timeout", "60", "conductor", timeout=120)
            state = subprocess.run(
                ["docker", "inspect", "--format", "{{.State.ExitCode}}", conductor],
                capture_output=True,
                text=True,
                check=True,
            )
            log = project.run("logs", "--no-color", "conductor").stdout
            catalog = load_servers(root)
            agents = {server: agent_status(catalog[server].published[8001]) for server in (OOM_KILLED, INTERRUPTED)}
            folder = run_folder(results)
            assert folder is not None, log[-3000:]
            yield FaultRun(load_results(folder), folder, int(state.stdout.strip()), log, agents)
        finally:
            project.run("down", "--volumes", "--timeout", "5", check=False)


def test_a_killed_container_fails_its_target_and_the_sweep_goes_on(fault_run: FaultRun) -> None:
    killed = fault_run.results.target(KILLED, "io")
    assert killed is not None and killed.status == "failed"
    assert "the container stopped (its agent does not answer)" in (killed.error or ""), killed.error
    assert "[agent] started the server" in (killed.log_tail or "")  # the last tail its agent gave
    assert killed.steps and killed.steps[0].requests > killed.steps[0].failures  # measured before the kill
    assert fault_run.results.target(INTERRUPTED, "io") is not None  # the sweep went on past two failed servers


def test_a_server_killed_by_its_memory_limit_is_recorded_as_oom_killed(fault_run: FaultRun) -> None:
    oom = fault_run.results.target(OOM_KILLED, "io")
    assert oom is not None and oom.status == "failed"
    assert (oom.error or "").startswith("OOM-killed: the container's memory limit (24 MiB)"), oom.error
    assert "from cgroup" in (oom.error or "")  # counted by the container's cgroup, not guessed from a signal
    the_agent_saw = "was killed by signal 9: OOM-killed at the container's memory limit (24 MiB; 1 kill(s)"
    assert the_agent_saw in (oom.log_tail or "")
    agent = fault_run.agents_after[OOM_KILLED]
    assert agent["oom_kills"] >= 1 and agent["signal"] == 9 and agent["starts"] == 1


def test_a_stopped_conductor_keeps_what_it_measured(fault_run: FaultRun) -> None:
    assert fault_run.conductor_exit == 143, fault_run.conductor_log[-3000:]
    results = fault_run.results
    assert results.meta.status == "interrupted" and results.meta.backend == "network"
    killed = results.target(KILLED, "io")
    assert killed is not None and killed.steps  # what was measured before both faults is still there
    assert (fault_run.folder / "report.html").is_file()
    # The conductor's last act: its agent stopped the server it was measuring (a stop, not an exit on its own).
    agent = fault_run.agents_after[INTERRUPTED]
    assert (agent["state"], agent["starts"]) == ("stopped", 1), agent
