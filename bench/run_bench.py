"""Times layerout and the reference tools side by side and writes BENCHMARKS.md.
Run by bench/run.sh, which builds, prepares the models and passes the paths.

Every measurement is one whole process: wall time from spawn to exit, and the
child's peak RSS from wait4()'s rusage. Runs alternate between the tools
(round-robin, the starting tool rotating each round) so that a burst of load
from other users of the machine spreads over all tools instead of hitting one;
each figure is the median of --runs. Before every run the previous dump is
deleted and dirty pages are synced, outside the timing.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
THREADS = 2
PROFILE_RUNS = 10

TOOL_LABELS = {
    "layerout": "layerout generate (all layers)",
    "layerout_none": "layerout, nothing saved (--layers '^$')",
    "ort_capture": "ONNX Runtime, every tensor an output, .raw files",
    "ort_plain": "ONNX Runtime, plain inference",
    "aimet_onnx": "aimet_onnx LayerOutputUtil",
    "aimet_torch": "aimet_torch LayerOutputUtil",
    "torch_hooks": "PyTorch, forward hooks, .raw files",
}


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=60).stdout.strip()
    except Exception:
        return ""


def machine():
    cpu = sh("lscpu | sed -n 's/^Model name: *//p'") or platform.processor()
    flags = open("/proc/cpuinfo").read()
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", open("/proc/meminfo").read()).group(1))
    return dict(cpu=cpu, cores=os.cpu_count(), memory_gib=round(mem_kb / 2**20, 1), kernel=platform.release(),
                avx512="avx512f" in flags, hypervisor=sh("lscpu | sed -n 's/^Hypervisor vendor: *//p'"),
                mhz=sh("lscpu | sed -n 's/^CPU MHz: *//p'") or sh("grep -m1 'cpu MHz' /proc/cpuinfo | cut -d: -f2"),
                os=sh(". /etc/os-release && echo $PRETTY_NAME"),
                # family 25 with AVX-512 is Zen 4 (Zen 3, the same family, has none)
                zen4="AuthenticAMD" in flags and "avx512f" in flags
                and sh("lscpu | sed -n 's/^CPU family: *//p'") == "25",
                cpu_model_number=sh("lscpu | sed -n 's/^Model: *//p'"))


def loadavg():
    return open("/proc/loadavg").read().split()[:3]


def timed(cmd, timeout):
    """(wall seconds, peak RSS MiB, exit code, stderr tail) of one process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # read stderr while waiting, so a chatty tool cannot block on a full pipe
    deadline = t0 + timeout
    err = b""
    import selectors
    sel = selectors.DefaultSelector()
    sel.register(proc.stderr, selectors.EVENT_READ)
    while True:
        if time.perf_counter() > deadline:
            proc.kill()
        events = sel.select(timeout=1.0)
        if events:
            chunk = os.read(proc.stderr.fileno(), 65536)
            if not chunk:
                break
            err = (err + chunk)[-8000:]
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stderr.close()
    return wall, usage.ru_maxrss / 1024.0, proc.returncode, err.decode(errors="replace")


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = os.path.abspath(args.work)
        self.layerout = os.path.abspath(args.layerout)
        self.py = sys.executable
        help_text = sh(f"'{self.layerout}' generate --help 2>&1")
        self.has_layers = "--layers" in help_text
        self.has_profile = "--profile" in help_text
        self.failures = []  # (model, tool, code, stderr tail)
        self.results = {}  # model -> tool -> {"wall": [...], "rss": [...]}

    def command(self, model, tool):
        mdir = os.path.join(self.work, "models", model)
        out = os.path.join(self.work, "runs", model, tool)
        if tool.startswith("layerout"):
            cmd = [self.layerout, "generate", os.path.join(mdir, "model.onnx"), "-i", os.path.join(mdir, "input.npy"),
                   "-o", out, "--overwrite", "--quiet", "--threads", str(THREADS)]
            if tool == "layerout_none":
                cmd += ["--layers", "^$"]
            return cmd, out
        cmd = [self.py, os.path.join(HERE, "tools.py"), tool, mdir]
        return (cmd if tool == "ort_plain" else cmd + [out]), out

    def tools(self):
        t = ["layerout"]
        if self.has_layers:
            t.append("layerout_none")
        t += ["ort_capture", "ort_plain", "aimet_onnx"]
        if self.args.aimet_torch:
            t.append("aimet_torch")
        t.append("torch_hooks")
        return t

    def run_once(self, model, tool, record=True):
        cmd, out = self.command(model, tool)
        shutil.rmtree(out, ignore_errors=True)
        os.sync()
        wall, rss, code, err = timed(cmd, self.args.timeout)
        if code != 0:
            tail = "\n".join(l for l in err.strip().splitlines() if "Warning" not in l)[-1500:]
            self.failures.append((model, tool, code, tail))
            print(f"  {model} {tool}: FAILED (exit {code})\n    " + tail.replace("\n", "\n    "), flush=True)
            return False
        if record:
            r = self.results.setdefault(model, {}).setdefault(tool, {"wall": [], "rss": []})
            r["wall"].append(wall)
            r["rss"].append(rss)
        print(f"  {model:16s} {tool:14s} {wall:7.2f} s {rss:8.1f} MiB", flush=True)
        return True

    def run(self):
        tools = self.tools()
        if not self.args.smoke:
            # one untimed run of each tool pulls its libraries into the page cache
            print("warm-up", flush=True)
            for tool in tools:
                self.run_once(self.args.models[0], tool, record=False)
        for model in self.args.models:
            print(f"{model}: {self.args.runs} rounds of {', '.join(tools)}", flush=True)
            broken = {t for (m, t, _, _) in self.failures if m == model}
            for rnd in range(self.args.runs):
                k = rnd % len(tools)
                for tool in tools[k:] + tools[:k]:
                    if tool in broken:
                        continue  # a tool that failed once on a model is not retried
                    if not self.run_once(model, tool):
                        broken.add(tool)
            shutil.rmtree(os.path.join(self.work, "runs", model), ignore_errors=True)

    def profile(self):
        """layerout --profile on resnet18 (nothing saved when --layers exists)."""
        if not self.has_profile or "resnet18" not in self.args.models:
            return None
        mdir = os.path.join(self.work, "models", "resnet18")
        out = os.path.join(self.work, "runs", "profile")
        # several samples: the profile averages over runs, so the first run's
        # one-time costs (page faults, primitive creation) weigh 1/PROFILE_RUNS
        samples = os.path.join(self.work, "runs", "profile_inputs.txt")
        os.makedirs(os.path.dirname(samples), exist_ok=True)
        with open(samples, "w") as f:
            f.write((os.path.join(mdir, "input.npy") + "\n") * (1 if self.args.smoke else PROFILE_RUNS))
        cmd = [self.layerout, "generate", os.path.join(mdir, "model.onnx"), "--input-list", samples,
               "-o", out, "--overwrite", "--threads", str(THREADS), "--profile"]
        if self.has_layers:
            cmd += ["--layers", "^$"]
        best = None
        tries = 1 if self.args.smoke else 3
        for _ in range(tries):  # best of 3: the machine is shared
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=self.args.timeout)
            text = p.stdout + p.stderr
            if p.returncode != 0:
                self.failures.append(("resnet18", "layerout --profile", p.returncode, text[-1500:]))
                return dict(text=text, conv_gflops=None)
            g = parse_conv_gflops(text)
            if best is None or (g is not None and (best["conv_gflops"] is None or g > best["conv_gflops"])):
                best = dict(text=text, conv_gflops=g, tries=tries,
                            runs=1 if self.args.smoke else PROFILE_RUNS)
        shutil.rmtree(out, ignore_errors=True)
        return best


