"""The curves of a scenario: throughput, latency percentiles and the hockey stick against the load, a line per server.

Each step is a marker by its standing (flasklab.core.analysis: usable, generator-bound, flagged for another reason)
and its hover says why; how a line looks is flasklab.views.chart_style's. Also which targets a scenario's charts show
(scenario_targets, measured_scenarios): the other chart families and the report read them from here.
"""

from __future__ import annotations

import html
from collections.abc import Iterator, Sequence
from typing import Any

import plotly.graph_objects as go  # type: ignore[import-untyped]
from plotly.subplots import make_subplots  # type: ignore[import-untyped]

from flasklab.core.analysis import Standing, TargetAnalysis, analyse, load_text, rps_interval
from flasklab.core.results import Results, Step, Target
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

# A step's marker by its standing: it counts (●), it measured the generator (✕), it does not count for another
# reason (○: failures, not steady, unstable, too few samples). Hover names the cause.
MARKER_USABLE, MARKER_GENERATOR_BOUND, MARKER_FLAGGED = "circle", "x", "circle-open"


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


def _panel(
    figure: Figure, analysis: TargetAnalysis, style: ServerStyle, where: tuple[str, int], hovers: list[str], value: str
) -> None:
    """One server's line of a step field against the load, in panel ``where`` (field, column) of a row of panels;
    its hover: the load, ``value`` (a template that may read ``hovers`` as customdata[1]), and the step's standing."""
    field, column = where
    target = analysis.target
    figure.add_scatter(
        x=[s.step.load for s in analysis.steps],
        y=[getattr(s.step, field) for s in analysis.steps],
        customdata=[
            [load_text(s.step), hover, standing_hover(s)] for s, hover in zip(analysis.steps, hovers, strict=True)
        ],
        name=target.server,
        legendgroup=target.server,
        showlegend=column == 1,
        mode="lines+markers",
        line=line(style),
        marker=_markers(style, analysis.steps),
        hovertemplate=f"<b>{target.server}</b><br>%{{customdata[0]}}: {value}%{{customdata[2]}}<extra></extra>",
        row=1,
        col=column,
    )


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
        style = styles[analysis.target.server]
        for column, field in enumerate(percentiles, start=1):
            hovers = [percentile_hover(s, field) for s in analysis.steps]
            value = f"{field[:3]} %{{customdata[1]}} ms"
            _panel(figure, analysis, style, (field, column), hovers, value)
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


def waiting_figure(results: Results, scenario: str, styles: dict[str, ServerStyle]) -> Figure | None:
    """Where a scenario's requests waited, against the load: in the app (its requests in flight, the mean the app
    measured) and in the kernel's accept queue (its mean over the window's readings); None when no step read the
    accept queue (external targets, older runs)."""
    analyses = [
        analysis
        for analysis in scenario_analyses(results, scenario)
        if any(s.step.accept_queue_mean is not None for s in analysis.steps)
    ]
    if not analyses:
        return None
    figure = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        horizontal_spacing=0.03,
        subplot_titles=("in the app (in flight)", "in the kernel's accept queue"),
    )
    for analysis in analyses:
        style = styles[analysis.target.server]
        for column, field in enumerate(("server_in_flight", "accept_queue_mean"), start=1):
            hovers = [_queue_hover(s.step) for s in analysis.steps]
            _panel(figure, analysis, style, (field, column), hovers, "%{y:,.1f} on average%{customdata[1]}")
    apply_layout(figure, 620)
    figure.update_annotations(font_size=20)  # the subplot titles
    _users_axis(figure, results)
    figure.update_yaxes(title_text="requests waiting (mean over the window)", rangemode="tozero", row=1, col=1)
    return figure


def _queue_hover(step: Step) -> str:
    """The accept queue's most and limit, for the hover (escaped)."""
    if step.accept_queue_max is None:
        return ""
    text = f"accept queue at most {step.accept_queue_max} of {step.accept_backlog}"
    if step.listen_overflows:
        text += f", {step.listen_overflows} dropped"
    return "<br>" + html.escape(text, quote=False)
