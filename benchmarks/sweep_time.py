"""sweep_quick and sweep_standard: how long the whole catalog takes to measure, and where the time goes.

The sweep `flasklab run --profile quick` (or ``standard``) makes, every server of the catalog and the profile's core
scenarios, the probe included, run in this process with a clock for an observer; every server environment is created
beforehand, so that pip is not timed. Printed: the seconds of the sweep and its report (``sweep_quick_s``, goal
<= 180; ``sweep_standard_s``, goal <= 1200), then the same seconds split by what they were spent on:

- load: the steps' warm-ups and windows (each step's ``warmup_used_s`` + ``duration_s``, as results.json has them);
- generator: the rest of each target's time, the Locust process's start, its ramp between steps and its exit;
- probes: the concurrency probe, server by server;
- servers: starting, checking and stopping servers (between one server's targets and the next's), restarts included
  (a server still busy after a scenario: ``restarts`` counts them);
- report: writing report.html;
- other: what is left (the environments' check before the first server, saving results.json).

Then the time-left estimates the run told as it went (the log's and the projector's: one computation,
flasklab.core.sweep) against the time the sweep really had left when each was made (``sweep_<profile>_time_left``:
the median and the worst relative error of those made while at least TIME_LEFT_FROM_S remained; goal within 20 %),
and how many curves adaptive steps stopped below the profile's top.

Extra arguments go to the sweep as `flasklab run` options would (``--servers a,b``, ``--scenarios io``,
``--steps fixed``).

compose_standard times the same sweep in containers, as a new user starts it: plain `docker compose up` (see its
function); time_left replays the estimate on a finished run (see its function).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from arguments import option
from servers import compose_lab

from flasklab.cli.measure import planned_sweep
from flasklab.core.catalog import lab_root, load_servers
from flasklab.core.results import ProbeResult, Results, Target, load_results
from flasklab.core.sweep import (
    PROBE_ALLOWANCE_S,
    SERVER_ALLOWANCE_S,
    TARGET_ALLOWANCE_S,
    Remaining,
    remaining,
)
from flasklab.measure.backends.local import LocalBackend
from flasklab.measure.observer import Quiet
from flasklab.measure.runner import Run
from flasklab.views.report import write_report

GOALS_S = {"quick": 180, "standard": 1200}
# Estimates made this close to the end are left out of the error: a few seconds off is a large share of little.
TIME_LEFT_FROM_S = 60.0


@dataclass
class Clock(Quiet):
    """Every event of the run with its time: what started and ended when."""

    events: list[tuple[float, str, str]] = field(default_factory=list)
    restarts: int = 0
    # (when, seconds left as the run told it, whether it told an upper bound: flasklab.core.sweep.Remaining.bound)
    estimates: list[tuple[float, float, bool]] = field(default_factory=list)

    def time_left(self, left: Remaining) -> None:
        self.estimates.append((time.monotonic(), left.seconds, left.bound))

    def mark(self, kind: str, what: str) -> None:
        self.events.append((time.monotonic(), kind, what))

    def probe_started(self, server: str) -> None:
        self.mark("probe", server)

    def probe_finished(self, probe: ProbeResult) -> None:
        self.mark("probed", probe.server)

    def target_started(self, server: str, scenario: str) -> None:
        self.mark("target", f"{server}/{scenario}")

    def target_finished(self, target: Target) -> None:
        self.mark("done", f"{target.server}/{target.scenario}")

    def message(self, text: str) -> None:
        self.restarts += ": restarted for " in text


def spent(clock: Clock, results: Results, started: float, ended: float) -> dict[str, float]:
    """The sweep's seconds by what they went to (the module's list), from the clock's events and results.json."""
    parts = dict.fromkeys(("load", "generator", "probes", "servers", "other"), 0.0)
    busy_until = started
    opened: dict[str, float] = {}
    for moment, kind, what in clock.events:
        if kind in ("probe", "target"):
            gap = moment - busy_until  # since the last probe or target ended: servers stopped and started
            parts["servers" if busy_until > started else "other"] += gap
            opened[what] = moment
        elif kind in ("probed", "done") and what in opened:
            seconds = moment - opened.pop(what)
            if kind == "probed":
                parts["probes"] += seconds
            else:
                server, scenario = what.split("/", 1)
                target = results.target(server, scenario)
                load = sum((s.warmup_used_s or 0.0) + s.duration_s for s in target.steps) if target else 0.0
                parts["load"] += min(load, seconds)
                parts["generator"] += max(seconds - load, 0.0)
            busy_until = moment
    parts["servers"] += ended - busy_until  # the last server's stop and the claims
    return parts


