"""Locust processes forked from the fork server (flasklab.measure.forked, flasklab.loadgen.forkserver), for real.

Each forks a real Locust process that loads a locustfile (``--check``) and ends; every target of the sweep tests runs
the same way (LAB_LOCUST_START=fork is the default).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from flasklab.core.catalog import lab_root
from flasklab.measure.forked import SERVERS, ForkedProcess, locust_process, read_pid

pytestmark = pytest.mark.real  # every test here starts processes

COMMAND = [sys.executable, "-m", "flasklab.loadgen"]
SAYS_ITS_WORLD = """
import os, sys
from locust import HttpUser, task

print("mark", os.environ.get("FLASKLAB_TEST_MARK"), "cwd", os.getcwd(), "parent", os.getppid(), file=sys.stderr)
if os.environ.get("FLASKLAB_TEST_FAIL"):
    raise RuntimeError("this locustfile fails on purpose")


class Visitor(HttpUser):
    @task
    def hello(self) -> None:
        self.client.get("/hello")
"""


def finished(process: ForkedProcess | subprocess.Popen[str]) -> tuple[str, str, int]:
    assert process.stdout is not None and process.stderr is not None
    out, err = process.stdout.read(), process.stderr.read()
    return out, err, process.wait(timeout=10)


def test_a_forked_process_answers_as_a_new_interpreter_does(monkeypatch: pytest.MonkeyPatch) -> None:
    hello = str(lab_root() / "locustfiles" / "hello.py")
    forked = locust_process(COMMAND, ["--check", "--locustfile", hello])
    assert isinstance(forked, ForkedProcess)
    monkeypatch.setenv("LAB_LOCUST_START", "spawn")
    spawned = locust_process(COMMAND, ["--check", "--locustfile", hello])
    assert isinstance(spawned, subprocess.Popen)
    assert finished(forked)[0::2] == finished(spawned)[0::2] == ('{"event":"ok","users":["HelloUser"]}\n', 0)


def test_each_fork_takes_the_callers_environment_folder_and_exit_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fork server started before the variable was set: the child (the server's, not a new interpreter) still
    sees it and the folder of the moment, and a locustfile that raises is exit code 1 with its traceback."""
    locustfile = tmp_path / "world.py"
    locustfile.write_text(SAYS_ITS_WORLD)
    finished(locust_process(COMMAND, ["--check", "--locustfile", str(locustfile)]))  # the server is up
    monkeypatch.setenv("FLASKLAB_TEST_MARK", "set-after-the-server")
    monkeypatch.chdir(tmp_path)
    out, err, code = finished(locust_process(COMMAND, ["--check", "--locustfile", str(locustfile)]))
    server = SERVERS[tuple(COMMAND)]
    assert f"mark set-after-the-server cwd {tmp_path} parent {server.process.pid}" in err and code == 0
    monkeypatch.setenv("FLASKLAB_TEST_FAIL", "1")
    out, err, code = finished(locust_process(COMMAND, ["--check", "--locustfile", str(locustfile)]))
    assert code == 1 and "this locustfile fails on purpose" in out + err


def test_a_killed_fork_ends_and_a_gone_server_is_replaced(tmp_path: Path) -> None:
    locustfile = tmp_path / "slow.py"
    locustfile.write_text("import time\ntime.sleep(60)\n" + SAYS_ITS_WORLD)
    process = locust_process(COMMAND, ["--check", "--locustfile", str(locustfile)])
    assert isinstance(process, ForkedProcess) and process.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        process.wait(timeout=0.2)
    process.kill()
    assert process.wait(timeout=10) == -signal.SIGKILL
    server = SERVERS[tuple(COMMAND)]
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait()
    hello = str(lab_root() / "locustfiles" / "hello.py")
    assert finished(locust_process(COMMAND, ["--check", "--locustfile", hello]))[2] == 0


def test_a_child_that_fails_before_its_run_ends_there(tmp_path: Path) -> None:
    """A request whose folder is gone: the child says its pid, fails (exit code 1, its traceback on stderr) and ends;
    it never goes back to the server's loop as a second server, and the server forks the next one as before."""
    hello = str(lab_root() / "locustfiles" / "hello.py")
    finished(locust_process(COMMAND, ["--check", "--locustfile", hello]))  # the server is up
    server = SERVERS[tuple(COMMAND)]
    request = {"args": ["--check", "--locustfile", hello], "environ": dict(os.environ), "cwd": str(tmp_path / "gone")}
    ours, theirs = zip(*(os.pipe() for _ in range(3)), strict=True)
    socket.send_fds(server.socket, [json.dumps(request).encode()], list(theirs))
    for fd in theirs:
        os.close(fd)
    pid = read_pid(ours[2])
    process = ForkedProcess(pid or 0, os.fdopen(ours[0]), os.fdopen(ours[1]), ours[2])
    out, err, code = finished(process)
    assert pid is not None and code == 1 and "FileNotFoundError" in err and out == ""
    # The failed child is gone, not serving: it said its code just before it ended (the kernel reaps it at once).
    deadline = time.monotonic() + 5
    while psutil.Process(server.process.pid).children() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert psutil.Process(server.process.pid).children() == []
    assert finished(locust_process(COMMAND, ["--check", "--locustfile", hello]))[2] == 0
