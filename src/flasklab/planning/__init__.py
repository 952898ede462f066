"""Planning: from measured runs to a fleet (how many instances, how many workers), beside the views.

It reads results and analysis; verification and tuning describe the runs they need as a ``Sweep`` and are handed a
function that measures it (the CLI passes the runner's), so the planner never imports the measurement stage.
"""
