"""Bring your own app: the user's WSGI app and locustfile, checked before any server starts.

The servers run the user's app exactly as they run the lab's (``APP_MODULE``, the app's folder on ``PYTHONPATH``,
its requirements installed beside the server's in a cached environment). The checks run where the app will run:
the import in that environment's Python, the locustfile in the load generator's, each in a process of its own, so
that a broken app or locustfile is a clear error (exit 2) and never a half-started sweep.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from flasklab.catalog import Scenario

APP_SPEC = re.compile(r"(?P<module>[A-Za-z_][\w.]*):(?P<attribute>[A-Za-z_]\w*)")
CHECK_TIMEOUT_S = 60
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


def check_import(app: UserApp, python: Path) -> None:
    """Import the app with ``python`` (the server environment's), from its folder; UserAppError if it fails."""
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
        raise UserAppError(outcome.get("error") or f"the import check failed: {result.stderr.strip()[-500:]}")


def check_locustfile(locustfile: Path) -> Scenario:
    """The user's locustfile as a scenario, after Locust itself loaded it and found a User class."""
    if not locustfile.is_file():
        raise UserAppError(f"--locustfile {locustfile} is not a file")
    command = [sys.executable, "-m", "flasklab.loadgen", "--check", "--locustfile", str(locustfile)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=CHECK_TIMEOUT_S)
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    errors = [event["message"] for event in events if event.get("event") == "error"]
    if errors or result.returncode != 0:
        raise UserAppError(errors[-1] if errors else f"the locustfile check failed: {result.stderr.strip()[-500:]}")
    name = re.sub(r"[^A-Za-z0-9_-]", "-", locustfile.stem)
    return Scenario(name, locustfile.resolve(), f"your locustfile {locustfile.name}", {}, ("quick", "standard", "full"))
