#!/usr/bin/env bash
# Quantization-simulation tests: PyTorch fake-quant reference, AIMET's own
# QuantizationSimModel and LayerOutputUtil (values, and its set of files on
# real exports: aimet_sets.py), ONNX Runtime QDQ, and bad encodings files
# through the command line.
#
#   tests/quant/run.sh BUILD_DIR VENV_PYTHON [--only reference|qdq|aimet|aimet-sets|bad ...]
#
# Ends with "quant: N passed, M failed"; exit status 1 when any failed.
set -uo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 BUILD_DIR VENV_PYTHON [run_quant.py options]" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
build=$(realpath "$1")
py=$2
shift 2
if [ ! -x "$build/layerout" ]; then
    echo "quant: $build/layerout is not an executable" >&2
    echo "quant: 0 passed, 1 failed"
    exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/layerout-quant.XXXXXX")
trap 'rm -rf "$work"' EXIT
# One thread each for torch and ORT: the machine has two cores and layerout
# takes them.
OMP_NUM_THREADS=1 "$py" "$here/run_quant.py" --layerout "$build/layerout" --work "$work" "$@"
