"""Dataset runs: what users do (a calibration or evaluation set through one
model), layerout against ONNX Runtime's session loop. Run by bench/run.sh
with the repository venv's python; also usable alone:

    .venv/bin/python bench/dataset.py --work WORK --layerout build/layerout \
        [--models resnet18 vit_small ...] [--samples 32 [256]] [--runs 3] \
        [--format raw|npy|safetensors] [--fma WORK/fma_peak] [--out FILE] [--smoke]

For each model (WORK/models/NAME/model.onnx and input.npy, as prepare.py and
llm.py leave them) it writes SAMPLES distinct inputs (the sample's input plus
seeded noise; integer ids rotated) and an input list, then measures:

- capture, whole process, for each list length, on the disk (WORK) and on
  tmpfs (/dev/shm): layerout generate --input-list, every layer saved, with
  its default thread count (the other cases force 2 or 1),
  against a Python process that loads ONNX Runtime with every tensor a graph
  output (capture.onnx, made here when missing), runs the samples in one
  session and writes each output with numpy's tofile in AIMET's layout; on
  the disk also layerout --format safetensors when this layerout has it;
  wall time and peak RSS, median of --runs, the tools alternating. A case
  whose dump would take more than 40% of the free space (tmpfs: of free
  memory) is skipped and listed;
- the floor on tmpfs: layerout with nothing saved plus copying the captured
  bytes once (memcpy in numpy), and beside it the kernel's cost of writing
  those bytes into as many tmpfs files; each place's file-creation rate;
- steady state, in process, nothing saved, per sample: layerout's --profile
  kernel time (--layers '^$') on 2 and 1 threads against ONNX Runtime's
  session.run on model.onnx after a warm-up (2 and 1 threads), and from the
  same profiles the GFLOP/s of Conv, MatMul and Gemm against the FMA peak
  bench/fma_peak.c measures;
- the same with one competing busy process on the machine, layerout on 2
  threads, on 1 and on its default, ONNX Runtime on 2;
- issue 16's targets, each a ratio from this run, with the figures behind
  each miss.
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
from run_bench import fma_peak, loadavg, timed  # noqa: E402

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
    """(runs, kernel ms per run, {op type: (ms per run, GFLOP per run)})
    from --profile's output."""
    p = subprocess.run(cmd, capture_output=True, text=True)
    text = p.stdout + p.stderr
    m = re.search(r"profile: (\d+) runs?, .*kernels ([0-9.]+) ms per run", text)
    if p.returncode != 0 or not m:
        raise RuntimeError(f"{' '.join(cmd)} failed: {text[-800:]}")
    ops = {}
    for line in text.splitlines():
        f = line.split()
        # op type, nodes, ms per run, share, [GFLOP/s]
        if len(f) in (4, 5) and f[1].isdigit() and f[3].endswith("%"):
            try:
                ms = float(f[2])
                gflops = float(f[4]) if len(f) == 5 else 0.0
            except ValueError:
                continue
            ops[f[0]] = (ms, gflops * ms / 1e3)
    return int(m.group(1)), float(m.group(2)), ops


CAPTURE_SECONDS = {}  # list length -> seconds spent in its capture cases (with their floors)
LARGEST = {}  # place -> the largest dump written there, bytes
PROFILE_OPS = {}  # (model, threads) -> {op type: [steady ms, GFLOP]} of the last profile_ms call


def profile_ms(cmd, lst, one, key=None):
    """Steady-state kernel ms per sample: --profile averages every run, the
    first one's set-up (oneDNN primitives, JIT, first touch of buffers)
    included, so a one-sample run's total is taken off the list's. The same
    for each op type, whose GFLOP per run the profile gives."""
    n, avg_n, ops_n = profile_once(cmd + ["--input-list", lst])
    _, avg_1, ops_1 = profile_once(cmd + ["--input-list", one])
    if key is not None:
        steady = {}
        for op, (ms, gf) in ops_n.items():
            ms1 = ops_1.get(op, (0.0, 0.0))[0]
            steady[op] = ((n * ms - ms1) / (n - 1) if n > 1 else ms, gf)
        PROFILE_OPS.setdefault(key, []).append(steady)
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


