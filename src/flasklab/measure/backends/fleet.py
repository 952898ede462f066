"""flasklab plan --verify --cluster --backend docker: the planned fleet as compose replicas behind nginx.

The local backend runs a fleet as processes (services/cluster/run.sh); this runs the same fleet the way a compose
user deploys one: the chosen server's service scaled to the plan's instances (``docker compose up --scale
server=N``), each replica a container with the lab's budget (SERVER_CPUS, SERVER_MEM, pinned to SERVER_CPUSET like
every server of the compose lab, non-root, read-only, no capability), and a balancer container (the lab's nginx
image running services/cluster/balance.sh) that resolves the service's name to every replica, waits until each
answers and balances over them with the method asked, published on a 127.0.0.1 port. The generator runs on the
host, pinned to LOAD_CPUSET, as for the docker backend.

The compose file is written into the run's folder (FLEET_FILE) under a project of its own, and the fleet is taken
down when its target stops, with the balancer's access-log lines kept first (ACCESS_LOG:
the same figures as a local fleet's). Each replica's first process, as the host sees it, and its address go to
PIDS_FILE for flasklab.measure.fleet_cpu; the fleet's usage (its step's CPU and memory) is every container's
process tree, balancer included, as a local fleet's is its process group. ``--lose-one`` kills the first replica
(``docker kill``) that long after the fleet answers.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from flasklab.core.catalog import Server
from flasklab.core.fleet_files import (
    ACCESS_LOG,
    FLEET_FILE,
    LOST_FILE,
    PIDS_FILE,
    PORT,
    SERVER_ENVIRONMENT,
    compose_escaped,
    dump_all,
    service_image,
)
from flasklab.measure.backends.base import Backend, RunningTarget, TargetFailed, Usage
from flasklab.measure.backends.docker import (
    BUILD_TIMEOUT_S,
    DockerBackend,
    compose_command,
    failure_reason,
    without_escapes,
)
from flasklab.measure.fleet_cpu import tree_usage

BALANCER_SERVICE = "nginx-gunicorn-sync"  # the lab's service whose image has nginx
BALANCER_PORT = 8080
HARDENED = {"read_only": True, "tmpfs": ["/tmp"], "cap_drop": ["ALL"], "security_opt": ["no-new-privileges:true"]}


def fleet_compose(
    server: Server, images: tuple[str, str], method: str, instances: int, backend: Backend
) -> dict[str, Any]:
    """The fleet's compose file: the server's replicas and the balancer, with the lab's budget and hardening."""
    pinned = {"cpuset": ",".join(map(str, backend.pinning["server"]))} if backend.pinning else {}
    image, balancer_image = images
    return {
        "services": {
            "server": {
                "image": image,
                "pull_policy": "never",
                "command": [compose_escaped(server.command)],
                "environment": dict(SERVER_ENVIRONMENT),
                "cpus": backend.budget["cpus"],
                "mem_limit": backend.budget["memory"],
                **pinned,
                **HARDENED,
            },
            "balancer": {
                "image": balancer_image,
                "pull_policy": "never",
                "entrypoint": ["sh", "/lab/services/cluster/balance.sh"],
                "command": [method, "/dev/stdout", str(instances), f"server:{PORT}"],
                "environment": {"HOST": "0.0.0.0", "PORT": str(BALANCER_PORT)},
                "ports": [f"127.0.0.1::{BALANCER_PORT}"],  # a free port of the engine's choosing
                "depends_on": ["server"],
                **pinned,
                **HARDENED,
            },
        }
    }


