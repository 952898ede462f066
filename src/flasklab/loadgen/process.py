"""The Locust process: Locust (as a library) driving one target under the step shape.

Run by flasklab as ``python -m flasklab.loadgen --config DOCUMENT``, its one input a flasklab.core.protocol.LoadConfig
(the load's every knob, the target, how the generator runs), parsed once and kept for the locustfiles
(flasklab.loadgen.config); never imported by the orchestrator: importing Locust monkey-patches the process with gevent.
It writes one flasklab.core.protocol event per line on stdout: each measurement window's start and end (the
orchestrator reads the server's usage at both), then that window's results step, or an error when Locust could not run
the locustfile. A step's figures are the results model itself, validated here and again by the orchestrator, which
adds what only it can measure (the server's CPU and memory: left null here). ``--check --locustfile FILE`` only loads
a locustfile and says what it defines; ``--worker --config DOCUMENT`` is one of the load's local Locust workers
(flasklab.loadgen.worker).

A step's warm-up lasts until completions and in-flight requests are steady, within its cap (flasklab.core.steady);
with Locust workers, whose samples arrive seconds late, it is the profile's and its steadiness is judged afterwards.
The generator side is measured as a whole (generator_cpu), and so is its own lag (flasklab.loadgen.lag: the event
loop's oversleep; in the open model each arrival's delay in being sent).

With the load's ``exact`` off the process records nothing of its own: a window's requests and failures are the
differences of Locust's own running totals at its edges, and its percentiles and intervals are null. It exists to
measure what exact recording costs (``scripts/bench overhead``); it needs a single Locust process.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gevent
from locust import events  # first: Locust's gevent monkey-patching must precede everything else
from locust.env import Environment
from locust.log import setup_logging
from locust.util.load_locustfile import load_locustfile
from pydantic import ValidationError

from flasklab.core.catalog import lab_root
from flasklab.core.protocol import (
    CurveStopped,
    Event,
    LoadConfig,
    LoadError,
    LocustfileChecked,
    StepMeasured,
    WindowEnded,
    WindowStarted,
    event_line,
)
from flasklab.core.results import Step
from flasklab.core.steady import TREND_SLICES, WARMUP_SLICES, unstable
from flasklab.core.stopping import stop_reason
from flasklab.loadgen import config as given_load
from flasklab.loadgen.distributed import error_kind
from flasklab.loadgen.driver import Driver, wait_until, warm_up
from flasklab.loadgen.generator_cpu import GeneratorCpu, Mark
from flasklab.loadgen.lag import LoopLag, lag_figures
from flasklab.loadgen.openloop import OpenLoop, OpenLoopError
from flasklab.loadgen.recorder import Phase, Recorder
from flasklab.loadgen.window import WINDOW_CHECK_S, WINDOW_FLOOR, Window, counted_figures, enough
from flasklab.loadgen.worker import run_worker

WORKER_WAIT_S = 120.0
REPORT_DELAY_S = 4.0  # Locust workers report every 3 s


def emit(event: Event) -> None:
    """Say ``event`` to the orchestrator: one line on stdout, at once."""
    sys.stdout.write(event_line(event) + "\n")
    sys.stdout.flush()


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


def create_runner(environment: Environment, recorder: Recorder, config: LoadConfig, record_locally: bool) -> Any:
    """A local runner, or a master that waits for ``config.workers`` Locust workers (they may fetch the locustfiles
    from it)."""
    if not config.workers:
        if record_locally:
            environment.events.request.add_listener(recorder.local_listener)
        return environment.create_local_runner()
    environment.parsed_locustfiles = [config.locustfile, str(lab_root() / "locustfiles" / "_lab.py")]
    environment.events.worker_report.add_listener(recorder.worker_listener)
    runner = environment.create_master_runner(master_bind_host="*", master_bind_port=config.master_port)
    deadline = time.monotonic() + WORKER_WAIT_S
    while len(runner.clients.ready) < config.workers:
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{len(runner.clients.ready)} of {config.workers} Locust workers connected in {WORKER_WAIT_S:.0f} s"
            )
        gevent.sleep(0.2)
    return runner


def start_web_ui(environment: Environment, web: str) -> Any:
    """Locust's own web UI at HOST:PORT during the run, or None when ``web`` is empty."""
    if not web:
        return None
    web_host, _, web_port = web.rpartition(":")
    return environment.create_web_ui(web_host or "127.0.0.1", int(web_port))


