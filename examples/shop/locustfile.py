"""shop's shoppers: browse the catalogue, look at a product, check its stock, now and then place an order.

Plain Locust, runnable on its own: ``locust -f examples/shop/locustfile.py --headless -u 5 -r 5 -t 30s -H URL``.
No load shape here: flasklab applies its own steps of users.
"""

import random

from locust import FastHttpUser, constant, task

FALLBACK_PRODUCT_IDS = list(range(1, 51))  # the seeded catalogue, should the first page fail to load


class Shopper(FastHttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        """Land on the catalogue's first page and remember which products it lists."""
        response = self.client.get("/products?limit=100", name="/products")
        products = response.json() if response.ok else []
        self.product_ids = [product["id"] for product in products] or FALLBACK_PRODUCT_IDS

    @task(4)
    def browse(self) -> None:
        self.client.get(f"/products?limit={random.choice((10, 20, 50))}", name="/products")

    @task(3)
    def view_product(self) -> None:
        self.client.get(f"/products/{random.choice(self.product_ids)}", name="/products/[id]")

    @task(2)
    def check_stock(self) -> None:
        self.client.get(f"/stock/{random.choice(self.product_ids)}", name="/stock/[id]")

    @task(1)
    def place_order(self) -> None:
        order = {"product_id": random.choice(self.product_ids), "quantity": random.randint(1, 3)}
        self.client.post("/orders", json=order, name="/orders")
