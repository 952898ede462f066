"""payload: a large response of ``kb`` KiB; measures how a server streams bytes."""

from locust import FastHttpUser, constant, task

from _lab import StepLoadShape, scenario_params  # noqa: F401  (Locust finds the shape in this module)

LAB_SCENARIO = {
    "name": "payload",
    "description": "large response of kb KiB",
    "work": "none",
    "params": {"kb": 256},
    "profiles": ["full"],
}
PARAMS = scenario_params(LAB_SCENARIO)


class PayloadUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def payload(self) -> None:
        self.client.get(f"/payload?kb={PARAMS['kb']}", name="/payload")
