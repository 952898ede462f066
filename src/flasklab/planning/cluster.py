"""flasklab plan --verify --cluster: the whole plan on this machine, its N instances behind a real balancer.

``--verify`` offers one instance its share and assumes the balancer splits the traffic evenly. ``--cluster`` runs
the chosen option's instances, every one (local processes, each on a port of its own, pinned to the servers' CPUs
like any server of the lab), behind nginx (``services/cluster/run.sh``: its ``upstream`` with the balancing method
asked, round-robin, least-conn or random two, over keep-alive connections) and offers the plan's full rate to nginx
as Poisson arrivals. The fleet is one target of an ordinary run: the report, the generator's saturation flags and
the objective's verdict are the verification's. nginx writes a line per request (the instance that answered and
its own time), from which each instance's share of the requests, its p95 and the imbalance (the largest share over
the mean share) are read, over the step's warm-up and window. The fleet's CPU is the step's (every instance and
nginx, one process group); each instance's own is sampled over the same span (flasklab.measure.fleet_cpu). The
figures are written beside the run (flasklab.planning.balance.CLUSTER_FILE), where ``plan --balance-from`` learns the
imbalance from them.

A fleet the machine cannot host fairly is refused before anything starts (exit 2): more than MAX_INSTANCES
instances, or a planned CPU load (rate x CPU per request) above FAIR_CPU_SHARE of the servers' CPUs here. On a
2-core machine that leaves plans whose instances wait on I/O (``io``).
"""

from __future__ import annotations

import contextlib
import shlex
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from rich.table import Table

from flasklab.core.catalog import Server
from flasklab.core.fleet_files import ACCESS_LOG, LOST_FILE, PIDS_FILE
from flasklab.core.intervals import nearest_rank
from flasklab.planning.option import Option, Plan

BALANCE_METHODS = ("round-robin", "least-conn", "random-two")
MAX_INSTANCES = 16
FAIR_CPU_SHARE = 0.7
START_LAG_S = 1.0  # the load begins about this long after the fleet answers (the lab's health check, Locust's start)
MIN_P95_SAMPLES = 20
CLIENT_GONE = "499"  # nginx's status for a request whose client closed its connection before the answer


class ClusterError(ValueError):
    """A fleet this machine cannot host fairly; the message says why."""


@dataclass(frozen=True)
class InstanceFigures:
    """One instance as nginx saw it: the requests it answered, their share of all, their p95 (the instance's time)."""

    address: str
    requests: int
    share: float
    p95_ms: float | None
    cpu_cores: float | None = None  # its process tree's CPU over the load (flasklab.measure.fleet_cpu)


@dataclass(frozen=True)
class LossFigures:
    """The requests that ended after one instance was lost (--lose-one): how many, how many failed, their p95
    through nginx, and whether the survivors held the objective (at most 1 % failed, the p95 within it)."""

    lost_at: float  # epoch seconds
    requests: int
    failures: int
    p95_ms: float | None
    held: bool


@dataclass(frozen=True)
class ClusterFigures:
    method: str
    instances: list[InstanceFigures]
    imbalance: float | None  # the largest share over the mean share (1: even)
    moved: int  # requests nginx passed on to another instance after a failed one
    loss: LossFigures | None = None
    span: tuple[float, float] | None = None  # the first and last answer's end (epoch s): the load nginx saw


def with_cpu(figures: ClusterFigures, cores: Callable[[str, float, float], float | None]) -> ClusterFigures:
    """The figures with each instance's CPU over the load's span (``cores``: an instance's address, the span's start
    and end, as flasklab.measure.fleet_cpu.InstanceCpu.cores reads them)."""
    if figures.span is None:
        return figures
    members = [replace(member, cpu_cores=cores(member.address, *figures.span)) for member in figures.instances]
    return replace(figures, instances=members)


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


