"""The terminal view of a results.json: the catalog, the closing summary, the probe and the claims."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from flasklab.catalog import Server
from flasklab.results import Results, Target

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


def peak_step(target: Target) -> tuple[float, float | None, bool] | None:
    """(peak rps, p95 at that step, generator saturated at that step) over the target's steps."""
    if not target.steps:
        return None
    best = max(target.steps, key=lambda step: step.rps)
    return best.rps, best.p95_ms, best.generator_saturated


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
            peak = peak_step(target)
            if target.status != "ok" or peak is None:
                cells.append(f"[{STATUS_STYLE[target.status]}]{target.status}[/]")
                continue
            rps, p95, saturated = peak
            flag = " [yellow]gen![/]" if saturated else ""
            cells.append(f"{rps:,.0f} ({p95:,.0f} ms){flag}" if p95 is not None else f"{rps:,.0f}")
        table.add_row(server, configured, *cells)
    if scenarios:
        table.caption = "gen! = the load generator passed 90 % CPU at that step: the figure is the generator's limit"
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
        for target in results.targets:
            if target.status in ("failed", "skipped"):
                console.print(
                    f"[{STATUS_STYLE[target.status]}]{target.server} / {target.scenario}: {target.status}[/]"
                    f" - {target.error}"
                )
    if results.probe:
        console.print(probe_table(results))
        console.print(claims_table(results))
