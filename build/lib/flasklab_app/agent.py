"""The usage agent of a server container: its cgroup's CPU and memory, and its log tail, on a port of its own.

The app's own ``/_lab/usage`` answers only when a worker is free, so under load a server that serves one request at
a time would answer it late; this agent answers at once, whatever the server is doing, and needs no Docker socket.
It also copies the server's log file (``LAB_SERVER_LOG``) to its own stdout, so ``docker logs`` shows the server.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from flasklab_app.usage import server_usage

LOG_PATH = Path(os.environ.get("LAB_SERVER_LOG", "/tmp/server.log"))
TAIL_LINES = 200
_tail: deque[str] = deque(maxlen=TAIL_LINES)


def follow_log() -> None:
    """Copy the server's log to stdout as it grows, keeping the last lines for /log."""
    while not LOG_PATH.exists():
        time.sleep(0.1)
    with LOG_PATH.open(errors="replace") as log:
        while True:
            line = log.readline()
            if not line:
                time.sleep(0.2)
                continue
            _tail.append(line.rstrip("\n"))
            sys.stdout.write(line)
            sys.stdout.flush()


class AgentHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/usage":
            body = json.dumps({**server_usage(), "at": time.time()}).encode()
            content_type = "application/json"
        elif self.path == "/log":
            body = "\n".join(_tail).encode()
            content_type = "text/plain; charset=utf-8"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    threading.Thread(target=follow_log, daemon=True).start()
    port = int(os.environ.get("LAB_AGENT_PORT", "8001"))
    ThreadingHTTPServer(("0.0.0.0", port), AgentHandler).serve_forever()


if __name__ == "__main__":
    main()
