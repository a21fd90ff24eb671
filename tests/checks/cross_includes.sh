#!/usr/bin/env bash
# No subsystem reaches into another's folder: a file in actors/X/ includes
# nothing by a path into actors/Y/ ("../Y/..." or "actors/Y/..."), and the
# p21 command (app/) no subsystem's private header. What one subsystem shares
# with another is a library with a header of its own (actors/tagged_cache/,
# actors/redis/), found through the include directory of the target it
# links. Tests and bench/ programs may reach internals; they test them.
# Run: tests/checks/cross_includes.sh SOURCE_DIR
set -euo pipefail
root=${1:?source dir}
cd "$root"

# FILE:INCLUDED pairs allowed for now, each with its reason.
allowed=(
  # Until issue 33's table lands (a cache core library of its own):
  "actors/cluster/stubs.cpp:../cache/cache_store.hpp"
  "actors/tagged_cache/tagged_cache.cpp:../cache/cache_store.hpp"
  "app/bench_cache.cpp:actors/cache/cache_store.hpp"
  "app/bench_cache.cpp:actors/cache/traces.hpp"
  "app/cache_sim.cpp:actors/cache/cache_store.hpp"
  # The Redis bench reads the tier's counters (round trips, invalidations).
  "app/bench_redis.cpp:actors/redis/redis_tier.hpp"
  # pressure_reaction sizes its allocation with the watcher's own RSS reading.
  "app/bench_reaction.cpp:actors/monitor/pressure_watcher.hpp"
)

is_allowed() {
  local pair=$1 a
  for a in "${allowed[@]}"; do
    [[ "$a" == "$pair" ]] && return 0
  done
  return 1
}

status=0
checked=0
while IFS= read -r -d '' file; do
  checked=$((checked + 1))
  case "$file" in
    actors/*/*) own=${file#actors/}; own=${own%%/*} ;;
    *) own="" ;;
  esac
  while IFS=: read -r line included; do
    target=""
    case "$included" in
      ../*) # relative: where it lands, from the including file's folder
        target=$(realpath -m --relative-to=. "$(dirname "$file")/$included") ;;
      actors/*) target=$included ;;
      *) continue ;;
    esac
    [[ "$target" == actors/*/* ]] || continue
    into=${target#actors/}; into=${into%%/*}
    [[ -n "$own" && "$into" == "$own" ]] && continue
    is_allowed "$file:$included" && continue
    echo "$file:$line: includes \"$included\" from actors/$into/: link that subsystem's library and include its own header instead"
    status=1
  done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$file" |
           sed -E 's/^([0-9]+):[^"]*"([^"]+)".*/\1:\2/')
done < <(find actors app -type f \( -name '*.cpp' -o -name '*.hpp' \) -print0)

# An exception whose include is gone is dropped from the list, not kept.
for a in "${allowed[@]}"; do
  file=${a%%:*}; included=${a#*:}
  if [[ ! -f "$file" ]] || ! grep -q "#include \"$included\"" "$file"; then
    echo "stale exception (the include is gone; remove it from the list): $a"
    status=1
  fi
done
[[ $status -eq 0 ]] && echo "cross includes: $checked files of actors/ and app/ reach into no other subsystem's folder"
exit $status
