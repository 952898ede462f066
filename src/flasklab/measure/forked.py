"""Each target's Locust process forked from a fork server that imported Locust once (flasklab.loadgen.forkserver).

A new interpreter per target spends 0.6 s importing Locust before its first step: 54 s of the standard sweep's 90
targets. ``locust_process`` asks the fork server for one instead (LAB_LOCUST_START=fork, the default; ``spawn``
starts a new interpreter as before) and hands back what run_load uses of a ``subprocess.Popen``: the pid, stdout and
stderr as text, ``poll``, ``wait`` and ``kill``. One fork server runs per generator command (its CPU pinning), started
on first use and kept for the process's life; it ends when this process closes its socket. A fork server that is gone
is started again once; if that one cannot fork either, the target fails with the reason.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import time
from typing import IO

from flasklab.core.settings import LOCUST_START

FORK_TIMEOUT_S = 30.0  # from the request to the child's pid: the server's own start (its imports) included


class ForkFailed(RuntimeError):
    """The fork server could not give a Locust process."""


class ForkedProcess:
    """A Locust process the fork server forked: its pipes, and its status pipe (its pid, then its exit code)."""

    def __init__(self, pid: int, stdout: IO[str], stderr: IO[str], status: int) -> None:
        self.pid = pid
        self.stdout: IO[str] | None = stdout
        self.stderr: IO[str] | None = stderr
        self.status = status
        self.returncode: int | None = None
        self.said = b""

    def _read_status(self, timeout: float | None) -> bool:
        """Read the status pipe for up to ``timeout`` seconds (None: until it ends); whether it ended."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            ready, _, _ = select.select([self.status], [], [], left)
            if not ready:
                return False
            chunk = os.read(self.status, 64)
            if not chunk:
                os.close(self.status)
                code = self.said.strip()
                # No code said: the child was killed (SIGKILL is the only way to end one without saying it).
                self.returncode = int(code) if code.lstrip(b"-").isdigit() else -signal.SIGKILL
                return True
            self.said += chunk

    def poll(self) -> int | None:
        if self.returncode is None:
            self._read_status(0.0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None and not self._read_status(timeout):
            raise subprocess.TimeoutExpired("flasklab.loadgen (forked)", timeout or 0.0)
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


class ForkServer:
    """``python -m flasklab.loadgen --fork-server FD`` run by ``command`` (the generator's, pinned), and its socket."""

    def __init__(self, command: list[str]) -> None:
        self.socket, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with theirs:
            self.process = subprocess.Popen(
                [*command, "--fork-server", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )

    def fork(self, args: list[str]) -> ForkedProcess:
        """A Locust process run with ``args``, this process's environment and working folder."""
        request = json.dumps({"args": args, "environ": dict(os.environ), "cwd": os.getcwd()}).encode()
        ours, theirs = zip(*(os.pipe() for _ in range(3)), strict=True)
        try:
            socket.send_fds(self.socket, [request], list(theirs))
        except OSError as error:
            for fd in ours:
                os.close(fd)
            raise ForkFailed(f"the fork server is gone ({error})") from error
        finally:
            for fd in theirs:
                os.close(fd)
        stdout, stderr, status = ours
        pid = read_pid(status)
        if pid is None:
            for fd in ours:
                os.close(fd)
            raise ForkFailed(f"the fork server gave no Locust process in {FORK_TIMEOUT_S:.0f} s")
        return ForkedProcess(pid, os.fdopen(stdout, "r"), os.fdopen(stderr, "r"), status)

    def close(self) -> None:
        self.socket.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def read_pid(status: int) -> int | None:
    """The first line of a status pipe: the child's pid (None: nothing within FORK_TIMEOUT_S, or the pipe ended)."""
    said, deadline = b"", time.monotonic() + FORK_TIMEOUT_S
    while b"\n" not in said:
        ready, _, _ = select.select([status], [], [], max(deadline - time.monotonic(), 0.0))
        chunk = os.read(status, 1) if ready else b""
        if not chunk:
            return None
        said += chunk
    return int(said)


SERVERS: dict[tuple[str, ...], ForkServer] = {}


def fork_server(command: list[str]) -> ForkServer:
    """The fork server run by ``command``, started now if there is none (or it is gone)."""
    key = tuple(command)
    server = SERVERS.get(key)
    if server is None or server.process.poll() is not None:
        server = SERVERS[key] = ForkServer(command)
    return server


LocustProcess = ForkedProcess | subprocess.Popen[str]


def locust_process(command: list[str], args: list[str]) -> LocustProcess:
    """The Locust process ``command`` (``python -m flasklab.loadgen``, pinned) with ``args``: forked (one retry with a
    new fork server) or, with LAB_LOCUST_START=spawn, started as a new interpreter."""
    if LOCUST_START.value() == "spawn":
        return subprocess.Popen(
            [*command, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL
        )
    try:
        return fork_server(command).fork(args)
    except ForkFailed:
        SERVERS.pop(tuple(command)).close()
    return fork_server(command).fork(args)  # ForkFailed again: the caller's to tell as the target's failure


@atexit.register
def close_fork_servers() -> None:
    for server in SERVERS.values():
        server.close()
    SERVERS.clear()
