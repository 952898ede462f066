"""What a run measured of one server that the queue model needs: the service time, the slots, the CPU per request.

The service time is read at a usable step where nothing queued (flasklab.core.analysis decides what is usable): in a
closed loop the lightest with enough samples for a p99 whose users all had a slot, as its exact p50, p95, p99, max and
mean. The slots are the configured concurrency, fewer when the probe saw fewer, and at most the cores' worth when a
request keeps a core busy. When the cores bound a server whose requests are time-sliced (the catalog's kinds
``threads`` and ``processes``), its admitted requests take turns on them instead: processor sharing
(flasklab.planning.queueing). A basis is thin (quick profile, few samples, a wide rps interval, one usable step) when
its prediction deserves a margin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from flasklab.core.analysis import TargetAnalysis, load_text, rps_interval, successes
from flasklab.core.results import Results, Step, Target
from flasklab.planning.option import number
from flasklab.planning.queueing import Prediction, QueueingError, ServiceTime, predict_served

THIN_SAMPLES = 100  # service-time samples below which the p99 is only the maximum (analysis's rule)
WIDE_INTERVAL = 0.3  # an rps interval wider than this share of the rps
UNBOUNDED_SLOTS = 10_000  # a server that holds every request at once (a thread each): its slots never run out


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
        return predict_served(rate_rps, self.slots, self.service, self.sharing)


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
