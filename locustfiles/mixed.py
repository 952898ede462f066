"""mixed: a plausible blend of tiny, CPU-bound and I/O-bound requests."""

from locust import FastHttpUser, constant, task

from _lab import StepLoadShape, scenario_params  # noqa: F401  (Locust finds the shape in this module)

LAB_SCENARIO = {
    "name": "mixed",
    "description": "6 hello : 3 io : 1 cpu",
    "work": "mixed",
    "params": {"io_ms": 50, "cpu_ms": 5},
    "profiles": ["full"],
}
PARAMS = scenario_params(LAB_SCENARIO)


class MixedUser(FastHttpUser):
    wait_time = constant(0)

    @task(6)
    def hello(self) -> None:
        self.client.get("/hello")

    @task(3)
    def io(self) -> None:
        self.client.get(f"/io?ms={PARAMS['io_ms']}", name="/io")

    @task(1)
    def cpu(self) -> None:
        self.client.get(f"/cpu?ms={PARAMS['cpu_ms']}", name="/cpu")
