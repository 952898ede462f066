"""Backends: where the catalog's servers run. Each is one module over backends.base.Backend."""

from __future__ import annotations

from collections.abc import Callable

from flasklab.backends.base import Backend
from flasklab.backends.docker import DockerBackend
from flasklab.backends.external import ExternalBackend
from flasklab.backends.local import LocalBackend
from flasklab.backends.network import NetworkBackend

# "external" is chosen by --target, not by --backend.
# Each is built as factory(root, logs, report), and the local and docker ones take app=UserApp for --app.
BACKENDS: dict[str, Callable[..., Backend]] = {
    "local": LocalBackend,
    "docker": DockerBackend,
    "network": NetworkBackend,
}
EXTERNAL = ExternalBackend
DEFAULT_BACKEND = "local"
