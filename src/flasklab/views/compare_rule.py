"""The judgement of two runs: per server and scenario, did peak throughput and p95 really change?

A pure function of two results.json. The rule, ``Change.real``: a change is real when all three of these hold.

1. **The difference's own interval excludes zero.** Each run's interval of the figure (flasklab.core.analysis's
   ``rps_interval`` / ``p95_interval``, named by what it is) gives B - A an interval by MOVER (Zou and Donner,
   2008): each end combines the two runs' distances on the facing sides in quadrature, as for independent
   estimates, so asymmetric order-statistic intervals keep their shape and a p95 with no upper bound leaves that
   end open. Two 95 % intervals that merely overlap can still give a difference clear of zero; disjoint ones always
   do.
2. **The change is at least NOISE_FLOOR of A's value.** Within-window intervals see only the window's own sampling
   noise, not the machine's drift between runs (another process, CPU frequency, the hour), which on a shared
   2-core machine is larger; rounds see it only with enough of them. The floors are the drift the A/A benchmark
   measured (``scripts/bench compare-aa``: the same server and profile measured repeatedly, compare run on each
   pair), which also states the rule's false-alarm rate: how often it calls a change between identical setups real.
3. **Like for like.** Peaks at different loads are judged only when each run's step at the other's peak load
   counted too; else the peak moved because a step was flagged in one run only, and is not judged (the note says so).

Where an interval is missing (results written before intervals existed) nothing is called real: without a spread
there is no noise to beat. Which steps count, and so the peak, is flasklab.core.analysis's.

The judgement only: flasklab.views.compare renders it (the terminal table, JSON for scripts, the HTML page).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from flasklab.core.analysis import Interval, TargetAnalysis, analyse, p95_interval, rps_interval
from flasklab.core.results import Meta, Results, Step, Target
from flasklab.views.chart_style import ServerStyle, server_styles

Presence = Literal["both", "only in A", "only in B"]
Tone = Literal["better", "worse", "noise", "none"]
Metric = Literal["peak_rps", "p95"]


# Changes smaller than this share of A's value are never called real: runs of one setup differ this much. Each is
# the 95th percentile (rounded up) of |change| between identical runs in 3 A/A runs on 2 shared cores (quick profile,
# gunicorn-sync and waitress on io and hello, 12 pairs of rounds, 70 figures judged like for like): peak rps 19.2 %,
# p95 29.8 %; io moved by 5 % at most, hello (1-user latency, generator contention) by the most. The A/A benchmark
# (benchmarks/compare_aa.py) measures the false-alarm rate these floors give on runs of its own.
NOISE_FLOOR: dict[Metric, float] = {"peak_rps": 0.20, "p95": 0.30}


@dataclass(frozen=True)
class Measure:
    """One figure of one run: its value, its interval (None: not recorded) and the users it was measured at."""

    value: float
    interval: Interval | None
    users: float  # users, or in the open model the offered rate


def difference_interval(a: Measure, b: Measure) -> tuple[float, float] | None:
    """The interval of B - A from the two runs' intervals by MOVER (the module text); None without both intervals."""
    if a.interval is None or b.interval is None:
        return None

    def above(measure: Measure, interval: Interval) -> float:  # distance to the upper end (open: infinite)
        return math.inf if interval.high is None else max(interval.high - measure.value, 0.0)

    difference = b.value - a.value
    low = difference - math.hypot(max(b.value - b.interval.low, 0.0), above(a, a.interval))
    high = difference + math.hypot(above(b, b.interval), max(a.value - a.interval.low, 0.0))
    return low, high


@dataclass(frozen=True)
class Change:
    """The same figure in run A and run B; ``real`` by the module's rule (difference interval and noise floor)."""

    a: Measure | None
    b: Measure | None
    higher_is_better: bool
    metric: Metric = "peak_rps"
    comparable: bool = True  # False: peaks at loads where the other run's step did not count (never real)

    @property
    def percent(self) -> float | None:
        if self.a is None or self.b is None or self.a.value == 0:
            return None
        return (self.b.value - self.a.value) / self.a.value * 100

    @property
    def difference(self) -> tuple[float, float] | None:
        """The interval of B - A (None: a run without an interval, or a figure missing)."""
        return None if self.a is None or self.b is None else difference_interval(self.a, self.b)

    @property
    def real(self) -> bool:
        difference, percent = self.difference, self.percent
        if difference is None or percent is None or not self.comparable:
            return False
        clear = difference[0] > 0 or difference[1] < 0
        return clear and abs(percent) >= NOISE_FLOOR[self.metric] * 100

    @property
    def tone(self) -> Tone:
        """better / worse for a real change (a p95 that went up is worse), noise otherwise; none: nothing to compare."""
        if self.a is None or self.b is None:
            return "none"
        if not self.real:
            return "noise"
        return "better" if (self.b.value > self.a.value) == self.higher_is_better else "worse"


