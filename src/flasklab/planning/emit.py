"""flasklab plan --emit: the chosen option's fleet as deployment files, for a fleet that outgrows one machine.

``kubernetes`` writes one document of manifests (``fleet.yaml``): a Deployment of the chosen server (the plan's
instances as replicas, its command and worker setting as the lab runs it, the lab's budget as CPU and memory requests
and limits, readiness on /health, the lab's hardening: non-root, read-only root, no privilege escalation, every
capability dropped) and a Service in front of it; then the verification's replay (``replay.yaml``): a ConfigMap
holding a locustfile that offers the plan's full rate of the planned request, and a LocustTest for the Locust
Kubernetes operator (locust.io/v2) that runs it against the Service. ``compose`` writes a ``docker-compose.yml`` with
the same server as a service of that many replicas behind nginx (round-robin over the replicas' addresses), the
budget as each replica's limits. Both come with a README.md saying how to run them.

The images are the lab's own (``flasklab-server``, built by ``docker compose build`` in the lab's folder): a cluster
needs them pushed to a registry it pulls from (``--emit`` writes the names; the README says so).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from flasklab.core.catalog import Server, compose_environment, load_servers
from flasklab.core.fleet_files import PORT, SERVER_ENVIRONMENT, compose_escaped, dump_all, service_image
from flasklab.planning.option import Option, Plan

EMIT_FORMATS = ("kubernetes", "compose")
SERVICE_PORT = 80
LOCUST_IMAGE = f"locustio/locust:{version('locust')}"  # the version the lab pins and runs
USERS_PER_WORKER = 50  # the replay's users per Locust worker (each offers rate / users requests a second)
RPS_PER_USER = 20.0  # ... and at most this many requests a second each, so that a slow answer does not cap the rate
REPLAY_RUN_TIME = "5m"


DEV_SOFTWARE = "werkzeug"  # the dev server: measured beside the others, never written as a production fleet


class EmitError(ValueError):
    """A fleet that cannot be written (an option without instances, a folder that cannot be written)."""


def production_option(plan: Plan, servers: dict[str, Server]) -> Option:
    """The option a fleet is written for when none is named: the recommended one, unless it is the dev server (not for
    production), then the best offered option of another server (EmitError: none)."""
    offered = [option for option in plan.options if option.instances is not None]
    ranked = sorted(offered, key=lambda option: not option.recommended)
    for option in ranked:
        server = servers.get(option.server)
        if server is not None and server.software != DEV_SOFTWARE:
            return option
    raise EmitError("the plan offers no option of a production server (the dev server is not one)")


@dataclass(frozen=True)
class Fleet:
    """What the files describe: the option, its server as the lab runs it, the budget and the planned traffic."""

    option: Option
    server: Server
    image: str
    cpus: str
    memory: str
    rate_rps: float
    path: str  # the planned request: /io?ms=..., /cpu?ms=..., /hello
    request_ms: float  # its own length: blocking I/O and CPU

    @property
    def name(self) -> str:
        return f"flasklab-{self.server.name}"

    @property
    def replicas(self) -> int:
        assert self.option.instances is not None
        return self.option.instances

    @property
    def users(self) -> int:
        """Enough users that each, waiting for its answers, can still offer its share: the rate times twice the
        predicted p95 (at least the request's own length), and at most RPS_PER_USER a second each."""
        latency_s = max(self.option.expected_p95_ms or 0.0, self.request_ms, 10.0) / 1000
        return max(1, math.ceil(self.rate_rps * 2 * latency_s), math.ceil(self.rate_rps / RPS_PER_USER))


def request_path(plan: Plan) -> str:
    """The planned request as the lab app serves it: its blocking I/O, or its CPU, or the smallest answer."""
    request = plan.request
    if request.cpu_ms:
        return f"/cpu?ms={round(request.cpu_ms)}"
    if plan.workload.io_ms:
        return f"/io?ms={round(plan.workload.io_ms)}"
    return "/hello"


def planned_settings(option: Option, server: Server) -> dict[str, int]:
    """The worker settings that make one instance the option's configuration: a tuning's setting; the law's processes
    and requests per process on the server's command's settings (one setting: the processes of a process server, the
    slots of another; two: processes, then requests per process); none for a measured option (the catalog's)."""
    variable, _, value = option.setting.partition("=")
    if variable and value.isdigit():
        return {variable: int(value)}
    if option.processes is None or option.per_process is None:
        return {}
    names = list(server.worker_settings)
    if len(names) == 1:
        one = option.processes if server.kind == "processes" else option.processes * option.per_process
        return {names[0]: one}
    if len(names) == 2:
        return {names[0]: option.processes, names[1]: option.per_process}
    return {}


def fleet_of(plan: Plan, option: Option, root: Path, budget: dict[str, str]) -> Fleet:
    """The fleet of ``option`` (offered: it has instances): its server as the catalog runs it with the option's worker
    settings, and its image from the compose file."""
    if option.instances is None:
        raise EmitError(f"{option.server} has no planned instances: {option.reason or 'not offered'}")
    environment = compose_environment(root)
    catalog = load_servers(root, environment)
    if option.server not in catalog:
        raise EmitError(f"{option.server} is not in the catalog: its command is unknown")
    server = load_servers(
        root, environment | {k: str(v) for k, v in planned_settings(option, catalog[option.server]).items()}
    )[option.server]
    image = service_image(root, server.name, environment)
    work_ms = plan.workload.io_ms + (plan.request.cpu_ms or 0.0)
    return Fleet(option, server, image, budget["cpus"], budget["memory"], plan.request.rps, request_path(plan), work_ms)


def kubernetes_memory(memory: str) -> str:
    """Compose's memory (512m, 1g) as a Kubernetes quantity (512Mi, 1Gi)."""
    text = memory.strip()
    units = {"k": "Ki", "m": "Mi", "g": "Gi"}
    if text and text[-1].lower() in units:
        return text[:-1] + units[text[-1].lower()]
    return text


def deployment(fleet: Fleet) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": fleet.name, "app.kubernetes.io/part-of": "flasklab"}
    resources = {"cpu": fleet.cpus, "memory": kubernetes_memory(fleet.memory)}
    container = {
        "name": "server",
        "image": fleet.image,
        "args": [fleet.server.command],  # the image's entry point (the lab's agent) runs it, as in compose
        "env": [{"name": name, "value": value} for name, value in SERVER_ENVIRONMENT.items()],
        "ports": [{"name": "http", "containerPort": PORT}],
        "resources": {"requests": resources, "limits": resources},
        "readinessProbe": {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 5},
        "securityContext": {
            "runAsNonRoot": True,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": fleet.name, "labels": labels},
        "spec": {
            "replicas": fleet.replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": fleet.name}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "automountServiceAccountToken": False,
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }


def service(fleet: Fleet) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": fleet.name},
        "spec": {
            "selector": {"app.kubernetes.io/name": fleet.name},
            "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": "http"}],
        },
    }


