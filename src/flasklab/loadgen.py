"""The load generator process: Locust (as a library) driving one target under the step shape.

Run by flasklab as ``python -m flasklab.loadgen``, never imported by the orchestrator: importing Locust
monkey-patches the process with gevent. It prints one JSON object per line on stdout:

    {"event": "window", "step": 0, "users": 1}                      a measurement window starts
    {"event": "step", "step": 0, "users": 1, "requests": ..., ...}   that window's exact figures
    {"event": "error", "message": "..."}                            Locust could not run the locustfile

Percentiles are exact (nearest rank over the window's successful completions; failures are counted apart), not
Locust's 1 ms / 10 ms buckets, and a step's rps counts the completions inside its own window only (not ramp-up, not
cut-off requests). In the open model, requests due and unanswered at the window's end (the backlog) are data about
that window, the last one's too: those older than its median success join its percentiles as censored latencies of
their age (which then are lower bounds), and a window whose backlog grew is unstable (flasklab.steady).

A step's warm-up lasts until completions and in-flight requests are steady (flasklab.steady), at least the profile's
warm-up and at most WARMUP_CAP times it; with Locust workers, whose samples arrive seconds late, it is the profile's
and its steadiness is judged afterwards. The generator side is measured as a whole (flasklab.generator_side): the
busiest Locust process, all of them together, and the generator's CPU set.

``--no-exact`` (or LAB_EXACT=0 in the environment, which ``flasklab run`` passes on) records nothing of its own:
a window's requests and failures are the differences of Locust's own running totals at its edges, and its
percentiles and intervals are null. It exists to measure what exact recording costs (``scripts/bench overhead``);
it needs a single Locust process.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import gevent
import psutil
from locust import events  # first: Locust's gevent monkey-patching must precede everything else
from locust.env import Environment
from locust.log import setup_logging
from locust.util.load_locustfile import load_locustfile

from flasklab.arrivals import ARRIVALS
from flasklab.catalog import lab_root
from flasklab.distributed import CPU_KEY, SAMPLES_KEY, error_kind
from flasklab.generator_side import CpuSet, CpuTicks, saturated, server_cpus, set_busy
from flasklab.lab_users import starting  # registers itself on Locust's init event: bounded requests, task errors
from flasklab.openloop import OpenLoop, OpenLoopError, due_time
from flasklab.steady import WARMUP_CAP, WARMUP_SLICES, unstable, warmed_up

SATURATION = 0.90  # flasklab.settings.GENERATOR_SATURATION, passed on the command line
EXACT_VARIABLE = "LAB_EXACT"  # "0": the default is --no-exact (Locust's own stats only)
WORKER_WAIT_S = 120.0
MAX_NAMES, MAX_NAME_LENGTH = 30, 120  # requests counted by name per step: the most frequent ones
REPORT_DELAY_S = 4.0  # Locust workers report every 3 s
Z95 = 1.96
RATE_SLICES = 10  # a window's rps spread: its completions counted in this many equal slices
T95_SLICES = 2.262  # Student's t, 95 %, 9 degrees of freedom


def emit(**event: Any) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def nearest_rank(ordered: list[float], percent: float) -> float | None:
    """The exact percentile of sorted values: the smallest value with at least ``percent`` % at or below it."""
    if not ordered:
        return None
    return ordered[max(math.ceil(percent / 100 * len(ordered)) - 1, 0)]


def percentile_interval(ordered: list[float], percent: float) -> tuple[float | None, float | None]:
    """A distribution-free ~95 % confidence interval of a percentile: two order statistics around its rank.

    The number of samples below the true percentile is binomial(n, p); its normal approximation gives the ranks.
    """
    n = len(ordered)
    if not n:
        return None, None
    p = percent / 100
    half = Z95 * math.sqrt(n * p * (1 - p))
    low = min(max(math.floor(n * p - half), 1), n)
    high = min(max(math.ceil(n * p + half) + 1, 1), n)
    return ordered[low - 1], ordered[high - 1]


def rate_interval(ended: list[float], start: float, duration_s: float) -> tuple[float, float]:
    """A ~95 % interval of the window's rps from its completions counted in RATE_SLICES equal slices."""
    counts = [0] * RATE_SLICES
    for moment in ended:
        counts[min(max(int((moment - start) / duration_s * RATE_SLICES), 0), RATE_SLICES - 1)] += 1
    rates = [count * RATE_SLICES / duration_s for count in counts]
    mean = sum(rates) / RATE_SLICES
    spread = math.sqrt(sum((rate - mean) ** 2 for rate in rates) / (RATE_SLICES - 1))
    half = T95_SLICES * spread / math.sqrt(RATE_SLICES)
    return max(mean - half, 0.0), mean + half


