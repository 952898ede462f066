"""The capacity planner: the workers per instance and the instances that serve R rps within a p95 objective.

A pure function of the request, the catalog and, optionally, one run's results.json. Each server gets one option,
on one of two bases, and every option says the numbers it used.

**measured** (``--from DIR``): the run measured the server on the scenario of the request's shape with the same ``ms``:
the first scenario of locustfiles/ whose LAB_SCENARIO declares that work (``io``, blocking I/O only, with an ``ms``: the
``io`` scenario; ``cpu``, CPU only, with an ``ms``: ``cpu``; ``none``: ``hello``), and at least one usable step of it
(flasklab.core.analysis: not generator-bound, failures <= 1 %, steady, stable, enough samples) met the objective. The
plan is a prediction, not a reading of the curve: the service time is measured at a usable step where nothing queued (in
a closed loop the lightest with enough samples for a p99 whose users all had a slot), as its exact p50, p95, p99, max
and mean; the slots are the configured concurrency (fewer when the probe saw fewer, and at most the cores' worth when a
request keeps a core busy); each instance is then an M/G/c queue fed Poisson arrivals at R / N
(flasklab.planning.queueing). When the cores bound a server whose requests are time-sliced (threads under the GIL,
worker processes beyond the cores: the catalog's kinds ``threads`` and ``processes``), its admitted requests take turns
on them instead: processor sharing, whose tail is longer than a queue's taken in turn (simulated, seeded; ``async``
servers run each request's CPU work to its end, first come first served). Instances = the fewest N whose predicted p95
meets the objective with the slots busy at most ``--max-utilisation``, the CPU within it and no instance offered more
than it was measured completing (its peak, or a lower bound above it: a model fitted at light load can promise more); a
thin basis (quick profile, fewer than THIN_SAMPLES service-time samples, a wide rps interval, one usable step) must meet
it with THIN_MARGIN to spare. An open-model run also bounds N from below by its curve: R / the highest throughput a
stable step kept up with (its completions per second, not the rate offered) within the objective. The expected p95 and
p99 are the model's at R / N; the closed loop's capacity step within the objective is shown beside them as a check. A
run that does not cover the request (another scenario or ``ms``, a failed target, no step within the objective) is said
to, and the law plans that server. ``flasklab plan --verify`` runs one instance at its share (whole rps) and judges the
model's prediction at that rate (within 25 % of the measured p95: flasklab.planning.verify) as well as the objective.

**law**: work per request W = io_ms + cpu_ms, and Little's law: requests in flight = R x W / 1000, so the servers
hold at least that many requests at once in total (workers, threads or connections). CPU cores needed = R x cpu_ms /
1000; an instance has the catalog's budget (SERVER_CPUS, or the run's) and is planned at <= 70 % of it. cpu_ms is
--cpu-ms plus an assumed 0.5 ms for Flask and the server (measured here, 2026-11: 0.1 to 0.7 ms per ``hello``, but
5 to 7 ms on the dev server that forks per request), or, without --cpu-ms, the run's measurement of that server:
server_cpu / rps at its lightest step (one user: a request has the core to itself; at low rps the idle server's CPU
makes it err high). Each
instance is an M/M/c queue fed R / N requests per second (an even random share) with c slots, and its p95 = the
work (the CPU part stretched by 1 / (1 - CPU utilisation), the mean slowdown on a shared core) + the 95th percentile
of the Erlang C wait for a slot. That is pessimistic for constant work (M/D/c waits about half as long) and
optimistic for traffic burstier than Poisson. The plan is the fewest instances that meet the objective in the
largest configuration of the server's kind, then the smallest configuration that still does; it adds no failover
headroom.

The kind is the catalog's declaration (label ``lab.kind``): ``processes`` serve one request per worker, ``threads``
a thread each, ``async`` a greenlet each (gevent, eventlet). Their caps are declared below.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from rich.table import Table
from rich.text import Text

from flasklab.core.analysis import (
    TargetAnalysis,
    analyse,
    budget_value,
    load_text,
    rps_interval,
    successes,
)
from flasklab.core.catalog import CPU_WORK, IO_WORK, NO_WORK, Scenario, Server, load_scenarios, scenario_of_work
from flasklab.core.results import Results, Step, Target
from flasklab.planning.queueing import Prediction, QueueingError, ServiceTime, erlang_c, predict, predict_shared

MAX_RPS = 1e7
MAX_MS = 3_600_000.0  # an hour: beyond that it is not a web request
TARGET_CPU_UTILISATION = 0.7
# An instance's slots busy at most this share of the time (the planner's --max-utilisation): beyond it a queue's
# wait grows steeply and a burst, a slow dependency or a lost instance tips it over.
DEFAULT_MAX_UTILISATION = 0.8
# A thin basis (quick profile, few service-time samples, a wide interval): its prediction must leave this margin.
THIN_MARGIN = 1.25
THIN_SAMPLES = 100  # service-time samples below which the p99 is only the maximum (analysis's rule)
WIDE_INTERVAL = 0.3  # an rps interval wider than this share of the rps
UNBOUNDED_SLOTS = 10_000  # a server that holds every request at once (a thread each): its slots never run out
ASSUMED_OVERHEAD_CPU_MS = 0.5
P95_TAIL = 0.05
MAX_INSTANCES = 10**9

Basis = Literal["law", "measured"]


class PlanError(ValueError):
    """Input the planner cannot answer; ``param`` names the option to fix."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


