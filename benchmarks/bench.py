"""flasklab's benchmarks: figures printed as ``name value`` lines, from one run measured side by side.

docker: the io scenario on the same servers through the local and the Docker backend, one after the other in one
run, same profile and pinning; the figure per server is the median over steps of docker rps / local rps (goal: within
5 %, 0.95 to 1.05).

fidelity: the io scenario (a 100 ms blocking sleep) under the standard profile on every server. Little's law bounds a
closed loop's throughput by min(users, configured concurrency) / 0.1 s; the figure per server is the lowest ratio of
measured rps to that bound over its steps (goal >= 0.97), and the median beside it.

report: the report of a quick run of every server (or of ``--from DIR``), opened in headless Chromium
(/usr/bin/chromium) alternately with the vendored basic plotly.js bundle and with plotly.py's full bundle; figures:
its size (goal < 10 MB) and the median time from navigation to every chart drawn (goal < 2 s), both bundles side by
side.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from flasklab.report import render_report
from flasklab.results import Target, load_results

CHROMIUM = "/usr/bin/chromium"
ALL_CHARTS_DRAWN = "() => [...document.querySelectorAll('div.chart')].every(d => d.querySelector('.main-svg'))"
REPORT_OPENS = 7


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


def main() -> int:
    benchmarks = {"fidelity": fidelity, "docker": docker, "report": report}
    if len(sys.argv) < 2 or sys.argv[1] not in benchmarks:
        print(f"usage: scripts/bench {{{','.join(benchmarks)}}} [flasklab run options]", file=sys.stderr)
        return 2
    return benchmarks[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
