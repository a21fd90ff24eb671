#!/usr/bin/env bash
# The guard in front of a TLS published port (issue 30, finding 3). Before
# it, CAF's TLS listener accepted every TCP connection, kept it without a
# handshake deadline, and loaded the certificate files for each: with 1 100
# idle connections at the default limit of 1 024 descriptors, the next
# session could not load its certificate, CAF threw on its network thread
# and the node aborted (`terminate ... cannot load certificate`, exit 134).
#
#   cluster_tls_guard_test.sh P21 per_address   a flood of 1 100 idle connections from 127.0.0.2:
#                                               32 are relayed, the others closed at once; a real
#                                               TLS session from 127.0.0.1 works meanwhile
#   cluster_tls_guard_test.sh P21 total         1 100 idle connections with no per-address bound,
#                                               the node at 1 024 descriptors: it stays below, never
#                                               aborts, and serves TLS once they are closed
#   cluster_tls_guard_test.sh P21 deadline      a TLS session (1.3 and 1.2) outlives the handshake
#                                               deadline; an idle connection and one that sent only
#                                               its ClientHello are closed at it
#   cluster_tls_guard_test.sh P21 names         [cluster.tls] accepted_names and --tls-name: a
#                                               certificate the CA signed with another name is refused
#   cluster_tls_guard_test.sh P21 bad_files     a key that does not load fails the start, named
set -u
p21=$1
mode=$2
dir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$dir"
}
trap cleanup EXIT
cd "$dir"
fail=0
failed() { echo "FAILED: $*"; fail=1; }

openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 \
  -subj "/CN=p21 test CA" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout node.key -out node.csr -subj "/CN=127.0.0.1" 2>/dev/null
openssl x509 -req -in node.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out node.pem -days 2 2>/dev/null
[ -s node.pem ] || { echo "openssl could not make the test certificates"; exit 1; }
good=(--tls-cert node.pem --tls-key node.key --tls-ca ca.pem --timeout 10s)

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# node CLUSTER_KEYS [TLS_KEYS]: a TLS node at 1 024 descriptors (soft and hard),
# the default of many systems, waited for until it publishes.
node() {
  cat > node.toml <<TOML
[logging]
status_interval = "0s"
[database]
path = "node.db"
[caches.shared]
max_entries = 100
[cluster]
$1
[cluster.publish]
port = $port
actors = ["cache.shared"]
[cluster.tls]
certificate = "$dir/node.pem"
key = "$dir/node.key"
ca = "$dir/ca.pem"
${2:-}
TOML
  (ulimit -n 1024 && exec "$p21" run --config node.toml) >node.out 2>node.err &
  pids+=($!)
  for _ in $(seq 1 200); do
    grep -q "publishing cache.shared" node.err && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  echo "the node did not start:"; cat node.err; exit 1
}

# flood SOURCE COUNT QUICK DEADLINE [COMMAND...]: opens COUNT TCP connections
# from SOURCE to the port and sends nothing; counts those the node closes
# within QUICK seconds, runs COMMAND while the rest are open, then waits up
# to DEADLINE seconds for the node to close them all. Samples the node's
# open descriptors throughout. Prints key=value lines.
cat > flood.py <<'PY'
import json, os, resource, selectors, socket, subprocess, sys, time
port, pid, src, count, quick, deadline = int(sys.argv[1]), sys.argv[2], sys.argv[3], \
    int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
command = sys.argv[7:]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
count = min(count, hard - 64)
peak = 0
def sample():
    global peak
    try:
        peak = max(peak, len(os.listdir(f"/proc/{pid}/fd")))
    except OSError:
        pass
open_ = set()
sel = selectors.DefaultSelector()
for _ in range(count):
    s = socket.socket()
    s.bind((src, 0))
    s.setblocking(False)
    try:
        s.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    open_.add(s)
    sel.register(s, selectors.EVENT_READ)
start = time.monotonic()
def reap(until):
    while open_ and time.monotonic() < until:
        sample()
        for key, _ in sel.select(timeout=0.05):
            s = key.fileobj
            try:
                if s.recv(4096):
                    continue
            except BlockingIOError:
                continue
            except OSError:
                pass
            sel.unregister(s)
            s.close()
            open_.discard(s)
