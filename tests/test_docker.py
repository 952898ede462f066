"""The containerized lab, end to end: the project's own images and compose file, a real Docker engine.

Runs in CI (never skipped there): scripts/docker-engine starts the engine and provides Compose v2, and
scripts/build-base-image builds the offline base. What a new user does is what is run: a copy of the working tree
as a fresh clone would have it (results/ empty, .env untouched), then plain `docker compose up` with a selection of
servers (COMPOSE_PROFILES) on the quick profile. The measured run covers two servers (the claims below need them);
every other server's image is built and started once and answers /health (`test_every_server_image_serves`), which
takes a fraction of a full quick sweep over the catalog. Compose 1.29 gets a short run of one server.

The selection logic of the conductor (profiles and LAB_SERVERS into `flasklab run` arguments) is tested without
Docker at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from flasklab.core.catalog import Server
from flasklab.core.results import Results, load_results
from flasklab.core.settings import PROFILES
from flasklab.measure.conductor import SelectionError, run_arguments, server_profiles
from tests.compose_support import compose_lock, require_docker
from tests.needs import unavailable

COMPOSE_TIMEOUT_S = 1500
BUILD_TIMEOUT_S = 1200
DASHBOARD = "http://127.0.0.1:8080"
# The measured run: the seed's single-threaded dev server and sync workers, the servers the claims below are about.
SELECTED = ("dev-single", "gunicorn-sync")
CLONE_OWNER = 4242  # a test run as root gives its clone to this uid, as a user's own clone would be
IMAGE_USER = 10001  # the lab image's user: a root-owned results folder goes to it
CONDUCTOR_CAPS = {"CHOWN", "SETUID", "SETGID"}
DASHBOARD_CAPS = {"SETUID", "SETGID"}


@dataclass
class ComposeRun:
    clone: Path
    results: Results
    run_dir: Path
    conductor_exit: int
    conductor_log: str
    conductor_uids: set[int]  # of the conductor's processes, as `docker top` saw them during the run
    created: set[str]  # every service of the project that got a container
    containers: list[dict[str, object]]
    dashboard: dict[str, str]  # the dashboard service's pages for this run, by path
    dashboard_status: str  # /proc/1/status of the dashboard's process


def run(
    command: list[str], cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float | None = None
) -> str:
    """The command's output; it must succeed."""
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(command)}: {done.stdout[-2000:]}{done.stderr[-3000:]}"
    return done.stdout


def fetch_dashboard(run_id: str) -> dict[str, str]:
    """The compose dashboard's index and this run's live page and state, read from the host's 127.0.0.1:8080."""
    pages = {}
    for path in ("/", f"/runs/{run_id}/", f"/runs/{run_id}/state"):
        for attempt in range(20):
            try:
                with urllib.request.urlopen(DASHBOARD + path, timeout=10) as response:
                    pages[path] = response.read().decode()
                break
            except (urllib.error.URLError, ConnectionError):
                if attempt == 19:
                    raise
                time.sleep(1)
    return pages


def http(method: str, url: str, timeout: float = 5) -> int:
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def project_containers(project: str) -> dict[str, str]:
    """Service name → container id of every container of the compose project, running or not (v1 and v2 alike)."""
    listed = run(
        ["docker", "ps", "-a", "--filter", f"label=com.docker.compose.project={project}", "--format",
         '{{.ID}} {{.Label "com.docker.compose.service"}}'],
    )  # fmt: skip
    return {service: container for container, service in (line.split() for line in listed.splitlines())}


def plain_environment(clone: Path, **settings: str) -> dict[str, str]:
    """The caller's environment without any lab or compose setting (as a new user's shell), plus ``settings``."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("LAB_", "COMPOSE_"))}
    environment.setdefault("BASE_IMAGE", "flasklab/python-base:3.13")
    return {**environment, **settings}


def down(compose: list[str], clone: Path, environment: dict[str, str]) -> None:
    """The compose project of ``clone`` stopped and removed (whatever is left of it)."""
    subprocess.run([*compose, "down", "--volumes", "--timeout", "5"], capture_output=True, cwd=clone, env=environment)


def wait_exited(container: str, timeout_s: float) -> set[int]:
    """Wait for the container to exit; the uids its processes ran as meanwhile (`docker top`, every second), but for
    the lab image's entrypoint, root for the moment it takes to hand over."""
    uids: set[int] = set()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        top = subprocess.run(["docker", "top", container, "-o", "pid,uid,args"], capture_output=True, text=True)
        if top.returncode != 0:  # not running (any more)
            state = run(["docker", "inspect", "-f", "{{.State.Status}}", container]).strip()
            if state in ("exited", "dead"):
                return uids
        else:
            rows = [line.split(maxsplit=2) for line in top.stdout.splitlines()[1:]]
            uids |= {int(row[1]) for row in rows if len(row) == 3 and "lab-entrypoint.py" not in row[2]}
        time.sleep(1)
    raise AssertionError(f"the conductor did not finish within {timeout_s:.0f} s")


