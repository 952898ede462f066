"""The issue's acceptance run: the quick profile over every server of the catalog, through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flasklab.catalog import Server
from flasklab.results import load_results

SEED_CLAIMS = (
    "dev-single-serves-one",
    "dev-threaded-serves-many",
    "dev-processes-serves-n",
    "gunicorn-sync-serves-workers",
    "gunicorn-gevent-serves-many",
    "selfcall-deadlocks-single",
    "selfcall-works-threaded",
)


@pytest.mark.slow
def test_quick_sweep_of_every_server(tmp_path: Path, catalog_servers: dict[str, Server]) -> None:
    out = tmp_path / "quick"
    result = subprocess.run(
        [sys.executable, "-m", "flasklab", "run", "--profile", "quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = load_results(out)
    schema = json.loads((Path(__file__).parents[1] / "schemas" / "results.schema.json").read_text())
    assert results.schema_version in schema["properties"]["schema_version"]["enum"]
    assert results.meta.status == "complete"
    assert {t.server for t in results.targets} == set(catalog_servers)
    for target in results.targets:
        assert target.status == "ok", (target.server, target.scenario, target.error, target.log_tail)
        assert [step.users for step in target.steps] == [1, 4, 16]
        assert all(step.requests > 0 and step.failures == 0 for step in target.steps), target.server
    verdicts = {claim.claim: claim.verdict for claim in results.claims}
    for claim in SEED_CLAIMS:
        assert verdicts[claim] == "confirmed", (claim, [c for c in results.claims if c.claim == claim])
    measured = {probe.server: probe.measured for probe in results.probe}
    assert measured["uwsgi"] == catalog_servers["uwsgi"].concurrency
    assert "Peak throughput" in result.stdout
    assert (out / "report.html").stat().st_size < 10 * 2**20
