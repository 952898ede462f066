"""One of the load's local Locust workers: ``python -m flasklab.loadgen --worker --config DOCUMENT``.

``flasklab run --processes N`` starts N of them beside the Locust process, which is then their master
(flasklab.measure.load.LocalWorkers). Each is given the master's document, parsed before the locustfile loads
(flasklab.loadgen.config: the scenario's parameters, the connections, the request timeout), reads the locustfile from
disk, and connects to the master's port on this machine: what ``locust --worker`` does, without a second way in for
the load's knobs. Its users run here; their raw samples go to the master with every report
(flasklab.loadgen.distributed, imported by flasklab.loadgen.process). It ends when the master quits.
"""

from __future__ import annotations

import contextlib
import resource

from locust import events
from locust.env import Environment
from locust.util.load_locustfile import load_locustfile

from flasklab.core.protocol import LoadConfig

MASTER_HOST = "127.0.0.1"
OPEN_FILES = 10_000  # what `locust` raises its soft limit to: every user holds a connection


def raise_open_files(minimum: int = OPEN_FILES) -> None:
    """At least ``minimum`` open files, as ``locust`` itself asks, when the hard limit allows it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= minimum:
        return
    with contextlib.suppress(ValueError, OSError):  # a hard limit below it: Locust goes on with what it has, as here
        resource.setrlimit(resource.RLIMIT_NOFILE, (minimum, hard))


def run_worker(config: LoadConfig) -> int:
    """Serve the master of ``config`` until it quits. A locustfile that fails raises here (the master, which loaded
    it first, has said why); a master that never answers makes Locust raise."""
    raise_open_files()
    user_classes, _shapes = load_locustfile(config.locustfile)
    environment = Environment(user_classes=list(user_classes.values()), events=events)
    runner = environment.create_worker_runner(MASTER_HOST, config.master_port)
    environment.events.init.fire(environment=environment, runner=runner, web_ui=None)
    runner.greenlet.join()
    return 0
