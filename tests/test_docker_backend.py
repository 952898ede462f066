"""`flasklab run --backend docker` from the host: one compose service at a time, Locust on the host."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flasklab.backends.docker import compose_command
from flasklab.results import load_results
from tests.test_docker import require_docker

pytestmark = pytest.mark.docker


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
        assert results.meta.backend == "docker"
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
