"""The run report, from a real quick run (real servers, real Locust), opened in headless Chromium with no network."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from plotly.offline import get_plotlyjs_version  # type: ignore[import-untyped]

from flasklab.report import (
    REPORT_FILE,
    capacity,
    chart_library,
    format_number,
    knee,
    render_report,
    write_report,
)
from flasklab.results import Results, ResultsError, Step, Target, load_results
from flasklab.settings import DEFAULT_SLO_P95_MS
from tests.browser import ALL_CHARTS_DRAWN, ARTIFACTS, CHART_TRACES, ExternalResources, watched_page

if TYPE_CHECKING:
    from playwright.sync_api import Browser

ROOT = Path(__file__).resolve().parents[1]
SERVERS = ("dev-single", "gunicorn-sync")
SCENARIOS = ("hello", "io")
MAX_REPORT_BYTES = 10 * 2**20


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real quick run of two servers (what CI runs): its folder holds results.json."""
    out = tmp_path_factory.mktemp("report") / "run"
    command = [sys.executable, "-m", "flasklab", "run", "--profile", "quick", "--out", str(out)]
    command += ["--servers", ",".join(SERVERS), "--scenarios", ",".join(SCENARIOS)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


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
    assert expected | {"probe", "resources"} <= set(charts), charts
    for chart, drawn in charts.items():
        assert drawn["svg"] > 0 and drawn["traces"] > 0 and drawn["paths"] > 0, (chart, drawn)
    # The load time is recorded in test-artifacts/report-load.json, not asserted: speed goals live in benchmarks.


def test_capacity_winners_follow_the_results(report: Path, results: Results) -> None:
    html = report.read_text(encoding="utf-8")
    winners = re.findall(r'<td class="cell winner">\s*<span class="rps">([^<]+)</span>', html)
    expected = []
    for scenario in SCENARIOS:
        steps = [capacity(target, DEFAULT_SLO_P95_MS) for target in results.targets if target.scenario == scenario]
        expected.append(format_number(max(step.rps for step in steps if step)))
    assert set(winners) == set(expected)
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


def _step(users: int, rps: float, p95_ms: float = 10.0, saturated: bool = False) -> Step:
    return Step(
        users=users,
        duration_s=1.0,
        requests=int(rps),
        failures=0,
        rps=rps,
        p50_ms=p95_ms / 2,
        p95_ms=p95_ms,
        p99_ms=p95_ms,
        max_ms=p95_ms,
        generator_cpu=0.95 if saturated else 0.5,
        generator_saturated=saturated,
        server_cpu=None,
        server_rss_mb=None,
    )


def test_knee_is_the_step_after_which_doubling_users_adds_less_than_10_percent() -> None:
    steps = [_step(1, 10), _step(2, 20), _step(4, 39), _step(8, 40), _step(16, 40)]
    assert knee(steps) == steps[2]
    assert knee([_step(1, 10), _step(2, 20)]) is None


def test_capacity_skips_steps_over_the_slo_or_with_a_saturated_generator() -> None:
    target = Target(
        server="s",
        scenario="io",
        concurrency=4,
        status="ok",
        steps=[_step(1, 10, 100), _step(4, 40, 400, saturated=True), _step(16, 41, 900), _step(2, 20, 200)],
    )
    assert capacity(target, 500) == target.steps[3]
    assert capacity(target, 50) is None


@pytest.mark.parametrize("content", ["{not json", '{"schema_version": 1, "meta": {}}'])
def test_write_report_on_corrupt_results_raises(tmp_path: Path, content: str) -> None:
    (tmp_path / "results.json").write_text(content)
    with pytest.raises(ResultsError):
        write_report(tmp_path)
    assert not (tmp_path / REPORT_FILE).exists()


def test_write_report_without_results_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match=r"no results\.json"):
        write_report(tmp_path)