@dataclass
class Session:
    """One run's Locust side: its environment and runner, the recorder, the open model's arrivals, the web UI."""

    config: LoadConfig
    shape: Any
    environment: Environment
    recorder: Recorder
    runner: Any
    arrivals: OpenLoop | None
    web_ui: Any
    loop_lag: LoopLag | None = None  # the event loop's lag; None with workers (the master's loop sends nothing)

    def completion_counter(self) -> Callable[[], int] | None:
        """What a steady warm-up counts completions with: the recorder's, or Locust's totals with ``exact`` off;
        None with workers, whose samples arrive seconds late (the warm-up cannot wait for them)."""
        if self.config.workers:
            return None
        if self.config.exact:
            return lambda: self.recorder.completed
        return lambda: locust_totals(self.environment)[0]


def start(config: LoadConfig) -> Session | None:
    """Locust ready to load the target (workers connected, listeners on); None, with an error said, when not."""
    if config.workers and not config.exact:
        emit(LoadError(message="exact recording off needs a single Locust process, not workers"))
        return None
    if config.workers and config.model == "open":
        emit(LoadError(message="the open model runs in one Locust process, not with workers"))
        return None
    loaded = load_users(config.locustfile)
    if loaded is None:
        return None
    user_classes = list(loaded[0].values())
    shape = find_shape(loaded[1])
    environment = Environment(user_classes=user_classes, shape_class=shape, host=config.host, events=events)
    recorder = Recorder(shape)
    open_model = config.model == "open"
    try:
        # The open model needs no Locust users: a local runner only keeps Locust's own stats and web UI going.
        runner = create_runner(environment, recorder, config, config.exact and not open_model)
        arrivals = (
            OpenLoop(environment, user_classes, arrivals=config.arrivals, seed=config.seed) if open_model else None
        )
    except (RuntimeError, OpenLoopError) as error:
        emit(LoadError(message=str(error)))
        return None
    if arrivals is not None and config.exact:
        environment.events.request.add_listener(recorder.open_listener)
    web_ui = start_web_ui(environment, config.web)
    environment.events.init.fire(environment=environment, runner=runner, web_ui=web_ui)
    environment.events.test_start.fire(environment=environment)
    loop_lag = None if config.workers else LoopLag()
    if loop_lag is not None:
        loop_lag.start()
    return Session(config, shape, environment, recorder, runner, arrivals, web_ui, loop_lag)


@dataclass
class Measured:
    """What the step loop took of one window at its edges; its figures are summed up once its samples are in."""

    step: int
    users: int  # closed loop: the step's users; open model: the most requests held open at once
    edges: tuple[Mark, Mark]
    counted: tuple[int, int]  # Locust's own requests and failures over the window
    fields: dict[str, Any]  # Step fields known at the window's end (steady, warm-up used, the open model's)
    overdue_ms: list[float] | None  # open model: ages of the requests due and unanswered at the window's end
    duration_s: float  # the window's length: the profile's, or shorter where it held enough samples sooner


def open_fields(arrivals: OpenLoop, rate: int, backlog_path: list[int]) -> tuple[dict[str, Any], list[float]]:
    """An open-model window's own fields, taken at its end: offered rate, backlog (requests due and unanswered,
    with their ages for the censored latencies), its path over the window's slices (``backlog_path``: read at the
    window's start and slice boundaries; its end is read here) and whether it grew as a trend (unstable)."""
    now = time.perf_counter()
    overdue = arrivals.overdue(now)
    path = [*backlog_path, len(overdue)]
    fields = {
        "offered_rps": float(rate),
        "backlog": len(overdue),
        "backlog_path": path,
        "unstable": unstable(path),
    }
    return fields, [(now - due) * 1000 for due in overdue]


def lag_fields(session: Session) -> dict[str, Any]:
    """The generator's own lag over the window just ended: its event loop's, and in the open model each arrival's
    delay in being sent and how many found the cap of requests open at once reached (flasklab.loadgen.lag)."""
    fields = session.loop_lag.figures() if session.loop_lag is not None else {}
    if session.arrivals is not None:
        fields |= lag_figures("send_lag", session.arrivals.send_lags_ms)
        fields["capped_arrivals"] = session.arrivals.capped
    return fields


