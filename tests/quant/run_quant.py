"""Quantization-simulation tests of `layerout generate --encodings` (issue 4).

  1. reference: encodings files in all three versions (per-tensor and
     per-channel, symmetric and asymmetric, 4-, 8- and 16-bit) for a CNN and a
     transformer exported from PyTorch; every saved tensor is compared with
     PyTorch running the same model with torch.fake_quantize_per_tensor_affine /
     fake_quantize_per_channel_affine at the same tensors.
  2. aimet: AIMET's QuantizationSimModel -> compute_encodings -> export, its
     LayerOutputUtil on the sim, and layerout on the exported files.
  3. qdq: the same encodings as QuantizeLinear/DequantizeLinear nodes run by
     ONNX Runtime.
  4. aimet-sets (aimet_sets.py): AIMET's own set of files on a CNN whose
     weights are Constant nodes, a transformer, a detector and a hand-built
     graph, in every default config, width, granularity and version; and
     weight axes shared by two ops.
  5. bad input through the command line.

Teacher forcing: in 1 and 3 each layer of the reference reads layerout's own
saved inputs, so a rounding tie decided differently in one layer (a float
difference of 1 ulp in a convolution can move a value across a rounding
boundary) is counted there and does not spread into every later layer.
"""
import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
import time
import traceback

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

results = {"passed": 0, "failed": 0, "skipped": 0}


def report(name, ok, detail=""):
    results["passed" if ok else "failed"] += 1
    print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)


# ---- encodings: one grid, three file formats ----------------------------------

class Grid:
    """real = (q + offset) * scale, q in [0, 2^bw - 1] (offset on the unsigned grid)."""

    def __init__(self, bw, sym, scale, offset, axis=None):
        self.bw, self.sym = bw, sym
        self.scale = np.atleast_1d(np.asarray(scale, dtype=np.float64))
        self.offset = np.atleast_1d(np.asarray(offset, dtype=np.float64))
        self.axis = axis

    @staticmethod
    def fit(t, bw, sym, axis=None):
        t = np.asarray(t, dtype=np.float64)
        red = tuple(d for d in range(t.ndim) if d != axis) if axis is not None else None
        lo = np.minimum(t.min(axis=red), 0.0)
        hi = np.maximum(t.max(axis=red), 0.0)
        if sym:
            scale = np.maximum(np.maximum(-lo, hi), 1e-6) / (2 ** (bw - 1) - 1)
            offset = np.full_like(scale, -(2 ** (bw - 1)))
        else:
            scale = np.maximum(hi - lo, 1e-6) / (2 ** bw - 1)
            offset = np.round(lo / scale)
        return Grid(bw, sym, scale, offset, axis)

    def v061(self):
        return [{"bitwidth": self.bw, "dtype": "int", "is_symmetric": str(self.sym), "scale": float(s),
                 "offset": float(o), "min": float(o * s), "max": float((o + 2 ** self.bw - 1) * s)}
                for s, o in zip(self.scale, self.offset)]

    def v100(self, name):
        return {"name": name, "dtype": "INT", "bw": self.bw, "is_sym": self.sym,
                "enc_type": "PER_TENSOR" if self.axis is None else "PER_CHANNEL",
                "scale": self.scale.tolist(), "offset": self.offset.tolist()}

    def v200(self, name):
        half = 2 ** (self.bw - 1)
        zp = -(self.offset + half) if self.sym else -self.offset
        e = {"name": name, "output_dtype": f"{'' if self.sym else 'u'}int{self.bw}"}
        if self.axis is None:
            e["y_scale"] = float(self.scale[0])
            if zp[0] != 0:
                e["y_zero_point"] = int(zp[0])
        else:
            e["y_scale"], e["axis"] = self.scale.tolist(), self.axis
            if np.any(zp != 0):
                e["y_zero_point"] = zp.astype(np.int64).tolist()
        return e

    # torch / ONNX parameters: zero point on the unsigned grid
    def zero_point(self):
        return (-self.offset).astype(np.int64)


def write_encodings(path, version, params, acts):
    if version == "0.6.1":
        doc = {"version": version, "param_encodings": {n: g.v061() for n, g in params.items()},
               "activation_encodings": {n: g.v061() for n, g in acts.items()}}
    elif version == "1.0.0":
        doc = {"version": version, "param_encodings": [g.v100(n) for n, g in params.items()],
               "activation_encodings": [g.v100(n) for n, g in acts.items()]}
    else:
        doc = {"version": version, "encodings": [g.v200(n) for n, g in {**params, **acts}.items()]}
    with open(path, "w") as f:
        json.dump(doc, f)