@dataclass
class Window:
    """Every completion recorded inside one step's measurement window (latencies of the successful ones)."""

    start: float
    response_ms: list[float] = field(default_factory=list)  # successes only: a fast failure is no latency
    ended: list[float] = field(default_factory=list)  # every completion, failed or not
    failures: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    names: Counter[str] = field(default_factory=Counter)

    def summary(self, duration_s: float, overdue_ms: list[float] | None = None) -> dict[str, Any]:
        """The window's figures. ``overdue_ms`` (open model): ages of the requests due and unanswered at its end.

        Those in flight longer than the window's median success are censored latencies: they join the percentiles
        at their age, which then are lower bounds. Younger ones are the window edge's ordinary traffic (their like
        from the previous window's end completed in this one), and counting them at their young age would pull the
        percentiles down; an overloaded server's queue is all old, and all of it counts.
        """
        median = nearest_rank(sorted(self.response_ms), 50) or 0.0
        censored = [age for age in overdue_ms or () if age > median]
        ordered = sorted(self.response_ms + censored)
        count = len(self.ended)
        rps_low, rps_high = rate_interval(self.ended, self.start, duration_s)
        p95_low, p95_high = percentile_interval(ordered, 95)
        return {
            "duration_s": duration_s,
            "requests": count,
            "failures": self.failures,
            "rps": count / duration_s,
            "p50_ms": nearest_rank(ordered, 50),
            "p95_ms": nearest_rank(ordered, 95),
            "p99_ms": nearest_rank(ordered, 99),
            "rps_low": rps_low,
            "rps_high": rps_high,
            "p95_low_ms": p95_low,
            "p95_high_ms": p95_high,
            "max_ms": ordered[-1] if ordered else None,
            "mean_ms": sum(ordered) / len(ordered) if ordered else None,
            "censored": None if overdue_ms is None else len(censored),
            "percentiles_lower_bound": bool(censored),
            "errors": dict(self.errors.most_common(20)),
            "names": dict(self.names.most_common(MAX_NAMES)),
        }


def counted_summary(requests: int, failures: int, duration_s: float) -> dict[str, Any]:
    """A window's figures from Locust's own running totals (``--no-exact``): counts and rps, nothing per request."""
    unknown = dict.fromkeys(("p50_ms", "p95_ms", "p99_ms", "rps_low", "rps_high", "p95_low_ms", "p95_high_ms"))
    return {
        "duration_s": duration_s,
        "requests": requests,
        "failures": failures,
        "rps": requests / duration_s,
        **unknown,
        "max_ms": None,
        "mean_ms": None,
        "errors": {},
    }


def locust_totals(environment: Environment) -> tuple[int, int]:
    """Locust's own count of completed requests and failures so far."""
    return environment.stats.total.num_requests, environment.stats.total.num_failures


def find_shape(shapes: list[Any]) -> Any:
    """The locustfile's own step shape, or the lab's when a user's locustfile brings none."""
    for shape in shapes:
        if all(hasattr(shape, name) for name in ("steps", "load", "warmup_s", "window_s")):
            return shape
    sys.path.insert(0, str(lab_root() / "locustfiles"))
    from _lab import StepLoadShape  # type: ignore[import-not-found]

    return StepLoadShape()


