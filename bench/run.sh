#!/usr/bin/env bash
# The benchmark (issues 7 and 16), from a clean checkout, in one command:
#
#   bench/run.sh            builds layerout (Release) if needed, prepares the models,
#                           times layerout and the reference tools, writes bench/BENCHMARKS.md
#                           and the dataset runs of bench/dataset.py (32 samples per process
#                           against ONNX Runtime's session loop, disk and tmpfs, floors, steady
#                           state on 1 and 2 threads, a competing process, GFLOP/s per op type
#                           against the FMA peak, a small Llama-style LLM from bench/llm.py),
#                           then appends bench/analysis.md (what was found by hand)
#   bench/run.sh --long     the same, the dataset runs with 256 samples too (hours; see
#                           BENCHMARKS.md)
#   bench/run.sh --smoke    CI: one small model, one run per tool, no timing claims;
#                           writes $BENCH_WORK/BENCHMARKS-smoke.md; exits non-zero only
#                           if a tool fails to run
#
# Environment: LAYEROUT_BUILD (default build), BENCH_WORK (default $LAYEROUT_BUILD/bench),
# BENCH_RUNS (default 5), BENCH_MODELS (space-separated subset of bench_models.MODEL_NAMES),
# BENCH_DATASET_MODELS (default: BENCH_MODELS but fpn_seg640, whose 552 MB a sample make
# 17.6 GB a run, and llama_small), BENCH_SAMPLES (default 32; 32 256 with --long),
# BENCH_DATASET_RUNS (default BENCH_RUNS).
# Needs the Debian packages of `scripts/install-deps.sh --test` (the exporter is Debian's
# torch 1.13) and the repository venv (`scripts/test-venv.sh`, created here if missing).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

smoke=0
long=0
for a in "$@"; do
  case $a in
    --smoke) smoke=1 ;;
    --long) long=1 ;;
    -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/run.sh: unknown option '$a' (see --help)" >&2; exit 2 ;;
  esac
done

build=${LAYEROUT_BUILD:-build}
work=${BENCH_WORK:-$build/bench}
runs=${BENCH_RUNS:-5}
if [ "$smoke" = 1 ]; then
  models=${BENCH_MODELS:-bert_small}; runs=1; out="$work/BENCHMARKS-smoke.md"
else
  models=${BENCH_MODELS:-resnet18 mobilenet_v2 efficientnet_b0 vit_small bert_small fpn_seg640}; out="bench/BENCHMARKS.md"
fi
mkdir -p "$work"

# layerout, Release: configure only when the build folder is missing or not Release
if [ ! -f "$build/CMakeCache.txt" ] || ! grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$build/CMakeCache.txt"; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$build" -j"$(nproc)" --target layerout >/dev/null

py=$(bash scripts/test-venv.sh | tail -n 1)
if ! /usr/bin/python3 -c 'import torch, torchvision' 2>/dev/null; then
  echo "bench/run.sh: Debian's python3-torch and python3-torchvision are missing; run scripts/install-deps.sh --test" >&2
  exit 2
fi
aimet_torch=()
if "$py" -c 'import aimet_torch.layer_output_utils' >/dev/null 2>&1; then
  aimet_torch=(--aimet-torch)
else
  echo "bench/run.sh: aimet_torch does not import in the venv; its column is left out" >&2
fi

# The machine's FP32 FMA peak (AVX-512 CPUs only)
fma=""
if grep -qw avx512f /proc/cpuinfo && gcc -O2 -mavx512f -mfma -fopenmp bench/fma_peak.c -o "$work/fma_peak"; then
  fma="$work/fma_peak"
fi

# shellcheck disable=SC2086
/usr/bin/python3 bench/prepare.py export --work "$work" --models $models
# shellcheck disable=SC2086
"$py" bench/prepare.py prepare --work "$work" --models $models 2> >(grep -v -i warning >&2)

cmd="bench/run.sh${*:+ $*}"
for v in BENCH_MODELS BENCH_RUNS BENCH_WORK LAYEROUT_BUILD BENCH_DATASET_MODELS BENCH_SAMPLES BENCH_DATASET_RUNS; do  # the exact command, with what was set
  if [ -n "${!v:-}" ]; then cmd="$v='${!v}' $cmd"; fi
done
# shellcheck disable=SC2086
"$py" bench/run_bench.py --work "$work" --layerout "$build/layerout" --out "$out" --models $models \
  --runs "$runs" --fma "$fma" --command "$cmd" "${aimet_torch[@]}" $([ "$smoke" = 1 ] && echo --smoke)

# Dataset runs (bench/dataset.py): 32 samples through one process against ONNX Runtime's
# session loop, plus a small Llama-style LLM; the smoke run does 2 samples of its model.
if [ "$smoke" = 1 ]; then
  # shellcheck disable=SC2086
  "$py" bench/dataset.py --work "$work" --layerout "$build/layerout" --models $models --smoke --out "$out"
else
  "$py" bench/llm.py --work "$work" 2> >(grep -v -i warning >&2)
  samples=${BENCH_SAMPLES:-$([ "$long" = 1 ] && echo "32 256" || echo 32)}
  dmodels=${BENCH_DATASET_MODELS:-$(echo " $models " | sed 's/ fpn_seg640 / /') llama_small}
  # shellcheck disable=SC2086
  "$py" bench/dataset.py --work "$work" --layerout "$build/layerout" --models $dmodels \
    --samples $samples --runs "${BENCH_DATASET_RUNS:-$runs}" --fma "$fma" --out "$out"
  printf '\n' >> "$out"
  cat bench/analysis.md >> "$out"
fi
