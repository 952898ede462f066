"""Runs one target's load in a Locust process of its own and turns its step events into results steps.

Locust lives in a child process (``python -m flasklab.loadgen``) because importing it monkey-patches with gevent.
This side gives it one document (flasklab.core.protocol.LoadConfig), reads its JSON lines, samples the server's usage
at each window's edges (the only step fields measured here: server_cpu, server_rss_mb), and enforces time limits.
"""

from __future__ import annotations

import json
import os
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
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from flasklab.core.catalog import lab_root
from flasklab.core.protocol import LoadConfig
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
from flasklab.measure.backends.base import Backend, RunningTarget, Usage
from flasklab.measure.backends.local import free_port
from flasklab.measure.interrupts import held_interrupts

# Locust start-up plus the slack a step may overrun before the generator is declared hung.
GRACE_S = 30.0
WORKER_CHECK_S = 0.5  # how often local Locust workers are checked for an early exit while events are awaited
EXACT_VARIABLE = "LAB_EXACT"  # "0": Locust's own running totals only, no per-request recording (scripts/bench)


class LoadFailed(RuntimeError):
    """The load generator could not run the scenario (bad locustfile, crash, hang)."""


@dataclass(frozen=True)
class LoadJob:
    locustfile: Path
    params: dict[str, int]
    profile: Profile
    processes: int = 1  # Locust processes on this machine: above 1, a master and this many local workers
    model: str = "closed"  # or "open": the profile's rates instead of its users
    arrivals: str = "poisson"  # the open model's arrivals: "poisson" or "uniform"
    seed: int = 0  # of the open model's Poisson arrivals
    connections: str = "keepalive"  # or "close": a new TCP connection per request

    @property
    def loads(self) -> tuple[int, ...]:
        return self.profile.loads(self.model)


class LocalWorkers:
    """Locust workers on this machine, pinned like the generator, loading the same locustfiles as the master.

    They read the locustfiles from disk rather than fetching them from the master (``-f -``): a fetching worker
    writes the files into the machine's temp folder under their own names and imports them from there, so two
    workers on one machine rewrite the files the other is importing. Measured on 2 cores with Locust 2.47: 3 of 60
    fetching worker starts failed (ImportError, "No User class found", a segmentation fault), and the master waited
    for them in vain; 0 of 50 reading from disk. Each worker's stderr goes to a file, so a worker that dies is
    reported with its last words.
    """

    def __init__(
        self, count: int, master_port: int, backend: Backend, locustfile: Path, environment: dict[str, str]
    ) -> None:
        if "," in str(locustfile):
            raise LoadFailed(f"Locust workers split -f on commas: move {locustfile} to a path without one")
        files = f"{locustfile.resolve()},{lab_root() / 'locustfiles' / '_lab.py'}"  # _lab.py: shape, samples
        command = [sys.executable, "-m", "locust", "--worker", "--master-host", "127.0.0.1"]
        command += ["--master-port", str(master_port), "-f", files, "--loglevel", "WARNING"]
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
                            env=environment,  # the master's: scenario parameters are read where the users run
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


def step_from_event(figures: dict[str, Any], before: Usage | None, after: Usage | None) -> Step:
    """A results step: the Locust process's figures, validated, with the server's usage at the window's edges."""
    try:
        return Step.model_validate({**figures, **server_figures(before, after)})
    except ValidationError as error:  # the two process worlds disagree: a bug, reported as the target's failure
        raise LoadFailed(f"the load generator's step is not a results step: {error}") from error


def exact_recording() -> bool:
    """Does the Locust process record every request (the default) or only Locust's running totals (LAB_EXACT=0)?"""
    return os.environ.get(EXACT_VARIABLE, "1") != "0"


