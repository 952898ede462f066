"""flasklab's benchmarks: figures printed as ``name value`` lines, from one run measured side by side.

plan: see benchmarks/plan_bench.py (capacity plans verified by running them).

calibration: see benchmarks/calibration.py (gunicorn-sync with exponential io under Poisson arrivals against the
exact M/M/c response time).

compare-aa: see benchmarks/compare_aa.py (how often compare calls a change real between identical runs).

docker: the compose lab (`docker compose up`'s conductor, the network backend) against the local backend, on `hello`
and `io` for every server of the catalog (or ``--servers``), standard profile, probe off; the two backends run one
after the other, in alternating order over ``--rounds N`` (default 1). Per server and scenario the figure is compose
peak rps / local peak rps, each peak flasklab.core.analysis's (the highest rps of the steps that count), the median
over rounds; ``docker_local_min`` is the lowest of them (goal >= 0.90, or every step that
falls short flagged: the flagged steps of each side are printed beside it). The two sides run different
interpreters (the images Python 3.13, the local backend the host's): each line names both.

fidelity: the io scenario (a 100 ms blocking sleep) under the standard profile on every server. Little's law bounds a
closed loop's throughput by min(users, configured concurrency) / 0.1 s; the figure per server is the lowest ratio of
measured rps to that bound over its steps (flasklab.core.analysis.littles_law_efficiency; goal >= 0.97), and the
median beside it. The bound holds the app's 100 ms only: a server whose requests take 104 ms reads 0.96 at best, and
that is its own cost. So each line also gives the median mean latency of its steps without a queue and ``law``: at
those steps (users up to its concurrency) every user always has a request in flight but for the generator's gap
between two, so rps x mean latency / users must be 1 less that gap; its lowest over every server is
``fidelity_law_min`` (goal >= 0.99): the rps agrees with the latencies the same window measured.

report: the report of a quick run of every server (or of ``--from DIR``), opened in headless Chromium
(/usr/bin/chromium) alternately with the vendored basic plotly.js bundle and with plotly.py's full bundle; figures:
its size (goal < 10 MB) and the median time from navigation to every chart drawn (goal < 2 s), both bundles side by
side.

headroom: how close the lab's load generator comes to a C one. One gunicorn-sync server started by the local backend
(pinned to the server CPU) is loaded, in alternating order over 3 rounds, by wrk (Debian's package; -t1 at 1, 4, 16
and 64 connections, 5 s each) and by the lab (its own Locust process on `hello`, users 1, 4, 16 and 64, 5 s windows),
both pinned to the generator CPU(s) exactly as `flasklab run` pins Locust. The figure is the median over rounds of
the lab's highest rps / wrk's highest rps (goal >= 0.95), with the lab's generator CPU at its highest step and
whether flasklab.core.analysis finds the generator side busy there. The lab's highest step is taken whether it counts
or not: Locust is Python and wrk is C, so on a trivial endpoint one Locust process usually tops out well below wrk,
and a ratio far below 0.95 is the finding, not a fault of the benchmark; the lab flags such steps generator-bound
rather than passing the generator's limit off as the server's (more Locust workers, or more generator CPUs, lift it).

sweep_quick, sweep_standard: see benchmarks/sweep_time.py (the whole catalog's sweep, and where its time goes);
time_left: the time-left estimate replayed on a finished run (benchmarks/sweep_time.py).

overhead: what exact percentiles cost the generator. One uwsgi server (`--server NAME` for another), `hello`, 64
users, generator pinned; the lab's Locust process runs alternately with exact recording (the default) and with
the load's exact off (Locust's own stats only), 3 times each, two 5 s windows a run. The figure is the median
over rounds of a round's throughput (completions per second in the windows) with exact recording / without, the two
runs of a round side by side so that the machine's drift between rounds cancels (goal >= 0.95). It measures
recording only where the generator is the bottleneck: uwsgi by default, because it closes every connection and the
reconnects saturate the generator's core (waitress, faster still on one core, keeps connections open and leaves the
generator idle a quarter of the time). The generator's CPU is printed per run, with a warning when
flasklab.core.analysis did not find the generator side busy at every step, and so is the generator CPU per request,
exact / plain, which holds whichever side is the limit.
"""

from __future__ import annotations

