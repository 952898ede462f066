"""The Locust process's world: the modules that run inside the gevent-patched load generator.

The rule: the orchestrator (every flasklab module outside this package) never imports this package, and this
package imports only itself and the pure modules the two worlds share (``flasklab.core.arrivals``,
``flasklab.core.generator_side``, ``flasklab.core.intervals``, ``flasklab.core.steady``, ``flasklab.core.results``
with the records it gathers, ``flasklab.core.catalog``, ``flasklab.core.settings``, ``flasklab.core.protocol``).
Importing Locust monkey-patches the whole process with gevent, which would break the orchestrator's subprocesses and
threads; so the two worlds talk only through ``flasklab.core.protocol``: one document in (``LoadConfig``, every knob of
the load) and typed events out, one JSON line each. tests/test_layout.py enforces the rule.

- ``process``: the Locust process itself (``python -m flasklab.loadgen``): applies the steps, emits the events;
  ``driver``: what drives a step (users or arrivals) and its warm-up; ``worker``: one of its local Locust workers
  (``--worker``); ``config``: the document it was given, parsed once, for the locustfiles and the lab's users.
- ``window``: a measurement window's exact figures (percentiles, intervals); ``recorder``: files each completion
  into its step's window; ``generator_cpu``: the generator side's CPU over a window; ``lag``: how late the
  generator itself sends (open model) and wakes (its event loop).
- ``openloop``: the open model's arrivals; ``distributed``: raw samples from Locust workers; ``lab_users``: what
  the lab sets on every Locust user (also imported by locustfiles/_lab.py).

This file imports nothing: ``import flasklab.loadgen`` does not import Locust or gevent.
"""
