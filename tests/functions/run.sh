#!/usr/bin/env bash
# Model-local functions and control flow as AIMET saves it:
# - ONNX's conformance cases of function-bodied operators, rerun with the
#   operator as a model-local function (plain and nested in another
#   function; gen_function_cases.py), every case must pass;
# - test_functions.py: nested functions against ONNX Runtime, a PyTorch
#   export with modules as functions, an aimet_onnx QuantizationSimModel's
#   supergroup functions, aimet_onnx's LayerOutputUtil on If and Loop models.
# Usage: run.sh BUILD_DIR VENV_PYTHON
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(realpath "$1")
py=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/layerout-functions.XXXXXX")
trap 'rm -rf "$work"' EXIT
# the onnx wheel's node cases (cached in BUILD, shared with the conformance suite)
"$py" "$here/../conformance/gen_node_cases.py" "$build/onnx-node-cases"
"$py" "$here/gen_function_cases.py" "$work/cases" /usr/share/libonnx-testdata/data/node "$build/onnx-node-cases/node"
/usr/bin/python3 "$here/../conformance/run_conformance.py" "$build" --suite "functions=$work/cases" \
  --min-pass-rate 1.0 --quiet-report
"$py" "$here/test_functions.py" "$build/layerout" "$work/run"