@pytest.fixture(scope="module")
def compose_slot(root: Path) -> Iterator[None]:
    """An engine with Compose v2 and the base image; the machine's one compose slot, held for the whole module."""
    require_docker(root)
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0:
        message = "'docker compose' (v2) is missing although scripts/docker-engine ran"
        unavailable(message)
    with compose_lock():
        yield


@pytest.fixture(scope="module")
def clone(root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The working tree as a fresh clone has it: tracked and new files (not ignored ones), results/ holding only its
    .gitkeep, .env as it is; owned by a user other than root, as a user's clone is."""
    target = tmp_path_factory.mktemp("fresh") / f"flasklabe2e{os.getpid()}"  # the compose project's name
    listed = run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=root).split("\0")
    for name in filter(None, listed):
        source = root / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    assert [path.name for path in (target / "results").iterdir()] == [".gitkeep"]
    if os.geteuid() == 0:
        run(["chown", "-R", f"{CLONE_OWNER}:{CLONE_OWNER}", str(target)])
    return target


@pytest.fixture(scope="module")
def compose_run(compose_slot: None, clone: Path) -> ComposeRun:
    """Plain `docker compose up` of SELECTED on the quick profile, everything read, and the project down again."""
    environment = plain_environment(clone, LAB_PROFILE="quick", COMPOSE_PROFILES=",".join(SELECTED))
    compose = ["docker", "compose"]
    try:
        # --build: a fresh clone has no images; here, older ones of the same tags must not be run instead.
        run([*compose, "up", "--build", "--detach"], cwd=clone, env=environment, timeout=BUILD_TIMEOUT_S)
        containers = project_containers(clone.name)
        uids = wait_exited(containers["conductor"], COMPOSE_TIMEOUT_S)
        exit_code = int(run(["docker", "inspect", "-f", "{{.State.ExitCode}}", containers["conductor"]]).strip())
        log = subprocess.run(["docker", "logs", containers["conductor"]], capture_output=True, text=True, check=True)
        inspected = json.loads(run(["docker", "inspect", *containers.values()]))
        (run_dir,) = [path for path in (clone / "results").iterdir() if path.is_dir()]
        status = run(["docker", "exec", containers["dashboard"], "cat", "/proc/1/status"])
        dashboard = fetch_dashboard(run_dir.name)
    finally:
        logs = subprocess.run(
            [*compose, "logs", "--no-color", "--tail", "40", "conductor"], capture_output=True, text=True, cwd=clone,
            env=environment,
        )  # fmt: skip
        print(logs.stdout[-5000:])
        down(compose, clone, environment)
    return ComposeRun(
        clone=clone,
        results=load_results(run_dir),
        run_dir=run_dir,
        conductor_exit=exit_code,
        conductor_log=log.stdout + log.stderr,  # stdout, then stderr (where the story goes)
        conductor_uids=uids,
        created=set(containers),
        containers=inspected,
        dashboard=dashboard,
        dashboard_status=status,
    )


# Not measuring: its verdicts are the probe's overlaps of 200 ms sleeps (1 and 4) and a 2 s self-call timeout, which
# other tests beside it cannot change; its module's image builds would hold the machine for a minute.
@pytest.mark.real
@pytest.mark.docker
def test_selected_servers_measured_from_a_fresh_clone(compose_run: ComposeRun) -> None:
    results = compose_run.results
    assert compose_run.conductor_exit == 0, compose_run.conductor_log[-3000:]
    assert results.meta.backend == "network" and results.meta.status == "complete"
    assert {target.server for target in results.targets} == set(SELECTED)
    for target in results.targets:
        assert target.status == "ok", (target.server, target.scenario, target.error, target.log_tail)
        for step in target.steps:
            assert step.requests > 0 and step.failures == 0
            # One Locust process in the conductor: locust-worker replicas are opt-in (--profile workers), since a
            # master and one worker on the one generator CPU give less than one process alone.
            assert step.generator_workers == 0
            # Usage from each container's own cgroup, through its agent.
            assert step.server_cpu is not None and step.server_rss_mb is not None and step.server_rss_mb > 5
            # The accept queue, read by the agent inside the container's network namespace over the window.
            assert step.accept_queue_mean is not None and step.accept_backlog is not None and step.accept_backlog >= 1
            assert step.listen_overflows == 0, (target.server, step)
    verdicts = {claim.claim: claim.verdict for claim in results.claims}
    assert verdicts["dev-single-serves-one"] == "confirmed"
    assert verdicts["gunicorn-sync-serves-workers"] == "confirmed"
    assert verdicts["selfcall-deadlocks-single"] == "confirmed"
    assert results.meta.server_versions["gunicorn-sync"]["python"].startswith("3.13")


