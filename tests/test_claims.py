"""The claims, decided on committed results: every claim confirmed, refuted and not-run, with no server.

The probe claims: each file of tests/fixtures/claims/ is made by hand, shaped like results.json's ``probe`` and
``claims``; a fixture claim's ``evidence`` is a part of the evidence the lab must give. The slow-client claims: a
recorded run, kept whole (see SLOW_CLIENT_RUN). tests/test_quick_sweep.py decides every claim on real servers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flasklab.core.analysis import analyse
from flasklab.core.catalog import Server, compose_environment, load_servers
from flasklab.core.probe_claims import FOLKLORE, evaluate_claims
from flasklab.core.results import Claim, ProbeResult, Results, load_results
from flasklab.core.settings import SELF_CALL_CLIENT_TIMEOUT_S
from flasklab.core.slow_client_claims import (
    FAST_USERS,
    SLOW_CLIENT_CLAIMS,
    FastUsers,
    evaluate_slow_client_claims,
    fast_users,
    protected,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "claims"
VERDICTS = ("confirmed", "refuted", "not-run")


def fixture(verdict: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((FIXTURES / f"{verdict}.json").read_text())
    return document


def probes_of(verdict: str) -> list[ProbeResult]:
    return [ProbeResult.model_validate(probe) for probe in fixture(verdict)["probe"]]


def claims_by_id(claims: list[Claim]) -> dict[str, Claim]:
    return {claim.claim: claim for claim in claims}


@pytest.fixture(scope="module")
def catalog(root: Path) -> dict[str, Server]:
    return load_servers(root)


@pytest.mark.parametrize("verdict", VERDICTS)
def test_every_claim_comes_out_as_its_fixture_says(verdict: str, catalog: dict[str, Server]) -> None:
    expected = fixture(verdict)["claims"]
    assert {claim["claim"] for claim in expected} == {folklore.claim for folklore in FOLKLORE}
    assert {claim["verdict"] for claim in expected} == {verdict}
    claims = claims_by_id(evaluate_claims(probes_of(verdict), catalog))
    for claim in expected:
        found = claims[claim["claim"]]
        assert found.verdict == verdict, (claim["claim"], found.evidence)
        assert claim["evidence"] in found.evidence, (claim["claim"], found.evidence)


def test_a_partial_probe_is_never_refuted(catalog: dict[str, Server]) -> None:
    """The refuting probes with one request lost: every concurrency claim falls back to not-run."""
    partial = [
        probe.model_copy(update={"completed": probe.width - 1, "failed": 1, "error": "TimeoutError: timed out"})
        for probe in probes_of("refuted")
    ]
    for claim in evaluate_claims(partial, catalog):
        if not claim.claim.startswith("selfcall-"):
            assert claim.verdict == "not-run", claim
            assert "completed, 1 failed (TimeoutError: timed out)" in claim.evidence


def answered_nothing(probe: ProbeResult) -> ProbeResult:
    """The probe of a server whose /self got no answer before the client's timeout, nor the request sent beside it."""
    return probe.model_copy(
        update={
            "selfcall_status": None,
            "selfcall_s": SELF_CALL_CLIENT_TIMEOUT_S + 0.01,
            "selfcall_inner_status": None,
            "selfcall_inner_s": None,
            "selfcall_others_served": False,
            "selfcall_other_s": None,
        }
    )


def test_a_self_call_without_any_answer_is_a_deadlock(catalog: dict[str, Server]) -> None:
    probes = [answered_nothing(probe) for probe in probes_of("confirmed")]
    claims = claims_by_id(evaluate_claims(probes, catalog))
    assert claims["selfcall-deadlocks-single"].verdict == "confirmed"
    assert "no answer within 15.01 s" in claims["selfcall-deadlocks-single"].evidence
    assert "(got no answer): the server served nothing else" in claims["selfcall-deadlocks-single"].evidence
    assert claims["selfcall-works-threaded"].verdict == "refuted"


