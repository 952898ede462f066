"""Every measured figure of the README is its committed run's: scripts/readme-figures --check finds no difference.

The figures sit between ``<!-- figures:NAME -->`` markers and are rebuilt from docs/runs/ by
benchmarks/readme_figures.py; a README edited by hand, or a run replaced without rebuilding the README, fails here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import readme_figures

README = readme_figures.README


def test_the_readme_figures_are_those_of_their_runs(capsys: pytest.CaptureFixture[str]) -> None:
    code = readme_figures.main(["--check"])
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err


@pytest.mark.parametrize("name", sorted(readme_figures.RUNS))
def test_every_declared_run_is_committed_and_loads(name: str) -> None:
    run = readme_figures.RUNS[name]
    assert run.path.is_file(), f"{run.path} missing: scripts/readme-figures record {name}"
    if not run.bench:
        assert readme_figures.results(name).meta.status == "complete"


def first_figure(text: str) -> tuple[int, int]:
    """Where the first figure's body starts and ends in the README's text."""
    found = readme_figures.MARKER.search(text)
    assert found is not None, "the README has no figure markers"
    return found.start("body"), found.end("body")


def test_check_exits_1_with_a_diff_when_a_figure_was_edited(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = README.read_text()
    start, end = first_figure(text)
    edited = tmp_path / "README.md"
    edited.write_text(text[:start] + "\n| a figure typed by hand | 42 |\n" + text[end:])
    assert readme_figures.main(["--check", "--readme", str(edited)]) == 1
    out = capsys.readouterr().out
    assert "-| a figure typed by hand | 42 |" in out and "+++ from docs/runs" in out
    # without --check it rewrites the figure from its run, and the check passes again
    assert readme_figures.main(["--readme", str(edited)]) == 0
    assert edited.read_text() == text
    assert readme_figures.main(["--check", "--readme", str(edited)]) == 0


def test_a_marker_naming_no_figure_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edited = tmp_path / "README.md"
    edited.write_text(README.read_text() + "\n<!-- figures:no-such-figure -->1<!-- /figures:no-such-figure -->\n")
    assert readme_figures.main(["--check", "--readme", str(edited)]) == 2
    assert "no-such-figure" in capsys.readouterr().err


def test_a_figure_whose_marker_was_removed_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = README.read_text()
    found = readme_figures.MARKER.search(text)
    assert found is not None
    edited = tmp_path / "README.md"
    edited.write_text(text[: found.start()] + text[found.end() :])
    assert readme_figures.main(["--check", "--readme", str(edited)]) == 1
    assert found["name"] in capsys.readouterr().err


def test_record_names_the_runs_when_given_an_unknown_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert readme_figures.main(["record", "no-such-run"]) == 2
    assert "probe" in capsys.readouterr().err
