#!/usr/bin/env bash
# run_fuzzer.sh FUZZER SEEDS WORK SECONDS [FLAGS...]: runs one libFuzzer target for a
# bounded time from the committed seed corpus. New inputs and crash
# artifacts go under WORK (the build tree), never into the source tree;
# a crash, a leak or a timeout makes the fuzzer (and so the test) fail.
set -u
fuzzer=$1 seeds=$2 work=$3 seconds=$4
mkdir -p "$work/corpus" "$work/artifacts"
# A dictionary beside the corpus (TARGET/dict), when there is one.
dict=()
if [ -f "$(dirname "$seeds")/dict" ]; then dict=(-dict="$(dirname "$seeds")/dict"); fi
# Extra libFuzzer flags after the fourth argument; an empty one (CMake's
# generator expression for the targets without a flag) is dropped, since
# libFuzzer takes it for a corpus directory.
extra=()
for a in "${@:5}"; do [ -n "$a" ] && extra+=("$a"); done
# The first directory receives new inputs; the seeds are only read.
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  "${dict[@]}" -artifact_prefix="$work/artifacts/" "${extra[@]}" "$work/corpus" "$seeds"
