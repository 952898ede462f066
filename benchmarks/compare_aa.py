"""scripts/bench compare-aa: how often does ``flasklab compare`` call a change real between identical runs?

An A/A test: one quick run (``--from DIR``, repeatable, to reuse runs) measures the same servers and scenarios
(gunicorn-sync and waitress on ``io`` and ``hello``, probe off) in ``--rounds N`` rounds (default 6), each round a
complete measurement of its own in shuffled order. Rounds 1 and 2, 3 and 4, ... are paired: each round becomes a
one-round run of its own (its steps with their within-window intervals, as a run without ``--rounds`` records them)
and ``flasklab.views.compare_rule.compare_runs`` judges B against A exactly as ``flasklab compare`` does. Nothing
changed between the two, so every change it calls real is a false alarm.

Figures: one line per judged figure (pair, server, scenario, peak rps or p95, the change, real or not), then
``compare_aa_figures`` (figures judged: both runs had the figure), ``compare_aa_pairs`` (pairs of runs),
``compare_aa_false_alarm`` (the share called real; goal <= 0.05) and, for reference, ``compare_aa_false_alarm_overlap``:
the share the earlier rule (real when the two intervals do not overlap) would have called real.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from arguments import option

from flasklab.core.catalog import lab_root
from flasklab.core.results import Results, load_results
from flasklab.views.compare_rule import Change, compare_runs

SERVERS = "gunicorn-sync,waitress"
SCENARIOS = "io,hello"
ROUNDS = "6"
GOAL = 0.05


def measured_run(extra: list[str]) -> Path:
    rounds, extra = option(extra, "--rounds", ROUNDS)
    if not rounds.isdigit() or int(rounds) < 2 or int(rounds) % 2:
        raise SystemExit(f"compare-aa: --rounds must be an even number of at least 2 (pairs of rounds), not {rounds}")
    out = Path(tempfile.mkdtemp(prefix="flasklab-bench-aa-")) / "run"
    command = [sys.executable, "-m", "flasklab", "run", "--profile", "quick", "--no-probe", "--rounds", rounds]
    command += ["--servers", SERVERS, "--scenarios", SCENARIOS, "--out", str(out), *extra]
    done = subprocess.run(command, capture_output=True, text=True, cwd=lab_root(), check=False)
    if not (out / "results.json").is_file():
        raise SystemExit(f"compare-aa: the run failed:\n{done.stderr[-2000:]}")
    if done.returncode != 0:  # measured, but a target failed (or its report did not render): judge what there is
        print(f"compare_aa_run_exit {done.returncode} ({out})")
    return out


def one_round(results: Results, number: int) -> Results:
    """Round ``number`` (0-based) of a run of several as a one-round run: each target's steps of that round."""
    targets = [
        target.model_copy(update={"steps": target.rounds[number], "rounds": []})
        for target in results.targets
        if len(target.rounds) > number
    ]
    return results.model_copy(update={"targets": targets, "meta": results.meta.model_copy(update={"rounds": 1})})


def disjoint(change: Change) -> bool:
    """The earlier rule: real when the two intervals do not overlap (an open upper end overlaps everything above)."""
    if change.a is None or change.b is None or change.a.interval is None or change.b.interval is None:
        return False
    a, b = change.a.interval, change.b.interval
    return (a.high is not None and a.high < b.low) or (b.high is not None and b.high < a.low)


def judged(runs: list[Results]) -> tuple[list[Change], int]:
    """Every figure compare judged between paired rounds (both runs had it), printed one a line; and the pairs."""
    changes, pairs = [], 0
    for run in runs:
        for first in range(0, run.meta.rounds - 1, 2):
            a, b = one_round(run, first), one_round(run, first + 1)
            pairs += 1
            for row in compare_runs(a, b):
                for metric, change in (("peak_rps", row.peak_rps), ("p95", row.p95)):
                    if change.percent is None:
                        continue
                    changes.append(change)
                    print(
                        f"compare_aa_pair {run.meta.run_id}:{first + 1}-{first + 2} {row.server} {row.scenario} "
                        f"{metric} {change.percent:+.1f}% real={change.real} disjoint={disjoint(change)}"
                        + ("" if change.comparable else " (peaks at different loads: not judged)")
                    )
    return changes, pairs


def compare_aa(extra: list[str]) -> int:
    sources: list[Path] = []
    while "--from" in extra:
        source, extra = option(extra, "--from", "")
        sources.append(Path(source))
    runs = [load_results(source) for source in sources or [measured_run(extra)]]
    changes, pairs = judged(runs)
    if not changes:
        print("compare_aa_figures 0 (nothing to judge: no target measured in two rounds)")
        return 1
    share = sum(change.real for change in changes) / len(changes)
    print(f"compare_aa_figures {len(changes)}")
    print(f"compare_aa_pairs {pairs}")
    print(f"compare_aa_false_alarm {share:.3f} (goal <= {GOAL})")
    print(f"compare_aa_false_alarm_overlap {sum(disjoint(c) for c in changes) / len(changes):.3f} (the earlier rule)")
    return 0
