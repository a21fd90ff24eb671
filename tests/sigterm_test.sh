#!/usr/bin/env bash
# p21 run stops cleanly (exit 0) on SIGTERM. Waits for the "node running" log
# line (bounded), sends SIGTERM, and checks the exit code.
set -u
p21=$1 config=$2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$p21" run --config "$config" 2>"$log" &
pid=$!
for _ in $(seq 1 300); do
  grep -q "node running" "$log" && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
grep -q "node running" "$log" || { echo "node never came up"; cat "$log"; kill -9 "$pid"; exit 1; }
kill -TERM "$pid"
wait "$pid"
rc=$?
cat "$log"
[ "$rc" -eq 0 ] || { echo "exit code $rc, expected 0"; exit 1; }
grep -q "received SIGTERM" "$log" || { echo "SIGTERM not reported"; exit 1; }
echo "stopped cleanly on SIGTERM"
