"""The compose lab's conductor: measure what ``docker compose up`` started, and nothing else.

Compose starts the servers of its active profiles (COMPOSE_PROFILES, which .env sets to ``all``; the compose file
passes it in as LAB_COMPOSE_PROFILES): every server is in the profile ``all`` and in one named after it, and the
demo's servers also in ``demo``. This turns those profiles, LAB_SERVERS and LAB_PROFILE (settings of
flasklab.core.settings' table, read through it) into a ``flasklab run --backend network`` and becomes it
(``python -m flasklab.measure.conductor``, the conductor service's command):

- the servers are those of the active profiles, in catalog order; ``demo`` also picks the demo lab profile unless
  LAB_PROFILE names one;
- LAB_SERVERS, when set, narrows that choice: a name that is not a server, or whose container was not started, ends
  the conductor at once (exit 2, naming the valid choices), before any load.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from flasklab.core.catalog import CatalogError, lab_root, load_servers, read_compose
from flasklab.core.settings import COMPOSE_PROFILES, DEFAULT_PROFILE, PROFILE, PROFILES, SERVERS

DEMO = "demo"


class SelectionError(ValueError):
    """The profiles or LAB_SERVERS do not name what compose started; the message names the valid choices."""


def names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def server_profiles(root: Path) -> dict[str, tuple[str, ...]]:
    """Each catalog server's compose profiles, in catalog order."""
    services = read_compose(root).get("services") or {}
    return {name: tuple((services.get(name) or {}).get("profiles") or ()) for name in load_servers(root, {})}


def all_profiles(root: Path) -> set[str]:
    """Every profile the compose file names (servers' and others', e.g. ``workers``)."""
    services = read_compose(root).get("services") or {}
    return {profile for service in services.values() for profile in (service or {}).get("profiles") or ()}


def started_servers(profiles: Mapping[str, tuple[str, ...]], active: list[str], known: set[str]) -> list[str]:
    """The servers compose starts under the ``active`` profiles (exit 2 on a profile the compose file lacks)."""
    unknown = [profile for profile in active if profile not in known]
    if unknown:
        raise SelectionError(
            f"COMPOSE_PROFILES names {', '.join(unknown)}, which no service has; valid: {', '.join(sorted(known))}"
        )
    return [server for server, its in profiles.items() if set(its) & set(active)]


def chosen_servers(started: list[str], catalog: list[str], requested: list[str], active: list[str]) -> list[str]:
    """LAB_SERVERS (``requested``) within what was started; all started servers when it is empty."""
    if not requested:
        return started
    unknown = [name for name in requested if name not in catalog]
    if unknown:
        raise SelectionError(f"{SERVERS.envvar}: unknown server {', '.join(unknown)}; valid: {', '.join(catalog)}")
    missing = [name for name in requested if name not in started]
    if missing:
        raise SelectionError(
            f"{SERVERS.envvar} names {', '.join(missing)}, whose container COMPOSE_PROFILES={','.join(active)} "
            f"does not start (it starts {', '.join(started) or 'no server'}): add {','.join(missing)} to "
            "COMPOSE_PROFILES"
        )
    return [name for name in started if name in requested]


def run_arguments(environment: Mapping[str, str], root: Path) -> tuple[list[str], str]:
    """The ``flasklab run`` command for this environment, and one line saying what it measures and why."""
    try:
        profiles = server_profiles(root)
        known = all_profiles(root)
    except CatalogError as error:
        raise SelectionError(str(error)) from error
    active = names(COMPOSE_PROFILES.value(environment))
    started = started_servers(profiles, active, known)
    requested = names(SERVERS.value(environment) or "")
    servers = chosen_servers(started, list(profiles), requested, active)
    if not servers:
        raise SelectionError(
            f"COMPOSE_PROFILES={','.join(active)} starts no server; name servers, all or {DEMO}: {', '.join(profiles)}"
        )
    command = ["flasklab", "run", "--backend", "network"]
    if servers != list(profiles):
        command += ["--servers", ",".join(servers)]
    lab_profile = PROFILE.given(environment) or ""  # unset: the demo's when compose starts the demo
    if not lab_profile and DEMO in active and DEMO in PROFILES:
        lab_profile = DEMO
        command += ["--profile", DEMO]
    if "--servers" not in command and lab_profile in PROFILES and PROFILES[lab_profile].servers:
        servers = [name for name in servers if name in PROFILES[lab_profile].servers]  # the lab profile's own
    idle = len(started) - len(servers)
    story = (
        f"conductor: measuring {', '.join(servers)} (COMPOSE_PROFILES={','.join(active)}"
        f"{f', {SERVERS.envvar}' if requested else ''}), lab profile {lab_profile or DEFAULT_PROFILE}"
        + (f"; {idle} other server containers were started and stay idle" if idle else "")
    )
    return command, story


def main() -> None:
    try:
        command, story = run_arguments(os.environ, lab_root())
    except SelectionError as error:
        print(f"conductor: {error}", file=sys.stderr, flush=True)
        sys.exit(2)
    print(f"{story}\n  {' '.join(command)}", flush=True)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
