"""What a step means (flasklab.core.analysis), on committed results fixtures: no server, no Locust, fast.

The fixtures in tests/fixtures/results/ are small hand-written runs shaped like real ones: ``closed.json`` (a
generator-bound step, a server that fails fast, steps with too few samples, a step that was not steady),
``open.json`` (censored percentiles, unstable steps) and ``version1.json`` (written before schema 2): none of them
recorded requests in flight at the server. ``locust-bound.json`` is a real run as recorded (gunicorn-sync on hello,
standard profile, local, 2 cores, 2026-12-05): from 4 users on, Locust's one core and the server's one were both full.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from rich.console import Console

from flasklab.core.analysis import (
    LAG_FLOOR_MS,
    MIN_SAMPLES,
    Limits,
    TargetAnalysis,
    analyse,
    assess,
    capacity,
    is_thin,
    knee,
    knee_of,
    min_samples,
    peak,
)
from flasklab.core.catalog import Server
from flasklab.core.results import Results, Target, load_results
from flasklab.planning.plan import plan_capacity
from flasklab.planning.request import PlanRequest
from flasklab.views.compare import compare_runs
from flasklab.views.export import steps_csv
from flasklab.views.report import capacity_table
from flasklab.views.summary import print_results
from tests.helpers import step

FIXTURES = Path(__file__).parent / "fixtures" / "results"
SLO_MS = 500.0


def fixture(name: str) -> Results:
    return load_results(FIXTURES / f"{name}.json")


def analysis_of(results: Results, server: str, scenario: str) -> TargetAnalysis:
    target = results.target(server, scenario)
    assert target is not None
    return analyse(target, results.meta)


# The closed run


def test_a_generator_bound_step_never_counts_even_at_the_highest_rps() -> None:
    gthread = analysis_of(fixture("closed"), "gunicorn-gthread", "hello")
    loads = {standing.step.users: standing for standing in gthread.steps}
    bound = loads[4]
    assert not bound.usable and bound.generator_bound
    assert bound.causes == (
        "generator-bound: generator side busy (its CPU set 99 % busy, its processes used 0.98 of 1 core) while the "
        "server used 0.42 of its 1 CPU budget; its requests in flight were not measured (16 configured)"
    )
    assert bound.step.rps == max(s.rps for s in gthread.target.steps)  # the old "peak"
    # 16 users had the server at its budget and Locust busy too: a lower bound, not the peak (tested below)
    assert gthread.peak is loads[1].step and gthread.capacity(SLO_MS) is loads[1].step


def test_a_busy_generator_with_the_server_at_its_budget_is_a_lower_bound_not_the_peak() -> None:
    """At 16 users the generator was busy too, and the server used 0.93 of its core: both set the pace, so the step
    says the server can do at least its rps, and it is not the server's peak (which is then unknown)."""
    gthread = analysis_of(fixture("closed"), "gunicorn-gthread", "hello")
    at_16 = next(s for s in gthread.steps if s.step.users == 16)
    assert at_16.step.generator_saturated and [flag.kind for flag in at_16.flags] == ["lower bound"]
    assert at_16.capacity_lower_bound and at_16.rps_text("1,720.0") == "≥ 1,720.0"
    assert "the server at its limit (its CPU at 0.93 of its 1 CPU budget)" in at_16.causes
    assert gthread.peak is gthread.steps[0].step and gthread.lower_bound is at_16.step


def test_configured_users_clear_nothing_measured_requests_in_flight_do() -> None:
    """Locust at 99 % CPU, the server at 0.4 of its budget, 64 users on sync -w 4: the old rule (users >= concurrency)
    counted it as the server's peak. What clears a busy generator is the server measured at its limit: its mean
    requests in flight at SERVER_IN_FLIGHT_SHARE of its 4 workers (3.6) or more."""
    sync = Limits(budget_cpus=1.0, concurrency=4)
    locust = {"generator_cpu": 0.99, "generator_saturated": True, "server_cpu": 0.4}
    idle = assess(step(64, 2000, **locust, server_in_flight=0.31, server_in_flight_max=1), sync)
    assert [flag.kind for flag in idle.flags] == ["generator-bound"]
    assert idle.causes == (
        "generator-bound: generator side busy (busiest process at 99 % of a core) while the server used 0.4 of its 1 "
        "CPU budget and had 0.31 requests in flight (at most 1 in a process) of 4 configured"
    )
    full = assess(step(64, 2000, **locust, server_in_flight=3.6, server_in_flight_max=1), sync)
    assert [flag.kind for flag in full.flags] == ["lower bound"] and "3.60 requests in flight of its 4" in full.causes
    assert assess(step(64, 2000, **locust, server_in_flight=3.59), sync).generator_bound
    unknown = assess(step(64, 2000, **locust), Limits(budget_cpus=None, concurrency=None))  # by URL, unbounded
    assert (
        unknown.generator_bound
        and "no budget recorded" in unknown.causes
        and "not measured (unbounded)" in (unknown.causes)
    )


