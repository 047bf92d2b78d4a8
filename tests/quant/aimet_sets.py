"""layerout's files against AIMET's own: aimet_onnx's QuantizationSimModel ->
compute_encodings -> sim.export (0.6.1, 1.0.0, 2.0.0 with its int32 bias
encodings) -> LayerOutputUtil(sim) on one sample, and `layerout generate
--encodings` on each exported model and encodings file (aimet_models.py):

  constcnn     weights held in Constant nodes (one through an Identity chain)
  transformer  MatMul + Add pairs the sim fuses into Gemm, scalar
               initializers it quantizes as activations (and saves)
  detector     ConvTranspose, Resize, Concat, scalar initializers

each with aimet_onnx's per-tensor and per-channel default configs, w8/a8 and
w4/a16 (per-channel w8/a8 also exported in 0.6.1 and 1.0.0 with int32 bias
encodings, export_int32_bias=True); then per-block and LPBQ weights,
exported where AIMET can export them (LPBQ has no 0.6.1 form). Passing means: the same file names, and every element exact or within
one quantization step; the elements one step apart are counted as rounding
ties decided differently (float sums in another order); a tensor with an
element further off passes only if running its node alone with layerout, on
AIMET's own saved inputs, lands within one step of AIMET's file.

All configurations run in this one process (run from run_quant.py --only
aimet-sets).
"""
import json
import os
import re
import shutil
import subprocess
import time
import traceback

import numpy as np


def sanitize(name):
    return re.sub(r"\W+", "_", name)


def load_steps(enc_1_0_0):
    """Per-tensor activation scale by tensor name (per-channel: the largest)."""
    doc = json.load(open(enc_1_0_0))
    steps = {}
    for e in doc.get("activation_encodings", []) + doc.get("param_encodings", []):
        if e.get("dtype") == "INT" and e.get("scale"):
            steps[e["name"]] = max(e["scale"])
    return steps


def run_layerout(layerout, model, enc, x, out, extra=()):
    shutil.rmtree(out, ignore_errors=True)
    np.save(out + ".input.npy", x)
    cmd = [layerout, "generate", model, "-i", out + ".input.npy", "-o", out, "--quiet", "--encodings", enc,
           "--rounding", "half-away"] + list(extra)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise RuntimeError(f"layerout exited {p.returncode}: {p.stderr.strip()[:500]}")
    man = json.load(open(os.path.join(out, "manifest.json")))
    return {e["file"]: e for e in man["tensors"]}


