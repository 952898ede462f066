"""The planner's queueing law against the cases with exact answers (pure: no servers)."""

from __future__ import annotations

import heapq
import math
import random

import pytest

from flasklab.planning.queueing import (
    QueueingError,
    ServiceTime,
    erlang_c,
    highest_rate,
    mmc_response_percentile,
    mmc_response_survival,
    predict,
)


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


def simulate_mmc(rate_rps: float, slots: int, mean_ms: float, count: int, seed: int) -> list[float]:
    """Response times (ms) of ``count`` requests through an FCFS queue of ``slots`` servers: Poisson arrivals,
    exponential service, after a warm-up of a tenth as many (an independent check: no formula of the module)."""
    draw = random.Random(seed)
    free, now, times = [0.0] * slots, 0.0, []
    for index in range(count + count // 10):
        now += draw.expovariate(rate_rps / 1000)
        end = max(now, free[0]) + draw.expovariate(1 / mean_ms)
        heapq.heapreplace(free, end)
        if index >= count // 10:
            times.append(end - now)
    return sorted(times)


def test_mm1_response_distribution_is_exponential_with_rate_mu_minus_lambda() -> None:
    # mu = 100/s, lambda = 80/s: P(T > t) = e^(-20 t), so p95 = ln 20 / 20 s and p99 = ln 100 / 20 s
    assert mmc_response_survival(50.0, 80.0, 1, 10.0) == pytest.approx(math.exp(-1.0), rel=1e-12)
    assert mmc_response_percentile(0.95, 80.0, 1, 10.0) == pytest.approx(1000 * math.log(20) / 20, rel=1e-6)
    assert mmc_response_percentile(0.99, 80.0, 1, 10.0) == pytest.approx(1000 * math.log(100) / 20, rel=1e-6)


def test_mmc_response_where_the_wait_rate_equals_the_service_rate() -> None:
    """c = 2 at 1 erlang: c mu - lambda = mu, where the two exponentials' sum is Erlang-2 (the formula's 0/0).
    Erlang C is 1/3, so P(T > t) = (2/3) e^(-mu t) + (1/3) e^(-mu t) (1 + mu t) = e^(-mu t) (1 + mu t / 3)."""
    mu = 100.0  # per second: 10 ms
    for t_ms in (1.0, 10.0, 37.0):
        mu_t = mu * t_ms / 1000
        expected = math.exp(-mu_t) * (1 + mu_t / 3)
        assert mmc_response_survival(t_ms, mu, 2, 10.0) == pytest.approx(expected, rel=1e-12)
        # and on either side of it, continuously (no cancellation as c mu - lambda passes mu)
        for rate in (mu * (1 - 1e-9), mu * (1 + 1e-9)):
            assert mmc_response_survival(t_ms, rate, 2, 10.0) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(("slots", "utilisation"), [(4, 0.5), (4, 0.8), (2, 0.7)])
def test_mmc_percentiles_match_a_simulated_queue(slots: int, utilisation: float) -> None:
    """200,000 simulated requests: their p50/p95/p99 within 2 % (at 0.8, 4 slots, the seeds' spread is about 0.5 %)."""
    mean_ms = 25.0
    rate = utilisation * slots * 1000 / mean_ms
    simulated = simulate_mmc(rate, slots, mean_ms, 200_000, seed=slots * 10 + int(10 * utilisation))
    for q in (0.5, 0.95, 0.99):
        measured = simulated[math.ceil(q * len(simulated)) - 1]
        assert mmc_response_percentile(q, rate, slots, mean_ms) == pytest.approx(measured, rel=0.02), q


def test_the_planners_approximation_is_exact_for_exponential_service() -> None:
    """For M/M/c, predict's Allen-Cunneen wait (scaled by (1 + 1) / 2 = 1) and exponential waiting are exact."""
    found = predict(128.0, 4, exponential(25.0))
    assert found is not None
    assert found.p95_ms == pytest.approx(mmc_response_percentile(0.95, 128.0, 4, 25.0), rel=0.01)
    assert found.p99_ms == pytest.approx(mmc_response_percentile(0.99, 128.0, 4, 25.0), rel=0.01)


def test_mmc_refuses_an_overloaded_queue_and_a_quantile_outside_0_1() -> None:
    with pytest.raises(QueueingError):
        mmc_response_survival(10.0, 160.0, 4, 25.0)  # utilisation 1
    with pytest.raises(QueueingError):
        mmc_response_percentile(1.0, 80.0, 4, 25.0)
