#!/usr/bin/env bash
# The dashboard in a real browser: a node with the demo workload and a forced
# optimizer action (rule disk_usage with a threshold every disk passes),
# GET / loaded in headless Chromium at 1280x800 and at a narrow 420x900; the
# DOM must show the health score, charts with points, the forced action as
# a marker, no console error and no horizontal overflow. Screenshots go to
# SHOTS_DIR (the build folder). Usage: dashboard_test.sh P21 SHOTS_DIR
set -u
p21=$1 shots=$2
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../support/node.sh"
browser=$(command -v chromium || command -v chromium-browser) || {
  echo "chromium is not installed (scripts/install-deps.sh --test)"; exit 1; }
tmp=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$shots"
cat >"$tmp/node.toml" <<TOML
[performance]
monitor_interval = "500ms"
optimization_interval = "1s"
[http]
listen = "127.0.0.1:0"
[database]
path = "$tmp/data/p21.db"
[logging]
status_interval = "0s"
[demo]
enabled = true
rate = 200
# Forced: every disk is above -1 % full, so the rule acts at once.
[optimizer.rules.disk_usage]
threshold = -1.0
clear_threshold = -2.0
for = "0s"
cooldown = "3s"
TOML
start_node "$tmp/node.log" "HTTP endpoint on" "$p21" run --config "$tmp/node.toml" || exit 1
addr=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$tmp/node.log" | head -1)
addr=${addr#http://}

# Bounded waits: two forced actions in /events (the first may come from a
# round an alert woke before the monitor's first history point, left of
# every chart; the second, a cooldown later, is inside), and a few monitor
# rounds.
ok=
for _ in $(seq 1 150); do
  if [ "$(http_get "$addr" /events | grep -Eo '"name": *"disk_usage"' | wc -l)" -ge 2 ] &&
     [ "$(http_get "$addr" /history | grep -o '"health_score"' | wc -l)" -ge 4 ]; then
    ok=1; break
  fi
  sleep 0.1
done
[ -n "$ok" ] || { echo "no two forced optimizer actions or monitor rounds within 15 s"; cat "$tmp/node.log"; exit 1; }

# run_browser WIDTHxHEIGHT WHAT...: headless Chromium on the page; its
# console goes to $tmp/console.log.
run_browser() {
  local size=$1
  shift
  timeout 40 "$browser" --headless --no-sandbox --disable-gpu --no-first-run \
    --user-data-dir="$tmp/profile" --hide-scrollbars --window-size="$size" \
    --enable-logging=stderr --v=0 --virtual-time-budget=6000 "$@" "http://$addr/" \
    2>>"$tmp/console.log"
}

fail=0
check() { # check FILE REGEX WHAT
  grep -Eq "$2" "$1" || { echo "FAIL: $3"; fail=1; }
}
run_browser 1280,800 --dump-dom >"$tmp/wide.html"
check "$tmp/wide.html" '<body[^>]* data-ready="1"' "the page rendered data"
check "$tmp/wide.html" 'id="health-score">[0-9]+<' "the health score is shown"
check "$tmp/wide.html" 'data-console-errors="0"' "no console error or warning recorded by the page"
check "$tmp/wide.html" '<polyline class="area" points="[0-9.]+,[0-9.]+ [0-9.]+,[0-9.]+' "a chart with points"
check "$tmp/wide.html" 'class="optimizer-marker" data-rule="disk_usage"><title>disk_usage: ' \
  "the forced optimizer action as a marker with its rule and description"
check "$tmp/wide.html" 'id="caches".*hit rate' "the cache table"
check "$tmp/wide.html" 'id="db".*in use / ' "the db pool table"
check "$tmp/wide.html" 'id="subprocess".*slots in use' "the subprocess table"
check "$tmp/wide.html" 'id="components".*<td>monitor</td><td>running</td>' "the component tree"
check "$tmp/wide.html" 'data-overflow="false"' "no horizontal overflow at 1280x800"
run_browser 420,900 --dump-dom >"$tmp/narrow.html"
check "$tmp/narrow.html" 'data-ready="1"' "the page rendered data at 420x900"
check "$tmp/narrow.html" 'data-overflow="false"' "no horizontal overflow at 420x900"
run_browser 1280,800 --screenshot="$shots/dashboard.png" >/dev/null
run_browser 420,900 --screenshot="$shots/dashboard-narrow.png" >/dev/null
[ -s "$shots/dashboard.png" ] || { echo "FAIL: no screenshot"; fail=1; }
# Chromium logs every console message of the page as "...:CONSOLE(line)".
if grep -q ':CONSOLE' "$tmp/console.log"; then
  echo "FAIL: the page logged to the browser console:"; grep ':CONSOLE' "$tmp/console.log"; fail=1
fi
if [ "$fail" -ne 0 ]; then
  echo "--- DOM (1280x800)"; cat "$tmp/wide.html"; echo "--- node log"; tail -30 "$tmp/node.log"
  exit 1
fi
echo "dashboard OK; screenshots in $shots"
