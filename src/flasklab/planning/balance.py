"""What a verified fleet taught the planner: how unevenly its balancer shared the traffic (``plan --balance-from``).

A plan puts R / N on each instance, an even share. ``flasklab plan --verify --cluster`` measures the real split
behind nginx and writes it beside its run (CLUSTER_FILE): each instance's requests and the imbalance, the busiest
instance's share over the mean share. ``flasklab plan ... --balance-from DIR`` reads it back. Where it is material,
each instance is planned at the busiest one's rate, R / N x the imbalance (N > 1; one instance takes everything
whatever the balancer), and ``--explain`` says so with where it was measured.

Material means both:

- at least IMBALANCE_MATERIAL (5 % more than an even share): less moves no plan by an instance;
- beyond the counting noise of an even split: the busiest instance's requests are more than NOISE_Z standard
  deviations (binomial, 1 / N each) above the mean. A round-robin fleet measured 1.07 over 6,000 requests in
  ``docs/runs/bench-plan.txt`` is within it.

A fleet that lost an instance on purpose (``--lose-one``) is no measure of its balancer: its survivors took the lost
one's share. Such a folder, or one without the file, is refused (exit 2).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

CLUSTER_FILE = "cluster.json"
IMBALANCE_MATERIAL = 1.05
NOISE_Z = 3.0


class BalanceError(ValueError):
    """A folder whose balance cannot plan (no fleet's figures, a lost instance); the message says why."""


@dataclass(frozen=True)
class Balance:
    """A fleet's measured split: its imbalance, whether it is material, and where it was measured."""

    imbalance: float
    material: bool
    method: str
    instances: int
    server: str
    requests: int
    why: str  # material or not, in words
    source: str  # the folder it was read from

    @property
    def factor(self) -> float:
        """What the planner multiplies an instance's even share by."""
        return self.imbalance if self.material else 1.0

    @property
    def text(self) -> str:
        measured = (
            f"measured {self.imbalance:.2f} (largest share / mean share) over {self.requests:,} requests of "
            f"{self.instances} x {self.server} behind nginx, {self.method} ({self.source})"
        )
        if self.material:
            return f"balance: {measured}, material ({self.why}): each instance planned at R / N x {self.factor:.2f}"
        return f"balance: {measured}, not material ({self.why}): each instance planned at an even R / N"


def write_figures(folder: Path, server: str, instances: int, figures: Any) -> Path:
    """The fleet's figures (flasklab.planning.cluster.ClusterFigures) beside its run, for --balance-from."""
    path = folder / CLUSTER_FILE
    path.write_text(json.dumps({"server": server, "fleet": instances} | asdict(figures), indent=2) + "\n")
    return path


def judged(imbalance: float, counts: list[int]) -> tuple[bool, str]:
    """Whether an imbalance is material (the rule above), and why, from each instance's requests."""
    total, members = sum(counts), len(counts)
    if members < 2 or total == 0:
        return False, "fewer than two instances answered"
    if imbalance < IMBALANCE_MATERIAL:
        return False, f"under {IMBALANCE_MATERIAL:.2f}"
    mean = total / members
    spread = math.sqrt(total * (1 / members) * (1 - 1 / members))
    z = (max(counts) - mean) / spread
    if z <= NOISE_Z:
        return False, f"the busiest instance {z:.1f} standard deviations above an even split: counting noise"
    return True, f"the busiest instance {z:.1f} standard deviations above an even split"


def load_balance(folder: Path) -> Balance:
    """The balance a cluster verification measured in ``folder`` (BalanceError: none, or a fleet that lost one)."""
    path = folder / CLUSTER_FILE
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise BalanceError(
            f"{folder} holds no {CLUSTER_FILE}: give the folder of a `flasklab plan --verify --cluster` run (--out)"
        ) from error
    except (OSError, ValueError) as error:
        raise BalanceError(f"{path} cannot be read: {error}") from error
    if not isinstance(document, dict) or document.get("loss") is not None:
        raise BalanceError(
            f"{folder} lost an instance on purpose (--lose-one): its survivors took the lost one's share, which is no "
            "measure of the balancer; give a run without --lose-one"
            if isinstance(document, dict)
            else f"{path} is not a fleet's figures"
        )
    try:
        counts = [int(member["requests"]) for member in document["instances"]]
        imbalance = document["imbalance"]
        method, instances, server = str(document["method"]), int(document["fleet"]), str(document["server"])
    except (KeyError, TypeError, ValueError) as error:
        raise BalanceError(f"{path} is not a fleet's figures: {error!r}") from error
    if imbalance is None or not counts:
        raise BalanceError(f"{folder}: no instance answered, so there is no split to learn from")
    material, why = judged(float(imbalance), counts)
    return Balance(float(imbalance), material, method, instances, server, sum(counts), why, str(folder))