def node_alone(args, model_path, enc, target, aimet_folder, work, extra=()):
    """Runs the node producing `target` alone (plus the producers of inputs
    AIMET has no file for and that are not static, as a fused MatMul) with
    layerout, inputs read from AIMET's files; returns layerout's value."""
    import onnx
    from onnx import helper, numpy_helper, TensorProto
    m = onnx.load(model_path)
    g = m.graph
    producers = {o: n for n in g.node for o in n.output}
    inits = {i.name: i for i in g.initializer}
    files = set(os.listdir(aimet_folder))
    nodes, feeds, init_out, const_nodes = [], {}, {}, []
    seen = set()

    def need(name, depth):
        if not name or name in seen:
            return
        seen.add(name)
        if name in inits:
            init_out[name] = inits[name]
        elif sanitize(name) + ".raw" in files and depth > 0:
            feeds[name] = None
        elif name in producers and producers[name].op_type == "Constant":
            const_nodes.append(producers[name])
        elif name in producers and depth < 3:
            n = producers[name]
            nodes.insert(0, n)
            for i in n.input:
                need(i, depth + 1)
        else:
            feeds[name] = None

    need(target, 0)
    shapes = {}
    for name in list(feeds):
        ref = os.path.join(aimet_folder, sanitize(name) + ".raw")
        if not os.path.exists(ref):
            raise RuntimeError(f"node alone: no AIMET file for input {name}")
        shapes[name] = ref
    # Shapes from shape inference of the full model.
    inferred = onnx.shape_inference.infer_shapes(m)
    vi = {v.name: v for v in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output)}
    inputs, arrays = [], {}
    for name in feeds:
        t = vi[name].type.tensor_type
        shape = [d.dim_value for d in t.shape.dim]
        arrays[name] = np.fromfile(shapes[name], dtype=np.float32).reshape(shape)
        inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
    sub = helper.make_graph(const_nodes + nodes, "alone", inputs, [helper.make_tensor_value_info(target, TensorProto.FLOAT, None)],
                            initializer=list(init_out.values()))
    sm = helper.make_model(sub, opset_imports=list(m.opset_import))
    sm.ir_version = m.ir_version
    path = os.path.join(work, "alone.onnx")
    onnx.save(sm, path)
    out = os.path.join(work, "alone_out")
    shutil.rmtree(out, ignore_errors=True)
    cmd = [args.layerout, "generate", path, "-o", out, "--quiet", "--encodings", enc, "--rounding", "half-away"]
    for k, (name, arr) in enumerate(arrays.items()):
        f = os.path.join(work, f"alone_in{k}.npy")
        np.save(f, arr)
        cmd += ["-i", f"{name}={f}"]
    cmd += list(extra)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise RuntimeError(f"node alone: layerout exited {p.returncode}: {p.stderr.strip()[:300]}")
    man = json.load(open(os.path.join(out, "manifest.json")))
    for e in man["tensors"]:
        if e["name"] == target:
            a = np.fromfile(os.path.join(out, "outputs", "layer_outputs_0", e["file"]), dtype=np.dtype(e["dtype"]))
            return a.reshape(e["shape"])
    raise RuntimeError(f"node alone: layerout saved no {target}")


def compare(args, ours_dir, ours_manifest, aimet_dir, steps, model_path, enc, work, bias_half):
    folder_a = os.path.join(aimet_dir, "outputs", "layer_outputs_0")
    folder_o = os.path.join(ours_dir, "outputs", "layer_outputs_0")
    theirs = set(os.listdir(folder_a))
    ours = set(os.listdir(folder_o))
    problems = []
    if theirs != ours:
        problems.append(f"names differ: AIMET only {sorted(theirs - ours)[:6]}, layerout only {sorted(ours - theirs)[:6]}")
    def names(d):
        o = json.load(open(os.path.join(d, "layer_output_name_order.json")))
        return o["layer_output_names"] if isinstance(o, dict) else o

    order_a, order_o = set(names(aimet_dir)), names(ours_dir)
    if set(order_o) != order_a:
        problems.append(f"layer_output_name_order.json differs: {sorted(set(order_o) ^ order_a)[:6]}")
    max_step = max(steps.values()) if steps else 0.0
    stats = {"tensors": 0, "elements": 0, "exact": 0, "float_close": 0, "one_step": 0, "alone_checked": 0}
    by_file = {e["file"] + ".raw" if not e["file"].endswith(".raw") else e["file"]: e for e in ours_manifest.values()}
    for f in sorted(theirs & ours):
        e = by_file.get(f)
        if e is None:
            problems.append(f"{f}: not in layerout's manifest")
            continue
        dt = np.dtype(e["dtype"])
        a = np.fromfile(os.path.join(folder_o, f), dtype=dt).reshape(e["shape"])
        b = np.fromfile(os.path.join(folder_a, f), dtype=dt)
        if b.size != a.size:
            problems.append(f"{f}: {a.size} elements, AIMET {b.size}")
            continue
        b = b.reshape(a.shape)
        stats["tensors"] += 1
        stats["elements"] += a.size
        same = a == b
        if dt.kind != "f":
            if not same.all():
                problems.append(f"{f}: integer tensor differs")
            stats["exact"] += int(same.sum())
            continue
        same |= np.isnan(a) & np.isnan(b)
        stats["exact"] += int(same.sum())
        if same.all():
            continue
        step = steps.get(e["name"], max_step)
        diff = np.abs(a.astype(np.float64) - b)
        slack = 4 * np.finfo(np.float32).eps * np.maximum(np.abs(a), np.abs(b)).astype(np.float64) + 1e-7
        if e["name"] not in steps:
            # No quantizer of its own (a Conv before its Relu, a Reshape):
            # float sums in another order, and the int32 bias a 2.0.0 file
            # adds (AIMET's sim keeps the float bias), within half its step.
            close = ~same & (diff <= 1e-5 * np.abs(b) + 1e-6 + bias_half)
            stats["float_close"] += int(close.sum())
            same |= close
        one = ~same & (diff <= step * 1.001 + slack)
        stats["one_step"] += int(one.sum())
        if (~same & ~one).any():
            worst = float(diff[~same & ~one].max() / step)
            try:
                alone = node_alone(args, model_path, enc, e["name"], folder_a, work)
                d2 = np.abs(alone.astype(np.float64) - b)
                if (d2 > step * 1.001 + slack).any():
                    problems.append(f"{e['name']}: {int((~same & ~one).sum())} elements beyond one step (up to "
                                    f"{worst:.1f}), and still {float(d2.max() / step):.1f} steps off with its node "
                                    "run alone on AIMET's inputs")
                else:
                    stats["alone_checked"] += 1
            except Exception as ex:
                problems.append(f"{e['name']}: {worst:.1f} steps off; node alone failed: {ex}")
    return stats, problems


