"""The terminal view of a results.json: the catalog, the closing summary, the probe and the claims.

What a step means (usable, flagged and why, peak) is flasklab.core.analysis's; this module only prints it.
"""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from flasklab.core.analysis import (
    LOWER_BOUND_MARK,
    MAX_FAILURE_RATE,
    MIN_SAMPLES,
    THIN_MARK,
    TargetAnalysis,
    analyse,
    load_text,
)
from flasklab.core.catalog import Server
from flasklab.core.results import Results, Step
from flasklab.views.headline import headline_rows, headline_title, io_scenario

VERDICT_STYLE = {"confirmed": "green", "refuted": "red", "not-run": "yellow"}
STATUS_STYLE = {"ok": "green", "failed": "red", "skipped": "yellow", "running": "cyan"}


def catalog_table(servers: list[Server]) -> Table:
    table = Table(title="flasklab catalog (docker-compose.yml)")
    for column in ("server", "software", "worker model", "configured concurrency"):
        table.add_column(column)
    for server in servers:
        table.add_row(server.name, server.software, server.worker_model, server.concurrency_text)
    return table


def catalog_markdown(servers: list[Server]) -> str:
    """The catalog as a Markdown table, for the README (a test keeps the README's copy current)."""
    rows = ["| server | software | worker model | configured concurrency |", "|---|---|---|---|"]
    rows += [f"| `{s.name}` | {s.software} | {s.worker_model} | {s.concurrency_text} |" for s in servers]
    return "\n".join(rows)


def catalog_json(servers: list[Server]) -> list[dict[str, object]]:
    """`flasklab servers --json`: one object per server, as scripts read it."""
    return [
        {
            "name": s.name,
            "server": s.software,
            "worker_model": s.worker_model,
            "concurrency": s.concurrency,
            "requirements": s.requirements,
            "requires": list(s.requires),
            "note": s.note,
        }
        for s in servers
    ]


def probe_json(results: Results) -> dict[str, object]:
    """`flasklab probe --json`: the probe's rows and the claims judged from them."""
    return {"probe": [p.model_dump() for p in results.probe], "claims": [c.model_dump() for c in results.claims]}


def peak_cell(analysis: TargetAnalysis, compact: bool = False) -> str:
    """A target's cell: its peak (the usable step of highest rps) and that step's p95, marked; flagged steps counted.

    A target with no usable step says so: a figure from a step that measured the generator or failing requests is
    not the server's. ``compact``: the peak alone, and a lower bound above it (the flagged steps are listed apart).
    """
    flagged = len(analysis.flagged)
    note = f" [yellow]{flagged} flagged[/]" if flagged and not compact else ""
    if (bound := analysis.lower_bound) is not None:  # the server can do more than its peak shows
        note = f" [yellow]{escape(analysis.standing(bound).rps_text(f'{bound.rps:,.0f}'))}[/]{note}"
    best = analysis.peak
    if best is None:
        return f"[yellow]{'none' if compact else 'no usable step'}[/]{note}"
    if best.p95_ms is None:
        return f"{best.rps:,.0f}{note}"
    p95 = analysis.standing(best).marked("p95", f"{best.p95_ms:,.0f}")
    return f"{best.rps:,.0f} ({escape(p95)} ms){note}"


