#!/bin/sh
# nginx-gunicorn-sync: gunicorn sync workers on a unix socket, nginx on $HOST:$PORT in front of them.
# Usage: run.sh WORKERS [on|off]   (nginx's request and response buffering, on by default; HOST, PORT and
# APP_MODULE come from the environment; LAB_SERVER_TIMEOUT_S is gunicorn's --timeout, 30 s unless set)
set -eu
workers=${1:?usage: run.sh WORKERS [on|off]}
buffering=${2:-on}
case $buffering in on|off) ;; *) echo "run.sh: buffering must be on or off, got $buffering" >&2; exit 2 ;; esac
here=$(dirname "$0")
# LAB_ACCESS_LOG=1: nginx logs a line per request (gunicorn behind it does not: one line per request, as elsewhere).
access_log=off
[ "${LAB_ACCESS_LOG:-0}" = 1 ] && access_log=/dev/stdout
command -v nginx >/dev/null || { echo "run.sh: nginx is not installed" >&2; exit 127; }
RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/nginx-gunicorn.XXXXXX")
# Started as root (a local run by root), nginx's workers drop to nobody: they must reach the socket.
chmod 711 "$RUN_DIR"
sed -e "s|@RUN_DIR@|$RUN_DIR|g" -e "s|@HOST@|$HOST|g" -e "s|@PORT@|$PORT|g" -e "s|@BUFFERING@|$buffering|g" \
    -e "s|@ACCESS_LOG@|$access_log|g" \
    "$here/nginx.conf.template" > "$RUN_DIR/nginx.conf"
gunicorn --no-control-socket --timeout "${LAB_SERVER_TIMEOUT_S:-30}" --umask 0 --bind "unix:$RUN_DIR/gunicorn.sock" --worker-class sync --workers "$workers" \
    "$APP_MODULE" &
# nginx's startup check of its default log path fails as non-root; -e points it at stderr first.
exec nginx -e stderr -p "$RUN_DIR" -c "$RUN_DIR/nginx.conf"
