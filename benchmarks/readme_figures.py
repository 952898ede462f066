"""The measured figures of the README and the documentation, built from the runs committed under docs/runs/
(scripts/readme-figures).

Every measured table or figure in README.md and docs/*.md sits between marker comments, ``<!-- figures:NAME -->`` and
``<!-- /figures:NAME -->`` (a table on lines of its own, or a figure inside a sentence), and is written by the figure
NAME of this module from one or more committed runs: ``docs/runs/RUN/results.json`` (a whole run as recorded, only
the servers and scenarios the figure needs) or ``docs/runs/bench-NAME.txt`` (a benchmark's printed output with its
command and date). What a step means (counts or not, and why; its marked percentiles; Little's-law efficiency; the
slow-client figures) is flasklab.core.analysis's and the claims' helpers': nothing here recomputes a step's standing.

    scripts/readme-figures              rewrite the pages' figures from the committed runs
    scripts/readme-figures --check      exit 1, with a diff, when a page differs from them (tests and CI run it)
    scripts/readme-figures record RUN   measure RUN again with its declared command (run it under the machine's
                                        measurement lock) and keep its results.json (or a benchmark's output)

A figure's run is recorded by the command declared beside it in RUNS, so a reader can check each number and measure
it again. A figure may sit on several pages (the README quotes the probe's table and a run's story); each figure
must sit on one at least.
"""

from __future__ import annotations

import argparse
import difflib
import io
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from rich.console import Console

from flasklab.core.analysis import Standing, TargetAnalysis, analyse, littles_law_efficiency, load_text
from flasklab.core.probe_claims import FOLKLORE
from flasklab.core.reload_claims import evaluate_reload_claims
from flasklab.core.results import ProbeResult, Results, Target, load_results
from flasklab.core.settings import PROFILES
from flasklab.core.slow_client_claims import fast_users
from flasklab.core.timeouts import timeout_outcomes
from flasklab.measure.story import line, probe_line, probe_started_line, step_line, verdict_line
from flasklab.views.summary import headline_table

ROOT = Path(__file__).resolve().parents[1]
RUNS_DIR = ROOT / "docs" / "runs"
MARKER = re.compile(r"<!-- figures:(?P<name>[a-z0-9-]+) -->(?P<body>.*?)<!-- /figures:(?P=name) -->", re.DOTALL)
ANY_MARKER = re.compile(r"<!-- /?figures:(?P<name>[^ ]*) -->")

# The servers of the figures that name a few (the probe and fidelity runs cover the whole catalog).
CONNECTION_SERVERS = ("gunicorn-gthread", "gunicorn-gthread-capped", "gunicorn-tornado", "granian")
OPEN_MODEL_SERVERS = ("dev-single", "gunicorn-sync", "gunicorn-gevent")
SLOW_CLIENT_SERVERS = (
    "gunicorn-sync",
    "nginx-gunicorn-sync",
    "nginx-gunicorn-sync-unbuffered",
    "gunicorn-gthread",
    "gunicorn-gevent",
    "gunicorn-eventlet",
)
SLOW_CLIENT_USERS = (4, 16, 64)
WAITING_SERVERS = ("gunicorn-sync", "nginx-gunicorn-sync", "gunicorn-gthread", "uwsgi", "waitress", "gunicorn-gevent")
WAITING_USERS = 16
RECYCLING_SERVERS = ("gunicorn-sync", "gunicorn-gthread", "uwsgi")
RECYCLING_LIMIT, RECYCLING_JITTER = "1000", "500"
DEPLOY_SERVERS = ("gunicorn-sync", "gunicorn-gthread", "gunicorn-gevent", "uwsgi", "granian", "waitress")
DEPLOY_AT_S = "10"
TIMEOUT_SERVERS = (
    "gunicorn-sync",
    "gunicorn-gthread",
    "gunicorn-gevent",
    "gunicorn-tornado",
    "uwsgi",
    "uwsgi-gevent",
    "waitress",
    "nginx-gunicorn-sync",
)
FIDELITY_SERVERS = (
    ("dev-single", "dev-threaded", "dev-processes", "gunicorn-sync", "gunicorn-gthread", "gunicorn-gthread-capped"),
    ("gunicorn-gevent", "gunicorn-eventlet", "gunicorn-tornado", "uwsgi", "uwsgi-gevent"),
    ("waitress", "granian", "nginx-gunicorn-sync", "nginx-gunicorn-sync-unbuffered"),
)
CONNECTION_USERS = 16
STORY_SERVER = "dev-single"
STORY_SCENARIO = "hello"


