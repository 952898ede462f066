"""What a step means: the one place that decides whether a step measured the server, and what its figures say.

Every view (the terminal summary, the report, compare, the slides, the planner) asks this module; none recomputes a
step's standing. Pure functions of results.json's models; each rule's threshold is declared once, below.

A step is **usable** when it measured the server and nothing else. It is *flagged* (with its cause) and does not
count for the peak, the capacity or the knee when it is:

- **generator-bound**: the generator side was busy while the server was not at its limit: the step measured Locust.
  Busy is its CPU (its busiest process, all its processes together or its CPU set at GENERATOR_SATURATION or more:
  flasklab.core.generator_side's one rule) or its own measured lag (LAG_SHARE of the step's median latency and at least
  LAG_FLOOR_MS: its event loop's oversleep; in the open model a request's delay in being sent) or, in the open model,
  its cap of requests open at once reached (what it held back is its backlog, not the server's: such a step is never
  called unstable). The server was at its limit when its CPU was near its budget (SERVER_NEAR_BUDGET of meta.budget's
  cpus) or its *measured* requests in flight (the mean over the window, from the lab app's answers) reached
  SERVER_IN_FLIGHT_SHARE of its configured concurrency. Configured users clear nothing: a busy generator sends fewer
  requests than it has users. Files without the in-flight measure (a user's app, older runs) rely on the CPU alone
  and their steps say it was not measured.
- **lower bound**: the generator was busy *and* the server at its limit: both set the pace, so the step's rps is a
  lower bound of the server's capacity (shown as LOWER_BOUND_MARK rps, ``TargetAnalysis.lower_bound``), not its peak.
- **server CPUs shared**: the servers' pinned CPUs were near full (SERVER_NEAR_BUDGET of their time running
  processes, from /proc/stat) and other processes ran at least SHARED_SERVER_CPU cores of it beside the server: idle
  servers of the compose lab, the machine's other work. The server did not have its budget to itself.
- **failures**: more than MAX_FAILURE_RATE (1 %) of its completed requests failed. Fast errors are not served
  requests: a server that fails fast must not show a higher peak. Its successes are requests - failures.
- **not steady**: throughput and in-flight requests were still moving when its window began (``steady`` False;
  None, unknown in older files, passes).
- **unstable** (open model): the backlog grew over the window's slices as a trend beyond their noise
  (flasklab.core.steady, which states the test's false alarms and power): the server did not keep up with the offered
  rate.
- **thin sample**: fewer than MIN_SAMPLES latency samples, so even its p95 is only the maximum of the window.
- **no successes**: nothing completed successfully in the window.

A run whose generator was not pinned (no CPU set of its own, so nothing else on its CPUs was measured) notes on each
step that it was not checked for sharing; that is a note, not a flag.

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

from flasklab.core.generator_side import busy_signs
from flasklab.core.intervals import two_sided_min
from flasklab.core.results import Meta, Results, Step, Target
from flasklab.core.settings import GENERATOR_SATURATION

# More failed requests than this share of a step's completions: the step does not count.
MAX_FAILURE_RATE = 0.01
# Server CPU at or above this share of its budget: the server, not the generator, was the limit.
SERVER_NEAR_BUDGET = 0.85
# Measured requests in flight at the server (the mean over the window, flasklab_app.inflight) at or above this share
# of its configured concurrency: every worker was taken. Not 1: a worker's time outside the app (reading the request,
# writing the answer) is not in the app's count; gunicorn sync's 4 workers on 100 ms sleeps measure 3.9-4.0 here.
SERVER_IN_FLIGHT_SHARE = 0.9
# The generator's own lag (a p95: its event loop's oversleep, or in the open model a request's delay in being sent)
# is material from LAG_SHARE of the step's median latency: a quarter of what the step reports is then the generator's
# wait. Below LAG_FLOOR_MS it is never material: gevent's timers and the kernel's scheduling give 0.4-0.6 ms with
# Locust half idle here, and a one-user step of hello, whose median is about 1 ms, would read as generator-bound.
LAG_SHARE = 0.25
LAG_FLOOR_MS = 1.0
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
    "generator-bound",
    "lower bound",
    "server CPUs shared",
    "failures",
    "not steady",
    "unstable",
    "thin sample",
    "no successes",
]


@dataclass(frozen=True)
class Interval:
    """A figure's interval and what it is: views print ``label`` with it, so a range is never read as 95 %."""

    low: float
    high: float | None  # None: no upper bound (too few samples for a 95 % one)
    label: str  # "95 % order-statistic interval", "range of 2 rounds", "t-interval of 10 slices", ...


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
    generator_pinned: bool = True  # the generator had CPUs of its own (False: nothing else on them was measured)


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
    sharing_checked: bool = True  # False: the generator was not pinned, so what else ran on its CPUs is unknown

    @property
    def usable(self) -> bool:
        return not self.flags

    @property
    def generator_bound(self) -> bool:
        return any(flag.kind == "generator-bound" for flag in self.flags)

    @property
    def capacity_lower_bound(self) -> bool:
        """Both the generator and the server were at their limit, and nothing else keeps the step from counting: its
        rps is a lower bound of the server's capacity (shown with LOWER_BOUND_MARK), not its peak."""
        return bool(self.flags) and all(flag.kind == "lower bound" for flag in self.flags)

    def rps_text(self, text: str) -> str:
        """A step's rps as views print it: '≥ 2,148.8' for a lower bound of the server's capacity."""
        return f"{LOWER_BOUND_MARK} {text}" if self.capacity_lower_bound else text

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
        if not self.sharing_checked:
            notes.append("not checked for sharing: the generator was not pinned, so other work on its CPUs is unknown")
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
    generator_pinned = bool((meta.pinning or {}).get("generator"))
    cpus = budget_value(meta.budget.get("cpus"))
    return Limits(cpus, target.concurrency, len(pinned) if pinned else None, generator_pinned)


