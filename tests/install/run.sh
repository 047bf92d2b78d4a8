#!/usr/bin/env bash
# The installed library, as others build on it: installs BUILD_DIR to a
# temporary prefix, then builds tests/install/hello.c against that prefix
# twice, with pkg-config and with find_package(layerout), and runs both.
# Ends with "install: N passed, M failed".
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(realpath "$1")
work=$(mktemp -d "${TMPDIR:-/tmp}/layerout-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
pass=0 fail=0
check() {  # check NAME COMMAND...
    if "${@:2}" > "$work/log" 2>&1; then
        pass=$((pass + 1)); echo "PASS $1"
    else
        fail=$((fail + 1)); echo "FAIL $1"; sed 's/^/    /' "$work/log" | tail -20
    fi
}
prefix=$work/prefix
check "cmake --install" cmake --install "$build" --prefix "$prefix"
libdir=$(dirname "$(find "$prefix" -name layerout.pc | head -1)")/..
export PKG_CONFIG_PATH=$libdir/pkgconfig
check "pkg-config knows layerout" pkg-config --exists layerout
check "pkg-config build" sh -c "cc -std=c11 -Wall -Werror -o '$work/hello_pc' '$here/hello.c' \
    \$(pkg-config --cflags --libs layerout) -Wl,-rpath,'$libdir'"
check "pkg-config program runs" "$work/hello_pc"
check "find_package configure" cmake -S "$here" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_BUILD_RPATH="$libdir"
check "find_package build" cmake --build "$work/consumer"
check "find_package program runs" "$work/consumer/hello"
# the installed command runs on the installed library, found through its
# RPATH ($ORIGIN/../lib), with no LD_LIBRARY_PATH
cli_lib=$(env -u LD_LIBRARY_PATH ldd "$prefix/bin/layerout" | awk '/liblayerout.so/ {print $3}')
check "installed command finds the installed library ($cli_lib)" \
    test "$(realpath "$cli_lib")" = "$(realpath "$libdir/liblayerout.so.0")"
check "installed command runs" sh -c "env -u LD_LIBRARY_PATH '$prefix/bin/layerout' --version"
# only what layerout.h declares is exported
check "exports only lo_* symbols" sh -c "! nm -D --defined-only '$libdir'/liblayerout.so | awk '{print \$3}' | grep -v '^lo_'"
echo "install: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
