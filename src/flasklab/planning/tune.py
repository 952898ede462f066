"""flasklab tune: one server measured at several worker (thread, connection) counts, under the same budget.

A server's worker count is a setting of the catalog (a ``${VARIABLE:-default}`` in its compose command, from
``.env``, which the catalog reads as the server's ``worker_settings``): gunicorn-sync's ``GUNICORN_SYNC_WORKERS``,
gthread's ``GUNICORN_GTHREAD_THREADS`` and so on. Tuning runs
the same sweep once per value of one such variable, each into its own run folder (``DIR/VARIABLE=value/``, a normal
run: report, compare and plan read it), and writes ``DIR/tune.json``: per value, the configured concurrency, the
peak and the capacity within the objective (as the analysis module defines them) and the server's memory, plus the
memory each added unit costs (a least-squares slope over the values). The planner reads it to choose the worker
count per instance (``flasklab plan --from DIR``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from rich.table import Table

from flasklab.core.analysis import analyse
from flasklab.core.catalog import COMPOSE_FILE, CatalogError, Scenario, load_servers
from flasklab.core.results import Results, atomic_write
from flasklab.core.settings import Profile
from flasklab.core.sweep import Sweep

TUNE_FILE = "tune.json"
DEFAULT_FACTORS = (0.5, 1, 2, 4)  # of the configured value: gunicorn-sync's 4 workers gives 2, 4, 8, 16
MAX_VALUE = 1024


class TuneError(ValueError):
    """A server or a setting that cannot be tuned; the message names the valid choices."""


class TunePoint(BaseModel):
    """One value of the setting: its run and what the analysis made of it."""

    model_config = ConfigDict(extra="forbid")

    value: int
    run_dir: str
    concurrency: int | None
    status: str
    peak_rps: float | None = None
    capacity_rps: float | None = Field(default=None, description="highest usable rps with p95 within the objective")
    capacity_p95_ms: float | None = None
    memory_mb: float | None = Field(
        default=None,
        description="server memory at the capacity (else peak) step; with neither, at the highest load measured (a "
        "flagged step's memory is still the server's: the generator or a thin sample decides its rps, not its memory)",
    )
    error: str | None = None


class Tuning(BaseModel):
    """DIR/tune.json: a server's capacity and memory at each value of one worker setting."""

    model_config = ConfigDict(extra="forbid")

    server: str
    scenario: str
    setting: str
    configured: int = Field(description="the setting's value in .env / the environment")
    slo_p95_ms: float
    budget: dict[str, str]
    points: list[TunePoint] = Field(default_factory=list)
    memory_per_unit_mb: float | None = Field(
        default=None, description="memory each added unit of the setting costs (least-squares slope)"
    )


def choose_setting(
    root: Path, server: str, variable: str | None, values: tuple[int, ...]
) -> tuple[str, list[int], int]:
    """The variable to tune, its values and its configured value: the only (or named) setting, and by default
    0.5x to 4x its value."""
    servers = load_servers(root)
    settings = servers[server].worker_settings if server in servers else {}
    if not settings:
        raise TuneError(f"{server} has no worker setting in {COMPOSE_FILE} (no ${{VARIABLE:-N}} in its command)")
    if variable is None:
        if len(settings) > 1:
            raise TuneError(f"{server} has several settings: name one with --setting ({', '.join(settings)})")
        variable = next(iter(settings))
    if variable not in settings:
        raise TuneError(f"{server} has no setting {variable!r}; valid: {', '.join(settings)}")
    if not values:
        values = tuple(max(1, round(settings[variable] * factor)) for factor in DEFAULT_FACTORS)
    if any(not 1 <= value <= MAX_VALUE for value in values):
        raise TuneError(f"values of {variable} must be between 1 and {MAX_VALUE}: {', '.join(map(str, values))}")
    return variable, sorted(set(values)), settings[variable]


@contextmanager
def setting(variable: str, value: int) -> Iterator[None]:
    """The environment with ``variable`` set (Compose and the catalog read it), restored afterwards."""
    before = os.environ.get(variable)
    os.environ[variable] = str(value)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = before