def test_a_lagging_generator_is_busy_below_its_cpu_threshold() -> None:
    """Locust at 80 % CPU (under the 90 % threshold) whose event loop woke 3 ms late at p95 on 5 ms requests: 60 % of
    what the step measured was the generator's wait. Under LAG_FLOOR_MS, or a small share of the latency, it is not."""
    sync = Limits(budget_cpus=1.0, concurrency=4)
    lagging = assess(step(16, 900, generator_cpu=0.8, server_cpu=0.3, server_in_flight=0.5, loop_lag_p95_ms=3.0), sync)
    assert lagging.generator_bound and "its event loop 3 ms late (p95)" in lagging.causes
    for lag in (LAG_FLOOR_MS * 0.9, 1.2):  # under the floor; 1.2 ms of a 5 ms median is under a quarter of it
        assert assess(step(16, 900, generator_cpu=0.8, server_cpu=0.3, loop_lag_p95_ms=lag), sync).usable


def test_the_open_loops_cap_reached_is_the_generators_backlog_not_the_servers() -> None:
    """Arrivals that found every slot taken were held back by the generator: generator-bound, never unstable."""
    open_step = {"offered_rps": 640.0, "backlog": 1400, "unstable": True, "server_in_flight": 1.1}
    capped = assess(step(1000, 300, **open_step, capped_arrivals=812, server_cpu=0.3), Limits(1.0, 4))
    assert [flag.kind for flag in capped.flags] == ["generator-bound"]
    assert "812 arrivals found the open loop's cap of requests open at once reached" in capped.causes
    sent_late = step(20, 300, offered_rps=320.0, server_cpu=0.3, send_lag_p95_ms=4.2, capped_arrivals=0)
    late = assess(sent_late, Limits(1.0, 4))
    assert late.generator_bound and "requests sent 4.2 ms after they were due (p95)" in late.causes
    behind = assess(step(20, 300, **open_step, capped_arrivals=0, server_cpu=0.95), Limits(1.0, 4))
    assert [flag.kind for flag in behind.flags] == ["unstable"]  # the server's own backlog


def test_an_unpinned_generator_is_noted_as_not_checked_for_sharing() -> None:
    unpinned = Limits(budget_cpus=None, concurrency=4, generator_pinned=False)
    assert assess(step(4, 100), unpinned).notes == [
        "not checked for sharing: the generator was not pinned, so other work on its CPUs is unknown"
    ]
    assert assess(step(4, 100, generator_set_busy=0.5), unpinned).notes == []  # its CPU set was read after all
    assert assess(step(4, 100), Limits(budget_cpus=None, concurrency=4)).notes == []


def test_a_real_run_with_locust_and_the_server_both_full_has_lower_bounds_not_a_peak() -> None:
    """Measured here: Locust's CPU set 98-100 % busy from 4 users on, the server at 0.92-0.96 of its core and under
    one request in flight (hello spends 0.1 ms in the app). The usable steps are the first two; the rest say
    the server can do at least their rps, shown as such by the summary, the export and the report's flagged list."""
    run = fixture("locust-bound")
    sync = analysis_of(run, "gunicorn-sync", "hello")
    kinds = [[flag.kind for flag in standing.flags] for standing in sync.steps]
    assert kinds == [[], [], *[["lower bound"]] * 5]
    assert all(s.step.server_in_flight is not None and s.step.server_in_flight < 1 for s in sync.steps)
    assert sync.peak is sync.steps[1].step and sync.peak.rps == 1500.0
    assert sync.lower_bound is not None and sync.lower_bound.rps == max(s.rps for s in sync.target.steps) == 2235.2
    console = Console(width=400, record=True)
    print_results(console, run, verbose=True)
    text = console.export_text()
    assert "1,500 (" in text and "≥ 2,235 5 flagged" in text and "≥ 2,235.2" in text
    rows = list(csv.DictReader(io.StringIO(steps_csv(run))))
    assert [row["counts"] for row in rows] == ["true", "true", *["false"] * 5]
    assert [row["cause"] for row in rows] == [standing.causes for standing in sync.steps]


def test_the_whole_generator_side_counts_not_only_its_busiest_process() -> None:
    """Two Locust workers at 0.5 core each on a 1-core set: no process passed 90 %, the side as a whole did."""
    spread = step(4, 1000, generator_cpu=0.5, generator_cpu_total=0.95, generator_cpus=1, server_cpu=0.2)
    assert assess(spread, Limits(1.0, 16)).generator_bound
    softirq = step(4, 1000, generator_cpu=0.6, generator_set_busy=0.93, server_cpu=0.2)
    assert "its CPU set 93 % busy" in assess(softirq, Limits(1.0, 16)).causes


