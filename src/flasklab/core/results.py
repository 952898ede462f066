"""results.json: the one record of a run, written atomically after every step.

Everything downstream (summary, report, compare, plan) is a function of this file. Its JSON Schema is generated
from these models into schemas/results.schema.json (a test keeps the two equal).
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

SCHEMA_VERSION = 2
# Version 1 (before the analysis fields) still loads: its new fields take their defaults. A field added later with a
# default (a version 2 file written before it simply lacks it) keeps the version.
READABLE_VERSIONS = (1, 2)
RESULTS_FILE = "results.json"

TargetStatus = Literal["ok", "failed", "skipped", "running"]
Verdict = Literal["confirmed", "refuted", "not-run"]


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Spread(Record):
    """One step's figures across the rounds of a run (``--rounds N``): median, min and max.

    Min to max is the rounds' range, not a 95 % interval: it holds their median with probability 1 - 2 * 0.5**k
    only (50 % for 2 rounds, 75 % for 3). From 6 rounds on, two order statistics give a 95 % interval of it.
    """

    rounds: int = Field(ge=2)
    rps_median: float
    rps_min: float
    rps_max: float
    p95_median_ms: float | None
    p95_min_ms: float | None
    p95_max_ms: float | None
    rps_low: float | None = Field(
        default=None,
        description="95 % interval of the rounds' median rps: two of the rounds' values at exact binomial ranks "
        "(flasklab.core.intervals); from 6 rounds on, null below (and in runs before it: the range is all there is)",
    )
    rps_high: float | None = None
    p95_low_ms: float | None = Field(default=None, description="the same for the rounds' p95")
    p95_high_ms: float | None = None


class Step(Record):
    """One measurement window at a fixed load (the warm-up before it is discarded).

    The load is a number of closed-loop users, or in the open model an offered rate (``offered_rps``); there
    ``users`` is the most requests the generator held open at once in the window.
    """

    users: int = Field(ge=0)
    offered_rps: float | None = Field(default=None, description="open model: requests due per second")
    backlog: int | None = Field(default=None, description="open model: requests due but unanswered at the window's end")
    duration_s: float = Field(gt=0, description="length of the measurement window")
    requests: int = Field(ge=0, description="requests completed inside the window")
    failures: int = Field(ge=0, description="of those, failed ones (errors, timeouts, HTTP >= 400)")
    rps: float = Field(ge=0, description="completions inside the window / its length")
    p50_ms: float | None = Field(
        description="exact (nearest-rank) percentiles of the window's successful completions (failures are counted "
        "apart, in failures); schema version 1: of every completion"
    )
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    mean_ms: float | None = None
    rps_low: float | None = Field(
        default=None,
        description="t-interval of rps over the window's completions in 10 slices: 95 % only where slices are "
        "independent (short, not heavy-tailed requests); nothing of the drift between runs",
    )
    rps_high: float | None = None
    p95_low_ms: float | None = Field(
        default=None,
        description="interval of p95 from two order statistics; with p95_ranks 'exact' a distribution-free 95 % "
        "one, and p95_high_ms null where the samples are too few for an upper bound (under 59)",
    )
    p95_high_ms: float | None = None
    p95_ranks: Literal["exact"] | None = Field(
        default=None,
        description="how the p95 interval's ranks were chosen: 'exact' from the binomial (flasklab.core.intervals); "
        "null in runs before it, a normal approximation with the top rank capped (63 % coverage at 20 samples, 91 % at "
        "50)",
    )
    spread: Spread | None = Field(
        default=None,
        description="across rounds, when the run had several: then this step holds their medians (rps, percentiles, "
        "server CPU), sums (requests, failures, errors) and worst cases (max, RSS, generator CPU and saturation)",
    )

    @property
    def load(self) -> float:
        """The step's load level: its offered rate in the open model, its users in a closed loop."""
        return self.offered_rps if self.offered_rps is not None else self.users

    errors: dict[str, int] = Field(default_factory=dict, description="failures by kind")
    names: dict[str, int] = Field(
        default_factory=dict, description="completions by request name (the locustfile's), the 30 most frequent"
    )
    name_failures: dict[str, int] = Field(
        default_factory=dict, description="failures by request name (of the names in names that had any)"
    )
    name_p95_ms: dict[str, float] = Field(
        default_factory=dict,
        description="exact p95 of each request name's successful completions (of the names in names): one kind of "
        "client read apart from the others (slowclient's fast users)",
    )
    generator_cpu: float = Field(ge=0, description="load generator CPU, share of one core: the busiest Locust process")
    generator_saturated: bool = Field(
        description="the generator side was busy: its busiest process, or all of it together, passed the threshold"
    )
    generator_cpu_total: float | None = Field(
        default=None, ge=0, description="CPU in cores of every load-generating process together (master and workers)"
    )
    generator_cpus: int | None = Field(default=None, ge=1, description="cores the generator may use (its CPU set)")
    generator_set_busy: float | None = Field(
        default=None, ge=0, description="busy share (0-1) of the generator's CPU set, softirq included, when pinned"
    )
    server_set_busy: float | None = Field(
        default=None,
        ge=0,
        description="share (0-1) of the server CPU set's time spent running processes over the window (the server, "
        "idle servers, anything else; interrupt work left out), when the servers are pinned",
    )
    server_in_flight: float | None = Field(
        default=None,
        ge=0,
        description="mean requests in flight in the app over the window, all its processes together: the window's "
        "completions' time in the app (the lab app's X-Lab-In-Flight header) over its length (Little's law); null: "
        "not measured (a user's app, Locust workers, runs before it)",
    )
    server_in_flight_max: int | None = Field(
        default=None, ge=0, description="the most requests one server process held when one of the window's began"
    )
    send_lag_p95_ms: float | None = Field(
        default=None,
        ge=0,
        description="open model: p95 of the delay from each arrival's due time to its request being sent (the window's "
        "arrivals; a slot waited for included)",
    )
    send_lag_max_ms: float | None = Field(default=None, ge=0, description="open model: the longest of those delays")
    loop_lag_p95_ms: float | None = Field(
        default=None,
        ge=0,
        description="p95 of the Locust process's event loop lag over the window: how much a greenlet sleeping 10 ms "
        "overslept (every ready greenlet runs first); null with Locust workers and in runs before it",
    )
    loop_lag_max_ms: float | None = Field(default=None, ge=0, description="the longest of those oversleeps")
    capped_arrivals: int | None = Field(
        default=None,
        ge=0,
        description="open model: arrivals of the window that found the open loop's cap of requests open at once "
        "reached and waited for a slot (the generator's limit, not the server's backlog)",
    )
    steady: bool | None = Field(
        default=None, description="throughput and in-flight requests were steady when the window began (null: unknown)"
    )
    warmup_used_s: float | None = Field(default=None, ge=0, description="warm-up actually spent before the window")
    censored: int | None = Field(
        default=None,
        ge=0,
        description="open model: requests due and unanswered at the window's end, in the percentiles at their age",
    )
    percentiles_lower_bound: bool = Field(
        default=False, description="censored latencies are in the percentiles: each is a lower bound"
    )
    unstable: bool | None = Field(
        default=None,
        description="open model: the backlog grew over the window's slices as a trend beyond their noise "
        "(flasklab.core.steady): the server did not keep up",
    )
    backlog_path: list[int] | None = Field(
        default=None,
        description="open model: requests due and unanswered at the window's start, at each of its slices' "
        "boundaries and at its end (what `unstable` is decided from; null in runs before it was recorded)",
    )
    generator_workers: int = Field(default=0, ge=0, description="Locust workers (0: one local Locust process)")
    server_cpu: float | None = Field(description="server CPU in cores (all its processes or its cgroup)")
    server_rss_mb: float | None = Field(
        description="server memory at the window's end, MiB, by the measure in meta.memory_measure"
    )