def time_left_errors(clock: Clock, ended: float, bound: bool = False) -> list[float]:
    """Each estimate's relative error against the time the sweep really had left then (TIME_LEFT_FROM_S or more);
    with ``bound``, the upper bounds' instead (told before a step was measured: they must not fall short)."""
    return [
        told / (ended - when) - 1
        for when, told, upper in clock.estimates
        if ended - when >= TIME_LEFT_FROM_S and upper == bound
    ]


def sweep_time(profile: str, extra: list[str]) -> int:
    root = lab_root()
    servers, rest = option(extra, "--servers", "")
    scenarios, rest = option(rest, "--scenarios", "")
    steps_rule, _ = option(rest, "--steps", "adaptive")
    out = Path(f"/tmp/flasklab-bench-sweep-{profile}")
    shutil.rmtree(out, ignore_errors=True)  # the bench's own folder: the last run's results make way
    _, sweep = planned_sweep(
        servers or None,
        scenarios or None,
        profile,
        (),
        False,
        out,
        rates=None,
        probe=True,
        rounds=1,
        seed=None,
        processes=1,
        model="closed",
        arrivals=None,
        connections="keepalive",
        slo_p95_ms=500.0,
        steps_rule=steps_rule,
    )
    backend = LocalBackend(root, out / "logs", report=lambda _: None)
    backend.prepare(list(load_servers(root).values()))  # pip, once per environment, is not what is timed
    clock = Clock()
    started = time.monotonic()
    results = Run(sweep, backend, clock).execute()
    swept = time.monotonic()
    write_report(out)
    ended = time.monotonic()
    parts = spent(clock, results, started, swept) | {"report": ended - swept}
    total = ended - started
    parts["other"] += total - sum(parts.values())
    ok = sum(target.status == "ok" for target in results.targets)
    print(
        f"sweep_{profile}_s {total:.0f}  (goal <= {GOALS_S.get(profile, '-')})  targets ok {ok}/{len(results.targets)} "
        f"({len(results.meta.servers)} servers x {len(results.meta.scenarios)} scenarios, "
        f"{sum(len(t.steps) for t in results.targets)} steps)"
    )
    print(f"sweep_{profile}_parts " + "  ".join(f"{name} {seconds:.0f}" for name, seconds in parts.items()))
    print(f"sweep_{profile}_restarts {clock.restarts}")
    stopped = sum(target.stopped is not None for target in results.targets)
    print(f"sweep_{profile}_stopped {stopped} of {len(results.targets)} curves ({results.meta.steps_rule} steps)")
    if errors := sorted(time_left_errors(clock, swept)):
        worst = max(errors, key=abs)
        print(
            f"sweep_{profile}_time_left median {statistics.median(errors):+.0%} worst {worst:+.0%} (goal within 20 %; "
            f"{len(errors)} estimates made {TIME_LEFT_FROM_S:.0f} s or more before the end)"
        )
    if bounds := time_left_errors(clock, swept, bound=True):
        held = sum(error >= 0 for error in bounds)
        print(f"sweep_{profile}_time_left_bounds {held} of {len(bounds)} held (told as 'at most': {min(bounds):+.0%})")
    print(f"# results: {out}")
    return 0 if ok == len(results.targets) else 1


