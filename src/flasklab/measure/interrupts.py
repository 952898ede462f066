"""SIGINT and SIGTERM held back while the lab does something that must not be cut in half.

Starting a process and taking charge of it is one such thing: a signal that lands while ``subprocess.Popen`` waits for
the child's exec raises out of Popen with the child already running and no handle to stop it. Held, the signal acts
as soon as the handle is kept, and the code that stops the process on the way out finds it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any, NoReturn

INTERRUPTS = (signal.SIGINT, signal.SIGTERM)
Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None  # what signal.signal returns


@contextlib.contextmanager
def held_interrupts(redeliver: bool = True) -> Iterator[list[int]]:
    """SIGINT and SIGTERM wait for the block to end; the signals held are yielded.

    With ``redeliver`` the first one held is raised again as the block ends, so it acts as it would have (its handler
    raises KeyboardInterrupt, or Terminated under terminate_raises, right after the block), and a second one acts at
    once: a user pressing Ctrl-C twice is not kept waiting. Without, every signal waits and the caller decides. Only
    the main thread can handle signals; elsewhere nothing is held.
    """
    held: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield held
        return
    previous: dict[int, Handler] = {}

    def hold(number: int, frame: FrameType | None) -> None:
        held.append(number)
        handler = previous[number]
        if redeliver and len(held) > 1 and callable(handler):
            handler(number, frame)

    previous.update({signum: signal.signal(signum, hold) for signum in INTERRUPTS})
    try:
        yield held
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if held and redeliver:  # even when the block raised: the interrupt is what the user asked for
            signal.raise_signal(held[0])


class Terminated(BaseException):
    """SIGTERM, turned into an exception so that cleanup runs and partial results are written."""


def _raise_terminated(signum: int, frame: FrameType | None) -> NoReturn:
    raise Terminated


@contextlib.contextmanager
def terminate_raises() -> Iterator[None]:
    """Inside the block SIGTERM raises Terminated, as SIGINT raises KeyboardInterrupt: the one place flasklab turns
    SIGTERM into an exception, so that `finally` blocks stop servers and write partial results.

    The previous handler comes back as the block ends; nesting is harmless (the inner block restores the outer's).
    """
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
