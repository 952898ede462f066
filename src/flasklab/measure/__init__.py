"""Measurement: the stage that runs servers and load and writes results.json.

The runner (a sweep of targets), the backends that start servers (local processes, compose, an external URL), the
probe, the load job that drives the Locust process (``flasklab.loadgen``, reached only as a subprocess), rounds,
steady-state windows and interrupts. It imports core, never the views or the planner.
"""
