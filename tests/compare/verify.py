"""Recomputes every value of a `layerout compare` JSON and CSV report with
numpy, from the dump files themselves.

verify(json_path, csv_path, check, what) reads the two reports, finds each
compared row's files through the report's own ref/test paths, file names,
shape and layout, and checks every column of every CSV row and every metric
of the JSON against numpy in float64 (rtol against numpy.allclose itself).
The definitions are the ones the README documents; nothing here calls
layerout's code.
"""
import csv
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import Tally  # noqa: E402,F401  (the compare scripts import it from here)

METRIC_COLUMNS = ["sqnr_db", "cosine", "mse", "mean_abs_err", "max_abs_err", "max_abs_err_at", "max_abs_err_index",
                  "max_abs_err_sample", "rel_l2", "atol", "rtol", "elements", "finite", "nan_ref", "inf_ref",
                  "nan_test", "inf_test", "nonfinite_mismatch", "first_nan_ref_at", "first_inf_ref_at",
                  "first_nan_test_at", "first_inf_test_at", "first_mismatch_at", "sqnr_db_pooled",
                  "sqnr_db_min_sample", "worst_sample", "input_sqnr_db", "below", "drop"]
COLUMNS = ["index", "tensor", "ref_file", "test_file", "status", "shape", "shape_source", "layout", "sample",
           *METRIC_COLUMNS, "error"]



def fnum(v):
    return float(v)


def close(a, b, rel=1e-9):
    a, b = fnum(a), fnum(b)
    if math.isnan(b):
        return math.isnan(a)
    if math.isinf(b):
        return a == b
    return abs(a - b) <= rel * max(abs(a), abs(b)) + 1e-300


def sample_file(side, file, sample, first_sample):
    path = side["path"]
    if side["kind"] == "qnn":
        d = os.path.join(path, f"Result_{sample}")
        if not os.path.isdir(d):  # one Result_K folder given directly
            d = path
    else:
        d = os.path.join(path, "outputs", f"layer_outputs_{sample}")
    for ext in (".raw", ".npy"):
        p = os.path.join(d, file + ext)
        if os.path.exists(p):
            return p
    return None


def read(path, dtype):
    if path.endswith(".npy"):
        return np.load(path).ravel()
    return np.fromfile(path, np.dtype(dtype))


def model_order(a, shape, channel_last):
    """The side's data in the model's (channel-first) order, flat."""
    if not channel_last:
        return a
    cl = [shape[0], *shape[2:], shape[1]]
    return np.moveaxis(a.reshape(cl), -1, 1).ravel()


def at(index, shape, sample=None):
    if index < 0:
        return ""
    pre = f"s{sample}:" if sample is not None else ""
    if shape:
        return pre + "[" + ",".join(str(int(i)) for i in np.unravel_index(index, shape)) + "]"
    return pre + f"[{index}]"


def minimal_rtol_ok(test, ref, rtol, f32):
    """rtol passes numpy.allclose(test, ref, rtol, atol=0) on the finite pairs,
    and the next smaller value of its type does not (when there is one)."""
    fin = np.isfinite(ref) & np.isfinite(test)
    r, t = ref[fin], test[fin]
    if not f32:
        r, t = r.astype(np.float64), t.astype(np.float64)
    if math.isinf(rtol):
        return not np.allclose(t, r, rtol=float(np.finfo(np.float32 if f32 else np.float64).max), atol=0)
    if not np.allclose(t, r, rtol=rtol, atol=0):
        return False
    if rtol == 0:
        return True
    below = float(np.nextafter(np.float32(rtol), np.float32(0))) if f32 else float(np.nextafter(rtol, 0.0))
    return not np.allclose(t, r, rtol=below, atol=0)


def metrics(ref, test, f32):
    """Everything for one sample, in float64: ref and test flat, model order."""
    r = ref.astype(np.float64)
    t = test.astype(np.float64)
    fin = np.isfinite(r) & np.isfinite(t)
    agree = (np.isnan(r) & np.isnan(t)) | (np.isinf(r) & (r == t))
    mism = ~fin & ~agree
    rf, tf = r[fin], t[fin]
    e = tf - rf
    a = np.abs(e)
    m = {"ref_sq": float(np.sum(rf * rf)), "err_sq": float(np.sum(e * e)), "test_sq": float(np.sum(tf * tf)),
         "dot": float(np.sum(rf * tf)), "abs_sum": float(a.sum()), "finite": int(fin.sum()), "count": r.size,
         "mismatch": int(mism.sum())}
    if a.size:
        k = int(np.argmax(a))
        m["max_abs"], m["max_index"] = float(a[k]), int(np.flatnonzero(fin)[k])
    else:
        m["max_abs"], m["max_index"] = 0.0, -1
    for key, mask in (("nan_ref", np.isnan(r)), ("inf_ref", np.isinf(r)), ("nan_test", np.isnan(t)),
                      ("inf_test", np.isinf(t)), ("first_mismatch", mism)):
        m[key] = int(mask.sum())
        idx = np.flatnonzero(mask)
        m["first_" + key if not key.startswith("first") else key] = int(idx[0]) if idx.size else -1
    m["ref"], m["test"], m["f32"] = ref, test, f32
    return m


