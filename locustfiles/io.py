"""io: a blocking sleep of ``ms`` on the server; gevent and eventlet workers turn it into a cooperative wait."""

from locust import FastHttpUser, constant, task

from _lab import StepLoadShape, scenario_params  # noqa: F401  (Locust finds the shape in this module)

LAB_SCENARIO = {
    "name": "io",
    "description": "blocking sleep of ms milliseconds: concurrency bound (Little's law)",
    "work": "io",
    "params": {"ms": 100},
    "profiles": ["quick", "standard", "full", "demo"],
}
PARAMS = scenario_params(LAB_SCENARIO)


class IoUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def io(self) -> None:
        self.client.get(f"/io?ms={PARAMS['ms']}", name="/io")
