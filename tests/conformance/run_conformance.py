#!/usr/bin/env python3
"""Runs ONNX's own conformance cases through layerout and writes
docs/CONFORMANCE.md.

Each case (model.onnx + test_data_set_N/{input,output}_i.pb) runs in its own
lo_run_case process, so a crash is one failed case, not a lost run. Every
output is compared with ONNX's expected values (rtol 1e-3, atol 1e-7; NaN
where NaN; integers, bools and strings exact) by lo_run_case.

Elements whose result ONNX's specification leaves undefined (lo_run_case's
UNDEFINED lines) are not compared; the report lists them with the spec's
words for why.

Usage: run_conformance.py BUILD_DIR [--suite NAME=DIR ...] [--group NAME=SUITE,SUITE ...]
                          [--report FILE] [--min-pass-rate R] [--required FILE] [--jobs N]
                          [--quiet-report] [--wheel-onnx VERSION] [--spec-python PY]
                          [--references FILE]
A group is what the pass rate is checked on (each suite on its own when no
groups are given). Prints "conformance: P passed, F failed, U unsupported" last."""
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
    """(status, reason, [elements not compared as undefined])"""
    status, reason, out = run_one_raw(runner, d)
    undefined = [l.split(" ", 1)[1] for l in out.splitlines() if l.startswith("UNDEFINED ")]
    return status, reason, undefined


