"""The Locust process's world: the modules that run inside the gevent-patched load generator.

The rule: the orchestrator (every flasklab module outside this package) never imports this package, and this
package imports only itself and the pure modules the two worlds share (``flasklab.core.arrivals``,
``flasklab.core.generator_side``, ``flasklab.core.intervals``, ``flasklab.core.steady``, ``flasklab.core.results``,
``flasklab.core.catalog``, ``flasklab.core.settings``, ``flasklab.core.protocol``). Importing Locust monkey-patches the
whole process with gevent, which would break the orchestrator's subprocesses and threads; so the two worlds talk only
through one JSON document in (``flasklab.core.protocol.LoadConfig``) and JSON events out. tests/test_layout.py enforces
the rule.

- ``process``: the Locust process itself (``python -m flasklab.loadgen``): applies the steps, emits the events.
- ``window``: a measurement window's exact figures (percentiles, intervals); ``recorder``: files each completion
  into its step's window; ``generator_cpu``: the generator side's CPU over a window; ``lag``: how late the
  generator itself sends (open model) and wakes (its event loop).
- ``openloop``: the open model's arrivals; ``distributed``: raw samples from Locust workers; ``lab_users``: what
  the lab sets on every Locust user (also imported by locustfiles/_lab.py).

This file imports nothing: ``import flasklab.loadgen`` does not import Locust or gevent.
"""
