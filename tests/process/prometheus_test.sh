#!/usr/bin/env bash
# A real Prometheus server (Debian's `prometheus`, temp storage, a free
# loopback port) scrapes a live node (it asks for OpenMetrics first) with
# config/prometheus/alerts.yml loaded; its HTTP API must answer a query for
# p21_health_score, see the standard process_* series, report the target up
# with no scrape error, and accept every query of config/grafana/perfect21.json.
# Usage: prometheus_test.sh P21 SOURCE_DIR
set -u
p21=$1 src=$2
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../support/node.sh"
command -v prometheus >/dev/null || { echo "prometheus is not installed (scripts/install-deps.sh --test)"; exit 1; }
tmp=$(mktemp -d)
pid= prom=
cleanup() {
  [ -n "$prom" ] && kill "$prom" 2>/dev/null && wait "$prom" 2>/dev/null
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
cat >"$tmp/node.toml" <<TOML
[performance]
monitor_interval = "500ms"
[http]
listen = "127.0.0.1:0"
[database]
path = "$tmp/data/p21.db"
[logging]
status_interval = "0s"
[demo]
enabled = true
rate = 100
TOML
start_node "$tmp/node.log" "HTTP endpoint on" "$p21" run --config "$tmp/node.toml" || exit 1
addr=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$tmp/node.log" | head -1)
addr=${addr#http://}
cat >"$tmp/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $src/config/prometheus/alerts.yml
scrape_configs:
  - job_name: perfect21
    static_configs:
      - targets: ["$addr"]
YAML

# A free port: nobody answers on it; if Prometheus still cannot bind it
# (taken in between), try another.
for _ in 1 2 3 4 5; do
  port=$((20000 + RANDOM % 40000))
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue
  prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/tsdb" \
    --web.listen-address="127.0.0.1:$port" --log.level=warn >"$tmp/prom.log" 2>&1 &
  prom=$!
  up=
  for _ in $(seq 1 100); do
    http_get "127.0.0.1:$port" /-/ready 2>/dev/null | grep -q "200 OK" && { up=1; break; }
    kill -0 "$prom" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$up" ] && break
  kill "$prom" 2>/dev/null; wait "$prom" 2>/dev/null; prom=
done
[ -n "$prom" ] || { echo "prometheus did not start"; cat "$tmp/prom.log"; exit 1; }

urlencode() {
  local s=$1 out= c i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case $c in [a-zA-Z0-9.~_-]) out+=$c ;; *) out+=$(printf '%%%02X' "'$c") ;; esac
  done
  printf '%s' "$out"
}
# HTTP/1.0: a plain body, never chunked.
get() { # get HOST:PORT PATH [HEADER]
  exec 3<>"/dev/tcp/${1%:*}/${1##*:}" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: %s\r\n%s\r\n' "$2" "$1" "${3:+$3$'\r\n'}" >&3
  timeout 10 cat <&3
  exec 3<&-
}
query() { get "127.0.0.1:$port" "/api/v1/query?query=$(urlencode "$1")"; }

# Bounded wait for the first scrapes to land.
answer=
for _ in $(seq 1 150); do
  answer=$(query 'p21_health_score{job="perfect21"}')
  echo "$answer" | grep -q '"result":\[{"metric":{"__name__":"p21_health_score"' && break
  answer=
  sleep 0.1
done
fail=0
[ -n "$answer" ] || { echo "FAIL: Prometheus never answered p21_health_score"; fail=1; }
echo "$answer" | tail -1
for q in 'process_cpu_seconds_total' 'process_resident_memory_bytes' 'process_virtual_memory_bytes' \
         'process_open_fds' 'process_max_fds' 'process_start_time_seconds' 'up{job="perfect21"} == 1'; do
  query "$q" | grep -q '"result":\[{' || { echo "FAIL: no result for $q"; fail=1; }
done
targets=$(get "127.0.0.1:$port" /api/v1/targets)
echo "$targets" | grep -q '"lastError":""' || { echo "FAIL: scrape error: $targets"; fail=1; }
echo "$targets" | grep -q '"health":"up"' || { echo "FAIL: target not up: $targets"; fail=1; }
# Every Grafana query parses and runs (a query may be empty this early).
n=0
while IFS= read -r expr; do
  expr=${expr//\\\"/\"}
  expr=${expr//\$job/perfect21}
  expr=${expr//\$instance/.*}
  expr=${expr//\$__all/.*}
  query "$expr" | grep -q '"status":"success"' || { echo "FAIL: Grafana query refused: $expr"; query "$expr" | tail -1; fail=1; }
  n=$((n + 1))
done < <(sed -n 's/^ *"expr": "\(.*\)",\{0,1\}$/\1/p' "$src/config/grafana/perfect21.json")
[ "$n" -ge 10 ] || { echo "FAIL: found only $n Grafana queries"; fail=1; }
rules=$(get "127.0.0.1:$port" /api/v1/rules)
echo "$rules" | grep -q '"name":"P21HighCpu"' || { echo "FAIL: alerts.yml not loaded"; fail=1; }
# What Prometheus asked for, by hand: OpenMetrics with its type and `# EOF`.
om=$(get "$addr" /metrics "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
echo "$om" | grep -qi '^content-type: application/openmetrics-text; version=1.0.0' || { echo "FAIL: no OpenMetrics content type"; fail=1; }
echo "$om" | grep -q '^# TYPE process_cpu_seconds counter' || { echo "FAIL: OpenMetrics counter family not named without _total"; fail=1; }
[ "$(echo "$om" | tail -1 | tr -d '\r')" = "# EOF" ] || { echo "FAIL: OpenMetrics text does not end with # EOF"; fail=1; }
plain=$(get "$addr" /metrics)
echo "$plain" | grep -qi '^content-type: text/plain; version=0.0.4' || { echo "FAIL: plain scrape is not text 0.0.4"; fail=1; }
echo "$plain" | grep -q '# EOF' && { echo "FAIL: # EOF in the 0.0.4 text"; fail=1; }
if [ "$fail" -ne 0 ]; then
  echo "--- prometheus log"; cat "$tmp/prom.log"; echo "--- node log"; tail -20 "$tmp/node.log"; exit 1
fi
echo "prometheus OK: $n Grafana queries run"
