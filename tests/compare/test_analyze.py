#!/usr/bin/env python3
"""Tests of `layerout compare` on a float dump against a quantized dump, and
of `layerout analyze`, on a model whose one layer gets a deliberately bad
encoding (3 bits where the rest have 8): the first divergence must be that
layer, and analyze must rank it worst by isolated error.

The encodings are calibrated here, with numpy, from the float dump's ranges.
Usage: test_analyze.py LAYEROUT WORK_DIR"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

LAYEROUT, WORK = sys.argv[1], sys.argv[2]
results = []
rng = np.random.default_rng(11)


def check(name, cond, detail=""):
    results.append(bool(cond))
    print(("PASS " if cond else "FAIL ") + name + ("" if cond else ": " + detail))


def run(*args, expect=(0,)):
    p = subprocess.run([LAYEROUT, *args], capture_output=True, text=True, timeout=600)
    if p.returncode not in expect:
        raise SystemExit("layerout %s: exit %d\n%s%s" % (args[0], p.returncode, p.stdout, p.stderr))
    return p


def build_model(path):
    def w(name, shape):
        return numpy_helper.from_array((rng.standard_normal(shape) * (1.5 / np.sqrt(np.prod(shape[1:])))).astype(np.float32), name)

    inits = [w("c1.w", (8, 3, 3, 3)), w("c2.w", (8, 8, 3, 3)), w("c3.w", (8, 8, 3, 3)), w("fc.w", (4, 8))]
    nodes = [
        helper.make_node("Conv", ["x", "c1.w"], ["conv1"], pads=[1, 1, 1, 1], name="conv1"),
        helper.make_node("Relu", ["conv1"], ["relu1"], name="relu1"),
        helper.make_node("Conv", ["relu1", "c2.w"], ["conv2"], pads=[1, 1, 1, 1], name="conv2"),
        helper.make_node("Relu", ["conv2"], ["relu2"], name="relu2"),
        helper.make_node("Conv", ["relu2", "c3.w"], ["conv3"], pads=[1, 1, 1, 1], name="conv3"),
        helper.make_node("Relu", ["conv3"], ["relu3"], name="relu3"),
        helper.make_node("GlobalAveragePool", ["relu3"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "fc.w"], ["logits"], transB=1, name="fc"),
    ]
    g = helper.make_graph(nodes, "analyze_cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 4])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 7
    onnx.save(m, path)
    return m, [n.output[0] for n in nodes]


def encoding(name, lo, hi, bw):
    # asymmetric, AIMET 1.0.0: real = (q + offset) * scale, q in [0, 2^bw - 1]
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / (2 ** bw - 1) or 1e-8
    offset = int(np.round(lo / scale))
    return {"name": name, "dtype": "INT", "enc_type": "PER_TENSOR", "bw": bw, "is_sym": False,
            "scale": [scale], "offset": [offset]}


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    model = os.path.join(WORK, "model.onnx")
    m, outputs = build_model(model)
    x = rng.standard_normal((1, 3, 16, 16)).astype(np.float32)
    np.save(os.path.join(WORK, "x.npy"), x)
    fdir = os.path.join(WORK, "float")
    run("generate", model, "-i", os.path.join(WORK, "x.npy"), "-o", fdir, "-q")
    man = json.load(open(os.path.join(fdir, "manifest.json")))
    shapes = {t["name"]: t["shape"] for t in man["tensors"]}
    acts = {}
    for name in ["x"] + outputs:
        v = np.fromfile(os.path.join(fdir, "outputs", "layer_outputs_0", name + ".raw"), np.float32)
        acts[name] = (float(v.min()), float(v.max()))
    bad = "conv2"  # the layer whose encoding the test degrades
    act_enc = [encoding(n, *acts[n], 3 if n == bad else 8) for n in ["x"] + outputs]
    params = []
    for t in m.graph.initializer:
        a = numpy_helper.to_array(t)
        params.append(encoding(t.name, float(a.min()), float(a.max()), 8))
    enc_path = os.path.join(WORK, "model.encodings")
    json.dump({"version": "1.0.0", "activation_encodings": act_enc, "param_encodings": params}, open(enc_path, "w"))

    qdir = os.path.join(WORK, "quant")
    run("generate", model, "-i", os.path.join(WORK, "x.npy"), "-o", qdir, "--encodings", enc_path, "-q")
    cjson = os.path.join(WORK, "compare.json")
    p = run("compare", fdir, qdir, "--model", model, "--json", cjson, expect=(1,))
    c = json.load(open(cjson))
    names = [t["name"] for t in c["tensors"]]
    check("compare lists tensors in graph order", names == ["x"] + outputs, str(names))
    first = c["summary"]["first_divergence"]
    first_name = first["name"] if isinstance(first, dict) else (names[first] if isinstance(first, int) else None)
    check("first divergence is the degraded layer", first_name == bad, "got %r\n%s" % (first_name, p.stdout))
    sq = {t["name"]: float(t["sqnr_db"]) for t in c["tensors"]}
    check("layers before the degraded one stay above 30 dB", all(sq[n] >= 30 for n in ["conv1", "relu1"]), str(sq))
    # the reference values: numpy's own SQNR of the quantized dump against the float one
    for n in ["conv1", "conv2", "logits"]:
        a = np.fromfile(os.path.join(fdir, "outputs", "layer_outputs_0", n + ".raw"), np.float32).astype(np.float64)
        b = np.fromfile(os.path.join(qdir, "outputs", "layer_outputs_0", n + ".raw"), np.float32).astype(np.float64)
        want = 20 * np.log10(np.linalg.norm(a) / np.linalg.norm(a - b))
        check("SQNR of %s matches numpy" % n, abs(sq[n] - want) < 1e-6 * max(1, abs(want)), "%r vs %r" % (sq[n], want))

    ajson = os.path.join(WORK, "analyze.json")
    ahtml = os.path.join(WORK, "analyze.html")
    p = run("analyze", model, "--encodings", enc_path, "-i", os.path.join(WORK, "x.npy"), "-o",
            os.path.join(WORK, "an"), "--json", ajson, "--html", ahtml, expect=(1,))
    a = json.load(open(ajson))
    iso = {t["name"]: t.get("isolated_sqnr_db") for t in a["tensors"]}
    measured = {k: float(v) for k, v in iso.items() if v is not None}
    check("analyze measures an isolated SQNR for every layer", set(measured) == set(["x"] + outputs), str(iso))
    worst = min(measured, key=lambda k: measured[k]) if measured else None
    check("analyze ranks the degraded layer worst by isolated error", worst == bad, "%r\n%s" % (worst, p.stdout))
    ranked = p.stdout.split("ranked by isolated error", 1)[-1]
    first_ranked = next((l.split()[1] for l in ranked.splitlines()[2:] if l.strip()), None)
    check("the terminal ranking starts with it", first_ranked == bad, ranked[:400])
    # isolated error of a layer after the bad one is not the accumulated one
    cum = {t["name"]: float(t["sqnr_db"]) for t in a["tensors"]}
    check("isolated error after the bad layer is better than cumulative",
          measured["conv3"] > cum["conv3"] + 3, "isolated %r, cumulative %r" % (measured["conv3"], cum["conv3"]))
    # the isolated conv2: float relu1 quantized with its 8-bit encoding, 8-bit weights, then 3 bits out
    for k in ("float", "quant", "isolated"):
        check("analyze -o keeps the %s dump" % k, os.path.exists(os.path.join(WORK, "an", k, "manifest.json")))
    html = open(ahtml).read()
    check("the HTML report draws the isolated line", 'data-series="isolated"' in html)
    check("with -o, rows offer the extract command on the kept dump",
          'class="cmd">layerout extract ' in html and os.path.join(WORK, "an", "float") in html)
    thtml = os.path.join(WORK, "analyze_tmp.html")
    run("analyze", model, "--encodings", enc_path, "-i", os.path.join(WORK, "x.npy"), "--html", thtml, "-q",
        expect=(1,))
    check("without -o the dumps go, and no row offers a command on them",
          os.path.exists(thtml) and "layerout extract " not in open(thtml).read())
    n_fail = results.count(False)
    print("analyze: %d passed, %d failed" % (len(results) - n_fail, n_fail))
    return 1 if n_fail else 0


if __name__ == "__main__":
    sys.exit(main())
