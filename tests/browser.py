"""The headless browser of the dashboard tests: Debian's Chromium driven by Playwright, with no network."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

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


@dataclass
class WatchedPage:
    """A tab (1920x1080 unless asked) whose requests beyond ``allowed`` are aborted and collected, with its console
    errors."""

    page: Page
    outside: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)


def watched_page(browser: Browser, allowed: str = "file://", size: tuple[int, int] = (1920, 1080)) -> WatchedPage:
    watched = WatchedPage(browser.new_page(viewport={"width": size[0], "height": size[1]}))

    def route(request: Route) -> None:
        if request.request.url.startswith(allowed):
            request.continue_()
        else:
            watched.outside.add(request.request.url)
            request.abort()

    page = watched.page
    page.route("**/*", route)
    page.on("request", lambda request: None if request.url.startswith(allowed) else watched.outside.add(request.url))
    page.on("websocket", lambda socket: watched.outside.add(socket.url))
    page.on("console", lambda message: watched.errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: watched.errors.append(str(error)))
    return watched
