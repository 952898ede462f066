"""Settings declared once: each with its default, its validation and its help text.

The CLI builds its options from these, and the same names (upper-cased, LAB_ prefix) are read from the
environment and .env, as the compose file does.

Why this is long: one declaration per setting and per profile (name, default, parser, help), the table the CLI's
options and docs/commands.md are built from; split, a setting would be looked for in two places.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar, cast

import click

T = TypeVar("T")


@dataclass(frozen=True)
class Profile:
    """How hard and how long each target is measured."""

    name: str
    steps: tuple[int, ...]  # closed-loop users per step
    warmup_s: float
    window_s: float
    help: str
    rates: tuple[int, ...] = ()  # the open model's offered requests per second per step
    # The catalog servers it measures unless told (--servers); empty: all of them.
    servers: tuple[str, ...] = ()
    # The order its scenarios run in (the locustfiles say which scenarios are the profile's): those named here first,
    # in this order, then the others in catalog order.
    scenario_order: tuple[str, ...] = ()
    # How its windows end (flasklab.core.protocol.Load.windows): once they hold enough samples, or each the whole
    # window_s (a window watched over time).
    windows: str = "enough"

    def loads(self, model: str) -> tuple[int, ...]:
        """Each step's load: users in a closed loop, requests due per second in the open model."""
        return self.rates if model == "open" else self.steps

    @property
    def step_s(self) -> float:
        return self.warmup_s + self.window_s

    def target_s(self) -> float:
        """Seconds of load for one target (one server, one scenario)."""
        return len(self.steps) * self.step_s

    def with_rates(self, rates: tuple[int, ...]) -> Profile:
        return replace(self, rates=rates)

    def ordered(self, scenarios: Iterable[str]) -> list[str]:
        """``scenarios`` (names, in catalog order) in the order this profile runs them."""
        rank = {name: i for i, name in enumerate(self.scenario_order)}
        names = list(scenarios)
        return sorted(names, key=lambda name: (rank.get(name, len(rank)), names.index(name)))


PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        Profile("quick", (1, 4, 16), 0.3, 1.5, "tests and demos: core scenarios, 3 short steps", (10, 40, 160)),
        Profile(
            "standard",
            (1, 2, 4, 8, 16, 32, 64),
            0.3,
            5.0,
            "the default: users doubling to 64 (open model: 10 to 640 rps)",
            (10, 20, 40, 80, 160, 320, 640),
        ),
        Profile(
            "full",
            (1, 2, 4, 8, 16, 32, 64, 128),
            2.0,
            10.0,
            "every scenario, users doubling to 128, long windows",
            (10, 20, 40, 80, 160, 320, 640, 1280),
        ),
        Profile(
            "demo",
            (1, 4, 16),
            0.5,
            2.0,
            "a talk's demo, about 2 min: dev-single, dev-threaded, gunicorn-sync and gunicorn-gevent on io, selfcall, "
            "then hello, 3 short steps",
            (10, 40, 160),
            servers=("dev-single", "dev-threaded", "gunicorn-sync", "gunicorn-gevent"),
            scenario_order=("io", "selfcall", "hello"),
        ),
        Profile(
            "moments",
            (16,),
            2.0,
            30.0,
            "production moments: one steady step of 16 users, a fixed 30 s window watched second by second (worker "
            "recycling with --max-requests)",
            (160,),
            windows="fixed",
        ),
    )
}
DEFAULT_PROFILE = "standard"
# A closed loop's window ends once it holds enough samples, never before this share of the profile's window (the rule:
# flasklab.loadgen.window); the shortest step is the profile's warm-up and that much of its window.
WINDOW_FLOOR = 1 / 5

# A step whose load generator side was this busy or more (its busiest process, all of its processes together, or its
# CPU set: flasklab.core.generator_side's rule) measured the generator, not the server.
GENERATOR_SATURATION = 0.90

# The probe: this many concurrent `io` requests of PROBE_IO_MS each; "many" means at least half of them overlapped.
PROBE_WIDTH = 24
PROBE_IO_MS = 200
PROBE_MANY = PROBE_WIDTH // 2
# The probe's client waits this long for /self (a server that cannot call itself never answers it); the claims read
# an unanswered self-call by it.
SELF_CALL_CLIENT_TIMEOUT_S = 15.0