def derived(m):
    if m["mismatch"]:
        sqnr = -math.inf
    elif m["err_sq"] == 0:
        sqnr = math.inf
    elif m["ref_sq"] == 0:
        sqnr = -math.inf
    else:
        sqnr = 10 * math.log10(m["ref_sq"] / m["err_sq"])
    if m["ref_sq"] == 0 and m["test_sq"] == 0:
        cos = 1.0
    elif m["ref_sq"] == 0 or m["test_sq"] == 0:
        cos = 0.0
    else:
        cos = min(1.0, max(-1.0, m["dot"] / (math.sqrt(m["ref_sq"]) * math.sqrt(m["test_sq"]))))
    rel_l2 = 0.0 if m["err_sq"] == 0 else (math.inf if m["ref_sq"] == 0 else
                                           math.sqrt(m["err_sq"]) / math.sqrt(m["ref_sq"]))
    n = m["finite"]
    return {"sqnr_db": sqnr, "cosine": cos, "mse": m["err_sq"] / n if n else 0.0,
            "mean_abs_err": m["abs_sum"] / n if n else 0.0, "max_abs_err": m["max_abs"],
            "rel_l2": rel_l2, "atol": math.inf if m["mismatch"] else m["max_abs"]}


def pool(ms):
    p = {k: sum(m[k] for m in ms) for k in ("ref_sq", "err_sq", "test_sq", "dot", "abs_sum", "finite", "count",
                                          "mismatch", "nan_ref", "inf_ref", "nan_test", "inf_test")}
    p["max_abs"], p["max_index"], p["max_sample"] = 0.0, -1, 0
    for k, m in enumerate(ms):
        if m["max_index"] >= 0 and (p["max_index"] < 0 or m["max_abs"] > p["max_abs"]):
            p["max_abs"], p["max_index"], p["max_sample"] = m["max_abs"], m["max_index"], k
    for key in ("first_nan_ref", "first_inf_ref", "first_nan_test", "first_inf_test", "first_mismatch"):
        p[key], p[key + "_sample"] = -1, 0
        for k, m in enumerate(ms):
            if m[key] >= 0:
                p[key], p[key + "_sample"] = m[key], k
                break
    return p