def fleet_server(server: Server, instances: int, method: str, folder: Path, lose_at_s: float | None = None) -> Server:
    """The fleet as one catalog-like server: run.sh starting ``instances`` copies of ``server``'s command behind
    nginx, its access log and instance ids in ``folder``; with ``lose_at_s``, its first instance killed that long
    after the fleet answers (the moment written to LOST_FILE)."""
    log, pids, lost = folder / ACCESS_LOG, folder / PIDS_FILE, folder / LOST_FILE
    losing = f"LAB_CLUSTER_LOSE_AT_S={lose_at_s:.1f} LAB_CLUSTER_LOST={shlex.quote(str(lost))} " if lose_at_s else ""
    command = (
        f"exec env LAB_CLUSTER_LOG={shlex.quote(str(log))} LAB_CLUSTER_PIDS={shlex.quote(str(pids))} {losing}"
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


def nearest_p95(times: list[float]) -> float | None:
    """The exact p95 from MIN_P95_SAMPLES times on, where it is more than their maximum."""
    return nearest_rank(sorted(times), 95) if len(times) >= MIN_P95_SAMPLES else None


def read_access_log(
    path: Path, method: str, lost_at: float | None = None, objective_p95_ms: float | None = None
) -> ClusterFigures:
    """Each instance's requests, share and p95 from nginx's lines (end, instance[,next...], its time[,next...],
    status, the request's whole time); a request passed on is counted at the instance that answered it, one the
    generator closed at the load's end (499) not at all. With ``lost_at``, the requests that ended after it too:
    failed (an error status or no instance) and their p95."""
    times: dict[str, list[float]] = defaultdict(list)
    moved, after, failed_after, ends = 0, [], 0, []
    for line in path.read_text().splitlines() if path.exists() else []:
        fields = line.replace(", ", ",").split(" ")  # nginx joins the instances it tried with ", "
        if len(fields) != 5:
            continue
        try:
            ended, total_ms = float(fields[0]), float(fields[4]) * 1000
        except ValueError:
            continue
        answered, elapsed = fields[1].split(","), fields[2].split(",")
        if fields[3] == CLIENT_GONE:  # the load's end: the generator closed what was still open, not an answer
            continue
        ends.append(ended)
        if lost_at is not None and ended >= lost_at:
            after.append(total_ms)
            failed_after += not fields[3].startswith(("2", "3"))
        if answered[-1] in ("", "-"):
            continue
        moved += len(answered) > 1
        with contextlib.suppress(ValueError):
            times[answered[-1]].append(float(elapsed[-1]) * 1000)
    counts = Counter({address: len(values) for address, values in times.items()})
    total = sum(counts.values())
    figures = [
        InstanceFigures(address, counts[address], counts[address] / total, nearest_p95(times[address]))
        for address in sorted(counts)
    ]
    shares = [figure.share for figure in figures]
    imbalance = max(shares) / statistics.mean(shares) if shares else None
    loss = None
    if lost_at is not None:
        p95 = nearest_p95(after)
        held = bool(after) and failed_after <= 0.01 * len(after) and p95 is not None
        held = held and (objective_p95_ms is None or (p95 is not None and p95 <= objective_p95_ms))
        loss = LossFigures(lost_at, len(after), failed_after, p95, held)
    return ClusterFigures(method, figures, imbalance, moved, loss, (min(ends), max(ends)) if ends else None)


def cluster_table(figures: ClusterFigures, instances: int) -> Table:
    table = Table(title=f"The fleet: {instances} instances behind nginx ({figures.method})")
    for column in ("instance", "requests", "share", "p95 ms (its own)", "CPU cores"):
        table.add_column(column, justify="left" if column == "instance" else "right")
    for figure in figures.instances:
        p95 = "—" if figure.p95_ms is None else f"{figure.p95_ms:,.1f}"
        cpu = "—" if figure.cpu_cores is None else f"{figure.cpu_cores:.3f}"
        table.add_row(figure.address, f"{figure.requests:,}", f"{figure.share:.1%}", p95, cpu)
    imbalance = "—" if figures.imbalance is None else f"{figures.imbalance:.2f}"
    table.caption = (
        f"imbalance (largest share / mean share) {imbalance}; {len(figures.instances)} of {instances} instances "
        f"answered; {figures.moved} requests passed on to another instance"
    )
    if (loss := figures.loss) is not None:
        p95 = "—" if loss.p95_ms is None else f"{loss.p95_ms:,.1f} ms"
        table.caption += (
            f"; one instance lost: {loss.requests:,} requests after it, {loss.failures} failed, p95 {p95}: N+1 "
            f"{'HELD' if loss.held else 'DID NOT HOLD'}"
        )
    return table


def lost_moment(folder: Path) -> float | None:
    """When run.sh killed the instance it was told to lose (None: it did not, or was not told to)."""
    try:
        return float((folder / LOST_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
