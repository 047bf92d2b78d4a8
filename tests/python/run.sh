#!/usr/bin/env bash
# Python package tests: tests/python/run.sh BUILD_DIR VENV_PYTHON
#   Installs python/ offline (pip --no-build-isolation, as a user would) into a
#   private folder, then runs the pytest tests of both LayerOutputUtil classes
#   against BUILD_DIR's liblayerout.so and layerout command. Models come from
#   the oracle test's cache (BUILD_DIR/oracle or $LAYEROUT_ORACLE_WORK) when
#   present; otherwise the tests export their own.
# Ends with "python: N passed, M failed"; exit status 1 on any failure.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(realpath "$1")
py=${2:-python3}
# absolute (the tests cd below), but not realpath: a venv's python is a symlink
case "$py" in */*) py="$(cd "$(dirname "$py")" && pwd)/$(basename "$py")" ;; esac
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
export LAYEROUT_LIBRARY=$build/liblayerout.so
export LAYEROUT_BINARY=$build/layerout
export LAYEROUT_PYTEST_WORK=${LAYEROUT_PYTEST_WORK:-$build/python-tests}
[ -f "$LAYEROUT_LIBRARY" ] || { echo "python: no $LAYEROUT_LIBRARY (build first)"; echo "python: 0 passed, 1 failed"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# pip builds in the source tree; a copy keeps build/ and *.egg-info out of python/
cp -r "$root/python" "$tmp/src"
if ! "$py" -m pip install --quiet --no-build-isolation --no-deps --no-index --target "$tmp/site" "$tmp/src" \
     >"$tmp/pip.log" 2>&1; then
  cat "$tmp/pip.log"
  echo "python: 0 passed, 1 failed (pip install --no-build-isolation ./python failed)"
  exit 1
fi
export PYTHONPATH=$tmp/site
where=$("$py" -c 'import layerout; print(layerout.__file__)')
case "$where" in
  "$tmp/site/"*) ;;
  *) echo "python: the tests would import layerout from $where, not the installed copy"; echo "python: 0 passed, 1 failed"; exit 1 ;;
esac

# pytest: the venv's, else Debian's python3-pytest
runner=("$py" -m pytest)
"$py" -c 'import pytest' 2>/dev/null || runner=(/usr/bin/python3 -m pytest)
cd "$here" || exit 1
"${runner[@]}" -q -p no:cacheprovider -o "tmp_path_retention_policy=failed" --basetemp "$tmp/pytest" . 2>&1 | tee "$tmp/log"
status=${PIPESTATUS[0]}
summary=$(tail -n 1 "$tmp/log")
passed=$(sed -nE 's/.* ([0-9]+) passed.*/\1/p; s/^([0-9]+) passed.*/\1/p' <<<"$summary" | head -n 1)
failed=$(grep -oE '[0-9]+ (failed|error|errors)' <<<"$summary" | awk '{s += $1} END {print s + 0}')
passed=${passed:-0}
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "python: $passed passed, $failed failed"
[ "$status" -eq 0 ]
