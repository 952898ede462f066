from __future__ import annotations

from collections.abc import Callable

import pytest

from flasklab.backends.base import RunningTarget
from flasklab.catalog import Server
from flasklab.probe import max_overlap, probe_concurrency


def test_max_overlap_counts_simultaneous_intervals() -> None:
    assert max_overlap([]) == 0
    assert max_overlap([(0, 1), (1, 2), (2, 3)]) == 1  # back to back on one worker is not overlap
    assert max_overlap([(0, 3), (1, 2), (1.5, 4), (3.5, 5)]) == 3


@pytest.mark.parametrize(
    ("name", "expected", "selfcall"),
    [
        ("dev-single", 1, 504),
        ("gunicorn-sync", 4, 200),
        ("dev-processes", 3, 200),
    ],
)
def test_probe_measures_the_seed(
    start_server: Callable[[str], RunningTarget],
    catalog_servers: dict[str, Server],
    name: str,
    expected: int,
    selfcall: int,
) -> None:
    target = start_server(name)
    result = probe_concurrency(target.url, catalog_servers[name], width=12, io_ms=150)
    assert result.measured == expected
    assert result.completed == 12
    assert result.selfcall_status == selfcall


def test_probe_sees_many_on_gevent(
    start_server: Callable[[str], RunningTarget], catalog_servers: dict[str, Server]
) -> None:
    target = start_server("gunicorn-gevent")
    result = probe_concurrency(target.url, catalog_servers["gunicorn-gevent"], width=16, io_ms=300)
    assert result.measured == 16
