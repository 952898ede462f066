"""The run's story: the plain lines a run writes to a log (compose, CI, a pipe) as it goes, and their arithmetic."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from flasklab.core.analysis import Limits, assess
from flasklab.core.catalog import Scenario, Server
from flasklab.core.probe_claims import FOLKLORE
from flasklab.core.results import ProbeResult, Results, Step, Target, load_results
from flasklab.core.settings import PROFILES, WINDOW_FLOOR
from flasklab.core.sweep import (
    PRIOR_STEPS,
    PROBE_ALLOWANCE_S,
    SERVER_ALLOWANCE_S,
    TARGET_ALLOWANCE_S,
    Remaining,
    Sweep,
    estimate,
    remaining,
)
from flasklab.measure.backends.base import RunningTarget
from flasklab.measure.backends.external import ExternalBackend
from flasklab.measure.observer import Quiet
from flasklab.measure.runner import Run
from flasklab.measure.story import step_line, time_left
from tests.conftest import QUICK_RUN
from tests.helpers import flasklab, step

# Every test here measures: its module sweep tells measured concurrency (tests/quiet.py).
pytestmark = pytest.mark.measuring

ROOT = Path(__file__).resolve().parents[1]
SERVERS = ("dev-single", "gunicorn-sync")
QUICK = PROFILES["quick"]
STEP_LINE = re.compile(r"^step +(\S+) · hello · (\d+) users?: ([\d,.]+) rps, p95 ([\d,.]+) ms")


@pytest.fixture(scope="module")
def told(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], Results]:
    """A real quick run of two servers on hello, its stderr piped: the story's lines and the run's results."""
    out = tmp_path_factory.mktemp("story") / "run"
    result = flasklab(
        "run", "--backend", "local", "--profile", "quick", "--servers", ",".join(SERVERS), "--scenarios", "hello",
        "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "\x1b" not in result.stderr, "no ANSI escape codes without a terminal"
    return result.stderr.splitlines(), load_results(out)


@pytest.mark.real
def test_each_target_says_what_comes_when_it_starts(told: tuple[list[str], Results]) -> None:
    lines, _ = told
    for server in SERVERS:
        assert f"start   {server} · probe: how many 200 ms /io requests it serves at once, then GET /self" in lines
        assert f"start   {server} · hello: up to 3 steps of 1.8 s at 1, 4, 16 users" in lines


@pytest.mark.real
def test_each_step_is_told_with_the_figures_of_results_json(told: tuple[list[str], Results]) -> None:
    lines, results = told
    told_steps = [match.groups() for line in lines if (match := STEP_LINE.match(line))]
    measured = [
        (target.server, str(step.users), f"{step.rps:,.1f}", step.p95_ms)
        for target in results.targets
        for step in target.steps
    ]
    assert [(server, users, rps) for server, users, rps, _ in told_steps] == [m[:3] for m in measured]
    for (*_, p95_text), (*_, p95_ms) in zip(told_steps, measured, strict=True):
        assert p95_ms is not None and abs(float(p95_text.replace(",", "")) - p95_ms) <= max(0.05, p95_ms * 0.05)


@pytest.mark.real
def test_the_probe_and_each_verdict_are_told_as_they_are_decided(told: tuple[list[str], Results]) -> None:
    lines, results = told
    assert any(line.startswith("probe   dev-single: served 1 at once, configured 1") for line in lines)
    assert any(line.startswith("probe   gunicorn-sync: served 4 at once, configured 4") for line in lines)
    assert any("GET /self answered 504" in line for line in lines if line.startswith("probe   dev-single"))
    decided = [
        claim for claim in results.claims if claim.claim in {lore.claim for lore in FOLKLORE if lore.server in SERVERS}
    ]
    assert {claim.claim for claim in decided} == {
        "dev-single-serves-one",
        "selfcall-deadlocks-single",
        "gunicorn-sync-serves-workers",
    }
    for claim in decided:
        assert f"verdict {claim.verdict}: {claim.text} — {claim.evidence}" in lines
    # dev-single's verdicts are told before gunicorn-sync starts: as soon as decided, not at the end
    verdict = next(i for i, line in enumerate(lines) if "The dev server with threaded=False" in line)
    assert verdict < next(i for i, line in enumerate(lines) if line.startswith("start   gunicorn-sync"))
    unmeasured = len(results.claims) - len(decided)
    assert f"{unmeasured} claims not measured: their servers, scenarios or reloads were not in this run" in lines


@pytest.mark.real
def test_the_time_left_is_told_from_the_start_to_the_end(told: tuple[list[str], Results]) -> None:
    lines, _ = told
    times = [line for line in lines if line.startswith("time    ")]
    assert times[0] == "time    under a minute left (6 steps, 2 server starts to go)"
    assert "time    under a minute left (3 steps, 1 server start to go)" in times
    assert times[-1] == "time    all measured"
    assert len(times) == 1 + len(SERVERS)  # the start, then after each target


def sweep_of(tmp_path: Path, servers: list[Server], scenarios: list[Scenario], rounds: int = 1) -> Run:
    sweep = Sweep(servers, scenarios, QUICK, tmp_path / "run", rounds=rounds)
    return Run(sweep, ExternalBackend(ROOT, tmp_path / "logs"), Quiet())


def steps(count: int) -> list[Step]:
    return [plain_step(users) for users in QUICK.steps[:count]]


def plain_step(users: int, **fields: object) -> Step:
    """A usable quick-profile step: 200 rps (300 requests) over 1.5 s, p95 9 ms; ``fields`` override any of it."""
    figures: dict[str, object] = {"rps": 200.0, "requests": 300, "p50_ms": 4.0, "p95_ms": 9.0} | fields
    return step(users, float(str(figures.pop("rps"))), duration_s=1.5, **figures)


def target(server: str, scenario: str, status: str, done: int, rounds: list[int] | None = None) -> Target:
    measured = Target(server=server, scenario=scenario, concurrency=4, status=status)  # type: ignore[arg-type]
    if rounds is None:
        measured.steps = steps(done)
    else:
        measured.rounds = [steps(count) for count in rounds]
    return measured


@pytest.mark.real
def test_the_time_left_counts_steps_targets_starts_and_probes(
    tmp_path: Path, catalog_servers: dict[str, Server], catalog_scenarios: dict[str, Scenario]
) -> None:
    servers = [catalog_servers["gunicorn-sync"], catalog_servers["waitress"]]
    scenarios = [catalog_scenarios["hello"], catalog_scenarios["io"]]
    run = sweep_of(tmp_path, servers, scenarios)
    start = Remaining(targets=4, steps=12, starts=2, probes=2, done=0, step_s=QUICK.step_s, bound=True)
    assert remaining(run.results) == start  # no step measured: each counted at its whole warm-up and window
    seconds = 12 * QUICK.step_s + 4 * TARGET_ALLOWANCE_S + 2 * SERVER_ALLOWANCE_S + 2 * PROBE_ALLOWANCE_S
    assert remaining(run.results).seconds == seconds

    # gunicorn-sync started, probed, hello done and one step of io: the rest of io, then waitress
    run.results.probe.append(probed("gunicorn-sync"))
    run.results.targets += [target("gunicorn-sync", "hello", "ok", 3), target("gunicorn-sync", "io", "running", 1)]
    assert remaining(run.results) == Remaining(
        targets=2, steps=8, starts=1, probes=1, done=4, step_s=QUICK.step_s, bound=True
    )

    # a failed target: its server gets nothing more, and the steps it will not measure leave the total
    run.results.targets[1].status = "failed"
    left = remaining(run.results)
    assert (left.targets, left.steps, left.starts, left.probes, left.done, left.total) == (2, 6, 1, 1, 4, 10)


@pytest.mark.real
def test_the_time_left_with_rounds_counts_each_round_and_drops_a_failed_servers_later_ones(
    tmp_path: Path, catalog_servers: dict[str, Server], catalog_scenarios: dict[str, Scenario]
) -> None:
    servers = [catalog_servers["gunicorn-sync"], catalog_servers["waitress"]]
    run = sweep_of(tmp_path, servers, [catalog_scenarios["hello"]], rounds=2)
    assert counts(remaining(run.results)) == (4, 12, 4, 2, 0)
    run.results.probe.append(probed("gunicorn-sync"))
    run.results.targets.append(target("gunicorn-sync", "hello", "ok", 0, rounds=[3]))
    assert counts(remaining(run.results)) == (3, 9, 3, 1, 3)
    run.results.targets.append(target("waitress", "hello", "skipped", 0, rounds=[0]))
    run.results.probe.append(probed("waitress").model_copy(update={"status": "skipped", "measured": None}))
    assert counts(remaining(run.results)) == (1, 3, 1, 0, 3)


def counts(left: Remaining) -> tuple[int, int, int, int, int]:
    """Targets, steps, starts and probes left; steps done."""
    return left.targets, left.steps, left.starts, left.probes, left.done


@pytest.mark.real
def test_the_runner_records_its_estimate_of_the_time_left_as_it_saves(
    tmp_path: Path, catalog_servers: dict[str, Server], catalog_scenarios: dict[str, Scenario]
) -> None:
    """results.json holds the estimate the log tells (one computation: flasklab.core.sweep), for the live pages."""
    run = sweep_of(tmp_path, [catalog_servers["gunicorn-sync"]], [catalog_scenarios["hello"]])
    recorded = load_results(run.sweep.out).meta.time_left
    assert recorded is not None
    told = remaining(run.results).seconds
    assert recorded.left_s == round(told, 1) == estimate(run.results).left_s
    run.results.targets.append(target("gunicorn-sync", "hello", "running", 2))
    run.save()
    saved = load_results(run.sweep.out).meta.time_left
    assert saved is not None and saved.left_s == QUICK.step_s + PROBE_ALLOWANCE_S  # started, not yet probed
    run.results.meta.status = "complete"
    run.save()
    assert load_results(run.sweep.out).meta.time_left is None  # an ended run has no time left


def probed(server: str) -> ProbeResult:
    return ProbeResult(server=server, configured=4, measured=4, width=24, io_ms=200, completed=24)


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(0, "under a minute"), (59, "under a minute"), (60, "about 1 min"), (150, "about 3 min"), (3000, "about 50 min")],
)
def test_the_time_left_is_no_more_precise_than_an_estimate(seconds: float, words: str) -> None:
    assert time_left(seconds) == words


def test_a_flagged_step_says_in_words_why_it_does_not_count() -> None:
    server = Limits(budget_cpus=1.0, concurrency=4)
    busy_generator = plain_step(1, generator_cpu=0.97, generator_saturated=True, server_cpu=0.2, steady=False)
    busy_generator = busy_generator.model_copy(update={"requests": 12, "rps": 8.0, "p95_ms": 1234.5})
    assert step_line("gunicorn-sync", "hello", assess(busy_generator, server)) == (
        "step    gunicorn-sync · hello · 1 user: 8.0 rps, p95 1,234† ms (not measurable: 12 samples) · not counted: "
        "generator-bound, not steady"
    )
    failing = plain_step(16, requests=400, failures=40, rps=266.7)
    assert step_line("uwsgi", "io", assess(failing, server)) == (
        "step    uwsgi · io · 16 users: 266.7 rps, p95 9.0 ms, 40 failed · not counted: failures 10.0 % (40 of 400)"
    )
    open_model = plain_step(7, offered_rps=40.0, rps=39.5, censored=2, percentiles_lower_bound=True)
    assert step_line("waitress", "hello", assess(open_model, server)) == (
        "step    waitress · hello · 40 rps offered: 39.5 rps, p95 ≥ 9.0 ms"
    )


@pytest.mark.real
def test_a_server_the_lab_cannot_restart_says_so_on_its_targets(
    start_server: Callable[[str], RunningTarget], tmp_path: Path
) -> None:
    """--target's server is deployed elsewhere: a second round meets it as the first left it, and results say so."""
    deployed = start_server("gunicorn-sync")
    out = tmp_path / "run"
    result = flasklab(
        "run", "--target", f"mine={deployed.url}", "--scenarios", "hello", "--profile", "quick", "--no-probe",
        "--rounds", "2", "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    reason = ExternalBackend.cannot_restart
    assert reason is not None
    (measured,) = load_results(out).targets
    assert measured.status == "ok" and len(measured.rounds) == 2
    assert measured.note == reason
    assert result.stderr.count(reason) == 1, result.stderr


def test_the_time_left_takes_the_steps_measured_length_once_there_are_some() -> None:
    """Windows end once they hold enough samples and warm-ups once steady: the steps left are counted at the mean
    length of the steps measured so far (shrunk towards the shortest step the profile allows, as if PRIOR_STEPS had
    lasted it), at the profile's warm-up and window before any."""
    results = load_results(QUICK_RUN)  # quick: 0.5 s warm-up + 1.5 s window a step
    results.targets = []
    assert remaining(results).step_s == 2.0 and remaining(results).bound
    assert time_left(600, bound=True) == "at most 10 min"  # said as what it is
    measured = Target(server="dev-single", scenario="hello", concurrency=1, status="ok")
    measured.steps = [
        step(1, 600.0, duration_s=0.5, warmup_used_s=0.5),  # a fast step: its window ended at its floor
        step(4, 200.0, duration_s=1.5, warmup_used_s=0.75),  # a whole window, after a longer warm-up
    ]
    results.targets.append(measured)
    left = remaining(results)
    shortest = 0.5 + WINDOW_FLOOR * 1.5  # the quick profile's warm-up and the least of its window
    assert left.step_s == pytest.approx((1.0 + 2.25 + PRIOR_STEPS * shortest) / (2 + PRIOR_STEPS)) and left.done == 2
    assert not left.bound  # a step measured: an estimate
