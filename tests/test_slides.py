"""Slides (`flasklab report DIR --png`), from a real quick run, drawn by kaleido with the machine's Chromium."""

from __future__ import annotations

import html
import re
import shutil
import struct
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from flasklab.cli import main
from flasklab.views.report import REPORT_FILE
from flasklab.views.slides import BROWSER_VARIABLE, SLIDE_HEIGHT, SLIDE_WIDTH, SLIDES_DIR, write_slides
from tests.browser import ARTIFACTS, CHROMIUM
from tests.conftest import QUICK_RUN_SERVERS
from tests.needs import unavailable

ROOT = Path(__file__).resolve().parents[1]
SERVERS = QUICK_RUN_SERVERS
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SVG = "{http://www.w3.org/2000/svg}"
CHART_DIV = re.compile(r'<div id="([^"]+)" class="plotly-graph-div')
CHART_TITLE = re.compile(r'<figure id="figure-([^"]+)">\s*<h3>(.*?)</h3>', re.S)


@pytest.fixture(scope="module")
def run_dir(quick_run_copy: Path) -> Path:
    """The shared real quick run: its folder holds results.json."""
    return quick_run_copy


@pytest.fixture(scope="module")
def chromium_path() -> Path:
    """Skipped where Chromium is missing, except in CI (which must have it)."""
    if not CHROMIUM.is_file():
        unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture(scope="module")
def slides(run_dir: Path, chromium_path: Path) -> tuple[Result, float]:
    """`flasklab report DIR --png`, and how long it took."""
    started = time.perf_counter()
    result = CliRunner().invoke(main, ["report", str(run_dir), "--png"])
    return result, time.perf_counter() - started


def chart_ids(run_dir: Path) -> list[str]:
    return CHART_DIV.findall((run_dir / REPORT_FILE).read_text(encoding="utf-8"))


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk, which must come first."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE and head[12:16] == b"IHDR", f"{path} is not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def drawn_traces(svg: ElementTree.Element) -> int:
    """Trace groups (lines, markers, bars) that hold at least one drawn path."""
    traces = [g for g in svg.iter(f"{SVG}g") if g.get("class", "").split()[:1] == ["trace"]]
    return sum(any(path.get("d") for path in trace.iter(f"{SVG}path")) for trace in traces)


def svg_title(svg: ElementTree.Element) -> str:
    title = next(text for text in svg.iter(f"{SVG}text") if text.get("class") == "gtitle")
    return "".join(title.itertext())


@pytest.mark.real
def test_report_png_writes_one_slide_per_chart(slides: tuple[Result, float], run_dir: Path) -> None:
    result, seconds = slides
    assert result.exit_code == 0, result.output
    ids = chart_ids(run_dir)
    assert len(ids) >= 4  # capacity, latency, hockey stick, resources
    folder = run_dir / SLIDES_DIR
    expected = [folder / f"{chart_id}.{suffix}" for chart_id in ids for suffix in ("png", "svg")]
    assert result.stdout.split() == [str(run_dir / REPORT_FILE), *map(str, expected)]
    assert sorted(folder.iterdir()) == sorted(expected)
    print(f"{len(ids)} charts drawn as slides in {seconds:.1f} s")


@pytest.mark.real
def test_png_slides_are_1920_by_1080(slides: tuple[Result, float], run_dir: Path) -> None:
    pngs = sorted((run_dir / SLIDES_DIR).glob("*.png"))
    assert pngs
    for png in pngs:
        assert png_size(png) == (SLIDE_WIDTH, SLIDE_HEIGHT)
        assert png.stat().st_size > 20_000, f"{png.name} looks empty"
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(run_dir / SLIDES_DIR / "capacity-hello.png", ARTIFACTS / "slide-capacity-hello.png")


@pytest.mark.real
def test_svg_slides_hold_the_traces_and_the_report_titles(slides: tuple[Result, float], run_dir: Path) -> None:
    titles = {
        chart_id: html.unescape(title)
        for chart_id, title in CHART_TITLE.findall((run_dir / REPORT_FILE).read_text(encoding="utf-8"))
    }
    assert sorted(titles) == sorted(chart_ids(run_dir))
    for chart_id, title in titles.items():
        svg = ElementTree.parse(run_dir / SLIDES_DIR / f"{chart_id}.svg").getroot()
        assert svg.tag == f"{SVG}svg"
        assert (svg.get("width"), svg.get("height")) == (str(SLIDE_WIDTH), str(SLIDE_HEIGHT))
        # a line per server; the probe chart is two bar series (configured, measured) over the servers
        assert drawn_traces(svg) >= (2 if chart_id == "probe" else len(SERVERS)), chart_id
        assert svg_title(svg) == title


def test_missing_results_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["report", str(tmp_path), "--png"])
    assert result.exit_code == 2
    assert "no results.json" in result.output and "Traceback" not in result.output
    assert not (tmp_path / SLIDES_DIR).exists()


@pytest.mark.real
def test_missing_browser_exit_2_says_how_to_install_it(
    slides: tuple[Result, float], run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "no-chromium"
    monkeypatch.setenv(BROWSER_VARIABLE, str(missing))
    result = CliRunner().invoke(main, ["report", str(run_dir), "--png"])
    assert result.exit_code == 2, result.output
    assert "apt-get install chromium" in result.stderr and BROWSER_VARIABLE in result.stderr
    assert str(missing) in result.stderr and "Traceback" not in result.output


@pytest.mark.real
def test_slides_need_no_network(run_dir: Path, chromium_path: Path, tmp_path: Path) -> None:
    """Drawn in a network namespace with no interface but loopback: nothing is fetched (no CDN, no MathJax)."""
    if subprocess.run(["unshare", "--net", "true"], capture_output=True).returncode != 0:
        unavailable("unshare --net is not permitted here")
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns(SLIDES_DIR))
    command = ["unshare", "--net", sys.executable, "-m", "flasklab", "report", str(copy), "--png"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list((copy / SLIDES_DIR).glob("*.png"))) == len(chart_ids(copy))


def test_unknown_format_is_refused(run_dir: Path) -> None:
    with pytest.raises(ValueError, match="valid"):
        write_slides(run_dir, formats=("gif",))