def _check(param: str, value: float, low: float, high: float, low_open: bool) -> None:
    inside = (low < value if low_open else low <= value) and value <= high  # False for NaN
    if not inside:
        bound = f"{'more than' if low_open else 'at least'} {low:g} and at most {high:,g}"
        raise PlanError(param, f"{value!r} is out of range: {bound}")


@dataclass(frozen=True)
class PlanRequest:
    """R rps with p95 <= p95_ms; each request waits io_ms and computes cpu_ms (None: not given). An instance's
    slots are planned busy at most ``max_utilisation`` of the time, and within ``mem_per_instance_mb`` of memory."""

    rps: float
    p95_ms: float
    io_ms: float | None = None
    cpu_ms: float | None = None
    max_utilisation: float = DEFAULT_MAX_UTILISATION
    mem_per_instance_mb: float | None = None

    def __post_init__(self) -> None:
        _check("--rps", self.rps, 0, MAX_RPS, low_open=True)
        _check("--p95-ms", self.p95_ms, 0, MAX_MS, low_open=True)
        _check("--max-utilisation", self.max_utilisation, 0, 1, low_open=True)
        if self.mem_per_instance_mb is not None:
            _check("--mem-per-instance", self.mem_per_instance_mb, 0, 10**7, low_open=True)
        for param, given in (("--io-ms", self.io_ms), ("--cpu-ms", self.cpu_ms)):
            if given is not None:
                _check(param, given, 0, MAX_MS, low_open=False)
        if self.p95_ms <= (work := (self.io_ms or 0) + (self.cpu_ms or 0)):
            raise PlanError(
                "--p95-ms",
                f"{self.p95_ms:g} ms cannot be met: each request alone takes {work:g} ms of work, so no server and no "
                f"number of instances answers 95 % of them faster; ask for more than {work:g} ms",
            )


@dataclass(frozen=True)
class Workload:
    """The request's blocking I/O, and the lab scenario of its shape (None: no scenario both waits and computes)."""

    io_ms: float
    scenario: str | None
    ms: float | None  # the scenario's `ms` parameter (None for the shapeless one, hello)


@dataclass(frozen=True)
class ShapeScenarios:
    """The lab scenario of each shape a request can have, from the scenarios' declared work (None: none declares it)."""

    io: str | None  # `ms` of blocking I/O and nothing else
    cpu: str | None  # `ms` of CPU and nothing else
    shapeless: str | None  # neither

    @classmethod
    def of(cls, scenarios: Mapping[str, Scenario]) -> ShapeScenarios:
        return cls(
            scenario_of_work(scenarios, IO_WORK, "ms"),
            scenario_of_work(scenarios, CPU_WORK, "ms"),
            scenario_of_work(scenarios, NO_WORK),
        )


def measured_target(run: Results | None, scenario: str | None) -> Target | None:
    """The run's first target of ``scenario`` that measured a step (None: no run, no such scenario, not measured)."""
    if run is None or scenario is None:
        return None
    return next((t for t in run.targets if t.scenario == scenario and t.steps), None)


def workload(request: PlanRequest, run: Results | None, shapes: ShapeScenarios) -> Workload:
    """The request's shape; with neither --io-ms nor --cpu-ms, the run's I/O scenario (else its CPU one) gives it."""
    io, cpu = request.io_ms, request.cpu_ms
    if io is None and cpu is None:
        for scenario in (shapes.io, shapes.cpu):
            target = measured_target(run, scenario)
            if target is not None and "ms" in target.params:
                ms = float(target.params["ms"])
                return Workload(ms if scenario == shapes.io else 0.0, scenario, ms)
        raise PlanError(
            "--from",
            f"the run measured neither {shapes.io or 'an I/O scenario'} nor {shapes.cpu or 'a CPU scenario'}: give "
            "the work with --io-ms and/or --cpu-ms",
        )
    if io and cpu:
        return Workload(io, None, None)
    if io:
        return Workload(io, shapes.io, io)
    if cpu:
        return Workload(0.0, shapes.cpu, cpu)
    return Workload(0.0, shapes.shapeless, None)


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


