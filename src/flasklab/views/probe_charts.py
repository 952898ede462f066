"""The concurrency probe's charts: requests really served at once per server, and the timeline of its requests.

The timeline draws, per server, a lane per worker (process and thread, in the order they first served a request) and
a bar per probe request from its server-side start to its end, so one at a time, a few at once or many read at a
glance. A pure function of results.json's probe; how a bar looks is flasklab.views.chart_style's.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go  # type: ignore[import-untyped]
from plotly.subplots import make_subplots  # type: ignore[import-untyped]

from flasklab.core.results import ProbeRequest, ProbeResult, Results
from flasklab.views.chart_style import Figure, ServerStyle, apply_layout, log_axis, reference_line

# The timeline names each lane up to this many lanes a server; past it, each process (or every few lanes).
MAX_LANE_LABELS = 12
# A timeline row's height: a base and a lane's labelled height per lane up to this many lanes (a server with more
# fills the same height: a wall of bars reads as "many" without a pixel per lane), and the gap for the row's title.
LANE_PX, ROW_BASE_PX, ROW_LANES_CAP, ROW_GAP_PX = 24, 30, 5, 48


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
