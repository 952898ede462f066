"""The dependency audit's rule and the pin bumper, on index answers recorded on 2026-12-01 (no network here)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from security.audit import STALE_DAYS, Pin, judge_from_page
from security.pins import parse_line, rewrite_pyproject, rewrite_requirements

PAGES = Path(__file__).parent / "fixtures/audit"
RECORDED = datetime(2026, 12, 1, tzinfo=UTC)


def page(name: str) -> dict[str, Any]:
    """A project's page as the index served it (releases with their upload times, the latest's vulnerabilities)."""
    recorded: dict[str, Any] = json.loads((PAGES / f"{name}.json").read_text())
    return recorded


def judged(name: str, version: str, today: datetime = RECORDED) -> Pin:
    pin = Pin(name, version, problem="could not be audited")
    judge_from_page(pin, page(name), today)
    return pin


def test_the_latest_release_is_audited_from_its_own_vulnerabilities() -> None:
    clean = judged("tornado", "6.6.1")
    assert (clean.problem, clean.behind, clean.findings) == ("", "", [])
    vulnerable = judged("ecdsa", "0.19.2")
    assert {finding.id for finding in vulnerable.findings} == {"PYSEC-2026-1325", "GHSA-wj6h-64fc-37mp"}


def test_a_pin_a_few_days_behind_passes_and_says_how_far_behind() -> None:
    pin = judged("granian", "2.8.7")  # 2.8.9 appeared on 2026-11-20 at 15:30
    assert pin.problem == "" and pin.findings == []
    assert "latest 2.8.9" in pin.behind and "2.8.9 appeared 10 days ago" in pin.behind


def test_the_same_pin_fails_once_it_lags_longer_than_the_stated_age() -> None:
    later = datetime(2026, 12, 20, 16, tzinfo=UTC)  # 30 days after 2.8.9 (2026-11-20 15:30)
    assert judged("granian", "2.8.7", later).problem == ""
    pin = judged("granian", "2.8.7", datetime(2026, 12, 22, tzinfo=UTC))
    assert pin.problem.startswith("stale:") and f"{STALE_DAYS} days" in pin.problem


def test_tornado_6_5_2_fails_as_it_should_have_when_its_fixes_were_out() -> None:
    pin = judged("tornado", "6.5.2")  # 6.5.3 to 6.5.7 carried denial-of-service fixes
    assert pin.problem.startswith("stale:") and "latest 6.6.1" in pin.problem
    assert "6.5.3 appeared" in pin.problem  # lag counted from the first newer final release, not a pre-release


def test_an_older_pin_fails_when_the_latest_release_lists_a_vulnerability() -> None:
    pin = judged("ecdsa", "0.19.1")
    assert "PYSEC-2026-1325" in pin.problem and "may share" in pin.problem


def test_a_requirements_file_is_bumped_whole_and_a_held_pin_keeps_its_version() -> None:
    text = "# why these pins\nflask==3.0.0\ngunicorn==25.3.0  # held: no eventlet worker in 26\n"
    resolved = {"Flask": "3.1.3", "gunicorn": "25.3.0", "eventlet": "0.41.3"}
    assert rewrite_requirements(text, resolved) == (
        "# why these pins\neventlet==0.41.3\nflask==3.1.3\ngunicorn==25.3.0  # held: no eventlet worker in 26\n"
    )
    held = parse_line("gunicorn==25.3.0  # held: no eventlet worker in 26")
    assert held is not None and held.held and held.wanted() == "gunicorn==25.3.0"


@pytest.mark.parametrize(
    ("line", "bumped"),
    [('    "pydantic==2.14.3",', '    "pydantic==2.14.4",'), ('    "rich==15.0.0",  # held: x', None)],
)
def test_pyproject_pins_are_bumped_in_place(line: str, bumped: str | None) -> None:
    resolved = {"pydantic": "2.14.4", "rich": "16.0.0"}
    assert rewrite_pyproject(line + "\n", resolved) == (bumped or line) + "\n"
