"""The claims, decided on committed results: every claim confirmed, refuted and not-run, with no server.

Each file of tests/fixtures/claims/ is shaped like results.json's ``probe`` and ``claims``; a fixture claim's
``evidence`` is a part of the evidence the lab must give.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flasklab.catalog import Server, compose_environment, load_servers
from flasklab.claims import (
    FAST_USERS,
    FOLKLORE,
    SLOW_CLIENT_CLAIMS,
    FastUsers,
    evaluate_claims,
    evaluate_slow_client_claims,
    fast_users,
    protected,
)
from flasklab.probe import SELF_CALL_CLIENT_TIMEOUT_S
from flasklab.results import Claim, ProbeResult, Results, load_results

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
    """The probe of a server whose /self got no answer before the client's timeout."""
    return probe.model_copy(update={"selfcall_status": None, "selfcall_s": SELF_CALL_CLIENT_TIMEOUT_S + 0.01})


def test_a_self_call_without_any_answer_is_a_deadlock(catalog: dict[str, Server]) -> None:
    probes = [answered_nothing(probe) for probe in probes_of("confirmed")]
    claims = claims_by_id(evaluate_claims(probes, catalog))
    assert claims["selfcall-deadlocks-single"].verdict == "confirmed"
    assert "no answer within 15.01 s" in claims["selfcall-deadlocks-single"].evidence
    assert claims["selfcall-works-threaded"].verdict == "refuted"


def test_no_answer_from_a_server_that_answers_nothing_proves_no_deadlock(catalog: dict[str, Server]) -> None:
    dead = [
        answered_nothing(probe).model_copy(update={"completed": 0, "failed": probe.width, "measured": None})
        for probe in probes_of("confirmed")
    ]
    claims = claims_by_id(evaluate_claims(dead, catalog))
    assert claims["selfcall-deadlocks-single"].verdict == "not-run"
    assert claims["selfcall-works-threaded"].verdict == "not-run"


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


# The slow-client claims, decided on committed slowclient runs (tests/fixtures/claims/slowclient/): a measured run
# (gunicorn-sync, nginx-gunicorn-sync and nginx without buffering; steps of 4, 16 and 64 users, 1 s + 5 s; measured
# while other test runs shared the machine, so server_set_busy is left out of the fixture, else most steps would be
# flagged "server CPUs shared"), the same run with the two nginx targets' steps swapped (refuted) and without
# gunicorn-sync (not-run).
SLOW_CLIENT_FIXTURES = FIXTURES / "slowclient"


def slow_client_run(verdict: str) -> Results:
    return load_results(SLOW_CLIENT_FIXTURES / f"{verdict}.json")


@pytest.mark.parametrize("verdict", VERDICTS)
def test_every_slow_client_claim_comes_out_as_its_fixture_says(verdict: str) -> None:
    run = slow_client_run(verdict)
    assert {claim.claim for claim in run.claims} == {claim.claim for claim in SLOW_CLIENT_CLAIMS}
    found = claims_by_id(evaluate_slow_client_claims(run))
    for expected in run.claims:
        claim = found[expected.claim]
        assert (claim.verdict, claim.text) == (verdict, expected.text), claim.evidence
        assert expected.evidence in claim.evidence, claim.evidence


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
        ({"server_set_busy": 0.99}, "no step of slowclient counts in both"),  # other processes on its CPUs
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
