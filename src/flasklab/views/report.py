"""The run report: one self-contained HTML page, a pure function of results.json.

plotly.js is embedded once, inline, so the page opens offline and sends no request anywhere. What a step means
(usable, flagged and why, peak, capacity, knee, marked percentiles) is flasklab.core.analysis's; the figures are
flasklab.views.charts' and how the page looks (colours, number format, the chart library) flasklab.views.chart_style's.
This module puts the tables, the charts and the warnings on the page and renders it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from flasklab.core.analysis import (
    CAPACITY_PERCENTILE,
    KNEE_GROWTH,
    LOWER_BOUND_MARK,
    MAX_FAILURE_RATE,
    MIN_SAMPLES,
    THIN_MARK,
    Standing,
    analyse,
    check_objective,
    littles_law_efficiency,
    load_text,
    min_samples,
)
from flasklab.core.catalog import IO_WORK, lab_root, load_scenarios
from flasklab.core.results import Results, Step, Target, atomic_write, load_results
from flasklab.core.settings import DEFAULT_SLO_P95_MS
from flasklab.views.chart_style import (
    PLOT_CONFIG,
    Chart,
    Figure,
    chart_library,
    for_projector,
    format_number,
    server_styles,
)
from flasklab.views.charts import (
    capacity_figure,
    chart_titles,
    figures,
    measured_scenarios,
    probe_timeline_figure,
    scenario_targets,
)

REPORT_FILE = "report.html"
TEMPLATE = "report.html.j2"
PROJECTOR_TEMPLATE = "projector.html.j2"
# The time-left estimate's plan for what is not load: starting Locust for a target (and stopping it), starting a
# server and probing it. Measured here with the demo profile (2026-12); the run's own pace corrects them.
TARGET_START_S, SERVER_START_S = 2.5, 3.5
# Below this much elapsed time the pace says little yet: the plan alone.
PACE_AFTER_S = 10.0
# The projector view's chart heights (CSS pixels of a 1920x1080 screen), and the most servers its timeline shows
# (the last ones probed: more rows than that would not be readable at its type size; the full page has them all).
PROJECTOR_CAPACITY_PX, PROJECTOR_TIMELINE_PX = 740, 780
PROJECTOR_TIMELINE_SERVERS = 4


@dataclass(frozen=True)
class CapacityCell:
    server: str
    step: Step | None
    note: str
    winner: bool
    standing: Standing | None = None  # the capacity step's standing: how its p95 is marked
    bound: Step | None = None  # a lower bound of the capacity above it (generator and server both at their limit)


@dataclass(frozen=True)
class CapacityLine:
    server: str
    concurrency: int | None
    cells: list[CapacityCell | None]  # one per scenario of the run (None: not run)


def capacity_cells(results: Results, scenario: str, slo_p95_ms: float) -> dict[str, CapacityCell]:
    cells = []
    for server in server_styles(results):
        target = results.target(server, scenario)
        if target is None:
            continue
        analysis = analyse(target, results.meta)
        step = analysis.capacity(slo_p95_ms) if target.status == "ok" else None
        note = (
            ""
            if step
            else {"ok": "no usable step within the SLO", "running": "unfinished"}.get(target.status, target.status)
        )
        bound = analysis.lower_bound
        within = bound is not None and bound.p95_ms is not None and bound.p95_ms <= slo_p95_ms
        above = bound if within and bound is not None and (step is None or bound.rps > step.rps) else None
        cells.append(CapacityCell(server, step, note, False, analysis.standing(step) if step else None, above))
    best = max((cell.step.rps for cell in cells if cell.step), default=None)
    return {
        c.server: CapacityCell(c.server, c.step, c.note, c.step is not None and c.step.rps == best, c.standing, c.bound)
        for c in cells
    }


def capacity_table(results: Results, slo_p95_ms: float) -> list[CapacityLine]:
    """One line per server that ran, one cell per scenario: its capacity, the winner of each scenario marked."""
    by_scenario = [capacity_cells(results, scenario, slo_p95_ms) for scenario in results.meta.scenarios]
    lines = []
    for server in server_styles(results):
        targets = [target for target in results.targets if target.server == server]
        if targets:
            lines.append(CapacityLine(server, targets[0].concurrency, [cells.get(server) for cells in by_scenario]))
    return lines


def io_scenarios(results: Results) -> list[str]:
    """The run's scenarios that declare blocking I/O as their work (locustfiles/): Little's law bounds those that
    wait a fixed `ms`."""
    declared = load_scenarios()
    return [name for name in results.meta.scenarios if name in declared and declared[name].work == IO_WORK]


def efficiency_tables(results: Results) -> dict[str, list[tuple[Target, list[float | None]]]]:
    """For each I/O scenario, each target's measured rps over Little's bound at every step (closed loops)."""
    tables: dict[str, list[tuple[Target, list[float | None]]]] = {}
    for scenario in io_scenarios(results):
        rows = []
        for target in scenario_targets(results, scenario):
            by_users = {step.users: step for step in target.steps}
            cells = [littles_law_efficiency(target, by_users[u]) if u in by_users else None for u in results.meta.steps]
            if any(cell is not None for cell in cells):
                rows.append((target, cells))
        if rows:
            tables[scenario] = rows
    return tables


@dataclass(frozen=True)
class NameCell:
    """One request name's figures in one step: its completions per second, failures and exact p95."""

    rps: float
    failures: int
    p95_ms: float | None


