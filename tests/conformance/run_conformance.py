#!/usr/bin/env python3
"""Runs ONNX's own conformance cases through layerout and writes
docs/CONFORMANCE.md.

Each case (model.onnx + test_data_set_N/{input,output}_i.pb) runs in its own
lo_run_case process, so a crash is one failed case, not a lost run. Every
output is compared with ONNX's expected values (rtol 1e-3, atol 1e-7; NaN
where NaN; integers, bools and strings exact) by lo_run_case.

Usage: run_conformance.py BUILD_DIR [--suite NAME=DIR ...] [--report FILE] [--min-pass-rate R]
                          [--required FILE] [--jobs N] [--quiet-report]
Prints "conformance: P passed, F failed, U unsupported" last."""
import argparse
import collections
import concurrent.futures
import os
import re
import subprocess
import sys

import onnx

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(here))


def case_dirs(top):
    for name in sorted(os.listdir(top)):
        d = os.path.join(top, name)
        if os.path.isfile(os.path.join(d, "model.onnx")):
            yield d


def op_names(model_path):
    m = onnx.load(model_path, load_external_data=False)
    ops = collections.OrderedDict()
    opsets = {o.domain or "ai.onnx": o.version for o in m.opset_import}
    for n in m.graph.node:
        dom = n.domain or "ai.onnx"
        ops[(dom, n.op_type)] = opsets.get(dom, opsets.get("", 0))
    return ops


def primary_op(case, ops):
    """The operator a case is about: the only one it holds, or the one whose
    name the case is named after (test_layer_normalization_... -> LayerNormalization)."""
    real = [k for k in ops if k[1] not in ("Constant",)] or list(ops)
    if len(real) == 1:
        return real[0]
    stem = re.sub(r"^test_", "", case).replace("_", "").lower()
    best = None
    for k in real:
        key = k[1].lower()
        if stem.startswith(key) and (best is None or len(key) > len(best[1])):
            best = k
    return best or ("(model)", case)


