"""What every test of the containerized lab shares: a running engine, the compose command, one project at a time.

The compose file publishes fixed ports on 127.0.0.1 (8080, 8089, 81xx, 91xx), so two compose projects cannot run at
once on one machine: ``compose_lock`` serializes them (across pytest processes and anyone else holding
/tmp/flasklab-compose.lock, e.g. ``flock /tmp/flasklab-compose.lock docker compose up``).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.needs import unavailable

LOCK_PATH = Path("/tmp/flasklab-compose.lock")


def docker_ready(root: Path) -> str | None:
    """None when an engine runs (started here if need be), else why not."""
    if shutil.which("docker") is None and not (os.geteuid() == 0 and shutil.which("apt-get")):
        return "no Docker client and no way to install one"
    engine = subprocess.run([str(root / "scripts" / "docker-engine")], capture_output=True, text=True)
    return None if engine.returncode == 0 else f"scripts/docker-engine failed: {engine.stderr[-1500:]}"


BASE_IMAGE = "flasklab/python-base:3.13"


def require_docker(root: Path) -> None:
    """An engine runs (started here if need be) and holds the offline base image every lab image is built on (built
    here if need be: no registry is reachable, and a fresh machine has no image); otherwise the test fails."""
    reason = docker_ready(root)
    if reason:
        unavailable(reason)
    image = os.environ.get("BASE_IMAGE", BASE_IMAGE)
    built = subprocess.run([str(root / "scripts" / "build-base-image"), image], capture_output=True, text=True)
    if built.returncode != 0:
        unavailable(f"scripts/build-base-image {image} failed: {built.stderr[-1500:]}")


def compose_command() -> list[str]:
    """Compose v2 (``docker compose``) where it is installed, else Compose v1 (``docker-compose``)."""
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
    return ["docker", "compose"] if probe.returncode == 0 else ["docker-compose"]


@contextmanager
def compose_lock() -> Iterator[None]:
    """Hold the machine's one compose slot (blocks until the project using the lab's ports is down)."""
    with LOCK_PATH.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
