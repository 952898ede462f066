"""The flasklab command line: servers, run, probe.

Exit codes: 0 success; 1 the run finished but a target failed; 2 bad usage or input (the message lists the valid
choices); 130 interrupted by SIGINT, 143 by SIGTERM (results kept either way).
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from flasklab.backends import BACKENDS, DEFAULT_BACKEND, EXTERNAL
from flasklab.backends.external import TargetURLError, parse_target
from flasklab.catalog import CatalogError, Scenario, Server, lab_root, load_scenarios, load_servers
from flasklab.report import write_report
from flasklab.results import Results, ResultsError, Step
from flasklab.runner import Run, Sweep, new_run_id
from flasklab.settings import DEFAULT_PROFILE, DEFAULT_SLO_P95_MS, PROFILES, Profile
from flasklab.summary import catalog_markdown, catalog_table, print_results

console = Console(stderr=True)
EXIT_FAILED, EXIT_USAGE, EXIT_SIGINT, EXIT_SIGTERM = 1, 2, 130, 143


class Terminated(BaseException):
    """SIGTERM, turned into an exception so that cleanup runs and partial results are written."""


def _raise_terminated(signum: int, frame: FrameType | None) -> NoReturn:
    raise Terminated


def choose(kind: str, raw: str | None, valid: dict[str, Any], default: list[str]) -> list[str]:
    """A comma-separated selection, checked against the valid names (exit 2 naming them otherwise)."""
    if raw is None:
        return default
    chosen = [name.strip() for name in raw.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in valid]
    if unknown or not chosen:
        raise click.BadParameter(
            f"unknown {kind} {', '.join(map(repr, unknown)) or '(none given)'}; valid: {', '.join(valid)}",
            param_hint=f"--{kind}s" if kind != "profile" else "--profile",
        )
    return list(dict.fromkeys(chosen))


def catalog() -> tuple[Path, dict[str, Server], dict[str, Scenario]]:
    try:
        root = lab_root()
        return root, load_servers(root), load_scenarios(root)
    except CatalogError as error:
        raise click.UsageError(str(error)) from error


class ProgressObserver:
    """The run's live progress bar: which target, which step, how long is left."""

    def __init__(self, progress: Progress, total_steps: int) -> None:
        self.progress = progress
        self.task = progress.add_task("starting", total=total_steps)

    def target_started(self, server: str, scenario: str) -> None:
        self.progress.update(self.task, description=f"{server} · {scenario}")

    def window_started(self, server: str, scenario: str, users: int) -> None:
        self.progress.update(self.task, description=f"{server} · {scenario} · {users} users")

    def step_finished(self, server: str, scenario: str, step: Step) -> None:
        self.progress.advance(self.task)

    def message(self, text: str) -> None:
        self.progress.console.print(text)


def save_report(run_dir: Path, slo_p95_ms: float) -> None:
    """DIR/report.html from DIR/results.json; a report that cannot be built is said, never fatal to a run."""
    try:
        console.print(f"report: {write_report(run_dir, slo_p95_ms)}")
    except (ResultsError, OSError) as error:
        console.print(f"[red]report not written: {error}[/]")


def execute(sweep: Sweep, backend_name: str, root: Path, slo_p95_ms: float = DEFAULT_SLO_P95_MS) -> Results:
    """Run the sweep with a progress bar on the named backend ("external" for --target servers), then its report."""
    """Run the sweep with a progress bar; SIGINT/SIGTERM stop it with the partial results written."""
    factory = EXTERNAL if backend_name == EXTERNAL.name else BACKENDS[backend_name]
    backend = factory(root, sweep.out / "logs", console.print)
    total = len(sweep.servers) * len(sweep.scenarios) * len(sweep.profile.steps)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("steps"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        with Progress(*columns, console=console, transient=True) as progress:
            return Run(sweep, backend, ProgressObserver(progress, max(total, 1))).execute()
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted: partial results kept in {sweep.out / 'results.json'}[/]")
        save_report(sweep.out, slo_p95_ms)
        sys.exit(EXIT_SIGINT)
    except Terminated:
        console.print(f"[yellow]terminated: partial results kept in {sweep.out / 'results.json'}[/]")
        save_report(sweep.out, slo_p95_ms)
        sys.exit(EXIT_SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, previous)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="flasklab")
def main() -> None:
    """How many concurrent requests does a Flask app handle? Measured, server by server."""


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--markdown", is_flag=True, help="A Markdown table (the README's copy).")
def servers(as_json: bool, markdown: bool) -> None:
    """The catalog: every server of docker-compose.yml with its configured concurrency."""
    _, catalog_servers, _ = catalog()
    if as_json:
        rows = [
            {
                "name": s.name,
                "server": s.software,
                "worker_model": s.worker_model,
                "concurrency": s.concurrency,
                "requirements": s.requirements,
                "requires": list(s.requires),
                "note": s.note,
            }
            for s in catalog_servers.values()
        ]
        click.echo(json.dumps(rows, indent=2))
    elif markdown:
        click.echo(catalog_markdown(list(catalog_servers.values())))
    else:
        Console().print(catalog_table(list(catalog_servers.values())))


backend_option = click.option(
    "--backend",
    type=click.Choice(list(BACKENDS)),
    default=DEFAULT_BACKEND,
    show_default=True,
    envvar="LAB_BACKEND",
    help="Where the servers run: local processes, or (inside the compose lab) the services of its network.",
)
servers_option = click.option(
    "--servers", "server_names", metavar="A,B", envvar="LAB_SERVERS", help="Servers to measure (default: all)."
)
out_option = click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), help="Run folder (default: results/<run-id>)."
)


