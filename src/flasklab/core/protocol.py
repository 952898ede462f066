"""The one typed channel between the orchestrator and a Locust process: one document in, typed events out.

In: flasklab.measure.load builds a ``Load`` once per target (every knob of the sweep) and hands the Locust process a
``LoadConfig`` (that load, the target's address, how the generator runs) as the one argument of
``python -m flasklab.loadgen --config DOCUMENT``; its local Locust workers get the same document (``--worker``). The
Locust process validates it before Locust loads anything, so a bad document is an error event, not a half-configured
run, and the locustfiles read the parsed document (flasklab.loadgen.config), not environment variables.

Out: one JSON ``Event`` per line on the Locust process's stdout, a union told apart by its ``event`` field (whose
values are spelled here only): ``event_line`` writes one, ``read_event`` validates one.

Pure (pydantic only): both process worlds import it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from flasklab.core.arrivals import Arrivals
from flasklab.core.results import Step
from flasklab.core.run_record import StepsRule
from flasklab.core.settings import GENERATOR_SATURATION, LOCUST_MASTER_PORT, REQUEST_TIMEOUT


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Load(Message):
    """One target's load as the sweep sets it: the scenario's locustfile and parameters, the steps, the load model,
    the clients' connections and timeout, and how the Locust process records."""

    locustfile: str
    steps: tuple[int, ...] = Field(min_length=1, description="users per step, or requests due per second (open)")
    warmup_s: float = Field(ge=0)
    window_s: float = Field(gt=0)
    params: dict[str, int] = Field(default_factory=dict, description="the scenario's parameters")
    model: Literal["closed", "open"] = "closed"
    arrivals: Arrivals = "poisson"
    seed: int = 0
    connections: Literal["keepalive", "close"] = Field(
        default="keepalive", description="keepalive: each user reuses its connection; close: one per request"
    )
    exact: bool = Field(default=True, description="record every request (False: Locust's own running totals only)")
    windows: Literal["fixed", "enough"] = Field(
        default="enough",
        description="enough: a closed loop's window ends once it holds enough samples (flasklab.loadgen.window."
        "enough), never before WINDOW_FLOOR of window_s; fixed: every window lasts window_s",
    )
    request_timeout_s: float = Field(
        default_factory=REQUEST_TIMEOUT.value, gt=0, description="a request unanswered this long fails (the setting)"
    )
    steps_rule: StepsRule = Field(
        default="fixed",
        description="adaptive: the curve stops after a step that shows the server's limit (flasklab.core.stopping); "
        "fixed: every step runs",
    )
    holds_connections: bool = Field(
        default=False,
        description="the scenario's users hold the server's connections (slow clients): a busy generator does not "
        "stop the curve",
    )


class LoadConfig(Load):
    """The Locust process's one input: the load, the target's address, and how the generator runs and judges itself."""

    host: str
    saturation: float = Field(default=GENERATOR_SATURATION, gt=0, description="generator busy share that flags a step")
    workers: int = Field(default=0, ge=0, description="run as a master for this many Locust workers")
    master_port: int = LOCUST_MASTER_PORT
    web: str = Field(default="", description="HOST:PORT for Locust's web UI during the run ('' for none)")
    server_cpus: tuple[int, ...] = Field(default=(), description="the servers' CPU set, when they are pinned")


class WindowStarted(Message):
    """A measurement window starts (the orchestrator reads the server's usage now)."""

    event: Literal["window"] = "window"
    step: int
    users: int = Field(description="the step's load: users, or requests due per second (open)")


class WindowEnded(Message):
    """It ends (the server's usage again): the step's figures follow once its samples are in."""

    event: Literal["window_end"] = "window_end"
    step: int
    users: int


class StepMeasured(Message):
    """A window's results step, as far as the Locust process measures it: the server's usage is left null for the
    orchestrator, which read it at the window's edges."""

    event: Literal["step"] = "step"
    step: int
    figures: Step


class CurveStopped(Message):
    """Adaptive steps: the curve stops after this step, for this reason (flasklab.core.stopping); no step follows."""

    event: Literal["stopped"] = "stopped"
    step: int
    reason: str


class LoadError(Message):
    """The Locust process could not run the load (a bad document or locustfile, workers missing); it exits with 1."""

    event: Literal["error"] = "error"
    message: str


class LocustfileChecked(Message):
    """``--check``: Locust loaded the locustfile, which defines these User classes."""

    event: Literal["ok"] = "ok"
    users: list[str]


Event = Annotated[
    WindowStarted | WindowEnded | StepMeasured | CurveStopped | LoadError | LocustfileChecked,
    Field(discriminator="event"),
]
EVENTS: TypeAdapter[Event] = TypeAdapter(Event)


def event_line(event: Event) -> str:
    """One event as the line the Locust process writes (JSON, no newline)."""
    return event.model_dump_json()


def read_event(line: str) -> Event:
    """One line of the Locust process's output as its event; pydantic.ValidationError when it is none."""
    return EVENTS.validate_json(line)
