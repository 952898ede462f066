"""One step of results.json: a measurement window's figures (``Step``) and their spread across rounds (``Spread``).

The Locust process builds a step's figures under these field names (flasklab.loadgen.window), so this module is one of
the pure ones the two process worlds share.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Record(BaseModel):
    # every record of results.json: a field the model does not know is an error, not silently dropped
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


class Slice(Record):
    """One second of a window's timeline: what completed in it (its latency timeline, and worker starts)."""

    t_s: float = Field(description="its start, in seconds since the target's load began (its steps on one axis)")
    length_s: float = Field(gt=0, description="its length: one second, the window's last part shorter")
    requests: int = Field(ge=0, description="requests completed in it")
    failures: int = Field(ge=0, description="of those, failed ones")
    p99_ms: float | None = Field(
        description="exact p99 of its successes (under 100 successes: their maximum); null: none succeeded"
    )
    workers_started: int = Field(default=0, ge=0, description="server processes that started in it")


class Reload(Record):
    """A deploy under load (``--reload-at``): the server's graceful reload asked during the window, and what the
    requests saw."""

    at_s: float = Field(ge=0, description="seconds into the window it was asked")
    how: str = Field(description="what the lab did: the server's reload signal to its main process")
    code_version: str | None = Field(description="the app's code version deployed; null: the reload failed")
    served_after: list[str] = Field(
        default_factory=list, description="the code versions the app answered with at the window's end (3 asks)"
    )
    failures_after: int = Field(ge=0, description="failed requests from the reload's second to the window's end")
    back_after_s: float | None = Field(
        description="seconds from the reload until every second had at least as many successes as the fewest whole "
        "second before it (0: none fell below); null: not back within the window, or no second before it"
    )
    error: str | None = Field(default=None, description="why the reload could not be asked")


class Step(Record):
    """One measurement window at a fixed load (the warm-up before it is discarded).

    The load is a number of closed-loop users, or in the open model an offered rate (``offered_rps``); there
    ``users`` is the most requests the generator held open at once in the window.

    Why this is long: one field per figure results.json records for a step, each with its description, from which
    the schema is generated and docs/results.md's table is checked; split, a step would be read from two records.
    """

    users: int = Field(ge=0)
    offered_rps: float | None = Field(default=None, description="open model: requests due per second")
    backlog: int | None = Field(default=None, description="open model: requests due but unanswered at the window's end")
    duration_s: float = Field(gt=0, description="length of the measurement window")
    requests: int = Field(ge=0, description="requests completed inside the window")
    failures: int = Field(ge=0, description="of those, failed ones (errors, timeouts, HTTP >= 400)")
    rps: float = Field(
        ge=0,
        description="requests per second of the window: a closed loop of one Locust process counts each user's "
        "cycles (previous completion to next) by their share inside the window, so its edges cut no request in two "
        "(flasklab.loadgen.window.cycle_slices); otherwise (open model, Locust workers) completions inside the window "
        "/ its length",
    )
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
        description="t-interval of rps over the window's 10 slices, each counted as rps is: 95 % only where slices are "
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
        "not measured (a user's app, runs before it)",
    )
    server_in_flight_max: int | None = Field(
        default=None, ge=0, description="the most requests one server process held when one of the window's began"
    )
    accept_queue_max: int | None = Field(
        default=None,
        ge=0,
        description="the most connections waiting in the kernel's accept queue of the server's listening socket(s) "
        "over the window's readings (flasklab_app.listen): accepted by nobody yet; null: not read (external "
        "targets, an agent of an older image, runs before it)",
    )
    accept_queue_mean: float | None = Field(default=None, ge=0, description="the mean of the same readings")
    accept_backlog: int | None = Field(
        default=None,
        ge=0,
        description="that queue's limit, as the kernel has it: the server's backlog, capped by net.core.somaxconn",
    )
    listen_overflows: int | None = Field(
        default=None,
        ge=0,
        description="connections the kernel dropped over the window because a listening socket's accept queue was "
        "full (TcpExt ListenOverflows of the server's network namespace: for local servers the whole machine's)",
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
    p999_ms: float | None = Field(
        default=None,
        description="exact p99.9 of the window's successes; null under 1,000 of them (it would be their maximum) and "
        "in runs before it",
    )
    workers_started: int | None = Field(
        default=None,
        ge=0,
        description="server processes that started during the window, each told by the lab app's answers (their "
        "X-Lab-In-Flight header says when the answering process started): a worker recycled by max_requests, one "
        "restarted after a crash, or the dev server's process per request; a process that never answered a "
        "request successfully (a replacement that took a request its own timeout ended too) is not seen, so it is a "
        "lower bound; null: not told (a user's app, runs before it)",
    )
    workers_started_together: int | None = Field(
        default=None,
        ge=0,
        description="the most of those starts within one second of each other: workers recycled together leave "
        "fewer to serve at once (gunicorn #3427)",
    )
    p999_apart_ms: float | None = Field(
        default=None,
        description="exact p99.9 of the successes that completed more than a second after every worker start of the "
        "window: the tail without the starts, beside p999_ms with them; null without a start or under 1,000 such",
    )
    timeline: list[Slice] | None = Field(
        default=None,
        description="the window in one-second slices (exact p99, completions, worker starts): its latency over "
        "time; null where not recorded (Locust's running totals only, runs before it)",
    )
    reload: Reload | None = Field(default=None, description="a deploy under load in this window; null: none")
    generator_workers: int = Field(default=0, ge=0, description="Locust workers (0: one local Locust process)")
    server_cpu: float | None = Field(description="server CPU in cores (all its processes or its cgroup)")
    server_rss_mb: float | None = Field(
        description="server memory at the window's end, MiB, by the measure in meta.memory_measure"
    )