def summary_table(results: Results, compact: bool = False) -> Table:
    """Peak throughput and its p95 per server and scenario. ``compact``: the cells alone (the headline says what
    each server is configured for), the caption one line."""
    scenarios = results.meta.scenarios
    title = f"Peak throughput (rps) and its p95 - run {results.meta.run_id}, profile {results.meta.profile}"
    table = Table(title=title if not compact else "Peak rps (p95 ms) per scenario", title_justify="left")
    if compact:
        table.box, table.pad_edge, table.show_edge = box.SIMPLE_HEAD, False, False
    table.add_column("server", no_wrap=True)
    if not compact:
        table.add_column("configured")
    for scenario in scenarios:
        table.add_column(scenario, justify="right", no_wrap=compact)
    for server in results.meta.servers:
        cells = []
        configured = "?"
        for scenario in scenarios:
            target = results.target(server, scenario)
            if target is None:
                cells.append("")
                continue
            configured = "unbounded" if target.concurrency is None else str(target.concurrency)
            if target.status != "ok":
                cells.append(f"[{STATUS_STYLE[target.status]}]{target.status}[/]")
                continue
            cells.append(peak_cell(analyse(target, results.meta), compact))
        table.add_row(server, *([] if compact else [configured]), *cells)
    if scenarios and compact:
        table.caption = f"{THIN_MARK} p95 of under {MIN_SAMPLES} samples; {LOWER_BOUND_MARK} a lower bound"
        table.caption_justify = "left"
    elif scenarios:
        table.caption = (
            "Peak: the usable step of highest rps (not generator-bound, failures <= "
            f"{MAX_FAILURE_RATE * 100:g} %, steady, stable); flagged steps are listed below. "
            f"{LOWER_BOUND_MARK} p95 a lower bound, {THIN_MARK} not measurable: the maximum of fewer than "
            f"{MIN_SAMPLES} samples; {LOWER_BOUND_MARK} rps "
            "after the peak: a step where the generator and the server were both at their limit (a lower bound)."
        )
    return table


def flagged_table(results: Results) -> Table | None:
    """Every step that does not count, with its cause (None when every step counts)."""
    rows = [
        (analysis.target, standing)
        for analysis in (analyse(target, results.meta) for target in results.targets)
        for standing in analysis.flagged
    ]
    if not rows:
        return None
    table = Table(title="Steps that do not count (left out of peak, capacity and knee)")
    for column in ("server", "scenario", "load", "rps", "cause"):
        table.add_column(column, justify="right" if column == "rps" else "left")
    for target, standing in rows:
        table.add_row(
            target.server,
            target.scenario,
            load_text(standing.step),
            standing.rps_text(f"{standing.step.rps:,.1f}"),
            standing.causes,
        )
    return table


def probe_table(results: Results) -> Table:
    table = Table(title="Requests really served at once (concurrency probe)")
    for column in ("server", "configured", "measured", "self-call"):
        table.add_column(column, justify="right" if column != "server" else "left")
    for probe in results.probe:
        configured = "unbounded" if probe.configured is None else str(probe.configured)
        measured = "-" if probe.measured is None else str(probe.measured)
        if probe.measured is not None and probe.measured >= probe.width:
            measured = f">= {probe.measured} (probe width)"
        selfcall = {200: "works", 504: "[red]deadlocks (504)[/]"}.get(
            probe.selfcall_status or 0, str(probe.selfcall_status)
        )
        table.add_row(probe.server, configured, measured, selfcall)
    return table


def claims_table(results: Results) -> Table:
    table = Table(title="The folklore, measured")
    table.add_column("claim")
    table.add_column("verdict")
    table.add_column("evidence")
    for claim in results.claims:
        table.add_row(claim.text, f"[{VERDICT_STYLE[claim.verdict]}]{claim.verdict}[/]", claim.evidence)
    return table


