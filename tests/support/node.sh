# Shell helpers for the tests that run a `p21` node: source this file.

# start_node LOG PATTERN COMMAND...: starts COMMAND in the background with
# stderr to LOG, sets `pid`, and waits (30 s at most) until LOG holds
# PATTERN. Fails, printing LOG and killing the node, when the node exits or
# the time runs out first.
start_node() {
  local log=$1 pattern=$2
  shift 2
  "$@" 2>"$log" &
  pid=$!
  for _ in $(seq 1 300); do
    grep -q "$pattern" "$log" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  grep -q "$pattern" "$log" && return 0
  echo "the node never logged '$pattern'"
  cat "$log"
  kill -9 "$pid" 2>/dev/null
  return 1
}

# http_get HOST:PORT PATH: the raw HTTP/1.1 response (bash's /dev/tcp: no
# curl needed).
http_get() {
  exec 3<>"/dev/tcp/${1%:*}/${1##*:}" || return 1
  printf 'GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$2" "$1" >&3
  timeout 10 cat <&3
  exec 3<&-
}
