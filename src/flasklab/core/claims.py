"""The folklore, checked: every claim of the seed, its definition as a run records it, and a run's verdicts.

The folklore is decided on the probe's measurements (flasklab.core.probe_claims), the claims about slow clients on the
slowclient scenario's steps (flasklab.core.slow_client_claims), the claims about deploys on the steps that recorded a
reload (flasklab.core.reload_claims); each verdict comes with its evidence.

A run records the claims' definitions when it begins (meta.claim_definitions, with the configured numbers of their
servers), so that its claims are worded and judged from its results.json alone (``run_claims``), not from whatever
the checkout's catalog says later.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from flasklab.core.catalog import Server
from flasklab.core.probe_claims import FOLKLORE, Configured, current_catalog, evaluate_claims
from flasklab.core.reload_claims import RELOAD_CLAIMS, ReloadClaim, evaluate_reload_claims
from flasklab.core.results import Claim, ClaimDefinition, Results
from flasklab.core.slow_client_claims import SLOW_CLIENT_CLAIMS, evaluate_slow_client_claims


def claim_definitions(servers: Iterable[Server]) -> list[ClaimDefinition]:
    """Every claim as defined now, for a run's record: each with its server's configured concurrency from the run's
    ``servers``, else from the checkout's catalog (a claim about a server not in the run is worded all the same)."""
    catalog: dict[str, Server] = {**current_catalog(), **{server.name: server for server in servers}}
    folklore = [
        ClaimDefinition(
            claim=lore.claim,
            text=lore.text,
            servers=[lore.server],
            concurrency=catalog[lore.server].concurrency if lore.server in catalog else None,
        )
        for lore in FOLKLORE
    ]
    slow = [ClaimDefinition(claim=c.claim, text=c.text, servers=[c.plain, c.fronted]) for c in SLOW_CLIENT_CLAIMS]
    reloads = [
        ClaimDefinition(
            claim=c.claim, text=c.text, servers=[s.name for s in catalog.values() if s.software == c.software]
        )
        for c in RELOAD_CLAIMS
    ]
    return folklore + slow + reloads


def recorded_catalog(results: Results) -> Mapping[str, Configured]:
    """What words the claims of servers the run did not probe: the run's recorded definitions; the checkout's catalog
    only for a file from before runs recorded them."""
    definitions = results.meta.claim_definitions
    if definitions is None:
        return current_catalog()
    return {definition.servers[0]: definition for definition in definitions if len(definition.servers) == 1}


def run_claims(results: Results) -> list[Claim]:
    """The verdict on every claim of a run, from its results.json alone: the folklore on its probe, the slow-client
    claims on its slowclient steps, the reload claims on its reloads."""
    return [
        *evaluate_claims(results.probe, recorded_catalog(results)),
        *evaluate_slow_client_claims(results),
        *evaluate_reload_claims(results),
    ]


def decided_claims(results: Results) -> list[Claim]:
    """The claims a run in progress can decide already: each folklore claim once its server was probed (or could not
    be), each slow-client claim once both its targets finished every round (or one failed), each reload claim once
    a server of its software was reloaded and every target of that software is done."""
    probed = {probe.server for probe in results.probe}
    probes = evaluate_claims(results.probe, catalog={})  # the claims of servers not probed are left out below
    folklore = [claim for claim, lore in zip(probes, FOLKLORE, strict=True) if lore.server in probed]
    slow = [claim.verdict(results) for claim in SLOW_CLIENT_CLAIMS if claim.finished(results)]
    return folklore + slow + [claim.verdict(results) for claim in RELOAD_CLAIMS if reloads_done(claim, results)]


def reloads_done(claim: ReloadClaim, results: Results) -> bool:
    """Has a server of the claim's software been reloaded, and has every target of that software in the run (each of
    its servers under each scenario) finished?"""
    entries, meta = results.meta.server_entries or {}, results.meta
    servers = {name for name in meta.servers if (entry := entries.get(name)) and entry.software == claim.software}
    done = [
        target
        for target in results.targets
        if target.server in servers
        and target.status != "running"
        and (meta.rounds == 1 or target.status != "ok" or len(target.rounds) == meta.rounds)
    ]
    return bool(claim.targets(results)) and len(done) >= len(servers) * len(meta.scenarios)
