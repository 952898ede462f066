"""What a step means: the one place that decides whether a step measured the server, and what its figures say.

Every view (the terminal summary, the report, compare, the slides, the planner) asks this module; none recomputes a
step's standing. Pure functions of results.json's models; each rule's threshold is declared once, below.

A step is **usable** when it measured the server and nothing else. It is *flagged* (with its cause) and does not
count for the peak, the capacity or the knee when it is:

- **generator-bound**: the generator side was busy (``generator_saturated``, or all its processes together, or its
  CPU set, at GENERATOR_SATURATION or more) while the server was neither near its CPU budget (SERVER_NEAR_BUDGET of
  meta.budget's cpus) nor at its configured concurrency (users in flight >= target.concurrency). When the server is
  at its limit, the server sets the pace whatever the generator does; when it is not, the step measured Locust.
  Without a budget or the server's CPU (an unpinned run, a server by URL) only the concurrency can clear it.
- **server CPUs shared**: the servers' pinned CPUs were near full (SERVER_NEAR_BUDGET of their time running
  processes, from /proc/stat) and other processes ran at least SHARED_SERVER_CPU cores of it beside the server: idle
  servers of the compose lab, the machine's other work. The server did not have its budget to itself.
- **failures**: more than MAX_FAILURE_RATE (1 %) of its completed requests failed. Fast errors are not served
  requests: a server that fails fast must not show a higher peak. Its successes are requests - failures.
- **not steady**: throughput and in-flight requests were still moving when its window began (``steady`` False;
  None, unknown in older files, passes).
- **unstable** (open model): the backlog grew over the window: the server did not keep up with the offered rate.
- **thin sample**: fewer than MIN_SAMPLES latency samples, so even its p95 is only the maximum of the window.
- **no successes**: nothing completed successfully in the window.

**Percentiles.** A nearest-rank percentile q of n samples is the sample maximum when n·(1 - q) < 1: p50 needs 2
samples, p95 20, p99 100 to be more than the maximum. Below that the percentile is *thin* and marked THIN_MARK. In the
open model, requests due and unanswered at the window's end are in the percentiles at their age then
(``percentiles_lower_bound``): each percentile is then a *lower bound*, marked LOWER_BOUND_MARK. A stable step's
pending requests are the ones any instant holds in flight, so a lower-bound p95 of a usable step still counts
against an SLO; an unstable step never does.

From the usable steps of a target: the **peak** (highest rps), the **capacity** within an SLO (the highest-rps step
whose p95 met it) and the **knee** (the last step before doubling the load added less than 10 % throughput).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

from flasklab.results import Meta, Results, Step, Target
from flasklab.settings import GENERATOR_SATURATION

# More failed requests than this share of a step's completions: the step does not count.
MAX_FAILURE_RATE = 0.01
# Server CPU at or above this share of its budget: the server, not the generator, was the limit.
SERVER_NEAR_BUDGET = 0.85
# Processes other than the server running on its pinned CPUs (idle servers of the compose lab, anything else) for
# at least this many cores, while those CPUs were near full: the server did not have its budget to itself.
SHARED_SERVER_CPU = 0.15
# The knee: the next step, with at least twice the load, adds less than 10 % throughput.
KNEE_GROWTH = 1.10
# Percentiles the lab records, in percent (integers: n·(100 - q) < 100 has no rounding error).
PERCENTILES = {"p50": 50, "p95": 95, "p99": 99}
# The percentile capacity is stated in: a step needs enough samples for it to be more than the maximum (20).
CAPACITY_PERCENTILE = "p95"
LOWER_BOUND_MARK = "≥"
THIN_MARK = "†"

FlagKind = Literal[
    "generator-bound", "server CPUs shared", "failures", "not steady", "unstable", "thin sample", "no successes"
]
Interval = tuple[float, float]


def min_samples(percentile: str) -> int:
    """The fewest samples for which a nearest-rank percentile is more than the sample maximum: n·(1 - q) >= 1."""
    q = PERCENTILES[percentile]
    return -(-100 // (100 - q))


MIN_SAMPLES = min_samples(CAPACITY_PERCENTILE)


def is_thin(percentile: str, samples: int) -> bool:
    """Whether the percentile of ``samples`` latencies is just their maximum."""
    return samples < min_samples(percentile)


@dataclass(frozen=True)
class Limits:
    """What a step's server is compared with: its CPU budget (cores; None: unknown) and configured concurrency."""

    budget_cpus: float | None
    concurrency: int | None  # None: unbounded
    server_set_cpus: int | None = None  # CPUs the servers were pinned to (None: not pinned)