import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from flasklab.core.analysis import analyse, generator_busy, littles_law_efficiency
from flasklab.core.catalog import lab_root, load_scenarios, load_servers
from flasklab.core.results import Results, Step, Target, load_results
from flasklab.core.settings import Profile
from flasklab.measure.backends.base import RunningTarget
from flasklab.measure.backends.local import LocalBackend
from flasklab.measure.load import LoadJob, run_load
from flasklab.views.report import render_report

sys.path.insert(0, str(Path(__file__).parent))  # run as a script: its sibling modules
import calibration
import compare_aa
import plan_bench
import sweep_time
from arguments import option
from servers import bench_folder, compose_lab, local_server

CHROMIUM = "/usr/bin/chromium"
ALL_CHARTS_DRAWN = "() => [...document.querySelectorAll('div.chart')].every(d => d.querySelector('.main-svg'))"
REPORT_OPENS = 7


def fidelity_ratios(target: Target) -> list[float]:
    """Each step's rps over Little's bound (flasklab.core.analysis), every step of the io target."""
    ratios = [littles_law_efficiency(target, step) for step in target.steps]
    return [ratio for ratio in ratios if ratio is not None]


def law_ratios(target: Target) -> list[float]:
    """Each step's rps against its own latencies by Little's law, at the steps no request queued in the server
    (users up to its concurrency): every user always has a request in flight but for the generator's own gap
    between two, so rps x mean latency / users is 1 less that gap's share."""
    return [step.rps * step.mean_ms / 1000 / step.users for step in unqueued_steps(target) if step.mean_ms is not None]


def unqueued_steps(target: Target) -> list[Step]:
    """The steps whose users the server can all hold at once (its concurrency; every step if it has no bound)."""
    return [step for step in target.steps if step.users and step.users <= (target.concurrency or step.users)]


LAW_GOAL = 0.99
DOCKER_SCENARIOS = "hello,io"
DOCKER_GOAL = 0.90


def measure_io(name: str, extra: list[str]) -> Path:
    """One `flasklab run` of the io scenario; returns its folder."""
    out = Path(tempfile.mkdtemp(prefix="flasklab-bench-")) / name
    command = [sys.executable, "-m", "flasklab", "run", "--scenarios", "io", "--no-probe", "--out", str(out), *extra]
    if "--profile" not in extra:
        command += ["--profile", "standard"]
    subprocess.run(command, stdout=subprocess.DEVNULL, check=False)
    return out


def counted_peak(results: Results, target: Target | None) -> tuple[float | None, int]:
    """The target's peak rps (flasklab.core.analysis's, as the run's report and log give it), and how many steps were
    flagged."""
    if target is None or target.status != "ok":
        return None, 0
    analysis = analyse(target, results.meta)
    peak = analysis.peak
    return (peak.rps if peak is not None else None), len(analysis.flagged)


class ComposeLab:
    """The compose lab of this checkout under a project of its own: servers up, the conductor run on demand."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.command, self.environment = compose_lab(root, f"flasklabbench{os.getpid()}")

    def compose(self, *args: str) -> None:
        subprocess.run(
            [*self.command, *args], cwd=self.root, env=self.environment, check=True, stdout=subprocess.DEVNULL
        )

    def up(self, servers: list[str]) -> None:
        self.compose("build", "conductor", "upstream")  # upstream builds the one server image every server runs
        self.compose("up", "-d", "upstream", *servers)

    def run(self, name: str, servers: list[str], extra: list[str]) -> Path:
        """The conductor's `flasklab run --backend network` over ``servers``; its results folder."""
        run_id = f"bench-docker-{name}-{os.getpid()}"
        command = ["flasklab", "run", "--backend", "network", "--servers", ",".join(servers), "--no-probe"]
        command += ["--scenarios", DOCKER_SCENARIOS, "--out", f"/lab/results/{run_id}", *extra]
        if "--profile" not in extra:
            command += ["--profile", "standard"]
        run = [*self.command, "run", "--rm", "-T", "--use-aliases", "conductor", *command]
        subprocess.run(run, cwd=self.root, env=self.environment, check=False, stdout=subprocess.DEVNULL)
        return self.root / "results" / run_id

    def down(self) -> None:
        subprocess.run(
            [*self.command, "down", "--volumes", "--timeout", "5"],
            cwd=self.root,
            env=self.environment,
            check=False,
            capture_output=True,
        )


