#!/usr/bin/env bash
# Installs everything the tests need (Debian packages, and the reference
# Python packages into .venv), builds, and runs every test suite: unit tests,
# command-line tests, the ONNX conformance suite, the oracle test against ONNX
# Runtime, PyTorch and AIMET, and the unit and command-line tests again under
# AddressSanitizer and UndefinedBehaviorSanitizer.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bash scripts/install-deps.sh --test || exit 2
PY=$(bash scripts/test-venv.sh | tail -n 1) || exit 2
export LAYEROUT_VENV_PYTHON="$PY"
bash scripts/references.sh "$PY"  # the versions every result below was held against

jobs=$(nproc)
passed=0; failed=0; failures=()
suite() {  # suite NAME COMMAND...: runs one suite and tallies it
  local name=$1; shift
  echo "=== $name"
  local t0=$SECONDS
  if "$@"; then passed=$((passed + 1)); echo "=== $name: ok ($((SECONDS - t0)) s)"
  else failed=$((failed + 1)); failures+=("$name"); echo "=== $name: FAILED ($((SECONDS - t0)) s)"; fi
}
build() {  # build DIR [cmake args]
  local dir=$1; shift
  cmake -S . -B "$dir" "$@" >/dev/null && cmake --build "$dir" -j"$jobs" 2>&1 | grep -E "error|warning" ; test "${PIPESTATUS[0]}" -eq 0
}

suite "build (release)" build build -DCMAKE_BUILD_TYPE=Release
suite "unit tests" ctest --test-dir build --output-on-failure -j"$jobs"
suite "command-line tests" bash tests/cli/run.sh "$root/build/layerout"
suite "conformance" bash tests/conformance/run.sh "$root/build"
suite "conformance through the command line" /usr/bin/python3 tests/conformance/run_cli.py "$root/build" --jobs 2
suite "oracle (ONNX Runtime, PyTorch, AIMET)" bash tests/oracle/run_oracle.sh "$root/build/layerout" "$PY"
suite "fusion (unsaved intermediates fused, saved ones bit for bit, ORT)" bash tests/fusion/run.sh "$root/build" "$PY"
suite "benchmark smoke (not timed)" bash bench/run.sh --smoke
suite "naming schemes (hooks, AIMET, TorchScript)" bash tests/naming/run.sh "$root/build" "$PY"
suite "quantization (PyTorch, AIMET, ORT QDQ)" bash tests/quant/run.sh "$root/build" "$PY"
suite "compare (numpy, QNN-style dumps, Chromium)" bash tests/compare/run.sh "$root/build" "$PY"
suite "python package (LayerOutputUtil)" bash tests/python/run.sh "$root/build" "$PY"
suite "analyze (a degraded layer found)" "$PY" tests/compare/test_analyze.py "$root/build/layerout" "$root/build/analyze-test"
suite "image decoding (Pillow: every format, lying headers)" bash tests/image/run.sh "$root/build" "$PY"
suite "functions and control flow (ONNX cases, ORT, PyTorch, AIMET)" bash tests/functions/run.sh "$root/build" "$PY"
suite "hardening (broken files, kills, full disk, valgrind)" bash tests/hardening/run.sh "$root/build"
suite "shards (--shard, merge, folder lock, Ray)" bash tests/shard/run.sh "$root/build" "$PY"
suite "safetensors format (safetensors package, ORT, shards, kills)" bash tests/container/run.sh "$root/build" "$PY"
suite "install (pkg-config, find_package)" bash tests/install/run.sh "$root/build"
suite "build (ASan+UBSan)" build build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLAYEROUT_SANITIZE=ON
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
suite "unit tests (sanitizers)" ctest --test-dir build-asan --output-on-failure -j"$jobs"
suite "command-line tests (sanitizers)" bash tests/cli/run.sh "$root/build-asan/layerout"
suite "conformance (sanitizers)" bash tests/conformance/run.sh "$root/build-asan" --quiet-report
suite "fusion (sanitizers)" bash tests/fusion/run.sh "$root/build-asan" "$PY"
suite "hardening (sanitizers)" bash tests/hardening/run.sh "$root/build-asan" --no-valgrind
suite "fuzzing (libFuzzer, 60 s a target)" bash tests/fuzz/run.sh "$root/build-fuzz" 60

echo
[ ${#failures[@]} -eq 0 ] || echo "failed suites: ${failures[*]}"
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