def replay_locustfile(fleet: Fleet) -> str:
    """A plain locustfile that offers the plan's rate of its request: users at a constant throughput each."""
    each = fleet.rate_rps / fleet.users
    return (
        f'"""The plan\'s verification, replayed: {fleet.rate_rps:g} requests a second of {fleet.path} in all, from\n'
        f'{fleet.users} users at {each:.4g} a second each (written by flasklab plan --emit)."""\n\n'
        "from locust import FastHttpUser, constant_throughput, task\n\n\n"
        "class PlannedRequest(FastHttpUser):\n"
        f"    wait_time = constant_throughput({each:.6g})\n\n"
        "    @task\n"
        "    def planned(self) -> None:\n"
        f'        self.client.get("{fleet.path}")\n'
    )


def replay_manifests(fleet: Fleet) -> list[dict[str, Any]]:
    """The ConfigMap with the replay's locustfile and the LocustTest that runs it against the fleet's Service."""
    workers = max(1, math.ceil(fleet.users / USERS_PER_WORKER))
    locustfile = "/lotest/src/replay.py"
    host = f"http://{fleet.name}:{SERVICE_PORT}"
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{fleet.name}-replay"},
            "data": {"replay.py": replay_locustfile(fleet)},
        },
        {
            "apiVersion": "locust.io/v2",
            "kind": "LocustTest",
            "metadata": {"name": f"flasklab.{fleet.server.name}"},
            "spec": {
                "image": LOCUST_IMAGE,
                "master": {
                    "command": f"--locustfile {locustfile} --host {host} --users {fleet.users} "
                    f"--spawn-rate {fleet.users} --run-time {REPLAY_RUN_TIME}",
                    "autostart": True,
                },
                "worker": {"command": f"--locustfile {locustfile}", "replicas": workers},
                "testFiles": {"configMapRef": f"{fleet.name}-replay"},
            },
        },
    ]