@dataclass
class Phase:
    """One step's timeline in seconds of run time: its warm-up from ``start``, then its window.

    ``completed`` holds the completions counted by the end of each warm-up sub-window (boundary 1, 2, ...) and
    ``in_flight`` what was in flight then; with workers, ``warmup`` counts their late samples per sub-window instead.
    """

    step: int
    start: float
    slice_s: float
    window_start: float | None = None
    window_end: float | None = None
    warmup: Counter[int] = field(default_factory=Counter)
    completed: dict[int, int] = field(default_factory=dict)
    in_flight: dict[int, int] = field(default_factory=dict)

    def steady_at(self, boundary: int, closed: bool) -> bool | None:
        """Were the two warm-up sub-windows before ``boundary`` steady (None: not measured)?"""
        if boundary < WARMUP_SLICES or boundary not in self.in_flight or boundary - 1 not in self.in_flight:
            return None
        if boundary in self.completed:
            marks = [self.completed.get(index, 0) for index in range(boundary - 2, boundary + 1)]
            counts = (marks[1] - marks[0], marks[2] - marks[1])
        else:
            counts = (self.warmup[boundary - 2], self.warmup[boundary - 1])
        return warmed_up(counts, (self.in_flight[boundary - 1], self.in_flight[boundary]), closed)


class Recorder:
    """Puts each completion into its step's window by the time it completed (warm-ups and overruns discarded).

    A successful request made in a user's ``on_start`` is set-up, not a sample; a failed one is a failure.
    """

    def __init__(self, shape: Any) -> None:
        self.shape = shape
        self.phases: list[Phase] = []
        self.windows: dict[int, Window] = {}
        self.worker_cpu: dict[str, list[tuple[float, float]]] = {}
        self.completed = 0  # completions recorded so far, warm-ups included
        self.cpu_warnings = 0  # Locust's own warnings that its process passed 90 % CPU

    def cpu_warning(self, **_: Any) -> None:
        self.cpu_warnings += 1

    def begin(self, step: int, start: float) -> Phase:
        phase = Phase(step, start, self.shape.warmup_s / WARMUP_SLICES)
        self.phases.append(phase)
        return phase

    def phase_at(self, run_time: float) -> Phase | None:
        for phase in reversed(self.phases):
            if phase.start <= run_time:
                return phase
        return None

    def record(self, run_time: float, response_ms: float, error: str | None, name: str | None = None) -> None:
        phase = self.phase_at(run_time)
        if phase is None or (phase.window_end is not None and run_time >= phase.window_end):
            return
        self.completed += 1
        if phase.window_start is None or run_time < phase.window_start:
            if phase.slice_s > 0:
                phase.warmup[int((run_time - phase.start) / phase.slice_s)] += 1
            return
        window = self.windows.setdefault(phase.step, Window(phase.window_start))
        window.ended.append(run_time)
        if name is not None:
            window.names[name[:MAX_NAME_LENGTH]] += 1
        if error is not None:
            window.failures += 1
            window.errors[error] += 1
        else:
            window.response_ms.append(response_ms)

    def local_listener(
        self, response_time: float, exception: BaseException | None = None, name: str | None = None, **_: Any
    ) -> None:
        if exception is None and starting():
            return
        error = error_kind(exception) if exception else None
        self.record(time.perf_counter() - self.shape.start_time, response_time, error, name)

    def open_listener(
        self, response_time: float, exception: BaseException | None = None, name: str | None = None, **_: Any
    ) -> None:
        """The open model's completions: latency from when the request was due, not from when it left."""
        if exception is None and starting():
            return
        now = time.perf_counter()
        due = due_time()
        response_ms = (now - due) * 1000 if due is not None else response_time
        self.record(now - self.shape.start_time, response_ms, error_kind(exception) if exception else None, name)

    def worker_listener(self, client_id: str, data: dict[str, Any]) -> None:
        """Samples a worker sent with its report: (wall-clock end, response ms, error kind or None)."""
        wall_start = time.time() - (time.perf_counter() - self.shape.start_time)
        for ended, response_ms, error in data.get(SAMPLES_KEY, ()):
            self.record(ended - wall_start, response_ms, error)
        if CPU_KEY in data:
            self.worker_cpu.setdefault(client_id, []).append(tuple(data[CPU_KEY]))


