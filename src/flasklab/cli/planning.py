"""flasklab plan: workers per instance and instances per server for a load and an objective, and --verify."""

from __future__ import annotations

import json
import sys
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import click

from flasklab.cli.common import catalog, console, load_run, measure, out_folder, wide_console
from flasklab.cli.exits import ExitCode
from flasklab.cli.options import backend_option, option, out_option
from flasklab.core import settings
from flasklab.core.catalog import CatalogError, Scenario, load_servers
from flasklab.core.fleet_files import ACCESS_LOG, PIDS_FILE
from flasklab.core.settings import MAX_MS
from flasklab.measure.backends.base import server_budget
from flasklab.measure.backends.fleet import ComposeFleetBackend
from flasklab.measure.backends.local import cpu_split
from flasklab.measure.backends.network import container_budget
from flasklab.measure.fleet_cpu import InstanceCpu
from flasklab.planning.balance import Balance, BalanceError, load_balance, write_figures
from flasklab.planning.cluster import (
    BALANCE_METHODS,
    START_LAG_S,
    ClusterFigures,
    cluster_table,
    fleet_server,
    lost_moment,
    read_access_log,
    unfair,
    with_cpu,
)
from flasklab.planning.emit import EMIT_FORMATS, EmitError, fleet_of, production_option, write_fleet
from flasklab.planning.option import Option, Plan
from flasklab.planning.plan import budget_cpus, plan_capacity, plan_tuning
from flasklab.planning.render import plan_json, plan_table, reason_lines, summary_lines
from flasklab.planning.request import (
    DEFAULT_MAX_UTILISATION,
    MAX_MEMORY_MB,
    MAX_RPS,
    PlanError,
    PlanRequest,
)
from flasklab.planning.tune import load_tuning, setting
from flasklab.planning.verify import (
    VERIFY_WARMUP_S,
    Verification,
    VerifyError,
    chosen_option,
    prediction_line,
    verdict,
    verdict_line,
    verification_sweep,
    verification_table,
    verify_profile,
    whole_rps,
)


def make_plan(request: PlanRequest, run_dir: Path | None) -> Plan:
    """The plan from the catalog's budget and, with --from, a run folder's or a tuning folder's measurements."""
    root, catalog_servers, _ = catalog()
    cpus = budget_cpus(server_budget(root))
    tuning = load_tuning(run_dir) if run_dir is not None and run_dir.is_dir() else None
    if tuning is not None and run_dir is not None:
        runs = {f"{tuning.setting}={p.value}": load_run(run_dir / p.run_dir, "--from") for p in tuning.points}
        return plan_tuning(request, catalog_servers, cpus, runs)
    run = load_run(run_dir, "--from") if run_dir is not None else None
    return plan_capacity(request, catalog_servers, cpus, run)


@click.command()
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
    type=click.FloatRange(0, MAX_MEMORY_MB, min_open=True),
    metavar="MIB",
    help="Memory budget of one instance, MiB: options measured above it are not offered.",
)
@click.option(
    "--balance-from",
    metavar="DIR",
    type=click.Path(path_type=Path),
    help="A fleet verified with --cluster (its --out): where its measured imbalance is material, each instance is "
    "planned at the busiest one's share.",
)
@click.option("--explain", is_flag=True, help="Also print every option's reasoning and the shared numbers.")
@click.option("--verify", is_flag=True, help="Run one instance of the recommended option at its share, and judge.")
@click.option(
    "--verify-server", metavar="NAME", help="With --verify or --emit: that server's option instead of the recommended."
)
@click.option(
    "--cluster",
    is_flag=True,
    help="With --verify: run the whole fleet (every instance, local processes) behind nginx at the whole rate.",
)
@click.option(
    "--balance",
    type=click.Choice(BALANCE_METHODS),
    help="With --cluster: nginx's balancing over the instances (default round-robin).",
)
@click.option(
    "--lose-one",
    is_flag=True,
    help="With --cluster: run the plan's N+1 instances and lose one (SIGKILL) mid-window: do the others hold?",
)
@click.option(
    "--verify-window-s",
    type=click.FloatRange(1, 3600),
    help="With --verify: the measurement window (default: long enough for about 2,000 requests, 20 s to 300 s).",
)
@option(settings.SEED, environment=False, help="With --verify: seed of the Poisson arrivals.")
@backend_option
@out_option
@click.option(
    "--emit",
    type=(click.Choice(EMIT_FORMATS), click.Path(file_okay=False, path_type=Path)),
    metavar="FORMAT DIR",
    help="Write the recommended option's fleet (the best production server's where the dev server is recommended) "
    "as deployment files into DIR: kubernetes (a Deployment and Service, and a LocustTest replaying the planned "
    "rate) or compose (replicas behind nginx), with a README.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the request, the options and the notes as JSON.")
