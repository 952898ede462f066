"""steps.csv: every step of a run as one flat table, for people who want their own spreadsheet.

A pure function of results.json. The step columns follow the Step model, so a field added there is exported too; a
nested record (the rounds' ``spread``, a deploy's ``reload``) becomes one column per field (``spread_rps_median``,
``reload_failures_after``, ...), and a list one cell of compact JSON (a window's ``timeline``). Values are written as
results.json holds them (full float precision, true/false); a missing value is an empty cell.

The ``round`` column is empty on the run's own steps (one row per load level, as the views show them: with
``--rounds N`` those combine the rounds, with their spread) and 1 to N on each round's own steps, which follow.
Filtering on an empty ``round`` gives the run's figures, whatever the number of rounds.

``counts`` and ``cause`` carry the step's standing as flasklab.core.analysis decides it (what the report and the
terminal show): ``counts`` is true for a usable step (in the peak, capacity and knee), false for a flagged one, whose
causes ``cause`` joins ("generator-bound: ...; failures ..."). A round's own step is judged by the same rules.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from pydantic import BaseModel

from flasklab.core.analysis import Limits, assess, limits
from flasklab.core.results import Results, Spread, Step, Target, atomic_write, load_results
from flasklab.core.step_record import Reload

CSV_FILE = "steps.csv"
TARGET_COLUMNS = ("run_id", "server", "scenario", "target_status", "concurrency", "params", "round")
STANDING_COLUMNS = ("counts", "cause")  # flasklab.core.analysis's verdict on the step
# Step fields that hold a record of their own, flattened into one column per field of that record.
NESTED: dict[str, type[BaseModel]] = {"spread": Spread, "reload": Reload}
STEP_COLUMNS = tuple(
    column
    for name in Step.model_fields
    for column in ([f"{name}_{inner}" for inner in NESTED[name].model_fields] if name in NESTED else [name])
)
COLUMNS = TARGET_COLUMNS + STANDING_COLUMNS + STEP_COLUMNS

Cell = str | int | float


def cell(value: object) -> Cell:
    """A CSV cell: empty for None, true/false as in JSON, compact JSON for errors by kind (a kind may hold any text)
    and for lists (an open model's backlog path, a window's timeline: its one-second slices as objects)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        items = [item.model_dump() if isinstance(item, BaseModel) else item for item in value]
        return json.dumps(items, separators=(",", ":"), ensure_ascii=False) if items else ""
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False) if value else ""
    if isinstance(value, int | float | str):
        return value
    raise TypeError(f"no CSV form for {type(value).__name__}")


def step_cells(step: Step) -> list[Cell]:
    """The step's values in STEP_COLUMNS order; a nested record that is absent is a row of empty cells."""
    cells: list[Cell] = []
    for name in Step.model_fields:
        value = getattr(step, name)
        if name in NESTED:
            fields = NESTED[name].model_fields
            cells.extend(cell(getattr(value, inner) if value is not None else None) for inner in fields)
        else:
            cells.append(cell(value))
    return cells


def params_text(params: dict[str, int]) -> str:
    """ms=100;size=4096: scenario parameters are names and integers, so no quoting is needed."""
    return ";".join(f"{name}={value}" for name, value in params.items())


def standing_cells(step: Step, server: Limits) -> list[Cell]:
    """Does the step count (true/false), and if not, why (its flags' causes joined; empty when it counts)."""
    standing = assess(step, server)
    return [cell(standing.usable), standing.causes]


def step_row(run_id: str, target: Target, step: Step, server: Limits, round_number: int | None = None) -> list[Cell]:
    """One line: the target's columns, the round (None: the run's own step), its standing, then the step's."""
    concurrency = "" if target.concurrency is None else target.concurrency  # empty: unbounded
    head: list[Cell] = [run_id, target.server, target.scenario, target.status, concurrency, params_text(target.params)]
    return [*head, cell(round_number), *standing_cells(step, server), *step_cells(step)]


def target_rows(results: Results, target: Target) -> list[list[Cell]]:
    """The target's own steps, then each round's steps numbered from 1."""
    run_id, server = results.meta.run_id, limits(target, results.meta)
    rows = [step_row(run_id, target, step, server) for step in target.steps]
    for number, steps in enumerate(target.rounds, start=1):
        rows.extend(step_row(run_id, target, step, server, number) for step in steps)
    return rows


def steps_csv(results: Results) -> str:
    """One header line, then each target's rows in results.json order (a target without steps has none)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")  # as the rest of a Unix pipe expects; spreadsheets read it too
    writer.writerow(COLUMNS)
    for target in results.targets:
        writer.writerows(target_rows(results, target))
    return buffer.getvalue()


def write_csv(run_dir: Path) -> Path:
    """Write DIR/steps.csv from DIR/results.json atomically; ResultsError when that file is missing or corrupt."""
    results = load_results(run_dir)
    directory = run_dir if run_dir.is_dir() else run_dir.parent
    return atomic_write(directory / CSV_FILE, steps_csv(results))
