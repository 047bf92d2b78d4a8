"""The oracle test of `layerout generate` (issue 2).

For every exported model variant in the work folder (see export_models.py):
  1. run `layerout generate MODEL -o OUT -i input.npy --overwrite --quiet`;
  2. run ONNX Runtime with every node output added as a graph output (what
     aimet_onnx does) and compare EVERY tensor layerout saved with ORT's value
     of the same ONNX tensor: float |a-b| <= 1e-4 + 1e-4*|b|, integer and bool
     exact; a tensor present on one side only is a failure; the order file must
     hold exactly the expected set in a valid topological order;
  3. compare the model's final output with PyTorch's forward output;
  4. run AIMET's own aimet_onnx LayerOutputUtil on the same model and input
     and check that the two dumps hold the same files with the same values and
     the same set of names in layer_output_name_order.json.

Prints a line per model and ends with exactly `oracle: N passed, M failed`.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import traceback

import numpy as np
import onnx
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

MODEL_ORDER = ["resnet18", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0",
               "squeezenet1_1", "vit_small", "text_transformer"]
VARIANT_ORDER = ["ts13", "ts17", "dynamo"]

ATOL = 1e-4
RTOL = 1e-4
MAX_DETAIL_LINES = 12


def sanitize(name):
    """AIMET's file-name rule (aimet_onnx.layer_output_utils.LayerOutput)."""
    return re.sub(r"\W+", "_", name.replace("_updated", ""))


class Failures:
    """Collects the failure messages of one model variant."""

    def __init__(self):
        self.items = []

    def add(self, msg):
        self.items.append(msg)

    def __bool__(self):
        return bool(self.items)


# ---------------------------------------------------------------------------
# The graph: which tensors must be saved, who produces them, a valid order.
# ---------------------------------------------------------------------------

class GraphFacts:
    def __init__(self, model):
        g = model.graph
        self.initializers = {t.name for t in g.initializer}
        # AIMET takes every graph.input (it does not drop initializers listed
        # as inputs); the models here keep initializers out of graph.input.
        self.graph_inputs = [i.name for i in g.input if i.name not in self.initializers]
        self.graph_outputs = [o.name for o in g.output]
        self.producer = {}          # tensor -> (node name, op_type)
        self.constant_outputs = set()
        self.node_outputs = []      # in file order, Constant outputs excluded
        for n in g.node:
            for o in n.output:
                if not o:
                    continue
                if n.op_type == "Constant":
                    self.constant_outputs.add(o)
                    continue
                self.producer[o] = (n.name, n.op_type)
                self.node_outputs.append(o)
        self.nodes = [n for n in g.node if n.op_type != "Constant"]
        self.expected = self.graph_inputs + self.node_outputs

    def order_problems(self, order_sanitized, to_original):
        """Problems with the order file: a name twice, a node output before one of its inputs."""
        problems = []
        seen = {}
        for k, s in enumerate(order_sanitized):
            if s in seen:
                problems.append(f"order file names {s} twice")
            seen.setdefault(s, k)
        pos = {to_original[s]: k for s, k in seen.items() if s in to_original}
        saved = set(self.expected)
        for n in self.nodes:
            outs = [o for o in n.output if o and o in pos]
            for i in n.input:
                if not i or i not in saved or i not in pos:
                    continue
                for o in outs:
                    if pos[i] > pos[o]:
                        problems.append(f"order file puts {sanitize(o)} ({n.op_type}) before its input {sanitize(i)}")
        return problems


# ---------------------------------------------------------------------------
# ONNX Runtime reference with every node output as a graph output.
# ---------------------------------------------------------------------------