def fewest(meets: Callable[[int], bool], most: int) -> int | None:
    """The least n in 1..most for which ``meets`` holds (it must stay true above it), or None."""
    high = 1
    while not meets(high):
        if high >= most:
            return None
        high = min(high * 2, most)
    low = high // 2  # fails (0: nothing below 1)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if meets(middle) else (middle, high)
    return high


@dataclass
class Option:
    """One server's answer. ``workers``: requests one instance serves at once (workers, processes x threads or
    processes x connections; None: unbounded or no answer); ``instances`` None: no answer (the reason says why)."""

    server: str
    kind: str
    basis: Basis
    workers: int | None = None
    instances: int | None = None
    expected_p95_ms: float | None = None
    reason: str = ""
    shape: str = ""  # how the workers are made up, e.g. "1 process x 32 threads"
    total_workers: int | None = None
    rps_per_instance: float | None = None  # the planned load of one instance: R / instances
    capacity_rps: float | None = None  # measured: the closed loop's capacity step within the objective (a check)
    law_instances: int | None = None  # what the law plans for the same server
    law_bound_rps: float | None = None  # Little's law and the CPU budget: the most rps one instance completes
    cpu_ms_per_request: float | None = None
    cpu_source: str = ""
    covered: bool | None = None  # by the run (None: no run given)
    utilisation: float | None = None  # of one instance's slots at its planned load
    expected_p99_ms: float | None = None
    n_plus_one: int | None = None  # instances with one spare: the plan survives losing one
    memory_mb: float | None = None  # one instance's server memory, measured at its busiest usable step
    service_mean_ms: float | None = None  # measured: the service time the queue model used (mean, SCV)
    service_scv: float | None = None
    service_points: list[tuple[float, float]] = field(default_factory=list)  # measured: its quantile function
    shared_admitted: int | None = None  # measured, CPU-bound and time-sliced: requests that take turns on ...
    shared_cores: float | None = None  # ... these cores (processor sharing; None: each request holds a slot)
    slots: int | None = None  # measured: the slots the model used (configured, or what the probe saw; CPU-bound: cores)
    thin_basis: list[str] = field(default_factory=list)  # why the measurement behind the option is thin
    setting: str = ""  # from a tuning: the worker setting this option runs with, e.g. GUNICORN_SYNC_WORKERS=8
    run_dir: str = ""  # the run folder the option was measured in
    recommended: bool = False


@dataclass(frozen=True)
class Cpu:
    """CPU per request the law uses for one server, and where it comes from."""

    ms: float
    source: str


@dataclass(frozen=True)
class Plan:
    request: PlanRequest
    workload: Workload
    cpus: float
    options: list[Option]
    notes: list[str] = field(default_factory=list)
    run_id: str | None = None


def number(value: float) -> str:
    """A rate or a count: thousands separated past 100, three significant figures under it."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def ms(value: float) -> str:
    """A duration: 0.5, 100.5, 412.1, 3,600."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


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
        return estimate(request.rps / instances, io_ms, cpu.ms, shape.slots, cpus)

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
    load = request.rps / instances
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
    return option


def coverage(target: Target | None, run: Results, work: Workload, p95_ms: float) -> str | None:
    """Why the run does not cover the request for this server (None: it does)."""
    if work.scenario is None:
        return "no lab scenario both waits and computes"
    if target is None:
        return f"not measured on {work.scenario}"
    if target.status != "ok":
        return f"{work.scenario} {target.status}" + (f": {target.error}" if target.error else "")
    measured_ms = target.params.get("ms")
    if work.ms is not None and (measured_ms is None or not math.isclose(measured_ms, work.ms)):
        return f"it measured {work.scenario} at ms={measured_ms}, the request is ms={work.ms:g}"
    if analyse(target, run.meta).capacity(p95_ms) is None:
        return f"no usable step of {work.scenario} met p95 <= {p95_ms:g} ms"
    return None


