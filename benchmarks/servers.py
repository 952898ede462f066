"""The servers the benchmarks measure: a catalog server started by the local backend, and scratch folders for runs.

bench.py dispatches to the benchmarks; a benchmark module imports this one, never bench.py (which imports it).
"""

from __future__ import annotations

import contextlib
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
