"""The one interface every backend presents: start a target, wait until healthy, its URL, usage, stop, log tail."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, Self

from flasklab.core.catalog import Server, compose_environment
from flasklab.core.userapp import UserApp, UserAppError
from flasklab_app.listen import AcceptQueue

MemoryMeasure = Literal["pss", "uss", "rss", "cgroup"]


class TargetFailed(RuntimeError):
    """A server that could not be started or stopped answering; the message is recorded as the target's error."""


@dataclass(frozen=True)
class Usage:
    """CPU seconds consumed so far and memory now, for everything the server runs.

    ``rss_bytes`` is the memory by the backend's ``memory_measure`` (PSS locally, the cgroup's in a container); the
    name stays for the readers of this class.
    """

    cpu_seconds: float
    rss_bytes: int
    at: float  # time.monotonic() of the reading


def http_get(url: str, timeout: float) -> tuple[int, bytes]:
    """A plain GET for health checks and probes (the orchestrator stays clear of Locust and gevent)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


class QueueSampler(Protocol):
    """Reads a server's accept queue from ``start`` to ``stop`` (flasklab_app.listen.AcceptQueueSampler, or the
    agent of its container doing so)."""

    def start(self) -> QueueSampler: ...

    def stop(self) -> AcceptQueue | None: ...


class RunningTarget(ABC):
    """A started server."""

    url: str
    # The lab's app answers 200 on /health; a user's app is healthy once its health path answers anything below 500
    # (a 404 still proves that the server runs and the app loaded).
    health_path: str = "/health"
    health_strict: bool = True

    @abstractmethod
    def alive(self) -> bool:
        """False once the server has exited."""

    def ended(self) -> str | None:
        """How the server ended (its exit code or signal, the memory limit, its container gone), once it has; None
        while it runs or where the backend cannot tell."""
        return None

    def gone(self) -> str | None:
        """None while the server runs; once it has exited, what ended it (or just that it exited)."""
        return None if self.alive() else (self.ended() or "the server exited")

    @abstractmethod
    def usage(self) -> Usage | None:
        """Its CPU and memory now, or None when this backend cannot see them."""

    def queue_sampler(self) -> QueueSampler | None:
        """What reads its listening socket's accept queue over a window, from inside its network namespace
        (flasklab_app.listen); None where the lab cannot (an external target, a container seen from the host)."""
        return None

    def reload(self) -> str:
        """A deploy under load: the app's next code version and the server's graceful reload (flasklab_app.deploy);
        the version deployed. TargetFailed where this backend cannot (an external target)."""
        raise TargetFailed("this backend cannot reload the server")

    def redeploy(self) -> str:
        """A deploy by restart, for a server without a graceful reload: the app's next code version, the server stopped
        and started again where it was; the version deployed. TargetFailed where this backend cannot."""
        raise TargetFailed("this backend cannot restart the server")

    def served_versions(self, asks: int = 3) -> list[str]:
        """The app's code versions the server answers with now (``asks`` requests to /_lab/info), sorted; a
        request that fails or an app without the field adds nothing."""
        seen = set()
        for _ in range(asks):
            try:
                status, body = http_get(f"{self.url}/_lab/info", timeout=5)
                version = json.loads(body).get("code_version") if status == 200 else None
            except (OSError, ValueError, AttributeError):
                version = None
            if isinstance(version, str):
                seen.add(version)
        return sorted(seen)

    @abstractmethod
    def stop(self) -> None:
        """Stop it and everything it started; safe to call twice."""

    @abstractmethod
    def log_tail(self, lines: int = 40) -> str:
        """The last lines the server wrote."""

    def serving(self, app: UserApp | None) -> Self:
        """This target, judged healthy by the user's app's rule when it serves one."""
        if app is not None:
            self.health_path, self.health_strict = app.health_path, False
        return self

    def wait_healthy(self, timeout_s: float) -> None:
        """Poll the health path until it answers (200 for the lab's app); fail early when the server exits."""
        deadline = time.monotonic() + timeout_s
        last_error = "no answer"
        while time.monotonic() < deadline:
            if reason := self.gone():
                raise TargetFailed(f"{reason} during start-up ({last_error})")
            try:
                status, _ = http_get(f"{self.url}{self.health_path}", timeout=2)
                if status == 200 or (not self.health_strict and status < 500):
                    return
                last_error = f"{self.health_path} answered {status}"
            except OSError as error:
                last_error = str(getattr(error, "reason", error))
            time.sleep(0.05)
        raise TargetFailed(f"not healthy after {timeout_s:.0f} s ({last_error})")

    def info(self) -> dict[str, Any]:
        """Versions of Python, Flask, Werkzeug and the server's packages: what the lab's app reports from inside the
        server, else (a user's app has no ``/_lab/info``) what the server's environment holds."""
        try:
            status, body = http_get(f"{self.url}/_lab/info", timeout=5)
            versions = json.loads(body).get("versions", {}) if status == 200 else {}
        except (OSError, ValueError, AttributeError):  # no answer, not JSON, or JSON that is not an object
            versions = {}
        if not isinstance(versions, dict) or not versions:
            return self.stack_versions()
        return {str(key): str(value) for key, value in versions.items()}

    def stack_versions(self) -> dict[str, str]:
        """The versions installed where the server runs (its environment or image); {} where the backend cannot see."""
        return {}


def server_budget(root: Path) -> dict[str, str]:
    """The CPU and memory every catalog server gets, as .env (or the environment) sets them: SERVER_CPUS, SERVER_MEM.

    The one reading of the budget: the container backends enforce it, the local one pins to as many CPUs, and the
    planner sizes instances by it.
    """
    settings = compose_environment(root)
    return {"cpus": settings.get("SERVER_CPUS", "1"), "memory": settings.get("SERVER_MEM", "512m")}


class Backend(ABC):
    """Where servers run. One module per backend; the runner only sees this interface.

    Each is built as ``Backend(root, logs, report)``: the lab's folder, the folder for server logs, and where to say
    what it is doing (a build, an environment being created).
    """

    name: str
    pinning: dict[str, list[int]] | None
    budget: dict[str, str]
    # How its targets' usage measures memory (results.json's meta.memory_measure): "pss", "uss" or "rss" for
    # processes summed, "cgroup" for a container's own accounting, None where it cannot see memory at all.
    memory_measure: MemoryMeasure | None = None
    app: UserApp | None = None  # the user's app (--app) its servers run instead of the lab's, once prepare_app took it
    # Whether start() after stop() gives a fresh server process (rounds, the restart after a busy scenario). None where
    # the lab cannot restart what it measures: the reason, which the runner writes on the target.
    cannot_restart: str | None = None

    def prepare_app(self, app: UserApp, servers: list[Server]) -> None:
        """Check, before any server starts, that ``servers`` can run the user's app here, then run it from now on.

        Raises UserAppError naming the problem (the app does not import, it is outside what can be built), or
        TargetFailed when its requirements cannot be installed. Backends that only run the lab's app refuse it.
        """
        raise UserAppError(
            f"the {self.name} backend runs the lab's app only: --app runs on the local or docker backend; the compose "
            "lab's servers run the images built with LAB_APP_DIR and APP_MODULE (see the README)"
        )

    def prepare(self, servers: list[Server]) -> None:  # noqa: B027 - optional hook
        """Make ready what the servers need (environments, the upstream) before the first one starts."""

    @abstractmethod
    def unavailable(self, server: Server) -> str | None:
        """Why this backend cannot run ``server`` here (the target is then skipped), or None."""

    @abstractmethod
    def start(self, server: Server) -> RunningTarget:
        """Start ``server``; raises TargetFailed if it cannot even be launched."""

    def generator_command(self, command: list[str]) -> list[str]:
        """The load generator's command, pinned away from the servers when the backend pins."""
        return command

    def close(self) -> None:  # noqa: B027 - optional hook
        """Stop whatever prepare() started."""