@dataclass(frozen=True)
class Run:
    """A committed run and the command that recorded it (`flasklab ...`, or `scripts/bench ...` for a benchmark)."""

    name: str
    command: tuple[str, ...]

    @property
    def bench(self) -> bool:
        return self.command[0] == "scripts/bench"

    @property
    def path(self) -> Path:
        return RUNS_DIR / (f"{self.name}.txt" if self.bench else f"{self.name}/results.json")

    @property
    def shown(self) -> str:
        return " ".join(self.command)


def flasklab_run(*options: str) -> tuple[str, ...]:
    return ("flasklab", "run", *options)


RUNS = {
    run.name: run
    for run in (
        Run("probe", ("flasklab", "probe")),
        *(
            Run(
                f"connections-{mode}",
                flasklab_run(
                    "--profile", "quick", "--scenarios", "io", "--servers", ",".join(CONNECTION_SERVERS),
                    "--connections", mode,
                ),
            )
            for mode in ("keepalive", "close")
        ),
        Run(
            "open-model",
            flasklab_run(
                "--model", "open", "--profile", "quick", "--scenarios", "io", "--servers", ",".join(OPEN_MODEL_SERVERS),
                "--no-probe", "--seed", "1",
            ),
        ),
        Run(
            "waiting",
            flasklab_run(
                "--profile", "quick", "--scenarios", "io", "--servers", ",".join(WAITING_SERVERS), "--no-probe"
            ),
        ),
        Run(
            "recycling",
            flasklab_run(
                "--profile", "moments", "--scenarios", "hello", "--servers", ",".join(RECYCLING_SERVERS),
                "--max-requests", RECYCLING_LIMIT, "--no-probe",
            ),
        ),
        Run(
            "recycling-jitter",
            flasklab_run(
                "--profile", "moments", "--scenarios", "hello", "--servers", ",".join(RECYCLING_SERVERS[:2]),
                "--max-requests", RECYCLING_LIMIT, "--max-requests-jitter", RECYCLING_JITTER, "--no-probe",
            ),
        ),
        Run(
            "deploy",
            flasklab_run(
                "--profile", "moments", "--scenarios", "hello", "--servers", ",".join(DEPLOY_SERVERS),
                "--reload-at", DEPLOY_AT_S, "--no-probe",
            ),
        ),
        Run(
            "timeouts",
            flasklab_run(
                "--profile", "moments", "--scenarios", "timeout", "--servers", ",".join(TIMEOUT_SERVERS),
                "--server-timeout", "1", "--no-probe",
            ),
        ),
        Run(
            "slowclient",
            flasklab_run("--scenarios", "slowclient", "--servers", ",".join(SLOW_CLIENT_SERVERS), "--no-probe"),
        ),
        *(
            Run(f"fidelity-{part}", flasklab_run("--scenarios", "io", "--servers", ",".join(servers), "--no-probe"))
            for part, servers in enumerate(FIDELITY_SERVERS, start=1)
        ),
        Run("demo", flasklab_run("--profile", "demo")),
        Run("bench-report", ("scripts/bench", "report", "--from", "docs/runs/demo")),
        Run("bench-calibration", ("scripts/bench", "calibration")),
        Run("bench-compare-aa", ("scripts/bench", "compare-aa", "--rounds", "8", "--seed", "16")),
        Run("bench-plan", ("scripts/bench", "plan")),
        Run("bench-sweep-standard", ("scripts/bench", "sweep_standard")),
        Run("bench-fidelity-adaptive", ("scripts/bench", "fidelity")),
        Run("bench-compose-standard", ("scripts/bench", "compose_standard")),
    )
}  # fmt: skip


class FigureError(ValueError):
    """A marker that names no figure, or a figure whose run is missing or does not hold what it needs."""


