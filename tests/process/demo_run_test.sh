#!/usr/bin/env bash
# `p21 run --duration 10` with the shipped demo config exits 0 and its exit
# summary shows every subsystem used by the demo workload.
set -u
p21=$1 config=$2
out=$(mktemp) err=$(mktemp) cfg=$(mktemp --suffix=.toml)
trap 'rm -f "$out" "$err" "$cfg"' EXIT
# The shipped config on any free port: the summary must say which one.
sed 's/^listen = "127\.0\.0\.1:9121"/listen = "127.0.0.1:0"/' "$config" >"$cfg"
grep -q '^listen = "127.0.0.1:0"' "$cfg" || { echo "the shipped config has no listen line to change"; exit 1; }
timeout 60 "$p21" run --config "$cfg" --duration 10 >"$out" 2>"$err"
rc=$?
fail=0
expect() {
  grep -Eq "$1" "$out" || { echo "summary lacks: $2"; fail=1; }
}
expect '^  cache +[0-9]+ configured .*running: [1-9][0-9 ]* lookups' "cache lookups"
expect '^  sqlite +[1-9][0-9 ]* statements' "SQLite statements"
expect '^  git +[1-9][0-9 ]* status checks' "git status checks"
expect '^  commands +[1-9][0-9 ]* run, 0 failed' "commands run without failures"
expect '^  monitor +[1-9][0-9 ]* samples' "monitor samples"
expect '^  optimizer +[1-9][0-9 ]* evaluations' "optimizer evaluations"
expect '^  http +listening on 127\.0\.0\.1:[1-9][0-9]*$' "the HTTP endpoint's bound port (not 0)"
expect '^  demo +[1-9][0-9 ]* lookups .* [1-9][0-9 ]* writes, [1-9][0-9 ]* git checks, .*[1-9][0-9 ]* commands, 0 errors' "the workload's own counts, no errors"
grep -q "status: health" "$err" || { echo "no status line logged"; fail=1; }
# The scratch repository: a mkdtemp name (six random characters), not the
# predictable p21-demo-PID another user could plant first; removed at exit.
repo=$(grep -o 'git status on [^ ,)]*' "$err" | head -1 | cut -d' ' -f4)
if [[ ! "$repo" =~ /p21-demo-[A-Za-z0-9]{6}$ || "$repo" =~ /p21-demo-[0-9]+$ ]]; then
  echo "scratch repository '$repo' is not a mkdtemp name"; fail=1
fi
[ -n "$repo" ] && [ -e "$repo" ] && { echo "scratch repository $repo left behind"; fail=1; }
[ "$rc" -eq 0 ] || { echo "exit code $rc, expected 0"; fail=1; }
[ "$fail" -eq 0 ] || { echo "--- stdout"; cat "$out"; echo "--- stderr"; cat "$err"; exit 1; }
cat "$out"