NGINX_CONF = """events {}
http {
  upstream fleet { server server:8000; }
  server { listen 8080; location / { proxy_pass http://fleet; } }
}
"""


def compose_document(fleet: Fleet) -> dict[str, Any]:
    """The fleet as a compose file: the server's replicas behind nginx on 127.0.0.1:8080 (nginx resolves the service
    name to every replica's address and balances round-robin over them)."""
    health = f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{PORT}/health', timeout=2)"
    return {
        "name": fleet.name,
        "configs": {"nginx.conf": {"content": NGINX_CONF}},
        "services": {
            "server": {
                "image": fleet.image,
                "command": [compose_escaped(fleet.server.command)],
                "environment": dict(SERVER_ENVIRONMENT),
                "deploy": {
                    "replicas": fleet.replicas,
                    "resources": {"limits": {"cpus": fleet.cpus, "memory": fleet.memory}},
                },
                "read_only": True,
                "tmpfs": ["/tmp"],
                "cap_drop": ["ALL"],
                "security_opt": ["no-new-privileges:true"],
                "healthcheck": {"test": ["CMD", "python3", "-c", health], "interval": "10s"},
            },
            "balancer": {
                "image": "nginx:stable",
                "configs": [{"source": "nginx.conf", "target": "/etc/nginx/nginx.conf"}],
                "ports": ["127.0.0.1:8080:8080"],
                "depends_on": {"server": {"condition": "service_healthy"}},
            },
        },
    }


def readme(fleet: Fleet, kind: str, plan: Plan) -> str:
    option = fleet.option
    head = (
        f"# {fleet.server.name} x {fleet.replicas}: the plan for {plan.request.rps:g} rps within p95 "
        f"{plan.request.p95_ms:g} ms\n\nWritten by `flasklab plan --emit {kind}`: {fleet.replicas} instances of "
        f"{fleet.server.name} ({option.setting or option.shape}), each {fleet.cpus} CPU and {fleet.memory} of "
        f"memory (the lab's budget), at {plan.request.share(fleet.replicas):.4g} rps each; the plan predicted a p95 of "
        f"{option.expected_p95_ms or float('nan'):.0f} ms. Image: `{fleet.image}`, built by `docker compose build "
        f"{fleet.server.name}` in the lab's folder.\n\n"
    )
    if kind == "kubernetes":
        return head + (
            "Push the image to a registry the cluster pulls from (and set it in `fleet.yaml`), then:\n\n"
            "    kubectl apply -f fleet.yaml\n"
            f"    kubectl rollout status deployment/{fleet.name}\n\n"
            "The replay (the verification at the planned rate) needs the Locust Kubernetes operator (its Helm chart, "
            "`locust-operator`, installs the LocustTest resource):\n\n"
            "    kubectl apply -f replay.yaml\n"
            f"    kubectl get locusttest flasklab.{fleet.server.name} -w\n\n"
            "Read the p95 from the master's log or web UI and hold it against the plan's.\n"
        )
    return head + (
        "    docker compose up -d --wait\n\nThe fleet answers on http://127.0.0.1:8080 (nginx, round-robin over the "
        f"replicas). Replay the planned rate with Locust: `locust -f replay.py --headless -H http://127.0.0.1:8080 "
        f"--users {fleet.users} --spawn-rate {fleet.users} --run-time {REPLAY_RUN_TIME}`.\n"
    )


def write_fleet(fleet: Fleet, kind: str, plan: Plan, folder: Path) -> list[Path]:
    """Write the fleet's files into ``folder`` (made if missing); the paths written. EmitError when it cannot."""
    if kind not in EMIT_FORMATS:
        raise EmitError(f"unknown format {kind!r}: give one of {', '.join(EMIT_FORMATS)}")
    documents: dict[str, str] = {"README.md": readme(fleet, kind, plan), "replay.py": replay_locustfile(fleet)}
    if kind == "kubernetes":
        documents["fleet.yaml"] = dump_all([deployment(fleet), service(fleet)])
        documents["replay.yaml"] = dump_all(replay_manifests(fleet))
    else:
        documents["docker-compose.yml"] = dump_all([compose_document(fleet)])
    try:
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for name, text in documents.items():
            (folder / name).write_text(text)
            written.append(folder / name)
    except OSError as error:
        raise EmitError(f"cannot write into {folder}: {error.strerror or error}") from error
    return written
