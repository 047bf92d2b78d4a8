#!/usr/bin/env bash
# Installs what layerout needs, builds it, and dumps every layer of the small
# example model that the repository ships.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
echo "built build/layerout; running the example:"
echo "+ build/layerout generate examples/tiny_cnn.onnx -i examples/input.npy -o example_dump --overwrite"
build/layerout generate examples/tiny_cnn.onnx -i examples/input.npy -o example_dump --overwrite
echo "the dump is in $(pwd)/example_dump:"
ls example_dump example_dump/outputs/layer_outputs_0 | sed 's/^/  /'