def name_cell(step: Step, name: str) -> NameCell | None:
    if name not in step.names:
        return None
    return NameCell(step.names[name] / step.duration_s, step.name_failures.get(name, 0), step.name_p95_ms.get(name))


def request_name_tables(results: Results) -> dict[str, list[tuple[Target, str, list[NameCell | None]]]]:
    """For each scenario whose steps hold several request names (slowclient's kinds of client), each name's figures
    per step, so that one kind of client (its fast users) is read apart from the others."""
    tables: dict[str, list[tuple[Target, str, list[NameCell | None]]]] = {}
    for scenario in results.meta.scenarios:
        rows = []
        for target in scenario_targets(results, scenario):
            names = sorted({name for step in target.steps for name in step.names})
            if len(names) < 2:
                continue
            by_load = {step.load: step for step in target.steps}
            for name in names:
                cells = [name_cell(by_load[load], name) if load in by_load else None for load in results.meta.steps]
                rows.append((target, name, cells))
        if rows:
            tables[scenario] = rows
    return tables


def charts(results: Results, slo_p95_ms: float) -> list[Chart]:
    """Every chart of the report, in page order (their titles and captions are the template's)."""
    return [
        Chart(div_id, kind, scenario, _chart_html(figure, div_id))
        for div_id, kind, scenario, figure in figures(results, slo_p95_ms)
    ]


def _chart_html(figure: Figure, div_id: str) -> Markup:
    """The chart's empty div and its figure as JSON; the page's one script draws every chart from those.

    Drawing from data (not a script per chart) is what lets the live page update a chart in place.
    """
    # "</" inside a script element would end it (an error text in a label could hold "</script>"): "<\/" is JSON too
    data = figure.to_json().replace("</", "<\\/")
    return Markup(
        f'<div id="{div_id}" class="plotly-graph-div chart"></div>'
        f'<script type="application/json" class="figure" data-for="{div_id}">{data}</script>'
    )