reap(start + quick)
print(f"count={count}")
print(f"closed_at_once={count - len(open_)}")
if command:
    rc = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    print(f"command_during_flood={rc}")
    print(f"still_open_after_command={len(open_)}")
reap(start + deadline)
print(f"open_at_end={len(open_)}")
sample()
print(f"node_peak_fds={peak}")
print(f"node_alive={int(os.path.exists(f'/proc/{pid}'))}")
PY

value() { grep "^$1=" flood.out | cut -d= -f2; }

alive_and_serving() {
  kill -0 "${pids[0]}" 2>/dev/null || { failed "the node ended: $(tail -5 node.err)"; return; }
  "$p21" cache put after v2 --connect "127.0.0.1:$port" "${good[@]}" >/dev/null 2>put.err ||
    failed "a TLS put after the flood: $(cat put.err)"
  local out
  out=$("$p21" cache get after --connect "127.0.0.1:$port" "${good[@]}" 2>get.err)
  [ "$out" = v2 ] || failed "a TLS get after the flood returned '$out': $(cat get.err)"
}

case $mode in
per_address)
  node 'handshake_timeout = "3s"'
  python3 flood.py "$port" "${pids[0]}" 127.0.0.2 1100 1.5 8 \
    "$p21" cache put during v1 --connect "127.0.0.1:$port" "${good[@]}" >flood.out
  cat flood.out
  count=$(value count)
  [ "$(value closed_at_once)" -ge $((count - 32)) ] ||
    failed "only $(value closed_at_once) of $count connections from one address were closed at once (bound: 32 relayed)"
  [ "$(value still_open_after_command)" -le 32 ] || failed "more than 32 connections from 127.0.0.2 stayed open"
  [ "$(value command_during_flood)" = 0 ] || failed "a TLS session from 127.0.0.1 failed during the flood"
  [ "$(value open_at_end)" = 0 ] || failed "$(value open_at_end) idle connections outlived the handshake deadline"
  [ "$(value node_alive)" = 1 ] || failed "the node ended during the flood"
  grep -q "refused .* connection(s) over the limits (32 connections from 127.0.0.2)" node.err ||
    failed "the refusals were not logged"
  alive_and_serving
  ;;
total)
  node 'max_connections_per_address = 1000000
handshake_timeout = "2s"'
  # A TLS session during the flood may be refused (the cap is full); the
  # node must not end for it.
  python3 flood.py "$port" "${pids[0]}" 127.0.0.1 1100 3 10 \
    "$p21" cache put during v1 --connect "127.0.0.1:$port" "${good[@]}" >flood.out
  cat flood.out
  [ "$(value node_alive)" = 1 ] || failed "the node ended during the flood: $(tail -5 node.err)"
  [ "$(value node_peak_fds)" -lt 1024 ] || failed "the node held $(value node_peak_fds) descriptors"
  [ "$(value open_at_end)" = 0 ] || failed "$(value open_at_end) idle connections outlived the handshake deadline"
  grep -q "relaying at most 213 connections" node.err ||
    failed "the node did not lower its connection cap to its descriptors"
  grep -q "cannot load certificate\|terminate" node.err && failed "CAF could not load the certificate"
  alive_and_serving
  ;;
deadline)
  node 'handshake_timeout = "1s"'
  cat > sessions.py <<'PY'
import socket, ssl, sys, time
port, d = int(sys.argv[1]), sys.argv[2]
def closed_within(sock, seconds):
    """True when the peer closes `sock` within `seconds` (what it sends is read and dropped)."""
    sock.settimeout(0.1)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            if not sock.recv(65536):
                return True
        except (socket.timeout, ssl.SSLWantReadError):
            continue
        except OSError:
            return True
    return False
