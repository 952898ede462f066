"""What every lab locustfile shares: the step-load shape and the scenario's parameters.

The shape reads LAB_STEPS (users per step, e.g. "1,2,4,8"), LAB_WARMUP_S and LAB_WINDOW_S; flasklab sets them
from its profile. Run on its own (``locust -f locustfiles/io.py --headless -H http://127.0.0.1:8000``) it uses the
standard profile, on Locust's fixed schedule (``tick``). Under flasklab the lab's own loop applies each step
(``load``) and begins its window once the warm-up is steady, which may take longer than LAB_WARMUP_S.
"""

from __future__ import annotations

import json
import os
from typing import Any

from locust import LoadTestShape

try:
    from flasklab.core.settings import PROFILES

    _DEFAULT = PROFILES["standard"]
    DEFAULT_STEPS, DEFAULT_WARMUP_S, DEFAULT_WINDOW_S = _DEFAULT.steps, _DEFAULT.warmup_s, _DEFAULT.window_s
    # These register themselves: in distributed mode, workers forward raw samples so percentiles stay exact; every
    # lab user gets a bounded request time (LAB_REQUEST_TIMEOUT_S) and a task that raises counts as a failure.
    import flasklab.loadgen.distributed
    import flasklab.loadgen.lab_users  # noqa: F401
except ImportError:  # a plain Locust install without flasklab
    DEFAULT_STEPS, DEFAULT_WARMUP_S, DEFAULT_WINDOW_S = (1, 2, 4, 8, 16, 32, 64), 2.0, 8.0


def scenario_params(declaration: dict[str, Any]) -> dict[str, Any]:
    """The scenario's declared parameters, overridden by LAB_PARAMS (a JSON object) when flasklab sets it."""
    return {**declaration.get("params", {}), **json.loads(os.environ.get("LAB_PARAMS") or "{}")}


class StepLoadShape(LoadTestShape):
    """Users double step by step; each step is a warm-up (discarded) followed by a measurement window."""

    def __init__(self) -> None:
        super().__init__()
        steps = os.environ.get("LAB_STEPS")
        self.steps = tuple(int(users) for users in steps.split(",")) if steps else tuple(DEFAULT_STEPS)
        self.warmup_s = float(os.environ.get("LAB_WARMUP_S", DEFAULT_WARMUP_S))
        self.window_s = float(os.environ.get("LAB_WINDOW_S", DEFAULT_WINDOW_S))

    @property
    def step_s(self) -> float:
        return self.warmup_s + self.window_s

    def step_at(self, run_time: float) -> int:
        """Index of the step running at ``run_time`` seconds (len(steps) once the shape is over)."""
        return min(int(run_time // self.step_s), len(self.steps))

    def load(self, step: int) -> tuple[int, float]:
        """Step ``step``'s users and spawn rate: all of them at once, since ramp-up belongs to the warm-up."""
        users = self.steps[step]
        return users, max(users, 1) * 50.0

    def tick(self) -> tuple[int, float] | None:
        step = self.step_at(self.get_run_time())
        return None if step >= len(self.steps) else self.load(step)
