"""The settings table: each setting declared once, the CLI's options built from it, docs/commands.md's list equal."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from flasklab.cli import main
from flasklab.cli.measure import catalog_servers_or_targets
from flasklab.core import settings
from flasklab.core.catalog import load_scenarios, load_servers
from flasklab.core.settings import SETTINGS, Setting, SettingError
from flasklab.measure.backends import BACKENDS
from flasklab.measure.conductor import run_arguments

ROOT = Path(__file__).resolve().parents[1]


def options_of(command: click.Command) -> dict[str, click.Option]:
    return {param.name: param for param in command.params if isinstance(param, click.Option) and param.name}


def every_option() -> list[click.Option]:
    assert isinstance(main, click.Group)
    return [option for command in main.commands.values() for option in options_of(command).values()]


def test_every_environment_variable_of_the_cli_is_a_setting_of_the_table() -> None:
    declared = {setting.envvar for setting in SETTINGS}
    used = {option.envvar for option in every_option() if option.envvar}
    assert used and used <= declared, used - declared


@pytest.mark.parametrize(
    "setting", [s for s in SETTINGS if s.envvar != "LAB_LOCUST_WORKERS"], ids=lambda setting: setting.envvar
)
def test_an_option_built_from_a_setting_carries_its_default_parser_and_help(setting: Setting[object]) -> None:
    built = [option for option in every_option() if option.envvar == setting.envvar]
    if setting in settings.ENVIRONMENT_ONLY:
        assert not built  # environment only: read when a target starts, a server waits, a request is made, or by the
        # compose lab's conductor
        return
    assert built, f"no option reads {setting.envvar}"
    for option in built:
        # report's and serve's SLO overrides the one the run recorded, so theirs defaults to that (None)
        recorded = setting is settings.SLO_P95_MS and option.default is None
        assert (option.default == setting.default or recorded) and option.type is setting.type


def test_the_backend_setting_offers_every_backend() -> None:
    assert isinstance(settings.BACKEND.type, click.Choice)
    assert tuple(settings.BACKEND.type.choices) == tuple(BACKENDS)


def test_the_seed_is_declared_once_for_every_command_that_takes_it() -> None:
    """`flasklab run --seed` and `flasklab plan --verify --seed` are the table's SEED: its parser, no environment."""
    assert isinstance(main, click.Group)
    seeds = [options_of(command)["seed"] for command in main.commands.values() if "seed" in options_of(command)]
    assert len(seeds) >= 2
    for seed in seeds:
        assert seed.type is settings.SEED.type and seed.envvar is None and seed.default is None


def test_the_conductor_reads_its_environment_through_the_table() -> None:
    """No LAB_ variable is named in the conductor's code (its docstrings aside): it asks the table's settings."""
    tree = ast.parse((ROOT / "src" / "flasklab" / "measure" / "conductor.py").read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef) and node.body
        if isinstance(node.body[0], ast.Expr)
    }
    named = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
        if "LAB_" in node.value
    ]
    assert named == []
    environment = {"LAB_COMPOSE_PROFILES": "demo", "LAB_SERVERS": "gunicorn-sync", "LAB_PROFILE": "quick"}
    command, story = run_arguments(environment, ROOT)
    assert command[command.index("--servers") + 1] == "gunicorn-sync" and "--profile" not in command
    assert "LAB_SERVERS" in story and "lab profile quick" in story
    assert settings.COMPOSE_PROFILES.value({}) == "all" and settings.PROFILE.given({}) is None


def test_values_are_read_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAB_START_TIMEOUT_S", raising=False)
    assert settings.START_TIMEOUT.value() == 30.0
    monkeypatch.setenv("LAB_START_TIMEOUT_S", "2.5")
    assert settings.START_TIMEOUT.value() == 2.5
    monkeypatch.setenv("LAB_RATES", "10,40")
    assert settings.RATES.value() == (10, 40)


@pytest.mark.parametrize(
    ("setting", "raw", "problem"),
    [
        (settings.START_TIMEOUT, "soon", "soon"),
        (settings.SLO_P95_MS, "nan", "nan is not a number of milliseconds"),
        (settings.RATES, "40,10", "increasing"),
        (settings.BACKEND, "kubernetes", "local"),
        (settings.CONNECTIONS, "pipelined", "keepalive"),
    ],
)
def test_a_bad_value_names_its_variable_and_the_problem(setting: Setting[object], raw: str, problem: str) -> None:
    with pytest.raises(SettingError, match=re.escape(setting.envvar)) as error:
        setting.value({setting.envvar: raw})
    assert problem in str(error.value)


def test_the_documentation_lists_the_tables_environment_variables() -> None:
    page = " ".join((ROOT / "docs" / "commands.md").read_text().split())
    start = page.index("Settings come from options or the environment (")
    listed = re.findall(r"`(LAB_[A-Z0-9_]+)`", page[start : page.index(")", start)])
    assert listed == [setting.envvar for setting in SETTINGS], (
        f"docs/commands.md's line should read: {settings.environment_sentence()}"
    )


def test_the_demo_profile_names_catalog_servers_and_runs_its_scenarios_in_story_order() -> None:
    """`flasklab run --profile demo`: four servers of the catalog unless --servers says otherwise; the locustfiles
    that declare the profile run io, selfcall, then hello; and its load alone fits two minutes."""
    demo = settings.PROFILES["demo"]
    catalog = load_servers(ROOT)
    assert demo.servers == ("dev-single", "dev-threaded", "gunicorn-sync", "gunicorn-gevent")
    chosen = catalog_servers_or_targets(catalog, None, (), False, demo.servers)
    assert [server.name for server in chosen] == list(demo.servers)
    assert [s.name for s in catalog_servers_or_targets(catalog, "uwsgi", (), False, demo.servers)] == ["uwsgi"]
    declared = [name for name, scenario in load_scenarios(ROOT).items() if "demo" in scenario.profiles]
    assert demo.ordered(declared) == ["io", "selfcall", "hello"]
    assert len(demo.servers) * len(declared) * demo.target_s() <= 120
    assert settings.PROFILES["standard"].ordered(["cpu", "hello", "io"]) == ["cpu", "hello", "io"]  # catalog order


def test_a_profile_naming_a_server_the_catalog_lacks_exits_2() -> None:
    with pytest.raises(click.BadParameter, match="unknown server 'gone'; valid: dev-single"):
        catalog_servers_or_targets(load_servers(ROOT), None, (), False, ("gone",))


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [("LAB_LOCUST_START", "exec", "'fork', 'spawn'"), ("LAB_REQUEST_TIMEOUT_S", "abc", "LAB_REQUEST_TIMEOUT_S")],
)
def test_a_bad_environment_only_setting_exits_2_at_the_start(variable: str, value: str, named: str) -> None:
    """Read when a target starts, it is still checked before anything runs (it was a traceback mid-run)."""
    result = CliRunner().invoke(main, ["servers"], env={variable: value})
    assert result.exit_code == 2 and variable in result.output and named in result.output
