"""The live dashboard: a real run with --serve, watched in headless Chromium while it goes on, and its HTTP rules."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from flasklab.cli import main
from flasklab.core.results import RESULTS_FILE, Estimate, Results, load_results, write_results
from flasklab.core.sweep import remaining
from flasklab.measure.backends.local import free_port
from flasklab.views.export import steps_csv
from flasklab.views.live import Dashboard, LiveServer
from flasklab.views.report import live_status
from tests.browser import ALL_CHARTS_DRAWN, ARTIFACTS, watched_page

if TYPE_CHECKING:
    from playwright.sync_api import Browser

ROOT = Path(__file__).resolve().parents[1]
SERVERS = ("gunicorn-sync", "gunicorn-gevent")
URL = re.compile(r"live dashboard: (http://127\.0\.0\.1:\d+/)")


@dataclass
class LiveRun:
    folder: Path
    url: str
    process: subprocess.Popen[str]


@pytest.fixture(scope="module")
def live_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveRun]:
    """`flasklab run --serve` of two servers, quick profile, on a free port; stopped with Ctrl-C at the end."""
    folder = tmp_path_factory.mktemp("live") / "run"
    command = [sys.executable, "-m", "flasklab", "run", "--profile", "quick", "--scenarios", "hello,io"]
    command += ["--servers", ",".join(SERVERS), "--out", str(folder), "--serve", "--serve-port", "0"]
    # Locust's UI on a free port of its own: its default (8089) is the compose lab's, which a Docker test may hold.
    env = {**os.environ, "LAB_LOCUST_WEB": f"127.0.0.1:{free_port()}"}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    assert process.stderr is not None
    url = None
    try:
        for line in process.stderr:
            if match := URL.search(line):
                url = match[1]
                break
        assert url, "the run did not print its dashboard's address"
        yield LiveRun(folder, url, process)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.mark.real
def test_live_page_follows_the_run_in_chromium(live_run: LiveRun, chromium: Browser) -> None:
    watched = watched_page(chromium, allowed="http://127.0.0.1:")
    page, outside, errors = watched.page, watched.outside, watched.errors
    page.goto(live_run.url)
    # While the run goes on, the bar says what is running; the page updates itself (no reload) as steps complete.
    page.wait_for_selector("#live[data-running] >> text=Running:", timeout=60_000)
    page.evaluate("window.flasklabMarker = 'same document'")
    seen, estimates = set(), set()
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        text = page.inner_text("#live")
        seen.add(text.split("\n")[0])
        estimates.update(re.findall(r"about (\d+ s|\d+ min \d\d s) left \(estimate\)", text))
        if "this page is its report" in text:
            break
        time.sleep(0.5)
    page.wait_for_function(ALL_CHARTS_DRAWN, timeout=30_000)
    charts = page.evaluate("[...document.querySelectorAll('.js-plotly-plot')].map(d => d.id)")
    marker = page.evaluate("window.flasklabMarker")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "live.png"))
    page.close()

    assert any("gunicorn-sync · hello · step" in text for text in seen), seen
    assert any("gunicorn-gevent" in text for text in seen), seen
    assert estimates, "the live bar gave no time left"
    assert "this page is its report" in text, text
    assert marker == "same document", "the page reloaded instead of updating in place"
    assert {"capacity-hello", "capacity-io", "latency-io", "probe"} <= set(charts), charts
    assert outside == set() and errors == []
    assert load_results(live_run.folder).meta.status == "complete"


@pytest.mark.real
def test_finished_run_keeps_serving_until_ctrl_c(live_run: LiveRun) -> None:
    for _ in range(240):
        if json.loads(get(live_run.url + f"runs/{live_run.folder.name}/state")[2])["status"] == "complete":
            break
        time.sleep(1)
    time.sleep(1)
    assert live_run.process.poll() is None, "the finished run stopped serving its report"
    assert (live_run.folder / "report.html").is_file()
    live_run.process.send_signal(signal.SIGINT)
    assert live_run.process.wait(timeout=60) == 0  # the run completed: Ctrl-C only stops the serving


@pytest.fixture(scope="module")
def served_root(live_run: LiveRun) -> Iterator[str]:
    """The folder holding the run, served as a results folder (what `flasklab serve results/` does)."""
    for _ in range(240):
        if (live_run.folder / RESULTS_FILE).exists() and load_results(live_run.folder).meta.status != "running":
            break
        time.sleep(1)
    (live_run.folder.parent / "not-a-run").mkdir(exist_ok=True)
    with LiveServer(Dashboard(live_run.folder.parent, single=False)) as server:
        yield server.url


@pytest.mark.real
def test_index_lists_runs_and_links_their_pages(served_root: str, live_run: LiveRun) -> None:
    status, headers, body = get(served_root)
    assert status == 200 and f'href="runs/{live_run.folder.name}/"' in body.decode()
    assert "not-a-run" not in body.decode()
    assert "connect-src 'self'" in headers["Content-Security-Policy"]
    status, _, body = get(served_root + "latest/")
    assert status == 200 and "this page is its report" in body.decode()
    status, _, body = get(served_root + f"runs/{live_run.folder.name}/results.json")
    assert status == 200 and json.loads(body)["meta"]["status"] == "complete"
    status, headers, body = get(served_root + f"runs/{live_run.folder.name}/steps.csv")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert body.decode() == steps_csv(load_results(live_run.folder))


@pytest.mark.real
@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("runs/..%2f..%2fetc/state", 400),
        ("runs/../../etc/passwd", 404),
        ("runs/nope/state", 404),
        ("runs/not-a-run/state", 404),
        ("etc/passwd", 404),
        ("runs/run/../results.json", 404),
    ],
)
def test_requests_choose_no_path(served_root: str, path: str, status: int) -> None:
    code, headers, body = get(served_root + path)
    assert code == status, body
    assert headers["Content-Type"] == "application/json" and "error" in json.loads(body)


@pytest.mark.real
def test_unknown_file_of_a_run_names_the_valid_ones(served_root: str, live_run: LiveRun) -> None:
    code, _, body = get(served_root + f"runs/{live_run.folder.name}/secrets.txt")
    valid = "valid: report.html, partial, state, steps.csv, projector, results.json"
    assert code == 404 and valid in json.loads(body)["error"]


@pytest.mark.real
def test_only_reading_methods(served_root: str) -> None:
    request = urllib.request.Request(served_root, data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=10)
    assert error.value.code == 501


@pytest.mark.real
def test_live_status_reads_where_a_run_is(live_run: LiveRun, tmp_path: Path) -> None:
    for _ in range(240):
        results = load_results(live_run.folder)
        if results.meta.status != "running":
            break
        time.sleep(1)
    assert live_status(results) is None  # a finished run is its report
    running = Results.model_validate(results.model_dump())
    running.meta.status = "running"
    sync_io = running.target("gunicorn-sync", "io")
    assert sync_io is not None
    sync_io.status, sync_io.steps, sync_io.stopped = "running", sync_io.steps[:1], None  # mid-curve: not stopped
    running.targets = [t for t in running.targets if t.server == "gunicorn-sync"]
    now = live_status(running)
    assert now is not None
    assert (now.server, now.scenario, now.step, now.users) == ("gunicorn-sync", "io", 2, 4)
    # Adaptive steps: the steps done, and the runner's count of all (flasklab.core.sweep: the curves not finished
    # expected from the one finished, hello's, shrunk towards the whole grid), between hello's length and the grid
    sync_hello = running.target("gunicorn-sync", "hello")
    assert sync_hello is not None and sync_hello.status == "ok"
    length = len(sync_hello.steps)
    assert (now.done_steps, now.total_steps) == (length + 1, remaining(running).total)
    assert length + 1 + (length - 1) + 2 * length <= now.total_steps <= length + 1 + 2 + 2 * 3
    running.targets, running.probe = [], []
    write_results(running, tmp_path)
    now = live_status(load_results(tmp_path))
    assert now is not None and (now.server, now.scenario) == ("gunicorn-sync", None)  # starting and probing


def test_the_state_gives_the_runners_estimate_counted_down(tmp_path: Path) -> None:
    """The page's time left is the one the runner recorded in results.json (and told the terminal), less the time
    since it was made: no estimate of the page's own."""
    running = load_results(ROOT / "tests" / "fixtures" / "results" / "closed.json")
    running.meta.status = "running"
    made = datetime.now(UTC) - timedelta(seconds=30)
    running.meta.time_left = Estimate(left_s=100.0, made=made.isoformat(timespec="seconds"))
    folder = tmp_path / "run"
    write_results(running, folder)
    state = json.loads(Dashboard(folder, single=True).handle("/runs/run/state").body)
    assert state["status"] == "running" and 68 <= state["left_s"] <= 70
    running.meta.time_left = None  # a file from before runs recorded one: no estimate rather than another's
    write_results(running, folder)
    assert json.loads(Dashboard(folder, single=True).handle("/runs/run/state").body)["left_s"] is None


def test_serve_bad_folder_and_taken_port_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["serve", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "is not a folder" in result.output
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["serve", str(tmp_path), "--port", str(port)])
    assert result.exit_code == 2 and f"cannot serve on 127.0.0.1:{port}" in result.output
    result = CliRunner().invoke(main, ["serve", str(tmp_path), "--locust-url", "http://example.invalid/"])
    assert result.exit_code == 2 and "--locust-url" in result.output