def ort_reference(model_path, facts, feeds):
    model = onnx.load(model_path)
    # Types from ONNX shape inference where it knows them (element type only:
    # ORT fills in shapes itself); a name-only output, as aimet_onnx adds,
    # where it does not.
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
        vis = list(inferred.graph.value_info) + list(inferred.graph.output)
        elem = {v.name: v.type.tensor_type.elem_type for v in vis
                if v.type.HasField("tensor_type") and v.type.tensor_type.elem_type}
    except Exception:
        elem = {}
    present = {o.name for o in model.graph.output}
    for name in facts.node_outputs:
        if name in present:
            continue
        vi = onnx.ValueInfoProto(name=name)
        if name in elem:
            vi.type.tensor_type.elem_type = elem[name]
        model.graph.output.append(vi)
        present.add(name)
    so = ort.SessionOptions()
    # Every op as the file states it: no fusion, no layout change.
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 2
    so.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    values = dict(zip(names, sess.run(names, feeds)))
    values.update(feeds)
    return values


# ---------------------------------------------------------------------------
# Reading and comparing dumps.
# ---------------------------------------------------------------------------

def compare_values(got, want):
    """Return None when equal within the oracle's tolerance, else a description."""
    if got.shape != want.shape:
        return f"shape {list(got.shape)} != {list(want.shape)}"
    if got.dtype != want.dtype:
        return f"dtype {got.dtype} != {want.dtype}"
    if np.issubdtype(want.dtype, np.floating) or np.issubdtype(want.dtype, np.complexfloating):
        a = got.astype(np.float64)
        b = want.astype(np.float64)
        both_nan = np.isnan(a) & np.isnan(b)
        same_inf = np.isinf(a) & np.isinf(b) & (np.sign(a) == np.sign(b))
        with np.errstate(invalid="ignore"):
            diff = np.abs(a - b)
            bad = ~((diff <= ATOL + RTOL * np.abs(b)) | both_nan | same_inf)
        if bad.any():
            d = np.where(bad, np.nan_to_num(diff, nan=np.inf), 0)
            k = int(np.argmax(d))
            idx = np.unravel_index(k, want.shape) if want.ndim else ()
            return (f"{int(bad.sum())}/{want.size} elements out of tolerance, worst at {list(map(int, idx))}: "
                    f"got {a.flat[k]:.7g} want {b.flat[k]:.7g} (|d|={diff.flat[k]:.3g}); "
                    f"max|want|={np.nanmax(np.abs(b)) if b.size else 0:.3g}")
        return None
    if not np.array_equal(got, want):
        bad = got != want
        k = int(np.argmax(bad.reshape(-1)))
        return f"{int(bad.sum())}/{want.size} elements differ (integer/bool must be exact), first flat {k}: got {got.flat[k]} want {want.flat[k]}"
    return None


def tolerance_use(got, want):
    """Largest |a-b| / (ATOL + RTOL*|b|) over a float tensor: 1.0 is the limit."""
    if got.shape != want.shape or not np.issubdtype(want.dtype, np.floating) or want.size == 0:
        return 0.0
    a = got.astype(np.float64)
    b = want.astype(np.float64)
    finite = np.isfinite(a) & np.isfinite(b)
    if not finite.any():
        return 0.0
    return float(np.max(np.abs(a - b)[finite] / (ATOL + RTOL * np.abs(b[finite]))))


def read_raw(path, dtype, shape):
    data = np.fromfile(path, dtype=dtype)
    n = int(np.prod(shape)) if len(shape) else 1
    if data.size != n:
        raise ValueError(f"{os.path.basename(path)}: {data.size} elements of {dtype}, shape {list(shape)} needs {n}")
    return data.reshape(shape)


def list_files(root):
    out = set()
    if not os.path.isdir(root):
        return out
    for dirpath, _, files in os.walk(root):
        for f in files:
            out.add(os.path.relpath(os.path.join(dirpath, f), root))
    return out


def load_our_dump(out_dir, fails):
    """Return (manifest entries by ONNX name, order list) or (None, None)."""
    try:
        with open(os.path.join(out_dir, "manifest.json")) as f:
            manifest = json.load(f)
    except Exception as e:
        fails.add(f"manifest.json unreadable: {e}")
        return None, None
    try:
        with open(os.path.join(out_dir, "layer_output_name_order.json")) as f:
            order = json.load(f)["layer_output_names"]
    except Exception as e:
        fails.add(f"layer_output_name_order.json unreadable: {e}")
        order = None
    entries = {}
    for t in manifest.get("tensors", []):
        if t.get("name") in entries:
            fails.add(f"manifest lists {t.get('name')} twice")
        entries[t.get("name")] = t
    if manifest.get("samples") != 1:
        fails.add(f"manifest samples = {manifest.get('samples')!r}, expected 1")
    return entries, order