@dataclass(frozen=True)
class ServiceBasis:
    """What a run measured of one server that the queue model needs: the service time, the slots, the CPU."""

    step: Step  # a usable step where nothing queued: its latency is the service time (``basis_steps``)
    service: ServiceTime
    samples: int
    slots: int  # the slots the model uses (configured, or fewer when the probe saw fewer; CPU-bound: the cores)
    slots_reason: str
    cpu_ms: float | None  # CPU per request at that step
    thin: list[str]
    sharing: tuple[int, float] | None = None  # requests admitted at once that take turns on these cores, or None

    def predict(self, rate_rps: float) -> Prediction | None:
        """The queue at ``rate_rps``: M/G/c on the slots, or processor sharing when requests take turns on the cores."""
        if self.sharing is not None:
            admitted, cores = self.sharing
            return predict_shared(rate_rps, cores, admitted, self.service)
        return predict(rate_rps, self.slots, self.service)


def basis_steps(analysis: TargetAnalysis, run: Results) -> list[Step]:
    """Usable steps in the order the service time is best read from: in a closed loop, the lightest one with enough
    samples for a p99 whose users all had a slot (nothing queued: latency is service time), then the lightest."""
    usable = analysis.usable
    slots = analysis.target.concurrency
    unqueued = [s for s in usable if run.meta.model == "closed" and (slots is None or s.users <= slots)]
    rich = [s for s in unqueued if successes(s) >= THIN_SAMPLES][:1]
    return rich + [s for s in usable if s not in rich]


def service_basis(analysis: TargetAnalysis, run: Results, cpus: float, kind: str = "") -> ServiceBasis | None:
    """The service time of the first basis step with every percentile the model needs (None: no such step), and
    how its requests are served (``core_sharing``: by the server's declared ``kind``)."""
    for step in basis_steps(analysis, run):
        if None in (step.p50_ms, step.p95_ms, step.p99_ms, step.max_ms, step.mean_ms):
            continue
        try:
            service = ServiceTime.from_percentiles(
                step.p50_ms or 0, step.p95_ms or 0, step.p99_ms or 0, step.max_ms or 0, step.mean_ms or 0
            )
        except QueueingError:
            continue
        samples = successes(step)
        cpu_ms = step.server_cpu / step.rps * 1000 if step.server_cpu is not None and step.rps > 0 else None
        slots, reason = model_slots(analysis.target, run, service, cpu_ms, cpus)
        admitted, _ = model_slots(analysis.target, run, service, None, cpus)
        sharing = core_sharing(kind, admitted, slots, service, cpu_ms, cpus)
        thin = thin_reasons(analysis, run, step, samples)
        return ServiceBasis(step, service, samples, slots, reason, cpu_ms, thin, sharing)
    return None


def model_slots(
    target: Target, run: Results, service: ServiceTime, cpu_ms: float | None, cpus: float
) -> tuple[int, str]:
    """Requests one instance really serves at once: its configuration, fewer when the probe saw fewer, and at most
    the cores' worth when a request keeps a core busy (a CPU-bound request on 4 workers and 1 core is served by 1)."""
    slots = target.concurrency or UNBOUNDED_SLOTS
    reason = f"{target.concurrency} configured" if target.concurrency else "unbounded (a thread per request)"
    probe = next((p for p in run.probe if p.server == target.server and p.status == "ok"), None)
    if probe is not None and probe.measured is not None and probe.measured < min(slots, probe.width):
        slots, reason = probe.measured, f"{probe.measured} served at once in the probe ({reason})"
    if cpu_ms is not None and cpu_ms > 0:
        share = min(cpu_ms / service.mean_ms, 1.0)  # of a core, while a request is served
        by_cpu = max(1, math.floor(cpus / share + 1e-9))
        if by_cpu < slots:
            slots, reason = by_cpu, f"{by_cpu}: each request keeps {share:.0%} of a core busy on {cpus:g} core(s)"
    return slots, reason


def core_sharing(
    kind: str, admitted: int, slots: int, service: ServiceTime, cpu_ms: float | None, cpus: float
) -> tuple[int, float] | None:
    """When the cores, not the slots, bound a server whose requests are time-sliced (threads under the GIL's switch
    interval, more worker processes than cores under the OS scheduler): the requests it admits at once and the
    cores they share (a request using a share s of a core while served counts the budget as cpus / s cores). None
    when each request holds its slot to itself, or runs to completion (async: a greenlet keeps the core until its
    CPU work is done, so the CPU-capped slots are a first-come-first-served queue)."""
    if kind == "async" or cpu_ms is None or cpu_ms <= 0 or slots >= admitted:
        return None
    return admitted, cpus / min(cpu_ms / service.mean_ms, 1.0)


