#!/usr/bin/env bash
# Installs the Debian bookworm packages Perfect21 needs to build and test
# (help2man writes p21's manual page; dpkg-dev's dpkg-shlibdeps and `file`
# give `make package` its dependencies).
# As root it runs apt-get itself; otherwise it prints the exact command and
# stops, so that `make run` / `make test` never fail later on a missing header.
set -euo pipefail

packages=(
  cmake make g++ git
  libcaf-dev libssl-dev
  libsqlite3-dev libspdlog-dev libtomlplusplus-dev
  libcli11-dev libcpp-httplib-dev nlohmann-json3-dev
  libmicrohttpd-dev pkg-config libhiredis-dev
  liburcu-dev libxxhash-dev
  catch2 libbenchmark-dev
  help2man dpkg-dev file
)
# `--test`: also what the test suite needs (promtool checks /metrics and
# rules, a real Prometheus scrapes a node, headless chromium loads the
# dashboard with a font to render it, the openssl command makes the cluster
# TLS test's certificates, the Redis tier's tests start their own
# redis-server, systemd-analyze rates the packaged unit offline: package
# systemd, installed without starting anything in a container; lintian
# checks the Debian packages; libasio-dev builds the Asio example).
if [[ "${1:-}" == "--test" ]]; then
  packages+=(prometheus openssl redis-server chromium fonts-dejavu-core systemd lintian)
  # examples/asio_server (standalone Asio, header-only) and its load test.
  packages+=(libasio-dev)
  # The fuzz targets (asan preset): clang and libFuzzer.
  packages+=(clang-14 libfuzzer-14-dev libclang-rt-14-dev)
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
  echo "installing missing packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Packages with a daemon (prometheus) must not start it here.
  policy=/usr/sbin/policy-rc.d
  created_policy=false
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created_policy=true
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  if $created_policy; then rm -f "$policy"; fi
else
  echo "Perfect21 needs these Debian packages, which are not installed:" >&2
  echo "  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