def test_no_answer_from_a_server_that_answers_nothing_proves_no_deadlock(catalog: dict[str, Server]) -> None:
    dead = [
        answered_nothing(probe).model_copy(update={"completed": 0, "failed": probe.width, "measured": None})
        for probe in probes_of("confirmed")
    ]
    claims = claims_by_id(evaluate_claims(dead, catalog))
    assert claims["selfcall-deadlocks-single"].verdict == "not-run"
    assert claims["selfcall-works-threaded"].verdict == "not-run"


def test_an_inner_call_that_timed_out_while_the_server_served_others_decides_nothing(
    catalog: dict[str, Server],
) -> None:
    """A loaded machine: the threaded server's inner call took longer than the app waits (its 504), but the request
    sent beside /self began at once. Slow, not deadlocked: neither self-call claim is decided by it."""
    slow = {"selfcall_others_served": True, "selfcall_other_s": 0.012}
    refuting = [probe.model_copy(update=slow) for probe in probes_of("refuted")]  # dev-threaded's 504
    confirming = [probe.model_copy(update=slow) for probe in probes_of("confirmed")]  # dev-single's 504
    for probes, claim in ((refuting, "selfcall-works-threaded"), (confirming, "selfcall-deadlocks-single")):
        found = claims_by_id(evaluate_claims(probes, catalog))[claim]
        assert found.verdict == "not-run", found
        assert "began before /self ended (waited 0.012 s)" in found.evidence
        assert "its own call was slow, not deadlocked" in found.evidence


def test_a_self_call_whose_inner_call_failed_decides_nothing(catalog: dict[str, Server]) -> None:
    failed = [probe.model_copy(update={"selfcall_inner_status": 500}) for probe in probes_of("confirmed")]
    found = claims_by_id(evaluate_claims(failed, catalog))["selfcall-works-threaded"]
    assert found.verdict == "not-run" and "the inner call got 500 after 0.002 s" in found.evidence


def test_a_504_recorded_before_the_other_request_rests_on_the_probes_count(catalog: dict[str, Server]) -> None:
    """Files from before the inner call and the request beside it were recorded: a 504 from a server the probe saw
    serve one at a time is a deadlock; from one that serves many, whether it was stuck is unknown."""
    unrecorded = {"selfcall_inner_s": None, "selfcall_others_served": None, "selfcall_other_s": None}
    single = probes_of("confirmed")[0].model_copy(update=unrecorded)
    threaded = probes_of("refuted")[1].model_copy(update=unrecorded)
    claims = claims_by_id(evaluate_claims([single, threaded], catalog))
    assert claims["selfcall-deadlocks-single"].verdict == "confirmed"
    assert "the probe saw it serve 1 request at a time" in claims["selfcall-deadlocks-single"].evidence
    assert claims["selfcall-works-threaded"].verdict == "not-run"
    assert "whether the server served other requests meanwhile was not recorded" in (
        claims["selfcall-works-threaded"].evidence
    )


def test_many_per_worker_is_counted_in_the_busiest_worker(catalog: dict[str, Server]) -> None:
    """The same probe, 64 overlapping on 8 workers of 8 each: many on the server, not many in any one worker."""
    spread = {"measured": 64, "width": 64, "completed": 64, "workers_seen": 8, "per_worker_max": 8}
    probes = [
        probe.model_copy(update=spread)
        for probe in probes_of("confirmed")
        if probe.server in ("gunicorn-gevent", "uwsgi-gevent")
    ]
    claims = claims_by_id(evaluate_claims(probes, catalog))
    assert claims["uwsgi-gevent-serves-many"].verdict == "confirmed"  # a claim about the server as a whole
    per_worker = claims["gunicorn-gevent-serves-many"]
    assert per_worker.verdict == "refuted"
    assert "at most 8 requests at once in the busiest worker process" in per_worker.evidence
    assert "8 worker process(es) got requests, 64 overlapped across the server" in per_worker.evidence
    unknown = [probe.model_copy(update={"workers_seen": None, "per_worker_max": None}) for probe in probes]
    assert claims_by_id(evaluate_claims(unknown, catalog))["gunicorn-gevent-serves-many"].verdict == "not-run"


