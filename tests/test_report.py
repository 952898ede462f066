"""The run report, from a real quick run (real servers, real Locust), opened in headless Chromium with no network."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from plotly.offline import get_plotlyjs_version  # type: ignore[import-untyped]

from flasklab.core.analysis import analyse, capacity
from flasklab.core.results import Results, ResultsError, Target, load_results
from flasklab.core.settings import DEFAULT_SLO_P95_MS
from flasklab.views.chart_style import chart_library, format_number
from flasklab.views.report import REPORT_FILE, capacity_cells, render_report, write_report
from tests.browser import ALL_CHARTS_DRAWN, ARTIFACTS, CHART_TRACES, ExternalResources, watched_page
from tests.conftest import QUICK_RUN_SCENARIOS, QUICK_RUN_SERVERS

if TYPE_CHECKING:
    from playwright.sync_api import Browser

ROOT = Path(__file__).resolve().parents[1]
SERVERS, SCENARIOS = QUICK_RUN_SERVERS, QUICK_RUN_SCENARIOS
MAX_REPORT_BYTES = 10 * 2**20


@pytest.fixture(scope="module")
def run_dir(quick_run_copy: Path) -> Path:
    """The shared real quick run (what CI runs): its folder holds results.json."""
    return quick_run_copy


@pytest.fixture(scope="module")
def results(run_dir: Path) -> Results:
    return load_results(run_dir)


@pytest.fixture(scope="module")
def report(run_dir: Path) -> Path:
    return write_report(run_dir)


def test_report_is_one_offline_file(report: Path, results: Results) -> None:
    assert report.name == REPORT_FILE
    assert [p.name for p in report.parent.iterdir() if p.name.startswith(".report.")] == []  # no temp file left
    assert report.stat().st_size < MAX_REPORT_BYTES
    html = report.read_text(encoding="utf-8")
    parser = ExternalResources()
    parser.feed(html)
    assert parser.found == []
    assert html.count(chart_library()[:500]) == 1, "plotly.js must be embedded exactly once"
    # the vendored basic bundle, at the version of the figures plotly.py builds
    assert f"plotly.js (basic - minified) v{get_plotlyjs_version()}" in html
    for server in SERVERS:
        assert server in html
    assert f"{DEFAULT_SLO_P95_MS:,.0f} ms" in html
    assert results.meta.status == "complete"
    assert "INTERRUPTED" not in html


@pytest.mark.real
def test_report_draws_every_chart_offline_in_chromium(report: Path, chromium: Browser) -> None:
    watched = watched_page(chromium)  # every request not to file:// is aborted: the page must make none
    page, outside, errors = watched.page, watched.outside, watched.errors
    started = time.perf_counter()
    page.goto(report.as_uri(), wait_until="load")
    page.wait_for_function(ALL_CHARTS_DRAWN, timeout=30_000)
    wall_s = time.perf_counter() - started
    load_s = page.evaluate("performance.now()") / 1000  # from the start of navigation to every chart drawn
    charts = page.evaluate(CHART_TRACES)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    timing = {"load_s": round(load_s, 3), "wall_s": round(wall_s, 3), "bytes": report.stat().st_size}
    (ARTIFACTS / "report-load.json").write_text(json.dumps(timing | {"charts": charts}, indent=2))
    print(f"report load: {timing}")
    page.close()

    assert sorted(outside) == []
    assert errors == []
    expected = {f"{kind}-{scenario}" for kind in ("capacity", "latency", "hockey") for scenario in SCENARIOS}
    assert expected | {"probe", "timeline", "resources"} <= set(charts), charts
    for chart, drawn in charts.items():
        assert drawn["svg"] > 0 and drawn["traces"] > 0 and drawn["paths"] > 0, (chart, drawn)
    # The load time is recorded in test-artifacts/report-load.json, not asserted: speed goals live in benchmarks.


def test_capacity_winners_follow_the_results(report: Path, results: Results) -> None:
    """Each scenario's best: the highest capacity within the SLO, or a lower bound within it above every capacity."""
    html = report.read_text(encoding="utf-8")
    winners = re.findall(r'<td class="cell winner">\s*<span class="rps">([^<]+)</span>', html)
    by_bound = len(re.findall(r'<span class="winner-badge">best \(≥\)</span>', html))
    expected, expected_by_bound = [], 0
    for scenario in SCENARIOS:
        figures = []  # (the best figure of a server, the capacity its cell shows, whether a bound is that figure)
        for target in results.targets:
            if target.scenario != scenario:
                continue
            step = capacity(target, results.meta, DEFAULT_SLO_P95_MS)
            bound = analyse(target, results.meta).lower_bound
            bound_rps = bound.rps if bound and bound.p95_ms is not None and bound.p95_ms <= DEFAULT_SLO_P95_MS else 0
            figures.append((max(step.rps if step else 0.0, bound_rps), step, bound_rps > (step.rps if step else 0)))
        best = max(figures, key=lambda figure: figure[0], default=None)
        if best and best[0] > 0:  # a scenario none of whose steps counts has no winner (a busy machine flags them all)
            expected += [format_number(best[1].rps)] if best[1] else []
            expected_by_bound += best[2]
    assert set(winners) == set(expected) and by_bound == expected_by_bound


