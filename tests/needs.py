"""A test whose dependency is missing fails: scripts/setup installs every one of them, so a gap is a set-up bug.

One rule for every such test (nginx, Chromium, Docker, Compose v1, root, namespaces, tmpfs): a skip would let CI
go green without the measurement the test exists for.
"""

from __future__ import annotations

from typing import NoReturn

import pytest


def unavailable(reason: str) -> NoReturn:
    """Fail the test, naming what is missing and where it comes from."""
    pytest.fail(f"a dependency of this test is missing (scripts/setup installs it): {reason}", pytrace=False)
