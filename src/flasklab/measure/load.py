"""Runs one target's load in a Locust process of its own and turns its step events into results steps.

Locust lives in a child process (``python -m flasklab.loadgen``) because importing it monkey-patches with gevent.
This side builds the target's load once (``LoadJob``: every knob of the sweep, a flasklab.core.protocol.Load), gives
the Locust process and its local workers one document (flasklab.core.protocol.LoadConfig), reads its events
(flasklab.core.protocol.read_event), samples the server's usage at each window's edges (the only step fields measured
here: server_cpu, server_rss_mb), and enforces time limits.
"""

from __future__ import annotations

import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from flasklab.core.catalog import Scenario
from flasklab.core.protocol import (
    CurveStopped,
    Event,
    Load,
    LoadConfig,
    LoadError,
    StepMeasured,
    WindowEnded,
    WindowStarted,
    read_event,
)
from flasklab.core.results import Step
from flasklab.core.settings import (
    GENERATOR_SATURATION,
    LOCUST_MASTER_PORT,
    LOCUST_WORKER_SERVICE,
    LOCUST_WORKERS,
    Profile,
    locust_web,
)
from flasklab.core.steady import WARMUP_CAP  # pure rules, no Locust: the orchestrator may import them
from flasklab.core.sweep import Sweep
from flasklab.measure.backends.base import Backend, QueueSampler, RunningTarget, Usage
from flasklab.measure.backends.local import free_port
from flasklab.measure.forked import ForkFailed, LocustProcess, locust_process
from flasklab.measure.interrupts import held_interrupts
from flasklab_app.listen import AcceptQueue

# Locust start-up plus the slack a step may overrun before the generator is declared hung.
GRACE_S = 30.0
WORKER_CHECK_S = 0.5  # how often local Locust workers are checked for an early exit while events are awaited


class LoadFailed(RuntimeError):
    """The load generator could not run the scenario (bad locustfile, crash, hang)."""


@dataclass(frozen=True)
class LoadJob:
    """One target's load, built once (validated: the model, arrivals and connections too), and how many Locust
    processes on this machine run it (above 1: a master and this many local workers)."""

    load: Load
    processes: int = 1

    @classmethod
    def of(
        cls, locustfile: Path, params: dict[str, int], profile: Profile, processes: int = 1, **knobs: Any
    ) -> LoadJob:
        """``profile``'s steps (its users, or in the open model its rates) and timing; the other knobs of
        flasklab.core.protocol.Load by name (``model``, ``arrivals``, ``seed``, ``connections``, ``exact``...)."""
        steps = profile.loads(knobs.get("model", "closed"))
        timing = {"steps": steps, "warmup_s": profile.warmup_s, "window_s": profile.window_s}
        scenario = {"locustfile": str(locustfile.resolve()), "params": params}  # resolved: local workers run elsewhere
        return cls(Load.model_validate({**scenario, **timing, **knobs}), processes)

    @classmethod
    def for_sweep(cls, sweep: Sweep, scenario: Scenario, params: dict[str, int]) -> LoadJob:
        """The load of one of ``sweep``'s targets: its scenario's locustfile and parameters, the sweep's knobs."""
        knobs: dict[str, Any] = {"model": sweep.model, "arrivals": sweep.arrivals, "connections": sweep.connections}
        knobs |= {"steps_rule": sweep.steps_rule, "holds_connections": scenario.holds_connections}
        # A reload's window runs whole, and so do a timeout scenario's: its few long requests are what it is about.
        whole = sweep.reload_at_s or scenario.outlasts_server_timeout is not None
        knobs["windows"] = "fixed" if whole else sweep.profile.windows
        return cls.of(scenario.locustfile, params, sweep.profile, sweep.processes, seed=sweep.seed or 0, **knobs)

    def repeating(self, loads: tuple[int, ...]) -> LoadJob:
        """The same load over exactly these loads, every one (a later round repeating the first round's curve)."""
        return replace(self, load=self.load.model_copy(update={"steps": loads, "steps_rule": "fixed"}))


