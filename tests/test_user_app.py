"""Bring your own app: examples/shop (JSON, SQLite, a call to the lab's upstream) and its locustfile, end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from flasklab.cli import main
from flasklab.results import Results, load_results

ROOT = Path(__file__).resolve().parents[1]
SHOP = ROOT / "examples" / "shop"
APP = ["--app", "shop.app:app", "--app-path", str(SHOP), "--requirements", str(SHOP / "requirements.txt")]
LOCUSTFILE = ["--locustfile", str(SHOP / "locustfile.py")]
SERVERS = ("gunicorn-sync", "gunicorn-gthread", "gunicorn-gevent", "uwsgi")
ROUTES = {"/products", "/products/[id]", "/stock/[id]", "/orders"}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Results:
    out = tmp_path_factory.mktemp("shop") / "run"
    command = [sys.executable, "-m", "flasklab", "run", *APP, *LOCUSTFILE, "--servers", ",".join(SERVERS)]
    command += ["--profile", "quick", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return load_results(out)


def test_every_server_ran_the_users_app_under_its_traffic(results: Results) -> None:
    assert results.meta.app is not None and results.meta.app["module"] == "shop.app:app"
    assert results.meta.scenarios == ["locustfile"]
    assert [target.server for target in results.targets] == list(SERVERS)
    for target in results.targets:
        assert target.status == "ok", (target.server, target.error, target.log_tail)
        for step in target.steps:
            # uWSGI's http-socket closes every connection after its response: a POST /orders that meets the close
            # is not resent (a GET is), so a few "connection closed" failures are uWSGI's, not the app's.
            assert step.requests > 0 and step.failures <= 0.01 * step.requests, (target.server, step.errors)
            assert set(step.names) <= ROUTES
        assert set().union(*(step.names for step in target.steps)) == ROUTES  # the app's own routes, all of them


def test_the_probe_is_skipped_with_its_reason(results: Results) -> None:
    assert {probe.server for probe in results.probe} == set(SERVERS)
    for probe in results.probe:
        assert probe.status == "skipped" and "no lab-style /io endpoint" in (probe.error or "")
    assert {claim.verdict for claim in results.claims} == {"not-run"}


def run_with(*arguments: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["run", "--servers", "gunicorn-sync", "--profile", "quick", *arguments])
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--app", "shop.nowhere:app", "--app-path", str(SHOP), *LOCUSTFILE], "cannot import shop.nowhere"),
        (["--app", "shop.app:nothing", *APP[2:], *LOCUSTFILE], "has no attribute 'nothing'"),
        (["--app", "shop.app:MAX_LIMIT", *APP[2:], *LOCUSTFILE], "not a WSGI app"),
        (["--app", "shop.app:app", "--app-path", str(SHOP), *LOCUSTFILE], "No module named 'slugify'"),
        (["--app", "shop.app", "--app-path", str(SHOP), *LOCUSTFILE], "is not MODULE:APP"),
        ([*APP], "--app needs --locustfile"),
        ([*APP, "--locustfile", str(SHOP / "missing.py")], "is not a file"),
        ([*APP, *LOCUSTFILE, "--backend", "network"], "local or docker backend"),
        ([*APP, *LOCUSTFILE, "--scenarios", "io"], "drop --target and --scenarios"),
    ],
)
def test_bad_app_or_locustfile_exits_2_before_any_server_starts(arguments: list[str], message: str) -> None:
    code, output = run_with(*arguments)
    assert code == 2, output
    assert message in output and "Traceback" not in output


def test_a_locustfile_without_users_exits_2(tmp_path: Path) -> None:
    empty = tmp_path / "nousers.py"
    empty.write_text("from locust import task\n\nROUTES = ['/']\n")
    code, output = run_with(*APP, "--locustfile", str(empty))
    assert code == 2 and "defines no User class" in output


def test_the_docker_backend_needs_the_app_inside_the_build_context(tmp_path: Path) -> None:
    outside = tmp_path / "myapp"
    outside.mkdir()
    (outside / "myapp.py").write_text("def app(environ, start_response):\n    return []\n")
    arguments = ["--app", "myapp:app", "--app-path", str(outside), *LOCUSTFILE, "--backend", "docker"]
    code, output = run_with(*arguments)
    assert code == 2 and "outside" in output and "build context" in output


def test_the_example_locustfile_is_plain_locust() -> None:
    """The user's locustfile needs nothing of flasklab: it loads with Locust alone."""
    source = (SHOP / "locustfile.py").read_text()
    assert "import flasklab" not in source and "from flasklab" not in source and "LoadTestShape" not in source
    check = [sys.executable, "-m", "flasklab.loadgen", "--check", "--locustfile", str(SHOP / "locustfile.py")]
    result = subprocess.run(check, capture_output=True, text=True, timeout=60)
    assert json.loads(result.stdout.splitlines()[-1]) == {"event": "ok", "users": ["Shopper"]}
