"""The load generator process: Locust (as a library) driving one target under the step shape.

Run by flasklab as ``python -m flasklab.loadgen``, never imported by the orchestrator: importing Locust
monkey-patches the process with gevent. It prints one JSON object per line on stdout:

    {"event": "window", "step": 0, "users": 1}                      a measurement window starts
    {"event": "step", "step": 0, "users": 1, "requests": ..., ...}   that window's exact figures
    {"event": "error", "message": "..."}                            Locust could not run the locustfile

Percentiles are exact (nearest rank over every completion in the window), not Locust's 1 ms / 10 ms buckets,
and a step's rps counts the completions inside its own window only (not ramp-up, not cut-off requests).

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
from dataclasses import dataclass, field
from typing import Any

import gevent
import psutil
from locust import events  # first: Locust's gevent monkey-patching must precede everything else
from locust.env import Environment
from locust.log import setup_logging
from locust.util.load_locustfile import load_locustfile

import flasklab.lab_users  # noqa: F401  (registers itself on Locust's init event: bounded requests, task errors)
from flasklab.catalog import lab_root
from flasklab.distributed import CPU_KEY, SAMPLES_KEY, error_kind
from flasklab.openloop import OpenLoop, OpenLoopError, due_time

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
    """Every completion recorded inside one step's measurement window."""

    start: float
    response_ms: list[float] = field(default_factory=list)
    ended: list[float] = field(default_factory=list)
    failures: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    names: Counter[str] = field(default_factory=Counter)

    def summary(self, duration_s: float) -> dict[str, Any]:
        ordered = sorted(self.response_ms)
        count = len(ordered)
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
            "mean_ms": sum(ordered) / count if count else None,
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
        if hasattr(shape, "step_at") and hasattr(shape, "steps"):
            return shape
    sys.path.insert(0, str(lab_root() / "locustfiles"))
    from _lab import StepLoadShape  # type: ignore[import-not-found]

    return StepLoadShape()


