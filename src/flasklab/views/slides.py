"""Slides: each chart of the run report as a 16:9 picture (PNG and SVG), for a talk. ``flasklab report DIR --png``.

The same figures as the report (flasklab.views.charts), restyled for a 1920x1080 slide and drawn by kaleido, plotly's
own static export, in one headless Chrome or Chromium for the whole run. kaleido's page loads plotly.js from the plotly
package on disk; MathJax, which it would otherwise take from a CDN, is turned off: drawing needs no network.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import plotly.graph_objects as go  # type: ignore[import-untyped]

from flasklab.core.results import load_results, objective
from flasklab.views.chart_style import Figure
from flasklab.views.charts import chart_titles, figures

SLIDES_DIR = "slides"
SLIDE_WIDTH, SLIDE_HEIGHT = 1920, 1080
FORMATS = ("png", "svg")
KALEIDO_FORMATS = ("png", "svg", "pdf", "jpg", "webp")
# Read by kaleido's browser driver (choreographer); we also hand it over explicitly so that it wins over a Chrome
# that `kaleido_get_chrome` may have downloaded.
BROWSER_VARIABLE = "BROWSER_PATH"
# Sizes in slide pixels: read from the back of a room on a 1080p projector.
TITLE_SIZE, TEXT_SIZE, TICK_SIZE, LABEL_SIZE = 44, 30, 26, 26
LINE_WIDTH, MARKER_SCALE = 5, 1.5


class BrowserNotFoundError(RuntimeError):
    """No Chrome or Chromium to draw the slides with; the message says how to get one."""


def slide_title(kind: str, scenario: str | None, model: str = "closed") -> str:
    """The chart's title as the report shows it: 'hello: throughput vs users (the capacity curve)'."""
    title = chart_titles(model)[kind]
    return f"{scenario}: {title}" if scenario else title


def slide_figure(figure: Figure, title: str) -> Figure:
    """A copy of the report's figure for a 16:9 slide: its title on top, larger type, no buttons, white ground."""
    slide = go.Figure(figure)
    slide.update_layout(
        width=SLIDE_WIDTH,
        height=SLIDE_HEIGHT,
        title={"text": f"<b>{title}</b>", "x": 0.03, "xanchor": "left", "y": 0.97, "yanchor": "top"},
        title_font_size=TITLE_SIZE,
        font_size=TEXT_SIZE,
        legend_font_size=TEXT_SIZE,
        margin={"l": 140, "r": 60, "t": 150, "b": 130},
        paper_bgcolor="white",
        plot_bgcolor="white",
    )
    slide.layout.updatemenus = ()  # the report's linear/log buttons do nothing on a picture
    slide.update_annotations(font_size=LABEL_SIZE)  # subplot titles, the SLO and budget labels
    slide.update_traces(line_width=LINE_WIDTH, selector={"type": "scatter", "mode": "lines+markers"})
    slide.for_each_trace(_larger_markers, selector={"type": "scatter"})
    slide.update_xaxes(tickfont_size=TICK_SIZE, title_font_size=TEXT_SIZE)
    slide.update_yaxes(tickfont_size=TICK_SIZE, title_font_size=TEXT_SIZE)
    return slide


def _larger_markers(trace: Any) -> None:
    if isinstance(trace.marker.size, int | float):
        trace.marker.size *= MARKER_SCALE


def slide_specs(
    results_figures: Sequence[tuple[str, str, str | None, Figure]],
    folder: Path,
    formats: Sequence[str],
    model: str = "closed",
) -> list[dict[str, Any]]:
    """kaleido's job list: one entry per chart and format, written to folder/<chart id>.<format>."""
    specs = []
    for chart_id, kind, scenario, figure in results_figures:
        slide = slide_figure(figure, slide_title(kind, scenario, model)).to_dict()
        for image_format in formats:
            options = {"format": image_format, "width": SLIDE_WIDTH, "height": SLIDE_HEIGHT, "scale": 1}
            specs.append({"fig": slide, "path": folder / f"{chart_id}.{image_format}", "opts": options})
    return specs


def browser_missing_message(browser: str | None) -> str:
    fix = f"install Chromium (apt-get install chromium) or set {BROWSER_VARIABLE} to a Chrome or Chromium executable"
    if browser:
        return f"{BROWSER_VARIABLE}={browser!r} is not a browser executable: {fix}"
    return f"no Chrome or Chromium found to draw the slides: {fix}"


def render(specs: list[dict[str, Any]]) -> None:
    """Draw every image of the list in one browser session."""
    # Imported here: kaleido takes 0.2 s to import, which every other command would pay.
    import kaleido  # type: ignore[import-untyped]
    from kaleido.errors import ChromeNotFoundError  # type: ignore[import-untyped]

    browser = os.environ.get(BROWSER_VARIABLE) or None
    try:
        kaleido.write_fig_from_object_sync(specs, kopts={"mathjax": False, "path": browser}, cancel_on_error=True)
    except ChromeNotFoundError as error:
        raise BrowserNotFoundError(browser_missing_message(browser)) from error


def write_slides(run_dir: Path, slo_p95_ms: float | None = None, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write DIR/slides/<chart id>.<format> for every chart of the report; the paths written, in page order.

    The SLO line is the run's own unless ``slo_p95_ms`` overrides it, as in the report.
    """
    unknown = [name for name in formats if name not in KALEIDO_FORMATS]
    if unknown or not formats:
        raise ValueError(f"unknown slide format {', '.join(unknown) or '(none given)'}; valid: {KALEIDO_FORMATS}")
    results = load_results(run_dir)
    folder = (run_dir if run_dir.is_dir() else run_dir.parent) / SLIDES_DIR
    folder.mkdir(exist_ok=True)
    slo = objective(results.meta, slo_p95_ms).p95_ms
    specs = slide_specs(figures(results, slo), folder, formats, results.meta.model)
    render(specs)
    return [spec["path"] for spec in specs]
