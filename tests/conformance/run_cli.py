#!/usr/bin/env python3
"""Runs every case of Debian's libonnx-testdata through the `layerout
generate` command itself, not the library: each data set's inputs are given
with -i FILE.pb (TensorProto, SequenceProto or OptionalProto files as ONNX
stores them; no -i for a model without inputs), and the outputs are read back
from the dump's files as its manifest describes them (file, dtype, shape) and
compared with ONNX's expected outputs exactly as the library runner does
(lo_run_case --dump: the same tolerances and the same exceptions).

The same cases are run through the library runner too; the test fails when
the command fails a case the library passes, with one exception, listed on
every run: a case whose input file contradicts the shape its model declares
(4 old CastLike cases), which the command refuses by design while the
library runner, like ONNX's backend runner, feeds it anyway. Outputs a dump holds no file
for (sequences, empty optionals, Constant outputs) are not compared; the
command must still run the case, and the other outputs are compared.

Usage: run_cli.py BUILD_DIR [--suite NAME=DIR ...] [--jobs N] [--keep]
Prints "cli: P passed, F failed, U unsupported; ..." and the time taken."""
import argparse
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from run_conformance import case_dirs, parse_result  # noqa: E402  (same parsing of lo_run_case's lines)

DATA = "/usr/share/libonnx-testdata/data"
# the command checks every input file against the shape the model declares
SHAPE_REFUSED = re.compile(r"'[^']*' has shape \S+; the model input is \S+$")


def data_sets(case):
    sets = []
    while os.path.isdir(os.path.join(case, "test_data_set_%d" % len(sets))):
        sets.append(os.path.join(case, "test_data_set_%d" % len(sets)))
    return sets


def inputs_of(data_set):
    files = []
    while os.path.isfile(os.path.join(data_set, "input_%d.pb" % len(files))):
        files.append(os.path.join(data_set, "input_%d.pb" % len(files)))
    return files


