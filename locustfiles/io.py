"""io: a blocking sleep of ``ms`` on the server; gevent and eventlet workers turn it into a cooperative wait.

With the parameter ``exp`` set to 1 the sleeps are exponential of mean ``ms`` (``/io?dist=exp``), so that c sync
workers under the open model's Poisson arrivals are an M/M/c queue (``scripts/bench calibration``). The k-th request
this process sends carries the seed ``seed + k`` (``seed`` a parameter, default 0), so a run's service times are
reproducible: the same seed, the same sleeps, in the order the requests were sent. On its own:
``LAB_PARAMS='{"ms": 25, "exp": 1}' locust -f locustfiles/io.py --headless -H http://127.0.0.1:8000``.
"""

import itertools

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
SEED_MODULUS = 2**31  # the app's seeds are 0 to 2**31 - 1
SEEDS = itertools.count(int(PARAMS.get("seed", 0)))


def io_path(params: dict[str, int]) -> str:
    """The request's URL: a fixed sleep, or an exponential one seeded by its place in the process's requests."""
    if not params.get("exp"):
        return f"/io?ms={params['ms']}"
    return f"/io?ms={params['ms']}&dist=exp&seed={next(SEEDS) % SEED_MODULUS}"


class IoUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def io(self) -> None:
        self.client.get(io_path(PARAMS), name="/io")