class LocalWorkers:
    """Locust workers on this machine, pinned like the generator, loading the same locustfiles as the master.

    Each is the Locust process in worker mode (flasklab.loadgen.worker), given the master's document. They read the
    locustfiles from disk rather than fetching them from the master (``-f -``): a fetching worker
    writes the files into the machine's temp folder under their own names and imports them from there, so two
    workers on one machine rewrite the files the other is importing. Measured on 2 cores with Locust 2.47: 3 of 60
    fetching worker starts failed (ImportError, "No User class found", a segmentation fault), and the master waited
    for them in vain; 0 of 50 reading from disk. Each worker's stderr goes to a file, so a worker that dies is
    reported with its last words.
    """

    def __init__(self, count: int, backend: Backend, config: LoadConfig) -> None:
        command = [sys.executable, "-m", "flasklab.loadgen", "--worker", "--config", config.model_dump_json()]
        self.folder = Path(tempfile.mkdtemp(prefix="flasklab-workers-"))
        self.logs = [self.folder / f"worker-{index + 1}.log" for index in range(count)]
        self.processes: list[subprocess.Popen[bytes]] = []
        try:
            for log in self.logs:
                with log.open("wb") as stderr:
                    self.processes.append(
                        subprocess.Popen(
                            backend.generator_command(command),
                            cwd=self.folder,
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=stderr,
                            start_new_session=True,
                        )
                    )
        except BaseException:  # no worker outlives a start that failed half-way
            for process in self.processes:
                process.kill()
            self.stop()
            raise

    def check(self) -> None:
        """Raise LoadFailed if a worker has failed: the master would wait for it, or run its step short of users.

        Only a failure counts: a worker the master told to quit exits with 0, and may do so before its last event
        was read.
        """
        for index, (process, log) in enumerate(zip(self.processes, self.logs, strict=True)):
            code = process.poll()
            if not code:
                continue
            how = f"signal {signal.Signals(-code).name}" if code < 0 else f"code {code}"
            tail = " ".join(log.read_text(errors="replace").split()[-60:])
            raise LoadFailed(f"Locust worker {index + 1} of {len(self.processes)} exited with {how}: {tail}")

    def stop(self) -> None:
        """The master's quit ends its workers; any left after a grace period are killed."""
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def _lines(stream: IO[str]) -> Iterator[str]:
    yield from iter(stream.readline, "")


def _reader(stream: IO[str], sink: queue.Queue[str | None]) -> None:
    for line in _lines(stream):
        sink.put(line)
    sink.put(None)


def server_figures(before: Usage | None, after: Usage | None) -> dict[str, float | None]:
    """The step fields measured here: the server's CPU over the window (cores) and its memory at the end (MiB)."""
    server_cpu = None
    if before and after and after.at > before.at:
        server_cpu = round((after.cpu_seconds - before.cpu_seconds) / (after.at - before.at), 3)
    return {"server_cpu": server_cpu, "server_rss_mb": round(after.rss_bytes / 2**20, 1) if after else None}


def queue_figures(accepting: AcceptQueue | None) -> dict[str, float | None]:
    """The step fields of the window's accept queue (none: not read)."""
    if accepting is None:
        return {}
    return {
        "accept_queue_max": accepting.max,
        "accept_queue_mean": accepting.mean,
        "accept_backlog": accepting.backlog,
        "listen_overflows": accepting.overflows,
    }


def measured_step(
    event: StepMeasured, before: Usage | None, after: Usage | None, accepting: AcceptQueue | None = None
) -> Step:
    """A results step: the Locust process's figures with the server's usage at the window's edges and its accept
    queue over the window, validated."""
    try:
        return Step.model_validate(
            {**event.figures.model_dump(), **server_figures(before, after), **queue_figures(accepting)}
        )
    except ValidationError as error:  # the two process worlds disagree: a bug, reported as the target's failure
        raise LoadFailed(f"the load generator's step is not a results step: {error}") from error


def load_config(job: LoadJob, target: RunningTarget, backend: Backend, workers: int, master_port: int) -> LoadConfig:
    """The Locust process's one input: ``job``'s load against ``target``, and how the generator runs."""
    return LoadConfig(
        **job.load.model_dump(),
        host=target.url,
        saturation=GENERATOR_SATURATION,
        workers=workers,
        master_port=master_port,
        web=locust_web(),
        server_cpus=tuple((backend.pinning or {}).get("server", [])),
    )


def locust_workers(setting: str = LOCUST_WORKERS) -> int:
    """How many Locust workers to wait for: a number, or with "auto" the replicas the compose DNS knows."""
    if setting != "auto":
        return int(setting)
    try:
        replicas = {info[4][0] for info in socket.getaddrinfo(LOCUST_WORKER_SERVICE, None)}
    except socket.gaierror:
        return 0
    return len(replicas)


def run_load(
    job: LoadJob,
    target: RunningTarget,
    backend: Backend,
    on_window: Callable[[int, int], None],
    on_step: Callable[[Step], None],
    on_stop: Callable[[str], None] | None = None,
) -> None:
    """Drive ``target`` through every step of the profile; each finished step goes to ``on_step``, and with adaptive
    steps why the curve stopped early to ``on_stop``."""
    workers, master_port = locust_workers(), LOCUST_MASTER_PORT
    if job.processes > 1:
        workers, master_port = job.processes, free_port()
    config = load_config(job, target, backend, workers, master_port)
    command = backend.generator_command([sys.executable, "-m", "flasklab.loadgen"])
    local_workers: LocalWorkers | None = None
    process: LocustProcess | None = None
    try:
        with held_interrupts():  # each process kept before a signal acts, so that the finally below stops it
            if job.processes > 1:
                local_workers = LocalWorkers(job.processes, backend, config)
            try:
                process = locust_process(command, ["--config", config.model_dump_json()])
            except ForkFailed as error:
                raise LoadFailed(f"the load generator could not start: {error}") from error
        _follow(process, job, target, local_workers, (on_window, on_step, on_stop))
    finally:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        if local_workers is not None:
            local_workers.stop()


