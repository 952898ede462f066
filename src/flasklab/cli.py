"""The flasklab command line: servers, run, probe, report, serve (and compare, export, plan).

Exit codes: 0 success; 1 the run finished but a target failed, or it stopped because its files could not be written
(a full disk: results.json keeps every step saved before); 2 bad usage or input (the message lists the valid choices;
a run folder that cannot be written is one); 130 interrupted by SIGINT, 143 by SIGTERM, at any point (results kept,
the report written, every server stopped).
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from flasklab.backends import BACKENDS, DEFAULT_BACKEND, EXTERNAL
from flasklab.backends.base import TargetFailed
from flasklab.backends.docker import app_build_settings
from flasklab.backends.external import TargetURLError, parse_target
from flasklab.backends.local import Environments
from flasklab.backends.network import container_budget
from flasklab.catalog import CatalogError, Scenario, Server, lab_root, load_scenarios, load_servers
from flasklab.compare import compare_path, compare_runs, compare_table, comparison_json, save_compare
from flasklab.export import steps_csv, write_csv
from flasklab.interrupts import held_interrupts
from flasklab.live import Dashboard, LiveServer, locust_link
from flasklab.load import locust_workers
from flasklab.plan import (
    DEFAULT_MAX_UTILISATION,
    MAX_MS,
    MAX_RPS,
    Plan,
    PlanError,
    PlanRequest,
    budget_cpus,
    plan_capacity,
    plan_json,
    plan_table,
    plan_tuning,
    reason_lines,
    summary_lines,
)
from flasklab.report import write_report
from flasklab.results import RESULTS_FILE, Results, ResultsError, Step, load_results
from flasklab.runner import Run, Sweep, new_run_id
from flasklab.settings import (
    DASHBOARD_HOST,
    DASHBOARD_PORT,
    DEFAULT_PROFILE,
    DEFAULT_SLO_P95_MS,
    LOCUST_WEB_DEFAULT,
    LOCUST_WEB_VARIABLE,
    PROFILES,
    Profile,
    locust_web,
)
from flasklab.slides import BrowserNotFoundError, write_slides
from flasklab.summary import catalog_markdown, catalog_table, print_results
from flasklab.tune import (
    TuneError,
    Tuning,
    choose_setting,
    load_tuning,
    measured_point,
    setting,
    tuning_table,
    write_tuning,
)
from flasklab.userapp import UserAppError, check_import, check_locustfile, parse_app
from flasklab.verify import (
    Verification,
    VerifyError,
    chosen_option,
    prediction_meta,
    share_rps,
    verdict,
    verdict_line,
    verification_table,
    verify_profile,
)

console = Console(stderr=True)
FC = TypeVar("FC", bound=Callable[..., Any])
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


def save_report(run_dir: Path, slo_p95_ms: float) -> int | None:
    """DIR/report.html from DIR/results.json; a report that cannot be built is said, never fatal to a run.

    SIGINT and SIGTERM wait until the report is written: it returns the signal that arrived meanwhile, if any.
    """
    with held_interrupts(redeliver=False) as held:
        try:
            console.print(f"report: {write_report(run_dir, slo_p95_ms)}")
        except (ResultsError, OSError) as error:
            console.print(f"[red]report not written: {error}[/]")
    return held[0] if held else None


def execute(sweep: Sweep, backend_name: str, root: Path, slo_p95_ms: float = DEFAULT_SLO_P95_MS) -> Results:
    """Run the sweep with a progress bar on the named backend ("external" for --target servers).

    SIGINT, SIGTERM or a write error stop it with the partial results and their report written.
    """
    factory = EXTERNAL if backend_name == EXTERNAL.name else BACKENDS[backend_name]
    with_app = {"app": sweep.user_app} if sweep.user_app else {}
    backend = factory(root, sweep.out / "logs", console.print, **with_app)
    total = len(sweep.servers) * len(sweep.scenarios) * len(sweep.loads) * sweep.rounds
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
    except OSError as error:  # a full disk, a folder gone read-only: every server is stopped by now
        console.print(f"the run stopped: {error}", style="red", markup=False, soft_wrap=True)
        console.print(f"results.json in {sweep.out} keeps every step saved before", markup=False, soft_wrap=True)
        save_report(sweep.out, slo_p95_ms)
        sys.exit(EXIT_FAILED)
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


def _not_nan(ctx: click.Context, param: click.Parameter, value: float) -> float:
    """FloatRange lets NaN through (every comparison with it is false)."""
    if value != value:
        raise click.BadParameter("nan is not a number of milliseconds")
    return value


slo_option = click.option(
    "--slo-p95-ms",
    type=click.FloatRange(min=0, max=MAX_MS, min_open=True),
    callback=_not_nan,
    default=DEFAULT_SLO_P95_MS,
    show_default=True,
    envvar="LAB_SLO_P95_MS",
    help="Latency objective of the report's capacity table (p95, ms).",
)


MAX_RATE = 100_000


def parse_rates(text: str) -> tuple[int, ...]:
    """--rates: whole requests per second, 1 to MAX_RATE, in increasing order."""
    try:
        rates = tuple(int(part) for part in text.split(","))
    except ValueError:
        rates = ()
    if not rates or any(not 1 <= rate <= MAX_RATE for rate in rates) or list(rates) != sorted(set(rates)):
        raise click.BadParameter(
            f"{text!r}: give increasing whole requests per second from 1 to {MAX_RATE:,}, e.g. 10,40,160",
            param_hint="--rates",
        )
    return rates


def start_dashboard(dashboard: Dashboard, host: str, port: int, option: str) -> LiveServer:
    """The live dashboard's server, or exit 2 when its address cannot be bound."""
    try:
        server = LiveServer(dashboard, host, port)
    except OSError as error:
        raise click.BadParameter(
            f"cannot serve on {host}:{port} ({error.strerror or error}); choose another port (0: any free one)",
            param_hint=option,
        ) from error
    if host not in ("127.0.0.1", "localhost", "::1"):
        console.print(f"[yellow]the dashboard listens on {host}: beyond this machine's loopback, on purpose?[/]")
    return server.__enter__()