@cache
def results(name: str) -> Results:
    run = RUNS[name]
    if not run.path.is_file():
        raise FigureError(
            f"{run.path.relative_to(ROOT)} is missing: record it with `scripts/readme-figures record {name}`"
        )
    return load_results(run.path)


def bench_output(name: str) -> list[str]:
    run = RUNS[name]
    if not run.path.is_file():
        raise FigureError(
            f"{run.path.relative_to(ROOT)} is missing: record it with `scripts/readme-figures record {name}`"
        )
    return run.path.read_text().splitlines()


def target(run: str, server: str, scenario: str) -> Target:
    found = results(run).target(server, scenario)
    if found is None:
        raise FigureError(f"docs/runs/{run} has no {server} · {scenario}")
    return found


def probe_of(run: str, server: str) -> ProbeResult:
    found = next((probe for probe in results(run).probe if probe.server == server), None)
    if found is None:
        raise FigureError(f"docs/runs/{run} has no probe of {server}")
    return found


def step_at(analysis: TargetAnalysis, load: float) -> Standing | None:
    """The standing of the target's step at this load (users, or the offered rate), counted or not."""
    return next((standing for standing in analysis.steps if standing.step.load == load), None)


def date(run: str) -> str:
    return results(run).meta.started[:10]


def source(run: str) -> str:
    """Where a figure comes from: its run's folder, the command that recorded it and the day."""
    return f"`docs/runs/{run}` (`{RUNS[run].shown}`, {date(run)})"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def block(text: str) -> str:
    """A figure on lines of its own between its markers (a blank line ends a table before the closing marker)."""
    return f"\n{text}\n\n"


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}" if value >= 10 else f"{value:.1f}"


