"""The run's charts: every plotly figure of a run, a pure function of results.json.

Shared by the report (which embeds them in its page) and the slides (which draw them as pictures), so both show the
same figures under the same titles. What a step means (usable, flagged and why, peak, knee, marked percentiles) is
flasklab.core.analysis's; how a chart looks (colours, dashes, layout) is flasklab.views.chart_style's. This module only
draws.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go  # type: ignore[import-untyped]
from plotly.subplots import make_subplots  # type: ignore[import-untyped]

from flasklab.core.analysis import Standing, TargetAnalysis, analyse, budget_value, load_text, rps_interval
from flasklab.core.results import ProbeRequest, ProbeResult, Results, Step, Target
from flasklab.views.chart_style import (
    Figure,
    ServerStyle,
    apply_layout,
    line,
    log_axis,
    reference_line,
    scale_buttons,
    server_styles,
)

# Each chart's title by kind (the report's headings, the slides' titles); its caption is the template's.
CHART_TITLES = {
    "capacity": "throughput vs users (the capacity curve)",
    "latency": "latency percentiles vs users",
    "hockey": "p95 latency vs throughput (the hockey stick)",
    "probe": "Concurrency probe: requests really served at once",
    "timeline": "Probe timeline: each request from its start to its end, one lane per worker",
    "resources": "Server CPU and memory at each target's peak throughput",
    "failures": "Failed requests by kind",
}
# The timeline names each lane up to this many lanes a server; past it, each process (or every few lanes).
MAX_LANE_LABELS = 12
# A timeline row's height: a base and a lane's labelled height per lane up to this many lanes (a server with more
# fills the same height: a wall of bars reads as "many" without a pixel per lane), and the gap for the row's title.
LANE_PX, ROW_BASE_PX, ROW_LANES_CAP, ROW_GAP_PX = 24, 30, 5, 48
# A step's marker by its standing: it counts (●), it measured the generator (✕), it does not count for another
# reason (○: failures, not steady, unstable, too few samples). Hover names the cause.
MARKER_USABLE, MARKER_GENERATOR_BOUND, MARKER_FLAGGED = "circle", "x", "circle-open"


def chart_titles(model: str) -> dict[str, str]:
    """The titles for a run's load model: in the open model, curves are drawn against the offered rate."""
    if model != "open":
        return CHART_TITLES
    return {kind: title.replace("vs users", "vs offered rate") for kind, title in CHART_TITLES.items()}


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
    """Error bars across rounds (a run with --rounds N: flasklab.core.analysis.rps_interval, the rounds' range or from 6
    rounds a 95 % interval of their median; the caption says which); none for a single round."""
    if not any(step.spread for step in steps):
        return None
    spans = [rps_interval(step) if step.spread else None for step in steps]
    return {
        "type": "data",
        "symmetric": False,
        "array": [
            span.high - step.rps if span and span.high is not None else 0
            for step, span in zip(steps, spans, strict=True)
        ],
        "arrayminus": [step.rps - span.low if span else 0 for step, span in zip(steps, spans, strict=True)],
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


@dataclass(frozen=True)
class Lane:
    """One worker of the probe timeline: the n-th process to serve a probe request and its m-th thread (or greenlet),
    both counted from 1 in the order they first started one."""

    process: int
    thread: int


def worker_lanes(requests: Sequence[ProbeRequest]) -> dict[tuple[int | None, int | None], Lane]:
    """Each (pid, thread) that served a probe request and its lane, processes and threads by their first request."""
    processes: dict[int | None, dict[int | None, int]] = {}
    for request in sorted(requests, key=lambda r: r.start_s):
        threads = processes.setdefault(request.pid, {})
        threads.setdefault(request.thread, len(threads) + 1)
    return {
        (pid, thread): Lane(process, number)
        for process, (pid, threads) in enumerate(processes.items(), start=1)
        for thread, number in threads.items()
    }


def lane_label(lane: Lane, processes: int, single_threaded: bool) -> str:
    """'thread 3' in a one-process server, 'process 2' where every process has one thread, else both."""
    if processes == 1:
        return f"thread {lane.thread}"
    if single_threaded:
        return f"process {lane.process}"
    return f"process {lane.process} · thread {lane.thread}"


def lane_ticks(lanes: list[Lane]) -> tuple[list[float], list[str]]:
    """Where the lanes' labels go (lane i at y = i): each lane, or past MAX_LANE_LABELS each process (every few)."""
    processes = max((lane.process for lane in lanes), default=0)
    single_threaded = all(lane.thread == 1 for lane in lanes)
    labels = [lane_label(lane, processes, single_threaded) for lane in lanes]
    if len(lanes) <= MAX_LANE_LABELS:
        return list(range(len(lanes))), labels
    if single_threaded or processes == 1 or processes > MAX_LANE_LABELS:
        every = math.ceil(len(lanes) / MAX_LANE_LABELS)
        return list(range(0, len(lanes), every)), labels[::every]
    values, texts = [], []
    for process in range(1, processes + 1):
        rows = [i for i, lane in enumerate(lanes) if lane.process == process]
        values.append((rows[0] + rows[-1]) / 2)
        texts.append(f"process {process}<br>{len(rows)} threads")  # two short lines: a narrower margin
    return values, texts


def timeline_title(probe: ProbeResult, lanes: int) -> str:
    at_once = probe.measured or 0
    shown = "one at a time" if at_once == 1 else f"{at_once} at once"
    return f"<b>{html.escape(probe.server)}</b>: {lanes} worker{'s' if lanes != 1 else ''}, {shown}"


def _timeline_trace(probe: ProbeResult, style: ServerStyle) -> tuple[dict[str, Any], list[Lane]]:
    """The probe's requests as horizontal bars (base: start, length: duration), lane by lane; and the lanes."""
    by_worker = worker_lanes(probe.requests)
    lanes = sorted(by_worker.values(), key=lambda lane: (lane.process, lane.thread))
    index = {lane: i for i, lane in enumerate(lanes)}
    processes, single = max(lane.process for lane in lanes), all(lane.thread == 1 for lane in lanes)
    placed = [(r, by_worker[(r.pid, r.thread)]) for r in probe.requests]
    trace = {
        "type": "bar",
        "orientation": "h",
        "name": probe.server,
        "showlegend": False,
        "y": [index[lane] for _, lane in placed],
        "base": [r.start_s for r, _ in placed],
        "x": [max(r.end_s - r.start_s, 0.0) for r, _ in placed],
        "width": 0.8,
        # a thin white edge parts bars that follow each other on one lane; lanes too thin for it go without
        "marker": {"color": style.colour, "line": {"color": "white", "width": 1 if len(lanes) <= 16 else 0}},
        "customdata": [
            [lane_label(lane, processes, single), f"{r.start_s * 1000:,.0f}", f"{r.end_s * 1000:,.0f}"]
            for r, lane in placed
        ],
        "hovertemplate": f"<b>{html.escape(probe.server)}</b> · %{{customdata[0]}}<br>"
        "%{customdata[1]} → %{customdata[2]} ms<extra></extra>",
    }
    return trace, lanes


def probe_timeline_figure(
    results: Results, styles: dict[str, ServerStyle], height: int | None = None, servers: Sequence[str] | None = None
) -> Figure | None:
    """Per server (one row each, in meta.servers order; only ``servers`` if given), a lane per worker and a bar per
    probe request from its server-side start to its end: one at a time, a few at once or many, seen at a glance.
    The rows share the time axis."""
    order = list(styles)
    shown = [p for p in results.probe if p.requests and (servers is None or p.server in servers)]
    probes = sorted(shown, key=lambda p: order.index(p.server))
    if not probes:
        return None
    rows = [_timeline_trace(probe, styles[probe.server]) for probe in probes]
    row_px = [ROW_BASE_PX + LANE_PX * min(len(lanes), ROW_LANES_CAP) for _, lanes in rows]
    total = sum(row_px) + ROW_GAP_PX * len(rows) + 60
    figure = make_subplots(
        rows=len(rows),
        cols=1,
        shared_xaxes=True,
        row_heights=row_px,
        vertical_spacing=ROW_GAP_PX / total,
        subplot_titles=[timeline_title(probe, len(lanes)) for probe, (_, lanes) in zip(probes, rows, strict=True)],
    )
    for row, (trace, lanes) in enumerate(rows, start=1):
        figure.add_trace(trace, row=row, col=1)
        values, texts = lane_ticks(lanes)
        figure.update_yaxes(
            tickvals=values, ticktext=texts, range=[len(lanes) - 0.5, -0.5], showgrid=False, row=row, col=1
        )
    end = max(r.end_s for probe in probes for r in probe.requests)
    apply_layout(figure, height or total + 90, barmode="overlay", bargap=0, margin={"l": 90, "r": 30, "t": 60, "b": 70})
    figure.update_annotations(font_size=19, xanchor="left", x=0)  # the rows' titles, over their left edge
    figure.update_xaxes(range=[0, end * 1.02], ticksuffix=" s")
    figure.update_xaxes(title_text="seconds since the probe began (server clock)", row=len(rows))
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
    """Every figure of the run, in the report's page order, as (chart id, kind, scenario or None, plotly figure)."""
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
        ("timeline", None, probe_timeline_figure(results, styles)),
        ("resources", None, resources_figure(results, styles)),
        ("failures", None, failures_figure(results, styles)),
    ]
    return [
        (f"{kind}-{of_scenario}" if of_scenario else kind, kind, of_scenario, figure)
        for kind, of_scenario, figure in built
        if figure is not None
    ]
