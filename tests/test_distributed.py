"""Locust's distributed mode: workers fetching the locustfile as the compose lab runs them, and `--processes`.

The fetching workers are plain ``locust --worker -f -``: the lab's document never reaches them, and
locustfiles/_lab.py must still bring the lab's sample forwarding along (Locust imports io.py as ``io``, in the
standard library's place, which once made flasklab's import fail there and the workers forward nothing).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from flasklab.core.protocol import LoadConfig, StepMeasured, read_event
from flasklab.core.results import load_results
from flasklab.measure.backends.base import RunningTarget
from flasklab.measure.backends.local import free_port

# Every test here starts processes and measures: it holds each step's rate to the law's band (tests/quiet.py).
pytestmark = [pytest.mark.real, pytest.mark.measuring]


def test_workers_forward_exact_samples(
    start_server: Callable[[str], RunningTarget], root: Path, tmp_path: Path
) -> None:
    target = start_server("gunicorn-sync")
    port = free_port()
    locust = Path(sys.executable).with_name("locust")
    worker_temp_folders = [tmp_path / f"worker-{index}" for index in (1, 2)]
    for folder in worker_temp_folders:
        folder.mkdir()
    workers = [
        subprocess.Popen(
            [
                str(locust),
                "--worker",
                "--master-host",
                "127.0.0.1",
                "--master-port",
                str(port),
                "-f",
                "-",
                "--loglevel",
                "WARNING",
            ],
            cwd=tmp_path,
            # A fetching worker writes the locustfiles into its temp folder: one each, as each container has.
            env={**os.environ, "TMPDIR": str(worker_tmp)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for worker_tmp in worker_temp_folders
    ]
    config = LoadConfig(
        locustfile=str(root / "locustfiles" / "io.py"),
        host=target.url,
        steps=(2, 4),
        warmup_s=1,
        window_s=2,
        workers=2,
        master_port=port,
    )
    try:
        master = subprocess.run(
            [sys.executable, "-m", "flasklab.loadgen", "--config", config.model_dump_json()],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.wait(timeout=30)
    assert master.returncode == 0, master.stderr[-2000:]
    events = [read_event(line) for line in master.stdout.splitlines()]
    steps = [event.figures for event in events if isinstance(event, StepMeasured)]
    assert [step.users for step in steps] == [2, 4]
    for step in steps:
        bound = min(step.users, 4) / 0.1  # 4 sync workers, 100 ms each
        assert step.generator_workers == 2
        assert 0.75 * bound <= step.rps <= 1.05 * bound
        assert step.p50_ms is not None and step.p95_ms is not None and step.p99_ms is not None
        assert step.max_ms is not None and 100 <= step.p50_ms <= step.p95_ms <= step.p99_ms <= step.max_ms
        assert step.failures == 0
        assert 0 < step.generator_cpu < 1
        # the master's CPU and both workers' together: more than the busiest process alone
        assert step.generator_cpu_total is not None and step.generator_cpu_total > step.generator_cpu
        assert step.generator_cpus is not None and step.generator_cpus >= 1
        assert step.warmup_used_s == 1.0 and step.steady in (True, False)  # judged once the samples are in
    assert all(worker.returncode == 0 for worker in workers)  # the master's quit ends them cleanly


def test_local_processes_share_the_load_and_leave_nothing_running(root: Path, tmp_path: Path) -> None:
    """`flasklab run --processes 2`: a master and two local Locust workers, exact figures, no worker left behind."""
    out = tmp_path / "run"
    command = [sys.executable, "-m", "flasklab", "run", "--servers", "gunicorn-sync", "--scenarios", "io"]
    command += ["--profile", "quick", "--no-probe", "--processes", "2", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    (target,) = load_results(out).targets
    assert target.status == "ok" and [step.users for step in target.steps] == [1, 4, 16], target
    for step in target.steps:
        bound = min(step.users, 4) / 0.1  # 4 sync workers, 100 ms each
        assert step.generator_workers == 2
        assert 0.75 * bound <= step.rps <= 1.05 * bound, step
        assert step.p95_ms is not None and step.p95_ms >= 100 and step.failures == 0
        assert step.generator_cpu_total is not None and step.generator_cpu_total >= step.generator_cpu
        # the app's answers come through the workers' samples: 100 ms in the app a request, one at a time per worker
        assert step.server_in_flight == pytest.approx(step.rps * 0.1, rel=0.15) and step.server_in_flight_max == 1
    # the total sums the master and both workers: above the busiest one's wherever the load gives them work (at 1 user
    # of 10 rps each rounds to 0.01 of a core)
    assert any(step.generator_cpu_total > step.generator_cpu for step in target.steps if step.generator_cpu_total)
    leftovers = [  # the local workers: the Locust process in worker mode, given the master's document
        command
        for process in psutil.process_iter(["cmdline"])
        if "--worker" in (command := process.info["cmdline"] or []) and "flasklab.loadgen" in command
    ]
    assert leftovers == []
