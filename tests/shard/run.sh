#!/usr/bin/env bash
# Sharding tests: --shard K/N, layerout merge, the dump folder's lock and its
# promise under concurrent and killed writers (test_shard.py), then, when the
# given Python has Ray, layerout.distributed on a two-node local Ray cluster
# (test_ray.sh), and a LayerOutputUtil made again on its own folder
# (test_takeover.py). Uses Debian's python3 (numpy, onnx) for the fixtures.
# Ends with "shard: N passed, M failed" (and "ray: N failed" when Ray runs).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: tests/shard/run.sh BUILD_DIR [PYTHON_WITH_RAY]}
py=${2:-${LAYEROUT_VENV_PYTHON:-}}
bin=$(realpath "$build/layerout")
work=$(mktemp -d "${TMPDIR:-/tmp}/layerout-shard.XXXXXX")
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 "$here/test_shard.py" "$bin" "$work/cli"
if [ -n "$py" ]; then
  LAYEROUT_LIBRARY=$(realpath "$build/liblayerout.so") PYTHONPATH="$here/../../python${PYTHONPATH:+:$PYTHONPATH}" \
    "$py" "$here/test_takeover.py" "$bin" "$work/takeover"
fi
if [ -n "$py" ] && "$py" -c "import ray" 2>/dev/null; then
  bash "$here/test_ray.sh" "$bin" "$py" "$work/ray"
else
  echo "layerout.distributed on Ray: skipped (no Python with ray given)"
fi
