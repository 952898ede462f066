"""flasklab tune: one server at several worker counts, same budget, each measured into a run of its own."""

from __future__ import annotations

import sys
from dataclasses import replace
from functools import partial
from pathlib import Path

import click
from rich.console import Console

from flasklab.cli.common import catalog, choose, console, measure, out_folder
from flasklab.cli.exits import ExitCode
from flasklab.cli.options import backend_option, option, out_option, slo_option
from flasklab.core import settings
from flasklab.core.catalog import Scenario
from flasklab.core.settings import PROFILES
from flasklab.planning.tune import TuneError, Tuning, choose_setting, tune_server, tuning_table


def parse_values(text: str | None) -> tuple[int, ...]:
    """--values: whole numbers, comma-separated."""
    if not text:
        return ()
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError as error:
        raise click.BadParameter(f"{text!r}: whole numbers separated by commas, e.g. 2,4,8,16") from error


@click.command()
@click.argument("server_name", metavar="SERVER")
@backend_option
@click.option("--setting", "variable", metavar="VARIABLE", help="The worker setting to vary (default: the server's).")
@click.option("--values", metavar="A,B", help="Its values (default: 0.5x, 1x, 2x and 4x the configured one).")
@click.option("--scenario", "scenario_name", default="io", show_default=True, help="The scenario to measure.")
@option(
    settings.PROFILE,
    "--profile",
    "profile_name",
    environment=False,
    metavar=None,
    help=f"One of {', '.join(PROFILES)}.",
)
@out_option
@slo_option
@click.option("--json", "as_json", is_flag=True, help="Print tune.json instead of a table.")
def tune(
    server_name: str,
    backend: str,
    variable: str | None,
    values: str | None,
    scenario_name: str,
    profile_name: str,
    out: Path | None,
    slo_p95_ms: float,
    as_json: bool,
) -> None:
    """One server at several worker counts, same budget: capacity and memory per value (DIR/tune.json)."""
    root, catalog_servers, catalog_scenarios = catalog()
    choose("server", server_name, catalog_servers, [])
    scenario: Scenario = catalog_scenarios[choose("scenario", scenario_name, catalog_scenarios, [])[0]]
    profile = PROFILES[choose("profile", profile_name, PROFILES, [])[0]]
    try:
        name, chosen, configured = choose_setting(root, server_name, variable, parse_values(values))
    except TuneError as error:
        raise click.BadParameter(str(error), param_hint="--setting/--values") from error
    folder = out_folder(out, root)
    console.print(
        f"flasklab tune: {server_name} · {scenario.name} at {name} = {', '.join(map(str, chosen))} → {folder}"
    )
    tuning = Tuning(
        server=server_name,
        scenario=scenario.name,
        setting=name,
        configured=configured,
        slo_p95_ms=slo_p95_ms,
        budget={},
    )
    with_slo = partial(replace, slo_p95_ms=slo_p95_ms)  # each tuning run records the SLO it is judged by
    tune_server(root, tuning, chosen, scenario, profile, folder, lambda sweep: measure(with_slo(sweep), backend, root))
    if as_json:
        click.echo(tuning.model_dump_json(indent=2))
    else:
        Console().print(tuning_table(tuning))
    console.print(f"tune: {folder / 'tune.json'}  (plan from it: flasklab plan --from {folder} ...)")
    if any(point.status != "ok" for point in tuning.points):
        sys.exit(ExitCode.FAILED)
