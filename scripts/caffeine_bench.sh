#!/usr/bin/env bash
# Holds p21::cache against Caffeine on this machine: runs the cache_direct
# and cache_contended loops through Caffeine 2.6 and a synchronized LRU
# (scripts/caffeine/CacheBench.java), then the same two rows of `p21 bench`,
# one after the other in one run, and prints both. Optional: needs Java.
#
#   scripts/caffeine_bench.sh [build/default/p21] [--quick]
set -euo pipefail
p21=${1:-build/default/p21}
quick=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
if [[ ! -f /usr/share/java/caffeine.jar ]] || ! command -v javac >/dev/null; then
  echo "needs Debian's libcaffeine-java and a JDK: apt-get install -y libcaffeine-java default-jdk-headless" >&2
  exit 2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
javac -d "$work" -cp /usr/share/java/caffeine.jar "$here/caffeine/CacheBench.java"
samples=20
[[ "$quick" == "--quick" ]] && samples=5
echo "== Java (OpenJDK $(java -version 2>&1 | head -1 | sed 's/.*"\(.*\)".*/\1/'), Caffeine 2.6), $samples samples"
java -cp "$work:/usr/share/java/caffeine.jar" CacheBench "$samples"
echo "== p21 bench ${quick:-(full)} --only cache_direct,cache_contended"
"$p21" bench $quick --only cache_direct,cache_contended 2>/dev/null | grep -E "^(row|cache_)"
