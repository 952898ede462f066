"""`flasklab run --backend docker` from the host: one compose service at a time, Locust on the host."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flasklab.core.catalog import load_servers
from flasklab.core.results import load_results
from flasklab.measure.backends.docker import BUILD_TIMEOUT_S, DockerBackend, compose_command
from tests.compose_support import require_docker

pytestmark = pytest.mark.docker
BASE_IMAGE = "flasklab/python-base:3.13"
KILLED = "gunicorn-gthread"  # the server the kill tests start (any of the catalog would do)


def service_container(project: str, service: str) -> str:
    """The id of the compose project's container for ``service`` (running or not), from the engine itself."""
    labels = [f"label=com.docker.compose.project={project}", f"label=com.docker.compose.service={service}"]
    listed = subprocess.run(
        ["docker", "ps", "-aq", "--filter", labels[0], "--filter", labels[1]],
        capture_output=True,
        text=True,
        check=True,
    )
    (container,) = listed.stdout.split()
    return container


@pytest.fixture
def compose_project(root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A compose project of this test's own (its containers removed afterwards), set in the environment."""
    require_docker(root)
    project = f"flasklabkill{os.getpid()}"
    monkeypatch.setenv("COMPOSE_PROJECT_NAME", project)
    monkeypatch.setenv("BASE_IMAGE", os.environ.get("BASE_IMAGE", BASE_IMAGE))
    try:
        yield project
    finally:
        subprocess.run([*compose_command(), "down", "-t", "2"], cwd=root, capture_output=True)


@pytest.mark.measuring
def test_docker_backend_runs_one_service_at_a_time(root: Path, tmp_path: Path) -> None:
    require_docker(root)
    environment = {**os.environ, "COMPOSE_PROJECT_NAME": f"flasklabhost{os.getpid()}"}
    environment.setdefault("BASE_IMAGE", "flasklab/python-base:3.13")
    out = tmp_path / "docker"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "flasklab",
            "run",
            "--backend",
            "docker",
            "--servers",
            "gunicorn-sync,dev-single",
            "--scenarios",
            "io",
            "--profile",
            "quick",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=environment,
        timeout=1500,
    )
    try:
        assert result.returncode == 0, result.stderr[-3000:]
        results = load_results(out)
        assert results.meta.backend == "docker" and results.meta.memory_measure == "cgroup"
        for target in results.targets:
            assert target.status == "ok", (target.server, target.error, target.log_tail)
            four_users = next(step for step in target.steps if step.users == 4)
            bound = min(4, target.concurrency or 4) / 0.1
            assert 0.75 * bound <= four_users.rps <= 1.05 * bound
            assert four_users.server_cpu is not None and four_users.server_rss_mb
        assert {probe.server: probe.measured for probe in results.probe} == {"gunicorn-sync": 4, "dev-single": 1}
        running = subprocess.run(
            [
                "docker",
                "ps",
                "-q",
                "--filter",
                f"label=com.docker.compose.project={environment['COMPOSE_PROJECT_NAME']}",
            ],
            capture_output=True,
            text=True,
        )
        assert running.stdout.strip() == "", "a container of the run was left running"
    finally:
        subprocess.run([*compose_command(), "down", "-t", "2"], cwd=root, env=environment, capture_output=True)


def test_docker_backend_builds_the_users_app_into_its_images(root: Path, tmp_path: Path) -> None:
    """examples/shop built into gunicorn-sync's image (its own tag), measured under its own locustfile."""
    require_docker(root)
    environment = {**os.environ, "COMPOSE_PROJECT_NAME": f"flasklabapp{os.getpid()}"}
    environment.setdefault("BASE_IMAGE", "flasklab/python-base:3.13")
    shop = root / "examples" / "shop"
    out = tmp_path / "shop"
    command = [sys.executable, "-m", "flasklab", "run", "--backend", "docker", "--servers", "gunicorn-sync"]
    command += ["--app", "shop.app:app", "--app-path", str(shop), "--requirements", str(shop / "requirements.txt")]
    command += ["--locustfile", str(shop / "locustfile.py"), "--profile", "quick", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=1500)
    try:
        assert result.returncode == 0, result.stderr[-3000:]
        (target,) = load_results(out).targets
        assert target.status == "ok", (target.error, target.log_tail)
        for step in target.steps:
            assert step.requests > 0 and step.failures == 0, step.errors
            assert step.server_cpu is not None  # from the container's own cgroup
        assert set().union(*(step.names for step in target.steps)) == {
            "/products",
            "/products/[id]",
            "/stock/[id]",
            "/orders",
        }
        images = subprocess.run(["docker", "images", "--format", "{{.Tag}}", "flasklab-server"], capture_output=True)
        assert b"app-shop.app-app" in images.stdout  # the lab's own image is left as it was
    finally:
        compose = [*compose_command(), "down", "-t", "2"]
        app_settings = {"LAB_APP_DIR": "examples/shop", "APP_MODULE": "shop.app:app"}
        subprocess.run(compose, cwd=root, env=environment | app_settings, capture_output=True)


