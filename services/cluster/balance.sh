#!/bin/sh
# nginx in front of a fleet (flasklab plan --verify --cluster): waits until every member answers, then balances over
# them with METHOD on $HOST:$PORT, one access-log line per request.
# Usage: balance.sh METHOD LOG COUNT ADDRESS [ADDRESS ...]   (the members as services/cluster/members.py reads them)
#   METHOD: round-robin (nginx's default), least-conn, or random-two (random two, the less busy of them)
#   LOG: where nginx writes a line per request (a file, or /dev/stdout in a container): its end (epoch s), the member
#   that answered and the member's own time (several when nginx moved on to another), the status, the whole time.
# Runs as any user: every path it writes is under a fresh folder in $TMPDIR (or /tmp).
set -eu
method=${1:?usage: balance.sh METHOD LOG COUNT ADDRESS...}
log=${2:?usage: balance.sh METHOD LOG COUNT ADDRESS...}
shift 2
case $method in
  round-robin) balance="" ;;
  least-conn) balance="least_conn;" ;;
  random-two) balance="random two least_conn;" ;;
  *) echo "balance.sh: METHOD must be round-robin, least-conn or random-two, got $method" >&2; exit 2 ;;
esac
command -v nginx >/dev/null || { echo "balance.sh: nginx is not installed" >&2; exit 127; }
members=$(python3 "$(dirname "$0")/members.py" "$@")
RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/flasklab-balance.XXXXXX")
servers=""
for address in $members; do
  servers="$servers        server $address max_fails=1 fail_timeout=2s;
"
done
cat > "$RUN_DIR/nginx.conf" <<CONF
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
CONF
exec nginx -e stderr -p "$RUN_DIR" -c "$RUN_DIR/nginx.conf"
