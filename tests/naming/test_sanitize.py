"""onnx and qnn naming schemes on adversarial tensor names.

    python3 test_sanitize.py LAYEROUT WORK

Builds a chain of Relu nodes whose outputs carry names with slashes, dots,
colons, leading digits and underscores, non-ASCII letters, path tricks, names
that sanitize alike and very long names, runs `layerout generate` with each
scheme, and checks every file name against an expectation computed here
independently (AIMET: re.sub(r'\\W+', '_', name); QNN: the same, then a
leading '_' unless it starts with a letter; names that clash get __2, __3
in graph order; names over 200 bytes are cut and end in a hash), that the
manifest maps each file to its tensor, and that nothing was created outside
the dump folder.
"""

import json
import os
import re
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper

NAMES = ["../../escape", "a/b", "a.b", "a:b", "a b", "a_b", "1abc", "_x", "é", "ñandú", "名字", "..", ".",
         "/", "\\", "x" * 300, "x" * 300 + "y", "ok", "Ω/Ω", "-lead", "a\u2014b", "conv::1.weight/../x"]


def aimet(name):
    return re.sub(r"\W+", "_", name)


def qnn(name):
    s = aimet(name)
    return s if s[:1].isalpha() else "_" + s


def expected(rule, names):
    out, used = [], set()
    for n in names:
        s = rule(n) or "_"
        if len(s.encode()) > 200:
            out.append(None)  # cut with a hash: checked by shape, not spelled out
            continue
        base, k = s, 2
        while s in used:
            s = f"{base}__{k}"
            k += 1
        used.add(s)
        out.append(s)
    return out


def snapshot(root):
    return {os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs} | \
           {os.path.join(d, x) for d, xs, _ in os.walk(root) for x in xs}


def main():
    layerout, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    nodes, prev = [], "x"
    for i, n in enumerate(NAMES):
        nodes.append(helper.make_node("Relu", [prev], [n], name=f"relu_{i}"))
        prev = n
    graph = helper.make_graph(nodes, "adversarial", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [1, 4])])
    model_path = os.path.join(work, "adversarial.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), model_path)
    x = np.array([[1.0, -2.0, 3.0, -4.0]], dtype=np.float32)
    np.save(os.path.join(work, "x.npy"), x)
    passed = failed = 0
    for scheme, rule in [("onnx", aimet), ("qnn", qnn)]:
        problems = []
        dump = os.path.join(work, "sub", "dump_" + scheme)
        before = snapshot(work)
        r = subprocess.run([layerout, "generate", model_path, "-o", dump, "--overwrite", "--naming", scheme,
                            "-i", os.path.join(work, "x.npy")], capture_output=True, text=True)
        if r.returncode != 0:
            problems.append("layerout failed: " + r.stderr.strip()[:300])
        else:
            created = snapshot(work) - before
            outside = sorted(p for p in created if not os.path.realpath(p).startswith(os.path.realpath(dump) + os.sep))
            allowed = {os.path.realpath(dump), os.path.realpath(os.path.join(work, "sub"))}
            problems += [f"created outside the dump: {p}" for p in outside if os.path.realpath(p) not in allowed]
            man = json.load(open(os.path.join(dump, "manifest.json")))
            by_name = {e["name"]: os.path.splitext(e["file"])[0] for e in man["tensors"]}
            order = json.load(open(os.path.join(dump, "layer_output_name_order.json")))["layer_output_names"]
            names = ["x"] + NAMES
            want = expected(rule, names)
            files = os.listdir(os.path.join(dump, "outputs", "layer_outputs_0"))
            if len(files) != len(names):
                problems.append(f"{len(files)} files for {len(names)} tensors")
            for n, w in zip(names, want):
                got = by_name.get(n)
                if got is None:
                    problems.append(f"{n!r}: not in the manifest")
                elif w is None:
                    prefix = rule(n).encode()[:150].decode(errors="ignore")
                    if not (got.startswith(prefix) and len(got.encode()) + 4 <= 255):
                        problems.append(f"long name {n[:20]!r}...: file {got!r}")
                elif got != w:
                    problems.append(f"{n!r}: file {got!r}, expected {w!r}")
                if got and (got in ("", ".", "..") or "/" in got or "\0" in got):
                    problems.append(f"{n!r}: unsafe file name {got!r}")
            if len(set(by_name.values())) != len(by_name):
                problems.append("two tensors share a file")
            if order != [by_name[n] for n in names if n in by_name]:
                problems.append("layer_output_name_order.json is not the file stems in graph order")
            v = np.fromfile(os.path.join(dump, "outputs", "layer_outputs_0", by_name[NAMES[-1]] + ".raw"), np.float32)
            if not np.array_equal(v, np.maximum(x, 0).reshape(-1)):
                problems.append("the last tensor's values are wrong")
        print(f"sanitize {scheme}: {'ok' if not problems else 'FAILED'} ({len(NAMES) + 1} names)")
        for p in problems:
            print("    " + p)
        passed += not problems
        failed += bool(problems)
    print(f"sanitize: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