def constants_to_initializers(m):
    """Float Constant nodes become initializers named after the node (as
    Paddle2ONNX names its scalars, "Constant_0"): the sim quantizes them as
    activations and LayerOutputUtil saves them."""
    from onnx import numpy_helper
    g = m.graph
    keep, rename = [], {}
    for n in g.node:
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value" and n.attribute[0].t.data_type == 1:
            t = n.attribute[0].t
            arr = numpy_helper.to_array(t)
            new = sanitize(n.name).strip("_") or n.output[0]
            g.initializer.append(numpy_helper.from_array(arr, new))
            rename[n.output[0]] = new
        else:
            keep.append(n)
    for n in keep:
        for i, x in enumerate(n.input):
            if x in rename:
                n.input[i] = rename[x]
    del g.node[:]
    g.node.extend(keep)
    return m


SETUPS = [  # label, config file, param type, activation type
    ("per-tensor w8a8", "default_config.json", "int8", "int8"),
    ("per-tensor w4a16", "default_config.json", "int4", "int16"),
    ("per-channel w8a8", "default_config_per_channel.json", "int8", "int8"),
    ("per-channel w4a16", "default_config_per_channel.json", "int4", "int16"),
]


def build_model(name, work):
    import onnx
    import aimet_models as M
    path = os.path.join(work, f"set_{name}.onnx")
    if name == "oddities":
        return path, M.oddities(path)
    model, shape = M.build(name)
    M.export(model, shape, path)  # constcnn: weights into Constant nodes there
    if name != "constcnn":
        m = constants_to_initializers(onnx.load(path))
        onnx.save(m, path)
    return path, shape