def successes(step: Step) -> int:
    return step.requests - step.failures


def failure_rate(step: Step) -> float:
    """Failed share of the step's completed requests (0 when nothing completed)."""
    return step.failures / step.requests if step.requests else 0.0


def latency_samples(step: Step) -> int:
    """How many latencies the percentiles are of: the successes, and in the open model the censored requests."""
    return successes(step) + (step.censored or 0)


def lag_material(lag_ms: float | None, step: Step) -> bool:
    """Was the generator's own lag (a p95) a material share of what the step measured (LAG_SHARE of its median
    latency, and at least LAG_FLOOR_MS)?"""
    if lag_ms is None or lag_ms < LAG_FLOOR_MS:
        return False
    return step.p50_ms is None or lag_ms >= LAG_SHARE * step.p50_ms


def generator_lag(step: Step) -> list[str]:
    """What shows the generator itself was late at this step, in words: the open loop's cap of requests open at once
    reached (the arrivals it held back are its backlog, not the server's), or a material lag."""
    signs = []
    if step.capped_arrivals:
        signs.append(
            f"{step.capped_arrivals:,} arrival{'s' if step.capped_arrivals != 1 else ''} found the open loop's cap of "
            "requests open at once reached (the generator's backlog, not the server's)"
        )
    if lag_material(step.send_lag_p95_ms, step):
        signs.append(f"requests sent {step.send_lag_p95_ms:.3g} ms after they were due (p95)")
    if lag_material(step.loop_lag_p95_ms, step):
        signs.append(f"its event loop {step.loop_lag_p95_ms:.3g} ms late (p95)")
    return signs


def generator_busy(step: Step) -> str | None:
    """What shows the generator side was busy at this step, in words (its CPU by flasklab.core.generator_side's one
    rule, its measured lag); None when it kept up."""
    cpu = busy_signs(
        step.generator_cpu, step.generator_cpu_total, step.generator_cpus, step.generator_set_busy, GENERATOR_SATURATION
    )
    if step.generator_saturated and not cpu:  # the Locust process's own verdict, by the same rule and its threshold
        cpu = [f"busiest process at {step.generator_cpu * 100:.0f} % of a core"]
    return ", ".join([*cpu, *generator_lag(step)]) or None


