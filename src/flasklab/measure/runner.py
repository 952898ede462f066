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

from flasklab import __version__
from flasklab.core.catalog import (
    Scenario,
    Server,
    compose_environment,
    lab_root,
    recycling_unsupported,
)
from flasklab.core.claims import claim_definitions, decided_claims, run_claims
from flasklab.core.results import (
    Meta,
    ProbeResult,
    Results,
    ScenarioDeclaration,
    ServerEntry,
    Target,
    TargetStatus,
    now,
    write_results,
)
from flasklab.core.settings import PROBE_IO_MS, PROBE_WIDTH
from flasklab.core.sweep import Sweep, estimate, remaining, seeded
from flasklab.measure.backends.base import Backend
from flasklab.measure.observer import Observer
from flasklab.measure.server_round import ServerRound, add_note


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
        steps_rule=sweep.steps_rule,
        reload_at_s=sweep.reload_at_s or None,
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
        # What the views would otherwise read from the checkout: the run stands on its own.
        slo_p95_ms=sweep.slo_p95_ms,
        scenario_declarations={scenario.name: ScenarioDeclaration.of(scenario) for scenario in sweep.scenarios},
        server_entries={server.name: ServerEntry.of(server) for server in sweep.servers},
        claim_definitions=claim_definitions(sweep.servers),
    )


def _app_meta(sweep: Sweep) -> dict[str, str] | None:
    """The user's app as results.json records it: module, folder, locustfile, requirements."""
    if sweep.user_app is None:
        return None
    app = sweep.user_app
    meta = {"module": app.spec, "path": str(app.path), "locustfile": str(sweep.scenarios[0].locustfile)}
    return meta | ({"requirements": str(app.requirements)} if app.requirements else {})


def targets_of(sweep: Sweep, server: Server) -> list[Target]:
    """The server's targets, one per scenario of the sweep, its parameters with the sweep's overrides."""
    return [
        Target(
            server=server.name,
            scenario=scenario.name,
            concurrency=server.concurrency,
            params={**scenario.params, **sweep.params.get(scenario.name, {})},
            status="running",
        )
        for scenario in sweep.scenarios
    ]


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
        """Write results.json; while the run goes on, with its time left estimated afresh (the live pages read it)."""
        meta = self.results.meta
        meta.time_left = estimate(self.results) if meta.status == "running" else None
        write_results(self.results, self.sweep.out)

    def close_all(self, targets: list[Target], status: str, error: str | None, log_tail: str | None) -> None:
        for target in targets:
            unfinished_round = bool(target.rounds) and len(target.rounds[-1]) < len(target.rounds[0])
            if target.status == "running" or unfinished_round:
                target.status = status  # type: ignore[assignment]
                target.error, target.log_tail = error, log_tail
        self.save()

    def execute(self) -> Results:
        try:
            self.backend.prepare([s for s in self.sweep.servers if not self.backend.unavailable(s)])
            self.observer.time_left(remaining(self.results))
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
            self.results.claims = run_claims(self.results)
            self.results.meta.ended = now()
            try:
                self.save()
            finally:
                self.backend.close()  # even when the disk is full: the lab's own upstream must not outlive the run
            self.announce_claims()
            if unmeasured := len(self.results.claims) - len(self.announced):
                reached = "in this run" if self.results.meta.status == "complete" else "in this run or not reached"
                self.observer.message(
                    f"{unmeasured} claims not measured: their servers, scenarios or reloads were not {reached}"
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
        self.observer.time_left(remaining(self.results))

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

    def record_unprobed(self, server: Server, status: TargetStatus, reason: str) -> None:
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
        targets = self.round_targets(server, round_index, scenarios)
        if targets is None:
            return  # a server that failed once is recorded as such; later rounds do not retry it
        unsupported = recycling_unsupported(server, compose_environment(lab_root()))
        if reason := self.backend.unavailable(server) or unsupported:
            self.record_unprobed(server, "skipped", reason)
            self.close_all(targets, "skipped", reason, None)
            self.finished(targets)
            return
        ServerRound(self, server, targets, scenarios).measure(first_round=round_index == 0)
        self.announce_claims()

    def round_targets(self, server: Server, round_index: int, scenarios: list[Scenario]) -> list[Target] | None:
        """The server's targets in this round's order (made in the first round), each with its new round begun; None
        when the server failed or was skipped in an earlier round."""
        if round_index == 0:
            self.results.targets.extend(targets_of(self.sweep, server))
        by_scenario = {t.scenario: t for t in self.results.targets if t.server == server.name}
        if any(target.status in ("failed", "skipped") for target in by_scenario.values()):
            return None
        targets = [by_scenario[scenario.name] for scenario in scenarios]
        if self.sweep.rounds > 1:
            for target in targets:
                target.rounds.append([])
            if round_index > 0 and self.backend.cannot_restart:
                self.not_restarted(targets)  # this round meets the server the previous one left
        return targets
