"""Two runs compared, rendered: the terminal table, the rows as JSON for scripts, and the HTML page with its charts.

Whether a change is real, and the rows themselves, are flasklab.views.compare_rule's (the rule and its reasons); this
module shows them: a real change in colour (green better, red worse), the rest as noise, each value with its
interval. The page needs nothing but itself (plotly.js is inside).
"""

from __future__ import annotations

import html
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import plotly.graph_objects as go  # type: ignore[import-untyped]
from markupsafe import Markup
from rich.table import Table

from flasklab.core.analysis import MAX_FAILURE_RATE, Interval
from flasklab.core.results import Results, atomic_write, load_results
from flasklab.views.chart_style import (
    PLOT_CONFIG,
    Chart,
    Figure,
    ServerStyle,
    apply_layout,
    chart_library,
    format_number,
    scale_buttons,
)
from flasklab.views.compare_rule import (
    Change,
    ComparisonRow,
    Measure,
    Presence,
    compare_styles,
    rule_text,
    setup_differences,
)

# flasklab.cli.views and the tests read the rows from here, beside their table and page.
from flasklab.views.compare_rule import compare_runs as compare_runs
from flasklab.views.pages import templates

COMPARE_FILE = "compare.html"
TEMPLATE = "compare.html.j2"


def change_text(change: Change) -> str:
    """▲ +12.3 % / ▼ -4.0 %; a dash when there is nothing to compare."""
    if change.percent is None:
        return "—"
    percent = round(change.percent, 1)  # no "▼ -0.0 %"
    if percent == 0:
        return "= 0.0 %"
    return f"{'▲' if percent > 0 else '▼'} {percent:+.1f} %"


def interval_text(interval: Interval) -> str:
    """12.3-14.5, or ≥ 12.3 where there is no upper bound (the label says why)."""
    if interval.high is None:
        return f"≥ {format_number(interval.low)}"
    return f"{format_number(interval.low)}-{format_number(interval.high)}"


def measure_text(measure: Measure | None) -> str:
    """The value, and under it its interval (dim): the table stays narrow enough for a terminal."""
    if measure is None:
        return "—"
    if measure.interval is None:
        return format_number(measure.value)
    return f"{format_number(measure.value)}\n[dim]{interval_text(measure.interval)}[/]"


def interval_labels(rows: list[ComparisonRow]) -> list[str]:
    """What the intervals on show are, each named once ("t-interval of the window's 10 slices", "range of 2 rounds")."""
    measures = [m for row in rows for c in (row.peak_rps, row.p95) for m in (c.a, c.b) if m is not None]
    return list(dict.fromkeys(m.interval.label for m in measures if m.interval is not None))


TERMINAL_TONE = {"better": "bold green", "worse": "bold red", "noise": "dim", "none": "dim"}


def _terminal_change(change: Change, presence: Presence) -> str:
    if change.tone == "none":
        return f"[yellow]{presence}[/]" if presence != "both" else "[dim]—[/]"
    return f"[{TERMINAL_TONE[change.tone]}]{change_text(change)}{'' if change.real else chr(10) + 'noise'}[/]"


def compare_table(rows: list[ComparisonRow]) -> Table:
    """The terminal view: per scenario and server, peak rps and p95 in A and B, the change, real ones in colour."""
    table = Table(title="Run B against run A: peak throughput, and p95 at the same users")
    table.add_column("server")
    for column in ("peak rps A", "peak rps B", "change", "users", "p95 ms A", "p95 ms B", "change"):
        table.add_column(column, justify="right")
    table.add_column("note")
    scenario = None
    for row in rows:
        if row.scenario != scenario:
            scenario = row.scenario
            table.add_section()
            table.add_row(f"[bold]{scenario}[/]")
        table.add_row(
            row.server,
            measure_text(row.peak_rps.a),
            measure_text(row.peak_rps.b),
            _terminal_change(row.peak_rps, row.presence),
            "—" if row.p95_users is None else f"{row.p95_users:g}",
            measure_text(row.p95.a),
            measure_text(row.p95.b),
            _terminal_change(row.p95, row.presence),
            row.note,
        )
    labels = "; ".join(interval_labels(rows)) or "none recorded"
    table.caption = (
        f"Under each value its interval ({labels}). Coloured: a real change (green better, red worse), else noise. "
        + rule_text()
    )
    return table


def change_json(change: Change) -> dict[str, Any]:
    """A change for scripts; an open end of the difference's interval (no upper bound on a side) is null."""
    ends = None if change.difference is None else [end if math.isfinite(end) else None for end in change.difference]
    spelled = {"percent": change.percent, "difference": ends, "real": change.real, "tone": change.tone}
    return asdict(change) | spelled


def comparison_json(rows: list[ComparisonRow]) -> list[dict[str, Any]]:
    """The rows for scripts: every field, with each change's percent, real flag and tone spelled out."""
    return [asdict(row) | {"peak_rps": change_json(row.peak_rps), "p95": change_json(row.p95)} for row in rows]


CHART_TONE = {"better": "#00573f", "worse": "#a33a00", "noise": "#666", "none": "#8a5a00"}
RUN_PATTERNS = {"a": "/", "b": ""}  # A hatched, B solid: the server keeps its colour in both


def _error_bars(measures: list[Measure | None]) -> dict[str, Any]:
    """Asymmetric error bars from the intervals (none where a run recorded no interval)."""
    high = [m.interval.high - m.value if m and m.interval and m.interval.high is not None else None for m in measures]
    low = [m.value - m.interval.low if m and m.interval else None for m in measures]
    return {"type": "data", "symmetric": False, "array": high, "arrayminus": low, "color": "#222", "thickness": 2}


