"""When a curve has shown its limit: the one stopping rule of adaptive steps (``--steps adaptive``, the default).

A target's curve steps up the profile's loads and stops after a step once that step shows the server's limit:

- **failures**: more than MAX_FAILURE_RATE of its completed requests failed, or none succeeded (the same threshold that
  flags a step, flasklab.core.standing): a higher load would only fail more;
- **unstable** (open model): its backlog grew beyond the noise (flasklab.core.steady), the server did not keep up with
  the offered rate, so a higher rate cannot be kept up with either (a capped generator's backlog is its own: no stop);
- **flat**: throughput stopped growing over FLAT_DOUBLINGS doublings of the load (load x 4) while latency grew: at
  every step of that span the rps grew by no more than KNEE_GROWTH (10 %) or the earlier step's rps interval reaches,
  whichever is more (steps differ by more than one window's interval says: it holds the window's rate, not the
  drift between windows), and the p50 grew by more than LATENCY_GROWTH (10 %). The latency decides: by Little's law
  a server still scaling keeps its latency as the users double, and one at its limit doubles it; flat throughput with
  flat latency is a generator that held the load back, not the server's limit, and the curve goes on. The steps
  above a limit would measure the queue, not the server.

A curve that still climbs runs to the profile's top. The Locust process applies the rule after each window (it has
the step's figures first, and the next step starts at once); results.json records on each target why its curve
stopped (``Target.stopped``, None where it ran every load), and its steps are the loads it ran. ``--steps fixed``
runs every load of the profile whatever the curve shows.

A quick profile (1, 4, 16 users) quadruples: one flat step up spans the two doublings. Pure: both process worlds
import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import log2
from typing import get_args

from flasklab.core.analysis import KNEE_GROWTH, MAX_FAILURE_RATE, failure_rate, load_text, milliseconds, successes
from flasklab.core.run_record import StepsRule
from flasklab.core.step_record import Step

STEPS_RULES: tuple[StepsRule, ...] = get_args(StepsRule)
# Doublings of the load over which flat throughput stops a curve, and the p50's growth a flat step needs.
FLAT_DOUBLINGS = 2
LATENCY_GROWTH = 1.10


def stop_reason(steps: Sequence[Step]) -> str | None:
    """Why the curve of ``steps`` (in the order they ran, the load rising) stops after its last step; None: go on."""
    if not steps:
        return None
    last = steps[-1]
    if successes(last) <= 0:
        return f"no request succeeded at {load_text(last)}"
    if failure_rate(last) > MAX_FAILURE_RATE:
        share = f"{failure_rate(last) * 100:.1f} %"
        return f"failures {share} at {load_text(last)}, past the {MAX_FAILURE_RATE * 100:g} % limit"
    if last.unstable and not last.capped_arrivals:
        return f"unstable at {load_text(last)}: the backlog grew, the server did not keep up"
    return flat_reason(steps)


def flat(before: Step, after: Step) -> bool:
    """``after``, at a higher load, did not outgrow ``before`` (KNEE_GROWTH, or within its rps interval) and its p50
    grew by more than LATENCY_GROWTH."""
    reach = max(before.rps * KNEE_GROWTH, before.rps_high or 0.0)
    latency_grew = (
        before.p50_ms is not None and after.p50_ms is not None and after.p50_ms > before.p50_ms * LATENCY_GROWTH
    )
    return after.load > before.load and after.rps <= reach and latency_grew


def flat_reason(steps: Sequence[Step]) -> str | None:
    """The flat stop: the last steps flat one after another over at least FLAT_DOUBLINGS doublings of the load."""
    start = len(steps) - 1
    while start > 0 and flat(steps[start - 1], steps[start]):
        start -= 1
    first, last = steps[start], steps[-1]
    if start == len(steps) - 1 or first.load <= 0 or log2(last.load / first.load) < FLAT_DOUBLINGS:
        return None
    rates = " → ".join(f"{step.rps:,.1f}" for step in steps[start:])
    p50s = " → ".join(milliseconds(step.p50_ms) for step in steps[start:] if step.p50_ms is not None)
    doublings = log2(last.load / first.load)
    return (
        f"throughput flat for {doublings:g} doublings ({load_text(first)} to {load_text(last)}: {rates} rps) "
        f"while p50 grew ({p50s} ms)"
    )
