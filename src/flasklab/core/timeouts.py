"""What each server did with requests longer than its own timeout (the timeout scenario), read from its steps.

A scenario that declares ``outlasts_server_timeout`` (its locustfile's LAB_SCENARIO; the timeout scenario's
``long_ms``) sends a few requests of that length beside short ones, the servers' timeout set below it
(``--server-timeout``, recorded per server as ``timeout_s``). Per target, over its steps:

- **ended**: its timeout ended long requests: they failed (a killed worker closes the connection: the client sees it
  cut; behind nginx, a 502), and the short requests that failed beside them are the ones a killed worker held;
- **ran on**: long requests succeeded and none failed: the timeout did not stop them (gunicorn's is a heartbeat: a
  worker that keeps notifying its arbiter is not killed, whatever one request takes);
- **no timeout**: the server sets none (waitress, granian, the dev servers): its long requests run their length;
- **not outlasted**: the recorded timeout was not shorter than the long requests (nothing to see);
- **not measured**: no long request completed or failed in a window.

The worker processes started are the new ones that answered (each answer says when its process started): a killed
worker's replacement that takes the next long request at once, and is killed in turn, never answers, so the count is
a lower bound of the replacements (gunicorn's own log has every "Booting worker").

Pure: no Locust, no I/O.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from flasklab.core.results import Results, Target

LONG_SUFFIX = " (long)"  # the long requests' name is the short ones' and this (locustfiles/timeout.py)
VERDICTS = ("ended", "ran on", "no timeout", "not outlasted", "not measured")


@dataclass(frozen=True)
class TimeoutOutcome:
    """One target's long requests against its server's timeout, summed over its steps."""

    server: str
    scenario: str
    timeout_s: int | None
    long_ms: int
    long_ok: int
    long_failed: int
    long_p95_ms: float | None  # the worst step's p95 of the long successes
    short_ok: int
    short_failed: int
    workers_started: int
    errors: tuple[tuple[str, int], ...]  # the targets' failures by kind, most frequent first
    verdict: str

    @property
    def text(self) -> str:
        """The outcome in words, with its evidence."""
        limit = "no timeout" if self.timeout_s is None else f"a {self.timeout_s} s timeout"
        long = f"{self.long_ok + self.long_failed} long requests ({self.long_ms:,} ms)"
        if self.verdict == "ended":
            seen = ", ".join(f"{kind} ({count})" for kind, count in self.errors[:2]) or "failures"
            besides = f"; {self.short_failed} short requests failed beside them" if self.short_failed else ""
            return (
                f"{limit} ended {self.long_failed} of {long}: the clients saw {seen}{besides}; "
                f"{self.workers_started} new worker processes answered"
            )
        if self.verdict in ("ran on", "no timeout"):
            p95 = f", p95 {self.long_p95_ms:,.0f} ms" if self.long_p95_ms is not None else ""
            return f"{limit}: all {long} ran their length{p95}"
        if self.verdict == "not outlasted":
            return f"{limit}: the {long} end before it, nothing to see"
        return f"{limit}: no long request completed or failed"


def verdict(timeout_s: int | None, long_ms: int, long_ok: int, long_failed: int) -> str:
    """The rule above, on a target's sums."""
    if not long_ok + long_failed:
        return "not measured"
    if timeout_s is None:
        return "no timeout"
    if timeout_s * 1000 >= long_ms:
        return "not outlasted"
    return "ended" if long_failed else "ran on"


def timeout_outcome(target: Target, param: str, timeout_s: int | None) -> TimeoutOutcome | None:
    """A target's outcome, its long requests named by their request names (None: it has none, or no steps)."""
    names = {name for step in target.steps for name in (*step.names, *step.name_failures)}
    long_names = [name for name in names if name.endswith(LONG_SUFFIX)]
    if not target.steps or not long_names:
        return None
    long_name = long_names[0]
    short = [name for name in names if name != long_name]
    errors: Counter[str] = Counter()
    for step in target.steps:
        errors.update(step.errors)
    long_failed = sum(step.name_failures.get(long_name, 0) for step in target.steps)
    long_ok = sum(step.names.get(long_name, 0) for step in target.steps) - long_failed
    short_failed = sum(step.name_failures.get(name, 0) for step in target.steps for name in short)
    short_done = sum(step.names.get(name, 0) for step in target.steps for name in short)
    p95s = [p95 for step in target.steps if (p95 := step.name_p95_ms.get(long_name)) is not None]
    long_ms = int(target.params.get(param, 0))
    return TimeoutOutcome(
        server=target.server,
        scenario=target.scenario,
        timeout_s=timeout_s,
        long_ms=long_ms,
        long_ok=max(long_ok, 0),
        long_failed=long_failed,
        long_p95_ms=max(p95s) if p95s else None,
        short_ok=max(short_done - short_failed, 0),
        short_failed=short_failed,
        workers_started=sum(step.workers_started or 0 for step in target.steps),
        errors=tuple(errors.most_common()),
        verdict=verdict(timeout_s, long_ms, max(long_ok, 0), long_failed),
    )


def outlasting(results: Results, scenario: str) -> str | None:
    """The parameter of ``scenario``'s requests meant to outlast the servers' timeout, as the run recorded it (None:
    it has none, or the run recorded no declarations)."""
    declared = (results.meta.scenario_declarations or {}).get(scenario)
    return declared.outlasts_server_timeout if declared is not None else None


def timeout_outcomes(results: Results) -> list[TimeoutOutcome]:
    """Every target of a scenario that outlasts the servers' timeout, in run order, with its server's timeout as the
    run recorded it."""
    entries = results.meta.server_entries or {}
    outcomes = []
    for target in results.targets:
        if (param := outlasting(results, target.scenario)) is None:
            continue
        entry = entries.get(target.server)
        timeout_s = entry.timeout_s if entry is not None else None
        if (outcome := timeout_outcome(target, param, timeout_s)) is not None:
            outcomes.append(outcome)
    return outcomes