def run_library(runner, case):
    try:
        p = subprocess.run([runner, case], capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return "FAIL", "timed out after 600 s"
    return parse_result(p, case)


def run_cli(layerout, runner, case, work):
    """(status, reason) of one case through the command line."""
    dump = os.path.join(work, os.path.basename(case))
    os.makedirs(dump)
    try:
        for k, ds in enumerate(data_sets(case)):
            cmd = [layerout, "generate", os.path.join(case, "model.onnx"), "-o", os.path.join(dump, "set_%d" % k),
                   "--quiet", "--threads", "1"]
            for f in inputs_of(ds):
                cmd += ["-i", f]
            try:
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            except subprocess.TimeoutExpired:
                return "FAIL", "layerout generate timed out after 600 s"
            if p.returncode != 0:
                msg = (p.stderr.strip().splitlines() or ["exit %d, no message" % p.returncode])[-1]
                if p.returncode != 2 or not msg.startswith("layerout: "):
                    return "FAIL", "layerout generate crashed (exit %d): %s" % (p.returncode, msg[:300])
                status = "UNSUPPORTED" if "not supported" in msg else "FAIL"
                return status, "set %d: %s" % (k, msg[len("layerout: "):][:400])
        try:
            p = subprocess.run([runner, "--dump", dump, case], capture_output=True, text=True, timeout=600)
        except subprocess.TimeoutExpired:
            return "FAIL", "comparison timed out"
        return parse_result(p, case)
    finally:
        shutil.rmtree(dump, ignore_errors=True)


def check_errors(layerout, work):
    """Bad input files for sequence, optional and no-input models: a clear
    message naming the file, exit 2, no dump. [] when all hold."""
    node = os.path.join(DATA, "node")
    seq = os.path.join(node, "test_sequence_insert_at_back")
    opt = os.path.join(node, "test_optional_get_element")
    seq_in, tensor_in = (os.path.join(seq, "test_data_set_0", "input_%d.pb" % i) for i in (0, 1))
    data = open(seq_in, "rb").read()
    files = {"truncated.pb": data[:len(data) // 2], "garbage.pb": b"\xff\xff\xff\xff", "empty.raw": b""}
    for name, content in files.items():
        with open(os.path.join(work, name), "wb") as f:
            f.write(content)
    w = lambda n: os.path.join(work, n)  # noqa: E731
    cases = [
        ("a truncated SequenceProto", [seq, "-i", w("truncated.pb"), "-i", tensor_in], ["truncated.pb", "SequenceProto"]),
        ("garbage for a sequence", [seq, "-i", w("garbage.pb"), "-i", tensor_in], ["garbage.pb", "SequenceProto"]),
        ("a TensorProto for a sequence", [seq, "-i", tensor_in, "-i", tensor_in], ["input_1.pb", "TensorProto"]),
        ("a raw file for a sequence", [seq, "-i", w("empty.raw"), "-i", tensor_in], ["empty.raw", "sequence"]),
        ("a TensorProto for an optional", [opt, "-i", tensor_in], ["input_1.pb", "OptionalProto"]),
        ("no -i for a model with inputs", [seq], ["no input given", "2 inputs"]),
    ]
    problems = []
    for what, (case, *args), words in cases:
        out = os.path.join(work, "err-dump")
        shutil.rmtree(out, ignore_errors=True)
        p = subprocess.run([layerout, "generate", os.path.join(case, "model.onnx"), "-o", out] + args,
                           capture_output=True, text=True, timeout=120)
        msg = p.stderr.strip()
        if p.returncode != 2 or not msg.startswith("layerout: ") or not all(x in msg for x in words):
            problems.append("%s: exit %d, message %r (wanted one naming %s)" % (what, p.returncode, msg, words))
        elif os.path.exists(os.path.join(out, "outputs", "layer_outputs_0")):
            problems.append("%s: a sample was written anyway" % what)
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--suite", action="append", default=[])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="print every case's result, not only differences")
    args = ap.parse_args()
    t0 = time.monotonic()
    build = os.path.abspath(args.build)
    layerout, runner = os.path.join(build, "layerout"), os.path.join(build, "lo_run_case")
    suites = [s.split("=", 1) for s in args.suite] or [
        (s, os.path.join(DATA, s)) for s in ("node", "simple", "pytorch-converted", "pytorch-operator")]
    cases = [(s, d) for s, top in suites for d in case_dirs(top)]
    work = tempfile.mkdtemp(prefix="layerout-cli-cases.")
    try:
        problems = check_errors(layerout, work)
        for p in problems:
            print("cli: bad input not refused as it should be: " + p)
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            lib = {c: pool.submit(run_library, runner, c[1]) for c in cases}
            cli = {c: pool.submit(run_cli, layerout, runner, c[1], work) for c in cases}
            lib = {c: f.result() for c, f in lib.items()}
            cli = {c: f.result() for c, f in cli.items()}
    finally:
        shutil.rmtree(work, ignore_errors=True)

    count = {"PASS": 0, "FAIL": 0, "UNSUPPORTED": 0}
    partial, lost, gained, refused = 0, [], [], []
    for c in cases:
        (ls, _), (cs, why) = lib[c], cli[c]
        count[cs] += 1
        if cs == "PASS" and "have no file in the dump" in why:
            partial += 1
        name = "%s/%s" % (c[0], os.path.basename(c[1]))
        if ls == "PASS" and cs != "PASS" and SHAPE_REFUSED.search(why):
            refused.append("%s: %s" % (name, why))
        elif ls == "PASS" and cs != "PASS":
            lost.append("%s: library PASS, command %s: %s" % (name, cs, why))
        elif cs == "PASS" and ls != "PASS":
            gained.append("%s: command PASS, library %s" % (name, ls))
        if args.keep or (ls != cs):
            print("%s %s%s" % (cs, name, ": " + why if why else ""))
    lib_pass = sum(1 for c in cases if lib[c][0] == "PASS")
    print("cli: %d cases through `layerout generate`: %d passed (%d of them with outputs the dump has no file for), "
          "%d failed, %d unsupported; the library passes %d" % (len(cases), count["PASS"], partial, count["FAIL"],
                                                                count["UNSUPPORTED"], lib_pass))
    for g in gained:
        print("  " + g)
    if refused:
        print("cli: %d cases whose input data contradicts the shape their model declares, which the command "
              "refuses by design (the library runner, like ONNX's backend runner, does not enforce declared "
              "shapes):" % len(refused))
        for r in refused:
            print("  " + r)
    if lost:
        print("cli: cases the library passes but the command does not:")
        for l in lost:
            print("  " + l)
    print("cli: bad input files: %d of 6 refused with a clear message" % (6 - len(problems)))
    print("cli: %d jobs, %.0f s" % (args.jobs, time.monotonic() - t0))
    return 1 if lost or problems else 0


if __name__ == "__main__":
    sys.exit(main())
