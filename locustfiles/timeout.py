"""timeout: short /io requests beside a few longer than the servers' own request timeout.

Two kinds of user share every step by weight (``fast_weight`` : ``long_weight``, 7 : 1 by default: 16 users are 14
and 2):

- fast users GET ``/io?ms=ms`` back to back (request name ``/io``): the requests a killed worker may take with it;
- long users GET ``/io?ms=long_ms`` (``/io (long)``), a sleep longer than the server's timeout.

Run it with the servers' timeout below ``long_ms`` (``flasklab run --scenarios timeout --server-timeout 1``; the
command line refuses a timeout the long requests would not outlast). What each server does with a long request is in
its step: the long requests' failures and p95 by name, the kinds of error the clients saw, the fast requests that
failed beside them and the worker processes started in the window (a killed worker's replacement). Alone:
``locust -f locustfiles/timeout.py --headless -H http://127.0.0.1:8000``.
"""

from locust import FastHttpUser, constant, task

from _lab import StepLoadShape, scenario_params  # noqa: F401  (Locust finds the shape in this module)

LAB_SCENARIO = {
    "name": "timeout",
    "description": "short /io requests beside a few longer than the servers' own timeout (--server-timeout)",
    "work": "mixed",
    "outlasts_server_timeout": "long_ms",
    "params": {"ms": 100, "long_ms": 3000, "fast_weight": 7, "long_weight": 1},
    "profiles": [],
}
PARAMS = scenario_params(LAB_SCENARIO)
FAST_NAME = "/io"  # flasklab.core.timeouts reads each kind's figures by these names
LONG_NAME = "/io (long)"


class FastUser(FastHttpUser):
    weight = PARAMS["fast_weight"]
    wait_time = constant(0)

    @task
    def io(self) -> None:
        self.client.get(f"/io?ms={PARAMS['ms']}", name=FAST_NAME)


class LongUser(FastHttpUser):
    weight = PARAMS["long_weight"]
    wait_time = constant(0)

    @task
    def long(self) -> None:
        self.client.get(f"/io?ms={PARAMS['long_ms']}", name=LONG_NAME)
