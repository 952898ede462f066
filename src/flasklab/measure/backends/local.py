"""The local backend: the catalog's commands as processes on 127.0.0.1, each in a cached environment of its own.

Every distinct server requirements file (the compose services' REQUIREMENTS build argument: the server's own
packages) gets one virtual environment per app stack (the lab's Flask pins, or a user's app's requirements, merged by
services/requirements/stack.py as the Docker image build merges them), created on first use under the user's cache
folder and reused afterwards. A server runs in its own process group
so that its usage (all its processes, reaped children included) and its stop (the whole group) are exact.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from flasklab.core.catalog import Server, compose_environment
from flasklab.core.userapp import (
    STACK_PACKAGES,
    UserApp,
    UserAppError,
    check_import,
    check_resolvable,
    installed_versions,
    pip_reason,
)
from flasklab.measure.backends.base import Backend, RunningTarget, TargetFailed, Usage, server_budget
from flasklab.measure.interrupts import held_interrupts
from flasklab_app.deploy import VERSION_FILE, graceful_reload, next_version, write_version
from flasklab_app.listen import AcceptQueueSampler
from flasklab_app.usage import local_memory_measure, process_group_usage

STOP_GRACE_S = 5.0
STACK_SCRIPT = "services/requirements/stack.py"  # merges a server's packages with an app's stack (its pins win)
LAB_APP_REQUIREMENTS = "services/requirements/app.txt"  # the lab's own app's Flask stack


class StackConflict(TargetFailed):
    """pip cannot install a server's packages beside the app's requirements: its servers are skipped, with why."""


def cache_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "flasklab"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cpu_split(budget_cpus: float) -> dict[str, list[int]] | None:
    """Servers on the first CPUs of the budget, the generator on the rest; None on a machine with one CPU."""
    available = sorted(os.sched_getaffinity(0))
    server_count = max(1, int(-(-budget_cpus // 1)))
    if len(available) < 2:
        return None
    server_count = min(server_count, len(available) - 1)
    return {"server": available[:server_count], "generator": available[server_count:]}


def pinned(command: list[str], cpus: list[int] | None) -> list[str]:
    if not cpus or not shutil.which("taskset"):
        return command
    return ["taskset", "--cpu-list", ",".join(map(str, cpus)), *command]


class Environments:
    """One cached virtual environment per server requirements file and app stack, keyed by the merged requirements."""

    def __init__(self, root: Path, report: Callable[[str], None] = print) -> None:
        self.root = root
        self.report = report

    def stack(self, requirements: str, extra: Path | None = None) -> str:
        """The environment's requirements: the server's packages and the app's stack (``extra``: a user app's)."""
        files = [self.root / requirements, self.root / LAB_APP_REQUIREMENTS, *([extra] if extra else [])]
        merge = [sys.executable, str(self.root / STACK_SCRIPT), *map(str, files)]
        return subprocess.run(merge, check=True, capture_output=True, text=True).stdout

    def path(self, requirements: str, extra: Path | None = None) -> Path:
        digest = hashlib.sha256((self.stack(requirements, extra) + sys.version).encode()).hexdigest()[:12]
        name = Path(requirements).stem + (f"+{extra.parent.name or extra.stem}" if extra else "")
        return cache_home() / "envs" / f"{name}-{digest}"

    def ensure(self, requirements: str, extra: Path | None = None) -> Path:
        """The environment's folder, created (once) if missing or left half-built by an interrupted run.

        ``extra``: a user app's own requirements, installed with the server's packages in one pip resolution (one
        environment per pair); StackConflict, with pip's reason, when they cannot be installed together.
        """
        venv = self.path(requirements, extra)
        marker = venv / ".flasklab-complete"
        if marker.exists():
            return venv
        venv.parent.mkdir(parents=True, exist_ok=True)
        # Two runs at once (two terminals, parallel tests) build an environment once: the second waits for the
        # first's marker instead of deleting the folder under it.
        with (venv.parent / f"{venv.name}.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not marker.exists():
                self._build(venv, requirements, extra)
        return venv

    def _build(self, venv: Path, requirements: str, extra: Path | None) -> None:
        marker = venv / ".flasklab-complete"
        shutil.rmtree(venv, ignore_errors=True)
        self.report(f"creating the server environment for {requirements} (once; cached in {venv})")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
        stack = venv / "flasklab-requirements.txt"
        stack.write_text(self.stack(requirements, extra))
        pip = [str(venv / "bin" / "pip"), "install", "--disable-pip-version-check", "-r", str(stack)]
        install = subprocess.run(pip, capture_output=True, text=True)
        if install.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            files = requirements + (f" and {extra}" if extra else "")
            reason = pip_reason(install.stdout + "\n" + install.stderr)
            raise StackConflict(f"pip cannot install {files} together: {reason}")
        marker.write_text(requirements + "\n")

    def check_app(self, app: UserApp, servers: list[Server]) -> dict[str, str]:
        """Build the user's app's environments and import it in each: the reason per server requirements file that
        cannot be installed beside the app's (those servers are skipped).

        UserAppError (exit 2) when the app's requirements do not resolve on their own, when the app does not import,
        or when no server at all can be installed beside it.
        """
        if app.requirements is not None:
            check_resolvable(app.requirements)
        conflicts: dict[str, str] = {}
        for requirements in sorted({server.requirements for server in servers}):
            try:
                python = self.ensure(requirements, app.requirements) / "bin" / "python"
            except StackConflict as error:
                self.report(f"{requirements}: cannot be installed beside your app's requirements; its servers skip")
                conflicts[requirements] = str(error)
                continue
            check_import(app, python)
        if servers and len(conflicts) == len({server.requirements for server in servers}):
            raise UserAppError(
                "no server can be installed beside your app's requirements: " + " | ".join(conflicts.values())
            )
        return conflicts


def stack_versions(python: list[str]) -> dict[str, str]:
    """The Flask, Werkzeug and server packages an environment holds (``python``: a command that runs its Python)."""
    return installed_versions(python, list(STACK_PACKAGES))


class LocalTarget(RunningTarget):
    def __init__(
        self,
        process: subprocess.Popen[bytes],
        url: str,
        log_path: Path,
        venv: Path,
        version_file: Path,
        spawn: Callable[[], subprocess.Popen[bytes]],
    ) -> None:
        self.process = process
        self.url = url
        self.log_path = log_path
        self.venv = venv
        self.version_file = version_file
        self.spawn = spawn  # the server's command started again, on the same port, into the same log

    def redeploy(self) -> str:
        """The next code version, then the server stopped and started again on its port (no graceful reload)."""
        version = next_version(self.version_file)
        self.stop()
        try:
            self.process = self.spawn()
        except OSError as error:
            raise TargetFailed(f"the server could not be started again: {error}") from error
        return version

    def reload(self) -> str:
        """The next code version, then SIGHUP to the server's main process (its command's ``exec``: the group's
        leader), as a deploy does."""
        try:
            return graceful_reload(self.process.pid, self.version_file)
        except (OSError, ProcessLookupError) as error:
            raise TargetFailed(f"the server could not be reloaded: {error}") from error

    def stack_versions(self) -> dict[str, str]:
        return stack_versions([str(self.venv / "bin" / "python")])

    def alive(self) -> bool:
        return self.process.poll() is None

    def queue_sampler(self) -> AcceptQueueSampler | None:
        port = urllib.parse.urlsplit(self.url).port
        return AcceptQueueSampler(port) if port is not None else None

    def usage(self) -> Usage | None:
        reading = process_group_usage(self.process.pid)
        if not reading["processes"]:
            return None
        return Usage(float(reading["cpu_seconds"]), int(reading["memory_bytes"]), time.monotonic())

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

    def stop(self) -> None:
        self._signal_group(signal.SIGTERM)
        self._signal_group(signal.SIGCONT)  # a stopped (SIGSTOP) server acts on its SIGTERM now, not after the grace
        try:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=STOP_GRACE_S)
        finally:
            # Whatever is left of the group (a worker that ignored SIGTERM, an orphaned child) goes too, even when a
            # second Ctrl-C cuts the grace period short.
            self._signal_group(signal.SIGKILL)
            self.process.wait()

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class LocalBackend(Backend):
    name = "local"

    def __init__(self, root: Path, logs: Path, report: Callable[[str], None] = print) -> None:
        self.root = root
        self.logs = logs
        self.settings = compose_environment(root)
        self.pinning = cpu_split(float(server_budget(root)["cpus"]))
        self.budget = {
            "cpus": str(len(self.pinning["server"])) if self.pinning else "unpinned (one CPU on this host)",
            "memory": "not enforced by the local backend",
        }
        self.environments = Environments(root, report)
        self.memory_measure = local_memory_measure()  # the servers run as this user: what it can read, it reads there
        self.upstream: subprocess.Popen[bytes] | None = None
        self.upstream_url = ""
        self.conflicts: dict[str, str] = {}  # server requirements file → why it cannot be installed beside the app

    def unavailable(self, server: Server) -> str | None:
        missing = [program for program in server.requires if not shutil.which(program)]
        if missing:
            return f"needs {', '.join(missing)} (not installed here; the Docker backend has it)"
        return self.conflicts.get(server.requirements)

    def prepare_app(self, app: UserApp, servers: list[Server]) -> None:
        """The app imports in every environment it can be installed in (built now, with its requirements): then it is
        run; a server whose packages conflict with the app's requirements is skipped with pip's reason."""
        self.conflicts = self.environments.check_app(app, [s for s in servers if not self.unavailable(s)])
        self.app = app

    def prepare(self, servers: list[Server]) -> None:
        for requirements in sorted({server.requirements for server in servers if not self.unavailable(server)}):
            self.environment(requirements)
        self._start_upstream()

    def environment(self, requirements: str) -> Path:
        """The server environment for a requirements file, with the user app's requirements when there is one."""
        return self.environments.ensure(requirements, self.app.requirements if self.app else None)

    def _start_upstream(self) -> None:
        port = free_port()
        self.upstream_url = f"http://127.0.0.1:{port}"
        command = [sys.executable, str(self.root / "services/upstream/upstream.py"), "--port", str(port)]
        with held_interrupts():  # kept before a signal acts, so that close() stops it
            self.upstream = subprocess.Popen(
                pinned(command, self.pinning["generator"] if self.pinning else None),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise TargetFailed("the lab's upstream service did not start")

    def start(self, server: Server) -> LocalTarget:
        venv = self.environment(server.requirements)
        port = free_port()
        lab_app = str(self.root / "services" / "app")  # always there: the dev server, usage and agent live in it
        url = f"http://127.0.0.1:{port}"
        environment = {
            **os.environ,
            "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            "VIRTUAL_ENV": str(venv),
            "PYTHONPATH": f"{self.app.path}{os.pathsep}{lab_app}" if self.app else lab_app,
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "APP_MODULE": self.app.spec if self.app else self.settings.get("APP_MODULE", "flasklab_app.app:app"),
            "LAB_SELF_URL": url,
            "LAB_UPSTREAM_URL": self.upstream_url,
            "PYTHONUNBUFFERED": "1",
        }
        environment.pop("LAB_USAGE_SOURCE", None)
        self.logs.mkdir(parents=True, exist_ok=True)
        version_file = self.logs / f"{server.name}.code-version"  # what a reload deploys (flasklab_app.deploy)
        write_version(version_file)
        environment[VERSION_FILE] = str(version_file)
        log_path = self.logs / f"{server.name}.log"
        command = pinned(["sh", "-c", server.command], self.pinning["server"] if self.pinning else None)

        def spawn() -> subprocess.Popen[bytes]:
            # Append mode: a server that reopens its stdout by path (nginx's /dev/stdout) appends at the end, and the
            # shared descriptor must append too, or its next write lands at a stale offset over those lines.
            with log_path.open("ab") as log:
                return subprocess.Popen(
                    command,
                    cwd=self.root,
                    env=environment,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )

        log_path.write_bytes(b"")
        return LocalTarget(spawn(), url, log_path, venv, version_file, spawn).serving(self.app)

    def generator_command(self, command: list[str]) -> list[str]:
        return pinned(command, self.pinning["generator"] if self.pinning else None)

    def close(self) -> None:
        if self.upstream and self.upstream.poll() is None:
            os.killpg(self.upstream.pid, signal.SIGKILL)
            self.upstream.wait()
