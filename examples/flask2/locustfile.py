"""greeter's visitors: mostly greetings, now and then a digest (a little CPU).

Plain Locust, runnable on its own: ``locust -f examples/flask2/locustfile.py --headless -u 5 -r 5 -t 30s -H URL``.
No load shape here: flasklab applies its own steps of users.
"""

import random

from locust import FastHttpUser, constant, task

NAMES = ("Ada", "Grace", "Linus", "Zoë Ünal", "O'Neil & Sons")


class Visitor(FastHttpUser):
    wait_time = constant(0)

    @task(4)
    def greet(self) -> None:
        self.client.get(f"/greet/{random.choice(NAMES)}", name="/greet/[name]")

    @task(1)
    def digest(self) -> None:
        self.client.post("/digest?rounds=200", data=b"flasklab", name="/digest")
