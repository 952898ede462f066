"""Declared kinds: a server's kind is its catalog label, a scenario's work its locustfile's declaration.

The planner sizes a server by its kind (processes, threads, async) and finds "the scenario that waits ``ms``" by
the scenarios' declared work; the report's Little's-law tables follow the same declaration. Nothing is read from a
server's prose label or a scenario's name.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flasklab.core.catalog import (
    SERVER_KINDS,
    WORK_KINDS,
    CatalogError,
    Scenario,
    Server,
    load_scenarios,
    load_servers,
    scenario_of_work,
)
from flasklab.core.results import load_results
from flasklab.planning.law import KINDS, server_kind
from flasklab.planning.plan import plan_capacity
from flasklab.planning.request import PlanRequest, ShapeScenarios
from flasklab.views.report import efficiency_tables, io_scenarios

FIXTURES = Path(__file__).parent / "fixtures" / "results"
SERVICE = "services:\n  one:\n    command: ['exec true']\n    labels:\n      lab.server: x\n"
LABELS = "      lab.worker-model: {model}\n      lab.concurrency: '4'\n"


def compose(tmp_path: Path, labels: str) -> Path:
    (tmp_path / "docker-compose.yml").write_text(SERVICE + labels)
    return tmp_path


def locustfile(folder: Path, name: str, declaration: str) -> None:
    (folder / "locustfiles").mkdir(exist_ok=True)
    (folder / "locustfiles" / f"{name}.py").write_text(f"LAB_SCENARIO = {declaration}\n")


# Servers


def test_every_catalog_server_declares_a_valid_kind(catalog_servers: dict[str, Server]) -> None:
    assert {server.kind for server in catalog_servers.values()} == set(SERVER_KINDS)


def test_the_planner_sizes_each_declared_kind() -> None:
    assert set(KINDS) == set(SERVER_KINDS)


def test_the_kind_is_the_label_not_the_words(tmp_path: Path) -> None:
    """A worker model that speaks of threads, declared async, is planned as async."""
    root = compose(tmp_path, LABELS.format(model="worker processes x threads") + "      lab.kind: async\n")
    server = load_servers(root, {})["one"]
    assert server.kind == "async" and server_kind(server).name == "async"


@pytest.mark.parametrize(("labels", "found"), [("      lab.kind: greenlets\n", "'greenlets'"), ("", "missing")])
def test_a_bad_or_missing_kind_names_the_service_and_the_choices(tmp_path: Path, labels: str, found: str) -> None:
    root = compose(tmp_path, LABELS.format(model="sync workers") + labels)
    with pytest.raises(CatalogError, match=r"'one'.*lab\.kind") as raised:
        load_servers(root, {})
    assert found in str(raised.value)
    if labels:
        assert all(kind in str(raised.value) for kind in SERVER_KINDS)


def test_a_server_outside_the_catalog_is_not_sized_by_the_law(catalog_servers: dict[str, Server]) -> None:
    """A --target URL declares no kind: the law says it cannot size it, the catalog's servers are planned."""
    outside = Server(name="mine", software="?", worker_model="deployed elsewhere", concurrency=None, command="-")
    plan = plan_capacity(PlanRequest(rps=50, p95_ms=500, io_ms=100), {"mine": outside, **catalog_servers}, 1.0)
    options = {option.server: option for option in plan.options}
    assert options["mine"].kind == "unknown" and options["mine"].instances is None
    assert options["gunicorn-sync"].kind == "processes" and options["gunicorn-sync"].instances is not None


# Scenarios


def test_every_scenario_declares_its_work(catalog_scenarios: dict[str, Scenario]) -> None:
    assert all(scenario.work in WORK_KINDS for scenario in catalog_scenarios.values())
    assert catalog_scenarios["io"].work == catalog_scenarios["upstream"].work == "io"
    assert catalog_scenarios["cpu"].work == "cpu" and catalog_scenarios["hello"].work == "none"


@pytest.mark.parametrize("work", ["'disk'", None])
def test_a_bad_or_missing_work_names_the_file_and_the_choices(tmp_path: Path, work: str | None) -> None:
    declared = f', "work": {work}' if work else ""
    locustfile(tmp_path, "odd", f'{{"name": "odd", "params": {{}}, "profiles": []{declared}}}')
    with pytest.raises(CatalogError, match=r"odd\.py.*work") as raised:
        load_scenarios(tmp_path)
    assert all(kind in str(raised.value) for kind in WORK_KINDS)


def test_the_planner_takes_the_lab_scenario_of_each_shape(catalog_scenarios: dict[str, Scenario]) -> None:
    assert ShapeScenarios.of(catalog_scenarios) == ShapeScenarios(io="io", cpu="cpu", shapeless="hello")


def test_a_new_io_scenario_is_found_by_its_declaration(tmp_path: Path, catalog_servers: dict[str, Server]) -> None:
    """Adding a scenario is one locustfile: the planner finds it by its work, whatever its name."""
    locustfile(tmp_path, "nap", '{"name": "nap", "work": "io", "params": {"ms": 50}, "profiles": ["full"]}')
    locustfile(tmp_path, "spin", '{"name": "spin", "work": "cpu", "params": {"ms": 5}, "profiles": ["full"]}')
    scenarios = load_scenarios(tmp_path)
    assert scenario_of_work(scenarios, "io", "ms") == "nap" and scenario_of_work(scenarios, "none") is None
    plan = plan_capacity(PlanRequest(rps=50, p95_ms=500, io_ms=50), catalog_servers, 1.0, scenarios=scenarios)
    assert plan.workload.scenario == "nap"


def test_the_report_draws_littles_law_for_the_declared_io_scenarios() -> None:
    """The closed fixture ran hello and io: only io, which waits `ms`, gets an efficiency table."""
    results = load_results(FIXTURES / "closed.json")
    assert io_scenarios(results) == ["io"]
    assert list(efficiency_tables(results)) == ["io"]
