"""Helpers of the sharding tests: small Conv+Relu models, input lists of
random samples, and comparing two dumps file by file."""
import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def conv_model(path, layers, channels, size, seed):
    """Conv+Relu layers: small for the identity tests, many files a sample for
    the kill tests (a kill then lands inside a sample)."""
    rng = np.random.default_rng(seed)
    inits, nodes, x = [], [], "input"
    c_in = 3
    for i in range(layers):
        w = (rng.standard_normal((channels, c_in, 3, 3)) * (1.0 / (3 * c_in) ** 0.5)).astype(np.float32)
        inits.append(numpy_helper.from_array(w, "w%d" % i))
        nodes.append(helper.make_node("Conv", [x, "w%d" % i], ["conv%d" % i], name="Conv%d" % i, pads=[1, 1, 1, 1]))
        nodes.append(helper.make_node("Relu", ["conv%d" % i], ["relu%d" % i], name="Relu%d" % i))
        x, c_in = "relu%d" % i, channels
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])],
                          [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, channels, size, size])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, path)
    return m


def input_list(folder, n, size, seed):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n):
        p = os.path.join(folder, "x%d.npy" % i)
        np.save(p, rng.standard_normal((1, 3, size, size)).astype(np.float32))
        lines.append(p)
    path = os.path.join(folder, "list.txt")
    with open(path, "w") as f:
        f.write("# one sample a line\n" + "\n".join(lines) + "\n")
    return path, lines


def tree(d):
    """Every file under d, relative path -> bytes."""
    out = {}
    for root, _, files in os.walk(d):
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, d)] = fh.read()
    return out


def same_dump(ref, other):
    a, b = tree(ref), tree(other)
    if set(a) != set(b):
        raise AssertionError("%s and %s hold different files: only in the first %s, only in the second %s" % (
            ref, other, sorted(set(a) - set(b))[:8], sorted(set(b) - set(a))[:8]))
    for rel in a:
        if rel == "manifest.json":
            continue
        if a[rel] != b[rel]:
            raise AssertionError("%s differs between %s and %s" % (rel, ref, other))
    ma, mb = json.loads(a["manifest.json"]), json.loads(b["manifest.json"])
    if ma["tensors"] != mb["tensors"] or ma["samples"] != mb["samples"]:
        raise AssertionError("the manifests of %s and %s differ in tensors or samples" % (ref, other))
    ma["model"].pop("path"), mb["model"].pop("path")
    if ma != mb:
        raise AssertionError("the manifests of %s and %s differ: %s / %s" % (ref, other, ma, mb))
    return len(a)
