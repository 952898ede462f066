"""greeter: a small Flask 2.2 app on Werkzeug 2.2, with its own pinned stack (examples/flask2/requirements.txt)."""