def plan(
    rps: float,
    p95_ms: float,
    io_ms: float | None,
    cpu_ms: float | None,
    run_dir: Path | None,
    max_utilisation: float,
    mem_per_instance: float | None,
    balance_from: Path | None,
    explain: bool,
    verify: bool,
    verify_server: str | None,
    cluster: bool,
    balance: str | None,
    lose_one: bool,
    verify_window_s: float | None,
    seed: int | None,
    backend: str,
    out: Path | None,
    emit: tuple[str, Path] | None,
    as_json: bool,
) -> None:
    """Workers per instance and instances per server for R rps within a p95, the recommended one first.

    From a run's measured service time (an M/G/c queue with Poisson arrivals) or, without one, Little's law and a
    queue model. A p95 at or below the work of one request cannot be met: that exits 2, as other bad input does.
    --verify runs the recommended option and gives two verdicts: the objective held or not (exit 0 or 1), and the
    prediction within 25 % of the measured p95 or not (words and --json; it does not set the exit code).

    Why this is long: one parameter per option of the command (click passes each by name).
    """
    if io_ms is None and cpu_ms is None and run_dir is None:
        raise click.UsageError(
            "say what a request does: --io-ms (blocking I/O, ms) and/or --cpu-ms (CPU, ms), or --from DIR to take "
            "the work from a run's io (or cpu) scenario"
        )
    check_pairs(
        verify, bool(emit), verify_server, bool(verify_window_s or seed is not None or out or cluster or balance)
    )
    if lose_one and not cluster:
        raise click.UsageError("--lose-one goes with --cluster")
    learnt = learnt_balance(balance_from) if balance_from is not None else None
    try:
        request = PlanRequest(rps, p95_ms, io_ms, cpu_ms, max_utilisation, mem_per_instance, learnt)
        result = make_plan(request, run_dir)
    except PlanError as error:
        raise click.BadParameter(str(error), param_hint=error.param) from error
    except CatalogError as error:
        raise click.BadParameter(str(error), param_hint="--from") from error
    written = emit_fleet(result, verify_server, *emit) if emit else []
    fleet = Fleet(balance or BALANCE_METHODS[0], lose_one) if cluster else None
    verified = verify_plan(result, verify_server, verify_window_s, seed, out, backend, fleet) if verify else None
    verification, figures = verified or (None, None)
    if as_json:
        document = plan_json(result) | ({"verification": asdict(verification)} if verification else {})
        click.echo(json.dumps(document | ({"cluster": asdict(figures)} if figures else {}), indent=2))
    else:
        print_plan(result, explain, verification, figures, written)
    if verification is not None and not verification.held:
        sys.exit(ExitCode.FAILED)


def learnt_balance(folder: Path) -> Balance:
    """The balance a fleet's verification measured (exit 2: not such a folder, or one that lost an instance)."""
    try:
        return load_balance(folder)
    except BalanceError as error:
        raise click.BadParameter(str(error), param_hint="--balance-from") from error


def check_pairs(verify: bool, emit: bool, verify_server: str | None, verify_only: bool) -> None:
    """Options that go with --verify (or --emit) and came without it: exit 2."""
    if verify_only and not verify:
        raise click.UsageError("--verify-window-s, --seed, --out, --cluster and --balance go with --verify")
    if verify_server and not (verify or emit):
        raise click.UsageError("--verify-server goes with --verify or --emit")


def print_plan(
    result: Plan,
    explain: bool,
    verification: Verification | None,
    figures: ClusterFigures | None = None,
    written: list[Path] | None = None,
) -> None:
    """The plan's table and summary; with --explain every option's reasoning; with --verify its verdict (and with
    --cluster the fleet's shares); with --emit the files written."""
    terminal = wide_console()
    terminal.print(plan_table(result))
    for line in summary_lines(result):
        terminal.print(line, markup=False, highlight=False)
    if explain:
        for line in (*reason_lines(result), *result.notes):
            terminal.print(f"- {line}", markup=False, highlight=False)
    if verification is not None:
        terminal.print(verification_table(verification))
        terminal.print(verdict_line(verification), highlight=False)
        terminal.print(prediction_line(verification), highlight=False)
        if figures is not None:
            terminal.print(cluster_table(figures, verification.instances))
            if figures.loss is None and figures.imbalance is not None:
                learnt = load_balance(Path(verification.run_dir))
                terminal.print(f"{learnt.text}; plan with it: --balance-from {learnt.source}", highlight=False)
    for path in written or []:
        terminal.print(f"wrote {path}", highlight=False)


