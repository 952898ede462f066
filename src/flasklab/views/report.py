"""The run report: one self-contained HTML page, a pure function of results.json.

plotly.js is embedded once, inline, so the page opens offline and sends no request anywhere. What a step means
(usable, flagged and why, peak, capacity, knee, marked percentiles) is flasklab.core.analysis's; the figures are
flasklab.views.charts' and how the page looks (colours, number format, the chart library) flasklab.views.chart_style's.
This module puts the tables, the charts and the warnings on the page and renders it; the live page's progress is
flasklab.views.progress's, and the projector view of the same run flasklab.views.projector's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markupsafe import Markup

from flasklab.core.analysis import (
    CAPACITY_PERCENTILE,
    KNEE_GROWTH,
    LOWER_BOUND_MARK,
    MAX_FAILURE_RATE,
    MIN_SAMPLES,
    THIN_MARK,
    Standing,
    TargetAnalysis,
    analyse,
    check_objective,
    littles_law_efficiency,
    load_text,
    min_samples,
)
from flasklab.core.catalog import IO_WORK, CatalogError, load_scenarios
from flasklab.core.results import Results, Step, Target, atomic_write, load_results, objective
from flasklab.core.timeouts import timeout_outcomes
from flasklab.views.chart_style import PLOT_CONFIG, Chart, chart_library, server_styles
from flasklab.views.charts import chart_titles, figures
from flasklab.views.curve_charts import scenario_targets
from flasklab.views.headline import headline_rows, headline_title, io_scenario
from flasklab.views.pages import embedded_chart, templates

# flasklab.views.live and the tests import the live pages' parts from here, beside render_report.
from flasklab.views.progress import LiveView as LiveView
from flasklab.views.progress import live_status as live_status
from flasklab.views.progress import time_left as time_left
from flasklab.views.projector import render_projector as render_projector

REPORT_FILE = "report.html"
TEMPLATE = "report.html.j2"


@dataclass(frozen=True)
class CapacityCell:
    server: str
    step: Step | None
    note: str
    winner: bool
    standing: Standing | None = None  # the capacity step's standing: how its p95 is marked
    bound: Step | None = None  # a lower bound of the capacity above it (generator and server both at their limit)

    @property
    def figure(self) -> float:
        """What the cell says the server can do within the SLO: its capacity, or the lower bound above it."""
        return max(self.step.rps if self.step else 0.0, self.bound.rps if self.bound else 0.0)

    @property
    def won_by_bound(self) -> bool:
        """The best of its scenario by a lower bound: at least that, more than any other server measured."""
        return self.winner and self.bound is not None and self.bound.rps == self.figure


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
        note = "" if step else no_capacity(analysis)
        bound = analysis.lower_bound
        within = bound is not None and bound.p95_ms is not None and bound.p95_ms <= slo_p95_ms
        above = bound if within and bound is not None and (step is None or bound.rps > step.rps) else None
        cells.append(CapacityCell(server, step, note, False, analysis.standing(step) if step else None, above))
    # The best: the highest figure, a lower bound included (a server that can do at least more than another was
    # measured to do is the better one; a lower bound below the best leaves it the best as measured).
    best = max((cell.figure for cell in cells), default=0.0)
    return {
        c.server: CapacityCell(c.server, c.step, c.note, best > 0 and c.figure == best, c.standing, c.bound)
        for c in cells
    }


def no_capacity(analysis: TargetAnalysis) -> str:
    """Why a target shows no capacity within the SLO: unfinished, no usable step, or too few samples for a p95."""
    status = analysis.target.status
    if status != "ok":
        return {"running": "unfinished"}.get(status, status)
    if not analysis.usable:
        return "no usable step"
    if len(analysis.p95_not_measurable) == len(analysis.usable):
        top = max(analysis.usable, key=lambda step: step.rps)
        return f"p95 not measurable ({THIN_MARK}: under {MIN_SAMPLES} samples a step); peak {top.rps:,.1f} rps"
    return "no usable step within the SLO"


def capacity_table(results: Results, slo_p95_ms: float) -> list[CapacityLine]:
    """One line per server that ran, one cell per scenario: its capacity, the winner of each scenario marked."""
    by_scenario = [capacity_cells(results, scenario, slo_p95_ms) for scenario in results.meta.scenarios]
    lines = []
    for server in server_styles(results):
        targets = [target for target in results.targets if target.server == server]
        if targets:
            lines.append(CapacityLine(server, targets[0].concurrency, [cells.get(server) for cells in by_scenario]))
    return lines


def declared_work(results: Results) -> dict[str, str]:
    """Each scenario's declared kind of work, as the run recorded its locustfiles' declarations; for a file from
    before it did, as the checkout's locustfiles declare them now (none when they cannot be read: no table then)."""
    if results.meta.scenario_declarations is not None:
        return {name: declared.work for name, declared in results.meta.scenario_declarations.items()}
    try:
        return {name: scenario.work for name, scenario in load_scenarios().items()}
    except CatalogError:
        return {}


def io_scenarios(results: Results) -> list[str]:
    """The run's scenarios that declare blocking I/O as their work: Little's law bounds those that wait a fixed
    `ms`."""
    work = declared_work(results)
    return [name for name in results.meta.scenarios if work.get(name) == IO_WORK]


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
        Chart(div_id, kind, scenario, embedded_chart(figure, div_id))
        for div_id, kind, scenario, figure in figures(results, slo_p95_ms)
    ]


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
    slo_p95_ms: float | None = None,
    live: LiveView | None = None,
    with_chart_library: bool = True,
) -> str:
    """The report of a run as one HTML document that needs nothing but itself (plotly.js is inside).

    Its SLO is the run's own (results.json records it) unless ``slo_p95_ms`` overrides it, which the page says.
    With ``live``, the same page with a status bar and the script that keeps it current (flasklab.views.live serves it);
    without the chart library, it is what that script swaps in.
    """
    slo = objective(results.meta, slo_p95_ms)
    slo_p95_ms = slo.p95_ms
    return (
        templates()
        .get_template(TEMPLATE)
        .render(
            results=results,
            meta=results.meta,
            slo=slo,
            slo_p95_ms=slo_p95_ms,
            styles=server_styles(results),
            capacity=capacity_table(results, slo_p95_ms),
            headline=headline_rows(results) if results.probe or io_scenario(results) else [],
            headline_title=headline_title(results),
            efficiency=efficiency_tables(results),
            request_names=request_name_tables(results),
            timeouts=timeout_outcomes(results),
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
            stopped=[target for target in results.targets if target.stopped],
        )
    )


def write_report(run_dir: Path, slo_p95_ms: float | None = None) -> Path:
    """Build DIR/report.html from DIR/results.json, atomically (a temp file in the folder, then a rename); its SLO is
    the run's unless ``slo_p95_ms`` overrides it."""
    results = load_results(run_dir)
    directory = run_dir if run_dir.is_dir() else run_dir.parent
    return atomic_write(directory / REPORT_FILE, render_report(results, slo_p95_ms))
