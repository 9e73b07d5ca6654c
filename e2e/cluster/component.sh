#!/usr/bin/env bash
# Stops or starts one component of the running local control plane, for failure tests:
#   component.sh stop kube-apiserver     (SIGTERM, waits for exit)
#   component.sh start kube-apiserver    (same command line as up.sh used; waits for readiness)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.sh"
D=${TALON_E2E_DIR:-$TALON_CACHE/e2e}
op=$1 name=$2
pid=$(awk -v n="$name" '$1==n {p=$2} END {print p}' "$D/pids")
case $op in
  stop)
    [ -n "$pid" ] || exit 0
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 80); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.25; done
    kill -KILL -- "-$pid" 2>/dev/null || true ;;
  start)
    [ -f "$D/cmd/$name" ] || { echo "unknown component $name" >&2; exit 1; }
    setsid bash -c "exec $(cat "$D/cmd/$name")" >>"$D/logs/$name.log" 2>&1 < /dev/null &
    echo "$name $!" >> "$D/pids"
    if [ "$name" = kube-apiserver ]; then
      . "$D/ports.env"
      for _ in $(seq 1 480); do curl -sfk "https://127.0.0.1:$APISERVER_PORT/readyz" >/dev/null && exit 0; sleep 0.25; done
      echo "kube-apiserver did not become ready" >&2; exit 1
    fi ;;
  *) echo "usage: component.sh stop|start NAME" >&2; exit 2 ;;
esac
