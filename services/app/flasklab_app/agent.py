"""The agent of a server container: it runs the server, and reports its state, usage and log on a port of its own.

``entrypoint.sh`` execs this agent with the service's shell command (the agent is then the container's PID 1). It
runs the command as its child, ``sh -c COMMAND`` in a process group of its own, reads the server's stdout and stderr
from a pipe (copied to its own stdout, so ``docker logs`` shows the server; the last lines kept for /log) and reaps
it. The conductor has no Docker socket: it asks this agent to start, stop and restart the server, so that every round
and the restart after a busy scenario get a fresh process, and so that an idle container (``LAB_SERVER_START=
on-request``) holds nothing but this agent, asleep in blocking calls. The app's own ``/_lab/usage`` answers only when
a worker is free; this agent answers at once, whatever the server is doing.

HTTP on LAB_AGENT_HOST:LAB_AGENT_PORT (0.0.0.0:8001), with no request parameters at all (nothing a request controls):

    GET  /usage     CPU seconds and memory of the container's cgroup (of the server's process group outside one)
    GET  /log       the server's last 200 lines, as text
    GET  /status    {"state": "running" | "stopped" | "exited", "pid", "starts", "exit_code", "signal",
                     "oom_kills", "oom_source", "memory_limit", "log_tail"}
                    (stopped: by a request or a signal; exited: on its own)
    POST /start     start the server unless it runs; POST /stop: SIGTERM to its process group, SIGKILL after
                    LAB_STOP_GRACE_S (10); POST /restart: both. Each answers with the status.
    POST /queue/start  read the accept queue of the server's listening socket on PORT (the container's network
                    namespace, flasklab_app.listen) until POST /queue/stop, which answers with what was read
                    ({"max", "mean", "backlog", "readings", "overflows"}, or null: no socket on PORT was seen)
    POST /reload    a deploy under load (flasklab_app.deploy): the app's next code version, then SIGHUP to the
                    server's main process; answers the status with "code_version" (409: the server is not running)
    POST /redeploy  a deploy by restart, for a server without a graceful reload: the next code version, then the
                    server stopped and started again; answers the status with "code_version"

LAB_SERVER_START: ``now`` (default: the server starts with the agent, as a container run by hand expects) or
``on-request`` (only on POST /start). SIGTERM or SIGINT to the agent stops the server, then the agent exits with the
server's exit code (128 + the signal that ended it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import sys
import tempfile
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

from flasklab_app.deploy import VERSION_FILE, graceful_reload, next_version, write_version
from flasklab_app.listen import AcceptQueueSampler
from flasklab_app.usage import process_group_usage, server_usage

TAIL_LINES = 200  # kept for /log
STATUS_TAIL_LINES = 40  # in /status
MAX_LINE_BYTES = 65536
START_MODES = ("now", "on-request")
AGENT_SIGNALS = {signal.SIGTERM, signal.SIGINT}
CGROUP_ROOT = Path("/sys/fs/cgroup")
OOM_COUNTERS = (
    ("cgroup v2 memory.events", CGROUP_ROOT / "memory.events"),
    ("cgroup v1 memory.oom_control", CGROUP_ROOT / "memory" / "memory.oom_control"),
)
# The server's shell first raises its own oom_score_adj to 1000, which any process may do without privileges (only
# lowering it needs CAP_SYS_RESOURCE), and every process the server forks inherits it. At the container's memory
# limit the kernel then kills the server, never this agent (oom_score_adj 0): the agent stays to report the kill.
LAUNCHER = '{ echo 1000 >/proc/self/oom_score_adj; } 2>/dev/null; exec sh -c "$1"'


def oom_kills() -> tuple[int, str]:
    """How many processes the container's memory limit has killed, and where that count was read."""
    if os.environ.get("LAB_USAGE_SOURCE") != "cgroup":
        return 0, "none: not in a container (LAB_USAGE_SOURCE is not cgroup), counted as 0"
    for source, path in OOM_COUNTERS:
        try:
            fields = dict(line.split()[:2] for line in path.read_text().splitlines() if len(line.split()) >= 2)
            return int(fields["oom_kill"]), source
        except (OSError, KeyError, ValueError):
            continue
    return 0, "none: no oom_kill in the cgroup's memory.events or memory.oom_control, counted as 0"


