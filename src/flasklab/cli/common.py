"""What the commands share: the catalog, name selections, the run folder, the run's story and running a sweep."""

from __future__ import annotations

import contextlib
import shlex
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn
from rich.text import Text

from flasklab.cli.exits import ExitCode
from flasklab.core.analysis import Standing
from flasklab.core.catalog import CatalogError, Scenario, Server, lab_root, load_scenarios, load_servers
from flasklab.core.results import RESULTS_FILE, Results, ResultsError, load_results
from flasklab.core.sweep import Remaining, Sweep
from flasklab.measure.backends import open_backend
from flasklab.measure.backends.base import Backend
from flasklab.measure.interrupts import Terminated, held_interrupts, terminate_raises
from flasklab.measure.runner import Run, RunFolderError, run_folder
from flasklab.measure.story import Story
from flasklab.views.report import write_report

# Messages, the story and the progress bar. Without a terminal (compose, CI, a pipe) a line stays one line.
console = Console(stderr=True, soft_wrap=not sys.stderr.isatty())


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
    """The lab's folder, its servers and its scenarios (exit 2 when the catalog cannot be read)."""
    try:
        root = lab_root()
        return root, load_servers(root), load_scenarios(root)
    except CatalogError as error:
        raise click.UsageError(str(error)) from error


def out_folder(out: Path | None, root: Path) -> Path:
    """The run folder, new and writable, or exit 2 naming --out before any server starts."""
    try:
        return run_folder(out, root)
    except RunFolderError as error:
        raise click.BadParameter(str(error), param_hint="--out") from error


def load_run(location: Path, param_hint: str) -> Results:
    """A run's results, or exit 2 naming the argument and what is wrong with its file."""
    try:
        return load_results(location)
    except ResultsError as error:
        raise click.BadParameter(str(error), param_hint=param_hint) from error


def wide_console() -> Console:
    """The terminal for tables: piped, rich would squeeze them into 80 columns."""
    terminal = Console()
    return terminal if terminal.is_terminal else Console(width=160)


def plain(text: str) -> None:
    """One line of the story on stderr, written at once: no colour, no cursor movement, nothing held back.

    A log whose reader went away (``| head``) ends the story, never the run: results.json still records it all.
    """
    with contextlib.suppress(OSError):
        print(text, file=sys.stderr, flush=True)


class TimeLeftColumn(ProgressColumn):
    """The runner's estimate of the time left (flasklab.core.sweep: the one the log and the live pages give), counted
    down between its updates; not one of the bar's own from its rate."""

    def render(self, task: Task) -> Text:
        until = task.fields.get("until")
        if until is None:
            return Text("-:--:--", style="progress.remaining")
        return Text(str(timedelta(seconds=max(round(until - time.monotonic()), 0))), style="progress.remaining")


class ProgressObserver(Story):
    """In a terminal: the story printed above a live progress bar that says which target, which step, time left."""

    def __init__(self, sweep: Sweep, progress: Progress) -> None:
        super().__init__(sweep, lambda text: progress.console.print(text, markup=False))
        self.progress = progress
        self.task = progress.add_task("starting", total=None)

    def time_left(self, left: Remaining) -> None:
        """The story's line, and the bar's steps done of all and time left: the same computation."""
        super().time_left(left)
        until = time.monotonic() + left.seconds
        self.progress.update(self.task, total=max(left.total, 1), completed=left.done, until=until)

    def probe_started(self, server: str) -> None:
        super().probe_started(server)
        self.progress.update(self.task, description=f"{server} · probe")

    def target_started(self, server: str, scenario: str) -> None:
        super().target_started(server, scenario)
        self.progress.update(self.task, description=f"{server} · {scenario}")

    def window_started(self, server: str, scenario: str, users: int) -> None:
        self.progress.update(self.task, description=f"{server} · {scenario} · {users} users")

    def step_finished(self, server: str, scenario: str, standing: Standing) -> None:
        super().step_finished(server, scenario, standing)
        self.progress.advance(self.task)


