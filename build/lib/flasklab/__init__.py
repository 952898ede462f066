"""flasklab: how many concurrent requests does a Flask app really serve under each WSGI server? Measured."""

__version__ = "0.1.0"