def thin_reasons(analysis: TargetAnalysis, run: Results, step: Step, samples: int) -> list[str]:
    """Why a measured basis is thin: the quick profile, few service-time samples, a wide rps interval."""
    reasons = []
    if run.meta.profile == "quick":
        reasons.append("quick profile (short windows)")
    if samples < THIN_SAMPLES:
        reasons.append(f"{samples} service-time samples (p99 needs {THIN_SAMPLES})")
    spread = rps_interval(step)
    wide = spread is not None and spread.high is not None and spread.high - spread.low > WIDE_INTERVAL * step.rps
    if spread is not None and spread.high is not None and step.rps > 0 and wide:
        reasons.append(f"rps {spread.label} {number(spread.low)}-{number(spread.high)} at {load_text(step)}")
    if len(analysis.usable) < 2:
        reasons.append("one usable step")
    return reasons


def open_curve_rate(analysis: TargetAnalysis, p95_ms: float) -> Step | None:
    """Open model: the usable step (stable: its backlog did not grow) with the most throughput that met the
    objective. Its completions per second are what one instance kept up with; the rate offered to it is only what
    was asked, and a server a little behind it can still pass a short window's other checks."""
    met = [s for s in analysis.within_slo(p95_ms) if s.offered_rps is not None and s.unstable is not True]
    return max(met, key=lambda s: s.rps, default=None)


def measured_option(
    analysis: TargetAnalysis, run: Results, request: PlanRequest, work: Workload, law: Option, cpus: float
) -> Option:
    """The fewest instances whose M/G/c prediction (the measured service time, the slots, Poisson arrivals at R / N
    each) meets the objective at no more than the utilisation target; with open-model steps, also no fewer than the
    measured curve needs. A thin basis must meet the objective with THIN_MARGIN to spare."""
    target = analysis.target
    option = Option(
        target.server, law.kind, "measured", covered=True, run_dir=run.meta.run_id, law_instances=law.instances
    )
    basis = service_basis(analysis, run, cpus, law.kind)
    if basis is None:
        option.reason = "no usable step with a service time (p50, p95, p99, max and mean)"
        return option
    margin = THIN_MARGIN if basis.thin else 1.0
    objective = request.p95_ms / margin
    ceiling = measured_ceiling(analysis)

    def meets(instances: int) -> bool:
        rate = request.rps / instances
        found = basis.predict(rate)
        cpu_ok = basis.cpu_ms is None or rate * basis.cpu_ms / 1000 <= request.max_utilisation * cpus
        seen = ceiling is None or rate <= ceiling.rps
        return (
            found is not None
            and found.utilisation <= request.max_utilisation
            and found.p95_ms <= objective
            and cpu_ok
            and seen
        )

    option.service_mean_ms, option.service_scv = basis.service.mean_ms, basis.service.scv
    option.service_points = list(basis.service.points)
    option.shared_admitted, option.shared_cores = basis.sharing or (None, None)
    option.slots, option.thin_basis, option.workers = basis.slots, basis.thin, target.concurrency
    option.memory_mb = max((s.server_rss_mb for s in analysis.usable if s.server_rss_mb is not None), default=None)
    option.shape = f"{'unbounded' if target.concurrency is None else target.concurrency} configured"
    if basis.service.quantile(0.95) > objective:
        option.reason = (
            f"cannot: a request alone takes {ms(basis.service.quantile(0.95))} ms at p95 (measured at "
            f"{load_text(basis.step)}){' with the thin-basis margin' if basis.thin else ''}"
        )
        return option
    instances = fewest(meets, MAX_INSTANCES)
    if instances is None:
        option.reason = f"cannot within {MAX_INSTANCES:,} instances"
        return option
    curve = open_curve_rate(analysis, objective) if run.meta.model == "open" else None
    if curve is not None and curve.rps > 0:
        instances = max(instances, math.ceil(request.rps / curve.rps - 1e-9))
    budget = request.mem_per_instance_mb
    if budget is not None and option.memory_mb is not None and option.memory_mb > budget:
        option.reason = f"cannot: an instance used {number(option.memory_mb)} MiB, over the {number(budget)} MiB asked"
        return option
    found = basis.predict(request.rps / instances)
    assert found is not None  # meets() held at this count or fewer instances
    option.instances, option.n_plus_one, option.rps_per_instance = instances, instances + 1, request.rps / instances
    option.utilisation, option.expected_p95_ms, option.expected_p99_ms = found.utilisation, found.p95_ms, found.p99_ms
    option.total_workers = None if target.concurrency is None else instances * target.concurrency
    option.cpu_ms_per_request = basis.cpu_ms
    option.cpu_source = f"measured at {load_text(basis.step)}" if basis.cpu_ms is not None else ""
    option.reason = measured_reason(option, basis, found, curve, analysis, request)
    return option


