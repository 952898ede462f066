"""The Locust processes' fork server: Locust imported once, a fresh process forked from it for each target.

Importing Locust (and the gevent monkey-patching it does, pydantic's models, Flask for its web UI) takes 0.6 s of CPU,
and a sweep starts a Locust process per target: 90 of them in the standard sweep. So the orchestrator
(flasklab.measure.forked) starts ``python -m flasklab.loadgen --fork-server FD`` once, pinned as the generator is,
and asks it for each target's Locust process over the Unix socket FD: a request is the process's arguments, its
environment and working folder (as the orchestrator has them then: a fork inherits the server's, which may be stale),
with three pipes passed along (SCM_RIGHTS) for its stdout, its stderr and its status. The server forks; the child
takes the pipes as its stdout and stderr, says its pid on the status pipe, runs flasklab.loadgen.process.main as
``python -m flasklab.loadgen`` would and says its exit code there last. A child killed says none: the pipe's end
says it is gone. Nothing of a target is imported here: each child loads its own locustfile, so one target's listeners
or settings never reach another's.

A child shows the server's command line (``ps``: ``python -m flasklab.loadgen --fork-server FD``), with the server
as its parent. The server ignores SIGINT (a Ctrl-C meant for the run must not end the server between two targets;
its children take Python's default back) and lets the kernel reap its children (SIGCHLD ignored: their exit codes
reach the orchestrator by their status pipes). It ends when the orchestrator closes the socket, or is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import traceback
from typing import Any, NoReturn

from gevent.monkey import get_original
from gevent.os import fork_gevent  # a plain fork that gives the child a fresh gevent hub

from flasklab.loadgen.process import main

# gevent's os.close leaves the closing to its hub, which never runs while the server waits on its socket: a finished
# child's pipes would never end.
close = get_original("os", "close")
MAX_REQUEST = 1 << 20
PIPES = 3  # the child's stdout, stderr and status


def serve(control_fd: int) -> None:
    """Fork a Locust process for each request on the socket ``control_fd`` until it closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    control = socket.socket(fileno=control_fd)
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, MAX_REQUEST, PIPES)
        except OSError:
            return
        if not message:
            return
        if len(fds) != PIPES:
            for fd in fds:
                close(fd)
            continue
        if fork_gevent() == 0:
            control.close()
            child(json.loads(message), fds)
        for fd in fds:
            close(fd)


def child(request: dict[str, Any], fds: list[int]) -> NoReturn:
    """Become the Locust process the request asks for: its pid said first, then its pipes, environment, folder and
    run, and its exit code said last. Whatever happens, it ends here (never back in the server's loop)."""
    stdout, stderr, status = fds
    code = 1
    try:
        os.write(status, f"{os.getpid()}\n".encode())
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDONLY)
        for source, target in ((null, 0), (stdout, 1), (stderr, 2)):
            os.dup2(source, target)
            close(source)
        os.environ.clear()
        os.environ.update(request["environ"])
        os.chdir(request["cwd"])
        sys.argv = ["flasklab.loadgen", *request["args"]]
        main(request["args"])
        code = 0
    except SystemExit as exit_:
        if isinstance(exit_.code, str):  # sys.exit("message"): said on stderr, as the interpreter would
            print(exit_.code, file=sys.stderr)
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        with contextlib.suppress(OSError):
            os.write(status, f"{code}\n".encode())
        os._exit(code)
