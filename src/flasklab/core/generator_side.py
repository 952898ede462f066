"""The load generator's side as a whole: how many cores it may use, how busy they are, and when it is saturated.

A step measures the server only while the generator keeps up. One busy Locust process is one sign it did not;
the side as a whole is another: every load-generating process together (master and workers) near the cores of its
CPU set, or that CPU set busy (its busy time from /proc/stat includes softirq, the kernel's network work for the
generator, and whatever else shares those CPUs, such as the compose lab's dashboard and upstream).

Whether the side was saturated is decided here and nowhere else (``busy_signs``, at GENERATOR_SATURATION or more):
the Locust process records its verdict with it, and flasklab.core.analysis reads a recorded step with it.

Pure functions and /proc reads only (no Locust, no gevent): the Locust process and tests both use them.
"""

from __future__ import annotations

import os
from pathlib import Path

from flasklab.core.results import Step
from flasklab.core.settings import GENERATOR_SATURATION

PROC_STAT = Path("/proc/stat")
# /proc/stat per-CPU columns: user nice system idle iowait irq softirq steal (guest time is already in user).
IDLE_COLUMNS = (3, 4)
COUNTED_COLUMNS = 8

CpuTicks = dict[int, tuple[int, int]]  # CPU number -> (busy ticks, total ticks)


def generator_cpus() -> set[int]:
    """The CPUs this process may run on (its affinity: taskset, or a container's cpuset)."""
    return set(os.sched_getaffinity(0))


def online_cpus(stat: str) -> set[int]:
    """The CPUs /proc/stat lists (the host's, also inside a container)."""
    return {int(line.split()[0][3:]) for line in stat.splitlines() if line.startswith("cpu") and line[3].isdigit()}


def cpu_ticks(stat: str, cpus: set[int]) -> CpuTicks:
    """(busy, total) ticks of each of ``cpus`` from the text of /proc/stat; busy counts irq, softirq and steal."""
    ticks: CpuTicks = {}
    for line in stat.splitlines():
        name, *columns = line.split()
        if not name.startswith("cpu") or not name[3:].isdigit() or int(name[3:]) not in cpus:
            continue
        values = [int(value) for value in columns[:COUNTED_COLUMNS]]
        idle = sum(values[index] for index in IDLE_COLUMNS if index < len(values))
        ticks[int(name[3:])] = (sum(values) - idle, sum(values))
    return ticks


TASK_COLUMNS = (0, 1, 2)  # user, nice, system: time running processes (interrupt work left out)


def task_ticks(stat: str, cpus: set[int]) -> CpuTicks:
    """(ticks running processes, total ticks) of each of ``cpus``: how much of them tasks used, whoever they are."""
    return {
        cpu: (sum(_columns(line)[index] for index in TASK_COLUMNS), sum(_columns(line)[:COUNTED_COLUMNS]))
        for line in stat.splitlines()
        if line.startswith("cpu") and line[3:4].isdigit() and (cpu := int(line.split()[0][3:])) in cpus
    }


def _columns(line: str) -> list[int]:
    return [int(value) for value in line.split()[1:]]


def set_busy(before: CpuTicks, after: CpuTicks) -> float | None:
    """Busy share (0-1) of a CPU set between two readings; None when nothing was counted in between."""
    busy = sum(after[cpu][0] - before[cpu][0] for cpu in after if cpu in before)
    total = sum(after[cpu][1] - before[cpu][1] for cpu in after if cpu in before)
    return busy / total if total > 0 else None


class CpuSet:
    """The generator's CPU set, and its busy ticks when it is pinned (a strict subset of the machine's CPUs)."""

    def __init__(self, stat_path: Path = PROC_STAT) -> None:
        self.stat_path = stat_path
        self.cpus = generator_cpus()
        try:
            stat = stat_path.read_text()
        except OSError:  # not Linux, or /proc hidden: the set's size is still known
            stat = ""
        self.pinned = bool(stat) and self.cpus < online_cpus(stat)

    def ticks(self) -> CpuTicks | None:
        """The set's ticks now, or None when the generator is not pinned (its set is the whole machine's)."""
        return self.ticks_of(self.cpus) if self.pinned else None

    def ticks_of(self, cpus: set[int]) -> CpuTicks | None:
        """Ticks of any CPUs now; None for none or where /proc/stat cannot be read."""
        try:
            return cpu_ticks(self.stat_path.read_text(), cpus) if cpus else None
        except OSError:
            return None

    def task_ticks_of(self, cpus: set[int]) -> CpuTicks | None:
        """Ticks the CPUs spent running processes (the servers' set: the server and whatever shares it)."""
        try:
            return task_ticks(self.stat_path.read_text(), cpus) if cpus else None
        except OSError:
            return None


def busy_signs(
    busiest: float,
    total: float | None,
    cpus: int | None,
    busy: float | None,
    threshold: float = GENERATOR_SATURATION,
) -> list[str]:
    """What shows the generator side's CPU was saturated, in words; empty when nothing did.

    The one rule, at ``threshold`` or more (a share of a core, of the side's cores, of its CPU set's time): its
    busiest process, all of its processes together, or its CPU set (interrupt work and other processes on it
    included). The Locust process decides ``generator_saturated`` with it (``saturated``), flasklab.core.analysis a
    recorded step's standing (``step_signs``).
    """
    signs = []
    if busy is not None and busy >= threshold:
        signs.append(f"its CPU set {busy * 100:.0f} % busy")
    if total is not None and cpus and total >= threshold * cpus:
        signs.append(f"its processes used {total:.2f} of {cpus} core{'s' if cpus != 1 else ''}")
    if busiest >= threshold and not signs:
        signs.append(f"busiest process at {busiest * 100:.0f} % of a core")
    return signs


def saturated(
    busiest: float,
    total: float | None,
    cpus: int | None,
    busy: float | None,
    threshold: float = GENERATOR_SATURATION,
) -> bool:
    """Was the generator side saturated (``busy_signs``): the Locust process's verdict, recorded as
    ``generator_saturated``."""
    return bool(busy_signs(busiest, total, cpus, busy, threshold))


def step_signs(step: Step) -> list[str]:
    """The rule read from a recorded step's figures; where they do not show it, the Locust process's own verdict
    (``generator_saturated``: the same rule at its configured threshold, or in any round of several, whose figures
    the step keeps only as their worst or median) still counts."""
    signs = busy_signs(step.generator_cpu, step.generator_cpu_total, step.generator_cpus, step.generator_set_busy)
    if step.generator_saturated and not signs:
        signs = [f"busiest process at {step.generator_cpu * 100:.0f} % of a core"]
    return signs
