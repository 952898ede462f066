"""Commands that read what runs wrote, never starting a server: servers, report, serve, compare, export."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
from rich.console import Console

from flasklab.cli.common import catalog, console, load_run, wide_console
from flasklab.cli.exits import ExitCode
from flasklab.cli.options import option
from flasklab.core import settings
from flasklab.core.catalog import lab_root
from flasklab.core.results import RESULTS_FILE, ResultsError
from flasklab.measure.interrupts import Terminated, terminate_raises
from flasklab.views.compare import compare_path, compare_runs, compare_table, comparison_json, save_compare
from flasklab.views.export import steps_csv, write_csv
from flasklab.views.live import Dashboard, LiveServer
from flasklab.views.report import write_report
from flasklab.views.slides import BrowserNotFoundError, write_slides
from flasklab.views.summary import catalog_json, catalog_markdown, catalog_table, print_results

# A view of a run judges it by the SLO it was made with (results.json records it); this option overrides it, and the
# page says so. Runs from before the record get the setting's default.
run_slo_option = option(
    settings.SLO_P95_MS,
    default=None,
    show_default=False,
    help=f"{settings.SLO_P95_MS.help[:-1]}, instead of the run's own (default: the SLO the run was made with; "
    f"{settings.SLO_P95_MS.default:g} for runs that did not record one).",
)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--markdown", is_flag=True, help="A Markdown table (the README's copy).")
def servers(as_json: bool, markdown: bool) -> None:
    """The catalog: every server of docker-compose.yml with its configured concurrency."""
    rows = list(catalog()[1].values())
    if as_json:
        click.echo(json.dumps(catalog_json(rows), indent=2))
    elif markdown:
        click.echo(catalog_markdown(rows))
    else:
        Console().print(catalog_table(rows))


@click.command()
@click.argument("run_dir", metavar="DIR", type=click.Path(path_type=Path))
@run_slo_option
@click.option("--png", is_flag=True, help="Also write each chart as a 1920x1080 slide, PNG and SVG, in DIR/slides/.")
@click.option(
    "--verbose",
    is_flag=True,
    help="Also print the run's tables in full: the headline, each flagged step's cause, the probe, every claim's "
    "evidence.",
)
def report(run_dir: Path, slo_p95_ms: float | None, png: bool, verbose: bool) -> None:
    """(Re)build DIR/report.html from DIR/results.json: one file that opens offline."""
    try:
        path = write_report(run_dir, slo_p95_ms)
    except ResultsError as error:
        raise click.BadParameter(str(error), param_hint="DIR") from error
    if verbose:
        print_results(wide_console(), load_run(run_dir, "DIR"), verbose=True)
    click.echo(path)
    if png:
        try:
            slides = write_slides(run_dir, slo_p95_ms)
        except BrowserNotFoundError as error:
            console.print(f"slides not written: {error}", style="red", markup=False, soft_wrap=True)
            sys.exit(ExitCode.USAGE)
        for slide in slides:
            click.echo(slide)


def start_dashboard(dashboard: Dashboard, host: str, port: int, option_name: str) -> LiveServer:
    """The live dashboard's server, serving, or exit 2 when its address cannot be bound."""
    try:
        server = LiveServer(dashboard, host, port)
    except OSError as error:
        raise click.BadParameter(
            f"cannot serve on {host}:{port} ({error.strerror or error}); choose another port (0: any free one)",
            param_hint=option_name,
        ) from error
    if host not in ("127.0.0.1", "localhost", "::1"):
        console.print(f"[yellow]the dashboard listens on {host}: beyond this machine's loopback, on purpose?[/]")
    return server.__enter__()


def serve_until_stopped(server: LiveServer, what: str) -> None:
    """Keep serving until Ctrl-C (or SIGTERM), then close the server."""
    console.print(f"dashboard: {server.url} {what}; Ctrl-C to stop serving")
    try:
        with terminate_raises():
            while True:
                time.sleep(3600)
    except (KeyboardInterrupt, Terminated):
        pass
    finally:
        server.close()


@click.command()
@click.argument("folder", metavar="[DIR]", required=False, type=click.Path(path_type=Path))
@option(settings.DASHBOARD_HOST)
@option(settings.DASHBOARD_PORT)
@option(settings.LOCUST_URL)
@run_slo_option
def serve(folder: Path | None, host: str, port: int, locust_url: str | None, slo_p95_ms: float | None) -> None:
    """The live dashboard of DIR (default: results/): every run in it, updating while runs write; Ctrl-C stops."""
    folder = folder or lab_root() / "results"
    if not folder.is_dir():
        raise click.BadParameter(f"{folder} is not a folder: pass a run folder or the results folder", param_hint="DIR")
    if locust_url and not locust_url.startswith(("http://127.0.0.1:", "http://localhost:")):
        raise click.BadParameter("a link on this machine only: http://127.0.0.1:PORT/", param_hint="--locust-url")
    single = (folder / RESULTS_FILE).is_file()
    server = start_dashboard(Dashboard(folder, single, slo_p95_ms, locust_url), host, port, "--port")
    serve_until_stopped(server, f"shows {'the run' if single else 'the runs'} in {folder}")


@click.command()
@click.argument("dir_a", metavar="DIR_A", type=click.Path(path_type=Path))
@click.argument("dir_b", metavar="DIR_B", type=click.Path(path_type=Path))
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="The page to write (default: DIR_B/compare.html)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison rows as JSON instead of a table.")
def compare(dir_a: Path, dir_b: Path, out: Path | None, as_json: bool) -> None:
    """Run B against run A: per server and scenario, the change in peak rps and p95, real or within noise."""
    a, b = load_run(dir_a, "DIR_A"), load_run(dir_b, "DIR_B")
    rows = compare_runs(a, b)
    path = save_compare(a, b, out or compare_path(dir_b))
    if as_json:
        click.echo(json.dumps(comparison_json(rows), indent=2))
    else:
        wide_console().print(compare_table(rows))
    console.print(f"compare: {path}")


@click.command()
@click.argument("run_dir", metavar="DIR", type=click.Path(path_type=Path))
@click.option("--stdout", "to_stdout", is_flag=True, help="Print the CSV instead of writing DIR/steps.csv.")
def export(run_dir: Path, to_stdout: bool) -> None:
    """Every step of DIR/results.json as CSV (DIR/steps.csv), for a spreadsheet of your own."""
    if to_stdout:
        click.echo(steps_csv(load_run(run_dir, "DIR")), nl=False)
        return
    try:
        click.echo(write_csv(run_dir))
    except ResultsError as error:
        raise click.BadParameter(str(error), param_hint="DIR") from error
