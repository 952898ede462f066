"""The folklore, checked: each claim of the seed gets a verdict from the probe's measurements, with evidence.

A verdict rests only on evidence that can carry it: a claim about how many requests a server serves at once needs
every probe request answered (a failed or missing one could have changed the count), so with any of them missing
the claim is ``not-run``, never ``refuted``. A ``/self`` that got no answer at all from a server that answered its
other requests is a deadlock, as much as the app's own 504. Claim texts name the configured numbers (the catalog,
filled in from .env), so they say what was actually tested.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from flasklab.catalog import CatalogError, Server, load_servers
from flasklab.probe import SELF_CALL_CLIENT_TIMEOUT_S
from flasklab.results import Claim, ProbeResult, Verdict
from flasklab.settings import PROBE_MANY


@dataclass(frozen=True)
class Finding:
    """A claim's verdict and the evidence it rests on."""

    verdict: Verdict
    evidence: str


Check = Callable[[ProbeResult], Finding]
SelfCallOutcome = Literal["answered", "deadlocked"]


def requests_evidence(probe: ProbeResult) -> str:
    """How many of the probe's requests completed and failed: every verdict says what it stands on."""
    sent = f"{probe.completed} of {probe.width} concurrent {probe.io_ms} ms /io requests completed"
    sent += f", {probe.failed} failed"
    unsent = probe.width - probe.completed - probe.failed
    return f"{sent}, {unsent} not sent" if unsent > 0 else sent


def workers_evidence(probe: ProbeResult) -> str:
    """Which processes served the probe, when it knows: an uneven spread explains a count below the configured."""
    if probe.workers_seen is None or probe.per_worker_max is None:
        return ""
    return f"; {probe.workers_seen} server process(es) got requests, at most {probe.per_worker_max} at once in one"


def incomplete(probe: ProbeResult) -> Finding | None:
    """``not-run`` when a probe request failed or is missing (its answer could change the count), else None."""
    if probe.measured is not None and probe.completed >= probe.width and not probe.failed:
        return None
    reason = f" ({probe.error})" if probe.error else ""
    return Finding("not-run", f"{requests_evidence(probe)}{reason}: a count needs every request answered")


def serves_exactly(expected: int | None = None) -> Check:
    """Confirmed when the measured overlap equals ``expected`` (default: the server's configured concurrency)."""

    def check(probe: ProbeResult) -> Finding:
        if missing := incomplete(probe):
            return missing
        target = expected if expected is not None else probe.configured
        if target is None:
            return Finding("not-run", f"{probe.server} is configured unbounded: there is no number to check")
        if target >= probe.width:
            return Finding(
                "not-run",
                f"the probe sent {probe.width} requests, not more than the {target} expected: it cannot tell "
                f"{target} from more; {requests_evidence(probe)}",
            )
        verdict: Verdict = "confirmed" if probe.measured == target else "refuted"
        return Finding(
            verdict,
            f"{probe.measured} requests overlapped on the server (expected {target}; configured "
            f"{probe.configured if probe.configured is not None else 'unbounded'}){workers_evidence(probe)}; "
            f"{requests_evidence(probe)}",
        )

    return check


def serves_many(probe: ProbeResult) -> Finding:
    """Confirmed when at least PROBE_MANY requests overlapped on the server."""
    if missing := incomplete(probe):
        return missing
    verdict: Verdict = "confirmed" if (probe.measured or 0) >= PROBE_MANY else "refuted"
    return Finding(
        verdict,
        f'{probe.measured} requests overlapped on the server ("many" means at least {PROBE_MANY})'
        f"{workers_evidence(probe)}; {requests_evidence(probe)}",
    )


def one_at_a_time_per_worker(probe: ProbeResult) -> Finding:
    """Confirmed when no two probe requests overlapped inside one server process, whatever the server did overall.

    A worker that accepted most connections while others idled still served them one at a time: the evidence says
    how many workers got connections, since that is what decides the server's throughput.
    """
    if missing := incomplete(probe):
        return missing
    if probe.per_worker_max is None or probe.workers_seen is None:
        return Finding(
            "not-run",
            "the probe did not record which process served each request (an /io without pid, or results from "
            f"before per-worker probing); {requests_evidence(probe)}",
        )
    configured = f"{probe.configured}" if probe.configured is not None else "unbounded"
    verdict: Verdict = "confirmed" if probe.per_worker_max == 1 else "refuted"
    return Finding(
        verdict,
        f"at most {probe.per_worker_max} request(s) at once in any one worker process; {probe.workers_seen} of "
        f"{configured} workers got connections, {probe.measured} overlapped across the server; "
        f"{requests_evidence(probe)}",
    )


def self_call_outcome(probe: ProbeResult) -> SelfCallOutcome | None:
    """What GET /self showed: answered (200), deadlocked (504, or no answer at all), or nothing conclusive.

    No answer counts as a deadlock only from a server that answered probe requests: a server that answers nothing
    tells nothing about calling itself.
    """
    if probe.selfcall_status == 200:
        return "answered"
    if probe.selfcall_status == 504:
        return "deadlocked"
    timed_out = probe.selfcall_status is None and (probe.selfcall_s or 0) >= SELF_CALL_CLIENT_TIMEOUT_S
    return "deadlocked" if timed_out and probe.completed > 0 else None