def fake_quant(torch, t, g):
    if g.axis is None:
        return torch.fake_quantize_per_tensor_affine(t, float(g.scale[0]), int(g.zero_point()[0]), 0, 2 ** g.bw - 1)
    axis = g.axis % t.dim()
    return torch.fake_quantize_per_channel_affine(
        t, torch.tensor(g.scale, dtype=torch.float32), torch.tensor(g.zero_point(), dtype=torch.int32), axis, 0,
        2 ** g.bw - 1)


def near_boundary(v, g, eps=1e-6):
    """Elements within eps (relative to max(1, |v|)) of a rounding boundary of g."""
    scale = g.scale.astype(np.float64)
    if g.axis is not None:
        shape = [1] * v.ndim
        shape[g.axis % v.ndim] = -1
        scale = scale.reshape(shape)
    t = v.astype(np.float64) / scale
    dist = np.abs(t - np.floor(t) - 0.5) * scale
    return dist <= eps * np.maximum(1.0, np.abs(v))


# ---- running layerout ------------------------------------------------------------

def run_layerout(layerout, model, enc, x, out, extra=()):
    shutil.rmtree(out, ignore_errors=True)
    np.save(out + ".input.npy", x)
    cmd = [layerout, "generate", model, "-i", out + ".input.npy", "-o", out, "--quiet"]
    if enc:
        cmd += ["--encodings", enc]
    cmd += list(extra)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr.strip()}")
    return load_dump(out)


def load_dump(out):
    man = json.load(open(os.path.join(out, "manifest.json")))
    tensors = {}
    for e in man["tensors"]:
        dt = np.dtype(e["dtype"])
        a = np.fromfile(os.path.join(out, "outputs", "layer_outputs_0", e["file"]), dtype=dt)
        tensors[e["name"]] = (a.reshape(e["shape"]), e.get("encoding"))
    return tensors


# ---- test 1: PyTorch fake-quant reference -------------------------------------------

CONFIGS = [  # (activation bw, activation symmetric, weight bw, weight symmetric, weight per-channel)
    (8, False, 8, True, True),
    (16, False, 4, False, False),
    (4, True, 16, True, True),
    (8, True, 4, True, True),
]


def onnx_map(model_path):
    """Non-Constant nodes in graph order: (op_type, output name); and initializer names."""
    import onnx
    m = onnx.load(model_path)
    nodes = [(n.op_type, n.output[0]) for n in m.graph.node if n.op_type != "Constant"]
    return nodes, {i.name for i in m.graph.initializer}, m


def weight_axis(model_onnx, name):
    for n in model_onnx.graph.node:
        if len(n.input) > 1 and n.input[1] == name:
            if n.op_type == "Conv":
                return 0
            if n.op_type == "Gemm":
                tb = [a.i for a in n.attribute if a.name == "transB"]
                return 0 if tb and tb[0] else 1
            if n.op_type == "MatMul":
                return 1
    return None


