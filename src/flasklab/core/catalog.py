"""The catalog: servers from docker-compose.yml, scenarios from locustfiles/.

docker-compose.yml is the only list of servers and locustfiles/ the only list of scenarios; everything else (the
local backend, the CLI's choices, the docs tables) reads them from here.
"""

from __future__ import annotations

import ast
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from flasklab.core.settings import MAX_REQUESTS as MAX_REQUESTS_SETTING
from flasklab.core.settings import MAX_REQUESTS_JITTER as JITTER_SETTING
from flasklab.core.settings import SERVER_TIMEOUT, SettingError

COMPOSE_FILE = "docker-compose.yml"
DEFAULT_REQUIREMENTS = "services/requirements/servers.txt"
UNBOUNDED = "unbounded"
# How a server holds requests at once (its label lab.kind): a request per worker process, a thread each, or a
# greenlet or coroutine each on an event loop. The planner sizes each kind differently.
SERVER_KINDS = ("processes", "threads", "async")
# What a scenario's requests do (its locustfile's LAB_SCENARIO "work"): wait on blocking I/O, compute, neither, or a
# mix of those. The planner and the report find "the scenario that waits `ms`" by this, never by its name.
IO_WORK, CPU_WORK, NO_WORK, MIXED_WORK = "io", "cpu", "none", "mixed"
WORK_KINDS = (IO_WORK, CPU_WORK, NO_WORK, MIXED_WORK)


class CatalogError(ValueError):
    """The compose file or a locustfile does not describe the lab correctly; the message names the culprit."""


def lab_root() -> Path:
    """The folder that holds docker-compose.yml: $LAB_ROOT, else the checkout this package was installed from."""
    if configured := os.environ.get("LAB_ROOT"):
        return Path(configured).resolve()
    for candidate in (Path.cwd(), *Path(__file__).resolve().parents):
        if (candidate / COMPOSE_FILE).is_file() and (candidate / "locustfiles").is_dir():
            return candidate
    raise CatalogError(f"cannot find {COMPOSE_FILE}: run flasklab from the lab's checkout or set LAB_ROOT")


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a Compose .env file (comments and blank lines skipped, surrounding quotes removed)."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        values[key.strip()] = value.strip().strip("'\"")
    return values


def compose_environment(root: Path) -> dict[str, str]:
    """What Compose interpolates with: the .env file, overridden by the shell's environment."""
    return {**read_env_file(root / ".env"), **os.environ}


_VARIABLE = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*))")


def interpolate(text: str, environment: Mapping[str, str]) -> str:
    """Compose's variable substitution: $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}."""

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        if match["named"]:
            return environment.get(match["named"], "")
        expression = match["braced"]
        operator = re.search(r":?[-?]", expression)
        if not operator:
            return environment.get(expression, "")
        name, argument = expression[: operator.start()], expression[operator.end() :]
        value = environment.get(name)
        unset = value is None or (operator.group().startswith(":") and value == "")
        if unset and operator.group().endswith("?"):
            raise CatalogError(f"required variable {name} is not set: {argument}")
        return argument if unset else str(value)

    return _VARIABLE.sub(substitute, text)


def _interpolate_tree(node: Any, environment: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, environment)
    if isinstance(node, list):
        return [_interpolate_tree(item, environment) for item in node]
    if isinstance(node, dict):
        return {key: _interpolate_tree(value, environment) for key, value in node.items()}
    return node


def parse_kind(service: str, label: str) -> str:
    """The server's declared kind (label lab.kind), one of SERVER_KINDS."""
    kind = label.strip()
    if kind not in SERVER_KINDS:
        raise CatalogError(f"service {service!r}: label lab.kind={label!r} must be one of {', '.join(SERVER_KINDS)}")
    return kind


