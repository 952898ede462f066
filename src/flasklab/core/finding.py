"""A claim's verdict with the evidence it rests on: what every check of a claim returns, probe or slow-client."""

from __future__ import annotations

from dataclasses import dataclass

from flasklab.core.results import Verdict


@dataclass(frozen=True)
class Finding:
    """A claim's verdict and the evidence it rests on."""

    verdict: Verdict
    evidence: str
