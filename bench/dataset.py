"""Dataset runs: what users do (a calibration or evaluation set through one
model), layerout against ONNX Runtime's session loop. Run by bench/run.sh
with the repository venv's python; also usable alone:

    .venv/bin/python bench/dataset.py --work WORK --layerout build/layerout \
        [--models resnet18 vit_small ...] [--samples 32] [--runs 3] [--format raw|npy|safetensors]
        [--out FILE] [--smoke]

For each model (WORK/models/NAME/model.onnx and input.npy, as prepare.py and
llm.py leave them) it writes SAMPLES distinct inputs (the sample's input plus
seeded noise; integer ids rotated) and an input list, then measures:

- capture, whole process, on the disk (WORK) and on tmpfs (/dev/shm): layerout
  generate --input-list, every layer saved, against a Python process that
  loads ONNX Runtime with every tensor a graph output (capture.onnx, made here
  when missing), runs the samples in one session and writes each output with
  numpy's tofile in AIMET's layout; wall time and peak RSS, median of --runs,
  the tools alternating;
- steady state, in process, nothing saved, per sample: layerout's --profile
  kernel time (--layers '^$') against ONNX Runtime's session.run on model.onnx
  after a warm-up (median per sample);
- the same with one competing busy process on the machine, layerout on 2
  threads, on 1 and on its default, ONNX Runtime on 2;
- the floor on tmpfs: layerout with nothing saved plus copying the captured
  bytes once (memcpy in numpy); the disk's file-creation rate.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from run_bench import loadavg, timed  # noqa: E402

THREADS = 2

ORT_LOOP = r'''
import os, re, sys, time
import numpy as np
import onnxruntime as ort
mode, model, listfile = sys.argv[1], sys.argv[2], sys.argv[3]
so = ort.SessionOptions()
so.intra_op_num_threads = int(os.environ.get("BENCH_ORT_THREADS", "2"))
so.inter_op_num_threads = 1
sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
names = [o.name for o in sess.get_outputs()]
inp = sess.get_inputs()[0].name
samples = [np.load(l.strip()) for l in open(listfile) if l.strip()]
if mode == "plain":
    for x in samples[:3]:
        sess.run(None, {inp: x})
    t = []
    for x in samples:
        t0 = time.perf_counter(); sess.run(None, {inp: x}); t.append(time.perf_counter() - t0)
    t.sort()
    print("%.4f" % (1e3 * t[len(t) // 2]))
    sys.exit(0)
out = sys.argv[4]
stems = [re.sub(r"\W+", "_", n) for n in names]
os.makedirs(os.path.join(out, "inputs"), exist_ok=True)
for k, x in enumerate(samples):
    res = sess.run(None, {inp: x})
    x.tofile(os.path.join(out, "inputs", "input_%d.raw" % k))
    d = os.path.join(out, "outputs", "layer_outputs_%d" % k)
    os.makedirs(d, exist_ok=True)
    for s, a in zip(stems, res):
        a.tofile(os.path.join(d, s + ".raw"))
'''


def capture_model(mdir):
    path = os.path.join(mdir, "capture.onnx")
    if os.path.exists(path):
        return path
    import onnx
    from prepare import capture_names
    m = onnx.load(os.path.join(mdir, "model.onnx"))
    existing = {o.name for o in m.graph.output}
    for n in capture_names(m):
        if n not in existing:
            vi = onnx.ValueInfoProto()
            vi.name = n
            m.graph.output.append(vi)
    onnx.save(m, path + ".tmp")
    os.replace(path + ".tmp", path)
    return path


def make_samples(work, name, n):
    mdir = os.path.join(work, "models", name)
    x = np.load(os.path.join(mdir, "input.npy"))
    d = os.path.join(work, "dataset", name)
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(7)
    paths = []
    for k in range(n):
        p = os.path.join(d, f"sample_{k}.npy")
        if not os.path.exists(p):
            y = np.roll(x, k, axis=-1) if x.dtype.kind in "iu" else (x + 0.1 * rng.standard_normal(x.shape)).astype(x.dtype)
            np.save(p, y)
        paths.append(p)
    lst = os.path.join(d, f"list_{n}.txt")
    with open(lst, "w") as f:
        f.write("\n".join(paths) + "\n")
    one = os.path.join(d, "list_1.txt")
    with open(one, "w") as f:
        f.write(paths[0] + "\n")
    return lst, one


def profile_once(cmd):
    """(runs, kernel ms per run) from --profile's first line."""
    p = subprocess.run(cmd, capture_output=True, text=True)
    m = re.search(r"profile: (\d+) runs?, .*kernels ([0-9.]+) ms per run", p.stdout + p.stderr)
    if p.returncode != 0 or not m:
        raise RuntimeError(f"{' '.join(cmd)} failed: {(p.stdout + p.stderr)[-800:]}")
    return int(m.group(1)), float(m.group(2))