def sweep_quick(extra: list[str]) -> int:
    return sweep_time("quick", extra)


def sweep_standard(extra: list[str]) -> int:
    return sweep_time("standard", extra)


def time_left_replay(extra: list[str]) -> int:
    """time_left: the time-left estimate (flasklab.core.sweep.remaining, the log's and the projector's) replayed on a
    finished run of one round (``--from DIR``, default docs/runs/standard): before each target, the run as it stood
    (the targets before it finished, the rest not begun) against the time its steps really took from there, both with
    the same allowances, so that the error is the estimate's steps and their length. Printed as sweep_time_left_replay:
    median and worst relative error of the estimates made TIME_LEFT_FROM_S or more before the end, the worst after the
    first server, and how many were within 20 %."""
    source, _ = option(extra, "--from", str(lab_root() / "docs" / "runs" / "standard"))
    results = load_results(Path(source))
    ordered = list(results.targets)
    allowances = TARGET_ALLOWANCE_S  # what remaining() adds a target not begun; starts and probes the same below
    errors: list[tuple[str, float]] = []
    bounds: list[float] = []  # the upper bounds told before a step was measured: each must be at least the time left
    for index, target in enumerate(ordered):
        snapshot = results.model_copy(deep=True)
        snapshot.meta.status = "running"
        snapshot.targets = snapshot.targets[:index]
        begun = {t.server for t in snapshot.targets}
        snapshot.probe = [probe for probe in snapshot.probe if probe.server in begun]
        left = remaining(snapshot)
        steps_left = sum((s.warmup_used_s or 0.0) + s.duration_s for t in ordered[index:] for s in t.steps)
        servers_left = len({t.server for t in ordered[index:]} - begun)
        actual = (
            steps_left
            + (len(ordered) - index) * allowances
            + servers_left * SERVER_ALLOWANCE_S
            + (servers_left * PROBE_ALLOWANCE_S if results.meta.probe else 0.0)
        )
        if actual >= TIME_LEFT_FROM_S and left.bound:
            bounds.append(left.seconds / actual - 1)
        elif actual >= TIME_LEFT_FROM_S:
            errors.append((target.server, left.seconds / actual - 1))
    first_server = ordered[0].server if ordered else ""
    later = [error for server, error in errors if server != first_server]
    values = [error for _, error in errors]
    within = sum(abs(error) <= 0.2 for error in values)
    print(
        f"sweep_time_left_replay median {statistics.median(values):+.0%} worst {max(values, key=abs):+.0%} "
        f"after the first server {max(later, key=abs):+.0%}; {within} of {len(values)} within 20 % ({source})"
    )
    if bounds:
        held = sum(error >= 0 for error in bounds)
        print(f"sweep_time_left_replay_bounds {held} of {len(bounds)} held (told as 'at most': {min(bounds):+.0%})")
    return 0


# How often compose_standard reads the running results.json's time left (the conductor renews it at every save).
POLL_S = 1.0


def poll_estimates(results: Path, before: set[Path], done: threading.Event) -> list[tuple[float, float, bool]]:
    """The time-left estimates the conductor recorded in its run's results.json while ``done`` is not set, each with
    the moment it was made (as this process's monotonic clock has it) and whether it was an upper bound."""
    seen: dict[str, tuple[float, float, bool]] = {}
    offset = time.monotonic() - time.time()
    while not done.wait(POLL_S):
        runs = [path for path in results.iterdir() if path not in before and (path / "results.json").exists()]
        try:
            meta = load_results(max(runs, key=lambda path: path.stat().st_mtime)).meta if runs else None
        except (OSError, ValueError):
            continue  # read while being replaced: the next poll gets it
        if meta is not None and meta.time_left is not None and meta.time_left.made not in seen:
            made = datetime.fromisoformat(meta.time_left.made).timestamp() + offset
            seen[meta.time_left.made] = (made, meta.time_left.left_s, meta.time_left.upper_bound)
    return list(seen.values())