def headline_table(results: Results) -> Table:
    """The seed's answer (flasklab.views.headline), in 80 columns: no cell wraps."""
    table = Table(
        title=headline_title(results), box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False, show_edge=False
    )
    table.add_column("server", no_wrap=True)
    for column in ("configured", "at once", "io rps", "law"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("claim", no_wrap=True)
    for row in headline_rows(results):
        verdict = f"[{VERDICT_STYLE[row.verdict]}]{row.verdict}[/]" if row.verdict in VERDICT_STYLE else row.verdict
        table.add_row(row.server, row.configured, row.served, row.io_rps, row.expected, verdict)
    table.caption = HEADLINE_CAPTION
    table.caption_justify = "left"
    return table


HEADLINE_CAPTION = "at once: the probe; law: min(users, configured) / io time"


def grouped(steps: list[tuple[str, Step]]) -> str:
    """'dev-single io @ 1, 4, 16 users; gunicorn-sync io @ 16 users' from (target, step) pairs."""
    by_target: dict[str, list[Step]] = {}
    for target, step in steps:
        by_target.setdefault(target, []).append(step)
    parts = []
    for target, its in by_target.items():
        unit = (
            "rps offered"
            if its[-1].offered_rps is not None
            else ("users" if len(its) > 1 or its[-1].users != 1 else "user")
        )
        parts.append(f"{target} @ {', '.join(f'{step.load:g}' for step in its)} {unit}")
    return "; ".join(parts)


def flagged_lines(results: Results) -> list[str]:
    """Steps that do not count, grouped by cause: the cause, how many, and which servers at which loads (one line
    each); each step's cause in words is the report's (its warnings) and ``flasklab report DIR --verbose``'s."""
    groups: dict[str, list[tuple[str, Step]]] = {}
    for analysis in (analyse(target, results.meta) for target in results.targets):
        for standing in analysis.flagged:
            for flag in standing.flags:
                target = f"{analysis.target.server} {analysis.target.scenario}"
                groups.setdefault(flag.kind, []).append((target, standing.step))
    return [f"{kind} ({len(steps)}): {grouped(steps)}" for kind, steps in groups.items()]


def stopped_lines(results: Results, verbose: bool) -> list[str]:
    """Adaptive steps: the curves that stopped below the profile's top, each at its last load (verbose: with why,
    flasklab.core.stopping's words), or one line naming them."""
    stopped = [target for target in results.targets if target.stopped and target.steps]
    if verbose:
        return [f"{t.server} {t.scenario} @ {load_text(t.steps[-1])}: {t.stopped}" for t in stopped]
    return [", ".join(f"{t.server} {t.scenario} @ {t.steps[-1].load:g}" for t in stopped)] if stopped else []


def decided_claims(results: Results) -> tuple[list[str], int]:
    """The verdicts the headline does not show (self-calls, slow clients), one line each without their evidence, and
    how many claims were not run (their servers or scenarios were not in the run)."""
    shown = {row.claim.claim for row in headline_rows(results) if row.claim is not None}
    rest = [claim for claim in results.claims if claim.claim not in shown]
    lines = [
        f"[{VERDICT_STYLE[claim.verdict]}]{claim.verdict:>9}[/]  {escape(claim.text)}"
        for claim in rest
        if claim.verdict != "not-run"
    ]
    return lines, sum(claim.verdict == "not-run" for claim in results.claims)


def print_results(console: Console, results: Results, verbose: bool = False) -> None:
    """The run in the terminal: the headline first; then the peaks, the flagged steps grouped by cause and the other
    verdicts, one line each (cut at the terminal's width: the report has them in full). ``verbose``: every table in
    full (each flagged step's cause, the probe, the claims' evidence)."""
    if results.probe or io_scenario(results) is not None:
        console.print(headline_table(results))
    if results.targets:
        console.print(summary_table(results, compact=not verbose))
        if verbose and (flagged := flagged_table(results)) is not None:
            console.print(flagged)
        elif lines := flagged_lines(results):
            console.print("[bold]Steps that do not count[/], by cause (each one's cause: the report's warnings)")
            for text in lines:
                console.print(f"  {escape(text)}", no_wrap=True, overflow="ellipsis")
        if lines := stopped_lines(results, verbose):
            stopped = sum(bool(target.stopped) for target in results.targets)
            why = "" if verbose else " (why: the report, or --verbose)"
            console.print(f"[bold]Curves stopped below the profile's top[/] ({stopped} of {len(results.targets)}){why}")
            for text in lines:
                console.print(f"  {escape(text)}", no_wrap=not verbose, overflow="ellipsis")
        for target in results.targets:
            if target.status in ("failed", "skipped"):
                console.print(
                    f"[{STATUS_STYLE[target.status]}]{target.server} / {target.scenario}: {target.status}[/]"
                    f" - {target.error}"
                )
    if results.probe and verbose:
        console.print(probe_table(results))
        console.print(claims_table(results))
        return
    lines, not_run = decided_claims(results)
    if lines or not_run:
        console.print("[bold]Other claims[/] (evidence: the report, or flasklab report DIR --verbose)")
        for text in lines:
            console.print(f"  {text}", no_wrap=True, overflow="ellipsis")
        if not_run:
            console.print(f"  {not_run} claim(s) not run: their servers or scenarios were not in this run")