@pytest.mark.real
@pytest.mark.docker
def test_only_the_selected_servers_ran(compose_run: ComposeRun, catalog_servers: dict[str, Server]) -> None:
    servers = compose_run.created & set(catalog_servers)
    assert servers == set(SELECTED), f"containers of unselected servers: {sorted(servers - set(SELECTED))}"
    assert {"conductor", "upstream", "dashboard"} <= compose_run.created


@pytest.mark.real
@pytest.mark.docker
def test_conductor_tells_the_story(compose_run: ComposeRun) -> None:
    """One plain line per step in the compose log (no terminal there), naming the server and its rps."""
    lines = compose_run.conductor_log.splitlines()
    assert any(line.startswith("conductor: measuring dev-single, gunicorn-sync") for line in lines)
    for server in SELECTED:
        steps = [line for line in lines if line.startswith("step") and server in line and " rps" in line]
        assert steps, f"no step line for {server}:\n" + "\n".join(lines[-40:])
    assert any(line.startswith("time") and "left" in line for line in lines)
    assert any(line.startswith("verdict") for line in lines)
    assert not any("\x1b[" in line for line in lines), "terminal control sequences in a log without a terminal"


@pytest.mark.real
@pytest.mark.docker
def test_results_belong_to_the_clones_owner(compose_run: ComposeRun) -> None:
    owner = (compose_run.clone / "results").stat().st_uid
    assert owner != 0 and compose_run.conductor_uids == {owner}, (owner, compose_run.conductor_uids)
    for path in [compose_run.run_dir, *compose_run.run_dir.rglob("*")]:
        assert path.stat().st_uid == owner, path


@pytest.mark.real
@pytest.mark.docker
def test_containers_are_hardened(compose_run: ComposeRun) -> None:
    """Read-only, no capabilities, no new privileges, loopback ports, no Docker socket; the lab image's services
    start as root only to become the results folder's owner, with just the capabilities that takes."""
    assert compose_run.containers
    for container in compose_run.containers:
        name = str(container["Name"])
        config, host = container["Config"], container["HostConfig"]
        assert isinstance(config, dict) and isinstance(host, dict)
        service = config["Labels"]["com.docker.compose.service"]
        user = str(config.get("User") or "")
        added = set(host.get("CapAdd") or [])
        if service in ("conductor", "dashboard"):
            assert user == "0:0", name  # the entrypoint drops to the folder's owner: checked below and by uid
            assert added == (CONDUCTOR_CAPS if service == "conductor" else DASHBOARD_CAPS), (name, added)
        else:
            assert user and not user.startswith(("0", "root")), f"{name} runs as root"
            assert not added, (name, added)
        assert host.get("ReadonlyRootfs") is True, name
        assert "ALL" in (host.get("CapDrop") or []), name
        assert "no-new-privileges:true" in (host.get("SecurityOpt") or []), name
        mounts = container.get("Mounts") or []
        assert isinstance(mounts, list)
        for mount in mounts:
            assert isinstance(mount, dict)
            assert "docker.sock" not in str(mount.get("Source")), f"{name} mounts the Docker socket"
        for bindings in (host.get("PortBindings") or {}).values():
            for binding in bindings or []:
                assert binding["HostIp"] == "127.0.0.1", f"{name} publishes a port beyond loopback"
    status = dict(line.split(":", 1) for line in compose_run.dashboard_status.splitlines() if ":" in line)
    owner = str((compose_run.clone / "results").stat().st_uid)
    assert status["Uid"].split() == [owner] * 4, status["Uid"]
    assert status["CapEff"].strip() == status["CapPrm"].strip() == "0" * 16, status


