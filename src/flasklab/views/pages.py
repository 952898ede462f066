"""How a view becomes a page: the templates' environment, and a chart embedded as data for the page's one script.

Shared by the report, its projector view and compare, so every page reads its templates from the one dashboards/
folder, undefined names fail loudly, and numbers are formatted alike (flasklab.views.chart_style.format_number).
"""

from __future__ import annotations

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from flasklab.core.catalog import lab_root
from flasklab.views.chart_style import Figure, format_number


def templates() -> Environment:
    """The environment of the pages' templates (dashboards/), with the ``number`` filter."""
    environment = Environment(
        loader=FileSystemLoader(lab_root() / "dashboards"), autoescape=True, undefined=StrictUndefined
    )
    environment.filters["number"] = format_number
    return environment


def embedded_chart(figure: Figure, div_id: str) -> Markup:
    """The chart's empty div and its figure as JSON; the page's one script draws every chart from those.

    Drawing from data (not a script per chart) is what lets the live page update a chart in place.
    """
    # "</" inside a script element would end it (an error text in a label could hold "</script>"): "<\/" is JSON too
    data = figure.to_json().replace("</", "<\\/")
    return Markup(
        f'<div id="{div_id}" class="plotly-graph-div chart"></div>'
        f'<script type="application/json" class="figure" data-for="{div_id}">{data}</script>'
    )
