"""The claims, decided on committed probe results: every claim confirmed, refuted and not-run, with no server.

Each file of tests/fixtures/claims/ is shaped like results.json's ``probe`` and ``claims``; a fixture claim's
``evidence`` is a part of the evidence the lab must give.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flasklab.catalog import Server, compose_environment, load_servers
from flasklab.claims import FOLKLORE, evaluate_claims
from flasklab.probe import SELF_CALL_CLIENT_TIMEOUT_S
from flasklab.results import Claim, ProbeResult

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
