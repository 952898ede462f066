"""The headless browser of the dashboard tests: Debian's Chromium driven by Playwright, with no network."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
# Debian's chromium (apt-get install chromium): Playwright's own browser download does not work on these machines.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ALL_CHARTS_DRAWN = "() => [...document.querySelectorAll('.js-plotly-plot')].every(d => d.querySelector('.main-svg'))"
CHART_TRACES = """() => Object.fromEntries([...document.querySelectorAll('.js-plotly-plot')].map(d => [d.id, {
    svg: d.querySelectorAll('.main-svg').length,
    traces: d.querySelectorAll('.scatterlayer .trace, .barlayer .trace').length,
    paths: d.querySelectorAll('.scatterlayer path, .barlayer path').length,
}]))"""


class ExternalResources(HTMLParser):
    """Collects every src/href of the document that points off the machine (a CDN, a font service...)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value and value.strip().lower().startswith(("http:", "https:", "//")):
                self.found.append(f"<{tag} {name}={value}>")
