#!/usr/bin/env bash
# A user links Perfect21 like any Debian library: `cmake --install` into a
# scratch prefix, then examples/embed built with plain g++ and
# `pkg-config --cflags --libs perfect21` (which carries CAF's flags), run,
# and checked to load libperfect21.so.N by its SONAME. The shared library
# exports namespace p21 only (cmake/libperfect21.map): no CAF, std, fmt or
# spdlog symbol of ours can bind a program's own copies.
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
[ "$libdir" = "$work/prefix/lib/$(gcc -print-multiarch)" ] || [ -d "$libdir" ] || fail "libdir $libdir does not exist"
# shellcheck disable=SC2086 # the flags are words
g++ -std=c++17 $extra -o "$work/embed" "$source/examples/embed/main.cpp" $flags -Wl,-rpath,"$libdir" \
  || fail "g++ with pkg-config's flags"
out=$("$work/embed" 2>&1) || fail "the embed example failed: $out"
grep -q '40 + 2 = 42' <<<"$out" || fail "unexpected output: $out"
dynamic=$(readelf -d "$work/embed")
grep -q 'NEEDED.*\[libperfect21\.so\.[0-9]*\]' <<<"$dynamic" || fail "embed does not load libperfect21.so.N:
$dynamic"
! grep -q -E 'caf_openssl|libssl|libcrypto' <<<"$dynamic" || fail "embed links OpenSSL although it does not use TLS"
lib=$(readlink -f "$libdir"/libperfect21.so)
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[[ "$soname" =~ ^libperfect21\.so\.[0-9]+$ ]] || fail "SONAME of $lib is '$soname'"
# Every exported symbol is in namespace p21 (mangled: N3p21 right after the
# prefix of its kind), plus the version node's name.
exported=$(nm -D --defined-only "$lib" | awk '{print $3}')
count=$(wc -l <<<"$exported")
strays=$(grep -v -E '^(_Z(N|NK|TIN|TSN|TVN|TTN|ZN|ZNK|GVN|GVZN|GVZNK)3p21|_Z(Thn|Tv0_n)[0-9]+_NK?3p21|PERFECT21_[0-9]+$)' <<<"$exported")
[ -z "$strays" ] || fail "symbols outside namespace p21 exported by $lib:
$(c++filt <<<"$strays" | head -20)"
[ "$count" -gt 100 ] || fail "only $count exported symbols: is the API hidden?"
echo "embed built with pkg-config and g++ ran: $out"
echo "$lib: SONAME $soname, $count exported symbols, all in namespace p21"
