"""``python -m flasklab.loadgen``: the Locust process (see flasklab.loadgen.process)."""

from flasklab.loadgen.process import main

main()