def tensor_path(out_dir, entry):
    f = entry.get("file", "")
    for cand in (os.path.join(out_dir, f), os.path.join(out_dir, "outputs", "layer_outputs_0", f)):
        if f and os.path.isfile(cand):
            return cand
    return os.path.join(out_dir, "outputs", "layer_outputs_0", sanitize(entry.get("name", "")) + ".raw")


def check_layerout_dump(out_dir, facts, ref, feeds, fails, detail):
    """Compare our dump with the ORT reference. Returns (tensors, elements, our values by name)."""
    entries, order = load_our_dump(out_dir, fails)
    if entries is None:
        return 0, 0, {}
    expected = set(facts.expected)
    missing = [n for n in facts.expected if n not in entries]
    extra = [n for n in entries if n not in expected]
    for n in missing:
        op = facts.producer.get(n, ("", "graph input"))[1]
        fails.add(f"missing tensor {n} ({op})")
    for n in extra:
        why = "a Constant output" if n in facts.constant_outputs else "not a graph input or node output"
        fails.add(f"extra tensor {n} ({why})")

    layer_dir = os.path.join(out_dir, "outputs", "layer_outputs_0")
    want_files = {sanitize(n) + ".raw" for n in facts.expected}
    have_files = list_files(layer_dir)
    for f in sorted(have_files - want_files):
        fails.add(f"unexpected file outputs/layer_outputs_0/{f}")

    tensors = elements = 0
    ours = {}
    worst = [0.0, ""]
    for name in facts.expected:
        e = entries.get(name)
        if e is None:
            continue
        op = facts.producer.get(name, ("", "graph input"))[1]
        if os.path.basename(e.get("file", "")) != sanitize(name) + ".raw":
            fails.add(f"{name}: manifest file {e.get('file')!r}, AIMET's name is {sanitize(name)}.raw")
        if name in facts.producer and e.get("op_type") != op:
            fails.add(f"{name}: manifest op_type {e.get('op_type')!r} != {op}")
        if name in facts.producer and e.get("node") != facts.producer[name][0]:
            fails.add(f"{name}: manifest node {e.get('node')!r} != {facts.producer[name][0]!r}")
        try:
            got = read_raw(tensor_path(out_dir, e), np.dtype(e["dtype"]), tuple(e["shape"]))
        except Exception as ex:
            fails.add(f"{name} ({op}): cannot read: {ex}")
            continue
        ours[name] = got
        want = ref.get(name)
        if want is None:
            fails.add(f"{name} ({op}): ORT gave no value")
            continue
        want = np.asarray(want)
        problem = compare_values(got, want)
        tensors += 1
        elements += want.size
        if problem:
            fails.add(f"{name} ({op}): {problem}")
        else:
            use = tolerance_use(got, want)
            if use > worst[0]:
                worst[:] = [use, f"{sanitize(name)} ({op})"]

    # inputs/
    input_files = list_files(os.path.join(out_dir, "inputs"))
    if len(facts.graph_inputs) == 1:
        want_inputs = {"input_0.raw": feeds[facts.graph_inputs[0]]}
    else:
        want_inputs = {os.path.join("input_0", f"{k}.raw"): feeds[n] for k, n in enumerate(facts.graph_inputs)}
    if input_files != set(want_inputs):
        fails.add(f"inputs/ holds {sorted(input_files)}, expected {sorted(want_inputs)}")
    for rel, arr in want_inputs.items():
        p = os.path.join(out_dir, "inputs", rel)
        if os.path.isfile(p):
            with open(p, "rb") as f:
                if f.read() != np.ascontiguousarray(arr).tobytes():
                    fails.add(f"inputs/{rel} differs from the input given")

    # layer_output_name_order.json
    if order is not None:
        to_original = {}
        for n in facts.expected:
            to_original.setdefault(sanitize(n), n)
        want_set = set(to_original)
        got_set = set(order)
        for s in sorted(want_set - got_set):
            fails.add(f"order file lacks {s}")
        for s in sorted(got_set - want_set):
            fails.add(f"order file has extra name {s}")
        for p in facts.order_problems(order, to_original)[:MAX_DETAIL_LINES]:
            fails.add(p)
        if list(order) != [sanitize(n) for n in facts.expected]:
            detail.append("order differs from file order (allowed when topological)")
    if worst[1]:
        detail.append(f"largest float error among passing tensors: {100 * worst[0]:.1f}% of the tolerance, at {worst[1]}")
    return tensors, elements, ours


