"""The run's moments over time: a target's latency second by second, and the worker starts in it.

Every step's window records a timeline (flasklab.loadgen.window: one-second slices with an exact p99 and the server
processes started in them); a server that recycles its workers (``max_requests``, recorded per server in
``meta.server_entries``) shows each recycle there, as a bar under the latency it cost, and a deploy under load
(``--reload-at``, each step's ``reload``) as a dotted line where it was asked, its new workers as bars.
"""

from __future__ import annotations

from plotly.subplots import make_subplots  # type: ignore[import-untyped]

from flasklab.core.analysis import load_text
from flasklab.core.results import Results, Target
from flasklab.core.timeouts import outlasting
from flasklab.views.chart_style import Figure, ServerStyle, apply_layout, line, log_axis
from flasklab.views.curve_charts import scenario_targets

LABEL_APART_S = 4.0  # reloads closer than this share their label


def recycles(results: Results, target: Target) -> bool:
    """Does the target's server recycle its workers (max_requests above 0 in its catalog entry)?"""
    entry = (results.meta.server_entries or {}).get(target.server)
    return entry is not None and bool(entry.max_requests)


def outlasts_timeout(results: Results, scenario: str) -> bool:
    """Is ``scenario`` one whose long requests outlast the servers' timeout (the timeout scenario)?"""
    return outlasting(results, scenario) is not None


def moments_figure(results: Results, scenario: str, styles: dict[str, ServerStyle]) -> Figure | None:
    """A scenario's latency over time for the servers that recycle workers or were reloaded under load (every server
    of the timeout scenario), each second's p99 above the workers started in it (every step's window on one time
    axis, the warm-ups between them left out); None when no server of the scenario did either or no step recorded a
    timeline."""
    watched = outlasts_timeout(results, scenario)
    targets = [
        target
        for target in scenario_targets(results, scenario)
        if (watched or recycles(results, target) or any(step.reload for step in target.steps))
        and any(step.timeline for step in target.steps)
    ]
    if not targets:
        return None
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.06, row_heights=[0.7, 0.3])
    reloads: list[tuple[float, str | None]] = []  # where a reload was asked, and the code it deployed
    for target in targets:
        style = styles[target.server]
        add_target(figure, target, style, setting_text(results, target))
        for step in target.steps:
            if step.reload is not None and step.timeline:
                moment = step.timeline[0].t_s + step.reload.at_s
                figure.add_vline(x=moment, line={"color": style.colour, "dash": "dot", "width": 2}, row="all", col=1)
                reloads.append((moment, step.reload.code_version))
    labelled = -LABEL_APART_S
    for moment, version in sorted(reloads):  # the servers' reloads fall close together: one label for those
        if moment - labelled >= LABEL_APART_S:
            label = f"reload → code {version}" if version else "reload"
            figure.add_annotation(x=moment, y=1, yref="paper", text=label, showarrow=False, yanchor="bottom")
            labelled = moment
    apply_layout(figure, 620, barmode="overlay")
    figure.update_yaxes(**log_axis(), title_text="p99 of the second (ms, log)", row=1, col=1)
    figure.update_yaxes(title_text="workers started", rangemode="tozero", row=2, col=1)
    figure.update_xaxes(title_text="seconds since the target's load began (its steps' windows)", row=2, col=1)
    return figure


def setting_text(results: Results, target: Target) -> str:
    """What the legend says of the target's server: its recycling, else its timeout (the timeout scenario), else that
    it was reloaded."""
    entry = (results.meta.server_entries or {}).get(target.server)
    if outlasts_timeout(results, target.scenario):
        return f"timeout {entry.timeout_s} s" if entry is not None and entry.timeout_s else "no timeout"
    if entry is None or not entry.max_requests:
        restarted = any(step.reload and step.reload.how.startswith("a restart") for step in target.steps)
        return "restarted" if restarted else "reloaded"
    jitter = f" + jitter {entry.max_requests_jitter}" if entry.max_requests_jitter else ""
    return f"max_requests {entry.max_requests}{jitter}"


def add_target(figure: Figure, target: Target, style: ServerStyle, setting: str) -> None:
    """The target's seconds: their p99 as a line above, their workers started as bars below."""
    slices = [(step, part) for step in target.steps for part in step.timeline or ()]
    customdata = [[load_text(step), part.requests, part.workers_started] for step, part in slices]
    hover = (
        f"<b>{target.server}</b> ({setting})<br>%{{customdata[0]}}, second at %{{x:.0f}} s<br>"
        "p99 %{y:,.1f} ms of %{customdata[1]} requests<br>%{customdata[2]} workers started<extra></extra>"
    )
    figure.add_scatter(
        x=[part.t_s for _, part in slices],
        y=[part.p99_ms for _, part in slices],
        customdata=customdata,
        name=f"{target.server} ({setting})",
        legendgroup=target.server,
        mode="lines+markers",
        line=line(style),
        marker={"color": style.colour, "size": 6},
        hovertemplate=hover,
        row=1,
        col=1,
    )
    figure.add_bar(  # each bar spans its second (the servers' seconds differ by their windows' starts)
        x=[part.t_s + part.length_s / 2 for _, part in slices],
        y=[part.workers_started for _, part in slices],
        width=[part.length_s * 0.9 for _, part in slices],
        name=target.server,
        legendgroup=target.server,
        showlegend=False,
        marker_color=style.colour,
        opacity=0.7,
        hovertemplate=f"<b>{target.server}</b><br>%{{y}} workers started in that second<extra></extra>",
        row=2,
        col=1,
    )
