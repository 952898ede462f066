"""What the planner is asked: R rps within a p95 objective, each request's work, and the lab scenario of its shape.

A request is checked once, where it is made (``PlanRequest``): a value out of range raises ``PlanError`` naming the
option to fix, which the command line turns into exit 2. Its shape (blocking I/O, CPU, both or neither) picks the lab
scenario whose measurements can plan it, by the scenarios' declared work (flasklab.core.catalog), never their names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flasklab.core.catalog import CPU_WORK, IO_WORK, NO_WORK, Scenario, scenario_of_work
from flasklab.core.results import Results, Target
from flasklab.core.settings import MAX_MS
from flasklab.planning.balance import Balance

MAX_RPS = 1e7
MAX_MEMORY_MB = 10**7
# An instance's slots busy at most this share of the time (the planner's --max-utilisation): beyond it a queue's
# wait grows steeply and a burst, a slow dependency or a lost instance tips it over.
DEFAULT_MAX_UTILISATION = 0.8


class PlanError(ValueError):
    """Input the planner cannot answer; ``param`` names the option to fix."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


def _check(param: str, value: float, low: float, high: float, low_open: bool) -> None:
    inside = (low < value if low_open else low <= value) and value <= high  # False for NaN
    if not inside:
        bound = f"{'more than' if low_open else 'at least'} {low:g} and at most {high:,g}"
        raise PlanError(param, f"{value!r} is out of range: {bound}")


@dataclass(frozen=True)
class PlanRequest:
    """R rps with p95 <= p95_ms; each request waits io_ms and computes cpu_ms (None: not given). An instance's
    slots are planned busy at most ``max_utilisation`` of the time, and within ``mem_per_instance_mb`` of memory;
    ``balance``: a verified fleet's split (flasklab.planning.balance): each instance planned at the busiest's rate."""

    rps: float
    p95_ms: float
    io_ms: float | None = None
    cpu_ms: float | None = None
    max_utilisation: float = DEFAULT_MAX_UTILISATION
    mem_per_instance_mb: float | None = None
    balance: Balance | None = None

    def share(self, instances: int) -> float:
        """One instance's planned rate: R / N, times the balance's material imbalance when there are several."""
        factor = self.balance.factor if self.balance is not None and instances > 1 else 1.0
        return self.rps / instances * factor

    def __post_init__(self) -> None:
        _check("--rps", self.rps, 0, MAX_RPS, low_open=True)
        _check("--p95-ms", self.p95_ms, 0, MAX_MS, low_open=True)
        _check("--max-utilisation", self.max_utilisation, 0, 1, low_open=True)
        if self.mem_per_instance_mb is not None:
            _check("--mem-per-instance", self.mem_per_instance_mb, 0, MAX_MEMORY_MB, low_open=True)
        for param, given in (("--io-ms", self.io_ms), ("--cpu-ms", self.cpu_ms)):
            if given is not None:
                _check(param, given, 0, MAX_MS, low_open=False)
        if self.p95_ms <= (work := (self.io_ms or 0) + (self.cpu_ms or 0)):
            raise PlanError(
                "--p95-ms",
                f"{self.p95_ms:g} ms cannot be met: each request alone takes {work:g} ms of work, so no server and no "
                f"number of instances answers 95 % of them faster; ask for more than {work:g} ms",
            )


@dataclass(frozen=True)
class Workload:
    """The request's blocking I/O, and the lab scenario of its shape (None: no scenario both waits and computes)."""

    io_ms: float
    scenario: str | None
    ms: float | None  # the scenario's `ms` parameter (None for the shapeless one, hello)


@dataclass(frozen=True)
class ShapeScenarios:
    """The lab scenario of each shape a request can have, from the scenarios' declared work (None: none declares it)."""

    io: str | None  # `ms` of blocking I/O and nothing else
    cpu: str | None  # `ms` of CPU and nothing else
    shapeless: str | None  # neither

    @classmethod
    def of(cls, scenarios: Mapping[str, Scenario]) -> ShapeScenarios:
        return cls(
            scenario_of_work(scenarios, IO_WORK, "ms"),
            scenario_of_work(scenarios, CPU_WORK, "ms"),
            scenario_of_work(scenarios, NO_WORK),
        )


def measured_target(run: Results | None, scenario: str | None) -> Target | None:
    """The run's first target of ``scenario`` that measured a step (None: no run, no such scenario, not measured)."""
    if run is None or scenario is None:
        return None
    return next((t for t in run.targets if t.scenario == scenario and t.steps), None)


def workload(request: PlanRequest, run: Results | None, shapes: ShapeScenarios) -> Workload:
    """The request's shape; with neither --io-ms nor --cpu-ms, the run's I/O scenario (else its CPU one) gives it."""
    io, cpu = request.io_ms, request.cpu_ms
    if io is None and cpu is None:
        for scenario in (shapes.io, shapes.cpu):
            target = measured_target(run, scenario)
            if target is not None and "ms" in target.params:
                ms = float(target.params["ms"])
                return Workload(ms if scenario == shapes.io else 0.0, scenario, ms)
        raise PlanError(
            "--from",
            f"the run measured neither {shapes.io or 'an I/O scenario'} nor {shapes.cpu or 'a CPU scenario'}: give "
            "the work with --io-ms and/or --cpu-ms",
        )
    if io and cpu:
        return Workload(io, None, None)
    if io:
        return Workload(io, shapes.io, io)
    if cpu:
        return Workload(0.0, shapes.cpu, cpu)
    return Workload(0.0, shapes.shapeless, None)