@dataclass(frozen=True)
class Flag:
    """Why a step does not count: its kind, and the cause in words (starting with the kind)."""

    kind: FlagKind
    cause: str


@dataclass(frozen=True)
class Standing:
    """One step and what it means: the flags that keep it from counting, and how far its percentiles go."""

    step: Step
    flags: tuple[Flag, ...]
    samples: int  # latencies behind the percentiles: successes, plus censored requests in the open model
    thin: tuple[str, ...]  # percentiles that are only the maximum of their samples ("p99", ...)
    lower_bound: bool  # the percentiles hold censored latencies: each is a lower bound

    @property
    def usable(self) -> bool:
        return not self.flags

    @property
    def generator_bound(self) -> bool:
        return any(flag.kind == "generator-bound" for flag in self.flags)

    @property
    def causes(self) -> str:
        """Every flag's cause, joined: what the report and the terminal print beside a flagged step."""
        return "; ".join(flag.cause for flag in self.flags)

    @property
    def notes(self) -> list[str]:
        """What marks this step's percentiles (a usable step may have them): thin ones, lower bounds."""
        notes = []
        if self.thin:
            names = " and ".join(self.thin)
            verb = "is" if len(self.thin) == 1 else "are"
            notes.append(f"{names} from {self.samples} samples {verb} the maximum")
        if self.lower_bound:
            pending = self.step.censored or 0
            notes.append(f"percentiles are lower bounds ({pending} request{'s' if pending != 1 else ''} unanswered)")
        return notes

    def marked(self, percentile: str, text: str) -> str:
        """A percentile's text with its marks: '≥ 120' for a lower bound, '120†' for a thin one."""
        prefix = f"{LOWER_BOUND_MARK} " if self.lower_bound else ""
        suffix = THIN_MARK if percentile in self.thin else ""
        return f"{prefix}{text}{suffix}"


def load_text(step: Step) -> str:
    """A step's load in words: '16 users', or in the open model '160 rps offered'."""
    if step.offered_rps is not None:
        return f"{step.offered_rps:g} rps offered"
    return f"{step.users} user{'s' if step.users != 1 else ''}"


def budget_value(text: str | None, mebibytes: bool = False) -> float | None:
    """'1.5' cores, or '512m' / '1g' memory in MiB; None when absent or unreadable."""
    match = re.fullmatch(r"\s*([\d.]+)\s*([kmg]?)i?b?\s*", (text or "").lower())
    if not match:
        return None
    try:
        value = float(match[1])
    except ValueError:  # "1.2.3"
        return None
    return value * {"k": 1 / 1024, "m": 1, "g": 1024, "": 1 / 2**20}[match[2]] if mebibytes else value


def limits(target: Target, meta: Meta) -> Limits:
    """The target's server limits as the run recorded them."""
    pinned = (meta.pinning or {}).get("server")
    return Limits(budget_value(meta.budget.get("cpus")), target.concurrency, len(pinned) if pinned else None)


def successes(step: Step) -> int:
    return step.requests - step.failures


def failure_rate(step: Step) -> float:
    """Failed share of the step's completed requests (0 when nothing completed)."""
    return step.failures / step.requests if step.requests else 0.0


def latency_samples(step: Step) -> int:
    """How many latencies the percentiles are of: the successes, and in the open model the censored requests."""
    return successes(step) + (step.censored or 0)


def percent(share: float) -> str:
    return f"{share * 100:.0f} %"


def generator_busy(step: Step) -> str | None:
    """What shows the generator side was busy at this step, in words; None when it kept up."""
    signs = []
    if step.generator_set_busy is not None and step.generator_set_busy >= GENERATOR_SATURATION:
        signs.append(f"its CPU set {percent(step.generator_set_busy)} busy")
    total, cores = step.generator_cpu_total, step.generator_cpus
    if total is not None and cores and total >= GENERATOR_SATURATION * cores:
        signs.append(f"its processes used {total:.2f} of {cores} core{'s' if cores != 1 else ''}")
    if step.generator_saturated and not signs:
        signs.append(f"busiest process at {percent(step.generator_cpu)} of a core")
    return ", ".join(signs) or None