def memory_limit() -> str:
    """The container's memory limit, as its cgroup states it (for the log line of an OOM kill)."""
    for path in (CGROUP_ROOT / "memory.max", CGROUP_ROOT / "memory" / "memory.limit_in_bytes"):
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        return text if not text.isdigit() else f"{int(text) / 2**20:g} MiB"
    return "unknown"


def signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


class Supervisor:
    """The server process: started, stopped and reaped here, its output kept."""

    def __init__(self, command: str, grace_s: float) -> None:
        self.command = command
        self.grace_s = grace_s
        self.operation = threading.RLock()  # one start, stop or restart at a time
        # Guards the fields below (its lock is reentrant: keep() takes it too); notified on every start and exit.
        self.changed = threading.Condition()
        self.pid: int | None = None
        self.state = "stopped"
        self.starts = 0
        self.exit_code: int | None = None
        self.signal: int | None = None
        self.stopping = False
        self.oom_kills_at_start = 0
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.sampler: AcceptQueueSampler | None = None  # the accept queue over the conductor's window, if one is open
        self.port = int(os.environ.get("PORT", "8000"))

    def start(self) -> None:
        with self.operation, self.changed:
            if self.pid is not None:
                return
            read_end, write_end = os.pipe()  # both close-on-exec; the child gets write_end as its 1 and 2
            try:
                pid = os.posix_spawnp(
                    "sh",
                    ["sh", "-c", LAUNCHER, "server", self.command],
                    os.environ,
                    file_actions=[
                        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                        (os.POSIX_SPAWN_DUP2, write_end, 1),
                        (os.POSIX_SPAWN_DUP2, write_end, 2),
                    ],
                    setpgroup=0,  # a group of its own: stop signals the server and everything it forked
                    setsigmask=(),  # not the agent's (its threads block the signals it waits for)
                    setsigdef=(signal.SIGPIPE, signal.SIGXFSZ, *AGENT_SIGNALS),  # Python ignores SIGPIPE
                )
            except OSError:
                os.close(read_end)
                raise
            finally:
                os.close(write_end)
            self.pid, self.state, self.exit_code, self.signal, self.stopping = pid, "running", None, None, False
            self.oom_kills_at_start = oom_kills()[0]
            self.starts += 1
            self.note(f"started the server (pid {pid}): {self.command}")  # before the server's own first line
            self.changed.notify_all()
        threading.Thread(target=self.copy_output, args=(read_end,), daemon=True).start()

    def stop(self) -> None:
        """SIGTERM to the server's group, SIGKILL to what is left of it after the grace period (or at once after)."""
        with self.operation:
            with self.changed:
                pid = self.pid
                if pid is None:
                    return
                self.stopping = True
            signal_group(pid, signal.SIGTERM)
            signal_group(pid, signal.SIGCONT)  # a stopped (SIGSTOP) server acts on its SIGTERM now
            with self.changed:
                graceful = self.changed.wait_for(lambda: self.pid != pid, timeout=self.grace_s)
            signal_group(pid, signal.SIGKILL)  # a worker that ignored SIGTERM, an orphan the server left
            with self.changed:
                self.changed.wait_for(lambda: self.pid != pid, timeout=self.grace_s)
            if not graceful:
                self.note(f"the server did not stop within {self.grace_s:g} s of SIGTERM: killed")

    def restart(self) -> None:
        with self.operation:
            self.stop()
            self.start()

    def redeploy(self) -> dict[str, Any]:
        """A deploy by restart, for a server without a graceful reload: the next code version, then the server stopped
        and started again (what its requests meet meanwhile is the finding). Answers the status with the version."""
        with self.operation:
            version = next_version(Path(os.environ[VERSION_FILE]))
            self.restart()
            self.note(f"redeployed the server by a restart: code version {version}")
            return {**self.status(), "code_version": version}

    def reload(self) -> dict[str, Any]:
        """A deploy under load (flasklab_app.deploy): the next code version, then SIGHUP to the server's main process
        (the one the launcher became). Answers the status with the version deployed."""
        with self.operation:
            with self.changed:
                pid = self.pid
            if pid is None:
                raise OSError("the server is not running")
            version = graceful_reload(pid, Path(os.environ[VERSION_FILE]))
            self.note(f"reloaded the server (SIGHUP to pid {pid}): code version {version}")
            return {**self.status(), "code_version": version}

    def copy_output(self, read_end: int) -> None:
        """Copy the server's lines to stdout and keep the last ones, sleeping in read() until it writes."""
        with open(read_end, "rb") as pipe:
            for line in iter(lambda: pipe.readline(MAX_LINE_BYTES), b""):
                self.keep(line.decode(errors="replace").rstrip("\n"))

    def keep(self, line: str) -> None:
        with self.changed:
            self.tail.append(line)
        sys.stdout.buffer.write(line.encode() + b"\n")
        sys.stdout.flush()

    def note(self, text: str) -> None:
        """What the agent did or saw, in the server's log (and so in every log tail the conductor records)."""
        self.keep(f"[agent] {text}")

    def reap(self) -> None:
        """Reap every child that ends, asleep in waitpid: the server, and as PID 1 the orphans it leaves behind."""
        while True:
            with self.changed:
                seen = self.starts
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:  # no child at all: sleep until the next start
                self.await_start(seen)
                continue
            with self.changed:  # the log line first: whoever sees the new state finds it in the tail
                if pid != self.pid:
                    continue
                code = os.waitstatus_to_exitcode(status)
                self.note(f"the server (pid {pid}) {self.ending(code)}")
                self.exit_code, self.signal = (code, None) if code >= 0 else (None, -code)
                self.state = "stopped" if self.stopping else "exited"
                self.pid = None
                self.changed.notify_all()
            # The server is its whole group: workers left behind by a master that died (an OOM kill, a crash) would
            # go on serving, or hold the port against the next start.
            signal_group(pid, signal.SIGKILL)

    def ending(self, code: int) -> str:
        how = f"exited with code {code}" if code >= 0 else f"was killed by signal {-code}"
        kills = oom_kills()[0] - self.oom_kills_at_start
        if kills > 0:
            how += f": OOM-killed at the container's memory limit ({memory_limit()}; {kills} kill(s) since it started)"
        return how

    def await_start(self, seen: int) -> None:
        with self.changed:
            self.changed.wait_for(lambda: self.starts != seen)

    def status(self) -> dict[str, Any]:
        kills, source = oom_kills()
        with self.changed:
            return {
                "state": self.state,
                "pid": self.pid,
                "starts": self.starts,
                "exit_code": self.exit_code,
                "signal": self.signal,
                "oom_kills": kills,
                "oom_source": source,
                "memory_limit": memory_limit(),
                "log_tail": "\n".join(list(self.tail)[-STATUS_TAIL_LINES:]),
            }

    def queue_start(self) -> dict[str, Any]:
        """Begin reading the accept queue of the server's port (a reading already open is dropped for the new one)."""
        with self.changed:
            if self.sampler is not None:
                self.sampler.stop()
            self.sampler = AcceptQueueSampler(self.port).start()
        return {"port": self.port}

    def queue_stop(self) -> dict[str, Any] | None:
        """What the open reading saw (None: none was open, or no socket on the port was seen)."""
        with self.changed:
            sampler, self.sampler = self.sampler, None
        found = sampler.stop() if sampler is not None else None
        return None if found is None else dataclasses.asdict(found)

    def usage(self) -> dict[str, Any]:
        pid = self.pid
        if os.environ.get("LAB_USAGE_SOURCE") != "cgroup" and pid is not None:
            return process_group_usage(pid)
        return server_usage()

    def log(self) -> str:
        with self.changed:
            return "\n".join(self.tail)

    def final_code(self) -> int:
        """The agent's own exit code: the server's (0 when it never ran)."""
        with self.changed:
            return 128 + self.signal if self.signal is not None else self.exit_code or 0