def load_config(job: LoadJob, target: RunningTarget, backend: Backend, workers: int, master_port: int) -> LoadConfig:
    """The Locust process's one input for ``job`` against ``target`` (validated: the model and arrivals too)."""
    return LoadConfig.model_validate(
        {
            "locustfile": str(job.locustfile),
            "host": target.url,
            "steps": job.loads,
            "warmup_s": job.profile.warmup_s,
            "window_s": job.profile.window_s,
            "params": job.params,
            "model": job.model,
            "arrivals": job.arrivals,
            "seed": job.seed,
            "connections": job.connections,
            "saturation": GENERATOR_SATURATION,
            "workers": workers,
            "master_port": master_port,
            "web": locust_web(),
            "exact": exact_recording(),
            "server_cpus": (backend.pinning or {}).get("server", []),
        }
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
) -> None:
    """Drive ``target`` through every step of the profile; each finished step goes to ``on_step``."""
    workers, master_port = locust_workers(), LOCUST_MASTER_PORT
    if job.processes > 1:
        workers, master_port = job.processes, free_port()
    config = load_config(job, target, backend, workers, master_port)
    command = [sys.executable, "-m", "flasklab.loadgen", "--config", config.model_dump_json()]
    local_workers: LocalWorkers | None = None
    process: subprocess.Popen[str] | None = None
    try:
        with held_interrupts():  # each process kept before a signal acts, so that the finally below stops it
            if job.processes > 1:
                environment = {**os.environ, **config.locustfile_environment()}  # the locustfiles' own variables
                local_workers = LocalWorkers(job.processes, master_port, backend, job.locustfile, environment)
            process = subprocess.Popen(
                backend.generator_command(command),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                stdin=subprocess.DEVNULL,
            )
        _follow(process, job, target, local_workers, on_window, on_step)
    finally:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        if local_workers is not None:
            local_workers.stop()


def _follow(
    process: subprocess.Popen[str],
    job: LoadJob,
    target: RunningTarget,
    local_workers: LocalWorkers | None,
    on_window: Callable[[int, int], None],
    on_step: Callable[[Step], None],
) -> None:
    """Read the Locust process's events until it ends, sampling the server's usage at each window's edges."""
    assert process.stdout is not None and process.stderr is not None
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_reader, args=(process.stdout, lines), daemon=True).start()
    stderr_tail: deque[str] = deque(maxlen=15)  # bounded: a task that raises in a loop logs without end
    threading.Thread(target=lambda: stderr_tail.extend(_lines(process.stderr)), daemon=True).start()  # type: ignore[arg-type]
    # Usage at each window's edges, by step: a distributed step's figures arrive after the next window began.
    before: dict[int, Usage | None] = {}
    after: dict[int, Usage | None] = {}
    steps_done = 0
    silence_s = WARMUP_CAP * job.profile.warmup_s + job.profile.window_s + GRACE_S  # a warm-up lasts until steady
    while True:
        deadline = time.monotonic() + silence_s
        while True:
            try:
                line = lines.get(timeout=WORKER_CHECK_S)
                break
            except queue.Empty:
                if local_workers is not None and steps_done < len(job.loads):
                    local_workers.check()
                if time.monotonic() > deadline:
                    tail = "".join(stderr_tail).strip()
                    raise LoadFailed(f"the load generator hung (no event for {silence_s:.0f} s): {tail}") from None
        if line is None:
            break
        event = json.loads(line)
        if event["event"] == "window":
            before[event["step"]] = target.usage()
            on_window(event["step"], event["users"])
        elif event["event"] == "window_end":
            after[event["step"]] = target.usage()
        elif event["event"] == "step":
            on_step(step_from_event(event["figures"], before.pop(event["step"], None), after.pop(event["step"], None)))
            steps_done += 1
        elif event["event"] == "error":
            raise LoadFailed(event["message"])
    process.wait(timeout=GRACE_S)
    if process.returncode != 0 or steps_done < len(job.loads):
        tail = "".join(stderr_tail).strip()
        raise LoadFailed(f"the load generator exited with {process.returncode} after {steps_done} step(s): {tail}")