def measure_window(session: Session, driver: Driver, generator: GeneratorCpu, step: int, step_start: float) -> Measured:
    """Apply step ``step`` from ``step_start``, wait out its warm-up and its window, and take what its edges give."""
    shape, recorder, arrivals, workers = session.shape, session.recorder, session.arrivals, session.config.workers
    users = shape.steps[step]
    wait_until(shape.start_time + step_start)
    phase = recorder.begin(step, step_start)
    driver.begin(shape, step, step_start)
    if workers:  # fixed: late samples are filed by these edges
        phase.window_start = step_start + shape.warmup_s
        phase.window_end = phase.window_start + shape.window_s
        driver.end_at(phase.window_end)
    steady = warm_up(phase, driver, arrivals is None, session.completion_counter())
    if not workers:
        phase.window_start = time.perf_counter() - shape.start_time
        phase.window_end = phase.window_start + shape.window_s
        driver.end_at(phase.window_end)
    assert phase.window_start is not None and phase.window_end is not None
    wait_until(shape.start_time + phase.window_start)
    emit(WindowStarted(step=step, users=users))
    if arrivals is not None:
        arrivals.reset_peak()
        arrivals.reset_lag()
    if session.loop_lag is not None:
        session.loop_lag.reset()
    backlog_path = [driver.in_flight()]
    start, (requests, failures) = generator.mark(), locust_totals(session.environment)
    if arrivals is not None:  # the backlog at each slice boundary: its trend says whether the server kept up
        for boundary in range(1, TREND_SLICES):
            wait_until(shape.start_time + phase.window_start + boundary * shape.window_s / TREND_SLICES)
            backlog_path.append(driver.in_flight())
    if session.config.windows == "enough" and arrivals is None and not workers and session.config.exact:
        end_when_enough(session, phase, step)
    else:
        wait_until(shape.start_time + phase.window_end)
    end, (requests_end, failures_end) = generator.mark(), locust_totals(session.environment)
    fields: dict[str, Any] = {"steady": steady, "warmup_used_s": round(phase.window_start - phase.start, 3)}
    fields |= lag_fields(session)
    overdue_ms = None
    if arrivals is not None:
        open_only, overdue_ms = open_fields(arrivals, users, backlog_path)
        fields |= open_only
    emit(WindowEnded(step=step, users=users))
    step_users = arrivals.peak if arrivals is not None else users
    counted = (requests_end - requests, failures_end - failures)
    duration = round(phase.window_end - phase.window_start, 3)
    return Measured(step, step_users, (start, end), counted, fields, overdue_ms, duration)


def end_when_enough(session: Session, phase: Phase, step: int) -> None:
    """End the window once it holds enough samples (flasklab.loadgen.window.enough), from its floor on, or at its
    full length: ``phase.window_end`` is moved to that moment, after which the recorder files nothing into it."""
    shape = session.shape
    assert phase.window_start is not None and phase.window_end is not None
    wait_until(shape.start_time + phase.window_start + WINDOW_FLOOR * shape.window_s)
    while (now := time.perf_counter() - shape.start_time) < phase.window_end:
        if enough(session.recorder.windows.get(step), now - phase.window_start, session.recorder.kinds):
            phase.window_end = now
            return
        gevent.sleep(min(WINDOW_CHECK_S, phase.window_end - now))


def step_figures(session: Session, generator: GeneratorCpu, measured: Measured) -> Step:
    """The window's results step, as far as this process measures it (the orchestrator adds the server's usage)."""
    config, phase = session.config, session.recorder.phases[measured.step]
    fields = dict(measured.fields)
    if fields["steady"] is None and config.workers:  # judged now that the warm-up's samples are in
        fields["steady"] = phase.steady_at(WARMUP_SLICES, session.arrivals is None)
    if config.exact:
        assert phase.window_start is not None
        window = session.recorder.windows.pop(measured.step, Window(phase.window_start))
        figures = window.figures(measured.duration_s, measured.overdue_ms, session.recorder.starts(phase.window_start))
    else:
        figures = counted_figures(*measured.counted, measured.duration_s)
    return Step(
        users=measured.users,
        generator_workers=config.workers,
        **fields,
        **generator.figures(*measured.edges, config.saturation),
        **figures,
        server_cpu=None,  # measured by the orchestrator, which reads the server's usage at the window's edges
        server_rss_mb=None,
    )