@dataclass(frozen=True)
class NameChange:
    """One request name's completions per second and exact p95 in both runs at the row's load (slowclient's kinds)."""

    name: str
    rps_a: float | None
    rps_b: float | None
    p95_a_ms: float | None
    p95_b_ms: float | None


def name_changes(at_a: Step | None, at_b: Step | None) -> tuple[NameChange, ...]:
    """Each request name's figures in A's and B's step at the same load, when a step holds several names."""
    steps = [step for step in (at_a, at_b) if step is not None]
    names = sorted({name for step in steps for name in step.names})
    if len(names) < 2:
        return ()

    def rps(step: Step | None, name: str) -> float | None:
        return step.names[name] / step.duration_s if step is not None and name in step.names else None

    def p95(step: Step | None, name: str) -> float | None:
        return step.name_p95_ms.get(name) if step is not None else None

    return tuple(NameChange(n, rps(at_a, n), rps(at_b, n), p95(at_a, n), p95(at_b, n)) for n in names)


@dataclass(frozen=True)
class ComparisonRow:
    """One server under one scenario in both runs: its peak throughput and its p95 at the same load."""

    server: str
    scenario: str
    presence: Presence
    peak_rps: Change
    p95: Change  # measured in both runs at p95_users
    p95_users: float | None  # the users of A's peak step (B's when A has none)
    note: str  # why a figure is missing or may mislead ("" when nothing)
    names: tuple[NameChange, ...] = ()  # per request name at p95_users, when the steps hold several names


def finished(target: Target | None, meta: Meta) -> TargetAnalysis | None:
    """The analysis of a target that finished (a partial sweep has no peak yet); None for one that did not."""
    if target is None or target.status != "ok":
        return None
    return analyse(target, meta)


def peak_step(target: Target | None, meta: Meta) -> Step | None:
    """The peak (flasklab.core.analysis: the usable step of highest rps) of a target that finished."""
    analysis = finished(target, meta)
    return None if analysis is None else analysis.peak


def step_at(target: Target | None, meta: Meta, load: float) -> Step | None:
    """The usable step at this load of a target that finished."""
    analysis = finished(target, meta)
    return None if analysis is None else analysis.at_load(load)


def rps_measure(step: Step | None) -> Measure | None:
    return None if step is None else Measure(step.rps, rps_interval(step), step.load)


def p95_measure(step: Step | None) -> Measure | None:
    if step is None or step.p95_ms is None:
        return None
    return Measure(step.p95_ms, p95_interval(step), step.load)


def flagged_text(analysis: TargetAnalysis) -> list[str]:
    """The target's steps that do not count, by kind: 'generator-bound at 16, 64 users'."""
    loads: dict[str, list[str]] = {}
    for standing in analysis.flagged:
        for flag in standing.flags:
            loads.setdefault(flag.kind, []).append(f"{standing.step.load:g}")
    open_model = any(s.step.offered_rps is not None for s in analysis.steps)
    return [f"{kind} at {', '.join(at)} {'rps offered' if open_model else users(at)}" for kind, at in loads.items()]


def users(loads: list[str]) -> str:
    return "user" if loads == ["1"] else "users"


def row_note(target_a: Target | None, target_b: Target | None, users: float | None, meta_a: Meta, meta_b: Meta) -> str:
    """What a reader must know about a row before trusting it.

    A target that did not finish, no usable step or none at the same load, and steps that do not count
    (flasklab.core.analysis names why: generator-bound, failures, not steady, unstable, too few samples).
    """
    notes = []
    for side, target, meta in (("A", target_a, meta_a), ("B", target_b, meta_b)):
        if target is None:
            continue
        if target.status != "ok":
            notes.append(f"{side}: {target.status}")
            continue
        analysis = analyse(target, meta)
        if analysis.peak is None:
            notes.append(f"{side}: no usable step")
        elif users is not None and analysis.at_load(users) is None:
            notes.append(f"{side}: no usable step at {users:g} users")
        notes += [f"{side}: {text}" for text in flagged_text(analysis)]
    return "; ".join(notes)


