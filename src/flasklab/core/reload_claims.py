"""The claims about deploys under load, decided on the steps that recorded a reload (``--reload-at``).

"gunicorn reloads with HUP without losing a request under load", and the same of uWSGI and granian: decided on every
target of the run whose server is that software (its catalog label lab.server, as the run recorded it) and whose steps
recorded a reload. Confirmed when each reload lost no request from its second to the window's end and the new code
version was what the app answered with at the window's end; refuted, naming the first target that did not; not run
when no reload of that software was measured (a run without ``--reload-at``, or the servers not in it).
"""

from __future__ import annotations

from dataclasses import dataclass

from flasklab.core.finding import Finding
from flasklab.core.results import Claim, Results, Target


@dataclass(frozen=True)
class ReloadClaim:
    """A claim that ``software``'s graceful reload loses no request under load."""

    claim: str
    text: str
    software: str  # ServerEntry.software: lab.server

    def targets(self, results: Results) -> list[Target]:
        """The run's targets of this software that recorded a reload, in run order."""
        entries = results.meta.server_entries or {}
        return [
            target
            for target in results.targets
            if (entry := entries.get(target.server)) is not None
            and entry.software == self.software
            and any(step.reload is not None for step in target.steps)
        ]

    def decide(self, results: Results) -> Finding:
        reloaded = self.targets(results)
        if not reloaded:
            asked = results.meta.reload_at_s
            why = f"no {self.software} server was reloaded" if asked else "no deploy under load asked (--reload-at S)"
            return Finding("not-run", f"{why} in this run")
        told = []
        for target in reloaded:
            for step in target.steps:
                reload = step.reload
                if reload is None:
                    continue
                where = f"{target.server} on {target.scenario} at {step.users} users"
                if reload.code_version is None:
                    return Finding("refuted", f"{where}: the reload could not be asked ({reload.error})")
                if reload.failures_after or reload.served_after != [reload.code_version]:
                    served = ", ".join(reload.served_after) or "nothing"
                    return Finding(
                        "refuted",
                        f"{where}: {reload.failures_after:,} requests failed from the reload on, and the app answered "
                        f"with code {served} at the window's end (deployed: {reload.code_version})",
                    )
                told.append(f"{target.server} ({step.users} users)")
        return Finding(
            "confirmed",
            f"{len(told)} reloads under load ({', '.join(told)}): no request failed from the reload on, and the new "
            "code answered at each window's end",
        )

    def verdict(self, results: Results) -> Claim:
        finding = self.decide(results)
        return Claim(claim=self.claim, text=self.text, verdict=finding.verdict, evidence=finding.evidence)


RELOAD_CLAIMS: tuple[ReloadClaim, ...] = (
    ReloadClaim(
        "gunicorn-hup-loses-nothing", "gunicorn reloads with HUP without losing a request under load", "gunicorn"
    ),
    ReloadClaim("uwsgi-reload-loses-nothing", "uWSGI reloads gracefully without losing a request under load", "uwsgi"),
    ReloadClaim(
        "granian-hup-loses-nothing",
        "granian respawns its workers on HUP without losing a request under load",
        "granian",
    ),
)


def evaluate_reload_claims(results: Results) -> list[Claim]:
    """A verdict per reload claim, from the run's reloads."""
    return [claim.verdict(results) for claim in RELOAD_CLAIMS]