def test_other_work_on_the_servers_cpus_is_flagged_when_they_were_full() -> None:
    """The compose lab's idle servers share CPU 0 with the one measured: harmless while it has room, not when full."""
    crowded = step(16, 1000, server_cpu=0.7, server_set_busy=0.95)
    shared = assess(crowded, Limits(1.0, 16, server_set_cpus=1))
    assert [flag.kind for flag in shared.flags] == ["server CPUs shared"]
    assert shared.causes == (
        "server CPUs shared: other processes ran 0.25 cores on the server's 1 pinned CPU(s) while the server used 0.70"
    )
    idle_neighbours = step(16, 1000, server_cpu=0.88, server_set_busy=0.94)  # 0.06 cores of others: counts
    assert assess(idle_neighbours, Limits(1.0, 16, server_set_cpus=1)).usable
    roomy = step(16, 1000, server_cpu=0.3, server_set_busy=0.6)  # others ran 0.3, but the CPU had room
    assert assess(roomy, Limits(1.0, 16, server_set_cpus=1)).usable
    assert assess(crowded, Limits(1.0, 16)).usable  # servers not pinned: their CPUs are not known


def test_a_server_that_fails_fast_does_not_show_a_higher_peak() -> None:
    sync = analysis_of(fixture("closed"), "gunicorn-sync", "hello")
    failing = sync.steps[-1]
    assert failing.step.rps == 1900 and failing.causes == "failures 32.0 % (912 of 2,850)"
    assert sync.peak is not None and sync.peak.rps == 1150
    assert sync.capacity(SLO_MS) is sync.peak


def test_failures_up_to_one_percent_still_count() -> None:
    assert assess(step(4, 200, requests=1000, failures=10), Limits(1.0, 4)).usable
    assert assess(step(4, 200, requests=1000, failures=11), Limits(1.0, 4)).flags[0].kind == "failures"


def test_too_few_samples_cost_the_percentile_not_the_throughput() -> None:
    """dev-single on io: 10 rps, 15 completions in a 1.5 s window. They count for the peak and the curve; their p95
    (the maximum of 15) is not measurable, so no step meets or misses the SLO and the capacity says why."""
    dev = analysis_of(fixture("closed"), "dev-single", "io")
    assert all(s.usable and not s.p95_measurable for s in dev.steps)
    assert dev.steps[0].thin == ("p95", "p99") and dev.steps[0].notes == ["p95 and p99 from 15 samples are the maximum"]
    assert dev.peak is not None and dev.peak.rps == max(s.step.rps for s in dev.steps)
    assert dev.capacity(SLO_MS) is None and dev.within_slo(SLO_MS) == []
    assert dev.p95_not_measurable == [s.step for s in dev.steps]
    assert dev.standing(dev.peak).marked("p95", "100") == "100†"


def test_a_usable_step_marks_its_thin_p99() -> None:
    sync_io = analysis_of(fixture("closed"), "gunicorn-sync", "io")
    at_4 = sync_io.steps[1]
    assert at_4.usable and at_4.thin == ("p99",) and at_4.notes == ["p99 from 59 samples is the maximum"]
    assert at_4.marked("p99", "102.6") == "102.6†" and at_4.marked("p95", "101.9") == "101.9"


def test_a_step_that_was_not_steady_does_not_count() -> None:
    sync_io = analysis_of(fixture("closed"), "gunicorn-sync", "io")
    at_16 = sync_io.steps[2]
    assert at_16.step.p95_ms is not None and at_16.step.p95_ms <= SLO_MS  # within the SLO, but still moving
    assert at_16.causes == "not steady: throughput or requests in flight still moving after 0.5 s of warm-up"
    assert sync_io.capacity(SLO_MS) is sync_io.steps[1].step


# The open model


def test_unstable_steps_are_never_capacity_and_censored_percentiles_are_lower_bounds() -> None:
    run = fixture("open")
    gevent = analysis_of(run, "gunicorn-gevent", "io")
    top = gevent.steps[-1]
    assert top.step.p95_ms is not None and top.step.p95_ms <= SLO_MS and top.step.rps == 150.4
    assert top.causes == "unstable (backlog grew to 45): the server did not keep up"
    assert gevent.capacity(SLO_MS) is gevent.steps[1].step and gevent.peak is gevent.steps[1].step
    at_40 = gevent.steps[1]
    assert at_40.usable and at_40.lower_bound and at_40.samples == 200 + 4
    assert at_40.marked("p95", "108") == "≥ 108"
    sync = analysis_of(run, "gunicorn-sync", "io")
    assert [flag.kind for flag in sync.steps[-1].flags] == ["not steady", "unstable"]


# Schema version 1


