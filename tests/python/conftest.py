"""Shared fixtures of the Python package tests.

Models: the oracle test's cached exports (tests/oracle; $LAYEROUT_ORACLE_WORK,
else BUILD_DIR/oracle, else the repository's build/oracle) when present, else
a resnet18 this file exports itself (64x64, TorchScript exporter, opset 17)
into $LAYEROUT_PYTEST_WORK. The CLI is the `layerout` beside the library
under test ($LAYEROUT_LIBRARY), so both sides run the same build."""

import filecmp
import json
import os
import subprocess

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))


def _build_dir():
    lib = os.environ.get("LAYEROUT_LIBRARY")
    if lib:
        return os.path.dirname(os.path.abspath(lib))
    return os.path.join(REPO, "build")


BUILD = _build_dir()
WORK = os.environ.get("LAYEROUT_PYTEST_WORK", os.path.join(BUILD, "python-tests"))

# lines the tests want shown whatever the outcome (counts of ties, timings
# of the install): printed after pytest's summary
REPORT = []


def pytest_terminal_summary(terminalreporter):
    for line in REPORT:
        terminalreporter.write_line(line)

# (model, variant) pairs from the oracle cache, chosen for what they cover:
# plain static shapes; a dynamic batch dim (opset 13); weights in an external
# data file (dynamo exporter).
ORACLE_PICKS = [("resnet18", "ts17"), ("squeezenet1_1", "ts13"), ("mobilenet_v2", "dynamo")]


def _oracle_dirs():
    seen = []
    for d in (os.environ.get("LAYEROUT_ORACLE_WORK"), os.path.join(BUILD, "oracle"),
              os.path.join(REPO, "build", "oracle")):
        if d and os.path.isdir(d) and d not in seen:
            seen.append(d)
    return seen


def _export_fallback():
    """A resnet18 export of our own, for machines without the oracle cache."""
    out = os.path.join(WORK, "fallback", "resnet18")
    model = os.path.join(out, "model.onnx")
    if not os.path.exists(model):
        import torch
        import torchvision
        os.makedirs(out, exist_ok=True)
        torch.manual_seed(0)
        net = torchvision.models.resnet18(weights=None).eval()
        x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
        kwargs = {"dynamo": False} if torch.__version__ >= "2" else {}
        torch.onnx.export(net, (x,), model + ".tmp", opset_version=17, **kwargs)
        np.save(os.path.join(out, "input.npy"), x.numpy())
        os.rename(model + ".tmp", model)
    return [("resnet18/own", model, os.path.join(out, "input.npy"))]


def oracle_models():
    found = []
    for name, variant in ORACLE_PICKS:
        for d in _oracle_dirs():
            m = os.path.join(d, name, variant, "model.onnx")
            x = os.path.join(d, name, variant, "input.npy")
            if os.path.exists(m) and os.path.exists(x):
                found.append((f"{name}/{variant}", m, x))
                break
    return found or _export_fallback()


MODELS = oracle_models()


@pytest.fixture(params=MODELS, ids=[m[0] for m in MODELS])
def model(request):
    """(id, model path, input array) for each picked model."""
    tag, path, x = request.param
    return tag, path, np.load(x)


@pytest.fixture
def small_model():
    """The cheapest model available: for loops and error cases."""
    order = ["squeezenet1_1/ts13", "resnet18/ts17", "mobilenet_v2/dynamo", "resnet18/own"]
    tag, path, x = min(MODELS, key=lambda m: order.index(m[0]) if m[0] in order else 99)
    return tag, path, np.load(x)


@pytest.fixture(scope="session")
def cli():
    import layerout._lib as lib
    lib.load()
    return lib.find_binary()


