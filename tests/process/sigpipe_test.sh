#!/usr/bin/env bash
# p21 run whose stdout is closed early (`| true`, like `| head -1`) still
# stops its runtime and exits 0: SIGPIPE used to kill it at the summary,
# before the runtime stopped (issue 16).
set -u
p21=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
printf '[database]\npath = "%s/node.db"\n' "$dir" >"$dir/node.toml"
# `true` exits at once: every write to stdout afterwards meets a closed pipe.
timeout 60 "$p21" run --config "$dir/node.toml" --duration 1 2>"$dir/log" | true
rc=${PIPESTATUS[0]}
cat "$dir/log"
[ "$rc" -eq 0 ] || { echo "exit code $rc, expected 0 (141 is SIGPIPE)"; exit 1; }
grep -q "stopped" "$dir/log" || { echo "the runtime did not log 'stopped'"; exit 1; }
echo "stopped cleanly with a closed stdout"
