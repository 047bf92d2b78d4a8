#!/usr/bin/env bash
# The ONNX conformance suite, as two suites reported separately:
# - Debian's libonnx-testdata (ONNX 1.12, opsets up to 17): node/, simple/,
#   pytorch-converted/, pytorch-operator/;
# - the node cases of the newest onnx wheel (the venv's). The wheel ships no
#   test data, only the generators, so gen_node_cases.py writes the cases into
#   BUILD/onnx-node-cases once per onnx version (cached).
# Fails when a case of an operator listed in required_ops.txt does not pass,
# or when a suite's pass rate falls below min_pass_rate.txt.
# Usage: run.sh BUILD_DIR [run_conformance.py options]
# The venv Python comes from LAYEROUT_VENV_PYTHON (scripts/test.sh sets it),
# else the repository's .venv.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(realpath "$1"); shift
data=/usr/share/libonnx-testdata/data
py=${LAYEROUT_VENV_PYTHON:-$root/.venv/bin/python}
if [ ! -x "$py" ]; then
  echo "conformance: no venv Python at $py to generate the onnx wheel's node cases" >&2
  exit 2
fi
"$py" "$here/gen_node_cases.py" "$build/onnx-node-cases"
refs=$(mktemp); trap 'rm -f "$refs"' EXIT
bash "$root/scripts/references.sh" --markdown "$py" > "$refs"
/usr/bin/python3 "$here/run_conformance.py" "$build" \
  --suite "node=$data/node" --suite "simple=$data/simple" \
  --suite "pytorch-converted=$data/pytorch-converted" --suite "pytorch-operator=$data/pytorch-operator" \
  --suite "onnx-wheel-node=$build/onnx-node-cases/node" \
  --group "debian=node,simple,pytorch-converted,pytorch-operator" --group "onnx-wheel=onnx-wheel-node" \
  --wheel-onnx "$("$py" -c 'import onnx; print(onnx.__version__, "opset", onnx.defs.onnx_opset_version())')" \
  --spec-python "$py" --references "$refs" \
  --required "$here/required_ops.txt" --min-pass-rate "$here/min_pass_rate.txt" \
  --report "$root/docs/CONFORMANCE.md" "$@"