def create_runner(
    environment: Environment, recorder: Recorder, workers: int, master_port: int, locustfile: str, exact: bool = True
) -> Any:
    """A local runner, or a master that waits for ``workers`` Locust workers (they fetch the locustfile from it)."""
    if not workers:
        if exact:
            environment.events.request.add_listener(recorder.local_listener)
        return environment.create_local_runner()
    environment.parsed_locustfiles = [locustfile, str(lab_root() / "locustfiles" / "_lab.py")]
    environment.events.worker_report.add_listener(recorder.worker_listener)
    runner = environment.create_master_runner(master_bind_host="*", master_bind_port=master_port)
    deadline = time.monotonic() + WORKER_WAIT_S
    while len(runner.clients.ready) < workers:
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{len(runner.clients.ready)} of {workers} Locust workers connected in {WORKER_WAIT_S:.0f} s"
            )
        gevent.sleep(0.2)
    return runner


def open_loop(environment: Environment, user_classes: list[type]) -> OpenLoop:
    """The open model's arrivals as the runner asked for them (LAB_ARRIVALS, LAB_SEED)."""
    kind = os.environ.get("LAB_ARRIVALS", "poisson")
    if kind not in ARRIVALS:
        raise OpenLoopError(f"LAB_ARRIVALS={kind!r}: valid are {', '.join(ARRIVALS)}")
    seed = int(os.environ.get("LAB_SEED") or 0)
    return OpenLoop(environment, user_classes, arrivals=kind, seed=seed)


def wait_until(moment: float) -> None:
    """Sleep (cooperatively) until ``moment``, in perf_counter seconds."""
    gevent.sleep(max(moment - time.perf_counter(), 0))


class Load:
    """What drives a step: Locust's users (closed loop) or the open model's arrivals, and what they hold open."""

    def __init__(self, runner: Any, arrivals: OpenLoop | None, run_start: float) -> None:
        self.runner = runner
        self.arrivals = arrivals
        self.run_start = run_start

    def begin(self, shape: Any, step: int, start: float) -> None:
        """Apply step ``step``'s load from ``start`` (run time): its users, or its rate of arrivals."""
        users, spawn_rate = shape.load(step)
        if self.arrivals is None:
            self.runner.start(users, spawn_rate=spawn_rate)
        else:  # the step's "users" are its rate: requests due per second until its window ends
            self.arrivals.begin(float(users), self.run_start + start, step)

    def in_flight(self) -> int:
        """Closed loop: the users running; open model: the requests due and unanswered."""
        if self.arrivals is None:
            return int(self.runner.user_count)
        return len(self.arrivals.overdue(time.perf_counter()))

    def end_at(self, window_end: float) -> None:
        """The open model's arrivals of this step stop at its window's end (run time)."""
        if self.arrivals is not None and self.arrivals.schedule is not None:
            self.arrivals.schedule.end = self.run_start + window_end