def run_cli(cli, model_path, out, samples, *args):
    """`layerout generate` on one or more samples (lists of arrays, one per
    model input) through an input list of .npy files."""
    os.makedirs(out + ".in", exist_ok=True)
    lines = []
    for k, arrays in enumerate(samples):
        paths = []
        for i, a in enumerate(arrays):
            p = os.path.join(out + ".in", f"{k}_{i}.npy")
            np.save(p, a)
            paths.append(p)
        lines.append(" ".join(paths))
    lst = os.path.join(out + ".in", "input_list.txt")
    with open(lst, "w") as f:
        f.write("\n".join(lines) + "\n")
    r = subprocess.run([cli, "generate", model_path, "-o", out, "--overwrite", "--quiet", "--threads", "2",
                        "--input-list", lst, *args], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out


def tree_files(root):
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            out[os.path.relpath(p, root)] = p
    return out


def assert_same_dump(a, b, inputs=True):
    """Byte-identical dumps: the name-order file and every file under
    outputs/ (and inputs/). The manifests name the model's path, which may
    differ, so they are compared without it."""
    assert filecmp.cmp(os.path.join(a, "layer_output_name_order.json"),
                       os.path.join(b, "layer_output_name_order.json"), shallow=False)
    for sub in (["outputs", "inputs"] if inputs else ["outputs"]):
        fa, fb = tree_files(os.path.join(a, sub)), tree_files(os.path.join(b, sub))
        assert sorted(fa) == sorted(fb), f"{sub}: file sets differ: {sorted(set(fa) ^ set(fb))[:10]}"
        different = [rel for rel in fa if not filecmp.cmp(fa[rel], fb[rel], shallow=False)]
        assert not different, f"{sub}: {len(different)} files differ, e.g. {different[:5]}"
    ma, mb = (json.load(open(os.path.join(d, "manifest.json"))) for d in (a, b))
    for m in (ma, mb):
        m.pop("model")
    assert ma == mb


def manifest(d):
    with open(os.path.join(d, "manifest.json")) as f:
        return json.load(f)


def write_encodings(path, model_path, float_dump, bw=8):
    """An AIMET 1.0.0 encodings file for a model: per-tensor asymmetric
    activations from the float dump's min/max (graph input included), and
    per-tensor symmetric weights for every initializer of rank >= 2."""
    import onnx
    from onnx import numpy_helper
    acts = []
    for e in manifest(float_dump)["tensors"]:
        if e["dtype"] != "float32":
            continue
        v = np.fromfile(os.path.join(float_dump, "outputs", "layer_outputs_0", e["file"]), dtype=np.float32)
        lo, hi = min(float(v.min()), 0.0), max(float(v.max()), 0.0)
        scale = (hi - lo) / (2 ** bw - 1) or 1.0
        acts.append({"name": e["name"], "dtype": "INT", "enc_type": "PER_TENSOR", "bw": bw, "is_sym": False,
                     "scale": [scale], "offset": [int(round(lo / scale))]})
    params = []
    m = onnx.load(model_path)
    for init in m.graph.initializer:
        w = numpy_helper.to_array(init)
        if w.dtype == np.float32 and w.ndim >= 2:
            scale = float(np.abs(w).max()) / (2 ** (bw - 1) - 1) or 1.0
            params.append({"name": init.name, "dtype": "INT", "enc_type": "PER_TENSOR", "bw": bw, "is_sym": True,
                           "scale": [scale], "offset": [-(2 ** (bw - 1))]})
    with open(path, "w") as f:
        json.dump({"version": "1.0.0", "activation_encodings": acts, "param_encodings": params}, f)
    return len(acts), len(params)


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def control_flow_model(path):
    """x -> If(cond: x+1 | x*2) -> Loop 3 times (acc += x) -> Relu."""
    import onnx
    from onnx import TensorProto, helper
    f, b = TensorProto.FLOAT, TensorProto.BOOL
    then_g = helper.make_graph([helper.make_node("Add", ["x", "one"], ["then/add"], name="then_add")], "then", [],
                               [helper.make_tensor_value_info("then/add", f, [2, 3])])
    else_g = helper.make_graph([helper.make_node("Mul", ["x", "two"], ["else/mul"], name="else_mul")], "else", [],
                               [helper.make_tensor_value_info("else/mul", f, [2, 3])])
    body = helper.make_graph(
        [helper.make_node("Identity", ["c_in"], ["c_out"], name="body_cond"),
         helper.make_node("Add", ["acc_in", "x"], ["body/acc"], name="body_add")], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []), helper.make_tensor_value_info("c_in", b, []),
         helper.make_tensor_value_info("acc_in", f, [2, 3])],
        [helper.make_tensor_value_info("c_out", b, []), helper.make_tensor_value_info("body/acc", f, [2, 3])])
    g = helper.make_graph(
        [helper.make_node("If", ["cond"], ["branch"], name="if", then_branch=then_g, else_branch=else_g),
         helper.make_node("Loop", ["trips", "", "branch"], ["looped"], name="loop", body=body),
         helper.make_node("Relu", ["looped"], ["out"], name="relu")], "cf",
        [helper.make_tensor_value_info("x", f, [2, 3]), helper.make_tensor_value_info("cond", b, [])],
        [helper.make_tensor_value_info("out", f, [2, 3])],
        [helper.make_tensor("one", f, [], [1.0]), helper.make_tensor("two", f, [], [2.0]),
         helper.make_tensor("trips", TensorProto.INT64, [], [3])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, path)
    return m
