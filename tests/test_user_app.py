"""Bring your own app: examples/shop (JSON, SQLite, a call to the lab's upstream) and examples/flask2 (a Flask 2 app
on its own pins), each with its locustfile, end to end on real servers and real pip."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from flasklab.cli import main
from flasklab.core.results import Results, Step, load_results

pytestmark = pytest.mark.real  # every test here starts processes


ROOT = Path(__file__).resolve().parents[1]
SHOP = ROOT / "examples" / "shop"
APP = ["--app", "shop.app:app", "--app-path", str(SHOP), "--requirements", str(SHOP / "requirements.txt")]
LOCUSTFILE = ["--locustfile", str(SHOP / "locustfile.py")]
SERVERS = ("gunicorn-sync", "gunicorn-gthread", "gunicorn-gevent", "uwsgi")
ROUTES = {"/products", "/products/[id]", "/stock/[id]", "/orders"}
FLASK2 = ROOT / "examples" / "flask2"
FLASK2_APP = ["--app", "greeter.app:app", "--app-path", str(FLASK2), "--locustfile", str(FLASK2 / "locustfile.py")]
FLASK2_REQUIREMENTS = FLASK2 / "requirements.txt"
FLASK2_SERVERS = ("gunicorn-sync", "gunicorn-gevent", "uwsgi", "waitress", "dev-threaded")
FLASK2_ROUTES = {"/greet/[name]", "/digest"}


def run_flask2(out: Path, requirements: Path, servers: str) -> subprocess.CompletedProcess[str]:
    """``flasklab run`` of examples/flask2 with these requirements on these servers (quick profile)."""
    command = [sys.executable, "-m", "flasklab", "run", *FLASK2_APP, "--requirements", str(requirements)]
    command += ["--servers", servers, "--profile", "quick", "--out", str(out)]
    return subprocess.run(command, capture_output=True, text=True, timeout=1200, cwd=ROOT)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Results:
    out = tmp_path_factory.mktemp("shop") / "run"
    command = [sys.executable, "-m", "flasklab", "run", *APP, *LOCUSTFILE, "--servers", ",".join(SERVERS)]
    command += ["--profile", "quick", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return load_results(out)


UWSGI_CLOSE = "HTTPConnectionClosed: connection closed."  # flasklab.loadgen.distributed.error_kind's text


def app_failures(server: str, step: Step) -> int:
    """A step's failures that are the app's. uWSGI's http-socket closes every connection after its response, and a
    POST that meets the close is not resent (a GET is: the shop's POST /orders and the flask2 app's POST /digest), so
    "connection closed" failures are uWSGI's, not the app's. Under 1 % of the rest is the app's bar (one close in 79
    requests of a 1.5 s window was 1.3 %, and failed it)."""
    closed = step.errors.get(UWSGI_CLOSE, 0) if server.startswith("uwsgi") else 0
    return step.failures - closed


def test_every_server_ran_the_users_app_under_its_traffic(results: Results) -> None:
    assert results.meta.app is not None and results.meta.app["module"] == "shop.app:app"
    assert results.meta.scenarios == ["locustfile"]
    assert [target.server for target in results.targets] == list(SERVERS)
    for target in results.targets:
        assert target.status == "ok", (target.server, target.error, target.log_tail)
        for step in target.steps:
            assert step.requests > 0 and app_failures(target.server, step) <= 0.01 * step.requests, (
                target.server,
                step.errors,
            )
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


@pytest.fixture(scope="module")
def flask2_results(tmp_path_factory: pytest.TempPathFactory) -> Results:
    out = tmp_path_factory.mktemp("flask2") / "run"
    result = run_flask2(out, FLASK2_REQUIREMENTS, ",".join(FLASK2_SERVERS))
    assert result.returncode == 0, result.stderr[-3000:]
    return load_results(out)


def test_a_flask2_app_runs_on_its_own_pins_on_every_server(flask2_results: Results) -> None:
    """greeter imports werkzeug.urls.url_quote (gone in Werkzeug 3): it runs only because its pins won."""
    assert [target.server for target in flask2_results.targets] == list(FLASK2_SERVERS)
    for target in flask2_results.targets:
        assert target.status == "ok", (target.server, target.error, target.log_tail)
        for step in target.steps:
            assert step.requests > 0 and app_failures(target.server, step) <= 0.01 * step.requests, (
                target.server,
                step.errors,
            )
        assert set().union(*(step.names for step in target.steps)) == FLASK2_ROUTES


def test_results_record_the_flask_and_werkzeug_each_server_ran(flask2_results: Results) -> None:
    """The app's Flask 2.2.5 and Werkzeug 2.2.3 (the dev server's too), beside each server's own package."""
    versions = flask2_results.meta.server_versions
    assert set(versions) == set(FLASK2_SERVERS)
    for server, packages in versions.items():
        assert (packages.get("flask"), packages.get("werkzeug")) == ("2.2.5", "2.2.3"), (server, packages)
    assert versions["gunicorn-sync"]["gunicorn"] == "27.0.1" and "pyuwsgi" in versions["uwsgi"]


