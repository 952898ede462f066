"""cpu: a busy loop that burns ``ms`` of the serving thread's CPU time (not wall time) on the server.

Threads sharing a core each burn their full ``ms``, so no worker model gets more than its CPU budget's worth of it:
cores x 1000 / ms requests a second at most (tests/test_cpu_work.py).
"""

from locust import FastHttpUser, constant, task

from _lab import StepLoadShape, scenario_params  # noqa: F401  (Locust finds the shape in this module)

LAB_SCENARIO = {
    "name": "cpu",
    "description": "busy loop of ms milliseconds of CPU time: CPU bound",
    "work": "cpu",
    "params": {"ms": 10},
    "profiles": ["standard", "full"],
}
PARAMS = scenario_params(LAB_SCENARIO)


class CpuUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def cpu(self) -> None:
        self.client.get(f"/cpu?ms={PARAMS['ms']}", name="/cpu")