def check_final_output(facts, ours, ref, expected_path, fails, detail):
    final = facts.graph_outputs[0]
    want = np.load(expected_path)
    ort_problem = compare_values(np.asarray(ref[final]), want) if final in ref else "no ORT value"
    if ort_problem:
        detail.append(f"note: ORT itself vs PyTorch: {ort_problem}")
    if final not in ours:
        fails.add(f"final output {final}: not in the dump")
        return
    problem = compare_values(ours[final], want)
    if problem:
        fails.add(f"final output {final} vs PyTorch forward: {problem}")
    else:
        detail.append(f"final output {sanitize(final)} matches PyTorch (max|d|="
                      f"{np.max(np.abs(ours[final].astype(np.float64) - want)) if want.size else 0:.2g})")


# ---------------------------------------------------------------------------
# AIMET
# ---------------------------------------------------------------------------

def import_aimet():
    """Return (LayerOutputUtil, None) or (None, reason)."""
    try:
        import logging
        from aimet_onnx.layer_output_utils import LayerOutputUtil
        logging.getLogger("LayerOutputs").setLevel(logging.WARNING)
        for name in list(logging.root.manager.loggerDict):
            if name.startswith("aimet") or name.startswith("LayerOutputs"):
                logging.getLogger(name).setLevel(logging.WARNING)
        return LayerOutputUtil, None
    except Exception as e:
        return None, f"`from aimet_onnx.layer_output_utils import LayerOutputUtil` failed: {type(e).__name__}: {e}"


def run_aimet(LayerOutputUtil, model_path, input_array, aimet_dir):
    shutil.rmtree(aimet_dir, ignore_errors=True)
    model = onnx.load(model_path)
    util = LayerOutputUtil(model, aimet_dir)
    util.generate_layer_outputs(input_array)
    del util


