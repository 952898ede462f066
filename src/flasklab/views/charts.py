"""The run's charts: every plotly figure of a run, a pure function of results.json.

Shared by the report (which embeds them in its page) and the slides (which draw them as pictures), so both show the
same figures under the same titles. What a step means (usable, flagged and why, peak, knee, marked percentiles) is
flasklab.core.analysis's; how a chart looks (colours, dashes, layout) is flasklab.views.chart_style's. This module names
the charts and puts them in page order; each family draws in a module of its own: flasklab.views.curve_charts (a
scenario's curves against the load), flasklab.views.probe_charts (the concurrency probe and its timeline) and
flasklab.views.resource_charts (CPU, memory and failures).
"""

from __future__ import annotations

from flasklab.core.results import Results
from flasklab.views.chart_style import Figure, server_styles
from flasklab.views.curve_charts import (
    capacity_figure,
    hockey_stick_figure,
    latency_figure,
    measured_scenarios,
    waiting_figure,
)
from flasklab.views.moment_charts import moments_figure
from flasklab.views.probe_charts import probe_figure, probe_timeline_figure
from flasklab.views.resource_charts import failures_figure, resources_figure

# Each chart's title by kind (the report's headings, the slides' titles); its caption is the template's.
CHART_TITLES = {
    "capacity": "throughput vs users (the capacity curve)",
    "latency": "latency percentiles vs users",
    "hockey": "p95 latency vs throughput (the hockey stick)",
    "waiting": "where requests waited vs users: in the app, in the kernel's accept queue",
    "moments": "latency over time (recycling, deploys, timeouts): each second's p99 and the workers started in it",
    "probe": "Concurrency probe: requests really served at once",
    "timeline": "Probe timeline: each request from its start to its end, one lane per worker",
    "resources": "Server CPU and memory at each target's peak throughput",
    "failures": "Failed requests by kind",
}


def chart_titles(model: str) -> dict[str, str]:
    """The titles for a run's load model: in the open model, curves are drawn against the offered rate."""
    if model != "open":
        return CHART_TITLES
    return {kind: title.replace("vs users", "vs offered rate") for kind, title in CHART_TITLES.items()}


def figures(results: Results, slo_p95_ms: float) -> list[tuple[str, str, str | None, Figure]]:
    """Every figure of the run, in the report's page order, as (chart id, kind, scenario or None, plotly figure)."""
    styles = server_styles(results)
    built: list[tuple[str, str | None, Figure | None]] = []
    for scenario in measured_scenarios(results):
        built += [
            ("capacity", scenario, capacity_figure(results, scenario, styles)),
            ("latency", scenario, latency_figure(results, scenario, styles, slo_p95_ms)),
            ("hockey", scenario, hockey_stick_figure(results, scenario, styles, slo_p95_ms)),
            ("waiting", scenario, waiting_figure(results, scenario, styles)),
            ("moments", scenario, moments_figure(results, scenario, styles)),
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
