#!/usr/bin/env bash
# Hardening tests: builds the broken fixtures with Debian's python3
# (numpy, onnx), then runs test_hardening.py against BUILD_DIR/layerout.
# Ends with "hardening: N passed, M failed". Extra arguments (--no-valgrind)
# go to test_hardening.py.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: tests/hardening/run.sh BUILD_DIR [--no-valgrind]}
shift
bin=$(realpath "$build/layerout")
work=$(mktemp -d "${TMPDIR:-/tmp}/layerout-hardening.XXXXXX")
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 "$here/make_broken.py" "$work/fixtures" >/dev/null
/usr/bin/python3 "$here/test_hardening.py" "$bin" "$work/fixtures" "$work/run" "$@"
