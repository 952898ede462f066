"""``python -m flasklab.loadgen``: the Locust process (see flasklab.loadgen.process); ``--fork-server FD``: the fork
server that forks them (flasklab.loadgen.forkserver)."""

import sys

if sys.argv[1:2] == ["--fork-server"] and len(sys.argv) == 3:
    from flasklab.loadgen.forkserver import serve

    serve(int(sys.argv[2]))
else:
    from flasklab.loadgen.process import main

    main()