def parse_conv_gflops(text):
    """GFLOP/s of the Conv row of --profile's per-op-type table, whose last
    column is GFLOP/s (rows of ops without FLOPs leave it empty)."""
    last_is_gflops = False
    for line in text.splitlines():
        cols = line.split()
        if not cols:
            continue
        if "gflop" in cols[-1].lower() and cols[0].lower() != "conv":
            last_is_gflops = True
            continue
        if last_is_gflops and cols[0] == "Conv":
            try:
                return float(cols[-1])
            except ValueError:
                return None
    return None


def fma_peak(binary, smoke):
    if not binary or not os.path.exists(binary):
        return {}
    out = sh(f"'{binary}' {0.03 if smoke else 0.1} {5 if smoke else 15}")
    peak = {}
    for m in re.finditer(r"(avx512|avx2) threads=(\d+) gflops=([\d.]+)", out):
        peak[(m.group(1), int(m.group(2)))] = float(m.group(3))
    return peak


def median(xs):
    return statistics.median(xs) if xs else None


def fmt(x, nd=2):
    return "–" if x is None else f"{x:.{nd}f}"


def versions(py):
    code = ("import importlib.metadata as m\n"
            "for p in ['onnxruntime','torch','torchvision','aimet-onnx','aimet-torch','numpy','onnx']:\n"
            "    try: print(p, m.version(p))\n"
            "    except Exception: print(p, 'not installed')\n")
    out = subprocess.run([py, "-c", code], capture_output=True, text=True).stdout
    return dict(line.split(" ", 1) for line in out.strip().splitlines())


