"""Who set a step's pace: the generator side, the server at its limit, or other processes on the server's CPUs.

Each question is answered in words (what showed it), or None when nothing did; flasklab.core.standing turns the
answers into a step's flags. Pure functions of results.json's models; each threshold is declared once, below.

- The **generator side** was busy when its CPU was saturated (flasklab.core.generator_side's one rule, at
  GENERATOR_SATURATION or more), or its own measured lag was material (LAG_SHARE of the step's median latency and at
  least LAG_FLOOR_MS: its event loop's oversleep; in the open model a request's delay in being sent), or, in the open
  model, its cap of requests open at once was reached (what it held back is its backlog, not the server's).
- The **server** was at its limit when its CPU was near its budget (SERVER_NEAR_BUDGET of meta.budget's cpus) or its
  *measured* requests in flight (the mean over the window, from the lab app's answers) reached SERVER_IN_FLIGHT_SHARE
  of its configured concurrency. Configured users clear nothing: a busy generator sends fewer requests than it has
  users. Files without the in-flight measure (a user's app, older runs) rely on the CPU alone.
- The server's pinned CPUs were **shared** when they were near full (SERVER_NEAR_BUDGET of their time running
  processes) and other processes ran at least SHARED_SERVER_CPU cores of it beside the server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flasklab.core.generator_side import step_signs
from flasklab.core.results import Meta, Step, Target

# Server CPU at or above this share of its budget: the server, not the generator, was the limit.
SERVER_NEAR_BUDGET = 0.85
# Measured requests in flight at the server (the mean over the window, flasklab_app.inflight) at or above this share
# of its configured concurrency: every worker was taken. Not 1: a worker's time outside the app (reading the request,
# writing the answer) is not in the app's count; gunicorn sync's 4 workers on 100 ms sleeps measure 3.9-4.0 here.
SERVER_IN_FLIGHT_SHARE = 0.9
# The generator's own lag (a p95: its event loop's oversleep, or in the open model a request's delay in being sent)
# is material from LAG_SHARE of the step's median latency: a quarter of what the step reports is then the generator's
# wait. Below LAG_FLOOR_MS it is never material: gevent's timers and the kernel's scheduling give 0.4-0.6 ms with
# Locust half idle here, and a one-user step of hello, whose median is about 1 ms, would read as generator-bound.
LAG_SHARE = 0.25
LAG_FLOOR_MS = 1.0
# Processes other than the server running on its pinned CPUs (idle servers of the compose lab, anything else) for
# at least this many cores, while those CPUs were near full: the server did not have its budget to itself.
SHARED_SERVER_CPU = 0.15


@dataclass(frozen=True)
class Limits:
    """What a step's server is compared with: its CPU budget (cores; None: unknown) and configured concurrency."""

    budget_cpus: float | None
    concurrency: int | None  # None: unbounded
    server_set_cpus: int | None = None  # CPUs the servers were pinned to (None: not pinned)
    generator_pinned: bool = True  # the generator had CPUs of its own (False: nothing else on them was measured)


def budget_value(text: str | None, mebibytes: bool = False) -> float | None:
    """'1.5' cores, or '512m' / '1g' memory in MiB; None when absent or unreadable."""
    match = re.fullmatch(r"\s*([\d.]+)\s*([kmg]?)i?b?\s*", (text or "").lower())
    if not match:
        return None
    try:
        value = float(match[1])
    except ValueError:  # "1.2.3"
        return None
    return value * {"k": 1 / 1024, "m": 1, "g": 1024, "": 1 / 2**20}[match[2]] if mebibytes else value


def limits(target: Target, meta: Meta) -> Limits:
    """The target's server limits as the run recorded them."""
    pinned = (meta.pinning or {}).get("server")
    generator_pinned = bool((meta.pinning or {}).get("generator"))
    cpus = budget_value(meta.budget.get("cpus"))
    return Limits(cpus, target.concurrency, len(pinned) if pinned else None, generator_pinned)