def parse_concurrency(service: str, label: str) -> int | None:
    """``"4"`` → 4, ``"2*8"`` → 16, ``"unbounded"`` → None."""
    if label.strip() == UNBOUNDED:
        return None
    try:
        factors = [int(part) for part in label.split("*")]
    except ValueError:
        factors = []
    if not factors or min(factors) < 1:
        raise CatalogError(
            f"service {service!r}: label lab.concurrency={label!r} must be a positive integer, a product such as "
            f"'2*8', or {UNBOUNDED!r}"
        )
    return math.prod(factors)


# A worker setting: a ``${VARIABLE:-N}`` with a number for its default in a server's command (gunicorn-sync's
# GUNICORN_SYNC_WORKERS), what `flasklab tune` varies; the lab's own switches (LAB_ACCESS_LOG) are not one.
# Worker recycling (gunicorn's --max-requests and --max-requests-jitter, uWSGI's --max-requests): settings the
# gunicorn and uWSGI commands read, 0 (never) unless set; a server whose command does not read them has none.
MAX_REQUESTS, MAX_REQUESTS_JITTER = MAX_REQUESTS_SETTING.envvar, JITTER_SETTING.envvar


@dataclass(frozen=True)
class Recycling:
    """A server's worker recycling as its command sets it: each worker is replaced after ``max_requests`` requests
    (0: never), plus up to ``jitter`` more drawn at random per worker (None: the server has no random jitter)."""

    max_requests: int
    jitter: int | None


def recycling_asked(environment: Mapping[str, str]) -> tuple[int, int]:
    """The recycling ``environment`` asks for: (max requests, jitter), validated (a CatalogError naming the variable;
    a jitter without a limit is one too: gunicorn would ignore it)."""
    try:
        limit, jitter = MAX_REQUESTS_SETTING.value(environment), JITTER_SETTING.value(environment)
    except SettingError as error:
        raise CatalogError(str(error)) from error
    if jitter and not limit:
        raise CatalogError(f"{MAX_REQUESTS_JITTER} spreads {MAX_REQUESTS}: set it too")
    return limit, jitter


def parse_recycling(command: object, environment: Mapping[str, str]) -> Recycling | None:
    """The recycling a command as written reads (None: it reads no MAX_REQUESTS), with its values in
    ``environment``."""
    text = str(command or "")
    if f"${{{MAX_REQUESTS}:-" not in text:
        return None
    limit, jitter = recycling_asked(environment)
    return Recycling(limit, jitter if f"${{{MAX_REQUESTS_JITTER}:-" in text else None)


def recycling_unsupported(server: Server, environment: Mapping[str, str]) -> str | None:
    """Why ``server`` cannot run the recycling the switches ask for (it is then skipped); None: it can, or none is
    asked."""
    limit, jitter = recycling_asked(environment)
    if limit and server.recycling is None:
        return (
            f"{server.name} recycles no worker ({MAX_REQUESTS}={limit}: only the gunicorn and uWSGI commands "
            "of the catalog read it)"
        )
    if jitter and server.recycling is not None and server.recycling.jitter is None:
        return f"{server.name} has no random jitter for its recycling ({MAX_REQUESTS_JITTER}={jitter}: gunicorn's)"
    return None


def parse_timeout(command: object, environment: Mapping[str, str]) -> int | None:
    """The request timeout a command as written sets, in seconds (gunicorn's --timeout, uWSGI's --harakiri: both read
    LAB_SERVER_TIMEOUT_S); None: it reads none, the server has no request timeout of its own."""
    if f"${{{SERVER_TIMEOUT.envvar}:-" not in str(command or ""):
        return None
    try:
        return SERVER_TIMEOUT.value(environment)
    except SettingError as error:
        raise CatalogError(str(error)) from error


_WORKER_SETTING = re.compile(r"\$\{(?P<name>[A-Z][A-Z0-9_]*):-(?P<default>\d+)\}")
LAB_SWITCH = "LAB_"


