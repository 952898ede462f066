"""The flasklab command line: servers, run, probe, tune, report, serve, compare, export and plan.

One module per group of commands: ``measure`` (run, probe, tune: they start servers), ``views`` (servers, report,
serve, compare, export: they read what runs wrote) and ``planning`` (plan and its --verify). Options that are
settings are built from the settings table (``options``); what the commands share is in ``common``.

Exit codes (``exits.ExitCode``): 0 success; 1 the run finished but a target failed, or it stopped because its files
could not be written (a full disk: results.json keeps every step saved before); 2 bad usage or input (the message
lists the valid choices; a run folder that cannot be written is one); 130 interrupted by SIGINT, 143 by SIGTERM, at
any point (results kept, the report written, every server stopped).
"""

from __future__ import annotations

import click

from flasklab.cli.common import console, latest_run, print_next
from flasklab.cli.measure import probe, run
from flasklab.cli.planning import plan
from flasklab.cli.tuning import tune
from flasklab.cli.views import compare, export, report, serve, servers
from flasklab.core.catalog import lab_root
from flasklab.core.settings import ENVIRONMENT_ONLY, SettingError


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, invoke_without_command=True)
@click.version_option(package_name="flasklab")
@click.pass_context
def main(context: click.Context) -> None:
    """How many concurrent requests does a Flask app handle? Measured, server by server."""
    for setting in ENVIRONMENT_ONLY:  # read later, when a target starts: a bad value is refused now
        try:
            setting.value()
        except SettingError as error:
            raise click.UsageError(str(error)) from None
    if context.invoked_subcommand is None:  # no command: the commands, and what to do with the latest run
        click.echo(context.get_help())
        latest = latest_run(lab_root())
        if latest is None:
            console.print("No run yet: start with  flasklab run --profile quick", markup=False)
        else:
            console.print(f"Latest run: {latest}", markup=False)
        print_next(latest)


for command in (servers, run, tune, probe, report, serve, compare, export, plan):
    main.add_command(command)
