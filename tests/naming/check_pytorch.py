"""PyTorch naming scheme against forward hooks.

    python check_pytorch.py LAYEROUT WORK [--only MODEL/VARIANT ...]

For every WORK/<model>/<variant>/ written by hooks_export.py, runs
`layerout generate --naming pytorch` on model.onnx and checks that each hooked
leaf module gets a file named by its module name (re.sub(r'\\W+', '_', name);
earlier calls of a module called K times: NAME__callN, the last call: NAME)
holding the hook's output within 1e-4 + 1e-4*|ref|.

A hooked module may lack a file only for one of these reasons, each verified
here rather than assumed:
  noop        its output equalled its input in the hooked run (Dropout,
              Identity, StochasticDepth in eval mode): exporters drop it, so
              no ONNX node computes it.
  folded-bn   TorchScript exporter: a BatchNorm reading a Conv's output is
              folded into that Conv's weights; no node of the BatchNorm is
              left. Its output is checked in the Conv's NAME__folded file.
  folded-conv the same Conv: the exported Conv computes the BatchNorm's output
              (checked as NAME__folded, and the plain NAME must NOT exist,
              since it would not hold the Conv's own output).
  fused-conv  dynamo exporter: its optimizer fuses the BatchNorm into the Conv
              and labels the fused node with the BatchNorm's scope, so the
              BatchNorm gets the file and the Conv none.
Files for modules the hooks did not see are listed (an exporter's scope that
hooks cannot have, e.g. a module that only calls functionals on its child's
parameters, as MultiheadAttention does with out_proj).
"""

import argparse
import json
import os
import re
import subprocess
import sys

import numpy as np


def sanitize(name):
    return re.sub(r"\W+", "_", name)


def load_raw(path, entry):
    return np.fromfile(path, dtype=np.dtype(entry["dtype"])).reshape(entry["shape"])


def close(got, ref):
    return got.shape == ref.shape and bool(np.all(np.abs(got.astype(np.float64) - ref) <= 1e-4 + 1e-4 * np.abs(ref)))


def check_variant(layerout, d):
    hooks = json.load(open(os.path.join(d, "hooks.json")))
    variant = hooks["variant"]
    out = os.path.join(d, "dump_pytorch")
    r = subprocess.run([layerout, "generate", os.path.join(d, "model.onnx"), "-o", out, "--overwrite",
                        "-i", os.path.join(d, "input.npy"), "--naming", "pytorch"], capture_output=True, text=True)
    if r.returncode != 0:
        return [f"layerout generate failed: {r.stderr.strip()[:500]}"], [], 0
    manifest = json.load(open(os.path.join(out, "manifest.json")))
    entries = {os.path.splitext(e["file"])[0]: e for e in manifest["tensors"]}
    files_dir = os.path.join(out, "outputs", "layer_outputs_0")
    problems, notes = [], []
    used = set()
    modules = hooks["modules"]
    # BatchNorms reading a Conv's output: the pairs exporters fold
    folded_pairs = {m["reads"]: n for n, m in modules.items()
                    if m["class"].startswith("BatchNorm") and m.get("reads")
                    and modules.get(m["reads"], {}).get("class", "").startswith("Conv")}
    checked = 0

    def compare(stem, hook_file, what):
        nonlocal checked
        e = entries.get(stem)
        if e is None:
            problems.append(f"{what}: no file {stem}.raw")
            return
        used.add(stem)
        ref = np.load(os.path.join(d, "hooks", hook_file)).astype(np.float64)
        got = load_raw(os.path.join(files_dir, e["file"]), e)
        checked += 1
        if not close(got, ref):
            if got.shape != ref.shape:
                problems.append(f"{what}: {stem} shape {list(got.shape)}, hook {list(ref.shape)}")
            else:
                err = float(np.max(np.abs(got - ref)))
                problems.append(f"{what}: {stem} differs from the hook output (max abs error {err:.3g})")

    for name, m in modules.items():
        if m["calls"] == 0 or m.get("not_tensor"):
            continue
        stem = sanitize(name)
        calls = m["calls"]
        if name in folded_pairs and variant != "dynamo":
            bn = folded_pairs[name]
            if stem in entries:
                problems.append(f"{name}: folded Conv written as {stem} (holds {bn}'s output, not its own)")
            compare(stem + "__folded", f"{bn}__{modules[bn]['calls']}.npy", f"{name} (folded-conv, holds {bn})")
            notes.append(f"{name}: folded-conv, checked as {stem}__folded against {bn}")
            continue
        if name in folded_pairs and variant == "dynamo":
            if stem in entries:
                problems.append(f"{name}: fused Conv has a file {stem}, expected none")
            notes.append(f"{name}: fused-conv (dynamo labels the fused node {folded_pairs[name]})")
            continue
        if m["class"].startswith("BatchNorm") and m.get("reads") in folded_pairs and variant != "dynamo":
            if stem in entries:
                problems.append(f"{name}: folded BatchNorm has a file {stem}")
            notes.append(f"{name}: folded-bn into {m['reads']}")
            continue
        for k in range(1, calls + 1):
            s = stem if k == calls else f"{stem}__call{k}"
            if m["identity"] and s not in entries:
                notes.append(f"{name}: noop ({m['class']}, output == input), no node")
                continue
            compare(s, f"{name}__{k}.npy", f"{name} call {k}/{calls}")
    extra = sorted(set(entries) - used)
    if extra:
        notes.append(f"files for modules the hooks did not see: {', '.join(extra)}")
    return problems, notes, checked


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("layerout")
    ap.add_argument("work")
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    passed = failed = 0
    for model in sorted(os.listdir(args.work)):
        mdir = os.path.join(args.work, model)
        if not os.path.isdir(mdir):
            continue
        for variant in sorted(os.listdir(mdir)):
            d = os.path.join(mdir, variant)
            tag = f"{model}/{variant.replace('.failed', '')}"
            if args.only and tag not in args.only:
                continue
            if variant.endswith(".failed"):
                print(f"pytorch naming {tag}: FAILED (export: {open(d).read().strip()[:300]})")
                failed += 1
                continue
            if not os.path.exists(os.path.join(d, "hooks.json")):
                continue
            problems, notes, checked = check_variant(args.layerout, d)
            status = "ok" if not problems else "FAILED"
            print(f"pytorch naming {tag}: {status} ({checked} module outputs checked, {len(notes)} notes)")
            for p in problems:
                print("    " + p)
            if args.verbose or problems:
                for n in notes:
                    print("    note: " + n)
            passed += not problems
            failed += bool(problems)
    print(f"pytorch naming: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
