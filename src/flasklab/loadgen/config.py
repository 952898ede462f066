"""The load this Locust process was given: its one document (flasklab.core.protocol.LoadConfig), parsed once.

``python -m flasklab.loadgen`` (the process and its local workers) sets it before Locust loads the locustfile, so
that the locustfiles (locustfiles/_lab.py: the steps, the scenario's parameters) and the lab's users
(flasklab.loadgen.lab_users: connections, request timeout) read the knobs of the run from it, not from environment
variables. None when Locust runs the locustfiles some other way (``locust -f`` by hand, a compose worker fetching them
from the master): they then read what their user sets by hand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # not at run time: locustfiles/_lab.py imports this module while Locust imports locustfiles/io.py
    # under the name ``io``, in the standard library's place, and pydantic cannot be imported then (a worker that
    # fetches the locustfiles from the master would fall back to a plain Locust install's defaults)
    from flasklab.core.protocol import LoadConfig

_given: LoadConfig | None = None


def use(config: LoadConfig) -> None:
    """This process runs ``config`` (its entry point says so once, before Locust loads anything)."""
    global _given
    _given = config


def given() -> LoadConfig | None:
    """The load this process runs; None outside ``python -m flasklab.loadgen``."""
    return _given
