"""The sweep: each server in turn (one loaded at a time), probed, then measured on each scenario.

results.json is rewritten atomically after every step and every state change, so an interrupted run keeps
everything it measured. A server that fails is data (status, reason, log tail), never the end of the sweep.
"""

from __future__ import annotations

import errno
import os
import platform
import random
import secrets
import tempfile
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import Protocol

from flasklab import __version__
from flasklab.core.analysis import Standing, assess, limits
from flasklab.core.catalog import Scenario, Server
from flasklab.core.claims import decided_claims, evaluate_claims, evaluate_slow_client_claims
from flasklab.core.results import Claim, Meta, ProbeResult, Results, Step, Target, TargetStatus, now, write_results
from flasklab.core.settings import PROBE_IO_MS, PROBE_WIDTH, START_TIMEOUT
from flasklab.core.sweep import Remaining, Sweep, remaining, seeded
from flasklab.measure.backends.base import Backend, RunningTarget, TargetFailed
from flasklab.measure.interrupts import held_interrupts
from flasklab.measure.load import LoadFailed, LoadJob, run_load
from flasklab.measure.probe import probe_concurrency, unsupported
from flasklab.measure.rounds import combine_rounds


class Observer(Protocol):
    """What the runner tells its user interface (the CLI's story and progress bar, or nothing in tests)."""

    def probe_started(self, server: str) -> None: ...
    def probe_finished(self, probe: ProbeResult) -> None: ...
    def target_started(self, server: str, scenario: str) -> None: ...
    def window_started(self, server: str, scenario: str, users: int) -> None: ...
    def step_finished(self, server: str, scenario: str, standing: Standing) -> None: ...
    def target_finished(self, target: Target) -> None: ...
    def time_left(self, left: Remaining) -> None: ...
    def claim_decided(self, claim: Claim) -> None: ...
    def message(self, text: str) -> None: ...


class Quiet:
    def probe_started(self, server: str) -> None: ...
    def probe_finished(self, probe: ProbeResult) -> None: ...
    def target_started(self, server: str, scenario: str) -> None: ...
    def window_started(self, server: str, scenario: str, users: int) -> None: ...
    def step_finished(self, server: str, scenario: str, standing: Standing) -> None: ...
    def target_finished(self, target: Target) -> None: ...
    def time_left(self, left: Remaining) -> None: ...
    def claim_decided(self, claim: Claim) -> None: ...
    def message(self, text: str) -> None: ...


# Between scenarios, a server that does not answer /health within this long is restarted before the next one.
RESPONSIVE_S = 3.0


def new_run_id() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


class RunFolderError(ValueError):
    """A run folder that must not or cannot be written; the message says which and what to do."""


def run_folder(out: Path | None, root: Path) -> Path:
    """The run's folder (default: results/<run-id>), checked before any server starts: new, and writable."""
    folder = out or root / "results" / new_run_id()
    if (folder / "results.json").exists():
        raise RunFolderError(f"{folder} already holds a results.json; choose a new folder")
    existing = next(part for part in (folder, *folder.parents) if part.exists())  # tried at its nearest existing part
    try:
        if not existing.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "a file, not a folder")
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as error:
        raise RunFolderError(
            f"{folder} cannot be written ({existing}: {error.strerror or error}); choose another folder"
        ) from error
    return folder


def _meta(sweep: Sweep, backend: Backend) -> Meta:
    return Meta(
        run_id=sweep.out.name,
        status="running",
        backend=backend.name,
        profile=sweep.profile.name,
        model=sweep.model,  # type: ignore[arg-type]
        steps=list(sweep.loads),
        warmup_s=sweep.profile.warmup_s,
        window_s=sweep.profile.window_s,
        scenarios=[scenario.name for scenario in sweep.scenarios],
        servers=[server.name for server in sweep.servers],
        probe=sweep.probe,
        rounds=sweep.rounds,
        seed=sweep.seed,
        arrivals=sweep.arrivals if sweep.model == "open" else None,  # type: ignore[arg-type]
        connections=sweep.connections,  # type: ignore[arg-type]
        started=now(),
        host={"cores": os.cpu_count() or 0, "platform": platform.platform(), "machine": platform.machine()},
        budget=dict(backend.budget),
        pinning=backend.pinning,
        memory_measure=backend.memory_measure,
        versions={"flasklab": __version__, "python": platform.python_version(), "locust": version("locust")},
        app=_app_meta(sweep),
        prediction=sweep.prediction,
    )