@pytest.mark.real
@pytest.mark.docker
def test_same_budget_for_every_server(compose_run: ComposeRun) -> None:
    budgets = set()
    for container in compose_run.containers:
        labels = container["Config"]["Labels"]  # type: ignore[index]
        if "lab.server" in labels:
            host = container["HostConfig"]
            budgets.add((host["NanoCpus"], host["Memory"], host["CpusetCpus"]))  # type: ignore[index]
    assert len(budgets) == 1, budgets


@pytest.mark.real
@pytest.mark.docker
def test_dashboard_service_serves_the_run(compose_run: ComposeRun) -> None:
    run_id = compose_run.results.meta.run_id
    assert f'href="runs/{run_id}/"' in compose_run.dashboard["/"]
    assert json.loads(compose_run.dashboard[f"/runs/{run_id}/state"])["status"] == "complete"
    page = compose_run.dashboard[f"/runs/{run_id}/"]
    assert "this page is its report" in page and 'class="plotly-graph-div chart"' in page


@pytest.mark.real
@pytest.mark.docker
def test_unknown_server_fails_the_conductor_at_once(compose_slot: None, clone: Path) -> None:
    environment = plain_environment(clone, LAB_SERVERS="gunicorn-sync,no-such-server")
    started = time.monotonic()
    done = subprocess.run(
        ["docker", "compose", "run", "--rm", "--no-deps", "-T", "conductor"],
        capture_output=True, text=True, cwd=clone, env=environment, timeout=BUILD_TIMEOUT_S,
    )  # fmt: skip
    took = time.monotonic() - started
    down(["docker", "compose"], clone, environment)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output[-2000:]
    assert "no-such-server" in output and "valid: dev-single, dev-threaded" in output, output[-2000:]
    assert took < 60, took


@pytest.mark.real
@pytest.mark.docker
def test_root_owned_results_go_to_the_image_user(compose_slot: None, clone: Path) -> None:
    """Docker makes a missing ./results as root (or root cloned): the conductor hands it to uid 10001, never runs
    as root itself, and keeps no capability once it has. LAB_UID=0 is refused."""
    if os.geteuid() != 0:
        unavailable("making a root-owned folder needs root")
    results = clone / "results"
    owner = results.stat()
    environment = plain_environment(clone)
    command = ["docker", "compose", "run", "--rm", "--no-deps", "-T", "conductor"]
    os.chown(results, 0, 0)
    try:
        shown = run(
            [*command, "sh", "-c", "id -u; grep CapEff /proc/self/status; touch /lab/results/written"],
            cwd=clone, env=environment, timeout=BUILD_TIMEOUT_S,
        )  # fmt: skip
        handed = results.stat().st_uid, (results / "written").stat().st_uid
        refused = subprocess.run(
            [*command, "id", "-u"], capture_output=True, text=True, cwd=clone, env={**environment, "LAB_UID": "0"}
        )
    finally:
        down(["docker", "compose"], clone, environment)
        (results / "written").unlink(missing_ok=True)
        os.chown(results, owner.st_uid, owner.st_gid)
    assert shown.split()[:3] == [str(IMAGE_USER), "CapEff:", "0" * 16], shown
    assert handed == (IMAGE_USER, IMAGE_USER)
    assert refused.returncode == 2 and "never runs as root" in refused.stderr, refused.stderr


@pytest.mark.real
@pytest.mark.docker
def test_every_server_image_serves(
    compose_slot: None, clone: Path, catalog_servers: dict[str, Server], compose_run: ComposeRun
) -> None:
    """Every server's image builds, and each server, started by its agent, answers /health: the whole catalog once,
    without a sweep over it (the measured run above covers the measuring)."""
    environment = plain_environment(clone)
    compose = ["docker", "compose"]
    try:
        run([*compose, "up", "--build", "--detach", "upstream", *catalog_servers], cwd=clone, env=environment,
            timeout=BUILD_TIMEOUT_S)  # fmt: skip
        silent = []
        for server in catalog_servers.values():
            agent, url = f"http://127.0.0.1:{server.published[8001]}", f"http://127.0.0.1:{server.published[8000]}"
            deadline = time.monotonic() + 120
            answer = None
            while time.monotonic() < deadline and answer != 200:
                try:
                    if http("GET", f"{agent}/status") == 200:
                        http("POST", f"{agent}/start")
                        answer = http("GET", f"{url}/health")
                except OSError:
                    pass
                time.sleep(0.5)
            if answer != 200:
                silent.append(server.name)
            with contextlib.suppress(OSError):
                http("POST", f"{agent}/stop", timeout=30)
        assert not silent, f"no /health answer from {silent}"
    finally:
        down(compose, clone, environment)