slo_option = click.option(
    "--slo-p95-ms",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_SLO_P95_MS,
    show_default=True,
    envvar="LAB_SLO_P95_MS",
    help="Latency objective of the report's capacity table (p95, ms).",
)


def _out_folder(out: Path | None, root: Path) -> Path:
    folder = out or root / "results" / new_run_id()
    if (folder / "results.json").exists():
        raise click.BadParameter(f"{folder} already holds a results.json; choose a new folder", param_hint="--out")
    return folder


def _finish(results: Results, as_json: bool) -> None:
    if as_json:
        click.echo(results.model_dump_json(indent=2))
    else:
        print_results(Console(), results)
    console.print(f"results: {results.meta.run_id} → results.json")
    if any(target.status == "failed" for target in results.targets):
        sys.exit(EXIT_FAILED)


@main.command()
@backend_option
@servers_option
@click.option(
    "--scenarios", "scenario_names", metavar="X,Y", envvar="LAB_SCENARIOS", help="Scenarios (default: the profile's)."
)
@click.option(
    "--profile",
    "profile_name",
    default=DEFAULT_PROFILE,
    show_default=True,
    envvar="LAB_PROFILE",
    metavar="NAME",
    help="; ".join(f"{p.name}: {p.help}" for p in PROFILES.values()),
)
@click.option("--no-probe", is_flag=True, help="Skip the concurrency probe.")
@click.option(
    "--target",
    "targets",
    multiple=True,
    metavar="NAME=URL",
    help="Measure a server deployed elsewhere instead of the catalog's (repeatable).",
)
@click.option("--allow-remote", is_flag=True, help="Let --target point beyond this machine's loopback.")
@slo_option
@out_option
@click.option("--json", "as_json", is_flag=True, help="Print results.json instead of tables.")
def run(
    backend: str,
    server_names: str | None,
    scenario_names: str | None,
    profile_name: str,
    no_probe: bool,
    targets: tuple[str, ...],
    allow_remote: bool,
    slo_p95_ms: float,
    out: Path | None,
    as_json: bool,
) -> None:
    """Measure each server in turn under each scenario's step load; writes DIR/results.json."""
    root, catalog_servers, catalog_scenarios = catalog()
    profile: Profile = PROFILES[choose("profile", profile_name, PROFILES, [DEFAULT_PROFILE])[0]]
    default_scenarios = [name for name, s in catalog_scenarios.items() if profile.name in s.profiles]
    if targets:
        if server_names:
            raise click.UsageError("--target and --servers exclude each other: measure the catalog or your URLs")
        try:
            servers = [parse_target(text, allow_remote) for text in targets]
        except TargetURLError as error:
            raise click.BadParameter(str(error), param_hint="--target") from error
        backend = EXTERNAL.name
    else:
        names = choose("server", server_names, catalog_servers, list(catalog_servers))
        servers = [catalog_servers[name] for name in names]
    sweep = Sweep(
        servers=servers,
        scenarios=[
            catalog_scenarios[n] for n in choose("scenario", scenario_names, catalog_scenarios, default_scenarios)
        ],
        profile=profile,
        out=_out_folder(out, root),
        probe=not no_probe,
    )
    console.print(
        f"flasklab run: {len(sweep.servers)} servers x {len(sweep.scenarios)} scenarios, profile "
        f"{profile.name}, backend {backend} → {sweep.out}"
    )
    results = execute(sweep, backend, root, slo_p95_ms)
    save_report(sweep.out, slo_p95_ms)
    _finish(results, as_json)


@main.command()
@backend_option
@servers_option
@out_option
@click.option("--json", "as_json", is_flag=True, help="Print the probe and claims as JSON.")
def probe(backend: str, server_names: str | None, out: Path | None, as_json: bool) -> None:
    """Measured maximum of requests served at once per server, beside the configured value, and the claims."""
    root, catalog_servers, _ = catalog()
    sweep = Sweep(
        servers=[catalog_servers[n] for n in choose("server", server_names, catalog_servers, list(catalog_servers))],
        scenarios=[],
        profile=PROFILES["quick"],
        out=_out_folder(out, root),
    )
    results = execute(sweep, backend, root)
    if as_json:
        click.echo(
            json.dumps(
                {"probe": [p.model_dump() for p in results.probe], "claims": [c.model_dump() for c in results.claims]},
                indent=2,
            )
        )
    else:
        print_results(Console(), results)
    if any(probe.status == "failed" for probe in results.probe):
        sys.exit(EXIT_FAILED)


@main.command()
@click.argument("run_dir", metavar="DIR", type=click.Path(path_type=Path))
@slo_option
def report(run_dir: Path, slo_p95_ms: float) -> None:
    """(Re)build DIR/report.html from DIR/results.json: one file that opens offline."""
    try:
        path = write_report(run_dir, slo_p95_ms)
    except ResultsError as error:
        raise click.BadParameter(str(error), param_hint="DIR") from error
    click.echo(path)