def run_config(args, report, work, name, path, shape, label, sim, versions, stats_all):
    """sim: a computed QuantizationSimModel. Exports it in each version,
    saves AIMET's layer outputs, runs layerout on each export, compares."""
    from aimet_onnx.layer_output_utils import LayerOutputUtil
    import aimet_models as M
    tag0 = f"aimet-sets {name} {label}"
    base = os.path.join(work, f"as_{name}_{sanitize(label)}")
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(base)
    x = M.sample(shape, 7)
    exported = {}
    for v in versions:
        d = os.path.join(base, "v" + v)
        os.makedirs(d)
        try:
            if v.endswith("+bias"):  # int32 bias encodings asked for in an older version
                sim.export(d, "model", encoding_version=v[:-5], export_int32_bias=True)
            else:
                sim.export(d, "model", encoding_version=v)
            exported[v] = d
        except Exception as ex:
            # LPBQ has no 0.6.1 form; any other refusal is a failure of the test's setup.
            report(f"{tag0} v{v}: sim.export", v == "0.6.1" and label.startswith("lpbq"),
                   f"AIMET cannot export it: {type(ex).__name__}: {str(ex)[:160]}")
    aimet_dir = os.path.join(base, "aimet")
    LayerOutputUtil(sim.model.model, aimet_dir).generate_layer_outputs(x)
    steps = None
    for v, d in exported.items():
        tag = f"{tag0} v{v}"
        try:
            enc = os.path.join(d, "model.encodings")
            if steps is None or v == "1.0.0":
                ref1 = os.path.join(exported.get("1.0.0", d), "model.encodings")
                steps = load_steps(ref1) if "1.0.0" in exported else {}
            doc = json.load(open(enc))
            if "encodings" in doc:
                bias = [e["y_scale"] for e in doc["encodings"] if e.get("output_dtype") == "int32"]
            elif isinstance(doc.get("param_encodings"), dict):
                bias = [[c["scale"] for c in e] for e in doc["param_encodings"].values() if e[0].get("bitwidth") == 32]
            else:
                bias = [e["scale"] for e in doc.get("param_encodings", []) if e.get("bw") == 32]
            n_bias = len(bias)
            # A value fed by an int32-quantized bias may move by the bias's half step.
            bias_half = max((float(np.max(b)) for b in bias), default=0.0) / 2
            man = run_layerout(args.layerout, os.path.join(d, "model.onnx"), enc, x, os.path.join(base, "lo_" + v))
            st, problems = compare(args, os.path.join(base, "lo_" + v), man, aimet_dir, steps,
                                   os.path.join(d, "model.onnx"), enc, base, bias_half)
            for k, val in st.items():
                stats_all[k] = stats_all.get(k, 0) + val
            report(tag, not problems,
                   f"{st['tensors']} files, {st['elements']} elements: {st['exact']} exact, {st['float_close']} "
                   f"unquantized within float error, {st['one_step']} one step apart (ties), "
                   f"{st['alone_checked']} tensors further off confirmed within a step run alone"
                   + (f"; {n_bias} int32 bias encodings" if n_bias else "")
                   + ("; " + "; ".join(problems[:4]) if problems else ""))
        except Exception as ex:
            report(tag, False, f"{type(ex).__name__}: {ex}")
            traceback.print_exc()


