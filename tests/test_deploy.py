"""A deploy under load (``flasklab run --reload-at S``): the way back read from a window's timeline, the option's bad
input, and gunicorn reloaded with SIGHUP under real Locust load while a server without a graceful reload is skipped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flasklab.core.moments import after_reload
from flasklab.core.results import load_results
from flasklab.core.step_record import Slice
from tests.helpers import ROOT


def seconds(*counts: int, failures: dict[int, int] | None = None, last_s: float = 1.0) -> list[Slice]:
    """A window's timeline from 10 s on: one slice a second with these completions (the last ``last_s`` long)."""
    return [
        Slice(
            t_s=10.0 + index,
            length_s=last_s if index == len(counts) - 1 else 1.0,
            requests=count,
            failures=(failures or {}).get(index, 0),
            p99_ms=5.0,
        )
        for index, count in enumerate(counts)
    ]


def test_the_way_back_is_the_last_second_below_the_fewest_before() -> None:
    # Reload asked 2.5 s in: the seconds before read 1,000 and 980; the two after it 400 and 900, then 990 and on.
    failures, back = after_reload(seconds(1000, 980, 400, 900, 990, 1010), 2.5)
    assert failures == 0 and back == 1.5  # back at 14 s, 1.5 s after the reload
    assert after_reload(seconds(1000, 980, 990, 1001), 2.5) == (0, 0.0)  # nothing fell below: no way back to go
    noise = after_reload(seconds(1000, 980, 400, 990, 1000, 970, 1000), 2.5)
    assert noise == (0, 0.5)  # a second under the floor later on is the window's noise, not the reload's
    still_low = after_reload(seconds(1000, 980, 400, 300, 200, failures={3: 7}), 2.5)
    assert still_low == (7, None)  # the window ended below: not back (and its failures counted)
    erring = after_reload(seconds(1000, 980, 50, 1000, 1000, failures={3: 1000, 4: 1000}), 2.5)
    assert erring == (2000, None)  # answered, but with errors only: completions came back, successes did not
    assert after_reload(seconds(1000, 500, 990), 0.5) == (0, None)  # no whole second before the reload
    assert after_reload([], 1.0) == (0, None)


def lab(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "flasklab", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT, env=dict(os.environ))


@pytest.mark.real  # a process of the CLI
@pytest.mark.parametrize(
    ("value", "message"),
    [("1.5", "1.5 s is not inside the quick profile's 1.5 s window: give less"), ("-1", "is not in the range")],
)
def test_a_reload_outside_the_window_exits_2(tmp_path: Path, value: str, message: str) -> None:
    result = lab("run", "--profile", "quick", "--reload-at", value, "--out", str(tmp_path / "run"))
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.real
@pytest.mark.measuring
def test_gunicorn_reloads_under_load_and_a_server_without_a_reload_is_restarted(tmp_path: Path) -> None:
    """gunicorn-sync on hello (quick profile, fixed 1.5 s windows), SIGHUP 0.5 s into each window: every window
    deploys the next code version, gunicorn's new workers serve it by the window's end, and the workers that replace
    the old ones show as started; waitress has no graceful reload: each deploy restarts it, and its new process
    answers with the new code."""
    out = tmp_path / "run"
    args = ("--servers", "gunicorn-sync,waitress", "--scenarios", "hello", "--profile", "quick", "--no-probe")
    result = lab("run", *args, "--steps", "fixed", "--reload-at", "0.5", "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    results = load_results(out)
    assert results.meta.reload_at_s == 0.5 and (results.meta.server_entries or {})["gunicorn-sync"].reload == "SIGHUP"
    waitress = next(target for target in results.targets if target.server == "waitress")
    restarts = [step.reload for step in waitress.steps]
    assert waitress.status == "ok" and [r.code_version if r else None for r in restarts] == ["2", "3", "4"], restarts
    assert all(r is not None and r.how.startswith("a restart") and r.error is None for r in restarts), restarts
    assert any(r is not None and r.served_after == [r.code_version] for r in restarts), restarts
    assert sum(step.workers_started or 0 for step in waitress.steps) >= 1  # a new process answered
    gunicorn = next(target for target in results.targets if target.server == "gunicorn-sync")
    reloads = [step.reload for step in gunicorn.steps]
    assert [reload.code_version if reload else None for reload in reloads] == ["2", "3", "4"], reloads
    for step, reload in zip(gunicorn.steps, reloads, strict=True):
        assert reload is not None and reload.error is None and 0.4 <= reload.at_s <= 1.0, reload
        assert reload.served_after == [reload.code_version], reload  # only the new code answers after
        assert step.duration_s >= 1.4  # the window ran whole around its reload
    assert sum(step.workers_started or 0 for step in gunicorn.steps) >= 4  # the new workers, told by their answers
    assert 'id="figure-moments-hello"' in (out / "report.html").read_text()