def warm_up(phase: Phase, load: Load, closed: bool, completed: Callable[[], int] | None) -> bool | None:
    """Wait out a step's warm-up, sub-window by sub-window; the window may begin when this returns.

    With ``completed`` (a count of completions available at once) the warm-up goes on until two sub-windows are
    steady or WARMUP_CAP times the profile's warm-up has passed, and says which (True: steady, False: cap hit).
    Without it (Locust workers: samples arrive late) it lasts the profile's warm-up and returns None: its
    steadiness is judged once the samples are in.
    """
    if phase.slice_s <= 0:
        return None
    last = round(WARMUP_CAP * WARMUP_SLICES) if completed is not None else WARMUP_SLICES
    if completed is not None:
        phase.completed[0] = completed()
    for boundary in range(1, last + 1):
        wait_until(load.run_start + phase.start + boundary * phase.slice_s)
        phase.in_flight[boundary] = load.in_flight()
        if completed is None:
            continue
        phase.completed[boundary] = completed()
        steady = phase.steady_at(boundary, closed)
        if steady or (steady is not None and boundary == last):
            return steady
    return None


def start_web_ui(environment: Environment, web: str) -> Any:
    """Locust's own web UI at HOST:PORT during the run, or None when ``web`` is empty."""
    if not web:
        return None
    web_host, _, web_port = web.rpartition(":")
    return environment.create_web_ui(web_host or "127.0.0.1", int(web_port))


def completion_counter(
    recorder: Recorder, environment: Environment, exact: bool, workers: int
) -> Callable[[], int] | None:
    """What a steady warm-up counts completions with: the recorder's, or Locust's totals with ``--no-exact``;
    None with workers, whose samples arrive seconds late (the warm-up cannot wait for them)."""
    if workers:
        return None
    if exact:
        return lambda: recorder.completed
    return lambda: locust_totals(environment)[0]


def open_figures(arrivals: OpenLoop, rate: int, backlog_start: int, window_arrivals: float) -> dict[str, Any]:
    """An open-model window's own fields, taken at its end: offered rate, backlog (requests due and unanswered,
    with their ages for the censored latencies) and whether the backlog grew (unstable)."""
    now = time.perf_counter()
    overdue = arrivals.overdue(now)
    return {
        "offered_rps": float(rate),
        "backlog": len(overdue),
        "overdue_ms": [(now - due) * 1000 for due in overdue],
        "unstable": unstable(backlog_start, len(overdue), window_arrivals),
    }


class Mark(NamedTuple):
    """The generator at a window's edge: wall time, this process's CPU seconds, its CPU set's ticks (if pinned)."""

    at: float
    cpu_seconds: float
    ticks: CpuTicks | None
    server_ticks: CpuTicks | None = None


