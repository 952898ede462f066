"""The claims about deploys under load, decided on committed runs: docs/runs/deploy (gunicorn's and granian's SIGHUP
lost nothing, pyuwsgi's exited) and docs/runs/standard (no reload asked: not run)."""

from __future__ import annotations

from flasklab.core.claims import claim_definitions, decided_claims, run_claims
from flasklab.core.reload_claims import RELOAD_CLAIMS
from flasklab.core.results import Claim, load_results
from tests.helpers import ROOT

RUNS = ROOT / "docs" / "runs"


def verdicts(claims: list[Claim]) -> dict[str, Claim]:
    return {claim.claim: claim for claim in claims if claim.claim in {c.claim for c in RELOAD_CLAIMS}}


def test_gunicorn_s_reloads_lost_nothing_and_uwsgi_s_did_not_survive() -> None:
    results = load_results(RUNS / "deploy" / "results.json")
    claims = verdicts(run_claims(results))
    gunicorn, uwsgi = claims["gunicorn-hup-loses-nothing"], claims["uwsgi-reload-loses-nothing"]
    assert gunicorn.verdict == "confirmed", gunicorn.evidence
    assert gunicorn.evidence.startswith("3 reloads under load (gunicorn-sync (16 users), gunicorn-gthread (16 users)")
    exited = next(target for target in results.targets if target.server == "uwsgi").steps[0].reload
    assert uwsgi.verdict == "refuted" and exited is not None and exited.failures_after > 1000
    assert uwsgi.evidence == (
        f"uwsgi on hello at 16 users: {exited.failures_after:,} requests failed from the reload on, and the app "
        "answered with code nothing at the window's end (deployed: 2)"
    )
    assert claims["granian-hup-loses-nothing"].verdict == "confirmed"  # its rolling respawn lost nothing
    assert set(verdicts(decided_claims(results))) == {claim.claim for claim in RELOAD_CLAIMS}


def test_a_reload_that_served_the_old_code_refutes_and_a_run_without_reloads_does_not_decide() -> None:
    results = load_results(RUNS / "deploy" / "results.json")
    sync = next(target for target in results.targets if target.server == "gunicorn-sync")
    assert sync.steps[0].reload is not None
    stale = sync.steps[0].reload.model_copy(update={"served_after": ["1", "2"]})
    sync.steps[0] = sync.steps[0].model_copy(update={"reload": stale})
    refuted = verdicts(run_claims(results))["gunicorn-hup-loses-nothing"]
    assert refuted.verdict == "refuted" and "answered with code 1, 2" in refuted.evidence
    standard = load_results(RUNS / "standard" / "results.json")
    claims = verdicts(run_claims(standard))
    assert {claim.verdict for claim in claims.values()} == {"not-run"}
    assert claims["gunicorn-hup-loses-nothing"].evidence == "no deploy under load asked (--reload-at S) in this run"
    assert not verdicts(decided_claims(standard))  # never announced as decided: the closing message counts them


def test_each_reload_claim_is_defined_on_the_servers_of_its_software() -> None:
    definitions = {d.claim: d for d in claim_definitions([])}
    assert definitions["gunicorn-hup-loses-nothing"].servers[:2] == ["gunicorn-sync", "gunicorn-gthread"]
    assert (
        "nginx-gunicorn-sync" not in definitions["gunicorn-hup-loses-nothing"].servers
    )  # lab.server: nginx + gunicorn
    assert definitions["uwsgi-reload-loses-nothing"].servers == ["uwsgi", "uwsgi-gevent"]
