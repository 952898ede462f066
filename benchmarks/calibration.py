"""scripts/bench calibration: the lab measured against a queue whose answer is known exactly.

gunicorn-sync (its c workers as the catalog says) serves ``/io?dist=exp``: sleeps exponential of mean MEAN_MS. Fed
the open model's Poisson arrivals, it is an M/M/c queue, whose response time is known in closed form (Erlang C wait
plus exponential service: flasklab.planning.queueing.mmc_response_percentile). Each utilisation of UTILISATIONS is one
step of its own (a Locust process each: a WARMUP_S warm-up, then a WINDOW_S window), measured through the lab's whole
path: arrivals, the open loop timing from the due time, censoring at the window's end, exact percentiles.

Per point the line gives measured p50/p95/p99 against the exact M/M/c values and the relative error, and beside it
the *replay*: the same seeded arrivals and the same seeded sleeps run through an FCFS queue of c servers in Python,
over the same window. The replay is what an ideal lab would measure on this very sample path, so measured vs replay
is the lab's own error (overhead per request, arrivals sent late, censoring, percentiles) and replay vs exact is
sampling: at utilisation 0.8 a 60 s window's p95 varies by about 10 % (sd) between sample paths, by simulation, which
is why the points are seeded and the replay printed. The last line is ``calibration_p95_error_max <ratio>``, the
largest |measured - exact| / exact p95 (goal: 0.10 up to 0.8), and ``calibration_p95_lab_error_max`` the largest
against the replay.

The server's own cost per request (parsing, Flask, a new connection: gunicorn's sync workers close each one) keeps
a worker busy beyond its sleep; it is measured first, as the median latency of ``/io?ms=0`` one request at a time,
and printed, so a bias can be traced to that term.
"""

from __future__ import annotations

import heapq
import statistics
import time
from dataclasses import dataclass

from servers import local_server

from flasklab.core.arrivals import Schedule, step_generator
from flasklab.core.catalog import lab_root, load_scenarios, load_servers
from flasklab.core.intervals import nearest_rank
from flasklab.core.results import Step
from flasklab.core.settings import Profile
from flasklab.measure.backends.base import RunningTarget, http_get
from flasklab.measure.backends.local import LocalBackend
from flasklab.measure.load import LoadJob, run_load
from flasklab.planning.queueing import mmc_response_percentile
from flasklab_app.app import service_time_ms

SERVER = "gunicorn-sync"
MEAN_MS = 25  # long against the server's own cost per request (about 1 ms), short enough for thousands of samples
UTILISATIONS = (0.3, 0.5, 0.7, 0.8)
WARMUP_S = 4.0
WINDOW_S = 60.0  # 2,900 samples at 0.3, 7,700 at 0.8: p99 from thousands
SEED = 21
SEED_STRIDE = 1_000_000  # each point's sleeps start at its own seed (locustfiles/io.py: request k gets seed + k)
PERCENTS = (50, 95, 99)
GOAL = 0.10
OVERHEAD_REQUESTS = 200


@dataclass(frozen=True)
class Point:
    utilisation: float
    rate_rps: int
    seed: int
    sleep_seed: int


def points(slots: int) -> list[Point]:
    """One point per utilisation: its Poisson rate (rate = utilisation x c / E[S]) and its seeds."""
    return [
        Point(rho, round(rho * slots * 1000 / MEAN_MS), SEED + index, index * SEED_STRIDE)
        for index, rho in enumerate(UTILISATIONS)
    ]


def replay(point: Point, slots: int, warmup_s: float, window_s: float, busy_ms: float = 0.0) -> list[float]:
    """Latencies (ms) of the requests an FCFS queue of ``slots`` servers completes inside the window, fed the same
    due times as the lab's open loop (its Schedule, seeded per step) and the same sleeps as the app draws; with
    ``busy_ms`` each request holds its server that much longer than its sleep (the server's own cost)."""
    schedule = Schedule(point.rate_rps, 0.0, step_generator("poisson", point.seed, 0))
    window_end = warmup_s + window_s
    free = [0.0] * slots
    latencies: list[float] = []
    index = 0
    while (due := schedule.due(index)) < window_end:
        sleep_s = (service_time_ms(MEAN_MS, "exp", point.sleep_seed + index) + busy_ms) / 1000
        end = max(due, free[0]) + sleep_s
        heapq.heapreplace(free, end)
        if warmup_s <= end <= window_end:
            latencies.append(1000 * (end - due))
        index += 1
    return sorted(latencies)


