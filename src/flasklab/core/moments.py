"""Production moments read from a step's timeline (one-second slices): what a deploy under load did to the requests.

Pure: the orchestrator fills a step's ``reload`` with it, and the tests check it on hand-made timelines.
"""

from __future__ import annotations

from collections.abc import Sequence

from flasklab.core.step_record import Slice

DIP_STARTS_WITHIN = 2  # seconds: the reload's own and the next, where its new workers start


def after_reload(timeline: Sequence[Slice], at_s: float) -> tuple[int, float | None]:
    """The requests failed from the reload's second to the window's end, and the seconds from the reload until the
    throughput was back: to the end of the dip, the seconds one after another whose successes were fewer than the
    fewest whole second's before the reload, the first of them the reload's own second or the next (0.0: neither
    dipped; None: still below at the window's end, or no whole second before). A later second below that floor is
    the window's noise, not the reload's. Successes, not completions: a server that answers every request with an
    error is not back."""
    if not timeline:
        return 0, None
    moment = timeline[0].t_s + at_s
    before = [
        part.requests - part.failures for part in timeline if part.t_s + part.length_s <= moment and part.length_s >= 1
    ]
    after = [part for part in timeline if part.t_s + part.length_s > moment]
    failures = sum(part.failures for part in after)
    if not before:
        return failures, None
    floor = min(before)

    def low(index: int) -> bool:
        return after[index].requests - after[index].failures < floor

    first = next((index for index in range(min(DIP_STARTS_WITHIN, len(after))) if low(index)), None)
    if first is None:
        return failures, 0.0
    last = first
    while last + 1 < len(after) and (low(last + 1) or after[last + 1].length_s < 1):
        last += 1
    if last == len(after) - 1:
        return failures, None  # still below when the window ended
    return failures, round(after[last].t_s + after[last].length_s - moment, 3)