def test_reference(args, work):
    import torch
    import models
    torch.set_num_threads(1)
    total_compared = total_ties = 0
    for name in ["cnn", "transformer"]:
        model, shape = models.build(name)
        path = os.path.join(work, f"{name}.onnx")
        models.export(model, shape, path)
        nodes, inits, monnx = onnx_map(path)
        leaves = models.leaf_modules(model)
        # The k-th leaf call is the k-th non-Constant node (see models.py).
        calls = []
        hooks = [m.register_forward_hook(lambda mod, i, o, n=n: calls.append((n, o.detach().clone())))
                 for n, m in leaves]
        calib = [models.sample(shape, s) for s in range(3)]
        stats = {}
        with torch.no_grad():
            for x in calib:
                calls.clear()
                model(torch.from_numpy(x))
                if len(calls) != len(nodes):
                    raise RuntimeError(f"{name}: {len(calls)} leaf calls but {len(nodes)} ONNX nodes")
                for (mod, out), (op, onnx_name) in zip(calls, nodes):
                    stats.setdefault(onnx_name, []).append(out.numpy())
                stats.setdefault("input", []).append(x)
        for h in hooks:
            h.remove()
        call_names = [onnx_name for _, onnx_name in nodes]
        params = dict(model.named_parameters())
        x = models.sample(shape, 42)
        for ci, (abw, asym, wbw, wsym, wpc) in enumerate(CONFIGS):
            acts = {"input": Grid.fit(np.stack(stats["input"]), abw, asym)}
            for i, n in enumerate(call_names):
                # Mixed widths: every third activation gets 16 bits.
                bw = 16 if i % 3 == 2 else abw
                acts[n] = Grid.fit(np.stack(stats[n]), bw, asym)
            pgrids = {}
            for pn, p in params.items():
                if pn not in inits:
                    continue
                w = p.detach().numpy()
                ax = weight_axis(monnx, pn)
                if w.ndim >= 2 and ax is not None:
                    pgrids[pn] = Grid.fit(w, wbw, wsym, ax if wpc else None)
                elif pn.endswith("bias") and w.ndim == 1:
                    pgrids[pn] = Grid.fit(w, 16, False)
                elif w.ndim == 1:
                    pgrids[pn] = Grid.fit(w, 8, True)
            # The PyTorch reference: fake-quantized weights, hooks on every layer.
            ref = copy.deepcopy(model)
            with torch.no_grad():
                for pn, p in ref.named_parameters():
                    if pn in pgrids:
                        p.copy_(fake_quant(torch, p, pgrids[pn]))
            for version in ["0.6.1", "1.0.0", "2.0.0"]:
                tag = f"reference {name} config {ci} (act {abw}-bit {'sym' if asym else 'asym'}, weights {wbw}-bit " \
                      f"{'sym' if wsym else 'asym'} {'per-channel' if wpc else 'per-tensor'}) v{version}"
                try:
                    enc = os.path.join(work, f"{name}_{ci}_{version}.encodings")
                    write_encodings(enc, version, pgrids, acts)
                    # torch.fake_quantize_* and ONNX QuantizeLinear round half to even
                    dump = run_layerout(args.layerout, path, enc, x, os.path.join(work, f"{name}_{ci}_{version}"),
                                        ["--rounding", "half-even"])
                    compared, ties, problems = compare_reference(torch, ref, models.leaf_modules(ref), call_names, acts, dump, x)
                    total_compared += compared
                    total_ties += ties
                    report(tag, not problems, f"{compared} elements compared, {ties} within 1e-6 of a rounding "
                           f"boundary left out" + ("; " + "; ".join(problems[:5]) if problems else ""))
                except Exception as e:
                    report(tag, False, f"{type(e).__name__}: {e}")
    print(f"reference: {total_compared} elements compared in all, {total_ties} at rounding ties", flush=True)


def compare_reference(torch, ref, leaves, call_names, acts, dump, x):
    problems = []
    counts = {"compared": 0, "ties": 0}

    def check(onnx_name, v):
        """v: the reference's float value; returns layerout's saved tensor for the next layer."""
        if onnx_name not in dump:
            problems.append(f"{onnx_name}: not in the dump")
            return v
        ours, enc = dump[onnx_name]
        vn = v.numpy()
        if ours.shape != vn.shape:
            problems.append(f"{onnx_name}: shape {ours.shape} vs {vn.shape}")
            return v
        g = acts.get(onnx_name)
        if g is None:
            if not np.allclose(ours, vn, rtol=1e-4, atol=1e-5):
                problems.append(f"{onnx_name}: float values differ")
            counts["compared"] += vn.size
        else:
            if enc is None:
                problems.append(f"{onnx_name}: manifest records no encoding")
            want = fake_quant(torch, v, g).numpy()
            tie = near_boundary(vn, g)
            bad = (ours != want) & ~tie
            step = (g.scale.max() * 1.0001)
            if bad.any() or np.any(np.abs(ours - want)[tie] > step):
                i = np.argwhere(bad)[0] if bad.any() else np.argwhere(tie)[0]
                problems.append(f"{onnx_name}: {int(bad.sum())} elements differ, e.g. at {tuple(i)}: "
                                f"float {vn[tuple(i)]!r} -> ours {ours[tuple(i)]!r}, torch {want[tuple(i)]!r}")
            counts["compared"] += int((~tie).sum())
            counts["ties"] += int(tie.sum())
        return torch.from_numpy(ours.copy())

    k = [0]

    def hook(mod, inp, out):
        name = call_names[k[0]]
        k[0] += 1
        return check(name, out.detach())

    if len(leaves) == 0:
        raise RuntimeError("no leaf modules")

    hooks = [m.register_forward_hook(hook) for _, m in leaves]
    try:
        with torch.no_grad():
            xin = check("input", torch.from_numpy(x))
            ref(xin)
        if k[0] != len(call_names):
            problems.append(f"{k[0]} layers ran, {len(call_names)} expected")
    finally:
        for h in hooks:
            h.remove()
    return counts["compared"], counts["ties"], problems


