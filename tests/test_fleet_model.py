"""The fleet behind its balancer, simulated (flasklab.planning.fleet_model), held to what queueing theory knows."""

from __future__ import annotations

import math

import pytest

from flasklab.planning.fleet_model import Dispatcher, Instance, fleet_prediction, simulate_fleet
from flasklab.planning.queueing import ServiceTime, mmc_response_percentile, predict

# Exponential service, mean 25 ms, as its quantile function on a fine grid (its top capped at 12 means).
METHODS_BY_SPEED = ("least-conn", "random-two", "round-robin")
EXPONENTIAL = ServiceTime((*((q / 1000, -25 * math.log(1 - q / 1000)) for q in range(1000)), (1.0, 300.0)))


def test_one_instance_is_the_exact_m_m_c_queue() -> None:
    """One instance of 4 slots, exponential service at utilisation 0.75: the exact M/M/4 percentiles."""
    found = fleet_prediction(120, 1, 4, EXPONENTIAL, "round-robin")
    assert found is not None
    mean = EXPONENTIAL.mean_ms
    assert found.p95_ms == pytest.approx(mmc_response_percentile(0.95, 120, 4, mean), rel=0.03)
    assert found.p99_ms == pytest.approx(mmc_response_percentile(0.99, 120, 4, mean), rel=0.05)


def test_least_conn_serves_the_fleet_as_one_pool_random_two_nearly_and_round_robin_between() -> None:
    """3 instances of 4 slots at 400 rps (utilisation 0.83): least-conn is one M/M/12 pool (it sends a request
    where a slot is free), random two close to it, round-robin between that and 3 separate Poisson queues at 133 rps
    each (the plan's per-instance model, here exact): 84, 90, 102 and 136 ms."""
    mean = EXPONENTIAL.mean_ms
    pooled = mmc_response_percentile(0.95, 400, 12, mean)
    separate = mmc_response_percentile(0.95, 400 / 3, 4, mean)
    least, two, turns = (fleet_prediction(400, 3, 4, EXPONENTIAL, method) for method in METHODS_BY_SPEED)
    assert least is not None and turns is not None and two is not None
    assert least.p95_ms == pytest.approx(pooled, rel=0.03)
    assert least.p95_ms < two.p95_ms < turns.p95_ms < separate * 0.8


def test_constant_work_behind_round_robin_hardly_waits() -> None:
    """The bench's fleet: 4 gunicorn-sync instances of 4 workers, 100 ms of sleep (about 102 ms served), 100 rps.
    Each instance sees every 4th arrival: an Erlang-4 stream, so the p95 is close to the work itself, where the
    per-instance M/G/4 at 25 rps waits about 1.5 times as long (measured whole: 107 ms; one instance: 165 ms)."""
    work = ServiceTime.constant(102)
    whole = fleet_prediction(100, 4, 4, work, "round-robin")
    alone = predict(25, 4, work)
    assert whole is not None and alone is not None
    assert 102 <= whole.p95_ms < 110 < 150 < alone.p95_ms
    assert whole.busiest_share == pytest.approx(1.0, abs=0.001)  # round-robin: every 4th request each


def test_the_dispatcher_chooses_as_nginx_does() -> None:
    import random

    members = [Instance(2) for _ in range(3)]
    turns = Dispatcher("round-robin", 3, random.Random(0))
    assert [turns.choose(members) for _ in range(4)] == [0, 1, 2, 0]
    members[1].ends = [1.0, 2.0]
    members[2].ends = [1.0]
    least = Dispatcher("least-conn", 3, random.Random(0))
    assert least.choose(members) == 0  # none in flight
    members[0].ends = [1.0, 2.0]
    members[0].waiting.append((9, 5.0))
    assert least.choose(members) == 2  # 3, 2 and 1 in flight
    with pytest.raises(ValueError, match="one of round-robin, least-conn, random-two"):
        Dispatcher("hash", 3, random.Random(0))


def test_a_fleet_that_cannot_keep_up_has_no_prediction_and_every_request_ends() -> None:
    assert fleet_prediction(200, 2, 4, ServiceTime.constant(100), "least-conn") is None  # 20 erlangs on 8 slots
    latency, counts = simulate_fleet(60, 2, 4, ServiceTime.constant(100), "random-two", requests=2000)
    assert len(latency) == 2000 and sum(counts) == 2000 and all(value >= 100 - 1e-9 for value in latency)
