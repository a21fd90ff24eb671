#!/usr/bin/env bash
# A user links Perfect21 like any Debian library: `cmake --install` into a
# scratch prefix, then examples/embed, memoize and custom_actor built with
# plain g++ and `pkg-config --cflags --libs perfect21` (which carries CAF's
# flags), run, and embed checked to load libperfect21.so.N by its SONAME.
# The shared library exports namespace p21 only, without the subsystems'
# p21::NAME_detail (cmake/libperfect21.map): no CAF, std, fmt or spdlog
# symbol of ours can bind a program's own copies.
# Arguments: BUILD_DIR SOURCE_DIR WORK_DIR [EXTRA_FLAGS]
set -u
build=$1 source=$2 work=$3 extra=${4:-}
fail() { echo "FAIL: $*"; exit 1; }
rm -rf "$work" && mkdir -p "$work"
cmake --install "$build" --prefix "$work/prefix" >"$work/install.log" 2>&1 \
  || { cat "$work/install.log"; fail "cmake --install"; }
pc=$(find "$work/prefix" -name perfect21.pc)
[ -n "$pc" ] || fail "no perfect21.pc installed under $work/prefix"
export PKG_CONFIG_PATH=$(dirname "$pc")
flags=$(pkg-config --cflags --libs perfect21) || fail "pkg-config --cflags --libs perfect21"
echo "pkg-config --cflags --libs perfect21: $flags"
grep -q -- '-lcaf_core' <<<"$flags" || fail "the flags lack CAF's library: $flags"
libdir=$(pkg-config --variable=libdir perfect21)
[ -d "$libdir" ] || fail "pkg-config's libdir $libdir does not exist"
# The three examples, each with plain g++ and pkg-config's flags: their
# calls into the library must all resolve among its exported symbols.
declare -A expected=(
  [embed]='40 \+ 2 = 42'
  [memoize]='square\(12\) = 144 three times, computed 2 times'
  [custom_actor]='restarted 1 time\(s\); then viewed 3 times; cache says 3'
)
for example in embed memoize custom_actor; do
  # shellcheck disable=SC2086 # the flags are words
  g++ -std=c++17 $extra -o "$work/$example" "$source/examples/$example/main.cpp" $flags -Wl,-rpath,"$libdir" \
    || fail "g++ of examples/$example with pkg-config's flags"
  out=$("$work/$example" 2>&1) || fail "examples/$example failed: $out"
  grep -q -E "${expected[$example]}" <<<"$out" || fail "unexpected output of examples/$example: $out"
  echo "examples/$example built with pkg-config and g++, ran: $out"
done
dynamic=$(readelf -d "$work/embed")
grep -q 'NEEDED.*\[libperfect21\.so\.[0-9]*\]' <<<"$dynamic" || fail "embed does not load libperfect21.so.N:
$dynamic"
! grep -q -E 'caf_openssl|libssl|libcrypto' <<<"$dynamic" || fail "embed links OpenSSL although it does not use TLS"
lib=$(readlink -f "$libdir"/libperfect21.so)
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[[ "$soname" =~ ^libperfect21\.so\.[0-9]+$ ]] || fail "SONAME of $lib is '$soname'"
# libmicrohttpd (and GnuTLS with it) is loaded with dlopen when an HTTP
# server starts, never at load (actors/http/microhttpd_library.hpp).
! readelf -d "$lib" | grep -q -E 'NEEDED.*(microhttpd|gnutls)' || fail "$lib links libmicrohttpd"
# Every exported symbol is in namespace p21 (mangled: N3p21 right after the
# prefix of its kind), plus the version node's name.
exported=$(nm -D --defined-only "$lib" | awk '{print $3}')
count=$(wc -l <<<"$exported")
strays=$(grep -v -E '^(_Z(N|NK|TIN|TSN|TVN|TTN|ZN|ZNK|GVN|GVZN|GVZNK)3p21|_Z(Thn|Tv0_n)[0-9]+_NK?3p21|PERFECT21_[0-9]+$)' <<<"$exported")
[ -z "$strays" ] || fail "symbols outside namespace p21 exported by $lib:
$(c++filt <<<"$strays" | head -20)"
[ "$count" -gt 100 ] || fail "only $count exported symbols: is the API hidden?"
# ... and none in a subsystem's implementation namespace p21::NAME_detail.
internal=$(grep -E '^_Z[A-Za-z0-9_]*3p21[0-9]+[a-z_]+_detail' <<<"$exported")
[ -z "$internal" ] || fail "p21::*_detail symbols exported by $lib:
$(c++filt <<<"$internal" | head -20)"
echo "$lib: SONAME $soname, $count exported symbols, all in namespace p21, none in p21::*_detail"
# Passed: the scratch prefix (a whole install, 2 GB under ASan) goes, so
# that the suite's disk use stays bounded; a failure above leaves it to read.
rm -rf "$work"