def overhead_ms(url: str) -> float:
    """The median latency of a sleep of 0, one request at a time: the server's and the client's cost per request."""
    times = []
    for _ in range(OVERHEAD_REQUESTS):
        start = time.perf_counter()
        status, _body = http_get(url + "/io?ms=0", 5)
        times.append(1000 * (time.perf_counter() - start))
        assert status == 200
    return statistics.median(times)


def measure(point: Point, backend: LocalBackend, target: RunningTarget) -> Step:
    profile = Profile("calibration", (1,), WARMUP_S, WINDOW_S, "one step", rates=(point.rate_rps,))
    params = {"ms": MEAN_MS, "exp": 1, "seed": point.sleep_seed}
    job = LoadJob.of(load_scenarios(lab_root())["io"].locustfile, params, profile, model="open", seed=point.seed)
    steps: list[Step] = []
    run_load(job, target, backend, lambda _step, _load: None, steps.append)
    return steps[0]


def error(measured: float | None, expected: float) -> float:
    return float("inf") if measured is None else (measured - expected) / expected


def print_point(
    point: Point, step: Step, exact: list[float], ideal: list[float], replayed: int, costed: list[float]
) -> None:
    measured = [step.p50_ms, step.p95_ms, step.p99_ms]
    rows = zip(PERCENTS, measured, exact, ideal, strict=True)
    cells = "  ".join(f"p{p} {m or 0:.1f}/{e:.1f} ({error(m, e):+.3f})" for p, m, e, _ in rows)
    lab = "  ".join(f"p{p} {error(m, i):+.3f}" for p, m, _, i in zip(PERCENTS, measured, exact, ideal, strict=True))
    print(
        f"calibration rho {point.utilisation:.1f} ({point.rate_rps} rps): measured/exact {cells}  "
        f"n {step.requests} censored {step.censored} failures {step.failures}"
    )
    print(
        f"#   replay (same arrivals and sleeps) p50/p95/p99 {' '.join(f'{i:.1f}' for i in ideal)} n {replayed}; "
        f"measured vs replay {lab}; replay vs exact p95 {error(ideal[1], exact[1]):+.3f}; "
        f"rps {step.rps:.1f} generator_cpu {step.generator_cpu:.2f} server_cpu {step.server_cpu}"
    )
    print(
        f"#   replay with each worker held the measured overhead longer p50/p95/p99 "
        f"{' '.join(f'{i:.1f}' for i in costed)}; measured vs it p95 {error(step.p95_ms, costed[1]):+.3f}"
    )


def calibration(extra: list[str]) -> int:
    server = load_servers(lab_root())[SERVER]
    slots = server.concurrency
    assert slots is not None
    worst, worst_lab = 0.0, 0.0
    with local_server(SERVER) as (backend, target):
        print(
            f"# {SERVER}: c = {slots} workers (catalog), /io?dist=exp mean {MEAN_MS} ms, Poisson arrivals, "
            f"{WARMUP_S:g} s warm-up + {WINDOW_S:g} s window a point, pinning {backend.pinning}"
        )
        overhead = overhead_ms(target.url)
        print(f"# overhead: /io?ms=0 one at a time, median {overhead:.2f} ms a request")
        for point in points(slots):
            step = measure(point, backend, target)
            exact = [mmc_response_percentile(p / 100, point.rate_rps, slots, MEAN_MS) for p in PERCENTS]
            warmup_s = step.warmup_used_s if step.warmup_used_s is not None else WARMUP_S
            replayed = replay(point, slots, warmup_s, step.duration_s)
            ideal = [nearest_rank(replayed, p) or 0.0 for p in PERCENTS]
            costed = replay(point, slots, warmup_s, step.duration_s, overhead)
            print_point(point, step, exact, ideal, len(replayed), [nearest_rank(costed, p) or 0.0 for p in PERCENTS])
            worst = max(worst, abs(error(step.p95_ms, exact[1])))
            worst_lab = max(worst_lab, abs(error(step.p95_ms, ideal[1])))
    print(f"calibration_p95_error_max {worst:.3f}  (goal <= {GOAL} up to rho 0.8)")
    print(f"calibration_p95_lab_error_max {worst_lab:.3f}  (measured vs the replay of the same sample path)")
    return 0