def lag_material(lag_ms: float | None, step: Step) -> bool:
    """Was the generator's own lag (a p95) a material share of what the step measured (LAG_SHARE of its median
    latency, and at least LAG_FLOOR_MS)?"""
    if lag_ms is None or lag_ms < LAG_FLOOR_MS:
        return False
    return step.p50_ms is None or lag_ms >= LAG_SHARE * step.p50_ms


def generator_lag(step: Step) -> list[str]:
    """What shows the generator itself was late at this step, in words: the open loop's cap of requests open at once
    reached (the arrivals it held back are its backlog, not the server's), or a material lag."""
    signs = []
    if step.capped_arrivals:
        signs.append(
            f"{step.capped_arrivals:,} arrival{'s' if step.capped_arrivals != 1 else ''} found the open loop's cap of "
            "requests open at once reached (the generator's backlog, not the server's)"
        )
    if lag_material(step.send_lag_p95_ms, step):
        signs.append(f"requests sent {step.send_lag_p95_ms:.3g} ms after they were due (p95)")
    if lag_material(step.loop_lag_p95_ms, step):
        signs.append(f"its event loop {step.loop_lag_p95_ms:.3g} ms late (p95)")
    return signs


def generator_busy(step: Step) -> str | None:
    """What shows the generator side was busy at this step, in words (its CPU saturated by
    flasklab.core.generator_side's one rule, its measured lag); None when it kept up."""
    return ", ".join([*step_signs(step), *generator_lag(step)]) or None


def server_limit(step: Step, server: Limits) -> str | None:
    """What shows the server set the pace, in words: its CPU near its budget, or its measured requests in flight at
    SERVER_IN_FLIGHT_SHARE of its configured concurrency or more; None when neither (or neither was measured)."""
    signs = []
    budget, cpu = server.budget_cpus, step.server_cpu
    if budget is not None and cpu is not None and cpu >= SERVER_NEAR_BUDGET * budget:
        signs.append(f"its CPU at {cpu:.2g} of its {budget:g} CPU budget")
    in_flight, concurrency = step.server_in_flight, server.concurrency
    if in_flight is not None and concurrency is not None and in_flight >= SERVER_IN_FLIGHT_SHARE * concurrency:
        signs.append(f"{in_flight:.2f} requests in flight of its {concurrency} configured")
    return ", ".join(signs) or None


def server_use(step: Step, server: Limits) -> str:
    """The server's CPU and measured requests in flight against its limits: 'the server used 0.4 of its 1 CPU budget
    and had 0.31 requests in flight (at most 1 in a process) of 4 configured'."""
    if step.server_cpu is None:
        cpu = "the server's CPU was not measured"
    elif server.budget_cpus is None:
        cpu = f"the server used {step.server_cpu:.2g} CPU (no budget recorded)"
    else:
        cpu = f"the server used {step.server_cpu:.2g} of its {server.budget_cpus:g} CPU budget"
    bound = "unbounded" if server.concurrency is None else f"{server.concurrency} configured"
    if step.server_in_flight is None:
        return f"{cpu}; its requests in flight were not measured ({bound})"
    most = f" (at most {step.server_in_flight_max} in a process)" if step.server_in_flight_max is not None else ""
    return f"{cpu} and had {step.server_in_flight:.2f} requests in flight{most} of {bound}"


def shared_server_cpu(step: Step, server: Limits) -> float | None:
    """Cores other processes used on the server's pinned CPUs when they were near full, if enough to matter."""
    if step.server_set_busy is None or step.server_cpu is None or not server.server_set_cpus:
        return None
    cores = server.server_set_cpus
    others = step.server_set_busy * cores - step.server_cpu
    crowded = step.server_set_busy >= SERVER_NEAR_BUDGET
    return others if crowded and others >= SHARED_SERVER_CPU else None
