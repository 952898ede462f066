"""A run stands on its own: its report is a function of its results.json, with or without the checkout beside it.

The committed run tests/fixtures/results/standalone.json, as the runner wrote it (`flasklab run --profile quick
--servers dev-single,gunicorn-sync --scenarios hello,io --slo-p95-ms 250`), is rendered by `flasklab report` twice:
from the checkout, and from an empty folder with the lab's root pointing at a folder that holds only the page's
templates (no docker-compose.yml, no locustfiles/, no .env). The two pages say the same. The same run without its
record (as a version 2 file) is the control: there the checkout's absence shows.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, get_args

import pytest

from flasklab.core.catalog import SERVER_KINDS, WORK_KINDS, CatalogError, load_scenarios, load_servers
from flasklab.core.claims import run_claims
from flasklab.core.reload_claims import RELOAD_CLAIMS
from flasklab.core.results import ServerKind, WorkKind, load_results
from flasklab.views.report import REPORT_FILE, io_scenarios, render_report

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "results" / "standalone.json"
LITTLES_LAW = "Efficiency vs Little's law"
RECORD = ("slo_p95_ms", "scenario_declarations", "server_entries", "claim_definitions")


class PageText(HTMLParser):
    """What a page says: its text and its charts' data, without its styles and its chart library."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "style" or (tag == "script" and ("class", "figure") not in attrs):
            self.skipping += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script") and self.skipping:
            self.skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def page_text(html: str) -> str:
    parser = PageText()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def run_folder(parent: Path, name: str, document: dict[str, Any]) -> Path:
    folder = parent / name
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(document))
    return folder


def without_record(document: dict[str, Any]) -> dict[str, Any]:
    """The run as a version 2 file: the same measurements, nothing of what it now records when it begins."""
    meta = {key: value for key, value in document["meta"].items() if key not in RECORD}
    return {**document, "schema_version": 2, "meta": meta}


@pytest.fixture
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(FIXTURE.read_text())
    return loaded


@pytest.fixture
def no_checkout(tmp_path: Path) -> Path:
    """A lab root with the page's templates and nothing of the lab: no catalog, no locustfiles, no .env."""
    lab = tmp_path / "no-checkout"
    shutil.copytree(ROOT / "dashboards", lab / "dashboards")
    with pytest.raises(CatalogError):
        load_servers(lab)
    assert load_scenarios(lab) == {}
    return lab


def report(run_dir: Path, *options: str, lab: Path | None = None) -> str:
    """`flasklab report DIR` in a new process: from the checkout, or (``lab``) from a folder away from it with the
    lab's root at ``lab``; the page it wrote."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith("LAB_")}
    if lab is not None:
        environment["LAB_ROOT"] = str(lab)
    done = subprocess.run(
        [sys.executable, "-m", "flasklab", "report", str(run_dir), *options],
        cwd=run_dir.parent if lab is not None else ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return (run_dir / REPORT_FILE).read_text(encoding="utf-8")


@pytest.mark.real
def test_the_report_needs_nothing_but_results_json(tmp_path: Path, no_checkout: Path, document: dict[str, Any]) -> None:
    with_checkout = page_text(report(run_folder(tmp_path / "a", "run", document)))
    standalone = page_text(report(run_folder(tmp_path / "b", "run", document), lab=no_checkout))
    assert standalone == with_checkout
    assert LITTLES_LAW in standalone  # io declared blocking I/O: the run's record says so, not locustfiles/
    assert "SLO 250 ms (the one the run was made with)" in standalone and "at most 250 ms (the SLO" in standalone
    assert "The dotted line is the SLO (p95 250 ms)" in standalone
    for claim in document["claims"]:
        assert claim["text"] in standalone


@pytest.mark.real
def test_without_its_record_a_run_falls_back_on_the_checkout(
    tmp_path: Path, no_checkout: Path, document: dict[str, Any]
) -> None:
    """The control: the same run as a version 2 file has its Little's law table only where locustfiles/ are."""
    older = without_record(document)
    with_checkout = page_text(report(run_folder(tmp_path / "a", "run", older)))
    standalone = page_text(report(run_folder(tmp_path / "b", "run", older), lab=no_checkout))
    assert LITTLES_LAW in with_checkout and LITTLES_LAW not in standalone
    unrecorded = "SLO 500 ms (the default: this run's results.json does not record the one it was made with)"
    assert unrecorded in with_checkout and unrecorded in standalone


@pytest.mark.real
def test_an_slo_given_to_the_report_overrides_the_runs_and_says_so(tmp_path: Path, document: dict[str, Any]) -> None:
    run_dir = run_folder(tmp_path, "run", document)
    overridden = page_text(report(run_dir, "--slo-p95-ms", "300"))
    assert "SLO 300 ms (overriding the run's 250 ms)" in overridden and "at most 300 ms (the SLO" in overridden
    assert "The dotted line is the SLO (p95 300 ms)" in overridden
    same = page_text(report(run_dir, "--slo-p95-ms", "250"))
    assert "SLO 250 ms (the one the run was made with)" in same and "overriding" not in same


def test_the_views_read_the_record_not_the_checkout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, no_checkout: Path
) -> None:
    """In this process too: the I/O scenarios, the claims' wording and the SLO come from results.json."""
    results = load_results(FIXTURE)
    monkeypatch.setenv("LAB_ROOT", str(no_checkout))
    monkeypatch.chdir(tmp_path)
    assert io_scenarios(results) == ["io"]
    worded = [(claim.claim, claim.text) for claim in run_claims(results)]
    recorded = [(claim.claim, claim.text) for claim in results.claims]
    assert worded[: len(recorded)] == recorded  # the claims defined since (the reloads') follow, not run
    assert [name for name, _ in worded[len(recorded) :]] == [claim.claim for claim in RELOAD_CLAIMS]
    assert "The dev server with processes=3 serves 3 at once" in dict(worded).values()  # dev-processes: not in the run
    assert "SLO 250 ms (the one the run was made with)" in render_report(results, with_chart_library=False)


def test_the_recorded_kinds_are_the_catalogs() -> None:
    assert get_args(WorkKind) == WORK_KINDS and get_args(ServerKind) == SERVER_KINDS
