"""The load generator process: Locust (as a library) driving one target under the step shape.

Run by flasklab as ``python -m flasklab.loadgen``, never imported by the orchestrator: importing Locust
monkey-patches the process with gevent. It prints one JSON object per line on stdout:

    {"event": "window", "step": 0, "users": 1}                      a measurement window starts
    {"event": "step", "step": 0, "users": 1, "requests": ..., ...}   that window's exact figures
    {"event": "error", "message": "..."}                            Locust could not run the locustfile

Percentiles are exact (nearest rank over every completion in the window), not Locust's 1 ms / 10 ms buckets,
and a step's rps counts the completions inside its own window only (not ramp-up, not cut-off requests).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
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

from flasklab.catalog import lab_root

SATURATION = 0.90  # flasklab.settings.GENERATOR_SATURATION, passed on the command line


def emit(**event: Any) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def nearest_rank(ordered: list[float], percent: float) -> float | None:
    """The exact percentile of sorted values: the smallest value with at least ``percent`` % at or below it."""
    if not ordered:
        return None
    return ordered[max(math.ceil(percent / 100 * len(ordered)) - 1, 0)]


@dataclass
class Window:
    """Every completion recorded inside one step's measurement window."""

    response_ms: list[float] = field(default_factory=list)
    failures: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    def summary(self, duration_s: float) -> dict[str, Any]:
        ordered = sorted(self.response_ms)
        count = len(ordered)
        return {
            "duration_s": duration_s,
            "requests": count,
            "failures": self.failures,
            "rps": count / duration_s,
            "p50_ms": nearest_rank(ordered, 50),
            "p95_ms": nearest_rank(ordered, 95),
            "p99_ms": nearest_rank(ordered, 99),
            "max_ms": ordered[-1] if ordered else None,
            "mean_ms": sum(ordered) / count if count else None,
            "errors": dict(self.errors.most_common(20)),
        }


def error_kind(exception: BaseException) -> str:
    """A failure's kind without the parts that differ per request (URL, address)."""
    code = getattr(exception, "code", None)
    if isinstance(code, int):
        return f"HTTP {code}"
    text = str(exception).split(": ", 1)[-1] if "URL " in str(exception) else str(exception)
    return f"{type(exception).__name__}: {text}"[:160] if text else type(exception).__name__


def find_shape(shapes: list[Any]) -> Any:
    """The locustfile's own step shape, or the lab's when a user's locustfile brings none."""
    for shape in shapes:
        if hasattr(shape, "step_at") and hasattr(shape, "steps"):
            return shape
    sys.path.insert(0, str(lab_root() / "locustfiles"))
    from _lab import StepLoadShape  # type: ignore[import-not-found]

    return StepLoadShape()


def run(locustfile: str, host: str, saturation: float) -> int:
    try:
        user_classes, shapes = load_locustfile(locustfile)
    except Exception as error:  # a locustfile that raises on import is the user's data, reported as such
        emit(event="error", message=f"locustfile {locustfile} failed to load: {error_kind(error)}")
        return 1
    if not user_classes:
        emit(event="error", message=f"locustfile {locustfile} defines no User class")
        return 1
    shape = find_shape(shapes)
    environment = Environment(user_classes=list(user_classes.values()), shape_class=shape, host=host, events=events)
    windows: dict[int, Window] = {}
    cpu_warnings = 0

    def on_request(response_time: float, exception: BaseException | None = None, **_: Any) -> None:
        run_time = time.perf_counter() - shape.start_time
        step = shape.step_at(run_time)
        if step >= len(shape.steps) or run_time - step * shape.step_s < shape.warmup_s:
            return
        window = windows.setdefault(step, Window())
        window.response_ms.append(response_time)
        if exception is not None:
            window.failures += 1
            window.errors[error_kind(exception)] += 1

    def on_cpu_warning(**_: Any) -> None:
        nonlocal cpu_warnings
        cpu_warnings += 1

    environment.events.request.add_listener(on_request)
    environment.events.cpu_warning.add_listener(on_cpu_warning)
    runner = environment.create_local_runner()
    environment.events.init.fire(environment=environment, runner=runner, web_ui=None)
    environment.events.test_start.fire(environment=environment)
    process = psutil.Process()

    def cpu_seconds() -> float:
        times = process.cpu_times()
        return times.user + times.system

    # The shape decides the users; this loop applies each step on its boundary. (Locust's own shape loop ticks
    # once a second, which would eat into short warm-ups.)
    shape.reset_time()
    for step, users in enumerate(shape.steps):
        step_start = shape.start_time + step * shape.step_s
        gevent.sleep(max(step_start - time.perf_counter(), 0))
        tick = shape.tick()
        if tick is None:
            break
        runner.start(tick[0], spawn_rate=tick[1])
        window_start = step_start + shape.warmup_s
        gevent.sleep(max(window_start - time.perf_counter(), 0))
        emit(event="window", step=step, users=users)
        cpu_before, started = cpu_seconds(), time.perf_counter()
        gevent.sleep(max(window_start + shape.window_s - time.perf_counter(), 0))
        generator_cpu = (cpu_seconds() - cpu_before) / max(time.perf_counter() - started, 1e-9)
        summary = windows.pop(step, Window()).summary(shape.window_s)
        emit(
            event="step",
            step=step,
            users=users,
            running_users=runner.user_count,
            generator_cpu=round(generator_cpu, 3),
            generator_saturated=generator_cpu > saturation,
            cpu_warnings=cpu_warnings,
            **summary,
        )
    environment.events.test_stop.fire(environment=environment)
    runner.quit()
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description="flasklab's Locust process (one target, one scenario)")
    parser.add_argument("--locustfile", required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--saturation", type=float, default=SATURATION)
    options = parser.parse_args()
    setup_logging("WARNING")
    logging.getLogger("locust.runners").setLevel(logging.ERROR)  # the lab spawns a step's users at once on purpose
    sys.exit(run(options.locustfile, options.host, options.saturation))


if __name__ == "__main__":
    main()