class Target(Record):
    """One server under one scenario."""

    server: str
    scenario: str
    concurrency: int | None = Field(description="configured concurrency; null means unbounded")
    params: dict[str, int] = Field(default_factory=dict)
    status: TargetStatus
    error: str | None = None
    log_tail: str | None = None
    note: str | None = Field(default=None, description="what the lab did before measuring (e.g. restarted the server)")
    steps: list[Step] = Field(default_factory=list)
    rounds: list[list[Step]] = Field(
        default_factory=list, description="with --rounds N > 1: each round's own steps (steps then combines them)"
    )

    def steps_done(self) -> int:
        return sum(map(len, self.rounds)) if self.rounds else len(self.steps)


class ProbeRequest(Record):
    """One probe request as the server served it: when its sleep started and ended (seconds after the earliest
    start of the server's probe, by the server's clock) and the process and thread (or greenlet) that slept."""

    start_s: float = Field(ge=0)
    end_s: float = Field(ge=0)
    pid: int | None = None
    thread: int | None = None


class ProbeResult(Record):
    """How many requests a server really processed at once, beside what it is configured for."""

    server: str
    status: TargetStatus = "ok"
    configured: int | None
    measured: int | None = Field(description="largest number of server-side io intervals that overlapped")
    width: int = Field(description="concurrent requests sent (an upper bound on what can be measured)")
    io_ms: int
    completed: int = 0
    selfcall_status: int | None = Field(
        default=None, description="HTTP status of /self (504: the app's call to its own server timed out)"
    )
    selfcall_s: float | None = None
    selfcall_inner_status: int | None = Field(
        default=None,
        description="what the app's call to its own server got, from /self's answer (null: timed out, or not recorded)",
    )
    selfcall_inner_s: float | None = Field(default=None, description="how long the app waited for its own call")
    selfcall_others_served: bool | None = Field(
        default=None,
        description="did the server begin another request (a GET /io?ms=0 sent while /self waited) before /self "
        "ended? false with a timed-out inner call: a deadlock; null: not checked (/self ended first, or an older file)",
    )
    selfcall_other_s: float | None = Field(
        default=None, description="how long that other request waited for its answer (null: none, or not sent)"
    )
    failed: int = Field(default=0, ge=0, description="probe requests that failed or got no answer")
    workers_seen: int | None = Field(default=None, description="server processes that served probe requests")
    per_worker_max: int | None = Field(
        default=None, description="largest overlap of io intervals inside one server process"
    )
    connections: str | None = Field(default=None, description="keepalive or close: how the probe's clients connected")
    error: str | None = None
    requests: list[ProbeRequest] = Field(
        default_factory=list,
        description="each answered probe request's server-side interval and worker, by start (the probe timeline); "
        "empty in files written before it was recorded",
    )


