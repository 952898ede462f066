"""How the lab's pages look: server colours, line and bar styles, chart layout, number format, the chart library.

Shared by the report, compare and the slides, so a server has the same colour on every page (Okabe-Ito, assigned in
the order of meta.servers; past eight servers the colours repeat with another dash style and bar pattern).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markupsafe import Markup
from plotly.offline import get_plotlyjs, get_plotlyjs_version  # type: ignore[import-untyped]

from flasklab.catalog import lab_root
from flasklab.results import Results

Figure = Any  # plotly ships no type hints

# plotly.js's official "basic" bundle (scatter, bar and every layout component: all the lab draws), a quarter of the
# full bundle plotly.py embeds, so pages open twice as fast. Vendored from the npm package plotly.js-basic-dist-min at
# the version plotly.py ships (MIT licence beside it); the full bundle is the fallback if the versions ever differ.
BASIC_BUNDLE = Path("vendor") / "plotly-basic.min.js"

# Okabe-Ito, ordered so the first colours are the most distinct on white; yellow last.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#000000", "#F0E442")
DASHES = ("solid", "dash", "dot", "dashdot")
PATTERNS = ("", "/", "x", ".")
FONT = {"family": "DejaVu Sans, Segoe UI, Helvetica, Arial, sans-serif", "size": 18, "color": "#1a1a1a"}
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
    return {
        name: ServerStyle(PALETTE[i % len(PALETTE)], DASHES[i // len(PALETTE) % 4], PATTERNS[i // len(PALETTE) % 4])
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
