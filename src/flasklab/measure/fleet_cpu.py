"""Each fleet instance's CPU (``flasklab plan --verify --cluster``), sampled from the kernel while the fleet runs.

The step's CPU is the fleet's as a whole: every instance and nginx are one process group. services/cluster/run.sh
writes each instance's process id and address (flasklab.core.fleet_files.PIDS_FILE; for compose replicas,
flasklab.measure.backends.fleet writes each container's first process); while the verification runs, a
thread of the plan command samples every SAMPLE_S the CPU time of each instance's process tree: its own, its live
descendants' and what its reaped children left (a replaced worker). An instance's CPU over a span (the load, from
nginx's first to its last line) is the CPU time between the first sample at or after its start and the last at or
before its end, over the time between them, in cores. A span shorter than two samples measures nothing (None), and an
instance lost on purpose (``--lose-one``) is measured up to its last sample.
"""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from types import TracebackType

import psutil

SAMPLE_S = 0.5


def tree_usage(pid: int) -> tuple[float, int] | None:
    """A process, its live descendants and its reaped children: their CPU seconds, and the resident memory of those
    alive (bytes); None when it is gone."""
    try:
        process = psutil.Process(pid)
        times = process.cpu_times()
        cpu, memory = times.user + times.system + times.children_user + times.children_system, process.memory_info().rss
        for child in process.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                child_times = child.cpu_times()
                cpu, memory = cpu + child_times.user + child_times.system, memory + child.memory_info().rss
        return cpu, memory
    except psutil.Error:
        return None


def tree_cpu_s(pid: int) -> float | None:
    """The CPU seconds of a process, its live descendants and its reaped children (None: it is gone)."""
    found = tree_usage(pid)
    return None if found is None else found[0]


class InstanceCpu:
    """Samples the instances named in ``pids_file`` ("PID HOST:PORT" lines: a local instance's process, or a
    container's first process as the host sees it) from entering to leaving, in a thread."""

    def __init__(self, pids_file: Path, every_s: float = SAMPLE_S) -> None:
        self.pids_file, self.every_s = pids_file, every_s
        self.samples: dict[str, list[tuple[float, float]]] = {}  # instance address -> (epoch s, CPU s)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, name="fleet-cpu", daemon=True)

    def __enter__(self) -> InstanceCpu:
        self.thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stopped.set()
        self.thread.join()

    def run(self) -> None:
        while not self.stopped.wait(self.every_s):
            self.sample()

    def sample(self) -> None:
        try:
            lines = self.pids_file.read_text().splitlines()
        except OSError:
            return  # the fleet has not started yet
        for line in lines:
            fields = line.split()
            if len(fields) != 2 or not fields[0].isdigit():
                continue
            cpu = tree_cpu_s(int(fields[0]))
            if cpu is not None:
                self.samples.setdefault(fields[1], []).append((time.time(), cpu))

    def cores(self, address: str, start: float, end: float) -> float | None:
        """The instance's mean CPU in cores over [start, end] (epoch s), from the samples inside it."""
        inside = [sample for sample in self.samples.get(address, []) if start <= sample[0] <= end]
        if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
            return None
        (first_at, first_cpu), (last_at, last_cpu) = inside[0], inside[-1]
        return max(last_cpu - first_cpu, 0.0) / (last_at - first_at)