def run_local(name: str, servers: list[str], extra: list[str]) -> Path:
    out = bench_folder(name)
    command = [sys.executable, "-m", "flasklab", "run", "--backend", "local", "--servers", ",".join(servers)]
    command += ["--scenarios", DOCKER_SCENARIOS, "--no-probe", "--out", str(out), *extra]
    if "--profile" not in extra:
        command += ["--profile", "standard"]
    subprocess.run(command, stdout=subprocess.DEVNULL, check=False)
    return out


def docker(extra: list[str]) -> int:
    root = lab_root()
    default_servers = ",".join(load_servers(root))
    servers_text, extra = option(extra, "--servers", default_servers)
    rounds_text, extra = option(extra, "--rounds", "1")
    servers, rounds = servers_text.split(","), int(rounds_text)
    lab = ComposeLab(root)
    runs: list[tuple[Results, Results]] = []
    try:
        lab.up(servers)
        for round_number in range(rounds):
            # alternate the order, so that neither backend always runs first (or with the machine's drift)
            if round_number % 2:
                compose = load_results(lab.run(f"compose{round_number}", servers, extra))
                local = load_results(run_local(f"local{round_number}", servers, extra))
            else:
                local = load_results(run_local(f"local{round_number}", servers, extra))
                compose = load_results(lab.run(f"compose{round_number}", servers, extra))
            runs.append((local, compose))
    finally:
        lab.down()
    print_docker_ratios(runs)
    return 0


def python_version(results: Results, server: str) -> str:
    return results.meta.server_versions.get(server, {}).get("python", "?")


def print_docker_ratios(runs: list[tuple[Results, Results]]) -> None:
    lowest: tuple[float, str] | None = None
    first_local, first_compose = runs[0]
    for target in first_local.targets:
        ratios, flagged = [], []
        for local, compose in runs:
            local_peak, local_flagged = counted_peak(local, local.target(target.server, target.scenario))
            compose_peak, compose_flagged = counted_peak(compose, compose.target(target.server, target.scenario))
            flagged.append(f"{compose_flagged}/{local_flagged}")
            if local_peak and compose_peak:
                ratios.append(compose_peak / local_peak)
        name = f"{target.server} {target.scenario}"
        pythons = (
            f"python compose {python_version(first_compose, target.server)} "
            f"local {python_version(first_local, target.server)}"
        )
        if not ratios:
            print(f"docker_local {name} not-measured  flagged compose/local {' '.join(flagged)}  {pythons}")
            continue
        ratio = statistics.median(ratios)
        lowest = min(lowest or (ratio, name), (ratio, name))
        print(
            f"docker_local {name} {ratio:.3f}  rounds {' '.join(f'{r:.3f}' for r in ratios)}  "
            f"flagged steps compose/local {' '.join(flagged)}  {pythons}"
        )
    if lowest is not None:
        print(f"docker_local_min {lowest[0]:.3f}  ({lowest[1]}; goal >= {DOCKER_GOAL})")
    for local, compose in runs:
        print(f"# results: local {local.meta.run_id}, compose {compose.meta.run_id}")


def fidelity(extra: list[str]) -> int:
    out = measure_io("fidelity", extra)
    results = load_results(out)
    laws: list[float] = []
    for target in results.targets:
        if target.status != "ok":
            print(f"fidelity {target.server} {target.status}")
            continue
        ratios, law = fidelity_ratios(target), law_ratios(target)
        unqueued = [step.mean_ms for step in unqueued_steps(target) if step.mean_ms is not None]
        print(
            f"fidelity {target.server} {min(ratios):.3f}  median {statistics.median(ratios):.3f}  "
            f"law {min(law):.3f}  mean {statistics.median(unqueued) if unqueued else math.nan:.1f} ms  "
            f"per-step {' '.join(f'{r:.2f}' for r in ratios)}"
        )
        laws.extend(law)
    print(f"fidelity_law_min {min(laws, default=math.nan):.3f}  (goal >= {LAW_GOAL})")
    print(f"# results: {out}")
    return 0