def check_against_aimet(out_dir, aimet_dir, facts, fails):
    """Same files under outputs/layer_outputs_0/ and inputs/, same values, same name set."""
    entries, order = load_our_dump(out_dir, Failures())
    entries = entries or {}
    by_file = {}
    for name, e in entries.items():
        by_file[sanitize(name) + ".raw"] = e
    ours_layer = list_files(os.path.join(out_dir, "outputs", "layer_outputs_0"))
    aimet_layer = list_files(os.path.join(aimet_dir, "outputs", "layer_outputs_0"))
    for f in sorted(aimet_layer - ours_layer):
        fails.add(f"AIMET writes outputs/layer_outputs_0/{f}, we do not")
    for f in sorted(ours_layer - aimet_layer):
        fails.add(f"we write outputs/layer_outputs_0/{f}, AIMET does not")
    ours_in = list_files(os.path.join(out_dir, "inputs"))
    aimet_in = list_files(os.path.join(aimet_dir, "inputs"))
    if ours_in != aimet_in:
        fails.add(f"inputs/: we write {sorted(ours_in)}, AIMET writes {sorted(aimet_in)}")
    compared = 0
    for f in sorted(ours_layer & aimet_layer):
        e = by_file.get(f)
        if e is None:
            fails.add(f"{f}: not in our manifest, cannot tell its dtype")
            continue
        dtype, shape = np.dtype(e["dtype"]), tuple(e["shape"])
        try:
            ours = read_raw(os.path.join(out_dir, "outputs", "layer_outputs_0", f), dtype, shape)
            theirs = read_raw(os.path.join(aimet_dir, "outputs", "layer_outputs_0", f), dtype, shape)
        except Exception as ex:
            fails.add(f"vs AIMET {f}: {ex}")
            continue
        problem = compare_values(ours, theirs)
        compared += 1
        if problem:
            fails.add(f"vs AIMET {f} ({e.get('op_type') or 'graph input'}): {problem}")
    for rel in sorted(ours_in & aimet_in):
        with open(os.path.join(out_dir, "inputs", rel), "rb") as a, open(os.path.join(aimet_dir, "inputs", rel), "rb") as b:
            if a.read() != b.read():
                fails.add(f"inputs/{rel} differs from AIMET's")
    try:
        with open(os.path.join(aimet_dir, "layer_output_name_order.json")) as fh:
            aimet_order = json.load(fh)["layer_output_names"]
    except Exception as ex:
        fails.add(f"AIMET's layer_output_name_order.json unreadable: {ex}")
        aimet_order = []
    if order is not None and set(order) != set(aimet_order):
        only_a = sorted(set(aimet_order) - set(order))
        only_o = sorted(set(order) - set(aimet_order))
        fails.add(f"order-file name sets differ: only AIMET {only_a[:8]}, only ours {only_o[:8]}")
    same_order = order is not None and list(order) == list(aimet_order)
    return compared, same_order


# ---------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------