def port_is_free(address: str) -> bool:
    host, _, port = address.rpartition(":")
    with socket.socket() as probe:
        try:
            probe.bind((host, int(port)))
        except OSError:
            return False
    return True


def serve_until_stopped(server: LiveServer, what: str) -> None:
    """Keep serving until Ctrl-C (or SIGTERM)."""
    console.print(f"dashboard: {server.url} {what}; Ctrl-C to stop serving")
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        while True:
            time.sleep(3600)
    except (KeyboardInterrupt, Terminated):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.close()


def dashboard_port_option(name: str, text: str) -> Callable[[FC], FC]:
    return click.option(
        name,
        type=click.IntRange(0, 65535),
        default=DASHBOARD_PORT,
        show_default=True,
        envvar="LAB_DASHBOARD_PORT",
        help=text,
    )


def bring_your_own(
    sweep: Sweep,
    backend: str,
    root: Path,
    spec: str | None,
    path: Path | None,
    requirements: Path | None,
    locustfile: Path | None,
) -> None:
    """--app and --locustfile, checked before any server starts (exit 2 naming the problem), put into the sweep."""
    if locustfile is None:
        raise click.UsageError("--app needs --locustfile: your app's own traffic (a plain locustfile)")
    if spec is None and (path or requirements):
        raise click.UsageError("--app-path and --requirements go with --app MODULE:APP")
    if spec is not None and backend not in ("local", "docker"):
        raise click.UsageError(
            "--app runs on the local or docker backend; the compose lab's servers run the images built with "
            "LAB_APP_DIR and APP_MODULE (see the README)"
        )
    try:
        sweep.scenarios = [check_locustfile(locustfile)]
        if spec is None:
            return
        app = parse_app(spec, path, requirements)
        if backend == "docker":
            app_build_settings(root, app)  # the app must be inside the build context
        environments = Environments(root, console.print)
        for server_requirements in sorted({server.requirements for server in sweep.servers}):
            check_import(app, environments.ensure(server_requirements, app.requirements) / "bin" / "python")
    except UserAppError as error:
        raise click.BadParameter(str(error), param_hint="--app" if spec else "--locustfile") from error
    except TargetFailed as error:  # the app's requirements could not be installed
        raise click.BadParameter(str(error), param_hint="--requirements") from error
    sweep.user_app = app


