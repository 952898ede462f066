"""results.json: the one record of a run, written atomically after every step.

Everything downstream (summary, report, compare, plan) is a function of this file. Its JSON Schema is generated
from these models into schemas/results.schema.json (a test keeps the two equal).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from flasklab.core.run_record import (
    Claim,
    ClaimDefinition,
    Estimate,
    Meta,
    ProbeRequest,
    ProbeResult,
    Results,
    ScenarioDeclaration,
    ServerEntry,
    ServerKind,
    Target,
    TargetStatus,
    Verdict,
    WorkKind,
)
from flasklab.core.settings import DEFAULT_SLO_P95_MS
from flasklab.core.step_record import Record, Spread, Step

__all__ = [  # the records live in step_record and run_record; every caller imports them from here
    "READABLE_VERSIONS",
    "RESULTS_FILE",
    "SCHEMA_VERSION",
    "Claim",
    "ClaimDefinition",
    "Estimate",
    "Meta",
    "Objective",
    "ProbeRequest",
    "ProbeResult",
    "Record",
    "Results",
    "ResultsError",
    "ScenarioDeclaration",
    "ServerEntry",
    "ServerKind",
    "Spread",
    "Step",
    "Target",
    "TargetStatus",
    "Verdict",
    "WorkKind",
    "atomic_write",
    "json_schema",
    "load_results",
    "now",
    "objective",
    "write_results",
]

SCHEMA_VERSION = 3
# Versions 1 (before the analysis fields) and 2 (before a run recorded its SLO, its scenarios' declarations, its
# servers' catalog entries and its claims' definitions) still load: their new fields take their defaults, and the views
# say when they fall back on the checkout or the default for them. A field added later with a default (a file written
# before it simply lacks it) keeps the version.
READABLE_VERSIONS = (1, 2, 3)
RESULTS_FILE = "results.json"


@dataclass(frozen=True)
class Objective:
    """The p95 latency objective a view judges a run by, and whose it is: the run's own (recorded when it was made),
    one given to the view instead, or the default for a file that did not record one."""

    p95_ms: float
    recorded_ms: float | None  # the run's own; None: a file from before runs recorded it

    @property
    def overriding(self) -> bool:
        return self.recorded_ms is not None and self.p95_ms != self.recorded_ms

    @property
    def whose(self) -> str:
        """'overriding the run's 500 ms', 'the one the run was made with', ..."""
        if self.recorded_ms is None:
            given = "the default" if self.p95_ms == DEFAULT_SLO_P95_MS else "given"
            return f"{given}: this run's results.json does not record the one it was made with"
        if self.overriding:
            return f"overriding the run's {self.recorded_ms:,g} ms"
        return "the one the run was made with"

    @property
    def text(self) -> str:
        """'SLO 300 ms (overriding the run's 500 ms)'."""
        return f"SLO {self.p95_ms:,g} ms ({self.whose})"


def objective(meta: Meta, override: float | None = None) -> Objective:
    """The SLO of a view of the run: ``override`` when given, else the run's own, else (older files) the default."""
    recorded = meta.slo_p95_ms
    chosen = override if override is not None else recorded if recorded is not None else DEFAULT_SLO_P95_MS
    if not chosen > 0:
        raise ValueError(f"the p95 SLO must be a positive number of milliseconds, not {chosen!r}")
    return Objective(chosen, recorded)


class ResultsError(ValueError):
    """A results file that is missing, unreadable or not a flasklab results.json."""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def atomic_write(path: Path, text: str) -> Path:
    """Write ``path`` atomically: a temp file in the same folder, fsync, then a rename over the old one.

    A reader (or an interrupted run) sees the old file or the new one, never half of one.
    """
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)  # run files are meant to be shared (mkstemp makes them private)
        os.replace(temporary, path)
    except OSError as error:  # a full disk says which file it could not write; the old one is left whole
        Path(temporary).unlink(missing_ok=True)
        raise OSError(error.errno, f"cannot write {path.name}: {error.strerror or error}", str(path)) from error
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def write_results(results: Results, directory: Path) -> Path:
    """Write DIR/results.json atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    return atomic_write(directory / RESULTS_FILE, results.model_dump_json(indent=2))


def load_results(location: Path) -> Results:
    """Read a run folder (or a results.json path), with an error that says what is wrong."""
    path = location / RESULTS_FILE if location.is_dir() else location
    if not path.is_file():
        raise ResultsError(f"{location}: no {RESULTS_FILE} here (pass a run folder written by `flasklab run`)")
    try:
        document = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ResultsError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(document, dict) or document.get("schema_version") not in READABLE_VERSIONS:
        found = document.get("schema_version") if isinstance(document, dict) else type(document).__name__
        expected = " or ".join(map(str, READABLE_VERSIONS))
        raise ResultsError(f"{path}: not a flasklab results file (schema_version {found!r}, expected {expected})")
    try:
        return Results.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ResultsError(f"{path}: invalid at {where}: {first['msg']} ({error.error_count()} problem(s))") from error


def json_schema() -> dict[str, object]:
    schema = Results.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "flasklab results.json"
    return schema