# The Locust process's side of the lab: the compose service of its workers and the master's port.
LOCUST_WORKER_SERVICE = "locust-worker"
LOCUST_MASTER_PORT = 5557
# `flasklab run --serve` turns Locust's own web UI on at this address when LAB_LOCUST_WEB is unset and it is free.
LOCUST_WEB_DEFAULT = "127.0.0.1:8089"

# The latency objective of the report's capacity table: highest rps with p95 at or under it.
DEFAULT_SLO_P95_MS = 500.0
MAX_MS = 3_600_000.0  # an hour: beyond that it is not a web request

MAX_RATE = 100_000  # the open model's highest rate per step


class Milliseconds(click.FloatRange):
    """A positive number of milliseconds up to MAX_MS; unlike FloatRange, NaN is refused (every comparison with it
    is false, so it would pass any range)."""

    def __init__(self) -> None:
        super().__init__(min=0, max=MAX_MS, min_open=True)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        number = super().convert(value, param, ctx)
        if number != number:
            self.fail("nan is not a number of milliseconds", param, ctx)
        return number


class Rates(click.ParamType[tuple[int, ...], Any]):
    """The open model's requests per second, step by step: whole numbers from 1 to MAX_RATE, increasing."""

    name = "rates"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[int, ...]:
        if isinstance(value, tuple):
            return value
        try:
            rates = tuple(int(part) for part in str(value).split(","))
        except ValueError:
            rates = ()
        if not rates or any(not 1 <= rate <= MAX_RATE for rate in rates) or list(rates) != sorted(set(rates)):
            self.fail(
                f"{value!r}: give increasing whole requests per second from 1 to {MAX_RATE:,}, e.g. 10,40,160",
                param,
                ctx,
            )
        return rates


