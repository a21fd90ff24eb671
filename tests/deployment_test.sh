#!/usr/bin/env bash
# examples/deployment: a node configured by its TOML file alone. `p21 run`
# starts it, it answers /health on its own port, logs to its own file, and
# stops on SIGTERM with a summary naming its three caches.
set -u
p21=$1 config=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
"$p21" run --config "$config" >out 2>err &
pid=$!
for _ in $(seq 1 300); do
  grep -q "HTTP endpoint on" err && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
get() {
  exec 3<>/dev/tcp/127.0.0.1/9131 || return 1
  printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$1" >&3
  timeout 10 cat <&3
  exec 3<&-
}
health=$(get /health)
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