def run(
    locustfile: str, host: str, saturation: float, workers: int, master_port: int, web: str, exact: bool = True
) -> int:
    if workers and not exact:
        emit(event="error", message="--no-exact (LAB_EXACT=0) needs a single Locust process, not workers")
        return 1
    loaded = load_users(locustfile)
    if loaded is None:
        return 1
    user_classes, shapes = loaded
    shape = find_shape(shapes)
    environment = Environment(user_classes=list(user_classes.values()), shape_class=shape, host=host, events=events)
    recorder = Recorder(shape)
    environment.events.cpu_warning.add_listener(recorder.cpu_warning)
    open_model = os.environ.get("LAB_MODEL", "closed") == "open"
    try:
        # The open model needs no Locust users: a local runner only keeps Locust's own stats and web UI going.
        runner = create_runner(environment, recorder, workers, master_port, locustfile, exact and not open_model)
        arrivals = open_loop(environment, list(user_classes.values())) if open_model else None
    except (RuntimeError, OpenLoopError) as error:
        emit(event="error", message=str(error))
        return 1
    if arrivals is not None and workers:
        emit(event="error", message="the open model runs in one Locust process, not with workers")
        return 1
    if arrivals is not None and exact:
        environment.events.request.add_listener(recorder.open_listener)
    web_ui = start_web_ui(environment, web)
    environment.events.init.fire(environment=environment, runner=runner, web_ui=web_ui)
    environment.events.test_start.fire(environment=environment)
    generator = GeneratorCpu(recorder, workers)
    # Workers report every few seconds: a distributed step is summed up once its samples can have arrived.
    report_delay = REPORT_DELAY_S if workers else 0.0
    pending = []

    def summarise(
        step: int, users: int, edges: tuple[Mark, Mark], counted: tuple[int, int], extra: dict[str, Any]
    ) -> None:
        gevent.sleep(report_delay)
        phase = recorder.phases[step]
        if extra["steady"] is None and workers:  # judged now that the warm-up's samples are in
            extra["steady"] = phase.steady_at(WARMUP_SLICES, arrivals is None)
        overdue_ms = extra.pop("overdue_ms", None)
        if exact:
            assert phase.window_start is not None
            summary = recorder.windows.pop(step, Window(phase.window_start)).summary(shape.window_s, overdue_ms)
        else:
            summary = counted_summary(*counted, shape.window_s)
        emit(
            event="step",
            step=step,
            users=users,
            **extra,
            workers=workers,
            **generator.figures(*edges, saturation),
            cpu_warnings=recorder.cpu_warnings,
            **summary,
        )

    completed = completion_counter(recorder, environment, exact, workers)
    # This loop applies each step on its own boundaries: a step begins where the previous window ended, and its
    # window once its warm-up is steady. (Locust's own shape loop ticks once a second on a fixed schedule.)
    shape.reset_time()
    load = Load(runner, arrivals, shape.start_time)
    step_start = 0.0
    for step, users in enumerate(shape.steps):
        wait_until(shape.start_time + step_start)
        phase = recorder.begin(step, step_start)
        load.begin(shape, step, step_start)
        if workers:  # fixed: late samples are filed by these edges
            phase.window_start = step_start + shape.warmup_s
            phase.window_end = phase.window_start + shape.window_s
            load.end_at(phase.window_end)
        steady = warm_up(phase, load, arrivals is None, completed)
        if not workers:
            phase.window_start = time.perf_counter() - shape.start_time
            phase.window_end = phase.window_start + shape.window_s
            load.end_at(phase.window_end)
        assert phase.window_start is not None and phase.window_end is not None
        wait_until(shape.start_time + phase.window_start)
        emit(event="window", step=step, users=users)
        if arrivals is not None:
            arrivals.reset_peak()
        backlog_start = load.in_flight()
        start, (requests, failures) = generator.mark(), locust_totals(environment)
        wait_until(shape.start_time + phase.window_end)
        end, (requests_end, failures_end) = generator.mark(), locust_totals(environment)
        counted = (requests_end - requests, failures_end - failures)
        extra: dict[str, Any] = {"steady": steady, "warmup_used_s": round(phase.window_start - phase.start, 3)}
        if arrivals is not None:
            extra |= open_figures(arrivals, users, backlog_start, users * shape.window_s)
        emit(event="window_end", step=step, users=users)
        step_users = arrivals.peak if arrivals is not None else users
        pending.append(gevent.spawn(summarise, step, step_users, (start, end), counted, extra))
        step_start = phase.window_end
    gevent.joinall(pending)
    environment.events.test_stop.fire(environment=environment)
    if arrivals is not None:
        arrivals.stop()
    runner.quit()
    if web_ui:
        web_ui.stop()
    return 0


