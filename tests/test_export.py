"""steps.csv from a real quick run (a real server, real Locust) and from a committed --rounds run, read back as a
spreadsheet would."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import BaseModel

from flasklab.cli import main
from flasklab.core.analysis import analyse, assess, limits
from flasklab.core.results import Results, ResultsError, Spread, Step, Target, load_results
from flasklab.core.step_record import Reload
from flasklab.views.export import COLUMNS, CSV_FILE, STEP_COLUMNS, steps_csv, write_csv
from tests.conftest import QUICK_RUN_SCENARIOS, QUICK_RUN_SERVERS
from tests.helpers import flasklab

ROOT = Path(__file__).resolve().parents[1]
ROUNDS_FIXTURE = ROOT / "tests" / "fixtures" / "export" / "rounds.json"  # 2 rounds, the second one interrupted
SERVERS, SCENARIOS = QUICK_RUN_SERVERS, QUICK_RUN_SCENARIOS


@pytest.fixture(scope="module")
def run_dir(quick_run_copy: Path) -> Path:
    """The shared real quick run."""
    return quick_run_copy


@pytest.fixture(scope="module")
def results(run_dir: Path) -> Results:
    return load_results(run_dir)


def read_back(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def expected_cell(value: object) -> str:
    """What a cell holds for a value of results.json (floats at full precision, so they read back equal)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":")) if value else ""
    if isinstance(value, list):  # a timeline's slices, a backlog path, the versions served after a reload
        items = [item.model_dump() if isinstance(item, BaseModel) else item for item in value]
        return json.dumps(items, separators=(",", ":")) if items else ""
    return str(value)


def expected_step_cells(step: Step) -> dict[str, str]:
    """Every step column's cell: a Step field, or one field of its spread or its reload (``spread_rps_median``...)."""
    cells = {name: expected_cell(getattr(step, name)) for name in Step.model_fields if name not in ("spread", "reload")}
    for name in Spread.model_fields:
        cells[f"spread_{name}"] = expected_cell(getattr(step.spread, name) if step.spread else None)
    for name in Reload.model_fields:
        cells[f"reload_{name}"] = expected_cell(getattr(step.reload, name) if step.reload else None)
    return cells


def test_every_step_is_a_row_with_the_values_of_results_json(results: Results) -> None:
    rows = read_back(steps_csv(results))
    pairs = [(target, step) for target in results.targets for step in target.steps]
    assert len(rows) == len(pairs) == len(SERVERS) * len(SCENARIOS) * len(results.meta.steps)
    assert list(rows[0]) == list(COLUMNS)
    assert set(expected_step_cells(pairs[0][1])) == set(STEP_COLUMNS), "every Step field is a column"
    for row, (target, step) in zip(rows, pairs, strict=True):
        assert row["run_id"] == results.meta.run_id
        assert (row["server"], row["scenario"], row["target_status"]) == (target.server, target.scenario, "ok")
        assert row["concurrency"] == str(target.concurrency) and row["round"] == ""
        assert row["params"] == ";".join(f"{k}={v}" for k, v in target.params.items())
        for name, value in expected_step_cells(step).items():
            assert row[name] == value, name
        assert float(row["rps"]) == step.rps and int(row["requests"]) == step.requests
        standing = analyse(target, results.meta).standing(step)  # what the report and the terminal show
        assert (row["counts"], row["cause"]) == ("true" if standing.usable else "false", standing.causes)
    assert {row["params"] for row in rows if row["scenario"] == "io"} == {"ms=100"}


def test_unbounded_concurrency_missing_values_and_odd_error_names_survive(results: Results) -> None:
    target = results.targets[0]
    errors = {'HTTP 504: "gateway", timeout; retry=no': 3, "ConnectionResetError": 1}
    steps = [step.model_copy(update={"errors": errors, "p95_low_ms": None}) for step in target.steps]
    odd = target.model_copy(update={"concurrency": None, "steps": steps})
    rows = read_back(steps_csv(results.model_copy(update={"targets": [odd]})))
    assert len(rows) == len(steps)
    for row in rows:
        assert row["concurrency"] == "" and row["p95_low_ms"] == ""
        assert json.loads(row["errors"]) == errors


