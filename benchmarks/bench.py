"""flasklab's benchmarks: figures printed as ``name value`` lines, from one run measured side by side.

docker: the io scenario on the same servers through the local and the Docker backend, one after the other in one
run, same profile and pinning; the figure per server is the median over steps of docker rps / local rps (goal: within
5 %, 0.95 to 1.05).

fidelity: the io scenario (a 100 ms blocking sleep) under the standard profile on every server. Little's law bounds a
closed loop's throughput by min(users, configured concurrency) / 0.1 s; the figure per server is the lowest ratio of
measured rps to that bound over its steps (goal >= 0.97), and the median beside it.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from flasklab.results import Target, load_results


def fidelity_ratios(target: Target, sleep_s: float) -> list[float]:
    ratios = []
    for step in target.steps:
        concurrency = step.users if target.concurrency is None else min(step.users, target.concurrency)
        ratios.append(step.rps / (concurrency / sleep_s))
    return ratios


DOCKER_DEFAULT_SERVERS = "gunicorn-sync,gunicorn-gevent,uwsgi,waitress"


def measure_io(name: str, extra: list[str]) -> Path:
    """One `flasklab run` of the io scenario; returns its folder."""
    out = Path(tempfile.mkdtemp(prefix="flasklab-bench-")) / name
    command = [sys.executable, "-m", "flasklab", "run", "--scenarios", "io", "--no-probe", "--out", str(out), *extra]
    if "--profile" not in extra:
        command += ["--profile", "standard"]
    subprocess.run(command, stdout=subprocess.DEVNULL, check=False)
    return out


def docker(extra: list[str]) -> int:
    if "--servers" not in extra:
        extra = [*extra, "--servers", DOCKER_DEFAULT_SERVERS]
    local = load_results(measure_io("local", [*extra, "--backend", "local"]))
    containers = load_results(measure_io("docker", [*extra, "--backend", "docker"]))
    for target in local.targets:
        other = containers.target(target.server, target.scenario)
        if target.status != "ok" or other is None or other.status != "ok":
            print(f"docker_vs_local {target.server} not-measured")
            continue
        ratios = [d.rps / s.rps for s, d in zip(target.steps, other.steps, strict=True) if s.rps]
        print(
            f"docker_vs_local {target.server} {statistics.median(ratios):.3f}  "
            f"per-step {' '.join(f'{r:.2f}' for r in ratios)}"
        )
    return 0


def fidelity(extra: list[str]) -> int:
    out = measure_io("fidelity", extra)
    results = load_results(out)
    for target in results.targets:
        if target.status != "ok":
            print(f"fidelity {target.server} {target.status}")
            continue
        ratios = fidelity_ratios(target, target.params.get("ms", 100) / 1000)
        print(
            f"fidelity {target.server} {min(ratios):.3f}  median {statistics.median(ratios):.3f}  "
            f"per-step {' '.join(f'{r:.2f}' for r in ratios)}"
        )
    print(f"# results: {out}")
    return 0


def main() -> int:
    benchmarks = {"fidelity": fidelity, "docker": docker}
    if len(sys.argv) < 2 or sys.argv[1] not in benchmarks:
        print(f"usage: scripts/bench {{{','.join(benchmarks)}}} [flasklab run options]", file=sys.stderr)
        return 2
    return benchmarks[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
