"""Faults injected into real runs: servers that never get healthy, exit, crash, hang or lose their port; Locust
failing; an unwritable or full results folder; SIGINT and SIGTERM at each phase of `flasklab run`.

Each fault is a real process misbehaving (a one-line server, a kill -9, a SIGSTOP, a held port, a small tmpfs), never
a mock. What each test checks is what the table of docs/faults.md ("Faults and what is kept") promises.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from flasklab.core.analysis import Standing
from flasklab.core.catalog import Scenario, Server
from flasklab.core.results import RESULTS_FILE, Results, Step, Target, load_results, write_results
from flasklab.core.settings import Profile
from flasklab.core.sweep import Sweep
from flasklab.measure.backends.local import LocalBackend, LocalTarget
from flasklab.measure.observer import Quiet
from flasklab.measure.runner import Run
from tests.helpers import flasklab
from tests.needs import unavailable

pytestmark = pytest.mark.real  # every test here starts processes


# Two steps of 1 and 4 users; a fault injected after the first step lands in the second one's warm-up.
FAULT = Profile("fault", (1, 4), 0.5, 1.0, "two short steps, a fault between them")
HEALTH_TIMEOUT_S = 8.0  # LAB_START_TIMEOUT_S for these tests: how long a silent server is given (the healthy
# servers after it start within it on a machine shared with other tests)

NEVER_HEALTHY = """
import http.server, os, sys

