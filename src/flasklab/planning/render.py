"""A plan in words, as a table and as JSON: what ``flasklab plan`` prints (``--explain`` and ``--json`` included)."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

from rich.table import Table
from rich.text import Text

from flasklab.core.results import Results
from flasklab.planning.law import ASSUMED_OVERHEAD_CPU_MS, ASYNC, PROCESSES, TARGET_CPU_UTILISATION, THREADS
from flasklab.planning.measured import THIN_MARGIN
from flasklab.planning.option import Option, Plan, ms, number
from flasklab.planning.request import PlanRequest, Workload

COLUMNS = ("", "server", "workers per instance", "instances", "N+1", "utilisation", "p95 ms", "p99 ms", "MiB", "basis")
LEFT_COLUMNS = ("", "server", "workers per instance", "basis")


def reasoning(request: PlanRequest, work: Workload, cpus: float, run: Results | None) -> list[str]:
    """The numbers every option shares, as sentences."""
    cpu_ms = (request.cpu_ms or 0) + ASSUMED_OVERHEAD_CPU_MS
    measured = run is not None and request.cpu_ms is None
    cpu_text = f"{request.cpu_ms or 0:g} ms CPU + {ASSUMED_OVERHEAD_CPU_MS:g} ms assumed overhead"
    in_flight = request.rps * (work.io_ms + cpu_ms) / 1000
    lines = [
        f"request: {number(request.rps)} rps with p95 <= {request.p95_ms:g} ms; each request {work.io_ms:g} ms of "
        f"blocking I/O + {'CPU as the run measured it per server' if measured else cpu_text}",
        f"Little's law: {number(request.rps)} rps x {ms(work.io_ms + cpu_ms)} ms = {number(in_flight)} requests "
        f"in flight: at least {math.ceil(in_flight - 1e-9):,} workers, threads or connections in total"
        + (" (at the assumed CPU; each server's measured CPU moves it)" if measured else ""),
        f"CPU: {number(request.rps)} rps x {ms(cpu_ms)} ms = {number(request.rps * cpu_ms / 1000)} cores"
        + (" (at the assumed CPU)" if measured else "")
        + f"; an instance has {cpus:g} core(s), the budget, used up to {TARGET_CPU_UTILISATION:.0%}",
        f"per instance: processes up to {PROCESSES.processes_per_core} workers per core (the fewest that meet the "
        f"objective); threads 1 process per core x {THREADS.per_process}; async 1 process per core x "
        f"{ASYNC.per_process} connections",
        "law p95: each instance an M/M/c queue fed an even random share; the work (CPU part stretched by 1/(1 - CPU "
        "utilisation)) + the Erlang C wait's 95th percentile; pessimistic for constant work, optimistic for bursts; "
        "no failover headroom (add an instance for N+1)",
    ]
    if request.balance is not None:
        lines.append(request.balance.text)
    if run is not None:
        lines.append(run_reasoning(run, work))
    return lines


def run_reasoning(run: Results, work: Workload) -> str:
    """What a run's measured options rest on, as one sentence."""
    shape = "no lab scenario has the request's shape"
    if work.scenario is not None:
        param = f" at ms={work.ms:g}" if work.ms is not None else ""
        shape = f"the request is shaped like the {work.scenario} scenario{param}"
    closed = "; its users were a closed loop: its capacity step is shown as a check, the prediction is for open traffic"
    open_model = "; open model: no fewer instances than the highest throughput a stable step kept up with needs"
    return (
        f"run {run.meta.run_id} (profile {run.meta.profile}, backend {run.meta.backend}): {shape}; measured "
        "options predict: the service time measured where nothing queued, the server's slots, an M/G/c queue "
        "fed Poisson arrivals at R / instances, the fewest instances whose predicted p95 meets the objective "
        f"(a thin basis with a {THIN_MARGIN:g}x margin)" + (closed if run.meta.model == "closed" else open_model)
    )


def plan_json(plan: Plan) -> dict[str, Any]:
    """{"request": {...}, "options": [...], "notes": [...]}: what `flasklab plan --json` prints."""
    request = asdict(plan.request) | {
        "scenario": plan.workload.scenario,
        "budget_cpus": plan.cpus,
        "from_run": plan.run_id,
    }
    return {"request": request, "options": [asdict(option) for option in plan.options], "notes": plan.notes}


def reason_lines(plan: Plan) -> list[str]:
    """Each option's reason once, after the servers that share it (the law gives a kind's servers the same)."""
    servers: dict[str, list[str]] = {}
    for option in plan.options:
        servers.setdefault(option.reason, []).append(option.server)
    return [f"{', '.join(names)}: {reason}" for reason, names in servers.items()]


def plan_table(plan: Plan) -> Table:
    """The decision at a glance: one row per server, the recommended one marked and first."""
    request = plan.request
    table = Table(title=f"Plan: {number(request.rps)} rps with p95 <= {request.p95_ms:g} ms")
    for column in COLUMNS:
        table.add_column(column, justify="left" if column in LEFT_COLUMNS else "right")
    for option in plan.options:
        table.add_row(*table_row(option), style="bold" if option.recommended else None)
    table.caption = "p95/p99: predicted per instance at its share; N+1: instances with one spare; → recommended"
    return table


def table_row(option: Option) -> tuple[str | Text, ...]:
    """One server's row of the plan table ("—" where it has no figure)."""
    offered = option.instances is not None
    return (
        "→" if option.recommended else "",
        option.server,
        Text(option.setting or option.shape or "—"),
        str(option.instances) if offered else "—",
        str(option.n_plus_one) if option.n_plus_one else "—",
        f"{option.utilisation:.0%}" if option.utilisation is not None and offered else "—",
        ms(option.expected_p95_ms) if option.expected_p95_ms is not None and offered else "—",
        ms(option.expected_p99_ms) if option.expected_p99_ms is not None and offered else "—",
        number(option.memory_mb) if option.memory_mb is not None else "—",
        basis_text(option),
    )


def basis_text(option: Option) -> str:
    if option.covered is False:
        return "law (not covered)"
    if option.instances is None:
        return f"{option.basis}: cannot"
    return f"{option.basis}{' (thin)' if option.thin_basis else ''}"


def summary_lines(plan: Plan) -> list[str]:
    """What to read under the table: the recommendation, and what makes it weaker than it looks."""
    lines = []
    chosen = next((option for option in plan.options if option.recommended), None)
    if chosen is None:
        lines.append("no option meets the objective: " + "; ".join(f"{o.server}: {o.reason}" for o in plan.options[:3]))
        return lines
    workers = chosen.setting or chosen.shape
    lines.append(
        f"recommended: {chosen.server}, {workers} per instance, {chosen.instances} instance(s) "
        f"({chosen.n_plus_one} to survive losing one), {number(chosen.rps_per_instance or 0)} rps each, predicted p95 "
        f"{ms(chosen.expected_p95_ms or 0)} ms"
    )
    if chosen.thin_basis:
        lines.append(f"thin basis: {'; '.join(chosen.thin_basis)} (planned with a {THIN_MARGIN:g}x margin)")
    lines.append("verify it: the same command with --verify; the reasoning: --explain")
    return lines
