#!/usr/bin/env bash
# Installs the Debian bookworm packages Perfect21 needs to build and test.
# As root it runs apt-get itself; otherwise it prints the exact command and
# stops, so that `make run` / `make test` never fail later on a missing header.
set -euo pipefail

packages=(
  cmake make g++ git
  libcaf-dev libssl-dev
  libsqlite3-dev libspdlog-dev libtomlplusplus-dev
  libcli11-dev libcpp-httplib-dev nlohmann-json3-dev
  catch2 libbenchmark-dev
)

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
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "Perfect21 needs these Debian packages, which are not installed:" >&2
  echo "  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
