from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from flasklab.core.catalog import (
    CatalogError,
    interpolate,
    lab_root,
    load_scenarios,
    load_servers,
    parse_concurrency,
    read_compose,
    read_env_file,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${A}", "1"),
        ("${A:-9}", "1"),
        ("${MISSING:-9}", "9"),
        ("${EMPTY:-9}", "9"),
        ("${EMPTY-9}", ""),
        ("$A-$$PORT", "1-$PORT"),
        ("plain", "plain"),
    ],
)
def test_interpolate_follows_compose(text: str, expected: str) -> None:
    assert interpolate(text, {"A": "1", "EMPTY": ""}) == expected


def test_interpolate_required_variable_names_it() -> None:
    with pytest.raises(CatalogError, match="NEEDED"):
        interpolate("${NEEDED:?set it}", {})


@pytest.mark.parametrize(("label", "expected"), [("4", 4), ("2*8", 16), ("unbounded", None)])
def test_parse_concurrency(label: str, expected: int | None) -> None:
    assert parse_concurrency("s", label) == expected


@pytest.mark.parametrize("label", ["", "four", "0", "2*x", "-1"])
def test_malformed_concurrency_names_the_service(label: str) -> None:
    with pytest.raises(CatalogError, match="'broken'"):
        parse_concurrency("broken", label)


def test_catalog_has_every_server_with_explicit_workers(catalog_servers: dict[str, object]) -> None:
    servers = load_servers()
    services = read_compose(lab_root())["services"]
    assert list(servers) == [name for name, service in services.items() if "lab.server" in service.get("labels", {})]
    for server in servers.values():
        assert "$PORT" in server.command or "run.sh" in server.command, server.name
        assert "cpu_count" not in server.command
    # Seed values where the seed gives them.
    assert servers["dev-processes"].concurrency == 3
    assert servers["gunicorn-sync"].concurrency == 4
    assert servers["dev-single"].concurrency == 1
    assert servers["gunicorn-eventlet"].requirements.endswith("eventlet.txt")
    assert "26.0" in servers["gunicorn-eventlet"].note


def test_worker_counts_are_overridable_from_the_environment(root: Path) -> None:
    servers = load_servers(root, {"GUNICORN_SYNC_WORKERS": "6", "UWSGI_PROCESSES": "3", "UWSGI_THREADS": "5"})
    assert servers["gunicorn-sync"].concurrency == 6
    assert "--workers 6" in servers["gunicorn-sync"].command
    assert servers["uwsgi"].concurrency == 15


def test_malformed_service_is_named(tmp_path: Path) -> None:
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n  bad-one:\n    command: ['exec true']\n    labels:\n      lab.server: x\n"
    )
    with pytest.raises(CatalogError, match=r"'bad-one'.*lab\.worker-model"):
        load_servers(tmp_path, {})


def test_scenarios_come_from_locustfiles(root: Path) -> None:
    scenarios = load_scenarios(root)
    assert {"hello", "io", "cpu", "upstream", "selfcall", "payload", "mixed"} <= set(scenarios)
    assert scenarios["io"].params == {"ms": 100}
    quick = [name for name, scenario in scenarios.items() if "quick" in scenario.profiles]
    assert sorted(quick) == ["hello", "io"]
    # Only slowclient's users hold the server's connections: a busy generator does not stop its curve.
    assert [name for name, scenario in scenarios.items() if scenario.holds_connections] == ["slowclient"]


def test_the_documentations_catalog_table_matches_the_catalog(root: Path) -> None:
    from flasklab.views.summary import catalog_markdown

    servers = load_servers(root, read_env_file(root / ".env"))
    assert catalog_markdown(list(servers.values())) in (root / "docs" / "catalog.md").read_text()


def test_published_ports_listen_on_loopback_unless_lab_bind_says_otherwise(root: Path) -> None:
    document = yaml.safe_load((root / "docker-compose.yml").read_text())
    mappings = [str(m) for service in document["services"].values() for m in service.get("ports") or []]
    assert mappings and all(m.startswith("${LAB_BIND:-127.0.0.1}:") for m in mappings)
    assert "LAB_BIND" not in read_env_file(root / ".env")  # exposing the lab is never a default
    default = load_servers(root, environment={})
    exposed = load_servers(root, environment={"LAB_BIND": "0.0.0.0"})
    assert default["gunicorn-sync"].published == exposed["gunicorn-sync"].published == {8000: 8104, 8001: 9104}