def measured_ceiling(analysis: TargetAnalysis) -> Step | None:
    """The most one instance was measured completing: its peak, or a lower bound of its capacity above it. A plan
    never puts more on an instance than that, whatever the model predicts: a model fitted at low load (CPU per
    request at one user) can promise rates the server was never seen to serve, and the lab vouches only for what it
    measured. A curve still climbing at the profile's most users (gevent on io) holds a plan to its top as well:
    a run with more users measures further."""
    return analysis.lower_bound or analysis.peak


def measured_reason(
    option: Option,
    basis: ServiceBasis,
    found: Prediction,
    curve: Step | None,
    analysis: TargetAnalysis,
    request: PlanRequest,
) -> str:
    """The numbers behind a measured option, as one sentence."""
    service = basis.service
    text = (
        f"{option.instances} instance(s) at {number(found.rate_rps)} rps each: service time measured at "
        f"{load_text(basis.step)} ({basis.samples} samples): mean {ms(service.mean_ms)} ms, p95 "
        f"{ms(service.quantile(0.95))} ms, SCV {service.scv:.2f}; {queue_text(basis, found)} with Poisson arrivals: "
        f"utilisation {found.utilisation:.0%} (target <= {request.max_utilisation:.0%}), predicted p95 "
        f"{ms(found.p95_ms)} ms, p99 {ms(found.p99_ms)} ms"
    )
    if curve is not None:
        text += (
            f"; the open-model curve kept up with {number(curve.rps)} rps within the objective (at "
            f"{load_text(curve)}): at least {math.ceil(request.rps / curve.rps - 1e-9)} instance(s)"
        )
    capacity = analysis.capacity(request.p95_ms)
    option.capacity_rps = capacity.rps if capacity is not None else None
    if capacity is not None:
        loop = "closed-loop " if capacity.offered_rps is None else ""
        text += f"; {loop}capacity within the objective: {number(capacity.rps)} rps at {load_text(capacity)}"
    if (ceiling := measured_ceiling(analysis)) is not None:
        seen = f"{number(ceiling.rps)} rps one instance was measured completing (at {load_text(ceiling)})"
        text += f"; never above the {seen}"
    if basis.thin:
        text += f"; thin basis ({'; '.join(basis.thin)}): planned to {ms(request.p95_ms / THIN_MARGIN)} ms"
    if option.law_instances is not None:
        text += f"; the law plans {option.law_instances}"
    return text


def queue_text(basis: ServiceBasis, found: Prediction) -> str:
    """The queue model a measured option used, in words."""
    if basis.sharing is not None:
        admitted, cores = basis.sharing
        return (
            f"processor sharing: up to {admitted} requests at once take turns on {cores:.2g} core(s) "
            f"({basis.slots_reason}; time-sliced: simulated), {found.wait_probability:.0%} queue to be admitted"
        )
    return (
        f"{basis.slots} slots ({basis.slots_reason}); M/G/c, {found.wait_probability:.0%} of requests wait for a slot"
    )


def outside_catalog(name: str, cpu: Cpu) -> Option:
    """A run's server the catalog does not know (a --target URL): the law needs its kind, a run can still measure it."""
    reason = "not in the catalog: the law needs its worker model"
    return Option(name, "unknown", "law", reason=reason, cpu_ms_per_request=cpu.ms, cpu_source=cpu.source)


def run_cpus(run: Results, catalog_cpus: float, notes: list[str]) -> float:
    """The run's budget per server; the catalog's when the run's is not a number (an unpinned local run)."""
    try:
        return budget_cpus(run.meta.budget)
    except PlanError:
        notes.append(
            f"the run's budget is {run.meta.budget.get('cpus')!r} cores: planned at the catalog's {catalog_cpus:g}"
        )
        return catalog_cpus


def budget_cpus(budget: Mapping[str, str]) -> float:
    """The cores of a budget such as {"cpus": "1", "memory": "512m"} (the catalog's: SERVER_CPUS in .env)."""
    cpus = budget_value(budget.get("cpus"))
    if cpus is None or not (math.isfinite(cpus) and cpus > 0):
        raise PlanError("SERVER_CPUS", f"the CPU budget {budget.get('cpus')!r} is not a number of cores (e.g. 1)")
    return cpus


