#!/usr/bin/env bash
# Holds p21::cache against Caffeine on this machine: runs the cache_direct,
# cache_view and cache_contended loops (1, 2, 4 and 8 threads) through
# Caffeine 2.6 and a synchronized LRU (scripts/caffeine/CacheBench.java),
# then the same rows of `p21 bench`, one after the other in one run, and
# prints both with the machine's load. Optional: needs Java.
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
rows=cache_direct,cache_view,cache_contended_1,cache_contended_2,cache_contended,cache_contended_8
echo "== load: $(uptime)"
echo "== Java (OpenJDK $(java -version 2>&1 | head -1 | sed 's/.*"\(.*\)".*/\1/'), Caffeine 2.6), $samples samples"
java -cp "$work:/usr/share/java/caffeine.jar" CacheBench "$samples"
echo "== p21 bench ${quick:-(full)} --only $rows"
"$p21" bench $quick --only "$rows" 2>/dev/null | grep -E "^(row|cache_)"
echo "== load: $(uptime)"
