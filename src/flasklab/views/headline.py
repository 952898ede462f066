"""The seed's answer in one table: per server, what it is configured to serve at once, what it served at once, its
throughput on blocking I/O beside what Little's law expects of that concurrency, and the verdict on its claim.

The terminal (flasklab.views.summary) and report.html (flasklab.views.report) show it first; both take its rows from
here, figures from flasklab.core.analysis. Pure functions of results.json.

**The law.** A server that serves c requests at once, each holding it ``ms`` milliseconds (the io scenario's sleep),
completes at most c / ms requests a second; a closed loop of u users keeps at most min(u, c) of them busy. The row's
expected figure is that bound at its peak step's users: 10 rps for dev-single (1 at a time x 100 ms), 40 for 4 sync
workers, 10 x u for a server that serves many.
"""

from __future__ import annotations

from dataclasses import dataclass

from flasklab.core.analysis import LOWER_BOUND_MARK, analyse
from flasklab.core.catalog import IO_WORK
from flasklab.core.results import Claim, Results, Target

SELF_CALL_PREFIX = "selfcall-"  # the self-call claims are the probe's second question, not how many at once


@dataclass(frozen=True)
class HeadlineRow:
    """One server's answer. Texts are what a view prints: "-" where the lab has no figure, with why in ``notes``."""

    server: str
    configured: str  # "4", "unbounded"
    served: str  # the probe's count: "4", ">= 64" (its width), "-"
    io_rps: str  # the io peak's rps: "39", "≥ 120" (a lower bound), or why none ("failed", "no usable step")
    expected: str  # what the law expects at that step: "40", "-"
    verdict: str  # its claim's verdict: "confirmed", "refuted", "not-run", "-"
    claim: Claim | None


def io_scenario(results: Results) -> tuple[str, float] | None:
    """The run's blocking-I/O scenario and its ms: the one declared io work with an ``ms`` (``io`` first)."""
    declared = results.meta.scenario_declarations
    names = sorted(results.meta.scenarios, key=lambda name: name != "io")
    for name in names:
        params = next((t.params for t in results.targets if t.scenario == name), {})
        work = declared[name].work if declared and name in declared else (IO_WORK if name == "io" else None)
        ms = params.get("ms") or (declared[name].params.get("ms") if declared and name in declared else None)
        if work == IO_WORK and ms:
            return name, float(ms)
    return None


def concurrency_claim(results: Results, server: str) -> Claim | None:
    """The claim about how many ``server`` serves at once (its first claim that is not a self-call's)."""
    verdicts = {claim.claim: claim for claim in results.claims}
    defined = results.meta.claim_definitions or []
    for definition in defined:
        if server in definition.servers[:1] and not definition.claim.startswith(SELF_CALL_PREFIX):
            return verdicts.get(definition.claim)
    if not defined:  # files before claim definitions were recorded: the claim's id starts with the server's name
        return next((c for c in results.claims if c.claim.startswith(f"{server}-")), None)
    return None


def io_cells(results: Results, target: Target | None, ms: float) -> tuple[str, str]:
    """The io peak's rps and the law's bound at its users; why there is none instead of a figure."""
    if target is None:
        return "-", "-"
    if target.status != "ok":
        return target.status, "-"
    analysis = analyse(target, results.meta)
    peak, bound = analysis.peak, analysis.lower_bound
    if peak is None and bound is None:
        return "no usable step", "-"
    step = bound if bound is not None else peak
    assert step is not None
    rps = f"{LOWER_BOUND_MARK} {step.rps:,.0f}" if bound is not None else f"{step.rps:,.0f}"
    if step.offered_rps is not None:  # the open model offers a rate: the law's users are not set by the lab
        return rps, "-"
    busy = min(step.users, target.concurrency) if target.concurrency is not None else step.users
    return rps, f"{busy * 1000 / ms:,.0f}"


def headline_rows(results: Results) -> list[HeadlineRow]:
    """One row per server of the run, in the run's order."""
    io = io_scenario(results)
    probes = {probe.server: probe for probe in results.probe}
    rows = []
    for server in results.meta.servers:
        targets = [target for target in results.targets if target.server == server]
        concurrency = targets[0].concurrency if targets else None
        probe = probes.get(server)
        configured = "unbounded" if concurrency is None else str(concurrency)
        if probe is not None and probe.configured is not None:
            configured = str(probe.configured)
        served = "-"
        if probe is not None and probe.measured is not None:
            served = f">= {probe.measured}" if probe.measured >= probe.width else str(probe.measured)
        io_target = next((t for t in targets if io and t.scenario == io[0]), None)
        io_rps, expected = io_cells(results, io_target, io[1]) if io else ("-", "-")
        claim = concurrency_claim(results, server)
        rows.append(HeadlineRow(server, configured, served, io_rps, expected, claim.verdict if claim else "-", claim))
    return rows


def headline_title(results: Results) -> str:
    io = io_scenario(results)
    work = f"{io[0]}: {io[1]:g} ms of I/O a request" if io else "no io scenario"
    return f"How many at once? Run {results.meta.run_id}, {work}"
