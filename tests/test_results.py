from __future__ import annotations

import json
from pathlib import Path

import pytest

from flasklab.core.results import Meta, Results, ResultsError, json_schema, load_results, write_results


def test_schema_file_is_generated_from_the_models() -> None:
    committed = json.loads((Path(__file__).parents[1] / "schemas" / "results.schema.json").read_text())
    assert committed == json_schema(), "regenerate it with scripts/schema"


def _results() -> Results:
    meta = Meta(
        run_id="r",
        status="running",
        backend="local",
        profile="quick",
        steps=[1],
        warmup_s=0.5,
        window_s=1,
        scenarios=[],
        servers=[],
        started="now",
        host={"cores": 2},
        budget={},
        pinning=None,
        versions={},
    )
    return Results(meta=meta)


def test_write_is_atomic_and_round_trips(tmp_path: Path) -> None:
    write_results(_results(), tmp_path)
    write_results(_results(), tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temp file left behind
    assert load_results(tmp_path).meta.run_id == "r"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"schema_version": 99}', "not a flasklab results file"),
        ('{"schema_version": 1, "meta": {}}', r"invalid at meta\."),
    ],
)
def test_corrupt_results_get_a_clear_error(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "results.json").write_text(content)
    with pytest.raises(ResultsError, match=message):
        load_results(tmp_path)


def test_missing_results_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match=r"no results\.json"):
        load_results(tmp_path)
