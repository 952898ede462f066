"""The projector view and the probe timeline, from the shared real quick run, in Chromium at 1920x1080.

What a room must see: one lane per worker (dev-single one lane of bars one after another, gunicorn-sync four lanes,
gevent a wall of overlapping bars), large type, a colour of its own for each server, the time left, and nothing
cut off at the screen's edge. The screenshots go to test-artifacts/.
"""

from __future__ import annotations

import itertools
import math
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from flasklab.core.catalog import Server
from flasklab.core.results import Results, load_results, write_results
from flasklab.core.sweep import estimate
from flasklab.views.chart_style import CUE_GROUP, PALETTE, server_styles, styles_in_order
from flasklab.views.curve_charts import capacity_figure
from flasklab.views.live import Dashboard, LiveServer
from flasklab.views.probe_charts import probe_timeline_figure, worker_lanes
from flasklab.views.progress import LiveView, TimeLeft, time_left
from flasklab.views.projector import render_projector
from flasklab.views.report import render_report, write_report
from tests.browser import ALL_CHARTS_DRAWN, ARTIFACTS, watched_page

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

MIN_COLOUR_DISTANCE = 15.0  # CIEDE2000: clearly different colours side by side (2 is a just-noticeable difference)
MAX_LIGHTNESS = 75.0  # CIELAB L*: darker than this, a line stays visible on white and on a washed-out projector
MIN_TEXT_PX, MIN_HEADLINE_PX = 20.0, 40.0
SCREEN = {"width": 1920, "height": 1080}


# --- colours -------------------------------------------------------------------------------------------------------