def test_aimet_sets(args, work, report, skip):
    try:
        import onnx
        import logging
        import warnings
        from aimet_onnx.quantsim import QuantizationSimModel
        import aimet_onnx
        logging.disable(logging.WARNING)
        warnings.simplefilter("ignore")
    except Exception as e:
        skip(f"aimet-onnx cannot be imported: {type(e).__name__}: {e}")
        return
    import aimet_models as M
    cfg_dir = os.path.join(os.path.dirname(aimet_onnx.__file__), "common", "quantsim_config")
    stats_all = {}
    t0 = time.time()
    for name in ["constcnn", "transformer", "detector", "oddities"]:
        try:
            path, shape = build_model(name, work)
        except Exception as ex:
            report(f"aimet-sets {name}: build", False, f"{type(ex).__name__}: {ex}")
            continue
        calib = [{"input": M.sample(shape, s)} for s in range(3)]
        for label, cfg, ptype, atype in SETUPS:
            try:
                sim = QuantizationSimModel(onnx.load(path), param_type=ptype, activation_type=atype,
                                           config_file=os.path.join(cfg_dir, cfg))
                sim.compute_encodings(calib)
            except Exception as ex:
                report(f"aimet-sets {name} {label}: sim", False, f"{type(ex).__name__}: {ex}")
                continue
            versions = ["0.6.1", "1.0.0", "2.0.0"]
            if label == "per-channel w8a8":
                versions += ["0.6.1+bias", "1.0.0+bias"]
            run_config(args, report, work, name, path, shape, label, sim, versions, stats_all)
    # Per-block and LPBQ weights (aimet_onnx.quantsim.set_blockwise_quantization_for_weights and
    # set_grouped_blockwise_quantization_for_weights).
    from aimet_onnx.quantsim import (set_blockwise_quantization_for_weights,
                                     set_grouped_blockwise_quantization_for_weights)
    for name, ops, block, exclude in [("transformer", ("Gemm", "MatMul"), 16, []),
                                      ("detector", ("Conv", "ConvTranspose"), 8, ["/c1/Conv"])]:
        path, shape = build_model(name, work)
        calib = [{"input": M.sample(shape, s)} for s in range(3)]
        for label in ["per-block w4a16", "lpbq w4(8)a16"]:
            try:
                sim = QuantizationSimModel(onnx.load(path), param_type="int4", activation_type="int16",
                                           config_file=os.path.join(cfg_dir, "default_config_per_channel.json"))
                if label.startswith("per-block"):
                    set_blockwise_quantization_for_weights(sim, ops, 4, True, block, nodes_to_exclude=exclude)
                else:
                    set_grouped_blockwise_quantization_for_weights(sim, ops, 4, 8, block, nodes_to_exclude=exclude)
                sim.compute_encodings(calib)
            except Exception as ex:
                report(f"aimet-sets {name} {label}: sim", False, f"{type(ex).__name__}: {ex}")
                traceback.print_exc()
                continue
            run_config(args, report, work, name, path, shape, label, sim, ["0.6.1", "1.0.0", "2.0.0"], stats_all)
    print(f"aimet-sets: {stats_all.get('tensors', 0)} files compared, {stats_all.get('elements', 0)} elements: "
          f"{stats_all.get('exact', 0)} exact, {stats_all.get('float_close', 0)} unquantized within float error, "
          f"{stats_all.get('one_step', 0)} one step apart, "
          f"{stats_all.get('alone_checked', 0)} tensors confirmed run alone; {time.time() - t0:.0f} s", flush=True)


