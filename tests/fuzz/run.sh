#!/usr/bin/env bash
# Builds the libFuzzer targets into BUILD_DIR (clang, ASan+UBSan), replays
# every regression case, then fuzzes each target for SECONDS (default 60)
# starting from its seed corpus. Prints the executions per target and
#   fuzz: N passed, M failed
# A crash is kept in BUILD_DIR/fuzz-artifacts/<target>/; fix it, then copy
# the file into tests/fuzz/regressions/<target>/.
#
# LAYEROUT_SRC overrides the source tree (default: this repository).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=${LAYEROUT_SRC:-$(cd "$here/../.." && pwd)}
build=${1:?usage: tests/fuzz/run.sh BUILD_DIR [SECONDS]}
seconds=${2:-60}
jobs=${FUZZ_JOBS:-2}

if ! grep -q "add_subdirectory(tests/fuzz)" "$src/CMakeLists.txt"; then
  echo "fuzz: $src/CMakeLists.txt does not include tests/fuzz (add: if(LAYEROUT_FUZZ) add_subdirectory(tests/fuzz) endif())"
  echo "fuzz: 0 passed, 1 failed"
  exit 1
fi
CC=clang cmake -S "$src" -B "$build" -DLAYEROUT_FUZZ=ON -DLAYEROUT_SANITIZE=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || { echo "fuzz: configure failed"; echo "fuzz: 0 passed, 1 failed"; exit 1; }
read -r -a targets < "$build/fuzz_targets.txt"
IFS=';' read -r -a targets <<< "${targets[*]}"
cmake --build "$build" -j"$jobs" $(printf -- "--target fuzz_%s " "${targets[@]}") >"$build/fuzz-build.log" 2>&1
if [ $? -ne 0 ]; then
  grep -E "error" "$build/fuzz-build.log" | head -20
  echo "fuzz: build failed (log: $build/fuzz-build.log)"; echo "fuzz: 0 passed, ${#targets[@]} failed"; exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/layerout-fuzz.XXXXXX")
scratch=$(mktemp -d /dev/shm/layerout-fuzz.XXXXXX 2>/dev/null || mktemp -d "$work/scratch.XXXXXX")
trap 'rm -rf "$work" "$scratch"' EXIT
export LOFUZZ_TMP=$scratch
export LOFUZZ_MODEL="$src/examples/tiny_cnn.onnx"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Limits: a single input must finish in 10 s and stay under 2 GB; a model
# declaring more must be refused with a message, not allocated.
limits=(-timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048)

passed=0; failed=0
for t in "${targets[@]}"; do
  bin="$build/tests/fuzz/fuzz_$t"
  ok=1
  # 1. every regression case, once each
  regs=()
  [ -d "$here/regressions/$t" ] && while IFS= read -r -d '' f; do regs+=("$f"); done \
      < <(find "$here/regressions/$t" -type f -print0)
  if [ ${#regs[@]} -gt 0 ]; then
    if ! "$bin" "${limits[@]}" "${regs[@]}" >"$work/$t.regress.log" 2>&1; then
      ok=0; echo "fuzz_$t: a regression case fails:"; grep -E "ERROR|SUMMARY|Running:" "$work/$t.regress.log" | tail -5
    fi
  fi
  # 2. fuzzing from the seeds (copied: new units stay out of the repository)
  mkdir -p "$work/$t.corpus" "$build/fuzz-artifacts/$t"
  [ -d "$here/corpus/$t" ] && cp "$here/corpus/$t"/* "$work/$t.corpus/" 2>/dev/null
  [ ${#regs[@]} -gt 0 ] && cp "${regs[@]}" "$work/$t.corpus/"
  "$bin" "${limits[@]}" -max_total_time="$seconds" -print_final_stats=1 \
      -artifact_prefix="$build/fuzz-artifacts/$t/" "$work/$t.corpus" >"$work/$t.log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log" | tail -1)
  cp "$work/$t.log" "$build/fuzz-artifacts/$t.log"
  if [ $rc -ne 0 ]; then
    ok=0
    echo "fuzz_$t: FAILED after ${execs:-?} executions (log: $build/fuzz-artifacts/$t.log)"
    grep -E "^==[0-9]+==ERROR|SUMMARY|runtime error|Test unit written" "$work/$t.log" | head -5
  fi
  echo "fuzz_$t: ${execs:-0} executions in ${seconds} s, ${#regs[@]} regression cases"
  if [ $ok -eq 1 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
