#!/bin/sh
# Entry point of every server container: the agent becomes PID 1 (so `docker stop` reaches it) and runs the server
# command as its child, started now or on the conductor's request (LAB_SERVER_START); see flasklab_app/agent.py.
# Usage: entrypoint.sh 'SHELL COMMAND'   (the compose service's command)
set -eu
exec python3 -m flasklab_app.agent "$1"
