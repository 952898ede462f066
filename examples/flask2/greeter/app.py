"""A Flask 2 app as many in production still are: it imports ``werkzeug.urls.url_quote``, which Werkzeug 3 removed.

So it cannot even import on the lab's own Flask 3 stack: it runs only where its own pins (Flask 2.2, Werkzeug 2.2)
win, which is what ``flasklab run --requirements examples/flask2/requirements.txt`` gives it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata

from flask import Flask, jsonify, request
from flask.wrappers import Response
from werkzeug.urls import url_quote  # gone in Werkzeug 3.0: the reason this app needs its own pins

app = Flask(__name__)


@app.get("/")
def index() -> Response:
    """The health check, and the versions this process really imported."""
    versions = {name: importlib.metadata.version(name) for name in ("flask", "werkzeug")}
    return jsonify(service="greeter", versions=versions)


@app.get("/greet/<name>")
def greet(name: str) -> Response:
    """A greeting with a link to the name's page, quoted by Werkzeug 2's url_quote."""
    return jsonify(greeting=f"Hello, {name}!", link=f"/people/{url_quote(name)}")


@app.post("/digest")
def digest() -> tuple[Response, int]:
    """A little CPU per request: ``rounds`` (1 to 1000, default 100) SHA-256 rounds over the posted text."""
    rounds = request.args.get("rounds", default=100, type=int)
    if rounds is None or not 1 <= rounds <= 1000:
        return jsonify(error="rounds must be an integer from 1 to 1000"), 400
    value = request.get_data() or b"greeter"
    for _ in range(rounds):
        value = hashlib.sha256(value).digest()
    return jsonify(rounds=rounds, digest=value.hex()), 200
