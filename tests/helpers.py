"""What many test modules need, written once: the command line as a user runs it, and a step built from figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from flasklab.core.catalog import lab_root
from flasklab.core.results import Step

ROOT = lab_root()


def flasklab(*args: str, timeout: float = 600, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """``python -m flasklab ARGS`` as compose and scripts run it: stdout and stderr pipes (not a terminal), text."""
    command = [sys.executable, "-m", "flasklab", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=cwd)


def step(users: int, rps: float, *, duration_s: float = 5.0, **fields: object) -> Step:
    """A plain usable closed-loop step: ``rps`` over ``duration_s`` without failures, p95 10 ms, the generator at ease
    and the server at half a core; ``fields`` override any of it (validated as results.json would be)."""
    values: dict[str, object] = {
        "users": users,
        "duration_s": duration_s,
        "requests": int(rps * duration_s),
        "failures": 0,
        "rps": rps,
        "p50_ms": 5.0,
        "p95_ms": 10.0,
        "p99_ms": 12.0,
        "max_ms": 20.0,
        "generator_cpu": 0.4,
        "generator_saturated": False,
        "server_cpu": 0.5,
        "server_rss_mb": 40.0,
    }
    return Step.model_validate(values | fields)
