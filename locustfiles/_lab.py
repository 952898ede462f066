"""What every lab locustfile shares: the step-load shape, the scenario's parameters and the request timeout.

Under flasklab (``python -m flasklab.loadgen`` and its local workers) they are the load's, from the one document the
process was given (flasklab.loadgen.config); the lab's own loop then applies each step (``load``) and begins its window
once the warm-up is steady, which may take longer than the load's warm-up. Run on its own
(``locust -f locustfiles/io.py --headless -H http://127.0.0.1:8000``) a locustfile reads what its user sets by hand:
LAB_STEPS (users per step, e.g. "1,2,4,8"), LAB_WARMUP_S and LAB_WINDOW_S (default: the standard profile),
LAB_PARAMS (a JSON object) and LAB_REQUEST_TIMEOUT_S, on Locust's fixed schedule (``tick``).
"""

from __future__ import annotations

import json
import os
from typing import Any

from locust import LoadTestShape

try:
    from flasklab.core.settings import PROFILES, REQUEST_TIMEOUT
    from flasklab.loadgen.config import given

    _DEFAULT = PROFILES["standard"]
    DEFAULT_STEPS, DEFAULT_WARMUP_S, DEFAULT_WINDOW_S = _DEFAULT.steps, _DEFAULT.warmup_s, _DEFAULT.window_s
    DEFAULT_TIMEOUT_S = REQUEST_TIMEOUT.default
    # These register themselves: in distributed mode, workers forward raw samples so percentiles stay exact; every
    # lab user gets a bounded request time and a task that raises counts as a failure.
    import flasklab.loadgen.distributed
    import flasklab.loadgen.lab_users  # noqa: F401
except ImportError:  # a plain Locust install without flasklab

    def given() -> Any:
        return None

    DEFAULT_STEPS, DEFAULT_WARMUP_S, DEFAULT_WINDOW_S = (1, 2, 4, 8, 16, 32, 64), 2.0, 8.0
    DEFAULT_TIMEOUT_S = 30.0


def scenario_params(declaration: dict[str, Any]) -> dict[str, Any]:
    """The scenario's declared parameters, overridden by the load's (or by hand by LAB_PARAMS, a JSON object)."""
    config = given()
    chosen = config.params if config is not None else json.loads(os.environ.get("LAB_PARAMS") or "{}")
    return {**declaration.get("params", {}), **chosen}


def request_timeout_s() -> float:
    """Seconds after which a lab request fails as a timeout: the load's (or by hand LAB_REQUEST_TIMEOUT_S)."""
    config = given()
    if config is not None:
        return config.request_timeout_s
    return float(os.environ.get("LAB_REQUEST_TIMEOUT_S") or DEFAULT_TIMEOUT_S)


class StepLoadShape(LoadTestShape):
    """Users double step by step; each step is a warm-up (discarded) followed by a measurement window."""

    def __init__(self) -> None:
        super().__init__()
        config = given()
        if config is not None:
            self.steps, self.warmup_s, self.window_s = config.steps, config.warmup_s, config.window_s
            return
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