def run_warnings(results: Results) -> dict[str, list[Any]]:
    """What a reader must know before trusting the numbers.

    ``flagged``: (target, standing) of every step that does not count, with its causes; ``marked``: (target,
    standing) of usable steps whose percentiles are thin or lower bounds; unfinished targets, failed probes,
    restarted servers.
    """
    analyses = [analyse(target, results.meta) for target in results.targets]
    flagged = [(a.target, standing) for a in analyses for standing in a.flagged]
    marked = [(a.target, s) for a in analyses for s in a.steps if s.usable and (s.thin or s.lower_bound)]
    unfinished = [target for target in results.targets if target.status != "ok"]
    probes = [probe for probe in results.probe if probe.error]
    restarted = [target for target in results.targets if target.note]
    return {
        "flagged": flagged,
        "marked": marked,
        "unfinished": unfinished,
        "probes": probes,
        "restarted": restarted,
    }


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
    """Where a run is, from what it has saved: the first target still running and its next step."""
    if results.meta.status != "running":
        return None
    meta = results.meta
    per_target = len(meta.steps)
    total = len(meta.servers) * len(meta.scenarios) * per_target * meta.rounds
    closed = per_target * meta.rounds  # a failed or skipped target counts as done
    done = sum(closed if t.status in ("failed", "skipped") else t.steps_done() for t in results.targets)
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

    @property
    def text(self) -> str:
        """'45 s', '2 min 05 s' (whole seconds; the page counts it down between updates)."""
        whole = max(round(self.seconds), 0)
        return f"{whole} s" if whole < 60 else f"{whole // 60} min {whole % 60:02d} s"


def _planned_s(results: Results, steps: int, targets: int, servers: int) -> float:
    meta = results.meta
    return steps * (meta.warmup_s + meta.window_s) + targets * TARGET_START_S + servers * SERVER_START_S


def time_left(results: Results, now: datetime | None = None) -> TimeLeft | None:
    """What a running run still has to do, in seconds: its remaining steps, targets and server starts as the profile
    plans them, scaled by how the run has kept to that plan so far (once it has run PACE_AFTER_S). None when done."""
    status = live_status(results)
    if status is None:
        return None
    meta = results.meta
    # Failed and skipped targets count as done (as in live_status); a server counts once started.
    closed = status.done_steps // max(status.steps, 1)
    started = len({t.server for t in results.targets})
    left = _planned_s(
        results,
        status.total_steps - status.done_steps,
        len(meta.servers) * len(meta.scenarios) * meta.rounds - closed,
        len(meta.servers) - started,
    )
    done = _planned_s(results, status.done_steps, closed, started)
    try:
        elapsed = ((now or datetime.now(UTC)) - datetime.fromisoformat(meta.started)).total_seconds()
    except (ValueError, TypeError):  # not a timestamp, or one without its time zone
        elapsed = 0.0
    if elapsed < PACE_AFTER_S or done <= 0:
        return TimeLeft(left, "the profile's plan")
    pace = min(max(elapsed / done, 0.5), 3.0)
    return TimeLeft(left * pace, "the profile's plan at this run's pace so far")


@dataclass(frozen=True)
class PlanCheck:
    """A ``plan --verify`` run: the planner's prediction beside the one step it measured, and the verdict."""

    prediction: dict[str, str]
    step: Step | None
    causes: str
    held: bool


def plan_check(results: Results) -> PlanCheck | None:
    """The verification a run was made for (meta.prediction), judged by flasklab.core.analysis."""
    prediction = results.meta.prediction
    if prediction is None:
        return None
    checked = check_objective(results, float(prediction.get("objective_p95_ms", "nan")))
    return PlanCheck(prediction, checked.step, checked.causes, checked.held)


def render_report(
    results: Results,
    slo_p95_ms: float = DEFAULT_SLO_P95_MS,
    live: LiveView | None = None,
    with_chart_library: bool = True,
) -> str:
    """The report of a run as one HTML document that needs nothing but itself (plotly.js is inside).

    With ``live``, the same page with a status bar and the script that keeps it current (flasklab.views.live serves it);
    without the chart library, it is what that script swaps in.
    """
    if not slo_p95_ms > 0:
        raise ValueError(f"the p95 SLO must be a positive number of milliseconds, not {slo_p95_ms!r}")
    return (
        _environment()
        .get_template(TEMPLATE)
        .render(
            results=results,
            meta=results.meta,
            slo_p95_ms=slo_p95_ms,
            styles=server_styles(results),
            capacity=capacity_table(results, slo_p95_ms),
            efficiency=efficiency_tables(results),
            request_names=request_name_tables(results),
            charts=charts(results, slo_p95_ms),
            warnings=run_warnings(results),
            knee_growth_percent=f"{(KNEE_GROWTH - 1) * 100:.0f}",
            failed_requests=sum(step.failures for target in results.targets for step in target.steps),
            max_failure_percent=MAX_FAILURE_RATE * 100,
            min_samples=MIN_SAMPLES,
            p99_samples=min_samples("p99"),
            capacity_percentile=CAPACITY_PERCENTILE,
            lower_bound_mark=LOWER_BOUND_MARK,
            thin_mark=THIN_MARK,
            plotly_js=Markup(chart_library()) if with_chart_library else "",
            plot_config=PLOT_CONFIG,
            load_text=load_text,
            chart_titles=chart_titles(results.meta.model),
            live=live,
            live_status=live_status(results),
            time_left=time_left(results),
            plan_check=plan_check(results),
        )
    )


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(lab_root() / "dashboards"), autoescape=True, undefined=StrictUndefined
    )
    environment.filters["number"] = format_number
    return environment


