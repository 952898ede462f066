"""Werkzeug's development server in the three modes the lab compares, always without debugger or reloader.

It serves the app named by APP_MODULE (``module:attribute``; the lab's own by default), as the other servers do.
Werkzeug logs a line per request by default; here that is ``--access-log 1`` (the compose file passes
LAB_ACCESS_LOG), off otherwise, as every other server of the catalog, so that none pays for logging alone.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import Any

from werkzeug.serving import run_simple


def load_app(spec: str) -> Any:
    module, _, attribute = spec.partition(":")
    return getattr(importlib.import_module(module), attribute or "app")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=("single", "threaded", "processes"), required=True)
    parser.add_argument("--processes", type=int, default=3, help="at most this many forked requests at once")
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--access-log", choices=("0", "1"), default="0", help="1: a line per request (Werkzeug's)")
    options = parser.parse_args()
    if options.access_log == "0":
        # Werkzeug's request lines are INFO records of its logger; its start-up banner is one too, said here instead.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        print(f"dev server ({options.mode}) on http://{options.host}:{options.port}", file=sys.stderr, flush=True)
    app = load_app(os.environ.get("APP_MODULE", "flasklab_app.app:app"))
    if hasattr(app, "debug"):
        app.debug = False  # a Flask app: never the debugger, whatever its configuration says
    run_simple(
        options.host,
        options.port,
        app,
        use_reloader=False,
        use_debugger=False,
        threaded=options.mode == "threaded",
        processes=options.processes if options.mode == "processes" else 1,
    )


if __name__ == "__main__":
    main()
