"""flasklab tune: a real server at several worker counts, and the choices it refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flasklab.core.analysis import analyse
from flasklab.core.catalog import load_servers
from flasklab.core.results import load_results
from flasklab.planning.tune import TunePoint, choose_setting, measured_point, memory_slope
from tests.helpers import ROOT, flasklab

FIXTURES = ROOT / "tests" / "fixtures" / "results"

# Every test here measures: its curves need usable steps, which a busy server CPU removes (tests/quiet.py).
pytestmark = pytest.mark.measuring


@pytest.mark.real
def test_tune_measures_each_worker_count_into_its_own_run(tmp_path: Path) -> None:
    out = tmp_path / "tune"
    # cpu: the server's one CPU decides its curve. On hello the generator did, and in one CI run a busy generator
    # flagged every step of a worker count, so it had no peak to assert on.
    done = flasklab(
        "tune", "gunicorn-sync", "--values", "1,3", "--scenario", "cpu", "--profile", "quick", "--out", str(out)
    )
    assert done.returncode == 0, done.stderr[-2000:]
    tuning = json.loads((out / "tune.json").read_text())
    assert tuning["setting"] == "GUNICORN_SYNC_WORKERS" and tuning["configured"] == 4
    assert [point["value"] for point in tuning["points"]] == [1, 3]
    for point in tuning["points"]:
        assert point["status"] == "ok" and point["concurrency"] == point["value"]  # the catalog followed the setting
        assert point["peak_rps"] > 0 and point["memory_mb"] > 0
        run = json.loads((out / point["run_dir"] / "results.json").read_text())
        assert run["targets"][0]["concurrency"] == point["value"]
    one, three = tuning["points"]
    assert three["memory_mb"] > one["memory_mb"]  # two more worker processes cost memory, even counted as PSS
    assert tuning["memory_per_unit_mb"] > 0
    assert "GUNICORN_SYNC_WORKERS" in done.stdout and "memory MiB" in done.stdout
    # The planner reads the tuning: an option per worker count, the one with the fewest instances recommended.
    planned = flasklab("plan", "--from", str(out), "--rps", "3000", "--p95-ms", "100", "--json")
    assert planned.returncode == 0, planned.stderr[-2000:]
    options = json.loads(planned.stdout)["options"]
    assert {option["setting"] for option in options} == {"GUNICORN_SYNC_WORKERS=1", "GUNICORN_SYNC_WORKERS=3"}
    # Each worker count is offered (a request's 10 ms of CPU is far inside 100 ms), never planned above what the tuning
    # measured one instance completing (its peak, or a lower bound of its capacity above it: the generator at its
    # limit too), and the one with the fewest instances is recommended.
    seen = {}
    for point in tuning["points"]:
        run = load_results(out / point["run_dir"])
        analysis = analyse(run.targets[0], run.meta)
        top = analysis.lower_bound or analysis.peak
        assert top is not None and top.rps >= point["peak_rps"]
        seen[f"GUNICORN_SYNC_WORKERS={point['value']}"] = top.rps
    for option in options:
        assert option["instances"] is not None and option["rps_per_instance"] <= seen[option["setting"]], option
    assert [option["recommended"] for option in options] == [True, False]
    assert options[0]["instances"] == min(option["instances"] for option in options)


@pytest.mark.real
def test_bad_tune_input_names_the_choices(tmp_path: Path) -> None:
    several = flasklab("tune", "gunicorn-gthread", "--out", str(tmp_path / "a"))
    assert several.returncode == 2 and "GUNICORN_GTHREAD_THREADS" in several.stderr
    none = flasklab("tune", "dev-threaded", "--out", str(tmp_path / "b"))
    assert none.returncode == 2 and "no worker setting" in none.stderr
    unknown = flasklab("tune", "gunicorn", "--out", str(tmp_path / "c"))
    assert unknown.returncode == 2 and "gunicorn-sync" in unknown.stderr
    zero = flasklab("tune", "gunicorn-sync", "--values", "0,4", "--out", str(tmp_path / "d"))
    assert zero.returncode == 2 and "between 1 and" in zero.stderr
    words = flasklab("tune", "gunicorn-sync", "--values", "two", "--out", str(tmp_path / "e"))
    assert words.returncode == 2 and "whole numbers" in words.stderr


def test_the_worker_settings_are_the_catalogs(root: Path) -> None:
    """What tune varies is read once, by the catalog, from each command's ${VARIABLE:-N}: at the value the environment
    gives (the default when it is empty), never the lab's own switches (LAB_ACCESS_LOG)."""
    servers = load_servers(root, {"GUNICORN_SYNC_WORKERS": "6", "GUNICORN_GTHREAD_THREADS": ""})
    assert servers["gunicorn-sync"].worker_settings == {"GUNICORN_SYNC_WORKERS": 6}
    assert servers["gunicorn-gthread"].worker_settings == {"GUNICORN_GTHREAD_WORKERS": 2, "GUNICORN_GTHREAD_THREADS": 8}
    assert servers["dev-threaded"].worker_settings == {}  # its command has only ${LAB_ACCESS_LOG:-0}
    assert choose_setting(root, "gunicorn-sync", None, ()) == ("GUNICORN_SYNC_WORKERS", [2, 4, 8, 16], 4)


def test_memory_slope_is_least_squares_over_measured_points() -> None:
    points = [
        TunePoint(value=v, run_dir="x", concurrency=v, status="ok", memory_mb=m)
        for v, m in ((2, 60.0), (4, 80.0), (8, 120.0))
    ]
    assert memory_slope(points) == 10.0
    assert memory_slope(points[:1]) is None


def test_a_point_without_a_usable_step_still_has_its_memory(tmp_path: Path) -> None:
    """Every step decided by the generator: no peak and no capacity to report, but the server's memory was measured at
    each step (a busy generator does not change it), and the point takes it at the highest load."""
    run = load_results(FIXTURES / "locust-bound.json")
    target = run.targets[0]
    busy = [
        step.model_copy(update={"generator_cpu": 1.0, "generator_saturated": True, "server_cpu": 0.3})
        for step in target.steps
    ]
    flagged = run.model_copy(update={"targets": [target.model_copy(update={"steps": busy})]})
    assert analyse(flagged.targets[0], flagged.meta).peak is None
    point = measured_point(4, tmp_path, flagged, slo_p95_ms=500)
    assert point.status == "ok" and point.peak_rps is None and point.capacity_rps is None
    top = max(busy, key=lambda step: step.load)
    assert point.memory_mb == top.server_rss_mb is not None
    usable = measured_point(4, tmp_path, run, slo_p95_ms=500)  # with usable steps, the capacity step's memory
    basis = analyse(target, run.meta).capacity(500)
    assert usable.peak_rps is not None and basis is not None and usable.memory_mb == basis.server_rss_mb
