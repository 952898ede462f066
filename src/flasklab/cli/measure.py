"""Commands that start servers and load them: run, probe, tune."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import click
from rich.console import Console

from flasklab.cli.common import (
    backend_for,
    catalog,
    choose,
    console,
    execute,
    out_folder,
    print_next,
    save_report,
)
from flasklab.cli.exits import ExitCode
from flasklab.cli.options import backend_option, option, out_option, seed_option, servers_option, slo_option
from flasklab.cli.views import serve_until_stopped, start_dashboard
from flasklab.core import settings
from flasklab.core.catalog import Server
from flasklab.core.results import Results
from flasklab.core.settings import LOCUST_WEB_DEFAULT, PROFILES, Profile, locust_web
from flasklab.core.sweep import Sweep
from flasklab.core.userapp import UserAppError, check_locustfile, parse_app
from flasklab.measure.backends import EXTERNAL
from flasklab.measure.backends.base import Backend, TargetFailed
from flasklab.measure.backends.external import TargetURLError, parse_target
from flasklab.measure.interrupts import Terminated, terminate_raises
from flasklab.measure.load import locust_workers
from flasklab.views.live import Dashboard, LiveServer, locust_link, port_is_free
from flasklab.views.summary import print_results, probe_json


def catalog_servers_or_targets(
    catalog_servers: dict[str, Server],
    server_names: str | None,
    targets: tuple[str, ...],
    allow_remote: bool,
    default: tuple[str, ...] = (),
) -> list[Server]:
    """The servers to measure: the catalog's (--servers, else ``default``, else all) or those deployed elsewhere
    (--target)."""
    if not targets:
        if server_names is None and default:
            server_names = ",".join(default)  # checked like a selection: a profile naming a missing server exits 2
        return [catalog_servers[n] for n in choose("server", server_names, catalog_servers, list(catalog_servers))]
    if server_names:
        raise click.UsageError("--target and --servers exclude each other: measure the catalog or your URLs")
    try:
        return [parse_target(text, allow_remote) for text in targets]
    except TargetURLError as error:
        raise click.BadParameter(str(error), param_hint="--target") from error


def recycle(max_requests: int, jitter: int) -> None:
    """The recycling options, set where the catalog's commands read them (this process's environment, which the
    servers it starts inherit); a jitter without a limit exits 2."""
    if jitter and not max_requests:
        limit, spread = settings.MAX_REQUESTS.option, settings.MAX_REQUESTS_JITTER.option
        raise click.UsageError(f"{spread} spreads {limit}: set it too")
    os.environ[settings.MAX_REQUESTS.envvar] = str(max_requests)
    os.environ[settings.MAX_REQUESTS_JITTER.envvar] = str(jitter)


def with_reload(sweep: Sweep, reload_at_s: float) -> Sweep:
    """The sweep with a deploy under load in each window (--reload-at), which must fall inside the profile's window;
    exit 2 otherwise."""
    if not reload_at_s:
        return sweep
    window_s = sweep.profile.window_s
    if reload_at_s >= window_s:
        raise click.BadParameter(
            f"{reload_at_s:g} s is not inside the {sweep.profile.name} profile's {window_s:g} s window: give less",
            param_hint=settings.RELOAD_AT.option,
        )
    return replace(sweep, reload_at_s=reload_at_s)


def check_outlasted(sweep: Sweep, server_timeout_s: int) -> None:
    """A scenario whose long requests must outlast the servers' timeout (the timeout scenario's long_ms) exits 2 when
    they would not."""
    for scenario in sweep.scenarios:
        if (param := scenario.outlasts_server_timeout) is None:
            continue
        long_ms = scenario.params.get(param, 0)
        if long_ms <= server_timeout_s * 1000:
            raise click.BadParameter(
                f"the {scenario.name} scenario's long requests ({param}={long_ms} ms) must outlast the servers' own "
                f"timeout ({server_timeout_s} s): give {max(1, -(-long_ms // 1000) - 1)} or less",
                param_hint=settings.SERVER_TIMEOUT.option,
            )


def check_load_model(model: str, arrivals: str | None, rates: tuple[int, ...] | None, processes: int) -> None:
    """The options that go with the open model only, and the one Locust process it needs."""
    if arrivals is not None and model != "open":
        raise click.UsageError("--arrivals shapes the open model's requests: add --model open")
    if rates is not None and model != "open":
        raise click.UsageError("--rates sets the open model's load: add --model open")
    if model == "open" and (processes > 1 or locust_workers() > 0):
        raise click.UsageError("the open model runs in one Locust process: drop --processes (or the workers)")
    if processes > 1 and locust_workers() > 0:
        raise click.UsageError("--processes is for this machine; the compose lab scales with its locust-worker service")


def bring_your_own(
    sweep: Sweep,
    backend: Backend,
    spec: str | None,
    path: Path | None,
    requirements: Path | None,
    locustfile: Path | None,
) -> Sweep:
    """--app and --locustfile, checked before any server starts (exit 2 naming the problem): the sweep with them
    (unchanged without either).

    The backend checks the app where its servers will run it (Backend.prepare_app) and runs it from then on.
    """
    if not (spec or locustfile or path or requirements):
        return sweep
    if locustfile is None:
        raise click.UsageError("--app needs --locustfile: your app's own traffic (a plain locustfile)")
    if spec is None and (path or requirements):
        raise click.UsageError("--app-path and --requirements go with --app MODULE:APP")
    try:
        sweep = replace(sweep, scenarios=[check_locustfile(locustfile)])
        if spec is None:
            return sweep
        app = parse_app(spec, path, requirements)
        backend.prepare_app(app, sweep.servers)
    except UserAppError as error:
        raise click.BadParameter(str(error), param_hint="--app" if spec else "--locustfile") from error
    except TargetFailed as error:  # the app's requirements could not be installed
        raise click.BadParameter(str(error), param_hint="--requirements") from error
    return replace(sweep, user_app=app)


def serve_run(sweep: Sweep, port: int) -> LiveServer:
    """--serve: the run's live page on 127.0.0.1, and Locust's own web UI beside it when its port is free."""
    if not locust_web() and port_is_free(LOCUST_WEB_DEFAULT):
        os.environ[settings.LOCUST_WEB.envvar] = LOCUST_WEB_DEFAULT  # read by each target's Locust process
    live = Dashboard(sweep.out, single=True, locust_url=locust_link(locust_web()))  # the SLO: the run's own
    dashboard = start_dashboard(live, settings.DASHBOARD_HOST.default, port, "--serve-port")
    console.print(f"live dashboard: {dashboard.url}")
    return dashboard


def finish(results: Results, as_json: bool, out: Path) -> None:
    """The run's tables (or its results.json) and what to do next, and exit 1 when a target failed."""
    if as_json:
        click.echo(results.model_dump_json(indent=2))
    else:
        print_results(Console(), results)
    console.print(f"results: {results.meta.run_id} → results.json")
    if not as_json:
        print_next(out)
    if any(target.status == "failed" for target in results.targets):
        sys.exit(ExitCode.FAILED)