def cielab(colour: str) -> tuple[float, float, float]:
    """An sRGB hex colour in CIELAB (D65)."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(int(colour[i : i + 2], 16)) for i in (1, 3, 5))
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > (6 / 29) ** 3 else t / (3 * (6 / 29) ** 2) + 4 / 29

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def ciede2000(first: str, second: str) -> float:
    """The CIEDE2000 colour difference (Sharma, Wu and Dalal's formulation)."""
    (l1, a1, b1), (l2, a2, b2) = cielab(first), cielab(second)
    c_mean = (math.hypot(a1, b1) + math.hypot(a2, b2)) / 2
    g = 0.5 * (1 - math.sqrt(c_mean**7 / (c_mean**7 + 25**7)))
    a1, a2 = a1 * (1 + g), a2 * (1 + g)
    c1, c2 = math.hypot(a1, b1), math.hypot(a2, b2)
    h1, h2 = math.degrees(math.atan2(b1, a1)) % 360, math.degrees(math.atan2(b2, a2)) % 360
    dh = 0.0 if c1 * c2 == 0 else (h2 - h1 + 180) % 360 - 180
    dl, dc, dh_big = l2 - l1, c2 - c1, 2 * math.sqrt(c1 * c2) * math.sin(math.radians(dh / 2))
    l_mean, c_mean = (l1 + l2) / 2, (c1 + c2) / 2
    if c1 * c2 == 0:
        h_mean = h1 + h2
    elif abs(h1 - h2) > 180:
        h_mean = (h1 + h2 + 360) / 2
    else:
        h_mean = (h1 + h2) / 2
    t = (
        1
        - 0.17 * math.cos(math.radians(h_mean - 30))
        + 0.24 * math.cos(math.radians(2 * h_mean))
        + 0.32 * math.cos(math.radians(3 * h_mean + 6))
        - 0.20 * math.cos(math.radians(4 * h_mean - 63))
    )
    s_l = 1 + 0.015 * (l_mean - 50) ** 2 / math.sqrt(20 + (l_mean - 50) ** 2)
    s_c, s_h = 1 + 0.045 * c_mean, 1 + 0.015 * c_mean * t
    rotation = -2 * math.sqrt(c_mean**7 / (c_mean**7 + 25**7))
    rotation *= math.sin(math.radians(60 * math.exp(-(((h_mean - 275) / 25) ** 2))))
    return math.sqrt((dl / s_l) ** 2 + (dc / s_c) ** 2 + (dh_big / s_h) ** 2 + rotation * (dc / s_c) * (dh_big / s_h))


def test_colour_difference_matches_the_published_examples() -> None:
    assert ciede2000("#000000", "#000000") == 0
    assert ciede2000("#000000", "#FFFFFF") == pytest.approx(100, abs=0.01)
    assert ciede2000("#FF0000", "#00FF00") == pytest.approx(86.6, abs=0.2)


def test_every_server_of_the_catalog_gets_a_colour_of_its_own(catalog_servers: dict[str, Server]) -> None:
    names = list(catalog_servers)
    assert len(names) >= 15
    styles = styles_in_order(names)
    colours = [style.colour for style in styles.values()]
    assert len(set(colours)) == len(names) <= len(PALETTE)
    closest = min(itertools.combinations(colours, 2), key=lambda pair: ciede2000(*pair))
    assert ciede2000(*closest) >= MIN_COLOUR_DISTANCE, closest
    assert all(cielab(colour)[0] <= MAX_LIGHTNESS for colour in colours), "a colour too pale for a projector"
    # the second cue: servers past the eighth are dashed and hatched, the first eight solid and plain
    assert [style.dash == "solid" and style.pattern == "" for style in styles.values()] == [
        i < CUE_GROUP for i in range(len(names))
    ]


# --- the timeline's data -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def results(quick_run_copy: Path) -> Results:
    return load_results(quick_run_copy)


def lanes_of(results: Results, server: str) -> int:
    probe = next(p for p in results.probe if p.server == server)
    return len(worker_lanes(probe.requests))


def test_the_timeline_has_a_lane_per_worker(results: Results) -> None:
    figure = probe_timeline_figure(results, server_styles(results))
    assert figure is not None
    traces = {trace.name: trace for trace in figure.data}
    assert list(traces) == ["dev-single", "gunicorn-sync", "gunicorn-gevent"]  # meta.servers order
    assert len(set(traces["dev-single"].y)) == 1 and lanes_of(results, "dev-single") == 1
    assert len(set(traces["gunicorn-sync"].y)) == 4  # its four sync workers, one thread each
    assert len(set(traces["gunicorn-gevent"].y)) > 4  # a greenlet per request
    annotations = [annotation.text for annotation in figure.layout.annotations]
    assert annotations[0] == "<b>dev-single</b>: 1 worker, one at a time"
    assert annotations[1] == "<b>gunicorn-sync</b>: 4 workers, 4 at once"


# --- the projector in Chromium -------------------------------------------------------------------------------------


def running_copy(results: Results, steps_of_last: int, started_s_ago: float) -> Results:
    """The run as it was while gunicorn-gevent was on io with ``steps_of_last`` steps done."""
    running = Results.model_validate(results.model_dump())
    running.meta.status, running.meta.ended = "running", None
    running.meta.started = (datetime.now(UTC) - timedelta(seconds=started_s_ago)).isoformat(timespec="seconds")
    target = running.target("gunicorn-gevent", "io")
    assert target is not None
    target.status, target.steps = "running", target.steps[:steps_of_last]
    running.claims = []
    running.meta.time_left = estimate(running)  # as the runner records it at every save
    return running


@pytest.fixture(scope="module")
def projector_run(results: Results, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """The running copy, served by the live dashboard: its projector's address."""
    folder = tmp_path_factory.mktemp("projector") / "run"
    write_results(running_copy(results, 1, 60), folder)
    with LiveServer(Dashboard(folder, single=True)) as server:
        yield folder, f"{server.url}runs/run/projector"


TIMELINE = """() => document.getElementById('timeline').data.map(t => ({
    name: t.name, color: t.marker.color, y: Array.from(t.y), base: Array.from(t.base), x: Array.from(t.x)}))"""
TRACE_COLOURS = """id => document.getElementById(id).data.filter(t => t.showlegend !== false && t.name !== 'knee')
    .map(t => t.line.color)"""
SMALLEST_TEXT = """() => {
    const sizes = [];
    for (const element of document.querySelectorAll('body *')) {
        const own = [...element.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
        const box = element.getBoundingClientRect();
        if (own && box.width > 0 && box.height > 0) {
            sizes.push([parseFloat(getComputedStyle(element).fontSize), element.textContent.trim().slice(0, 40)]);
        }
    }
    return sizes.sort((a, b) => a[0] - b[0])[0];
}"""
OVERFLOWING = """() => {
    const out = [];
    for (const element of document.querySelectorAll('body *')) {
        if (element.closest('#js-plotly-tester')) continue;  // plotly measures text off-screen on purpose
        const box = element.getBoundingClientRect();
        const outside = box.left < 0 || box.right > window.innerWidth + 0.5;
        if (box.width > 0 && outside) out.push(element.outerHTML.slice(0, 80));
        if (['H2', 'DIV', 'SPAN'].includes(element.tagName) && element.scrollWidth > element.clientWidth + 1
            && getComputedStyle(element).overflow === 'hidden') out.push('cut: ' + element.textContent.slice(0, 60));
    }
    for (const svg of document.querySelectorAll('.main-svg')) {
        const frame = svg.getBoundingClientRect();
        for (const text of svg.querySelectorAll('text')) {
            const box = text.getBoundingClientRect();
            const outside = box.left < frame.left - 0.5 || box.right > frame.right + 0.5;
            if (box.width > 0 && outside) out.push('chart: ' + text.textContent);
        }
    }
    return {out, scrollWidth: document.documentElement.scrollWidth};
}"""


ROW_TITLES = """() => [...document.querySelectorAll('#timeline .annotation-text')]
    .map(t => [t.textContent, t.getBoundingClientRect().top, t.getBoundingClientRect().bottom])
    .sort((a, b) => a[1] - b[1])"""


def overlaps(starts: list[float], lengths: list[float]) -> int:
    """Largest number of the bars that cover one instant."""
    events = sorted([(s, 1) for s in starts] + [(s + n, -1) for s, n in zip(starts, lengths, strict=True)])
    current = best = 0
    for _, change in events:
        current += change
        best = max(best, current)
    return best


def open_projector(chromium: Browser, url: str) -> Page:
    watched = watched_page(chromium, allowed="http://127.0.0.1:")
    page = watched.page
    page.goto(url)
    page.wait_for_function(ALL_CHARTS_DRAWN, timeout=30_000)
    page.wait_for_timeout(300)  # the last chart's text laid out
    return page


def assert_reads_well(page: Page) -> None:
    smallest = page.evaluate(SMALLEST_TEXT)
    assert smallest[0] >= MIN_TEXT_PX, smallest
    svg_smallest = page.evaluate(
        "() => Math.min(...[...document.querySelectorAll('.main-svg text')].filter(t => t.textContent.trim())"
        ".map(t => parseFloat(getComputedStyle(t).fontSize)))"
    )
    assert svg_smallest >= MIN_TEXT_PX
    assert float(page.eval_on_selector(".current", "e => parseFloat(getComputedStyle(e).fontSize)")) >= MIN_HEADLINE_PX
    overflow = page.evaluate(OVERFLOWING)
    assert overflow == {"out": [], "scrollWidth": SCREEN["width"]}, overflow
    titles = page.evaluate(ROW_TITLES)  # the timeline's rows: no title over another
    assert all(below[1] >= above[2] for above, below in itertools.pairwise(titles)), titles


@pytest.mark.real
def test_the_projector_shows_the_run_to_a_room(projector_run: tuple[Path, str], chromium: Browser) -> None:
    _, url = projector_run
    page = open_projector(chromium, url)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "projector.png"))
    now = page.inner_text(".current")
    left = page.inner_text(".left")
    timeline = {trace["name"]: trace for trace in page.evaluate(TIMELINE)}
    bars = page.evaluate("() => document.querySelectorAll('#timeline .barlayer .point path').length")
    capacity = page.evaluate(TRACE_COLOURS, "capacity")
    heading = page.inner_text("#panel-capacity h2")
    assert_reads_well(page)
    assert page.evaluate("document.documentElement.scrollHeight") <= SCREEN["height"]  # one screen, no scrolling
    page.close()

    assert "gunicorn-gevent · io · step 2 of 3 · 4 users" in " ".join(now.split())
    assert re.search(
        r"about (\d+ s|\d+ min \d\d s) left\s+an estimate: the steps left at their measured length", left
    ), left
    assert heading == "io: throughput vs users (the capacity curve)"
    # one lane, bars one after another; four lanes; many bars at once
    single = timeline["dev-single"]
    assert len(set(single["y"])) == 1 and overlaps(single["base"], single["x"]) == 1
    assert len(set(timeline["gunicorn-sync"]["y"])) == 4
    assert overlaps(timeline["gunicorn-sync"]["base"], timeline["gunicorn-sync"]["x"]) == 4
    gevent = timeline["gunicorn-gevent"]
    assert overlaps(gevent["base"], gevent["x"]) >= len(gevent["y"]) // 2 > 4
    assert bars == sum(len(trace["y"]) for trace in timeline.values())  # every request drawn
    colours = [trace["color"] for trace in timeline.values()]
    assert len(set(colours)) == 3 and len(set(capacity)) == len(capacity) == 3
    assert set(capacity) == set(colours)  # a server's colour is the same in both charts