def writer_bound():
    try:
        src = open(os.path.join(ROOT, "src", "dump", "generator.c")).read()
        m = re.search(r"WRITE_QUEUE_BYTES\s*\(\(size_t\)\s*(\d+)\s*<<\s*20\)", src)
        return int(m.group(1)) if m else None
    except OSError:
        return None


def write_report(b, path, info, peak, prof, layers, t_start, t_end, load_start, load_end, command):
    models = b.args.models
    R = b.results
    med = lambda m, t, k: median(R.get(m, {}).get(t, {}).get(k, []))  # noqa: E731
    lines = []
    w = lines.append
    w("# Benchmarks\n")
    w(f"Produced by `{command}` on {t_start:%Y-%m-%d %H:%M} UTC in {round((t_end - t_start).total_seconds() / 60, 1)} min"
      + (" (**smoke run: one run per tool, no timing claims**)" if b.args.smoke else "") + ".\n")
    w("**Noise.** These machines are shared: other people's builds and tests ran on the same 2 cores "
      f"while this was measured (load average {' / '.join(load_start)} at the start, {' / '.join(load_end)} at the end, "
      "1/5/15 min). Timings taken while others run are noisy, and absolute seconds are higher than on an idle "
      "machine; runs alternate between tools so the load falls on all of them alike, which keeps the *ratios* "
      "more trustworthy than the seconds. Re-run `bench/run.sh` on an idle machine for absolute figures.\n")
    w("## Machine\n")
    w(f"- CPU: {info['cpu']} ({info['cores']} cores visible, {info['mhz']} MHz, "
      f"{'AVX-512' if info['avx512'] else 'no AVX-512'}{', virtualised: ' + info['hypervisor'] if info['hypervisor'] else ''})")
    w(f"- Memory: {info['memory_gib']} GiB; kernel {info['kernel']}; {info['os']}")
    v = info["versions"]
    w(f"- References (repo venv): onnxruntime {v.get('onnxruntime')}, torch {v.get('torch')}, "
      f"torchvision {v.get('torchvision')}, aimet-onnx {v.get('aimet-onnx')}, aimet-torch {v.get('aimet-torch')}, "
      f"numpy {v.get('numpy')}; exporter: Debian torch {info.get('export_torch', '?')} (TorchScript, opset 17)")
    w(f"- layerout: {info['layerout_version']}, `{os.path.relpath(b.layerout, ROOT)}` (Release), "
      f"`--threads {THREADS}`; every reference also runs on {THREADS} threads "
      "(ORT intra-op 2 / inter-op 1, torch.set_num_threads(2); aimet_onnx builds its own session with ORT's "
      "default, one thread per core = 2)\n")

    w("## References\n")
    w("The versions measured against (`scripts/references.sh`; the PyPI ones are pinned in "
      "`tests/requirements.lock`):\n")
    refs = subprocess.run(["bash", os.path.join(ROOT, "scripts", "references.sh"), "--markdown", sys.executable],
                          capture_output=True, text=True).stdout.strip()
    w((refs or "- (scripts/references.sh gave nothing)") + "\n")

    w("## FP32 FMA peak\n")
    if peak:
        w("`bench/fma_peak.c` (gcc -O2 -mavx512f -mfma -fopenmp): 12 independent register-only FMA chains per "
          "thread, best of 15 repetitions of 0.1 s, on 1 thread and on all threads, run at the start and at the "
          "end of the benchmark; the table holds the better of the two:\n")
        w("| instructions | 1 thread GFLOP/s | 2 threads GFLOP/s |")
        w("| --- | ---: | ---: |")
        for isa in ("avx512", "avx2"):
            w(f"| {isa} | {fmt(peak.get((isa, 1)), 1)} | {fmt(peak.get((isa, 2)), 1)} |")
        w("")
        p1 = max(peak.get(("avx512", 1), 0), peak.get(("avx2", 1), 0))
        p2 = max(peak.get(("avx512", 2), 0), peak.get(("avx2", 2), 0))
        if info.get("zen4") and p1:
            w(f"How to read it: this CPU (AMD family 25 model {info['cpu_model_number']}, Zen 4) retires 32 FP32 "
              "FLOP per cycle per core with AVX2 or AVX-512 alike (two 256-bit FMA pipes; a 512-bit FMA takes "
              f"both), so the best single thread, {p1:.0f} GFLOP/s, means a {p1 / 32:.2f} GHz clock (lscpu "
              f"reports the {float(info['mhz'] or 0) / 1000:.2f} GHz base). Two idle cores would give "
              f"{2 * p1:.0f}; the best 2-thread figure is {p2:.0f}"
              + (", so both cores were free for a moment." if p2 >= 0.9 * 2 * p1 else
                 ", short of it because the second core was rarely free: other people's jobs ran on it.")
              + " The conv target below is judged against the measured 2-thread figure.\n")
    else:
        w("Not measured (no AVX-512 on this CPU, or the program did not build).\n")

    w("## Models\n")
    w("Random weights, fixed seed (`bench/bench_models.py`), exported by `bench/prepare.py`. "
      "*Layer outputs* = every graph input and non-Constant node output, as AIMET's LayerOutputUtil "
      "and `layerout generate` save them; sizes measured on one sample.\n")
    w("| model | input | ONNX nodes | layer outputs | their total | Conv+Gemm+MatMul GFLOP |")
    w("| --- | --- | ---: | ---: | ---: | ---: |")
    for m in models:
        L = layers.get(m, {})
        e = L.get("export", {})
        fl = sum(L.get("flops", {}).values()) / 1e9 if L.get("flops") else None
        w(f"| {m} | {e.get('input_dtype', '?')} {'x'.join(map(str, e.get('input_shape', [])))} | {L.get('nodes', '?')} | "
          f"{L.get('tensors', '?')} | {L.get('total_mib', '?')} MiB ({round(L.get('total_bytes', 0) / 1e6)} MB) | {fmt(fl, 2)} |")
    w("")

    tools = b.tools()
    w(f"## Wall time and peak RSS (median of {b.args.runs} whole-process runs)\n")
    w("Wall: spawn to exit, including interpreter start and imports for the Python tools and model loading "
      "for all. Peak RSS: the child's `ru_maxrss`. The Python tools write the same AIMET layout as "
      "layerout (`tools.py`); ONNX Runtime's capture model (every tensor a graph output) is written "
      "before timing.\n")
    header = "| tool | " + " | ".join(models) + " |"
    w(header)
    w("| --- |" + " ---: |" * len(models))
    for t in tools:
        cells = []
        for m in models:
            wall, rss = med(m, t, "wall"), med(m, t, "rss")
            n = len(R.get(m, {}).get(t, {}).get("wall", []))
            if wall is None:
                cells.append("failed" if any(f[0] == m and f[1] == t for f in b.failures) else "–")
            else:
                cells.append(f"{wall:.2f} s / {rss:.0f} MiB" + ("" if n >= b.args.runs else f" (n={n})"))
        w(f"| {TOOL_LABELS[t]} | " + " | ".join(cells) + " |")
    if not b.has_layers:
        w(f"| {TOOL_LABELS['layerout_none']} | " + " | ".join("pending" for _ in models) + " |")
    w("")
    w("Spread (min–max wall seconds over the runs), to judge the noise:\n")
    w(header)
    w("| --- |" + " ---: |" * len(models))
    for t in tools:
        cells = []
        for m in models:
            ws = R.get(m, {}).get(t, {}).get("wall", [])
            cells.append(f"{min(ws):.2f}–{max(ws):.2f}" if ws else "–")
        w(f"| {t} | " + " | ".join(cells) + " |")
    w("")

    w("## Targets (issue 7), each a ratio of medians from this run\n")
    w("| model | layerout / ORT capture, wall (≤ 0.5) | layerout / aimet_onnx, wall (≤ 0.25) | "
      "layerout / aimet_torch, wall | nothing saved / ORT plain, wall (≤ 1.0) | layerout / ORT capture, peak RSS (≤ 0.5) |")
    w("| --- | ---: | ---: | ---: | ---: | ---: |")
    verdicts = []

    def ratio(m, a, c, k, target):
        x, y = med(m, a, k), med(m, c, k)
        if x is None or y is None:
            return "pending" if a == "layerout_none" and not b.has_layers else "–"
        r = x / y
        if target is None or b.args.smoke:
            return f"{r:.2f}"
        ok = r <= target
        verdicts.append(ok)
        return f"{r:.2f} {'met' if ok else '**not met**'}"

    for m in models:
        w(f"| {m} | {ratio(m, 'layerout', 'ort_capture', 'wall', 0.5)} | {ratio(m, 'layerout', 'aimet_onnx', 'wall', 0.25)} | "
          f"{ratio(m, 'layerout', 'aimet_torch', 'wall', None)} | {ratio(m, 'layerout_none', 'ort_plain', 'wall', 1.0)} | "
          f"{ratio(m, 'layerout', 'ort_capture', 'rss', 0.5)} |")
    w("")
    if not b.args.smoke:
        mins = lambda m, t, k: min(R.get(m, {}).get(t, {}).get(k, []) or [None], key=lambda v: v or 0)  # noqa: E731
        w("The same wall-time ratios from each tool's *fastest* run (the run least disturbed by other users; "
          "not the issue's measure, shown because the medians above carry the machine's load):\n")
        w("| model | layerout / ORT capture | layerout / aimet_onnx | nothing saved / ORT plain |")
        w("| --- | ---: | ---: | ---: |")
        for m in models:
            def rmin(a, c):
                x, y = mins(m, a, "wall"), mins(m, c, "wall")
                return f"{x / y:.2f} ({x:.2f} / {y:.2f} s)" if x and y else "–"
            w(f"| {m} | {rmin('layerout', 'ort_capture')} | {rmin('layerout', 'aimet_onnx')} | "
              f"{rmin('layerout_none', 'ort_plain')} |")
        w("")
    big = max(models, key=lambda m: layers.get(m, {}).get("total_bytes", 0)) if models else None
    bound = writer_bound()
    if big and layers.get(big, {}).get("total_bytes", 0) >= 500e6:
        L = layers.get(big, {})
        cap, plain, ortp = med(big, "layerout", "rss"), med(big, "layerout_none", "rss"), med(big, "ort_plain", "rss")
        w(f"**Memory on the large model** ({big}, {L.get('total_mib')} MiB of layer outputs per sample): "
          f"layerout capture peak RSS {fmt(cap, 0)} MiB; ")
        if plain is not None:
            extra = cap - plain
            lim = f"{bound} MiB" if bound is not None else "unknown"
            ok = bound is not None and extra <= bound
            w(f"layerout with nothing saved {plain:.0f} MiB, so saving every layer adds {extra:.0f} MiB; "
              f"the writer queue's bound is {lim} (`WRITE_QUEUE_BYTES`, src/dump/generator.c): "
              f"target capture ≤ plain + bound {'met' if ok else '**not met**'}. ")
        else:
            w(f"layerout's own plain-inference RSS is pending (`--layers` not in this build); "
              f"the writer queue's bound is {bound if bound is not None else '?'} MiB. ")
        w(f"For scale: ONNX Runtime plain inference {fmt(ortp, 0)} MiB, ONNX Runtime capture "
          f"{fmt(med(big, 'ort_capture', 'rss'), 0)} MiB.\n")

    w("## Convolution throughput on resnet18\n")
    conv_flops = layers.get("resnet18", {}).get("flops", {}).get("Conv")
    p2 = peak.get(("avx512", 2)) if peak else None
    if prof and prof.get("conv_gflops") is not None:
        g = prof["conv_gflops"]
        p2 = max(peak.get(("avx512", 2), 0), peak.get(("avx2", 2), 0)) if peak else 0
        p1 = max(peak.get(("avx512", 1), 0), peak.get(("avx2", 1), 0)) if peak else 0
        w(f"`layerout --profile` over {prof['runs']} runs of one sample each, nothing saved (best of {prof['tries']} "
          f"processes): Conv layers at **{g:.1f} GFLOP/s** on {THREADS} threads"
          + (f" = {100 * g / p2:.0f}% of the measured 2-thread FMA peak ({p2:.1f}); target ≥ 50%: "
             f"{'met' if g >= 0.5 * p2 else '**not met**'}" if p2 else "")
          + (f" ({100 * g / (2 * p1):.0f}% of two idle cores, 2 x {p1:.0f})" if p1 else "") + ".\n")
    elif prof:
        w("`--profile` ran but its Conv GFLOP/s could not be read; its output is below.\n")
    else:
        w("Pending: this build of layerout has no `--profile`.\n")
    if conv_flops:
        nothing = med("resnet18", "layerout_none", "wall") or med("resnet18", "layerout", "wall")
        which = "nothing saved" if med("resnet18", "layerout_none", "wall") else "all layers saved"
        if nothing:
            w(f"Lower bound without the profile: resnet18's Conv layers are {conv_flops / 1e9:.2f} GFLOP; the whole "
              f"layerout process ({which}, median {nothing:.2f} s including start-up, model loading and every "
              f"other layer) is {conv_flops / 1e9 / nothing:.1f} GFLOP/s of convolution.\n")
    if prof:
        w("<details><summary>layerout --profile output, resnet18</summary>\n\n```\n" + prof["text"].strip()[:12000]
          + "\n```\n</details>\n")

    if b.failures:
        w("## Failures\n")
        for m, t, code, tail in b.failures:
            w(f"- {m} / {t}: exit {code}\n\n```\n{tail.strip()[-1200:]}\n```\n")
    w("## Reproduce\n")
    w("```\nbench/run.sh            # full benchmark: these one-sample tables, then the dataset runs below\n"
      "bench/run.sh --long     # the same, the dataset runs also with 256 samples a list\n"
      "bench/run.sh --smoke    # CI smoke: one small model, one run per tool, no timing claims\n```\n")
    w("Environment: `LAYEROUT_BUILD` (build folder, default `build`), `BENCH_WORK` (models and dumps, default "
      "`$LAYEROUT_BUILD/bench`), `BENCH_RUNS` (default 5), `BENCH_MODELS`; for the dataset runs "
      "`BENCH_DATASET_MODELS`, `BENCH_SAMPLES`, `BENCH_DATASET_RUNS` (see `bench/run.sh --help`). Per-run "
      "figures of these tables: `$BENCH_WORK/results.json`; the dataset runs alone: `bench/dataset.py --help`.\n")
    with open(path + ".tmp", "w") as f:
        f.write("\n".join(lines))
    os.replace(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--layerout", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--models", nargs="+", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--fma", default="")
    ap.add_argument("--aimet-torch", action="store_true")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--command", default="bench/run.sh")
    ap.add_argument("--from-results", default="", help="rewrite the report from a results.json, running nothing")
    args = ap.parse_args()
    b = Bench(args)
    if args.from_results:
        with open(args.from_results) as f:
            r = json.load(f)
        b.results, b.failures = r["results"], [tuple(x) for x in r["failures"]]
        peak = {(k.rsplit("_", 1)[0], int(k.rsplit("_", 1)[1])): v for k, v in r["fma_peak"].items()}
        t_start, t_end = (datetime.datetime.fromisoformat(t) for t in r["times"])
        write_report(b, args.out, r["machine"], peak, r["profile"], r["layers"], t_start, t_end, r["load"][0],
                     r["load"][1], r.get("command", args.command))
        print(f"wrote {args.out}")
        return 0
    t_start, load_start = datetime.datetime.now(datetime.timezone.utc), loadavg()
    info = machine()
    info["versions"] = versions(sys.executable)
    info["layerout_version"] = sh(f"'{b.layerout}' --version") or "?"
    info["export_torch"] = sh("/usr/bin/python3 -c 'import torch; print(torch.__version__)'")
    print(f"machine: {info['cpu']}, {info['cores']} cores, load {' '.join(load_start)}", flush=True)
    peak = fma_peak(args.fma, args.smoke)
    for (isa, th), g in sorted(peak.items()):
        print(f"FMA peak {isa} {th} thread(s): {g:.1f} GFLOP/s", flush=True)
    layers = {}
    for m in args.models:
        d = os.path.join(b.work, "models", m)
        with open(os.path.join(d, "layers.json")) as f:
            layers[m] = json.load(f)
        with open(os.path.join(d, "export.json")) as f:
            layers[m]["export"] = json.load(f)
    b.run()
    prof = b.profile()
    for k, g in fma_peak(args.fma, args.smoke).items():  # again: the quieter of two moments
        peak[k] = max(g, peak.get(k, 0))
    if prof and prof.get("conv_gflops") is not None:
        print(f"resnet18 Conv: {prof['conv_gflops']:.1f} GFLOP/s (--profile)", flush=True)
    t_end, load_end = datetime.datetime.now(datetime.timezone.utc), loadavg()
    with open(os.path.join(b.work, "results-smoke.json" if args.smoke else "results.json"), "w") as f:
        json.dump(dict(machine=info, fma_peak={f"{k[0]}_{k[1]}": v for k, v in peak.items()}, layers=layers,
                       results=b.results, failures=b.failures, load=[load_start, load_end],
                       profile=prof, times=[t_start.isoformat(), t_end.isoformat()], command=args.command),
                  f, indent=1)
    write_report(b, args.out, info, peak, prof, layers, t_start, t_end, load_start, load_end, args.command)
    print(f"wrote {args.out}", flush=True)
    if b.failures:
        print(f"{len(b.failures)} tool run(s) failed:", ", ".join(f"{m}/{t}" for m, t, _, _ in b.failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