def server_limit(step: Step, server: Limits) -> str | None:
    """What shows the server set the pace, in words: its CPU near its budget, or its measured requests in flight at
    SERVER_IN_FLIGHT_SHARE of its configured concurrency or more; None when neither (or neither was measured)."""
    signs = []
    budget, cpu = server.budget_cpus, step.server_cpu
    if budget is not None and cpu is not None and cpu >= SERVER_NEAR_BUDGET * budget:
        signs.append(f"its CPU at {cpu:.2g} of its {budget:g} CPU budget")
    in_flight, concurrency = step.server_in_flight, server.concurrency
    if in_flight is not None and concurrency is not None and in_flight >= SERVER_IN_FLIGHT_SHARE * concurrency:
        signs.append(f"{in_flight:.2f} requests in flight of its {concurrency} configured")
    return ", ".join(signs) or None


def server_use(step: Step, server: Limits) -> str:
    """The server's CPU and measured requests in flight against its limits: 'the server used 0.4 of its 1 CPU budget
    and had 0.31 requests in flight (at most 1 in a process) of 4 configured'."""
    if step.server_cpu is None:
        cpu = "the server's CPU was not measured"
    elif server.budget_cpus is None:
        cpu = f"the server used {step.server_cpu:.2g} CPU (no budget recorded)"
    else:
        cpu = f"the server used {step.server_cpu:.2g} of its {server.budget_cpus:g} CPU budget"
    bound = "unbounded" if server.concurrency is None else f"{server.concurrency} configured"
    if step.server_in_flight is None:
        return f"{cpu}; its requests in flight were not measured ({bound})"
    most = f" (at most {step.server_in_flight_max} in a process)" if step.server_in_flight_max is not None else ""
    return f"{cpu} and had {step.server_in_flight:.2f} requests in flight{most} of {bound}"


def generator_flag(step: Step, server: Limits) -> Flag | None:
    """A busy generator's flag: generator-bound when the server was not at its limit (the step measured Locust), a
    lower bound of the server's capacity when it was (both set the pace: the server can do at least this)."""
    busy = generator_busy(step)
    if busy is None:
        return None
    limit = server_limit(step, server)
    if limit is None:
        cause = f"generator-bound: generator side busy ({busy}) while {server_use(step, server)}"
        return Flag("generator-bound", cause)
    cause = (
        f"lower bound: generator side busy ({busy}) and the server at its limit ({limit}): {step.rps:,.1f} rps is a "
        "lower bound of the server's capacity, not its peak"
    )
    return Flag("lower bound", cause)


def shared_server_cpu(step: Step, server: Limits) -> float | None:
    """Cores other processes used on the server's pinned CPUs when they were near full, if enough to matter."""
    if step.server_set_busy is None or step.server_cpu is None or not server.server_set_cpus:
        return None
    cores = server.server_set_cpus
    others = step.server_set_busy * cores - step.server_cpu
    crowded = step.server_set_busy >= SERVER_NEAR_BUDGET
    return others if crowded and others >= SHARED_SERVER_CPU else None


def unstable_cause(step: Step) -> str:
    """Why an open-model step is unstable, with the backlog's path when the step recorded it (flasklab.core.steady)."""
    path = step.backlog_path
    if not path or len(path) < 2:
        backlog = f" to {step.backlog:,}" if step.backlog is not None else ""
        return f"unstable (backlog grew{backlog}): the server did not keep up"
    rate = (path[-1] - path[0]) / step.duration_s if step.duration_s else 0.0
    return (
        f"unstable: the backlog grew from {path[0]:,} to {path[-1]:,} ({rate:+.3g} requests/s), a trend over the "
        f"window's {len(path) - 1} slices beyond their noise: the server did not keep up with "
        f"{step.offered_rps or 0:g} rps offered"
    )


