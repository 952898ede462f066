#!/bin/sh
# A planned fleet on one machine (flasklab plan --verify --cluster): N instances of a server's command, each on a
# 127.0.0.1 port of its own, behind nginx on $HOST:$PORT balancing over them with METHOD.
# Usage: run.sh N METHOD 'COMMAND'
#   METHOD: round-robin (nginx's default), least-conn, or random-two (random two, the less busy of them)
#   COMMAND: the catalog server's command; it reads $HOST and $PORT like every catalog command
# LAB_CLUSTER_LOG: where nginx writes one line per request: its end (epoch s), the instance that answered and the
# instance's own time (both as nginx saw them, several when it moved on to another), the status.
# LAB_CLUSTER_PIDS: where the instances' process ids and ports are written, "PID PORT" a line, in instance order.
# LAB_CLUSTER_LOSE_AT_S (optional): this many seconds after the fleet answers, the first instance is killed (SIGKILL,
# with everything it started: an instance lost) and the moment (epoch s) is written to LAB_CLUSTER_LOST.
# Every process is in the caller's process group: stopping the group stops the fleet.
set -eu
count=${1:?usage: run.sh N METHOD COMMAND}
method=${2:?usage: run.sh N METHOD COMMAND}
command=${3:?usage: run.sh N METHOD COMMAND}
case $method in
  round-robin) balance="" ;;
  least-conn) balance="least_conn;" ;;
  random-two) balance="random two least_conn;" ;;
  *) echo "run.sh: METHOD must be round-robin, least-conn or random-two, got $method" >&2; exit 2 ;;
esac
command -v nginx >/dev/null || { echo "run.sh: nginx is not installed" >&2; exit 127; }
log=${LAB_CLUSTER_LOG:?run.sh: LAB_CLUSTER_LOG names the access log}
pids=${LAB_CLUSTER_PIDS:?run.sh: LAB_CLUSTER_PIDS names the file of process ids}
RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/flasklab-cluster.XXXXXX")
ports=$(python3 - "$count" <<'EOF'
import socket, sys
held = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in held:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in held))
EOF
)
: > "$pids"
servers=""
for port in $ports; do
  HOST=127.0.0.1 PORT=$port LAB_SELF_URL=http://127.0.0.1:$port sh -c "$command" &
  echo "$! $port" >> "$pids"
  servers="$servers        server 127.0.0.1:$port max_fails=1 fail_timeout=2s;
"
done
cat > "$RUN_DIR/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $RUN_DIR/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
    log_format fleet '\$msec \$upstream_addr \$upstream_response_time \$status \$request_time';
    access_log $log fleet;
    client_body_temp_path $RUN_DIR/client_body;
    proxy_temp_path $RUN_DIR/proxy;
    fastcgi_temp_path $RUN_DIR/fastcgi;
    uwsgi_temp_path $RUN_DIR/uwsgi;
    scgi_temp_path $RUN_DIR/scgi;
    upstream fleet {
        $balance
$servers        keepalive 64;
    }
    server {
        listen $HOST:$PORT backlog=1024;
        location / {
            proxy_pass http://fleet;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$http_host;
            proxy_next_upstream error timeout;
            proxy_read_timeout 120s;
        }
    }
}
EOF
# Every instance answers before nginx listens: the lab's health check on $PORT then means the whole fleet is up.
python3 - $ports <<'EOF'
import sys, time, urllib.request
deadline = time.monotonic() + 60
for port in sys.argv[1:]:
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read()
            break
        except OSError:
            if time.monotonic() > deadline:
                sys.exit(f"run.sh: the instance on port {port} did not answer within 60 s")
            time.sleep(0.05)
EOF
if [ -n "${LAB_CLUSTER_LOSE_AT_S:-}" ]; then
  first=$(head -n 1 "$pids" | cut -d ' ' -f 1)
  lost=${LAB_CLUSTER_LOST:?run.sh: LAB_CLUSTER_LOST names where the moment of the loss is written}
  (
    sleep "$LAB_CLUSTER_LOSE_AT_S"
    children=$(pgrep -P "$first" || true)
    kill -KILL "$first" $children 2>/dev/null || true
    python3 -c 'import time; print(f"{time.time():.3f}")' > "$lost"
  ) &
fi
exec nginx -e stderr -p "$RUN_DIR" -c "$RUN_DIR/nginx.conf"