@pytest.mark.real
def test_the_projector_follows_the_run_in_place(
    projector_run: tuple[Path, str], chromium: Browser, results: Results
) -> None:
    folder, url = projector_run
    page = open_projector(chromium, url)
    page.evaluate("window.flasklabMarker = 'same document'")
    later = running_copy(results, 2, 70)
    assert later.meta.time_left is not None  # one step of 2 s left: a minute, so that the count down is seen
    later.meta.time_left = later.meta.time_left.model_copy(update={"left_s": 60.0})
    write_results(later, folder)
    page.wait_for_function(
        "() => document.querySelector('.current').textContent.includes('step 3 of 3')", timeout=15_000
    )
    assert page.evaluate("window.flasklabMarker") == "same document"
    first = page.inner_text("[data-time-left]")
    time.sleep(2.2)
    assert page.inner_text("[data-time-left]") != first, "the time left does not count down"
    write_results(results, folder)  # the run completes: the page says so and stops polling
    page.wait_for_function("() => !document.getElementById('live').dataset.running", timeout=15_000)
    assert "Run complete" in page.inner_text(".current") and page.inner_text(".left .time") == "done"
    page.close()


@pytest.fixture(scope="module")
def fifteen_servers(results: Results, catalog_servers: dict[str, Server]) -> Results:
    """The run's targets and probes spread over every server of the catalog (names only): a full catalog's page."""
    names = list(catalog_servers)
    running = running_copy(results, 1, 30)
    sources = {server: [t for t in running.targets if t.server == server] for server in running.meta.servers}
    probes = {p.server: p for p in running.probe}
    spread = Results.model_validate(running.model_dump())
    spread.meta.servers = names
    spread.targets, spread.probe = [], []
    for name, source in zip(names, itertools.cycle(sources), strict=False):
        spread.targets += [t.model_copy(update={"server": name, "status": "ok"}) for t in sources[source]]
        spread.probe.append(probes[source].model_copy(update={"server": name}))
    spread.targets[-1].status = "running"
    return spread


