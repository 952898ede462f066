"""The Flask app that every server of the lab serves, identical under each of them."""