def self_call_description(probe: ProbeResult) -> str:
    """GET /self's outcome in words, with its time."""
    seconds = f"{probe.selfcall_s} s" if probe.selfcall_s is not None else "an unknown time"
    if probe.selfcall_status == 504:
        return f"GET /self answered 504 after {seconds}: the app's call to its own server timed out"
    if probe.selfcall_status is not None:
        return f"GET /self answered {probe.selfcall_status} after {seconds}"
    if self_call_outcome(probe) == "deadlocked":
        return f"GET /self got no answer within {seconds}: the server is stuck on its own request"
    return f"GET /self got no answer ({probe.error or 'not called'}) after {seconds}"


def self_call_is(expected: SelfCallOutcome) -> Check:
    """Confirmed when /self ended as ``expected``; not-run when it showed neither an answer nor a deadlock."""

    def check(probe: ProbeResult) -> Finding:
        outcome = self_call_outcome(probe)
        description = self_call_description(probe)
        if outcome is None:
            return Finding("not-run", f"{description}: neither an answer nor a deadlock")
        return Finding("confirmed" if outcome == expected else "refuted", description)

    return check


@dataclass(frozen=True)
class Folklore:
    """One claim of the seed: its id, its text (``{n}``: the server's configured concurrency), server and check."""

    claim: str
    text: str
    server: str
    check: Check

    def wording(self, configured: int | None) -> str:
        return self.text.format(n=configured if configured is not None else "N")


FOLKLORE: tuple[Folklore, ...] = (
    Folklore(
        "dev-single-serves-one",
        "The dev server with threaded=False serves one request at a time",
        "dev-single",
        serves_exactly(1),
    ),
    Folklore(
        "dev-threaded-serves-many",
        "The dev server serves many at once (threaded=True is the default)",
        "dev-threaded",
        serves_many,
    ),
    Folklore(
        "dev-processes-serves-n",
        "The dev server with processes={n} serves {n} at once",
        "dev-processes",
        serves_exactly(),
    ),
    Folklore(
        "gunicorn-sync-serves-workers",
        "gunicorn with {n} sync workers serves {n} at once",
        "gunicorn-sync",
        serves_exactly(),
    ),
    Folklore(
        "gunicorn-gthread-serves-threads",
        "gunicorn gthread serves workers x threads ({n}) at once",
        "gunicorn-gthread",
        serves_exactly(),
    ),
    Folklore(
        "gunicorn-gevent-serves-many",
        "gevent serves many I/O-bound requests per worker",
        "gunicorn-gevent",
        serves_many,
    ),
    Folklore(
        "gunicorn-eventlet-serves-many",
        "eventlet serves many I/O-bound requests per worker",
        "gunicorn-eventlet",
        serves_many,
    ),
    Folklore(
        "gunicorn-tornado-one-per-worker",
        "gunicorn's tornado worker runs a Flask app one request at a time per worker ({n} workers)",
        "gunicorn-tornado",
        one_at_a_time_per_worker,
    ),
    Folklore(
        "uwsgi-tunable",
        "uWSGI serves exactly what it is tuned to (processes x threads: {n})",
        "uwsgi",
        serves_exactly(),
    ),
    Folklore(
        "uwsgi-gevent-serves-many", "uWSGI with gevent serves many I/O-bound requests", "uwsgi-gevent", serves_many
    ),
    Folklore(
        "selfcall-deadlocks-single",
        "A request that calls its own single-threaded server deadlocks",
        "dev-single",
        self_call_is("deadlocked"),
    ),
    Folklore(
        "selfcall-works-threaded",
        "A self-call works on a threaded server",
        "dev-threaded",
        self_call_is("answered"),
    ),
)


def current_catalog() -> dict[str, Server]:
    """The lab's catalog, for the wording of claims whose server was not probed; empty when it cannot be read."""
    try:
        return load_servers()
    except CatalogError:
        return {}


def evaluate_claims(probes: list[ProbeResult], catalog: Mapping[str, Server] | None = None) -> list[Claim]:
    """A verdict per claim; ``not-run`` when its server was not probed or its evidence cannot carry a verdict.

    ``catalog`` words the claims of servers not probed in this run (default: the lab's catalog, read only then).
    """
    by_server = {probe.server: probe for probe in probes}
    claims = []
    for folklore in FOLKLORE:
        probe = by_server.get(folklore.server)
        if probe is None:
            catalog = current_catalog() if catalog is None else catalog
            server = catalog.get(folklore.server)
            text = folklore.wording(server.concurrency if server else None)
            finding = Finding("not-run", f"{folklore.server} was not probed in this run")
        elif probe.status == "skipped":
            text = folklore.wording(probe.configured)
            finding = Finding("not-run", probe.error or f"{folklore.server} was skipped")
        else:
            text = folklore.wording(probe.configured)
            finding = folklore.check(probe)
        claims.append(Claim(claim=folklore.claim, text=text, verdict=finding.verdict, evidence=finding.evidence))
    return claims