def run_one_raw(runner, d):
    try:
        p = subprocess.run([runner, d], capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return "FAIL", "timed out after 600 s", ""
    status, reason = parse_result(p, d)
    return status, reason, p.stdout


def parse_result(p, d):
    line = next((l for l in p.stdout.splitlines() if l.split(" ", 1)[0] in ("PASS", "FAIL", "UNSUPPORTED")), None)
    if p.returncode < 0 or line is None:
        tail = (p.stderr.strip().splitlines() or ["no output"])[-1]
        return "FAIL", "crashed (exit %d): %s" % (p.returncode, tail[:300])
    # AddressSanitizer, LeakSanitizer (which exits non-zero after a PASS line)
    # and UndefinedBehaviorSanitizer reports
    bad = [l for l in p.stderr.splitlines() if ("ERROR:" in l and "Sanitizer" in l) or "runtime error:" in l]
    if bad:
        return "FAIL", "sanitizer: " + bad[0][:300]
    status, _, rest = line.partition(" ")
    rest = rest.replace(d.rstrip("/") + "/", "")  # paths inside the case: relative, as the report is shared
    if status == "PASS":
        # a pass with a remark: "PASS name (remark)"
        m = re.match(r"\S+ \((.*)\)$", rest)
        return status, m.group(1) if m else ""
    return status, rest.partition(": ")[2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--suite", action="append", default=[])
    ap.add_argument("--report")
    ap.add_argument("--min-pass-rate", default="0",
                    help="a rate for every group, or a file of 'GROUP RATE' lines (# comments)")
    ap.add_argument("--required")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--quiet-report", action="store_true", help="do not rewrite the report")
    ap.add_argument("--group", action="append", default=[])
    ap.add_argument("--wheel-onnx", default="")
    ap.add_argument("--spec-python", default=sys.executable,
                    help="a Python whose onnx gives the specification text quoted in the report")
    ap.add_argument("--references", help="a file of reference versions, put into the report")
    args = ap.parse_args()
    runner = os.path.join(args.build, "lo_run_case")
    suites = [s.split("=", 1) for s in args.suite]

    cases = []
    for suite, top in suites:
        for d in case_dirs(top):
            cases.append((suite, d))
    results, undefined = {}, {}
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futs = {pool.submit(run_one, runner, d): (s, d) for s, d in cases}
        for f in concurrent.futures.as_completed(futs):
            status, reason, undef = f.result()
            results[futs[f]] = (status, reason)
            if undef:
                undefined[futs[f]] = undef

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

    groups = [(g.split("=", 1)[0], g.split("=", 1)[1].split(",")) for g in args.group]
    if not groups:
        groups = [(s, [s]) for s in per_suite]
    per_group = collections.OrderedDict()
    for name, members in groups:
        c = collections.Counter()
        for m in members:
            c.update(per_suite.get(m, {}))
        per_group[name] = c
    if args.report and not args.quiet_report:
        implemented = collections.defaultdict(list)
        listing = subprocess.run([runner, "--list-ops"], capture_output=True, text=True).stdout
        for line in listing.splitlines():
            dom, op, since, until = line.split()
            implemented[(dom, op)].append(since if since == until else "%s-%s" % (since, until))
        write_report(args.report, per_op, per_suite, totals, per_group, args, implemented, undefined)
    for (suite, d), (status, reason) in sorted(results.items()):
        if status != "PASS" or reason:
            print("%s %s/%s: %s" % (status, suite, os.path.basename(d), reason[:400]))
    for s, c in per_suite.items():
        n = sum(c.values())
        print("suite %s: %d cases, %d passed (%.1f%%)" % (s, n, c["PASS"], 100.0 * c["PASS"] / max(n, 1)))
    ok = True
    floors = min_rates(args.min_pass_rate)
    for g, c in per_group.items():
        n = sum(c.values())
        rate = c["PASS"] / max(n, 1)
        floor = floors.get(g, floors.get("*", 0.0))
        print("group %s: %d cases, %d passed (%.2f%%; floor %.2f%%)" % (g, n, c["PASS"], 100 * rate, 100 * floor))
        if rate < floor:
            print("conformance: %s passes %.2f%%, below the required %.2f%%" % (g, 100 * rate, 100 * floor))
            ok = False
    if failed_required:
        print("conformance: cases of required operators that do not pass:")
        for f in failed_required:
            print("  " + f)
        ok = False
    print("conformance: %d passed, %d failed, %d unsupported" % (totals["PASS"], totals["FAIL"], totals["UNSUPPORTED"]))
    return 0 if ok else 1


def min_rates(spec):
    """{group: rate}; "*" for a rate that applies to every group."""
    try:
        return {"*": float(spec)}
    except ValueError:
        pass
    rates = {}
    for line in open(spec):
        line = line.split("#", 1)[0].split()
        if len(line) == 1:
            rates["*"] = float(line[0])
        elif len(line) == 2:
            rates[line[0]] = float(line[1])
    return rates


TRAINING_OPS = {"Gradient", "Adagrad", "Adam", "Momentum"}


UNDEFINED_SPEC = """import onnx, re
doc = onnx.defs.get_schema("Cast").doc
head = ""
for line in doc.splitlines():
    if line.strip().startswith("* Casting from"):
        head = line.strip()
    if "undefined if OOR" in line:
        print(head.lstrip("* "), "...", line.strip().lstrip("* "))
for s in re.split(r"(?<=[.])\\s+", " ".join(doc.split())):
    if "FLOAT8E8M0" in s and "undefined" in s:
        print(s)
print("onnx", onnx.__version__)"""


def spec_words(python):
    """The sentences of Cast's specification that make these elements
    undefined, verbatim, and the onnx version they come from."""
    try:
        out = subprocess.run([python, "-c", UNDEFINED_SPEC], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        out = subprocess.run([sys.executable, "-c", UNDEFINED_SPEC], capture_output=True, text=True).stdout
    lines = out.splitlines()
    return lines[:-1], lines[-1] if lines else "onnx ?"


def undefined_section(undefined, args):
    quotes, version = spec_words(args.spec_python)
    lines = ["", "## Elements not compared: undefined by the specification", "",
             "Where ONNX's specification leaves a result undefined, the expected data holds whatever the",
             "library that generated the case did (the onnx wheel's generators cast through `ml_dtypes`:",
             "0.5.4 wraps -9.0 to int4 as 7, 0.7.0 gives 0), so those elements are not compared; every other",
             "element of the same output is. The rule, in the words of `onnx.defs.get_schema('Cast').doc`",
             "(%s):" % version, ""]
    lines += ["> " + q for q in quotes]
    lines += ["", "A float element is out of range when it is NaN, an infinity, or its integral part does not fit",
              "the target type (int4 [-8, 7], uint4 [0, 15], int2 [-2, 1], uint2 [0, 3], ...). Only outputs",
              "a Cast or CastLike computes straight from a graph input are judged (the element's input is then",
              "known). What layerout itself does with such values is in the README (Cast of out-of-range",
              "values).", "",
              "The onnx 1.23.2 cases generated with ml_dtypes 0.5.4 and with 0.7.0 differ in the outputs below",
              "and in the inputs of the int4/uint4/int2/uint2 to float/int8 cases, which the generators make by",
              "the same undefined cast (input and output change together, so those stay defined); both sets of",
              "cases give the same results.", ""]
    if not undefined:
        lines.append("No element of any case was left out.")
        return lines
    lines += ["| suite | case | output | elements left out (index and input), and why |", "| --- | --- | --- | --- |"]
    for (suite, d), items in sorted(undefined.items()):
        for item in items:
            where, _, what = item.partition(": ")
            lines.append("| %s | %s | %s | %s |" % (suite, os.path.basename(d), where, what.replace("|", "\\|")))
    return lines


def write_report(path, per_op, per_suite, totals, per_group, args, implemented, undefined):
    lines = ["# ONNX conformance", "",
             "Generated by `tests/conformance/run_conformance.py` (run by `tests/conformance/run.sh` from",
             "`scripts/test.sh`); do not edit by hand.", "",
             "Every output of every case is compared with ONNX's expected values as ONNX's backend runner does (rtol 1e-3,",
             "2^-6 for bfloat16 outputs; atol 1e-7; NaN where NaN is expected; integers, bools and strings exact;",
             "sequences item by item; empty optionals by kind), except elements whose result the specification",
             "leaves undefined: those are listed in their own section below, with the specification's words.",
             "", "Two suites:", "",
             "- **debian**: Debian's `libonnx-testdata` (ONNX 1.12, opsets up to 17): `node/`, `simple/`,",
             "  `pytorch-converted/`, `pytorch-operator/` under `/usr/share/libonnx-testdata/data/`.",
             "- **onnx-wheel**: the node cases of the newest `onnx` wheel from PyPI%s. The wheel does not ship the" % (
                 " (%s)" % args.wheel_onnx if args.wheel_onnx else ""),
             "  test data (`onnx/backend/test/data/node/` is absent), only the case generators; its",
             "  `python -m onnx.backend.test.cmd_tools generate-data` writes only the model-zoo stubs, so",
             "  `tests/conformance/gen_node_cases.py` runs the node generators through the same writer into",
             "  `BUILD/onnx-node-cases/` at test time (cached per onnx, numpy and ml_dtypes version).", "",
             "The cases run through the library (`lo_run_case`). `tests/conformance/run_cli.py` runs every case of",
             "the debian suite through the `layerout generate` command as well (inputs by `-i FILE.pb`, outputs",
             "read back from the dump) and fails when the command does not pass a case the library passes.", ""]
    if args.references:
        lines += ["## References", "",
                  "The versions this report was made with (`scripts/references.sh`; the PyPI ones are pinned in",
                  "`tests/requirements.lock`, which `scripts/test-venv.sh` installs exactly):", ""]
        lines += [l.rstrip() for l in open(args.references) if l.strip()]
        lines += [""]
    lines += [
             "| group | cases | passed | failed | unsupported | pass rate |", "| --- | --- | --- | --- | --- | --- |"]
    for g, c in per_group.items():
        n = sum(c.values())
        lines.append("| %s | %d | %d | %d | %d | %.2f%% |" % (g, n, c["PASS"], c["FAIL"], c["UNSUPPORTED"],
                                                          100.0 * c["PASS"] / max(n, 1)))
    lines += ["", "| suite | cases | passed | failed | unsupported |", "| --- | --- | --- | --- | --- |"]
    for s, c in per_suite.items():
        lines.append("| %s | %d | %d | %d | %d |" % (s, sum(c.values()), c["PASS"], c["FAIL"], c["UNSUPPORTED"]))
    lines.append("| all | %d | %d | %d | %d |" % (sum(totals.values()), totals["PASS"], totals["FAIL"], totals["UNSUPPORTED"]))
    lines += ["", "Training-only operators (%s, domain `ai.onnx.preview.training`) are not implemented: this" % (
                  ", ".join(sorted(TRAINING_OPS))),
              "engine runs inference. Their cases are listed below as unsupported.",
              "", "## Per operator", "",
              "Cases are attributed to the operator they are named after; `(model)` rows are multi-operator",
              "models (mostly `_expanded` function bodies).", "",
              "| domain | operator | opsets implemented | opsets in the cases | passed | failed | unsupported |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for (dom, op), e in sorted(per_op.items(), key=lambda kv: (kv[0][0], kv[0][1].lower())):
        c = collections.Counter(s for _, _, s, _ in e["cases"])
        vers = ", ".join(str(v) for v in sorted(e["versions"]))
        impl = ", ".join(implemented.get((dom, op), [])) or ("-" if dom != "(model)" else "")
        lines.append("| %s | %s | %s | %s | %d | %d | %d |" % (dom, op, impl, vers, c["PASS"], c["FAIL"], c["UNSUPPORTED"]))
    lines += ["", "## Cases passed with a remark", "",
              "Random operators are checked for output dtype and shape only; a few old cases carry expected data",
              "that contradicts the specification and are compared with corrected values (the list is",
              "`known_wrong[]` in `tests/conformance/run_case.c`). Cases with elements left out as undefined",
              "are in the next section.", "",
              "| suite | case | operator | remark |", "| --- | --- | --- | --- |"]
    for (dom, op), e in sorted(per_op.items(), key=lambda kv: (kv[0][0], kv[0][1].lower())):
        for suite, name, status, reason in sorted(e["cases"]):
            if status == "PASS" and reason:
                lines.append("| %s | %s | %s | %s |" % (suite, name, op, reason.replace("|", "\\|")))
    lines += undefined_section(undefined, args)
    lines += ["", "## Cases not passed", "", "| suite | case | operator | result | reason |", "| --- | --- | --- | --- | --- |"]
    for (dom, op), e in sorted(per_op.items(), key=lambda kv: (kv[0][0], kv[0][1].lower())):
        for suite, name, status, reason in sorted(e["cases"]):
            if status != "PASS":
                if op in TRAINING_OPS:
                    reason = "training-only operator (not implemented): " + reason
                lines.append("| %s | %s | %s | %s | %s |" % (suite, name, op, status,
                                                              reason.replace("|", "\\|").replace("\n", " ")[:300]))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