def peaks_comparable(target_a: Target | None, target_b: Target | None, meta_a: Meta, meta_b: Meta) -> bool:
    """Whether the two peaks can be set side by side: at the same load, or each run's step at the other's peak load
    counted too. Otherwise a peak moved because a step was flagged in one run only (generator-bound, not steady...),
    and its change says which steps counted, not how the server did: an A/A run showed +63 % from exactly that."""
    peak_a, peak_b = peak_step(target_a, meta_a), peak_step(target_b, meta_b)
    if peak_a is None or peak_b is None or peak_a.load == peak_b.load:
        return True
    return step_at(target_a, meta_a, peak_b.load) is not None and step_at(target_b, meta_b, peak_a.load) is not None


def compare_target(server: str, scenario: str, a: Results, b: Results) -> ComparisonRow:
    target_a, target_b = a.target(server, scenario), b.target(server, scenario)
    peak_a, peak_b = peak_step(target_a, a.meta), peak_step(target_b, b.meta)
    reference = peak_a or peak_b
    users = reference.load if reference else None
    at_a, at_b = (None, None)
    if users is not None:
        at_a, at_b = step_at(target_a, a.meta, users), step_at(target_b, b.meta, users)
    presence: Presence = "both" if target_a and target_b else "only in A" if target_a else "only in B"
    comparable = peaks_comparable(target_a, target_b, a.meta, b.meta)
    note = row_note(target_a, target_b, users, a.meta, b.meta)
    if not comparable and peak_a is not None and peak_b is not None:
        moved = f"peaks at {peak_a.load:g} (A) and {peak_b.load:g} (B) where the other run's step did not count"
        note = "; ".join(filter(None, [note, f"{moved}: peak rps not judged"]))
    return ComparisonRow(
        server=server,
        scenario=scenario,
        presence=presence,
        peak_rps=Change(rps_measure(peak_a), rps_measure(peak_b), True, "peak_rps", comparable),
        p95=Change(p95_measure(at_a), p95_measure(at_b), higher_is_better=False, metric="p95"),
        p95_users=users,
        note=note,
        names=name_changes(at_a, at_b),
    )


def compare_styles(a: Results, b: Results) -> dict[str, ServerStyle]:
    """Server colours as in A's report, B's extra servers after them: a server looks the same on every page."""
    servers = list(dict.fromkeys([*a.meta.servers, *(t.server for t in a.targets), *b.meta.servers]))
    return server_styles(b.model_copy(update={"meta": b.meta.model_copy(update={"servers": servers})}))


def compare_runs(a: Results, b: Results) -> list[ComparisonRow]:
    """A row per server and scenario measured in either run: by scenario (A's order first), then server colour order."""
    measured = {(t.server, t.scenario) for t in (*a.targets, *b.targets)}
    scenarios = dict.fromkeys([*a.meta.scenarios, *b.meta.scenarios, *(scenario for _, scenario in measured)])
    servers = compare_styles(a, b)
    return [
        compare_target(server, scenario, a, b)
        for scenario in scenarios
        for server in servers
        if (server, scenario) in measured
    ]


def setup_differences(a: Results, b: Results) -> list[str]:
    """What differs between the runs besides the servers: a change may come from here, not from the code."""
    fields = {
        "profile": "profile",
        "model": "load model",
        "steps": "load per step",
        "window_s": "window (s)",
        "backend": "backend",
    }
    fields |= {"budget": "budget", "host": "host", "pinning": "CPU pinning"}
    differences = []
    for field, label in fields.items():
        value_a, value_b = getattr(a.meta, field), getattr(b.meta, field)
        if value_a != value_b:
            differences.append(f"{label}: {_setup_text(value_a)} in A, {_setup_text(value_b)} in B")
    differences += [
        f"run {side} is {meta.status}" for side, meta in (("A", a.meta), ("B", b.meta)) if meta.status != "complete"
    ]
    return differences


def _setup_text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{key} {item}" for key, item in value.items()) or "none"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return "none" if value is None else str(value)


def rule_text() -> str:
    """The rule of ``Change.real`` in a sentence, with the floors as they are set."""
    floors = NOISE_FLOOR
    return (
        "A change is real when the interval of the difference B - A (from the two runs' intervals, MOVER) excludes "
        f"zero and the change is at least {floors['peak_rps'] * 100:g} % (peak rps) or {floors['p95'] * 100:g} % "
        "(p95): the drift between identical runs that scripts/bench compare-aa measured. Peaks are judged like for "
        "like (not where one moved because the other run's step did not count)."
    )