@contextmanager
def complete_unless_interrupted(out: Path) -> Iterator[None]:
    """SIGINT or SIGTERM after the sweep (results and report complete, or being written) exits 130 or 143 saying so;
    one during the sweep is execute()'s to handle."""
    try:
        with terminate_raises():
            yield
    except (KeyboardInterrupt, Terminated) as interruption:
        console.print(f"[yellow]interrupted: the run is complete in {out}[/]")
        sys.exit(ExitCode.of_interruption(interruption))


def report_or_interrupt(out: Path) -> None:
    """The run's report, finished whatever arrives; a signal that arrived meanwhile acts once it is written."""
    if held := save_report(out):
        raise KeyboardInterrupt if held == signal.SIGINT else Terminated


def planned_sweep(
    server_names: str | None,
    scenario_names: str | None,
    profile_name: str,
    targets: tuple[str, ...],
    allow_remote: bool,
    out: Path | None,
    *,
    rates: tuple[int, ...] | None,
    probe: bool,
    rounds: int,
    seed: int | None,
    processes: int,
    model: str,
    arrivals: str | None,
    connections: str,
    slo_p95_ms: float,
    steps_rule: str = "adaptive",
) -> tuple[Path, Sweep]:
    """The lab's folder and the sweep run's options ask for: the profile, its servers (the catalog's or --target's)
    and scenarios, the load model; exit 2 naming a bad option before any server starts."""
    root, catalog_servers, catalog_scenarios = catalog()
    profile: Profile = PROFILES[choose("profile", profile_name, PROFILES, [settings.PROFILE.default])[0]]
    default_scenarios = profile.ordered(name for name, s in catalog_scenarios.items() if profile.name in s.profiles)
    servers = catalog_servers_or_targets(catalog_servers, server_names, targets, allow_remote, profile.servers)
    scenarios = [catalog_scenarios[n] for n in choose("scenario", scenario_names, catalog_scenarios, default_scenarios)]
    sweep = Sweep(
        servers=servers,
        scenarios=scenarios,
        profile=profile.with_rates(rates) if rates is not None else profile,
        out=out_folder(out, root),
        probe=probe,
        rounds=rounds,
        seed=seed,
        processes=processes,
        model=model,
        arrivals=arrivals or "poisson",
        connections=connections,
        slo_p95_ms=slo_p95_ms,  # the SLO's one way in: results.json records it and every view reads it back
        steps_rule=steps_rule,  # type: ignore[arg-type]  # one of STEPS' choices: click checked it
    )
    check_load_model(model, arrivals, rates, processes)
    return root, sweep