def _out_folder(out: Path | None, root: Path) -> Path:
    folder = out or root / "results" / new_run_id()
    if (folder / "results.json").exists():
        raise click.BadParameter(f"{folder} already holds a results.json; choose a new folder", param_hint="--out")
    _check_writable(folder)
    return folder


def _check_writable(folder: Path) -> None:
    """Exit 2 before any server starts when the run folder cannot be written (tried at its nearest existing part)."""
    existing = next(part for part in (folder, *folder.parents) if part.exists())
    try:
        if not existing.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "a file, not a folder")
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as error:
        raise click.BadParameter(
            f"{folder} cannot be written ({existing}: {error.strerror or error}); choose another folder",
            param_hint="--out",
        ) from error


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
    "--rounds",
    type=click.IntRange(1, 20),
    default=1,
    show_default=True,
    envvar="LAB_ROUNDS",
    help="Measure every target this many times, servers and scenarios shuffled each round; steps get their spread.",
)
@click.option(
    "--seed",
    type=click.IntRange(0, 2**31 - 1),
    help="Seed of the rounds' shuffle and the open model's Poisson arrivals (default: random, recorded).",
)
@click.option(
    "--model",
    type=click.Choice(["closed", "open"]),
    default="closed",
    show_default=True,
    envvar="LAB_MODEL",
    help="closed: users that wait for each answer (what can it serve?); open: requests due at fixed rates, latency "
    "from the due time, no coordinated omission (how does it answer the traffic I expect?).",
)
@click.option(
    "--arrivals",
    type=click.Choice(["poisson", "uniform"]),
    default=None,
    envvar="LAB_ARRIVALS",
    help="The open model's arrivals: poisson (default: independent users, seeded by --seed) or uniform (evenly "
    "spaced, which queues less than real traffic).",
)
@click.option(
    "--rates",
    metavar="R1,R2",
    envvar="LAB_RATES",
    help="The open model's requests per second, step by step (default: the profile's, e.g. quick 10,40,160).",
)
@click.option(
    "--processes",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    envvar="LAB_PROCESSES",
    help="Locust processes on this machine, pinned with the generator (above 1: a master and local workers).",
)
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
@click.option(
    "--serve",
    is_flag=True,
    help="Serve the live dashboard while the run goes on (and its report after it, until Ctrl-C).",
)
@dashboard_port_option("--serve-port", "Port of the live dashboard on 127.0.0.1 (0: any free port).")
@click.option("--app", "app_spec", metavar="MODULE:APP", envvar="LAB_APP", help="Your WSGI app instead of the lab's.")
@click.option(
    "--app-path",
    type=click.Path(file_okay=False, path_type=Path),
    help="The folder your app is imported from (default: the current folder).",
)
@click.option(
    "--requirements",
    "app_requirements",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Your app's requirements, installed beside each server's (cached).",
)
@click.option(
    "--locustfile",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Your own traffic: a plain locustfile (the lab applies its load shapes around it).",
)
def run(
    backend: str,
    server_names: str | None,
    scenario_names: str | None,
    profile_name: str,
    no_probe: bool,
    rounds: int,
    seed: int | None,
    model: str,
    arrivals: str | None,
    rates: str | None,
    processes: int,
    targets: tuple[str, ...],
    allow_remote: bool,
    slo_p95_ms: float,
    out: Path | None,
    as_json: bool,
    serve: bool,
    serve_port: int,
    app_spec: str | None,
    app_path: Path | None,
    app_requirements: Path | None,
    locustfile: Path | None,
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
        rounds=rounds,
        seed=seed,
        processes=processes,
        model=model,
        arrivals=arrivals or "poisson",
    )
    if arrivals is not None and model != "open":
        raise click.UsageError("--arrivals shapes the open model's requests: add --model open")
    if rates is not None:
        if model != "open":
            raise click.UsageError("--rates sets the open model's load: add --model open")
        sweep.profile = profile.with_rates(parse_rates(rates))
    if model == "open" and (processes > 1 or locust_workers() > 0):
        raise click.UsageError("the open model runs in one Locust process: drop --processes (or the workers)")
    if processes > 1 and locust_workers() > 0:
        raise click.UsageError("--processes is for this machine; the compose lab scales with its locust-worker service")
    if app_spec or locustfile or app_path or app_requirements:
        if targets or scenario_names:
            raise click.UsageError("--app/--locustfile bring your own app and traffic: drop --target and --scenarios")
        bring_your_own(sweep, backend, root, app_spec, app_path, app_requirements, locustfile)
    console.print(
        f"flasklab run: {len(sweep.servers)} servers x {len(sweep.scenarios)} scenarios"
        f"{f' x {rounds} rounds' if rounds > 1 else ''}, profile {profile.name}, backend {backend} → {sweep.out}"
    )
    dashboard = None
    if serve:
        if not locust_web() and port_is_free(LOCUST_WEB_DEFAULT):
            os.environ[LOCUST_WEB_VARIABLE] = LOCUST_WEB_DEFAULT  # read by each target's Locust process
        live = Dashboard(sweep.out, single=True, slo_p95_ms=slo_p95_ms, locust_url=locust_link(locust_web()))
        dashboard = start_dashboard(live, DASHBOARD_HOST, serve_port, "--serve-port")
        console.print(f"live dashboard: {dashboard.url}")
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        results = execute(sweep, backend, root, slo_p95_ms)
        if held := save_report(sweep.out, slo_p95_ms):
            raise KeyboardInterrupt if held == signal.SIGINT else Terminated
        if dashboard is None:
            _finish(results, as_json)
            return
    except (KeyboardInterrupt, Terminated) as interruption:  # after the sweep: results and report are complete
        console.print(f"[yellow]interrupted: the run is complete in {sweep.out}[/]")
        sys.exit(EXIT_SIGINT if isinstance(interruption, KeyboardInterrupt) else EXIT_SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, previous)
    try:
        _finish(results, as_json)
    finally:
        serve_until_stopped(dashboard, "now shows the run's report")


