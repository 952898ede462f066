"""The folklore, checked: each claim of the seed gets a verdict from the probe's measurements, with evidence."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flasklab.results import Claim, ProbeResult, Verdict
from flasklab.settings import PROBE_MANY

Check = Callable[[ProbeResult], tuple[bool, str]]


def serves_exactly(expected: int | None = None) -> Check:
    """Confirmed when the measured overlap equals ``expected`` (default: the server's configured concurrency)."""

    def check(probe: ProbeResult) -> tuple[bool, str]:
        target = expected if expected is not None else probe.configured
        return probe.measured == target, (
            f"{probe.measured} of {probe.width} concurrent {probe.io_ms} ms requests overlapped on the server "
            f"(expected {target}; configured {probe.configured if probe.configured is not None else 'unbounded'})"
        )

    return check


def serves_at_most_configured(probe: ProbeResult) -> tuple[bool, str]:
    """Confirmed when no more than the configured number overlapped (fewer: connections were unevenly spread)."""
    holds = probe.measured is not None and probe.configured is not None and 1 <= probe.measured <= probe.configured
    return holds, (
        f"{probe.measured} of {probe.width} concurrent {probe.io_ms} ms requests overlapped on the server, with "
        f"{probe.configured} workers configured (fewer than the workers means one worker accepted most connections)"
    )


def serves_many(probe: ProbeResult) -> tuple[bool, str]:
    return (probe.measured or 0) >= PROBE_MANY, (
        f"{probe.measured} of {probe.width} concurrent {probe.io_ms} ms requests overlapped on the server "
        f'("many" means at least {PROBE_MANY})'
    )


def self_call_status(expected: int) -> Check:
    def check(probe: ProbeResult) -> tuple[bool, str]:
        return probe.selfcall_status == expected, (
            f"GET /self answered {probe.selfcall_status} after {probe.selfcall_s} s "
            f"(200: the server answered its own request; 504: it could not within the app's timeout)"
        )

    return check


@dataclass(frozen=True)
class Folklore:
    claim: str
    text: str
    server: str
    check: Check


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
        "dev-processes-serves-n", "The dev server with processes=3 serves 3 at once", "dev-processes", serves_exactly()
    ),
    Folklore(
        "gunicorn-sync-serves-workers",
        "gunicorn with 4 sync workers serves 4 at once",
        "gunicorn-sync",
        serves_exactly(),
    ),
    Folklore(
        "gunicorn-gthread-serves-threads",
        "gunicorn gthread serves workers x threads at once",
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
        "gunicorn's tornado worker runs a Flask app one request at a time per worker",
        "gunicorn-tornado",
        serves_at_most_configured,
    ),
    Folklore(
        "uwsgi-tunable", "uWSGI serves exactly what it is tuned to (processes x threads)", "uwsgi", serves_exactly()
    ),
    Folklore(
        "uwsgi-gevent-serves-many", "uWSGI with gevent serves many I/O-bound requests", "uwsgi-gevent", serves_many
    ),
    Folklore(
        "selfcall-deadlocks-single",
        "A request that calls its own single-threaded server deadlocks",
        "dev-single",
        self_call_status(504),
    ),
    Folklore(
        "selfcall-works-threaded", "A self-call works on a threaded server", "dev-threaded", self_call_status(200)
    ),
)


def evaluate_claims(probes: list[ProbeResult]) -> list[Claim]:
    """A verdict per claim; ``not-run`` when its server was not probed or answered nothing."""
    by_server = {probe.server: probe for probe in probes}
    claims = []
    for folklore in FOLKLORE:
        probe = by_server.get(folklore.server)
        if probe is None or (probe.measured is None and probe.selfcall_status is None):
            reason = probe.error if probe and probe.error else f"{folklore.server} was not probed in this run"
            claims.append(Claim(claim=folklore.claim, text=folklore.text, verdict="not-run", evidence=reason))
            continue
        holds, evidence = folklore.check(probe)
        verdict: Verdict = "confirmed" if holds else "refuted"
        claims.append(Claim(claim=folklore.claim, text=folklore.text, verdict=verdict, evidence=evidence))
    return claims
