"""CPU seconds and memory of the whole server: its cgroup in a container, its process group otherwise.

A server is more than the process that answers a request (a gunicorn master and its workers, a uWSGI master,
a forking dev server), so usage is summed over all of them. The runner reads it without a Docker socket.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

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
    return {"source": "cgroup", "cpu_seconds": cpu_seconds, "rss_bytes": memory or 0, "processes": processes}


def process_group_usage(pgid: int) -> dict[str, Any]:
    """Sum CPU (including reaped children, such as forked dev-server workers) and RSS over a process group."""
    cpu_seconds = 0.0
    rss_bytes = 0
    processes = 0
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) != pgid:
                continue
            with process.oneshot():
                times = process.cpu_times()
                rss_bytes += process.memory_info().rss
        except (psutil.Error, ProcessLookupError):
            continue
        cpu_seconds += times.user + times.system + times.children_user + times.children_system
        processes += 1
    return {"source": "process-group", "cpu_seconds": cpu_seconds, "rss_bytes": rss_bytes, "processes": processes}


def server_usage() -> dict[str, Any]:
    """Usage of the server this process belongs to."""
    return _cgroup_usage() or process_group_usage(os.getpgid(0))
