"""flasklab compare: two real quick runs (real servers, real Locust), their comparison rows, page and command."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from flasklab.analysis import peak
from flasklab.chart_style import chart_library
from flasklab.cli import main
from flasklab.compare import (
    COMPARE_FILE,
    ComparisonRow,
    compare_runs,
    compare_table,
    peak_step,
    render_compare,
    setup_differences,
    write_compare,
)
from flasklab.results import Results, ResultsError, Step, Target, load_results
from tests.browser import ARTIFACTS, ExternalResources, watched_page

if TYPE_CHECKING:
    from playwright.sync_api import Browser

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ("hello", "io")
SERVERS_A = ("gunicorn-sync", "dev-single")
SERVERS_B = ("gunicorn-sync",)  # dev-single only in A
CHART_BARS = """() => Object.fromEntries([...document.querySelectorAll('.js-plotly-plot')].map(d => [d.id, {
    svg: d.querySelectorAll('.main-svg').length,
    bars: [...d.querySelectorAll('.barlayer .point path')].filter(p => p.getBBox().height > 0).length,
    whiskers: [...d.querySelectorAll('.errorbar path')].filter(p => p.getBBox().height > 0).length,
}]))"""  # plotly keeps an empty element for a missing value: count only what is drawn


def quick_run(out: Path, servers: tuple[str, ...]) -> Path:
    command = [sys.executable, "-m", "flasklab", "run", "--profile", "quick", "--no-probe", "--out", str(out)]
    command += ["--servers", ",".join(servers), "--scenarios", ",".join(SCENARIOS)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


@dataclass(frozen=True)
class Runs:
    dir_a: Path
    dir_b: Path
    a: Results
    b: Results


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """Two real quick runs, one after the other: A with two servers, B with one of them."""
    base = tmp_path_factory.mktemp("compare")
    dir_a, dir_b = quick_run(base / "a", SERVERS_A), quick_run(base / "b", SERVERS_B)
    return Runs(dir_a, dir_b, load_results(dir_a), load_results(dir_b))


def flasklab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flasklab", *args], capture_output=True, text=True, timeout=120)


def edited(results: Results, rps: float = 1.0, p95: float = 1.0, **step_fields: object) -> Results:
    """The run with every step's rps and p95 (and their intervals) scaled, and any other Step field set."""

    def scaled(step: Step) -> Step:
        changes: dict[str, object] = {
            name: getattr(step, name) * factor
            for factor, names in ((rps, ("rps", "rps_low", "rps_high")), (p95, ("p95_ms", "p95_low_ms", "p95_high_ms")))
            for name in names
            if getattr(step, name) is not None
        }
        return step.model_copy(update=changes | step_fields)

    targets = [t.model_copy(update={"steps": [scaled(s) for s in t.steps]}) for t in results.targets]
    return results.model_copy(update={"targets": targets})


def with_target(results: Results, server: str, scenario: str, **changes: object) -> Results:
    targets = [
        t.model_copy(update=changes) if (t.server, t.scenario) == (server, scenario) else t for t in results.targets
    ]
    return results.model_copy(update={"targets": targets})


def row_of(rows: list[ComparisonRow], server: str, scenario: str) -> ComparisonRow:
    return next(row for row in rows if (row.server, row.scenario) == (server, scenario))


def both(rows: list[ComparisonRow]) -> list[ComparisonRow]:
    """The rows measured in both runs with a peak in A (a target without usable steps has no figure to change)."""
    return [row for row in rows if row.presence == "both" and row.peak_rps.a is not None]


def test_real_runs_give_a_row_per_server_and_scenario(runs: Runs) -> None:
    assert runs.a.meta.status == runs.b.meta.status == "complete"
    rows = compare_runs(runs.a, runs.b)
    assert [(row.scenario, row.server) for row in rows] == [(c, s) for c in SCENARIOS for s in SERVERS_A]
    for row in rows:
        target = runs.a.target(row.server, row.scenario)
        assert target is not None
        expected = peak(target, runs.a.meta)  # flasklab.analysis decides which steps count
        if expected is None:  # e.g. dev-single on io in the quick profile: 15 completions a step, too few
            assert row.peak_rps.a is None and row.note.startswith("A: no usable step"), row
            continue
        assert row.peak_rps.a is not None and row.peak_rps.a.value == expected.rps
        assert row.p95_users == row.peak_rps.a.users
        assert row.peak_rps.a.interval is not None and row.p95.a is not None and row.p95.a.interval is not None
    assert all(row.peak_rps.a is not None for row in rows if row.scenario == "hello")
    assert {row.server: row.presence for row in rows} == {"gunicorn-sync": "both", "dev-single": "only in A"}
    assert all(row.peak_rps.b is None and row.peak_rps.tone == "none" for row in rows if row.server == "dev-single")
    reverse = compare_runs(runs.b, runs.a)
    assert {row.presence for row in reverse if row.server == "dev-single"} == {"only in B"}