# ---- test 3: the same encodings as a QDQ model in ONNX Runtime ---------------------

def test_qdq(args, work):
    import onnx
    import onnxruntime as ort
    from onnx import helper, numpy_helper, TensorProto
    total = ties_total = 0
    for name in ["cnn", "transformer"]:
        for ci in range(len(CONFIGS)):
            tag = f"qdq {name} config {ci} (ONNX Runtime QuantizeLinear/DequantizeLinear)"
            try:
                enc_path = os.path.join(work, f"{name}_{ci}_2.0.0.encodings")
                encs = {e["name"]: e for e in json.load(open(enc_path))["encodings"]}
                m = onnx.load(os.path.join(work, f"{name}.onnx"))
                dump = load_dump(os.path.join(work, f"{name}_{ci}_2.0.0"))
                compared, ties, problems = run_qdq(onnx, ort, helper, numpy_helper, TensorProto, m, encs, dump,
                                                   os.path.join(work, f"{name}_{ci}_qdq.onnx"))
                total += compared
                ties_total += ties
                report(tag, not problems, f"{compared} elements compared, {ties} at rounding ties"
                       + ("; " + "; ".join(problems[:5]) if problems else ""))
            except Exception as e:
                report(tag, False, f"{type(e).__name__}: {e}")
    print(f"qdq: {total} elements compared in all, {ties_total} at rounding ties", flush=True)


def qdq_dtype(TensorProto, dt):
    table = {"int8": TensorProto.INT8, "uint8": TensorProto.UINT8, "int16": TensorProto.INT16,
             "uint16": TensorProto.UINT16, "int4": TensorProto.INT4, "uint4": TensorProto.UINT4}
    return table[dt]


def run_qdq(onnx, ort, helper, numpy_helper, TensorProto, m, encs, dump, path):
    """Inserts Q/DQ for every encoding. Each encoded activation T becomes
    Q(T) -> DQ -> 'T__ort' (a graph output), while its readers take a new
    graph input 'T__lo' fed with layerout's saved T: every layer is computed
    from layerout's inputs and compared on its own."""
    g = m.graph
    inits = {i.name for i in g.initializer}
    new_nodes, extra_inits, feeds, outputs = [], [], {}, []

    def qdq(src, dst, e, tag):
        dt = qdq_dtype(TensorProto, e["output_dtype"])
        scale = np.asarray(e["y_scale"], dtype=np.float32)
        zp = np.asarray(e.get("y_zero_point", np.zeros_like(scale, dtype=np.int64)))
        zp = np.broadcast_to(zp, scale.shape)
        extra_inits.append(numpy_helper.from_array(scale, tag + "_scale"))
        extra_inits.append(helper.make_tensor(tag + "_zp", dt, list(scale.shape), zp.astype(np.int64).ravel().tolist()))
        attrs = {"axis": e["axis"]} if "axis" in e else {}
        new_nodes.append(helper.make_node("QuantizeLinear", [src, tag + "_scale", tag + "_zp"], [tag + "_q"], **attrs))
        new_nodes.append(helper.make_node("DequantizeLinear", [tag + "_q", tag + "_scale", tag + "_zp"], [dst], **attrs))

    rename = {}
    for name, e in encs.items():
        if name in inits:
            qdq(name, name + "__dq", e, "w_" + str(len(rename)))
            rename[name] = name + "__dq"
        else:
            qdq(name, name + "__ort", e, "a_" + str(len(rename)))
            rename[name] = name + "__lo"
            outputs.append(name)
    # Readers of encoded tensors read the renamed ones.
    for n in g.node:
        for i, inp in enumerate(n.input):
            if inp in rename:
                n.input[i] = rename[inp]
    for o in g.output:
        if o.name in rename:
            o.name = rename[o.name]  # graph outputs are compared through __ort instead
    nodes = list(g.node) + new_nodes
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.extend(extra_inits)
    for name in outputs:
        arr = dump[name][0]
        g.input.append(helper.make_tensor_value_info(name + "__lo", TensorProto.FLOAT, list(arr.shape)))
        feeds[name + "__lo"] = arr
        g.output.append(helper.make_tensor_value_info(name + "__ort", TensorProto.FLOAT, None))
        g.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    m.opset_import[0].version = max(m.opset_import[0].version, 21)
    onnx.save(m, path)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    names = []
    for name in outputs:
        names += [name + "__ort", name]
    # The graph input itself: ORT quantizes the float sample we gave layerout.
    sess_inputs = {i.name for i in sess.get_inputs()}
    feeds = {k: v for k, v in feeds.items() if k in sess_inputs}
    if "input" in sess_inputs:
        feeds["input"] = np.load(os.path.join(os.path.dirname(path), os.path.basename(path).replace("_qdq.onnx", "_2.0.0.input.npy")))
    res = dict(zip(names, sess.run(names, feeds)))
    problems, compared, ties = [], 0, 0
    for name in outputs:
        ours = dump[name][0]
        theirs, before = res[name + "__ort"], res[name]
        e = encs[name]
        scale = np.asarray(e["y_scale"], dtype=np.float64)
        bw = int(e["output_dtype"].lstrip("uint"))
        g_ = Grid(bw, False, scale, np.zeros_like(scale), e.get("axis"))
        tie = near_boundary(before, g_)
        bad = (ours != theirs) & ~tie
        if bad.any():
            i = tuple(np.argwhere(bad)[0])
            problems.append(f"{name}: {int(bad.sum())} elements differ, e.g. float {before[i]!r} -> ours {ours[i]!r}, "
                            f"ORT {theirs[i]!r}")
        compared += int((~tie).sum())
        ties += int(tie.sum())
    return compared, ties, problems


