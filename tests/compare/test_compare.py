"""Tests of `layerout compare`.

Usage: test_compare.py LAYEROUT_BINARY WORK_DIR ARTIFACT_DIR

- metrics against numpy on random and edge-case tensors (identical, all-zero
  reference, NaN/Inf, huge and tiny values, other dtypes, several samples);
- a dump of ours against a QNN-style folder built here (QNN-sanitized names,
  NHWC image tensors, one degraded layer, a missing and an extra tensor), with
  and without --model, and an AIMET dump (no manifest) against it;
- PyTorch-scheme names (an AIMET dump named by module) against our dump;
- the HTML report opened in headless Chromium: chart, every row, sorting,
  and a screenshot kept under ARTIFACT_DIR;
- command-line behaviour: exit codes, atomic files, --top, errors;
- speed on tens of MB per side.

The numpy reference implements the definitions documented in
src/compare/compare.h (lo_metrics_*), independently of the C code.
"""
import csv
import html.parser
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from verify import Tally, minimal_rtol_ok  # noqa: E402

BIN, WORK, ARTIFACTS = sys.argv[1], sys.argv[2], sys.argv[3]
tally = Tally()
check = tally.check


def run(*args, expect=None):
    p = subprocess.run([BIN, "compare", *map(str, args)], capture_output=True, text=True)
    if expect is not None and p.returncode != expect:
        print(p.stdout, p.stderr)
    return p


def fnum(v):
    return float(v) if not isinstance(v, str) else float(v)  # "inf", "-inf", "nan"


# ---- the reference definitions, in numpy ------------------------------------------

def reference_metrics(ref, test):
    r = np.asarray(ref, np.float64).ravel()
    t = np.asarray(test, np.float64).ravel()
    fin = np.isfinite(r) & np.isfinite(t)
    agree = (np.isnan(r) & np.isnan(t)) | (np.isinf(r) & (r == t))
    mismatch = int(np.sum(~fin & ~agree))
    rf, tf = r[fin], t[fin]
    e = tf - rf
    rs, es, ts = float(np.sum(rf * rf)), float(np.sum(e * e)), float(np.sum(tf * tf))
    if mismatch:
        sqnr = -math.inf
    elif es == 0:
        sqnr = math.inf
    elif rs == 0:
        sqnr = -math.inf
    else:
        sqnr = 10 * math.log10(rs / es)
    if rs == 0 and ts == 0:
        cos = 1.0
    elif rs == 0 or ts == 0:
        cos = 0.0
    else:
        cos = float(np.dot(rf, tf) / (math.sqrt(rs) * math.sqrt(ts)))
    a = np.abs(e)
    n = int(fin.sum())
    if n:
        idx = int(np.flatnonzero(fin)[int(np.argmax(a))])
        maxabs = float(a.max())
    else:
        idx, maxabs = -1, 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(np.abs(rf) > 0, a / np.abs(rf), np.where(a > 0, np.inf, 0.0))
    rtol = float(rel.max()) if n else 0.0
    rel_l2 = 0.0 if es == 0 else (math.inf if rs == 0 else math.sqrt(es) / math.sqrt(rs))
    return {
        "sqnr_db": sqnr, "cosine": cos, "mse": es / n if n else 0.0,
        "mean_abs_err": float(a.sum()) / n if n else 0.0, "max_abs_err": maxabs,
        "max_abs_err_index": idx, "rel_l2": rel_l2,
        "atol": math.inf if mismatch else maxabs,
        "nan_ref": int(np.isnan(r).sum()), "inf_ref": int(np.isinf(r).sum()),
        "nan_test": int(np.isnan(t).sum()), "inf_test": int(np.isinf(t).sum()),
        "nonfinite_mismatch": mismatch, "elements": r.size,
        "_sums": (rs, es, ts),
    }


def same(a, b, rel=1e-9):
    a, b = fnum(a), fnum(b)
    if math.isnan(b):
        return math.isnan(a)
    if math.isinf(b):
        return a == b
    return abs(a - b) <= rel * max(abs(a), abs(b)) + 1e-300


def check_metrics(got, want, what):
    for k, v in want.items():
        if k.startswith("_"):
            continue
        ok = got.get(k) == v if isinstance(v, int) and not isinstance(v, bool) else same(got.get(k), v)
        check(ok, f"{what}: {k} = {got.get(k)}, numpy says {v}")


