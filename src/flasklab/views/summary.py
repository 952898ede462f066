"""The terminal view of a results.json: the catalog, the closing summary, the probe and the claims.

What a step means (usable, flagged and why, peak) is flasklab.core.analysis's; this module only prints it.
"""

from __future__ import annotations

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
from flasklab.core.results import Results

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


def peak_cell(analysis: TargetAnalysis) -> str:
    """A target's cell: its peak (the usable step of highest rps) and that step's p95, marked; flagged steps counted.

    A target with no usable step says so: a figure from a step that measured the generator, failing requests or too
    few samples is not the server's.
    """
    flagged = len(analysis.flagged)
    note = f" [yellow]{flagged} flagged[/]" if flagged else ""
    if (bound := analysis.lower_bound) is not None:  # the server can do more than its peak shows
        note = f" [yellow]{escape(analysis.standing(bound).rps_text(f'{bound.rps:,.0f}'))}[/]{note}"
    best = analysis.peak
    if best is None:
        return f"[yellow]no usable step[/]{note}"
    if best.p95_ms is None:
        return f"{best.rps:,.0f}{note}"
    p95 = analysis.standing(best).marked("p95", f"{best.p95_ms:,.0f}")
    return f"{best.rps:,.0f} ({escape(p95)} ms){note}"


def summary_table(results: Results) -> Table:
    scenarios = results.meta.scenarios
    table = Table(
        title=f"Peak throughput (rps) and its p95 - run {results.meta.run_id}, profile {results.meta.profile}"
    )
    table.add_column("server")
    table.add_column("configured")
    for scenario in scenarios:
        table.add_column(scenario, justify="right")
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
            cells.append(peak_cell(analyse(target, results.meta)))
        table.add_row(server, configured, *cells)
    if scenarios:
        table.caption = (
            "Peak: the usable step of highest rps (not generator-bound, failures <= "
            f"{MAX_FAILURE_RATE * 100:g} %, steady, stable, >= {MIN_SAMPLES} samples); flagged steps are listed below. "
            f"{LOWER_BOUND_MARK} p95 a lower bound, {THIN_MARK} the maximum of too few samples; {LOWER_BOUND_MARK} rps "
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


def print_results(console: Console, results: Results) -> None:
    if results.targets:
        console.print(summary_table(results))
        if (flagged := flagged_table(results)) is not None:
            console.print(flagged)
        for target in results.targets:
            if target.status in ("failed", "skipped"):
                console.print(
                    f"[{STATUS_STYLE[target.status]}]{target.server} / {target.scenario}: {target.status}[/]"
                    f" - {target.error}"
                )
    if results.probe:
        console.print(probe_table(results))
        console.print(claims_table(results))