def parse_worker_settings(command: object, environment: Mapping[str, str]) -> dict[str, int]:
    """The worker settings of a command as written (before interpolation): variable → its value in ``environment``
    (its default when unset, empty or not a whole number)."""
    found = {}
    for match in _WORKER_SETTING.finditer(str(command or "")):
        if match["name"].startswith(LAB_SWITCH):
            continue
        raw = environment.get(match["name"]) or match["default"]
        found[match["name"]] = int(raw) if raw.isdigit() else int(match["default"])
    return found


@dataclass(frozen=True)
class Server:
    """One catalog entry: a compose service with a ``lab.server`` label."""

    name: str
    software: str
    worker_model: str
    concurrency: int | None
    command: str
    kind: str | None = None  # one of SERVER_KINDS; None for a server outside the catalog (a --target URL)
    requirements: str = DEFAULT_REQUIREMENTS
    requires: tuple[str, ...] = ()
    note: str = ""
    published: dict[int, int] = field(default_factory=dict)  # container port -> 127.0.0.1 port on the host
    worker_settings: dict[str, int] = field(default_factory=dict)  # its command's ${VARIABLE:-N} -> value now
    recycling: Recycling | None = None  # None: its command recycles no worker whatever the switches say
    reload: str | None = None  # label lab.reload: its graceful reload (SIGHUP to its main process); None: none
    timeout_s: int | None = None  # its own request timeout as its command sets it (parse_timeout); None: none

    @property
    def concurrency_text(self) -> str:
        return UNBOUNDED if self.concurrency is None else str(self.concurrency)


def _server_from_service(name: str, service: dict[str, Any]) -> Server:
    labels = service.get("labels") or {}
    if isinstance(labels, list):
        labels = dict(item.split("=", 1) for item in labels)
    command = service.get("command")
    if isinstance(command, list) and len(command) == 1 and isinstance(command[0], str):
        command = command[0]
    if not isinstance(command, str) or not command.strip():
        raise CatalogError(f"service {name!r}: command must be one shell command string, e.g. [exec gunicorn ...]")
    for label in ("lab.worker-model", "lab.kind", "lab.concurrency"):
        if not str(labels.get(label, "")).strip():
            raise CatalogError(f"service {name!r}: label {label} is missing")
    build = service.get("build")
    args = (build.get("args") if isinstance(build, dict) else None) or {}
    published = {}
    for mapping in service.get("ports") or []:
        parts = str(mapping).rsplit(":", 2)  # [address:]host-port:container-port; the address may be IPv6
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            published[int(parts[2])] = int(parts[1])
    return Server(
        name=name,
        software=str(labels["lab.server"]),
        worker_model=str(labels["lab.worker-model"]),
        concurrency=parse_concurrency(name, str(labels["lab.concurrency"])),
        command=command.strip(),
        kind=parse_kind(name, str(labels["lab.kind"])),
        requirements=str(args.get("REQUIREMENTS", DEFAULT_REQUIREMENTS)),
        requires=tuple(str(labels.get("lab.requires", "")).split()),
        note=" ".join(str(labels.get("lab.note", "")).split()),
        published=published,
        reload=str(labels["lab.reload"]) if labels.get("lab.reload") else None,
    )


def read_compose(root: Path) -> dict[str, Any]:
    """The compose file as written (variables not yet interpolated)."""
    path = root / COMPOSE_FILE
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise CatalogError(f"cannot read {path}: {error}") from error
    return document if isinstance(document, dict) else {}


