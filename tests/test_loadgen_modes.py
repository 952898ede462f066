"""The load generator's two recording modes: exact percentiles (the default) and the load's ``exact`` off."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from flasklab.core.catalog import Scenario
from flasklab.core.results import Step
from flasklab.core.settings import PROFILES
from flasklab.measure.backends.base import RunningTarget
from flasklab.measure.backends.local import LocalBackend
from flasklab.measure.load import LoadJob, run_load

pytestmark = pytest.mark.real  # every test here starts processes


@pytest.mark.parametrize("exact", [True, False], ids=["exact", "locust-totals"])
def test_steps_in_each_recording_mode(
    start_server: Callable[[str], RunningTarget],
    local_backend: LocalBackend,
    catalog_scenarios: dict[str, Scenario],
    exact: bool,
) -> None:
    target = start_server("gunicorn-sync")
    job = LoadJob.of(catalog_scenarios["hello"].locustfile, {}, PROFILES["quick"], exact=exact)
    assert job.load.exact is exact
    steps: list[Step] = []
    run_load(job, target, local_backend, lambda _step, _users: None, steps.append)
    assert [step.users for step in steps] == [1, 4, 16]
    for step in steps:
        assert step.requests > 0 and step.failures == 0
        counted = step.requests / step.duration_s
        if exact:  # each user's cycles counted by their share inside the window: its edges move it by under a request
            assert abs(step.rps - counted) <= step.users / step.duration_s
            assert step.rps_low is not None and step.rps_high is not None
            assert step.rps_low <= step.rps <= step.rps_high  # the slices' interval is of the same counts
        else:
            assert step.rps == pytest.approx(counted, abs=0.001)
        assert step.steady is not None and step.warmup_used_s is not None  # judged from Locust's totals too
        assert step.generator_cpu_total is not None and step.generator_cpus is not None
        assert step.server_cpu is not None  # the orchestrator's part of the step, read at the window's edges
        if exact:
            assert step.p95_ms is not None and step.rps_low is not None
        else:  # Locust's own totals only: counts, no percentiles
            assert step.p95_ms is None and step.p50_ms is None and step.rps_low is None
