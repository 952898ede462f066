"""How the lab's pages look: server colours, line and bar styles, chart layout, number format, the chart library.

Shared by the report, compare, the slides and the projector view, so a server has the same colour on every page:
one colour of its own for each of the catalog's servers (assigned in the order of meta.servers), and past the eighth
a dashed line and a hatched bar as well, a second cue where colour vision cannot tell two colours apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markupsafe import Markup
from plotly.offline import get_plotlyjs, get_plotlyjs_version  # type: ignore[import-untyped]

from flasklab.core.catalog import lab_root
from flasklab.core.results import Results

Figure = Any  # plotly ships no type hints

# plotly.js's official "basic" bundle (scatter, bar and every layout component: all the lab draws), a quarter of the
# full bundle plotly.py embeds, so pages open twice as fast. Vendored from the npm package plotly.js-basic-dist-min at
# the version plotly.py ships (MIT licence beside it); the full bundle is the fallback if the versions ever differ.
BASIC_BUNDLE = Path("vendor") / "plotly-basic.min.js"

# Fifteen colours, one per server of the catalog, none light enough to fade on white or on a projector (CIELAB L* at
# most 73), every pair at least 18 apart in CIEDE2000 (a test keeps at least 15). The first eight (Okabe-Ito without
# its pale yellow, and a dark brown) stay distinct under red-green colour blindness (deuteranopia, protanopia); so do
# the next seven among themselves, which the dashed lines and hatched bars of servers past the eighth set apart from
# the first eight. Chosen by searching Okabe-Ito, Paul Tol's and Kenneth Kelly's sets for the largest smallest
# distance under those rules.
PALETTE = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#56B4E9",  # sky blue
    "#CC79A7",  # reddish purple
    "#000000",  # black
    "#654522",  # dark brown
    "#875692",  # purple
    "#004949",  # dark teal
    "#FB9A99",  # salmon pink
    "#332288",  # indigo
    "#B66DFF",  # lavender
    "#8DB600",  # yellow green
    "#920000",  # dark red
)
CUE_GROUP = 8  # servers per dash style and bar pattern: the first eight solid and plain, the next ones dashed, hatched
DASHES = ("solid", "dash", "dot", "dashdot")
PATTERNS = ("", "/", "x", ".")
FONT = {"family": "DejaVu Sans, Segoe UI, Helvetica, Arial, sans-serif", "size": 18, "color": "#1a1a1a"}
# The projector view's chart type (CSS pixels at 1920x1080): twice a slide's share of the screen, as large as fits.
PROJECTOR_FONT_PX, PROJECTOR_TICK_PX = 24, 22
PLOT_CONFIG = {"displaylogo": False, "responsive": True, "toImageButtonOptions": {"format": "png", "scale": 2}}


@dataclass(frozen=True)
class ServerStyle:
    colour: str
    dash: str
    pattern: str


@dataclass(frozen=True)
class Chart:
    id: str
    kind: str  # the template has each kind's title and caption
    scenario: str | None
    html: Markup


def server_styles(results: Results) -> dict[str, ServerStyle]:
    """Each server's style, in the order of meta.servers, then any other server the run measured or probed."""
    names = dict.fromkeys(
        [*results.meta.servers, *(t.server for t in results.targets), *(p.server for p in results.probe)]
    )
    return styles_in_order(list(names))


