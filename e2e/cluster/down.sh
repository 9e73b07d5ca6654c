#!/usr/bin/env bash
# Stops every process up.sh started (by the pids it recorded), then waits for them to exit.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.sh"
D=${TALON_E2E_DIR:-$TALON_CACHE/e2e}
[ -f "$D/pids" ] || exit 0
pids=$(awk '{print $2}' "$D/pids" | tac)
for p in $pids; do kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true; done
for _ in $(seq 1 40); do
  alive=0; for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
  [ $alive = 0 ] && break; sleep 0.25
done
for p in $pids; do kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null || true; done
rm -f "$D/pids"
echo "[cluster] stopped" >&2
