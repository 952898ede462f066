"""The command line as users and their scripts call it: exit codes, messages, --json, interrupts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from flasklab.core.results import load_results
from tests.helpers import flasklab

pytestmark = pytest.mark.real  # every test here starts processes


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["run", "--servers", "gunicorn-sink"], ["gunicorn-sync", "uwsgi", "waitress"]),
        (["run", "--scenarios", "hello,nap"], ["hello", "io", "selfcall"]),
        (["run", "--profile", "huge"], ["quick", "standard", "full"]),
        (["run", "--backend", "kubernetes"], ["local"]),
        (["probe", "--servers", ""], ["dev-single"]),
        (["run", "--target", "app"], ["NAME=http://host[:port]"]),
        (["run", "--target", "app=http://192.0.2.1:8000"], ["loopback", "--allow-remote"]),
        (["run", "--target", "app=http://127.0.0.1:8000/x?y=1"], ["base URL only"]),
    ],
)
def test_bad_usage_exits_2_and_lists_the_valid_choices(args: list[str], names: list[str]) -> None:
    result = flasklab(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    for name in names:
        assert name in result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "no results.json"), ("{oops", "not valid JSON"), ('{"schema_version": 7}', "not a flasklab results file")],
)
def test_report_of_a_missing_or_corrupt_run_exits_2(tmp_path: Path, content: str | None, message: str) -> None:
    if content is not None:
        (tmp_path / "results.json").write_text(content)
    result = flasklab("report", str(tmp_path))
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_servers_json_is_the_catalog() -> None:
    result = flasklab("servers", "--json")
    rows = json.loads(result.stdout)
    assert result.returncode == 0
    by_name = {row["name"]: row for row in rows}
    assert by_name["gunicorn-sync"]["concurrency"] == 4
    assert by_name["dev-threaded"]["concurrency"] is None


def test_out_folder_with_results_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text("{}")
    result = flasklab("run", "--servers", "waitress", "--out", str(tmp_path))
    assert result.returncode == 2 and "already holds" in result.stderr


def _descendants_gone(pids: list[int]) -> bool:
    return not [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_keeps_partial_results_and_leaves_no_server(tmp_path: Path, signum: int, code: int) -> None:
    out = tmp_path / "run"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flasklab",
            "run",
            "--profile",
            "quick",
            "--servers",
            "gunicorn-sync,waitress",
            "--scenarios",
            "io",
            "--no-probe",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if (out / "results.json").exists() and any(t.steps for t in load_results(out).targets):
            break
        time.sleep(0.2)
    children = [child.pid for child in psutil.Process(process.pid).children(recursive=True)]
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr
    results = load_results(out)
    assert results.meta.status == "interrupted"
    assert results.targets[0].steps  # the finished step is kept
    time.sleep(0.5)
    assert _descendants_gone(children), "a server or generator process outlived the interrupted run"
    assert os.path.exists(out / "logs" / "gunicorn-sync.log")
    assert (out / "report.html").stat().st_size > 0  # the report of what was measured is written too


def test_locustfiles_run_on_their_own_with_locust(start_server, root: Path) -> None:  # type: ignore[no-untyped-def]
    target = start_server("gunicorn-gthread")
    environment = {**os.environ, "LAB_STEPS": "2", "LAB_WARMUP_S": "0.5", "LAB_WINDOW_S": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(root / "locustfiles" / "io.py"),
            "--headless",
            "-H",
            target.url,
            "--only-summary",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "/io" in result.stdout + result.stderr


def test_target_measures_a_server_deployed_elsewhere(start_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    target = start_server("waitress")
    out = tmp_path / "external"
    result = flasklab(
        "run",
        "--target",
        f"mine={target.url}",
        "--scenarios",
        "hello",
        "--profile",
        "quick",
        "--no-probe",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    results = load_results(out)
    (measured,) = results.targets
    assert results.meta.backend == "external" and measured.server == "mine" and measured.status == "ok"
    assert all(step.requests > 0 and step.server_cpu is None for step in measured.steps)
