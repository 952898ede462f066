"""The containerized lab, end to end: the project's own images and compose file, a real Docker engine.

Runs in CI (never skipped there): scripts/docker-engine starts the engine, scripts/build-base-image builds the
offline base, and the quick profile runs over every server in containers, measured by the conductor.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from flasklab.catalog import Server
from flasklab.results import Results, load_results
from tests.compose_support import compose_command, require_docker

pytestmark = pytest.mark.docker
COMPOSE_TIMEOUT_S = 1500
DASHBOARD = "http://127.0.0.1:8080"


@dataclass
class ComposeRun:
    results: Results
    conductor_exit: int
    containers: list[dict[str, object]]
    dashboard: dict[str, str]  # the dashboard service's pages for this run, by path


def fetch_dashboard(run_id: str) -> dict[str, str]:
    """The compose dashboard's index and this run's live page and state, read from the host's 127.0.0.1:8080."""
    pages = {}
    for path in ("/", f"/runs/{run_id}/", f"/runs/{run_id}/state"):
        for attempt in range(20):
            try:
                with urllib.request.urlopen(DASHBOARD + path, timeout=10) as response:
                    pages[path] = response.read().decode()
                break
            except (urllib.error.URLError, ConnectionError):
                if attempt == 19:
                    raise
                time.sleep(1)
    return pages


@pytest.fixture(scope="module")
def compose_run(root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeRun]:
    require_docker(root)
    project = f"flasklabtest{os.getpid()}"
    environment = {**os.environ, "LAB_PROFILE": "quick", "COMPOSE_PROJECT_NAME": project}
    environment.setdefault("BASE_IMAGE", "flasklab/python-base:3.13")
    base = subprocess.run(
        [str(root / "scripts" / "build-base-image"), environment["BASE_IMAGE"]],
        capture_output=True,
        text=True,
        env=environment,
    )
    assert base.returncode == 0, base.stderr[-2000:]
    results_dir = root / "results"
    before = set(results_dir.iterdir()) if results_dir.exists() else set()
    compose = compose_command()
    lab = subprocess.run(
        [str(root / "scripts" / "docker-lab"), "--detach"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=COMPOSE_TIMEOUT_S,
    )
    try:
        assert lab.returncode == 0, lab.stderr[-3000:]
        conductor = subprocess.run(
            [*compose, "ps", "-q", "conductor"], capture_output=True, text=True, cwd=root, env=environment, check=True
        ).stdout.strip()
        waited = subprocess.run(
            ["docker", "wait", conductor], capture_output=True, text=True, timeout=COMPOSE_TIMEOUT_S, check=True
        )
        ids = subprocess.run(
            [*compose, "ps", "-q"], capture_output=True, text=True, cwd=root, env=environment, check=True
        ).stdout.split()
        containers = json.loads(
            subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True, check=True).stdout
        )
        (run_dir,) = set(results_dir.iterdir()) - before
        dashboard = fetch_dashboard(run_dir.name)
        yield ComposeRun(load_results(run_dir), int(waited.stdout.strip()), containers, dashboard)
    finally:
        logs = subprocess.run(
            [*compose, "logs", "--no-color", "--tail", "30", "conductor"],
            capture_output=True,
            text=True,
            cwd=root,
            env=environment,
        )
        print(logs.stdout[-4000:])
        subprocess.run(
            [*compose, "down", "--volumes", "--timeout", "5"], capture_output=True, cwd=root, env=environment
        )


def test_every_server_measured_in_containers(compose_run: ComposeRun, catalog_servers: dict[str, Server]) -> None:
    results = compose_run.results
    assert compose_run.conductor_exit == 0
    assert results.meta.backend == "network" and results.meta.status == "complete"
    assert {target.server for target in results.targets} == set(catalog_servers)
    for target in results.targets:
        assert target.status == "ok", (target.server, target.scenario, target.error, target.log_tail)
        for step in target.steps:
            assert step.requests > 0 and step.failures == 0
            # One Locust process in the conductor: locust-worker replicas are opt-in (--profile workers), since a
            # master and one worker on the one generator CPU give less than one process alone.
            assert step.generator_workers == 0
            # Usage from each container's own cgroup, through its agent.
            assert step.server_cpu is not None and step.server_rss_mb is not None and step.server_rss_mb > 5
    verdicts = {claim.claim: claim.verdict for claim in results.claims}
    assert verdicts["dev-single-serves-one"] == "confirmed"
    assert verdicts["gunicorn-sync-serves-workers"] == "confirmed"
    assert verdicts["selfcall-deadlocks-single"] == "confirmed"
    assert results.meta.server_versions["gunicorn-eventlet"]["gunicorn"].startswith("25.3")
    assert results.meta.server_versions["gunicorn-sync"]["python"].startswith("3.13")


def test_containers_are_hardened(compose_run: ComposeRun) -> None:
    assert compose_run.containers
    for container in compose_run.containers:
        name = str(container["Name"])
        config, host = container["Config"], container["HostConfig"]
        assert isinstance(config, dict) and isinstance(host, dict)
        user = str(config.get("User") or "")
        assert user and not user.startswith(("0", "root")), f"{name} runs as root"
        assert host.get("ReadonlyRootfs") is True, name
        assert "ALL" in (host.get("CapDrop") or []), name
        assert "no-new-privileges:true" in (host.get("SecurityOpt") or []), name
        mounts = container.get("Mounts") or []
        assert isinstance(mounts, list)
        for mount in mounts:
            assert isinstance(mount, dict)
            assert "docker.sock" not in str(mount.get("Source")), f"{name} mounts the Docker socket"
        for bindings in (host.get("PortBindings") or {}).values():
            for binding in bindings or []:
                assert binding["HostIp"] == "127.0.0.1", f"{name} publishes a port beyond loopback"


def test_same_budget_for_every_server(compose_run: ComposeRun, catalog_servers: dict[str, Server]) -> None:
    budgets = set()
    for container in compose_run.containers:
        labels = container["Config"]["Labels"]  # type: ignore[index]
        if "lab.server" in labels:
            host = container["HostConfig"]
            budgets.add((host["NanoCpus"], host["Memory"], host["CpusetCpus"]))  # type: ignore[index]
    assert len(budgets) == 1, budgets


def test_dashboard_service_serves_the_run(compose_run: ComposeRun) -> None:
    run_id = compose_run.results.meta.run_id
    assert f'href="runs/{run_id}/"' in compose_run.dashboard["/"]
    assert json.loads(compose_run.dashboard[f"/runs/{run_id}/state"])["status"] == "complete"
    page = compose_run.dashboard[f"/runs/{run_id}/"]
    assert "this page is its report" in page and 'class="plotly-graph-div chart"' in page