def test_claim_texts_use_the_configured_numbers(root: Path) -> None:
    """From the probe when it ran, else from the catalog as .env and the environment fill it in."""
    environment = {**compose_environment(root), "GUNICORN_SYNC_WORKERS": "6", "DEV_PROCESSES": "5"}
    catalog = load_servers(root, environment)
    probed = probes_of("confirmed")[3].model_copy(update={"configured": 6, "measured": 6})
    claims = claims_by_id(evaluate_claims([probed], catalog))
    assert claims["gunicorn-sync-serves-workers"].text == "gunicorn with 6 sync workers serves 6 at once"
    assert claims["gunicorn-sync-serves-workers"].verdict == "confirmed"
    assert claims["dev-processes-serves-n"].text == "The dev server with processes=5 serves 5 at once"
    gthread = catalog["gunicorn-gthread"].concurrency
    assert (
        claims["gunicorn-gthread-serves-threads"].text
        == f"gunicorn gthread serves workers x threads ({gthread}) at once"
    )
    assert not any(" 4 " in claim.text or "=3" in claim.text for claim in claims.values())


def test_a_server_configured_above_the_old_width_can_be_confirmed(catalog: dict[str, Server]) -> None:
    """uWSGI tuned to 2 x 16: the probe's width follows (40), so 32 overlapping confirms it."""
    uwsgi = ProbeResult(
        server="uwsgi", configured=32, measured=32, width=40, io_ms=200, completed=40, workers_seen=2, per_worker_max=16
    )
    (claim,) = [c for c in evaluate_claims([uwsgi], catalog) if c.claim == "uwsgi-tunable"]
    assert claim.verdict == "confirmed" and "32" in claim.text


# The slow-client claims, decided on a committed run kept whole, as recorded: tests/fixtures/claims/slowclient/
# confirmed.json is the results.json of `flasklab run --servers gunicorn-sync,nginx-gunicorn-sync,
# nginx-gunicorn-sync-unbuffered --scenarios slowclient --no-probe --profile standard` (local, 2026-12-05, under the
# machine's measurement lock). The refuted and not-run runs are made from it here: the two nginx targets' names
# swapped, and gunicorn-sync left out.
SLOW_CLIENT_RUN = FIXTURES / "slowclient" / "confirmed.json"
SWAPPED = {
    "nginx-gunicorn-sync": "nginx-gunicorn-sync-unbuffered",
    "nginx-gunicorn-sync-unbuffered": "nginx-gunicorn-sync",
}
SLOW_CLIENT_EVIDENCE = {
    "refuted": {
        "nginx-buffering-protects-sync": ": not protected (",
        "nginx-unbuffered-does-not-protect": ": protected (",
    },
    "not-run": dict.fromkeys((c.claim for c in SLOW_CLIENT_CLAIMS), "gunicorn-sync on slowclient: not measured"),
}


def slow_client_run(verdict: str = "confirmed") -> Results:
    run = load_results(SLOW_CLIENT_RUN)
    if verdict == "refuted":
        run.targets = [
            target.model_copy(update={"server": SWAPPED.get(target.server, target.server)}) for target in run.targets
        ]
    elif verdict == "not-run":
        run.targets = [target for target in run.targets if target.server != "gunicorn-sync"]
    return run


def test_the_recorded_run_decides_its_slow_client_claims_as_it_did_when_recorded() -> None:
    run = slow_client_run()
    recorded = [claim for claim in run.claims if claim.claim in {c.claim for c in SLOW_CLIENT_CLAIMS}]
    assert [claim.verdict for claim in recorded] == ["confirmed"] * len(SLOW_CLIENT_CLAIMS)
    assert evaluate_slow_client_claims(run) == recorded


def test_the_recorded_run_keeps_what_shared_the_servers_cpus() -> None:
    """server_set_busy as measured on every step; none of them had the servers' CPUs near full with others beside."""
    run = slow_client_run()
    for target in run.targets:
        assert all(step.server_set_busy is not None for step in target.steps), target.server
        flags = {flag.kind for standing in analyse(target, run.meta).steps for flag in standing.flags}
        assert "server CPUs shared" not in flags, (target.server, flags)


