"""One round of one server: started afresh, probed in the first round, then loaded with each scenario in turn.

flasklab.measure.runner's Run owns the results, saves them and tells its observer; a ServerRound does one server's
part of a round and a TargetLoad one target's load, through the run as RunState (flasklab.measure.observer) sees it. A
server that fails is data (status, reason, log tail), never the end of the sweep: the round closes its targets and the
run goes on with the next server.
"""

from __future__ import annotations

from flasklab.core.analysis import assess, limits
from flasklab.core.catalog import Scenario, Server
from flasklab.core.results import Step, Target
from flasklab.core.settings import PROBE_IO_MS, START_TIMEOUT
from flasklab.measure.backends.base import RunningTarget, TargetFailed
from flasklab.measure.deploy import Deploy
from flasklab.measure.interrupts import held_interrupts
from flasklab.measure.load import LoadFailed, LoadJob, run_load
from flasklab.measure.observer import RunState
from flasklab.measure.probe import probe_concurrency, unsupported
from flasklab.measure.rounds import combine_rounds

# Between scenarios, a server that does not answer /health within this long is restarted before the next one.
RESPONSIVE_S = 3.0


def add_note(target: Target, note: str) -> None:
    """Add to what the target's note says the lab did (or could not do) before measuring, once."""
    if note not in (target.note or ""):
        target.note = f"{target.note}; {note}" if target.note else note


class ServerRound:
    """One server's part of a round: started, probed in the first round, its targets measured in the round's order
    (``scenarios``), stopped; a failure closes the targets not measured yet."""

    def __init__(self, run: RunState, server: Server, targets: list[Target], scenarios: list[Scenario]) -> None:
        self.run = run
        self.server = server
        self.targets = targets
        self.scenarios = scenarios
        self.running: RunningTarget | None = None
        self.done: list[str] = []  # scenarios finished in this round

    def measure(self, first_round: bool) -> None:
        try:
            running = self.start()
            if first_round and self.run.sweep.probe:
                self.probe(running)
            self.measure_targets()
        except TargetFailed as error:
            self.failed(error)
        finally:
            self.stop()

    def start(self) -> RunningTarget:
        with held_interrupts():  # a signal mid-start would leave the server running with no handle to stop it
            self.running = running = self.run.backend.start(self.server)
        running.wait_healthy(START_TIMEOUT.value())
        self.run.results.meta.server_versions[self.server.name] = running.info()
        return running

    def probe(self, running: RunningTarget) -> None:
        self.run.observer.probe_started(self.server.name)
        if reason := unsupported(running.url):
            self.run.record_unprobed(self.server, "skipped", reason)
            return
        connections = self.run.sweep.connections
        self.run.record_probe(probe_concurrency(running.url, self.server, io_ms=PROBE_IO_MS, connections=connections))

    def measure_targets(self) -> None:
        previous: str | None = None
        for target, scenario in zip(self.targets, self.scenarios, strict=True):
            running = self.ready(target, previous) if previous is not None else self.running
            assert running is not None  # started before the first target
            TargetLoad(self.run, running, self.server, target, scenario).measure()
            previous = scenario.name
            self.done.append(scenario.name)
            self.run.finished([target])

    def ready(self, target: Target, previous: str) -> RunningTarget:
        """The server for the next target: not gone (that is not hidden by a restart), and restarted when it is still
        busy with what the previous scenario left."""
        running = self.running
        assert running is not None
        if reason := running.gone():
            raise TargetFailed(f"{reason} after {previous}")
        if not responsive(running):
            running = self.running = self.fresh_server(running, target, previous)
        return running

    def fresh_server(self, running: RunningTarget, target: Target, previous: str) -> RunningTarget:
        """The server restarted for ``target``: still busy with what the previous scenario left (dev-single works off
        queued self-calls for a minute), so that one scenario does not measure another's backlog.

        Where the backend cannot restart it, the target is measured on the server as it is and says so.
        """
        busy = f"the server did not answer /health within {RESPONSIVE_S:g} s after {previous}"
        if self.run.backend.cannot_restart:
            self.run.observer.message(f"{self.server.name}: {busy}; measured as it is for {target.scenario}")
            self.run.not_restarted([target], f"{busy}: not restarted")
            return running
        note = f"{busy}: restarted"
        self.run.observer.message(f"{self.server.name}: {note} for {target.scenario}")
        running.stop()
        with held_interrupts():
            running = self.running = self.run.backend.start(self.server)
        running.wait_healthy(START_TIMEOUT.value())
        add_note(target, note)
        return running

    def failed(self, error: TargetFailed) -> None:
        """The server failed: its probe (if it had none yet) and every target not measured in this round say why."""
        if not any(probe.server == self.server.name for probe in self.run.results.probe):
            self.run.record_unprobed(self.server, "failed", str(error))
        tail = self.running.log_tail() if self.running else None
        self.run.close_all(self.targets, "failed", str(error), tail)
        self.run.finished([target for target in self.targets if target.scenario not in self.done])

    def stop(self) -> None:
        """Stop the server; a failed target without a log tail gets the server's last words."""
        if self.running is None:
            return
        tail = self.running.log_tail()
        self.running.stop()
        for target in self.targets:
            if target.status == "failed" and not target.log_tail:
                target.log_tail = tail
        self.run.save()


