"""When a curve has shown its limit: the one stopping rule of adaptive steps (``--steps adaptive``, the default).

A target's curve steps up the profile's loads and stops after a step once that step shows the server's limit:

- **failures**: more than MAX_FAILURE_RATE of its completed requests failed, or none succeeded (the same threshold that
  flags a step, flasklab.core.standing): a higher load would only fail more;
- **unstable** (open model): its backlog grew beyond the noise (flasklab.core.steady), the server did not keep up with
  the offered rate, so a higher rate cannot be kept up with either (a capped generator's backlog is its own: no stop);
- **flat**: throughput stopped growing over FLAT_DOUBLINGS doublings of the load (load x 4) while latency grew: at
  every step of that span the rps grew by no more than KNEE_GROWTH (10 %) or the earlier step's rps interval reaches,
  whichever is more (steps differ by more than one window's interval says: it holds the window's rate, not the
  drift between windows), and over the span the p50 grew by more than LATENCY_GROWTH (10 %) per doubling. The
  latency decides: by Little's law a server still scaling keeps its latency as the users double, and one at its
  limit doubles it; flat throughput with flat latency is a generator that held the load back, not the server's limit,
  and the curve goes on. The span's ends decide, not each step: a server starved by slow clients (dev-single on
  slowclient in compose: 72 → 2.2 → 3.6 rps, p50 2.8 → 2,048 → 2,055 ms) has shown its limit though its p50 stood
  still at the last step. The steps above a limit would measure the queue, not the server;
- **generator-bound**: the load generator was busy (``generator_saturated``) at every step over FLAT_DOUBLINGS
  doublings of the load: those steps' figures are the generator's, flagged, and the steps above would measure it
  again (dev-single on hello: 1,724, 1,509, 1,808 rps at 2, 4, 8 users, each flagged, the generator's noise). Not
  in a scenario whose users hold the server's connections (``holds_connections``, slowclient): its slow clients hold
  a connection each for seconds however busy the generator is, so the load the server carries still grows with the
  users, and whether it starves at more of them is the curve's answer.

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


def stop_reason(steps: Sequence[Step], holds_connections: bool = False) -> str | None:
    """Why the curve of ``steps`` (in the order they ran, the load rising) stops after its last step; None: go on.
    ``holds_connections``: the scenario's users hold the server's connections (no generator-bound stop)."""
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
    if (reason := flat_reason(steps)) is not None or holds_connections:
        return reason
    return generator_reason(steps)


def flat(before: Step, after: Step) -> bool:
    """``after``, at a higher load, did not outgrow ``before``: by no more than KNEE_GROWTH, or within its rps
    interval."""
    reach = max(before.rps * KNEE_GROWTH, before.rps_high or 0.0)
    return after.load > before.load and after.rps <= reach


def latency_grew(first: Step, last: Step, doublings: float) -> bool:
    """From ``first`` to ``last``, ``doublings`` of the load apart, the p50 grew by more than LATENCY_GROWTH per
    doubling."""
    if first.p50_ms is None or last.p50_ms is None:
        return False
    return bool(last.p50_ms > first.p50_ms * LATENCY_GROWTH**doublings)


def flat_reason(steps: Sequence[Step]) -> str | None:
    """The flat stop: the last steps flat one after another over at least FLAT_DOUBLINGS doublings of the load, the
    p50 grown over them (the longest such span is told)."""
    start = len(steps) - 1
    while start > 0 and flat(steps[start - 1], steps[start]):
        start -= 1
    last = steps[-1]
    for first_index in range(start, len(steps) - 1):
        first = steps[first_index]
        if first.load <= 0:
            continue
        doublings = log2(last.load / first.load)
        if doublings < FLAT_DOUBLINGS:
            return None
        if latency_grew(first, last, doublings):
            return flat_text(steps[first_index:], doublings)
    return None


def generator_reason(steps: Sequence[Step]) -> str | None:
    """The generator-bound stop: the generator busy at every step of the last FLAT_DOUBLINGS doublings of the load."""
    last = steps[-1]
    for first_index in range(len(steps) - 1, -1, -1):
        first = steps[first_index]
        if not first.generator_saturated or first.load <= 0:
            return None
        if (doublings := log2(last.load / first.load)) >= FLAT_DOUBLINGS:
            rates = " → ".join(f"{step.rps:,.0f}" for step in steps[first_index:])
            return (
                f"generator busy for {doublings:g} doublings ({load_text(first)} to {load_text(last)}: {rates} rps, "
                "every step flagged): the steps above would measure the generator, not the server"
            )
    return None


def flat_text(span: Sequence[Step], doublings: float) -> str:
    """What a flat stop says: the span's loads, rates and p50s."""
    first, last = span[0], span[-1]
    rates = " → ".join(f"{step.rps:,.1f}" for step in span)
    p50s = " → ".join(milliseconds(step.p50_ms) for step in span if step.p50_ms is not None)
    return (
        f"throughput flat for {doublings:g} doublings ({load_text(first)} to {load_text(last)}: {rates} rps) "
        f"while p50 grew ({p50s} ms)"
    )
