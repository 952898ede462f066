"""Real sweeps: real servers on 127.0.0.1, real Locust in its own process, results.json checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from flasklab.core.catalog import Scenario, Server
from flasklab.core.results import load_results
from flasklab.core.settings import Profile
from flasklab.core.sweep import Sweep
from flasklab.measure.backends.local import LocalBackend
from flasklab.measure.observer import Quiet
from flasklab.measure.runner import Run

pytestmark = pytest.mark.real  # every test here starts processes

TINY = Profile("tiny", (1, 4), 0.5, 1.5, "two short steps")


def sweep(
    tmp_path: Path,
    root: Path,
    servers: list[Server],
    scenarios: list[Scenario],
    probe: bool = False,
    profile: Profile = TINY,
) -> Path:
    out = tmp_path / "run"
    backend = LocalBackend(root, out / "logs", report=lambda _: None)
    Run(Sweep(servers, scenarios, profile, out, probe=probe), backend, Quiet()).execute()
    return out


@pytest.mark.measuring
def test_sweep_measures_io_within_the_concurrency_bound(
    tmp_path: Path, root: Path, catalog_servers: dict[str, Server], catalog_scenarios: dict[str, Scenario]
) -> None:
    out = sweep(tmp_path, root, [catalog_servers["gunicorn-sync"]], [catalog_scenarios["io"]], probe=True)
    results = load_results(out)
    assert results.meta.status == "complete" and results.meta.ended
    (target,) = results.targets
    assert target.status == "ok" and target.params == {"ms": 100}
    assert [step.users for step in target.steps] == [1, 4]
    for step in target.steps:
        bound = min(step.users, 4) / 0.1  # Little's law: 4 sync workers, 100 ms each
        assert 0.75 * bound <= step.rps <= 1.05 * bound, (step.users, step.rps)
        assert step.failures == 0
        assert step.p50_ms is not None and step.p95_ms is not None and step.p99_ms is not None
        assert 100 <= step.p50_ms <= step.p95_ms <= step.p99_ms <= (step.max_ms or 0)
        assert step.server_cpu is not None and step.server_rss_mb and step.server_rss_mb > 20
        assert 0 <= step.generator_cpu < 1.5
        # the generator side as a whole: one Locust process here, on the CPU set the backend pinned it to
        assert step.generator_cpu_total == step.generator_cpu
        pinning = results.meta.pinning
        assert step.generator_cpus == (len(pinning["generator"]) if pinning else step.generator_cpus)
        assert (step.generator_set_busy is not None) == bool(pinning)
        # the servers' pinned CPUs: at least the server's own CPU ran there (the ticks are 10 ms: a little slack)
        assert (step.server_set_busy is not None) == bool(pinning)
        if step.server_set_busy is not None and pinning:
            assert step.server_set_busy * len(pinning["server"]) >= step.server_cpu - 0.05
        assert step.steady is not None and step.warmup_used_s is not None
        assert TINY.warmup_s - 0.01 <= step.warmup_used_s <= 3 * TINY.warmup_s + 0.1
        assert step.censored is None and step.unstable is None  # open-model fields only
    assert results.probe[0].measured == 4
    assert results.meta.server_versions["gunicorn-sync"]["gunicorn"]


def test_a_server_that_fails_to_start_is_recorded_and_the_sweep_goes_on(
    tmp_path: Path, root: Path, catalog_servers: dict[str, Server], catalog_scenarios: dict[str, Scenario]
) -> None:
    broken = Server(
        name="broken",
        software="none",
        worker_model="exits at once",
        concurrency=1,
        command="echo 'ModuleNotFoundError: no module named nowhere' >&2; exit 3",
    )
    out = sweep(tmp_path, root, [broken, catalog_servers["waitress"]], [catalog_scenarios["hello"]], probe=True)
    results = load_results(out)
    assert [(probe.server, probe.status) for probe in results.probe] == [("broken", "failed"), ("waitress", "ok")]
    assert "exited" in (results.probe[0].error or "")
    failed, ok = results.targets
    assert failed.status == "failed" and "exited" in (failed.error or "")
    assert "ModuleNotFoundError" in (failed.log_tail or "")
    assert ok.status == "ok" and ok.steps and all(step.requests > 0 for step in ok.steps)


def test_a_locustfile_that_raises_fails_its_target_only(
    tmp_path: Path, root: Path, catalog_servers: dict[str, Server], catalog_scenarios: dict[str, Scenario]
) -> None:
    bad = tmp_path / "bad_locustfile.py"
    bad.write_text("raise RuntimeError('this locustfile is broken')\n")
    scenarios = [Scenario("bad", bad, "raises on import"), catalog_scenarios["hello"]]
    results = load_results(sweep(tmp_path, root, [catalog_servers["gunicorn-gthread"]], scenarios))
    bad_target, hello = results.targets
    assert bad_target.status == "failed" and "this locustfile is broken" in (bad_target.error or "")
    assert hello.status == "ok"


def test_unavailable_server_is_skipped_with_the_reason(
    tmp_path: Path, root: Path, catalog_scenarios: dict[str, Scenario]
) -> None:
    needs = Server(
        name="needs-tool",
        software="x",
        worker_model="x",
        concurrency=1,
        command="exit 0",
        requires=("no-such-program-here",),
    )
    results = load_results(sweep(tmp_path, root, [needs], [catalog_scenarios["hello"]]))
    (target,) = results.targets
    assert target.status == "skipped" and "no-such-program-here" in (target.error or "")


def test_a_server_left_busy_by_one_scenario_is_restarted_for_the_next(
    tmp_path: Path, root: Path, catalog_servers: dict[str, Server], catalog_scenarios: dict[str, Scenario]
) -> None:
    """dev-single deadlocks on every self-call (504 after 2 s), then works off the queue for half a minute.

    16 users leave about 15 self-calls queued when the window ends: hello gets a fresh server instead of that backlog.
    """
    scenarios = [catalog_scenarios["selfcall"], catalog_scenarios["hello"]]
    queue_up = Profile("queue-up", (16,), 0.5, 3.0, "one step long enough for a 504")
    results = load_results(sweep(tmp_path, root, [catalog_servers["dev-single"]], scenarios, profile=queue_up))
    selfcall, hello = results.targets
    assert selfcall.status == "ok" and selfcall.note is None
    assert any(kind == "HTTP 504" for step in selfcall.steps for kind in step.errors)
    assert hello.status == "ok", hello.error
    assert hello.note is not None and "restarted" in hello.note
    assert all(step.requests > 0 and step.failures == 0 for step in hello.steps)
