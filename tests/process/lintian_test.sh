#!/usr/bin/env bash
# The Debian packages pass lintian: no error and no warning (the info and
# pedantic tags that remain are printed, not failed on; docs/deployment.md
# lists them). Lintian warns when it runs as root, and runs anyway.
set -u
deb_dir=$1
command -v lintian >/dev/null || { echo "lintian is missing (scripts/install-deps.sh --test)"; exit 1; }
shopt -s nullglob
debs=("$deb_dir"/*.deb)
if [ ${#debs[@]} -ne 3 ]; then
  echo "expected the three packages (perfect21, libperfect21-N, libperfect21-dev) in $deb_dir, found: ${debs[*]}"
  exit 1
fi
out=$(lintian --pedantic --display-info --fail-on error,warning "${debs[@]}" 2>&1)
rc=$?
echo "$out"
if [ $rc -ne 0 ] || grep -q '^[EW]: ' <<<"$out"; then
  echo "lintian found errors or warnings (exit $rc)"
  exit 1
fi
echo "lintian: no error, no warning in ${#debs[@]} packages"