def timed_own(cmd, timeout):
    """timed() with the child's own peak RSS: Python starts children with
    vfork, so a child's ru_maxrss starts at this process's own high-water
    mark (the copy floor's buffers, loaded models); GNU time, a small
    program, forks the tool afresh and reports the tool's peak alone."""
    if not os.path.exists("/usr/bin/time"):
        return timed(cmd, timeout)
    fd, path = tempfile.mkstemp(prefix="layerout-bench-rss-")
    os.close(fd)
    try:
        wall, rss, code, err = timed(["/usr/bin/time", "-f", "%M", "-o", path] + cmd, timeout)
        try:
            rss = int(open(path).read().split()[-1]) / 1024.0
        except (OSError, ValueError, IndexError):
            pass
        return wall, rss, code, err
    finally:
        os.unlink(path)


def meminfo_available():
    try:
        return int(re.search(r"MemAvailable:\s+(\d+)", open("/proc/meminfo").read()).group(1)) * 1024
    except (OSError, AttributeError):
        return 0


def copy_seconds(nbytes):
    """One memcpy of nbytes (numpy, destination pages already faulted in),
    timed on at most 256 MiB and scaled: the floor's copy."""
    chunk = max(min(nbytes, 256 << 20) // 4, 1)
    buf = np.ones(chunk, dtype=np.float32)
    dst = np.empty_like(buf)
    best = float("inf")
    for _ in range(3):  # the first also faults the pages in
        t0 = time.perf_counter()
        np.copyto(dst, buf)
        best = min(best, time.perf_counter() - t0)
    del buf, dst  # a child forked from a large process reports its size as peak RSS
    return best * nbytes / (4 * chunk)


def write_seconds(root, nbytes, nfiles):
    """The kernel's side of saving on a filesystem: nbytes in nfiles files,
    each written with one write() from a buffer already in memory."""
    d = os.path.join(root, "writefloor")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    size = max(nbytes // max(nfiles, 1), 1)
    blob = memoryview(bytearray(b"\1" * size))
    t0 = time.perf_counter()
    for i in range(nfiles):
        fd = os.open(os.path.join(d, f"{i}.raw"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, blob)
        os.close(fd)
    t = time.perf_counter() - t0
    shutil.rmtree(d, ignore_errors=True)
    return t


def count_files(d):
    return sum(len(fs) for _, _, fs in os.walk(d))


def fmt_s(x):
    return "–" if x is None or x != x else f"{x:.2f} s"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--layerout", required=True)
    ap.add_argument("--models", nargs="*", default=["resnet18", "vit_small", "bert_small", "llama_small"])
    ap.add_argument("--samples", type=int, nargs="+", default=[32],
                    help="list lengths to capture (steady state, threads and GFLOP/s use the first)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--places", nargs="*", default=["disk", "tmpfs"])
    ap.add_argument("--format", default="raw", choices=["raw", "npy", "safetensors"],
                    help="layerout's --format in the capture runs (default raw, AIMET's layout)")
    ap.add_argument("--fma", default="", help="bench/fma_peak binary: GFLOP/s per op type against its peak")
    ap.add_argument("--out", help="markdown file to write (default: stdout)")
    ap.add_argument("--smoke", action="store_true", help="2 samples, 1 run, tmpfs, no competing process")
    a = ap.parse_args()
    if a.smoke:
        a.samples, a.runs, a.places = [2], 1, ["tmpfs"]
    work = os.path.abspath(a.work)
    lo = os.path.abspath(a.layerout)
    py = sys.executable
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
    roots = {"disk": os.path.join(work, "dataset-out"), "tmpfs": tempfile.mkdtemp(prefix="layerout-bench-", dir=shm)}
    os.makedirs(roots["disk"], exist_ok=True)
    # the one-file-per-sample container, when this layerout has it: a column on the disk
    help_text = subprocess.run([lo, "generate", "--help"], capture_output=True, text=True).stdout
    container = "safetensors" in help_text
    load0 = loadavg()
    t_start = time.time()
    peak = fma_peak(a.fma, a.smoke) if a.fma else {}
    rows_cap, rows_skip, rows_steady, rows_busy, rows_floor, failures = [], [], [], [], [], []
    rows_rate = {}
    try:
        for name in a.models:
            mdir = os.path.join(work, "models", name)
            if not os.path.exists(os.path.join(mdir, "model.onnx")):
                print(f"dataset: {name}: no model in {mdir}, skipped", file=sys.stderr)
                continue
            cap = capture_model(mdir)
            model = os.path.join(mdir, "model.onnx")
            # one sample's dump: what the runs will write, to see whether they fit
            lst1 = make_samples(work, name, 1)[1]
            probe = os.path.join(roots["tmpfs"], "probe")
            subprocess.run([lo, "generate", model, "--input-list", lst1, "-o", probe, "--overwrite", "--quiet"],
                           capture_output=True)
            per_sample = dir_bytes(probe)
            shutil.rmtree(probe, ignore_errors=True)
            for n in a.samples:
                lst, one = make_samples(work, name, n)
                for place in a.places:
                    need = per_sample * n
                    room = (min(shutil.disk_usage(roots[place]).free, meminfo_available()) if place == "tmpfs"
                            else shutil.disk_usage(roots[place]).free)
                    if need > 0.4 * room:
                        rows_skip.append((name, n, place, need, room))
                        print(f"  {name:12s} {n} samples {place}: {need / 2**30:.1f} GiB would not fit, skipped", flush=True)
                        continue
                    t_case = time.time()
                    base = os.path.join(roots[place], name)
                    tools = ["lo", "ort"] + (["lo_st"] if container and place == "disk" and a.format != "safetensors" else [])
                    res = {t: ([], []) for t in tools}
                    saved = nfiles = 0
                    for r in range(a.runs):
                        order = tools[r % len(tools):] + tools[:r % len(tools)]
                        for tool in order:
                            out = os.path.join(base, tool)
                            shutil.rmtree(out, ignore_errors=True)
                            os.sync()
                            if tool.startswith("lo"):
                                # the default thread count, as users run it (with every layer
                                # saved a writer-bound list keeps one thread less: README --threads)
                                cmd = [lo, "generate", model, "--input-list", lst, "-o", out, "--overwrite", "--quiet",
                                       "--format", "safetensors" if tool == "lo_st" else a.format]
                            else:
                                cmd = [py, "-c", ORT_LOOP, "capture", cap, lst, out]
                            wall, rss, code, err = timed_own(cmd, 3600)
                            if code != 0:
                                failures.append(f"{name} {n} {place} {tool}: exit {code}: {err.strip()[-500:]}")
                                continue
                            res[tool][0].append(wall)
                            res[tool][1].append(rss)
                            if tool == "lo":
                                saved, nfiles = dir_bytes(out), count_files(out)
                            shutil.rmtree(out, ignore_errors=True)
                            print(f"  {name:12s} {n:4d} {place:5s} {tool:5s} {wall:7.2f} s {rss:7.1f} MiB", flush=True)
                    rows_cap.append(dict(name=name, n=n, place=place, lo=med(res["lo"][0]), ort=med(res["ort"][0]),
                                         st=med(res["lo_st"][0]) if "lo_st" in res else None,
                                         lo_rss=med(res["lo"][1]), ort_rss=med(res["ort"][1]), saved=saved,
                                         files=nfiles, spread={t: (min(v[0]), max(v[0])) for t, v in res.items() if v[0]}))
                    if place == "tmpfs":
                        none = os.path.join(base, "none")
                        nwall = []
                        for _ in range(a.runs):
                            nwall.append(timed([lo, "generate", model, "--input-list", lst, "-o", none, "--overwrite",
                                                "--quiet", "--threads", str(THREADS), "--layers", "^$"], 3600)[0])
                            shutil.rmtree(none, ignore_errors=True)
                        copy = copy_seconds(saved)
                        wr = min(write_seconds(roots["tmpfs"], saved, nfiles) for _ in range(max(1, min(a.runs, 2))))
                        rows_floor.append(dict(name=name, n=n, none=med(nwall), copy=copy, write=wr,
                                               lo=med(res["lo"][0])))
                        print(f"  {name:12s} floor: nothing saved {med(nwall):.2f} s, copy {copy:.3f} s, "
                              f"tmpfs write {wr:.3f} s", flush=True)
                    shutil.rmtree(base, ignore_errors=True)
                    CAPTURE_SECONDS[n] = CAPTURE_SECONDS.get(n, 0.0) + time.time() - t_case
                    LARGEST[place] = max(LARGEST.get(place, 0), need)
            # steady state, nothing saved, in process (the first list length)
            lst, one = make_samples(work, name, a.samples[0])
            prof = [lo, "generate", model, "-o", os.path.join(roots["tmpfs"], "prof"),
                    "--overwrite", "--layers", "^$", "--profile"]
            s_lo = [profile_ms(prof + ["--threads", str(THREADS)], lst, one, (name, THREADS)) for _ in range(a.runs)]
            s_lo1 = [profile_ms(prof + ["--threads", "1"], lst, one, (name, 1)) for _ in range(a.runs)]
            s_ort = [ort_plain_ms(py, model, lst) for _ in range(a.runs)]
            s_ort1 = [ort_plain_ms(py, model, lst, 1) for _ in range(a.runs)]
            rows_steady.append((name, med(s_lo), med(s_lo1), med(s_ort), med(s_ort1)))
            print(f"  {name:12s} steady ms/sample: layerout 2 thr {med(s_lo):.2f}, 1 thr {med(s_lo1):.2f}, "
                  f"ORT 2 thr {med(s_ort):.2f}, 1 thr {med(s_ort1):.2f}", flush=True)
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
                print(f"  {name:12s} busy ms/sample: layerout 2 thr {b2:.2f}, 1 thr {b1:.2f}, default {bd:.2f}, "
                      f"ORT {bo:.2f}", flush=True)
        # each place's file-creation rate: 2000 files of 20 kB
        for place in a.places:
            d = os.path.join(roots[place], "files")
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
            blob = np.zeros(5000, np.float32)
            os.sync()
            t0 = time.perf_counter()
            for i in range(2000):
                blob.tofile(os.path.join(d, f"{i}.raw"))
            rows_rate[place] = 2000 / (time.perf_counter() - t0)
            shutil.rmtree(d, ignore_errors=True)
        if peak:  # again at the end: the quieter of two moments
            for k, g in fma_peak(a.fma, a.smoke).items():
                peak[k] = max(peak.get(k, 0.0), g)
    finally:
        shutil.rmtree(roots["tmpfs"], ignore_errors=True)
    load1 = loadavg()
    minutes = (time.time() - t_start) / 60
    text = report(a, rows_cap, rows_skip, rows_steady, rows_busy, rows_floor, rows_rate, peak, failures, load0, load1,
                  minutes, roots, container)
    if a.out:
        with open(a.out, "a") as f:
            f.write("\n" + text)
    else:
        print(text)
    return 1 if failures else 0


def op_rates(name, threads):
    """{op type: (median steady ms per sample, GFLOP/s)} over the profile runs."""
    runs = PROFILE_OPS.get((name, threads), [])
    ops = {}
    for op in sorted({op for r in runs for op in r}):
        ms = med([r[op][0] for r in runs if op in r])
        gf = med([r[op][1] for r in runs if op in r])
        ops[op] = (ms, gf / (ms / 1e3) if gf and ms > 0 else None)
    return ops


def report(a, rows_cap, rows_skip, rows_steady, rows_busy, rows_floor, rows_rate, peak, failures, load0, load1,
           minutes, roots, container):
    L = []
    ns = ", ".join(str(n) for n in a.samples)
    L.append(f"## Dataset runs ({ns} samples through an input list)\n")
    L.append(f"Measured by `bench/dataset.py` ({'smoke' if a.smoke else f'median of {a.runs}'}; "
             f"{minutes:.0f} min) with layerout `--threads {THREADS}` (the captures: its default count, as "
             f"users run it) and ONNX Runtime intra-op {THREADS} / inter-op 1. Load average (1/5/15 min) {' / '.join(load0)} at the start, "
             f"{' / '.join(load1)} at the end: the machine is shared, so every figure carries other users' load; "
             f"the ratios, taken in the same run with the tools alternating, are what to read.\n")
    layout = "AIMET's layout" if a.format == "raw" else f"`--format {a.format}`"
    container = container and a.format != "safetensors"
    L.append(f"**Capture, whole process** (every layer saved, layerout in {layout}; ORT: every tensor a graph output, "
             "one session, numpy `tofile` per output" + ("; *safetensors*: layerout `--format safetensors`, one file "
                                                         "per sample" if container else "") + "):\n")
    hdr = "| model | samples | place | layerout | ORT | ratio |" + (" safetensors | ratio |" if container else "") + \
        " per sample (layerout / ORT) | peak RSS layerout / ORT | saved | files |"
    L.append(hdr)
    L.append("|" + " --- |" * 3 + " ---: |" * (hdr.count("|") - 4))
    for r in rows_cap:
        st = ""
        if container:
            st = (f" {fmt_s(r['st'])} | {r['st'] / r['ort']:.2f} |" if r["place"] == "disk" and r["st"] is not None
                  else " – | – |")
        L.append(f"| {r['name']} | {r['n']} | {r['place']} | {fmt_s(r['lo'])} | {fmt_s(r['ort'])} | "
                 f"{r['lo'] / r['ort']:.2f} |{st} {1e3 * r['lo'] / r['n']:.1f} / {1e3 * r['ort'] / r['n']:.1f} ms | "
                 f"{r['lo_rss']:.0f} / {r['ort_rss']:.0f} MiB ({r['lo_rss'] / r['ort_rss']:.2f}) | "
                 f"{r['saved'] / 2**20:.0f} MiB | {r['files']} |")
    for name, n, place, need, room in rows_skip:
        L.append(f"| {name} | {n} | {place} | skipped: {need / 2**30:.1f} GiB would be written, "
                 f"{room / 2**30:.1f} GiB free | | | |" + (" | |" if container else "") + " | | | |")
    if rows_cap:
        L.append("\nSpread (min–max wall seconds over the runs): " + "; ".join(
            f"{r['name']} {r['n']} {r['place']}: " + ", ".join(f"{t} {lo_:.2f}–{hi:.2f}" for t, (lo_, hi) in r["spread"].items())
            for r in rows_cap) + ".")
    if rows_floor:
        L.append("\n**Floor on tmpfs**: layerout with nothing saved (whole process) plus one copy of the saved bytes "
                 "(memcpy, destination already in memory); beside it the kernel's own cost of putting those bytes in "
                 "tmpfs files (the same number of files, one `write` each from a buffer in memory, Python):\n")
        L.append("| model | samples | nothing saved | memcpy of the bytes | floor | capture | capture / floor | "
                 "tmpfs write of the bytes | nothing saved + tmpfs write |")
        L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for f in rows_floor:
            fl = f["none"] + f["copy"]
            L.append(f"| {f['name']} | {f['n']} | {f['none']:.2f} s | {f['copy']:.3f} s | {fl:.2f} s | {f['lo']:.2f} s | "
                     f"{f['lo'] / fl:.2f} | {f['write']:.2f} s | {f['none'] + f['write']:.2f} s |")
    for place, rate in rows_rate.items():
        L.append(f"\nFile creation on {place} ({roots[place]}): {rate:.0f} files of 20 kB per second "
                 f"({1e3 / rate:.3f} ms per file), numpy `tofile`.")
    L.append(f"\n**Steady state, nothing saved, in process** ({a.samples[0]} samples; ms per sample: layerout "
             "`--profile` kernel time, `--layers '^$'`, a one-sample run's total taken off the list's to drop the "
             "set-up; ORT `session.run` median after 3 warm-up runs, plain model):\n")
    L.append("| model | layerout 2 threads | layerout 1 thread | ORT 2 threads | ORT 1 thread | "
             "layerout / ORT (2 threads) | layerout 2 / 1 threads |")
    L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, l2, l1, o, o1 in rows_steady:
        L.append(f"| {name} | {l2:.2f} | {l1:.2f} | {o:.2f} | {o1:.2f} | {l2 / o:.2f} | {l2 / l1:.2f} |")
    if rows_busy:
        L.append("\n**With one competing busy process** (a Python busy loop started beside each measurement; ms per "
                 "sample as above; *default* is layerout without `--threads`, which leaves out the cores others "
                 "keep busy):\n")
        L.append("| model | layerout 2 threads | layerout 1 thread | layerout default | ORT 2 threads | "
                 "default / ORT |")
        L.append("| --- | ---: | ---: | ---: | ---: | ---: |")
        for name, b2, b1, bd, bo in rows_busy:
            L.append(f"| {name} | {b2:.2f} | {b1:.2f} | {bd:.2f} | {bo:.2f} | {bd / bo:.2f} |")
    p1 = max((g for (w, t), g in peak.items() if t == 1), default=None)
    p2 = max((g for (w, t), g in peak.items() if t == THREADS), default=None)
    if rows_steady:
        L.append("\n**GFLOP/s per op type** (steady state, nothing saved, from the profile runs above: the op type's "
                 "FLOP per sample over its steady time)" + (f" against the FP32 FMA peak `bench/fma_peak.c` measured in "
                                                            f"this run: {p1:.0f} GFLOP/s on 1 thread, {p2:.0f} on "
                                                            f"{THREADS}" if p1 and p2 else "") + ":\n")
        L.append("| model | op type | ms per sample, 2 threads | GFLOP/s, 2 threads | of peak | "
                 "ms per sample, 1 thread | GFLOP/s, 1 thread | of peak |")
        L.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, *_ in rows_steady:
            o2, o1 = op_rates(name, THREADS), op_rates(name, 1)
            for op in ("Conv", "MatMul", "Gemm"):
                if op not in o2 and op not in o1:
                    continue
                ms2, g2 = o2.get(op, (None, None))
                ms1, g1 = o1.get(op, (None, None))

                def pct(g, p):
                    return f"{100 * g / p:.0f}%" if g and p else "–"
                L.append(f"| {name} | {op} | {fmt(ms2, 2)} | {fmt(g2, 1)} | {pct(g2, p2)} | {fmt(ms1, 2)} | "
                         f"{fmt(g1, 1)} | {pct(g1, p1)} |")
        L.append("\nWhere the steady time goes (2 threads, op types over 5% of the kernels' time): " + "; ".join(
            f"{name}: " + ", ".join(f"{op} {ms:.2f} ms" for op, (ms, _) in sorted(op_rates(name, THREADS).items(),
                                                                                  key=lambda kv: -kv[1][0])
                                   if ms > 0.05 * sum(v[0] for v in op_rates(name, THREADS).values()))
            for name, *_ in rows_steady) + ".")
    if CAPTURE_SECONDS and not a.smoke:
        L.append("\nDuration of the capture cases: " + "; ".join(
            f"{n} samples {sec / 60:.0f} min" for n, sec in sorted(CAPTURE_SECONDS.items())) +
            (f". 256-sample lists (`bench/run.sh --long`) take about 8 times the 32-sample cases, here about "
             f"{8 * CAPTURE_SECONDS[32] / 60:.0f} min more, and need up to "
             f"{8 * LARGEST.get('disk', 0) / 2**30:.1f} GiB free on the disk and "
             f"{8 * LARGEST.get('tmpfs', 0) / 2**30:.1f} GiB of memory for tmpfs at once (cases that do not fit are "
             f"skipped and listed)." if 32 in CAPTURE_SECONDS and 256 not in CAPTURE_SECONDS else "."))
    L.extend(targets(rows_cap, rows_steady, rows_busy, rows_floor, rows_rate))
    if failures:
        L.append("\n**Failures**:\n")
        L.extend(f"- {f}" for f in failures)
    return "\n".join(L) + "\n"


def fmt(x, nd):
    return "–" if x is None or x != x else f"{x:.{nd}f}"


def targets(rows_cap, rows_steady, rows_busy, rows_floor, rows_rate):
    """Issue 16's targets, each a ratio from this run, with the figures
    behind every miss."""
    L = ["\n**Targets** (issue 16; each a ratio of medians from this run):\n",
         "| target | model | case | measured | ratio | verdict | for a miss: what was measured, where the time goes, "
         "the floor |", "| --- | --- | --- | ---: | ---: | --- | --- |"]

    def row(target, name, case, measured, ratio, limit, why):
        ok = ratio <= limit
        L.append(f"| {target} | {name} | {case} | {measured} | {ratio:.2f} | {'met' if ok else '**missed**'} | "
                 f"{'' if ok else why} |")
    floors = {(f["name"], f["n"]): f for f in rows_floor}
    for r in rows_cap:
        f = floors.get((r["name"], r["n"]))
        if r["place"] == "tmpfs" and f:
            why = (f"nothing saved {f['none']:.2f} s; the kernel alone takes {f['write']:.2f} s to put the "
                   f"{r['saved'] / 2**20:.0f} MiB in {r['files']} tmpfs files, ORT's whole run is {r['ort']:.2f} s")
        else:
            rate = rows_rate.get(r["place"])
            why = (f"{r['files']} files at the disk's {1e3 / rate:.2f} ms per file = {r['files'] / rate:.2f} s of "
                   f"file creation alone" if rate else "")
            if r.get("st") is not None:
                why += f"; one file per sample (`--format safetensors`): {r['st']:.2f} s, {r['st'] / r['ort']:.2f}× ORT"
        row("capture ≤ 0.5× ORT wall", r["name"], f"{r['n']} samples, {r['place']}",
            f"{r['lo']:.2f} / {r['ort']:.2f} s", r["lo"] / r["ort"], 0.5, why)
    for f in rows_floor:
        fl = f["none"] + f["copy"]
        row("tmpfs capture ≤ 1.3× floor", f["name"], f"{f['n']} samples", f"{f['lo']:.2f} / {fl:.2f} s",
            f["lo"] / fl, 1.3,
            f"floor = nothing saved {f['none']:.2f} s + memcpy {f['copy']:.3f} s; the kernel's tmpfs write of the same "
            f"bytes is {f['write']:.2f} s by itself (page allocation and copy, 4 KiB pages), so nothing saved + that "
            f"write = {f['none'] + f['write']:.2f} s")
    for name, l2, l1, o, o1 in rows_steady:
        ops = sorted(op_rates(name, THREADS).items(), key=lambda kv: -kv[1][0])[:3]
        row("nothing saved ≤ 0.8× ORT, steady", name, "2 threads, ms per sample", f"{l2:.2f} / {o:.2f}", l2 / o, 0.8,
            "layerout's time: " + ", ".join(f"{op} {ms:.2f} ms" for op, (ms, _) in ops))
        row("2 threads ≤ 1 thread, steady", name, "ms per sample", f"{l2:.2f} / {l1:.2f}", l2 / l1, 1.0,
            f"at 1 thread {l1:.2f} ms")
    for name, b2, b1, bd, bo in rows_busy:
        row("busy: default ≤ ORT", name, "one competing process", f"{bd:.2f} / {bo:.2f}", bd / bo, 1.0,
            f"2 threads {b2:.2f}, 1 thread {b1:.2f} ms")
        row("busy: 2 threads ≤ 1 thread", name, "one competing process", f"{b2:.2f} / {b1:.2f}", b2 / b1, 1.0,
            "a fork-join team waits at each barrier for the member the other process displaced; the default "
            f"count avoids it ({bd:.2f} ms)")
    for r in rows_cap:
        if r["place"] == "tmpfs":
            row("peak RSS ≤ 0.5× ORT capture", r["name"], f"{r['n']} samples", f"{r['lo_rss']:.0f} / {r['ort_rss']:.0f} MiB",
                r["lo_rss"] / r["ort_rss"], 0.5, "")
    return L


if __name__ == "__main__":
    sys.exit(main())
