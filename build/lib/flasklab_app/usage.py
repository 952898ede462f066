"""CPU seconds and memory of the whole server: its cgroup in a container, its process group otherwise.

A server is more than the process that answers a request (a gunicorn master and its workers, a uWSGI master,
a forking dev server), so usage is summed over all of them: memory as PSS, so that pages the workers share with
their master count once, not once per worker. The runner reads it without a Docker socket.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import psutil

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _cgroup_usage() -> dict[str, Any] | None:
    """Usage of this container's cgroup (v2 unified or v1 controllers) when the lab says it runs in one.

    The compose file sets ``LAB_USAGE_SOURCE=cgroup``; guessing from ``/.dockerenv`` would be wrong when the lab
    itself runs inside a container (the local backend then would report the whole outer container).
    """
    if os.environ.get("LAB_USAGE_SOURCE") != "cgroup":
        return None
    v2_cpu = CGROUP_ROOT / "cpu.stat"
    if v2_cpu.exists():
        stats = dict(line.split() for line in v2_cpu.read_text().splitlines() if line.strip())
        memory = _read_int(CGROUP_ROOT / "memory.current")
        cpu_seconds = int(stats["usage_usec"]) / 1e6
    else:
        nanoseconds = _read_int(CGROUP_ROOT / "cpuacct" / "cpuacct.usage")
        memory = _read_int(CGROUP_ROOT / "memory" / "memory.usage_in_bytes")
        if nanoseconds is None:
            return None
        cpu_seconds = nanoseconds / 1e9
    processes = sum(1 for entry in Path("/proc").iterdir() if entry.name.isdigit())
    return {
        "source": "cgroup",
        "cpu_seconds": cpu_seconds,
        "rss_bytes": memory or 0,  # the cgroup's charged memory, under the name older readers know
        "memory_bytes": memory or 0,
        "memory_measure": "cgroup",
        "processes": processes,
    }


MemoryMeasure = Literal["pss", "uss", "rss"]
# Weakest last: a reading that had to fall back for one process reports the weakest measure it used.
MEASURES: tuple[MemoryMeasure, ...] = ("pss", "uss", "rss")


def process_memory(process: psutil.Process) -> tuple[int, MemoryMeasure]:
    """One process's memory and its measure: PSS (shared pages split among the processes that share them), else
    USS (its own pages only, where the platform has no PSS), else RSS (where smaps cannot be read).

    Summing RSS over a forked server counts every page the workers share with their master once per worker.
    """
    try:
        full = process.memory_full_info()
    except psutil.AccessDenied:
        return process.memory_info().rss, "rss"
    for measure in MEASURES[:-1]:
        value = getattr(full, measure, None)
        if isinstance(value, int):
            return value, measure
    return full.rss, "rss"


def local_memory_measure() -> MemoryMeasure:
    """The measure process_group_usage gives on this machine, judged from this very process."""
    return process_memory(psutil.Process())[1]


def process_group_usage(pgid: int) -> dict[str, Any]:
    """Sum CPU (including reaped children, such as forked dev-server workers) and memory over a process group.

    ``memory_bytes`` is by ``memory_measure`` (see process_memory); ``rss_bytes`` is the plain RSS sum, kept for
    readers that know only it.
    """
    cpu_seconds = 0.0
    rss_bytes = memory_bytes = 0
    processes = 0
    measure_rank = 0
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) != pgid:
                continue
            with process.oneshot():
                times = process.cpu_times()
                rss = process.memory_info().rss
                memory, measure = process_memory(process)
        except (psutil.Error, ProcessLookupError):
            continue
        cpu_seconds += times.user + times.system + times.children_user + times.children_system
        rss_bytes += rss
        memory_bytes += memory
        measure_rank = max(measure_rank, MEASURES.index(measure))
        processes += 1
    return {
        "source": "process-group",
        "cpu_seconds": cpu_seconds,
        "rss_bytes": rss_bytes,
        "memory_bytes": memory_bytes,
        "memory_measure": MEASURES[measure_rank],
        "processes": processes,
    }


def server_usage() -> dict[str, Any]:
    """Usage of the server this process belongs to."""
    return _cgroup_usage() or process_group_usage(os.getpgid(0))