def rps(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def flags(standing: Standing) -> str:
    """What keeps a step from counting, in flasklab.core.analysis's words (its flags' kinds: the report gives the
    causes)."""
    return ", ".join(flag.kind for flag in standing.flags)


def standing_note(standing: Standing) -> str:
    """'' for a step that counts, else ' (not counted: FLAGS)'."""
    return "" if standing.usable else f" (not counted: {flags(standing)})"


def configured(value: int | None) -> str:
    return "unbounded" if value is None else str(value)


# The probe ---------------------------------------------------------------------------------------------------------


def served_at_once(probe: ProbeResult) -> str:
    if probe.measured is None:
        return f"{probe.status}: {probe.error or 'no count'}"
    if probe.measured >= probe.width:
        return f"≥ {probe.measured} (the probe's width)"
    return str(probe.measured)


def self_call(probe: ProbeResult) -> str:
    if probe.selfcall_status is None:
        return "no answer"
    seconds = probe.selfcall_s
    after = "" if seconds is None else f" after {seconds:.1f} s" if seconds >= 1 else f" after {seconds * 1000:.0f} ms"
    return f"{probe.selfcall_status}{after}" + (" (deadlock)" if probe.selfcall_status == 504 else "")


def probe_row(probe: ProbeResult) -> list[str]:
    return [
        f"`{probe.server}`",
        configured(probe.configured),
        served_at_once(probe),
        "-" if probe.workers_seen is None else str(probe.workers_seen),
        "-" if probe.per_worker_max is None else str(probe.per_worker_max),
        self_call(probe),
    ]


PROBE_HEADER = (
    "server",
    "configured",
    "served at once",
    "processes that got requests",
    "most at once in one process",
    "GET /self",
)


def probe_figure() -> str:
    probes = results("probe").probe
    return block(
        f"Measured here, {source('probe')}, with keep-alive clients:\n\n"
        + table(PROBE_HEADER, [probe_row(probe) for probe in probes])
    )


def served_of(run: str, server: str) -> str:
    """'8 of 16': what the probe served at once of what the server is configured for."""
    probe = probe_of(run, server)
    return f"{served_at_once(probe)} of {configured(probe.configured)}"


# Connection reuse --------------------------------------------------------------------------------------------------


def probe_cell(run: str, server: str) -> str:
    probe = probe_of(run, server)
    return f"{served_at_once(probe)} ({probe.workers_seen} process{'es' if probe.workers_seen != 1 else ''})"


def io_cell(run: str, server: str, users: int) -> str:
    io = target(run, server, "io")
    standing = step_at(analyse(io, results(run).meta), users)
    if standing is None:
        return f"no step at {users} users"
    step = standing.step
    efficiency = littles_law_efficiency(io, step)
    law = "" if efficiency is None else f", {efficiency:.2f} of Little's bound"
    p95 = "-" if step.p95_ms is None else standing.marked("p95", ms(step.p95_ms))
    return f"{rps(step.rps)} rps, p95 {p95} ms{law}{standing_note(standing)}"


def connections_figure() -> str:
    rows = [
        [
            f"`{server}`",
            configured(probe_of("connections-keepalive", server).configured),
            probe_cell("connections-keepalive", server),
            probe_cell("connections-close", server),
            io_cell("connections-keepalive", server, CONNECTION_USERS),
            io_cell("connections-close", server, CONNECTION_USERS),
        ]
        for server in CONNECTION_SERVERS
    ]
    header = (
        "server",
        "configured",
        "probe, keep-alive",
        "probe, close",
        f"io at {CONNECTION_USERS} users, keep-alive",
        f"io at {CONNECTION_USERS} users, close",
    )
    return block(
        f"Measured (io 100 ms, quick profile): {source('connections-keepalive')} and `docs/runs/connections-close` "
        "(the same with `--connections close`):\n\n" + table(header, rows)
    )


# The open model ----------------------------------------------------------------------------------------------------


def open_model_figure() -> str:
    run = results("open-model")
    rows = []
    for server in OPEN_MODEL_SERVERS:
        analysis = analyse(target("open-model", server, "io"), run.meta)
        for standing in analysis.steps:
            step = standing.step
            rows.append(
                [
                    f"`{server}`",
                    load_text(step).removesuffix(" rps offered"),
                    rps(step.rps),
                    standing.marked("p50", ms(step.p50_ms)),
                    standing.marked("p95", ms(step.p95_ms)),
                    "-" if step.backlog is None else str(step.backlog),
                    "counts" if standing.usable else f"not counted: {flags(standing)}",
                ]
            )
    header = ("server", "offered rps", "served rps", "p50 ms", "p95 ms", "backlog", "step")
    return block(f"Measured here (io 100 ms, Poisson arrivals), {source('open-model')}:\n\n" + table(header, rows))


# Slow clients ------------------------------------------------------------------------------------------------------


def fast_users_cell(standing: Standing | None) -> str:
    if standing is None:
        return "-"
    fast = fast_users(standing.step)
    if fast is None:
        return "-"
    figure = (
        f"{rps(fast.rps)} rps, no success (starved)"
        if fast.p95_ms is None
        else f"{rps(fast.rps)} rps, {ms(fast.p95_ms)} ms"
    )
    return figure + standing_note(standing)


def slowclient_figure() -> str:
    run = results("slowclient")
    rows = []
    for server in SLOW_CLIENT_SERVERS:
        analysis = analyse(target("slowclient", server, "slowclient"), run.meta)
        rows.append([f"`{server}`", *(fast_users_cell(step_at(analysis, users)) for users in SLOW_CLIENT_USERS)])
    header = ("server", *(f"{users} users" for users in SLOW_CLIENT_USERS))
    return block(
        f"Measured here ({run.meta.profile} profile, {run.meta.warmup_s:g} s + {run.meta.window_s:g} s per step, "
        f"local), {source('slowclient')}; the fast users' rps and p95:\n\n" + table(header, rows)
    )


def waiting_figure() -> str:
    """Where the io scenario's 16 users waited per server: in the app, in the kernel's accept queue, elsewhere."""
    run = results("waiting")
    rows = []
    for server in WAITING_SERVERS:
        io = target("waiting", server, "io")
        standing = step_at(analyse(io, run.meta), WAITING_USERS)
        if standing is None:
            rows.append([f"`{server}`", str(io.concurrency), "not measured", "", "", ""])
            continue
        step = standing.step
        app, queued = step.server_in_flight, step.accept_queue_mean
        rest = None if app is None or queued is None else max(WAITING_USERS - app - queued, 0.0)
        rows.append(
            [
                f"`{server}`",
                str(io.concurrency),
                f"{step.rps:,.1f}",
                "-" if app is None else f"{app:.1f}",
                "-" if queued is None else f"{queued:.1f} (at most {step.accept_queue_max} of {step.accept_backlog})",
                "-" if rest is None else f"{rest:.1f}",
            ]
        )
    header = ("server", "configured", "rps", "in the app", "in the kernel's accept queue", "elsewhere")
    return block(
        f"Measured here ({run.meta.profile} profile, io, {WAITING_USERS} users, local), {source('waiting')}; "
        "requests waiting, mean over the window:\n\n" + table(header, rows)
    )


def recycling_figure() -> str:
    """Workers recycled by max_requests, without and with jitter: the starts, how many together, and the tail."""
    rows = []
    for run in ("recycling", "recycling-jitter"):
        meta = results(run).meta
        for server in meta.servers:
            entry = (meta.server_entries or {})[server]
            setting = f"{entry.max_requests:,}" + (
                f" + jitter {entry.max_requests_jitter}" if entry.max_requests_jitter else ""
            )
            hello = target(run, server, "hello")
            if hello.status != "ok" or not hello.steps:
                rows.append([f"`{server}`", setting, hello.status, "", "", "", "", ""])
                continue
            step = hello.steps[0]

            rows.append(
                [
                    f"`{server}`",
                    setting,
                    f"{step.rps:,.0f}" + (" (generator-bound)" if step.generator_saturated else ""),
                    str(step.workers_started),
                    str(step.workers_started_together),
                    ms(step.p99_ms),
                    ms(step.p999_ms),
                    ms(step.p999_apart_ms),
                ]
            )
    header = (
        "server",
        "max_requests",
        "rps",
        "workers started",
        "most within 1 s",
        "p99 ms",
        "p99.9 ms",
        "p99.9 apart ms",
    )
    meta = results("recycling").meta
    return block(
        f"Measured here ({meta.profile} profile: {meta.steps[0]} users on hello, a fixed {meta.window_s:g} s window, "
        f"local), {source('recycling')} and {source('recycling-jitter')}:\n\n" + table(header, rows)
    )


def deploy_figure() -> str:
    """Each server reloaded under load: what it did, the requests failed, the way back, the code served after."""
    run = results("deploy")
    rows = []
    for server in DEPLOY_SERVERS:
        hello = target("deploy", server, "hello")
        step = hello.steps[0] if hello.steps else None
        if step is None or step.reload is None:
            rows.append([f"`{server}`", f"{hello.status}: {hello.error or 'no reload'}", "", "", "", "", "", ""])
            continue
        reload, timeline = step.reload, step.timeline or []
        moment = timeline[0].t_s + reload.at_s if timeline else 0.0
        before = [part.p99_ms for part in timeline if part.t_s + part.length_s <= moment and part.p99_ms is not None]
        around = [part.p99_ms for part in timeline if part.t_s <= moment + 2 and part.t_s + part.length_s > moment]
        back = "not within the window" if reload.back_after_s is None else f"{reload.back_after_s:.1f} s"
        rows.append(
            [
                f"`{server}`",
                f"{reload.how}, code {reload.code_version}" + (f"; {hello.error}" if hello.status != "ok" else ""),
                f"{step.rps:,.0f}" + (" (generator-bound)" if step.generator_saturated else ""),
                f"{reload.failures_after:,}",
                back,
                ms(max(before, default=None)),
                ms(max((p for p in around if p is not None), default=None)),
                ", ".join(reload.served_after) or "-",
            ]
        )
    header = ("server", "reload", "rps", "failed after", "back after", "p99 before (worst s)", "p99 around", "served")
    return block(
        f"Measured here ({run.meta.profile} profile: {run.meta.steps[0]} users on hello, a fixed "
        f"{run.meta.window_s:g} s window, the reload {run.meta.reload_at_s:g} s in; local), {source('deploy')}; "
        "p99 around: the worst second from the reload's to two seconds after it:\n\n"
        + table(header, rows)
        + "\n\nThe claims, decided on this run (`flasklab.core.reload_claims`):\n\n"
        + "\n".join(f"- {c.text}: **{c.verdict}**: {c.evidence}" for c in evaluate_reload_claims(run))
    )


def timeouts_figure() -> str:
    """Each server's long requests against its timeout: ended or run on, what the clients saw, what else failed."""
    run = results("timeouts")
    rows = []
    for outcome in timeout_outcomes(run):
        seen = "; ".join(f"{kind} ({count})" for kind, count in outcome.errors[:2]) or "-"
        rows.append(
            [
                f"`{outcome.server}`",
                "none" if outcome.timeout_s is None else f"{outcome.timeout_s} s",
                f"**{outcome.verdict}**",
                f"{outcome.long_failed} of {outcome.long_ok + outcome.long_failed}",
                ms(outcome.long_p95_ms),
                f"{outcome.short_failed} of {outcome.short_ok + outcome.short_failed:,}",
                str(outcome.workers_started),
                seen,
            ]
        )
    missing = [f"`{t.server}` ({t.status}: {t.error})" for t in run.targets if t.status != "ok"]
    header = ("server", "timeout", "verdict", "long ended", "long p95", "short failed", "workers started", "seen")
    return block(
        f"Measured here ({run.meta.profile} profile: {run.meta.steps[0]} users, a fixed {run.meta.window_s:g} s "
        f"window; local), {source('timeouts')}:\n\n"
        + table(header, rows)
        + (f"\n\nNot measured: {', '.join(missing)}." if missing else "")
    )


# Fidelity ----------------------------------------------------------------------------------------------------------


def fidelity_row(run: str, server: str) -> list[str]:
    io = target(run, server, "io")
    if io.status != "ok":
        return [f"`{server}`", io.status, "", "", ""]
    analysis = analyse(io, results(run).meta)
    ratios = [littles_law_efficiency(io, step) for step in analysis.usable]
    counted = [ratio for ratio in ratios if ratio is not None]
    per_step = " ".join(
        f"{ratio:.2f}" if standing.usable and ratio is not None else "✕"
        for standing in analysis.steps
        for ratio in [littles_law_efficiency(io, standing.step)]
    )
    if not counted:
        return [f"`{server}`", f"0 of {len(analysis.steps)}", "-", "-", per_step]
    return [
        f"`{server}`",
        f"{len(counted)} of {len(analysis.steps)}",
        f"{min(counted):.3f}",
        f"{statistics.median(counted):.3f}",
        per_step,
    ]


def fidelity_figure() -> str:
    parts = [f"fidelity-{part}" for part in range(1, len(FIDELITY_SERVERS) + 1)]
    rows = [
        fidelity_row(run, server) for run, servers in zip(parts, FIDELITY_SERVERS, strict=True) for server in servers
    ]
    header = ("server", "steps that count", "min", "median", "per step (✕: not counted)")
    runs = ", ".join(f"`docs/runs/{run}`" for run in parts)
    first = results(parts[0]).meta
    return block(
        f"Measured here ({first.profile} profile, local backend, {date(parts[0])}): {runs}, each "
        f"`{RUNS[parts[0]].shown.split(' --servers')[0]} --servers ...`:\n\n" + table(header, rows)
    )


def fidelity_run(server: str) -> str:
    """The part of the fidelity run that measured ``server``."""
    return next(f"fidelity-{part}" for part, servers in enumerate(FIDELITY_SERVERS, start=1) if server in servers)


def memory_of(server: str) -> str:
    """The server's memory at its io peak in the fidelity run (PSS locally: meta.memory_measure says which)."""
    run = fidelity_run(server)
    peak = analyse(target(run, server, "io"), results(run).meta).peak
    if peak is None or peak.server_rss_mb is None:
        raise FigureError(f"docs/runs/{run}: no memory at {server}'s peak")
    measure = (results(run).meta.memory_measure or "memory").upper()
    return f"{server} {peak.server_rss_mb:.0f} MiB {measure} (`docs/runs/{run}`)"


def memory_figure() -> str:
    return f"{memory_of('gunicorn-sync')} and {memory_of('uwsgi')}, each at its io peak"


# The demo and the run's story --------------------------------------------------------------------------------------


def duration(run: str) -> str:
    meta = results(run).meta
    if meta.ended is None:
        raise FigureError(f"docs/runs/{run} did not end")
    seconds = (datetime.fromisoformat(meta.ended) - datetime.fromisoformat(meta.started)).total_seconds()
    return f"{int(seconds // 60)} min {int(seconds % 60)} s"


def demo_figure() -> str:
    return f"{duration('demo')} ({date('demo')}: `docs/runs/demo`, `{RUNS['demo'].shown}`)"


def story_figure() -> str:
    """The log lines of one server in the demo run, worded by flasklab.measure.story from the run's results."""
    run = results("demo")
    probe = probe_of("demo", STORY_SERVER)
    ids = {folklore.claim for folklore in FOLKLORE if folklore.server == STORY_SERVER}
    claims = [claim for claim in run.claims if claim.claim in ids]
    hello = target("demo", STORY_SERVER, STORY_SCENARIO)
    analysis = analyse(hello, run.meta)
    profile = PROFILES[run.meta.profile]
    loads = ", ".join(map(str, profile.loads(run.meta.model)))
    lines = [
        probe_started_line(STORY_SERVER),
        probe_line(probe),
        *(verdict_line(claim) for claim in claims),
        line(
            "start",
            f"{STORY_SERVER} · {STORY_SCENARIO}: {len(analysis.steps)} steps of {profile.step_s:g} s at {loads} users",
        ),
        *(step_line(STORY_SERVER, STORY_SCENARIO, standing) for standing in analysis.steps),
        "...",
        line("time", "all measured"),
    ]
    return block("```\n" + "\n".join(lines) + "\n```")


def headline_figure() -> str:
    """What the terminal shows first after the demo run: its headline table at 80 columns (flasklab.views.summary)."""
    console = Console(width=80, record=True, color_system=None, file=io.StringIO())
    console.print(headline_table(results("demo")))
    text = "\n".join(line.rstrip() for line in console.export_text().splitlines())
    return block("```\n" + text.strip("\n") + "\n```")


# Benchmarks --------------------------------------------------------------------------------------------------------


def bench_figure(name: str) -> Callable[[], str]:
    """A benchmark's printed output as recorded, its temporary folders left out."""

    def figure() -> str:
        kept = [text for text in bench_output(name) if not text.startswith("# results:")]
        return block(f"`docs/runs/{name}.txt`:\n\n```\n" + "\n".join(kept) + "\n```")

    return figure


FIGURES: dict[str, Callable[[], str]] = {
    "probe": probe_figure,
    "probe-gthread": lambda: served_of("probe", "gunicorn-gthread"),
    "connections": connections_figure,
    "open-model": open_model_figure,
    "slowclient": slowclient_figure,
    "waiting": waiting_figure,
    "recycling": recycling_figure,
    "deploy": deploy_figure,
    "timeouts": timeouts_figure,
    "fidelity": fidelity_figure,
    "memory": memory_figure,
    "demo-time": demo_figure,
    "story": story_figure,
    "headline": headline_figure,
    "bench-report": bench_figure("bench-report"),
    "bench-calibration": bench_figure("bench-calibration"),
    "bench-compare-aa": bench_figure("bench-compare-aa"),
    "bench-plan": bench_figure("bench-plan"),
    "bench-sweep-standard": bench_figure("bench-sweep-standard"),
    "bench-fidelity-adaptive": bench_figure("bench-fidelity-adaptive"),
    "bench-compose-standard": bench_figure("bench-compose-standard"),
}


# The pages ---------------------------------------------------------------------------------------------------------


def pages(root: Path) -> list[Path]:
    """The Markdown pages whose figures are kept: the README and every page of the documentation site."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def indented(body: str, before: str) -> str:
    """A block figure inside a list item: its lines, and its closing marker, indented as its opening marker is."""
    if not body.startswith("\n") or before.strip():
        return body
    lines = [f"{before}{text}" if text else text for text in body.split("\n")]
    return "\n".join([*lines[:-1], before])


def regenerate(text: str, page: str = "README.md") -> tuple[str, set[str]]:
    """``text`` with every figure between its markers rebuilt, and the figures it holds (``page``: its name)."""
    for found in ANY_MARKER.finditer(text):
        if found["name"] not in FIGURES:
            raise FigureError(f"{page} names a figure {found['name']!r}: the figures are {', '.join(FIGURES)}")
    seen: set[str] = set()

    def rebuilt(match: re.Match[str]) -> str:
        seen.add(match["name"])
        body = indented(FIGURES[match["name"]](), text[text.rfind("\n", 0, match.start()) + 1 : match.start()])
        return f"<!-- figures:{match['name']} -->{body}<!-- /figures:{match['name']} -->"

    new = MARKER.sub(rebuilt, text)
    return new, seen


def bench_arguments(arguments: Sequence[str], scratch: Path) -> list[str]:
    """A benchmark's arguments, a committed run given by ``--from`` copied to ``scratch`` first (the benchmark writes
    its pages beside the run's results.json)."""
    copied = list(arguments)
    for index, argument in enumerate(arguments[:-1]):
        if argument == "--from":
            run = scratch / Path(arguments[index + 1]).name
            run.mkdir()
            shutil.copyfile(ROOT / arguments[index + 1] / "results.json", run / "results.json")
            copied[index + 1] = str(run)
    return copied


def record(name: str) -> int:
    """Measure a run again with its declared command and keep its results.json (or a benchmark's output)."""
    run = RUNS[name]
    if run.bench:
        with tempfile.TemporaryDirectory(prefix="flasklab-readme-") as folder:
            completed = subprocess.run(
                [str(ROOT / run.command[0]), *bench_arguments(run.command[1:], Path(folder))],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=False,
            )
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        run.path.write_text(f"# {run.shown}\n# {stamp}, exit {completed.returncode}\n{completed.stdout}")
        print(f"{run.path.relative_to(ROOT)} (exit {completed.returncode})")
        return completed.returncode
    with tempfile.TemporaryDirectory(prefix="flasklab-readme-") as folder:
        out = Path(folder) / name
        command = [str(ROOT / ".venv/bin/flasklab"), *run.command[1:], "--out", str(out)]
        returncode = subprocess.run(command, cwd=ROOT, check=False).returncode
        run.path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out / "results.json", run.path)
    print(f"{run.path.relative_to(ROOT)} (exit {returncode})")
    return returncode