def test_fifteen_servers_each_in_a_colour_of_their_own(fifteen_servers: Results) -> None:
    figure = capacity_figure(fifteen_servers, "io", server_styles(fifteen_servers))
    colours = [trace.line.color for trace in figure.data if trace.showlegend is not False and trace.name != "knee"]
    assert len(colours) == len(set(colours)) == len(fifteen_servers.meta.servers)


@pytest.mark.real
def test_a_full_catalog_still_fits_the_screen(fifteen_servers: Results, chromium: Browser, tmp_path: Path) -> None:
    write_results(fifteen_servers, tmp_path / "run")
    with LiveServer(Dashboard(tmp_path / "run", single=True)) as server:
        page = open_projector(chromium, f"{server.url}runs/run/projector?scenario=io")
        page.screenshot(path=str(ARTIFACTS / "projector-15-servers.png"))
        capacity = page.evaluate(TRACE_COLOURS, "capacity")
        rows = page.evaluate("() => document.getElementById('timeline').data.map(t => t.name)")
        heading = page.inner_text("#panel-timeline h2")
        assert_reads_well(page)
        page.close()
    assert len(capacity) == len(set(capacity)) == len(fifteen_servers.meta.servers)
    assert rows == fifteen_servers.meta.servers[-4:] and heading.endswith("(last 4 of 15)")


