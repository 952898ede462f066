"""A deploy as the lab makes one: the app's next code version written where the app reads it at import
(``LAB_APP_VERSION_FILE``, flasklab_app.app.code_version), then the server's own graceful reload, SIGHUP to its main
process (gunicorn's and uWSGI's: new workers import the new code, the old ones finish what they hold).

Standard library only: the agent (flasklab_app.agent) and the lab's local backend both use it.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

VERSION_FILE = "LAB_APP_VERSION_FILE"
FIRST_VERSION = "1"


def write_version(path: Path, version: str = FIRST_VERSION) -> None:
    """The code version the next import of the app reads (written whole: a reader sees the old or the new)."""
    temporary = path.with_name(path.name + ".new")
    temporary.write_text(version + "\n")
    temporary.replace(path)


def next_version(path: Path) -> str:
    """The version after the one in ``path`` (1, 2, ...), written there."""
    try:
        current = int(path.read_text().strip() or FIRST_VERSION)
    except (OSError, ValueError):
        current = int(FIRST_VERSION)
    version = str(current + 1)
    write_version(path, version)
    return version


def graceful_reload(pid: int, path: Path) -> str:
    """Deploy the next code version to the server whose main process is ``pid``: its version, once written and the
    reload asked for (ProcessLookupError: the server is gone)."""
    version = next_version(path)
    os.kill(pid, signal.SIGHUP)
    return version