def parse_values(text: str | None) -> tuple[int, ...]:
    """--values: whole numbers, comma-separated."""
    if not text:
        return ()
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError as error:
        raise click.BadParameter(f"{text!r}: whole numbers separated by commas, e.g. 2,4,8,16") from error


@main.command()
@click.argument("server_name", metavar="SERVER")
@backend_option
@click.option("--setting", "variable", metavar="VARIABLE", help="The worker setting to vary (default: the server's).")
@click.option("--values", metavar="A,B", help="Its values (default: 0.5x, 1x, 2x and 4x the configured one).")
@click.option("--scenario", "scenario_name", default="io", show_default=True, help="The scenario to measure.")
@click.option(
    "--profile", "profile_name", default=DEFAULT_PROFILE, show_default=True, help=f"One of {', '.join(PROFILES)}."
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
    scenario = catalog_scenarios[choose("scenario", scenario_name, catalog_scenarios, [])[0]]
    profile = PROFILES[choose("profile", profile_name, PROFILES, [])[0]]
    try:
        name, chosen, configured = choose_setting(root, server_name, variable, parse_values(values))
    except TuneError as error:
        raise click.BadParameter(str(error), param_hint="--setting/--values") from error
    folder = _out_folder(out, root)
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
    for value in chosen:
        with setting(name, value):
            server = load_servers(root)[server_name]
            run_dir = folder / f"{name}={value}"
            sweep = Sweep(servers=[server], scenarios=[scenario], profile=profile, out=run_dir, probe=False)
            results = execute(sweep, backend, root, slo_p95_ms)
        save_report(run_dir, slo_p95_ms)
        tuning.budget = results.meta.budget
        tuning.points.append(measured_point(value, run_dir, results, slo_p95_ms))
        write_tuning(tuning, folder)
    if as_json:
        click.echo(tuning.model_dump_json(indent=2))
    else:
        Console().print(tuning_table(tuning))
    console.print(f"tune: {folder / 'tune.json'}  (plan from it: flasklab plan --from {folder} ...)")
    if any(point.status != "ok" for point in tuning.points):
        sys.exit(EXIT_FAILED)


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
@click.option("--png", is_flag=True, help="Also write each chart as a 1920x1080 slide, PNG and SVG, in DIR/slides/.")
def report(run_dir: Path, slo_p95_ms: float, png: bool) -> None:
    """(Re)build DIR/report.html from DIR/results.json: one file that opens offline."""
    try:
        path = write_report(run_dir, slo_p95_ms)
    except ResultsError as error:
        raise click.BadParameter(str(error), param_hint="DIR") from error
    click.echo(path)
    if png:
        try:
            slides = write_slides(run_dir, slo_p95_ms)
        except BrowserNotFoundError as error:
            console.print(f"slides not written: {error}", style="red", markup=False, soft_wrap=True)
            sys.exit(EXIT_USAGE)
        for slide in slides:
            click.echo(slide)


@main.command()
@click.argument("folder", metavar="[DIR]", required=False, type=click.Path(path_type=Path))
@click.option(
    "--host",
    default=DASHBOARD_HOST,
    show_default=True,
    envvar="LAB_DASHBOARD_HOST",
    help="Address to listen on; anything but loopback exposes the dashboard (the compose lab publishes 127.0.0.1).",
)
@dashboard_port_option("--port", "Port (0: any free port).")
@click.option(
    "--locust-url", envvar="LAB_LOCUST_URL", help="Address of Locust's web UI to link to (the compose lab's 8089)."
)
@slo_option
def serve(folder: Path | None, host: str, port: int, locust_url: str | None, slo_p95_ms: float) -> None:
    """The live dashboard of DIR (default: results/): every run in it, updating while runs write; Ctrl-C stops."""
    folder = folder or lab_root() / "results"
    if not folder.is_dir():
        raise click.BadParameter(f"{folder} is not a folder: pass a run folder or the results folder", param_hint="DIR")
    if locust_url and not locust_url.startswith(("http://127.0.0.1:", "http://localhost:")):
        raise click.BadParameter("a link on this machine only: http://127.0.0.1:PORT/", param_hint="--locust-url")
    single = (folder / RESULTS_FILE).is_file()
    server = start_dashboard(Dashboard(folder, single, slo_p95_ms, locust_url), host, port, "--port")
    serve_until_stopped(server, f"shows {'the run' if single else 'the runs'} in {folder}")


def _load_run(location: Path, param_hint: str) -> Results:
    """A run's results, or exit 2 naming the argument and what is wrong with its file."""
    try:
        return load_results(location)
    except ResultsError as error:
        raise click.BadParameter(str(error), param_hint=param_hint) from error


@main.command()
@click.argument("dir_a", metavar="DIR_A", type=click.Path(path_type=Path))
@click.argument("dir_b", metavar="DIR_B", type=click.Path(path_type=Path))
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="The page to write (default: DIR_B/compare.html)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison rows as JSON instead of a table.")
def compare(dir_a: Path, dir_b: Path, out: Path | None, as_json: bool) -> None:
    """Run B against run A: per server and scenario, the change in peak rps and p95, real or within noise."""
    a, b = _load_run(dir_a, "DIR_A"), _load_run(dir_b, "DIR_B")
    rows = compare_runs(a, b)
    path = save_compare(a, b, out or compare_path(dir_b))
    if as_json:
        click.echo(json.dumps(comparison_json(rows), indent=2))
    else:
        terminal = Console()  # piped, rich would squeeze the table into 80 columns
        (terminal if terminal.is_terminal else Console(width=160)).print(compare_table(rows))
    console.print(f"compare: {path}")