def report(extra: list[str]) -> int:
    from playwright.sync_api import sync_playwright
    from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]

    if extra[:1] == ["--from"] and len(extra) == 2:
        out = Path(extra[1]).resolve()
    else:
        out = Path(tempfile.mkdtemp(prefix="flasklab-bench-")) / "report"
        command = [sys.executable, "-m", "flasklab", "run", "--profile", "quick", "--out", str(out), *extra]
        subprocess.run(command, stdout=subprocess.DEVNULL, check=False)
    page = render_report(load_results(out))
    pages = {"basic": out / "bench-basic.html", "full": out / "bench-full.html"}
    pages["basic"].write_text(page)
    # the same page with plotly.py's full bundle in place of the basic one
    start, end = page.index("<script>") + len("<script>"), page.index("</script>")
    pages["full"].write_text(page[:start] + get_plotlyjs() + page[end:])
    times: dict[str, list[float]] = {name: [] for name in pages}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        for _ in range(REPORT_OPENS):
            for name, path in pages.items():
                tab = browser.new_page(viewport={"width": 1920, "height": 1080})
                tab.goto(path.as_uri())
                tab.wait_for_function(ALL_CHARTS_DRAWN, timeout=60_000)
                times[name].append(tab.evaluate("performance.now()") / 1000)
                tab.close()
        browser.close()
    results = load_results(out)
    print(f"report_servers {len(results.meta.servers)}")
    medians = {name: statistics.median(seconds) for name, seconds in times.items()}
    for name, path in pages.items():
        print(f"report_bytes_{name} {path.stat().st_size}")
        print(f"report_open_s_{name} {medians[name]:.2f}  runs {' '.join(f'{t:.2f}' for t in times[name])}")
    print(f"report_open_ratio_basic_over_full {medians['basic'] / medians['full']:.2f}")
    print(f"# results: {out}")
    return 0


ROUNDS = 3
HEADROOM_SERVER = "gunicorn-sync"
HEADROOM_PROFILE = Profile("headroom", (1, 4, 16, 64), 1.0, 5.0, "the lab's side of the headroom benchmark")
WRK_CONNECTIONS = (1, 4, 16, 64)
WRK_SECONDS = 5
OVERHEAD_SERVER = "uwsgi"
OVERHEAD_PROFILE = Profile("overhead", (64, 64), 1.0, 5.0, "the generator as the bottleneck")


def lab_hello(backend: LocalBackend, target: RunningTarget, profile: Profile, exact: bool = True) -> list[Step]:
    """The lab's own Locust process on `hello` against a running target (``exact`` off: Locust's stats only)."""
    steps: list[Step] = []
    job = LoadJob.of(load_scenarios(lab_root())["hello"].locustfile, {}, profile, exact=exact)
    run_load(job, target, backend, lambda _step, _users: None, steps.append)
    return steps