# ---- test 2: AIMET itself -------------------------------------------------------------

def test_aimet(args, work):
    try:
        import onnx
        from aimet_onnx.quantsim import QuantizationSimModel
        from aimet_onnx.layer_output_utils import LayerOutputUtil
        import logging
        logging.disable(logging.WARNING)
    except Exception as e:
        results["skipped"] += 1
        print(f"skip aimet: aimet-onnx cannot be imported: {type(e).__name__}: {e}", flush=True)
        return
    import models
    import aimet_onnx
    cfg_dir = os.path.join(os.path.dirname(aimet_onnx.__file__), "common", "quantsim_config")
    setups = [("per-tensor", None, "1.0.0", "int8", "int8"),
              ("per-channel", os.path.join(cfg_dir, "default_config_per_channel.json"), "2.0.0", "int8", "int8"),
              ("per-channel w4a16", os.path.join(cfg_dir, "default_config_per_channel.json"), "0.6.1", "int4", "int16")]
    for name in ["cnn", "transformer"]:
        model, shape = models.build(name)
        path = os.path.join(work, f"{name}.onnx")
        if not os.path.exists(path):
            models.export(model, shape, path)
        for label, cfg, version, ptype, atype in setups:
            tag = f"aimet {name} {label} (sim.export {version}, --rounding half-away)"
            try:
                sim = QuantizationSimModel(onnx.load(path), param_type=ptype, activation_type=atype,
                                           config_file=cfg)
                sim.compute_encodings([{"input": models.sample(shape, s)} for s in range(4)])
                exp = os.path.join(work, f"aimet_{name}_{label.replace(' ', '_')}")
                shutil.rmtree(exp, ignore_errors=True)
                os.makedirs(exp)
                # The sim does not quantize biases; a 2.0.0 export would add int32
                # bias encodings that AIMET's own layer outputs never saw.
                sim.export(exp, "model", encoding_version=version, export_int32_bias=False)
                x = models.sample(shape, 7)
                aimet_dir = exp + "_aimet"
                LayerOutputUtil(sim.model.model, aimet_dir).generate_layer_outputs(x)
                counts = {}
                for rounding in ["half-away", "half-even"]:
                    dump = run_layerout(args.layerout, os.path.join(exp, "model.onnx"), os.path.join(exp, "model.encodings"),
                                        x, exp + "_lo_" + rounding, ["--rounding", rounding])
                    counts[rounding] = compare_aimet(dump, aimet_dir)
                n, exact, close, ties, problems = counts["half-away"]
                report(tag, not problems, f"{n} tensors, {exact} elements identical, {close} float (unencoded) "
                       f"within 1e-5, {ties} one step apart at ties; with --rounding half-even "
                       f"{counts['half-even'][3]} one step apart" + ("; " + "; ".join(problems[:5]) if problems else ""))
            except Exception as e:
                report(tag, False, f"{type(e).__name__}: {e}")
                traceback.print_exc()


