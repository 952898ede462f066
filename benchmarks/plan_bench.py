"""scripts/bench plan: do the capacity planner's plans hold when they are run?

One standard run (``--from DIR`` to reuse one) of gunicorn-sync, gunicorn-gthread and gunicorn-gevent on ``io``
(100 ms) and ``cpu`` (10 ms) is the basis. Four requests are planned from it: 100, 200 and 400 rps of ``io`` at
p95 <= 300 ms, and 60 rps of ``cpu`` at p95 <= 100 ms. Each plan's recommended option is verified by running it
(``flasklab plan --verify``: one instance at its share as Poisson arrivals, a 30 s window, seeded), and so is each
``io`` plan's gunicorn-sync option (4 workers: the one whose instances queue, where the model has work to do).
Two ``io`` plans' gunicorn-sync options are also verified as whole fleets (``--cluster``: every instance behind a
real nginx at the whole rate; the 200 rps one with ``--lose-one``, its N+1 instances, one killed mid-window), each
line with its fleet's imbalance and, with the loss, whether the N+1 line held; ``plan_cluster_held``,
``plan_cluster_p95_error_max`` and ``plan_cluster_imbalance_max`` sum them up. The fleet verified without a loss is
planned again with what it measured (``--balance-from``): its line says whether the imbalance was material and what
it changed.
Figures: ``plan_held N/M`` (verified options whose measured p95 met the objective on a step that counts; goal: all),
``plan_prediction_within N/M`` (predicted p95 within 25 % of the measured one: ``plan --verify``'s second verdict)
and ``plan_p95_error_max`` (the worst |predicted - measured| / measured p95 of them all; goal <= 0.25: a median
would hide one bad plan among good ones), after one line per verification with its own error. The ``cpu`` scenario
burns 10 ms of the serving thread's CPU time, so requests sharing a core take turns on it as CPU-bound work does.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from flasklab.core.catalog import lab_root

SERVERS = "gunicorn-sync,gunicorn-gthread,gunicorn-gevent"
PLANS = (("io", 100, 300), ("io", 200, 300), ("io", 400, 300), ("cpu", 60, 100))
CLUSTERS = ((100, ["--balance", "round-robin"]), (200, ["--balance", "least-conn", "--lose-one"]))
WINDOW_S = "30"


def flasklab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flasklab", *args], capture_output=True, text=True, cwd=lab_root())


def basis_run(folder: Path) -> Path:
    out = folder / "basis"
    done = flasklab("run", "--servers", SERVERS, "--scenarios", "io,cpu", "--profile", "standard", "--out", str(out))
    if done.returncode != 0:
        raise SystemExit(f"the basis run failed:\n{done.stderr[-2000:]}")
    return out


def verify(
    basis: Path,
    folder: Path,
    scenario: str,
    rps: int,
    p95_ms: int,
    server: str | None,
    cluster: list[str] | None = None,
) -> dict[str, object] | None:
    """One plan verified (``cluster``: as a whole fleet, with these options): its JSON (options and verification), or
    None when nothing could be offered."""
    work = ["--io-ms", "100"] if scenario == "io" else ["--cpu-ms", "10"]
    chosen = ["--verify-server", server] if server else []
    fleet = ["--cluster", *cluster] if cluster is not None else []
    out = folder / f"{scenario}-{rps}-{server or 'recommended'}{'-cluster' if fleet else ''}"
    done = flasklab(
        "plan", "--from", str(basis), "--rps", str(rps), "--p95-ms", str(p95_ms), *work,
        "--verify", *chosen, *fleet, "--verify-window-s", WINDOW_S, "--seed", "1", "--out", str(out), "--json",
    )  # fmt: skip
    if done.returncode not in (0, 1):
        print(f"plan {scenario} {rps} rps: could not verify: {done.stderr.strip()[-400:]}")
        return None
    document: dict[str, object] = json.loads(done.stdout)
    return document


def plan(extra: list[str]) -> int:
    folder = Path(tempfile.mkdtemp(prefix="flasklab-bench-plan-"))
    basis = Path(extra[extra.index("--from") + 1]) if "--from" in extra else basis_run(folder)
    held, within, errors, verified = 0, 0, [], 0
    checks = [(plan, None) for plan in PLANS] + [(plan, "gunicorn-sync") for plan in PLANS if plan[0] == "io"]
    for (scenario, rps, p95_ms), server in checks:
        document = verify(basis, folder, scenario, rps, p95_ms, server)
        checked = document.get("verification") if document else None
        if not isinstance(checked, dict):
            print(f"plan {scenario} {rps} rps p95<={p95_ms}: no {server or 'recommended'} option to verify")
            continue
        verified += 1
        held += bool(checked["held"])
        within += bool(checked["prediction_within"])
        predicted, measured, error = checked["predicted_p95_ms"], checked["measured_p95_ms"], checked["p95_error"]
        if error is not None:
            errors.append(error)
        print(
            f"plan {scenario} {rps} rps p95<={p95_ms}: {checked['server']} ({checked['setting']}) at "
            f"{checked['rate_rps']} rps: predicted p95 {predicted or 0:.1f} ms, measured {measured or 0:.1f} ms, "
            f"error {'—' if error is None else f'{error:.3f}'}; p99 predicted {checked['predicted_p99_ms'] or 0:.1f} "
            f"ms, measured {checked['measured_p99_ms'] or 0:.1f} ms; {'held' if checked['held'] else 'DID NOT HOLD'}"
            f" {'; '.join(checked['flags'])}"
        )
    print(f"plan_held {held}/{verified} ({len(checks) - verified} could not be verified)")
    print(f"plan_prediction_within {within}/{verified}")
    if errors:
        print(f"plan_p95_error_max {max(errors):.3f}")
    clusters_held = clusters(basis, folder)
    print(f"basis run: {basis}")
    return 0 if held == verified == len(checks) and clusters_held else 1


def clusters(basis: Path, folder: Path) -> bool:
    """The CLUSTERS plans' gunicorn-sync fleets verified whole: a line each, then the sums; did every one hold?"""
    held, errors, imbalances = 0, [], []
    for rps, options in CLUSTERS:
        document = verify(basis, folder, "io", rps, 300, "gunicorn-sync", options)
        checked = document.get("verification") if document else None
        fleet = document.get("cluster") if document else None
        if not isinstance(checked, dict) or not isinstance(fleet, dict):
            print(f"cluster io {rps} rps: no gunicorn-sync fleet to verify")
            continue
        loss = fleet.get("loss")
        held += bool(checked["held"]) and (loss is None or bool(loss["held"]))
        if checked["p95_error"] is not None:
            errors.append(checked["p95_error"])
        if fleet["imbalance"] is not None:
            imbalances.append(fleet["imbalance"])
        lost = (
            f"; one lost: {loss['requests']} requests after, {loss['failures']} failed, p95 {loss['p95_ms']} ms, N+1 "
            f"{'held' if loss['held'] else 'DID NOT HOLD'}"
            if isinstance(loss, dict)
            else ""
        )
        if loss is None:
            learnt(basis, folder / f"io-{rps}-gunicorn-sync-cluster", rps, document or {})
        print(
            f"cluster io {rps} rps p95<=300: {checked['instances']} x gunicorn-sync behind nginx ({fleet['method']}) "
            f"at {checked['rate_rps']} rps: predicted p95 {checked['predicted_p95_ms'] or 0:.1f} ms, measured "
            f"{checked['measured_p95_ms'] or 0:.1f} ms, imbalance {fleet['imbalance'] or 0:.2f}; "
            f"{'held' if checked['held'] else 'DID NOT HOLD'}{lost}"
        )
    print(f"plan_cluster_held {held}/{len(CLUSTERS)}")
    if errors:
        print(f"plan_cluster_p95_error_max {max(errors):.3f}")
    if imbalances:
        print(f"plan_cluster_imbalance_max {max(imbalances):.2f}")
    return held == len(CLUSTERS)


def learnt(basis: Path, fleet_dir: Path, rps: int, document: dict[str, object]) -> None:
    """The same plan again with the fleet's measured balance (``--balance-from``): the line --explain gives it, and
    gunicorn-sync's instances and rate per instance before and after."""
    done = flasklab(
        "plan", "--from", str(basis), "--rps", str(rps), "--p95-ms", "300", "--io-ms", "100",
        "--balance-from", str(fleet_dir), "--json",
    )  # fmt: skip
    if done.returncode != 0:
        print(f"cluster io {rps} rps: could not plan with its balance: {done.stderr.strip()[-400:]}")
        return
    again = json.loads(done.stdout)
    before, after = (sync_option(plan) for plan in (document, again))
    balance = next((note for note in again["notes"] if note.startswith("balance: ")), "balance: none")
    print(
        f"cluster io {rps} rps learnt: {balance}; gunicorn-sync {before.get('instances')} -> "
        f"{after.get('instances')} instances at {after.get('rps_per_instance') or 0:.1f} rps each"
    )


def sync_option(document: object) -> dict[str, object]:
    options = document.get("options", []) if isinstance(document, dict) else []
    return next((option for option in options if option.get("server") == "gunicorn-sync"), {})
