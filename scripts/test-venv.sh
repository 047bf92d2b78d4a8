#!/usr/bin/env bash
# Creates the repository's own virtual environment (.venv) with the Python packages
# that tests and benchmarks use as references. Never used by the product itself.
# Prints the path of the venv's python on its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv="$here/.venv"
stamp="$venv/.layerout-requirements"
req="$here/tests/requirements.txt"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && cmp -s "$req" "$stamp"; then
  echo "$venv/bin/python"; exit 0
fi
/usr/bin/python3 -m venv "$venv" >&2
"$venv/bin/python" -m pip install -q --upgrade pip >&2
"$venv/bin/python" -m pip install -q -r "$req" >&2
cp "$req" "$stamp"
echo "$venv/bin/python"