def styles_in_order(names: list[str]) -> dict[str, ServerStyle]:
    """The n-th name's style: its own colour (they repeat only past len(PALETTE) names) and its group's dash and
    bar pattern."""
    return {
        name: ServerStyle(
            PALETTE[i % len(PALETTE)], DASHES[i // CUE_GROUP % len(DASHES)], PATTERNS[i // CUE_GROUP % len(PATTERNS)]
        )
        for i, name in enumerate(names)
    }


def format_number(value: float | None) -> str:
    """Three significant figures or more: 1,484 / 26.7 / 3.33; a dash for a missing value."""
    if value is None:
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def apply_layout(figure: Figure, height: int, **overrides: Any) -> None:
    layout: dict[str, Any] = {
        "template": "none",
        "height": height,
        "font": FONT,
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "margin": {"l": 90, "r": 30, "t": 60, "b": 80},
        "legend": {"font": {"size": 17}, "itemsizing": "constant", "itemwidth": 60, "tracegroupgap": 2},
        "hoverlabel": {"font": {"size": 17}},
    }
    figure.update_layout(**(layout | overrides))
    axes = {"showgrid": True, "gridcolor": "#d9d9d9", "linecolor": "#444", "showline": True, "ticks": "outside"}
    figure.update_xaxes(**axes, zeroline=False, automargin=True)
    figure.update_yaxes(**axes, zeroline=False, automargin=True)


def for_projector(figure: Figure, height: int) -> Figure:
    """The figure in large type for a room (the projector view): read from the back on a 1920x1080 screen."""
    figure.update_layout(
        height=height,
        font_size=PROJECTOR_FONT_PX,
        legend_font_size=PROJECTOR_FONT_PX,
        hoverlabel_font_size=PROJECTOR_FONT_PX,
        margin={"l": 100, "r": 20, "t": 70, "b": 80},
    )
    figure.update_annotations(font_size=PROJECTOR_FONT_PX)  # row titles, the knee and reference labels
    figure.update_xaxes(tickfont_size=PROJECTOR_TICK_PX, title_font_size=PROJECTOR_FONT_PX)
    figure.update_yaxes(tickfont_size=PROJECTOR_TICK_PX, title_font_size=PROJECTOR_FONT_PX)
    for menu in figure.layout.updatemenus:
        menu.font.size = PROJECTOR_TICK_PX
    figure.update_traces(line_width=5, selector={"type": "scatter", "mode": "lines+markers"})
    figure.for_each_trace(_larger_markers, selector={"type": "scatter"})
    return figure


def _larger_markers(trace: Any) -> None:
    if isinstance(trace.marker.size, int | float):
        trace.marker.size *= 1.4


def log_axis() -> dict[str, Any]:
    """A log axis labelled 1, 2, 5, 10, 20, 50 ... (plotly's default puts bare 2s and 5s between decades)."""
    values = [m * 10.0**e for e in range(-2, 7) for m in (1, 2, 5)]
    return {"type": "log", "tickvals": values, "ticktext": [f"{v:,g}" for v in values]}


def reference_line(figure: Figure, y: float, text: str, log: bool = False, **where: Any) -> None:
    """A dotted horizontal line with its label (the SLO, a budget, the probe's width)."""
    label = {"text": text, "font": {"size": 16, "color": "#333"}, "bgcolor": "rgba(255,255,255,0.8)"}
    figure.add_hline(
        y=y,
        line={"color": "#444", "dash": "dot", "width": 2},
        # plotly places annotations on a log axis by the exponent (shapes by the value)
        annotation=label | {"y": math.log10(y)} if log else label,
        annotation_position="top left",
        **where,
    )


def scale_buttons() -> dict[str, Any]:
    """Linear / log buttons for the y axis: on a linear axis the slowest servers lie flat at the bottom."""
    linear = {"yaxis.type": "linear", "yaxis.tickvals": None, "yaxis.ticktext": None}
    scales = (("linear scale", linear), ("log scale", {f"yaxis.{key}": value for key, value in log_axis().items()}))
    return {
        "type": "buttons",
        "direction": "right",
        "x": 0,
        "y": 1.02,
        "xanchor": "left",
        "yanchor": "bottom",
        "font": {"size": 16},
        "buttons": [{"label": label, "method": "relayout", "args": [change]} for label, change in scales],
    }


def line(style: ServerStyle) -> dict[str, Any]:
    return {"color": style.colour, "dash": style.dash, "width": 3}


def chart_library() -> str:
    """plotly.js for an offline page: the vendored basic bundle when it is plotly.py's version, else the full one."""
    try:
        basic = (lab_root() / "dashboards" / BASIC_BUNDLE).read_text(encoding="utf-8")
    except OSError:
        return str(get_plotlyjs())
    header = basic[:200]
    return basic if f"(basic - minified) v{get_plotlyjs_version()}\n" in header else str(get_plotlyjs())
