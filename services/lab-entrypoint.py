"""Entry point of the lab image (conductor, dashboard, Locust workers): run the command as the results folder's owner.

``docker compose up`` on a fresh clone must write ./results (mounted at /lab/results) without anyone editing .env,
and the lab must never run as root. So the services that touch the folder start as root with only the capabilities
to hand over (compose: cap_drop ALL, cap_add SETUID, SETGID and, for the writer, CHOWN; no-new-privileges), and this
script, standard library only, becomes the folder's owner before it runs the command:

- LAB_UID (and LAB_GID, default the same) when set: an explicit choice, never 0;
- else the folder's owner: whoever cloned the lab, since results/ is in the repository;
- a folder owned by root (root cloned it, or Docker created a missing ./results) is handed to the image's own user
  10001 first (with CHOWN; a read-only mount is left as it is) and the command runs as 10001.

Started as any other user (the image's default 10001, or a compose ``user:``), it only runs the command. After
setuid to a non-root uid the kernel clears every capability, and no-new-privileges keeps the command from getting
any back.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

RESULTS = Path(os.environ.get("LAB_RESULTS_MOUNT", "/lab/results"))
IMAGE_USER = 10001  # the lab image's own user (services/Dockerfile.lab's USER)


def say(message: str) -> None:
    print(f"lab-entrypoint: {message}", file=sys.stderr, flush=True)


def explicit_owner() -> tuple[int, int] | None:
    """LAB_UID:LAB_GID when LAB_UID is set (exit 2 on a bad or root value)."""
    uid_text = os.environ.get("LAB_UID", "").strip()
    if not uid_text:
        return None
    gid_text = os.environ.get("LAB_GID", "").strip() or uid_text
    if not (uid_text.isdigit() and gid_text.isdigit()):
        say(f"LAB_UID={uid_text!r} LAB_GID={gid_text!r}: give numeric ids, e.g. LAB_UID=$(id -u) LAB_GID=$(id -g)")
        sys.exit(2)
    if int(uid_text) == 0 or int(gid_text) == 0:
        say("LAB_UID/LAB_GID 0: the lab never runs as root; leave them unset to use the results folder's owner")
        sys.exit(2)
    return int(uid_text), int(gid_text)


def folder_owner() -> tuple[int, int]:
    """The results folder's owner, a root-owned folder handed to the image's user first."""
    try:
        status = RESULTS.stat()
    except OSError:
        return IMAGE_USER, IMAGE_USER  # no results folder here (a Locust worker): the image's user
    if status.st_uid != 0:
        return status.st_uid, status.st_gid or IMAGE_USER
    try:
        os.chown(RESULTS, IMAGE_USER, IMAGE_USER)
        say(f"{RESULTS} was owned by root: handed to uid {IMAGE_USER} (the lab image's user), which now writes it")
    except OSError:
        pass  # a read-only mount (the dashboard): it reads as the image's user
    return IMAGE_USER, IMAGE_USER


def become(uid: int, gid: int) -> None:
    """Drop root for good: no supplementary groups, then the group, then the user."""
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    if os.getuid() == 0 or os.geteuid() == 0:
        say("still root after setuid: refusing to run")
        sys.exit(1)


def main(argv: list[str]) -> None:
    if not argv:
        say("usage: lab-entrypoint.py COMMAND [ARGS...]")
        sys.exit(2)
    if os.getuid() == 0:
        explicit = explicit_owner()
        uid, gid = explicit or folder_owner()
        try:
            become(uid, gid)
        except PermissionError as error:
            say(f"cannot become {uid}:{gid} ({error}): the service needs cap_add SETUID and SETGID")
            sys.exit(1)
        say(f"running as {uid}:{gid} ({'LAB_UID:LAB_GID' if explicit else f'the owner of {RESULTS}'})")
    try:
        os.execvp(argv[0], argv)
    except OSError as error:
        say(f"cannot run {argv[0]}: {error}")
        sys.exit(127)


if __name__ == "__main__":
    main(sys.argv[1:])