def check_or_write(root: Path, check: bool) -> int:
    """Check (or rewrite) the figures of every page under ``root``: 0 when they are their runs', 1 with a diff when a
    page differs or a figure sits on no page, 2 when a marker names no figure or a run cannot give its figure."""
    names = {page: str(page.relative_to(root)) for page in pages(root)}
    texts = {page: page.read_text() for page in names}
    try:
        rebuilt = {page: regenerate(text, names[page]) for page, text in texts.items()}
    except FigureError as error:
        print(f"readme-figures: {error}", file=sys.stderr)
        return 2
    shown: set[str] = set().union(*(seen for _, seen in rebuilt.values()))
    if unused := [name for name in FIGURES if name not in shown]:
        print(f"readme-figures: no page has a marker for {', '.join(unused)}", file=sys.stderr)
        return 1
    changed = [page for page, text in texts.items() if rebuilt[page][0] != text]
    if not changed:
        return 0
    if check:
        for page in changed:
            old, new = texts[page].splitlines(), rebuilt[page][0].splitlines()
            print("\n".join(difflib.unified_diff(old, new, names[page], "from docs/runs", lineterm="")))
        listed = ", ".join(names[page] for page in changed)
        print(f"readme-figures: {listed}: figures differ from their runs: run scripts/readme-figures", file=sys.stderr)
        return 1
    for page in changed:
        page.write_text(rebuilt[page][0])
        print(f"{names[page]}: figures rewritten from docs/runs/")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["record"]:
        unknown = [name for name in arguments[1:] if name not in RUNS]
        if unknown or len(arguments) < 2:
            print(f"usage: scripts/readme-figures record RUN...; the runs are {', '.join(RUNS)}", file=sys.stderr)
            return 2
        return max(record(name) for name in arguments[1:])
    parser = argparse.ArgumentParser(prog="scripts/readme-figures", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 with a diff when a page differs")
    parser.add_argument(
        "--root", type=Path, default=ROOT, help="the folder whose README.md and docs/*.md to check or rewrite"
    )
    options = parser.parse_args(arguments)
    return check_or_write(options.root, options.check)


if __name__ == "__main__":
    sys.exit(main())
