"""The sweep a run measures, fixed before it starts, and what is left of it as results.json stands.

The runner measures a Sweep; the planner's verification and tuning describe theirs and hand them to it. What is left
(steps, starts, probes), the progress (steps done of all) and the time left are computed here once, from results.json
alone (its meta holds the sweep's servers, scenarios, loads, rounds and probe): the runner tells the terminal and the
log from it and records its estimate in results.json (``meta.time_left``), which the live pages read.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from flasklab.core.catalog import Scenario, Server
from flasklab.core.results import Estimate, Results, Target
from flasklab.core.run_record import StepsRule
from flasklab.core.settings import DEFAULT_SLO_P95_MS, PROFILES, WINDOW_FLOOR, Profile
from flasklab.core.timeouts import outlasting
from flasklab.core.userapp import UserApp

# What an estimate of the time left adds to its steps, each a little above a local run's as `scripts/bench
# sweep_standard` measured it over the catalog (2026-12-05, docs/runs/bench-sweep-standard.txt: 32 s of starts and
# stops for 15 servers, 21 s of probes, 10 s of load generators for 90 targets): a server's start, health check and
# stop; its probe (7 s where dev-single serves it one request after another and waits out its self-call, under 1 s
# where gunicorn serves four at once); a target's load generator starting (forked, flasklab.measure.forked: it was
# 0.8 s a target while each imported Locust) and stopping.
SERVER_ALLOWANCE_S = 2.0
PROBE_ALLOWANCE_S = 1.5
TARGET_ALLOWANCE_S = 0.2
# Adaptive steps: how many curves of the profile's whole grid the expected length of a curve starts from.
PRIOR_CURVES = 10
# How many steps of the shortest length the profile allows (its warm-up and WINDOW_FLOOR of its window) a step's
# expected length starts from: the first server's steps alone are no guide to the rest (dev-single's are long).
PRIOR_STEPS = 10


@dataclass(frozen=True)
class Remaining:
    """What is left of a sweep: target rounds not begun, steps to measure, servers to start and to probe; the steps
    measured so far (a failed or skipped server's steps not measured are dropped, not counted as done); and a step's
    length (``step_length``: as measured so far, else the profile's warm-up and window). ``bound``: the time left is
    an upper bound, not an estimate: no step has been measured yet, so every step is counted at the profile's whole
    warm-up and window and every curve to its top (the most they take). On docs/runs/standard it was 3.1 times the
    time left; from the first step on, an estimate."""

    targets: int
    steps: int
    starts: int
    probes: int
    done: int = 0
    step_s: float = 0.0
    bound: bool = False

    @property
    def total(self) -> int:
        """Every step the sweep measures, as it stands: done and left."""
        return self.done + self.steps

    @property
    def seconds(self) -> float:
        """The time left: the steps left at their length, and an allowance for each target, start and probe."""
        return (
            self.steps * self.step_s
            + self.targets * TARGET_ALLOWANCE_S
            + self.starts * SERVER_ALLOWANCE_S
            + self.probes * PROBE_ALLOWANCE_S
        )


@dataclass(frozen=True)
class Sweep:
    """What one run measures and how, fixed before it starts (``dataclasses.replace`` makes a changed copy)."""

    servers: list[Server]
    scenarios: list[Scenario]
    profile: Profile
    out: Path
    probe: bool = True
    params: dict[str, dict[str, int]] = field(default_factory=dict)
    rounds: int = 1
    processes: int = 1  # Locust processes on this machine (a master and local workers above 1)
    model: str = "closed"  # or "open": requests due at the profile's rates, latency from their due time
    user_app: UserApp | None = None  # --app: the backend runs it, meta records it
    seed: int | None = None  # of the rounds' shuffled order and the open model's arrivals (None: random, recorded)
    arrivals: str = "poisson"  # the open model's: "poisson" (random, seeded) or "uniform" (evenly spaced)
    connections: str = "keepalive"  # or "close": the load's clients open a new TCP connection per request
    prediction: dict[str, str] | None = None  # plan --verify: what the planner predicted for this run's one step
    slo_p95_ms: float = DEFAULT_SLO_P95_MS  # the latency objective its report judges it by, recorded with it
    steps_rule: StepsRule = "adaptive"  # or "fixed": every step of the profile (flasklab.core.stopping)
    reload_at_s: float = 0.0  # a deploy under load this far into each window (0: none; windows then fixed)

    @property
    def loads(self) -> tuple[int, ...]:
        return self.profile.loads(self.model)


def seeded(sweep: Sweep) -> Sweep:
    """The sweep with a seed drawn when it needs one (shuffled rounds, random arrivals) and none was given."""
    if (sweep.rounds > 1 or sweep.model == "open") and sweep.seed is None:
        return replace(sweep, seed=secrets.randbelow(2**31))
    return sweep


def remaining(results: Results) -> Remaining:
    """What is left of the run's sweep, from what results.json holds: a failed or skipped server gets no later round.

    With adaptive steps a curve's length is known once it stopped or its first round ended; until then it is expected
    to run as many steps as the finished curves of its scenario did, shrunk towards the profile's whole grid
    (``expected_lengths``), so that the estimate learns as the run goes without one server deciding it.
    """
    meta = results.meta
    per_round = len(meta.steps)
    expected = expected_lengths(results) if meta.steps_rule == "adaptive" else {}
    targets = steps = 0.0
    starts = probes = 0
    probed = {probe.server for probe in results.probe}
    for server in meta.servers:
        measured = {target.scenario: target for target in results.targets if target.server == server}
        begun = (max(len(target.rounds) for target in measured.values()) if meta.rounds > 1 else 1) if measured else 0
        stopped = any(target.status in ("failed", "skipped") for target in measured.values())
        rounds = begun if stopped else meta.rounds
        for scenario in meta.scenarios:
            target = measured.get(scenario)
            if target is not None and target.status in ("failed", "skipped"):
                continue
            length = (curve_length(target) if target is not None else None) or expected.get(scenario, per_round)
            left = max(rounds * length - (target.steps_done() if target is not None else 0), 0)
            steps += left
            targets += left // length if length else 0
        starts += rounds - begun
        probes += meta.probe and server not in probed
    done = sum(target.steps_done() for target in results.targets)
    bound = not measured_steps(results)
    return Remaining(round(targets), round(steps), starts, probes, done, step_length(results), bound)


def curve_length(target: Target) -> int | None:
    """How many steps a round of the target runs, once known: its first round's, when its curve stopped or that round
    ended (later rounds repeat it); None while its first round goes on and its curve has not stopped."""
    first = target.rounds[0] if target.rounds else target.steps
    if target.stopped is not None or len(target.rounds) > 1 or target.status == "ok":
        return len(first)
    return None


def expected_lengths(results: Results) -> dict[str, float]:
    """Each scenario's expected curve length for adaptive steps: its known lengths shrunk towards a prior of
    PRIOR_CURVES curves, the prior itself every known length shrunk towards the profile's whole grid the same way.

    Without the prior the first server's curves decided every later one's (dev-single's are short: the standard
    sweep's estimate fell to 44 % under the time really left). The catalog measures the dev servers first, whose
    curves are short, and the thread and event-loop servers' climb to the top later: with a prior of 5 curves the
    compose standard sweep of 2026-12-06 (results/20261206-015210-b3da, generator-bound curves stopped) was told 23 %
    too little at gunicorn-gthread. Replayed (`scripts/bench time_left`), a prior of 10 curves is within 20 % at every
    estimate of that run (median -5 %, worst +19 %) and of docs/runs/standard (median -2 %, worst +15 %); 5 gave -10 %
    and -23 %, 15 and 20 drifted over (+20 %, +23 %).
    """
    known: dict[str, list[int]] = {}
    for target in results.targets:
        if (length := curve_length(target)) is not None:
            known.setdefault(target.scenario, []).append(length)
    every = [length for lengths in known.values() for length in lengths]
    prior = (PRIOR_CURVES * len(results.meta.steps) + sum(every)) / (PRIOR_CURVES + len(every))
    return {
        scenario: (PRIOR_CURVES * prior + sum(known.get(scenario, []))) / (PRIOR_CURVES + len(known.get(scenario, [])))
        for scenario in results.meta.scenarios
    }


def measured_steps(results: Results) -> list[float]:
    """The length of every step measured so far: its warm-up (until steady) and its window (until it held enough)."""
    return [
        step.warmup_used_s + step.duration_s
        for target in results.targets
        for steps in (target.rounds or [target.steps])
        for step in steps
        if step.warmup_used_s is not None
    ]


def whole_windows(results: Results) -> bool:
    """Does every window of the run last the profile's whole window (the moments profile, a deploy under load, a run
    of scenarios that outlast the servers' timeout only)?"""
    meta = results.meta
    profile = PROFILES.get(meta.profile)
    timeouts = bool(meta.scenarios) and all(outlasting(results, name) for name in meta.scenarios)
    return (profile is not None and profile.windows == "fixed") or bool(meta.reload_at_s) or timeouts


def step_length(results: Results) -> float:
    """A step's length for the time left: the mean of the steps measured so far shrunk towards the shortest step the
    profile allows (as if PRIOR_STEPS steps had lasted it), or the profile's warm-up and window (the longest a step
    lasts) before any. Replayed (`scripts/bench time_left`) on a local and a compose standard sweep of 2026-12-05, the
    estimates after the first target were within 15 % and 19 % of the time left; without the prior, 23 % and 44 %
    over it while the first server's long steps were all it had measured."""
    meta = results.meta
    lengths = measured_steps(results)
    if not lengths:
        return meta.warmup_s + meta.window_s
    shortest = meta.warmup_s + (meta.window_s if whole_windows(results) else WINDOW_FLOOR * meta.window_s)
    return (sum(lengths) + PRIOR_STEPS * shortest) / (len(lengths) + PRIOR_STEPS)


def estimate(results: Results, made: datetime | None = None) -> Estimate:
    """The time the run has left as results.json stands (``remaining``), made now."""
    when = (made or datetime.now(UTC)).isoformat(timespec="seconds")
    left = remaining(results)
    return Estimate(left_s=round(left.seconds, 1), made=when, upper_bound=left.bound)
