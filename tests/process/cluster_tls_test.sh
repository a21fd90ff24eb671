#!/usr/bin/env bash
# Node A publishes its cache with TLS ([cluster.tls]): a client whose
# certificate the node's CA signed works; one with its own CA is refused, a
# plain connection is refused. Garbage sent to a published port, plain or
# TLS, leaves the node answering; on the plain port a frame header that
# announces a 4 GiB payload (CAF 0.17 would allocate it) is refused by the
# frame guard, logged, and the node's memory does not grow.
set -u
p21=$1
dir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$dir"
}
trap cleanup EXIT
cd "$dir"
fail=0
check() { # check DESCRIPTION COMMAND...: the command must succeed
  local what=$1; shift
  if ! "$@"; then echo "FAILED: $what"; fail=1; fi
}

# A CA, a node certificate it signs, and a rogue self-signed one.
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 \
  -subj "/CN=p21 test CA" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout node.key -out node.csr -subj "/CN=127.0.0.1" 2>/dev/null
openssl x509 -req -in node.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out node.pem -days 2 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout rogue.key -out rogue.pem -days 2 \
  -subj "/CN=rogue" 2>/dev/null
[ -s node.pem ] && [ -s rogue.pem ] || { echo "openssl could not make the test certificates"; exit 1; }

port() { python3 - 2>/dev/null <<'PY' || echo $((20000 + RANDOM % 20000))
import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])
PY
}

start() { # start NAME CONFIG: runs a node, waits until it publishes
  "$p21" run --config "$2" >"$1.out" 2>"$1.err" &
  pids+=($!)
  for _ in $(seq 1 200); do
    grep -q "publishing cache.shared" "$1.err" && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  echo "node $1 did not start:"; cat "$1.err"; exit 1
}

# A valid BASP header (direct_message) announcing a 4 GiB payload.
huge_frame() {
  ( trap '' PIPE
    printf '\x02\x00\x00\x00\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x01'
    printf '\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01'
    sleep 1 ) >"/dev/tcp/127.0.0.1/$1" 2>/dev/null
  true
}

peak_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

garbage() { # garbage PORT: 64 KiB of random bytes, then a half-valid BASP-sized header
  # The node may close the connection mid-write: ignore SIGPIPE in here.
  ( trap '' PIPE
    { head -c 65536 /dev/urandom; printf '\x00\x00\x00\x10\xff\xff\xff\xff'; } \
      >"/dev/tcp/127.0.0.1/$1" ) 2>/dev/null
  true
}

# -- plain node: garbage does not disturb it --
plain_port=$(port)
cat > plain.toml <<TOML
[logging]
status_interval = "0s"
[database]
path = "plain.db"
[caches.shared]
max_entries = 100
[cluster.publish]
port = $plain_port
actors = ["cache.shared"]
TOML
start plain plain.toml
check "plain put" "$p21" cache put k v --connect "127.0.0.1:$plain_port"
for _ in 1 2 3; do garbage "$plain_port"; done
huge_frame "$plain_port" &
huge=$!
sleep 0.2
check "plain node alive after garbage" kill -0 "${pids[0]}"
out=$("$p21" cache get k --connect "127.0.0.1:$plain_port")
check "plain node answers after garbage and a 4 GiB frame header (got '$out')" test "$out" = v
wait "$huge"
grep -q "dropped the connection from 127.0.0.1:[0-9]*: a frame announced 4294967295 bytes" plain.err ||
  { echo "FAILED: the 4 GiB frame was not logged as dropped"; fail=1; }
peak=$(peak_kib "${pids[0]}")
[ "$peak" -lt 1048576 ] || { echo "FAILED: the plain node's peak RSS reached ${peak} KiB"; fail=1; }

# -- TLS node --
tls_port=$(port)
cat > tls.toml <<TOML
[logging]
status_interval = "0s"
[database]
path = "tls.db"
[caches.shared]
max_entries = 100
[cluster.publish]
port = $tls_port
actors = ["cache.shared"]
[cluster.tls]
certificate = "$dir/node.pem"
key = "$dir/node.key"
ca = "$dir/ca.pem"
TOML
start tls tls.toml
grep -q "TLS" tls.err || { echo "FAILED: the TLS node does not say it publishes with TLS"; fail=1; }
good=(--tls-cert node.pem --tls-key node.key --tls-ca ca.pem)
check "TLS client with the right CA can put" "$p21" cache put secret s3 --connect "127.0.0.1:$tls_port" "${good[@]}"
out=$("$p21" cache get secret --connect "127.0.0.1:$tls_port" "${good[@]}")
check "TLS client with the right CA reads back (got '$out')" test "$out" = s3
if "$p21" cache get secret --connect "127.0.0.1:$tls_port" --timeout 5s \
     --tls-cert rogue.pem --tls-key rogue.key --tls-ca rogue.pem >rogue.out 2>rogue.err; then
  echo "FAILED: a client with its own CA was let in"; fail=1
fi
if "$p21" cache get secret --connect "127.0.0.1:$tls_port" --timeout 5s >plain-on-tls.out 2>plain-on-tls.err; then
  echo "FAILED: a plain client was let in to the TLS port"; fail=1
fi
grep -q "s3" rogue.out plain-on-tls.out && { echo "FAILED: a refused client saw the value"; fail=1; }
for _ in 1 2 3; do garbage "$tls_port"; done
huge_frame "$tls_port"
check "TLS node alive after garbage" kill -0 "${pids[1]}"
out=$("$p21" cache get secret --connect "127.0.0.1:$tls_port" "${good[@]}")
check "TLS node answers after garbage (got '$out')" test "$out" = s3

if [ "$fail" -ne 0 ]; then
  for f in plain.err tls.err rogue.err plain-on-tls.err; do echo "--- $f"; cat "$f"; done
  exit 1
fi
echo "rogue client: $(cat rogue.err)"
echo "plain client on the TLS port: $(cat plain-on-tls.err)"
echo "plain node's peak RSS after a 4 GiB frame header: ${peak} KiB"
echo "TLS: right CA in, rogue CA and plain refused; garbage left both nodes answering"
