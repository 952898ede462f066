"""A deploy under load (``flasklab run --reload-at S``): S seconds into a step's window, the server's graceful reload
with the app's next code version (RunningTarget.reload), or for a server without one a restart (RunningTarget.redeploy:
what its requests meet then is the finding), and after the window what the requests saw (the step's ``reload``:
flasklab.core.moments reads the failures and the way back from its timeline)."""

from __future__ import annotations

import threading
import time

from flasklab.core.moments import after_reload
from flasklab.core.results import Step
from flasklab.core.step_record import Reload
from flasklab.measure.backends.base import RunningTarget, TargetFailed


class Deploy:
    """One reload, asked ``at_s`` after the window began (a timer thread: the load goes on meanwhile)."""

    def __init__(self, running: RunningTarget, at_s: float, how: str, restart: bool = False) -> None:
        self.running, self.at_s, self.how, self.restart = running, at_s, how, restart
        self.began = time.monotonic()
        self.asked_at_s: float | None = None
        self.version: str | None = None
        self.error: str | None = None
        self.timer = threading.Timer(at_s, self.reload)
        self.timer.daemon = True
        self.timer.start()

    def reload(self) -> None:
        self.asked_at_s = time.monotonic() - self.began
        try:
            self.version = self.running.redeploy() if self.restart else self.running.reload()
        except TargetFailed as error:
            self.error = str(error)

    def record(self, step: Step) -> Reload:
        """What the reload did in ``step``'s window (the window has ended: a reload not asked by then never is)."""
        self.timer.cancel()
        self.timer.join()
        if self.asked_at_s is None:
            return Reload(
                at_s=self.at_s,
                how=self.how,
                code_version=None,
                failures_after=0,
                back_after_s=None,
                error=f"the window ended after {step.duration_s:g} s, before the reload was due",
            )
        failures, back = after_reload(step.timeline or [], self.asked_at_s)
        return Reload(
            at_s=round(self.asked_at_s, 3),
            how=self.how,
            code_version=self.version,
            served_after=self.running.served_versions(),
            failures_after=failures,
            back_after_s=back,
            error=self.error,
        )