@pytest.mark.real
@pytest.mark.docker
def test_compose_v1_still_runs_the_lab(compose_slot: None, clone: Path, compose_run: ComposeRun) -> None:
    """Compose 1.29 (docker-compose): the same file, one server and one scenario, through the conductor."""
    if shutil.which("docker-compose") is None:
        unavailable("no docker-compose (v1) here (scripts/docker-engine installs it)")
    environment = plain_environment(clone, LAB_PROFILE="quick", COMPOSE_PROFILES="dev-single", LAB_SCENARIOS="hello")
    before = {path for path in (clone / "results").iterdir() if path.is_dir()}
    try:
        run(["docker-compose", "config", "--quiet"], cwd=clone, env=environment)
        run(["docker-compose", "up", "--detach"], cwd=clone, env=environment, timeout=BUILD_TIMEOUT_S)
        containers = project_containers(clone.name)
        assert set(containers) & set(SELECTED) == {"dev-single"}, containers
        wait_exited(containers["conductor"], COMPOSE_TIMEOUT_S)
        exit_code = int(run(["docker", "inspect", "-f", "{{.State.ExitCode}}", containers["conductor"]]).strip())
        (run_dir,) = {path for path in (clone / "results").iterdir() if path.is_dir()} - before
        results = load_results(run_dir)
    finally:
        down(["docker-compose"], clone, environment)
    assert exit_code == 0
    assert [(target.server, target.scenario, target.status) for target in results.targets] == [
        ("dev-single", "hello", "ok")
    ]


# The conductor's choice of servers, without Docker.


def test_demo_profile_starts_the_demo_servers(root: Path) -> None:
    """The compose profile `demo` starts exactly the servers the demo lab profile measures."""
    demo = [server for server, profiles in server_profiles(root).items() if "demo" in profiles]
    assert demo == list(PROFILES["demo"].servers)
    command, _ = run_arguments({"LAB_COMPOSE_PROFILES": "demo"}, root)
    assert command[-4:] == ["--servers", ",".join(demo), "--profile", "demo"]


def test_every_server_has_its_own_profile(root: Path, catalog_servers: dict[str, Server]) -> None:
    for server, profiles in server_profiles(root).items():
        assert {"all", server} <= set(profiles), (server, profiles)
    assert set(server_profiles(root)) == set(catalog_servers)


@pytest.mark.parametrize(
    ("environment", "servers"),
    [
        ({}, None),
        ({"LAB_COMPOSE_PROFILES": "all"}, None),
        ({"LAB_COMPOSE_PROFILES": "uwsgi,gunicorn-sync"}, "gunicorn-sync,uwsgi"),
        ({"LAB_COMPOSE_PROFILES": "all,workers", "LAB_SERVERS": "waitress"}, "waitress"),
        ({"LAB_COMPOSE_PROFILES": "demo", "LAB_SERVERS": "gunicorn-sync", "LAB_PROFILE": "quick"}, "gunicorn-sync"),
    ],
)
def test_conductor_measures_what_compose_started(root: Path, environment: dict[str, str], servers: str | None) -> None:
    command, story = run_arguments(environment, root)
    assert command[:4] == ["flasklab", "run", "--backend", "network"]
    assert (command[command.index("--servers") + 1] if "--servers" in command else None) == servers
    assert "--profile" not in command
    assert story.startswith("conductor: measuring ")


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"LAB_SERVERS": "gunicorn-sync,nope"}, "unknown server nope; valid: dev-single, "),
        ({"LAB_COMPOSE_PROFILES": "demo", "LAB_SERVERS": "uwsgi"}, "add uwsgi to COMPOSE_PROFILES"),
        ({"LAB_COMPOSE_PROFILES": "gunicorn-snyc"}, "gunicorn-snyc, which no service has; valid: all, demo"),
        ({"LAB_COMPOSE_PROFILES": "workers"}, "starts no server"),
    ],
)
def test_conductor_refuses_what_was_not_started(root: Path, environment: dict[str, str], message: str) -> None:
    with pytest.raises(SelectionError, match=message):
        run_arguments(environment, root)
