"""Known vulnerabilities of every pinned dependency: the runner's (constraints.txt: pyproject.toml's pins and
everything they pull in) and each server environment's (services/requirements/*.txt).

Each set of pins is resolved by pip with the machine's own configuration (its index, its certificates), then audited
by pip-audit, which asks the index's JSON API about each exact version. Some mirrors answer only for a project as a
whole: its page lists every release with its upload time, and the vulnerabilities of the latest release only. A pin
pip-audit could not audit is then settled from that page:

- the pin IS the latest release: audited from the page's vulnerabilities (exactly);
- the latest release lists a vulnerability: the pin fails, since an older release may share it and the data to
  tell is not reachable here;
- otherwise the pin is behind: it passes, reported with how far behind it is, for ``STALE_DAYS`` after the first
  newer release appeared, then it fails as stale. A fix published upstream for an older release is invisible here,
  so the time a pin may lag is bounded: bump the pins (scripts/bump-pins) at least that often.

security/known-vulnerabilities.txt lists what is accepted, each with its reason: vulnerability ids (passed to
pip-audit as --ignore-vuln) and NAME==VERSION for a pin accepted unaudited. Exit status: 0 no known vulnerability
besides the accepted ones and no stale pin; 1 otherwise. When the vulnerability data cannot be reached at all, the
audit says so and fails with CI set (it only warns on a developer's offline machine).
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parents[1]
KNOWN = ROOT / "security/known-vulnerabilities.txt"
NOT_FOUND = "could not be audited"  # pip-audit's skip reason when the index has no data for the exact version
STALE_DAYS = 30  # how long a pin may stay behind a newer release it cannot be audited against


class UnreachableError(RuntimeError):
    """The index (or the vulnerability data) cannot be reached from this machine."""


@dataclass
class Finding:
    id: str
    aliases: list[str]
    fixed_in: list[str]
    summary: str


@dataclass
class Pin:
    name: str
    version: str
    findings: list[Finding] = field(default_factory=list)
    problem: str = ""  # why it was not audited
    unreachable: bool = False
    accepted: bool = False  # not audited, on purpose (known-vulnerabilities.txt)
    behind: str = ""  # not audited, within its grace: how far behind the latest release it is


def accepted_ids() -> dict[str, str]:
    """Accepted ids (a vulnerability's, or NAME==VERSION) → reason, from known-vulnerabilities.txt (# comments)."""
    if not KNOWN.is_file():
        return {}
    accepted = {}
    for line in KNOWN.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            identifier, _, reason = line.partition(" ")
            accepted[identifier] = reason.strip()
    return accepted


def pip_config() -> dict[str, str]:
    """pip's configuration as pip itself reads it (files and PIP_* variables): key → value."""
    listing = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
    values = {}
    for line in listing.splitlines():
        key, _, value = line.partition("=")
        values[key.rsplit(".", 1)[-1]] = value.strip().strip("'\"")
    return values


def resolve(label: str, requirement_args: list[str]) -> list[Pin]:
    """Every distribution pip would install for these requirements (the project itself left out)."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet"]
        done = subprocess.run([*command, "--report", str(report), *requirement_args], capture_output=True, text=True)
        if done.returncode != 0:
            raise UnreachableError(f"pip cannot resolve {label}: {done.stderr.strip()[-1000:]}")
        installs = json.loads(report.read_text())["install"]
    return [
        Pin(item["metadata"]["name"], item["metadata"]["version"])
        for item in installs
        if "dir_info" not in item["download_info"]  # the local project, not a published distribution
    ]


def run_pip_audit(pins: list[Pin], accepted: dict[str, str]) -> None:
    """pip-audit over exact pins; what it cannot audit keeps a problem for the fallback to settle."""
    by_name = {normalized(pin.name): pin for pin in pins}
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as requirements:
        requirements.write("".join(f"{pin.name}=={pin.version}\n" for pin in pins))
        requirements.flush()
        command = [sys.executable, "-m", "pip_audit", "-r", requirements.name, "--no-deps", "--disable-pip"]
        command += ["-f", "json", "--progress-spinner", "off"]
        vulnerability_ids = [identifier for identifier in accepted if "==" not in identifier]
        command += [argument for identifier in vulnerability_ids for argument in ("--ignore-vuln", identifier)]
        done = subprocess.run(command, capture_output=True, text=True)
    try:
        dependencies = json.loads(done.stdout)["dependencies"]
    except (json.JSONDecodeError, KeyError):
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        for pin in pins:
            pin.problem = f"pip-audit failed: {reason[:200]}"
        return
    for dependency in dependencies:
        pin = by_name[normalized(dependency["name"])]
        if "skip_reason" in dependency:
            pin.problem = dependency["skip_reason"]
        for vuln in dependency.get("vulns", []):
            pin.findings.append(Finding(vuln["id"], vuln["aliases"], vuln["fix_versions"], vuln["description"]))


def normalized(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def project_page_url(name: str, config: dict[str, str]) -> str:
    """The JSON page of a project on the index pip is configured with (pip's default index when none is)."""
    index = config.get("index-url")
    if not index:
        from pip._internal.models.index import PyPI  # the default pip would use: no index named here

        index = PyPI.simple_url
    base = index.rstrip("/").removesuffix("/simple")
    return f"{base}/pypi/{normalized(name)}/json"


def audit_from_project_page(pin: Pin, config: dict[str, str], context: ssl.SSLContext) -> None:
    """Settle a pin pip-audit could not audit, from the project's page on the index (see ``judge_from_page``)."""
    try:
        with urllib.request.urlopen(project_page_url(pin.name, config), timeout=30, context=context) as response:
            page: dict[str, Any] = json.load(response)
    except urllib.error.HTTPError as error:
        pin.problem = f"no page on the index (HTTP {error.code})"
        pin.unreachable = error.code != 404
        return
    except (OSError, ValueError) as error:
        pin.problem = f"vulnerability data unreachable ({error})"
        pin.unreachable = True
        return
    judge_from_page(pin, page, datetime.now(UTC))


def judge_from_page(pin: Pin, page: dict[str, Any], today: datetime) -> None:
    """The audit's rule for a pin known only through its project's page (every release, the latest's vulnerabilities).

    The latest release: its vulnerabilities are the pin's. An older pin: failed when the latest release lists any
    vulnerability (the pin may share it), failed as stale once a newer release has been out for ``STALE_DAYS``,
    and otherwise passed with ``behind`` saying how far behind it is.
    """
    latest = page["info"]["version"]
    findings = [
        Finding(vuln["id"], vuln.get("aliases") or [], vuln.get("fixed_in") or [], vuln.get("details", ""))
        for vuln in page.get("vulnerabilities") or []
    ]
    if latest == pin.version:
        pin.problem = ""
        pin.findings.extend(findings)
        return
    newer = newer_releases(pin.version, page.get("releases") or {})
    if not newer:  # the pin is newer than the index's latest (a pre-release, say): no data covers it
        pin.problem = ""
        pin.behind = f"not the index's latest release ({latest}) and nothing newer: no vulnerability data covers it"
        return
    first_newer, first_uploaded = newer[0]
    days = (today - first_uploaded).days
    lag = f"{len(newer)} release(s) behind (latest {latest}; {first_newer} appeared {days} days ago)"
    if findings:
        ids = ", ".join(finding.id for finding in findings)
        pin.problem = f"{lag}; the latest release lists {ids}, which this older pin may share"
    elif days > STALE_DAYS:
        pin.problem = f"stale: {lag}, over the {STALE_DAYS} days a pin may lag unaudited"
    else:
        pin.problem = ""
        pin.behind = f"{lag}; fails after {STALE_DAYS} days"


def newer_releases(pinned: str, releases: dict[str, list[dict[str, Any]]]) -> list[tuple[str, datetime]]:
    """Final, unyanked releases newer than ``pinned``, oldest upload first, each with its first upload time."""
    try:
        pinned_version = Version(pinned)
    except InvalidVersion:
        return []
    newer = []
    for text, files in releases.items():
        try:
            version = Version(text)
        except InvalidVersion:
            continue
        uploads = [f["upload_time_iso_8601"] for f in files if not f.get("yanked")]
        if version > pinned_version and not version.is_prerelease and uploads:
            uploaded = min(datetime.fromisoformat(u.replace("Z", "+00:00")) for u in uploads)
            newer.append((text, uploaded))
    return sorted(newer, key=lambda release: release[1])


def audit(label: str, requirement_args: list[str], accepted: dict[str, str], config: dict[str, str]) -> list[Pin]:
    pins = resolve(label, requirement_args)
    run_pip_audit(pins, accepted)
    context = ssl.create_default_context(cafile=config.get("cert") or None)
    unsettled = [pin for pin in pins if pin.problem and (NOT_FOUND in pin.problem or "pip-audit failed" in pin.problem)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda pin: audit_from_project_page(pin, config, context), unsettled))
    for pin in pins:
        pin.findings = [f for f in pin.findings if not {f.id, *f.aliases} & accepted.keys()]
        if pin.problem and f"{normalized(pin.name)}=={pin.version}" in accepted:
            pin.problem = f"accepted unaudited: {accepted[f'{normalized(pin.name)}=={pin.version}']}"
            pin.accepted = True
    return pins


def report(label: str, pins: list[Pin]) -> None:
    audited = [pin for pin in pins if not pin.problem]
    accepted = [pin for pin in pins if pin.accepted]
    vulnerable = [pin for pin in pins if pin.findings]
    verdict = f"{len(vulnerable)} with known vulnerabilities" if vulnerable else "no known vulnerability"
    unaudited = f" ({len(accepted)} accepted unaudited)" if accepted else ""
    print(f"{label}: {len(pins)} pins, {len(audited)} audited{unaudited}, {verdict}")
    for pin in vulnerable:
        for finding in pin.findings:
            fixed = f"fixed in {', '.join(finding.fixed_in)}" if finding.fixed_in else "no fix yet"
            aliases = f" ({', '.join(finding.aliases)})" if finding.aliases else ""
            print(f"  VULNERABLE {pin.name} {pin.version}: {finding.id}{aliases}, {fixed}")
            print(f"    {' '.join(finding.summary.split())[:300]}")
    for pin in pins:
        if pin.problem:
            print(f"  {'accepted' if pin.accepted else 'NOT AUDITED'}: {pin.name} {pin.version}: {pin.problem}")
        elif pin.behind:
            print(f"  behind: {pin.name} {pin.version}: {pin.behind}")


def main() -> int:
    accepted = accepted_ids()
    config = pip_config()
    runner = ["-e", f"{ROOT}[dev]", "-c", str(ROOT / "constraints.txt")]
    sets = {"flasklab (pyproject.toml + constraints.txt, runtime + dev)": runner}
    for requirements in sorted((ROOT / "services/requirements").glob("*.txt")):
        sets[str(requirements.relative_to(ROOT))] = ["-r", str(requirements)]
    try:
        with ThreadPoolExecutor(len(sets)) as pool:
            audits = {label: pool.submit(audit, label, args, accepted, config) for label, args in sets.items()}
            results = {label: future.result() for label, future in audits.items()}
    except UnreachableError as error:
        return unreachable(str(error))
    for label, pins in results.items():
        report(label, pins)
    every_pin = [pin for pins in results.values() for pin in pins]
    if lost := sorted({pin.name for pin in every_pin if pin.unreachable}):
        return unreachable(f"no vulnerability data for {', '.join(lost)}")
    vulnerable = [pin for pin in every_pin if pin.findings]
    unaudited = [pin for pin in every_pin if pin.problem and not pin.accepted]
    behind = [pin for pin in every_pin if pin.behind]
    if vulnerable or unaudited:
        print(f"audit: {len(vulnerable)} vulnerable, {len(unaudited)} failing unaudited: bump the pins")
        print(f"  (scripts/bump-pins), or accept them with a reason in {KNOWN.relative_to(ROOT)}")
        return 1
    lagging = f"; {len(behind)} behind the latest release, within {STALE_DAYS} days" if behind else ""
    print(f"audit: {len(every_pin)} pins, no known vulnerability{lagging}")
    return 0


def unreachable(problem: str) -> int:
    """Nothing to audit against: fail in CI (a green audit must mean something), warn elsewhere."""
    print(f"audit: {problem}", file=sys.stderr)
    if os.environ.get("CI"):
        print("audit: FAILED: the vulnerability data must be reachable in CI", file=sys.stderr)
        return 1
    print("audit: skipped (offline?); CI fails here", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
