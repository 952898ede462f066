"""A plan's answer: one option per server, each on the law's basis or a run's measurement, and how its figures read.

Both bases fill the same ``Option`` (what ``flasklab plan --json`` prints for each server) and search for their count
the same way: the fewest instances that meet the objective (``fewest``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from flasklab.planning.request import PlanRequest, Workload

MAX_INSTANCES = 10**9

Basis = Literal["law", "measured"]


@dataclass
class Option:
    """One server's answer. ``workers``: requests one instance serves at once (workers, processes x threads or
    processes x connections; None: unbounded or no answer); ``instances`` None: no answer (the reason says why)."""

    server: str
    kind: str
    basis: Basis
    workers: int | None = None
    instances: int | None = None
    expected_p95_ms: float | None = None
    reason: str = ""
    shape: str = ""  # how the workers are made up, e.g. "1 process x 32 threads"
    total_workers: int | None = None
    rps_per_instance: float | None = None  # the planned load of one instance: R / instances
    capacity_rps: float | None = None  # measured: the closed loop's capacity step within the objective (a check)
    law_instances: int | None = None  # what the law plans for the same server
    law_bound_rps: float | None = None  # Little's law and the CPU budget: the most rps one instance completes
    cpu_ms_per_request: float | None = None
    cpu_source: str = ""
    covered: bool | None = None  # by the run (None: no run given)
    utilisation: float | None = None  # of one instance's slots at its planned load
    expected_p99_ms: float | None = None
    n_plus_one: int | None = None  # instances with one spare: the plan survives losing one
    memory_mb: float | None = None  # one instance's server memory, measured at its busiest usable step
    service_mean_ms: float | None = None  # measured: the service time the queue model used (mean, SCV)
    service_scv: float | None = None
    service_points: list[tuple[float, float]] = field(default_factory=list)  # measured: its quantile function
    shared_admitted: int | None = None  # measured, CPU-bound and time-sliced: requests that take turns on ...
    shared_cores: float | None = None  # ... these cores (processor sharing; None: each request holds a slot)
    slots: int | None = None  # measured: the slots the model used (configured, or what the probe saw; CPU-bound: cores)
    thin_basis: list[str] = field(default_factory=list)  # why the measurement behind the option is thin
    setting: str = ""  # from a tuning: the worker setting this option runs with, e.g. GUNICORN_SYNC_WORKERS=8
    run_dir: str = ""  # the run folder the option was measured in
    recommended: bool = False
    processes: int | None = None  # the law's configuration of one instance: processes, each holding ...
    per_process: int | None = None  # ... this many requests at once (None: the catalog's, as measured)


@dataclass(frozen=True)
class Plan:
    request: PlanRequest
    workload: Workload
    cpus: float
    options: list[Option]
    notes: list[str] = field(default_factory=list)
    run_id: str | None = None


def fewest(meets: Callable[[int], bool], most: int) -> int | None:
    """The least n in 1..most for which ``meets`` holds (it must stay true above it), or None."""
    high = 1
    while not meets(high):
        if high >= most:
            return None
        high = min(high * 2, most)
    low = high // 2  # fails (0: nothing below 1)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if meets(middle) else (middle, high)
    return high


def number(value: float) -> str:
    """A rate or a count: thousands separated past 100, three significant figures under it."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def ms(value: float) -> str:
    """A duration: 0.5, 100.5, 412.1, 3,600."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
