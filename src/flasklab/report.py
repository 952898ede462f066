"""The run report: one self-contained HTML page, a pure function of results.json.

plotly.js is embedded once, inline, so the page opens offline and sends no request anywhere. What a step means
(usable, flagged and why, peak, capacity, knee, marked percentiles) is flasklab.analysis's; how the page looks
(colours, markers, layout) is flasklab.chart_style's. This module draws and renders.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import plotly.graph_objects as go  # type: ignore[import-untyped]
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from plotly.subplots import make_subplots  # type: ignore[import-untyped]

from flasklab.analysis import (
    CAPACITY_PERCENTILE,
    KNEE_GROWTH,
    LOWER_BOUND_MARK,
    MAX_FAILURE_RATE,
    MIN_SAMPLES,
    THIN_MARK,
    Standing,
    TargetAnalysis,
    analyse,
    budget_value,
    check_objective,
    littles_law_efficiency,
    load_text,
    min_samples,
)
from flasklab.catalog import lab_root
from flasklab.chart_style import (
    PLOT_CONFIG,
    Chart,
    Figure,
    ServerStyle,
    apply_layout,
    chart_library,
    format_number,
    line,
    log_axis,
    reference_line,
    scale_buttons,
    server_styles,
)
from flasklab.results import Results, Step, Target, atomic_write, load_results
from flasklab.settings import DEFAULT_SLO_P95_MS

REPORT_FILE = "report.html"
TEMPLATE = "report.html.j2"
# Each chart's title by kind (the report's headings, the slides' titles); its caption is the template's.
CHART_TITLES = {
    "capacity": "throughput vs users (the capacity curve)",
    "latency": "latency percentiles vs users",
    "hockey": "p95 latency vs throughput (the hockey stick)",
    "probe": "Concurrency probe: requests really served at once",
    "resources": "Server CPU and memory at each target's peak throughput",
    "failures": "Failed requests by kind",
}
# A step's marker by its standing: it counts (●), it measured the generator (✕), it does not count for another
# reason (○: failures, not steady, unstable, too few samples). Hover names the cause.
MARKER_USABLE, MARKER_GENERATOR_BOUND, MARKER_FLAGGED = "circle", "x", "circle-open"


def chart_titles(model: str) -> dict[str, str]:
    """The titles for a run's load model: in the open model, curves are drawn against the offered rate."""
    if model != "open":
        return CHART_TITLES
    return {kind: title.replace("vs users", "vs offered rate") for kind, title in CHART_TITLES.items()}


# Scenarios whose requests wait `ms` each: Little's law bounds their throughput.
IO_SCENARIOS = ("io", "upstream")


@dataclass(frozen=True)
class CapacityCell:
    server: str
    step: Step | None
    note: str
    winner: bool
    standing: Standing | None = None  # the capacity step's standing: how its p95 is marked


@dataclass(frozen=True)
class CapacityLine:
    server: str
    concurrency: int | None
    cells: list[CapacityCell | None]  # one per scenario of the run (None: not run)


def scenario_targets(results: Results, scenario: str) -> Iterator[Target]:
    """The scenario's targets that measured at least one step, in the order of meta.servers."""
    order = {name: i for i, name in enumerate(server_styles(results))}
    for target in sorted(results.targets, key=lambda t: order[t.server]):
        if target.scenario == scenario and target.steps:
            yield target


def scenario_analyses(results: Results, scenario: str) -> Iterator[TargetAnalysis]:
    """The scenario's measured targets with their steps' standing, in the order of meta.servers."""
    for target in scenario_targets(results, scenario):
        yield analyse(target, results.meta)


