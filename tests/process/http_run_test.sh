#!/usr/bin/env bash
# A `p21 run` node with the shipped config serves /metrics and /health on
# 127.0.0.1 (bash's /dev/tcp: no curl needed), then stops on SIGTERM.
set -u
p21=$1 config=$2
source "$(dirname "$0")/../support/node.sh"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
start_node "$log" "HTTP endpoint on" "$p21" run --config "$config" || exit 1
addr=$(grep -o 'http://[0-9.]*:[0-9]*' "$log" | head -1)
[ -n "$addr" ] || { echo "no HTTP endpoint"; cat "$log"; kill -9 "$pid"; exit 1; }
hostport=${addr#http://}
metrics=$(http_get "$hostport" /metrics)
health=$(http_get "$hostport" /health)
kill -TERM "$pid"
wait "$pid"
rc=$?
fail=0
grep -q "^HTTP/1.1 200" <<<"$metrics" || { echo "/metrics did not answer 200"; fail=1; }
grep -q "^p21_health_score " <<<"$metrics" || { echo "/metrics lacks p21_health_score"; fail=1; }
grep -q '"health_score"' <<<"$health" || { echo "/health lacks health_score"; fail=1; }
[ "$rc" -eq 0 ] || { echo "exit code $rc, expected 0"; fail=1; }
[ "$fail" -eq 0 ] || { echo "--- metrics"; echo "$metrics" | head -20; echo "--- health"; echo "$health"; cat "$log"; exit 1; }
echo "served /metrics and /health at $addr, stopped cleanly"