class Unhealthy(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_error(503, "warming up forever")

print("never-healthy: listening on", os.environ["PORT"], file=sys.stderr, flush=True)
http.server.HTTPServer((os.environ["HOST"], int(os.environ["PORT"])), Unhealthy).serve_forever()
"""


class WatchedBackend(LocalBackend):
    """The local backend, keeping each started server so a test can hurt it (and check that it is gone)."""

    def __init__(self, root: Path, logs: Path) -> None:
        super().__init__(root, logs, report=lambda _: None)
        self.started: dict[str, LocalTarget] = {}

    def start(self, server: Server) -> LocalTarget:
        target = super().start(server)
        self.started[server.name] = target
        return target


class FaultAt(Quiet):
    """Calls ``fault`` on one server's running target at a moment of its run, in the runner's own thread.

    ``moment`` is ("step", n): right after its n-th step was saved (the next step's warm-up has begun), or
    ("window", n): as its n-th measurement window opens.
    """

    def __init__(
        self, backend: WatchedBackend, server: str, moment: tuple[str, int], fault: Callable[[LocalTarget], None]
    ):
        self.backend, self.server, self.moment, self.fault = backend, server, moment, fault
        self.seen = {"step": 0, "window": 0}
        self.fired = False

    def _event(self, server: str, kind: str) -> None:
        if server != self.server or self.fired:
            return
        self.seen[kind] += 1
        if (kind, self.seen[kind]) == self.moment:
            self.fired = True
            self.fault(self.backend.started[server])

    def step_finished(self, server: str, scenario: str, standing: Standing) -> None:
        self._event(server, "step")

    def window_started(self, server: str, scenario: str, users: int) -> None:
        self._event(server, "window")


def measure(
    tmp_path: Path,
    root: Path,
    servers: list[Server],
    scenarios: list[Scenario],
    inject: Callable[[WatchedBackend], Quiet] = lambda _: Quiet(),
    processes: int = 1,
) -> tuple[Results, WatchedBackend]:
    out = tmp_path / "run"
    backend = WatchedBackend(root, out / "logs")
    started = time.monotonic()
    Run(Sweep(servers, scenarios, FAULT, out, probe=False, processes=processes), backend, inject(backend)).execute()
    assert time.monotonic() - started < 120, "a fault made the sweep hang"
    results = load_results(out)  # valid after any fault
    assert results.meta.status == "complete"
    return results, backend


def group_left(pgid: int) -> list[int]:
    """Live (not zombie) processes still in a server's process group."""
    left = []
    for process in psutil.process_iter(["pid", "status"]):
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                left.append(process.pid)
    return left


def assert_failed_and_gone(results: Results, backend: WatchedBackend, name: str, *reason: str) -> Target:
    """The server's target failed with the reason and its log tail; none of its processes is left."""
    target = results.target(name, results.meta.scenarios[0])
    assert target is not None and target.status == "failed", target
    for part in reason:
        assert part in (target.error or ""), (part, target.error)
    assert target.log_tail, "the failed target keeps the server's log tail"
    if name in backend.started:
        time.sleep(0.3)
        assert not group_left(backend.started[name].process.pid), f"a process of {name} outlived its failure"
    return target


def assert_next_server_measured(results: Results, name: str = "waitress") -> None:
    (target,) = [t for t in results.targets if t.server == name]
    assert target.status == "ok" and len(target.steps) == len(FAULT.steps)
    assert all(step.requests > 0 and step.failures == 0 for step in target.steps), target.steps


@pytest.fixture
def short_health(monkeypatch: pytest.MonkeyPatch) -> None:
    """LAB_START_TIMEOUT_S set to a few seconds (the runner reads it when it waits for a server)."""
    monkeypatch.setenv("LAB_START_TIMEOUT_S", str(HEALTH_TIMEOUT_S))


def ad_hoc(name: str, command: str, like: Server | None = None) -> Server:
    if like is not None:
        return dataclasses.replace(like, name=name, command=command)
    return Server(name=name, software="none", worker_model="a fault", concurrency=1, command=command)


# --- servers that never start --------------------------------------------------------------------------------------


def test_a_server_that_never_gets_healthy_is_failed_after_the_start_timeout(
    tmp_path: Path,
    root: Path,
    catalog_servers: dict[str, Server],
    catalog_scenarios: dict[str, Scenario],
    short_health: None,
) -> None:
    script = tmp_path / "never_healthy.py"
    script.write_text(NEVER_HEALTHY)
    never = ad_hoc("never-healthy", f"exec python3 {script}")
    results, backend = measure(tmp_path, root, [never, catalog_servers["waitress"]], [catalog_scenarios["hello"]])
    target = assert_failed_and_gone(
        results, backend, "never-healthy", f"not healthy after {HEALTH_TIMEOUT_S:g} s", "/health answered 503"
    )
    assert '"GET /health HTTP/1.1" 503' in (target.log_tail or "")  # the server's own log, its last lines
    assert not target.steps
    assert_next_server_measured(results)


@pytest.mark.parametrize(
    ("command", "in_log"),
    [
        ("exec python3 -c 'import flasklab_no_such_module'", "ModuleNotFoundError"),  # a missing dependency
        (  # a bad configuration: a real gunicorn given a worker count that is not a number
            "exec gunicorn --no-control-socket --bind $HOST:$PORT --workers many $APP_MODULE",
            "invalid int value: 'many'",
        ),
    ],
    ids=["missing-dependency", "bad-config"],
)
def test_a_server_that_exits_at_start_is_failed_with_its_log(
    tmp_path: Path,
    root: Path,
    catalog_servers: dict[str, Server],
    catalog_scenarios: dict[str, Scenario],
    command: str,
    in_log: str,
) -> None:
    broken = ad_hoc("exits-at-start", command, like=catalog_servers["gunicorn-sync"])
    results, backend = measure(tmp_path, root, [broken, catalog_servers["waitress"]], [catalog_scenarios["hello"]])
    target = assert_failed_and_gone(results, backend, "exits-at-start", "exited during start-up")
    assert in_log in (target.log_tail or "")
    assert_next_server_measured(results)


def test_a_server_whose_port_is_taken_exits_at_start_and_is_failed(
    tmp_path: Path, root: Path, catalog_servers: dict[str, Server], catalog_scenarios: dict[str, Scenario]
) -> None:
    # The local backend asks the kernel for a free port right before each start, so a clash needs another program
    # to take it in between. Here one has: the test holds a port and gunicorn is told to bind it.
    sync = catalog_servers["gunicorn-sync"]
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        taken = ad_hoc("port-taken", f"PORT={port}; {sync.command}", like=sync)
        results, backend = measure(tmp_path, root, [taken, catalog_servers["waitress"]], [catalog_scenarios["hello"]])
    target = assert_failed_and_gone(results, backend, "port-taken", "exited during start-up")
    assert f"Connection in use: ('127.0.0.1', {port})" in (target.log_tail or "")
    assert_next_server_measured(results)


# --- servers that crash or hang mid-step ---------------------------------------------------------------------------


def kill_main_process(target: LocalTarget) -> None:
    """kill -9 of the server's main process: gunicorn's master, or a single-process server's only process."""
    main = psutil.Process(target.process.pid)
    assert main.name() not in ("sh", "taskset")  # both exec into the server: its pid is the server's own
    main.kill()


@pytest.mark.parametrize(
    ("crashed", "next_server"),
    [("waitress", "gunicorn-sync"), ("gunicorn-sync", "waitress")],
    ids=["only-process", "master"],
)
def test_a_server_killed_mid_run_is_failed_with_its_steps_kept(
    tmp_path: Path,
    root: Path,
    catalog_servers: dict[str, Server],
    catalog_scenarios: dict[str, Scenario],
    crashed: str,
    next_server: str,
) -> None:
    results, backend = measure(
        tmp_path,
        root,
        [catalog_servers[crashed], catalog_servers[next_server]],
        [catalog_scenarios["io"]],
        lambda backend: FaultAt(backend, crashed, ("step", 1), kill_main_process),
    )
    target = assert_failed_and_gone(results, backend, crashed, "the server exited during io")
    first, second = target.steps  # the step before the crash is kept, and the one it happened in
    assert first.requests > 0 and first.failures == 0
    if crashed == "waitress":  # nothing listens any more: every request of the step is refused, and counted
        assert second.failures > 0 and second.requests == second.failures, second
        assert not any(kind.startswith("HTTP ") for kind in second.errors), second.errors
    else:  # gunicorn's orphaned workers go on serving while they have work (and so does the step) until the lab,
        # finding the master gone, fails the server and kills the whole process group (checked above)
        assert second.requests > 0
    assert_next_server_measured(results, next_server)


def kill_a_busy_worker(target: LocalTarget) -> None:
    """kill -9 of a gunicorn worker that holds a client connection (a request is cut off)."""
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        for worker in psutil.Process(target.process.pid).children():
            with contextlib.suppress(psutil.Error):
                if any(c.status == psutil.CONN_ESTABLISHED for c in worker.net_connections("tcp")):
                    worker.kill()
                    return
        time.sleep(0.01)
    raise AssertionError("no gunicorn worker was serving a request")


def test_a_killed_worker_is_replaced_and_the_server_measured_on(
    tmp_path: Path, root: Path, catalog_servers: dict[str, Server], catalog_scenarios: dict[str, Scenario]
) -> None:
    # gunicorn's master replaces a dead worker: the server survives, so its target stays ok. The GET the worker held
    # is not even a failure: Locust's HTTP client (geventhttpclient) resends an idempotent request whose connection
    # closed before any response, so the user sees a slower answer. The server's log keeps the event.
    results, _ = measure(
        tmp_path,
        root,
        [catalog_servers["gunicorn-sync"]],
        [catalog_scenarios["io"]],
        lambda backend: FaultAt(backend, "gunicorn-sync", ("window", 2), kill_a_busy_worker),
    )
    (target,) = results.targets
    assert target.status == "ok" and target.error is None
    assert all(step.requests > step.failures for step in target.steps), target.steps
    log = (tmp_path / "run" / "logs" / "gunicorn-sync.log").read_text()
    assert "was sent SIGKILL" in log and log.count("Booting worker") >= 5  # 4 workers, then the replacement


def stop_group(target: LocalTarget) -> None:
    os.killpg(target.process.pid, signal.SIGSTOP)  # every process of the server: it hangs, connections pile up


@pytest.mark.parametrize("request_timeout", ["0.3", None], ids=["timeouts-in-the-step", "default-timeout"])
def test_a_hung_server_is_failed_and_its_timeouts_counted(
    tmp_path: Path,
    root: Path,
    catalog_servers: dict[str, Server],
    catalog_scenarios: dict[str, Scenario],
    short_health: None,
    monkeypatch: pytest.MonkeyPatch,
    request_timeout: str | None,
) -> None:
    if request_timeout:  # read by the Locust process (flasklab.loadgen.lab_users): requests time out within the window
        monkeypatch.setenv("LAB_REQUEST_TIMEOUT_S", request_timeout)
    results, backend = measure(
        tmp_path,
        root,
        [catalog_servers["gunicorn-sync"], catalog_servers["waitress"]],
        [catalog_scenarios["io"]],
        lambda backend: FaultAt(backend, "gunicorn-sync", ("step", 1), stop_group),
    )
    target = assert_failed_and_gone(
        results,
        backend,
        "gunicorn-sync",
        "stopped answering during io",
        "no response in its last step",
        f"after {HEALTH_TIMEOUT_S:g} s",
    )
    first, second = target.steps
    assert first.requests > 0 and first.failures == 0
    if request_timeout:
        assert second.failures > 0 and second.requests == second.failures, second
        assert not any(kind.startswith("HTTP ") for kind in second.errors), second.errors
    else:  # the default (30 s) is longer than this step: nothing completed in it, and that is what it says
        assert second.requests == 0 and second.p95_ms is None
    assert_next_server_measured(results)


# --- Locust failing ------------------------------------------------------------------------------------------------


def test_a_locustfile_whose_task_raises_counts_failures_and_does_not_hang(
    tmp_path: Path, root: Path, catalog_servers: dict[str, Server]
) -> None:
    locustfile = tmp_path / "task_raises.py"
    locustfile.write_text(
        "from locust import FastHttpUser, constant, task\n\n"
        "class Broken(FastHttpUser):\n"
        "    wait_time = constant(0.01)\n\n"
        "    @task\n"
        "    def broken(self):\n"
        "        raise RuntimeError('this task is broken')\n"
    )
    results, _ = measure(tmp_path, root, [catalog_servers["waitress"]], [Scenario("broken", locustfile, "raises")])
    (target,) = results.targets
    # recorded in the profile's time; adaptive steps stop the curve after its first step, where nothing succeeded
    assert len(target.steps) == 1 and target.stopped == "no request succeeded at 1 user", target
    for step in target.steps:
        assert step.failures > 0 and step.failures == step.requests
        assert step.errors == {"RuntimeError: this task is broken": step.failures}


def kill_locust(_: LocalTarget) -> None:
    """The target's Locust process: a child of the fork server (which lives on), showing the server's command line."""
    me = psutil.Process()
    servers = [p for p in me.children() if p.cmdline()[-2:-1] == ["--fork-server"]]
    (locust,) = [child for server in servers for child in server.children()]
    locust.kill()


def test_a_locust_process_killed_mid_run_fails_its_target_only(
    tmp_path: Path, root: Path, catalog_servers: dict[str, Server], catalog_scenarios: dict[str, Scenario]
) -> None:
    results, _ = measure(
        tmp_path,
        root,
        [catalog_servers["waitress"]],
        [catalog_scenarios["hello"], catalog_scenarios["io"]],
        lambda backend: FaultAt(backend, "waitress", ("step", 1), kill_locust),
    )
    hello, io = results.targets
    assert hello.status == "failed" and "the load generator exited with -9 after 1 step(s)" in (hello.error or "")
    assert len(hello.steps) == 1 and hello.steps[0].requests > 0  # the step before the crash is kept
    assert io.status == "ok" and all(step.requests > 0 for step in io.steps)  # the server goes on


def kill_a_local_worker(_: LocalTarget) -> None:
    me = psutil.Process()
    workers = [p for p in me.children() if "--worker" in p.cmdline()]
    assert len(workers) == 2, [p.cmdline() for p in workers]
    workers[0].kill()


def test_a_local_worker_killed_mid_run_fails_its_target_at_once_and_the_sweep_goes_on(
    tmp_path: Path, root: Path, catalog_servers: dict[str, Server], catalog_scenarios: dict[str, Scenario]
) -> None:
    """`--processes 2`: a worker that dies is reported as such (not as a hang a step later), the rest measured."""
    started = time.monotonic()
    results, _ = measure(
        tmp_path,
        root,
        [catalog_servers["waitress"], catalog_servers["gunicorn-sync"]],
        [catalog_scenarios["hello"]],
        lambda backend: FaultAt(backend, "waitress", ("window", 2), kill_a_local_worker),
        processes=2,
    )
    waitress, gunicorn = results.targets
    assert waitress.status == "failed", waitress
    assert "Locust worker 1 of 2 exited with signal SIGKILL" in (waitress.error or ""), waitress.error
    assert gunicorn.status == "ok" and [step.generator_workers for step in gunicorn.steps] == [2, 2]
    assert all(step.requests > 0 and step.failures == 0 for step in gunicorn.steps)
    assert time.monotonic() - started < 60, "the dead worker was noticed only by the hang timeout"
    assert not [p for p in psutil.Process().children(recursive=True) if "--worker" in p.cmdline()]


# --- the results folder ----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def tmpfs(path: Path, options: str) -> Iterator[Path]:
    """A small tmpfs mounted at ``path`` (root only); skipped where mounting is not allowed, but not in CI."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        reason = f"cannot mount a tmpfs here: {mounted.stderr.strip()}"
        unavailable(reason)
    try:
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=True)


def fill(folder: Path) -> None:
    """Write zeros into ``folder`` until its file system is full."""
    with (folder / "filler").open("wb", buffering=0) as filler, contextlib.suppress(OSError):
        while True:
            filler.write(b"\0" * 4096)


RUN = ("run", "--profile", "quick", "--servers", "waitress", "--scenarios", "hello", "--no-probe")


@pytest.mark.parametrize("case", ["read-only", "file-in-the-way"])
def test_an_unwritable_results_folder_exits_2_before_any_server_starts(tmp_path: Path, case: str) -> None:
    # As root, a folder's mode bits do not stop writes; a read-only mount or a file in the way does.
    with contextlib.ExitStack() as stack:
        if case == "read-only":
            parent, reason = stack.enter_context(tmpfs(tmp_path / "ro", "ro,size=64k")), "Read-only file system"
        else:
            parent, reason = tmp_path / "a-file", "a file, not a folder"
            parent.write_text("not a folder")
        result = flasklab(*RUN, "--out", str(parent / "run"), timeout=60)
    assert result.returncode == 2, result.stderr
    assert "Invalid value for" in result.stderr and "--out" in result.stderr and "cannot be written" in result.stderr
    assert reason in result.stderr and "Traceback" not in result.stderr
    assert "flasklab run:" not in result.stderr  # stopped before the run (and any server) began


def test_a_full_disk_keeps_the_previous_results_file_whole(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "small", "size=64k") as folder:
        results = small_results()
        write_results(results, folder)
        fill(folder)
        results.targets[0].steps *= 20  # a bigger file than the space left
        with pytest.raises(OSError) as raised:
            write_results(results, folder)
        assert raised.value.errno == errno.ENOSPC
        assert f"cannot write {RESULTS_FILE}: No space left on device" in str(raised.value)
        kept = load_results(folder)  # the previous file, whole
        assert len(kept.targets[0].steps) == 1
        assert not [p.name for p in folder.iterdir() if p.suffix == ".tmp"], "a temp file was left behind"


def small_results() -> Results:
    step = Step(
        users=1,
        duration_s=1.0,
        requests=10,
        failures=0,
        rps=10.0,
        p50_ms=1.0,
        p95_ms=2.0,
        p99_ms=3.0,
        max_ms=4.0,
        generator_cpu=0.1,
        generator_saturated=False,
        server_cpu=0.1,
        server_rss_mb=30.0,
    )
    return Results.model_validate(
        {
            "meta": {
                "run_id": "disk-full",
                "status": "running",
                "backend": "local",
                "profile": "fault",
                "steps": [1],
                "warmup_s": 0.5,
                "window_s": 1.0,
                "scenarios": ["hello"],
                "servers": ["waitress"],
                "started": "2026-11-23T00:00:00+00:00",
                "host": {"cores": 2},
                "budget": {},
                "pinning": None,
                "versions": {},
            },
            "targets": [
                {
                    "server": "waitress",
                    "scenario": "hello",
                    "concurrency": 4,
                    "status": "running",
                    "steps": [step.model_dump()],
                }
            ],
        }
    )


def descendants(pid: int) -> list[int]:
    with contextlib.suppress(psutil.Error):
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    return []


def groups_of(pid: int) -> set[int]:
    """Process groups of ``pid``'s descendants (each server has its own), except this test's own group."""
    groups = set()
    for child in descendants(pid):
        with contextlib.suppress(ProcessLookupError):
            groups.add(os.getpgid(child))
    return groups - {os.getpgid(0)}


def left_running(pids: list[int], groups: set[int]) -> list[int]:
    """Which of these processes, or of any process in these groups (workers forked later), still run."""
    alive = [pid for group in groups for pid in group_left(group)]
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
    return alive


def wait_for(condition: Callable[[], bool], timeout_s: float = 120, every_s: float = 0.01) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the run never reached the moment of the fault"
        time.sleep(every_s)


def steps_saved(out: Path) -> int:
    with contextlib.suppress(Exception):
        return sum(len(target.steps) for target in load_results(out).targets)
    return 0


def test_a_disk_that_fills_during_a_run_stops_it_with_a_message_and_the_saved_steps(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "small", "size=512k") as folder:
        out = folder / "run"
        process = subprocess.Popen(
            [sys.executable, "-m", "flasklab", *RUN, "--out", str(out)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for(lambda: steps_saved(out) >= 1)
        children, groups = descendants(process.pid), groups_of(process.pid)
        fill(folder)
        _, stderr = process.communicate(timeout=120)
        kept = load_results(out)
    assert process.returncode == 1, stderr
    assert "the run stopped" in stderr and "No space left on device" in stderr and "Traceback" not in stderr
    assert "keeps every step saved before" in stderr and "report not written" in stderr
    assert kept.meta.status == "running"  # the last state that could be written
    assert len(kept.targets[0].steps) >= 1
    time.sleep(0.5)
    assert not left_running(children, groups), "a server, the upstream or Locust outlived the stopped run"


# --- SIGINT and SIGTERM at each phase --------------------------------------------------------------------------------


def starting(out: Path, server: str) -> Callable[[], bool]:
    """The backend opens the server's log just before launching it; gunicorn then takes a while to boot."""
    log = out / "logs" / f"{server}.log"
    return lambda: log.exists() and "Booting worker" not in log.read_text(errors="replace")


def probing(out: Path) -> Callable[[], bool]:
    """The probe's first request reached the server (its access log, turned on for this run: LAB_ACCESS_LOG=1)."""
    log = out / "logs" / "dev-single.log"
    return lambda: log.exists() and "GET /io?ms=200" in log.read_text(errors="replace")


def complete(out: Path) -> Callable[[], bool]:
    def saved_complete() -> bool:
        with contextlib.suppress(Exception):
            return load_results(out).meta.status == "complete"
        return False

    return saved_complete


PHASES: dict[str, tuple[tuple[str, ...], Callable[[Path], Callable[[], bool]]]] = {
    # phase: (servers and options, the moment to signal)
    "start-up": (("--servers", "gunicorn-sync", "--no-probe"), lambda out: starting(out, "gunicorn-sync")),
    "probe": (("--servers", "dev-single"), probing),
    "report": (("--servers", "waitress", "--no-probe"), complete),
}


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("phase", list(PHASES))
def test_an_interrupt_at_any_phase_exits_with_results_report_and_no_server_left(
    tmp_path: Path, phase: str, signum: int, code: int
) -> None:
    options, moment = PHASES[phase]
    out = tmp_path / "run"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flasklab",
            "run",
            "--profile",
            "quick",
            "--scenarios",
            "hello",
            *options,
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "LAB_ACCESS_LOG": "1"},  # the servers log each request: the probe phase is seen
    )
    try:
        wait_for(moment(out))
        children, groups = descendants(process.pid), groups_of(process.pid) | {process.pid}
        if signum == signal.SIGINT:
            os.killpg(process.pid, signum)  # Ctrl-C: the terminal signals the whole foreground group
        else:
            process.send_signal(signum)  # kill, systemd, docker stop: the main process only
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == code, stderr
    assert "Traceback" not in stderr
    results = load_results(out)
    assert results.meta.status == ("complete" if phase == "report" else "interrupted")
    assert all(target.steps for target in results.targets) == (phase == "report")  # no step began before
    assert (out / "report.html").stat().st_size > 0
    time.sleep(0.5)
    assert not left_running(children, groups), f"a process outlived the run interrupted during {phase}"
