"""What the run cost and what it lost, per server: CPU and memory at each target's peak, failed requests by kind.

Bars in each server's colour (flasklab.views.chart_style), the budget drawn as a reference line; the peak is
flasklab.core.analysis's, the scenarios shown flasklab.views.curve_charts'.
"""

from __future__ import annotations

import html

import plotly.graph_objects as go  # type: ignore[import-untyped]
from plotly.subplots import make_subplots  # type: ignore[import-untyped]

from flasklab.core.analysis import budget_value, load_text
from flasklab.core.results import Results
from flasklab.views.chart_style import Figure, ServerStyle, apply_layout, reference_line
from flasklab.views.curve_charts import measured_scenarios, scenario_analyses


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
