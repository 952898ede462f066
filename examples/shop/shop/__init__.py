"""shop: a tiny product catalogue, the example of bringing your own Flask app to flasklab (``shop.app:app``)."""
