"""The servers the benchmarks measure: a catalog server started by the local backend, and scratch folders for runs.

bench.py dispatches to the benchmarks; a benchmark module imports this one, never bench.py (which imports it).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from flasklab.core.catalog import lab_root, load_servers
from flasklab.core.settings import START_TIMEOUT_S
from flasklab.measure.backends.base import RunningTarget
from flasklab.measure.backends.local import LocalBackend


def bench_folder(name: str) -> Path:
    """A new scratch folder's path for one benchmark's run (the folder itself is made by whoever writes it)."""
    return Path(tempfile.mkdtemp(prefix="flasklab-bench-")) / name


def compose_lab(root: Path, project: str) -> tuple[list[str], dict[str, str]]:
    """The compose command and environment of a project of its own, the engine started first (scripts/docker-engine
    installs it and Compose on a fresh machine) and the offline base image built unless $BASE_IMAGE names one."""
    from flasklab.measure.backends.docker import compose_command

    subprocess.run([str(root / "scripts" / "docker-engine")], check=True, stdout=subprocess.DEVNULL)
    environment = {**os.environ, "COMPOSE_PROJECT_NAME": project}
    if not environment.get("BASE_IMAGE"):
        environment["BASE_IMAGE"] = "flasklab/python-base:3.13"
        subprocess.run(
            [str(root / "scripts" / "build-base-image"), environment["BASE_IMAGE"]],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    (root / "results").mkdir(exist_ok=True)  # the conductor's entrypoint writes it as its owner (never root)
    return compose_command(), environment


@contextlib.contextmanager
def local_server(name: str) -> Iterator[tuple[LocalBackend, RunningTarget]]:
    """One catalog server started (healthy) by the local backend, pinned as `flasklab run` pins it."""
    root = lab_root()
    server = load_servers(root)[name]
    backend = LocalBackend(root, bench_folder("logs"), report=lambda _: None)
    backend.prepare([server])
    target = backend.start(server)
    try:
        target.wait_healthy(START_TIMEOUT_S)
        yield backend, target
    finally:
        target.stop()
        backend.close()