def server_at_limit(step: Step, server: Limits) -> bool:
    """The server was near its CPU budget or had its configured concurrency in flight: it set the pace."""
    near_budget = (
        server.budget_cpus is not None
        and step.server_cpu is not None
        and step.server_cpu >= SERVER_NEAR_BUDGET * server.budget_cpus
    )
    return near_budget or (server.concurrency is not None and step.users >= server.concurrency)


def server_use(step: Step, server: Limits) -> str:
    """The server's CPU and requests in flight against its limits: 'the server used 0.4 of its 1 CPU budget and ...'."""
    if step.server_cpu is None:
        cpu = "the server's CPU was not measured"
    elif server.budget_cpus is None:
        cpu = f"the server used {step.server_cpu:.2g} CPU (no budget recorded)"
    else:
        cpu = f"the server used {step.server_cpu:.2g} of its {server.budget_cpus:g} CPU budget"
    bound = "unbounded" if server.concurrency is None else f"{server.concurrency} configured"
    return f"{cpu} and {step.users} of {bound} in flight"


def shared_server_cpu(step: Step, server: Limits) -> float | None:
    """Cores other processes used on the server's pinned CPUs when they were near full, if enough to matter."""
    if step.server_set_busy is None or step.server_cpu is None or not server.server_set_cpus:
        return None
    cores = server.server_set_cpus
    others = step.server_set_busy * cores - step.server_cpu
    crowded = step.server_set_busy >= SERVER_NEAR_BUDGET
    return others if crowded and others >= SHARED_SERVER_CPU else None


def step_flags(step: Step, server: Limits) -> list[Flag]:
    """Every reason the step does not count, in the order the module docstring gives them."""
    flags = []
    busy = generator_busy(step)
    if busy is not None and not server_at_limit(step, server):
        cause = f"generator-bound: generator side busy ({busy}) while {server_use(step, server)}"
        flags.append(Flag("generator-bound", cause))
    if (others := shared_server_cpu(step, server)) is not None:
        cause = (
            f"server CPUs shared: other processes ran {others:.2f} cores on the server's {server.server_set_cpus} "
            f"pinned CPU(s) while the server used {step.server_cpu:.2f}"
        )
        flags.append(Flag("server CPUs shared", cause))
    if failure_rate(step) > MAX_FAILURE_RATE:
        cause = f"failures {step.failures / step.requests * 100:.1f} % ({step.failures:,} of {step.requests:,})"
        flags.append(Flag("failures", cause))
    if step.steady is False:
        warmup = f" after {step.warmup_used_s:g} s of warm-up" if step.warmup_used_s is not None else ""
        flags.append(Flag("not steady", f"not steady: throughput or requests in flight still moving{warmup}"))
    if step.unstable:
        backlog = f" to {step.backlog:,}" if step.backlog is not None else ""
        flags.append(Flag("unstable", f"unstable (backlog grew{backlog}): the server did not keep up"))
    if successes(step) <= 0:
        flags.append(Flag("no successes", "no successes: no request completed successfully in the window"))
    elif (samples := latency_samples(step)) < MIN_SAMPLES:
        thin = " and ".join(name for name in PERCENTILES if name != "p50" and is_thin(name, samples))
        cause = f"thin sample: {thin} from {samples} samples are the maximum (p95 needs {MIN_SAMPLES})"
        flags.append(Flag("thin sample", cause))
    return flags


def assess(step: Step, server: Limits) -> Standing:
    """The step's standing: its flags and how far its percentiles go."""
    samples = latency_samples(step)
    thin = tuple(name for name in PERCENTILES if samples > 0 and is_thin(name, samples))
    return Standing(step, tuple(step_flags(step, server)), samples, thin, step.percentiles_lower_bound)


