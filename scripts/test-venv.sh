#!/usr/bin/env bash
# Creates the repository's own virtual environment (.venv) with the Python packages
# that tests and benchmarks use as references. Never used by the product itself.
# It installs exactly tests/requirements.lock: every package with its version,
# without dependency resolution (--no-deps), so two machines, or two runs after
# deleting .venv, test against the same references. Packages the lock does not
# name are removed, `pip check` must pass and `pip freeze` must equal the lock.
# The stamp is the lock's SHA-256: editing the lock reinstalls, nothing else does.
# Prints the path of the venv's python on its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv="$here/.venv"
stamp="$venv/.layerout-requirements"
lock="$here/tests/requirements.lock"
want=$(sha256sum "$lock" | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "$venv/bin/python"; exit 0
fi
# name==version lines only, names normalized as PyPI does (PEP 503).
pins() { grep -E '^[A-Za-z0-9]' "$1" | sed -E 's/[[:space:]]*(#.*)?$//' |
         awk -F'==' '{n=tolower($1); gsub(/[-_.]+/, "-", n); print n "==" $2}' | LC_ALL=C sort; }
[ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv "$venv" >&2
py="$venv/bin/python"
rm -f "$stamp"
pip_pin=$(pins "$lock" | grep '^pip==' || true)
[ -n "$pip_pin" ] && "$py" -m pip install -q "$pip_pin" >&2
"$py" -m pip install -q --no-deps -r "$lock" >&2
extra=$(comm -13 <(pins "$lock" | cut -d= -f1) <("$py" -m pip freeze --all | pins /dev/stdin | cut -d= -f1))
if [ -n "$extra" ]; then
  echo "test-venv: removing packages the lock does not name: $(echo $extra)" >&2
  # shellcheck disable=SC2086
  "$py" -m pip uninstall -q -y $extra >&2
fi
"$py" -m pip check >&2
if ! diff <(pins "$lock") <("$py" -m pip freeze --all | pins /dev/stdin) >&2; then
  echo "test-venv: .venv does not hold exactly tests/requirements.lock (diff above)" >&2
  exit 2
fi
echo "$want" > "$stamp"
echo "$py"
