"""Pages that fit (issue 23): the report, compare and the live pages show without horizontal scrolling at 1366x768 (a
common laptop and projector size) and at 1920x1080, opened in Chromium with every chart drawn.

The pages carry the widest content there is: the report of the committed runs that were too wide (the demo's three
scenarios, the fidelity runs' seven steps, closed.json's lower bounds and failures) and of the shared quick run spread
over the whole catalog (what ``scripts/lab --profile quick`` measures); compare on pairs of committed runs; the live
dashboard's index and a finished and a running run's page (its status bar). Each page is loaded once and measured at
both sizes in turn. Every ``<details>`` is opened first: what a reader
unfolds must fit too. A wide table may scroll inside its own box, never the page.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from flasklab.core.catalog import load_servers
from flasklab.core.results import Results, load_results, write_results
from flasklab.core.sweep import estimate
from flasklab.views.compare import render_compare
from flasklab.views.live import Dashboard, LiveServer
from flasklab.views.report import render_report
from tests.browser import ALL_CHARTS_DRAWN, watched_page
from tests.conftest import QUICK_RUN, ROOT

if TYPE_CHECKING:
    from playwright.sync_api import Browser

SIZES = [(1366, 768), (1920, 1080)]
FULL_CATALOG = "quick-over-the-catalog"
COMMITTED_RUNS = {
    (path.parent.name if path.name == "results.json" else path.stem): path
    for pattern in ("docs/runs/*/results.json", "tests/fixtures/runs/*/results.json", "tests/fixtures/results/*.json")
    for path in sorted(ROOT.glob(pattern))
}
# The runs whose report ran past 1366 px (or 1920) before the pages were made to fit (2026-12-05): the demo's three
# scenarios, the quick runs' lower bounds, closed.json's failures, the fidelity runs' seven steps; and the standard
# sweep's six scenarios over the catalog, with its curves stopped by adaptive steps (their reasons listed).
WIDE_RUNS = ["demo", "quick", "quick-b", "closed", "locust-bound", "standalone", "fidelity-3", "standard"]
COMPARED = [("fidelity-1", "fidelity-2"), (FULL_CATALOG, "quick-b")]
RELAYOUT_MS = 400  # plotly redraws a responsive chart on the window's resize event, debounced
LIVE_PAGES = {"index": "", "finished run": "runs/finished/", "running run": "runs/running/"}
# The document's width, and the element reaching furthest right: the walk looks into no element that clips or
# scrolls its content (what is inside moves within that box, not the page), nor into plotly's off-screen text tester.
WIDTH = """() => {
    for (const details of document.querySelectorAll("details")) details.open = true;
    let widest = document.body, right = -Infinity;
    const visit = element => {
        const box = element.getBoundingClientRect();
        if (box.width > 0 && box.right > right) [widest, right] = [element, box.right];
        if (getComputedStyle(element).overflowX !== "visible" || element.id === "js-plotly-tester") return;
        for (const child of element.children) visit(child);
    };
    visit(document.body);
    const path = [];
    for (let e = widest; e && e !== document.documentElement && path.length < 4; e = e.parentElement) {
        path.unshift(e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + [...e.classList].map(c => "." + c).join(""));
    }
    return {scroll: document.documentElement.scrollWidth, inner: window.innerWidth, right: Math.round(right),
            widest: path.join(" > "), text: widest.textContent.trim().replace(/\\s+/g, " ").slice(0, 80)};
}"""


def size_id(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def over_the_catalog(results: Results) -> Results:
    """The quick run spread over every server of the catalog, in its order (names only): the full catalog's page."""
    names = list(load_servers(ROOT))
    sources = list(dict.fromkeys(target.server for target in results.targets))
    spread = Results.model_validate(results.model_dump())
    spread.meta.servers, spread.targets, spread.probe = names, [], []
    probes = {probe.server: probe for probe in results.probe}
    for index, name in enumerate(names):
        source = sources[index % len(sources)]
        spread.targets += [t.model_copy(update={"server": name}) for t in results.targets if t.server == source]
        spread.probe.append(probes[source].model_copy(update={"server": name}))
    return spread


def running(results: Results) -> Results:
    """The run as it was part-way through its last target, with the runner's time left: the live status bar."""
    copy = Results.model_validate(results.model_dump())
    copy.meta.status, copy.meta.ended = "running", None
    last = copy.targets[-1]
    last.status, last.steps = "running", last.steps[:1]
    copy.meta.time_left = estimate(copy)
    return copy


@pytest.fixture(scope="module")
def runs() -> dict[str, Results]:
    found = {name: load_results(path) for name, path in COMMITTED_RUNS.items()}
    return found | {FULL_CATALOG: over_the_catalog(found["quick"])}


def assert_fits(browser: Browser, url: str, page_name: str, allowed: str) -> None:
    """The page, loaded once, at each size in turn (its charts redrawn to the new width), fits without scrolling."""
    watched = watched_page(browser, allowed, SIZES[0])
    page = watched.page
    page.goto(url, wait_until="load")
    page.wait_for_function(ALL_CHARTS_DRAWN, timeout=30_000)
    for size in SIZES:
        page.set_viewport_size({"width": size[0], "height": size[1]})
        page.wait_for_timeout(RELAYOUT_MS)
        width: dict[str, Any] = page.evaluate(WIDTH)
        assert width["scroll"] <= width["inner"], (
            f"{page_name} at {size_id(size)} scrolls sideways: the document is {width['scroll']} px wide in a "
            f"{width['inner']} px window; widest: {width['widest']} (right edge at {width['right']} px): "
            f"{width['text']!r}"
        )
    page.close()
    assert watched.errors == [] and watched.outside == set(), (watched.errors, watched.outside)


@pytest.mark.real
@pytest.mark.parametrize("run", [*WIDE_RUNS, FULL_CATALOG])
def test_report_fits(run: str, runs: dict[str, Results], chromium: Browser, tmp_path: Path) -> None:
    page_file = tmp_path / "report.html"
    page_file.write_text(render_report(runs[run]), encoding="utf-8")
    assert_fits(chromium, page_file.as_uri(), f"report.html of {run}", "file://")


@pytest.mark.real
@pytest.mark.parametrize(("a", "b"), COMPARED, ids=[f"{a}-to-{b}" for a, b in COMPARED])
def test_compare_fits(a: str, b: str, runs: dict[str, Results], chromium: Browser, tmp_path: Path) -> None:
    page_file = tmp_path / "compare.html"
    page_file.write_text(render_compare(runs[a], runs[b]), encoding="utf-8")
    assert_fits(chromium, page_file.as_uri(), f"compare.html of {a} -> {b}", "file://")


@pytest.fixture(scope="module")
def dashboard(runs: dict[str, Results], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The live dashboard over a results folder holding the quick run (finished) and the full catalog's (running)."""
    served = tmp_path_factory.mktemp("served")
    shutil.copytree(QUICK_RUN, served / "finished")
    write_results(running(runs[FULL_CATALOG]), served / "running")
    with LiveServer(Dashboard(served, single=False, locust_url="http://127.0.0.1:8089/")) as server:
        yield server.url


@pytest.mark.real
@pytest.mark.parametrize("live_page", LIVE_PAGES)
def test_live_page_fits(live_page: str, dashboard: str, chromium: Browser) -> None:
    url = dashboard + LIVE_PAGES[live_page]
    assert_fits(chromium, url, f"the live dashboard's {live_page} page ({url})", "http://127.0.0.1:")