class Claim(Record):
    claim: str
    text: str
    verdict: Verdict
    evidence: str


class Meta(Record):
    run_id: str
    status: Literal["running", "complete", "interrupted"]
    backend: str
    profile: str
    model: Literal["closed", "open"] = Field(
        default="closed", description="closed: users that wait for each answer; open: requests on a schedule"
    )
    steps: list[int] = Field(description="users per step, or in the open model requests due per second")
    warmup_s: float
    window_s: float
    scenarios: list[str]
    servers: list[str]
    probe: bool = Field(default=True, description="the concurrency probe runs before each server's scenarios")
    rounds: int = Field(default=1, ge=1, description="times each target was measured, servers shuffled each round")
    seed: int | None = Field(default=None, description="seed of the rounds' shuffled order and the Poisson arrivals")
    arrivals: Literal["poisson", "uniform"] | None = Field(
        default=None, description="open model: Poisson arrivals (seeded) or evenly spaced ones; null: closed loop"
    )
    connections: Literal["keepalive", "close"] = Field(
        default="keepalive",
        description="how the load's clients connected: keepalive (reused) or close (a new connection per request)",
    )
    started: str
    ended: str | None = None
    host: dict[str, str | int]
    budget: dict[str, str] = Field(description="CPU and memory budget of every server")
    pinning: dict[str, list[int]] | None = Field(description="CPUs of servers and of the generator, if pinned")
    versions: dict[str, str] = Field(description="versions of the lab, Python and Locust")
    app: dict[str, str] | None = Field(
        default=None, description="the user's app when not the lab's own: module, folder, requirements, locustfile"
    )
    server_versions: dict[str, dict[str, str]] = Field(default_factory=dict, description="per server, its packages")
    prediction: dict[str, str] | None = Field(
        default=None,
        description="flasklab plan --verify: the planner's prediction for the one instance this run measured",
    )
    memory_measure: Literal["pss", "uss", "rss", "cgroup"] | None = Field(
        default=None, description="how server memory was measured (pss: shared pages split among processes)"
    )


class Results(Record):
    schema_version: Literal[1, 2] = 2
    meta: Meta
    targets: list[Target] = Field(default_factory=list)
    probe: list[ProbeResult] = Field(default_factory=list)
    claims: list[Claim] = Field(default_factory=list)

    def target(self, server: str, scenario: str) -> Target | None:
        return next((t for t in self.targets if t.server == server and t.scenario == scenario), None)


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