# ---- dumps written by the test -------------------------------------------------------

NP_NAMES = {np.float32: "float32", np.float64: "float64", np.float16: "float16", np.int64: "int64",
            np.int32: "int32", np.uint8: "uint8", np.int8: "int8", np.bool_: "bool"}


def write_ours(d, tensors, samples, ext="raw"):
    """tensors: list of (onnx_name, file_stem, dtype); samples: list of {name: array}."""
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    entries = []
    for name, stem, dt in tensors:
        shape = list(samples[0][name].shape)
        entries.append({"file": stem, "name": name, "node": "n_" + stem, "op_type": "Test",
                        "dtype": NP_NAMES[dt], "shape": shape, "encoding": None})
    for k, s in enumerate(samples):
        od = os.path.join(d, "outputs", f"layer_outputs_{k}")
        os.makedirs(od)
        for name, stem, dt in tensors:
            a = np.ascontiguousarray(s[name].astype(dt))
            if ext == "npy":
                np.save(os.path.join(od, stem + ".npy"), a)
            else:
                a.tofile(os.path.join(od, stem + ".raw"))
    with open(os.path.join(d, "layer_output_name_order.json"), "w") as f:
        json.dump({"layer_output_names": [t[1] for t in tensors]}, f)
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump({"tool": "layerout", "format": ext, "tensors": entries, "samples": len(samples)}, f)


def write_aimet(d, stems, samples):
    """samples: list of {stem: float32 array}; no manifest, as AIMET writes."""
    shutil.rmtree(d, ignore_errors=True)
    for k, s in enumerate(samples):
        od = os.path.join(d, "outputs", f"layer_outputs_{k}")
        os.makedirs(od)
        for stem in stems:
            s[stem].astype(np.float32).tofile(os.path.join(od, stem + ".raw"))
    with open(os.path.join(d, "layer_output_name_order.json"), "w") as f:
        json.dump({"layer_output_names": stems}, f)


def aimet_name(n):
    return re.sub(r"\W+", "_", n)


def qnn_name(n):
    s = aimet_name(n)
    return s if s[:1].isalpha() else "_" + s


# ---- 1. metrics against numpy ------------------------------------------------------------

