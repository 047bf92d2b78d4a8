#!/usr/bin/env bash
# Naming-scheme tests: tests/naming/run.sh BUILD_DIR VENV_PYTHON
#   pytorch scheme against forward hooks (6 torchvision models x ts13, ts17,
#   dynamo), onnx/qnn schemes on adversarial names, aimet_torch's
#   LayerOutputUtil (skipped if aimet_torch does not import), and
#   tools/torchscript_names.py with --name-map.
# Exports are cached in $LAYEROUT_NAMING_WORK (default BUILD_DIR/naming).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(realpath "$1")
py=$2
bin=$build/layerout
work=${LAYEROUT_NAMING_WORK:-$build/naming}
mkdir -p "$work"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

for v in ts13 ts17; do /usr/bin/python3 "$here/hooks_export.py" --work "$work/hooks" --variant $v; done
"$py" "$here/hooks_export.py" --work "$work/hooks" --variant dynamo
"$py" "$here/check_pytorch.py" "$bin" "$work/hooks" | tee -a "$log"
/usr/bin/python3 "$here/test_sanitize.py" "$bin" "$work/sanitize" | tee -a "$log"
"$py" "$here/test_aimet.py" "$bin" "$work/aimet" 2>/dev/null | tee -a "$log"
"$py" "$here/test_torchscript_map.py" "$bin" "$work/tsmap" 2>/dev/null | tee -a "$log"

passed=0; failed=0; suites=0
while read -r p f; do passed=$((passed + p)); failed=$((failed + f)); suites=$((suites + 1)); done \
  < <(sed -nE 's/^[a-z ]+: ([0-9]+) passed, ([0-9]+) failed.*/\1 \2/p' "$log")
[ "$suites" -eq 4 ] || { echo "naming: a test script did not finish ($suites of 4 reported)"; failed=$((failed + 1)); }
echo "naming: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
