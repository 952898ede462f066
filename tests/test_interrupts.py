"""SIGINT and SIGTERM held while a process is started and kept: real signals sent to this process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from types import FrameType

import pytest

from flasklab.measure.interrupts import held_interrupts


class Interrupted(Exception):
    pass


@pytest.fixture
def raising_sigterm() -> Iterator[None]:
    """SIGTERM raises, as under `flasklab run` (which raises its own Terminated)."""

    def interrupt(number: int, frame: FrameType | None) -> None:
        raise Interrupted(number)

    previous = signal.signal(signal.SIGTERM, interrupt)
    yield
    signal.signal(signal.SIGTERM, previous)


@pytest.mark.real
def test_a_signal_during_a_start_acts_once_the_process_is_kept(raising_sigterm: None) -> None:
    kept: list[subprocess.Popen[bytes]] = []
    try:
        with pytest.raises(Interrupted), held_interrupts():
            os.kill(os.getpid(), signal.SIGTERM)  # lands "during" the start
            kept.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]))
            reached_the_end_of_the_block = True
        assert reached_the_end_of_the_block and len(kept) == 1  # the handle was kept before the signal acted
    finally:
        for process in kept:
            process.kill()
            process.wait()
    assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL  # the handler is the test's again


def test_without_redelivery_the_caller_gets_every_signal_held(raising_sigterm: None) -> None:
    """As while the report is written: it is finished whatever arrives, and the caller exits with the first signal."""
    with held_interrupts(redeliver=False) as held:
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)
    assert held == [signal.SIGTERM, signal.SIGINT]


def test_a_second_signal_acts_at_once(raising_sigterm: None) -> None:
    after_second = False
    with pytest.raises(Interrupted), held_interrupts():
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)  # the user insists
        after_second = True
    assert not after_second


def test_sigint_is_held_too() -> None:
    with pytest.raises(KeyboardInterrupt), held_interrupts():
        os.kill(os.getpid(), signal.SIGINT)
        finished = True
    assert finished