def verify(json_path, csv_path, check, what, sqnr_min=None, drop_db=None):
    import json
    rep = json.load(open(json_path))
    thr = rep["sqnr_min_db"] if sqnr_min is None else sqnr_min
    drop = rep["drop_db"] if drop_db is None else drop_db
    thr, drop_by = fnum(thr), fnum(drop)
    first = rep["first_sample"]
    with open(csv_path, newline="") as f:
        text = f.read()
    rows = list(csv.reader(text.splitlines(), strict=True))
    header = rows[0]
    check(header[:len(COLUMNS)] == COLUMNS, f"{what}: CSV header {header}")
    for i, r in enumerate(rows[1:]):
        check(len(r) == len(header), f"{what}: CSV line {i + 2} has {len(r)} fields, the header {len(header)}")
    csv_rows = {}
    for r in rows[1:]:
        d = dict(zip(header, r))
        csv_rows[(int(d["index"]), d["sample"])] = d
    pooled_sqnr = {}
    flags = {}
    for row in rep["tensors"]:
        i = row["index"]
        c = csv_rows.get((i, "all"))
        check(c is not None, f"{what}: CSV pooled row of #{i}")
        if c is None:
            continue
        check(c["tensor"] == row["name"] and c["status"] == row["status"]
              and c["ref_file"] == (row["ref_file"] or "") and c["test_file"] == (row["test_file"] or ""),
              f"{what}: CSV identity of #{i}")
        if row["status"] not in ("pass", "below"):
            check(all(c[k] == "" for k in METRIC_COLUMNS), f"{what}: #{i} not compared: empty metric fields")
            check(c["error"] == row.get("error", "") , f"{what}: #{i} reason in the CSV: {c['error']!r}")
            check(not any(k[0] == i and k[1] != "all" for k in csv_rows), f"{what}: #{i} has no per-sample rows")
            continue
        shape = row["shape"]
        ref_cl = row["layout"] == "ref channel-last"
        test_cl = row["layout"] == "test channel-last"
        want_shape = "" if shape is None else "x".join(map(str, shape)) if shape else "scalar"
        check(c["shape"] == want_shape,
              f"{what}: #{i} CSV shape {c['shape']} vs {shape}")
        f32 = row["ref_dtype"] == "float32" and row["test_dtype"] == "float32"
        ms = []
        for k in range(rep["samples"]):
            s = first + k
            rp = sample_file(rep["ref"], row["ref_file"], s, first)
            tp = sample_file(rep["test"], row["test_file"], s, first)
            ra = read(rp, row["ref_dtype"])
            ta = read(tp, row["test_dtype"])
            n = int(np.prod(shape)) if shape is not None else ra.size
            check(ra.size == n and ta.size == n, f"{what}: #{i} sample {s}: files of {n} elements")
            if ra.size != n or ta.size != n:
                return rep
            ra = model_order(ra, shape, ref_cl)
            ta = model_order(ta, shape, test_cl)
            ms.append(metrics(ra, ta, f32))
        shp = shape if shape is not None else None
        for k, m in enumerate(ms):
            s = first + k
            want = derived(m)
            js = row["samples"][k]
            cs = csv_rows.get((i, str(s)))
            check(js["sample"] == s and cs is not None, f"{what}: #{i} sample {s} present")
            if cs is None:
                continue
            for key, v in want.items():
                check(close(js[key], v) and close(cs[key], v), f"{what}: #{i} s{s} {key}: json {js[key]} csv {cs[key]} numpy {v}")
            check(float(cs["sqnr_db"]) == fnum(js["sqnr_db"]) or math.isnan(float(cs["sqnr_db"])),
                  f"{what}: #{i} CSV and JSON agree to the last digit")
            ok = minimal_rtol_ok(m["test"], m["ref"], fnum(js["rtol"]), m["f32"]) if not m["mismatch"] else js["rtol"] == "inf"
            check(ok and close(cs["rtol"], fnum(js["rtol"]), 0), f"{what}: #{i} s{s} rtol {js['rtol']} is the smallest numpy.allclose accepts")
            check(js["max_abs_err_index"] == m["max_index"] and int(cs["max_abs_err_index"]) == m["max_index"],
                  f"{what}: #{i} s{s} max_abs_err_index {js['max_abs_err_index']} numpy {m['max_index']}")
            check(cs["max_abs_err_at"] == at(m["max_index"], shp) and cs["max_abs_err_sample"] == (str(s) if m["max_index"] >= 0 else ""),
                  f"{what}: #{i} s{s} max_abs_err_at {cs['max_abs_err_at']} numpy {at(m['max_index'], shp)}")
            for key in ("elements", "finite", "nan_ref", "inf_ref", "nan_test", "inf_test", "nonfinite_mismatch"):
                want_n = {"elements": m["count"], "nonfinite_mismatch": m["mismatch"]}.get(key, m.get(key))
                check(js[key] == want_n and int(cs[key]) == want_n, f"{what}: #{i} s{s} {key} {js[key]} numpy {want_n}")
            for key in ("first_nan_ref", "first_inf_ref", "first_nan_test", "first_inf_test", "first_mismatch"):
                idx = m[key]
                jv = js[key]
                check((jv is None and idx < 0) or (jv is not None and jv["index"] == idx and jv["sample"] == s
                                                   and jv["at"] == at(idx, shp)),
                      f"{what}: #{i} s{s} {key} {jv} numpy {idx}")
                check(cs[key + "_at"] == at(idx, shp), f"{what}: #{i} s{s} CSV {key}_at {cs[key + '_at']}")
        p = pool(ms)
        want = derived(p)
        cp = c
        for key, v in want.items():
            check(close(row["pooled"][key], v) and close(cp[key], v), f"{what}: #{i} pooled {key}: json {row['pooled'][key]} csv {cp[key]} numpy {v}")
        check(close(row["sqnr_db"], want["sqnr_db"]) and close(row["sqnr_db_pooled"], want["sqnr_db"])
              and close(cp["sqnr_db_pooled"], want["sqnr_db"]), f"{what}: #{i} sqnr_db_pooled")
        per = [derived(m)["sqnr_db"] for m in ms]
        worst = first + int(np.argmin(per))
        check(close(row["sqnr_db_min_sample"], min(per)) and close(row["sqnr_min_db"], min(per))
              and close(cp["sqnr_db_min_sample"], min(per)), f"{what}: #{i} sqnr_db_min_sample {row['sqnr_db_min_sample']} numpy {min(per)}")
        check(row["worst_sample"] == worst and all(csv_rows[(i, x)]["worst_sample"] == str(worst)
                                                   for x in ["all", *[str(first + k) for k in range(len(ms))]]),
              f"{what}: #{i} worst_sample {row['worst_sample']} numpy {worst}")
        allr = np.concatenate([m["ref"] for m in ms])
        allt = np.concatenate([m["test"] for m in ms])
        ok = minimal_rtol_ok(allt, allr, fnum(row["pooled"]["rtol"]), f32) if not p["mismatch"] else row["pooled"]["rtol"] == "inf"
        check(ok and close(cp["rtol"], fnum(row["pooled"]["rtol"]), 0), f"{what}: #{i} pooled rtol {row['pooled']['rtol']}")
        check(row["pooled"]["max_abs_err_index"] == p["max_index"] and row["pooled"]["max_abs_err_sample"] == first + p["max_sample"]
              and cp["max_abs_err_at"] == at(p["max_index"], shp) and cp["max_abs_err_sample"] == (str(first + p["max_sample"]) if p["max_index"] >= 0 else ""),
              f"{what}: #{i} pooled max position {row['pooled']['max_abs_err_index']}@{row['pooled'].get('max_abs_err_sample')} numpy {p['max_index']}@{first + p['max_sample']}")
        for key, ck in (("count", "elements"), ("finite", "finite"), ("nan_ref", "nan_ref"), ("inf_ref", "inf_ref"),
                        ("nan_test", "nan_test"), ("inf_test", "inf_test"), ("mismatch", "nonfinite_mismatch")):
            check(row["pooled"][ck] == p[key] and int(cp[ck]) == p[key], f"{what}: #{i} pooled {ck}")
        for key in ("first_nan_ref", "first_inf_ref", "first_nan_test", "first_inf_test", "first_mismatch"):
            idx, ks = p[key], first + p[key + "_sample"]
            jv = row["pooled"][key]
            check((jv is None and idx < 0) or (jv is not None and jv["index"] == idx and jv["sample"] == ks),
                  f"{what}: #{i} pooled {key} {jv} numpy {idx}@{ks}")
            check(cp[key + "_at"] == (at(idx, shp, ks) if idx >= 0 else ""), f"{what}: #{i} pooled CSV {key}_at {cp[key + '_at']}")
        pooled_sqnr[i] = want["sqnr_db"]
        flags[i] = min(per)
    # the drop rule and the first divergence, from the rows' inputs
    fd = None
    for row in rep["tensors"]:
        i = row["index"]
        if i not in pooled_sqnr:
            continue
        ins = [pooled_sqnr[j] for j in row["inputs"]]
        base = min(ins) if ins else None
        below = flags[i] < thr or pooled_sqnr[i] < thr
        drop = (base is not None and math.isfinite(base) and pooled_sqnr[i] < base - drop_by
                and pooled_sqnr[i] < thr + drop_by)
        check((row["input_sqnr_db"] is None and base is None) or close(row["input_sqnr_db"], base),
              f"{what}: #{i} input_sqnr_db {row['input_sqnr_db']} numpy {base}")
        check(row["below"] == below and row["drop"] == drop, f"{what}: #{i} below/drop {row['below']}/{row['drop']} numpy {below}/{drop}")
        check(row["status"] == ("below" if below else "pass"), f"{what}: #{i} status")
        for x in ["all", *[str(first + k) for k in range(len(row["samples"]))]]:
            cs = csv_rows[(i, x)]
            check(cs["below"] == str(int(below)) and cs["drop"] == str(int(drop))
                  and ((base is None and cs["input_sqnr_db"] == "") or (base is not None and close(cs["input_sqnr_db"], base))),
                  f"{what}: #{i} CSV flags")
        if fd is None and (below or drop):
            fd = i
    got = rep["summary"]["first_divergence"]
    check((fd is None and got is None) or (got is not None and got["index"] == fd), f"{what}: first divergence {got and got['index']} numpy {fd}")
    if got is not None and fd is not None:
        check(close(got["sqnr_db_pooled"], pooled_sqnr[fd]) and close(got["sqnr_db_min_sample"], flags[fd]),
              f"{what}: first divergence pooled and per-sample SQNR")
    n_rows = sum(1 for r in rows[1:])
    want_rows = sum(1 + len(t.get("samples", [])) for t in rep["tensors"])
    check(n_rows == want_rows, f"{what}: CSV rows {n_rows}, JSON says {want_rows}")
    return rep
