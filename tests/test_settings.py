"""The settings table: each setting declared once, the CLI's options built from it, the README's list equal to it."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from flasklab.cli import main
from flasklab.cli.measure import catalog_servers_or_targets
from flasklab.core import settings
from flasklab.core.catalog import load_scenarios, load_servers
from flasklab.core.settings import SETTINGS, Setting, SettingError
from flasklab.measure.backends import BACKENDS
from flasklab.planning.plan import MAX_MS

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


@pytest.mark.parametrize("setting", [s for s in SETTINGS if s.envvar != "LAB_LOCUST_WORKERS"], ids=str)
def test_an_option_built_from_a_setting_carries_its_default_parser_and_help(setting: Setting[object]) -> None:
    built = [option for option in every_option() if option.envvar == setting.envvar]
    if setting.name in ("locust_web", "start_timeout_s", "request_timeout_s"):
        assert not built  # environment only: read when a target starts, a server waits or a request is made
        return
    assert built, f"no option reads {setting.envvar}"
    for option in built:
        assert option.default == setting.default and option.type is setting.type


def test_the_backend_setting_offers_every_backend() -> None:
    assert isinstance(settings.BACKEND.type, click.Choice)
    assert tuple(settings.BACKEND.type.choices) == tuple(BACKENDS)


def test_the_objective_is_bounded_as_the_planner_bounds_milliseconds() -> None:
    assert settings.MAX_MS == MAX_MS


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


def test_the_readme_lists_the_tables_environment_variables() -> None:
    readme = " ".join((ROOT / "README.md").read_text().split())
    start = readme.index("Settings come from options or the environment (")
    listed = re.findall(r"`(LAB_[A-Z0-9_]+)`", readme[start : readme.index(")", start)])
    assert listed == [setting.envvar for setting in SETTINGS], (
        f"the README's line should read: {settings.environment_sentence()}"
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
