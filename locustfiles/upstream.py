"""upstream: real socket I/O, the app waits ``ms`` for the lab's slow upstream service."""

from locust import FastHttpUser, constant, task

from _lab import StepLoadShape, scenario_params  # noqa: F401  (Locust finds the shape in this module)

LAB_SCENARIO = {
    "name": "upstream",
    "description": "outbound HTTP call to a slow upstream answering after ms milliseconds",
    "work": "io",
    "params": {"ms": 100},
    "profiles": ["standard", "full"],
}
PARAMS = scenario_params(LAB_SCENARIO)


class UpstreamUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def upstream(self) -> None:
        self.client.get(f"/upstream?ms={PARAMS['ms']}", name="/upstream")
