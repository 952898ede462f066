"""The seed's answer first: the headline table (flasklab.views.headline) on committed real runs, the terminal's compact
summary in 80 columns, the flagged steps grouped by cause, and what to run next."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner
from rich.console import Console

from flasklab.cli import main
from flasklab.cli.common import next_commands
from flasklab.core.analysis import analyse
from flasklab.core.results import Results, load_results
from flasklab.views.headline import headline_rows, io_scenario
from flasklab.views.report import render_report
from flasklab.views.summary import flagged_lines, print_results
from tests.browser import ARTIFACTS
from tests.conftest import QUICK_RUN

if TYPE_CHECKING:
    from playwright.sync_api import Browser

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "docs" / "runs" / "demo"


def terminal(results: Results, width: int = 80, verbose: bool = False) -> list[str]:
    console = Console(width=width, record=True, color_system=None)
    print_results(console, results, verbose=verbose)
    return console.export_text().splitlines()


def test_the_quick_run_counts_io_throughput_near_the_law_for_one_four_and_many() -> None:
    """The committed quick run: dev-single serves 1 at once, 4 sync workers 4, gevent many; each one's io peak counts
    (dev-single's 15 samples a step cost its p95, not its throughput) and sits near what the law allows."""
    results = load_results(QUICK_RUN)
    assert io_scenario(results) == ("io", 100.0)
    rows = {row.server: row for row in headline_rows(results)}
    expected = {"dev-single": ("1", "1", 10), "gunicorn-sync": ("4", "4", 40), "gunicorn-gevent": (None, ">= 64", 160)}
    for server, (configured, served, law) in expected.items():
        row = rows[server]
        assert row.served == served and row.expected == f"{law:,}" and row.verdict == "confirmed", row
        assert configured is None or row.configured == configured
        assert 0.85 * law <= float(row.io_rps.replace(",", "")) <= 1.02 * law, row
    single = analyse(next(t for t in results.targets if t.server == "dev-single" and t.scenario == "io"), results.meta)
    assert single.peak is not None and not single.standing(single.peak).p95_measurable


def test_the_headline_comes_first_and_fits_80_columns_without_wrapping() -> None:
    for results in (load_results(QUICK_RUN), load_results(DEMO)):
        lines = terminal(results)
        assert lines[0].startswith("How many at once?")
        table = lines[: lines.index(next(line for line in lines if line.startswith("at once:")))]
        assert all(len(line) <= 80 for line in table)
        for server in results.meta.servers:  # one line per server: no cell wrapped onto a second
            assert sum(line.startswith(f" {server} ") or line.startswith(f"{server} ") for line in table) == 1, server


def test_the_compact_summary_is_80_columns_and_groups_flagged_steps_by_cause() -> None:
    results = load_results(DEMO)
    lines = terminal(results)
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    grouped = flagged_lines(results)
    kinds = {flag.kind for t in results.targets for s in analyse(t, results.meta).flagged for flag in s.flags}
    assert len(grouped) == len(kinds) and {line.split(" (", 1)[0] for line in grouped} == kinds
    failures = next(line for line in grouped if line.startswith("failures"))
    assert failures == "failures (5): dev-single selfcall @ 1, 4, 16 users; gunicorn-sync selfcall @ 4, 16 users"
    assert "evidence" not in " ".join(lines[:12])  # the claims' evidence is one level down
    verbose = "\n".join(terminal(results, width=400, verbose=True))
    assert all(s.causes in verbose for t in results.targets for s in analyse(t, results.meta).flagged)


def test_what_comes_next_names_the_run_folder_and_flasklab_alone_shows_it(tmp_path: Path) -> None:
    folder = tmp_path / "my run"
    commands = dict(next_commands(folder))
    assert commands["every table in full"] == f"flasklab report '{folder}' --verbose"
    assert commands["plan from it"].startswith(f"flasklab plan --from '{folder}' ")
    result = CliRunner().invoke(main, [])
    assert result.exit_code == 0 and "Commands:" in result.output
    assert "flasklab serve" in result.output and "Next" in result.output


@pytest.mark.real
def test_report_html_opens_with_the_headline(tmp_path: Path, chromium: Browser) -> None:
    """In Chromium: the report's first table is the headline, row for row the terminal's (its picture is
    docs/images/headline.png, taken here into test-artifacts/)."""
    results = load_results(DEMO)
    page_file = tmp_path / "report.html"
    page_file.write_text(render_report(results), encoding="utf-8")
    page = chromium.new_page(viewport={"width": 1366, "height": 768})
    page.goto(page_file.as_uri(), wait_until="load")
    first = page.locator("main table").first
    assert first.get_attribute("class") == "headline"
    cells = [[cell.strip() for cell in row] for row in first.evaluate(ROWS)]
    expected = [[r.server, r.configured, r.served, r.io_rps, r.expected] for r in headline_rows(results)]
    assert [row[:5] for row in cells] == expected
    assert all(row[5].endswith("confirmed") for row in cells)
    box = first.bounding_box()
    assert box is not None and box["y"] < 768  # on the first screen, before anything else
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#headline").screenshot(path=str(ARTIFACTS / "headline.png"))
    page.close()


ROWS = "t => [...t.tBodies[0].rows].map(r => [...r.cells].map(c => c.innerText))"
