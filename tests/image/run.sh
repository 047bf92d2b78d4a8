#!/usr/bin/env bash
# ImageDecoder against Pillow (ONNX's reference): every format and variant,
# lying and truncated headers. Usage: run.sh BUILD_DIR PYTHON (the venv's,
# with Pillow and onnx). Closing line: "image: N passed, M failed".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: tests/image/run.sh BUILD_DIR PYTHON}
py=${2:-${LAYEROUT_VENV_PYTHON:-python3}}
[ -x "$build/lo_run_case" ] || { echo "image: $build/lo_run_case is not built"; echo "image: 0 passed, 1 failed"; exit 1; }
exec "$py" "$here/test_pillow.py" "$build"