def _follow(
    process: LocustProcess,
    job: LoadJob,
    target: RunningTarget,
    local_workers: LocalWorkers | None,
    told: tuple[Callable[[int, int], None], Callable[[Step], None], Callable[[str], None] | None],
) -> None:
    """Read the Locust process's events until it ends, sampling the server's usage at each window's edges, and tell
    ``told``'s window, step and stop callbacks (run_load's)."""
    on_window, on_step, on_stop = told
    assert process.stdout is not None and process.stderr is not None
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_reader, args=(process.stdout, lines), daemon=True).start()
    stderr_tail: deque[str] = deque(maxlen=15)  # bounded: a task that raises in a loop logs without end
    threading.Thread(target=lambda: stderr_tail.extend(_lines(process.stderr)), daemon=True).start()  # type: ignore[arg-type]
    edges = WindowEdges(target)
    steps, steps_done = len(job.load.steps), 0
    silence_s = WARMUP_CAP * job.load.warmup_s + job.load.window_s + GRACE_S  # a warm-up lasts until steady

    def check_workers() -> None:
        if local_workers is not None and steps_done < steps:
            local_workers.check()

    try:
        while (line := _next_line(lines, silence_s, check_workers, stderr_tail)) is not None:
            match _event(line):
                case WindowStarted(step=step, users=users):
                    edges.opened(step)
                    on_window(step, users)
                case WindowEnded(step=step):
                    edges.closed(step)
                case StepMeasured(step=step) as measured:
                    on_step(edges.step(measured))
                    steps_done += 1
                case CurveStopped(step=step, reason=reason):
                    steps = step + 1  # the steps above were never meant to run
                    if on_stop is not None:
                        on_stop(reason)
                case LoadError(message=message):
                    raise LoadFailed(message)
    finally:
        edges.close()
    process.wait(timeout=GRACE_S)
    if process.returncode != 0 or steps_done < steps:
        tail = "".join(stderr_tail).strip()
        raise LoadFailed(f"the load generator exited with {process.returncode} after {steps_done} step(s): {tail}")


class WindowEdges:
    """What the orchestrator reads at each window's edges, by step (a distributed step's figures arrive after the
    next window began): the server's usage at both, and its accept queue between them where it can be read."""

    def __init__(self, target: RunningTarget) -> None:
        self.target = target
        self.before: dict[int, Usage | None] = {}
        self.after: dict[int, Usage | None] = {}
        self.sampling: dict[int, QueueSampler] = {}
        self.queues: dict[int, AcceptQueue | None] = {}

    def opened(self, step: int) -> None:
        self.before[step] = self.target.usage()
        if (sampler := self.target.queue_sampler()) is not None:
            self.sampling[step] = sampler.start()

    def closed(self, step: int) -> None:
        self.after[step] = self.target.usage()
        if (sampler := self.sampling.pop(step, None)) is not None:
            self.queues[step] = sampler.stop()

    def step(self, measured: StepMeasured) -> Step:
        """The step's results record: the Locust process's figures and what was read at its window's edges."""
        step = measured.step
        return measured_step(
            measured, self.before.pop(step, None), self.after.pop(step, None), self.queues.pop(step, None)
        )

    def close(self) -> None:
        """Stop what is still reading (a generator that failed mid-window)."""
        for sampler in self.sampling.values():
            sampler.stop()
        self.sampling.clear()


def _next_line(
    lines: queue.Queue[str | None], silence_s: float, check_workers: Callable[[], None], stderr_tail: deque[str]
) -> str | None:
    """The Locust process's next line (None: its output ended); the local workers checked while it is awaited."""
    deadline = time.monotonic() + silence_s
    while True:
        try:
            return lines.get(timeout=WORKER_CHECK_S)
        except queue.Empty:
            check_workers()
            if time.monotonic() > deadline:
                tail = "".join(stderr_tail).strip()
                raise LoadFailed(f"the load generator hung (no event for {silence_s:.0f} s): {tail}") from None


def _event(line: str) -> Event:
    """One line of the Locust process's output, validated as its event (anything else is the generator's failure)."""
    try:
        return read_event(line)
    except ValidationError as error:
        raise LoadFailed(
            f"the load generator wrote what is not one of its events ({line.strip()[:200]!r}): {error}"
        ) from error