def run_one(runner, d):
    try:
        p = subprocess.run([runner, d], capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return "FAIL", "timed out after 600 s"
    line = next((l for l in p.stdout.splitlines() if l.split(" ", 1)[0] in ("PASS", "FAIL", "UNSUPPORTED")), None)
    if p.returncode < 0 or line is None:
        tail = (p.stderr.strip().splitlines() or ["no output"])[-1]
        return "FAIL", "crashed (exit %d): %s" % (p.returncode, tail[:300])
    if p.stderr.strip() and "ERROR: AddressSanitizer" in p.stderr or "runtime error:" in p.stderr:
        return "FAIL", "sanitizer: " + [l for l in p.stderr.splitlines() if "ERROR" in l or "runtime error" in l][0][:300]
    status, _, rest = line.partition(" ")
    reason = rest.partition(": ")[2] if status != "PASS" else ""
    return status, reason


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--suite", action="append", default=[])
    ap.add_argument("--report")
    ap.add_argument("--min-pass-rate", type=float, default=0.0)
    ap.add_argument("--required")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--quiet-report", action="store_true", help="do not rewrite the report")
    args = ap.parse_args()
    runner = os.path.join(args.build, "lo_run_case")
    suites = [s.split("=", 1) for s in args.suite]

    cases = []
    for suite, top in suites:
        for d in case_dirs(top):
            cases.append((suite, d))
    results = {}
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futs = {pool.submit(run_one, runner, d): (s, d) for s, d in cases}
        for f in concurrent.futures.as_completed(futs):
            results[futs[f]] = f.result()

    per_op = collections.OrderedDict()
    totals = collections.Counter()
    per_suite = collections.defaultdict(collections.Counter)
    for suite, d in cases:
        status, reason = results[(suite, d)]
        totals[status] += 1
        per_suite[suite][status] += 1
        name = os.path.basename(d)
        try:
            ops = op_names(os.path.join(d, "model.onnx"))
        except Exception as e:  # noqa: BLE001 - an unreadable model is a case result too
            ops = {("(model)", name): 0}
            reason = reason or str(e)
        key = primary_op(name, ops)
        entry = per_op.setdefault(key, {"versions": set(), "cases": []})
        entry["versions"].add(ops.get(key, 0))
        entry["cases"].append((suite, name, status, reason))

    failed_required = []
    if args.required:
        required = {l.strip() for l in open(args.required) if l.strip() and not l.startswith("#")}
        for (dom, op), e in per_op.items():
            if op in required:
                for suite, name, status, reason in e["cases"]:
                    if status != "PASS":
                        failed_required.append("%s/%s (%s): %s %s" % (suite, name, op, status, reason))

    if args.report and not args.quiet_report:
        write_report(args.report, per_op, per_suite, totals)
    for (suite, d), (status, reason) in sorted(results.items()):
        if status != "PASS":
            print("%s %s/%s: %s" % (status, suite, os.path.basename(d), reason[:400]))
    for s, c in per_suite.items():
        n = sum(c.values())
        print("suite %s: %d cases, %d passed (%.1f%%)" % (s, n, c["PASS"], 100.0 * c["PASS"] / max(n, 1)))
    ok = True
    for s, c in per_suite.items():
        rate = c["PASS"] / max(sum(c.values()), 1)
        if rate < args.min_pass_rate:
            print("conformance: suite %s passes %.1f%%, below the required %.1f%%" % (s, 100 * rate, 100 * args.min_pass_rate))
            ok = False
    if failed_required:
        print("conformance: cases of required operators that do not pass:")
        for f in failed_required:
            print("  " + f)
        ok = False
    print("conformance: %d passed, %d failed, %d unsupported" % (totals["PASS"], totals["FAIL"], totals["UNSUPPORTED"]))
    return 0 if ok else 1


def write_report(path, per_op, per_suite, totals):
    lines = ["# ONNX conformance", "",
             "Generated by `tests/conformance/run_conformance.py` (run by `scripts/test.sh`); do not edit by hand.",
             "Every output of every case is compared with ONNX's expected values (rtol 1e-3, atol 1e-7; NaN where",
             "NaN is expected; integers, bools and strings exact).", "",
             "| suite | cases | passed | failed | unsupported |", "| --- | --- | --- | --- | --- |"]
    for s, c in per_suite.items():
        lines.append("| %s | %d | %d | %d | %d |" % (s, sum(c.values()), c["PASS"], c["FAIL"], c["UNSUPPORTED"]))
    lines.append("| all | %d | %d | %d | %d |" % (sum(totals.values()), totals["PASS"], totals["FAIL"], totals["UNSUPPORTED"]))
    lines += ["", "## Per operator", "",
              "| domain | operator | opsets in the cases | passed | failed | unsupported |",
              "| --- | --- | --- | --- | --- | --- |"]
    for (dom, op), e in sorted(per_op.items(), key=lambda kv: (kv[0][0], kv[0][1].lower())):
        c = collections.Counter(s for _, _, s, _ in e["cases"])
        vers = ", ".join(str(v) for v in sorted(e["versions"]))
        lines.append("| %s | %s | %s | %d | %d | %d |" % (dom, op, vers, c["PASS"], c["FAIL"], c["UNSUPPORTED"]))
    lines += ["", "## Cases not passed", "", "| suite | case | operator | result | reason |", "| --- | --- | --- | --- | --- |"]
    for (dom, op), e in sorted(per_op.items(), key=lambda kv: (kv[0][0], kv[0][1].lower())):
        for suite, name, status, reason in sorted(e["cases"]):
            if status != "PASS":
                lines.append("| %s | %s | %s | %s | %s |" % (suite, name, op, status,
                                                              reason.replace("|", "\\|").replace("\n", " ")[:300]))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
