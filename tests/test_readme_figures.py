"""Every measured figure of the README and the documentation is its committed run's: scripts/readme-figures --check
finds no difference.

The figures sit between ``<!-- figures:NAME -->`` markers in README.md and docs/*.md and are rebuilt from docs/runs/ by
benchmarks/readme_figures.py; a page edited by hand, or a run replaced without rebuilding the pages, fails here.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import readme_figures

ROOT = readme_figures.ROOT
PAGES_WITH_FIGURES = [page for page in readme_figures.pages(ROOT) if readme_figures.MARKER.search(page.read_text())]


def relative(page: Path) -> str:
    return str(page.relative_to(ROOT))


@pytest.fixture
def pages_copy(tmp_path: Path) -> Path:
    """A folder holding a copy of the checkout's pages (README.md, docs/*.md) to edit; the runs stay the checkout's."""
    (tmp_path / "docs").mkdir()
    for page in readme_figures.pages(ROOT):
        shutil.copyfile(page, tmp_path / relative(page))
    return tmp_path


def test_the_figures_are_those_of_their_runs(capsys: pytest.CaptureFixture[str]) -> None:
    code = readme_figures.main(["--check"])
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err


def test_the_readme_and_the_documentation_both_hold_figures() -> None:
    held = {relative(page) for page in PAGES_WITH_FIGURES}
    assert {"README.md", "docs/findings.md", "docs/results.md"} <= held


@pytest.mark.parametrize("name", sorted(readme_figures.RUNS))
def test_every_declared_run_is_committed_and_loads(name: str) -> None:
    run = readme_figures.RUNS[name]
    assert run.path.is_file(), f"{run.path} missing: scripts/readme-figures record {name}"
    if not run.bench:
        assert readme_figures.results(name).meta.status == "complete"


def first_figure(text: str) -> tuple[int, int]:
    """Where the first figure's body starts and ends in a page's text."""
    found = readme_figures.MARKER.search(text)
    assert found is not None, "the page has no figure markers"
    return found.start("body"), found.end("body")


@pytest.mark.parametrize("page", PAGES_WITH_FIGURES, ids=relative)
def test_check_exits_1_with_a_diff_when_a_figure_was_edited(
    page: Path, pages_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edited = pages_copy / relative(page)
    text = edited.read_text()
    start, end = first_figure(text)
    edited.write_text(text[:start] + "\n| a figure typed by hand | 42 |\n" + text[end:])
    assert readme_figures.main(["--check", "--root", str(pages_copy)]) == 1
    captured = capsys.readouterr()
    assert "-| a figure typed by hand | 42 |" in captured.out and "+++ from docs/runs" in captured.out
    assert f"--- {relative(page)}" in captured.out and relative(page) in captured.err
    # without --check it rewrites the figure from its run, and the check passes again
    assert readme_figures.main(["--root", str(pages_copy)]) == 0
    assert edited.read_text() == text
    assert readme_figures.main(["--check", "--root", str(pages_copy)]) == 0


def test_a_new_page_with_a_figure_is_checked_too(pages_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (pages_copy / "docs" / "new-page.md").write_text(
        "# New\n\nMemory: <!-- figures:memory -->1 MiB<!-- /figures:memory -->\n"
    )
    assert readme_figures.main(["--check", "--root", str(pages_copy)]) == 1
    assert "docs/new-page.md" in capsys.readouterr().err


@pytest.mark.parametrize("page", PAGES_WITH_FIGURES, ids=relative)
def test_a_marker_naming_no_figure_is_bad_input(
    page: Path, pages_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edited = pages_copy / relative(page)
    edited.write_text(edited.read_text() + "\n<!-- figures:no-such-figure -->1<!-- /figures:no-such-figure -->\n")
    assert readme_figures.main(["--check", "--root", str(pages_copy)]) == 2
    error = capsys.readouterr().err
    assert "no-such-figure" in error and relative(page) in error


def remove_markers(page: Path, name: str) -> bool:
    """Take the figure ``name`` (its markers and body) out of the page; whether it was there."""
    text = page.read_text()
    kept = readme_figures.MARKER.sub(lambda found: "" if found["name"] == name else found.group(0), text)
    page.write_text(kept)
    return kept != text


def test_a_figure_on_no_page_is_reported(pages_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    removed = [page for page in readme_figures.pages(pages_copy) if remove_markers(page, "probe")]
    assert len(removed) >= 2  # the README quotes the probe's table, the findings hold it
    assert readme_figures.main(["--check", "--root", str(pages_copy)]) == 1
    assert "no page has a marker for probe" in capsys.readouterr().err


def test_a_figure_may_leave_one_page_while_another_holds_it(pages_copy: Path) -> None:
    assert remove_markers(pages_copy / "README.md", "probe")
    assert readme_figures.main(["--check", "--root", str(pages_copy)]) == 0


def test_record_names_the_runs_when_given_an_unknown_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert readme_figures.main(["record", "no-such-run"]) == 2
    assert "probe" in capsys.readouterr().err
