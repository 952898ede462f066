#!/bin/sh
# A planned fleet on one machine (flasklab plan --verify --cluster, local backend): N instances of a server's command,
# each on a 127.0.0.1 port of its own, behind nginx on $HOST:$PORT balancing over them with METHOD (balance.sh).
# Usage: run.sh N METHOD 'COMMAND'
#   METHOD: round-robin (nginx's default), least-conn, or random-two (random two, the less busy of them)
#   COMMAND: the catalog server's command; it reads $HOST and $PORT like every catalog command
# LAB_CLUSTER_LOG: where nginx writes one line per request (balance.sh says what a line holds).
# LAB_CLUSTER_PIDS: where the instances' process ids and addresses are written, "PID HOST:PORT" a line, in order.
# LAB_CLUSTER_LOSE_AT_S (optional): this many seconds after the fleet answers, the first instance is killed (SIGKILL,
# with everything it started: an instance lost) and the moment (epoch s) is written to LAB_CLUSTER_LOST.
# Every process is in the caller's process group: stopping the group stops the fleet.
set -eu
count=${1:?usage: run.sh N METHOD COMMAND}
method=${2:?usage: run.sh N METHOD COMMAND}
command=${3:?usage: run.sh N METHOD COMMAND}
log=${LAB_CLUSTER_LOG:?run.sh: LAB_CLUSTER_LOG names the access log}
pids=${LAB_CLUSTER_PIDS:?run.sh: LAB_CLUSTER_PIDS names the file of process ids}
here=$(dirname "$0")
ports=$(python3 - "$count" <<'PY'
import socket, sys
held = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in held:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in held))
PY
)
: > "$pids"
addresses=""
for port in $ports; do
  HOST=127.0.0.1 PORT=$port LAB_SELF_URL=http://127.0.0.1:$port sh -c "$command" &
  echo "$! 127.0.0.1:$port" >> "$pids"
  addresses="$addresses 127.0.0.1:$port"
done
if [ -n "${LAB_CLUSTER_LOSE_AT_S:-}" ]; then
  first=$(head -n 1 "$pids" | cut -d ' ' -f 1)
  lost=${LAB_CLUSTER_LOST:?run.sh: LAB_CLUSTER_LOST names where the moment of the loss is written}
  (
    # Counted from when the fleet answers: every instance first (balance.sh waits on them), then nginx.
    python3 "$here/members.py" "$count" $addresses > /dev/null
    python3 "$here/members.py" 1 "$HOST:$PORT" > /dev/null
    sleep "$LAB_CLUSTER_LOSE_AT_S"
    children=$(pgrep -P "$first" || true)
    kill -KILL "$first" $children 2>/dev/null || true
    python3 -c 'import time; print(f"{time.time():.3f}")' > "$lost"
  ) &
fi
exec sh "$here/balance.sh" "$method" "$log" "$count" $addresses
