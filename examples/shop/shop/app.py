"""A tiny product catalogue: JSON routes over SQLite, and one outbound call to a warehouse (the lab's upstream).

``GET /`` (also the health check), ``GET /products?limit=N``, ``GET /products/<id>``, ``POST /orders`` and
``GET /stock/<id>``. The database is a SQLite file made and seeded on first use; every request opens its own
connection, so threads, processes and greenlets share nothing but the file, whose locks SQLite manages. The
warehouse's address comes from ``LAB_UPSTREAM_URL`` alone: nothing a request sends chooses where the app connects.
"""

from __future__ import annotations

import http.client
import itertools
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

from flask import Flask, Response, abort, jsonify, request
from slugify import slugify
from werkzeug.exceptions import HTTPException

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_QUANTITY = 10
MAX_ID = 2**63 - 1  # SQLite's largest integer: a larger id could not even be looked up
DB_TIMEOUT_S = 10.0  # how long a writer waits for another one before the request fails with 503
WAREHOUSE_DELAY_MS = 50  # fixed: the upstream answers after this long, whatever the request asked
WAREHOUSE_TIMEOUT_S = 2.0

# Named at import, before any fork: servers that fork workers from a loaded app (uWSGI, the dev server's processes)
# share one file, servers whose workers import the app themselves (gunicorn) have one per worker.
DB_PATH = Path(os.environ.get("SHOP_DB") or Path(tempfile.gettempdir()) / f"shop-{os.getpid()}.sqlite3")

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS products (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        slug TEXT NOT NULL UNIQUE,
        price_cents INTEGER NOT NULL,
        stock INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS orders (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        product_id INTEGER NOT NULL REFERENCES products (id),
        quantity INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 10),
        total_cents INTEGER NOT NULL,
        created_at REAL NOT NULL
    )""",
)
MATERIALS = ("Oak", "Crème", "Linen", "Copper", "Café", "Slate", "Fjörd", "Ember", "Piñon", "Marble")
ITEMS = ("Mug", "Desk Lamp", "Notebook", "Tote Bag", "Teapot")

app = Flask(__name__)
app.config["MAX_CONTENT_LENGTH"] = 16 * 1024

_database_ready = False
_database_lock = threading.Lock()  # a gevent lock once gevent has patched threading: fine either way


def catalogue() -> Iterator[tuple[int, str, str, int, int]]:
    """The 50 seeded products: id, name, URL slug, price in cents, units in stock (every 13th is sold out)."""
    for product_id, (material, item) in enumerate(itertools.product(MATERIALS, ITEMS), start=1):
        name = f"{material} {item}"
        yield product_id, name, slugify(name), 300 + product_id * 137 % 4700, product_id * 7 % 13


def _connect() -> sqlite3.Connection:
    # Autocommit: transactions are the explicit BEGIN IMMEDIATE of `transaction`, never implicit ones.
    connection = sqlite3.connect(DB_PATH, timeout=DB_TIMEOUT_S, isolation_level=None)
    connection.row_factory = sqlite3.Row
    return connection


@contextmanager
def transaction(connection: sqlite3.Connection) -> Iterator[None]:
    """One write transaction that takes the write lock up front, so two writers wait instead of deadlocking."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _ensure_database() -> None:
    """Create and seed the database once per process; idempotent, so processes sharing the file may all run it."""
    global _database_ready
    if _database_ready:
        return
    with _database_lock:
        if _database_ready:
            return
        with closing(_connect()) as connection:
            connection.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
            with transaction(connection):
                for statement in SCHEMA:
                    connection.execute(statement)
                connection.executemany(
                    "INSERT OR IGNORE INTO products (id, name, slug, price_cents, stock) VALUES (?, ?, ?, ?, ?)",
                    catalogue(),
                )
        _database_ready = True


@contextmanager
def database() -> Iterator[sqlite3.Connection]:
    """A connection of this request's own, closed when the block ends (before any slow call the request makes)."""
    _ensure_database()
    with closing(_connect()) as connection:
        yield connection


def bad_request(message: str) -> NoReturn:
    abort(400, description=message)


def find_product(connection: sqlite3.Connection, product_id: int) -> sqlite3.Row:
    """The product, or a 404 naming the id."""
    row: sqlite3.Row | None = None
    if 1 <= product_id <= MAX_ID:
        row = connection.execute(
            "SELECT id, name, slug, price_cents, stock FROM products WHERE id = ?", (product_id,)
        ).fetchone()
    if row is None:
        abort(404, description=f"no product {product_id}")
    return row


