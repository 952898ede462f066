"""selfcall: each request calls its own server; a server that serves one request at a time answers 504.

/self answers 200 only when the app's call to its own server got its answer; a 200 whose inner call got anything
but 200 counts as a failure named by the inner status, so a step's errors say what the inner calls got.
"""

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
        with self.client.get("/self", catch_response=True) as response:
            if response.status_code != 200:
                return  # a failure as it is (HTTP 504: the inner call timed out)
            try:
                inner = response.json().get("inner_status")
            except ValueError:
                inner = None
            if inner != 200:
                response.failure(f"inner call got {inner}")