def emit_fleet(result: Plan, server_name: str | None, kind: str, folder: Path) -> list[Path]:
    """Write the chosen option's fleet as deployment files (exit 2: no such option, or a folder it cannot write)."""
    root, catalog_servers, _ = catalog()
    try:
        option = chosen_option(result, server_name) if server_name else production_option(result, catalog_servers)
        if not server_name and not option.recommended:
            console.print(f"emit: {option.server}, the best production option (the dev server is not one)")
        return write_fleet(fleet_of(result, option, root, server_budget(root)), kind, result, folder)
    except (VerifyError, EmitError) as error:
        raise click.BadParameter(str(error), param_hint="--emit") from error


def lab_scenario(result: Plan, scenarios: dict[str, Scenario]) -> Scenario:
    """The lab scenario shaped like the planned request (exit 2 when there is none)."""
    name = result.workload.scenario
    if name is None or name not in scenarios:
        raise click.UsageError("--verify runs a lab scenario: the request must be shaped like io, cpu or hello")
    return scenarios[name]


def verify_plan(
    result: Plan,
    server_name: str | None,
    window_s: float | None,
    seed: int | None,
    out: Path | None,
    backend: str,
    fleet: Fleet | None,
) -> tuple[Verification, ClusterFigures | None]:
    """Run one instance of the chosen option at its share as Poisson arrivals (``fleet``, a balancing method: every
    instance behind nginx at the whole rate); the prediction beside the measurement."""
    root, _, scenarios = catalog()
    try:
        option = chosen_option(result, server_name)
    except VerifyError as error:
        raise click.BadParameter(str(error), param_hint="--verify-server" if server_name else "--verify") from error
    scenario = lab_scenario(result, scenarios)
    variable, _, value = option.setting.partition("=")
    with setting(variable, int(value)) if variable and value.isdigit() else nullcontext():
        servers = load_servers(root)  # with the option's worker count
        if option.server not in servers:
            raise click.BadParameter(
                f"{option.server} is not in the catalog: it cannot be started", param_hint="--verify"
            )
        if fleet is not None:
            check_fleet(result, option, backend)  # before the run's folder is made
        folder = out_folder(out, root)
        server = servers[option.server]
        instances, lose_at_s = option.instances or 1, None
        if fleet is not None and fleet.lose_one:  # the plan's N+1, one lost halfway through the window
            instances = option.n_plus_one or instances + 1
            lose_at_s = VERIFY_WARMUP_S + verify_profile(whole_rps(result), window_s).window_s / 2 + START_LAG_S
        whole = server if fleet is None else fleet_server(server, instances, fleet.method, folder, lose_at_s)
        sweep = verification_sweep(result, option, whole, scenario, folder, window_s, seed, whole=fleet is not None)
        sweep = replace(sweep, slo_p95_ms=result.request.p95_ms)
        console.print(
            f"verify: {whole.name} ({option.setting or option.shape}) at {sweep.profile.rates[0]} rps, Poisson "
            f"arrivals, {sweep.profile.window_s:g} s window → {sweep.out}"
        )
        if fleet is None:
            return verdict(result, option, measure(sweep, backend, root), sweep.out), None
        replicas = None
        if backend == "docker":  # compose replicas (flasklab.measure.backends.fleet), else run.sh's processes
            replicas = ComposeFleetBackend(root, folder, server, instances, fleet.method, lose_at_s, console.print)
        with InstanceCpu(folder / PIDS_FILE) as cpu:
            run = measure(sweep, backend, root, replicas)
    figures = read_access_log(folder / ACCESS_LOG, fleet.method, lost_moment(folder), result.request.p95_ms)
    figures = with_cpu(figures, cpu.cores)
    write_figures(folder, option.server, instances, figures)
    return verdict(result, option, run, sweep.out, instances, fleet.method), figures


FLEET_BACKENDS = ("local", "docker")


@dataclass(frozen=True)
class Fleet:
    """--cluster's asks: nginx's balancing method, and whether one of the plan's N+1 instances is lost mid-window."""

    method: str
    lose_one: bool


def check_fleet(result: Plan, option: Option, backend: str) -> None:
    """Exit 2 unless the option's whole fleet can run here: local processes or compose replicas, a fleet this
    machine hosts fairly on the servers' CPUs (flasklab.planning.cluster.unfair)."""
    if backend not in FLEET_BACKENDS:
        raise click.BadParameter(
            f"--cluster runs the fleet as local processes or compose replicas: --backend {' or '.join(FLEET_BACKENDS)}",
            param_hint="--cluster",
        )
    root = catalog()[0]
    if backend == "docker":
        pinning = container_budget(root)[1]
        cpus = len(pinning["server"]) if pinning else 1
    else:
        split = cpu_split(float(server_budget(root)["cpus"]))
        cpus = len(split["server"]) if split else 1
    if reason := unfair(result, option, cpus):
        raise click.BadParameter(f"the fleet cannot be hosted fairly: {reason}", param_hint="--cluster")
