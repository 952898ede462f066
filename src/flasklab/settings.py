"""Settings declared once: each with its default, its validation and its help text.

The CLI builds its options from these, and the same names (upper-cased, LAB_ prefix) are read from the
environment and .env, as the compose file does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    """How hard and how long each target is measured."""

    name: str
    steps: tuple[int, ...]  # closed-loop users per step
    warmup_s: float
    window_s: float
    help: str
    rates: tuple[int, ...] = ()  # the open model's offered requests per second per step

    def loads(self, model: str) -> tuple[int, ...]:
        """Each step's load: users in a closed loop, requests due per second in the open model."""
        return self.rates if model == "open" else self.steps

    @property
    def step_s(self) -> float:
        return self.warmup_s + self.window_s

    def target_s(self) -> float:
        """Seconds of load for one target (one server, one scenario)."""
        return len(self.steps) * self.step_s

    def with_rates(self, rates: tuple[int, ...]) -> Profile:
        return Profile(self.name, self.steps, self.warmup_s, self.window_s, self.help, rates)


PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        Profile("quick", (1, 4, 16), 0.5, 1.5, "tests and demos: core scenarios, 3 short steps", (10, 40, 160)),
        Profile(
            "standard",
            (1, 2, 4, 8, 16, 32, 64),
            1.0,
            5.0,
            "the default: users doubling to 64 (open model: 10 to 640 rps)",
            (10, 20, 40, 80, 160, 320, 640),
        ),
        Profile(
            "full",
            (1, 2, 4, 8, 16, 32, 64, 128),
            2.0,
            10.0,
            "every scenario, users doubling to 128, long windows",
            (10, 20, 40, 80, 160, 320, 640, 1280),
        ),
    )
}
DEFAULT_PROFILE = "standard"

# A step whose load generator used more than this share of its CPU measured the generator, not the server.
GENERATOR_SATURATION = 0.90

# The probe: this many concurrent `io` requests of PROBE_IO_MS each; "many" means at least half of them overlapped.
PROBE_WIDTH = 24
PROBE_IO_MS = 200
PROBE_MANY = PROBE_WIDTH // 2

# Locust workers for distributed load: a number, or "auto" to count the replicas of the compose service
# `locust-worker` (docker compose up --scale locust-worker=N); 0 runs Locust in one local process.
LOCUST_WORKERS = os.environ.get("LAB_LOCUST_WORKERS", "0")
LOCUST_WORKER_SERVICE = "locust-worker"
LOCUST_MASTER_PORT = 5557
# HOST:PORT for Locust's own web UI during each target ("" for none); the compose lab publishes 127.0.0.1:8089, and
# `flasklab run --serve` turns it on at LOCUST_WEB_DEFAULT when that port is free.
LOCUST_WEB_VARIABLE = "LAB_LOCUST_WEB"
LOCUST_WEB_DEFAULT = "127.0.0.1:8089"


def locust_web() -> str:
    """Read when each target starts, so that the CLI can turn the UI on for a run."""
    return os.environ.get(LOCUST_WEB_VARIABLE, "")


# The live dashboard (`flasklab run --serve`, `flasklab serve`): loopback unless told otherwise.
DASHBOARD_HOST = "127.0.0.1"
DASHBOARD_PORT = 8080

# The latency objective of the report's capacity table: highest rps with p95 at or under it.
DEFAULT_SLO_P95_MS = 500.0

# How long a server may take to answer its health check after start (and, after a scenario whose last step got no
# answer at all, before it is recorded as having stopped answering).
START_TIMEOUT_S = float(os.environ.get("LAB_START_TIMEOUT_S", "30"))

# A lab request unanswered for this long fails as a timeout (counted in its step). Longer than any healthy latency
# of the profiles (dev-single at 128 users of 100 ms waits 12.8 s); Locust's own default is 60 s.
REQUEST_TIMEOUT_S = float(os.environ.get("LAB_REQUEST_TIMEOUT_S", "30"))

# The slow upstream's port when the lab starts it locally (0: any free port).
UPSTREAM_PORT = 0