@dataclass(frozen=True)
class TargetAnalysis:
    """A target's steps in load order with their standing, and what its usable steps add up to."""

    target: Target
    steps: tuple[Standing, ...]

    @property
    def usable(self) -> list[Step]:
        return [standing.step for standing in self.steps if standing.usable]

    @property
    def flagged(self) -> list[Standing]:
        return [standing for standing in self.steps if not standing.usable]

    @property
    def peak(self) -> Step | None:
        """The usable step of highest rps."""
        return max(self.usable, key=lambda step: step.rps, default=None)

    @property
    def knee(self) -> Step | None:
        """The usable step after which throughput stops growing: the next usable one, at twice the load, adds < 10 %."""
        return knee_of(self.usable)

    def within_slo(self, slo_p95_ms: float) -> list[Step]:
        """The usable steps whose p95 met the SLO."""
        return [step for step in self.usable if step.p95_ms is not None and step.p95_ms <= slo_p95_ms]

    def capacity(self, slo_p95_ms: float) -> Step | None:
        """The step of highest rps among the usable ones whose p95 met the SLO."""
        return max(self.within_slo(slo_p95_ms), key=lambda step: step.rps, default=None)

    def standing(self, step: Step) -> Standing:
        """The standing of one of this target's steps."""
        return next(standing for standing in self.steps if standing.step is step)

    def at_load(self, load: float) -> Step | None:
        """The usable step at exactly this load (users, or the offered rate), if any."""
        return next((step for step in self.usable if step.load == load), None)


def analyse(target: Target, meta: Meta) -> TargetAnalysis:
    """Every step of the target assessed against its server's limits, in load order."""
    server = limits(target, meta)
    ordered = sorted(target.steps, key=lambda step: step.load)
    return TargetAnalysis(target, tuple(assess(step, server) for step in ordered))


def peak(target: Target, meta: Meta) -> Step | None:
    """The usable step of highest rps."""
    return analyse(target, meta).peak


def capacity(target: Target, meta: Meta, slo_p95_ms: float) -> Step | None:
    """The usable step of highest rps whose p95 met the SLO."""
    return analyse(target, meta).capacity(slo_p95_ms)


def knee(target: Target, meta: Meta) -> Step | None:
    """The last usable step before throughput stopped growing."""
    return analyse(target, meta).knee


def knee_of(steps: Sequence[Step]) -> Step | None:
    """The knee of a curve of usable steps in load order: the first step the next one, at twice the load or more,
    outgrows by less than KNEE_GROWTH."""
    for step, following in pairwise(steps):
        if following.load >= 2 * step.load and following.rps < KNEE_GROWTH * step.rps:
            return step
    return None


def littles_law_efficiency(target: Target, step: Step) -> float | None:
    """Measured rps over Little's bound min(users, concurrency) / service time (closed loops of a fixed `ms` only)."""
    ms = target.params.get("ms")
    if not ms or step.users == 0 or step.offered_rps is not None:  # the law bounds a closed loop's users
        return None
    in_flight = min(step.users, target.concurrency or step.users)
    return step.rps / (in_flight / (ms / 1000))


def rps_interval(step: Step) -> Interval | None:
    """The spread of a step's throughput: min to max across rounds, else the within-step ~95 % interval."""
    if step.spread is not None:
        return step.spread.rps_min, step.spread.rps_max
    return None if step.rps_low is None or step.rps_high is None else (step.rps_low, step.rps_high)


def p95_interval(step: Step) -> Interval | None:
    """The spread of a step's p95: min to max across rounds, else the within-step ~95 % interval (order statistics)."""
    if step.spread is not None and step.spread.p95_min_ms is not None and step.spread.p95_max_ms is not None:
        return step.spread.p95_min_ms, step.spread.p95_max_ms
    return None if step.p95_low_ms is None or step.p95_high_ms is None else (step.p95_low_ms, step.p95_high_ms)


@dataclass(frozen=True)
class ObjectiveCheck:
    """A one-step run (``plan --verify``) held against a p95 objective: the step, why it does not count, the verdict."""

    step: Step | None
    causes: str  # why the step does not count ("" when it does; "not measured" without one)
    held: bool


def check_objective(results: Results, p95_ms: float) -> ObjectiveCheck:
    """Held when the run's first step counts (usable) and its p95 met the objective."""
    target = results.targets[0] if results.targets else None
    step = target.steps[0] if target is not None and target.steps else None
    if target is None or step is None:
        reason = target.error if target is not None and target.error else "no target was measured"
        return ObjectiveCheck(None, f"not measured: {reason}", False)
    causes = analyse(target, results.meta).standing(step).causes
    return ObjectiveCheck(step, causes, not causes and step.p95_ms is not None and step.p95_ms <= p95_ms)
