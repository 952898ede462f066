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

Extra arguments go to the sweep as `flasklab run` options would (``--servers a,b``, ``--scenarios io``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from arguments import option

from flasklab.cli.measure import planned_sweep
from flasklab.core.catalog import lab_root, load_servers
from flasklab.core.results import ProbeResult, Results, Target
from flasklab.measure.backends.local import LocalBackend
from flasklab.measure.observer import Quiet
from flasklab.measure.runner import Run
from flasklab.views.report import write_report

GOALS_S = {"quick": 180, "standard": 1200}


@dataclass
class Clock(Quiet):
    """Every event of the run with its time: what started and ended when."""

    events: list[tuple[float, str, str]] = field(default_factory=list)
    restarts: int = 0

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


def sweep_time(profile: str, extra: list[str]) -> int:
    root = lab_root()
    servers, rest = option(extra, "--servers", "")
    scenarios, _ = option(rest, "--scenarios", "")
    out = Path(f"/tmp/flasklab-bench-sweep-{profile}")
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
    print(f"# results: {out}")
    return 0 if ok == len(results.targets) else 1


def sweep_quick(extra: list[str]) -> int:
    return sweep_time("quick", extra)


def sweep_standard(extra: list[str]) -> int:
    return sweep_time("standard", extra)
