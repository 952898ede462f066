"""What a step means: the one place that decides whether a step measured the server, and what its percentiles say.

Every view (the terminal summary, the report, compare, the slides, the planner) and the claims ask this module (through
flasklab.core.analysis); none recomputes a step's standing or filters steps by rules of its own. Pure functions of
results.json's models; each rule's threshold is declared once, here or in flasklab.core.bottleneck.

A step is **usable** when it measured the server and nothing else. It is *flagged* (with its cause) and does not
count for the peak, the capacity or the knee when it is:

- **generator-bound**: the generator side was busy while the server was not at its limit: the step measured Locust.
  Busy and at its limit are flasklab.core.bottleneck's (the generator's CPU by flasklab.core.generator_side's one
  rule, its measured lag, the open loop's cap reached; the server's CPU near its budget or its measured requests in
  flight at its configured concurrency). Configured users clear nothing: a busy generator sends fewer requests than
  it has users. Files without the in-flight measure (a user's app, older runs) rely on the CPU alone and their steps
  say it was not measured. A capped generator's step is never called unstable: what it held back is its backlog.
- **lower bound**: the generator was busy *and* the server at its limit: both set the pace, so the step's rps is a
  lower bound of the server's capacity (shown as LOWER_BOUND_MARK rps, ``TargetAnalysis.lower_bound``), not its peak.
- **server CPUs shared**: the servers' pinned CPUs were near full and other processes ran a material share of them
  beside the server (flasklab.core.bottleneck): idle servers of the compose lab, the machine's other work. The server
  did not have its budget to itself.
- **failures**: more than MAX_FAILURE_RATE (1 %) of its completed requests failed. Fast errors are not served
  requests: a server that fails fast must not show a higher peak. Its successes are requests - failures.
- **not steady**: throughput and in-flight requests were still moving when its window began (``steady`` False;
  None, unknown in older files, passes).
- **unstable** (open model): the backlog grew over the window's slices as a trend beyond their noise
  (flasklab.core.steady, which states the test's false alarms and power): the server did not keep up with the offered
  rate.
- **no successes**: nothing completed successfully in the window.

A **thin sample** (fewer than MIN_SAMPLES latency samples: its p95 is only the maximum of the window) costs the step
its percentile, not its throughput: the step counts for the peak and the curve (its completions per second are
measured whatever their number), its p95 is marked not measurable (THIN_MARK), and it never counts against an SLO
(``Standing.p95_measurable``; ``TargetAnalysis.within_slo``).

Two filters follow, both decided here: ``Standing.usable`` (no flag: what the peak, the capacity and the knee count)
and ``Standing.measured_the_server`` (no flag of NOT_THE_SERVER: what the slow-client claims read, since a starved
server's thin, unsteady or failing steps are what they are about).

A run whose generator was not pinned (no CPU set of its own, so nothing else on its CPUs was measured) notes on each
step that it was not checked for sharing; that is a note, not a flag.

**Percentiles.** A nearest-rank percentile q of n samples is the sample maximum when n·(1 - q) < 1: p50 needs 2
samples, p95 20, p99 100 to be more than the maximum. Below that the percentile is *thin* and marked THIN_MARK. In the
open model, requests due and unanswered at the window's end are in the percentiles at their age then
(``percentiles_lower_bound``): each percentile is then a *lower bound*, marked LOWER_BOUND_MARK. A stable step's
pending requests are the ones any instant holds in flight, so a lower-bound p95 of a usable step still counts
against an SLO; an unstable step never does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from flasklab.core.bottleneck import Limits, generator_busy, server_limit, server_use, shared_server_cpu
from flasklab.core.results import Step

# More failed requests than this share of a step's completions: the step does not count.
MAX_FAILURE_RATE = 0.01
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
    "no successes",
]
# The flags that say a step measured something else than the server: Locust, or other processes on its CPUs.
NOT_THE_SERVER: tuple[FlagKind, ...] = ("generator-bound", "server CPUs shared")


def min_samples(percentile: str) -> int:
    """The fewest samples for which a nearest-rank percentile is more than the sample maximum: n·(1 - q) >= 1."""
    q = PERCENTILES[percentile]
    return -(-100 // (100 - q))


MIN_SAMPLES = min_samples(CAPACITY_PERCENTILE)


def is_thin(percentile: str, samples: int) -> bool:
    """Whether the percentile of ``samples`` latencies is just their maximum."""
    return samples < min_samples(percentile)


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
    def p95_measurable(self) -> bool:
        """The step's p95 is more than the maximum of its samples (MIN_SAMPLES of them): only then does it count
        against an SLO. A thin step still counts for throughput."""
        return self.samples >= MIN_SAMPLES

    @property
    def measured_the_server(self) -> bool:
        """No flag says the step measured something else than the server (NOT_THE_SERVER): what a claim about a
        starved server reads, whose thin, unsteady or failing steps are its evidence, not a fault of the lab."""
        return not any(flag.kind in NOT_THE_SERVER for flag in self.flags)

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
        if overflow := listen_overflow(self.step):
            notes.append(overflow)
        return notes

    def marked(self, percentile: str, text: str) -> str:
        """A percentile's text with its marks: '≥ 120' for a lower bound, '120†' for a thin one."""
        prefix = f"{LOWER_BOUND_MARK} " if self.lower_bound else ""
        suffix = THIN_MARK if percentile in self.thin else ""
        return f"{prefix}{text}{suffix}"


def listen_overflow(step: Step) -> str | None:
    """What the kernel's listen overflows over the step's window say (flasklab_app.listen), if any: the server's
    accept queue overflowed when it was seen full, else the count is the namespace's (another listener's)."""
    dropped, backlog, most = step.listen_overflows, step.accept_backlog, step.accept_queue_max
    if not dropped or backlog is None or most is None:
        return None
    plural = "s" if dropped != 1 else ""
    if most >= backlog:
        return f"accept queue overflowed: {dropped} connection{plural} dropped by the kernel (backlog {backlog}, full)"
    return (
        f"{dropped} listen overflow{plural} in the server's network namespace, its accept queue never seen full "
        f"(at most {most} of {backlog}): another listener's, or between two readings"
    )


def load_text(step: Step) -> str:
    """A step's load in words: '16 users', or in the open model '160 rps offered'."""
    if step.offered_rps is not None:
        return f"{step.offered_rps:g} rps offered"
    return f"{step.users} user{'s' if step.users != 1 else ''}"


def milliseconds(value: float) -> str:
    """A latency as the log and the stopping rule print it: one decimal under 10 ms, whole milliseconds above."""
    return f"{value:.1f}" if value < 10 else f"{value:,.0f}"


def successes(step: Step) -> int:
    return step.requests - step.failures


def failure_rate(step: Step) -> float:
    """Failed share of the step's completed requests (0 when nothing completed)."""
    return step.failures / step.requests if step.requests else 0.0


def latency_samples(step: Step) -> int:
    """How many latencies the percentiles are of: the successes, and in the open model the censored requests."""
    return successes(step) + (step.censored or 0)


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
    return flags


def assess(step: Step, server: Limits) -> Standing:
    """The step's standing: its flags and how far its percentiles go."""
    samples = latency_samples(step)
    thin = tuple(name for name in PERCENTILES if samples > 0 and is_thin(name, samples))
    sharing_checked = server.generator_pinned or step.generator_set_busy is not None
    flags = tuple(step_flags(step, server))
    return Standing(step, flags, samples, thin, step.percentiles_lower_bound, sharing_checked)
