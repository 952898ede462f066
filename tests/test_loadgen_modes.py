"""The load generator's two recording modes, through the CLI: exact percentiles (the default) and LAB_EXACT=0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flasklab.core.results import load_results

QUICK_HELLO = ["run", "--servers", "gunicorn-sync", "--scenarios", "hello", "--profile", "quick", "--no-probe"]


def quick_hello(out: Path, exact: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "flasklab", *QUICK_HELLO, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "LAB_EXACT": exact},
    )
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.parametrize("exact", ["1", "0"])
def test_steps_in_each_recording_mode(tmp_path: Path, exact: str) -> None:
    quick_hello(tmp_path / "run", exact)
    (target,) = load_results(tmp_path / "run").targets
    assert target.status == "ok", target.error
    assert [step.users for step in target.steps] == [1, 4, 16]
    for step in target.steps:
        assert step.requests > 0 and step.failures == 0
        assert step.rps == pytest.approx(step.requests / step.duration_s, abs=0.001)
        assert step.steady is not None and step.warmup_used_s is not None  # judged from Locust's totals too
        assert step.generator_cpu_total is not None and step.generator_cpus is not None
        if exact == "1":
            assert step.p95_ms is not None and step.rps_low is not None
        else:  # Locust's own totals only: counts, no percentiles
            assert step.p95_ms is None and step.p50_ms is None and step.rps_low is None
