"""steps.csv: every step of a run as one flat table, for people who want their own spreadsheet.

A pure function of results.json. The step columns follow the Step model, so a field added there is exported too.
Values are written as results.json holds them (full float precision, true/false); a missing value is an empty cell.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from flasklab.results import Results, Step, Target, atomic_write, load_results

CSV_FILE = "steps.csv"
TARGET_COLUMNS = ("run_id", "server", "scenario", "target_status", "concurrency", "params")
STEP_COLUMNS = tuple(Step.model_fields)
COLUMNS = TARGET_COLUMNS + STEP_COLUMNS

Cell = str | int | float


def cell(value: object) -> Cell:
    """A CSV cell: empty for None, true/false as in JSON, compact JSON for errors by kind (a kind may hold any text)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False) if value else ""
    if isinstance(value, int | float | str):
        return value
    raise TypeError(f"no CSV form for {type(value).__name__}")


def params_text(params: dict[str, int]) -> str:
    """ms=100;size=4096: scenario parameters are names and integers, so no quoting is needed."""
    return ";".join(f"{name}={value}" for name, value in params.items())


def step_row(run_id: str, target: Target, step: Step) -> list[Cell]:
    concurrency = "" if target.concurrency is None else target.concurrency  # empty: unbounded
    head: list[Cell] = [run_id, target.server, target.scenario, target.status, concurrency, params_text(target.params)]
    return head + [cell(getattr(step, name)) for name in STEP_COLUMNS]


def steps_csv(results: Results) -> str:
    """One header line, then one line per measured step in results.json order (a target without steps has none)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")  # as the rest of a Unix pipe expects; spreadsheets read it too
    writer.writerow(COLUMNS)
    for target in results.targets:
        writer.writerows(step_row(results.meta.run_id, target, step) for step in target.steps)
    return buffer.getvalue()


def write_csv(run_dir: Path) -> Path:
    """Write DIR/steps.csv from DIR/results.json atomically; ResultsError when that file is missing or corrupt."""
    results = load_results(run_dir)
    directory = run_dir if run_dir.is_dir() else run_dir.parent
    return atomic_write(directory / CSV_FILE, steps_csv(results))
