"""Backends: where the catalog's servers run. Each is one module over backends.base.Backend."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flasklab.backends.base import Backend
from flasklab.backends.local import LocalBackend
from flasklab.backends.network import NetworkBackend

BACKENDS: dict[str, Callable[[Path, Path, Callable[[str], None]], Backend]] = {
    "local": LocalBackend,
    "network": NetworkBackend,
}
DEFAULT_BACKEND = "local"
