"""The Docker backend, driven from the host: each catalog server as its compose service, one running at a time.

Servers are started with ``compose up -d --no-deps NAME`` and then by the agent inside each container (POST /start,
as the network backend does), and reached on their 127.0.0.1 ports; their CPU and memory come from that agent (its
own cgroup); Locust runs on the host, pinned to LOAD_CPUSET while the containers are pinned to SERVER_CPUSET. The
compose file is the same one ``docker compose up`` runs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from flasklab.core.catalog import Server
from flasklab.core.userapp import STACK_PACKAGES, VERSIONS_SCRIPT, UserApp, UserAppError, parse_versions, pip_reason
from flasklab.measure.backends.base import Backend, TargetFailed
from flasklab.measure.backends.local import Environments, pinned
from flasklab.measure.backends.network import AGENT_PORT, SERVER_PORT, AgentTarget, container_budget

BUILD_TIMEOUT_S = 1800.0


def compose_command() -> list[str]:
    """``docker compose`` (v2) where it exists, else ``docker-compose`` (1.29)."""
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise TargetFailed("no Docker Compose here (scripts/docker-engine installs the engine and docker-compose)")


def app_build_settings(root: Path, app: UserApp) -> dict[str, str]:
    """The compose variables that build a user's app into the server images (paths inside the build context)."""
    settings = {"APP_MODULE": app.spec, "LAB_APP_DIR": inside(root, app.path, "--app-path")}
    # Images of their own (flasklab-server:app-shop-app...), so that the lab's images stay the lab's.
    settings["LAB_IMAGE_TAG"] = "app-" + re.sub(r"[^a-z0-9_.-]+", "-", app.spec.lower())[:100]
    if app.requirements:
        settings["LAB_APP_REQUIREMENTS"] = inside(root, app.requirements, "--requirements")
    return settings


def inside(root: Path, path: Path, option: str) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        raise UserAppError(
            f"{option} {path} is outside {root}: the Docker backend builds your app into the images from the lab's "
            "folder (its build context); copy the app under it, e.g. into examples/"
        ) from None


ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def without_escapes(text: str) -> str:
    """Compose's output without the terminal's escape sequences it writes even with --no-color (an erased line)."""
    return ANSI_ESCAPE.sub("", text)


def failure_reason(result: subprocess.CompletedProcess[str]) -> str:
    """Why a compose command failed: pip's ``ERROR:`` lines when an image build's pip failed, else the output's tail."""
    output = f"{result.stdout}\n{result.stderr}"
    # BuildKit prefixes each line of a step's output ("#9 1.234 ERROR: ..."); the classic builder does not.
    lines = [re.sub(r"^#\d+ \d+\.\d+ ", "", line) for line in output.splitlines()]
    if any(line.startswith("ERROR:") for line in lines):
        return pip_reason("\n".join(lines))
    return result.stderr.strip()[-800:]


