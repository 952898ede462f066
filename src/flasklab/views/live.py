"""The live dashboard: serves run folders over HTTP while runs write them, and after a run it is the report.

Every page is rendered from results.json alone (the report's own template, with a status bar and a poll script).
The browser polls ``state`` (a few bytes: results.json's version, the run's status and its time left, the runner's own
estimate as results.json records it) and, when the file changed, fetches the re-rendered page and swaps it in, keeping
the charts it already drew (Plotly.react updates them in place, zoom and hidden servers included). Rendering happens
only when a browser asks and the file changed.

Only GET and HEAD; run folders are looked up by name among the served folder's children, files by an allow-list:
no request chooses a path. Bound to 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from flasklab.core.catalog import lab_root
from flasklab.core.results import RESULTS_FILE, Results, ResultsError, load_results
from flasklab.views.export import CSV_FILE, steps_csv
from flasklab.views.report import LiveView, render_projector, render_report, time_left

INDEX_TEMPLATE = "index.html.j2"
RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
# Files of a run folder a browser may fetch as they are (report.html and steps.csv are rendered, not read).
RUN_FILES = {
    "results.json": "application/json",
    "compare.html": "text/html; charset=utf-8",
}
# Inline scripts and styles are the page's own (plotly.js is inlined); fetches go back to this server only.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
        "img-src 'self' data: blob:; font-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
WAITING_PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="2">
<title>flasklab · waiting for {name}</title></head><body style="font: 22px DejaVu Sans, sans-serif; margin: 3rem">
<h1>flasklab · {name}</h1><p>Waiting for the run to write its first results (this page reloads itself).</p>
</body></html>"""


@dataclass(frozen=True)
class Page:
    status: HTTPStatus
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


def html_page(text: str, status: HTTPStatus = HTTPStatus.OK) -> Page:
    return Page(status, "text/html; charset=utf-8", text.encode())


def json_page(document: object, status: HTTPStatus = HTTPStatus.OK) -> Page:
    return Page(status, "application/json", json.dumps(document).encode())


def error_page(status: HTTPStatus, message: str) -> Page:
    return json_page({"error": message, "status": status.value}, status)


def redirect(location: str) -> Page:
    return Page(HTTPStatus.FOUND, "text/plain; charset=utf-8", b"", (("Location", location),))


def file_version(path: Path) -> str:
    """Changes whenever results.json is replaced (every write is an atomic rename: a new inode)."""
    try:
        stat = path.stat()
    except OSError:
        return ""
    return f"{stat.st_ino}-{stat.st_mtime_ns}-{stat.st_size}"


class RunPages:
    """The pages of one run folder, rendered on demand and cached by results.json's version."""

    def __init__(self, folder: Path, slo_p95_ms: float | None, locust_url: str | None, index_url: str | None) -> None:
        self.folder = folder
        self.slo_p95_ms = slo_p95_ms
        self.locust_url = locust_url
        self.index_url = index_url
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str, bool, str | None], str] = {}

    def version(self) -> str:
        return file_version(self.folder / RESULTS_FILE)

    def _results(self) -> Results | None:
        try:
            return load_results(self.folder)
        except ResultsError:
            return None  # not written yet, or replaced between stat and read: the next poll sees it

    def state(self) -> Page:
        results = self._results()
        left = time_left(results) if results else None
        return json_page(
            {
                "run": self.folder.name,
                "version": self.version(),
                "status": results.meta.status if results else "waiting",
                "left_s": round(left.seconds) if left else None,  # the runner's estimate, counted down since
            }
        )

    def csv(self) -> Page:
        results = self._results()
        if results is None:
            return error_page(HTTPStatus.NOT_FOUND, f"{self.folder.name} has no results yet")
        disposition = ("Content-Disposition", f'attachment; filename="{self.folder.name}-{CSV_FILE}"')
        return Page(HTTPStatus.OK, "text/csv; charset=utf-8", steps_csv(results).encode(), (disposition,))

    def page(self, with_chart_library: bool) -> Page:
        return self._rendered("report", with_chart_library)

    def projector(self, query: str) -> Page:
        """The projector view; ``?scenario=NAME`` holds its capacity chart on one scenario, ``?partial=1`` leaves
        plotly.js out (what its update script swaps in)."""
        asked = parse_qs(query)
        scenario = asked.get("scenario", [None])[0]
        return self._rendered("projector", "partial" not in asked, scenario)

    def _rendered(self, view: str, with_chart_library: bool, scenario: str | None = None) -> Page:
        version = self.version()
        if not version:
            return html_page(WAITING_PAGE.format(name=self.folder.name))
        with self._lock:
            key = (version, view, with_chart_library, scenario)
            if key not in self._cache:
                results = self._results()
                if results is None:
                    return html_page(WAITING_PAGE.format(name=self.folder.name))
                live = LiveView(locust_url=self.locust_url, index_url=self.index_url, version=version)
                if view == "projector":
                    page = render_projector(results, live, with_chart_library, scenario)
                else:
                    page = render_report(results, self.slo_p95_ms, live, with_chart_library)
                # one version at a time (a page per view and scenario asked): an old version is never asked again
                self._cache = {k: v for k, v in self._cache.items() if k[0] == version} | {key: page}
            return html_page(self._cache[key])


