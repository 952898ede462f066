"""flasklab plan --verify --cluster: the whole fleet behind a real nginx, its shares read from nginx's own lines, the
fleets this machine cannot host fairly refused, and a real two-instance gunicorn-sync fleet under real Locust load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from flasklab.cli import main
from flasklab.core.catalog import load_servers
from flasklab.core.results import load_results
from flasklab.measure.backends.base import server_budget
from flasklab.measure.fleet_cpu import InstanceCpu
from flasklab.planning.balance import CLUSTER_FILE, IMBALANCE_MATERIAL, Balance, BalanceError, judged, load_balance
from flasklab.planning.cluster import MAX_INSTANCES, fleet_server, read_access_log, unfair
from flasklab.planning.option import Option, Plan
from flasklab.planning.plan import budget_cpus, plan_capacity
from flasklab.planning.request import PlanRequest
from tests.compose_support import BASE_IMAGE, require_docker
from tests.helpers import ROOT


def test_shares_p95s_and_passed_on_requests_come_from_nginx_s_lines(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    lines = [f"1.{i:02d} 127.0.0.1:9001 0.{100 + i:03d} 200 0.{101 + i:03d}" for i in range(30)]
    lines += [f"2.{i} 127.0.0.1:9002 0.050 200 0.051" for i in range(10)]
    lines += ["3.0 127.0.0.1:9002, 127.0.0.1:9001 0.000, 0.101 200 0.102", "3.1 - - 502 0.000", "garbled"]
    lines += ["3.2 127.0.0.1:9001 0.010 499 0.010"]  # closed by the generator at the load's end: not an answer
    log.write_text("\n".join(lines) + "\n")
    figures = read_access_log(log, "least-conn")
    first, second = figures.instances
    assert (first.address, first.requests, second.address, second.requests) == (
        "127.0.0.1:9001",
        31,
        "127.0.0.1:9002",
        10,
    )
    assert first.share == pytest.approx(31 / 41) and figures.imbalance == pytest.approx((31 / 41) / 0.5)
    assert first.p95_ms == pytest.approx(128.0)  # nearest rank: the 30th of 31 times, 100 to 129 ms and one of 101
    assert second.p95_ms is None  # 10 requests: too few for a p95
    assert figures.moved == 1 and figures.method == "least-conn"
    assert read_access_log(tmp_path / "missing.log", "round-robin").instances == []
    assert figures.loss is None
    lost = read_access_log(log, "least-conn", lost_at=2.0, objective_p95_ms=400).loss  # the 12 lines from 2.0 s on
    assert lost is not None and (lost.requests, lost.failures, lost.p95_ms, lost.held) == (12, 1, None, False)


def io_plan(rps: float, cpu_ms: float | None = None, balance: Balance | None = None) -> Plan:
    request = PlanRequest(rps, 400, 100, cpu_ms, 0.8, None, balance)
    return plan_capacity(request, load_servers(ROOT), budget_cpus(server_budget(ROOT)), None)


def test_a_fleet_the_machine_cannot_host_fairly_is_named_with_the_reason() -> None:
    plan = io_plan(60)
    sync = next(o for o in plan.options if o.server == "gunicorn-sync")
    assert sync.instances == 2 and unfair(plan, sync, 1) is None
    heavy = io_plan(400, cpu_ms=10)
    option = next(o for o in heavy.options if o.server == "gunicorn-sync")
    reason = unfair(heavy, option, 1)
    assert reason is not None and reason.startswith("the fleet needs 4.2 cores of CPU at 400 rps (10.5 ms a request)")
    many = Option("gunicorn-sync", "processes", "law", instances=MAX_INSTANCES + 1, cpu_ms_per_request=0.5)
    assert (
        unfair(plan, many, 1) == f"{MAX_INSTANCES + 1} instances: this machine hosts at most 16 for a fair measurement"
    )


def test_the_fleet_is_one_server_whose_command_starts_every_instance_behind_nginx(tmp_path: Path) -> None:
    sync = load_servers(ROOT)["gunicorn-sync"]
    fleet = fleet_server(sync, 3, "random-two", tmp_path)
    assert fleet.name == "gunicorn-sync-x3" and fleet.concurrency == 12 and "nginx" in fleet.requires
    assert "sh services/cluster/run.sh 3 random-two 'exec gunicorn " in fleet.command
    assert f"LAB_CLUSTER_LOG={tmp_path}/cluster-access.log" in fleet.command


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--cluster"], "--cluster and --balance go with --verify"),
        (
            ["--verify", "--cluster", "--balance", "hash"],
            "'hash' is not one of 'round-robin', 'least-conn', 'random-two'",
        ),
        (["--cpu-ms", "10", "--rps", "400", "--verify", "--cluster"], "cannot be hosted fairly: the fleet needs 4.2"),
        (
            ["--verify", "--cluster", "--backend", "network"],
            "--cluster runs the fleet as local processes or compose replicas: --backend local or docker",
        ),
    ],
)
def test_bad_cluster_asks_exit_2(arguments: list[str], message: str) -> None:
    work = ["--io-ms", "100"] if "--cpu-ms" not in arguments else []  # CPU alone: the cpu scenario verifies it
    base = ["plan", "--rps", "60", "--p95-ms", "400", *work, "--verify-server", "gunicorn-sync"]
    result = CliRunner().invoke(main, [*base, *arguments])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()), result.output


@pytest.mark.real
@pytest.mark.measuring
def test_a_fleet_behind_nginx_shares_the_planned_rate_and_survives_losing_one(tmp_path: Path) -> None:
    """60 rps of 100 ms I/O: the law plans 2 gunicorn-sync instances of 4 workers, 3 to survive losing one. With
    --lose-one the 3 run behind a real nginx (least-conn), the full 60 rps go to nginx as Poisson arrivals for 8 s,
    and the first instance is killed halfway: the others take its share, nginx passes its requests on."""
    out = tmp_path / "verify"
    command = [sys.executable, "-m", "flasklab", "plan", "--rps", "60", "--p95-ms", "400", "--io-ms", "100"]
    command += ["--verify", "--cluster", "--balance", "least-conn", "--lose-one", "--verify-server", "gunicorn-sync"]
    command += ["--verify-window-s", "8", "--seed", "3", "--out", str(out), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT, env=os.environ.copy())
    assert done.returncode in (0, 1), done.stderr[-2000:]
    document = json.loads(done.stdout)
    cluster, verification = document["cluster"], document["verification"]
    assert cluster["method"] == "least-conn" and verification["instances"] == 3, cluster
    answered = {figure["address"]: figure for figure in cluster["instances"]}
    assert len(answered) == 3 and sum(f["share"] for f in answered.values()) == pytest.approx(1.0), cluster
    instances = [line.split() for line in (out / "cluster-instances.pids").read_text().splitlines()]
    assert sorted(address for _, address in instances) == sorted(answered)  # "PID HOST:PORT", in order
    assert all(0 < f["cpu_cores"] < 1.5 for f in answered.values()), cluster  # each instance's own, sampled
    assert json.loads((out / "cluster.json").read_text())["instances"] == cluster["instances"]
    shares = sorted(f["share"] for f in answered.values())
    assert shares[0] < 0.3 and shares[-1] > 1 / 3, cluster  # the lost one served about half as long as the others
    assert all(f["p95_ms"] is not None and 95 <= f["p95_ms"] <= 400 for f in answered.values()), cluster
    loss = cluster["loss"]
    assert loss is not None and loss["requests"] > 100 and loss["failures"] <= 0.01 * loss["requests"], loss
    assert loss["held"] == (loss["p95_ms"] is not None and loss["p95_ms"] <= 400), loss
    assert verification["rate_rps"] == 60 and verification["requests"] > 350, verification
    assert (out / "results.json").exists() and (out / "cluster-lost.txt").exists()
    leftover = subprocess.run(["pgrep", "-f", str(out)], capture_output=True, text=True)
    assert leftover.stdout == "", leftover.stdout  # the fleet and its nginx stopped with the run


def fleet_figures(folder: Path, counts: list[int], loss: dict[str, float] | None = None) -> Path:
    """A cluster.json as --cluster writes it, for a fleet whose instances answered ``counts`` requests."""
    total = sum(counts)
    members = [{"address": f"127.0.0.1:{9001 + i}", "requests": n, "share": n / total} for i, n in enumerate(counts)]
    imbalance = max(counts) / (total / len(counts))
    document = {
        "server": "gunicorn-sync",
        "fleet": len(counts),
        "instances": members,
        "method": "random-two",
        "imbalance": imbalance,
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CLUSTER_FILE).write_text(json.dumps(document | {"moved": 0, "loss": loss}))
    return folder


@pytest.mark.parametrize(
    ("counts", "material", "why"),
    [
        ([1500, 900, 600], True, "the busiest instance 19.4 standard deviations above an even split"),
        ([1040, 1000, 960], False, "under 1.05"),
        ([54, 46, 50], False, "standard deviations above an even split: counting noise"),  # 1.08 from 150 requests
        ([3000], False, "fewer than two instances answered"),
    ],
)
def test_an_imbalance_is_material_past_5_percent_and_the_counting_noise(
    counts: list[int], material: bool, why: str
) -> None:
    imbalance = max(counts) / (sum(counts) / len(counts))
    assert judged(imbalance, counts)[0] is material
    assert why in judged(imbalance, counts)[1]
    assert IMBALANCE_MATERIAL == 1.05


def test_the_planner_puts_the_busiest_share_on_every_instance_where_the_imbalance_is_material(tmp_path: Path) -> None:
    """60 rps of 100 ms I/O: 2 gunicorn-sync instances of 4 workers at an even 30 rps each. A fleet measured 1.5 x
    the mean share on its busiest instance: 45 rps would keep 4.5 requests in 4 workers, so the plan takes 3."""
    even = next(o for o in io_plan(60).options if o.server == "gunicorn-sync")
    learnt = load_balance(fleet_figures(tmp_path / "uneven", [1500, 900, 600]))
    assert learnt.material and learnt.factor == pytest.approx(1.5) and learnt.instances == 3
    plan = io_plan(60, balance=learnt)
    sync = next(o for o in plan.options if o.server == "gunicorn-sync")
    assert (even.instances, even.rps_per_instance) == (2, 30)
    assert sync.instances == 3 and sync.rps_per_instance == pytest.approx(60 / 3 * 1.5)
    assert any(line.startswith("balance: measured 1.50") and "R / N x 1.50" in line for line in plan.notes)
    noise = load_balance(fleet_figures(tmp_path / "even", [1040, 1000, 960]))
    assert not noise.material and noise.factor == 1.0
    assert next(o for o in io_plan(60, balance=noise).options if o.server == "gunicorn-sync").instances == 2


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda folder: folder, "holds no cluster.json: give the folder of a `flasklab plan --verify --cluster` run"),
        (lambda folder: fleet_figures(folder, [900, 300], {"lost_at": 1.0}), "lost an instance on purpose"),
    ],
)
def test_a_folder_without_a_fleet_s_balance_exits_2(tmp_path: Path, make: Any, message: str) -> None:
    folder = make(tmp_path)
    with pytest.raises(BalanceError) as raised:
        load_balance(folder)
    assert message in str(raised.value)
    base = ["plan", "--rps", "60", "--p95-ms", "400", "--io-ms", "100", "--balance-from", str(folder)]
    result = CliRunner().invoke(main, base)
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output


@pytest.mark.real  # real processes: one spinning, one asleep
def test_each_instance_s_cpu_is_sampled_from_its_own_process_tree(tmp_path: Path) -> None:
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    rest = subprocess.Popen(["sleep", "30"])
    try:
        pids = tmp_path / "pids"
        pids.write_text(f"{spin.pid} 127.0.0.1:9001\n{rest.pid} 127.0.0.1:9002\ngarbled\n")
        with InstanceCpu(pids, every_s=0.1) as cpu:
            started = time.time()
            time.sleep(1.5)
        ended = time.time()
    finally:
        spin.kill()
        rest.kill()
    busy, idle = cpu.cores("127.0.0.1:9001", started, ended), cpu.cores("127.0.0.1:9002", started, ended)
    assert busy is not None and 0.2 < busy <= 1.1, busy  # a core's worth, less what a shared machine took
    assert idle is not None and idle < 0.05, idle
    assert cpu.cores("127.0.0.1:9003", started, ended) is None and cpu.cores("127.0.0.1:9001", 0, 1) is None


def fleet_projects() -> set[str]:
    """The compose projects of fleets that have containers, running or not."""
    listed = subprocess.run(
        ["docker", "ps", "-a", "--format", '{{.Label "com.docker.compose.project"}}'],
        capture_output=True,
        text=True,
        check=True,
    )
    return {project for project in listed.stdout.split() if project.startswith("flasklab-fleet-")}


@pytest.mark.docker
@pytest.mark.measuring
def test_compose_replicas_behind_nginx_share_the_planned_rate_and_survive_losing_one(tmp_path: Path) -> None:
    """The same plan as the local fleet's, as compose replicas (--backend docker): the 3 of N+1 scaled up behind the
    lab's nginx image, each instance a container seen at its own address, the first killed (docker kill) halfway;
    then the fleet is gone."""
    require_docker(ROOT)
    before = fleet_projects()
    out = tmp_path / "verify"
    command = [sys.executable, "-m", "flasklab", "plan", "--rps", "60", "--p95-ms", "400", "--io-ms", "100"]
    command += ["--verify", "--cluster", "--backend", "docker", "--balance", "least-conn", "--lose-one"]
    command += ["--verify-server", "gunicorn-sync", "--verify-window-s", "8", "--seed", "3", "--out", str(out)]
    environment = os.environ | {"BASE_IMAGE": os.environ.get("BASE_IMAGE", BASE_IMAGE)}
    done = subprocess.run([*command, "--json"], capture_output=True, text=True, timeout=900, cwd=ROOT, env=environment)
    assert done.returncode in (0, 1), done.stderr[-2000:]
    document = json.loads(done.stdout)
    cluster, verification = document["cluster"], document["verification"]
    assert verification["instances"] == 3 and verification["requests"] > 350, verification
    answered = {figure["address"]: figure for figure in cluster["instances"]}
    assert len(answered) == 3 and not any(address.startswith("127.") for address in answered), cluster
    assert all(0 < figure["cpu_cores"] < 1.5 for figure in answered.values()), cluster  # each container's own
    assert min(figure["share"] for figure in answered.values()) < 0.3, cluster  # the lost one served half as long
    loss = cluster["loss"]
    assert loss is not None and loss["requests"] > 100 and loss["failures"] <= 0.01 * loss["requests"], loss
    fleet = yaml.safe_load((out / "fleet-compose.yml").read_text())["services"]
    assert fleet["server"]["read_only"] is True and fleet["server"]["cap_drop"] == ["ALL"]
    assert fleet["balancer"]["ports"] == ["127.0.0.1::8080"]
    assert load_results(out).meta.backend == "docker"
    assert fleet_projects() == before  # taken down with its target


@pytest.mark.real
def test_a_fleet_member_that_fails_to_start_fails_the_verification_with_its_log_tail(tmp_path: Path) -> None:
    """An app that does not import: the first instance's exit ends the wait at once (not after the start timeout),
    the target records why with the instances' log, and nothing of the fleet is left running."""
    out = tmp_path / "verify"
    command = [sys.executable, "-m", "flasklab", "plan", "--rps", "60", "--p95-ms", "400", "--io-ms", "100"]
    command += ["--verify", "--cluster", "--verify-server", "gunicorn-sync", "--verify-window-s", "4"]
    environment = os.environ | {"APP_MODULE": "nowhere:app"}
    done = subprocess.run([*command, "--out", str(out)], capture_output=True, text=True, timeout=120, env=environment)
    assert done.returncode == 1, done.stderr[-2000:]  # the objective did not hold: nothing was measured
    (target,) = load_results(out).targets
    assert target.status == "failed" and "exited during start-up" in (target.error or ""), target.error
    tail = target.log_tail or ""
    # The tail's 40 lines hold what the instances and members.py wrote last, in whichever order they exited: the
    # end of a gunicorn's traceback, its master's last word, or members.py naming the instance that exited.
    said = ("No module named 'nowhere'", "Worker failed to boot", "exited before it answered")
    assert any(words in tail for words in said), tail
    leftover = subprocess.run(["pgrep", "-f", str(out)], capture_output=True, text=True)
    assert leftover.stdout == "", leftover.stdout