def test_metrics():
    rng = np.random.default_rng(1234)
    cases = {}  # name -> (dtype, [ref per sample], [test per sample])

    def add(name, dt, refs, tests):
        cases[name] = (dt, refs, tests)

    r = [rng.standard_normal((2, 3, 8, 8)).astype(np.float32) for _ in range(3)]
    add("random", np.float32, r, [x + (rng.standard_normal(x.shape) * 0.01 * (k + 1)).astype(np.float32)
                                  for k, x in enumerate(r)])
    add("identical", np.float32, [r[0]] * 3, [r[0]] * 3)
    z = np.zeros((4, 5), np.float32)
    add("zero_ref_zero_test", np.float32, [z] * 3, [z] * 3)
    nz = z.copy()
    nz[2, 3] = 1e-3
    add("zero_ref_nonzero_test", np.float32, [z] * 3, [nz, z, z])
    a = rng.standard_normal(100).astype(np.float32)
    b = a + np.float32(0.001)
    a2, b2 = a.copy(), b.copy()
    a2[[3, 7, 11]] = [np.nan, np.inf, -np.inf]
    b2[[3, 7, 11]] = [np.nan, np.inf, -np.inf]  # agreeing non-finite values
    a3, b3 = a.copy(), b.copy()
    b3[5] = np.nan  # test NaN where the reference is finite
    a3[9] = np.inf
    b3[9] = -np.inf  # opposite infinities
    add("nonfinite_agree", np.float32, [a2] * 3, [b2] * 3)
    add("nonfinite_mismatch", np.float32, [a2, a3, a2], [b2, b3, b2])
    huge = (rng.standard_normal(1000) * 1e37).astype(np.float32)
    add("huge", np.float32, [huge] * 3, [(huge * np.float32(1.0001)).astype(np.float32)] * 3)
    tiny = (rng.standard_normal(1000) * 1e-39).astype(np.float32)  # denormals
    add("tiny", np.float32, [tiny] * 3, [(tiny + np.float32(1e-42)).astype(np.float32)] * 3)
    h = rng.standard_normal((3, 17)).astype(np.float16)
    add("float16", np.float16, [h] * 3, [(h + np.float16(0.01)).astype(np.float16)] * 3)
    i = rng.integers(-1000, 1000, (50,)).astype(np.int64)
    add("int64", np.int64, [i] * 3, [i + (np.arange(50) % 3 == 0)] * 3)
    d = rng.standard_normal(64)
    add("float64", np.float64, [d] * 3, [d * 1.001] * 3)
    big = rng.standard_normal((1, 4, 300, 300)).astype(np.float32)  # above the parallel threshold
    add("big", np.float32, [big, big, big], [big + np.float32(1e-3) * rng.standard_normal(big.shape).astype(np.float32)
                                              for _ in range(3)])

    names = list(cases)
    tensors = [(n, aimet_name("/t/" + n), cases[n][0]) for n in names]
    for ext in ("raw", "npy"):
        refs = [{n: cases[n][1][k] for n in names} for k in range(3)]
        tests = [{n: cases[n][2][k] for n in names} for k in range(3)]
        write_ours(f"{WORK}/m_ref_{ext}", tensors, refs, ext)
        write_ours(f"{WORK}/m_test_{ext}", tensors, tests, ext)
        out = f"{WORK}/metrics_{ext}.json"
        p = run(f"{WORK}/m_ref_{ext}", f"{WORK}/m_test_{ext}", "--json", out, "--sqnr-min", "-1000")
        check(p.returncode in (0, 1) and not p.stderr, f"metrics ({ext}): exit {p.returncode}: {p.stderr}")
        rep = json.load(open(out))
        rows = {t["name"]: t for t in rep["tensors"]}
        for n in names:
            row = rows.get(n)
            check(row is not None and row["status"] in ("pass", "below"), f"{ext} {n} compared")
            if not row or "samples" not in row:
                continue
            pooled_sums = [0.0, 0.0, 0.0]
            per = []
            for k in range(3):
                want = reference_metrics(cases[n][1][k], cases[n][2][k])
                check_metrics(row["samples"][k], want, f"{ext} {n} sample {k}")
                # rtol: the smallest numpy.allclose(test, ref, rtol, atol=0) accepts on the finite pairs
                r_arr, t_arr = np.asarray(cases[n][1][k]).ravel(), np.asarray(cases[n][2][k]).ravel()
                got = fnum(row["samples"][k]["rtol"])
                ok = (got == math.inf) if want["nonfinite_mismatch"] else minimal_rtol_ok(
                    t_arr, r_arr, got, cases[n][0] == np.float32)
                check(ok, f"{ext} {n} sample {k}: rtol {got} is the smallest numpy.allclose accepts")
                per.append(want["sqnr_db"])
                for j in range(3):
                    pooled_sums[j] += want["_sums"][j]
            # pooled SQNR and per-sample minimum
            anymis = any(reference_metrics(cases[n][1][k], cases[n][2][k])["nonfinite_mismatch"] for k in range(3))
            rs, es, _ = pooled_sums
            pooled = (-math.inf if anymis else math.inf if es == 0 else -math.inf if rs == 0
                      else 10 * math.log10(rs / es))
            check(same(row["sqnr_db"], pooled), f"{ext} {n}: pooled SQNR {row['sqnr_db']}, numpy {pooled}")
            check(same(row["sqnr_min_db"], min(per)), f"{ext} {n}: min SQNR {row['sqnr_min_db']}, numpy {min(per)}")
    # the edge cases, spelled out
    rows = {t["name"]: t for t in json.load(open(f"{WORK}/metrics_raw.json"))["tensors"]}
    check(rows["identical"]["sqnr_db"] == "inf", "identical tensors: SQNR inf")
    check(rows["zero_ref_zero_test"]["sqnr_db"] == "inf", "all-zero pair: SQNR inf")
    check(rows["zero_ref_nonzero_test"]["samples"][0]["sqnr_db"] == "-inf", "all-zero ref, nonzero test: -inf")
    check(rows["zero_ref_nonzero_test"]["samples"][1]["sqnr_db"] == "inf", "all-zero sample 1: inf")
    check(rows["nonfinite_mismatch"]["samples"][1]["nan_test"] == 1, "NaN counted")
    check(rows["nonfinite_mismatch"]["samples"][1]["nonfinite_mismatch"] == 2, "mismatches counted")
    check(rows["nonfinite_agree"]["samples"][0]["sqnr_db"] != "-inf", "agreeing NaN/Inf do not fail a tensor")
    check(rows["huge"]["samples"][0]["sqnr_db"] not in ("inf", "-inf", "nan"), "huge values give a finite SQNR")
    check(rows["tiny"]["samples"][0]["sqnr_db"] not in ("inf", "-inf", "nan"), "denormals give a finite SQNR")
    # exit status follows the threshold
    p = run(f"{WORK}/m_ref_raw", f"{WORK}/m_test_raw")
    check(p.returncode == 1, f"default threshold: some tensors below -> exit 1 (got {p.returncode})")


