#!/usr/bin/env bash
# examples/deployment: a node configured by its TOML file alone. `p21 run`
# starts it, it answers /health on its own port, logs to its own file, and
# stops on SIGTERM with a summary naming its three caches.
set -u
p21=$1 config=$2
source "$(cd "$(dirname "$0")" && pwd)/../support/node.sh"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
start_node err "HTTP endpoint on" "$p21" run --config "$config" >out || { cat out; exit 1; }
health=$(http_get 127.0.0.1:9131 /health)
kill -TERM "$pid"
wait "$pid"
rc=$?
fail=0
grep -q "^HTTP/1.1 200" <<<"$health" || { echo "/health on 127.0.0.1:9131 did not answer 200"; fail=1; }
grep -q "node started" deployment.log || { echo "deployment.log lacks 'node started'"; fail=1; }
grep -q "3 configured (async, pages, sessions)" out || { echo "summary lacks the three caches"; fail=1; }
[ "$rc" -eq 0 ] || { echo "exit code $rc, expected 0"; fail=1; }
[ "$fail" -eq 0 ] || { echo "--- health"; echo "$health"; echo "--- stdout"; cat out; echo "--- stderr"; cat err; exit 1; }
cat out
echo "deployment ran from $config, answered /health, logged to deployment.log, stopped cleanly"