def compose_standard(extra: list[str]) -> int:
    """compose_standard: the default `docker compose up` (every server, the standard profile, the compose file's
    scenarios and steps), as a new user types it, under a project of its own: the seconds from `up` to the
    conductor's exit (``compose_standard_s``, goal <= 1200; the images built beforehand, so that the build is not
    timed), the targets and curves of its results.json, the claims decided, and the time left the conductor recorded
    (results.json's ``meta.time_left``, read every POLL_S: the log and the dashboard tell the same estimate) against
    the time really left then. Extra arguments go to `up`."""
    root = lab_root()
    command, environment = compose_lab(root, f"flasklabstandard{os.getpid()}")
    before = set((root / "results").iterdir())
    compose = [*command, "--profile", "all"]
    subprocess.run([*compose, "build"], cwd=root, env=environment, check=True, stdout=subprocess.DEVNULL)
    up = [*compose, "up", "--abort-on-container-exit", "--exit-code-from", "conductor", *extra]
    log = Path(tempfile.mkdtemp(prefix="flasklab-bench-compose-")) / "compose.log"
    done = threading.Event()
    told: list[tuple[float, float, bool]] = []  # (when, seconds left as results.json had it, an upper bound)
    poller = threading.Thread(target=lambda: told.extend(poll_estimates(root / "results", before, done)))
    poller.start()
    started = time.monotonic()
    try:
        with log.open("w") as sink:  # compose's own lines and every service's: kept, not printed
            finished = subprocess.run(up, cwd=root, env=environment, stdout=sink, stderr=subprocess.STDOUT, check=False)
        code = finished.returncode
        ended = time.monotonic()
    finally:
        done.set()
        poller.join()
        down = [*compose, "down", "--volumes", "--timeout", "5"]
        subprocess.run(down, cwd=root, env=environment, capture_output=True, check=False)
    runs = sorted(set((root / "results").iterdir()) - before, key=lambda path: path.stat().st_mtime)
    if not runs:
        print(f"compose_standard no run written (exit {code})")
        return 1
    results = load_results(runs[-1])
    ok = sum(target.status == "ok" for target in results.targets)
    steps = sum(target.steps_done() for target in results.targets)
    stopped = sum(target.stopped is not None for target in results.targets)
    verdicts = Counter(claim.verdict for claim in results.claims)
    print(f"compose_standard_s {ended - started:.0f}  (goal <= {GOALS_S['standard']})  exit {code}")
    print(
        f"compose_standard_targets ok {ok}/{len(results.targets)} ({len(results.meta.servers)} servers x "
        f"{len(results.meta.scenarios)} scenarios, {steps} steps); stopped {stopped} curves "
        f"({results.meta.steps_rule} steps)"
    )
    print(f"compose_standard_claims {', '.join(f'{count} {verdict}' for verdict, count in sorted(verdicts.items()))}")
    estimates = [
        (told_s / (ended - when) - 1, bound) for when, told_s, bound in told if ended - when >= TIME_LEFT_FROM_S
    ]
    if errors := sorted(error for error, bound in estimates if not bound):
        print(
            f"compose_standard_time_left median {statistics.median(errors):+.0%} "
            f"worst {max(errors, key=abs):+.0%} (goal within 20 %; {len(errors)} told {TIME_LEFT_FROM_S:.0f} s or "
            "more before the end, as results.json recorded them)"
        )
    if bounds := [error for error, bound in estimates if bound]:
        print(f"compose_standard_time_left_bounds {sum(e >= 0 for e in bounds)} of {len(bounds)} held")
    print(f"# results: {runs[-1]}, compose's log {log}")
    return 0 if code == 0 and ok == len(results.targets) else 1