# ---- a model, our dump of it, and QNN-style folders --------------------------------------

INPUT = "0:input.x"  # a leading digit, a colon and a dot: QNN prefixes '_'


def make_model(path):
    rng = np.random.default_rng(7)
    w1 = numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32) * 0.3, "conv1.weight")
    w2 = numpy_helper.from_array(rng.standard_normal((16, 8, 3, 3)).astype(np.float32) * 0.2, "layer1.0.conv.weight")
    w3 = numpy_helper.from_array(rng.standard_normal((10, 16 * 4 * 4)).astype(np.float32) * 0.05, "fc.weight")
    b3 = numpy_helper.from_array(np.zeros(10, np.float32), "fc.bias")
    shape = numpy_helper.from_array(np.array([1, -1], np.int64), "flat_shape")
    nodes = [
        helper.make_node("Conv", [INPUT, "conv1.weight"], ["/conv1/Conv_output_0"], name="/conv1/Conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["/conv1/Conv_output_0"], ["/relu/Relu_output_0"], name="/relu/Relu"),
        helper.make_node("MaxPool", ["/relu/Relu_output_0"], ["/pool/MaxPool_output_0"], name="/pool/MaxPool",
                         kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["/pool/MaxPool_output_0", "layer1.0.conv.weight"], ["/layer1/layer1.0/conv/Conv_output_0"],
                         name="/layer1/layer1.0/conv/Conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["/layer1/layer1.0/conv/Conv_output_0"], ["/layer1/layer1.0/relu/Relu_output_0"],
                         name="/layer1/layer1.0/relu/Relu"),
        helper.make_node("MaxPool", ["/layer1/layer1.0/relu/Relu_output_0"], ["/pool2/MaxPool_output_0"],
                         name="/pool2/MaxPool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Reshape", ["/pool2/MaxPool_output_0", "flat_shape"], ["/Reshape_output_0"], name="/Reshape"),
        helper.make_node("Gemm", ["/Reshape_output_0", "fc.weight", "fc.bias"], ["logits"], name="/fc/Gemm", transB=1),
    ]
    g = helper.make_graph(nodes, "cmp", [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [1, 3, 16, 16])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])], [w1, w2, w3, b3, shape])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    m = onnx.shape_inference.infer_shapes(m)  # value_info: shapes for --model
    onnx.checker.check_model(m)
    onnx.save(m, path)