def discover(work):
    variants = []
    failed_exports = []
    for m in MODEL_ORDER:
        for v in VARIANT_ORDER:
            d = os.path.join(work, m, v)
            if os.path.isfile(os.path.join(d, "export.json")):
                variants.append((m, v, d))
            else:
                reason = "not exported"
                fail_file = d + ".failed"
                if os.path.isfile(fail_file):
                    with open(fail_file) as f:
                        reason = "export failed: " + f.read().strip().splitlines()[-1][:300]
                failed_exports.append((f"{m}/{v}", reason))
    return variants, failed_exports


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layerout", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--aimet", choices=["all", "one", "none"], default="all",
                    help="run AIMET on every variant, on one variant per model, or not at all")
    ap.add_argument("--only", nargs="*", help="model or model/variant labels to run")
    ap.add_argument("--threads", type=int, default=0, help="pass --threads N to layerout (0: its default)")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--keep", action="store_true",
                    help="keep the dumps of passing models too (default: only failing ones are kept)")
    args = ap.parse_args()

    t_start = time.time()
    variants, failed_exports = discover(args.work)
    if args.only:
        variants = [x for x in variants if x[0] in args.only or f"{x[0]}/{x[1]}" in args.only]
        failed_exports = [x for x in failed_exports if x[0] in args.only or x[0].split("/")[0] in args.only]

    LayerOutputUtil, aimet_reason = (None, "--aimet none") if args.aimet == "none" else import_aimet()
    if aimet_reason and args.aimet != "none":
        print(f"AIMET unavailable: {aimet_reason}", flush=True)

    passed, failed, skips = 0, 0, []
    aimet_done_models = set()
    timing = {"layerout": 0.0, "ort": 0.0, "compare": 0.0, "aimet": 0.0}
    for label, reason in failed_exports:
        skips.append((label, reason))
        print(f"SKIP {label}: {reason}", flush=True)

    for model_name, variant, d in variants:
        label = f"{model_name}/{variant}"
        fails = Failures()
        detail = []
        model_path = os.path.join(d, "model.onnx")
        input_path = os.path.join(d, "input.npy")
        run_dir = os.path.join(args.work, "runs", model_name, variant)
        out_dir = os.path.join(run_dir, "layerout")
        os.makedirs(run_dir, exist_ok=True)
        tensors = elements = 0
        aimet_note = ""
        t_model = time.time()
        try:
            proto = onnx.load(model_path, load_external_data=False)
            facts = GraphFacts(proto)
            del proto
            input_array = np.load(input_path)
            feeds = {facts.graph_inputs[0]: input_array}

            cmd = [args.layerout, "generate", model_path, "-o", out_dir, "-i", input_path, "--overwrite", "--quiet"]
            if args.threads:
                cmd += ["--threads", str(args.threads)]
            t0 = time.time()
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
                rc, err = proc.returncode, (proc.stderr or "").strip()
            except subprocess.TimeoutExpired:
                rc, err = "timeout", f"no result after {args.timeout:.0f} s"
            t_layerout = time.time() - t0
            timing["layerout"] += t_layerout

            t0 = time.time()
            ref = ort_reference(model_path, facts, feeds)
            timing["ort"] += time.time() - t0

            if rc != 0:
                fails.add(f"layerout exit status {rc}: " + " | ".join(err.splitlines()[-4:]))
            else:
                t0 = time.time()
                tensors, elements, ours = check_layerout_dump(out_dir, facts, ref, feeds, fails, detail)
                check_final_output(facts, ours, ref, os.path.join(d, "expected.npy"), fails, detail)
                timing["compare"] += time.time() - t0

            want_aimet = LayerOutputUtil is not None and (args.aimet == "all" or model_name not in aimet_done_models)
            if want_aimet:
                t0 = time.time()
                aimet_dir = os.path.join(run_dir, "aimet")
                try:
                    run_aimet(LayerOutputUtil, model_path, input_array, aimet_dir)
                    ran = True
                except Exception as e:
                    ran = False
                    reason = f"LayerOutputUtil failed: {type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
                    skips.append((f"{label} (AIMET)", reason))
                    aimet_note = f"AIMET skipped ({reason})"
                if ran:
                    aimet_done_models.add(model_name)
                    if rc == 0:
                        n_files, same_order = check_against_aimet(out_dir, aimet_dir, facts, fails)
                        aimet_note = (f"AIMET: {n_files} files compared, order file "
                                      f"{'identical' if same_order else 'same set, different order'}")
                    else:
                        aimet_note = "AIMET ran; nothing of ours to compare"
                timing["aimet"] += time.time() - t0
            elif LayerOutputUtil is None:
                aimet_note = "AIMET skipped"
        except Exception as e:
            fails.add(f"oracle error: {type(e).__name__}: {e}")
            traceback.print_exc()
            t_layerout = 0.0

        secs = time.time() - t_model
        status = "FAIL" if fails else "PASS"
        print(f"{status} {label}: {tensors} tensors, {elements} elements compared with ORT; "
              f"layerout {t_layerout:.2f} s, total {secs:.1f} s"
              + (f"; {aimet_note}" if aimet_note else ""), flush=True)
        for line in detail:
            print(f"    {line}")
        for line in fails.items[:MAX_DETAIL_LINES]:
            print(f"    - {line}")
        if len(fails.items) > MAX_DETAIL_LINES:
            print(f"    ... and {len(fails.items) - MAX_DETAIL_LINES} more problems (all in {run_dir}/problems.txt)")
        with open(os.path.join(run_dir, "problems.txt"), "w") as f:
            f.write("\n".join(fails.items) + ("\n" if fails.items else ""))
        if fails:
            failed += 1
        else:
            passed += 1
            if not args.keep:
                shutil.rmtree(os.path.join(run_dir, "layerout"), ignore_errors=True)
                shutil.rmtree(os.path.join(run_dir, "aimet"), ignore_errors=True)

    if LayerOutputUtil is None and args.aimet != "none":
        skips.append(("AIMET comparison, every model", aimet_reason))
    print(f"timings: layerout {timing['layerout']:.1f} s, ORT reference {timing['ort']:.1f} s, "
          f"compare {timing['compare']:.1f} s, AIMET {timing['aimet']:.1f} s, "
          f"oracle total {time.time() - t_start:.1f} s")
    if skips:
        reasons = "; ".join(f"{lab}: {why}" for lab, why in skips)
        print(f"oracle: {len(skips)} skipped ({reasons})")
    print(f"oracle: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
