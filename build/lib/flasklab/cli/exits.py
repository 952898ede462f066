"""How flasklab ends: the exit codes users' scripts and CI rely on, and the messages of an interrupted run."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """0 success; 1 the run finished but something failed (a target, a verification, the run's files); 2 bad usage
    or input (click's own usage errors use it too); 130 and 143 interrupted by SIGINT and SIGTERM (128 + signal)."""

    OK = 0
    FAILED = 1
    USAGE = 2
    SIGINT = 130
    SIGTERM = 143

    @classmethod
    def of_interruption(cls, interruption: BaseException) -> ExitCode:
        """SIGINT's code for KeyboardInterrupt, SIGTERM's for anything else (flasklab's Terminated)."""
        return cls.SIGINT if isinstance(interruption, KeyboardInterrupt) else cls.SIGTERM
