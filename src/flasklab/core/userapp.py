"""Bring your own app: the user's WSGI app and locustfile, checked before any server starts.

The servers run the user's app exactly as they run the lab's (``APP_MODULE``, the app's folder on ``PYTHONPATH``,
its requirements installed with the server's own packages in a cached environment, its pins winning). The checks
run where the app will run: the requirements resolved on their own first, then the import in each environment's
Python, the locustfile in the load generator's, each in a process of its own, so that a broken app, requirements
file or locustfile is a clear error (exit 2) and never a half-started sweep.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from flasklab.core.catalog import Scenario
from flasklab.core.protocol import LoadError, read_event

APP_SPEC = re.compile(r"(?P<module>[A-Za-z_][\w.]*):(?P<attribute>[A-Za-z_]\w*)")
CHECK_TIMEOUT_S = 60
RESOLVE_TIMEOUT_S = 600
REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
# The packages whose versions say what stack a server ran: the app's framework and every server of the catalog.
STACK_PACKAGES = ("flask", "werkzeug", "gunicorn", "gevent", "eventlet", "tornado", "pyuwsgi", "waitress", "granian")
# Run in an environment's Python: the installed version of each package named in argv (absent ones left out).
VERSIONS_SCRIPT = """
import importlib.metadata, json, platform, sys
versions = {"python": platform.python_version()}
for name in sys.argv[1:]:
    try:
        versions[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        pass
print(json.dumps(versions))
"""
# Run in the server environment's Python: import the module, find the attribute, check it is a WSGI callable.
IMPORT_CHECK = """
import importlib, inspect, json, sys
module_name, attribute = sys.argv[1], sys.argv[2]
try:
    module = importlib.import_module(module_name)
except BaseException as error:
    print(json.dumps({"error": f"cannot import {module_name}: {type(error).__name__}: {error}"}))
    sys.exit(0)
if not hasattr(module, attribute):
    print(json.dumps({"error": f"{module_name} has no attribute {attribute!r}"}))
    sys.exit(0)
app = getattr(module, attribute)
try:
    inspect.signature(app).bind(None, None)  # a WSGI app is called with (environ, start_response)
except (TypeError, ValueError):
    kind = type(app).__name__
    print(json.dumps({"error": f"{module_name}:{attribute} is a {kind}, not a WSGI app (environ, start_response)"}))
    sys.exit(0)
print(json.dumps({"ok": type(app).__name__}))
"""


class UserAppError(ValueError):
    """The user's app or locustfile cannot be measured; the message says why."""


@dataclass(frozen=True)
class UserApp:
    """What the user brings: ``module:attribute``, the folder to import it from, its extra requirements."""

    spec: str
    path: Path
    requirements: Path | None = None
    health_path: str = "/"

    @property
    def module(self) -> str:
        return self.spec.partition(":")[0]

    @property
    def attribute(self) -> str:
        return self.spec.partition(":")[2]


def parse_app(spec: str, path: Path | None, requirements: Path | None) -> UserApp:
    """The --app options, checked for form (the import itself is checked by ``check_import``)."""
    if not APP_SPEC.fullmatch(spec):
        raise UserAppError(f"{spec!r} is not MODULE:APP (for example shop.app:app)")
    folder = (path or Path.cwd()).resolve()
    if not folder.is_dir():
        raise UserAppError(f"--app-path {folder} is not a folder")
    if requirements is not None and not requirements.is_file():
        raise UserAppError(f"--requirements {requirements} is not a file")
    return UserApp(spec, folder, requirements.resolve() if requirements else None)


def requirement_names(requirements: Path | None) -> list[str]:
    """The package names a requirements file asks for (options, comments and URLs left out)."""
    if requirements is None:
        return []
    lines = (line.split("#")[0] for line in requirements.read_text().splitlines())
    return [
        match.group(1) for line in lines if not line.strip().startswith("-") and (match := REQUIREMENT_NAME.match(line))
    ]


def pip_reason(output: str) -> str:
    """What pip says went wrong: its ``ERROR:`` lines and the conflict's causes, not the tail of its output.

    The tail is often unrelated warnings; the resolver's reason is its ``ERROR:`` lines ("Cannot install flask<3 and
    flask==3.1.3 ...", "No matching distribution found for ...") and the block "The conflict is caused by:".
    """
    lines = output.splitlines()
    errors = [line.strip() for line in lines if line.startswith("ERROR:") and "for help visit" not in line]
    if "The conflict is caused by:" in lines:
        causes: list[str] = []
        for line in lines[lines.index("The conflict is caused by:") + 1 :]:
            if not line.strip():
                break
            causes.append(line.strip())
        errors.append("The conflict is caused by: " + "; ".join(causes))
    return "\n".join(errors) or output.strip()[-800:]


def check_resolvable(requirements: Path) -> None:
    """The app's requirements resolve on their own (pip's resolver, nothing installed); UserAppError with its reason.

    A missing package or an impossible pin is the app's problem whatever the server: said once, before any server
    environment is built.
    """
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--disable-pip-version-check"]
    result = subprocess.run(
        [*command, "-r", str(requirements)], capture_output=True, text=True, timeout=RESOLVE_TIMEOUT_S
    )
    if result.returncode != 0:
        reason = pip_reason(result.stdout + "\n" + result.stderr)
        raise UserAppError(f"--requirements {requirements} cannot be installed: {reason}")


def installed_versions(python: list[str], names: list[str]) -> dict[str, str]:
    """Python's version and each named package's installed where ``python`` (a command) runs; {} if it fails."""
    try:
        result = subprocess.run([*python, "-c", VERSIONS_SCRIPT, *names], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return parse_versions(result.stdout)


def parse_versions(output: str) -> dict[str, str]:
    """What VERSIONS_SCRIPT printed (its last line), as name → version; {} when it printed nothing usable."""
    try:
        versions = json.loads(output.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {}
    return {str(name): str(version) for name, version in versions.items()} if isinstance(versions, dict) else {}


def check_import(app: UserApp, python: Path) -> None:
    """Import the app with ``python`` (the server environment's), from its folder; UserAppError if it fails.

    The error names the versions installed there of the app's requirements, Flask and Werkzeug: a requirements file
    that installs but leaves the app unimportable is most often a version the app does not support.
    """
    command = [str(python), "-c", IMPORT_CHECK, app.module, app.attribute]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=CHECK_TIMEOUT_S,
        cwd=app.path,
        env={"PYTHONPATH": str(app.path), "PATH": str(python.parent), "PYTHONDONTWRITEBYTECODE": "1"},
    )
    lines = result.stdout.strip().splitlines()
    try:
        outcome = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        outcome = {}
    if "ok" not in outcome:
        reason = outcome.get("error") or f"the import check failed: {result.stderr.strip()[-500:]}"
        names = list(
            dict.fromkeys(name.lower() for name in ["flask", "werkzeug", *requirement_names(app.requirements)])
        )
        versions = installed_versions([str(python)], names)
        installed = ", ".join(f"{name} {version}" for name, version in versions.items() if name != "python")
        raise UserAppError(f"{reason} (installed: {installed or 'none of ' + ', '.join(names)})")


def check_locustfile(locustfile: Path) -> Scenario:
    """The user's locustfile as a scenario, after Locust itself loaded it and found a User class."""
    if not locustfile.is_file():
        raise UserAppError(f"--locustfile {locustfile} is not a file")
    command = [sys.executable, "-m", "flasklab.loadgen", "--check", "--locustfile", str(locustfile)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=CHECK_TIMEOUT_S)
    events = [read_event(line) for line in result.stdout.splitlines() if line.startswith("{")]
    errors = [event.message for event in events if isinstance(event, LoadError)]
    if errors or result.returncode != 0:
        raise UserAppError(errors[-1] if errors else f"the locustfile check failed: {result.stderr.strip()[-500:]}")
    name = re.sub(r"[^A-Za-z0-9_-]", "-", locustfile.stem)
    return Scenario(name, locustfile.resolve(), f"your locustfile {locustfile.name}", {}, ("quick", "standard", "full"))
