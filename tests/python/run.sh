#!/usr/bin/env bash
# Python package tests: tests/python/run.sh BUILD_DIR VENV_PYTHON
#   Runs the pytest tests of both LayerOutputUtil classes from python/ against
#   BUILD_DIR's liblayerout.so and layerout command; test_install.py installs
#   the package with `pip install ./python` offline into a fresh venv (build
#   requirements from a wheelhouse filled once from PyPI into BUILD_DIR, or
#   $LAYEROUT_WHEELHOUSE) and runs the drop-ins from there. Models come from
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
# The package as it is in the tree (no liblayerout inside: BUILD_DIR's is
# used through LAYEROUT_LIBRARY); test_install.py builds and installs it
# with pip into a fresh venv, as the README says.
export PYTHONPATH=$root/python
where=$("$py" -c 'import layerout; print(layerout.__file__)')
case "$where" in
  "$root/python/"*) ;;
  *) echo "python: the tests would import layerout from $where, not $root/python"; echo "python: 0 passed, 1 failed"; exit 1 ;;
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
