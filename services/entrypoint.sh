#!/bin/sh
# Entry point of every server container: start the usage agent, then become the server (PID 1, so signals reach it).
# Usage: entrypoint.sh 'SHELL COMMAND'   (the compose service's command)
set -eu
: "${LAB_SERVER_LOG:=/tmp/server.log}"
export LAB_SERVER_LOG
python3 -m flasklab_app.agent &
exec sh -c "$1" >>"$LAB_SERVER_LOG" 2>&1