def load_servers(root: Path | None = None, environment: Mapping[str, str] | None = None) -> dict[str, Server]:
    """Every server of the compose file, in file order, with .env and the environment filled in."""
    root = root or lab_root()
    path = root / COMPOSE_FILE
    services = read_compose(root).get("services") or {}
    environment = compose_environment(root) if environment is None else environment
    servers: dict[str, Server] = {}
    for name, service in services.items():
        labels = service.get("labels") if isinstance(service, dict) else None
        if isinstance(labels, dict) and "lab.server" in labels:
            server = _server_from_service(name, _interpolate_tree(service, environment))
            settings = parse_worker_settings(service.get("command"), environment)
            recycling = parse_recycling(service.get("command"), environment)
            timeout_s = parse_timeout(service.get("command"), environment)
            servers[name] = replace(server, worker_settings=settings, recycling=recycling, timeout_s=timeout_s)
    if not servers:
        raise CatalogError(f"{path} has no service with a lab.server label")
    return servers


@dataclass(frozen=True)
class Scenario:
    """One locustfile of locustfiles/ that declares ``LAB_SCENARIO = {...}``."""

    name: str
    locustfile: Path
    description: str
    params: dict[str, int] = field(default_factory=dict)
    profiles: tuple[str, ...] = ()
    work: str = MIXED_WORK  # one of WORK_KINDS; a locustfile of yours is taken as a mix (its work is not declared)
    # Its users hold the server's connections for seconds (slow clients): a busy generator does not stop the curve
    # (flasklab.core.stopping). LAB_SCENARIO's "holds_connections", false when not declared.
    holds_connections: bool = False
    # The parameter (milliseconds) of its requests that must outlast the servers' own timeout (the timeout scenario's
    # long_ms): LAB_SCENARIO's "outlasts_server_timeout"; the command line refuses a timeout that is not shorter.
    outlasts_server_timeout: str | None = None


def _literal_assignment(path: Path, variable: str) -> Any:
    """The literal value assigned to ``variable`` at module level, read without importing (no gevent here)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if any(isinstance(target, ast.Name) and target.id == variable for target in targets):
            try:
                return ast.literal_eval(value)
            except ValueError as error:
                raise CatalogError(f"{path}: {variable} must be a literal dict ({error})") from error
    return None


def parse_work(path: Path, declared: object) -> str:
    """The scenario's declared kind of work (LAB_SCENARIO's "work"), one of WORK_KINDS."""
    if declared not in WORK_KINDS:
        raise CatalogError(f"{path}: LAB_SCENARIO's work is {declared!r}; declare one of {', '.join(WORK_KINDS)}")
    return str(declared)


def scenario_of_work(scenarios: Mapping[str, Scenario], work: str, param: str | None = None) -> str | None:
    """The first scenario (in locustfiles/ order) that declares ``work`` and, if named, the parameter ``param``.

    Where a view needs one lab scenario for a kind of work (the planner's "blocking I/O of ``ms``"), this is it.
    """
    for scenario in scenarios.values():
        if scenario.work == work and (param is None or param in scenario.params):
            return scenario.name
    return None


def load_scenarios(root: Path | None = None) -> dict[str, Scenario]:
    """Every scenario of locustfiles/, keyed by name."""
    root = root or lab_root()
    scenarios: dict[str, Scenario] = {}
    for path in sorted((root / "locustfiles").glob("*.py")):
        declaration = _literal_assignment(path, "LAB_SCENARIO")
        if declaration is None:
            continue
        work = parse_work(path, declaration.get("work") if isinstance(declaration, dict) else None)
        try:
            scenario = Scenario(
                name=str(declaration["name"]),
                locustfile=path,
                description=str(declaration.get("description", "")),
                params={str(key): int(value) for key, value in dict(declaration.get("params", {})).items()},
                profiles=tuple(declaration.get("profiles", ())),
                work=work,
                holds_connections=declaration.get("holds_connections", False) is True,
                outlasts_server_timeout=declaration.get("outlasts_server_timeout"),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise CatalogError(f"{path}: LAB_SCENARIO needs name, work, params and profiles ({error!r})") from error
        if scenario.name in scenarios:
            raise CatalogError(f"scenario {scenario.name!r} is declared twice ({path})")
        scenarios[scenario.name] = scenario
    return scenarios
