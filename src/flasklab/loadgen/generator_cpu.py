"""The load generator side's CPU over a window: its busiest process, all its processes, and its CPU set.

This process's CPU is read at the window's edges. Workers report their CPU seconds every few seconds; a worker's
share is taken over the report interval that brackets the window (the last report before it starts to the first
after it ends). The CPU set is this process's affinity; its busy share is read from /proc/stat when the generator
is pinned (local workers and the compose lab's workers share that set; workers on other hosts bring cores of their
own, which the set does not count). The servers' CPU set, when pinned, is read too: how busy it was with anything.
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

import psutil

from flasklab.core.generator_side import CpuSet, CpuTicks, saturated, set_busy


class Mark(NamedTuple):
    """The generator at a window's edge: wall time, this process's CPU seconds, its CPU set's ticks (if pinned)."""

    at: float
    cpu_seconds: float
    ticks: CpuTicks | None
    server_ticks: CpuTicks | None = None


class GeneratorCpu:
    """Marks at a window's edges, and the step's generator fields from two of them."""

    def __init__(self, worker_cpu: dict[str, list[tuple[float, float]]], server_cpus: set[int]) -> None:
        self.worker_cpu = worker_cpu  # the recorder's: (wall time, CPU seconds so far) reports by worker
        self.process = psutil.Process()
        self.cpu_set = CpuSet()
        self.server_cpus = server_cpus

    def _seconds(self) -> float:
        times = self.process.cpu_times()
        return times.user + times.system

    def mark(self) -> Mark:
        """This process's CPU and its CPU set's ticks now, at a window's edge."""
        return Mark(time.time(), self._seconds(), self.cpu_set.ticks(), self.cpu_set.task_ticks_of(self.server_cpus))

    def worker_shares(self, start: Mark, end: Mark) -> list[float]:
        """Each worker's CPU (share of one core) over the report interval bracketing the window."""
        shares = []
        for reports in self.worker_cpu.values():
            before = [report for report in reports if report[0] <= start.at]
            after = [report for report in reports if report[0] >= end.at]
            if before and after and after[0][0] > before[-1][0]:
                shares.append((after[0][1] - before[-1][1]) / (after[0][0] - before[-1][0]))
        return shares

    def figures(self, start: Mark, end: Mark, threshold: float) -> dict[str, Any]:
        """The step's generator fields: busiest process, total, CPU set size and busy share, saturated or not."""
        own = (end.cpu_seconds - start.cpu_seconds) / max(end.at - start.at, 1e-9)
        shares = self.worker_shares(start, end)
        busiest, total = max([own, *shares]), own + sum(shares)
        cpus = len(self.cpu_set.cpus)
        busy = _busy(start.ticks, end.ticks)
        servers = _busy(start.server_ticks, end.server_ticks)
        return {
            "server_set_busy": None if servers is None else round(servers, 3),
            "generator_cpu": round(busiest, 3),
            "generator_cpu_total": round(total, 3),
            "generator_cpus": cpus,
            "generator_set_busy": None if busy is None else round(busy, 3),
            "generator_saturated": saturated(busiest, total, cpus, busy, threshold),
        }


def _busy(start: CpuTicks | None, end: CpuTicks | None) -> float | None:
    return set_busy(start, end) if start is not None and end is not None else None
