"""Backends: where the catalog's servers run. Each is one module over backends.base.Backend."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flasklab.measure.backends.base import Backend
from flasklab.measure.backends.docker import DockerBackend
from flasklab.measure.backends.external import ExternalBackend
from flasklab.measure.backends.local import LocalBackend
from flasklab.measure.backends.network import NetworkBackend

# "external" is chosen by --target, not by --backend (whose choices, flasklab.core.settings.BACKEND, list these).
# Each is built as factory(root, logs, report).
BACKENDS: dict[str, Callable[[Path, Path, Callable[[str], None]], Backend]] = {
    "local": LocalBackend,
    "docker": DockerBackend,
    "network": NetworkBackend,
}
EXTERNAL = ExternalBackend


def open_backend(name: str, root: Path, logs: Path, report: Callable[[str], None] = print) -> Backend:
    """The backend of that name (one of BACKENDS, or "external" for --target servers)."""
    factory = EXTERNAL if name == EXTERNAL.name else BACKENDS[name]
    return factory(root, logs, report)