def test_docker_backend_builds_a_flask2_app_on_its_own_pins(root: Path, tmp_path: Path) -> None:
    """examples/flask2 (Flask 2.2, Werkzeug 2.2) built into waitress's image from its own pins plus the server
    packages, measured; the image's Flask and Werkzeug recorded. gunicorn-eventlet cannot be installed beside an app
    that also pins gunicorn 27: skipped with pip's reason, the same per-server outcome as locally."""
    require_docker(root)
    environment = {**os.environ, "COMPOSE_PROJECT_NAME": f"flasklabflask2{os.getpid()}"}
    environment.setdefault("BASE_IMAGE", BASE_IMAGE)
    flask2 = root / "examples" / "flask2"
    requirements = tmp_path / "requirements.txt"
    requirements.write_text((flask2 / "requirements.txt").read_text() + "gunicorn==27.0.1\n")
    inside = root / "examples" / "flask2" / f".test-requirements-{os.getpid()}.txt"  # in the build context
    inside.write_text(requirements.read_text())
    out = tmp_path / "flask2"
    command = [sys.executable, "-m", "flasklab", "run", "--backend", "docker"]
    command += ["--servers", "waitress,gunicorn-eventlet", "--app", "greeter.app:app", "--app-path", str(flask2)]
    command += ["--requirements", str(inside), "--locustfile", str(flask2 / "locustfile.py")]
    command += ["--profile", "quick", "--no-probe", "--out", str(out)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=1500)
        assert result.returncode == 0, result.stderr[-3000:]
        results = load_results(out)
        measured, skipped = (results.target(server, "locustfile") for server in ("waitress", "gunicorn-eventlet"))
        assert measured is not None and skipped is not None
        assert measured.status == "ok", (measured.error, measured.log_tail)
        for step in measured.steps:
            assert step.requests > 0 and step.failures == 0, step.errors
        versions = results.meta.server_versions["waitress"]
        assert (versions["flask"], versions["werkzeug"], versions["gunicorn"]) == ("2.2.5", "2.2.3", "27.0.1")
        assert versions["python"].startswith("3.13")  # asked of the container, not of the host
        assert skipped.status == "skipped" and "ERROR: Cannot install" in (skipped.error or "")
        assert "gunicorn==25.3.0" in (skipped.error or "")
    finally:
        inside.unlink(missing_ok=True)
        app_settings = {"LAB_APP_DIR": "examples/flask2", "APP_MODULE": "greeter.app:app"}
        subprocess.run(
            [*compose_command(), "down", "-t", "2"], cwd=root, env=environment | app_settings, capture_output=True
        )


def test_a_killed_container_is_not_alive(root: Path, tmp_path: Path, compose_project: str) -> None:
    """Once the container is gone, its agent does not answer: alive() says so, with the engine's account of it."""
    backend = DockerBackend(root, tmp_path, report=lambda _: None)
    backend.compose("build", KILLED, timeout=BUILD_TIMEOUT_S)
    target = backend.start(load_servers(root)[KILLED])
    target.wait_healthy(120)
    assert target.alive()
    subprocess.run(["docker", "kill", service_container(compose_project, KILLED)], check=True, capture_output=True)
    deadline = time.monotonic() + 20
    while target.alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not target.alive()
    assert re.match(r"the container stopped \(its agent does not answer; the engine says exited", target.gone() or "")
    target.stop()
    assert not target.alive()  # removed: no container at all


def test_a_container_killed_mid_step_fails_its_target(root: Path, tmp_path: Path, compose_project: str) -> None:
    """The server's container is killed after the first step: the target fails as exited, and the run says so."""
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "flasklab", "run", "--backend", "docker", "--servers", KILLED]
    command += ["--scenarios", "io", "--profile", "quick", "--no-probe", "--out", str(out)]
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + BUILD_TIMEOUT_S
        while not first_step_recorded(out) and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert run.poll() is None, "the run ended before its first step"
        subprocess.run(["docker", "kill", service_container(compose_project, KILLED)], check=True, capture_output=True)
        _, stderr = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 1, stderr[-3000:]
    results = load_results(out)
    assert results.meta.memory_measure == "cgroup"
    (target,) = results.targets
    assert target.status == "failed"
    assert "the container stopped (its agent does not answer" in (target.error or ""), target.error
    last = target.steps[-1]
    assert len(target.steps) >= 2 and last.requests == last.failures > 0  # measured dead, then recorded as exited


def first_step_recorded(out: Path) -> bool:
    """Has results.json (rewritten atomically after every step) a step yet?"""
    try:
        document = json.loads((out / "results.json").read_text())
    except (OSError, ValueError):
        return False
    return any(target.get("steps") for target in document.get("targets", []))
