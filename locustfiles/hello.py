"""hello: the smallest response; measures a server's per-request overhead."""

from locust import FastHttpUser, constant, task

from _lab import StepLoadShape, scenario_params  # noqa: F401  (Locust finds the shape in this module)

LAB_SCENARIO = {
    "name": "hello",
    "description": "tiny response: per-request overhead of the server",
    "work": "none",
    "params": {},
    "profiles": ["quick", "standard", "full", "demo", "moments"],
}
PARAMS = scenario_params(LAB_SCENARIO)


class HelloUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def hello(self) -> None:
        self.client.get("/hello")