def test_weight_axes(args, work, report):
    """A weight's per-channel axis comes from the ops that read it; readers
    that disagree are an error only when the count of scales cannot tell.
    Values checked against ONNX Runtime running the same weight through
    QuantizeLinear/DequantizeLinear on the axis layerout must pick."""
    import onnx
    import onnxruntime as ort
    from onnx import helper, numpy_helper, TensorProto
    rng = np.random.default_rng(11)

    def model(path, w_shape, x_channels, z_channels, qdq_axis=None, scales=None):
        w = (rng.standard_normal(w_shape) * 0.3).astype(np.float32)
        inits = [numpy_helper.from_array(w, "W")]
        nodes = []
        wname = "W"
        if qdq_axis is not None:
            inits += [numpy_helper.from_array(scales.astype(np.float32), "W_scale"),
                      numpy_helper.from_array(np.zeros(len(scales), np.int8), "W_zp")]
            nodes += [helper.make_node("QuantizeLinear", ["W", "W_scale", "W_zp"], ["W_q"], axis=qdq_axis),
                      helper.make_node("DequantizeLinear", ["W_q", "W_scale", "W_zp"], ["W_dq"], axis=qdq_axis)]
            wname = "W_dq"
        nodes += [helper.make_node("Identity", [wname], ["W_id"], name="w_identity"),
                  helper.make_node("Conv", ["x", "W_id"], ["y1"], name="conv_a", pads=[0, 0, 0, 0]),
                  helper.make_node("ConvTranspose", ["z", "W"if qdq_axis is None else wname], ["y2"], name="deconv_b")]
        g = helper.make_graph(nodes, "shared", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, x_channels, 4, 4]),
                                                helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, z_channels, 4, 4])],
                              [helper.make_tensor_value_info("y1", TensorProto.FLOAT, None),
                               helper.make_tensor_value_info("y2", TensorProto.FLOAT, None)], initializer=inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        m.ir_version = 8
        onnx.save(m, path)
        return w

    def enc100(path, scales, per_channel=True):
        e = {"name": "W", "dtype": "INT", "bw": 8, "is_sym": True,
             "enc_type": "PER_CHANNEL" if per_channel else "PER_TENSOR",
             "scale": [float(s) for s in scales], "offset": [-128.0] * len(scales)}
        json.dump({"version": "1.0.0", "param_encodings": [e], "activation_encodings": []}, open(path, "w"))

    def run(path, enc, x, z, out):
        np.save(out + "_x.npy", x)
        np.save(out + "_z.npy", z)
        shutil.rmtree(out, ignore_errors=True)
        return subprocess.run([args.layerout, "generate", path, "-i", f"x={out}_x.npy", "-i", f"z={out}_z.npy", "-o", out,
                               "--quiet", "--encodings", enc, "--rounding", "half-even"],
                              capture_output=True, text=True, timeout=120)

    # 1. W (8x8x3x3) read by a Conv (channels on axis 0) and a ConvTranspose
    # (axis 1), 8 scales: both fit, so neither is guessed.
    path = os.path.join(work, "shared_ambiguous.onnx")
    model(path, (8, 8, 3, 3), 8, 8)
    enc = os.path.join(work, "shared_ambiguous.encodings")
    enc100(enc, np.linspace(0.001, 0.002, 8))
    x = rng.standard_normal((1, 8, 4, 4)).astype(np.float32)
    p = run(path, enc, x, x, os.path.join(work, "shared_ambiguous_out"))
    msg = p.stderr.strip()
    want = ["shared_ambiguous.encodings", "param_encodings[0]", "'W'", "conv_a", "deconv_b", "ambiguous"]
    report("weight axes: a weight two readers give different channel axes of the same size is an error", p.returncode == 2
           and all(w in msg for w in want) and not os.path.exists(os.path.join(work, "shared_ambiguous_out", "manifest.json")),
           f"exit {p.returncode}: {msg[:300]}")
    # The same with a per-tensor encoding: nothing to decide.
    enc100(enc, [0.0015], per_channel=False)
    p = run(path, enc, x, x, os.path.join(work, "shared_ambiguous_out"))
    report("weight axes: the same weight per-tensor runs", p.returncode == 0, p.stderr.strip()[:200])
    # 2. W (8x4x1x1): the Conv reads 8 output channels on axis 0, the
    # ConvTranspose 4 on axis 1; the count of scales says which.
    for n_scales, axis in [(8, 0), (4, 1)]:
        tag = f"weight axes: {n_scales} scales on a weight read by Conv and ConvTranspose pick axis {axis}"
        try:
            scales = np.linspace(0.002, 0.004, n_scales)
            path = os.path.join(work, f"shared_{axis}.onnx")
            w = model(path, (8, 4, 1, 1), 4, 8)
            enc = os.path.join(work, f"shared_{axis}.encodings")
            enc100(enc, scales)
            x = rng.standard_normal((1, 4, 4, 4)).astype(np.float32)
            z = rng.standard_normal((1, 8, 4, 4)).astype(np.float32)
            out = os.path.join(work, f"shared_{axis}_out")
            p = run(path, enc, x, z, out)
            if p.returncode != 0:
                raise RuntimeError(p.stderr.strip()[:300])
            man = {e["name"]: e for e in json.load(open(os.path.join(out, "manifest.json")))["tensors"]}
            ours = {k: np.fromfile(os.path.join(out, "outputs", "layer_outputs_0", man[k]["file"]),
                                   dtype=np.float32).reshape(man[k]["shape"]) for k in ("y1", "y2")}
            ref_path = os.path.join(work, f"shared_{axis}_qdq.onnx")
            model(ref_path, (8, 4, 1, 1), 4, 8, qdq_axis=axis, scales=scales)
            rm = onnx.load(ref_path)  # the same weight as layerout's model
            rm.graph.initializer[0].CopyFrom(numpy_helper.from_array(w, "W"))
            onnx.save(rm, ref_path)
            so = ort.SessionOptions()
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            sess = ort.InferenceSession(ref_path, so, providers=["CPUExecutionProvider"])
            y1, y2 = sess.run(["y1", "y2"], {"x": x, "z": z})
            ok = np.allclose(ours["y1"], y1, rtol=1e-5, atol=1e-6) and np.allclose(ours["y2"], y2, rtol=1e-5, atol=1e-6)
            report(tag, ok, f"max difference from ORT's QDQ on axis {axis}: "
                   f"{max(np.abs(ours['y1'] - y1).max(), np.abs(ours['y2'] - y2).max()):.3g}")
        except Exception as ex:
            report(tag, False, f"{type(ex).__name__}: {ex}")
    # 3. A weight held in a Constant node (as Paddle2ONNX writes them) is a
    # parameter like an initializer: its axis is the Conv's, and a count of
    # scales that does not fit is an error naming the file, entry and field,
    # with nothing left behind as if complete.
    from onnx import helper as h
    w = (rng.standard_normal((8, 4, 1, 1)) * 0.3).astype(np.float32)
    g = h.make_graph([h.make_node("Constant", [], ["W"], name="w_const", value=numpy_helper.from_array(w, "W")),
                      h.make_node("Conv", ["x", "W"], ["y"], name="conv")], "const_weight",
                     [h.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 4, 4])],
                     [h.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    m.ir_version = 8
    path = os.path.join(work, "const_weight.onnx")
    onnx.save(m, path)
    x = rng.standard_normal((1, 4, 4, 4)).astype(np.float32)
    np.save(os.path.join(work, "const_weight_x.npy"), x)
    for n_scales, want_rc, needles in [
            (5, 2, ["const_weight.encodings", "param_encodings[0]", "'W'", "field 'scale'", "5 per-channel scales",
                    "8 channels on axis 0"]),
            (8, 0, [])]:
        enc = os.path.join(work, "const_weight.encodings")
        scales = np.linspace(0.002, 0.004, n_scales)
        enc100(enc, scales)
        out = os.path.join(work, "const_weight_out")
        shutil.rmtree(out, ignore_errors=True)
        p = subprocess.run([args.layerout, "generate", path, "-i", os.path.join(work, "const_weight_x.npy"), "-o", out,
                            "--quiet", "--encodings", enc, "--rounding", "half-even"], capture_output=True, text=True)
        msg = p.stderr.strip()
        ok = p.returncode == want_rc and all(s in msg for s in needles)
        detail = f"exit {p.returncode}: {msg[:250]}"
        if want_rc:
            ok = ok and not os.path.exists(os.path.join(out, "manifest.json"))
        else:
            # ONNX Runtime with the weight through QuantizeLinear/DequantizeLinear on axis 0.
            ref = np.asarray(onnx_qdq_conv(onnx, ort, h, numpy_helper, TensorProto, w, scales, x))
            man = {e["name"]: e for e in json.load(open(os.path.join(out, "manifest.json")))["tensors"]}
            ours = np.fromfile(os.path.join(out, "outputs", "layer_outputs_0", man["y"]["file"]),
                               dtype=np.float32).reshape(man["y"]["shape"])
            ok = ok and np.allclose(ours, ref, rtol=1e-5, atol=1e-6)
            detail = f"max difference from ORT's QDQ: {np.abs(ours - ref).max():.3g}"
        report(f"Constant-held weight, {n_scales} per-channel scales for 8 output channels", ok, detail)


def onnx_qdq_conv(onnx, ort, h, numpy_helper, TensorProto, w, scales, x):
    inits = [numpy_helper.from_array(w, "W"), numpy_helper.from_array(scales.astype(np.float32), "s"),
             numpy_helper.from_array(np.zeros(len(scales), np.int8), "zp")]
    nodes = [h.make_node("QuantizeLinear", ["W", "s", "zp"], ["Wq"], axis=0),
             h.make_node("DequantizeLinear", ["Wq", "s", "zp"], ["Wdq"], axis=0),
             h.make_node("Conv", ["x", "Wdq"], ["y"])]
    g = h.make_graph(nodes, "ref", [h.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
                     [h.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    m.ir_version = 8
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"]).run(["y"], {"x": x})[0]