@main.command()
@click.argument("run_dir", metavar="DIR", type=click.Path(path_type=Path))
@click.option("--stdout", "to_stdout", is_flag=True, help="Print the CSV instead of writing DIR/steps.csv.")
def export(run_dir: Path, to_stdout: bool) -> None:
    """Every step of DIR/results.json as CSV (DIR/steps.csv), for a spreadsheet of your own."""
    if to_stdout:
        click.echo(steps_csv(_load_run(run_dir, "DIR")), nl=False)
        return
    try:
        click.echo(write_csv(run_dir))
    except ResultsError as error:
        raise click.BadParameter(str(error), param_hint="DIR") from error


@main.command()
@click.option(
    "--rps", type=click.FloatRange(0, MAX_RPS, min_open=True), required=True, help="Requests per second to serve."
)
@click.option(
    "--p95-ms",
    type=click.FloatRange(0, MAX_MS, min_open=True),
    required=True,
    help="Latency objective: 95 % of requests answered within this many ms.",
)
@click.option("--io-ms", type=click.FloatRange(0, MAX_MS), help="Blocking I/O per request, ms (what `io` sleeps).")
@click.option(
    "--cpu-ms",
    type=click.FloatRange(0, MAX_MS),
    help="CPU per request, ms; 0.5 ms of overhead is assumed on top (without it: --from's measurement, else 0).",
)
@click.option(
    "--from",
    "run_dir",
    metavar="DIR",
    type=click.Path(path_type=Path),
    help="A run folder (each server planned from its measured service time and curves), or a tuning folder "
    "(flasklab tune: the worker count per instance chosen from measurement).",
)
@click.option(
    "--max-utilisation",
    type=click.FloatRange(0, 1, min_open=True),
    default=DEFAULT_MAX_UTILISATION,
    show_default=True,
    help="The most an instance's slots may be busy at its planned load.",
)
@click.option(
    "--mem-per-instance",
    "mem_per_instance",
    type=click.FloatRange(0, 10**7, min_open=True),
    metavar="MIB",
    help="Memory budget of one instance, MiB: options measured above it are not offered.",
)
@click.option("--explain", is_flag=True, help="Also print every option's reasoning and the shared numbers.")
@click.option("--verify", is_flag=True, help="Run one instance of the recommended option at its share, and judge.")
@click.option("--verify-server", metavar="NAME", help="With --verify: that server's option instead.")
@click.option(
    "--verify-window-s",
    type=click.FloatRange(1, 3600),
    help="With --verify: the measurement window (default: long enough for about 2,000 requests, 20 s to 300 s).",
)
@click.option("--seed", type=click.IntRange(0, 2**31 - 1), help="With --verify: seed of the Poisson arrivals.")
@backend_option
@out_option
@click.option("--json", "as_json", is_flag=True, help="Print the request, the options and the notes as JSON.")
def plan(
    rps: float,
    p95_ms: float,
    io_ms: float | None,
    cpu_ms: float | None,
    run_dir: Path | None,
    max_utilisation: float,
    mem_per_instance: float | None,
    explain: bool,
    verify: bool,
    verify_server: str | None,
    verify_window_s: float | None,
    seed: int | None,
    backend: str,
    out: Path | None,
    as_json: bool,
) -> None:
    """Workers per instance and instances per server for R rps within a p95, the recommended one first.

    From a run's measured service time (an M/G/c queue with Poisson arrivals) or, without one, Little's law and a
    queue model. A p95 at or below the work of one request cannot be met: that exits 2, as other bad input does.
    --verify runs the recommended option and exits 0 when the objective held, 1 when it did not.
    """
    if io_ms is None and cpu_ms is None and run_dir is None:
        raise click.UsageError(
            "say what a request does: --io-ms (blocking I/O, ms) and/or --cpu-ms (CPU, ms), or --from DIR to take "
            "the work from a run's io (or cpu) scenario"
        )
    if (verify_server or verify_window_s or seed is not None or out) and not verify:
        raise click.UsageError("--verify-server, --verify-window-s, --seed and --out go with --verify")
    root, catalog_servers, catalog_scenarios = catalog()
    try:
        request = PlanRequest(rps, p95_ms, io_ms, cpu_ms, max_utilisation, mem_per_instance)
        cpus = budget_cpus(container_budget(root)[0])
        tuning = load_tuning(run_dir) if run_dir is not None and run_dir.is_dir() else None
        if tuning is not None and run_dir is not None:
            runs = {f"{tuning.setting}={p.value}": _load_run(run_dir / p.run_dir, "--from") for p in tuning.points}
            result = plan_tuning(request, catalog_servers, cpus, runs)
        else:
            run = _load_run(run_dir, "--from") if run_dir is not None else None
            result = plan_capacity(request, catalog_servers, cpus, run)
    except PlanError as error:
        raise click.BadParameter(str(error), param_hint=error.param) from error
    except CatalogError as error:
        raise click.BadParameter(str(error), param_hint="--from") from error
    verification = None
    if verify:
        verification = verify_plan(result, verify_server, verify_window_s, seed, out, root, catalog_scenarios, backend)
    if as_json:
        document = plan_json(result) | ({"verification": asdict(verification)} if verification else {})
        click.echo(json.dumps(document, indent=2))
    else:
        print_plan(result, explain, verification)
    if verification is not None and not verification.held:
        sys.exit(EXIT_FAILED)