ok = True
for name, version in (("TLS 1.3", ssl.TLSVersion.TLSv1_3), ("TLS 1.2", ssl.TLSVersion.TLSv1_2)):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ctx.maximum_version = version
    ctx.check_hostname = False  # the node's certificate names 127.0.0.1 in its CN, not a SAN
    ctx.load_cert_chain(f"{d}/node.pem", f"{d}/node.key")
    ctx.load_verify_locations(f"{d}/ca.pem")
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5))
    if closed_within(s, 3.0):
        print(f"FAILED: a finished {name} session was closed within 3 s (deadline 1 s)")
        ok = False
    else:
        print(f"{name} ({s.version()}) session open 3 s after its handshake")
    s.close()
idle = socket.create_connection(("127.0.0.1", port))
start = time.monotonic()
if closed_within(idle, 6.0):
    print(f"idle connection closed after {time.monotonic() - start:.1f} s")
else:
    print("FAILED: an idle connection was not closed within 6 s (deadline 1 s)")
    ok = False
# A ClientHello, then nothing: the handshake never ends.
raw = socket.create_connection(("127.0.0.1", port))
raw.setblocking(False)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
hello = ctx.wrap_socket(raw, do_handshake_on_connect=False)
try:
    hello.do_handshake()
except ssl.SSLWantReadError:
    pass
start = time.monotonic()
raw2 = socket.socket(fileno=hello.detach())  # read raw bytes from here on, answer nothing
if closed_within(raw2, 6.0):
    print(f"ClientHello-only connection closed after {time.monotonic() - start:.1f} s")
else:
    print("FAILED: a connection that only sent its ClientHello was not closed within 6 s")
    ok = False
sys.exit(0 if ok else 1)
PY
  python3 sessions.py "$port" "$dir" || fail=1
  kill -0 "${pids[0]}" 2>/dev/null || failed "the node ended"
  grep -q "no handshake within 1000 ms" node.err || failed "the deadline's closes were not logged"
  ;;
names)
  # Two more certificates from the same CA, with other names.
  for n in trusted other; do
    openssl req -newkey rsa:2048 -nodes -keyout $n.key -out $n.csr -subj "/CN=$n" 2>/dev/null
    openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out $n.pem -days 2 2>/dev/null
  done
  node '' 'accepted_names = ["trusted"]'
  as() { # as NAME [--tls-name X]: a put with NAME's certificate
    local n=$1; shift
    "$p21" cache put k v --connect "127.0.0.1:$port" --tls-cert $n.pem --tls-key $n.key \
      --tls-ca ca.pem --timeout 5s "$@" >as.out 2>as.err
  }
  as trusted || failed "a client whose certificate is named 'trusted' was refused: $(cat as.err)"
  as other && failed "a client whose certificate the CA signed but is named 'other' was let in"
  as node && failed "a client whose certificate is named '127.0.0.1' was let in"
  # This side checks the node's name too.
  as trusted --tls-name 127.0.0.1 || failed "--tls-name 127.0.0.1 refused the node: $(cat as.err)"
  as trusted --tls-name elsewhere && failed "--tls-name elsewhere accepted the node named 127.0.0.1"
  kill -0 "${pids[0]}" 2>/dev/null || failed "the node ended"
  ;;
bad_files)
  # A key that is not one, and an encrypted key: the start fails naming it.
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -aes-128-cbc -pass pass:secret \
    -out locked.key 2>/dev/null
  for key in ca.pem locked.key; do
    sed "s|@KEY@|$dir/$key|" >bad.toml <<TOML
[logging]
status_interval = "0s"
[database]
path = "bad.db"
[caches.shared]
max_entries = 100
[cluster.publish]
port = $port
actors = ["cache.shared"]
[cluster.tls]
certificate = "$dir/node.pem"
key = "@KEY@"
ca = "$dir/ca.pem"
TOML
    timeout 20 "$p21" run --config bad.toml </dev/null >bad.out 2>bad.err
    rc=$?
    [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || failed "a node with key $key started (exit $rc)"
    grep -q "\[cluster.tls\] key '$dir/$key': cannot load" bad.err ||
      failed "the failed start did not name the key $key: $(cat bad.err)"
  done
  ;;
*)
  echo "unknown mode $mode"; exit 2 ;;
esac

if [ "$fail" -ne 0 ]; then
  echo "--- node.err"; tail -40 node.err
  exit 1
fi
echo "$mode: passed"
