#!/usr/bin/env bash
# The packaged unit, as `systemd-analyze security` rates it offline (no
# running systemd needed): overall exposure below 4.0, and still what the
# node needs to run (notify, its user, its state directory at 0750, a umask
# that keeps the database from other users, TCP and Unix sockets).
set -u
unit=$1
command -v systemd-analyze >/dev/null || { echo "systemd-analyze is missing (scripts/install-deps.sh --test)"; exit 1; }
out=$(systemd-analyze security --offline=true --no-pager "$unit" 2>&1)
level=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$out")
fail=0
if [ -z "$level" ]; then
  echo "no overall exposure level in systemd-analyze's output:"; echo "$out"; exit 1
fi
awk -v l="$level" 'BEGIN { exit !(l < 4.0) }' || { echo "exposure $level, expected below 4.0"; fail=1; }
need=(
  "Type=notify"
  "ExecStart=/usr/bin/p21 run --config /etc/perfect21/perfect21.toml"
  "User=perfect21"
  "StateDirectory=perfect21"
  "StateDirectoryMode=0750"
  "UMask=0027"
  "LimitNOFILE="
  "NoNewPrivileges=yes"
  "ProtectSystem=strict"
)
for line in "${need[@]}"; do
  grep -q "^$line" "$unit" || { echo "the unit lacks '$line'"; fail=1; }
done
families=$(sed -n 's/^RestrictAddressFamilies=//p' "$unit")
for f in AF_UNIX AF_INET AF_INET6; do
  grep -qw "$f" <<<"$families" || { echo "RestrictAddressFamilies lacks $f (the node's sockets)"; fail=1; }
done
# Whatever systemd would refuse in the unit shows as a warning here.
if grep -qi "unknown\|ignoring" <<<"$out"; then
  echo "systemd-analyze warns about the unit:"; grep -i "unknown\|ignoring" <<<"$out"; fail=1
fi
[ "$fail" -eq 0 ] || { echo "--- systemd-analyze"; echo "$out"; exit 1; }
echo "$unit: exposure $level (below 4.0), with what the node needs"
