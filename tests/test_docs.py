"""The documentation: the README is a front page whose links lead somewhere, the site (docs/, mkdocs.yml) builds in
strict mode with every page in its navigation, a broken link fails that build, and the results page names every
field of results.json's schema."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
LINK = re.compile(r"!?\[[^\]]*\]\((?P<target>[^)\s]+)\)")


def nav_pages(nav: object) -> list[str]:
    """Every page mkdocs.yml's nav names, however deep its sections go."""
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [page for entry in nav for page in nav_pages(entry)]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in nav_pages(value)]
    return []


def slug(heading: str) -> str:
    """A heading's anchor as the toc extension (and, for plain words, GitHub) makes it."""
    text = re.sub(r"[^\w\s-]", "", heading).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(page: Path) -> set[str]:
    return {slug(found[1]) for found in re.finditer(r"^#{1,6} (.+)$", page.read_text(), re.MULTILINE)}


def section(text: str, heading: str) -> str:
    """The text under a heading, up to the next heading of its level or above."""
    level = heading.split(" ")[0]
    start = text.index(f"\n{heading}\n") + len(heading) + 2
    ends = [found.start() for found in re.finditer(rf"\n#{{1,{len(level)}}} ", text[start:])]
    return text[start : start + ends[0]] if ends else text[start:]


def test_the_readme_is_a_front_page_with_the_two_commands_ci_runs() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 200, "the README is the front page: its depth belongs in docs/"
    two = section(text, "## Two commands")
    assert "\n    scripts/lab --profile quick\n" in two and "\n    scripts/test\n" in two
    assert "exec scripts/test " in (ROOT / ".ci" / "run").read_text()


def test_the_readmes_links_and_images_lead_to_files_and_headings() -> None:
    targets = [found["target"] for found in LINK.finditer(README.read_text())]
    local = [target for target in targets if not re.match(r"[a-z]+:", target)]
    assert any(target.startswith("docs/") for target in local)
    for target in local:
        path, _, anchor = target.partition("#")
        assert (ROOT / path).is_file(), f"README.md links to {path}, which is not there"
        if anchor:
            assert anchor in anchors(ROOT / path), f"README.md links to #{anchor}, which {path} has no heading for"


def test_every_page_of_docs_is_in_the_nav_and_every_nav_entry_is_a_page() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    listed = nav_pages(config["nav"])
    assert sorted(listed) == sorted(page.name for page in DOCS.glob("*.md"))
    assert len(listed) == len(set(listed))


def test_the_site_is_built_outside_what_git_keeps() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    assert config["site_dir"] == "site" and "/site/" in (ROOT / ".gitignore").read_text().split()


def records(schema: dict[str, object]) -> dict[str, list[str]]:
    """Each record of the schema (the file itself as "results.json") and its fields, as the schema orders them."""
    definitions = schema["$defs"]
    assert isinstance(definitions, dict) and isinstance(schema["properties"], dict)
    found = {"results.json": list(schema["properties"])}
    found |= {name: list(definition["properties"]) for name, definition in definitions.items()}
    return found


def test_the_results_page_names_every_field_of_the_schema() -> None:
    schema = json.loads((ROOT / "schemas" / "results.schema.json").read_text())
    page = (DOCS / "results.md").read_text()
    reference = section(page, "## Every field of results.json")
    for record, fields in records(schema).items():
        table = reference.split("\n### ")[0] if record == "results.json" else section(reference, f"### {record}")
        named = re.findall(r"^\| `([a-z0-9_]+)` \|", table, re.MULTILINE)
        assert named == fields, f"docs/results.md's table of {record} should list, in order: {', '.join(fields)}"


@pytest.mark.real
def test_the_site_builds_in_strict_mode() -> None:
    result = subprocess.run([ROOT / "scripts" / "docs", "--check"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def site_copy(folder: Path) -> Path:
    """A copy of what builds the site (mkdocs.yml, docs/, scripts/docs) beside the checkout's .venv."""
    shutil.copy(ROOT / "mkdocs.yml", folder)
    shutil.copytree(DOCS, folder / "docs")
    (folder / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "docs", folder / "scripts")
    (folder / ".venv").symlink_to(ROOT / ".venv")
    return folder


@pytest.mark.real
@pytest.mark.parametrize(
    ("page", "added", "warning"),
    [
        ("catalog.md", "\n[the scenarios](scenario.md)\n", "'scenario.md', but the target is not found"),
        (
            "catalog.md",
            "\n[served at once](findings.md#served-at-once)\n",
            "does not contain an anchor '#served-at-once'",
        ),
        ("left-out.md", "# A page the nav does not name\n", 'not included in the "nav" configuration'),
    ],
    ids=["broken-link", "broken-anchor", "page-left-out-of-the-nav"],
)
def test_the_strict_check_fails_on_a_broken_link_or_a_missing_page(
    tmp_path: Path, page: str, added: str, warning: str
) -> None:
    copy = site_copy(tmp_path)
    with (copy / "docs" / page).open("a") as stream:
        stream.write(added)
    result = subprocess.run([copy / "scripts" / "docs", "--check"], capture_output=True, text=True, timeout=300)
    said = result.stdout + result.stderr
    assert result.returncode == 1, said
    assert warning in said and "Aborted with 1 warnings in strict mode" in said
