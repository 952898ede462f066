"""The benchmarks' own options, read from what follows the benchmark's name (the rest goes to `flasklab run`)."""

from __future__ import annotations


def option(extra: list[str], name: str, default: str) -> tuple[str, list[str]]:
    """The value of ``name`` in ``extra`` (or ``default``), and ``extra`` without it."""
    if name not in extra:
        return default, extra
    index = extra.index(name)
    return extra[index + 1], extra[:index] + extra[index + 2 :]