class Dashboard:
    """Routes requests to the run folders under ``root`` (or to ``root`` itself when it is one run's folder).

    /                        the runs, newest first (or, for one run's folder, that run's page)
    /latest/                 the newest run's page
    /runs/NAME/              a run's live page: the report, updating while the run goes on
    /runs/NAME/state         {"run", "version", "status", "left_s"}: what the page polls
    /runs/NAME/partial       the page without plotly.js (what the page swaps in)
    /runs/NAME/projector     the same run for a room: 1920x1080, large type, time left, the probe timeline
                             (?scenario=NAME: that scenario's capacity curve; ?partial=1: without plotly.js)
    /runs/NAME/steps.csv     every step as CSV (flasklab export)
    /runs/NAME/results.json, compare.html   the run's files
    """

    def __init__(
        self, root: Path, single: bool, slo_p95_ms: float | None = None, locust_url: str | None = None
    ) -> None:
        self.root = root
        self.single = single
        self.slo_p95_ms = slo_p95_ms
        self.locust_url = locust_url
        self._runs: dict[str, RunPages] = {}
        self._lock = threading.Lock()

    def run_folders(self) -> dict[str, Path]:
        if self.single:
            return {self.root.name: self.root}
        folders = [p.parent for p in self.root.glob(f"*/{RESULTS_FILE}") if RUN_NAME.fullmatch(p.parent.name)]
        return {folder.name: folder for folder in sorted(folders, key=lambda f: f.name, reverse=True)}

    def run_pages(self, name: str) -> RunPages | None:
        folder = self.run_folders().get(name)
        if folder is None:
            return None
        with self._lock:
            if name not in self._runs:
                index = None if self.single else "../../"
                self._runs[name] = RunPages(folder, self.slo_p95_ms, self.locust_url, index)
            return self._runs[name]

    def index(self) -> Page:
        runs = []
        for name, folder in self.run_folders().items():
            try:
                results: Results | None = load_results(folder)
            except ResultsError:
                results = None
            runs.append((name, quote(name), results))
        environment = Environment(
            loader=FileSystemLoader(lab_root() / "dashboards"), autoescape=True, undefined=StrictUndefined
        )
        return html_page(environment.get_template(INDEX_TEMPLATE).render(runs=runs, root=self.root.name))

    def handle(self, target: str) -> Page:
        url = urlsplit(target)
        path = url.path
        if self.single and path in ("/", "/latest/", "/latest"):
            return redirect(f"/runs/{quote(self.root.name)}/")
        if path == "/":
            return self.index()
        if path in ("/latest", "/latest/"):
            newest = next(iter(self.run_folders()), None)
            return redirect(f"/runs/{quote(newest)}/") if newest else error_page(HTTPStatus.NOT_FOUND, "no run yet")
        parts = path.split("/")
        if len(parts) != 4 or parts[:2] != ["", "runs"]:
            return error_page(HTTPStatus.NOT_FOUND, f"no page {path!r}: see / for the runs")
        name, leaf = parts[2], parts[3]
        if not RUN_NAME.fullmatch(name):
            return error_page(HTTPStatus.BAD_REQUEST, "a run name is letters, digits, '.', '_' and '-'")
        pages = self.run_pages(name)
        if pages is None:
            return error_page(HTTPStatus.NOT_FOUND, f"no run {name!r} here")
        routes: dict[str, Callable[[], Page]] = {
            "": partial(pages.page, True),
            "report.html": partial(pages.page, True),
            "partial": partial(pages.page, False),
            "state": pages.state,
            CSV_FILE: pages.csv,
            "projector": partial(pages.projector, url.query),
        }
        if leaf in routes:
            return routes[leaf]()
        if leaf in RUN_FILES:
            file = pages.folder / leaf
            if not file.is_file():
                return error_page(HTTPStatus.NOT_FOUND, f"{name} has no {leaf} (yet)")
            return Page(HTTPStatus.OK, RUN_FILES[leaf], file.read_bytes())
        valid = ", ".join(name for name in (*routes, *RUN_FILES) if name)
        return error_page(HTTPStatus.NOT_FOUND, f"no {leaf!r} in a run; valid: {valid}")


class Handler(BaseHTTPRequestHandler):
    dashboard: Dashboard
    server_version = "flasklab"
    sys_version = ""

    def _send(self, page: Page, body: bool) -> None:
        self.send_response(page.status)
        for name, value in (*SECURITY_HEADERS.items(), *page.headers):
            self.send_header(name, value)
        self.send_header("Content-Type", page.content_type)
        self.send_header("Content-Length", str(len(page.body)))
        self.end_headers()
        if body:
            self.wfile.write(page.body)

    def _serve(self, body: bool) -> None:
        try:
            page = self.dashboard.handle(self.path)
        except Exception as error:  # one bad page must not stop the dashboard of a running sweep
            page = error_page(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(error).__name__}: {error}")
        self._send(page, body)

    def do_GET(self) -> None:
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the terminal belongs to the run's progress bar."""


class LiveServer:
    """The dashboard's HTTP server in a background thread (``with LiveServer(...) as server: server.url``)."""

    def __init__(self, dashboard: Dashboard, host: str = "127.0.0.1", port: int = 0) -> None:
        handler = type("DashboardHandler", (Handler,), {"dashboard": dashboard})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="flasklab-dashboard", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else str(host)
        return f"http://{shown}:{port}/"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def locust_link(web_setting: str) -> str | None:
    """The browser's address of Locust's web UI from LAB_LOCUST_WEB (HOST:PORT, any-address shown as 127.0.0.1)."""
    if not web_setting:
        return None
    host, _, port = web_setting.rpartition(":")
    return f"http://{'127.0.0.1' if host in ('', '0.0.0.0', '*') else host}:{port}/"


def port_is_free(address: str) -> bool:
    """Can HOST:PORT be bound here now (for Locust's web UI beside the live dashboard)?"""
    host, _, port = address.rpartition(":")
    with socket.socket() as probe:
        try:
            probe.bind((host, int(port)))
        except OSError:
            return False
    return True
