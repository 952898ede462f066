"""The folklore decided on the probe: each claim of the seed gets a verdict from the probe's measurements.

A verdict rests only on evidence that can carry it: a claim about how many requests a server serves at once needs
every probe request answered (a failed or missing one could have changed the count), so with any of them missing
the claim is ``not-run``, never ``refuted``. A claim "per worker" is decided inside the busiest worker process, with
how many workers got requests beside it: a server-wide count cannot tell one worker serving many from many workers
serving one each. A self-call is a deadlock when the app's call to its own server timed out (its 504, or no answer to
/self at all) while the server began nothing else (the probe's other request waited until /self ended); an inner call
that timed out while the server served others was slow, not deadlocked, and decides nothing. Claim texts name the
configured numbers (the catalog, filled in from .env), so they say what was actually tested.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from flasklab.core.catalog import CatalogError, Server, load_servers
from flasklab.core.finding import Finding
from flasklab.core.results import Claim, ProbeResult, Verdict
from flasklab.core.settings import PROBE_MANY, SELF_CALL_CLIENT_TIMEOUT_S

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


def unknown_workers(probe: ProbeResult) -> Finding | None:
    """``not-run`` when the probe does not say which process served each request (a per-worker claim needs it)."""
    if probe.per_worker_max is not None and probe.workers_seen is not None:
        return None
    return Finding(
        "not-run",
        "the probe did not record which process served each request (an /io without pid, or results from "
        f"before per-worker probing); {requests_evidence(probe)}",
    )


def serves_many(probe: ProbeResult) -> Finding:
    """Confirmed when at least PROBE_MANY requests overlapped on the server (a claim about the server as a whole)."""
    if missing := incomplete(probe):
        return missing
    verdict: Verdict = "confirmed" if (probe.measured or 0) >= PROBE_MANY else "refuted"
    return Finding(
        verdict,
        f'{probe.measured} requests overlapped on the server ("many" means at least {PROBE_MANY})'
        f"{workers_evidence(probe)}; {requests_evidence(probe)}",
    )


def serves_many_per_worker(probe: ProbeResult) -> Finding:
    """Confirmed when at least PROBE_MANY requests overlapped inside the busiest worker process.

    Two workers serving 8 each make 16 on the server and still not "many per worker"; one worker that got every
    connection and served them all at once is many per worker, and the evidence says that only it got any.
    """
    if missing := incomplete(probe) or unknown_workers(probe):
        return missing
    verdict: Verdict = "confirmed" if (probe.per_worker_max or 0) >= PROBE_MANY else "refuted"
    return Finding(
        verdict,
        f'at most {probe.per_worker_max} requests at once in the busiest worker process ("many" means at least '
        f"{PROBE_MANY}); {probe.workers_seen} worker process(es) got requests, {probe.measured} overlapped across "
        f"the server; {requests_evidence(probe)}",
    )


def one_at_a_time_per_worker(probe: ProbeResult) -> Finding:
    """Confirmed when no two probe requests overlapped inside one server process, whatever the server did overall.

    A worker that accepted most connections while others idled still served them one at a time: the evidence says
    how many workers got connections, since that is what decides the server's throughput.
    """
    if missing := incomplete(probe) or unknown_workers(probe):
        return missing
    configured = f"{probe.configured}" if probe.configured is not None else "unbounded"
    verdict: Verdict = "confirmed" if probe.per_worker_max == 1 else "refuted"
    return Finding(
        verdict,
        f"at most {probe.per_worker_max} request(s) at once in any one worker process; {probe.workers_seen} of "
        f"{configured} workers got connections, {probe.measured} overlapped across the server; "
        f"{requests_evidence(probe)}",
    )


def inner_timed_out(probe: ProbeResult) -> bool:
    """Did the app's call to its own server time out? Its 504 says so; so does no answer to /self at all (the
    client's timeout) from a server that answered probe requests, as a server that answers nothing tells nothing."""
    if probe.selfcall_status == 504:
        return True
    no_answer = probe.selfcall_status is None and (probe.selfcall_s or 0) >= SELF_CALL_CLIENT_TIMEOUT_S
    return no_answer and probe.completed > 0


