"""services/app/openapi.yaml describes the app as it is: every route, every parameter and its real bounds."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from flasklab_app import app as app_module

OPENAPI = Path(__file__).resolve().parents[1] / "services/app/openapi.yaml"
# The app's own constants, by the parameter that each bounds.
BOUNDS = {
    ("/cpu", "ms"): (0, app_module.MAX_CPU_MS),
    ("/io", "ms"): (0, app_module.MAX_SLEEP_MS),
    ("/io", "seed"): (0, app_module.MAX_SEED),
    ("/upstream", "ms"): (0, app_module.MAX_SLEEP_MS),
    ("/payload", "kb"): (1, app_module.MAX_PAYLOAD_KB),
    ("/upload", "kb"): (0, app_module.MAX_UPLOAD_KB),
}


@pytest.fixture(scope="module")
def description() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(OPENAPI.read_text())
    return document


def app_routes() -> dict[str, set[str]]:
    """Path → methods of the app's URL map (Flask's static route and the implicit HEAD/OPTIONS left out)."""
    routes: dict[str, set[str]] = {}
    for rule in app_module.app.url_map.iter_rules():
        if rule.endpoint != "static":
            routes.setdefault(rule.rule, set()).update((rule.methods or set()) - {"HEAD", "OPTIONS"})
    return routes


def test_every_route_is_documented_and_every_documented_path_exists(description: dict[str, Any]) -> None:
    documented = {path: {method.upper() for method in item} for path, item in description["paths"].items()}
    assert documented == app_routes()


def test_documented_bounds_are_the_apps(description: dict[str, Any]) -> None:
    documented, choices = {}, {}
    for path, item in description["paths"].items():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                schema = parameter["schema"]
                assert parameter["in"] == "query" and schema["type"] in ("integer", "string")
                if schema["type"] == "string":
                    choices[(path, parameter["name"])] = (tuple(schema["enum"]), schema["default"])
                else:
                    documented[(path, parameter["name"])] = (schema["minimum"], schema["maximum"])
    assert documented == BOUNDS
    assert choices == {("/io", "dist"): (app_module.DISTRIBUTIONS, app_module.DISTRIBUTIONS[0])}
    upload = description["paths"]["/upload"]["post"]["requestBody"]["content"]["application/octet-stream"]
    limit = app_module.app.config["MAX_CONTENT_LENGTH"]
    assert upload["schema"]["maxLength"] == limit == app_module.MAX_UPLOAD_KB * 1024


def test_documented_defaults_are_the_apps(description: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    upstream_paths: list[str] = []

    class Upstream(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            upstream_paths.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with ThreadingHTTPServer(("127.0.0.1", 0), Upstream) as upstream:
        threading.Thread(target=upstream.serve_forever, daemon=True).start()
        monkeypatch.setenv("LAB_UPSTREAM_URL", f"http://127.0.0.1:{upstream.server_address[1]}")
        client = app_module.app.test_client()
        answered = {
            "/cpu": client.get("/cpu").get_json()["ms"],
            "/io": client.get("/io").get_json()["ms"],
            "/upstream": client.get("/upstream").get_json()["ms"],
            "/payload": len(client.get("/payload").data) // 1024,
        }
        upstream.shutdown()
    documented = {path: description["paths"][path]["get"]["parameters"][0]["schema"]["default"] for path in answered}
    assert answered == documented
    assert upstream_paths == [f"/?ms={documented['/upstream']}"]


def test_every_parameter_error_is_documented(description: dict[str, Any]) -> None:
    for path, item in description["paths"].items():
        for operation in item.values():
            if operation.get("parameters"):
                assert "400" in operation["responses"], path