def plan_capacity(
    request: PlanRequest,
    servers: Mapping[str, Server],
    catalog_cpus: float,
    run: Results | None = None,
    scenarios: Mapping[str, Scenario] | None = None,
) -> Plan:
    """One option per server (the catalog's, or the run's), fewest instances first, and the reasoning.

    ``scenarios``: the catalog's (locustfiles/, read when not given), whose declared work says which scenario has the
    request's shape.
    """
    work = workload(request, run, ShapeScenarios.of(load_scenarios() if scenarios is None else scenarios))
    notes: list[str] = []
    cpus = run_cpus(run, catalog_cpus, notes) if run else catalog_cpus
    options = []
    for name in run.meta.servers if run else servers:
        target = run.target(name, work.scenario) if run and work.scenario else None
        missing = coverage(target, run, work, request.p95_ms) if run else None
        cpu = request_cpu(request, target)
        server = servers.get(name)
        if server is not None and server.kind is not None:
            law = law_option(server, request, work.io_ms, cpu, cpus)
        else:  # a --target URL: not in the catalog, no declared kind for the law to size
            law = outside_catalog(name, cpu)
        if run and missing is None and target is not None:
            options.append(measured_option(analyse(target, run.meta), run, request, work, law, cpus))
            continue
        if run:
            law.covered, law.reason = False, f"not covered by the run ({missing}); law: {law.reason}"
        options.append(law)
    options.sort(key=lambda o: rank(o, run is not None))
    if options and options[0].instances is not None:
        options[0].recommended = True
    if run is not None:
        uncovered = [option.server for option in options if option.covered is False]
        covers = "the run covers the request for every server it measured"
        if uncovered:
            covers = f"the run does not cover the request for {', '.join(uncovered)}: planned by the law"
        notes.append(covers)
    return Plan(
        request, work, cpus, options, [*reasoning(request, work, cpus, run), *notes], run.meta.run_id if run else None
    )


def rank(option: Option, from_run: bool) -> tuple[bool, bool, int, float, int]:
    """Offered options first, measured before the law when there is a run, then the fewest instances (each has the
    same CPU budget), the least memory, the fewest workers."""
    return (
        option.instances is None,
        from_run and option.basis != "measured",
        option.instances or 0,
        (option.memory_mb or 0.0) * (option.instances or 0),
        option.total_workers or 0,
    )


def reasoning(request: PlanRequest, work: Workload, cpus: float, run: Results | None) -> list[str]:
    """The numbers every option shares, as sentences."""
    cpu_ms = (request.cpu_ms or 0) + ASSUMED_OVERHEAD_CPU_MS
    measured = run is not None and request.cpu_ms is None
    cpu_text = f"{request.cpu_ms or 0:g} ms CPU + {ASSUMED_OVERHEAD_CPU_MS:g} ms assumed overhead"
    in_flight = request.rps * (work.io_ms + cpu_ms) / 1000
    lines = [
        f"request: {number(request.rps)} rps with p95 <= {request.p95_ms:g} ms; each request {work.io_ms:g} ms of "
        f"blocking I/O + {'CPU as the run measured it per server' if measured else cpu_text}",
        f"Little's law: {number(request.rps)} rps x {ms(work.io_ms + cpu_ms)} ms = {number(in_flight)} requests "
        f"in flight: at least {math.ceil(in_flight - 1e-9):,} workers, threads or connections in total"
        + (" (at the assumed CPU; each server's measured CPU moves it)" if measured else ""),
        f"CPU: {number(request.rps)} rps x {ms(cpu_ms)} ms = {number(request.rps * cpu_ms / 1000)} cores"
        + (" (at the assumed CPU)" if measured else "")
        + f"; an instance has {cpus:g} core(s), the budget, used up to {TARGET_CPU_UTILISATION:.0%}",
        f"per instance: processes up to {PROCESSES.processes_per_core} workers per core (the fewest that meet the "
        f"objective); threads 1 process per core x {THREADS.per_process}; async 1 process per core x "
        f"{ASYNC.per_process} connections",
        "law p95: each instance an M/M/c queue fed an even random share; the work (CPU part stretched by 1/(1 - CPU "
        "utilisation)) + the Erlang C wait's 95th percentile; pessimistic for constant work, optimistic for bursts; "
        "no failover headroom (add an instance for N+1)",
    ]
    if run is not None:
        closed = run.meta.model == "closed"
        shape = "no lab scenario has the request's shape"
        if work.scenario is not None:
            param = f" at ms={work.ms:g}" if work.ms is not None else ""
            shape = f"the request is shaped like the {work.scenario} scenario{param}"
        lines.append(
            f"run {run.meta.run_id} (profile {run.meta.profile}, backend {run.meta.backend}): {shape}; measured "
            "options predict: the service time measured where nothing queued, the server's slots, an M/G/c queue "
            "fed Poisson arrivals at R / instances, the fewest instances whose predicted p95 meets the objective "
            f"(a thin basis with a {THIN_MARGIN:g}x margin)"
            + (
                "; its users were a closed loop: its capacity step is shown as a check, the prediction is for open "
                "traffic"
                if closed
                else "; open model: no fewer instances than the highest throughput a stable step kept up with needs"
            )
        )
    return lines