def test_a_run_against_itself_changes_nothing(runs: Runs) -> None:
    for row in compare_runs(runs.a, runs.a):
        for change in (row.peak_rps, row.p95):
            if change.a is None:  # no usable step (too few samples, say): nothing to compare, in either run
                assert change.b is None and change.tone == "none"
                continue
            assert change.percent == 0 and not change.real and change.tone == "noise"


def test_doubled_throughput_is_real_and_better_and_the_same_p95_is_noise(runs: Runs) -> None:
    rows = both(compare_runs(runs.a, edited(runs.a, rps=2.0)))
    assert rows
    for row in rows:
        assert row.peak_rps.percent == pytest.approx(100)
        assert row.peak_rps.real and row.peak_rps.tone == "better"
        assert not row.p95.real and row.p95.tone == "noise"


def test_tripled_p95_is_real_and_worse(runs: Runs) -> None:
    for row in both(compare_runs(runs.a, edited(runs.a, p95=3.0))):
        assert row.p95.percent == pytest.approx(200)
        assert row.p95.real and row.p95.tone == "worse"
        assert row.peak_rps.tone == "noise"


def test_a_shift_inside_the_intervals_is_noise_and_without_intervals_nothing_is_real(runs: Runs) -> None:
    within = edited(runs.a, rps=1.001)  # 0.1 %: far inside every ~95 % interval
    assert all(not row.peak_rps.real for row in compare_runs(runs.a, within))
    unknown = edited(runs.a, rps=2.0, rps_low=None, rps_high=None, p95_low_ms=None, p95_high_ms=None)
    for row in both(compare_runs(unknown, edited(unknown, rps=2.0, p95=3.0))):
        assert row.peak_rps.percent == pytest.approx(100) and not row.peak_rps.real and not row.p95.real


def test_touching_intervals_overlap(runs: Runs) -> None:
    """B's interval starting exactly where A's ends is not a real change: the runs share that value."""
    target = runs.a.target("gunicorn-sync", "hello")
    top = peak_step(target, runs.a.meta)
    assert target is not None and top is not None and top.rps_high is not None

    def b_from(low: float) -> Results:
        raised = top.model_copy(update={"rps_low": low, "rps": 2 * low, "rps_high": 3 * low})
        return with_target(runs.a, "gunicorn-sync", "hello", steps=[raised if s is top else s for s in target.steps])

    touching = row_of(compare_runs(runs.a, b_from(top.rps_high)), "gunicorn-sync", "hello")
    assert not touching.peak_rps.real and touching.peak_rps.tone == "noise"
    apart = row_of(compare_runs(runs.a, b_from(math.nextafter(top.rps_high, math.inf))), "gunicorn-sync", "hello")
    assert apart.peak_rps.real and apart.peak_rps.tone == "better"


def climbing(results: Results, server: str, scenario: str) -> tuple[Results, list[Step]]:
    """The run with one target's real steps edited to a usable curve that climbs with users (peak: the most)."""
    target = results.target(server, scenario)
    assert target is not None
    usable = {
        "generator_saturated": False,
        "generator_cpu_total": None,
        "generator_set_busy": None,
        "failures": 0,
        "steady": None,
        "unstable": None,
    }
    steps = [
        s.model_copy(update=usable | {"rps": 100.0 * s.users, "requests": 150 * s.users})
        for s in sorted(target.steps, key=lambda s: s.users)
    ]
    return with_target(results, server, scenario, steps=steps), steps


