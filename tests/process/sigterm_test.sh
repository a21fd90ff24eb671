#!/usr/bin/env bash
# p21 run stops cleanly (exit 0) on SIGTERM. Waits for the "node running" log
# line (bounded), sends SIGTERM, and checks the exit code.
set -u
p21=$1 config=$2
source "$(dirname "$0")/../support/node.sh"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
start_node "$log" "node running" "$p21" run --config "$config" || exit 1
kill -TERM "$pid"
wait "$pid"
rc=$?
cat "$log"
[ "$rc" -eq 0 ] || { echo "exit code $rc, expected 0"; exit 1; }
grep -q "received SIGTERM" "$log" || { echo "SIGTERM not reported"; exit 1; }
echo "stopped cleanly on SIGTERM"
