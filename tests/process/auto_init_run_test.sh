#!/usr/bin/env bash
# `p21 run` with `[performance] auto_init = false`: only the HTTP endpoint
# starts, with the monitor it depends on; the node serves /health and
# /metrics, which start nothing more, and stops cleanly, its summary saying
# that the cache, SQLite, the command pool and the optimizer never started.
set -u
p21=$1
source "$(dirname "$0")/../support/node.sh"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat >"$dir/node.toml" <<TOML
[performance]
auto_init = false
[logging]
level = "debug"
[http]
listen = "127.0.0.1:0"
[database]
path = "$dir/node.db"
[runtime]
state_dir = "$dir/state"
TOML
log=$dir/node.log
# The summary goes to stdout: into a file, through an exec that keeps the pid.
start_node "$log" "HTTP endpoint on" bash -c 'exec "$0" run --config "$1" >"$2"' \
  "$p21" "$dir/node.toml" "$dir/stdout" || exit 1
addr=$(grep -o 'http://[0-9.]*:[0-9]*' "$log" | head -1)
hostport=${addr#http://}
fail=0
started() { grep -o "component '[a-z_./0-9]*' started" "$log" | sed "s/component '\(.*\)' started/\1/" | sort | tr '\n' ' '; }
# Before any request: the HTTP endpoint and its dependency alone.
before=$(started)
[ "$before" = "http monitor " ] || { echo "started at start: '$before', expected 'http monitor '"; fail=1; }
grep -q "auto_init = false" "$log" || { echo "no auto_init line in the log"; fail=1; }
health=$(http_get "$hostport" /health)
grep -q "^HTTP/1.1 200" <<<"$health" || { echo "/health did not answer 200"; fail=1; }
grep -q '"health_score"' <<<"$health" || { echo "/health lacks health_score"; fail=1; }
metrics=$(http_get "$hostport" /metrics)
grep -q "^p21_health_score " <<<"$metrics" || { echo "/metrics lacks p21_health_score"; fail=1; }
# Serving started nothing more.
after=$(started)
[ "$after" = "http monitor " ] || { echo "started after /health: '$after', expected 'http monitor '"; fail=1; }
kill -TERM "$pid"
wait "$pid"
rc=$?
[ "$rc" -eq 0 ] || { echo "exit code $rc, expected 0"; fail=1; }
summary=$(cat "$dir/stdout")
for line in "none started" "sqlite     not started" "commands   not started" \
  "optimizer  not started"; do
  grep -q "$line" <<<"$summary" || { echo "the summary lacks '$line'"; fail=1; }
done
if [ "$fail" -ne 0 ]; then
  echo "--- health"; echo "$health"; echo "--- summary"; echo "$summary"; echo "--- log"; cat "$log"
  exit 1
fi
echo "auto_init = false: only http and monitor started; served /health and /metrics at $addr"
