#!/usr/bin/env bash
# The safetensors output format (one file per sample): every saved tensor
# read back with Hugging Face's safetensors package and checked against ONNX
# Runtime; compare, extract, merge, --shard, --append, kills and a full disk
# on such dumps; the Python package's reader. Needs the references' Python
# (onnx, onnxruntime, safetensors, torch). Ends with "container: N passed, M failed".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: tests/container/run.sh BUILD_DIR PYTHON}
py=${2:-${LAYEROUT_VENV_PYTHON:?usage: tests/container/run.sh BUILD_DIR PYTHON}}
work=$(mktemp -d "${TMPDIR:-/tmp}/layerout-container.XXXXXX")
trap 'rm -rf "$work"' EXIT
LAYEROUT_LIBRARY=$(realpath "$build/liblayerout.so") PYTHONPATH="$here/../../python${PYTHONPATH:+:$PYTHONPATH}" \
  "$py" "$here/test_safetensors.py" "$(realpath "$build/layerout")" "$work"