class FleetTarget(RunningTarget):
    """The running fleet: its balancer's URL; its replicas' processes, usage and log; taken down on stop."""

    def __init__(self, backend: ComposeFleetBackend, url: str) -> None:
        self.backend, self.url = backend, url
        self.members: list[tuple[int, str]] = []  # (host pid, address) of each replica
        self.balancer_pid: int | None = None
        self.loss: threading.Timer | None = None
        self.stopped = False

    def wait_healthy(self, timeout_s: float) -> None:
        """The balancer answers once every replica does (balance.sh waits on them); then their processes are read,
        and the loss, if asked, is timed from now."""
        super().wait_healthy(timeout_s)
        self.members = self.backend.containers("server")
        balancer = self.backend.containers("balancer")
        self.balancer_pid = balancer[0][0] if balancer else None
        lines = "".join(f"{pid} {address}\n" for pid, address in self.members)
        (self.backend.folder / PIDS_FILE).write_text(lines)
        if self.backend.lose_at_s is not None and self.loss is None:
            self.loss = threading.Timer(self.backend.lose_at_s, self.lose_first)
            self.loss.daemon = True
            self.loss.start()

    def lose_first(self) -> None:
        """Kill the first replica (SIGKILL, its whole container), and note when."""
        first = self.backend.fleet("ps", "-q", "server", check=False).stdout.split()
        if first:
            subprocess.run(["docker", "kill", sorted(first)[0]], capture_output=True, timeout=30)
            (self.backend.folder / LOST_FILE).write_text(f"{time.time():.3f}\n")

    def alive(self) -> bool:
        return self.balancer_pid is None or psutil.pid_exists(self.balancer_pid)

    def usage(self) -> Usage | None:
        """Every container's process tree: the replicas' and the balancer's CPU seconds and resident memory."""
        pids = [pid for pid, _ in self.members] + ([self.balancer_pid] if self.balancer_pid else [])
        if not pids:
            return None
        trees = [found for pid in pids if (found := tree_usage(pid)) is not None]
        cpu, memory = sum(cpu for cpu, _ in trees), sum(memory for _, memory in trees)
        return Usage(cpu, memory, time.monotonic())

    def stop(self) -> None:
        """The balancer's lines kept (its access log), then the fleet taken down; safe to call twice."""
        if self.stopped:
            return
        self.stopped = True
        if self.loss is not None:
            self.loss.cancel()
        logs = self.backend.fleet("logs", "--no-color", "--no-log-prefix", "balancer", check=False).stdout
        (self.backend.folder / ACCESS_LOG).write_text(without_escapes(logs))
        self.backend.fleet("down", "-v", "--timeout", "5", check=False)

    def log_tail(self, lines: int = 40) -> str:
        return without_escapes(
            self.backend.fleet("logs", "--no-color", "--tail", str(lines), check=False).stdout
        ).strip()


class ComposeFleetBackend(Backend):
    """One fleet on the docker backend: the server's image and nginx's built from the lab's compose file (its
    budget and CPU split too), the fleet up under a compose project of its own from the run's folder."""

    name = "docker"
    memory_measure = "rss"  # every container's process tree, read from the host

    def __init__(
        self,
        root: Path,
        folder: Path,
        server: Server,
        instances: int,
        method: str,
        lose_at_s: float | None = None,
        report: Callable[[str], None] = print,
    ) -> None:
        self.lab = DockerBackend(root, folder / "logs", report)
        self.root, self.report, self.budget, self.pinning = root, report, self.lab.budget, self.lab.pinning
        self.folder, self.server, self.instances = folder, server, instances
        self.method, self.lose_at_s = method, lose_at_s
        self.project = f"flasklab-fleet-{os.getpid()}-{int(time.time())}"

    def unavailable(self, server: Server) -> str | None:
        return None

    def prepare(self, servers: list[Server]) -> None:
        self.report(f"building {self.server.name}'s image and nginx's (docker compose build; cached after the first)")
        self.lab.compose("build", self.server.name, BALANCER_SERVICE, timeout=BUILD_TIMEOUT_S)

    def generator_command(self, command: list[str]) -> list[str]:
        return self.lab.generator_command(command)

    def fleet(self, *args: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        command = [*compose_command(), "-p", self.project, "-f", str(self.folder / FLEET_FILE), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=self.folder)
        if check and result.returncode != 0:
            raise TargetFailed(f"the fleet's {' '.join(args[:1])} failed: {failure_reason(result)}")
        return result

    def containers(self, service: str) -> list[tuple[int, str]]:
        """Each container of ``service``: its first process as the host sees it, and its address on the fleet's
        network (the replicas' port), in the order of their ids."""
        ids = sorted(self.fleet("ps", "-q", service, check=False).stdout.split())
        if not ids:
            return []
        form = "{{.State.Pid}} {{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
        inspected = subprocess.run(["docker", "inspect", "--format", form, *ids], capture_output=True, text=True)
        found = []
        for line in inspected.stdout.splitlines():
            pid, _, address = line.partition(" ")
            if pid.isdigit() and int(pid) > 0:
                found.append((int(pid), f"{address}:{PORT}"))
        return found

    def start(self, server: Server) -> FleetTarget:
        images = (service_image(self.root, self.server.name), service_image(self.root, BALANCER_SERVICE))
        document = fleet_compose(self.server, images, self.method, self.instances, self)
        (self.folder / FLEET_FILE).write_text(dump_all([document]))
        self.fleet("up", "-d", "--scale", f"server={self.instances}")
        published = self.fleet("port", "balancer", str(BALANCER_PORT)).stdout.strip().rpartition(":")[2]
        return FleetTarget(self, f"http://127.0.0.1:{published}")

    def close(self) -> None:
        """The fleet is taken down by its target; anything left of the project (an interrupted start) goes too."""
        if (self.folder / FLEET_FILE).exists():
            self.fleet("down", "-v", "--timeout", "5", check=False)
