#!/usr/bin/env bash
# Tests of `layerout compare`: BUILD_DIR holds the layerout binary; VENV_PYTHON
# has numpy and onnx. Needs Chromium (Debian package `chromium`) for the HTML
# test; its screenshot is kept in BUILD_DIR/test-artifacts/.
# Ends with "compare: N passed, M failed"; non-zero exit on any failure.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ $# -ne 2 ]; then
    echo "usage: $0 BUILD_DIR VENV_PYTHON" >&2
    exit 2
fi
build=$(realpath "$1")
python=$2
if [ ! -x "$build/layerout" ]; then
    echo "compare: $build/layerout not found"
    echo "compare: 0 passed, 1 failed"
    exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/layerout-compare.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$python" "$here/test_compare.py" "$build/layerout" "$work" "$build/test-artifacts" 2>&1 | tee "$work/log"
rc=${PIPESTATUS[0]}
# a crash of the test script still ends with the closing line, as a failure
if ! tail -n 1 "$work/log" | grep -q '^compare: [0-9]* passed, [0-9]* failed$'; then
    echo "the test script stopped early (exit $rc)"
    echo "compare: 0 passed, 1 failed"
    [ $rc -eq 0 ] && rc=1
fi
exit $rc
