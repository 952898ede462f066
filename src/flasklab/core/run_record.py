"""The records of results.json around its steps: the run (``Results``, ``Meta``), its targets, probes and claims.

``Results`` is the whole file; flasklab.core.results loads and saves it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from flasklab.core.catalog import Scenario, Server
from flasklab.core.step_record import Record, Step

TargetStatus = Literal["ok", "failed", "skipped", "running"]
Verdict = Literal["confirmed", "refuted", "not-run"]
StepsRule = Literal["adaptive", "fixed"]  # how far a target's curve steps up (flasklab.core.stopping)


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
    stopped: str | None = Field(
        default=None,
        description="adaptive steps: why the curve stopped below the profile's top (its steps are the loads it ran; "
        "with rounds, the first round's, which the later rounds repeat); null: it ran every load",
    )
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


WorkKind = Literal["io", "cpu", "none", "mixed"]  # flasklab.core.catalog.WORK_KINDS (a test keeps them equal)
ServerKind = Literal["processes", "threads", "async"]  # flasklab.core.catalog.SERVER_KINDS


class ScenarioDeclaration(Record):
    """A scenario as its locustfile declared it (``LAB_SCENARIO``) when the run began."""

    work: WorkKind = Field(description="what its requests do: wait on blocking I/O, compute, neither, or a mix")
    params: dict[str, int] = Field(
        default_factory=dict, description="its declared parameters (io's ms, cpu's ms, ...), before a run's overrides"
    )
    description: str = ""
    outlasts_server_timeout: str | None = Field(
        default=None,
        description="the parameter (ms) of its requests meant to outlast the servers' own timeout (the timeout "
        "scenario's long_ms); null: none",
    )

    @classmethod
    def of(cls, scenario: Scenario) -> ScenarioDeclaration:
        return cls.model_validate(
            {
                "work": scenario.work,
                "params": dict(scenario.params),
                "description": scenario.description,
                "outlasts_server_timeout": scenario.outlasts_server_timeout,
            }
        )


class ServerEntry(Record):
    """A server's catalog entry (docker-compose.yml with .env filled in) when the run began."""

    software: str = Field(description="label lab.server")
    worker_model: str = Field(description="label lab.worker-model")
    kind: ServerKind | None = Field(
        description="label lab.kind: a request per worker process, a thread each, or many on an event loop; null: a "
        "server outside the catalog (--target)"
    )
    concurrency: int | None = Field(
        description="label lab.concurrency: requests it is configured to serve at once; null: unbounded"
    )
    command: str = Field(description="its command, variables filled in (a --target server: its URL)")
    worker_settings: dict[str, int] = Field(
        default_factory=dict,
        description="the worker settings of its command (a ${VARIABLE:-N} such as GUNICORN_SYNC_WORKERS) and the value "
        "each had",
    )
    max_requests: int | None = Field(
        default=None,
        ge=0,
        description="worker recycling: requests after which each worker is replaced (LAB_MAX_REQUESTS; 0: never); "
        "null: its command recycles no worker",
    )
    max_requests_jitter: int | None = Field(
        default=None,
        ge=0,
        description="up to this many more requests drawn per worker (LAB_MAX_REQUESTS_JITTER, gunicorn's); null: "
        "no random jitter in its command",
    )
    reload: str | None = Field(
        default=None, description="label lab.reload: its graceful reload (SIGHUP to its main process); null: none"
    )
    timeout_s: int | None = Field(
        default=None,
        ge=1,
        description="its own request timeout, seconds (LAB_SERVER_TIMEOUT_S: gunicorn's --timeout, uWSGI's "
        "--harakiri); null: its command sets none",
    )
    note: str = ""

    @classmethod
    def of(cls, server: Server) -> ServerEntry:
        return cls.model_validate(
            {
                "software": server.software,
                "worker_model": server.worker_model,
                "kind": server.kind,
                "concurrency": server.concurrency,
                "command": server.command,
                "worker_settings": dict(server.worker_settings),
                "max_requests": server.recycling.max_requests if server.recycling else None,
                "max_requests_jitter": server.recycling.jitter if server.recycling else None,
                "reload": server.reload,
                "timeout_s": server.timeout_s,
                "note": server.note,
            }
        )


class ClaimDefinition(Record):
    """A claim as flasklab.core.claims defined it when the run began: what ``claims`` holds the verdicts of."""

    claim: str
    text: str = Field(description="its words; {n} stands for its server's configured concurrency")
    servers: list[str] = Field(
        description="the servers it is decided on (a slow-client claim: the plain one, then the fronted one)"
    )
    concurrency: int | None = Field(
        default=None,
        description="its server's configured concurrency in the catalog when the run began, which words {n} where the "
        "server was not probed (a probed one words it with the concurrency its probe records); null: unbounded, not in "
        "the catalog, or a claim about two servers",
    )


class Estimate(Record):
    """The runner's estimate of a running run's time left (flasklab.core.sweep), and when it made it."""

    left_s: float = Field(
        ge=0,
        description="seconds left: the profile's steps still to measure, with an allowance for each target, server "
        "start and probe still to come",
    )
    made: str = Field(description="when it was made (ISO 8601, UTC): a live page counts down from then")
    upper_bound: bool = Field(
        default=False,
        description="true: an upper bound rather than an estimate (no step measured yet: every step counted at the "
        "profile's whole warm-up and window, every curve to the profile's top)",
    )


class Meta(Record):
    run_id: str
    status: Literal["running", "complete", "interrupted"]
    backend: str
    profile: str
    model: Literal["closed", "open"] = Field(
        default="closed", description="closed: users that wait for each answer; open: requests on a schedule"
    )
    steps: list[int] = Field(description="users per step, or in the open model requests due per second")
    steps_rule: StepsRule = Field(
        default="fixed",
        description="adaptive: each target's curve stopped once it showed the server's limit (Target.stopped says "
        "why; flasklab.core.stopping); fixed (and every run before the rule): every step ran",
    )
    reload_at_s: float | None = Field(
        default=None,
        ge=0,
        description="a deploy under load this many seconds into each step's window (each step's `reload` says what "
        "happened); null: none",
    )
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
    slo_p95_ms: float | None = Field(
        default=None,
        gt=0,
        description="the latency objective (p95, ms) the run was made with: its report's capacity table; null in files "
        "before version 3 (the views take the default and say so)",
    )
    scenario_declarations: dict[str, ScenarioDeclaration] | None = Field(
        default=None,
        description="each scenario of the run as its locustfile declared it (work, params); null before version 3",
    )
    server_entries: dict[str, ServerEntry] | None = Field(
        default=None, description="each server of the run as the catalog described it; null before version 3"
    )
    claim_definitions: list[ClaimDefinition] | None = Field(
        default=None, description="the claims the run judges, as they were defined; null before version 3"
    )
    time_left: Estimate | None = Field(
        default=None,
        description="while the run goes on: the runner's estimate of its time left, renewed at every save; null once "
        "it ended (and in files written before it was recorded)",
    )


class Results(Record):
    schema_version: Literal[1, 2, 3] = 3
    meta: Meta
    targets: list[Target] = Field(default_factory=list)
    probe: list[ProbeResult] = Field(default_factory=list)
    claims: list[Claim] = Field(default_factory=list)

    def target(self, server: str, scenario: str) -> Target | None:
        return next((t for t in self.targets if t.server == server and t.scenario == scenario), None)
