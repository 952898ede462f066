"""The claims about slow clients, decided on the slowclient scenario's steps: do a front's fast users fare better?"""

from __future__ import annotations

from dataclasses import dataclass

from flasklab.core.analysis import analyse
from flasklab.core.finding import Finding
from flasklab.core.results import Claim, Results, Step, Target, Verdict

# The slowclient scenario (locustfiles/slowclient.py): its fast users' request name, read apart in every step.
SLOW_CLIENT_SCENARIO = "slowclient"
FAST_USERS = "/hello"
# Fast users are "held" when their p95 is at least this share of the quickest slow kind's p95 in the same step (they
# waited like the slow clients, behind them), or when not one of them succeeded. "Protected": the fronted server's
# fast users were not held while the plain server's were, with PROTECTION_FACTOR times their throughput.
HELD_SHARE = 0.5
PROTECTION_FACTOR = 2.0


@dataclass(frozen=True)
class FastUsers:
    """The fast users' figures in one slowclient step, beside the slow clients' own p95."""

    users: int
    rps: float  # successful completions per second
    p95_ms: float | None  # None: not one success (starved)
    slow_p95_ms: float | None  # the quickest slow kind's p95 in the same step

    @property
    def held(self) -> bool:
        """Did the fast users wait like the slow clients (or get nothing at all)?"""
        if self.p95_ms is None:
            return True
        return self.slow_p95_ms is not None and self.p95_ms >= HELD_SHARE * self.slow_p95_ms

    def text(self) -> str:
        if self.p95_ms is None:
            return f"{self.rps:.1f} rps, no success (starved)"
        slow = f" (slow clients' {self.slow_p95_ms:.0f} ms)" if self.slow_p95_ms is not None else ""
        return f"{self.rps:.1f} rps, p95 {self.p95_ms:.0f} ms{slow}"


def slow_clients_finished(step: Step) -> bool:
    """Did any slow client finish in this step? (The same users run the same mix on every server of a run.)"""
    return bool(set(step.names) - {FAST_USERS})


def fast_users(step: Step) -> FastUsers | None:
    """The fast users' figures in a step; None for a step recorded before per-name latencies."""
    completed = step.names.get(FAST_USERS, 0)
    successes = completed - step.name_failures.get(FAST_USERS, 0)
    if successes > 0 and FAST_USERS not in step.name_p95_ms:
        return None
    slow_p95 = [p95 for name, p95 in step.name_p95_ms.items() if name != FAST_USERS]
    return FastUsers(
        step.users, successes / step.duration_s, step.name_p95_ms.get(FAST_USERS), min(slow_p95, default=None)
    )


def counting_steps(target: Target, results: Results) -> dict[int, Step]:
    """The target's steps that count for a slow-client claim, by users: the server measured, per-name figures kept.

    A starved server's thin, unsteady or empty step is what the claim is about, so only the steps analysis says
    measured something else (``Standing.measured_the_server``: Locust, or other processes on its CPUs) are left out.
    """
    counted = {}
    for standing in analyse(target, results.meta).steps:
        if not standing.measured_the_server or fast_users(standing.step) is None:
            continue
        counted[standing.step.users] = standing.step
    return counted


def protected(plain: FastUsers, fronted: FastUsers) -> bool:
    """Were the fronted server's fast users served (not held) with PROTECTION_FACTOR times the plain one's rps?"""
    return not fronted.held and fronted.rps >= PROTECTION_FACTOR * plain.rps


@dataclass(frozen=True)
class SlowClientClaim:
    """A claim decided on the slowclient scenario: do ``fronted``'s fast users fare better than ``plain``'s?"""

    claim: str
    text: str
    plain: str
    fronted: str
    protects: bool  # the claim says the front protects (True) or does not (False)

    def verdict(self, results: Results) -> Claim:
        finding = self.decide(results)
        return Claim(claim=self.claim, text=self.text, verdict=finding.verdict, evidence=finding.evidence)

    def finished(self, results: Results) -> bool:
        """Are both targets done with every round of the run, or has one of them failed (or been skipped)?"""
        targets = [results.target(name, SLOW_CLIENT_SCENARIO) for name in (self.plain, self.fronted)]
        if any(target is not None and target.status in ("failed", "skipped") for target in targets):
            return True
        rounds = results.meta.rounds
        return all(
            target is not None and target.status == "ok" and (rounds == 1 or len(target.rounds) == rounds)
            for target in targets
        )

    def decide(self, results: Results) -> Finding:
        """The verdict at the heaviest load both targets measured with slow clients; not-run without one."""
        targets = {name: results.target(name, SLOW_CLIENT_SCENARIO) for name in (self.plain, self.fronted)}
        for name, target in targets.items():
            if target is None or target.status not in ("ok", "running"):
                state = "not measured" if target is None else f"{target.status}: {target.error or 'no reason given'}"
                return Finding("not-run", f"{name} on {SLOW_CLIENT_SCENARIO}: {state}")
        plain_steps = counting_steps(targets[self.plain], results)  # type: ignore[arg-type]
        fronted_steps = counting_steps(targets[self.fronted], results)  # type: ignore[arg-type]
        common = [
            users
            for users in sorted(set(plain_steps) & set(fronted_steps))
            if slow_clients_finished(plain_steps[users]) or slow_clients_finished(fronted_steps[users])
        ]
        if not common:
            return Finding(
                "not-run",
                f"no step of {SLOW_CLIENT_SCENARIO} counts in both {self.plain} and {self.fronted} (a slow client "
                "finished in one of them, per-name figures recorded, neither generator-bound nor sharing the "
                "server's CPUs)",
            )
        users = common[-1]
        plain, fronted = fast_users(plain_steps[users]), fast_users(fronted_steps[users])
        if plain is None or fronted is None:  # counting_steps keeps only steps that have them
            return Finding("not-run", f"no per-name figures at {users} users")
        if not plain.held:
            return Finding(
                "not-run",
                f"at {users} users the slow clients did not hold {self.plain}'s fast users ({FAST_USERS}: "
                f"{plain.text()}): there was nothing to protect them from",
            )
        held = protected(plain, fronted)
        verdict: Verdict = "confirmed" if held == self.protects else "refuted"
        return Finding(
            verdict,
            f"at {users} users with slow clients, fast users ({FAST_USERS}) got {fronted.text()} on "
            f"{self.fronted} against {plain.text()} on {self.plain}: "
            f"{'protected' if held else 'not protected'} (protected: a p95 under {HELD_SHARE:g} of the slow "
            f"clients' and {PROTECTION_FACTOR:g}x the throughput)",
        )


SLOW_CLIENT_CLAIMS: tuple[SlowClientClaim, ...] = (
    SlowClientClaim(
        "nginx-buffering-protects-sync",
        "A buffering web server in front protects sync workers from slow clients",
        "gunicorn-sync",
        "nginx-gunicorn-sync",
        protects=True,
    ),
    SlowClientClaim(
        "nginx-unbuffered-does-not-protect",
        "nginx in front without buffering does not protect sync workers from slow clients",
        "gunicorn-sync",
        "nginx-gunicorn-sync-unbuffered",
        protects=False,
    ),
)


def evaluate_slow_client_claims(results: Results) -> list[Claim]:
    """A verdict per slow-client claim, from the slowclient scenario's steps of the run."""
    return [claim.verdict(results) for claim in SLOW_CLIENT_CLAIMS]