def generate_dump(model, out, n_samples):
    rng = np.random.default_rng(99)
    lines = []
    for k in range(n_samples):
        p = f"{WORK}/in_{k}.raw"
        rng.standard_normal((1, 3, 16, 16)).astype(np.float32).tofile(p)
        lines.append(p)
    with open(f"{WORK}/input_list.txt", "w") as f:
        f.write("\n".join(lines) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    p = subprocess.run([BIN, "generate", model, "-o", out, "--input-list", f"{WORK}/input_list.txt", "--quiet"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"layerout generate failed: {p.stderr}")
    return json.load(open(f"{out}/manifest.json"))


DEGRADED = "/layer1/layer1.0/conv/Conv_output_0"
DROPPED = "/pool/MaxPool_output_0"


def stem(t):
    return re.sub(r"\.(raw|npy)$", "", t["file"])


def make_qnn(dump, manifest, out, degrade=True, single=False):
    """What qnn-net-run --debug writes: Result_K/NAME.raw, float32, QNN
    names, image tensors channel-last; one layer degraded, one tensor
    missing (fused away) and one extra (the runtime's own)."""
    shutil.rmtree(out, ignore_errors=True)
    rng = np.random.default_rng(5)
    for k in range(manifest["samples"]):
        rd = os.path.join(out, f"Result_{k}")
        os.makedirs(rd)
        for t in manifest["tensors"]:
            if t["name"] == DROPPED:
                continue
            a = np.fromfile(f"{dump}/outputs/layer_outputs_{k}/{stem(t)}.raw", np.float32).reshape(t["shape"])
            if degrade and t["name"] == DEGRADED:
                a = a + (rng.standard_normal(a.shape) * 0.3 * np.std(a)).astype(np.float32)
            if a.ndim == 4:
                a = a.transpose(0, 2, 3, 1)
            np.ascontiguousarray(a, np.float32).tofile(os.path.join(rd, qnn_name(t["name"]) + ".raw"))
        np.zeros(7, np.float32).tofile(os.path.join(rd, "qnn_only_tensor.raw"))
    return os.path.join(out, "Result_0") if single else out


def test_qnn(model):
    dump = f"{WORK}/ours"
    man = generate_dump(model, dump, 2)
    qnn = make_qnn(dump, man, f"{WORK}/qnn")
    order = [t["name"] for t in man["tensors"]]
    js = f"{WORK}/qnn0.json"
    p = run(dump, qnn, "--json", js, "--csv", f"{WORK}/qnn.csv", "--html", f"{WORK}/qnn.html", "--top", "0")
    check(p.returncode == 1, f"QNN with a degraded layer: exit 1 (got {p.returncode}) {p.stderr}")
    rep = json.load(open(js))
    rows = {t["name"]: t for t in rep["tensors"]}
    check(rep["test"]["kind"] == "qnn" and rep["samples"] == 2, "QNN folder recognised, 2 samples")
    check(rows[INPUT]["status"] == "pass" and rows[INPUT]["test_file"] == qnn_name(INPUT),
          f"QNN-prefixed input matched: {rows.get(INPUT)}")
    check(rows[DROPPED]["status"] == "only_ref", "tensor missing on the QNN side listed as only in REF")
    check(any(t["status"] == "only_test" and t["test_file"] == "qnn_only_tensor" for t in rep["tensors"]),
          "extra QNN tensor listed as only in TEST")
    for t in man["tensors"]:
        n = t["name"]
        if n == DROPPED:
            continue
        row = rows[n]
        want_cl = len(t["shape"]) == 4 and t["shape"][1] > 1 and t["shape"][2] * t["shape"][3] > 1
        check(row["layout"] == ("test channel-last" if want_cl else "same"), f"{n}: layout {row['layout']}")
        if n != DEGRADED and order.index(n) < order.index(DEGRADED):
            check(row["sqnr_db"] == "inf", f"{n}: exact after transposition (SQNR {row['sqnr_db']})")
    check(rows[DEGRADED]["status"] == "below", f"degraded layer below threshold: {rows[DEGRADED].get('sqnr_db')}")
    fd = rep["summary"]["first_divergence"]
    check(fd is not None and fd["name"] == DEGRADED, f"first divergence is the degraded layer: {fd}")
    check(rows[DEGRADED]["input_sqnr_db"] == "inf", "graph-order predecessor as input without --model")
    # graph order kept in the report
    got_order = [t["name"] for t in rep["tensors"] if t["status"] in ("pass", "below")]
    check(got_order == [n for n in order if n != DROPPED], "rows in graph order")
    check("first divergence: #" in p.stdout and DEGRADED in p.stdout, "terminal names the first divergence")
    check("only in REF (1): " + DROPPED in p.stdout, "terminal lists the unmatched")
    # CSV: a pooled row and one per sample for each compared tensor
    with open(f"{WORK}/qnn.csv") as f:
        rs = list(csv.DictReader(f))
    check(len([r for r in rs if r["sample"] == "all"]) == len(rep["tensors"]), "CSV: a pooled row per tensor")
    check(len([r for r in rs if r["sample"] == "1"]) == rep["summary"]["compared"], "CSV: per-sample rows")

    # with --model: producers from the model's edges
    js = f"{WORK}/qnn.json"
    p = run(dump, qnn, "--json", js, "--model", model)
    rep = json.load(open(js))
    rows = {t["name"]: t for t in rep["tensors"]}
    check(rep["producers"] == "model", "producers from --model")
    # the degraded conv's producer chain skips the tensor QNN lacks (MaxPool) to the Relu
    ins = [rep["tensors"][i]["name"] for i in rows[DEGRADED]["inputs"]]
    check(ins == ["/relu/Relu_output_0"], f"inputs of the degraded conv through the missing tensor: {ins}")
    check(rep["summary"]["first_divergence"]["name"] == DEGRADED, "first divergence with --model")

    # a single Result_K folder given directly
    p = run(dump, os.path.join(qnn, "Result_0"), "--json", js)
    rep = json.load(open(js))
    check(rep["samples"] == 1 and rep["summary"]["compared"] == len(man["tensors"]) - 1,
          f"one Result folder: {rep['summary']}")

    # the clean QNN folder passes
    clean = make_qnn(dump, man, f"{WORK}/qnn_clean", degrade=False)
    p = run(dump, clean)
    check(p.returncode == 0, f"clean QNN output: exit 0 (got {p.returncode}) {p.stdout[-300:]}")
    # QNN as the reference side: its channel-last data is transposed too
    p = run(clean, dump, "--json", js)
    rep = json.load(open(js))
    check(p.returncode == 0 and all(t["layout"] in ("same", "ref channel-last") for t in rep["tensors"]
                                    if t["status"] == "pass"), "QNN as REF")

    # an AIMET dump (no manifest) against QNN: shapes only from --model
    aimet = f"{WORK}/aimet"
    shutil.rmtree(aimet, ignore_errors=True)
    shutil.copytree(f"{dump}/outputs", f"{aimet}/outputs")
    shutil.copy(f"{dump}/layer_output_name_order.json", aimet)
    p = run(aimet, clean, "--json", js, "--model", model)
    rep = json.load(open(js))
    check(p.returncode == 0 and rep["ref"]["kind"] == "aimet", f"AIMET vs QNN with --model: {p.returncode} {p.stdout[-400:]}")
    check(all(t["shape_source"] == "model" for t in rep["tensors"] if t["status"] == "pass"),
          "shapes from the model's value_info")
    p = run(aimet, clean, "--json", js)
    rep = json.load(open(js))
    check(p.returncode == 1 and "--model" in rep["notes"], "without --model: compared flat, and told so")
    return f"{WORK}/qnn.html", dump, man


# ---- PyTorch-scheme names ----------------------------------------------------------------

def test_pytorch_names(dump, man):
    # aimet_torch names files by module: conv1, relu, layer1_0_conv, layer1_0_relu, pool, pool2, fc
    module_of = {"/conv1/Conv_output_0": "conv1", "/relu/Relu_output_0": "relu",
                 "/pool/MaxPool_output_0": "pool", DEGRADED: "layer1_0_conv",
                 "/layer1/layer1.0/relu/Relu_output_0": "layer1_0_relu", "/pool2/MaxPool_output_0": "pool2",
                 "logits": "fc"}
    by_name = {t["name"]: t for t in man["tensors"]}
    stems = list(module_of.values())
    samples = []
    for k in range(man["samples"]):
        s = {}
        for n, module in module_of.items():
            t = by_name[n]
            s[module] = np.fromfile(f"{dump}/outputs/layer_outputs_{k}/{stem(t)}.raw", np.float32)
        samples.append(s)
    write_aimet(f"{WORK}/torch_names", stems, samples)
    js = f"{WORK}/torch.json"
    p = run(dump, f"{WORK}/torch_names", "--json", js)
    rep = json.load(open(js))
    rows = {t["name"]: t for t in rep["tensors"]}
    for n, module in module_of.items():
        check(rows[n]["test_file"] == module and rows[n]["sqnr_db"] == "inf",
              f"PyTorch module {module} matched to {n}: {rows[n].get('test_file')} {rows[n].get('sqnr_db')}")
    check(rows[INPUT]["status"] == "only_ref" and rows["/Reshape_output_0"]["status"] == "only_ref",
          "functional tensors without a module are listed as only in REF")
    check(p.returncode == 0, f"PyTorch names: exit {p.returncode}")


# ---- the HTML report in Chromium -----------------------------------------------------------

class DomCounter(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.points, self.polylines, self.ids, self.sorted = [], 0, 0, set(), None
        self.ready = False
        self.in_tbody = False
        self.lines, self.cx = {}, {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "body" and a.get("data-ready") == "1":
            self.ready = True
        if tag == "table" and a.get("id") == "rows":
            self.sorted = a.get("data-sorted")
        if tag == "tbody":
            self.in_tbody = True
        if tag == "tr" and self.in_tbody:
            self.rows.append(a)
        if tag == "circle" and "pt" in a.get("class", ""):
            self.points += 1
            self.cx[int(a["data-row"])] = float(a["cx"])
        if tag == "line" and "id" in a:
            self.lines[a["id"]] = {k: float(a[k]) for k in ("x1", "x2", "y1", "y2")}
        if tag == "polyline":
            self.polylines += 1

    def handle_endtag(self, tag):
        if tag == "tbody":
            self.in_tbody = False


def chromium():
    for c in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(c)
        if p:
            return p
    return None


def test_html(page, rep_json):
    rep = json.load(open(rep_json))
    with open(page) as f:
        text = f.read()
    check("http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in text
          and "<link" not in text and "src=" not in text, "HTML is self-contained (no external resources)")
    browser = chromium()
    if not browser:
        check(False, "Chromium is not installed (Debian package 'chromium'): the HTML test cannot run")
        return
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
             "--disable-extensions", f"--user-data-dir={WORK}/chromium-profile"]
    url = "file://" + os.path.abspath(page)
    p = subprocess.run([browser, *flags, "--virtual-time-budget=3000", "--dump-dom", url + "#sort=sqnr"],
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0 or "<html" not in p.stdout:
        check(False, f"Chromium could not open the report (exit {p.returncode}): {p.stderr[-500:]}")
        return
    dom = DomCounter()
    dom.feed(p.stdout)
    n_rows = len(rep["tensors"])
    compared = [t for t in rep["tensors"] if t["status"] in ("pass", "below")]
    check(dom.ready, "the page's script ran in Chromium")
    check("chart" in dom.ids and "threshold" in dom.ids and "first-divergence" in dom.ids,
          f"chart with threshold and first-divergence marker: {sorted(dom.ids)}")
    check(dom.points == len(compared), f"a chart point per compared tensor: {dom.points} vs {len(compared)}")
    check(dom.polylines >= 1, "SQNR line drawn")
    fd = rep["summary"]["first_divergence"]["index"]
    ln = dom.lines.get("first-divergence", {})
    check(ln.get("x1") == ln.get("x2") == dom.cx.get(fd) and ln["y1"] < ln["y2"],
          f"first-divergence marker is a vertical line through its point: {ln} vs cx {dom.cx.get(fd)}")
    th = dom.lines.get("threshold", {})
    check(th.get("y1") == th.get("y2") and th["x1"] < th["x2"], f"threshold is a horizontal line: {th}")
    check(len(dom.rows) == n_rows, f"every row in the table: {len(dom.rows)} vs {n_rows}")
    check(sorted(int(r["data-row"]) for r in dom.rows) == list(range(n_rows)), "each row once")
    check(dom.sorted == "sqnr:asc", f"sorted by SQNR on load: {dom.sorted}")
    # after sorting by SQNR, the degraded layer comes first among compared rows
    first = int(dom.rows[0]["data-row"])
    check(rep["tensors"][first]["status"] in ("below", "only_ref", "only_test", "error"),
          f"worst first after sorting: row {first} {rep['tensors'][first]['status']}")
    check(any(rep["tensors"][int(r["data-row"])]["name"] == DEGRADED for r in dom.rows[:4]),
          "degraded layer among the first rows after sorting")
    os.makedirs(ARTIFACTS, exist_ok=True)
    shot = os.path.join(ARTIFACTS, "compare-report.png")
    if os.path.exists(shot):
        os.remove(shot)
    p = subprocess.run([browser, *flags, "--window-size=1300,1400", f"--screenshot={shot}", url],
                       capture_output=True, text=True, timeout=120)
    ok = os.path.exists(shot) and os.path.getsize(shot) > 10000
    if ok:
        with open(shot, "rb") as f:
            ok = f.read(8) == b"\x89PNG\r\n\x1a\n"
    check(ok, f"screenshot saved as {shot}: {p.stderr[-300:] if not ok else ''}")
    shutil.copy(page, os.path.join(ARTIFACTS, "compare-report.html"))
    print(f"screenshot: {shot}")


# ---- command line -------------------------------------------------------------------------

def test_cli(dump):
    p = run(dump, dump)
    check(p.returncode == 0 and "first divergence: none" in p.stdout, "a dump against itself: exit 0")
    p = run(dump, f"{WORK}/does-not-exist")
    check(p.returncode == 2 and "layerout:" in p.stderr, "missing folder: exit 2 with a message")
    p = run(dump)
    check(p.returncode == 2, "one folder: exit 2")
    p = run(dump, dump, "--frobnicate")
    check(p.returncode == 2, "unknown option: exit 2")
    p = run(dump, dump, "--sqnr-min", "abc")
    check(p.returncode == 2, "bad number: exit 2")
    p = run(dump, f"{WORK}/m_ref_raw")
    check(p.returncode == 2 and "matches" in p.stderr, f"nothing in common: exit 2 ({p.stderr.strip()})")
    p = run(dump, f"{WORK}/qnn", "--top", "2")
    check("worst tensors" in p.stdout and p.stdout.count("\n    ") <= 4, "--top 2 shows the two worst")
    worst_line = [l for l in p.stdout.splitlines() if DEGRADED in l]
    check(bool(worst_line) and "BELOW" in worst_line[0], "worst first: the degraded layer")
    p = run(dump, f"{WORK}/qnn", "--sqnr-min", "0")
    check(p.returncode == 0, f"threshold 0 dB: exit 0 (got {p.returncode})")
    # reports are written atomically: no temporary files left behind
    d = f"{WORK}/reports"
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    run(dump, f"{WORK}/qnn", "--json", f"{d}/r.json", "--csv", f"{d}/r.csv", "--html", f"{d}/r.html")
    check(sorted(os.listdir(d)) == ["r.csv", "r.html", "r.json"], f"only the reports: {os.listdir(d)}")
    p = run(dump, f"{WORK}/qnn", "--json", f"{WORK}/no-such-dir/r.json")
    check(p.returncode == 2, "unwritable report: exit 2")
    # a truncated tensor file is reported as not comparable, not a crash
    bad = f"{WORK}/qnn_bad"
    shutil.rmtree(bad, ignore_errors=True)
    shutil.copytree(f"{WORK}/qnn_clean", bad)
    f0 = os.path.join(bad, "Result_0", qnn_name("/relu/Relu_output_0") + ".raw")
    with open(f0, "r+b") as f:
        f.truncate(100)
    p = run(dump, bad, "--json", f"{WORK}/bad.json")
    rep = json.load(open(f"{WORK}/bad.json"))
    check(p.returncode == 1 and rep["summary"]["errors"] == 1, f"truncated file: not comparable, exit 1 ({p.returncode})")


# ---- speed --------------------------------------------------------------------------------

def test_speed():
    n_tensors, n = 24, 1 << 20  # 24 tensors of 4 MB per side (96 MB), 2 samples
    rng = np.random.default_rng(3)
    base = rng.standard_normal(n).astype(np.float32)
    tensors = [(f"t{i}", f"t{i}", np.float32) for i in range(n_tensors)]
    refs, tests = [], []
    for k in range(2):
        refs.append({f"t{i}": np.roll(base, i + k).reshape(1, 16, 256, 256) for i in range(n_tensors)})
        tests.append({f"t{i}": (refs[k][f"t{i}"] + np.float32(1e-3)) for i in range(n_tensors)})
    write_ours(f"{WORK}/s_ref", tensors, refs)
    write_ours(f"{WORK}/s_test", tensors, tests)
    t0 = time.perf_counter()
    p = run(f"{WORK}/s_ref", f"{WORK}/s_test", "--json", f"{WORK}/s.json")
    dt = time.perf_counter() - t0
    mb = 2 * 2 * n_tensors * n * 4 / 1e6
    print(f"speed: {mb:.0f} MB compared in {dt:.2f} s ({mb / dt:.0f} MB/s)")
    check(p.returncode == 0, f"speed run: exit {p.returncode}")
    shutil.rmtree(f"{WORK}/s_ref")
    shutil.rmtree(f"{WORK}/s_test")


def main():
    os.makedirs(WORK, exist_ok=True)
    model = f"{WORK}/cmp.onnx"
    make_model(model)
    test_metrics()
    page, dump, man = test_qnn(model)
    test_pytorch_names(dump, man)
    test_html(page, f"{WORK}/qnn0.json")
    test_cli(dump)
    test_speed()
    tally.finish("compare")


if __name__ == "__main__":
    main()
