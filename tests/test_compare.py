"""flasklab compare: two real quick runs (real servers, real Locust), their comparison rows, page and command."""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from flasklab.cli import main
from flasklab.core.analysis import Interval, peak
from flasklab.core.results import Results, ResultsError, Step, Target, load_results
from flasklab.views.chart_style import chart_library
from flasklab.views.compare import COMPARE_FILE, compare_table, render_compare, write_compare
from flasklab.views.compare_rule import (
    NOISE_FLOOR,
    Change,
    ComparisonRow,
    Measure,
    compare_runs,
    peak_step,
    setup_differences,
)
from tests.browser import ARTIFACTS, ExternalResources, watched_page
from tests.conftest import QUICK_RUN, QUICK_RUN_B, QUICK_RUN_SERVERS
from tests.helpers import flasklab

if TYPE_CHECKING:
    from playwright.sync_api import Browser

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ("hello", "io")
SERVERS_A = QUICK_RUN_SERVERS
SERVERS_B = ("gunicorn-sync",)  # dev-single and gunicorn-gevent only in A
CHART_BARS = """() => Object.fromEntries([...document.querySelectorAll('.js-plotly-plot')].map(d => [d.id, {
    svg: d.querySelectorAll('.main-svg').length,
    bars: [...d.querySelectorAll('.barlayer .point path')].filter(p => p.getBBox().height > 0).length,
    whiskers: [...d.querySelectorAll('.errorbar path')].filter(p => p.getBBox().height > 0).length,
}]))"""  # plotly keeps an empty element for a missing value: count only what is drawn


@dataclass(frozen=True)
class Runs:
    dir_a: Path
    dir_b: Path
    a: Results
    b: Results


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """Two real quick runs, one after the other (committed: scripts/record-fixtures): A with three servers, B with one
    of them."""
    base = tmp_path_factory.mktemp("compare")
    dir_a = Path(shutil.copytree(QUICK_RUN, base / "a"))
    dir_b = Path(shutil.copytree(QUICK_RUN_B, base / "b"))
    return Runs(dir_a, dir_b, load_results(dir_a), load_results(dir_b))


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


@pytest.mark.real
def test_real_runs_give_a_row_per_server_and_scenario(runs: Runs) -> None:
    assert runs.a.meta.status == runs.b.meta.status == "complete"
    rows = compare_runs(runs.a, runs.b)
    assert [(row.scenario, row.server) for row in rows] == [(c, s) for c in SCENARIOS for s in SERVERS_A]
    for row in rows:
        target = runs.a.target(row.server, row.scenario)
        assert target is not None
        expected = peak(target, runs.a.meta)  # flasklab.core.analysis decides which steps count
        if expected is None:  # e.g. dev-single on io in the quick profile: 15 completions a step, too few
            assert row.peak_rps.a is None and row.note.startswith("A: no usable step"), row
            continue
        assert row.peak_rps.a is not None and row.peak_rps.a.value == expected.rps
        assert row.p95_users == row.peak_rps.a.users
        assert row.peak_rps.a.interval is not None and row.p95.a is not None and row.p95.a.interval is not None
    assert all(row.peak_rps.a is not None for row in rows if row.scenario == "hello")
    only_a = set(SERVERS_A) - set(SERVERS_B)
    assert {row.server: row.presence for row in rows} == {s: "only in A" if s in only_a else "both" for s in SERVERS_A}
    assert all(row.peak_rps.b is None and row.peak_rps.tone == "none" for row in rows if row.server in only_a)
    reverse = compare_runs(runs.b, runs.a)
    assert {row.presence for row in reverse if row.server in only_a} == {"only in B"}


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
        assert row.peak_rps.tone == "noise"
        assert row.p95.a is not None and row.p95.a.interval is not None
        if row.p95.a.interval.high is None:  # too few samples for A's upper bound: a higher B proves nothing
            assert not row.p95.real
            continue
        assert row.p95.real and row.p95.tone == "worse"


def test_a_shift_inside_the_intervals_is_noise_and_without_intervals_nothing_is_real(runs: Runs) -> None:
    within = edited(runs.a, rps=1.001)  # 0.1 %: far inside every interval, and under the noise floor
    assert all(not row.peak_rps.real for row in compare_runs(runs.a, within))
    unknown = edited(runs.a, rps=2.0, rps_low=None, rps_high=None, p95_low_ms=None, p95_high_ms=None)
    for row in both(compare_runs(unknown, edited(unknown, rps=2.0, p95=3.0))):
        assert row.peak_rps.percent == pytest.approx(100) and not row.peak_rps.real and not row.p95.real


def measure(value: float, low: float, high: float | None) -> Measure:
    return Measure(value, Interval(low, high, "hand-made"), 4)


