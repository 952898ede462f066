"""flasklab plan --verify --cluster: the whole plan on this machine, its N instances behind a real balancer.

``--verify`` offers one instance its share and assumes the balancer splits the traffic evenly. ``--cluster`` runs
the chosen option's instances, every one (local processes, each on a port of its own, pinned to the servers' CPUs
like any server of the lab), behind nginx (``services/cluster/run.sh``: its ``upstream`` with the balancing method
asked, round-robin, least-conn or random two, over keep-alive connections) and offers the plan's full rate to nginx
as Poisson arrivals. The fleet is one target of an ordinary run: the report, the generator's saturation flags and
the objective's verdict are the verification's. nginx writes a line per request (the instance that answered and
its own time), from which each instance's share of the requests, its p95 and the imbalance (the largest share over
the mean share) are read, over the step's warm-up and window. The fleet's CPU is the step's (every instance and
nginx, one process group); an instance's own is not measured.

A fleet the machine cannot host fairly is refused before anything starts (exit 2): more than MAX_INSTANCES
instances, or a planned CPU load (rate x CPU per request) above FAIR_CPU_SHARE of the servers' CPUs here. On a
2-core machine that leaves plans whose instances wait on I/O (``io``).
"""

from __future__ import annotations

import math
import shlex
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

from rich.table import Table

from flasklab.core.catalog import Server
from flasklab.planning.option import Option, Plan

BALANCE_METHODS = ("round-robin", "least-conn", "random-two")
MAX_INSTANCES = 16
FAIR_CPU_SHARE = 0.7
ACCESS_LOG = "cluster-access.log"
PIDS_FILE = "cluster-instances.pids"
MIN_P95_SAMPLES = 20


class ClusterError(ValueError):
    """A fleet this machine cannot host fairly; the message says why."""


@dataclass(frozen=True)
class InstanceFigures:
    """One instance as nginx saw it: the requests it answered, their share of all, their p95 (the instance's time)."""

    address: str
    requests: int
    share: float
    p95_ms: float | None


@dataclass(frozen=True)
class ClusterFigures:
    method: str
    instances: list[InstanceFigures]
    imbalance: float | None  # the largest share over the mean share (1: even)
    moved: int  # requests nginx passed on to another instance after a failed one


def unfair(plan: Plan, option: Option, server_cpus: int) -> str | None:
    """Why this machine cannot host the option's fleet fairly (None: it can)."""
    instances = option.instances or 0
    if instances > MAX_INSTANCES:
        return f"{instances} instances: this machine hosts at most {MAX_INSTANCES} for a fair measurement"
    cores = plan.request.rps * (option.cpu_ms_per_request or 0.0) / 1000
    if cores > FAIR_CPU_SHARE * server_cpus:
        return (
            f"the fleet needs {cores:.2g} cores of CPU at {plan.request.rps:g} rps "
            f"({option.cpu_ms_per_request:g} ms a request); the servers have {server_cpus} CPU(s) here, "
            f"{FAIR_CPU_SHARE:.0%} of which is the most a fair measurement loads: verify one instance (--verify)"
        )
    return None


def fleet_server(server: Server, instances: int, method: str, folder: Path) -> Server:
    """The fleet as one catalog-like server: run.sh starting ``instances`` copies of ``server``'s command behind
    nginx, its access log and instance ids in ``folder``."""
    log, pids = folder / ACCESS_LOG, folder / PIDS_FILE
    command = (
        f"exec env LAB_CLUSTER_LOG={shlex.quote(str(log))} LAB_CLUSTER_PIDS={shlex.quote(str(pids))} "
        f"sh services/cluster/run.sh {instances} {method} {shlex.quote(server.command)}"
    )
    return replace(
        server,
        name=f"{server.name}-x{instances}",
        worker_model=f"{instances} x ({server.worker_model}) behind nginx, {method}",
        concurrency=None if server.concurrency is None else server.concurrency * instances,
        command=command,
        requires=(*server.requires, "nginx"),
        reload=None,
    )


def read_access_log(path: Path, method: str) -> ClusterFigures:
    """Each instance's requests, share and p95 from nginx's lines (end, instance[, next...], time[, next...],
    status); a request passed on is counted at the instance that answered it."""
    times: dict[str, list[float]] = defaultdict(list)
    moved = 0
    for line in path.read_text().splitlines() if path.exists() else []:
        fields = line.replace(", ", ",").split(" ")  # nginx joins the instances it tried with ", "
        if len(fields) != 4:
            continue
        answered, elapsed = fields[1].split(","), fields[2].split(",")
        if answered[-1] in ("", "-"):
            continue
        moved += len(answered) > 1
        try:
            times[answered[-1]].append(float(elapsed[-1]) * 1000)
        except ValueError:
            continue
    counts = Counter({address: len(values) for address, values in times.items()})
    total = sum(counts.values())
    figures = []
    for address in sorted(counts):
        ordered = sorted(times[address])  # the exact p95 (nearest rank), from 20 requests: more than their maximum
        p95 = ordered[math.ceil(0.95 * len(ordered)) - 1] if len(ordered) >= MIN_P95_SAMPLES else None
        figures.append(InstanceFigures(address, counts[address], counts[address] / total, p95))
    shares = [figure.share for figure in figures]
    imbalance = max(shares) / statistics.mean(shares) if shares else None
    return ClusterFigures(method, figures, imbalance, moved)


def cluster_table(figures: ClusterFigures, instances: int) -> Table:
    table = Table(title=f"The fleet: {instances} instances behind nginx ({figures.method})")
    for column in ("instance", "requests", "share", "p95 ms (its own)"):
        table.add_column(column, justify="left" if column == "instance" else "right")
    for figure in figures.instances:
        p95 = "—" if figure.p95_ms is None else f"{figure.p95_ms:,.1f}"
        table.add_row(figure.address, f"{figure.requests:,}", f"{figure.share:.1%}", p95)
    imbalance = "—" if figures.imbalance is None else f"{figures.imbalance:.2f}"
    table.caption = (
        f"imbalance (largest share / mean share) {imbalance}; {len(figures.instances)} of {instances} instances "
        f"answered; {figures.moved} requests passed on to another instance"
    )
    return table