def plan_json(plan: Plan) -> dict[str, Any]:
    """{"request": {...}, "options": [...], "notes": [...]}: what `flasklab plan --json` prints."""
    request = asdict(plan.request) | {
        "scenario": plan.workload.scenario,
        "budget_cpus": plan.cpus,
        "from_run": plan.run_id,
    }
    return {"request": request, "options": [asdict(option) for option in plan.options], "notes": plan.notes}


def reason_lines(plan: Plan) -> list[str]:
    """Each option's reason once, after the servers that share it (the law gives a kind's servers the same)."""
    servers: dict[str, list[str]] = {}
    for option in plan.options:
        servers.setdefault(option.reason, []).append(option.server)
    return [f"{', '.join(names)}: {reason}" for reason, names in servers.items()]


def plan_table(plan: Plan) -> Table:
    """The decision at a glance: one row per server, the recommended one marked and first."""
    request = plan.request
    table = Table(title=f"Plan: {number(request.rps)} rps with p95 <= {request.p95_ms:g} ms")
    columns = (
        "",
        "server",
        "workers per instance",
        "instances",
        "N+1",
        "utilisation",
        "p95 ms",
        "p99 ms",
        "MiB",
        "basis",
    )
    for column in columns:
        table.add_column(
            column, justify="left" if column in ("", "server", "workers per instance", "basis") else "right"
        )
    for option in plan.options:
        offered = option.instances is not None
        table.add_row(
            "→" if option.recommended else "",
            option.server,
            Text(option.setting or option.shape or "—"),
            str(option.instances) if offered else "—",
            str(option.n_plus_one) if option.n_plus_one else "—",
            f"{option.utilisation:.0%}" if option.utilisation is not None and offered else "—",
            ms(option.expected_p95_ms) if option.expected_p95_ms is not None and offered else "—",
            ms(option.expected_p99_ms) if option.expected_p99_ms is not None and offered else "—",
            number(option.memory_mb) if option.memory_mb is not None else "—",
            basis_text(option),
            style="bold" if option.recommended else None,
        )
    table.caption = "p95/p99: predicted per instance at its share; N+1: instances with one spare; → recommended"
    return table


def basis_text(option: Option) -> str:
    if option.covered is False:
        return "law (not covered)"
    if option.instances is None:
        return f"{option.basis}: cannot"
    return f"{option.basis}{' (thin)' if option.thin_basis else ''}"


def summary_lines(plan: Plan) -> list[str]:
    """What to read under the table: the recommendation, and what makes it weaker than it looks."""
    lines = []
    chosen = next((option for option in plan.options if option.recommended), None)
    if chosen is None:
        lines.append("no option meets the objective: " + "; ".join(f"{o.server}: {o.reason}" for o in plan.options[:3]))
        return lines
    workers = chosen.setting or chosen.shape
    lines.append(
        f"recommended: {chosen.server}, {workers} per instance, {chosen.instances} instance(s) "
        f"({chosen.n_plus_one} to survive losing one), {number(chosen.rps_per_instance or 0)} rps each, predicted p95 "
        f"{ms(chosen.expected_p95_ms or 0)} ms"
    )
    if chosen.thin_basis:
        lines.append(f"thin basis: {'; '.join(chosen.thin_basis)} (planned with a {THIN_MARGIN:g}x margin)")
    lines.append("verify it: the same command with --verify; the reasoning: --explain")
    return lines


def plan_tuning(
    request: PlanRequest,
    servers: Mapping[str, Server],
    catalog_cpus: float,
    runs: Mapping[str, Results],
    scenarios: Mapping[str, Scenario] | None = None,
) -> Plan:
    """From a tuning (``flasklab tune``): one option per measured value of the setting, the worker count that meets
    the objective with the fewest instances (then the least memory) recommended. ``runs``: "VARIABLE=value" → run."""
    options, notes = [], []
    plan: Plan | None = None
    scenarios = load_scenarios() if scenarios is None else scenarios
    for setting, run in runs.items():
        plan = plan_capacity(request, servers, catalog_cpus, run, scenarios)
        for option in plan.options:
            if option.basis == "measured":
                option.setting, option.recommended = setting, False
                options.append(option)
        notes += [f"{setting}: {note}" for note in plan.notes if "does not cover" in note]
    if plan is None:
        raise PlanError("--from", "the tuning holds no measured run")
    options.sort(key=lambda o: rank(o, True))
    if options and options[0].instances is not None:
        options[0].recommended = True
    return Plan(request, plan.workload, plan.cpus, options, [*plan.notes[:5], *notes], plan.run_id)