def measured_scenarios(results: Results) -> list[str]:
    return [scenario for scenario in results.meta.scenarios if next(scenario_targets(results, scenario), None)]


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
        cells.append(CapacityCell(server, step, note, False, analysis.standing(step) if step else None))
    best = max((cell.step.rps for cell in cells if cell.step), default=None)
    return {
        c.server: CapacityCell(c.server, c.step, c.note, c.step is not None and c.step.rps == best, c.standing)
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


def efficiency_tables(results: Results) -> dict[str, list[tuple[Target, list[float | None]]]]:
    tables: dict[str, list[tuple[Target, list[float | None]]]] = {}
    for scenario in results.meta.scenarios:
        if scenario not in IO_SCENARIOS:
            continue
        rows = []
        for target in scenario_targets(results, scenario):
            by_users = {step.users: step for step in target.steps}
            cells = [littles_law_efficiency(target, by_users[u]) if u in by_users else None for u in results.meta.steps]
            if any(cell is not None for cell in cells):
                rows.append((target, cells))
        if rows:
            tables[scenario] = rows
    return tables


def _users_axis(figure: Figure, results: Results, **where: Any) -> None:
    title = "offered rate (rps, open model)" if results.meta.model == "open" else None
    figure.update_xaxes(type="log", tickvals=results.meta.steps, title_text=title or "users (closed loop)", **where)


def marker_symbol(standing: Standing) -> str:
    if standing.usable:
        return MARKER_USABLE
    return MARKER_GENERATOR_BOUND if standing.generator_bound else MARKER_FLAGGED


def _markers(style: ServerStyle, standings: Sequence[Standing]) -> dict[str, Any]:
    symbols = [marker_symbol(standing) for standing in standings]
    return {"color": style.colour, "size": 11, "symbol": symbols, "line": {"color": style.colour, "width": 2}}


def standing_hover(standing: Standing) -> str:
    """The hover line under a step's value: why it does not count, and what marks its percentiles (escaped)."""
    lines = [f"does not count: {standing.causes}"] if standing.flags else []
    lines += standing.notes
    return "".join(f"<br>{html.escape(text, quote=False)}" for text in lines)


def _round_whiskers(steps: Sequence[Step], style: ServerStyle) -> dict[str, Any] | None:
    """Error bars from min to max rps across rounds (a run with --rounds N); none for a single round."""
    if not any(step.spread for step in steps):
        return None
    return {
        "type": "data",
        "symmetric": False,
        "array": [step.spread.rps_max - step.rps if step.spread else 0 for step in steps],
        "arrayminus": [step.rps - step.spread.rps_min if step.spread else 0 for step in steps],
        "color": style.colour,
        "thickness": 2,
        "width": 8,
    }


def capacity_figure(results: Results, scenario: str, styles: dict[str, ServerStyle]) -> Figure:
    figure = go.Figure()
    for analysis in scenario_analyses(results, scenario):
        target, style = analysis.target, styles[analysis.target.server]
        steps = [standing.step for standing in analysis.steps]
        figure.add_scatter(
            x=[s.load for s in steps],
            y=[s.rps for s in steps],
            customdata=[[load_text(s.step), standing_hover(s)] for s in analysis.steps],
            name=target.server,
            legendgroup=target.server,
            mode="lines+markers",
            line=line(style),
            marker=_markers(style, analysis.steps),
            error_y=_round_whiskers(steps, style),
            hovertemplate=(
                f"<b>{target.server}</b><br>%{{customdata[0]}}: %{{y:,.1f}} rps%{{customdata[1]}}<extra></extra>"
            ),
        )
        if bend := analysis.knee:
            figure.add_scatter(
                x=[bend.load],
                y=[bend.rps],
                legendgroup=target.server,
                showlegend=False,
                mode="markers",
                marker={"symbol": "diamond", "size": 22, "color": style.colour, "line": {"color": "#111", "width": 2}},
                hovertemplate=f"<b>{target.server}</b>: knee at {load_text(bend)}, {bend.rps:,.1f} rps<extra></extra>",
            )
    figure.add_scatter(
        x=[None],
        y=[None],
        name="knee",
        mode="markers",
        marker={"symbol": "diamond", "size": 16, "color": "white", "line": {"color": "#111", "width": 2}},
    )
    apply_layout(figure, 620, updatemenus=[scale_buttons()])
    _users_axis(figure, results)
    figure.update_yaxes(title_text="throughput (rps)", rangemode="tozero")
    return figure


def percentile_hover(standing: Standing, field: str) -> str:
    """A percentile's value for the hover, with its marks (≥ a lower bound, † the maximum of too few samples)."""
    value = getattr(standing.step, field)
    name = field.removesuffix("_ms")
    return "—" if value is None else standing.marked(name, f"{value:,.1f}")


def latency_figure(results: Results, scenario: str, styles: dict[str, ServerStyle], slo_p95_ms: float) -> Figure:
    percentiles = ("p50_ms", "p95_ms", "p99_ms")
    figure = make_subplots(
        rows=1, cols=3, shared_yaxes=True, horizontal_spacing=0.03, subplot_titles=("p50", "p95", "p99")
    )
    for analysis in scenario_analyses(results, scenario):
        target, style = analysis.target, styles[analysis.target.server]
        for column, field in enumerate(percentiles, start=1):
            figure.add_scatter(
                x=[s.step.load for s in analysis.steps],
                y=[getattr(s.step, field) for s in analysis.steps],
                customdata=[[load_text(s.step), percentile_hover(s, field), standing_hover(s)] for s in analysis.steps],
                name=target.server,
                legendgroup=target.server,
                showlegend=column == 1,
                mode="lines+markers",
                line=line(style),
                marker=_markers(style, analysis.steps),
                hovertemplate=(
                    f"<b>{target.server}</b><br>%{{customdata[0]}}: {field[:3]} %{{customdata[1]}} ms"
                    "%{customdata[2]}<extra></extra>"
                ),
                row=1,
                col=column,
            )
    apply_layout(figure, 620)
    figure.update_annotations(font_size=20)  # the subplot titles
    reference_line(figure, slo_p95_ms, f"SLO {slo_p95_ms:g} ms", log=True, row=1, col=2)
    _users_axis(figure, results)
    figure.update_yaxes(**log_axis())
    figure.update_yaxes(title_text="latency (ms, log scale)", row=1, col=1)
    return figure


def hockey_stick_figure(results: Results, scenario: str, styles: dict[str, ServerStyle], slo_p95_ms: float) -> Figure:
    figure = go.Figure()
    for analysis in scenario_analyses(results, scenario):
        target, style = analysis.target, styles[analysis.target.server]
        figure.add_scatter(
            x=[s.step.rps for s in analysis.steps],
            y=[s.step.p95_ms for s in analysis.steps],
            customdata=[[load_text(s.step), percentile_hover(s, "p95_ms"), standing_hover(s)] for s in analysis.steps],
            name=target.server,
            mode="lines+markers",
            line=line(style),
            marker=_markers(style, analysis.steps),
            hovertemplate=(
                f"<b>{target.server}</b><br>%{{customdata[0]}}<br>%{{x:,.1f}} rps, p95 %{{customdata[1]}} ms"
                "%{customdata[2]}<extra></extra>"
            ),
        )
    apply_layout(figure, 620)
    reference_line(figure, slo_p95_ms, f"SLO {slo_p95_ms:g} ms", log=True)
    figure.update_xaxes(title_text="throughput (rps)", rangemode="tozero")
    figure.update_yaxes(**log_axis(), title_text="p95 latency (ms, log scale)")
    return figure


def probe_figure(results: Results, styles: dict[str, ServerStyle]) -> Figure | None:
    probes = [probe for probe in results.probe if probe.measured is not None]
    if not probes:
        return None
    figure = go.Figure()
    figure.add_bar(
        x=[p.server for p in probes],
        y=[p.measured for p in probes],
        name="measured",
        showlegend=False,
        marker={
            "color": [styles[p.server].colour for p in probes],
            "pattern": {"shape": [styles[p.server].pattern for p in probes], "fgcolor": "white"},
            "line": {"color": "#222", "width": 1},
        },
        text=[f"≥ {p.measured}" if (p.measured or 0) >= p.width else str(p.measured) for p in probes],
        textposition="outside",
        cliponaxis=False,
        hovertemplate="<b>%{x}</b>: %{y} requests at once<extra></extra>",
    )
    bounded = [p for p in probes if p.configured is not None]
    figure.add_scatter(
        x=[p.server for p in bounded],
        y=[p.configured for p in bounded],
        name="configured",
        mode="markers",
        marker={"symbol": "line-ew-open", "size": 46, "color": "#111", "line": {"color": "#111", "width": 4}},
        hovertemplate="<b>%{x}</b>: configured %{y}<extra></extra>",
    )
    width = max(p.width for p in probes)
    top = max([width * 3, *(p.configured or 0 for p in probes)]) * 1.6
    for probe in probes:
        if probe.configured is None:
            figure.add_annotation(
                x=probe.server, y=0.92, yref="paper", text="configured:<br>unbounded", showarrow=False
            )
    reference_line(figure, width, f"probe width {width}", log=True)
    apply_layout(figure, 640, legend={"orientation": "h", "y": 1.08, "x": 1, "xanchor": "right", "font": {"size": 17}})
    figure.update_yaxes(**log_axis(), range=[-0.15, math.log10(top)], title_text="requests served at once (log)")
    figure.update_xaxes(tickangle=-30)
    return figure


def resources_figure(results: Results, styles: dict[str, ServerStyle]) -> Figure | None:
    scenarios = measured_scenarios(results)
    if not scenarios:
        return None
    measure = results.meta.memory_measure or "rss"
    memory = measure if measure == "cgroup" else measure.upper()
    figure = make_subplots(
        rows=2,
        cols=len(scenarios),
        shared_xaxes=True,
        vertical_spacing=0.08,
        horizontal_spacing=0.06,
        subplot_titles=[f"{s}: CPU (cores)" for s in scenarios] + [f"{s}: memory ({memory}, MiB)" for s in scenarios],
    )
    for column, scenario in enumerate(scenarios, start=1):
        peaks = [(a.target, a.peak) for a in scenario_analyses(results, scenario)]
        shown = [(target, step) for target, step in peaks if step is not None]  # no usable step: no peak to show
        for row, field in ((1, "server_cpu"), (2, "server_rss_mb")):
            figure.add_bar(
                x=[target.server for target, _ in shown],
                y=[getattr(step, field) for _, step in shown],
                customdata=[load_text(step) for _, step in shown],
                showlegend=False,
                marker={
                    "color": [styles[target.server].colour for target, _ in shown],
                    "pattern": {"shape": [styles[target.server].pattern for target, _ in shown], "fgcolor": "white"},
                    "line": {"color": "#222", "width": 1},
                },
                hovertemplate=f"<b>%{{x}}</b>, {scenario}, at %{{customdata}}: %{{y:,.2f}}<extra></extra>",
                row=row,
                col=column,
            )
    apply_layout(figure, 820)
    figure.update_annotations(font_size=20)  # the subplot titles; the budget labels below keep their own size
    if (cpus := budget_value(results.meta.budget.get("cpus"))) is not None:
        reference_line(figure, cpus, f"budget {cpus:g} core{'s' if cpus != 1 else ''}", row=1, col="all")
    if (mebibytes := budget_value(results.meta.budget.get("memory"), mebibytes=True)) is not None:
        reference_line(figure, mebibytes, f"budget {mebibytes:g} MiB", row=2, col="all")
    figure.update_xaxes(tickangle=-30)
    return figure


def failures_figure(results: Results, styles: dict[str, ServerStyle]) -> Figure | None:
    counts: dict[str, dict[str, int]] = {}
    for target in results.targets:
        for step in target.steps:
            for kind, count in step.errors.items():
                # plotly reads tags in labels (<b>, <a href>): an error text is shown as text
                label = html.escape(f"{target.scenario} · {kind[:70]}", quote=False)
                by_server = counts.setdefault(label, {})
                by_server[target.server] = by_server.get(target.server, 0) + count
    if not counts:
        return None
    labels = sorted(counts)
    figure = go.Figure()
    for server, style in styles.items():
        values = [counts[label].get(server) for label in labels]
        if any(values):
            figure.add_bar(
                y=labels,
                x=values,
                name=server,
                showlegend=True,
                orientation="h",
                marker={"color": style.colour, "pattern": {"shape": style.pattern, "fgcolor": "white"}},
                hovertemplate=f"<b>{server}</b><br>%{{y}}: %{{x:,}} failed<extra></extra>",
            )
    apply_layout(figure, min(1400, 200 + 34 * len(labels) * len(figure.data)), barmode="group")
    figure.update_xaxes(title_text="failed requests (all steps)")
    figure.update_yaxes(autorange="reversed", automargin=True)
    return figure


def figures(results: Results, slo_p95_ms: float) -> list[tuple[str, str, str | None, Figure]]:
    """Every figure of the report, in page order, as (chart id, kind, scenario or None, plotly figure)."""
    styles = server_styles(results)
    built: list[tuple[str, str | None, Figure | None]] = []
    for scenario in measured_scenarios(results):
        built += [
            ("capacity", scenario, capacity_figure(results, scenario, styles)),
            ("latency", scenario, latency_figure(results, scenario, styles, slo_p95_ms)),
            ("hockey", scenario, hockey_stick_figure(results, scenario, styles, slo_p95_ms)),
        ]
    built += [
        ("probe", None, probe_figure(results, styles)),
        ("resources", None, resources_figure(results, styles)),
        ("failures", None, failures_figure(results, styles)),
    ]
    return [
        (f"{kind}-{of_scenario}" if of_scenario else kind, kind, of_scenario, figure)
        for kind, of_scenario, figure in built
        if figure is not None
    ]


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
class PlanCheck:
    """A ``plan --verify`` run: the planner's prediction beside the one step it measured, and the verdict."""

    prediction: dict[str, str]
    step: Step | None
    causes: str
    held: bool


def plan_check(results: Results) -> PlanCheck | None:
    """The verification a run was made for (meta.prediction), judged by flasklab.analysis."""
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

    With ``live``, the same page with a status bar and the script that keeps it current (flasklab.live serves it);
    without the chart library, it is what that script swaps in.
    """
    if not slo_p95_ms > 0:
        raise ValueError(f"the p95 SLO must be a positive number of milliseconds, not {slo_p95_ms!r}")
    environment = Environment(
        loader=FileSystemLoader(lab_root() / "dashboards"), autoescape=True, undefined=StrictUndefined
    )
    environment.filters["number"] = format_number
    template = environment.get_template(TEMPLATE)
    return template.render(
        results=results,
        meta=results.meta,
        slo_p95_ms=slo_p95_ms,
        styles=server_styles(results),
        capacity=capacity_table(results, slo_p95_ms),
        efficiency=efficiency_tables(results),
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
        plan_check=plan_check(results),
    )


def write_report(run_dir: Path, slo_p95_ms: float = DEFAULT_SLO_P95_MS) -> Path:
    """Build DIR/report.html from DIR/results.json, atomically (a temp file in the folder, then a rename)."""
    results = load_results(run_dir)
    directory = run_dir if run_dir.is_dir() else run_dir.parent
    return atomic_write(directory / REPORT_FILE, render_report(results, slo_p95_ms))
