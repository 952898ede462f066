"""cpu: a busy loop of ``ms`` on the server; no worker model can overlap it beyond the CPU budget."""

from locust import FastHttpUser, constant, task

from _lab import StepLoadShape, scenario_params  # noqa: F401  (Locust finds the shape in this module)

LAB_SCENARIO = {
    "name": "cpu",
    "description": "busy loop of ms milliseconds: CPU bound",
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
