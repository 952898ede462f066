"""The open model: real servers loaded at fixed rates, latency from the due time (no coordinated omission)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from flasklab.arrivals import Schedule, step_generator
from flasklab.cli import main
from flasklab.load_config import LoadConfig
from flasklab.report import render_report
from flasklab.results import Results, load_results

ROOT = Path(__file__).resolve().parents[1]
RATES = (10, 40, 120)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Results:
    out = tmp_path_factory.mktemp("open") / "run"
    command = [sys.executable, "-m", "flasklab", "run", "--model", "open", "--rates", ",".join(map(str, RATES))]
    command += ["--arrivals", "uniform"]  # evenly spaced: these tests read counts against the offered rate
    command += ["--servers", "dev-single,gunicorn-gevent", "--scenarios", "io", "--profile", "quick"]
    command += ["--no-probe", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return load_results(out)


def test_steps_are_offered_rates(results: Results) -> None:
    assert results.meta.model == "open" and results.meta.steps == list(RATES)
    for target in results.targets:
        assert target.status == "ok"
        assert [step.offered_rps for step in target.steps] == [float(rate) for rate in RATES]


def test_a_server_that_keeps_up_serves_the_offered_rate(results: Results) -> None:
    target = results.target("gunicorn-gevent", "io")
    assert target is not None
    for step in target.steps[:2]:  # 10 and 40 rps of 100 ms sleeps: 1 and 4 in flight on average
        assert step.offered_rps is not None
        assert 0.8 * step.offered_rps <= step.rps <= 1.1 * step.offered_rps, step
        assert step.p50_ms is not None and 100 <= step.p50_ms < 200, step
        assert step.failures == 0 and step.backlog is not None and step.backlog < 10
        assert step.unstable is False and step.censored is not None and step.censored <= step.backlog


def test_an_overloaded_server_shows_its_queue_in_latency(results: Results) -> None:
    """dev-single serves one 100 ms request at a time (10 rps): at 40 rps offered the queue grows all window long.

    A closed loop would report about users x 100 ms; the open model counts each request from when it was due, so the
    median waits several service times and the generator holds many requests open.
    """
    target = results.target("dev-single", "io")
    assert target is not None
    overloaded = target.steps[1]
    assert overloaded.rps <= 12, overloaded
    assert overloaded.p50_ms is not None and overloaded.p50_ms > 500, overloaded
    assert overloaded.backlog is not None and overloaded.backlog > 10, overloaded
    assert overloaded.users > 10  # the most requests held open at once in the window


def test_an_overloaded_step_is_unstable_and_its_queue_counts_as_censored_latencies(results: Results) -> None:
    """dev-single at 40 and 120 rps offered: the backlog grows all window long, its old requests join the
    percentiles at their age (lower bounds), and the last step's queue is counted, not dropped."""
    target = results.target("dev-single", "io")
    assert target is not None
    for step in target.steps[1:]:
        assert step.unstable is True, step
        assert step.censored is not None and step.censored > 10 and step.percentiles_lower_bound, step
        assert step.backlog is not None and step.censored <= step.backlog
        assert step.p95_ms is not None and step.p95_ms > 1000  # the queue's oldest requests, at least this old
    assert target.steps[0].unstable is False  # 10 rps of 100 ms: what dev-single can serve


def test_report_draws_against_the_offered_rate(results: Results) -> None:
    html = render_report(results)
    assert "offered rate (rps, open model)" in html and "throughput vs offered rate" in html
    assert "rps offered" in html  # the capacity table's load, not users


def test_a_taskset_locustfile_is_refused_in_the_open_model(tmp_path: Path) -> None:
    locustfile = tmp_path / "tasksets.py"
    locustfile.write_text(
        "from locust import HttpUser, TaskSet, task\n\n"
        "class Pages(TaskSet):\n    @task\n    def home(self):\n        self.client.get('/')\n\n"
        "class Visitor(HttpUser):\n    tasks = [Pages]\n"
    )
    config = LoadConfig(
        locustfile=str(locustfile), host="http://127.0.0.1:9", steps=(5,), warmup_s=0.1, window_s=0.2, model="open"
    )
    command = [sys.executable, "-m", "flasklab.loadgen", "--config", config.model_dump_json()]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 1
    assert events[-1]["event"] == "error" and "plain @task functions" in events[-1]["message"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--rates", "10,40"], "--model open"),
        (["--model", "open", "--rates", "0,10"], "--rates"),
        (["--model", "open", "--rates", "40,10"], "--rates"),
        (["--model", "open", "--rates", "ten"], "--rates"),
        (["--model", "open", "--processes", "2"], "one Locust process"),
        (["--model", "half-open"], "'closed', 'open'"),
        (["--arrivals", "poisson"], "--model open"),
        (["--model", "open", "--arrivals", "bursty"], "'poisson', 'uniform'"),
    ],
)
def test_bad_open_model_usage_exits_2(arguments: list[str], message: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["run", "--servers", "gunicorn-sync", "--out", str(tmp_path / "r"), *arguments])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_poisson_arrivals_have_exponential_gaps_and_repeat_with_their_seed() -> None:
    poisson = Schedule(200.0, 0.0, step_generator("poisson", 7, 2))
    dues = [poisson.due(i) for i in range(20_000)]
    gaps = [b - a for a, b in zip([0.0, *dues], dues, strict=False)]
    mean = sum(gaps) / len(gaps)
    scv = sum((gap - mean) ** 2 for gap in gaps) / len(gaps) / mean**2
    assert mean == pytest.approx(1 / 200, rel=0.03) and scv == pytest.approx(1.0, abs=0.1)  # exponential: SCV 1
    again = Schedule(200.0, 0.0, step_generator("poisson", 7, 2))
    assert [again.due(i) for i in range(100)] == dues[:100]  # the same seed and step: the same arrivals
    other = Schedule(200.0, 0.0, step_generator("poisson", 7, 3))
    assert other.due(0) != dues[0]
    assert poisson.unsent(dues[10]) == dues[:10]  # due before that moment and not sent yet
    uniform = Schedule(200.0, 0.0, step_generator("uniform", 7, 2))
    assert [uniform.due(i) for i in range(3)] == [0.0, 0.005, 0.01]


def test_poisson_arrivals_queue_more_than_evenly_spaced_ones(tmp_path: Path) -> None:
    """gunicorn-sync, 4 workers of 100 ms: at 30 rps (utilisation 0.75) evenly spaced requests rarely wait, random
    ones often do (Erlang C about 0.5): the uniform schedule flatters the server."""
    p95 = {}
    for arrivals in ("uniform", "poisson"):
        out = tmp_path / arrivals
        command = [sys.executable, "-m", "flasklab", "run", "--model", "open", "--rates", "30", "--seed", "11"]
        command += ["--arrivals", arrivals, "--servers", "gunicorn-sync", "--scenarios", "io", "--no-probe"]
        command += ["--out", str(out)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT)
        assert result.returncode == 0, result.stderr[-3000:]
        run = load_results(out)
        assert run.meta.arrivals == arrivals and run.meta.seed == 11
        step = run.targets[0].steps[0]
        assert step.p95_ms is not None and step.failures == 0
        p95[arrivals] = step.p95_ms
    assert p95["uniform"] < 160 < p95["poisson"], p95