class GeneratorCpu:
    """The load generator side's CPU over a window: its busiest process, all its processes, and its CPU set.

    This process's CPU is read at the window's edges. Workers report their CPU seconds every few seconds; a worker's
    share is taken over the report interval that brackets the window (the last report before it starts to the
    first after it ends). The CPU set is this process's affinity; its busy share is read from /proc/stat when the
    generator is pinned (local workers and the compose lab's workers share that set; workers on other hosts bring
    cores of their own, which the set does not count).
    """

    def __init__(self, recorder: Recorder, workers: int) -> None:
        self.recorder = recorder
        self.workers = workers
        self.process = psutil.Process()
        self.cpu_set = CpuSet()
        self.server_cpus = server_cpus()

    def _seconds(self) -> float:
        times = self.process.cpu_times()
        return times.user + times.system

    def mark(self) -> Mark:
        """This process's CPU and its CPU set's ticks now, at a window's edge."""
        return Mark(time.time(), self._seconds(), self.cpu_set.ticks(), self.cpu_set.task_ticks_of(self.server_cpus))

    def worker_shares(self, start: Mark, end: Mark) -> list[float]:
        """Each worker's CPU (share of one core) over the report interval bracketing the window."""
        shares = []
        for reports in self.recorder.worker_cpu.values():
            before = [report for report in reports if report[0] <= start.at]
            after = [report for report in reports if report[0] >= end.at]
            if before and after and after[0][0] > before[-1][0]:
                shares.append((after[0][1] - before[-1][1]) / (after[0][0] - before[-1][0]))
        return shares

    def figures(self, start: Mark, end: Mark, threshold: float) -> dict[str, Any]:
        """The step's generator fields: busiest process, total, CPU set size and busy share, saturated or not."""
        own = (end.cpu_seconds - start.cpu_seconds) / max(end.at - start.at, 1e-9)
        workers = self.worker_shares(start, end) if self.workers else []
        busiest, total = max([own, *workers]), own + sum(workers)
        cpus = len(self.cpu_set.cpus)
        busy = set_busy(start.ticks, end.ticks) if start.ticks is not None and end.ticks is not None else None
        servers = None
        if start.server_ticks is not None and end.server_ticks is not None:
            servers = set_busy(start.server_ticks, end.server_ticks)
        return {
            "server_set_busy": None if servers is None else round(servers, 3),
            "generator_cpu": round(busiest, 3),
            "generator_cpu_total": round(total, 3),
            "generator_cpus": cpus,
            "generator_set_busy": None if busy is None else round(busy, 3),
            "generator_saturated": saturated(busiest, total, cpus, busy, threshold),
        }


def load_users(locustfile: str) -> tuple[dict[str, Any], list[Any]] | None:
    """The locustfile's User classes and shapes; None, with an error event said, when it fails or defines no User."""
    try:
        user_classes, shapes = load_locustfile(locustfile)
    except (Exception, SystemExit) as error:  # a locustfile that raises on import is the user's data, reported
        emit(event="error", message=f"locustfile {locustfile} failed to load: {error_kind(error)}")
        return None
    if not user_classes:
        emit(event="error", message=f"locustfile {locustfile} defines no User class")
        return None
    return user_classes, shapes


def check(locustfile: str) -> int:
    """Load a locustfile as a run would, and say what it defines (or what is wrong with it)."""
    loaded = load_users(locustfile)
    if loaded is None:
        return 1
    emit(event="ok", users=sorted(loaded[0]))
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description="flasklab's Locust process (one target, one scenario)")
    parser.add_argument("--locustfile", required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--saturation", type=float, default=SATURATION)
    parser.add_argument("--workers", type=int, default=0, help="run as a master for this many Locust workers")
    parser.add_argument("--master-port", type=int, default=5557)
    parser.add_argument("--web", default="", help="HOST:PORT for Locust's web UI during the run")
    parser.add_argument(
        "--no-exact",
        dest="exact",
        action="store_false",
        default=os.environ.get(EXACT_VARIABLE, "1") != "0",
        help="Locust's own stats only: no recording per request, no percentiles (measures what recording costs)",
    )
    parser.add_argument("--check", action="store_true", help="only load the locustfile and report its User classes")
    options = parser.parse_args()
    sys.argv = sys.argv[:1]  # parts of Locust parse the command line themselves: leave them none of ours
    setup_logging("WARNING")
    if options.check:
        sys.exit(check(options.locustfile))
    logging.getLogger("locust.runners").setLevel(logging.ERROR)  # the lab spawns a step's users at once on purpose
    sys.exit(
        run(
            options.locustfile,
            options.host,
            options.saturation,
            options.workers,
            options.master_port,
            options.web,
            options.exact,
        )
    )


if __name__ == "__main__":
    main()
