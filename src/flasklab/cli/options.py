"""Command-line options built from the settings table (flasklab.core.settings), as gunicorn builds its from config.py.

Each option takes its flag, environment variable, default, parser and help text from one Setting; a command may
give it another flag (the dashboard's port is --serve-port under run, --port under serve) or another parameter
name, and never repeats what the table says.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from flasklab.core import settings
from flasklab.core.settings import Setting

FC = TypeVar("FC", bound=Callable[..., Any])


def option(setting: Setting[Any], *declarations: str, environment: bool = True, **overrides: Any) -> Callable[[FC], FC]:
    """The click option of ``setting``: its flag (or ``declarations``), LAB_ variable, default, type and help.

    ``environment=False`` leaves the variable out, for an option that reads only the command line; ``overrides``
    change what a command words differently (its help text).
    """
    attributes: dict[str, Any] = {
        "type": setting.type,
        "default": setting.default,
        "show_default": setting.default is not None,
        "metavar": setting.metavar,
        "help": setting.help,
        "envvar": setting.envvar if environment else None,
    }
    return click.option(*(declarations or (setting.option,)), **(attributes | overrides))


backend_option = option(settings.BACKEND)
servers_option = option(settings.SERVERS, "--servers", "server_names")
slo_option = option(settings.SLO_P95_MS)
out_option = click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), help="Run folder (default: results/<run-id>)."
)
seed_option = option(settings.SEED, environment=False)
