"""Steady state, nothing saved, in process: layerout's kernels per sample
against ONNX Runtime's session.run, with fusion on and off.

    .venv/bin/python bench/steady.py --work WORK --layerout build/layerout \\
        [--models resnet18 vit_small bert_small llama_small] [--samples 30] [--runs 3] [--threads 2]

Models are WORK/models/NAME/model.onnx and input.npy (bench/prepare.py,
bench/llm.py). layerout: `generate --input-list` of SAMPLES copies of the
input, `--layers '^$' --profile`; its per-run kernel time over SAMPLES runs
and over 1 run give the steady state (SAMPLES*t_N - t_1) / (SAMPLES - 1), the
first run's set-up (oneDNN primitives, weight reorders) taken out. The same
with --no-fusion is the engine without fusion. ONNX Runtime: one
session (intra-op THREADS, inter-op 1), 3 warm-up runs, then the median of
SAMPLES session.run calls on the same input. The three alternate, RUNS
times; medians are printed with the load average before and after.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

ORT = r'''
import sys, time, numpy as np, onnxruntime as ort
model, inp, n, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
so = ort.SessionOptions(); so.intra_op_num_threads = threads; so.inter_op_num_threads = 1
s = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
x = np.load(inp); name = s.get_inputs()[0].name
for _ in range(3): s.run(None, {name: x})
t = []
for _ in range(n):
    t0 = time.perf_counter(); s.run(None, {name: x}); t.append(time.perf_counter() - t0)
print(1e3 * float(np.median(t)))
'''


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def kernels_ms(layerout, model, listfile, threads, fused):
    out = tempfile.mkdtemp(prefix="steady-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    try:
        p = subprocess.run([layerout, "generate", model, "--input-list", listfile, "-o", out, "--overwrite",
                            "--layers", "^$", "--profile", "--threads", str(threads)] + ([] if fused else ["--no-fusion"]),
                           capture_output=True, text=True)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    m = re.search(r"kernels ([0-9.]+) ms per run", p.stderr)
    if p.returncode != 0 or not m:
        raise RuntimeError(f"layerout failed on {model}: {p.stderr.strip()[-300:]}")
    return float(m.group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--layerout", required=True)
    ap.add_argument("--models", nargs="*", default=["resnet18", "vit_small", "bert_small", "llama_small"])
    ap.add_argument("--samples", type=int, default=30)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="steady-lists-")
    print(f"load average at the start: {loadavg()}", flush=True)
    rows = []
    for name in a.models:
        d = os.path.join(a.work, "models", name)
        model, inp = os.path.join(d, "model.onnx"), os.path.join(d, "input.npy")
        lists = {}
        for n in (1, a.samples):
            lists[n] = os.path.join(tmp, f"{name}-{n}.txt")
            with open(lists[n], "w") as f:
                f.write((inp + "\n") * n)
        res = {"fused": [], "unfused": [], "ort": []}
        for _ in range(a.runs):
            for key, fused in (("fused", True), ("unfused", False)):
                tn = kernels_ms(a.layerout, model, lists[a.samples], a.threads, fused)
                t1 = kernels_ms(a.layerout, model, lists[1], a.threads, fused)
                res[key].append((a.samples * tn - t1) / (a.samples - 1))
            p = subprocess.run([sys.executable, "-c", ORT, model, inp, str(a.samples), str(a.threads)],
                               capture_output=True, text=True, check=True)
            res["ort"].append(float(p.stdout.strip()))
        med = {k: statistics.median(v) for k, v in res.items()}
        rows.append((name, med, loadavg()))
        print(f"{name}: layerout {med['fused']:.2f} ms (unfused {med['unfused']:.2f}), ORT {med['ort']:.2f} ms, "
              f"ratio {med['fused'] / med['ort']:.2f}; runs {res}; load {loadavg()}", flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"\n| model | layerout, fused | layerout, --no-fusion | ORT 1.x session.run | ratio (fused / ORT) "
          f"| load after |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for name, med, load in rows:
        print(f"| {name} | {med['fused']:.2f} ms | {med['unfused']:.2f} ms | {med['ort']:.2f} ms | "
              f"{med['fused'] / med['ort']:.2f} | {load} |")
    print(f"load average at the end: {loadavg()}")


if __name__ == "__main__":
    main()