def compare_aimet(dump, aimet_dir):
    folder = os.path.join(aimet_dir, "outputs", "layer_outputs_0")
    import re
    problems = []
    n = exact = close = ties = propagated = 0
    tie_seen = False  # a tie decided differently upstream moves values downstream
    theirs_files = set(os.listdir(folder))
    steps = [float(m.group(1)) for _, enc in dump.values() if enc for m in [re.search(r"scale=([0-9.e+-]+)", enc)] if m]
    max_step = max(steps) if steps else 0.0
    for name, (ours, enc) in dump.items():
        f = re.sub(r"\W+", "_", name) + ".raw"
        if f not in theirs_files:
            problems.append(f"{name}: AIMET has no {f}")
            continue
        theirs = np.fromfile(os.path.join(folder, f), dtype=ours.dtype).reshape(ours.shape)
        n += 1
        same = ours == theirs
        exact += int(same.sum())
        if same.all():
            continue
        if enc is None:
            ok = np.isclose(ours, theirs, rtol=1e-5, atol=1e-6)
            close += int((ok & ~same).sum())
            # A copy of an encoded tensor (Reshape, Transpose) carries its ties along.
            moved = ~ok & (np.abs(ours.astype(np.float64) - theirs) <= max_step * 1.001)
            ties += int(moved.sum())
            if (~ok & ~moved).any():
                problems.append(f"{name}: {int((~ok & ~moved).sum())} float elements differ beyond 1e-5")
            continue
        m = re.search(r"scale=([0-9.e+-]+)", enc)
        step = float(m.group(1)) if m else None
        diff = np.abs(ours.astype(np.float64) - theirs)
        # one step, plus float32 rounding of the dequantized value itself:
        # with 16 bits, (q + offset) * scale carries up to ~0.4% of a step
        slack = 2 * np.finfo(np.float32).eps * np.maximum(np.abs(ours), np.abs(theirs)).astype(np.float64)
        one = (~same) & (step is not None) & (diff <= (step or 0) * 1.001 + slack)
        ties += int(one.sum())
        # Past a tie decided differently, the layers downstream read slightly
        # different inputs: a few elements may then land a few steps apart.
        # Allowed only downstream of such a tie, for at most 0.1% of a
        # tensor's elements and within 4 steps; counted.
        more = ~same & ~one
        few = more & (step is not None) & (diff <= (step or 0) * 4.001 + slack)
        if tie_seen and more.sum() == few.sum() and few.sum() <= max(1, ours.size // 1000):
            propagated += int(few.sum())
        elif more.any():
            worst = float(diff[more].max() / step) if step else float("nan")
            problems.append(f"{name}: {int(more.sum())} elements differ by more than one step "
                            f"(up to {worst:.2f} steps; tie upstream: {tie_seen})")
        if one.any():
            tie_seen = True
    missing = theirs_files - {re.sub(r"\W+", "_", k) + ".raw" for k in dump}
    if missing:
        problems.append(f"AIMET saved tensors we did not: {sorted(missing)[:5]}")
    if propagated:
        print(f"  {propagated} elements downstream of a tie decided differently are 2-4 steps apart", flush=True)
    return n, exact, close, ties, problems


# ---- test 4: bad input through the command line ------------------------------------

def test_bad_input(args, work):
    model = os.path.join(work, "cnn.onnx")
    x = os.path.join(work, "bad_input.npy")
    import models
    np.save(x, models.sample((1, 3, 16, 16), 1))
    good_act = {"bw": 8, "dtype": "INT", "enc_type": "PER_TENSOR", "is_sym": False, "scale": [0.1], "offset": [-10]}

    def v1(acts=(), params=()):
        return json.dumps({"version": "1.0.0", "activation_encodings": list(acts), "param_encodings": list(params)})

    cases = [
        ("truncated JSON", '{"version": "1.0.0", "activation_encodings": [{"name": "input", ', 2, ["not valid JSON"]),
        ("not JSON", "garbage", 2, ["not valid JSON"]),
        ("unknown version", '{"version": "9.9.9", "encodings": []}', 2, ["unknown version", "'version'"]),
        ("missing field", v1([{**good_act, "name": "input", "scale": None}]).replace('"scale": null, ', ""), 2,
         ["activation_encodings[0]", "'input'", "field 'scale'", "missing"]),
        ("wrong-typed field", v1([{**good_act, "name": "input", "is_sym": "yes"}]), 2,
         ["activation_encodings[0]", "field 'is_sym'"]),
        ("zero scale", v1([{**good_act, "name": "input", "scale": [0.0]}]), 2, ["field 'scale'", "> 0"]),
        ("negative scale", json.dumps({"version": "2.0.0", "encodings": [
            {"name": "input", "output_dtype": "uint8", "y_scale": -1.0}]}), 2, ["encodings[0]", "field 'y_scale'"]),
        ("bit width 1", v1([{**good_act, "name": "input", "bw": 1}]), 2, ["field 'bw'", "out of range"]),
        ("bit width 33", json.dumps({"version": "2.0.0", "encodings": [
            {"name": "input", "output_dtype": "int33", "y_scale": 1.0}]}), 2, ["field 'output_dtype'", "out of range"]),
        ("per-channel count", v1(params=[{"name": "conv1.weight", "dtype": "INT", "enc_type": "PER_CHANNEL", "bw": 8,
                                          "is_sym": True, "scale": [0.1] * 5, "offset": [-128] * 5}]), 2,
         ["param_encodings[0]", "'conv1.weight'", "5 per-channel scales", "8 channels"]),
        ("names the model lacks (warning)", v1([{**good_act, "name": "input"}, {**good_act, "name": "nope1"},
                                                {**good_act, "name": "nope2"}]), 0,
         ["warning", "encodings name 2 tensors the model does not have: nope1, nope2"]),
        ("names the model lacks --strict", v1([{**good_act, "name": "nope1"}]), 2,
         ["does not have: nope1"]),
    ]
    for label, text, want_rc, needles in cases:
        enc = os.path.join(work, "bad.encodings")
        with open(enc, "w") as f:
            f.write(text)
        out = os.path.join(work, "bad_out")
        shutil.rmtree(out, ignore_errors=True)
        cmd = [args.layerout, "generate", model, "-i", x, "-o", out, "--encodings", enc]
        if "--strict" in label:
            cmd.append("--strict")
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        msg = p.stderr.strip()
        ok = p.returncode == want_rc and all(s in msg for s in needles) and (want_rc == 0 or "bad.encodings" in msg)
        report(f"bad input: {label}", ok, f"exit {p.returncode}: {msg.splitlines()[0] if msg else '(no message)'}")
    # The summary subcommand.
    enc = os.path.join(work, "cnn_0_1.0.0.encodings")
    if os.path.exists(enc):
        p = subprocess.run([args.layerout, "encodings", enc, "--model", model], capture_output=True, text=True)
        ok = p.returncode == 0 and "version:     1.0.0" in p.stdout and "per-channel" in p.stdout and "has every tensor" in p.stdout
        report("layerout encodings FILE --model", ok, p.stdout.replace("\n", " | ")[:300] + p.stderr)
    with open(os.path.join(work, "bad.encodings"), "w") as f:
        f.write('{"version": "1.0.0", "activation_encodings": [{"name": "x"')
    p = subprocess.run([args.layerout, "encodings", os.path.join(work, "bad.encodings")], capture_output=True, text=True)
    report("layerout encodings on a bad file exits 2", p.returncode == 2, p.stderr.strip())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layerout", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--only", nargs="*", default=None)
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    t0 = time.time()
    def aimet_sets(args, work):
        import aimet_sets as A

        def skip(msg):
            results["skipped"] += 1
            print(f"skip aimet-sets: {msg}", flush=True)

        A.test_aimet_sets(args, work, report, skip)
        A.test_weight_axes(args, work, report)

    tests = [("reference", test_reference), ("qdq", test_qdq), ("aimet", test_aimet), ("aimet-sets", aimet_sets),
             ("bad", test_bad_input)]
    for name, fn in tests:
        if args.only and name not in args.only:
            continue
        t = time.time()
        try:
            fn(args, args.work)
        except Exception as e:
            report(f"{name} (setup)", False, f"{type(e).__name__}: {e}")
            traceback.print_exc()
        print(f"--- {name}: {time.time() - t:.0f} s", flush=True)
    print(f"quant: {time.time() - t0:.0f} s", flush=True)
    if results["skipped"]:
        print(f"quant: {results['skipped']} skipped")
    print(f"quant: {results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
