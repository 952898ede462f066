"""Production moments read from a step's timeline (one-second slices): what a deploy under load did to the requests.

Pure: the orchestrator fills a step's ``reload`` with it, and the tests check it on hand-made timelines.
"""

from __future__ import annotations

from collections.abc import Sequence

from flasklab.core.step_record import Slice


def after_reload(timeline: Sequence[Slice], at_s: float) -> tuple[int, float | None]:
    """The requests failed from the reload's second to the window's end, and the seconds from the reload until the
    throughput was back: until the last of the seconds from the reload's on whose successes were fewer than the
    fewest whole second's before it (0.0: none were; None: still below at the window's end, or no whole second
    before). Successes, not completions: a server that answers every request with an error is not back."""
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
    low = [index for index, part in enumerate(after) if part.length_s >= 1 and part.requests - part.failures < floor]
    if not low:
        return failures, 0.0
    if low[-1] == len(after) - 1 or (low[-1] == len(after) - 2 and after[-1].length_s < 1):
        return failures, None  # still below when the window ended
    last = after[low[-1]]
    return failures, round(last.t_s + last.length_s - moment, 3)
