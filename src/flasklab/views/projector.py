"""The projector view: the live page for a room, 1920x1080 in large type.

Where the run is and how long it has left (flasklab.views.progress, as the live report tells it), the capacity curve
of the scenario under load and the probe timeline of the last servers probed. Part of the report's view:
flasklab.views.live serves it beside the live report as a run's ``projector``.
"""

from __future__ import annotations

from markupsafe import Markup

from flasklab.core.results import Results
from flasklab.views.chart_style import PLOT_CONFIG, Chart, Figure, chart_library, for_projector, server_styles
from flasklab.views.charts import chart_titles
from flasklab.views.curve_charts import capacity_figure, measured_scenarios
from flasklab.views.moment_charts import moments_figure
from flasklab.views.pages import embedded_chart, templates
from flasklab.views.probe_charts import probe_timeline_figure
from flasklab.views.progress import LiveView, live_status, time_left

PROJECTOR_TEMPLATE = "projector.html.j2"
# The projector view's chart heights (CSS pixels of a 1920x1080 screen), and the most servers its timeline shows
# (the last ones probed: more rows than that would not be readable at its type size; the full page has them all).
PROJECTOR_CAPACITY_PX, PROJECTOR_TIMELINE_PX = 740, 780
PROJECTOR_TIMELINE_SERVERS = 4


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
    """The projector's two charts, in large type: the scenario's capacity curve and the probe timeline, or in a run
    of production moments (a deploy or worker recycling: the room watches latency over time) the moments chart."""
    styles = server_styles(results)
    recent = timeline_servers(results)
    moments = moments_figure(results, scenario, styles) if scenario else None
    second = ("moments", "moments", scenario, moments) if moments is not None else None
    built: list[tuple[str, str, str | None, Figure | None]] = [
        ("capacity", "capacity", scenario, capacity_figure(results, scenario, styles) if scenario else None),
        second or ("timeline", "timeline", None, probe_timeline_figure(results, styles, servers=recent)),
    ]
    heights = {"capacity": PROJECTOR_CAPACITY_PX, "timeline": PROJECTOR_TIMELINE_PX, "moments": PROJECTOR_TIMELINE_PX}
    return [
        Chart(div_id, kind, of_scenario, embedded_chart(for_projector(figure, heights[kind]), div_id))
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
        templates()
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