def _tick_label(row: ComparisonRow, change: Change) -> str:
    """The server and, under it, its change: bold and coloured when real, ≈ when within noise.

    In the axis labels (not annotations over the bars) it stays in place on either scale and never hides a whisker.
    """
    text: str = row.presence if row.presence != "both" else "—"
    if change.tone != "none":
        text = f"<b>{change_text(change)}</b>" if change.real else f"≈ {change_text(change)[2:]}"
    return f"{html.escape(row.server)}<br><span style='color:{CHART_TONE[change.tone]}'>{text}</span>"


def _run_key(figure: Figure, runs: tuple[str, str]) -> None:
    """Legend entries for the two runs in neutral grey (the bars themselves carry the servers' colours)."""
    for side, run_id in zip(("A", "B"), runs, strict=True):
        figure.add_scatter(
            x=[None],
            y=[None],
            name=f"{side}: {run_id} ({'hatched' if side == 'A' else 'solid'})",
            mode="markers",
            marker={"symbol": "square-open" if side == "A" else "square", "size": 18, "color": "#444"},
        )


def change_figure(
    rows: list[ComparisonRow], metric: Literal["peak_rps", "p95"], styles: dict[str, ServerStyle], runs: tuple[str, str]
) -> Figure:
    """Grouped bars per server in its colour, A hatched beside B solid, whiskers from their intervals."""
    figure = go.Figure()
    changes: list[Change] = [getattr(row, metric) for row in rows]
    servers = [row.server for row in rows]
    unit = "rps" if metric == "peak_rps" else "ms"
    for side, pattern in RUN_PATTERNS.items():
        measures: list[Measure | None] = [getattr(change, side) for change in changes]
        figure.add_bar(
            x=servers,
            y=[m.value if m else None for m in measures],
            customdata=[f"{m.users:g}" if m else None for m in measures],
            name=side.upper(),
            showlegend=False,
            error_y=_error_bars(measures),
            marker={
                "color": [styles[s].colour for s in servers],
                "pattern": {"shape": pattern, "fgcolor": "white", "solidity": 0.45},
                "line": {"color": "#222", "width": 1},
            },
            hovertemplate=f"<b>%{{x}}</b>, {side.upper()}: %{{y:,.1f}} {unit} at %{{customdata}} users<extra></extra>",
        )
    _run_key(figure, runs)
    apply_layout(
        figure,
        620,
        barmode="group",
        updatemenus=[scale_buttons()],
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right", "font": {"size": 17}},
    )
    ticks = [_tick_label(row, change) for row, change in zip(rows, changes, strict=True)]
    figure.update_xaxes(tickvals=servers, ticktext=ticks, tickangle=-30 if len(rows) > 6 else 0)
    title = "peak throughput (rps)" if metric == "peak_rps" else "p95 at the same users (ms)"
    figure.update_yaxes(title_text=title, rangemode="tozero")
    return figure


@dataclass(frozen=True)
class ScenarioSection:
    scenario: str
    rows: list[ComparisonRow]
    charts: list[Chart]  # kinds: peak_rps, p95 (the template has their titles)


def _figure_html(figure: Figure, div_id: str) -> Markup:
    """The chart's div and its Plotly.newPlot call (plotly.js itself is in the page once)."""
    return Markup(str(figure.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=PLOT_CONFIG)))


def sections(a: Results, b: Results, rows: list[ComparisonRow]) -> list[ScenarioSection]:
    """Per scenario: its rows and two charts (peak rps, p95 at the same load)."""
    styles, runs = compare_styles(a, b), (a.meta.run_id, b.meta.run_id)
    built = []
    for scenario in dict.fromkeys(row.scenario for row in rows):
        of_scenario = [row for row in rows if row.scenario == scenario]
        charts = [
            Chart(div_id, metric, scenario, _figure_html(change_figure(of_scenario, metric, styles, runs), div_id))
            for metric in ("peak_rps", "p95")
            for div_id in [f"{metric}-{scenario}"]
        ]
        built.append(ScenarioSection(scenario, of_scenario, charts))
    return built


def tally(rows: list[ComparisonRow]) -> dict[str, int]:
    """How many figures really got better or worse, stayed within noise, or exist in one run only."""
    changes = [change for row in rows for change in (row.peak_rps, row.p95)]
    counts = {tone: sum(change.tone == tone for change in changes) for tone in ("better", "worse", "noise")}
    return counts | {"one run": sum(row.presence != "both" for row in rows)}


def render_compare(a: Results, b: Results) -> str:
    """The comparison as one HTML document that needs nothing but itself (plotly.js is inside)."""
    environment = templates()
    environment.filters["change"] = change_text
    environment.filters["interval"] = interval_text
    rows = compare_runs(a, b)
    return environment.get_template(TEMPLATE).render(
        a=a.meta,
        b=b.meta,
        sections=sections(a, b, rows),
        tally=tally(rows),
        differences=setup_differences(a, b),
        styles=compare_styles(a, b),
        plotly_js=Markup(chart_library()),
        max_failure_percent=MAX_FAILURE_RATE * 100,
        rule=rule_text(),
        interval_labels=interval_labels(rows),
    )


def compare_path(dir_b: Path) -> Path:
    """The default place of the page: beside run B's results.json (B is the newer run, the one being judged)."""
    return (dir_b if dir_b.is_dir() else dir_b.parent) / COMPARE_FILE


def save_compare(a: Results, b: Results, out: Path) -> Path:
    """Write the page atomically, creating its folder (``--out`` may name a new one)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(out, render_compare(a, b))


def write_compare(dir_a: Path, dir_b: Path, out: Path | None = None) -> Path:
    """The comparison page of two run folders (or results.json paths); ResultsError names a bad one."""
    return save_compare(load_results(dir_a), load_results(dir_b), out or compare_path(dir_b))
