"""flasklab plan: the law's answers, the command's input checks, plans from a real quick run (real servers, Locust)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from flasklab.catalog import Server
from flasklab.cli import main
from flasklab.plan import (
    ASSUMED_OVERHEAD_CPU_MS,
    TARGET_CPU_UTILISATION,
    Option,
    Plan,
    PlanError,
    PlanRequest,
    estimate,
    plan_capacity,
    plan_json,
    server_kind,
)
from flasklab.queueing import erlang_c
from flasklab.results import Results, load_results

ROOT = Path(__file__).resolve().parents[1]
RUN_SERVERS = ("gunicorn-sync", "gunicorn-gevent")
CPUS = 1.0  # the catalog's budget per server (.env SERVER_CPUS)


@pytest.fixture(scope="module")
def run_dir(quick_run_copy: Path) -> Path:
    """The shared real quick run: gunicorn sync (4 workers) and gevent on io (100 ms), users 1, 4, 16, beside
    dev-single and hello."""
    return quick_run_copy


@pytest.fixture(scope="module")
def run(run_dir: Path) -> Results:
    return load_results(run_dir)


def law(request: PlanRequest, servers: dict[str, Server]) -> dict[str, Option]:
    return {option.server: option for option in plan_capacity(request, servers, CPUS).options}


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["plan", *args])
    return result.exit_code, result.output


# The law


def test_io_needs_little_many_sync_workers(catalog_servers: dict[str, Server]) -> None:
    """200 rps of 100 ms blocking I/O: 20 requests in flight, so at least 20 sync workers in total."""
    options = law(PlanRequest(rps=200, p95_ms=500, io_ms=100), catalog_servers)
    sync = options["gunicorn-sync"]
    assert sync.kind == "processes" and sync.basis == "law"
    assert sync.total_workers is not None and sync.workers is not None and sync.instances is not None
    assert sync.total_workers >= 20
    assert sync.workers <= 4 * CPUS  # the stated cap per core
    assert sync.total_workers == sync.workers * sync.instances
    assert options["gunicorn-gevent"].instances is not None
    assert options["gunicorn-gevent"].instances < sync.instances
    for option in options.values():
        assert option.expected_p95_ms is not None and 100 <= option.expected_p95_ms <= 500, option


@pytest.mark.parametrize(("rps", "io_ms"), [(200, 100), (50, 400), (1000, 20), (10, 1000), (5000, 250)])
def test_every_plan_holds_the_requests_in_flight(catalog_servers: dict[str, Server], rps: float, io_ms: float) -> None:
    in_flight = rps * (io_ms + ASSUMED_OVERHEAD_CPU_MS) / 1000
    for option in law(PlanRequest(rps=rps, p95_ms=4 * io_ms, io_ms=io_ms), catalog_servers).values():
        assert option.total_workers is not None and option.total_workers >= in_flight, option
        assert option.rps_per_instance is not None and option.law_bound_rps is not None
        assert option.rps_per_instance < option.law_bound_rps  # each instance below its own Little bound


def test_cpu_bound_needs_the_cores(catalog_servers: dict[str, Server]) -> None:
    cores = 200 * (20 + ASSUMED_OVERHEAD_CPU_MS) / 1000  # 4.1
    for option in law(PlanRequest(rps=200, p95_ms=500, cpu_ms=20), catalog_servers).values():
        assert option.instances is not None and option.instances * CPUS >= cores, option
        assert option.instances >= math.ceil(cores / (CPUS * TARGET_CPU_UTILISATION)), option


def test_a_tighter_objective_costs_more(catalog_servers: dict[str, Server]) -> None:
    loose = law(PlanRequest(rps=200, p95_ms=500, io_ms=100), catalog_servers)["gunicorn-sync"]
    tight = law(PlanRequest(rps=200, p95_ms=150, io_ms=100), catalog_servers)["gunicorn-sync"]
    assert loose.instances is not None and tight.instances is not None and tight.instances > loose.instances
    assert tight.expected_p95_ms is not None and tight.expected_p95_ms <= 150


def test_queue_model() -> None:
    assert erlang_c(1, 0.5) == pytest.approx(0.5)  # M/M/1: a request waits with probability rho
    assert erlang_c(4, 4.0) == 1.0 and erlang_c(4, 1.0) < erlang_c(4, 3.0) < 1
    assert estimate(rps=40, io_ms=100, cpu_ms=0.5, slots=4, cpus=1) is None  # 4 workers, 100 ms: Little's 40 rps
    one = estimate(rps=5, io_ms=100, cpu_ms=0, slots=1, cpus=1)  # M/M/1 at rho 0.5: p95 wait ln(0.5/0.05)/5 s
    assert one is not None and one.p95_ms == pytest.approx(100 + 1000 * math.log(10) / 5)


def test_kinds_from_the_catalog(catalog_servers: dict[str, Server]) -> None:
    kinds = {name: server_kind(server).name for name, server in catalog_servers.items()}
    assert kinds["gunicorn-sync"] == kinds["dev-single"] == kinds["gunicorn-tornado"] == "processes"
    assert kinds["gunicorn-gthread"] == kinds["waitress"] == kinds["dev-threaded"] == "threads"
    assert kinds["gunicorn-gevent"] == kinds["uwsgi-gevent"] == kinds["gunicorn-eventlet"] == "async"


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"rps": 0, "p95_ms": 500, "io_ms": 100}, "--rps"),
        ({"rps": 2e7, "p95_ms": 500, "io_ms": 100}, "--rps"),
        ({"rps": math.nan, "p95_ms": 500, "io_ms": 100}, "--rps"),
        ({"rps": 200, "p95_ms": -1, "io_ms": 100}, "--p95-ms"),
        ({"rps": 200, "p95_ms": 500, "io_ms": math.inf}, "--io-ms"),
        ({"rps": 200, "p95_ms": 500, "cpu_ms": -3}, "--cpu-ms"),
        ({"rps": 200, "p95_ms": 90, "io_ms": 100}, "--p95-ms"),  # faster than the work itself
    ],
)
def test_bad_requests(fields: dict[str, float], param: str) -> None:
    with pytest.raises(PlanError) as raised:
        PlanRequest(**fields)
    assert raised.value.param == param


# The command


def test_json_shape() -> None:
    code, output = invoke("--rps", "200", "--p95-ms", "500", "--io-ms", "100", "--json")
    assert code == 0, output
    document = json.loads(output)
    assert set(document) == {"request", "options", "notes"}
    assert document["request"]["rps"] == 200 and document["request"]["scenario"] == "io"
    assert document["options"] and document["notes"]
    for option in document["options"]:
        assert {"server", "workers", "instances", "expected_p95_ms", "reason", "basis", "kind"} <= set(option)
    sync = next(o for o in document["options"] if o["server"] == "gunicorn-sync")
    assert sync["workers"] * sync["instances"] >= 20
    assert any("Little's law" in note for note in document["notes"])


def test_table_then_reasoning_on_request() -> None:
    code, output = invoke("--rps", "200", "--p95-ms", "500", "--io-ms", "100")
    assert code == 0, output
    for text in ("gunicorn-sync", "instances", "N+1", "utilisation", "recommended:", "→"):
        assert text in output
    assert "Erlang C" not in output
    code, explained = invoke("--rps", "200", "--p95-ms", "500", "--io-ms", "100", "--explain")
    assert code == 0 and "Little's law" in explained and "Erlang C" in explained


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rps", "0", "--p95-ms", "500", "--io-ms", "100"], "--rps"),
        (["--rps", "1e8", "--p95-ms", "500", "--io-ms", "100"], "--rps"),
        (["--rps", "200", "--p95-ms", "0", "--io-ms", "100"], "--p95-ms"),
        (["--rps", "200", "--p95-ms", "500", "--io-ms", "-5"], "--io-ms"),
        (["--rps", "200", "--p95-ms", "500", "--cpu-ms", "nan"], "--cpu-ms"),
        (["--rps", "200", "--p95-ms", "500"], "--io-ms"),  # no work given: says what is needed
        (["--rps", "200", "--p95-ms", "50", "--io-ms", "100"], "cannot be met"),
        (["--rps", "abc", "--p95-ms", "500", "--io-ms", "100"], "--rps"),
        (["--rps", "200", "--p95-ms", "500", "--io-ms", "100", "--max-utilisation", "1.5"], "--max-utilisation"),
        (["--rps", "200", "--p95-ms", "500", "--io-ms", "100", "--mem-per-instance", "0"], "--mem-per-instance"),
        (["--rps", "200", "--p95-ms", "500", "--io-ms", "100", "--verify-server", "waitress"], "go with --verify"),
    ],
)
def test_bad_input_exits_2(args: list[str], message: str) -> None:
    code, output = invoke(*args)
    assert code == 2, output
    assert message in output


def test_from_not_a_run_exits_2(tmp_path: Path) -> None:
    code, output = invoke("--rps", "200", "--p95-ms", "500", "--from", str(tmp_path))
    assert code == 2 and "no results.json" in output
    (tmp_path / "results.json").write_text('{"schema_version": 1, "meta": {}}')
    code, output = invoke("--rps", "200", "--p95-ms", "500", "--from", str(tmp_path))
    assert code == 2 and "invalid at meta" in output


# Plans from a real run


def measured_plan(run: Results, catalog_servers: dict[str, Server], **fields: float) -> Plan:
    return plan_capacity(PlanRequest(**({"rps": 200, "p95_ms": 500} | fields)), catalog_servers, CPUS, run)


def test_from_sizes_each_server_from_its_measured_service_time(
    run: Results, catalog_servers: dict[str, Server]
) -> None:
    plan = measured_plan(run, catalog_servers, io_ms=100)
    options = {option.server: option for option in plan.options if option.server in RUN_SERVERS}
    assert set(options) == set(RUN_SERVERS)
    for name, option in options.items():
        target = run.target(name, "io")
        assert target is not None
        assert option.basis == "measured" and option.covered, option.reason
        assert option.instances is not None and option.n_plus_one == option.instances + 1
        assert option.service_mean_ms is not None and 100 <= option.service_mean_ms < 160, option.reason
        assert option.service_scv is not None and option.service_scv < 0.2  # a 100 ms sleep is nearly constant
        assert option.utilisation is not None and option.utilisation <= 0.8
        # A quick run is a thin basis: the plan keeps a margin (predicted p95 within 500 / 1.25 ms).
        assert "quick profile (short windows)" in option.thin_basis
        assert option.expected_p95_ms is not None and option.expected_p95_ms <= 400
        assert option.expected_p99_ms is not None and option.expected_p99_ms >= option.expected_p95_ms
        assert option.workers == target.concurrency and option.memory_mb is not None
    sync = options["gunicorn-sync"]
    # 4 workers x ~0.1 s at most 80 % busy: at most ~32 rps per instance, so 200 rps needs 7 (6.3 rounded up).
    assert sync.slots == 4 and sync.instances is not None and 7 <= sync.instances <= 9, sync.reason
    assert sync.law_instances is not None
    gevent = options["gunicorn-gevent"]
    # gevent holds 2 x 1000 connections; the CPU a request keeps busy is what bounds it, far above 200 rps.
    assert gevent.slots is not None and gevent.slots > 4 and gevent.instances == 1, gevent.reason
    assert plan.options[0].recommended and plan.options[0].server == "gunicorn-gevent"
    assert sum(option.recommended for option in plan.options) == 1


def test_a_memory_budget_rules_options_out(run: Results, catalog_servers: dict[str, Server]) -> None:
    plan = measured_plan(run, catalog_servers, io_ms=100, mem_per_instance_mb=1.0)
    measured = [option for option in plan.options if option.server in RUN_SERVERS]
    assert all(option.instances is None and "MiB asked" in option.reason for option in measured)
    assert not any(option.recommended for option in measured)


def test_from_alone_takes_the_work_from_the_run(run: Results, catalog_servers: dict[str, Server]) -> None:
    plan = plan_capacity(PlanRequest(rps=200, p95_ms=500), catalog_servers, CPUS, run)
    assert plan.workload.scenario == "io" and plan.workload.io_ms == 100
    measured = [option for option in plan.options if option.server in RUN_SERVERS]
    assert all(option.basis == "measured" for option in measured)
    assert all(option.cpu_source.startswith("measured") for option in measured)


def test_from_says_when_the_run_does_not_cover(run: Results, catalog_servers: dict[str, Server]) -> None:
    other_ms = measured_plan(run, catalog_servers, io_ms=50)
    assert all(o.basis == "law" and o.covered is False for o in other_ms.options)
    assert all("ms=50" in o.reason and "not covered" in o.reason for o in other_ms.options)
    assert any("does not cover" in note for note in other_ms.notes)
    mixed = measured_plan(run, catalog_servers, io_ms=100, cpu_ms=5)
    assert all(o.basis == "law" and "both waits and computes" in o.reason for o in mixed.options)
    unmet = measured_plan(run, catalog_servers, p95_ms=100.2, io_ms=100)  # every measured p95 was above it
    assert all(o.covered is False and "no usable step of io met" in o.reason for o in unmet.options)


def test_from_json(run_dir: Path) -> None:
    code, output = invoke("--rps", "200", "--p95-ms", "500", "--io-ms", "100", "--from", str(run_dir), "--json")
    assert code == 0, output
    document = json.loads(output)
    assert document["request"]["from_run"] == "run"
    assert {option["basis"] for option in document["options"] if option["server"] in RUN_SERVERS} == {"measured"}
    assert "Infinity" not in output and "NaN" not in output  # strict JSON, for any reader


def test_unbounded_servers_give_strict_json(catalog_servers: dict[str, Server]) -> None:
    document = plan_json(plan_capacity(PlanRequest(rps=200, p95_ms=500, io_ms=100, cpu_ms=0), catalog_servers, CPUS))
    json.dumps(document, allow_nan=False)


def test_a_server_outside_the_catalog(run: Results, catalog_servers: dict[str, Server]) -> None:
    """A --target server: measured when the run covers it; otherwise no answer, since the law needs its kind."""
    renamed = run.model_copy(
        update={
            "meta": run.meta.model_copy(update={"servers": ["mine"]}),
            "targets": [t.model_copy(update={"server": "mine"}) for t in run.targets if t.server == "gunicorn-sync"],
        }
    )
    (covered,) = measured_plan(renamed, catalog_servers, io_ms=100).options
    assert covered.kind == "unknown" and covered.basis == "measured" and covered.instances is not None
    (uncovered,) = measured_plan(renamed, catalog_servers, io_ms=50).options
    assert uncovered.instances is None and "not in the catalog" in uncovered.reason


# Plans verified by running them


def test_verify_runs_one_instance_at_its_share_and_holds_the_prediction_against_it(
    run_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "verify"
    command = [sys.executable, "-m", "flasklab", "plan", "--rps", "60", "--p95-ms", "400", "--from", str(run_dir)]
    command += ["--verify", "--verify-server", "gunicorn-sync", "--verify-window-s", "8", "--seed", "5"]
    command += ["--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "HELD" in done.stdout and "predicted" in done.stdout and "measured" in done.stdout
    verified = load_results(out)
    assert verified.meta.model == "open" and verified.meta.arrivals == "poisson" and verified.meta.seed == 5
    prediction = verified.meta.prediction
    assert prediction is not None and prediction["server"] == "gunicorn-sync" and prediction["instances"] == "2"
    step = verified.targets[0].steps[0]
    assert step.offered_rps == 30.0 and step.p95_ms is not None and step.p95_ms <= 400
    assert "Plan verification: held" in (out / "report.html").read_text()


def test_a_verification_is_judged_by_the_analysis() -> None:
    from flasklab.analysis import check_objective

    open_run = load_results(ROOT / "tests/fixtures/results/open.json")  # gunicorn-sync io first: 10 rps, p95 104 ms
    assert check_objective(open_run, 150.0).held
    missed = check_objective(open_run, 100.0)
    assert not missed.held and missed.causes == "" and missed.step is not None
    closed = load_results(ROOT / "tests/fixtures/results/closed.json")
    closed.targets.insert(0, closed.targets.pop(2))  # dev-single io first: its 1-user step does not count
    flagged = check_objective(closed, 10_000.0)
    assert not flagged.held and flagged.causes


def test_verify_needs_an_option_to_run(run_dir: Path) -> None:
    code, output = invoke(
        "--rps", "60", "--p95-ms", "400", "--from", str(run_dir), "--verify", "--verify-server", "uwsgi"
    )
    assert code == 2 and "no offered option for 'uwsgi'" in output and "gunicorn-sync" in output