@pytest.mark.real
def test_the_report_draws_the_timeline(quick_run_copy: Path, results: Results, chromium: Browser) -> None:
    watched = watched_page(chromium)
    page = watched.page
    page.goto(write_report(quick_run_copy).as_uri())
    page.wait_for_function(ALL_CHARTS_DRAWN, timeout=30_000)
    lanes = {trace["name"]: len(set(trace["y"])) for trace in page.evaluate(TIMELINE)}
    page.locator("#figure-timeline").screenshot(path=str(ARTIFACTS / "report-timeline.png"))
    caption = page.inner_text("#figure-timeline h3")
    page.close()
    assert lanes == {"dev-single": 1, "gunicorn-sync": 4, "gunicorn-gevent": lanes_of(results, "gunicorn-gevent")}
    assert caption == "Probe timeline: each request from its start to its end, one lane per worker"
    assert watched.outside == set() and watched.errors == []


# --- the time left -------------------------------------------------------------------------------------------------


def test_time_left_is_the_runs_own_estimate_counted_down_since_it_was_made(results: Results) -> None:
    running = running_copy(results, 1, 0)
    recorded = running.meta.time_left
    assert recorded is not None and recorded.left_s > 0
    made = datetime.fromisoformat(recorded.made)
    then = time_left(running, made)
    assert (
        then is not None
        and then.seconds == recorded.left_s
        and then.basis.startswith("the steps left at their measured length")
    )
    later = time_left(running, made + timedelta(seconds=recorded.left_s / 2))
    assert later is not None and later.seconds == recorded.left_s / 2
    overdue = time_left(running, made + timedelta(seconds=recorded.left_s + 60))
    assert overdue is not None and overdue.seconds == 0  # never below nothing left
    assert time_left(results) is None  # a finished run has nothing left
    assert time_left(running.model_copy(update={"meta": running.meta.model_copy(update={"time_left": None})})) is None
    assert [TimeLeft(s, "").text for s in (0, 45.4, 60, 125)] == ["0 s", "45 s", "1 min 00 s", "2 min 05 s"]


def test_an_upper_bound_is_shown_as_at_most(results: Results) -> None:
    """Before a step has been measured the runner knows neither a step's length nor a curve's: it records an upper
    bound, and the projector and the report say "at most" and what it counts, not "about"."""
    running = running_copy(results, 1, 0)
    assert running.meta.time_left is not None
    bound = running.meta.time_left.model_copy(update={"upper_bound": True, "left_s": 600.0})
    running.meta.time_left = bound
    left = time_left(running, datetime.fromisoformat(bound.made))
    assert left is not None and left.about == "at most" and left.basis.startswith("every step at its whole warm-up")
    projector = render_projector(running, LiveView(version="v"), with_chart_library=False)
    assert "at most <span" in projector and "an upper bound: every step at its whole warm-up" in projector
    report = render_report(running, live=LiveView(version="v"), with_chart_library=False)
    assert re.search(r"at most\s+<b data-time-left", report) and "left (upper bound)" in report
    estimated = running.model_copy(deep=True)
    assert estimated.meta.time_left is not None
    estimated.meta.time_left.upper_bound = False
    page = render_projector(estimated, LiveView(version="v"), with_chart_library=False)
    assert "about <span" in page and "an estimate: the steps left" in page and "at most" not in page


def test_the_projector_names_an_unknown_scenario_nothing(results: Results) -> None:
    """?scenario= picks the capacity chart among the run's measured scenarios; anything else is the default."""
    running = running_copy(results, 1, 30)
    live = LiveView(version="v")
    asked = render_projector(running, live, with_chart_library=False, scenario="hello")
    assert "<h2>hello: throughput vs users" in asked
    odd = render_projector(running, live, with_chart_library=False, scenario="<b>x</b>")
    assert "<h2>io: throughput vs users" in odd and "<b>x</b>" not in odd and "%3Cb%3E" not in odd


def test_a_run_without_a_probe_is_shown_without_a_timeline(results: Results) -> None:
    """`flasklab run --no-probe` (the fidelity bench's runs): the projector drew nothing, a template error; it says the
    run has no probe, and a run still waiting for its first step says that too."""
    unprobed = running_copy(results, 1, 30)
    unprobed.probe, unprobed.meta.probe = [], False
    page = render_projector(unprobed, LiveView(version="v"), with_chart_library=False)
    assert "This run has no probe (--no-probe)." in page and 'id="timeline"' not in page
    empty = unprobed.model_copy(deep=True)
    empty.targets = []
    page = render_projector(empty, LiveView(version="v"), with_chart_library=False)
    assert "No step measured yet" in page and "This run has no probe" in page
