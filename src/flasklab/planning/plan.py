"""The capacity planner: the workers per instance and the instances that serve R rps within a p95 objective.

A pure function of the request (flasklab.planning.request), the catalog and, optionally, one run's results.json or a
tuning's runs. Each server gets one option (flasklab.planning.option), on one of two bases, and every option says the
numbers it used:

- **measured** (``--from DIR``, flasklab.planning.measured): when the run covers the request for the server, a
  prediction from what it measured of it (flasklab.planning.service): each instance a queue fed Poisson arrivals at
  R / N (flasklab.planning.queueing), held to no more than one instance was measured completing.
- **law** (flasklab.planning.law): Little's law, the CPU budget and an M/M/c queue for the server's declared kind;
  what plans a server the run does not cover, said to be so.

The options are ranked (offered first, measured before the law when there is a run, then the fewest instances) and
the first is recommended; flasklab.planning.render prints them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from flasklab.core.analysis import analyse, budget_value
from flasklab.core.catalog import Scenario, Server, load_scenarios
from flasklab.core.results import Results
from flasklab.planning.law import law_option, outside_catalog, request_cpu
from flasklab.planning.measured import coverage, measured_option
from flasklab.planning.option import Option, Plan
from flasklab.planning.render import reasoning
from flasklab.planning.request import PlanError, PlanRequest, ShapeScenarios, workload


def run_cpus(run: Results, catalog_cpus: float, notes: list[str]) -> float:
    """The run's budget per server; the catalog's when the run's is not a number (an unpinned local run)."""
    try:
        return budget_cpus(run.meta.budget)
    except PlanError:
        notes.append(
            f"the run's budget is {run.meta.budget.get('cpus')!r} cores: planned at the catalog's {catalog_cpus:g}"
        )
        return catalog_cpus


def budget_cpus(budget: Mapping[str, str]) -> float:
    """The cores of a budget such as {"cpus": "1", "memory": "512m"} (the catalog's: SERVER_CPUS in .env)."""
    cpus = budget_value(budget.get("cpus"))
    if cpus is None or not (math.isfinite(cpus) and cpus > 0):
        raise PlanError("SERVER_CPUS", f"the CPU budget {budget.get('cpus')!r} is not a number of cores (e.g. 1)")
    return cpus


def plan_capacity(
    request: PlanRequest,
    servers: Mapping[str, Server],
    catalog_cpus: float,
    run: Results | None = None,
    scenarios: Mapping[str, Scenario] | None = None,
) -> Plan:
    """One option per server (the catalog's, or the run's), fewest instances first, and the reasoning.

    ``scenarios``: the catalog's (locustfiles/, read when not given), whose declared work says which scenario has the
    request's shape.
    """
    work = workload(request, run, ShapeScenarios.of(load_scenarios() if scenarios is None else scenarios))
    notes: list[str] = []
    cpus = run_cpus(run, catalog_cpus, notes) if run else catalog_cpus
    options = []
    for name in run.meta.servers if run else servers:
        target = run.target(name, work.scenario) if run and work.scenario else None
        missing = coverage(target, run, work, request.p95_ms) if run else None
        cpu = request_cpu(request, target)
        server = servers.get(name)
        if server is not None and server.kind is not None:
            law = law_option(server, request, work.io_ms, cpu, cpus)
        else:  # a --target URL: not in the catalog, no declared kind for the law to size
            law = outside_catalog(name, cpu)
        if run and missing is None and target is not None:
            options.append(measured_option(analyse(target, run.meta), run, request, law, cpus))
            continue
        if run:
            law.covered, law.reason = False, f"not covered by the run ({missing}); law: {law.reason}"
        options.append(law)
    recommend(options, from_run=run is not None)
    if run is not None:
        uncovered = [option.server for option in options if option.covered is False]
        covers = "the run covers the request for every server it measured"
        if uncovered:
            covers = f"the run does not cover the request for {', '.join(uncovered)}: planned by the law"
        notes.append(covers)
    return Plan(
        request, work, cpus, options, [*reasoning(request, work, cpus, run), *notes], run.meta.run_id if run else None
    )


def recommend(options: list[Option], from_run: bool) -> None:
    """Rank the options in place and recommend the first when it is offered."""
    options.sort(key=lambda option: rank(option, from_run))
    if options and options[0].instances is not None:
        options[0].recommended = True


def rank(option: Option, from_run: bool) -> tuple[bool, bool, int, float, int]:
    """Offered options first, measured before the law when there is a run, then the fewest instances (each has the
    same CPU budget), the least memory, the fewest workers."""
    return (
        option.instances is None,
        from_run and option.basis != "measured",
        option.instances or 0,
        (option.memory_mb or 0.0) * (option.instances or 0),
        option.total_workers or 0,
    )


def plan_tuning(
    request: PlanRequest,
    servers: Mapping[str, Server],
    catalog_cpus: float,
    runs: Mapping[str, Results],
    scenarios: Mapping[str, Scenario] | None = None,
) -> Plan:
    """From a tuning (``flasklab tune``): one option per measured value of the setting, the worker count that meets
    the objective with the fewest instances (then the least memory) recommended. ``runs``: "VARIABLE=value" → run."""
    options, notes = [], []
    plan: Plan | None = None
    scenarios = load_scenarios() if scenarios is None else scenarios
    for setting, run in runs.items():
        plan = plan_capacity(request, servers, catalog_cpus, run, scenarios)
        for option in plan.options:
            if option.basis == "measured":
                option.setting, option.recommended = setting, False
                options.append(option)
        notes += [f"{setting}: {note}" for note in plan.notes if "does not cover" in note]
    if plan is None:
        raise PlanError("--from", "the tuning holds no measured run")
    recommend(options, from_run=True)
    return Plan(request, plan.workload, plan.cpus, options, [*plan.notes[:5], *notes], plan.run_id)