def save_report(run_dir: Path) -> int | None:
    """DIR/report.html from DIR/results.json, judged by the SLO the run recorded; a report that cannot be built is
    said, never fatal to a run.

    SIGINT and SIGTERM wait until the report is written: it returns the signal that arrived meanwhile, if any.
    """
    with held_interrupts(redeliver=False) as held:
        try:
            console.print(f"report: {write_report(run_dir)}")
        except (ResultsError, OSError) as error:
            console.print(f"[red]report not written: {error}[/]")
    return held[0] if held else None


def backend_for(name: str, root: Path, sweep: Sweep) -> Backend:
    """The named backend ("external" for --target servers), its logs in the sweep's folder."""
    return open_backend(name, root, sweep.out / "logs", console.print)


def told(sweep: Sweep, backend: Backend) -> Results:
    """Run the sweep telling its story on stderr: above a progress bar in a terminal, as plain lines elsewhere."""
    if not console.is_terminal:
        return Run(sweep, backend, Story(sweep, plain)).execute()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("steps"),
        TimeElapsedColumn(),
        TimeLeftColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        return Run(sweep, backend, ProgressObserver(sweep, progress)).execute()


def execute(sweep: Sweep, backend: Backend) -> Results:
    """Run the sweep on the backend, telling its story (see ``told``).

    SIGINT, SIGTERM or a write error stop it with the partial results and their report written, and exit (130, 143,
    1) with a message saying where they are.
    """
    try:
        with terminate_raises():
            return told(sweep, backend)
    except (KeyboardInterrupt, Terminated) as interruption:
        verb = "interrupted" if isinstance(interruption, KeyboardInterrupt) else "terminated"
        console.print(f"[yellow]{verb}: partial results kept in {sweep.out / 'results.json'}[/]")
        save_report(sweep.out)
        sys.exit(ExitCode.of_interruption(interruption))
    except OSError as error:  # a full disk, a folder gone read-only: every server is stopped by now
        console.print(f"the run stopped: {error}", style="red", markup=False, soft_wrap=True)
        console.print(f"results.json in {sweep.out} keeps every step saved before", markup=False, soft_wrap=True)
        save_report(sweep.out)
        sys.exit(ExitCode.FAILED)


def measure(sweep: Sweep, backend_name: str, root: Path, opened: Backend | None = None) -> Results:
    """Run the sweep on the named backend (or one ``opened`` for it) and write its report (judged by the sweep's own
    SLO, as it records it)."""
    results = execute(sweep, opened or backend_for(backend_name, root, sweep))
    save_report(sweep.out)
    return results


def latest_run(root: Path) -> Path | None:
    """The newest run folder under results/ (by its results.json's time), if any."""
    runs = [path.parent for path in (root / "results").glob(f"*/{RESULTS_FILE}")]
    return max(runs, key=lambda run: (run / RESULTS_FILE).stat().st_mtime, default=None)


def next_commands(run_dir: Path | None) -> list[tuple[str, str]]:
    """What a user reaches for after a run, with the run's own folder in each command: its page, every table in
    full, its live dashboard, a plan from its measurements."""
    folder = shlex.quote(str(run_dir)) if run_dir is not None else "results/RUN"
    return [
        ("the report (opens offline)", f"{folder}/report.html"),
        ("every table in full", f"flasklab report {folder} --verbose"),
        ("serve it (live page)", f"flasklab serve {folder}"),
        ("plan from it", f"flasklab plan --from {folder} --rps 200 --p95-ms 300"),
    ]


def print_next(run_dir: Path | None) -> None:
    console.print("[bold]Next[/]")
    for what, command in next_commands(run_dir):
        console.print(f"  {what + ':':<28} {command}", markup=False, highlight=False, soft_wrap=True)