def test_a_lower_bound_above_every_capacity_is_the_best() -> None:
    """gunicorn-gthread on hello: 850 rps within the SLO as measured, and at least 1,720 at 16 users (Locust and the
    server both at their limit); gunicorn-sync's 1,150 was marked best, though gthread can do at least 1,720."""
    closed = load_results(Path(__file__).parent / "fixtures" / "results" / "closed.json")
    cells = capacity_cells(closed, "hello", DEFAULT_SLO_P95_MS)
    assert cells["gunicorn-gthread"].winner and cells["gunicorn-gthread"].won_by_bound
    assert not cells["gunicorn-sync"].winner
    html = render_report(closed, with_chart_library=False)
    assert html.count('<span class="winner-badge">best (≥)</span>') == 1
    assert 'id="littles-law"' in html  # io waits params.ms per request


def test_failures_and_interruptions_are_shown_escaped(results: Results) -> None:
    """A failed target, failed requests and a failed probe, added to the real results: all shown, all escaped."""
    broken = Target(
        server=SERVERS[0],
        scenario="cpu",
        concurrency=1,
        status="failed",
        error="server did not become healthy in 30 s",
        log_tail="Traceback (most recent call last):\n<script>alert('log')</script> & more",
    )
    first = results.targets[0]
    failing = first.model_copy(
        update={"steps": [s.model_copy(update={"errors": {"HTTP 504": 3, "<b>odd</b>": 1}}) for s in first.steps]}
    )
    probe = results.probe[0].model_copy(update={"measured": None, "error": "no /io request completed <in time>"})
    changed = results.model_copy(
        update={
            "meta": results.meta.model_copy(update={"status": "interrupted", "ended": None}),
            "targets": [failing, *results.targets[1:], broken],
            "probe": [probe, *results.probe[1:]],
        }
    )
    html = render_report(changed)
    assert "This run is INTERRUPTED" in html
    assert "server did not become healthy in 30 s" in html
    assert "&lt;script&gt;alert(&#39;log&#39;)&lt;/script&gt; &amp; more" in html
    assert "<script>alert('log')</script>" not in html
    assert 'id="failures"' in html and "HTTP 504" in html
    assert "<b>odd</b>" not in html  # plotly escapes its JSON too
    assert "no /io request completed &lt;in time&gt;" in html


FIXTURES = Path(__file__).parent / "fixtures" / "results"


def figure_json(html: str, chart_id: str) -> dict[str, Any]:
    """A chart's figure as the page embeds it (the script element the page draws it from)."""
    found = re.search(rf'<script type="application/json" class="figure" data-for="{chart_id}">(.*?)</script>', html)
    assert found, chart_id
    figure: dict[str, Any] = json.loads(found[1].replace("<\\/", "</"))
    return figure


