"""A planned fleet's files: what a verified fleet leaves in its run folder, and how a fleet's compose file is written.

Shared by the planner (flasklab.planning: it plans fleets, runs them locally through services/cluster/run.sh, reads
their figures and emits them as deployment files) and the measurement (flasklab.measure.backends.fleet: it runs a
fleet as compose replicas). In a verification's run folder:

- ACCESS_LOG: the balancer's line per request (services/cluster/balance.sh says what a line holds);
- PIDS_FILE: each member's process as the host sees it and its address, "PID HOST:PORT" a line, in order;
- LOST_FILE: when the member lost on purpose (--lose-one) was killed (epoch s);
- FLEET_FILE: the compose replicas' compose file (--backend docker).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from flasklab.core.catalog import compose_environment, interpolate, read_compose

ACCESS_LOG = "cluster-access.log"
PIDS_FILE = "cluster-instances.pids"
LOST_FILE = "cluster-lost.txt"
FLEET_FILE = "fleet-compose.yml"
PORT = 8000
# What every instance is given, in both formats (the compose lab's x-server environment, its agent starting it now).
SERVER_ENVIRONMENT = {
    "HOST": "0.0.0.0",
    "PORT": str(PORT),
    "APP_MODULE": "flasklab_app.app:app",
    "LAB_SELF_URL": f"http://127.0.0.1:{PORT}",
    "LAB_SERVER_START": "now",
}


class _Plain(yaml.SafeDumper):
    """YAML without anchors (each manifest reads on its own), multi-line text as a literal block."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _text(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None)


_Plain.add_representer(str, _text)


def dump_all(documents: list[dict[str, Any]]) -> str:
    return yaml.dump_all(documents, Dumper=_Plain, sort_keys=False)


def service_image(root: Path, name: str, environment: dict[str, str] | None = None) -> str:
    """The image of the lab's compose service ``name``, as compose names it (LAB_IMAGE_TAG and the like filled in)."""
    service = (read_compose(root).get("services") or {}).get(name) or {}
    settings = compose_environment(root) if environment is None else environment
    return interpolate(str(service.get("image") or "flasklab-server:latest"), settings)


def compose_escaped(command: str) -> str:
    """A shell command as a compose file must hold it: its ``$`` doubled, so that the container's shell, not
    compose, reads $HOST and $PORT."""
    return command.replace("$", "$$")