class SettingError(ValueError):
    """An environment variable whose value its setting refuses; the message names the variable and the problem."""


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One setting, declared once: its name, default, parser (a click type, which validates and converts) and help.

    Its environment variable is LAB_ and the name upper-cased. The CLI builds an option from it (flasklab.cli.options)
    and code that needs the value outside the CLI asks ``value()``, which reads the environment then, not at import.
    """

    name: str
    default: T
    help: str
    type: click.ParamType[Any, Any] = click.STRING
    metavar: str | None = None
    flag: str | None = None  # the command-line option, if any: "--" and the name with dashes unless told otherwise

    @property
    def envvar(self) -> str:
        return "LAB_" + self.name.upper()

    @property
    def option(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    def value(self, environment: Mapping[str, str] | None = None) -> T:
        """The value from the environment now (unset or empty: the default), parsed and validated."""
        raw = (os.environ if environment is None else environment).get(self.envvar, "")
        if not raw:
            return self.default
        try:
            return cast(T, self.type.convert(raw, None, None))
        except click.BadParameter as error:
            raise SettingError(f"{self.envvar}={raw!r}: {error.message}") from None

    def given(self, environment: Mapping[str, str] | None = None) -> T | None:
        """The value when the environment sets one, else None: for code whose default depends on more than this."""
        raw = (os.environ if environment is None else environment).get(self.envvar, "")
        return self.value({self.envvar: raw}) if raw else None


BACKEND_NAMES = ("local", "docker", "network")  # flasklab.measure.backends.BACKENDS, in this order (a test checks)
BACKEND = Setting(
    "backend",
    "local",
    "Where the servers run: local processes, or (inside the compose lab) the services of its network.",
    click.Choice(BACKEND_NAMES),
)
SERVERS = Setting[str | None]("servers", None, "Servers to measure (default: all).", metavar="A,B")
SCENARIOS = Setting[str | None]("scenarios", None, "Scenarios (default: the profile's).", metavar="X,Y")
PROFILE = Setting(
    "profile", DEFAULT_PROFILE, "; ".join(f"{p.name}: {p.help}" for p in PROFILES.values()), metavar="NAME"
)
MODEL = Setting(
    "model",
    "closed",
    "closed: users that wait for each answer (what can it serve?); open: requests due at fixed rates, latency "
    "from the due time, no coordinated omission (how does it answer the traffic I expect?).",
    click.Choice(["closed", "open"]),
)
ARRIVALS = Setting[str | None](
    "arrivals",
    None,
    "The open model's arrivals: poisson (default: independent users, seeded by --seed) or uniform (evenly "
    "spaced, which queues less than real traffic).",
    click.Choice(["poisson", "uniform"]),
)
RATES = Setting[tuple[int, ...] | None](
    "rates",
    None,
    "The open model's requests per second, step by step (default: the profile's, e.g. quick 10,40,160).",
    Rates(),
    metavar="R1,R2",
)
ROUNDS = Setting(
    "rounds",
    1,
    "Measure every target this many times, servers and scenarios shuffled each round; steps get their spread.",
    click.IntRange(1, 20),
)
STEPS = Setting(  # LAB_STEPS_RULE: a locustfile run on its own reads LAB_STEPS as its users per step
    "steps_rule",
    "adaptive",
    "adaptive: a curve stops stepping up once it has shown the server's limit (throughput flat for 2 doublings while "
    "latency grows, failures, or an unstable backlog), and says why; fixed: every step of the profile.",
    click.Choice(["adaptive", "fixed"]),
    flag="--steps",
)
PROCESSES = Setting(
    "processes",
    1,
    "Locust processes on this machine, pinned with the generator (above 1: a master and local workers).",
    click.IntRange(1, 64),
)
SLO_P95_MS = Setting(
    "slo_p95_ms", DEFAULT_SLO_P95_MS, "Latency objective of the report's capacity table (p95, ms).", Milliseconds()
)
APP = Setting[str | None]("app", None, "Your WSGI app instead of the lab's.", metavar="MODULE:APP")
# The live dashboard (`flasklab run --serve`, `flasklab serve`): loopback unless told otherwise.
DASHBOARD_HOST = Setting(
    "dashboard_host",
    "127.0.0.1",
    "Address to listen on; anything but loopback exposes the dashboard (the compose lab publishes 127.0.0.1).",
    flag="--host",
)
DASHBOARD_PORT = Setting("dashboard_port", 8080, "Port (0: any free port).", click.IntRange(0, 65535), flag="--port")
LOCUST_URL = Setting[str | None]("locust_url", None, "Address of Locust's web UI to link to (the compose lab's 8089).")
# Named LOCUST_WORKERS once flasklab.measure.load asks it for its value instead of importing the import-time copy below.
LOCUST_WORKERS_SETTING = Setting(
    "locust_workers",
    "0",
    "Locust workers for distributed load: a number, or auto to count the replicas of the compose service "
    "locust-worker (docker compose up --scale locust-worker=N); 0 runs Locust in one local process.",
)
LOCUST_WEB = Setting(
    "locust_web",
    "",
    "HOST:PORT of Locust's own web UI during each target (empty: none); the compose lab publishes 127.0.0.1:8089, "
    f"and flasklab run --serve turns it on at {LOCUST_WEB_DEFAULT} when that port is free.",
)
LOCUST_STARTS = ("fork", "spawn")
LOCUST_START = Setting(
    "locust_start",
    "fork",
    "How each target's Locust process starts: fork (from a process that imported Locust once, 0.6 s sooner) or "
    "spawn (a new interpreter each time).",
    click.Choice(LOCUST_STARTS),
)
START_TIMEOUT = Setting(
    "start_timeout_s",
    30.0,
    "Seconds a server may take to answer its health check after start (and, after a scenario whose last step got "
    "no answer at all, before it is recorded as having stopped answering).",
    click.FloatRange(min=0, min_open=True),
)
REQUEST_TIMEOUT = Setting(
    "request_timeout_s",
    30.0,
    "Seconds after which an unanswered lab request fails as a timeout (counted in its step); longer than any "
    "healthy latency of the profiles, shorter than Locust's own 60 s.",
    click.FloatRange(min=0, min_open=True),
)

CONNECTION_MODES = ("keepalive", "close")
CONNECTIONS = Setting(
    "connections",
    "keepalive",
    "How the load's clients connect: keepalive (each user reuses its connection, as browsers and pooled clients "
    "do) or close (a new TCP connection per request, as behind a proxy that does not reuse upstream connections).",
    click.Choice(CONNECTION_MODES),
)
# Worker recycling: the gunicorn and uWSGI commands of the catalog read these (docker-compose.yml); a server whose
# command does not is skipped when they ask for recycling (flasklab.core.catalog.recycling_unsupported).
MAX_REQUESTS_LIMIT = 10_000_000
MAX_REQUESTS = Setting(
    "max_requests",
    0,
    "Worker recycling: each gunicorn or uWSGI worker is replaced after this many requests (0: never); the servers "
    "without it are skipped with the reason.",
    click.IntRange(0, MAX_REQUESTS_LIMIT),
    metavar="N",
)
MAX_REQUESTS_JITTER = Setting(
    "max_requests_jitter",
    0,
    "gunicorn's random jitter on --max-requests: up to this many more requests, drawn per worker (uWSGI, which has "
    "none, is then skipped).",
    click.IntRange(0, MAX_REQUESTS_LIMIT),
    metavar="N",
)
RELOAD_AT = Setting(
    "reload_at_s",
    0.0,
    "A deploy under load: this many seconds into each step's window (fixed windows then), each server's graceful "
    "reload with the app's next code version (gunicorn's, uWSGI's and granian's SIGHUP; the others are restarted); "
    "0: never.",
    click.FloatRange(0, 3600),
    metavar="S",
    flag="--reload-at",
)
# The servers' own request timeout: the gunicorn commands of the catalog (nginx's gunicorn too) read it as --timeout,
# the uWSGI ones as --harakiri (docker-compose.yml); the other servers have none (flasklab.core.catalog.Server).
SERVER_TIMEOUT = Setting(
    "server_timeout_s",
    30,
    "The servers' own request timeout in whole seconds: gunicorn's --timeout (30, its default) and uWSGI's "
    "--harakiri; the other servers have none. The timeout scenario's long requests must outlast it.",
    click.IntRange(1, 3600),
    metavar="S",
    flag="--server-timeout",
)

# Command line only (`flasklab run --seed`, `flasklab plan --verify --seed`): not read from the environment.
SEED = Setting[int | None](
    "seed",
    None,
    "Seed of the rounds' shuffle and the open model's Poisson arrivals (default: random, recorded).",
    click.IntRange(0, 2**31 - 1),
)
# The conductor's (flasklab.measure.conductor): the compose file passes COMPOSE_PROFILES in as LAB_COMPOSE_PROFILES.
COMPOSE_PROFILES = Setting(
    "compose_profiles",
    "all",
    "The compose lab's active profiles (COMPOSE_PROFILES, which .env sets): the conductor measures the servers they "
    "start.",
    metavar="A,B",
)

# Every setting a user may give in the environment, in the order the README lists them.
SETTINGS: tuple[Setting[Any], ...] = (
    BACKEND,
    SERVERS,
    SCENARIOS,
    PROFILE,
    MODEL,
    RATES,
    ARRIVALS,
    CONNECTIONS,
    ROUNDS,
    STEPS,
    MAX_REQUESTS,
    MAX_REQUESTS_JITTER,
    RELOAD_AT,
    SERVER_TIMEOUT,
    PROCESSES,
    LOCUST_WORKERS_SETTING,
    LOCUST_WEB,
    LOCUST_START,
    SLO_P95_MS,
    APP,
    DASHBOARD_HOST,
    DASHBOARD_PORT,
    LOCUST_URL,
    START_TIMEOUT,
    REQUEST_TIMEOUT,
    COMPOSE_PROFILES,
)

# Settings no option reads: the environment's, read when a target starts, a server waits or a request is made (the
# compose lab's conductor reads COMPOSE_PROFILES). The command line checks them at its start (bad value: exit 2).
ENVIRONMENT_ONLY: tuple[Setting[Any], ...] = (
    LOCUST_WEB,
    LOCUST_START,
    START_TIMEOUT,
    REQUEST_TIMEOUT,
    COMPOSE_PROFILES,
)


def environment_sentence() -> str:
    """The README's list of environment variables, generated from the table (a test keeps the README equal)."""
    return "Settings come from options or the environment (" + ", ".join(f"`{s.envvar}`" for s in SETTINGS) + ")"


def locust_web() -> str:
    """LAB_LOCUST_WEB, read when each target starts, so that the CLI can turn the UI on for a run."""
    return LOCUST_WEB.value()


# Read at import by the orchestrator's modules that have not moved to the table's value() yet and by test helpers:
# the same values the table gives. (The request timeout reaches the Locust process in its LoadConfig document.)
START_TIMEOUT_S = START_TIMEOUT.value()
LOCUST_WORKERS = LOCUST_WORKERS_SETTING.value()

# The slow upstream's port when the lab starts it locally (0: any free port).
UPSTREAM_PORT = 0