def self_call_description(probe: ProbeResult) -> str:
    """GET /self's own outcome in words, with its time."""
    seconds = f"{probe.selfcall_s} s" if probe.selfcall_s is not None else "an unknown time"
    if probe.selfcall_status == 504:
        return f"GET /self answered 504 after {seconds}: the app's call to its own server timed out"
    if probe.selfcall_status is not None:
        return f"GET /self answered {probe.selfcall_status} after {seconds}"
    if inner_timed_out(probe):
        return f"GET /self got no answer within {seconds}"
    return f"GET /self got no answer ({probe.error or 'not called'}) after {seconds}"


def inner_call(probe: ProbeResult) -> str:
    """What the app's call to its own server got, as /self's answer said (empty for files from before)."""
    if probe.selfcall_inner_s is None:
        return ""
    got = "no answer" if probe.selfcall_inner_status is None else f"{probe.selfcall_inner_status}"
    return f"; the inner call got {got} after {probe.selfcall_inner_s} s"


def others_meanwhile(probe: ProbeResult) -> str:
    """What the probe's other request (sent while /self waited) showed."""
    if probe.selfcall_others_served is None:
        return ""
    waited = "got no answer" if probe.selfcall_other_s is None else f"waited {probe.selfcall_other_s} s"
    began = "began before /self ended" if probe.selfcall_others_served else "began only after /self ended"
    return f"; a GET /io?ms=0 sent meanwhile {began} ({waited})"


def self_call_reading(probe: ProbeResult) -> tuple[SelfCallOutcome | None, str]:
    """What GET /self showed (answered, deadlocked, or nothing conclusive) and the evidence in words.

    Answered: /self's 200 with the inner call's 200 (or, in files from before the inner status was recorded, its
    200 alone). Deadlocked: the inner call timed out while the server began nothing else; without the other
    request's record (older files), a probe that saw the server serve one at a time says the same.
    """
    evidence = f"{self_call_description(probe)}{inner_call(probe)}{others_meanwhile(probe)}"
    if probe.selfcall_status == 200:
        if probe.selfcall_inner_status in (None, 200):
            return "answered", evidence
        return None, f"{evidence}: the inner call failed, which is neither an answer nor a deadlock"
    if not inner_timed_out(probe):
        return None, f"{evidence}: neither an answer nor a deadlock"
    if probe.selfcall_others_served is False:
        return "deadlocked", f"{evidence}: the server served nothing else meanwhile"
    if probe.selfcall_others_served:
        return None, f"{evidence}: the server was serving other requests, so its own call was slow, not deadlocked"
    if probe.measured == 1 and not probe.failed:
        return "deadlocked", f"{evidence}; the probe saw it serve 1 request at a time: /self held it"
    return None, f"{evidence}; whether the server served other requests meanwhile was not recorded"


def self_call_is(expected: SelfCallOutcome) -> Check:
    """Confirmed when /self ended as ``expected``; not-run when it showed neither an answer nor a deadlock."""

    def check(probe: ProbeResult) -> Finding:
        outcome, evidence = self_call_reading(probe)
        if outcome is None:
            return Finding("not-run", evidence)
        return Finding("confirmed" if outcome == expected else "refuted", evidence)

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
        serves_many_per_worker,
    ),
    Folklore(
        "gunicorn-eventlet-serves-many",
        "eventlet serves many I/O-bound requests per worker",
        "gunicorn-eventlet",
        serves_many_per_worker,
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


class Configured(Protocol):
    """What the wording of a claim reads of its server: the configured concurrency (a catalog Server, or a claim's
    definition as a run recorded it)."""

    @property
    def concurrency(self) -> int | None: ...


def current_catalog() -> dict[str, Server]:
    """The checkout's catalog, read when a run begins (and for files from before runs recorded their claims'
    definitions); empty when it cannot be read."""
    try:
        return load_servers()
    except CatalogError:
        return {}


def evaluate_claims(probes: list[ProbeResult], catalog: Mapping[str, Configured] | None = None) -> list[Claim]:
    """A verdict per claim; ``not-run`` when its server was not probed or its evidence cannot carry a verdict.

    ``catalog`` words the claims of servers not probed in this run (a run's: ``recorded_catalog``; default: the
    checkout's, read only then).
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