def _app_meta(sweep: Sweep) -> dict[str, str] | None:
    """The user's app as results.json records it: module, folder, locustfile, requirements."""
    if sweep.user_app is None:
        return None
    app = sweep.user_app
    meta = {"module": app.spec, "path": str(app.path), "locustfile": str(sweep.scenarios[0].locustfile)}
    return meta | ({"requirements": str(app.requirements)} if app.requirements else {})


def add_note(target: Target, note: str) -> None:
    """Add to what the target's note says the lab did (or could not do) before measuring, once."""
    if note not in (target.note or ""):
        target.note = f"{target.note}; {note}" if target.note else note


class Run:
    """One sweep in progress: owns the Results and saves them after every change."""

    def __init__(self, sweep: Sweep, backend: Backend, observer: Observer) -> None:
        self.sweep = seeded(sweep)
        self.backend = backend
        self.observer = observer
        self.results = Results(meta=_meta(self.sweep, backend))
        self.announced: set[str] = set()  # claims whose verdict the observer was told
        self.said_cannot_restart = False
        self.save()

    def save(self) -> None:
        write_results(self.results, self.sweep.out)

    def _targets_of(self, server: Server) -> list[Target]:
        return [
            Target(
                server=server.name,
                scenario=scenario.name,
                concurrency=server.concurrency,
                params={**scenario.params, **self.sweep.params.get(scenario.name, {})},
                status="running",
            )
            for scenario in self.sweep.scenarios
        ]

    def _close_all(self, targets: list[Target], status: str, error: str | None, log_tail: str | None) -> None:
        for target in targets:
            unfinished_round = bool(target.rounds) and len(target.rounds[-1]) < len(self.sweep.loads)
            if target.status == "running" or unfinished_round:
                target.status = status  # type: ignore[assignment]
                target.error, target.log_tail = error, log_tail
        self.save()

    def execute(self) -> Results:
        try:
            self.backend.prepare([s for s in self.sweep.servers if not self.backend.unavailable(s)])
            self.observer.time_left(remaining(self.sweep, self.results))
            shuffle = random.Random(self.sweep.seed)
            for round_index in range(self.sweep.rounds):
                servers = list(self.sweep.servers)
                if self.sweep.rounds > 1:
                    shuffle.shuffle(servers)  # no server always first (or last) on a machine that drifts
                    order = ", ".join(server.name for server in servers)
                    self.observer.message(f"round {round_index + 1} of {self.sweep.rounds}: {order}")
                for server in servers:
                    scenarios = list(self.sweep.scenarios)
                    if self.sweep.rounds > 1:
                        shuffle.shuffle(scenarios)
                    self.measure_server(server, round_index, scenarios)
            self.results.meta.status = "complete"
        except BaseException:
            self.results.meta.status = "interrupted"
            for target in self.results.targets:
                if target.status == "running":  # its steps so far are kept; the rest were never measured
                    target.status, target.error = "failed", "the run was interrupted during this target"
            raise
        finally:
            self.results.claims = [*evaluate_claims(self.results.probe), *evaluate_slow_client_claims(self.results)]
            self.results.meta.ended = now()
            try:
                self.save()
            finally:
                self.backend.close()  # even when the disk is full: the lab's own upstream must not outlive the run
            self.announce_claims()
            if unmeasured := len(self.results.claims) - len(self.announced):
                reached = "in this run" if self.results.meta.status == "complete" else "in this run or not reached"
                self.observer.message(
                    f"{unmeasured} claims not measured: their servers or scenarios were not {reached}"
                )
        return self.results

    def announce_claims(self) -> None:
        """Tell the observer each verdict as soon as its evidence is all in, once."""
        for claim in decided_claims(self.results):
            if claim.claim not in self.announced:
                self.announced.add(claim.claim)
                self.observer.claim_decided(claim)

    def finished(self, targets: list[Target]) -> None:
        """Tell the observer that these targets are done for this round, then what is left of the sweep."""
        for target in targets:
            self.observer.target_finished(target)
        self.observer.time_left(remaining(self.sweep, self.results))

    def not_restarted(self, targets: list[Target], note: str | None = None) -> None:
        """Say on each target that its server was not fresh (the backend cannot restart it); said once in the log."""
        reason = self.backend.cannot_restart or "the server could not be restarted"
        for target in targets:
            if note:
                add_note(target, note)
            add_note(target, reason)
        if not self.said_cannot_restart:
            self.said_cannot_restart = True
            self.observer.message(f"{self.backend.name} backend: {reason} (noted on the targets concerned)")

    def _record_unprobed(self, server: Server, status: TargetStatus, reason: str) -> None:
        if self.sweep.probe:
            self.record_probe(
                ProbeResult(
                    server=server.name,
                    status=status,
                    configured=server.concurrency,
                    measured=None,
                    width=PROBE_WIDTH,
                    io_ms=PROBE_IO_MS,
                    error=reason,
                )
            )

    def record_probe(self, probe: ProbeResult) -> None:
        self.results.probe.append(probe)
        self.save()
        self.observer.probe_finished(probe)
        self.announce_claims()

    def measure_server(self, server: Server, round_index: int = 0, scenarios: list[Scenario] | None = None) -> None:
        """One round of one server: started afresh, probed in the first round, then each scenario in the given order."""
        scenarios = scenarios if scenarios is not None else list(self.sweep.scenarios)
        if round_index == 0:
            self.results.targets.extend(self._targets_of(server))
        by_scenario = {t.scenario: t for t in self.results.targets if t.server == server.name}
        if any(target.status in ("failed", "skipped") for target in by_scenario.values()):
            return  # a server that failed once is recorded as such; later rounds do not retry it
        targets = [by_scenario[scenario.name] for scenario in scenarios]
        if self.sweep.rounds > 1:
            for target in targets:
                target.rounds.append([])
            if round_index > 0 and self.backend.cannot_restart:
                self.not_restarted(targets)  # this round meets the server the previous one left
        if reason := self.backend.unavailable(server):
            self._record_unprobed(server, "skipped", reason)
            self._close_all(targets, "skipped", reason, None)
            self.finished(targets)
            return
        done: list[str] = []  # scenarios finished in this round
        running: RunningTarget | None = None
        try:
            with held_interrupts():  # a signal mid-start would leave the server running with no handle to stop it
                running = self.backend.start(server)
            running.wait_healthy(START_TIMEOUT.value())
            self.results.meta.server_versions[server.name] = running.info()
            if self.sweep.probe and round_index == 0:
                self.observer.probe_started(server.name)
                if reason := unsupported(running.url):
                    self._record_unprobed(server, "skipped", reason)
                else:
                    self.record_probe(
                        probe_concurrency(running.url, server, io_ms=PROBE_IO_MS, connections=self.sweep.connections)
                    )
            previous: str | None = None
            for target, scenario in zip(targets, scenarios, strict=True):
                if previous is not None and (reason := running.gone()):  # between scenarios: not hidden by a restart
                    raise TargetFailed(f"{reason} after {previous}")
                if previous is not None and not responsive(running):
                    running = self.fresh_server(server, running, target, previous)
                self.measure_target(running, target, scenario)
                previous = scenario.name
                done.append(scenario.name)
                self.finished([target])
        except TargetFailed as error:
            if not any(probe.server == server.name for probe in self.results.probe):
                self._record_unprobed(server, "failed", str(error))
            self._close_all(targets, "failed", str(error), running.log_tail() if running else None)
            self.finished([target for target in targets if target.scenario not in done])
        finally:
            if running is not None:
                tail = running.log_tail()
                running.stop()
                for target in targets:
                    if target.status == "failed" and not target.log_tail:
                        target.log_tail = tail
                self.save()
        self.announce_claims()

    def fresh_server(self, server: Server, running: RunningTarget, target: Target, previous: str) -> RunningTarget:
        """The server restarted for ``target``: still busy with what the previous scenario left (dev-single works off
        queued self-calls for a minute), so that one scenario does not measure another's backlog.

        Where the backend cannot restart it, the target is measured on the server as it is and says so.
        """
        busy = f"the server did not answer /health within {RESPONSIVE_S:g} s after {previous}"
        if self.backend.cannot_restart:
            self.observer.message(f"{server.name}: {busy}; measured as it is for {target.scenario}")
            self.not_restarted([target], f"{busy}: not restarted")
            return running
        note = f"{busy}: restarted"
        self.observer.message(f"{server.name}: {note} for {target.scenario}")
        running.stop()
        with held_interrupts():
            running = self.backend.start(server)
        running.wait_healthy(START_TIMEOUT.value())
        add_note(target, note)
        return running

    def measure_target(self, running: RunningTarget, target: Target, scenario: Scenario) -> None:
        self.observer.target_started(target.server, target.scenario)
        target.status = "running"  # again, in a later round

        def on_step(step: Step) -> None:
            if target.rounds:
                target.rounds[-1].append(step)
                target.steps = combine_rounds(target.rounds)
            else:
                target.steps.append(step)
            self.save()
            reason = running.gone()  # read before the observer hears of the step, so the step is judged as it ended
            self.observer.step_finished(target.server, target.scenario, assess(step, limits(target, self.results.meta)))
            if reason:  # the load stops here: the next steps would only meet a dead address
                raise TargetFailed(f"{reason} during {target.scenario}")

        def on_window(_: int, users: int) -> None:
            self.observer.window_started(target.server, target.scenario, users)

        job = LoadJob(
            scenario.locustfile,
            target.params,
            self.sweep.profile,
            self.sweep.processes,
            self.sweep.model,
            self.sweep.arrivals,
            self.sweep.seed or 0,
            self.sweep.connections,
        )
        try:
            run_load(job, running, self.backend, on_window, on_step)
        except LoadFailed as error:
            target.status, target.error = "failed", str(error)
            self.save()
            if reason := running.gone():
                target.error = f"{reason} during {target.scenario}"
                raise TargetFailed(target.error) from error
            return
        if reason := running.gone():
            target.status, target.error = "failed", f"{reason} during {target.scenario}"
            raise TargetFailed(target.error)
        last_steps = target.rounds[-1] if target.rounds else target.steps
        if last_steps and not answered(last_steps[-1]):
            try:  # hung, or still working off a queue: only /health can tell
                running.wait_healthy(START_TIMEOUT.value())
            except TargetFailed as error:
                silent = f"stopped answering during {target.scenario}: no response in its last step"
                target.status, target.error = "failed", f"{silent}; /health {error}"
                raise TargetFailed(target.error) from error
        target.status = "ok"
        self.save()


def responsive(running: RunningTarget) -> bool:
    """Does the server answer /health promptly (between scenarios)?"""
    try:
        running.wait_healthy(RESPONSIVE_S)
    except TargetFailed:
        return False
    return True


def answered(step: Step) -> bool:
    """Did the server respond at all in this step (a success or any HTTP status, not only timeouts or resets)?"""
    return step.requests > step.failures or any(kind.startswith("HTTP ") for kind in step.errors)
