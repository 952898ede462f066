"""The run told as it goes: one plain line per event, for a log (compose, CI, a pipe) and above the progress bar.

Each line starts with what happened (``start``, ``step``, ``stopped``, ``probe``, ``verdict``, ``failed``,
``skipped``, ``time``) and names the server and scenario, so that the log of a long sweep can be read in a room and
grepped after. The figures are results.json's; a step that does not count says why in the words of
flasklab.core.analysis.
"""

from __future__ import annotations

from collections.abc import Callable

from flasklab.core.analysis import Standing, load_text, milliseconds
from flasklab.core.probe_claims import self_call_description
from flasklab.core.results import Claim, ProbeResult, Target
from flasklab.core.settings import PROBE_IO_MS
from flasklab.core.sweep import Remaining, Sweep

KIND_WIDTH = len("verdict") + 1


def line(kind: str, text: str) -> str:
    return f"{kind:<{KIND_WIDTH}}{text}"


def started_line(server: str, scenario: str, sweep: Sweep) -> str:
    """What comes for a target: its steps, their length and load (with adaptive steps, at most: the curve stops once
    it has shown the server's limit)."""
    loads = ", ".join(map(str, sweep.loads))
    unit = "rps offered" if sweep.model == "open" else "users"
    steps = len(sweep.loads)
    upto = "up to " if sweep.steps_rule == "adaptive" and steps > 1 else ""
    return line(
        "start",
        f"{server} · {scenario}: {upto}{steps} step{'s' if steps != 1 else ''} of "
        f"{sweep.profile.step_s:g} s at {loads} {unit}",
    )


def stopped_line(server: str, scenario: str, reason: str) -> str:
    """A curve that stopped below the profile's top (adaptive steps), and why (flasklab.core.stopping)."""
    return line("stopped", f"{server} · {scenario}: {reason}")


def probe_started_line(server: str) -> str:
    return line("start", f"{server} · probe: how many {PROBE_IO_MS} ms /io requests it serves at once, then GET /self")


def step_line(server: str, scenario: str, standing: Standing) -> str:
    """A finished step: its load, throughput and p95, failures, and why it does not count when it does not."""
    step = standing.step
    p95 = "none" if step.p95_ms is None else f"{standing.marked('p95', milliseconds(step.p95_ms))} ms"
    if step.p95_ms is not None and not standing.p95_measurable:
        p95 += f" (not measurable: {standing.samples} samples)"
    failed = f", {step.failures:,} failed" if step.failures else ""
    flags = ", ".join(flag.cause if flag.kind == "failures" else flag.kind for flag in standing.flags)
    verdict = f" · not counted: {flags}" if flags else ""
    return line("step", f"{server} · {scenario} · {load_text(step)}: {step.rps:,.1f} rps, p95 {p95}{failed}{verdict}")


def probe_line(probe: ProbeResult) -> str:
    """What the probe measured against what the server is configured for, and what GET /self did."""
    if probe.status == "skipped":
        return line("probe", f"{probe.server}: not probed ({probe.error or 'skipped'})")
    configured = "unbounded" if probe.configured is None else f"{probe.configured}"
    if probe.measured is None:
        return line("probe", f"{probe.server}: no count, configured {configured} ({probe.error or 'no answer'})")
    answered = f"{probe.completed} of {probe.width} answered" + (f", {probe.failed} failed" if probe.failed else "")
    served = f"served {probe.measured} at once, configured {configured} ({answered})"
    return line("probe", f"{probe.server}: {served}; {self_call_description(probe)}")


def verdict_line(claim: Claim) -> str:
    return line("verdict", f"{claim.verdict}: {claim.text} — {claim.evidence}")


def finished_line(target: Target) -> str | None:
    """A target that ended without its measurements, with the reason; None for one that finished."""
    if target.status not in ("failed", "skipped"):
        return None
    return line(target.status, f"{target.server} · {target.scenario}: {target.error or 'no reason given'}")


def time_left(seconds: float, bound: bool = False) -> str:
    """An estimate in words no more precise than it is: 'under a minute', 'about 1 min', 'about 12 min'; an upper
    bound (flasklab.core.sweep.Remaining.bound) says so: 'at most 30 min'."""
    if seconds < 60:
        return "under a minute"
    return f"{'at most' if bound else 'about'} {int(seconds / 60 + 0.5)} min"


def left_line(left: Remaining) -> str:
    if not left.steps and not left.starts and not left.probes:
        return line("time", "all measured")
    parts = [f"{left.steps} step{'s' if left.steps != 1 else ''}"] if left.steps else []
    parts += [f"{left.starts} server start{'s' if left.starts != 1 else ''}"] if left.starts else []
    parts += [f"{left.probes} probe{'s' if left.probes != 1 else ''}"] if left.probes and not left.steps else []
    return line("time", f"{time_left(left.seconds, left.bound)} left ({', '.join(parts)} to go)")


class Story:
    """An observer of the runner that tells the run to ``say``, one line per event."""

    def __init__(self, sweep: Sweep, say: Callable[[str], None]) -> None:
        self.sweep = sweep
        self.say = say

    def probe_started(self, server: str) -> None:
        self.say(probe_started_line(server))

    def probe_finished(self, probe: ProbeResult) -> None:
        self.say(probe_line(probe))

    def target_started(self, server: str, scenario: str) -> None:
        self.say(started_line(server, scenario, self.sweep))

    def window_started(self, server: str, scenario: str, users: int) -> None:
        """Not told: the step's line says it all when it ends."""

    def step_finished(self, server: str, scenario: str, standing: Standing) -> None:
        self.say(step_line(server, scenario, standing))

    def curve_stopped(self, server: str, scenario: str, reason: str) -> None:
        self.say(stopped_line(server, scenario, reason))

    def target_finished(self, target: Target) -> None:
        if ended := finished_line(target):
            self.say(ended)

    def time_left(self, left: Remaining) -> None:
        self.say(left_line(left))

    def claim_decided(self, claim: Claim) -> None:
        self.say(verdict_line(claim))

    def message(self, text: str) -> None:
        self.say(text)
