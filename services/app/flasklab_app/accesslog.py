"""An access log for the servers that have none of their own (waitress; gunicorn's tornado worker, whose requests
Tornado logs to a logger gunicorn never configures): one Common Log Format line per request on stderr.

``LAB_ACCESS_LOG=1`` turns per-request logging on across the catalog; the compose file then serves
``flasklab_app.accesslog:app`` (APP_MODULE's app, wrapped) on these servers, as waitress's own docs do with Paste's
TransLogger, so that every server pays for one line per request and none for more.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from flasklab_app.devserver import load_app

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def logged(wrapped: WSGIApp) -> WSGIApp:
    """``wrapped``, writing `host - - [time] "METHOD path protocol" status -` once per request it answers."""

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        def logging_start_response(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            path = environ.get("PATH_INFO", "") + (f"?{environ['QUERY_STRING']}" if environ.get("QUERY_STRING") else "")
            stamp = time.strftime("%d/%b/%Y:%H:%M:%S %z")
            request = f"{environ.get('REQUEST_METHOD')} {path} {environ.get('SERVER_PROTOCOL')}"
            sys.stderr.write(f'{environ.get("REMOTE_ADDR", "-")} - - [{stamp}] "{request}" {status.split()[0]} -\n')
            sys.stderr.flush()
            return start_response(status, headers, *exc_info)

        return wrapped(environ, logging_start_response)

    return application


app = logged(load_app(os.environ.get("APP_MODULE", "flasklab_app.app:app")))
