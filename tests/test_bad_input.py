"""Bad input to every command: exit 2 with a message that names the problem (and the valid choices), never a
traceback, and never a run started on bad input."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from flasklab import cli
from flasklab.core.catalog import lab_root, load_scenarios, load_servers
from flasklab.core.settings import PROFILES
from flasklab.measure import runner


@pytest.fixture(autouse=True)
def no_run_starts(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Bad input must be refused before anything starts: a sweep that begins fails the test at once."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a run started despite bad input")

    monkeypatch.setattr(runner.Run, "__init__", refuse)
    yield


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli.main, list(args))


def assert_refused(result: Result, *names: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit)  # a usage error, not a crash
    assert "Traceback" not in result.output and "Error:" in result.output
    for name in names:
        assert name in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["--slo-p95-ms", "-1"],
        ["--slo-p95-ms", "0"],
        ["--slo-p95-ms", "nan"],
        ["--slo-p95-ms", "inf"],
        ["--slo-p95-ms", "1e12"],
        ["--rounds", "0"],
        ["--rounds", "-3"],
        ["--rounds", "1000000"],
        ["--rounds", "two"],
        ["--seed", "-1"],
        ["--seed", str(2**31)],
        ["--serve-port", "70000"],
        ["--serve-port", "-1"],
        ["--processes", "0"],
        ["--processes", "-2"],
        ["--processes", "1000"],
        ["--model", "open", "--rates", "0"],
        ["--model", "open", "--rates", "-5,10"],
        ["--model", "open", "--rates", "40,10"],
        ["--model", "open", "--rates", "1e9"],
        ["--model", "open", "--rates", "abc"],
        ["--model", "sideways"],
        ["--steps", "sideways"],
    ],
)
def test_run_refuses_negative_or_absurd_numbers(args: list[str]) -> None:
    assert_refused(invoke("run", "--servers", "waitress", "--scenarios", "hello", *args))


@pytest.mark.parametrize(
    "args",
    [
        ["--rps", "-1", "--p95-ms", "100", "--io-ms", "10"],
        ["--rps", "0", "--p95-ms", "100", "--io-ms", "10"],
        ["--rps", "nan", "--p95-ms", "100", "--io-ms", "10"],
        ["--rps", "inf", "--p95-ms", "100", "--io-ms", "10"],
        ["--rps", "1e300", "--p95-ms", "100", "--io-ms", "10"],
        ["--rps", "10", "--p95-ms", "-5", "--io-ms", "10"],
        ["--rps", "10", "--p95-ms", "0", "--io-ms", "10"],
        ["--rps", "10", "--p95-ms", "nan", "--io-ms", "10"],
        ["--rps", "10", "--p95-ms", "100", "--io-ms", "-1"],
        ["--rps", "10", "--p95-ms", "100", "--io-ms", "nan"],
        ["--rps", "10", "--p95-ms", "100", "--io-ms", "1e308"],
        ["--rps", "10", "--p95-ms", "100", "--cpu-ms", "-1"],
        ["--rps", "10", "--p95-ms", "100", "--cpu-ms", "nan"],
        ["--rps", "10", "--p95-ms", "50", "--io-ms", "100"],  # an objective below the work itself
        ["--rps", "10", "--p95-ms", "100"],  # no work given
    ],
)
def test_plan_refuses_negative_or_absurd_numbers(args: list[str]) -> None:
    assert_refused(invoke("plan", *args))


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["run", "--servers", "nope"], ["gunicorn-sync"]),
        (["run", "--scenarios", "nope"], ["hello", "io"]),
        (["run", "--profile", "nope"], list(PROFILES)),
        (["run", "--backend", "nope"], ["local", "docker"]),
        (["probe", "--servers", "nope,waitress"], ["waitress", "uwsgi"]),
    ],
)
def test_unknown_names_list_the_valid_choices(args: list[str], names: list[str]) -> None:
    assert_refused(invoke(*args), *names)


def test_every_catalog_name_is_offered_when_one_is_wrong() -> None:
    root = lab_root()
    assert_refused(invoke("run", "--servers", "nope"), *load_servers(root))
    assert_refused(invoke("run", "--scenarios", "nope"), *load_scenarios(root))


@pytest.mark.parametrize(
    "target",
    [
        "ftp://x",
        "http://",
        "not a url",
        "app=ftp://x",
        "app=http://",
        "app=not a url",
        "app=http://10.0.0.1:80",
        "app=http://127.0.0.1:99999",
        "app=http://127.0.0.1:0",
        "app=http://127.0.0.1:abc",
        "app=http://[::1",
        "app=http://user:secret@127.0.0.1:8000",
        "=http://127.0.0.1:8000",
    ],
)
def test_malformed_targets_are_refused(target: str) -> None:
    assert_refused(invoke("run", "--target", target), "--target")


def test_a_remote_target_names_the_opt_in() -> None:
    assert_refused(invoke("run", "--target", "app=http://10.0.0.1:80"), "loopback", "--allow-remote")


NOT_A_RUN = {
    "an empty folder": None,
    "corrupt JSON": "{oops",
    "binary": b"\xd7\x00\xff\xfe garbage",
    "a foreign schema": '{"schema_version": 99}',
    "a JSON list": "[1, 2]",
    "the right version, nothing else": '{"schema_version": 1}',
}


@pytest.fixture(params=list(NOT_A_RUN))
def not_a_run(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    content = NOT_A_RUN[request.param]
    if isinstance(content, bytes):
        (tmp_path / "results.json").write_bytes(content)
    elif content is not None:
        (tmp_path / "results.json").write_text(content)
    return tmp_path


@pytest.mark.parametrize(
    "command",
    [
        ["report", "{dir}"],
        ["export", "{dir}"],
        ["export", "{dir}", "--stdout"],
        ["compare", "{dir}", "{dir}"],
        ["plan", "--rps", "10", "--p95-ms", "500", "--from", "{dir}"],
    ],
)
def test_a_folder_that_is_not_a_run_is_refused(not_a_run: Path, command: list[str]) -> None:
    result = invoke(*(part.format(dir=not_a_run) for part in command))
    assert_refused(result, str(not_a_run))


@pytest.mark.parametrize(
    "command",
    [["report", "{path}"], ["export", "{path}"], ["compare", "{path}", "{path}"], ["serve", "{path}", "--port", "0"]],
)
def test_a_file_or_a_missing_path_is_refused(tmp_path: Path, command: list[str]) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a run\n")
    for path in (a_file, tmp_path / "missing"):
        assert_refused(invoke(*(part.format(path=path) for part in command)))


@pytest.mark.real
def test_the_real_command_prints_a_message_not_a_traceback(tmp_path: Path) -> None:
    # The same refusals through the installed entry point, as a user's script sees them.
    (tmp_path / "results.json").write_text('{"schema_version": 99}')
    for args in (
        ["report", str(tmp_path)],
        ["run", "--servers", "waitress", "--no-probe", "--slo-p95-ms", "nan"],
        ["run", "--target", "app=http://[::1"],
    ):
        result = subprocess.run([sys.executable, "-m", "flasklab", *args], capture_output=True, text=True, timeout=60)
        assert result.returncode == 2 and "Error:" in result.stderr and "Traceback" not in result.stderr, result.stderr