def run(config: LoadConfig) -> int:
    """Drive the target through every step, emitting the events; 1 when Locust could not run the locustfile."""
    session = start(config)
    if session is None:
        return 1
    generator = GeneratorCpu(session.recorder.worker_cpu, set(config.server_cpus))
    # Workers report every few seconds: a distributed step is summed up once its samples can have arrived.
    report_delay = REPORT_DELAY_S if config.workers else 0.0
    curve: list[Step] = []  # the steps summed up so far: what the stopping rule reads

    def summarise(measured: Measured) -> None:
        gevent.sleep(report_delay)
        curve.append(step_figures(session, generator, measured))
        emit(StepMeasured(step=measured.step, figures=curve[-1]))

    # This loop applies each step on its own boundaries: a step begins where the previous window ended, and its
    # window once its warm-up is steady. (Locust's own shape loop ticks once a second on a fixed schedule.) With
    # adaptive steps a step's figures are summed up before the next begins, so that the curve can stop after it.
    session.shape.reset_time()
    driver = Driver(session.runner, session.arrivals, session.shape.start_time)
    pending, step_start = [], 0.0
    for step in range(len(session.shape.steps)):
        measured = measure_window(session, driver, generator, step, step_start)
        pending.append(gevent.spawn(summarise, measured))
        window_end = session.recorder.phases[step].window_end
        assert window_end is not None
        step_start = window_end
        if config.steps_rule == "adaptive" and step < len(session.shape.steps) - 1:
            gevent.joinall(pending)  # distributed: the workers' reports awaited, so the next step begins from now
            if (reason := stop_reason(curve, config.holds_connections)) is not None:
                emit(CurveStopped(step=step, reason=reason))
                break
            step_start = max(step_start, time.perf_counter() - session.shape.start_time)
    gevent.joinall(pending)
    stop(session)
    return 0


def stop(session: Session) -> None:
    """Locust's end of test, the open model's arrivals stopped, the runner and the web UI quit."""
    session.environment.events.test_stop.fire(environment=session.environment)
    if session.arrivals is not None:
        session.arrivals.stop()
    if session.loop_lag is not None:
        session.loop_lag.stop()
    session.runner.quit()
    if session.web_ui:
        session.web_ui.stop()


def load_users(locustfile: str) -> tuple[dict[str, Any], list[Any]] | None:
    """The locustfile's User classes and shapes; None, with an error event said, when it fails or defines no User."""
    try:
        user_classes, shapes = load_locustfile(locustfile)
    except (Exception, SystemExit) as error:  # a locustfile that raises on import is the user's data, reported
        emit(LoadError(message=f"locustfile {locustfile} failed to load: {error_kind(error)}"))
        return None
    if not user_classes:
        emit(LoadError(message=f"locustfile {locustfile} defines no User class"))
        return None
    return user_classes, shapes


def check(locustfile: str) -> int:
    """Load a locustfile as a run would, and say what it defines (or what is wrong with it)."""
    loaded = load_users(locustfile)
    if loaded is None:
        return 1
    emit(LocustfileChecked(users=sorted(loaded[0])))
    return 0


def read_config(document: str) -> LoadConfig | None:
    """The run's one input, validated; None, with an error event said, when it is not a LoadConfig."""
    try:
        return LoadConfig.model_validate_json(document)
    except ValidationError as error:
        emit(LoadError(message=f"--config is not a load configuration: {error}"))
        return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="flasklab's Locust process (one target, one scenario)")
    parser.add_argument("--config", help="the load: a JSON document (flasklab.core.protocol.LoadConfig)")
    parser.add_argument("--worker", action="store_true", help="with --config: one of the load's local Locust workers")
    parser.add_argument("--check", action="store_true", help="only load --locustfile and report its User classes")
    parser.add_argument("--locustfile", help="with --check: the locustfile to load")
    options = parser.parse_args(argv)
    if bool(options.config) == bool(options.check and options.locustfile):
        parser.error("pass --config DOCUMENT, or --check --locustfile FILE")
    sys.argv = sys.argv[:1]  # parts of Locust parse the command line themselves: leave them none of ours
    setup_logging("WARNING")
    if options.check:
        sys.exit(check(options.locustfile))
    config = read_config(options.config)
    if config is None:
        sys.exit(1)
    given_load.use(config)  # before Locust loads the locustfile: what it and the lab's users read
    logging.getLogger("locust.runners").setLevel(logging.ERROR)  # the lab spawns a step's users at once on purpose
    sys.exit(run_worker(config) if options.worker else run(config))
