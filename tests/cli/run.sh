#!/usr/bin/env bash
# Command-line tests: builds fixtures with numpy/onnx (Debian's python3) and
# runs test_cli.py against the given layerout binary.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "$1")
work=$(mktemp -d "${TMPDIR:-/tmp}/layerout-cli.XXXXXX")
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 "$here/make_fixtures.py" "$work/fixtures"
/usr/bin/python3 "$here/test_cli.py" "$bin" "$work/fixtures" "$work/out"
