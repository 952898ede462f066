"""The law's basis: Little's law, the CPU budget and an M/M/c queue per instance, for a server of a declared kind.

Work per request W = io_ms + cpu_ms, and Little's law: requests in flight = R x W / 1000, so the servers hold at least
that many requests at once in total (workers, threads or connections). CPU cores needed = R x cpu_ms / 1000; an
instance has the catalog's budget (SERVER_CPUS, or the run's) and is planned at <= 70 % of it. cpu_ms is --cpu-ms plus
an assumed 0.5 ms for Flask and the server (measured here, 2026-11: 0.1 to 0.7 ms per ``hello``, but 5 to 7 ms on the
dev server that forks per request), or, without --cpu-ms, the run's measurement of that server: server_cpu / rps at its
lightest step (one user: a request has the core to itself; at low rps the idle server's CPU makes it err high). Each
instance is an M/M/c queue fed R / N requests per second (an even random share) with c slots, and its p95 = the work
(the CPU part stretched by 1 / (1 - CPU utilisation), the mean slowdown on a shared core) + the 95th percentile of the
Erlang C wait for a slot. That is pessimistic for constant work (M/D/c waits about half as long) and optimistic for
traffic burstier than Poisson. The plan is the fewest instances that meet the objective in the largest configuration
of the server's kind, then the smallest configuration that still does; it adds no failover headroom.

The kind is the catalog's declaration (label ``lab.kind``): ``processes`` serve one request per worker, ``threads``
a thread each, ``async`` a greenlet each (gevent, eventlet). Their caps are declared below.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from flasklab.core.analysis import load_text
from flasklab.core.catalog import Server
from flasklab.core.results import Target
from flasklab.planning.option import MAX_INSTANCES, Option, fewest, ms, number
from flasklab.planning.queueing import erlang_c
from flasklab.planning.request import PlanRequest

TARGET_CPU_UTILISATION = 0.7
ASSUMED_OVERHEAD_CPU_MS = 0.5
P95_TAIL = 0.05


@dataclass(frozen=True)
class Shape:
    """One instance's configuration: processes, and requests each holds at once (threads, connections or 1)."""

    processes: int
    per_process: int

    @property
    def slots(self) -> int:
        return self.processes * self.per_process


@dataclass(frozen=True)
class Kind:
    """How a server kind holds requests at once, and the configurations of one instance the law chooses among."""

    name: str
    unit: str
    per_process: int  # requests one process holds at once
    processes_per_core: int | None  # None: one process per core; else the most processes per core (the plan picks)

    def shapes(self, cpus: float) -> list[Shape]:
        """One instance's configurations, by slots ascending."""
        if self.processes_per_core is None:
            return [Shape(max(1, math.ceil(cpus)), self.per_process)]
        most = max(1, math.floor(self.processes_per_core * cpus))
        return [Shape(n, self.per_process) for n in range(1, most + 1)]

    def text(self, shape: Shape) -> str:
        if self.per_process == 1:
            return f"{shape.processes} {self.unit}"
        return f"{shape.processes} process{'es' if shape.processes > 1 else ''} x {shape.per_process} {self.unit}"


# A worker process costs a copy of the app and shares the core: the fewest that meet the objective, at most 4 per
# core (the lab's gunicorn-sync setting, measured at 39 of Little's 40 rps on `io`). Threads and greenlets cost a
# stack each: a full pool per process, one process per core (the GIL runs one thread's Python at a time), its
# spare slots absorbing bursts; 1000 connections is gunicorn's default for greenlet workers.
PROCESSES = Kind("processes", "workers", per_process=1, processes_per_core=4)
THREADS = Kind("threads", "threads", per_process=32, processes_per_core=None)
ASYNC = Kind("async", "connections", per_process=1000, processes_per_core=None)


KINDS = {kind.name: kind for kind in (PROCESSES, THREADS, ASYNC)}  # by the catalog's lab.kind values


def server_kind(server: Server) -> Kind:
    """The kind the catalog declares for the server (label lab.kind), which the catalog has validated."""
    if server.kind is None:
        raise ValueError(f"{server.name} declares no kind: only a catalog server (lab.kind) can be planned by the law")
    return KINDS[server.kind]


@dataclass(frozen=True)
class Estimate:
    """The law's view of one instance at a load: its p95 and what it is made of."""

    p95_ms: float
    work_ms: float
    wait_ms: float
    busy_slots: float
    cpu_utilisation: float


def estimate(rps: float, io_ms: float, cpu_ms: float, slots: int, cpus: float) -> Estimate | None:
    """One instance's p95 at ``rps`` (None: its CPU or its slots cannot keep up)."""
    cpu_utilisation = rps * cpu_ms / 1000 / cpus
    if cpu_utilisation >= 1:
        return None
    work_ms = io_ms + cpu_ms / (1 - cpu_utilisation)
    offered = rps * work_ms / 1000
    if offered >= slots:
        return None
    waits = erlang_c(slots, offered)
    drain_per_s = (slots - offered) / (work_ms / 1000)  # P(wait > t) = waits x exp(-drain x t)
    wait_ms = 1000 * math.log(waits / P95_TAIL) / drain_per_s if waits > P95_TAIL else 0.0
    return Estimate(work_ms + wait_ms, work_ms, wait_ms, offered, cpu_utilisation)