def test_peak_skips_steps_that_do_not_count(runs: Runs) -> None:
    a, steps = climbing(runs.a, "gunicorn-sync", "hello")
    assert peak_step(a.target("gunicorn-sync", "hello"), a.meta) == steps[-1]
    # generator-bound: the generator side busy while the server had room (unbounded here, and little CPU used)
    bound = steps[-1].model_copy(update={"generator_saturated": True, "server_cpu": 0.1})
    a_bound = with_target(a, "gunicorn-sync", "hello", steps=[*steps[:-1], bound], concurrency=None)
    assert peak_step(a_bound.target("gunicorn-sync", "hello"), a.meta) == steps[-2]
    row = row_of(compare_runs(a_bound, runs.b), "gunicorn-sync", "hello")
    assert f"A: generator-bound at {steps[-1].users} users" in row.note.split("; ")
    # a server that fails fast: more rps, 10 % of it failures: the step does not count
    failing = steps[-1].model_copy(update={"failures": steps[-1].requests // 10, "rps": 1e6})
    a_failing = with_target(a, "gunicorn-sync", "hello", steps=[*steps[:-1], failing])
    assert peak_step(a_failing.target("gunicorn-sync", "hello"), a.meta) == steps[-2]
    assert (
        f"A: failures at {steps[-1].users} users"
        in row_of(compare_runs(a_failing, runs.b), "gunicorn-sync", "hello").note
    )
    empty = with_target(a, "gunicorn-sync", "hello", steps=[s.model_copy(update={"requests": 0}) for s in steps])
    assert peak_step(empty.target("gunicorn-sync", "hello"), a.meta) is None
    assert row_of(compare_runs(empty, runs.b), "gunicorn-sync", "hello").note.startswith("A: no usable step")


def test_p95_is_compared_at_the_users_of_a_peak(runs: Runs) -> None:
    """In B the fewest users give the highest rps: B's peak moves, its p95 is still read at A's peak users."""
    a, steps = climbing(runs.a, "gunicorn-sync", "hello")
    peak, fewest = steps[-1], steps[0]
    b = with_target(a, "gunicorn-sync", "hello", steps=[fewest.model_copy(update={"rps": 1e6}), *steps[1:]])
    row = row_of(compare_runs(a, b), "gunicorn-sync", "hello")
    assert row.peak_rps.b is not None and row.peak_rps.b.users == fewest.users != peak.users
    assert row.p95_users == peak.users
    assert row.p95.a is not None and row.p95.a.users == peak.users and row.p95.a.value == peak.p95_ms
    assert row.p95.b is not None and row.p95.b.users == peak.users and row.p95.b.value == peak.p95_ms
    assert row.p95.percent == 0 and not row.p95.real


def test_unfinished_targets_and_other_setups_are_named_not_compared(runs: Runs) -> None:
    b = with_target(runs.b, "gunicorn-sync", "io", status="running")
    row = row_of(compare_runs(runs.a, b), "gunicorn-sync", "io")
    assert row.peak_rps.b is None and row.peak_rps.tone == "none" and "B: running" in row.note.split("; ")
    assert setup_differences(runs.a, runs.a) == []
    other = b.model_copy(update={"meta": b.meta.model_copy(update={"profile": "standard", "status": "interrupted"})})
    assert setup_differences(runs.a, other) == ["profile: quick in A, standard in B", "run B is interrupted"]


def test_a_scenario_in_one_run_only_is_listed(runs: Runs) -> None:
    hello_only = runs.b.model_copy(update={"targets": [t for t in runs.b.targets if t.scenario == "hello"]})
    rows = compare_runs(runs.a, hello_only)
    assert {row.presence for row in rows if row.scenario == "io"} == {"only in A"}
    extra = Target(server="waitress", scenario="cpu", concurrency=16, status="failed", error="did not start")
    rows = compare_runs(runs.a, runs.b.model_copy(update={"targets": [*runs.b.targets, extra]}))
    assert row_of(rows, "waitress", "cpu").presence == "only in B"
    assert row_of(rows, "waitress", "cpu").note == "B: failed"


def test_terminal_table_shows_every_row(runs: Runs) -> None:
    from rich.console import Console

    console = Console(width=160, record=True)
    console.print(compare_table(compare_runs(runs.a, edited(runs.a, rps=2.0))))
    text = console.export_text()
    assert "▲ +100.0 %" in text and "only" not in text
    for server in SERVERS_A:
        assert server in text


def test_page_is_one_offline_file_with_real_changes_highlighted(runs: Runs, tmp_path: Path) -> None:
    doubled = edited(runs.a, rps=2.0)
    doubled = doubled.model_copy(update={"targets": [t for t in doubled.targets if t.server in SERVERS_B]})
    page = render_compare(runs.a, doubled)
    parser = ExternalResources()
    parser.feed(page)
    assert parser.found == []
    assert page.count(chart_library()[:500]) == 1, "plotly.js must be embedded exactly once"
    assert page.count('<td class="change better">▲ +100.0 %</td>') == len(SCENARIOS)
    assert "within noise" in page and "only in A" in page
    for chart in ("peak_rps", "p95"):
        for scenario in SCENARIOS:
            assert f'id="{chart}-{scenario}"' in page
    out = write_compare(runs.dir_a, runs.dir_b, tmp_path / "new" / "page.html")
    assert out == tmp_path / "new" / "page.html" and out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_compare_command_writes_the_page_and_prints_the_table(runs: Runs, tmp_path: Path) -> None:
    result = flasklab("compare", str(runs.dir_a), str(runs.dir_b))
    assert result.returncode == 0, result.stderr
    page = runs.dir_b / COMPARE_FILE
    assert page.is_file() and str(page) in result.stderr
    assert "peak rps A" in result.stdout and "gunicorn-sync" in result.stdout and "only in A" in result.stdout
    assert [p.name for p in runs.dir_b.iterdir() if p.name.startswith(f".{COMPARE_FILE}.")] == []

    out = tmp_path / "pages" / "b-vs-a.html"
    as_json = flasklab("compare", str(runs.dir_a), str(runs.dir_b / "results.json"), "--json", "--out", str(out))
    assert as_json.returncode == 0, as_json.stderr
    assert out.is_file() and str(out) in as_json.stderr
    rows = json.loads(as_json.stdout)
    assert {(row["server"], row["scenario"]) for row in rows} == {(s, c) for s in SERVERS_A for c in SCENARIOS}
    assert {"percent", "real", "tone"} <= set(rows[0]["peak_rps"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no results.json"),
        ("{oops", "not valid JSON"),
        ('{"name": "a package.json"}', "not a flasklab results file"),
        ('{"schema_version": 1, "meta": {}}', "invalid at meta"),
    ],
)
@pytest.mark.parametrize("bad", ["DIR_A", "DIR_B"])
def test_a_missing_or_corrupt_run_exits_2(
    runs: Runs, tmp_path: Path, content: str | None, message: str, bad: str
) -> None:
    if content is not None:
        (tmp_path / "results.json").write_text(content)
    dirs = [str(tmp_path), str(runs.dir_b)] if bad == "DIR_A" else [str(runs.dir_a), str(tmp_path)]
    result = CliRunner().invoke(main, ["compare", *dirs, "--out", str(tmp_path / "page.html")])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)  # a message, not a traceback
    assert message in result.stderr and f"Invalid value for {bad}" in result.stderr
    assert not (tmp_path / "page.html").exists()


def test_page_draws_its_charts_offline_in_chromium(runs: Runs, chromium: Browser, tmp_path: Path) -> None:
    page_file = write_compare(runs.dir_a, runs.dir_b, tmp_path / COMPARE_FILE)
    watched = watched_page(chromium)  # every request not to file:// is aborted: the page must make none
    page, outside, errors = watched.page, watched.outside, watched.errors
    page.goto(page_file.as_uri(), wait_until="load")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.js-plotly-plot')].every(d => d.querySelector('.main-svg'))",
        timeout=30_000,
    )
    charts = page.evaluate(CHART_BARS)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "compare.png"), full_page=True)
    page.close()

    assert sorted(outside) == []
    assert errors == []
    assert set(charts) == {f"{chart}-{scenario}" for chart in ("peak_rps", "p95") for scenario in SCENARIOS}
    rows = compare_runs(runs.a, runs.b)
    for chart, drawn in charts.items():
        # a bar per figure each run measured: per server in A (hatched) and in B (solid); dev-single ran in A only,
        # and a figure is missing where a run has no usable step there (flasklab.analysis)
        kind, _, scenario = chart.partition("-")
        changes = [row.peak_rps if kind == "peak_rps" else row.p95 for row in rows if row.scenario == scenario]
        expected = sum(change.a is not None for change in changes) + sum(change.b is not None for change in changes)
        assert expected >= len(SERVERS_A), (chart, rows)
        assert drawn["svg"] > 0 and drawn["bars"] == expected, (chart, drawn)
        assert drawn["whiskers"] > 0, (chart, drawn)


def test_write_compare_names_the_bad_folder(tmp_path: Path, runs: Runs) -> None:
    with pytest.raises(ResultsError, match=r"no results\.json"):
        write_compare(runs.dir_a, tmp_path)
    assert not (tmp_path / COMPARE_FILE).exists()