def measured_point(value: int, run_dir: Path, results: Results, slo_p95_ms: float) -> TunePoint:
    """What one value's run measured: its peak and capacity by the analysis module, and the memory at the latter."""
    target = results.targets[0] if results.targets else None
    if target is None or target.status != "ok":
        error = target.error if target else "no target was measured"
        return TunePoint(value=value, run_dir=run_dir.name, concurrency=None, status="failed", error=error)
    analysis = analyse(target, results.meta)
    peak, capacity = analysis.peak, analysis.capacity(slo_p95_ms)
    measured = [step for step in target.steps if step.server_rss_mb is not None]
    basis = capacity or peak or max(measured, key=lambda step: step.load, default=None)
    return TunePoint(
        value=value,
        run_dir=run_dir.name,
        concurrency=target.concurrency,
        status=target.status,
        peak_rps=peak.rps if peak else None,
        capacity_rps=capacity.rps if capacity else None,
        capacity_p95_ms=capacity.p95_ms if capacity else None,
        memory_mb=basis.server_rss_mb if basis else None,
    )


def memory_slope(points: list[TunePoint]) -> float | None:
    """Least-squares slope of memory over the setting's values (MiB per unit), from two measured points or more."""
    pairs = [(float(p.value), p.memory_mb) for p in points if p.memory_mb is not None]
    if len({x for x, _ in pairs}) < 2:
        return None
    mean_x = sum(x for x, _ in pairs) / len(pairs)
    mean_y = sum(y for _, y in pairs) / len(pairs)
    spread = sum((x - mean_x) ** 2 for x, _ in pairs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in pairs) / spread
    return round(slope, 2) if math.isfinite(slope) else None


def tune_server(
    root: Path,
    tuning: Tuning,
    values: list[int],
    scenario: Scenario,
    profile: Profile,
    folder: Path,
    measure: Callable[[Sweep], Results],
) -> Tuning:
    """Each value in turn: the server, as the catalog gives it with the setting at that value, measured by
    ``measure`` into DIR/VARIABLE=value/; DIR/tune.json rewritten after each, so an interrupted tuning keeps its
    points."""
    for value in values:
        with setting(tuning.setting, value):  # Compose and the catalog read it while the server runs
            server = load_servers(root)[tuning.server]
            run_dir = folder / f"{tuning.setting}={value}"
            results = measure(Sweep(servers=[server], scenarios=[scenario], profile=profile, out=run_dir, probe=False))
        tuning.budget = results.meta.budget
        tuning.points.append(measured_point(value, run_dir, results, tuning.slo_p95_ms))
        write_tuning(tuning, folder)
    return tuning


def write_tuning(tuning: Tuning, folder: Path) -> Path:
    tuning.memory_per_unit_mb = memory_slope(tuning.points)
    folder.mkdir(parents=True, exist_ok=True)
    return atomic_write(folder / TUNE_FILE, tuning.model_dump_json(indent=2))


def load_tuning(folder: Path) -> Tuning | None:
    """DIR/tune.json when DIR is a tuning folder, else None."""
    path = folder / TUNE_FILE
    if not path.is_file():
        return None
    try:
        return Tuning.model_validate_json(path.read_text())
    except ValueError as error:
        raise CatalogError(f"{path}: not a flasklab tune.json ({error})") from error


def tuning_table(tuning: Tuning) -> Table:
    """One row per value: configured concurrency, peak, capacity within the objective and its p95, memory."""
    table = Table(
        title=f"{tuning.server} · {tuning.scenario}: {tuning.setting} (p95 objective {tuning.slo_p95_ms:g} ms)"
    )
    for column in ("value", "concurrency", "peak rps", "capacity rps", "p95 ms", "memory MiB"):
        table.add_column(column, justify="right")
    for point in tuning.points:
        marker = " (configured)" if point.value == tuning.configured else ""
        if point.status != "ok":
            table.add_row(f"{point.value}{marker}", "", f"[red]{point.status}: {point.error or ''}[/]", "", "", "")
            continue
        table.add_row(
            f"{point.value}{marker}",
            "unbounded" if point.concurrency is None else str(point.concurrency),
            _figure(point.peak_rps),
            _figure(point.capacity_rps) if point.capacity_rps is not None else "none within",
            _figure(point.capacity_p95_ms),
            _figure(point.memory_mb),
        )
    if tuning.memory_per_unit_mb is not None:
        table.caption = f"each added unit of {tuning.setting} costs {tuning.memory_per_unit_mb:g} MiB (least squares)"
    return table


def _figure(value: float | None) -> str:
    return "" if value is None else f"{value:,.1f}" if value < 100 else f"{value:,.0f}"
