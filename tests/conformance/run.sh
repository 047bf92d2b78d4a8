#!/usr/bin/env bash
# The ONNX conformance suite: Debian's libonnx-testdata (ONNX 1.12, opsets up
# to 17). Fails when a case of an operator listed in required_ops.txt does not
# pass, or when a suite's pass rate falls below min_pass_rate.txt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(realpath "$1"); shift
data=/usr/share/libonnx-testdata/data
/usr/bin/python3 "$here/run_conformance.py" "$build" \
  --suite "node=$data/node" --suite "simple=$data/simple" \
  --suite "pytorch-converted=$data/pytorch-converted" --suite "pytorch-operator=$data/pytorch-operator" \
  --required "$here/required_ops.txt" --min-pass-rate "$(cat "$here/min_pass_rate.txt")" \
  --report "$root/docs/CONFORMANCE.md" "$@"
