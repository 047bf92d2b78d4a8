"""Every value of `layerout compare`'s CSV and JSON, recomputed with numpy
from the files (verify.py), on the dumps that used to mislead:

- metrics edge cases (NaN/Inf at known positions, zeros, dtypes, .npy);
- later samples with short, empty and missing files (a "not compared" row
  with its reason, exit 1, no crash), for our dumps and QNN folders;
- an AIMET dump against a QNN folder through a model without value_info:
  shapes from running the model, NHWC handled, the right first divergence;
- the layout decided on all samples (one broken sample does not decide);
- a single Result_K folder paired with REF's sample K;
- --drop-db that moves the first divergence.

Usage: test_reports.py LAYEROUT_BINARY WORK_DIR ARTIFACT_DIR
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import onnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_compare as tc  # noqa: E402  (the fixtures: models, dumps, QNN folders)
from verify import Tally, verify  # noqa: E402

BIN, WORK = sys.argv[1], os.path.join(sys.argv[2], "reports")
tally = Tally()
check = tally.check


def compare(*args):
    return subprocess.run([BIN, "compare", *map(str, args)], capture_output=True, text=True)


def reports(ref, test, name, *extra, expect=None):
    js, cs = f"{WORK}/{name}.json", f"{WORK}/{name}.csv"
    p = compare(ref, test, "--json", js, "--csv", cs, *extra)
    crashed = p.returncode < 0 or p.returncode > 2
    check(not crashed, f"{name}: no crash (exit {p.returncode}) {p.stderr[-300:]}")
    if expect is not None:
        check(p.returncode == expect, f"{name}: exit {p.returncode}, want {expect}: {p.stderr[-300:]}")
    if p.returncode in (0, 1):
        return p, verify(js, cs, check, name)
    return p, None


def rows_by_name(rep):
    return {t["name"]: t for t in rep["tensors"]}


# ---- metrics edge cases ---------------------------------------------------------------

def test_edge_cases():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    nan2 = x.copy()
    nan2[0, 1, 2, 3] = np.nan
    nan2[1, 0, 0, 1] = np.nan
    inf_t = x + np.float32(1e-3)
    inf_t[1, 2, 3, 4] = np.inf
    cases = {
        "two_nans": (x, nan2),               # NaN only in TEST: positions, not max error 0 at [0,0,0,0]
        "inf_test": (x, inf_t),
        "close": (x, (x * np.float32(1 + 3e-7)).astype(np.float32)),  # rtol at the rounding edge
        "noisy": (x, x + (rng.standard_normal(x.shape) * 0.05).astype(np.float32)),
        "zero_ref": (np.zeros(7, np.float32), np.eye(1, 7, 3, dtype=np.float32).ravel()),
        "f64": (rng.standard_normal(33), rng.standard_normal(33)),
        "i32": (np.arange(20, dtype=np.int32), np.arange(20, dtype=np.int32) * 2),
    }
    tensors = [(n, "t_" + n, a.dtype.type) for n, (a, _) in cases.items()]
    refs = [{n: a for n, (a, _) in cases.items()} for _ in range(2)]
    tests = [{n: b for n, (_, b) in cases.items()}, {n: (b if n != "noisy" else a) for n, (a, b) in cases.items()}]
    for ext in ("raw", "npy"):
        tc.write_ours(f"{WORK}/e_ref_{ext}", tensors, refs, ext)
        tc.write_ours(f"{WORK}/e_test_{ext}", tensors, tests, ext)
        p, rep = reports(f"{WORK}/e_ref_{ext}", f"{WORK}/e_test_{ext}", f"edge_{ext}", expect=1)
        if not rep:
            continue
        rows = rows_by_name(rep)
        s0 = rows["two_nans"]["samples"][0]
        check(s0["first_nan_test"] == {"sample": 0, "index": 1 * 60 + 0 * 20 + 0 * 5 + 1, "at": "[0,1,2,3]"}
              or s0["first_nan_test"]["at"] == "[0,1,2,3]", f"{ext}: first NaN of TEST at [0,1,2,3]: {s0['first_nan_test']}")
        check(s0["first_mismatch"]["at"] == "[0,1,2,3]" and s0["nan_test"] == 2, f"{ext}: first mismatch at the first NaN")
        check(rows["inf_test"]["pooled"]["first_inf_test"]["at"] == "[1,2,3,4]", f"{ext}: Inf position")
        check("NONFINITE at s0:[0,1,2,3]" in p.stdout, f"{ext}: the terminal names the first NaN's position")
    # the CSV is RFC 4180 with one row per tensor and sample: a name with a comma and a quote stays one field
    odd = 'a,b "c"'
    tc.write_ours(f"{WORK}/q_ref", [(odd, "odd", np.float32)], [{odd: x}])
    tc.write_ours(f"{WORK}/q_test", [(odd, "odd", np.float32)], [{odd: x * np.float32(1.5)}])
    p, rep = reports(f"{WORK}/q_ref", f"{WORK}/q_test", "quoted", expect=1)
    with open(f"{WORK}/quoted.csv", newline="") as f:
        import csv
        rows = list(csv.reader(f))
    check(rows[1][1] == odd and len(rows[1]) == len(rows[0]), f"quoted name: {rows[1][:3]}")
    # full precision: a cosine of 0.99999965 does not print as 1
    c = float(rows[1][rows[0].index("cosine")])
    check(c != 1.0 or rep["tensors"][0]["pooled"]["cosine"] == 1.0, "cosine keeps its digits")


# ---- later samples with short, empty and missing files -----------------------------------

def test_short_later_samples(model):
    dump = f"{WORK}/ours"
    man = tc.generate_dump(model, dump, 3)
    names = [t["name"] for t in man["tensors"]]
    stem = {t["name"]: tc.stem(t) for t in man["tensors"]}
    bad = f"{WORK}/ours_bad"
    shutil.rmtree(bad, ignore_errors=True)
    shutil.copytree(dump, bad)
    short, empty, missing = names[1], names[2], names[4]
    with open(f"{bad}/outputs/layer_outputs_1/{stem[short]}.raw", "r+b") as f:
        f.truncate(100)
    open(f"{bad}/outputs/layer_outputs_2/{stem[empty]}.raw", "wb").close()
    os.remove(f"{bad}/outputs/layer_outputs_2/{stem[missing]}.raw")
    for ref, test, tag in ((dump, bad, "test"), (bad, dump, "ref")):
        p, rep = reports(ref, test, f"short_{tag}", expect=1)
        if not rep:
            continue
        rows = rows_by_name(rep)
        for n, k in ((short, 1), (empty, 2), (missing, 2)):
            r = rows[n]
            check(r["status"] == "error" and f"sample {k}" in r.get("error", ""),
                  f"short files on the {tag} side: {n} not compared, reason names sample {k}: {r.get('error')}")
        check(rep["summary"]["errors"] == 3, f"{tag}: 3 not compared ({rep['summary']})")
        check("not compared" in p.stdout, f"{tag}: terminal says not compared")
    # the same in a QNN folder: Result_1 short, Result_2 empty
    qnn = tc.make_qnn(dump, man, f"{WORK}/qnn_short", degrade=False)
    f1 = os.path.join(qnn, "Result_1", tc.qnn_name(names[1]) + ".raw")
    with open(f1, "r+b") as f:
        f.truncate(100)
    open(os.path.join(qnn, "Result_2", tc.qnn_name(names[5]) + ".raw"), "wb").close()
    p, rep = reports(dump, qnn, "short_qnn", expect=1)
    if rep:
        rows = rows_by_name(rep)
        check(rows[names[1]]["status"] == "error" and "sample 1" in rows[names[1]]["error"], "QNN Result_1 short")
        check(rows[names[5]]["status"] == "error" and "sample 2" in rows[names[5]]["error"], "QNN Result_2 empty")
    return dump, man


# ---- AIMET vs QNN through a model without value_info ---------------------------------------

def strip_value_info(src, dst):
    m = onnx.load(src)
    del m.graph.value_info[:]
    onnx.save(m, dst)
    return dst


def test_aimet_vs_qnn_no_value_info(model, dump, man):
    bare = strip_value_info(model, f"{WORK}/bare.onnx")
    check(len(onnx.load(bare).graph.value_info) == 0, "the model has no value_info")
    aimet = f"{WORK}/aimet"
    shutil.rmtree(aimet, ignore_errors=True)
    shutil.copytree(f"{dump}/outputs", f"{aimet}/outputs")
    shutil.copy(f"{dump}/layer_output_name_order.json", aimet)
    qnn = tc.make_qnn(dump, man, f"{WORK}/qnn_deg", degrade=True)
    p, rep = reports(aimet, qnn, "aimet_qnn", "--model", bare, expect=1)
    if not rep:
        return
    rows = rows_by_name(rep)
    order = [t["name"] for t in man["tensors"]]
    for t in man["tensors"]:
        n = t["name"]
        if n == tc.DROPPED:
            continue
        r = rows[tc.stem(t)]  # AIMET's dump names tensors by file only
        check(r["shape"] == t["shape"], f"{n}: shape {r['shape']} (the manifest says {t['shape']})")
        check(r["shape_source"] in ("model", "model run"), f"{n}: shape from the model ({r['shape_source']})")
        if n != tc.DEGRADED and order.index(n) < order.index(tc.DEGRADED):
            check(r["sqnr_db"] == "inf", f"{n}: exact once read channel-last ({r['sqnr_db']} dB)")
    conv1 = rows[tc.aimet_name("/conv1/Conv_output_0")]
    check(conv1["shape_source"] == "model run", f"an intermediate shape came from running it: {conv1['shape_source']}")
    check(conv1["layout"] == "test channel-last", "conv1 read as NHWC")
    fd = rep["summary"]["first_divergence"]
    check(fd is not None and fd["name"] == tc.aimet_name(tc.DEGRADED), f"first divergence is the degraded layer: {fd}")
    check("compared flat" not in rep["notes"], f"nothing compared flat: {rep['notes']}")


# ---- the layout decided on all samples -------------------------------------------------

def test_layout_all_samples(dump, man):
    qnn = tc.make_qnn(dump, man, f"{WORK}/qnn_zero0", degrade=False)
    victim = "/layer1/layer1.0/conv/Conv_output_0"
    f0 = os.path.join(qnn, "Result_0", tc.qnn_name(victim) + ".raw")
    np.zeros(os.path.getsize(f0) // 4, np.float32).tofile(f0)
    p, rep = reports(dump, qnn, "zero0", expect=1)
    if not rep:
        return
    r = rows_by_name(rep)[victim]
    check(r["layout"] == "test channel-last", f"layout from all samples: {r['layout']}")
    check(r["samples"][1]["sqnr_db"] == "inf" and r["samples"][2]["sqnr_db"] == "inf",
          f"samples 1 and 2 exact: {[s['sqnr_db'] for s in r['samples']]}")
    check(r["layout_decision"] and "2 of them" in r["layout_decision"], f"decision reported: {r['layout_decision']}")


# ---- Result_K alone pairs with sample K -----------------------------------------------

def test_result_k(dump, man):
    qnn = tc.make_qnn(dump, man, f"{WORK}/qnn_clean", degrade=False)
    p, rep = reports(dump, os.path.join(qnn, "Result_1"), "result1", expect=0)
    if rep:
        check(rep["first_sample"] == 1 and rep["samples"] == 1, f"Result_1 paired with sample 1: {rep['first_sample']}")
        check("paired with REF's sample 1" in rep["notes"], f"and said so: {rep['notes']}")
        check(all(t["sqnr_db"] == "inf" for t in rep["tensors"] if t["status"] == "pass"), "exact against sample 1")
    p = compare(os.path.join(qnn, "Result_1"), dump)
    check(p.returncode == 0, f"Result_1 as REF pairs too (exit {p.returncode})")
    # a Result_K beyond REF's samples: nothing to compare, said clearly
    shutil.copytree(os.path.join(qnn, "Result_1"), os.path.join(WORK, "Result_7"), dirs_exist_ok=True)
    p = compare(dump, os.path.join(WORK, "Result_7"))
    check(p.returncode == 2 and "no sample in common" in p.stderr, f"Result_7 against 3 samples: {p.stderr.strip()}")


# ---- --drop-db moves the first divergence -----------------------------------------------

def test_drop_db():
    rng = np.random.default_rng(3)
    base = rng.standard_normal(4096).astype(np.float32)
    snr = [140, 110, 85, 42, 41, 20]  # 30 dB lost at t1, harmlessly; 43 dB lost at t3, still above 30 dB
    refs, tests = [{}], [{}]
    for i, s in enumerate(snr):
        r = np.roll(base, i * 7)
        noise = rng.standard_normal(r.shape)
        noise *= np.sqrt(np.sum(r.astype(np.float64) ** 2) / np.sum(noise ** 2) / 10 ** (s / 10))
        refs[0][f"t{i}"] = r
        tests[0][f"t{i}"] = (r + noise).astype(np.float32)
    tensors = [(f"t{i}", f"t{i}", np.float32) for i in range(len(snr))]
    tc.write_ours(f"{WORK}/d_ref", tensors, refs)
    tc.write_ours(f"{WORK}/d_test", tensors, tests)
    p, rep = reports(f"{WORK}/d_ref", f"{WORK}/d_test", "drop20", expect=1)
    if rep:
        check(rep["summary"]["first_divergence"]["name"] == "t3", f"drop 20: t3 ({rep['summary']['first_divergence']})")
        check(not rep["tensors"][1]["drop"], "110 dB after 140 dB inputs is no drop")
    p, rep = reports(f"{WORK}/d_ref", f"{WORK}/d_test", "drop50", "--drop-db", "50", expect=1)
    if rep:
        check(rep["summary"]["first_divergence"]["name"] == "t5", f"drop 50: t5 ({rep['summary']['first_divergence']})")


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    tc.WORK = WORK
    model = f"{WORK}/cmp.onnx"
    tc.make_model(model)
    test_edge_cases()
    dump, man = test_short_later_samples(model)
    test_aimet_vs_qnn_no_value_info(model, dump, man)
    test_layout_all_samples(dump, man)
    test_result_k(dump, man)
    test_drop_db()
    tally.finish("reports")


if __name__ == "__main__":
    main()
