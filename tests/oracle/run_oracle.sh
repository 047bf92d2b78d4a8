#!/bin/sh
# Oracle test of `layerout generate` (issue 2): export PyTorch models to ONNX,
# run layerout on them and compare every saved tensor with ONNX Runtime, the
# final output with PyTorch, and the whole dump with AIMET's LayerOutputUtil.
#
#   tests/oracle/run_oracle.sh LAYEROUT_BINARY VENV_PYTHON [run_oracle.py options]
#
# Options after the two paths go to run_oracle.py: --aimet all|one|none,
# --only MODEL[/VARIANT] ..., --threads N, --timeout SECONDS, --keep (keep the
# dumps of passing models; failing ones are always kept under WORK/runs/).
# Environment: LAYEROUT_ORACLE_WORK  cache and work folder (default build/oracle
#              under the repository); exports there are reused.
#              LAYEROUT_ORACLE_SYSTEM_PYTHON  the Python with Debian's torch 1.13
#              for the TorchScript-based exports (default /usr/bin/python3).
set -u
if [ $# -lt 2 ]; then
    echo "usage: $0 LAYEROUT_BINARY VENV_PYTHON [run_oracle.py options]" >&2
    exit 2
fi
LAYEROUT=$1
VENV_PY=$2
shift 2
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK=${LAYEROUT_ORACLE_WORK:-$ROOT/build/oracle}
SYSTEM_PY=${LAYEROUT_ORACLE_SYSTEM_PYTHON:-/usr/bin/python3}
case $LAYEROUT in /*) ;; *) LAYEROUT=$(pwd)/$LAYEROUT ;; esac
mkdir -p "$WORK" || exit 2
if [ ! -x "$LAYEROUT" ]; then
    echo "oracle: $LAYEROUT is not an executable" >&2
    exit 2
fi

start=$(date +%s)
# Both exporters at once: they are cached after the first run, and on two
# cores the first run takes about 20 s this way.
if "$SYSTEM_PY" -c 'import torch, torchvision, onnx' 2>"$WORK/system-python.err"; then
    "$SYSTEM_PY" "$HERE/export_models.py" --work "$WORK" --exporter torchscript &
    ts_pid=$!
else
    echo "oracle: TorchScript-based exports unavailable: $SYSTEM_PY -c 'import torch, torchvision, onnx' failed: $(tail -n 1 "$WORK/system-python.err")"
    ts_pid=
fi
"$VENV_PY" "$HERE/export_models.py" --work "$WORK" --exporter dynamo
[ -n "$ts_pid" ] && wait "$ts_pid"
echo "oracle: exports ready in $(( $(date +%s) - start )) s (cache: $WORK)"

exec "$VENV_PY" "$HERE/run_oracle.py" --layerout "$LAYEROUT" --work "$WORK" "$@"