class AgentServer(ThreadingHTTPServer):
    supervisor: Supervisor

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that left before its answer (a poll or a health check that gave up, its connection reset) is no
        fault of the agent's: nothing is printed, since the agent's output is the container's log, which the compose
        log shows a room. Any other error is printed as the standard library does."""
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class AgentHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        supervisor = cast(AgentServer, self.server).supervisor
        if self.path == "/usage":
            self.reply(200, json.dumps({**supervisor.usage(), "at": time.time()}), "application/json")
        elif self.path == "/log":
            self.reply(200, supervisor.log(), "text/plain; charset=utf-8")
        elif self.path == "/status":
            self.reply(200, json.dumps(supervisor.status()), "application/json")
        else:
            self.refuse()

    def do_POST(self) -> None:
        supervisor = cast(AgentServer, self.server).supervisor
        if self.path in ("/queue/start", "/queue/stop"):
            reading = supervisor.queue_start() if self.path == "/queue/start" else supervisor.queue_stop()
            self.reply(200, json.dumps(reading), "application/json")
            return
        if self.path in ("/reload", "/redeploy"):
            try:
                deploy = supervisor.reload if self.path == "/reload" else supervisor.redeploy
                self.reply(200, json.dumps(deploy()), "application/json")
            except OSError as error:
                self.reply(409, json.dumps({**supervisor.status(), "error": str(error)}), "application/json")
            return
        actions = {"/start": supervisor.start, "/stop": supervisor.stop, "/restart": supervisor.restart}
        if self.path not in actions:
            self.refuse()
            return
        try:
            actions[self.path]()
        except OSError as error:
            self.reply(500, json.dumps({**supervisor.status(), "error": str(error)}), "application/json")
            return
        self.reply(200, json.dumps(supervisor.status()), "application/json")

    def refuse(self) -> None:
        """404 for a path the agent does not serve, 405 for one it serves by another method."""
        allowed = {"/usage": "GET", "/log": "GET", "/status": "GET", "/start": "POST", "/stop": "POST"}
        allowed |= {"/restart": "POST", "/queue/start": "POST", "/queue/stop": "POST", "/reload": "POST"}
        allowed |= {"/redeploy": "POST"}
        method = allowed.get(self.path)
        if method is None:
            self.reply(404, "not found\n", "text/plain; charset=utf-8")
        else:
            self.reply(405, f"{self.path} takes {method} only\n", "text/plain; charset=utf-8", {"Allow": method})

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = refuse

    def reply(self, code: int, text: str, content_type: str, headers: dict[str, str] | None = None) -> None:
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python3 -m flasklab_app.agent 'SERVER SHELL COMMAND'", file=sys.stderr)
        return 2
    start_mode = os.environ.get("LAB_SERVER_START", "now")
    if start_mode not in START_MODES:
        print(f"agent: LAB_SERVER_START must be one of {', '.join(START_MODES)}, not {start_mode!r}", file=sys.stderr)
        return 2
    # Blocked before any thread exists, so that every thread inherits the mask and only sigwait below takes them.
    # A handler too, not the default: the kernel drops default-handled signals sent to a container's PID 1.
    signal.pthread_sigmask(signal.SIG_BLOCK, AGENT_SIGNALS)
    for signum in AGENT_SIGNALS:
        signal.signal(signum, lambda *_: None)
    # The app's code version lives in the container's /tmp (its one writable place): each POST /reload deploys the next.
    os.environ.setdefault(VERSION_FILE, str(Path(tempfile.gettempdir()) / "flasklab-app-version"))
    write_version(Path(os.environ[VERSION_FILE]))
    supervisor = Supervisor(argv[0], float(os.environ.get("LAB_STOP_GRACE_S", "10")))
    address = (os.environ.get("LAB_AGENT_HOST", "0.0.0.0"), int(os.environ.get("LAB_AGENT_PORT", "8001")))
    agent = AgentServer(address, AgentHandler)
    agent.supervisor = supervisor
    threading.Thread(target=supervisor.reap, daemon=True).start()
    if start_mode == "now":
        supervisor.start()
    # No timeout: asleep in select until a request comes (the agent exits without shutting it down).
    threading.Thread(target=agent.serve_forever, kwargs={"poll_interval": None}, daemon=True).start()
    received = signal.sigwait(AGENT_SIGNALS)
    supervisor.note(f"{signal.Signals(received).name}: stopping the server, then the agent")
    supervisor.stop()
    code = supervisor.final_code()
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    # os._exit: the daemon threads (a reader may be writing to stdout) are not waited for at interpreter shutdown.
    os._exit(main(sys.argv[1:]))
