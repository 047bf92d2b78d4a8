#!/usr/bin/env bash
# Tests of `layerout compare` and `layerout extract`: BUILD_DIR holds the
# layerout binary; VENV_PYTHON has numpy, onnx and onnxruntime. Needs
# Chromium (Debian package `chromium`) for the HTML tests; their screenshots
# are kept in BUILD_DIR/test-artifacts/.
#   test_compare.py      metrics, matching, QNN folders, the 10-tensor report
#   test_reports.py      every CSV and JSON value recomputed with numpy
#   test_report_html.py  the report of a 250+ tensor model in Chromium
#   test_extract.py      repro packs from a float and a quantized dump
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
total_pass=0
total_fail=0
rc=0
for script in test_compare.py test_reports.py test_report_html.py test_extract.py; do
    "$python" "$here/$script" "$build/layerout" "$work" "$build/test-artifacts" 2>&1 | tee "$work/log"
    src=${PIPESTATUS[0]}
    # a crash of a test script still counts, as a failure
    last=$(tail -n 1 "$work/log")
    if [[ "$last" =~ ^[a-z0-9]+:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        total_pass=$((total_pass + BASH_REMATCH[1]))
        total_fail=$((total_fail + BASH_REMATCH[2]))
    else
        echo "$script stopped early (exit $src)"
        total_fail=$((total_fail + 1))
    fi
    [ "$src" -ne 0 ] && rc=1
done
[ $total_fail -ne 0 ] && rc=1
echo "compare: $total_pass passed, $total_fail failed"
exit $rc
