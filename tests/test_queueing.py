"""The planner's queueing law against the cases with exact answers (pure: no servers)."""

from __future__ import annotations

import math

import pytest

from flasklab.queueing import QueueingError, ServiceTime, erlang_c, highest_rate, predict


def exponential(mean_ms: float) -> ServiceTime:
    """An exponential service time, by its exact quantiles on a fine grid (the last segment keeps the tail's mean)."""
    points = [(q / 10000, -mean_ms * math.log(1 - q / 10000)) for q in range(9990)]
    return ServiceTime((*points, (1.0, points[-1][1] + 2 * mean_ms)))


def test_mm1_latency_is_exponential_with_rate_mu_minus_lambda() -> None:
    service = exponential(10.0)  # mu = 100/s
    found = predict(80.0, 1, service)  # lambda = 80/s: latency ~ Exp(20/s)
    assert found is not None
    assert found.utilisation == pytest.approx(0.8, rel=0.01)
    assert found.p95_ms == pytest.approx(1000 * math.log(20) / 20, rel=0.01)
    assert found.p99_ms == pytest.approx(1000 * math.log(100) / 20, rel=0.01)


def test_md1_mean_wait_is_pollaczek_khinchine() -> None:
    service = ServiceTime.constant(100.0)
    found = predict(8.0, 1, service)  # rho 0.8: Wq = rho / (2 mu (1 - rho)) = 0.8 / (2 * 10 * 0.2) s
    assert found is not None and found.mean_wait_ms == pytest.approx(200.0, rel=1e-6)
    assert service.scv == 0.0


def test_erlang_c_matches_the_textbook_value() -> None:
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)  # M/M/2 at 1 erlang
    assert erlang_c(4, 4.0) == 1.0


def test_a_measured_distribution_keeps_its_mean_and_tail() -> None:
    service = ServiceTime.from_percentiles(p50=100.5, p95=101.8, p99=103.0, maximum=120.0, mean=100.9)
    assert service.mean_ms == pytest.approx(100.9, rel=1e-6)
    assert service.quantile(0.95) == 101.8 and service.scv < 0.01  # a sleep of 100 ms: nearly constant


def test_more_slots_carry_more_and_overload_has_no_prediction() -> None:
    service = ServiceTime.constant(100.0)
    assert predict(40.0, 4, service) is None  # 4 slots of 100 ms: 40 rps is utilisation 1
    four = highest_rate(4, service, p95_ms=300.0, utilisation=0.8)
    eight = highest_rate(8, service, p95_ms=300.0, utilisation=0.8)
    assert four == pytest.approx(32.0) and eight == pytest.approx(64.0)  # the utilisation cap binds first
    assert highest_rate(4, service, p95_ms=99.0, utilisation=0.8) is None  # below the service time itself


def test_bad_service_times_and_rates_are_refused() -> None:
    with pytest.raises(QueueingError):
        ServiceTime.from_percentiles(p50=10, p95=5, p99=20, maximum=30, mean=10)
    with pytest.raises(QueueingError):
        predict(0.0, 1, ServiceTime.constant(10))