def projector_scenario(results: Results, asked: str | None = None) -> str | None:
    """The scenario the projector's capacity chart shows: the one asked for, else the one under load now, else the
    last one measured (a server being started and probed keeps the previous chart), else the first of the run."""
    measured = measured_scenarios(results)
    if asked in measured:
        return asked
    status = live_status(results)
    if status is not None and status.scenario in measured:
        return status.scenario
    if status is not None:
        latest = [t.scenario for t in results.targets if t.steps and t.scenario in measured]
        return latest[-1] if latest else None
    return measured[0] if measured else None


def timeline_servers(results: Results) -> list[str]:
    """The servers of the projector's timeline: the last PROJECTOR_TIMELINE_SERVERS probed."""
    return [probe.server for probe in results.probe if probe.requests][-PROJECTOR_TIMELINE_SERVERS:]


def projector_charts(results: Results, scenario: str | None) -> list[Chart]:
    """The projector's two charts, in large type: the scenario's capacity curve and the probe timeline."""
    styles = server_styles(results)
    recent = timeline_servers(results)
    built: list[tuple[str, str, str | None, Figure | None]] = [
        ("capacity", "capacity", scenario, capacity_figure(results, scenario, styles) if scenario else None),
        ("timeline", "timeline", None, probe_timeline_figure(results, styles, servers=recent)),
    ]
    heights = {"capacity": PROJECTOR_CAPACITY_PX, "timeline": PROJECTOR_TIMELINE_PX}
    return [
        Chart(div_id, kind, of_scenario, _chart_html(for_projector(figure, heights[kind]), div_id))
        for div_id, kind, of_scenario, figure in built
        if figure is not None
    ]


def render_projector(
    results: Results, live: LiveView, with_chart_library: bool = True, scenario: str | None = None
) -> str:
    """The live page for a room (flasklab.views.live serves it as a run's ``projector``): 1920x1080, large type, where
    the run is and how long it has left, the capacity curve of the scenario under load and the probe timeline."""
    shown = projector_scenario(results, scenario)
    return (
        _environment()
        .get_template(PROJECTOR_TEMPLATE)
        .render(
            results=results,
            meta=results.meta,
            styles=server_styles(results),
            scenario=shown,
            asked=scenario if scenario == shown else None,
            scenarios=measured_scenarios(results),
            charts={chart.kind: chart for chart in projector_charts(results, shown)},
            chart_titles=chart_titles(results.meta.model),
            live=live,
            live_status=live_status(results),
            time_left=time_left(results),
            timeline_servers=timeline_servers(results),
            probed=sum(1 for probe in results.probe if probe.requests),
            measured_servers={t.server for t in results.targets if t.steps} | {p.server for p in results.probe},
            plotly_js=Markup(chart_library()) if with_chart_library else "",
            plot_config=PLOT_CONFIG | {"displayModeBar": False},
        )
    )


def write_report(run_dir: Path, slo_p95_ms: float = DEFAULT_SLO_P95_MS) -> Path:
    """Build DIR/report.html from DIR/results.json, atomically (a temp file in the folder, then a rename)."""
    results = load_results(run_dir)
    directory = run_dir if run_dir.is_dir() else run_dir.parent
    return atomic_write(directory / REPORT_FILE, render_report(results, slo_p95_ms))