class TargetLoad:
    """One target's load on a running server: each step saved and told as it ends, then the server's state after
    the load judged (gone, or silent through the last step: the target, and the server's round, failed)."""

    def __init__(
        self, run: RunState, running: RunningTarget, server: Server, target: Target, scenario: Scenario
    ) -> None:
        self.run = run
        self.running = running
        self.server = server
        self.target = target
        self.scenario = scenario
        self.deploy: Deploy | None = None  # --reload-at: the reload of the window going on

    def measure(self) -> None:
        self.run.observer.target_started(self.target.server, self.target.scenario)
        self.target.status = "running"  # again, in a later round
        job = LoadJob.for_sweep(self.run.sweep, self.scenario, self.target.params)
        if len(self.target.rounds) > 1:  # a later round repeats the loads the first one ran, so that rounds combine
            first = tuple(int(step.load) for step in self.target.rounds[0])
            job = job.repeating(first or job.load.steps)
        try:
            run_load(job, self.running, self.run.backend, self.window_started, self.step_finished, self.stopped)
        except LoadFailed as error:
            self.load_failed(error)
            return
        self.check_answering()
        self.target.status = "ok"
        self.run.save()

    def window_started(self, _: int, users: int) -> None:
        self.run.observer.window_started(self.target.server, self.target.scenario, users)
        sweep = self.run.sweep
        if sweep.reload_at_s:
            server = self.server
            if server.reload is None:  # no graceful reload: a deploy restarts it
                how = "a restart (no graceful reload in the catalog): stopped, then started again"
                self.deploy = Deploy(self.running, sweep.reload_at_s, how, restart=True)
            else:
                how = f"{server.reload} to the server's main process"
                self.deploy = Deploy(self.running, sweep.reload_at_s, how)

    def deployed(self, step: Step) -> Step:
        """The step with what its window's reload did, if one was asked."""
        if self.deploy is None:
            return step
        deploy, self.deploy = self.deploy, None
        return step.model_copy(update={"reload": deploy.record(step)})

    def stopped(self, reason: str) -> None:
        """The curve stopped below the profile's top (adaptive steps): recorded and told, in the round that decided."""
        self.target.stopped = reason
        self.run.save()
        self.run.observer.curve_stopped(self.target.server, self.target.scenario, reason)

    def step_finished(self, step: Step) -> None:
        target, step = self.target, self.deployed(step)
        if target.rounds:
            target.rounds[-1].append(step)
            target.steps = combine_rounds(target.rounds)
        else:
            target.steps.append(step)
        self.run.save()
        reason = self.running.gone()  # read before the observer hears of the step, so the step is judged as it ended
        standing = assess(step, limits(target, self.run.results.meta))
        self.run.observer.step_finished(target.server, target.scenario, standing)
        if reason:  # the load stops here: the next steps would only meet a dead address
            raise TargetFailed(f"{reason} during {target.scenario}")

    def load_failed(self, error: LoadFailed) -> None:
        """The load generator failed: the target is failed; the server's round too when the server is gone."""
        target = self.target
        target.status, target.error = "failed", str(error)
        self.run.save()
        if reason := self.running.gone():
            target.error = f"{reason} during {target.scenario}"
            raise TargetFailed(target.error) from error

    def check_answering(self) -> None:
        """After the load: the server is still there, and answers /health if its last step got no answer at all."""
        target = self.target
        if reason := self.running.gone():
            target.status, target.error = "failed", f"{reason} during {target.scenario}"
            raise TargetFailed(target.error)
        last_steps = target.rounds[-1] if target.rounds else target.steps
        if last_steps and not answered(last_steps[-1]):
            try:  # hung, or still working off a queue: only /health can tell
                self.running.wait_healthy(START_TIMEOUT.value())
            except TargetFailed as error:
                silent = f"stopped answering during {target.scenario}: no response in its last step"
                target.status, target.error = "failed", f"{silent}; /health {error}"
                raise TargetFailed(target.error) from error


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
