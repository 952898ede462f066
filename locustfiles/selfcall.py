"""selfcall: each request calls its own server; a server that serves one request at a time answers 504."""

from locust import FastHttpUser, constant, task

from _lab import StepLoadShape, scenario_params  # noqa: F401  (Locust finds the shape in this module)

LAB_SCENARIO = {
    "name": "selfcall",
    "description": "the request calls its own server (the seed's deadlock); 504 when it cannot answer itself",
    "work": "io",
    "params": {},
    "profiles": ["standard", "full", "demo"],
}
PARAMS = scenario_params(LAB_SCENARIO)


class SelfCallUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def self_call(self) -> None:
        self.client.get("/self")
