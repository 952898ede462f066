"""flasklab plan --emit: the plan's fleet as Kubernetes manifests (validated offline against Kubernetes' own schemas
with kubernetes-validate) and as a compose file (checked by Docker Compose itself), and the bad input that exits 2."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from click.testing import CliRunner

from flasklab.cli import main
from flasklab.core.catalog import load_servers
from flasklab.measure.backends.base import server_budget
from flasklab.planning.emit import fleet_of, planned_settings, production_option, write_fleet
from flasklab.planning.plan import budget_cpus, plan_capacity
from flasklab.planning.request import PlanRequest
from tests.compose_support import compose_command, docker_ready
from tests.helpers import ROOT

KUBERNETES_VERSION = "1.33"  # a release whose schemas kubernetes-validate bundles


def io_plan() -> Any:
    request = PlanRequest(200, 300, 100, None, 0.8, None)
    return plan_capacity(request, load_servers(ROOT), budget_cpus(server_budget(ROOT)), None)


def documents(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def test_the_dev_server_is_never_written_as_a_production_fleet() -> None:
    plan = io_plan()
    servers = load_servers(ROOT)
    recommended = next(option for option in plan.options if option.recommended)
    chosen = production_option(plan, servers)
    assert servers[chosen.server].software != "werkzeug" and chosen.instances is not None
    if servers[recommended.server].software != "werkzeug":
        assert chosen is recommended


def test_the_law_s_configuration_becomes_the_command_s_worker_settings() -> None:
    plan = io_plan()
    servers = load_servers(ROOT)
    gthread = next(option for option in plan.options if option.server == "gunicorn-gthread")
    assert (gthread.processes, gthread.per_process) == (1, 32)
    settings = planned_settings(gthread, servers["gunicorn-gthread"])
    assert settings == {"GUNICORN_GTHREAD_WORKERS": 1, "GUNICORN_GTHREAD_THREADS": 32}
    sync = next(option for option in plan.options if option.server == "gunicorn-sync")
    assert planned_settings(sync, servers["gunicorn-sync"]) == {"GUNICORN_SYNC_WORKERS": sync.processes}
    waitress = next(option for option in plan.options if option.server == "waitress")
    assert planned_settings(waitress, servers["waitress"]) == {"WAITRESS_THREADS": 32}  # one setting: its slots


def test_kubernetes_manifests_are_valid_and_say_what_the_plan_says(tmp_path: Path) -> None:
    plan = io_plan()
    option = next(option for option in plan.options if option.server == "gunicorn-gthread")
    fleet = fleet_of(plan, option, ROOT, server_budget(ROOT))
    written = write_fleet(fleet, "kubernetes", plan, tmp_path)
    assert sorted(path.name for path in written) == ["README.md", "fleet.yaml", "replay.py", "replay.yaml"]
    deployment, service = documents(tmp_path / "fleet.yaml")
    configmap, locust_test = documents(tmp_path / "replay.yaml")
    for manifest in (deployment, service, configmap):
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)  # raises on any schema error
    spec = deployment["spec"]
    container = spec["template"]["spec"]["containers"][0]
    assert spec["replicas"] == option.instances
    assert "--workers 1 --threads 32" in container["args"][0] and "$HOST:$PORT" in container["args"][0]
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "512Mi"} == container["resources"]["requests"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert container["securityContext"]["runAsNonRoot"] and container["securityContext"]["readOnlyRootFilesystem"]
    assert service["spec"]["selector"].items() <= spec["template"]["metadata"]["labels"].items()
    # The LocustTest (a custom resource: no bundled schema) has what the operator's v2 API requires.
    assert locust_test["apiVersion"] == "locust.io/v2" and locust_test["kind"] == "LocustTest"
    test = locust_test["spec"]
    assert test["image"].startswith("locustio/locust:") and test["worker"]["replicas"] >= 1
    assert test["testFiles"]["configMapRef"] == configmap["metadata"]["name"]
    assert f"--host http://{service['metadata']['name']}:80" in test["master"]["command"]
    replay = configmap["data"]["replay.py"]
    assert replay == (tmp_path / "replay.py").read_text()
    tree = ast.parse(replay)  # a locustfile Python can read, offering the plan's rate in all
    rate = next(
        n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "constant_throughput"
    )
    users = int(test["master"]["command"].split("--users ")[1].split()[0])
    assert users * ast.literal_eval(rate.args[0]) == pytest.approx(200, rel=1e-4)
    assert '"/io?ms=100"' in replay


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--emit", "helm", "out"], "'helm' is not one of 'kubernetes', 'compose'"),
        (["--emit", "kubernetes", "/proc/flasklab"], "cannot write into /proc/flasklab"),
        (["--emit", "kubernetes", "out", "--verify-server", "nginx"], "no offered option for 'nginx'"),
        (["--verify-server", "waitress"], "--verify-server goes with --verify or --emit"),
    ],
)
def test_bad_emits_exit_2_and_write_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, arguments: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["plan", "--rps", "200", "--p95-ms", "300", "--io-ms", "100", *arguments])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()), result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.real  # Docker Compose itself reads the file
def test_the_compose_fleet_is_a_file_compose_accepts(tmp_path: Path) -> None:
    runner = CliRunner()
    arguments = ["plan", "--rps", "200", "--p95-ms", "300", "--io-ms", "100", "--verify-server", "gunicorn-sync"]
    result = runner.invoke(main, [*arguments, "--emit", "compose", str(tmp_path / "fleet")])
    assert result.exit_code == 0, result.output
    reason = docker_ready(ROOT)  # the engine's set-up brings Compose; reading a file needs no daemon call
    assert reason is None, reason
    checked = subprocess.run(
        [*compose_command(), "-f", str(tmp_path / "fleet" / "docker-compose.yml"), "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    server = yaml.safe_load(checked.stdout)["services"]["server"]
    sync = next(option for option in io_plan().options if option.server == "gunicorn-sync")
    assert server["deploy"]["replicas"] == sync.instances and server["read_only"] is True
    assert f"--workers {sync.processes}" in server["command"][0]
    assert "--bind $$HOST:$$PORT " in server["command"][0]  # the container's shell reads them, not compose (as "$")
