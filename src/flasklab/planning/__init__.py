"""Planning: from measured runs to a fleet (how many instances, how many workers), beside the views.

It reads results and analysis; verification and tuning describe the runs they need as a ``Sweep`` and are handed a
function that measures it (the CLI passes the runner's), so the planner never imports the measurement stage.

The modules, in the order a plan is made: ``request`` (what is asked, checked), ``plan`` (one option per server,
ranked), ``law`` (Little's law and the server kinds), ``service`` and ``measured`` (a run's service time and the
option it gives), ``queueing`` (the M/G/c and processor-sharing models), ``option`` (the answer's records),
``render`` (the table, the reasoning, the JSON); then ``verify`` (run a plan) and ``tune`` (measure worker counts).
"""
