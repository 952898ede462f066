"""What the orchestrator tells a Locust process: one JSON document, the process's only input.

flasklab.measure.load writes it as the one argument of ``python -m flasklab.loadgen --config DOCUMENT``; the Locust
process validates it before Locust loads anything, so a bad document is an error event, not a half-configured run.

Locustfiles keep the interface they have when run on their own with ``locust -f``: LAB_PARAMS (the scenario's
parameters, a JSON object), LAB_STEPS, LAB_WARMUP_S, LAB_WINDOW_S (the lab's step shape) and LAB_CONNECTIONS
(keepalive or close). ``locustfile_environment`` derives those from this document, in one place, for the Locust
process and for its local Locust workers.

Pure (pydantic only): both process worlds import it.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from flasklab.core.arrivals import Arrivals
from flasklab.core.settings import CONNECTIONS, GENERATOR_SATURATION, LOCUST_MASTER_PORT


class LoadConfig(BaseModel):
    """One target's load: the locustfile and host, the steps, the load model, how the Locust process records."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    locustfile: str
    host: str
    steps: tuple[int, ...] = Field(min_length=1, description="users per step, or requests due per second (open)")
    warmup_s: float = Field(ge=0)
    window_s: float = Field(gt=0)
    params: dict[str, int] = Field(default_factory=dict, description="the scenario's parameters (LAB_PARAMS)")
    model: Literal["closed", "open"] = "closed"
    arrivals: Arrivals = "poisson"
    seed: int = 0
    connections: Literal["keepalive", "close"] = Field(
        default="keepalive", description="keepalive: each user reuses its connection; close: one per request"
    )
    saturation: float = Field(default=GENERATOR_SATURATION, gt=0, description="generator busy share that flags a step")
    workers: int = Field(default=0, ge=0, description="run as a master for this many Locust workers")
    master_port: int = LOCUST_MASTER_PORT
    web: str = Field(default="", description="HOST:PORT for Locust's web UI during the run ('' for none)")
    exact: bool = Field(default=True, description="record every request (False: Locust's own running totals only)")
    server_cpus: tuple[int, ...] = Field(default=(), description="the servers' CPU set, when they are pinned")

    def locustfile_environment(self) -> dict[str, str]:
        """The locustfiles' own variables for this load (what ``locust -f`` users set by hand)."""
        return {
            "LAB_PARAMS": json.dumps(self.params),
            "LAB_STEPS": ",".join(map(str, self.steps)),
            "LAB_WARMUP_S": str(self.warmup_s),
            "LAB_WINDOW_S": str(self.window_s),
            CONNECTIONS.envvar: self.connections,  # applied to every lab user by flasklab.loadgen.lab_users
        }