class Recorder:
    """Puts each completion into its step's window by the time it completed (warm-ups and overruns discarded)."""

    def __init__(self, shape: Any) -> None:
        self.shape = shape
        self.windows: dict[int, Window] = {}
        self.worker_cpu: dict[str, list[tuple[float, float]]] = {}

    def record(self, run_time: float, response_ms: float, error: str | None, name: str | None = None) -> None:
        step = self.shape.step_at(run_time)
        if step >= len(self.shape.steps) or run_time - step * self.shape.step_s < self.shape.warmup_s:
            return
        window = self.windows.setdefault(step, Window(step * self.shape.step_s + self.shape.warmup_s))
        window.response_ms.append(response_ms)
        window.ended.append(run_time)
        if name is not None:
            window.names[name[:MAX_NAME_LENGTH]] += 1
        if error is not None:
            window.failures += 1
            window.errors[error] += 1

    def local_listener(
        self, response_time: float, exception: BaseException | None = None, name: str | None = None, **_: Any
    ) -> None:
        error = error_kind(exception) if exception else None
        self.record(time.perf_counter() - self.shape.start_time, response_time, error, name)

    def open_listener(
        self, response_time: float, exception: BaseException | None = None, name: str | None = None, **_: Any
    ) -> None:
        """The open model's completions: latency from when the request was due, not from when it left."""
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
    cpu_warnings = 0

    def on_cpu_warning(**_: Any) -> None:
        nonlocal cpu_warnings
        cpu_warnings += 1

    environment.events.cpu_warning.add_listener(on_cpu_warning)
    open_model = os.environ.get("LAB_MODEL", "closed") == "open"
    try:
        # The open model needs no Locust users: a local runner only keeps Locust's own stats and web UI going.
        runner = create_runner(environment, recorder, workers, master_port, locustfile, exact and not open_model)
        arrivals = OpenLoop(environment, list(user_classes.values())) if open_model else None
    except (RuntimeError, OpenLoopError) as error:
        emit(event="error", message=str(error))
        return 1
    if arrivals is not None and workers:
        emit(event="error", message="the open model runs in one Locust process, not with workers")
        return 1
    if arrivals is not None and exact:
        environment.events.request.add_listener(recorder.open_listener)
    web_ui = None
    if web:
        web_host, _, web_port = web.rpartition(":")
        web_ui = environment.create_web_ui(web_host or "127.0.0.1", int(web_port))
    environment.events.init.fire(environment=environment, runner=runner, web_ui=web_ui)
    environment.events.test_start.fire(environment=environment)
    generator = GeneratorCpu(recorder, workers)
    # Workers report every few seconds: a distributed step is summed up once its samples can have arrived.
    report_delay = REPORT_DELAY_S if workers else 0.0
    pending = []

    def summarise(
        step: int,
        users: int,
        start: tuple[float, float],
        end: tuple[float, float],
        counted: tuple[int, int],
        open_load: dict[str, Any],
    ) -> None:
        gevent.sleep(report_delay)
        generator_cpu = generator.share(start, end)
        empty = Window(step * shape.step_s + shape.warmup_s)
        if exact:
            summary = recorder.windows.pop(step, empty).summary(shape.window_s)
        else:
            summary = counted_summary(*counted, shape.window_s)
        emit(
            event="step",
            step=step,
            users=users,
            **open_load,
            workers=workers,
            generator_cpu=round(generator_cpu, 3),
            generator_saturated=generator_cpu > saturation,
            cpu_warnings=cpu_warnings,
            **summary,
        )

    # The shape decides the users; this loop applies each step on its boundary. (Locust's own shape loop ticks
    # once a second, which would eat into short warm-ups.)
    shape.reset_time()
    for step, users in enumerate(shape.steps):
        step_start = shape.start_time + step * shape.step_s
        gevent.sleep(max(step_start - time.perf_counter(), 0))
        tick = shape.tick()
        if tick is None:
            break
        if arrivals is None:
            runner.start(tick[0], spawn_rate=tick[1])
        else:  # the step's "users" are its rate: requests due per second until the step ends
            gevent.spawn(arrivals.arrivals, users, step_start, step_start + shape.step_s)
        window_start = step_start + shape.warmup_s
        gevent.sleep(max(window_start - time.perf_counter(), 0))
        emit(event="window", step=step, users=users)
        if arrivals is not None:
            arrivals.reset_peak()
        start, (requests, failures) = generator.mark(), locust_totals(environment)
        gevent.sleep(max(window_start + shape.window_s - time.perf_counter(), 0))
        end, (requests_end, failures_end) = generator.mark(), locust_totals(environment)
        counted = (requests_end - requests, failures_end - failures)
        emit(event="window_end", step=step, users=users)
        open_load: dict[str, Any] = {}
        if arrivals is not None:  # users: the most requests held open at once; backlog: still unanswered now
            open_load = {"offered_rps": float(users), "backlog": arrivals.pending}
        step_users = arrivals.peak if arrivals is not None else users
        pending.append(gevent.spawn(summarise, step, step_users, start, end, counted, open_load))
    gevent.joinall(pending)
    environment.events.test_stop.fire(environment=environment)
    if arrivals is not None:
        arrivals.stop()
    runner.quit()
    if web_ui:
        web_ui.stop()
    return 0


class GeneratorCpu:
    """The load generator's CPU over a window, as a share of one core: this process's, or its busiest worker's.

    Workers report their CPU seconds every few seconds; a worker's share is taken over the report interval that
    brackets the window (the last report before it starts to the first after it ends).
    """

    def __init__(self, recorder: Recorder, workers: int) -> None:
        self.recorder = recorder
        self.workers = workers
        self.process = psutil.Process()

    def _seconds(self) -> float:
        times = self.process.cpu_times()
        return times.user + times.system

    def mark(self) -> tuple[float, float]:
        """(wall time, this process's CPU seconds) now, at a window's edge."""
        return time.time(), self._seconds()

    def share(self, start: tuple[float, float], end: tuple[float, float]) -> float:
        if not self.workers:
            return (end[1] - start[1]) / max(end[0] - start[0], 1e-9)
        shares = []
        for reports in self.recorder.worker_cpu.values():
            before = [report for report in reports if report[0] <= start[0]]
            after = [report for report in reports if report[0] >= end[0]]
            if before and after and after[0][0] > before[-1][0]:
                shares.append((after[0][1] - before[-1][1]) / (after[0][0] - before[-1][0]))
        return max(shares, default=0.0)


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