def print_plan(result: Plan, explain: bool, verification: Verification | None) -> None:
    terminal = Console()  # piped, rich would squeeze the table into 80 columns
    terminal = terminal if terminal.is_terminal else Console(width=160)
    terminal.print(plan_table(result))
    for line in summary_lines(result):
        terminal.print(line, markup=False, highlight=False)
    if explain:
        for line in reason_lines(result):
            terminal.print(f"- {line}", markup=False, highlight=False)
        for note in result.notes:
            terminal.print(f"- {note}", markup=False, highlight=False)
    if verification is not None:
        terminal.print(verification_table(verification))
        terminal.print(verdict_line(verification), highlight=False)


def verify_plan(
    result: Plan,
    server_name: str | None,
    window_s: float | None,
    seed: int | None,
    out: Path | None,
    root: Path,
    scenarios: dict[str, Scenario],
    backend: str,
) -> Verification:
    """Run one instance of the chosen option at its share as Poisson arrivals; the prediction beside the measurement."""
    try:
        option = chosen_option(result, server_name)
    except VerifyError as error:
        raise click.BadParameter(str(error), param_hint="--verify-server" if server_name else "--verify") from error
    work = result.workload
    if work.scenario is None or work.scenario not in scenarios:
        raise click.UsageError("--verify runs a lab scenario: the request must be shaped like io, cpu or hello")
    rate = share_rps(result, option)
    variable, _, value = option.setting.partition("=")
    with setting(variable, int(value)) if variable and value.isdigit() else nullcontext():
        servers = load_servers(root)
        if option.server not in servers:
            raise click.BadParameter(
                f"{option.server} is not in the catalog: it cannot be started", param_hint="--verify"
            )
        sweep = Sweep(
            servers=[servers[option.server]],
            scenarios=[scenarios[work.scenario]],
            profile=verify_profile(rate, window_s),
            out=_out_folder(out, root),
            probe=False,
            params={work.scenario: {"ms": round(work.ms)}} if work.ms is not None else {},
            model="open",
            arrivals="poisson",
            seed=seed,
            prediction=prediction_meta(result, option, rate),
        )
        console.print(
            f"verify: {option.server} ({option.setting or option.shape}) at {rate} rps, Poisson arrivals, "
            f"{sweep.profile.window_s:g} s window → {sweep.out}"
        )
        run = execute(sweep, backend, root)
    save_report(sweep.out, result.request.p95_ms)
    return verdict(result, option, run, sweep.out)