def public(product: sqlite3.Row) -> dict[str, Any]:
    """What clients see of a product (the stock count is the warehouse's business: /stock/<id>)."""
    return {key: product[key] for key in ("id", "name", "slug", "price_cents")}


def query_limit() -> int:
    raw = request.args.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        bad_request(f"limit must be an integer between 1 and {MAX_LIMIT}, got {raw[:32]!r}")
    if not 1 <= limit <= MAX_LIMIT:
        bad_request(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    return limit


def json_int(body: dict[str, Any], name: str, low: int, high: int) -> int:
    value = body.get(name)
    if type(value) is not int:  # not bool, not float, not a numeric string
        bad_request(f"{name} must be an integer between {low} and {high}")
    if not low <= value <= high:
        bad_request(f"{name} must be between {low} and {high}, got {value}")
    return value


def ask_warehouse(base_url: str) -> int:
    """GET the configured upstream's ``/?ms=WAREHOUSE_DELAY_MS`` with the standard library (gevent patches it)."""
    parts = urlsplit(base_url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"LAB_UPSTREAM_URL must be http://host:port, got {base_url!r}")
    connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=WAREHOUSE_TIMEOUT_S)
    try:
        connection.request("GET", f"/?ms={WAREHOUSE_DELAY_MS}")
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


@app.errorhandler(HTTPException)
def http_error(error: HTTPException) -> tuple[Response, int]:
    return jsonify(error=error.description), error.code or 500


@app.errorhandler(sqlite3.OperationalError)
def database_unavailable(error: sqlite3.OperationalError) -> tuple[Response, int]:
    # "database is locked" after DB_TIMEOUT_S, a full disk: the client may retry later.
    return jsonify(error=f"database unavailable: {error}"), 503


@app.get("/")
def index() -> Response:
    """Who this is; the lab's health check."""
    return jsonify(service="shop")


@app.get("/products")
def list_products() -> Response:
    limit = query_limit()
    with database() as connection:
        rows = connection.execute(
            "SELECT id, name, slug, price_cents, stock FROM products ORDER BY id LIMIT ?", (limit,)
        ).fetchall()
    return jsonify([public(row) for row in rows])


@app.get("/products/<int:product_id>")
def show_product(product_id: int) -> Response:
    with database() as connection:
        product = find_product(connection, product_id)
    return jsonify(public(product))


@app.post("/orders")
def place_order() -> tuple[Response, int]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        bad_request(f'send a JSON object {{"product_id": int, "quantity": 1..{MAX_QUANTITY}}}')
    product_id = json_int(body, "product_id", 1, MAX_ID)
    quantity = json_int(body, "quantity", 1, MAX_QUANTITY)
    with database() as connection, transaction(connection):
        product = find_product(connection, product_id)
        total_cents = product["price_cents"] * quantity
        cursor = connection.execute(
            "INSERT INTO orders (product_id, quantity, total_cents, created_at) VALUES (?, ?, ?, ?)",
            (product_id, quantity, total_cents, time.time()),
        )
    order = {"id": cursor.lastrowid, "product_id": product_id, "quantity": quantity, "total_cents": total_cents}
    return jsonify(order), 201


@app.get("/stock/<int:product_id>")
def stock(product_id: int) -> tuple[Response, int]:
    """Whether a product is in stock, once the warehouse (the lab's slow upstream) has answered."""
    base_url = os.environ.get("LAB_UPSTREAM_URL")
    if not base_url:
        return jsonify(error="LAB_UPSTREAM_URL is not set: the warehouse is unknown"), 503
    with database() as connection:
        product = find_product(connection, product_id)
    try:
        status = ask_warehouse(base_url)
    except ValueError as error:
        return jsonify(error=str(error)), 503
    except TimeoutError:
        return jsonify(error=f"the warehouse did not answer within {WAREHOUSE_TIMEOUT_S} s"), 504
    except (OSError, http.client.HTTPException) as error:
        return jsonify(error=f"the warehouse is unreachable: {error}"), 502
    if status != 200:
        return jsonify(error=f"the warehouse answered {status}"), 502
    return jsonify(id=product_id, in_stock=product["stock"] > 0), 200