def profile_ms(cmd, lst, one):
    """Steady-state kernel ms per sample: --profile averages every run, the
    first one's set-up (oneDNN primitives, JIT, first touch of buffers)
    included, so a one-sample run's total is taken off the list's."""
    n, avg_n = profile_once(cmd + ["--input-list", lst])
    _, avg_1 = profile_once(cmd + ["--input-list", one])
    return (n * avg_n - avg_1) / (n - 1) if n > 1 else avg_n


def ort_plain_ms(py, model, lst, threads=THREADS):
    env = dict(os.environ, BENCH_ORT_THREADS=str(threads))
    p = subprocess.run([py, "-c", ORT_LOOP, "plain", model, lst], capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(p.stderr[-800:])
    return float(p.stdout.strip().splitlines()[-1])


def dir_bytes(d):
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(d) for f in fs)


def med(v):
    return statistics.median(v) if v else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--layerout", required=True)
    ap.add_argument("--models", nargs="*", default=["resnet18", "vit_small", "bert_small", "llama_small"])
    ap.add_argument("--samples", type=int, default=32)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--places", nargs="*", default=["disk", "tmpfs"])
    ap.add_argument("--out", help="markdown file to write (default: stdout)")
    ap.add_argument("--format", default="raw", choices=["raw", "npy", "safetensors"],
                    help="layerout's --format in the capture runs (default raw, AIMET's layout)")
    ap.add_argument("--smoke", action="store_true", help="2 samples, 1 run, tmpfs, no competing process")
    a = ap.parse_args()
    if a.smoke:
        a.samples, a.runs, a.places = 2, 1, ["tmpfs"]
    work = os.path.abspath(a.work)
    lo = os.path.abspath(a.layerout)
    py = sys.executable
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
    roots = {"disk": os.path.join(work, "dataset-out"), "tmpfs": tempfile.mkdtemp(prefix="layerout-bench-", dir=shm)}
    load0 = loadavg()
    t_start = time.time()
    rows_cap, rows_steady, rows_busy, rows_floor, failures = [], [], [], [], []
    try:
        for name in a.models:
            mdir = os.path.join(work, "models", name)
            if not os.path.exists(os.path.join(mdir, "model.onnx")):
                print(f"dataset: {name}: no model in {mdir}, skipped", file=sys.stderr)
                continue
            lst, one = make_samples(work, name, a.samples)
            cap = capture_model(mdir)
            model = os.path.join(mdir, "model.onnx")
            for place in a.places:
                base = os.path.join(roots[place], name)
                res = {"lo": ([], []), "ort": ([], [])}
                for r in range(a.runs):
                    order = ["lo", "ort"] if r % 2 == 0 else ["ort", "lo"]
                    for tool in order:
                        out = os.path.join(base, tool)
                        shutil.rmtree(out, ignore_errors=True)
                        os.sync()
                        if tool == "lo":
                            cmd = [lo, "generate", model, "--input-list", lst, "-o", out, "--overwrite", "--quiet",
                                   "--threads", str(THREADS), "--format", a.format]
                        else:
                            cmd = [py, "-c", ORT_LOOP, "capture", cap, lst, out]
                        wall, rss, code, err = timed(cmd, 1800)
                        if code != 0:
                            failures.append(f"{name} {place} {tool}: exit {code}: {err.strip()[-500:]}")
                            continue
                        res[tool][0].append(wall)
                        res[tool][1].append(rss)
                        print(f"  {name:12s} {place:5s} {tool:3s} {wall:7.2f} s {rss:7.1f} MiB", flush=True)
                saved = dir_bytes(os.path.join(base, "lo"))
                rows_cap.append((name, place, med(res["lo"][0]), med(res["ort"][0]), med(res["lo"][1]),
                                 med(res["ort"][1]), saved))
                if place == "tmpfs":
                    none = os.path.join(base, "none")
                    nwall = [timed([lo, "generate", model, "--input-list", lst, "-o", none, "--overwrite", "--quiet",
                                    "--threads", str(THREADS), "--layers", "^$"], 1800)[0] for _ in range(a.runs)]
                    buf = np.ones(max(saved // 4, 1), dtype=np.float32)
                    dst = np.empty_like(buf)
                    copy = float("inf")
                    for _ in range(3):  # the first also faults the pages in
                        t0 = time.perf_counter()
                        np.copyto(dst, buf)
                        copy = min(copy, time.perf_counter() - t0)
                    # freed now: a child forked from a process this large would
                    # report its size as the child's peak RSS
                    del buf, dst
                    rows_floor.append((name, med(nwall), copy, med(res["lo"][0])))
                    print(f"  {name:12s} floor: nothing saved {med(nwall):.2f} s, copy {copy:.3f} s", flush=True)
                shutil.rmtree(base, ignore_errors=True)
            # steady state, nothing saved, in process
            prof = [lo, "generate", model, "-o", os.path.join(roots["tmpfs"], "prof"),
                    "--overwrite", "--layers", "^$", "--profile"]
            s_lo = [profile_ms(prof + ["--threads", str(THREADS)], lst, one) for _ in range(a.runs)]
            s_lo1 = [profile_ms(prof + ["--threads", "1"], lst, one) for _ in range(a.runs)]
            s_ort = [ort_plain_ms(py, model, lst) for _ in range(a.runs)]
            rows_steady.append((name, med(s_lo), med(s_lo1), med(s_ort)))
            print(f"  {name:12s} steady ms/sample: layerout 2 thr {med(s_lo):.2f}, 1 thr {med(s_lo1):.2f}, ORT {med(s_ort):.2f}", flush=True)
            if not a.smoke:
                hog = subprocess.Popen([py, "-c", "while True: pass"])
                try:
                    b2 = med([profile_ms(prof + ["--threads", "2"], lst, one) for _ in range(a.runs)])
                    b1 = med([profile_ms(prof + ["--threads", "1"], lst, one) for _ in range(a.runs)])
                    bd = med([profile_ms(prof, lst, one) for _ in range(a.runs)])
                    bo = med([ort_plain_ms(py, model, lst) for _ in range(a.runs)])
                finally:
                    hog.kill()
                    hog.wait()
                rows_busy.append((name, b2, b1, bd, bo))
                print(f"  {name:12s} busy ms/sample: layerout 2 thr {b2:.2f}, 1 thr {b1:.2f}, default {bd:.2f}, ORT {bo:.2f}", flush=True)
        # the disk's file-creation rate: 2000 files of 20 kB
        rate = None
        if "disk" in a.places:
            d = os.path.join(roots["disk"], "files")
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
            blob = np.zeros(5000, np.float32)
            os.sync()
            t0 = time.perf_counter()
            for i in range(2000):
                blob.tofile(os.path.join(d, f"{i}.raw"))
            rate = 2000 / (time.perf_counter() - t0)
            shutil.rmtree(d, ignore_errors=True)
    finally:
        shutil.rmtree(roots["tmpfs"], ignore_errors=True)
    load1 = loadavg()

    L = []
    L.append(f"## Dataset runs ({a.samples} samples through an input list)\n")
    L.append(f"Measured by `bench/dataset.py` ({'smoke' if a.smoke else f'median of {a.runs}'}; "
             f"{time.time() - t_start:.0f} s) with layerout `--threads {THREADS}` and ONNX Runtime intra-op "
             f"{THREADS} / inter-op 1. Load average (1/5/15 min) {' / '.join(load0)} at the start, "
             f"{' / '.join(load1)} at the end: on a machine this loaded every figure is slower than on a quiet one "
             f"and the ratios, taken in the same run with the tools alternating, are what to read.\n")
    layout = "AIMET's layout" if a.format == "raw" else f"`--format {a.format}`"
    L.append(f"**Capture, whole process** (every layer saved, layerout in {layout}; ORT: every tensor a graph output, "
             "one session, numpy `tofile` per output):\n")
    L.append("| model | place | layerout | ORT | ratio | per sample (layerout / ORT) | peak RSS layerout / ORT | saved |")
    L.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, place, lw, ow, lr, orr, saved in rows_cap:
        L.append(f"| {name} | {place} | {lw:.2f} s | {ow:.2f} s | {lw / ow:.2f} | {1e3 * lw / a.samples:.1f} / "
                 f"{1e3 * ow / a.samples:.1f} ms | {lr:.0f} / {orr:.0f} MiB ({lr / orr:.2f}) | {saved / 2**20:.0f} MiB |")
    L.append("\n**Steady state, nothing saved, in process** (ms per sample: layerout `--profile` kernel time, "
             "`--layers '^$'`, a one-sample run's total taken off the list's to drop the set-up; ORT `session.run` median after 3 warm-up runs, plain model):\n")
    L.append("| model | layerout 2 threads | layerout 1 thread | ORT 2 threads | ratio (layerout 2 / ORT) |")
    L.append("| --- | ---: | ---: | ---: | ---: |")
    for name, l2, l1, o in rows_steady:
        L.append(f"| {name} | {l2:.2f} | {l1:.2f} | {o:.2f} | {l2 / o:.2f} |")
    if rows_busy:
        L.append("\n**With one competing busy process** (a Python busy loop started beside each measurement; ms per "
                 "sample as above; *default* is layerout without `--threads`):\n")
        L.append("| model | layerout 2 threads | layerout 1 thread | layerout default | ORT 2 threads |")
        L.append("| --- | ---: | ---: | ---: | ---: |")
        for name, b2, b1, bd, bo in rows_busy:
            L.append(f"| {name} | {b2:.2f} | {b1:.2f} | {bd:.2f} | {bo:.2f} |")
    if rows_floor:
        L.append("\n**Floor on tmpfs**: layerout with nothing saved (whole process) plus one copy of the saved bytes:\n")
        L.append("| model | nothing saved | memcpy of the bytes | floor | capture | capture / floor |")
        L.append("| --- | ---: | ---: | ---: | ---: | ---: |")
        for name, nw, cp, cw in rows_floor:
            L.append(f"| {name} | {nw:.2f} s | {cp:.3f} s | {nw + cp:.2f} s | {cw:.2f} s | {cw / (nw + cp):.2f} |")
    if rate:
        L.append(f"\nFile creation on the disk ({roots['disk']}): {rate:.0f} files of 20 kB per second "
                 f"({1e3 / rate:.2f} ms per file), numpy `tofile`.")
    if failures:
        L.append("\n**Failures**:\n")
        L.extend(f"- {f}" for f in failures)
    text = "\n".join(L) + "\n"
    if a.out:
        with open(a.out, "a") as f:
            f.write("\n" + text)
    else:
        print(text)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
