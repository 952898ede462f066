"""The requirements of one server environment: the server's own packages, the app's stack, and nothing pinned twice.

Usage: python3 stack.py SERVER_FILE LAB_APP_FILE [USER_APP_FILE]   (prints the merged requirements on stdout)

The server file pins the server's packages (declared in its header: ``# server packages: gunicorn gevent ...``) and
what they need (greenlet, click, ...); the lab's app file pins the lab's Flask stack. A user's app brings its own
requirements, and its pins win for the app's stack: a package it names that is not a server package is taken from it
alone (its line replaces the file's pin); a server package stays the server's (pip then says whether the app's line
agrees with it: if not, that server is skipped with pip's reason). When the app names Flask or Werkzeug, the lab's
Flask stack is left out entirely, so that pip resolves the app's whole stack from the app's pins; an app that names
neither (a few libraries on top of Flask) gets the lab's Flask stack, as before.

Used by the local backend and by services/Dockerfile alike, so both build the very same environment; standard
library only (it runs in the bare image before any install).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
SERVER_PACKAGES = re.compile(r"^#\s*server packages:(.*)$", re.MULTILINE)
FLASK_STACK = {"flask", "werkzeug"}


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_lines(path: Path) -> list[str]:
    """The file's requirement lines, comments and blank lines dropped (options such as -c are kept as lines)."""
    lines = (line.split(" #")[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def named(line: str) -> str | None:
    """The normalized package name a requirement line is about, or None (an option line, a URL)."""
    match = NAME.match(line)
    return normalized(match.group(1)) if match and not line.startswith("-") else None


def server_packages(path: Path) -> set[str]:
    """The packages a server file declares as the server's own (its ``# server packages:`` header lines)."""
    declared = " ".join(SERVER_PACKAGES.findall(path.read_text())).split()
    return {normalized(name) for name in declared}


def merged(server: Path, lab_app: Path, user_app: Path | None) -> list[str]:
    """Server pins, then the lab's Flask stack unless the user's app brings its own, then the app's lines."""
    user_lines = requirement_lines(user_app) if user_app else []
    replaced = {name for line in user_lines if (name := named(line))} - server_packages(server)
    stack = [] if replaced & FLASK_STACK else requirement_lines(lab_app)
    kept = [line for line in [*requirement_lines(server), *stack] if named(line) not in replaced]
    return list(dict.fromkeys([*kept, *user_lines]))


def main(arguments: list[str]) -> int:
    if len(arguments) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    user_app = Path(arguments[2]) if len(arguments) == 3 else None
    print("\n".join(merged(Path(arguments[0]), Path(arguments[1]), user_app)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