def step_flags(step: Step, server: Limits) -> list[Flag]:
    """Every reason the step does not count, in the order the module docstring gives them."""
    flags = []
    if (generator := generator_flag(step, server)) is not None:
        flags.append(generator)
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
    if step.unstable and not step.capped_arrivals:  # a capped generator's backlog is its own (generator-bound)
        flags.append(Flag("unstable", unstable_cause(step)))
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
    sharing_checked = server.generator_pinned or step.generator_set_busy is not None
    flags = tuple(step_flags(step, server))
    return Standing(step, flags, samples, thin, step.percentiles_lower_bound, sharing_checked)


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
    def lower_bound(self) -> Step | None:
        """The highest rps of the steps that are a lower bound of the server's capacity (generator and server both at
        their limit), when it is above the peak: then the server can do at least that, and its peak is not known."""
        bounds = [standing.step for standing in self.steps if standing.capacity_lower_bound]
        best = max(bounds, key=lambda step: step.rps, default=None)
        top = self.peak
        return best if best is not None and (top is None or best.rps > top.rps) else None

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


ROUNDS_INTERVAL = "95 % interval of the median of {rounds} rounds (order statistics)"
ROUNDS_RANGE = "range of {rounds} rounds"
SLICES_INTERVAL = "t-interval of the window's 10 slices"
P95_EXACT = "95 % interval (order statistics)"
P95_NO_UPPER = "95 % lower bound; no upper bound (n < {samples})"
P95_APPROXIMATE = "order statistics at approximate ranks (an older run: under 95 % below ~100 samples)"


def rounds_interval(rounds: int, interval: tuple[float | None, float | None], extent: tuple[float, float]) -> Interval:
    """Across rounds: the 95 % interval of their median where there is one (6 rounds and more), else their range."""
    low, high = interval
    if low is not None and high is not None:
        return Interval(low, high, ROUNDS_INTERVAL.format(rounds=rounds))
    return Interval(*extent, ROUNDS_RANGE.format(rounds=rounds))


def rps_interval(step: Step) -> Interval | None:
    """A step's throughput interval, named: across rounds (rounds_interval), else the window's own slices' t-interval.

    The slices' interval holds the window's rate only where its slices are independent (flasklab.loadgen.window's
    rate_interval says where), and says nothing of the drift between runs.
    """
    if (spread := step.spread) is not None:
        return rounds_interval(spread.rounds, (spread.rps_low, spread.rps_high), (spread.rps_min, spread.rps_max))
    if step.rps_low is None or step.rps_high is None:
        return None
    return Interval(step.rps_low, step.rps_high, SLICES_INTERVAL)


def p95_interval(step: Step) -> Interval | None:
    """A step's p95 interval, named: across rounds (rounds_interval), else the window's own order statistics.

    Exact binomial ranks give a distribution-free 95 % interval, or below ``two_sided_min`` samples only a lower
    bound (``high`` None, "no upper bound"); a run written before them had approximate ranks, and says so.
    """
    if (spread := step.spread) is not None and spread.p95_min_ms is not None and spread.p95_max_ms is not None:
        interval = (spread.p95_low_ms, spread.p95_high_ms)
        return rounds_interval(spread.rounds, interval, (spread.p95_min_ms, spread.p95_max_ms))
    if step.p95_low_ms is None:
        return None
    if step.p95_ranks != "exact":
        return None if step.p95_high_ms is None else Interval(step.p95_low_ms, step.p95_high_ms, P95_APPROXIMATE)
    if step.p95_high_ms is None:
        return Interval(step.p95_low_ms, None, P95_NO_UPPER.format(samples=two_sided_min(PERCENTILES["p95"] / 100)))
    return Interval(step.p95_low_ms, step.p95_high_ms, P95_EXACT)


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