def test_a_version_1_file_loads_and_reads_with_the_same_rules() -> None:
    run = fixture("version1")
    assert run.schema_version == 1 and run.meta.memory_measure is None
    uwsgi = analysis_of(run, "uwsgi", "hello")
    assert all(s.step.steady is None and s.step.generator_cpu_total is None for s in uwsgi.steps)
    bound = uwsgi.steps[1]
    assert bound.causes == (
        "generator-bound: generator side busy (busiest process at 95 % of a core) while the server used 0.35 of its "
        "1 CPU budget; its requests in flight were not measured (16 configured)"
    )
    top = uwsgi.steps[2]  # saturated too, but the server used 0.91 of its core: a lower bound, by CPU alone
    assert [flag.kind for flag in top.flags] == ["lower bound"] and uwsgi.peak is uwsgi.steps[0].step


# The rules themselves


def test_a_percentile_is_thin_below_one_sample_beyond_it() -> None:
    assert (min_samples("p50"), min_samples("p95"), min_samples("p99")) == (2, 20, 100)
    assert MIN_SAMPLES == 20
    assert is_thin("p95", 19) and not is_thin("p95", 20) and is_thin("p99", 99) and not is_thin("p99", 100)


def test_knee_is_the_last_usable_step_before_doubling_adds_less_than_10_percent() -> None:
    steps = [step(1, 10), step(2, 20), step(4, 39), step(8, 40), step(16, 40)]
    assert knee_of(steps) == steps[2]
    assert knee_of([step(1, 10), step(2, 20)]) is None
    # a generator-bound step in between is skipped: the knee is read on the usable curve
    bound = step(8, 41, generator_cpu=0.95, server_cpu=0.1)
    target = Target(server="s", scenario="io", concurrency=64, status="ok", steps=[*steps[:3], bound, steps[4]])
    meta = fixture("closed").meta
    assert knee(target, meta) == steps[2]
    assert peak(target, meta) == steps[4] and capacity(target, meta, 5.0) is None


# Every view asks the same module


def test_every_view_reads_peak_and_capacity_from_analysis() -> None:
    run = fixture("closed")
    for target in run.targets:
        expected = capacity(target, run.meta, SLO_MS)
        cells = {line.server: line.cells for line in capacity_table(run, SLO_MS)}
        cell = cells[target.server][run.meta.scenarios.index(target.scenario)]
        assert cell is not None and cell.step is expected
        row = next(r for r in compare_runs(run, run) if (r.server, r.scenario) == (target.server, target.scenario))
        top = peak(target, run.meta)
        assert (row.peak_rps.a.value if row.peak_rps.a else None) == (top.rps if top else None)


def test_the_planner_plans_on_usable_steps_only(catalog_servers: dict[str, Server]) -> None:
    run = fixture("closed")
    plan = plan_capacity(PlanRequest(rps=200, p95_ms=SLO_MS, io_ms=100), catalog_servers, 1.0, run)
    options = {option.server: option for option in plan.options}
    sync = options["gunicorn-sync"]
    assert sync.basis == "measured" and sync.capacity_rps == 39.3  # at 4 users: the 16-user step was not steady
    dev = options["dev-single"]
    assert dev.covered is False and "no usable step of io met p95 <= 500 ms" in dev.reason


@pytest.mark.parametrize("name", ["closed", "open", "version1"])
def test_the_verbose_summary_lists_each_flagged_step_with_its_cause(name: str) -> None:
    run = fixture(name)
    console = Console(width=400, record=True)
    print_results(console, run, verbose=True)
    text = console.export_text()
    for target in run.targets:
        for standing in analyse(target, run.meta).flagged:
            assert standing.causes in text
    if name == "closed":
        assert "850 (2 ms) ≥ 1,720 2 flagged" in text and "2,410 (" not in text
        assert "10 (1,610† ms)" in text  # dev-single on io: 15 samples a step, its throughput counts, not its p95
    if name == "open":
        assert "(≥ 108 ms)" in text


# The filters


def test_the_two_step_filters_are_the_analysis_s_own() -> None:
    """``usable`` (what the peak, capacity and knee count) and ``measured_the_server`` (what the slow-client claims
    read): a starved server's thin or failing step measured the server; a generator-bound one did not."""
    server = Limits(budget_cpus=1.0, concurrency=4)
    thin = assess(step(4, 2.0, requests=8), server)
    failing = assess(step(4, 100.0, failures=100), server)
    bound = assess(step(4, 2000.0, generator_cpu=0.99, generator_saturated=True, server_cpu=0.4), server)
    assert [s.usable for s in (thin, failing, bound)] == [True, False, False]  # thin: its throughput counts
    assert [s.p95_measurable for s in (thin, failing, bound)] == [False, True, True]
    assert [s.measured_the_server for s in (thin, failing, bound)] == [True, True, False]
    assert assess(step(4, 100.0), server).usable and assess(step(4, 100.0), server).measured_the_server
