#!/usr/bin/env bash
# Prints the versions of the references the tests hold layerout against: the
# PyPI packages of the tests' venv that matter (all of them are pinned in
# tests/requirements.lock) and the Debian packages (PyTorch 1.13 exporter,
# ONNX 1.12 and its conformance data, oneDNN, protobuf-c, the compilers).
# Usage: references.sh [--markdown] VENV_PYTHON
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
md=0
if [ "${1:-}" = "--markdown" ]; then md=1; shift; fi
py=${1:?usage: references.sh [--markdown] VENV_PYTHON}
lock="$here/tests/requirements.lock"
pypi=$("$py" - <<'PY'
import importlib.metadata as m, platform
names = ["numpy", "onnx", "onnxruntime", "onnxscript", "onnx-ir", "torch", "torchvision", "aimet-onnx",
         "aimet-torch", "ml_dtypes", "protobuf", "pytest", "ray", "pillow", "safetensors"]
out = ["python %s" % platform.python_version()]
for n in names:
    try:
        out.append("%s %s" % (n, m.version(n)))
    except m.PackageNotFoundError:
        out.append("%s (absent)" % n)
print(", ".join(out))
PY
)
debs=()
for p in python3-torch python3-torchvision python3-onnx libonnx-testdata libonnx-dev libdnnl-dev \
         libprotobuf-c-dev protobuf-c-compiler libjansson-dev libpng-dev libtiff-dev libstb-dev \
         libjpeg62-turbo-dev libwebp-dev libopenjp2-7-dev gcc clang cmake; do
  v=$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || true)
  debs+=("$p ${v:-(absent)}")
done
debian=$(IFS=,; echo "${debs[*]}" | sed 's/,/, /g')
sum=$(sha256sum "$lock" | cut -c1-16)
n=$(grep -cE '^[A-Za-z0-9]' "$lock")
if [ $md -eq 1 ]; then
  echo "- PyPI, the tests' \`.venv\` (\`tests/requirements.lock\`, $n packages, sha256 $sum...): $pypi"
  echo "- Debian 12 packages: $debian"
else
  echo "references: tests/requirements.lock ($n packages, sha256 $sum...)"
  echo "  pypi:   $pypi"
  echo "  debian: $debian"
fi