def test_a_run_without_steps_is_a_header_only(results: Results) -> None:
    failed = results.targets[0].model_copy(update={"status": "failed", "steps": []})
    assert steps_csv(results.model_copy(update={"targets": [failed]})).splitlines() == [",".join(COLUMNS)]


def test_write_csv_writes_dir_steps_csv_atomically(run_dir: Path, results: Results) -> None:
    path = write_csv(run_dir)
    assert path == run_dir / CSV_FILE
    assert path.read_text(encoding="utf-8") == steps_csv(results)
    assert write_csv(run_dir / "results.json") == path
    assert [p.name for p in run_dir.iterdir() if p.name.startswith(f".{CSV_FILE}.")] == []


@pytest.mark.real
def test_export_command_writes_or_prints_the_csv(run_dir: Path, results: Results) -> None:
    (run_dir / CSV_FILE).unlink(missing_ok=True)
    written = flasklab("export", str(run_dir))
    assert written.returncode == 0, written.stderr
    assert written.stdout.strip() == str(run_dir / CSV_FILE) and (run_dir / CSV_FILE).is_file()
    printed = flasklab("export", str(run_dir), "--stdout")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == steps_csv(results)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no results.json"),
        ("{oops", "not valid JSON"),
        ("[1, 2, 3]", "not a flasklab results file"),
        ('{"schema_version": 1, "meta": {}}', "invalid at meta"),
    ],
)
@pytest.mark.parametrize("to_stdout", [False, True])
def test_export_of_a_missing_or_corrupt_run_exits_2(
    tmp_path: Path, content: str | None, message: str, to_stdout: bool
) -> None:
    if content is not None:
        (tmp_path / "results.json").write_text(content)
    result = CliRunner().invoke(main, ["export", str(tmp_path), *(["--stdout"] if to_stdout else [])])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)  # a message, not a traceback
    assert message in result.stderr and "Invalid value for DIR" in result.stderr
    assert result.stdout == "" and not (tmp_path / CSV_FILE).exists()
    with pytest.raises(ResultsError, match=message):
        write_csv(tmp_path)


@pytest.fixture
def rounds_run(tmp_path: Path) -> Path:
    """A copy of the committed --rounds run, so that exporting it writes beside a copy."""
    run_dir = tmp_path / "rounds"
    run_dir.mkdir()
    (run_dir / "results.json").write_text(ROUNDS_FIXTURE.read_text())
    return run_dir


def test_a_rounds_run_exports_its_steps_and_each_rounds_own(rounds_run: Path) -> None:
    results = load_results(rounds_run)
    assert results.meta.rounds == 2 and all(target.rounds for target in results.targets)
    rows = read_back(steps_csv(results))
    expected: list[tuple[Target, str, Step]] = []  # per target: the run's own steps, then each round's
    for target in results.targets:
        expected += [(target, "", step) for step in target.steps]
        for number, steps in enumerate(target.rounds, start=1):
            expected += [(target, str(number), step) for step in steps]
    assert len(rows) == len(expected) == 3 + 3 + 3 + 3 + 3 + 2
    for row, (target, round_number, step) in zip(rows, expected, strict=True):
        assert (row["server"], row["scenario"], row["round"]) == (target.server, target.scenario, round_number)
        standing = assess(step, limits(target, results.meta))  # a round's own step: by the same rules
        assert row["counts"] == ("true" if standing.usable else "false") and row["cause"] == standing.causes
        for name, value in expected_step_cells(step).items():
            assert row[name] == value, name
    combined = [row for row in rows if row["round"] == "" and row["spread_rounds"]]
    assert len(combined) == 5  # the interrupted round's last load level was measured once: no spread there
    for row in combined:
        assert float(row["spread_rps_min"]) <= float(row["rps"]) <= float(row["spread_rps_max"])
    assert all(row["spread_rounds"] == "" for row in rows if row["round"])


def test_export_command_on_a_rounds_run(rounds_run: Path) -> None:
    written = CliRunner().invoke(main, ["export", str(rounds_run)])
    assert written.exit_code == 0, written.output
    assert (rounds_run / CSV_FILE).read_text(encoding="utf-8") == steps_csv(load_results(rounds_run))