def test_a_server_that_conflicts_with_the_apps_pins_is_skipped_with_pips_reason(tmp_path: Path) -> None:
    """The app pins gunicorn 25.3.0: gunicorn-sync (gunicorn 27) cannot be installed beside it and is skipped with
    pip's reason, in results.json and the report; gunicorn-eventlet (gunicorn 25.3.0) is measured."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(FLASK2_REQUIREMENTS.read_text() + "gunicorn==25.3.0\n")
    out = tmp_path / "run"
    result = run_flask2(out, requirements, "gunicorn-sync,gunicorn-eventlet")
    assert result.returncode == 0, result.stderr[-3000:]
    results = load_results(out)
    skipped, measured = (results.target(server, "locustfile") for server in ("gunicorn-sync", "gunicorn-eventlet"))
    assert skipped is not None and measured is not None
    assert skipped.status == "skipped" and not skipped.steps
    assert "ERROR: Cannot install" in (skipped.error or "") and "gunicorn==27.0.1" in (skipped.error or "")
    assert "The conflict is caused by" in (skipped.error or "") and "WARNING" not in (skipped.error or "")
    assert measured.status == "ok" and measured.steps, (measured.error, measured.log_tail)
    assert results.meta.server_versions["gunicorn-eventlet"]["flask"] == "2.2.5"
    assert "ERROR: Cannot install" in (out / "report.html").read_text()


def requirements_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "requirements.txt"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("requirements", "messages"),
    [
        ("flask-never-released-zz==1.0\n", ["cannot be installed", "ERROR: No matching distribution found"]),
        ("Flask==2.2.5\nFlask==3.1.3\n", ["cannot be installed", "ERROR: Cannot install", "conflict is caused by"]),
        ("gunicorn==25.3.0\n", ["no server can be installed beside your app's requirements", "gunicorn==27.0.1"]),
        ("Flask==3.1.3\nWerkzeug==3.1.9\n", ["cannot import greeter.app", "url_quote", "werkzeug 3.1.9"]),
    ],
    ids=["missing-package", "impossible-pin", "no-server-fits", "installs-but-does-not-import"],
)
def test_bad_requirements_exit_2_with_the_reason(tmp_path: Path, requirements: str, messages: list[str]) -> None:
    """Unresolvable (pip's reason), conflicting with every chosen server, or installed but unimportable (the import
    error and the installed versions): exit 2 before any server starts."""
    path = requirements_file(tmp_path, requirements)
    code, output = run_with(*FLASK2_APP, "--requirements", str(path), "--out", str(tmp_path / "run"))
    assert code == 2, output
    flat = " ".join(output.split())
    for message in messages:
        assert message in flat, output
    assert "Traceback" not in output and not (tmp_path / "run" / "results.json").exists()