class DockerTarget(AgentTarget):
    """A compose service started from the host, its agent reached on its published port."""

    def __init__(self, backend: DockerBackend, server: Server) -> None:
        super().__init__(
            f"http://127.0.0.1:{server.published[SERVER_PORT]}",
            f"http://127.0.0.1:{server.published[AGENT_PORT]}",
            backend.budget["memory"],
        )
        self.backend = backend
        self.service = server.name

    def agent_gone(self) -> str:
        """The container's end as the engine saw it (its memory limit, its exit code), when its agent is gone."""
        # -a: Compose v2 lists only running containers without it
        listed = self.backend.compose("ps", "-a", "-q", self.service, check=False).stdout.split()
        state = subprocess.run(
            ["docker", "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}} {{.State.OOMKilled}}", *listed],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if not listed or state.returncode != 0 or len(state.stdout.split()) != 3:
            return super().agent_gone()
        status, code, oom_killed = state.stdout.split()
        if oom_killed == "true":
            return (
                "OOM-killed: the container reached its memory limit and stopped (the engine says OOMKilled, exit code "
                f"{code}; the lab's SERVER_MEM is {self.memory_limit})"
            )
        return f"the container stopped (its agent does not answer; the engine says {status}, exit code {code})"

    def log_tail(self, lines: int = 40) -> str:
        logs = self.backend.compose("logs", "--no-color", "--tail", str(lines), self.service, check=False)
        return without_escapes(logs.stdout).strip()

    def stop(self) -> None:
        """The container goes (its agent stops the server on the way): the next start is a fresh one."""
        self.stopped = True
        self.backend.compose("rm", "--stop", "--force", "-v", self.service, check=False)

    def stack_versions(self) -> dict[str, str]:
        """Asked of the running container's own Python (the image's environment)."""
        script = ["python3", "-c", VERSIONS_SCRIPT, *STACK_PACKAGES]
        return parse_versions(self.backend.compose("exec", "-T", self.service, *script, check=False).stdout)


class DockerBackend(Backend):
    name = "docker"
    memory_measure = "cgroup"  # each container's agent reads its own cgroup

    def __init__(self, root: Path, logs: Path, report: Callable[[str], None] = print) -> None:
        self.root = root
        self.report = report
        self.budget, self.pinning = container_budget(root)
        self.command: list[str] = []
        self.app_settings: dict[str, str] = {}
        self.conflicts: dict[str, str] = {}  # server name → why its image cannot hold the app's requirements

    def prepare_app(self, app: UserApp, servers: list[Server]) -> None:
        """The app must be inside the build context, and import (checked on the host, in the servers' environments,
        before a long image build): then the images are built with it. A server whose packages cannot be installed
        beside the app's requirements (the same merge, services/requirements/stack.py) is skipped with pip's reason."""
        settings = app_build_settings(self.root, app)
        by_file = Environments(self.root, self.report).check_app(app, servers)
        self.conflicts = {
            server.name: by_file[server.requirements] for server in servers if server.requirements in by_file
        }
        self.app, self.app_settings = app, settings

    def compose(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        if not self.command:
            self.command = compose_command()
        result = subprocess.run(
            [*self.command, *args],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "COMPOSE_IGNORE_ORPHANS": "1", **self.app_settings},
        )
        if check and result.returncode != 0:
            raise TargetFailed(f"{' '.join(self.command)} {' '.join(args)} failed: {failure_reason(result)}")
        return result

    def unavailable(self, server: Server) -> str | None:
        missing = {SERVER_PORT, AGENT_PORT} - set(server.published)
        if missing:
            return f"its compose service publishes no port for {sorted(missing)}"
        return self.conflicts.get(server.name)

    def prepare(self, servers: list[Server]) -> None:
        """Build the images (all at once; one by one after a failure, so that a server whose image cannot be built
        beside the app's requirements is skipped with pip's reason and the others run), then start the upstream."""
        self.report("building the images (docker compose build; cached after the first time)")
        self.compose("build", "upstream", timeout=BUILD_TIMEOUT_S)
        if self.compose("build", *(s.name for s in servers), check=False, timeout=BUILD_TIMEOUT_S).returncode != 0:
            for server in servers:
                build = self.compose("build", server.name, check=False, timeout=BUILD_TIMEOUT_S)
                if build.returncode != 0:
                    self.conflicts[server.name] = f"its image cannot be built: {failure_reason(build)}"
                    self.report(f"{server.name}: skipped, {self.conflicts[server.name]}")
        self.compose("up", "-d", "upstream")

    def start(self, server: Server) -> DockerTarget:
        self.compose("up", "-d", "--no-deps", server.name)
        return DockerTarget(self, server).serving(self.app)

    def generator_command(self, command: list[str]) -> list[str]:
        return pinned(command, self.pinning["generator"] if self.pinning else None)

    def close(self) -> None:
        self.compose("rm", "--stop", "--force", "-v", "upstream", check=False)
