"""A running run's progress as the live pages show it: which server, scenario and step it is at, how long it has left.

Read from what the run has saved (results.json), so the live report and the projector view tell the same place and
the same time left; the steps done and the estimate are the runner's own (flasklab.core.sweep), not counted again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from flasklab.core.results import Results
from flasklab.core.sweep import remaining

# What the time left shown is (the runner's estimate, flasklab.core.sweep, as results.json records it).
TIME_LEFT_BASIS = "the steps left at their measured length (the run's own estimate)"
TIME_LEFT_BOUND = "every step at its whole warm-up and window, every curve to the top, until a step is measured"


@dataclass(frozen=True)
class LiveView:
    """What the live dashboard adds to the report: where Locust's own UI is, the run index, the page's version."""

    locust_url: str | None = None
    index_url: str | None = None
    version: str = ""


@dataclass(frozen=True)
class LiveStatus:
    """Which server, scenario and step a running run is at, read from its results.json."""

    server: str
    scenario: str | None  # None: the server is starting or being probed
    step: int  # 1-based: the step being measured now
    steps: int
    users: int | None
    done_steps: int
    total_steps: int
    round: int = 1
    rounds: int = 1

    @property
    def percent(self) -> float:
        return 100 * self.done_steps / max(self.total_steps, 1)


def live_status(results: Results) -> LiveStatus | None:
    """Where a run is, from what it has saved: the first target still running and its next step; its steps done of
    all as the runner counts them (flasklab.core.sweep: a failed or skipped server's steps not measured are dropped)."""
    if results.meta.status != "running":
        return None
    meta = results.meta
    per_target = len(meta.steps)
    progress = remaining(results)
    done, total = progress.done, progress.total
    this_round = {id(t): t.rounds[-1] if t.rounds else t.steps for t in results.targets}
    running_targets = [t for t in results.targets if t.status == "running"]
    # Under load: a running target part-way through its round (with rounds, scenarios run in shuffled order).
    partway = (t for t in running_targets if 0 < len(this_round[id(t)]) < per_target)
    running = next(partway, running_targets[0] if running_targets else None)
    if running is None:
        started = {t.server for t in results.targets} | {p.server for p in results.probe}
        server = next((name for name in meta.servers if name not in started), meta.servers[-1] if meta.servers else "")
        return LiveStatus(server, None, 0, per_target, None, done, total, 1, meta.rounds)
    probing = meta.probe and not any(p.server == running.server for p in results.probe)
    scenario = None if probing else running.scenario
    step = min(len(this_round[id(running)]), per_target - 1)
    round_number = max(len(running.rounds), 1)
    return LiveStatus(
        running.server, scenario, step + 1, per_target, meta.steps[step], done, total, round_number, meta.rounds
    )


@dataclass(frozen=True)
class TimeLeft:
    """How long a running run still needs: an estimate, and what it was estimated from."""

    seconds: float
    basis: str
    about: str = "about"  # "at most" for an upper bound

    @property
    def text(self) -> str:
        """'45 s', '2 min 05 s' (whole seconds; the page counts it down between updates)."""
        whole = max(round(self.seconds), 0)
        return f"{whole} s" if whole < 60 else f"{whole // 60} min {whole % 60:02d} s"


def time_left(results: Results, now: datetime | None = None) -> TimeLeft | None:
    """How long a running run still needs: the runner's own estimate (``meta.time_left``, flasklab.core.sweep, the
    one the terminal tells), less the time since it was made. None when the run is not running, or its file holds no
    estimate (written before runs recorded one)."""
    estimate = results.meta.time_left
    if results.meta.status != "running" or estimate is None:
        return None
    try:
        since = ((now or datetime.now(UTC)) - datetime.fromisoformat(estimate.made)).total_seconds()
    except (ValueError, TypeError):  # not a timestamp, or one without its time zone
        since = 0.0
    if estimate.upper_bound:
        return TimeLeft(max(estimate.left_s - max(since, 0.0), 0.0), TIME_LEFT_BOUND, "at most")
    return TimeLeft(max(estimate.left_s - max(since, 0.0), 0.0), TIME_LEFT_BASIS)