def test_the_rule_on_figures_worked_by_hand() -> None:
    """MOVER's difference interval and the noise floor, on numbers whose answer is known by hand.

    B - A = 25 from A 100 (85-115) and B 125 (112-138): the intervals overlap (112 < 115), yet the difference's
    interval is 25 - hypot(13, 15) = 5.15 to 25 + hypot(13, 15) = 44.8, clear of zero, and 25 % is over the 20 %
    floor: real. Disjoint but small, 100 (99-101) against 110 (109-111): 10 - hypot(1, 1) = 8.59 > 0, but 10 % is
    under the floor: noise. Touching intervals, 100 (90-110) against 120 (110-130): 20 - hypot(10, 10) = 5.86 > 0
    and 20 % is the floor itself: real.
    """
    overlapping = Change(measure(100, 85, 115), measure(125, 112, 138), higher_is_better=True, metric="peak_rps")
    assert overlapping.difference == pytest.approx((25 - math.hypot(13, 15), 25 + math.hypot(13, 15)))
    assert overlapping.real and overlapping.tone == "better"
    small = Change(measure(100, 99, 101), measure(110, 109, 111), higher_is_better=True, metric="peak_rps")
    assert small.difference is not None and small.difference[0] == pytest.approx(10 - math.sqrt(2))
    assert not small.real and small.tone == "noise"
    assert NOISE_FLOOR == {"peak_rps": 0.20, "p95": 0.30}  # the worked numbers above assume these floors
    touching = Change(measure(100, 90, 110), measure(120, 110, 130), higher_is_better=True, metric="peak_rps")
    assert touching.real  # the earlier rule called touching intervals noise


def test_a_p95_without_an_upper_bound_can_only_be_beaten_from_above() -> None:
    """A's p95 from too few samples (no upper bound): B higher is never real (A's could be anything above 90);
    B at half of it is (B - A's upper end: -100 + hypot(5, 20) = -79.4 < 0, and -50 % is over the 30 % floor)."""
    higher = Change(measure(100, 90, None), measure(200, 190, 210), higher_is_better=False, metric="p95")
    assert higher.difference is not None and higher.difference[0] == -math.inf and not higher.real
    lower = Change(measure(200, 180, None), measure(100, 95, 105), higher_is_better=False, metric="p95")
    assert lower.difference is not None and lower.difference[1] == pytest.approx(-100 + math.hypot(5, 20))
    assert lower.real and lower.tone == "better"


def climbing(results: Results, server: str, scenario: str) -> tuple[Results, list[Step]]:
    """The run with one target's real steps edited to a usable curve that climbs with users (peak: the most)."""
    target = results.target(server, scenario)
    assert target is not None
    usable = {  # the generator side idle: no step generator-bound or a lower bound
        "generator_cpu": 0.2,
        "generator_saturated": False,
        "generator_cpu_total": None,
        "generator_set_busy": None,
        "loop_lag_p95_ms": None,
        "loop_lag_max_ms": None,
        "send_lag_p95_ms": None,
        "send_lag_max_ms": None,
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


@pytest.mark.real
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


@pytest.mark.real
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


@pytest.mark.real
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
        # and a figure is missing where a run has no usable step there (flasklab.core.analysis)
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


ROUNDS_FIXTURE = ROOT / "tests" / "fixtures" / "export" / "rounds.json"  # a real 2-round quick run


def test_a_peak_that_moved_because_a_step_was_flagged_is_not_judged() -> None:
    """gunicorn-sync on io peaks at 4 users (37.6 rps). B at 16 users 1.5 times faster, every step counting: a real
    change (like for like: each run's step at the other's peak load counted). The same B with its 4-user step failing
    (10 % failures: it does not count) moved its peak for that reason alone: not judged, and the note says why."""
    a = load_results(ROUNDS_FIXTURE)
    target = a.target("gunicorn-sync", "io")
    assert target is not None and peak_step(target, a.meta) == target.steps[1] and target.steps[1].users == 4
    top = target.steps[2]
    assert top.spread is not None
    spread = top.spread.model_copy(
        update={k: getattr(top.spread, k) * 1.5 for k in ("rps_median", "rps_min", "rps_max")}
    )
    faster = top.model_copy(update={"rps": top.rps * 1.5, "spread": spread})
    b = with_target(a, "gunicorn-sync", "io", steps=[*target.steps[:2], faster])
    row = row_of(compare_runs(a, b), "gunicorn-sync", "io")
    assert row.peak_rps.b is not None and row.peak_rps.b.users == 16
    assert row.peak_rps.real and row.peak_rps.tone == "better" and "not judged" not in row.note
    failing = target.steps[1].model_copy(update={"failures": target.steps[1].requests // 10})
    b_flagged = with_target(a, "gunicorn-sync", "io", steps=[target.steps[0], failing, faster])
    row = row_of(compare_runs(a, b_flagged), "gunicorn-sync", "io")
    assert not row.peak_rps.real and row.peak_rps.tone == "noise"
    assert "peaks at 4 (A) and 16 (B) where the other run's step did not count: peak rps not judged" in row.note