def fits(found: Estimate | None, p95_ms: float, slots: int, max_utilisation: float) -> bool:
    return (
        found is not None
        and found.cpu_utilisation <= TARGET_CPU_UTILISATION
        and found.busy_slots <= max_utilisation * slots
        and found.p95_ms <= p95_ms
    )


@dataclass(frozen=True)
class Cpu:
    """CPU per request the law uses for one server, and where it comes from."""

    ms: float
    source: str


def request_cpu(request: PlanRequest, target: Target | None) -> Cpu:
    """--cpu-ms plus the assumed overhead; without --cpu-ms, the run's measurement of the server where it has one."""
    if request.cpu_ms is None and target is not None:
        measured = [s for s in target.steps if s.server_cpu is not None and s.rps > 0]
        first = min(measured, key=lambda s: s.load, default=None)
        if first is not None and first.server_cpu is not None:
            source = f"measured: {first.server_cpu:.3g} cores / {number(first.rps)} rps at {load_text(first)}"
            return Cpu(first.server_cpu / first.rps * 1000, source)
    given = request.cpu_ms or 0.0
    return Cpu(given + ASSUMED_OVERHEAD_CPU_MS, f"{given:g} ms + {ASSUMED_OVERHEAD_CPU_MS:g} ms assumed overhead")


def law_bound(slots: int | None, io_ms: float, cpu_ms: float, cpus: float) -> float | None:
    """The most rps one instance completes: Little's law on its slots, and its CPU (None: unbounded)."""
    bounds = [slots * 1000 / (io_ms + cpu_ms)] if slots is not None and io_ms + cpu_ms > 0 else []
    bounds += [cpus * 1000 / cpu_ms] if cpu_ms > 0 else []
    return min(bounds, default=None)


def law_option(server: Server, request: PlanRequest, io_ms: float, cpu: Cpu, cpus: float) -> Option:
    """The fewest instances at the largest configuration, then the smallest configuration, that meet the objective."""
    kind = server_kind(server)
    shapes = kind.shapes(cpus)
    option = Option(server.name, kind.name, "law", cpu_ms_per_request=cpu.ms, cpu_source=cpu.source)

    def at(instances: int, shape: Shape) -> Estimate | None:
        return estimate(request.share(instances), io_ms, cpu.ms, shape.slots, cpus)

    if request.p95_ms <= io_ms + cpu.ms:
        option.reason = f"cannot: a request alone takes {ms(io_ms + cpu.ms)} ms (CPU {cpu.source})"
        return option

    def fit(instances: int, shape: Shape) -> bool:
        return fits(at(instances, shape), request.p95_ms, shape.slots, request.max_utilisation)

    instances = fewest(lambda n: fit(n, shapes[-1]), MAX_INSTANCES)
    if instances is None:
        option.reason = f"cannot within {MAX_INSTANCES:,} instances"
        return option
    shape = shapes[bisect.bisect_left([fit(instances, s) for s in shapes], True)]
    found = at(instances, shape)
    assert found is not None  # the search found that it fits
    load = request.share(instances)
    option.reason = (
        f"{instances} instance(s) of {kind.text(shape)}: {number(load)} rps each, {found.busy_slots:.3g} of "
        f"{shape.slots} {kind.unit} busy ({found.busy_slots / shape.slots:.0%}), CPU {found.cpu_utilisation:.0%} of "
        f"{cpus:g} core(s) at {ms(cpu.ms)} ms per request ({cpu.source}); p95 = {ms(found.work_ms)} ms of "
        f"work + {ms(found.wait_ms)} ms wait for a slot (Erlang C)"
    )
    option.workers, option.instances, option.total_workers = shape.slots, instances, shape.slots * instances
    option.expected_p95_ms, option.shape, option.rps_per_instance = found.p95_ms, kind.text(shape), load
    option.law_instances, option.law_bound_rps = instances, law_bound(shape.slots, io_ms, cpu.ms, cpus)
    option.utilisation, option.n_plus_one = found.busy_slots / shape.slots, instances + 1
    option.processes, option.per_process = shape.processes, shape.per_process
    return option


def outside_catalog(name: str, cpu: Cpu) -> Option:
    """A run's server the catalog does not know (a --target URL): the law needs its kind, a run can still measure it."""
    reason = "not in the catalog: the law needs its worker model"
    return Option(name, "unknown", "law", reason=reason, cpu_ms_per_request=cpu.ms, cpu_source=cpu.source)