def wrk_rps(backend: LocalBackend, url: str, connections: int) -> tuple[float, str]:
    """wrk's requests per second on /hello, pinned where the lab pins Locust; and its error lines, if any."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{WRK_SECONDS}s", f"{url}/hello"]
    output = subprocess.run(backend.generator_command(command), capture_output=True, text=True, check=True).stdout
    found = re.search(r"Requests/sec:\s*([\d.]+)", output)
    if found is None:
        raise RuntimeError(f"wrk printed no Requests/sec: {output[-400:]}")
    errors = " ".join(line.strip() for line in output.splitlines() if "errors" in line or "Non-2xx" in line)
    return float(found.group(1)), errors


def headroom(extra: list[str]) -> int:
    server = extra[1] if extra[:1] == ["--server"] and len(extra) == 2 else HEADROOM_SERVER
    ratios, wrk_peaks, lab_peaks = [], [], []
    with local_server(server) as (backend, target):
        print(f"# {server}, pinning {backend.pinning}, budget {backend.budget['cpus']} CPU")
        for round_number in range(ROUNDS):
            # alternate the order, so that neither side always meets a freshly started or a warmed-up server
            if round_number % 2:
                steps = lab_hello(backend, target, HEADROOM_PROFILE)
                wrk = {connections: wrk_rps(backend, target.url, connections) for connections in WRK_CONNECTIONS}
            else:
                wrk = {connections: wrk_rps(backend, target.url, connections) for connections in WRK_CONNECTIONS}
                steps = lab_hello(backend, target, HEADROOM_PROFILE)
            wrk_peak = max(rps for rps, _ in wrk.values())
            lab_peak = max(steps, key=lambda step: step.rps)  # counted or not: the generator is the limit here
            ratios.append(lab_peak.rps / wrk_peak)
            wrk_peaks.append(wrk_peak)
            lab_peaks.append(lab_peak)
            print(
                f"# round {round_number + 1}: wrk {' '.join(f'c{c}={rps:.0f}' for c, (rps, _) in wrk.items())}  "
                f"lab {' '.join(f'u{step.users}={step.rps:.0f}' for step in steps)}  "
                f"lab peak at {lab_peak.users} users: generator_cpu {lab_peak.generator_cpu:.2f} "
                f"generator side busy: {generator_busy(lab_peak) or 'no'}; server_cpu {lab_peak.server_cpu}"
            )
            for connections, (_, errors) in wrk.items():
                if errors:
                    print(f"#   wrk c{connections}: {errors}")
    busy = sum(generator_busy(peak) is not None for peak in lab_peaks)
    print(f"headroom {statistics.median(ratios):.3f}  rounds {' '.join(f'{r:.3f}' for r in ratios)}")
    print(f"headroom_wrk_peak_rps {statistics.median(wrk_peaks):.0f}")
    print(f"headroom_lab_peak_rps {statistics.median(peak.rps for peak in lab_peaks):.0f}")
    print(f"headroom_lab_peak_generator_cpu {statistics.median(peak.generator_cpu for peak in lab_peaks):.2f}")
    print(f"headroom_lab_peak_generator_busy {busy}/{len(lab_peaks)}")
    return 0


def overhead(extra: list[str]) -> int:
    server = extra[1] if extra[:1] == ["--server"] and len(extra) == 2 else OVERHEAD_SERVER
    throughput: dict[bool, list[float]] = {True: [], False: []}
    cpu_per_request: dict[bool, list[float]] = {True: [], False: []}
    generator_cpu: dict[bool, list[float]] = {True: [], False: []}
    generator_limited = True  # flasklab.core.analysis found the generator side busy at every step of every run
    with local_server(server) as (backend, target):
        print(f"# {server}, hello, {OVERHEAD_PROFILE.steps[0]} users, pinning {backend.pinning}")
        for round_number in range(ROUNDS):
            for exact in (True, False) if round_number % 2 == 0 else (False, True):
                steps = lab_hello(backend, target, OVERHEAD_PROFILE, exact)
                requests = sum(step.requests for step in steps)
                seconds = sum(step.duration_s for step in steps)
                cpu = statistics.mean(step.generator_cpu for step in steps)
                generator_limited = generator_limited and all(generator_busy(step) for step in steps)
                throughput[exact].append(requests / seconds)
                generator_cpu[exact].append(cpu)
                cpu_per_request[exact].append(cpu * seconds / requests)
                print(
                    f"# round {round_number + 1} {'exact' if exact else 'plain'}: {requests / seconds:.0f} rps "
                    f"generator_cpu {cpu:.2f} server_cpu {statistics.mean(step.server_cpu or 0 for step in steps):.2f}"
                )
    exact_rps, plain_rps = statistics.median(throughput[True]), statistics.median(throughput[False])
    ratios = [exact / plain for exact, plain in zip(throughput[True], throughput[False], strict=True)]
    cpu_ratios = [exact / plain for exact, plain in zip(cpu_per_request[True], cpu_per_request[False], strict=True)]
    if not generator_limited:
        print("# warning: the generator side was not busy at every step (flasklab.core.analysis): the server shared it")
    print(
        f"exact_percentile_overhead {statistics.median(ratios):.3f}  rounds {' '.join(f'{r:.3f}' for r in ratios)}  "
        f"median exact {exact_rps:.0f} rps, plain {plain_rps:.0f} rps"
    )
    print(
        f"exact_percentile_cpu_per_request_ratio {statistics.median(cpu_ratios):.3f}  "
        f"rounds {' '.join(f'{r:.3f}' for r in cpu_ratios)}"
    )
    print(
        f"exact_percentile_generator_cpu exact {statistics.median(generator_cpu[True]):.2f} "
        f"plain {statistics.median(generator_cpu[False]):.2f}"
    )
    return 0


def main() -> int:
    benchmarks = {
        "fidelity": fidelity,
        "docker": docker,
        "report": report,
        "headroom": headroom,
        "sweep_quick": sweep_time.sweep_quick,
        "sweep_standard": sweep_time.sweep_standard,
        "compose_standard": sweep_time.compose_standard,
        "time_left": sweep_time.time_left_replay,
        "overhead": overhead,
        "plan": plan_bench.plan,
        "calibration": calibration.calibration,
        "compare-aa": compare_aa.compare_aa,
    }
    if len(sys.argv) < 2 or sys.argv[1] not in benchmarks:
        print(f"usage: scripts/bench {{{','.join(benchmarks)}}} [flasklab run options]", file=sys.stderr)
        return 2
    return benchmarks[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