@pytest.mark.parametrize("verdict", ["refuted", "not-run"])
def test_every_slow_client_claim_comes_out_as_its_made_run_says(verdict: str) -> None:
    found = claims_by_id(evaluate_slow_client_claims(slow_client_run(verdict)))
    for claim, evidence in SLOW_CLIENT_EVIDENCE[verdict].items():
        assert found[claim].verdict == verdict, found[claim]
        assert evidence in found[claim].evidence, found[claim].evidence


def test_the_measured_run_shows_the_starved_and_the_protected_fast_users() -> None:
    """At 64 users the sync workers are all held by slow clients; behind buffering nginx the fast users are served."""
    run = slow_client_run("confirmed")
    at = {target.server: {step.users: fast_users(step) for step in target.steps} for target in run.targets}
    plain, buffered = at["gunicorn-sync"][64], at["nginx-gunicorn-sync"][64]
    unbuffered = at["nginx-gunicorn-sync-unbuffered"][64]
    assert plain and buffered and unbuffered
    assert buffered.p95_ms is not None and buffered.rps > 50 * max(plain.rps, unbuffered.rps, 1.0)
    assert (
        "at 64 users with slow clients"
        in claims_by_id(evaluate_slow_client_claims(run))[SLOW_CLIENT_CLAIMS[0].claim].evidence
    )


def flagged_run(update: dict[str, Any], servers: tuple[str, ...] = ("nginx-gunicorn-sync",)) -> Results:
    """The measured run with every step of ``servers`` changed by ``update``."""
    run = slow_client_run("confirmed")
    for target in run.targets:
        if target.server in servers:
            target.steps = [step.model_copy(update=update) for step in target.steps]
    return run


@pytest.mark.parametrize(
    ("update", "evidence"),
    [
        # other processes on its CPUs: they were full, half of it not the server's
        ({"server_set_busy": 0.99, "server_cpu": 0.5}, "no step of slowclient counts in both"),
        ({"name_p95_ms": {}}, "no step of slowclient counts in both"),  # results from before per-name latencies
    ],
)
def test_a_slow_client_claim_without_steps_that_count_is_not_run(update: dict[str, Any], evidence: str) -> None:
    claim = claims_by_id(evaluate_slow_client_claims(flagged_run(update)))["nginx-buffering-protects-sync"]
    assert claim.verdict == "not-run" and evidence in claim.evidence


def test_steps_where_no_slow_client_finished_on_either_server_decide_nothing() -> None:
    fast_only = {"names": {FAST_USERS: 100}, "name_p95_ms": {FAST_USERS: 5.0}}
    run = flagged_run(fast_only, ("gunicorn-sync", "nginx-gunicorn-sync"))
    claim = claims_by_id(evaluate_slow_client_claims(run))["nginx-buffering-protects-sync"]
    assert claim.verdict == "not-run" and "no step of slowclient counts in both" in claim.evidence


def test_a_failed_target_makes_its_slow_client_claims_not_run() -> None:
    run = slow_client_run("confirmed")
    run.targets[0] = run.targets[0].model_copy(update={"status": "failed", "error": "exited during start-up"})
    for claim in evaluate_slow_client_claims(run):
        assert claim.verdict == "not-run" and "failed: exited during start-up" in claim.evidence


def test_fast_users_are_held_when_they_wait_like_the_slow_clients_or_get_nothing() -> None:
    starved, crumbs = FastUsers(64, 0.0, None, 6_000.0), FastUsers(64, 6.4, 5_987.0, 5_959.0)
    served = FastUsers(64, 500.0, 20.0, 2_000.0)
    assert starved.held and crumbs.held and not served.held
    assert protected(starved, served) and not protected(starved, crumbs) and not protected(served, starved)


def test_a_plain_server_whose_fast_users_were_not_held_leaves_the_claim_not_run() -> None:
    run = slow_client_run("confirmed")
    run.targets[0] = slow_client_run("confirmed").targets[1].model_copy(update={"server": "gunicorn-sync"})
    claim = claims_by_id(evaluate_slow_client_claims(run))["nginx-buffering-protects-sync"]
    assert claim.verdict == "not-run" and "nothing to protect them from" in claim.evidence