def test_flagged_steps_are_marked_in_the_charts_and_listed_with_their_cause() -> None:
    """A committed closed run: a generator-bound step, a lower bound, a fast-failing one, one not steady; thin ones
    count.

    The file predates the in-flight measure, so the server's limit is its CPU alone: gthread at 16 users had Locust's
    CPU set 96 % busy and the server at 0.93 of its budget, both at their limit, so its 1,720 rps is a lower bound
    (it counted as the peak while 16 configured users cleared the generator)."""
    results = load_results(FIXTURES / "closed.json")
    html = render_report(results, with_chart_library=False)
    assert "Steps that do not count" in html and "4 step(s) do not count" in html  # thin ones count for rps
    assert (
        "generator-bound: generator side busy (its CPU set 99 % busy, its processes used 0.98 of 1 core) while the "
        "server used 0.42 of its 1 CPU budget; its requests in flight were not measured (16 configured)" in html
    )
    assert "lower bound: generator side busy (its CPU set 96 % busy" in html
    assert "failures 32.0 % (912 of 2,850)" in html
    # dev-single on io: 15 samples a step, its throughput counts and its p95 cannot meet or miss the SLO
    assert "p95 not measurable (†: under 20 samples a step); peak 9.9 rps" in html
    capacity_cells = re.findall(r'<span class="rps">([^<]+)</span>', html)
    assert "2,410" not in capacity_cells and "1,900" not in capacity_cells and "1,720" not in capacity_cells
    assert "850" in capacity_cells and "≥ 1,720 rps at 16 users: a lower bound" in html
    traces = {trace["name"]: trace for trace in figure_json(html, "capacity-hello")["data"] if "name" in trace}
    assert traces["gunicorn-gthread"]["marker"]["symbol"] == ["circle", "x", "circle-open"]
    assert traces["gunicorn-sync"]["marker"]["symbol"] == ["circle", "circle", "circle-open"]
    assert "does not count: failures 32.0 %" in traces["gunicorn-sync"]["customdata"][2][1]
    latency = figure_json(html, "latency-io")["data"]
    assert any("102.6†" in point[1] for trace in latency for point in trace["customdata"])


def test_censored_percentiles_are_marked_as_lower_bounds() -> None:
    html = render_report(load_results(FIXTURES / "open.json"), with_chart_library=False)
    assert "p95 ≥ 108 ms" in html  # gevent's capacity step: 4 requests unanswered at the window's end
    assert "unstable (backlog grew to 45): the server did not keep up" in html
    assert "percentiles are lower bounds (4 requests unanswered)" in html


def test_a_version_1_run_still_renders() -> None:
    html = render_report(load_results(FIXTURES / "version1.json"), with_chart_library=False)
    assert "busiest process at 95 % of a core" in html and "1,630" in html


def test_a_run_recorded_before_the_probe_timeline_loads_without_a_timeline(results: Results, tmp_path: Path) -> None:
    document = json.loads(results.model_dump_json())
    for probe in document["probe"]:
        del probe["requests"]  # as results.json was written before the timeline was recorded
    (tmp_path / "results.json").write_text(json.dumps(document))
    older = load_results(tmp_path)
    assert older.probe and all(probe.requests == [] for probe in older.probe)
    html = render_report(older, with_chart_library=False)
    assert 'data-for="probe"' in html and 'data-for="timeline"' not in html


@pytest.mark.parametrize("content", ["{not json", '{"schema_version": 1, "meta": {}}'])
def test_write_report_on_corrupt_results_raises(tmp_path: Path, content: str) -> None:
    (tmp_path / "results.json").write_text(content)
    with pytest.raises(ResultsError):
        write_report(tmp_path)
    assert not (tmp_path / REPORT_FILE).exists()


def test_write_report_without_results_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match=r"no results\.json"):
        write_report(tmp_path)
