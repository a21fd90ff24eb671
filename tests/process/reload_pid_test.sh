#!/usr/bin/env bash
# `p21 reload --pid` sends SIGHUP, which ends a process that does not handle
# it: a process merely named p21 (a symlink called p21, or `exec -a p21`)
# is refused with the reason and keeps running.
set -u
p21=$1
dir=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done; rm -rf "$dir"' EXIT
fail=0
sleep_bin=$(command -v sleep)
# A symlink named p21: the kernel names the process after it (comm "p21").
ln -s "$sleep_bin" "$dir/p21"
"$dir/p21" 60 &
pids+=($!)
# argv[0] "p21" (comm stays "sleep").
(exec -a p21 "$sleep_bin" 60) &
pids+=($!)
# Bounded wait until both have become sleep (exec done).
for pid in "${pids[@]}"; do
  for _ in $(seq 100); do
    [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$sleep_bin")" ] && break
    sleep 0.05
  done
done
symlinked_comm=$(cat "/proc/${pids[0]}/comm")
for pid in "${pids[@]}"; do
  comm=$(cat "/proc/$pid/comm")
  out=$("$p21" reload --pid "$pid" 2>&1)
  rc=$?
  [ "$rc" -eq 1 ] || { echo "pid $pid ($comm): exit $rc, expected 1: $out"; fail=1; }
  grep -q "not a p21 node; nothing sent" <<<"$out" || { echo "pid $pid: no clear refusal: $out"; fail=1; }
  kill -0 "$pid" 2>/dev/null || { echo "pid $pid was signalled: it is gone"; fail=1; }
done
[ "$symlinked_comm" = p21 ] || { echo "the symlinked sleep is not named p21: the test proves nothing"; fail=1; }
out=$("$p21" reload --pid 999999999 2>&1)
[ $? -eq 1 ] && grep -q "no process 999999999" <<<"$out" || { echo "a missing pid: $out"; fail=1; }
[ "$fail" -eq 0 ] && echo "a sleep named p21 (symlink, exec -a) and a missing pid are refused; nothing signalled"
exit "$fail"
