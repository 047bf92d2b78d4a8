#!/usr/bin/env bash
# Fusion tests: tests/fusion/run.sh BUILD_DIR VENV_PYTHON
#   each fused pattern run with everything saved (unfused) and with the
#   intermediates unsaved: saved tensors bit for bit equal, ONNX Runtime as
#   the reference, the fused path taken (tests/fusion/test_fusion.py).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(realpath "$1")
py=$2
work=${LAYEROUT_FUSION_WORK:-$build/fusion-test}
rm -rf "$work"
"$py" "$here/test_fusion.py" "$build/layerout" "$work"