def announce(sweep: Sweep, backend: Backend) -> None:
    """The run's first line: what it measures, with which profile and backend, and where its results go."""
    console.print(
        f"flasklab run: {len(sweep.servers)} servers x {len(sweep.scenarios)} scenarios"
        f"{f' x {sweep.rounds} rounds' if sweep.rounds > 1 else ''}, profile {sweep.profile.name}, "
        f"backend {backend.name}"
        f"{', a new connection per request' if sweep.connections == 'close' else ''} → {sweep.out}"
    )


def measure_and_report(sweep: Sweep, backend: Backend, as_json: bool, serve_port: int | None = None) -> None:
    """Say what the run measures, run the sweep, write its report and show its results; with a ``serve_port``
    (--serve), the live page on that port meanwhile and the report after it, until Ctrl-C."""
    announce(sweep, backend)
    dashboard = serve_run(sweep, serve_port) if serve_port is not None else None
    with complete_unless_interrupted(sweep.out):
        results = execute(sweep, backend)
        report_or_interrupt(sweep.out)
        if dashboard is None:
            finish(results, as_json, sweep.out)
            return
    try:
        finish(results, as_json, sweep.out)
    finally:
        serve_until_stopped(dashboard, "now shows the run's report")


@click.command()
@backend_option
@servers_option
@option(settings.SCENARIOS, "--scenarios", "scenario_names")
@option(settings.PROFILE, "--profile", "profile_name")
@click.option("--no-probe", is_flag=True, help="Skip the concurrency probe.")
@option(settings.ROUNDS)
@option(settings.STEPS, "--steps", "steps_rule")
@option(settings.MAX_REQUESTS)
@option(settings.MAX_REQUESTS_JITTER)
@option(settings.RELOAD_AT, "--reload-at", "reload_at_s")
@option(settings.SERVER_TIMEOUT, "--server-timeout", "server_timeout_s")
@seed_option
@option(settings.MODEL)
@option(settings.ARRIVALS)
@option(settings.RATES)
@option(settings.PROCESSES)
@option(settings.CONNECTIONS)
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
@option(settings.DASHBOARD_PORT, "--serve-port", help="Port of the live dashboard on 127.0.0.1 (0: any free port).")
@option(settings.APP, "--app", "app_spec")
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
    steps_rule: str,
    max_requests: int,
    max_requests_jitter: int,
    reload_at_s: float,
    server_timeout_s: int,
    seed: int | None,
    model: str,
    arrivals: str | None,
    rates: tuple[int, ...] | None,
    processes: int,
    connections: str,
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
    """Measure each server in turn under each scenario's step load; writes DIR/results.json.

    Why this is long: one parameter per option of the command (click passes each by name).
    """
    recycle(max_requests, max_requests_jitter)
    os.environ[settings.SERVER_TIMEOUT.envvar] = str(server_timeout_s)  # where the catalog's commands read it
    root, sweep = planned_sweep(
        server_names,
        scenario_names,
        profile_name,
        targets,
        allow_remote,
        out,
        rates=rates,
        probe=not no_probe,
        rounds=rounds,
        seed=seed,
        processes=processes,
        model=model,
        arrivals=arrivals,
        connections=connections,
        slo_p95_ms=slo_p95_ms,
        steps_rule=steps_rule,
    )
    sweep = with_reload(sweep, reload_at_s)
    check_outlasted(sweep, server_timeout_s)
    lab_backend = backend_for(EXTERNAL.name if targets else backend, root, sweep)
    if (app_spec or locustfile or app_path or app_requirements) and (targets or scenario_names):
        raise click.UsageError("--app/--locustfile bring your own app and traffic: drop --target and --scenarios")
    sweep = bring_your_own(sweep, lab_backend, app_spec, app_path, app_requirements, locustfile)
    measure_and_report(sweep, lab_backend, as_json, serve_port if serve else None)


@click.command()
@backend_option
@servers_option
@option(settings.CONNECTIONS)
@out_option
@click.option("--json", "as_json", is_flag=True, help="Print the probe and claims as JSON.")
def probe(backend: str, server_names: str | None, connections: str, out: Path | None, as_json: bool) -> None:
    """Measured maximum of requests served at once per server, beside the configured value, and the claims."""
    root, catalog_servers, _ = catalog()
    sweep = Sweep(
        servers=[catalog_servers[n] for n in choose("server", server_names, catalog_servers, list(catalog_servers))],
        scenarios=[],
        profile=PROFILES["quick"],
        out=out_folder(out, root),
        connections=connections,
    )
    results = execute(sweep, backend_for(backend, root, sweep))
    if as_json:
        click.echo(json.dumps(probe_json(results), indent=2))
    else:
        print_results(Console(), results)
    if any(probe.status == "failed" for probe in results.probe):
        sys.exit(ExitCode.FAILED)
