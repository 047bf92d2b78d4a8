#!/usr/bin/env python3
"""Model-local functions and control flow, against references we did not write.

- a function called inside a Loop body, against ONNX Runtime and numpy;
- a hand-built model with nested functions, attribute references, defaults
  and a function whose opset import differs from the model's: every saved
  tensor against ONNX Runtime; with --subgraphs the body tensors, named
  CALL/NAME, after every top-level name;
- a PyTorch export with export_modules_as_functions: every call output
  against ONNX Runtime;
- an aimet_onnx QuantizationSimModel of a small ViT (supergroup functions,
  domains 'aimet.supergroup.N'): the function structure runs, its
  QcQuantizeOp nodes made Identity, against ONNX Runtime, also with the
  supergroup domains left out of the model's opset imports;
- aimet_onnx's own LayerOutputUtil on a model with If and one with Loop:
  the same relative file paths as layerout's default dump, the same
  name-order file contents as sets, values within 1e-5; with --subgraphs
  the extra files are exactly the body tensors of what ran.

Usage: test_functions.py LAYEROUT_BINARY WORK_DIR"""
import json
import os
import shutil
import subprocess
import sys
import warnings

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper

warnings.filterwarnings("ignore")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import checks  # noqa: E402
from checks import test  # noqa: E402

checks.trace = True
LAYEROUT, WORK = sys.argv[1], sys.argv[2]
os.makedirs(WORK, exist_ok=True)


def fresh(name):
    d = os.path.join(WORK, name)
    shutil.rmtree(d, ignore_errors=True)
    return d


def generate(model, inputs, out, *extra, append=False):
    args = [LAYEROUT, "generate", model, "-o", out, "-q", *extra]
    if append:
        args.append("--append")
    for i, x in enumerate(inputs):
        p = os.path.join(WORK, "in_%s_%d.npy" % (os.path.basename(out), i))
        np.save(p, x)
        args += ["-i", p]
    p = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, (args, p.stderr)


def order(d):
    return json.load(open(os.path.join(d, "layer_output_name_order.json")))["layer_output_names"]


def manifest(d):
    return {t["name"]: t for t in json.load(open(os.path.join(d, "manifest.json")))["tensors"]}


def files(d):
    out = set()
    for root, _, names in os.walk(d):
        for n in names:
            out.add(os.path.relpath(os.path.join(root, n), d))
    return out


def load_raw(d, k, t):
    return np.fromfile(os.path.join(d, "outputs", "layer_outputs_%d" % k, t["file"]), np.dtype(t["dtype"])).reshape(
        t["shape"])


def ort_all_outputs(model, feeds):
    """Every top-level node output of model (and its graph outputs) by ONNX Runtime."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    for n in m.graph.node:
        for o in n.output:
            if o and o not in have:
                m.graph.output.append(onnx.ValueInfoProto(name=o))
                have.add(o)
    s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in s.get_outputs()]
    return dict(zip(names, s.run(names, feeds)))


def check_top_level_against_ort(model, path, feeds, out, atol=1e-5, rtol=1e-4):
    """The default dump holds the graph inputs and every top-level non-Constant
    node output, each equal to ONNX Runtime's value."""
    ref = ort_all_outputs(model, feeds)
    man = manifest(out)
    want = [i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    want += [o for n in model.graph.node if n.op_type != "Constant" for o in n.output if o]
    assert set(man) == set(want), ("saved", sorted(set(man) ^ set(want)))
    for name, t in man.items():
        got = load_raw(out, 0, t)
        exp = ref[name] if name in ref else feeds[name]
        assert got.shape == exp.shape, (name, got.shape, exp.shape)
        assert np.allclose(got, exp, atol=atol, rtol=rtol), (name, np.abs(got - exp).max())
    return man


# ---- a hand-built model ----------------------------------------------------------------

def hand_model(model_opset_domains, passthrough=False, inner_opset=11):
    # Inner(x; a) = Identity(LeakyRelu(x, alpha=@a)), ReduceSum(x, axis 1).
    # At inner_opset 11 its ReduceSum takes axes as an attribute, which the
    # model's own opset 18 no longer has: only the function's import makes it
    # valid (ONNX Runtime binds body ops to the model's opset, so it is the
    # reference only for inner_opset 18, where axes is an input).
    rsum = (h.make_node("ReduceSum", ["t"], ["r"], axes=[1], keepdims=1, name="rsum") if inner_opset == 11 else
            h.make_node("ReduceSum", ["t", "axes"], ["r"], keepdims=1, name="rsum"))
    inner = h.make_function("custom.fn", "Inner", ["x"], ["y", "r"], [
        h.make_node("LeakyRelu", ["x"], ["t"], name="leaky"),
        h.make_node("Identity", ["t"], ["y"], name="ident")] +
        ([h.make_node("Constant", [], ["axes"], value_ints=[1], name="axes")] if inner_opset != 11 else []) +
        [rsum], [h.make_opsetid("", inner_opset)], attributes=["a"])
    ref = h.make_attribute_ref("alpha", onnx.AttributeProto.FLOAT)
    ref.ref_attr_name = "a"
    inner.node[0].attribute.append(ref)
    # Outer(x, w; beta, gamma=2.0) = Inner(Add(x, w) * gamma, a=@beta); it
    # hands back s, or (passthrough) its input x itself, which ONNX Runtime
    # refuses to load but the ONNX spec allows.
    outer = h.make_function("custom.fn", "Outer", ["x", "w"], ["z", "x" if passthrough else "s", "r"], [
        h.make_node("Add", ["x", "w"], ["s"], name="add"),
        h.make_node("Constant", [], ["g"], name="gamma_const"),
        h.make_node("Mul", ["s", "g"], ["sg"], name="scale"),
        h.make_node("Inner", ["sg"], ["z", "r"], domain="custom.fn", name="inner")],
        [h.make_opsetid("", 18), h.make_opsetid("custom.fn", 1)], attributes=["beta"])
    outer.node[1].attribute.append(h.make_attribute_ref("value_float", onnx.AttributeProto.FLOAT))
    outer.node[1].attribute[0].ref_attr_name = "gamma"
    outer.attribute_proto.append(h.make_attribute("gamma", 2.0))
    a = h.make_attribute_ref("a", onnx.AttributeProto.FLOAT)
    a.ref_attr_name = "beta"
    outer.node[3].attribute.append(a)
    g = h.make_graph([
        h.make_node("Outer", ["X", "W"], ["Z", "Xp", "R"], name="call0", domain="custom.fn", beta=0.5),
        h.make_node("Outer", ["Z", "W"], ["Z2", "Xp2", "R2"], name="call1", domain="custom.fn", beta=0.1, gamma=-1.0),
        h.make_node("Mul", ["Z2", "Xp"], ["out"], name="mul")],
        "g", [h.make_tensor_value_info("X", T.FLOAT, [2, 3])], [h.make_tensor_value_info("out", T.FLOAT, [2, 3])],
        [numpy_helper.from_array(np.array([-1.0, 0.5, -2.0], np.float32), "W")])
    ops = [h.make_opsetid("", 18)] + [h.make_opsetid(d, 1) for d in model_opset_domains]
    return h.make_model(g, opset_imports=ops, functions=[inner, outer])


@test
def nested_functions_attributes_and_own_opsets_match_ort():
    x = np.random.RandomState(0).randn(2, 3).astype(np.float32)
    # ONNX Runtime needs the function's domain imported; layerout runs the
    # model also without (only the function calls use that domain)
    reference = hand_model(["custom.fn"], inner_opset=18)
    for domains in (["custom.fn"], []):
        for inner_opset in (18, 11):
            m = hand_model(domains, inner_opset=inner_opset)
            path = os.path.join(WORK, "hand_%d.onnx" % len(domains))
            onnx.save(m, path)
            out = fresh("hand_%d" % len(domains))
            generate(path, [x], out)
            check_top_level_against_ort(reference, path, {"X": x}, out)
    # a function output that is its input: the call's output is that input
    ref = ort_all_outputs(reference, {"X": x})
    path = os.path.join(WORK, "hand_pass.onnx")
    onnx.save(hand_model(["custom.fn"], passthrough=True), path)
    out = fresh("hand_pass")
    generate(path, [x], out)
    man = manifest(out)
    assert np.array_equal(load_raw(out, 0, man["Xp"]), x)
    assert np.allclose(load_raw(out, 0, man["out"]), ref["Z2"] * x, atol=1e-6)
    path = os.path.join(WORK, "hand_1.onnx")
    out = os.path.join(WORK, "hand_1")
    # --subgraphs: the bodies' tensors, named CALL/NAME (nested: CALL/INNER/NAME),
    # after every top-level name; Constant outputs are not saved, as at the top
    top = order(out)
    out = fresh("hand_sub")
    generate(path, [x], out, "--subgraphs")
    names = order(out)
    assert names[:len(top)] == top, (names, top)
    man = manifest(out)
    # a call's outputs are that call node's, as ONNX Runtime and AIMET see them
    assert (man["Z"]["node"], man["Z"]["op_type"]) == ("call0", "Outer"), man["Z"]
    assert (man["call0/inner/t"]["node"], man["call0/inner/t"]["op_type"]) == ("call0/inner/leaky", "LeakyRelu")
    sel = fresh("hand_op_types")
    generate(path, [x], sel, "--op-types", "Outer")
    assert set(manifest(sel)) == {"Z", "Xp", "R", "Z2", "Xp2", "R2"}, sorted(manifest(sel))
    body = {n for n, t in man.items() if t.get("nested")}
    want = {"%s/%s" % (c, n) for c in ("call0", "call1") for n in ("sg", "inner/t")}
    assert body == want, sorted(body)
    xs = x + np.array([-1.0, 0.5, -2.0], np.float32)
    assert np.allclose(load_raw(out, 0, man["Xp"]), xs, atol=1e-6)
    assert np.allclose(load_raw(out, 0, man["call0/sg"]), 2 * xs, atol=1e-6)
    t = 2 * xs
    assert np.allclose(load_raw(out, 0, man["call0/inner/t"]), np.where(t < 0, 0.5 * t, t), atol=1e-6)


@test
def malformed_functions_are_refused_with_a_message():
    m = hand_model(["custom.fn"])
    m.functions[0].node.append(h.make_node("Outer", ["x", "x"], ["q", "q2", "q3"], domain="custom.fn"))
    path = os.path.join(WORK, "recursive.onnx")
    onnx.save(m, path)
    p = subprocess.run([LAYEROUT, "generate", path, "-o", fresh("rec"), "-i", os.path.join(WORK, "in_hand_0_0.npy")],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "calls itself" in p.stderr, p.stderr
    # a body reading a graph tensor by name: function bodies see only their inputs
    m = hand_model(["custom.fn"])
    m.functions[0].node[1].input[0] = "W"
    path = os.path.join(WORK, "outer_scope.onnx")
    onnx.save(m, path)
    p = subprocess.run([LAYEROUT, "generate", path, "-o", fresh("outer"), "-i", os.path.join(WORK, "in_hand_0_0.npy")],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "function 'Inner'" in p.stderr and "'W'" in p.stderr, p.stderr

    def refused(m, words, name):
        path = os.path.join(WORK, name + ".onnx")
        onnx.save(m, path)
        p = subprocess.run([LAYEROUT, "generate", path, "-o", fresh(name), "-i", os.path.join(WORK, "in_hand_0_0.npy")],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 2 and all(w in p.stderr for w in words), (name, p.returncode, p.stderr)
        assert p.stderr.startswith("layerout: "), p.stderr

    # the same function twice; a call giving more inputs than the function takes
    m = hand_model(["custom.fn"])
    m.functions.append(m.functions[0])
    refused(m, ["'Inner'", "defined twice"], "twice")
    m = hand_model(["custom.fn"])
    m.graph.node[0].input.append("W")
    refused(m, ["call0", "3 inputs", "'Outer'"], "too_many_inputs")
    # 2^40 nodes from a few bytes: each function calls the one below twice
    fs = [h.make_function("bomb", "F0", ["x"], ["y"], [h.make_node("Neg", ["x"], ["y"])], [h.make_opsetid("", 18)])]
    for i in range(1, 41):
        fs.append(h.make_function("bomb", "F%d" % i, ["x"], ["y"], [
            h.make_node("F%d" % (i - 1), ["x"], ["t"], domain="bomb"),
            h.make_node("F%d" % (i - 1), ["t"], ["y"], domain="bomb")], [h.make_opsetid("bomb", 1)]))
    g = h.make_graph([h.make_node("F40", ["X"], ["Y"], domain="bomb")], "g",
                     [h.make_tensor_value_info("X", T.FLOAT, [2, 3])], [h.make_tensor_value_info("Y", T.FLOAT, None)])
    refused(h.make_model(g, opset_imports=[h.make_opsetid("", 18)], functions=fs), ["too many times"], "bomb")


@test
def a_function_called_in_a_loop_body_matches_ort():
    f = h.make_function("fn", "Sq", ["a"], ["b"], [h.make_node("Mul", ["a", "a"], ["m"]), h.make_node("Tanh", ["m"], ["b"])],
                        [h.make_opsetid("", 17)])
    body = h.make_graph([h.make_node("Sq", ["acc_in"], ["s"], domain="fn", name="sq"),
                         h.make_node("Add", ["s", "x"], ["acc_out"]), h.make_node("Identity", ["c"], ["c2"])], "body",
                        [h.make_tensor_value_info("i", T.INT64, []), h.make_tensor_value_info("c", T.BOOL, []),
                         h.make_tensor_value_info("acc_in", T.FLOAT, [3])],
                        [h.make_tensor_value_info("c2", T.BOOL, []), h.make_tensor_value_info("acc_out", T.FLOAT, [3])])
    g = h.make_graph([h.make_node("Loop", ["n", "", "x"], ["y"], body=body, name="loop")], "g",
                     [h.make_tensor_value_info("x", T.FLOAT, [3])], [h.make_tensor_value_info("y", T.FLOAT, None)],
                     [numpy_helper.from_array(np.array(3, np.int64), "n")])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17), h.make_opsetid("fn", 1)], functions=[f])
    path = os.path.join(WORK, "loop_fn.onnx")
    onnx.save(m, path)
    x = np.array([0.5, -1, 2], np.float32)
    out = fresh("loop_fn")
    generate(path, [x], out, "--subgraphs")
    man = manifest(out)
    ref = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert np.allclose(load_raw(out, 0, man["y"]), ref, atol=1e-6)
    assert order(out)[:2] == ["x", "y"]
    want = {"%s__iter%d" % (n, k) for n in ("sq/m", "s", "acc_out", "c2") for k in range(3)}
    assert {n for n, t in man.items() if t.get("nested")} == want, sorted(man)
    acc = x.copy()
    for k in range(3):  # the carried value (starting at x), by numpy
        acc = np.tanh(acc * acc) + x
        assert np.allclose(load_raw(out, 0, man["acc_out__iter%d" % k]), acc, atol=1e-6), k


# ---- PyTorch: modules exported as functions -------------------------------------------

@test
def pytorch_modules_as_functions_match_ort():
    import torch

    class Block(torch.nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv = torch.nn.Conv2d(c, c, 3, padding=1)
            self.bn = torch.nn.BatchNorm2d(c)
            self.act = torch.nn.GELU()

        def forward(self, x):
            return x + self.act(self.bn(self.conv(x)))

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = torch.nn.Conv2d(3, 8, 3)
            self.b1, self.b2 = Block(8), Block(8)
            self.ln = torch.nn.LayerNorm(8)
            self.fc = torch.nn.Linear(8, 4)

        def forward(self, x):
            y = self.b2(self.b1(self.stem(x))).mean((2, 3))
            return self.fc(self.ln(y))

    torch.manual_seed(0)
    net = Net().eval()
    x = torch.randn(1, 3, 12, 12)
    path = os.path.join(WORK, "torch_fn.onnx")
    torch.onnx.export(net, (x,), path, opset_version=17, dynamo=False, input_names=["x"],
                      export_modules_as_functions={Block, torch.nn.LayerNorm, torch.nn.GELU})
    m = onnx.load(path)
    assert len(m.functions) == 3, [f.name for f in m.functions]
    out = fresh("torch_fn")
    generate(path, [x.numpy()], out)
    man = check_top_level_against_ort(m, path, {"x": x.numpy()}, out)
    assert "/b1/Block_output_0" in man and "/ln/LayerNorm_output_0" in man
    # the network's own output, against PyTorch too
    final = load_raw(out, 0, man[m.graph.output[0].name])
    assert np.allclose(final, net(x).detach().numpy(), atol=1e-5), "torch"
    # --naming pytorch: a call is one call of the module exported as a function,
    # named by the module; each file holds that module's output (PyTorch's hooks)
    seen = {}
    for name in ("stem", "b1", "b2", "ln", "fc"):
        getattr(net, name).register_forward_hook(lambda mod, i, o, name=name: seen.__setitem__(name, o.detach().numpy()))
    net(x)
    named = fresh("torch_fn_pytorch")
    generate(path, [x.numpy()], named, "--naming", "pytorch")
    assert order(named) == ["stem", "b1", "b2", "ln", "fc"], order(named)
    for t in manifest(named).values():
        stem = t["file"][:-4]
        if stem in seen:
            assert np.allclose(load_raw(named, 0, t), seen[stem], atol=1e-5), stem
    # --subgraphs adds every non-Constant tensor made inside each call's body
    out = fresh("torch_fn_sub")
    generate(path, [x.numpy()], out, "--subgraphs")
    fns = {(f.domain, f.name): f for f in m.functions}

    def body_count(f):
        n = 0
        for node in f.node:
            callee = fns.get((node.domain, node.op_type))
            if callee is not None:
                n += body_count(callee) + sum(1 for o in node.output if o and o not in f.output)
            elif node.op_type != "Constant":
                n += sum(1 for o in node.output if o and o not in f.output)
        return n

    want = sum(body_count(fns[(n.domain, n.op_type)]) for n in m.graph.node if (n.domain, n.op_type) in fns)
    nested = [n for n, t in manifest(out).items() if t.get("nested")]
    assert len(nested) == want and all(n.startswith(("/b1/Block/", "/b2/Block/", "/ln/LayerNorm/")) for n in nested), (
        want, nested)


# ---- AIMET: a QuantizationSimModel with supergroup functions ----------------------------

@test
def aimet_supergroup_sim_runs():
    import torch
    from torchvision.models.vision_transformer import VisionTransformer
    from aimet_onnx.quantsim import QuantizationSimModel

    torch.manual_seed(0)
    net = VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=32,
                            num_classes=4).eval()
    x = torch.randn(1, 3, 32, 32)
    path = os.path.join(WORK, "vit.onnx")
    torch.onnx.export(net, (x,), path, opset_version=17, dynamo=False, input_names=["x"], output_names=["logits"])
    sim = QuantizationSimModel(onnx.load(path))
    sm = onnx.ModelProto()
    sm.CopyFrom(sim.model.model)
    supergroups = [f for f in sm.functions if f.domain.startswith("aimet.supergroup")]
    assert supergroups, "AIMET wrote no supergroup functions into sim.model"
    # the quantizers are another stage's business: here they pass values through
    for n in list(sm.graph.node) + [n for f in sm.functions for n in f.node]:
        if n.op_type == "QcQuantizeOp":
            n.op_type, n.domain = "Identity", ""
            del n.attribute[:]
    del sm.opset_import[:]
    sm.opset_import.extend([h.make_opsetid("", 17)] + [h.make_opsetid(d, 1) for d in
                                                        sorted({f.domain for f in sm.functions})])
    with_imports = os.path.join(WORK, "vit_sim.onnx")
    onnx.save(sm, with_imports)
    feeds = {"x": x.numpy()}
    out = fresh("vit_sim")
    generate(with_imports, [x.numpy()], out)
    man = check_top_level_against_ort(sm, with_imports, feeds, out, atol=1e-4)
    calls = [n for n in sm.graph.node if n.domain.startswith("aimet.supergroup")]
    assert all(o in man for n in calls for o in n.output)
    assert np.allclose(load_raw(out, 0, man["logits"]), net(x).detach().numpy(), atol=1e-4)
    # the supergroup domains are only function domains: no opset entry needed
    del sm.opset_import[1:]
    bare = os.path.join(WORK, "vit_sim_bare.onnx")
    onnx.save(sm, bare)
    out2 = fresh("vit_sim_bare")
    generate(bare, [x.numpy()], out2)
    assert files(out2) - {"manifest.json"} == files(out) - {"manifest.json"}


# ---- aimet_onnx LayerOutputUtil on control flow ------------------------------------------

def vad_if_model():
    """A voice-activity-like gate: If on a flag input runs either a
    projection (MatMul, Relu) or a fallback (Sigmoid of a scaled input)."""
    rng = np.random.RandomState(3)
    w = numpy_helper.from_array(rng.randn(16, 8).astype(np.float32), "W")
    two = numpy_helper.from_array(np.array(2.0, np.float32), "two")
    then_g = h.make_graph([
        h.make_node("MatMul", ["feat", "W"], ["proj"], name="then_matmul"),
        h.make_node("Relu", ["proj"], ["then_out"], name="then_relu")], "then", [],
        [h.make_tensor_value_info("then_out", T.FLOAT, None)])
    else_g = h.make_graph([
        h.make_node("Constant", [], ["half"], value=numpy_helper.from_array(np.array(0.5, np.float32)), name="c"),
        h.make_node("Mul", ["feat", "half"], ["scaled"], name="else_mul"),
        h.make_node("Sigmoid", ["scaled"], ["else_out"], name="else_sigmoid")], "else", [],
        [h.make_tensor_value_info("else_out", T.FLOAT, None)])
    g = h.make_graph([
        h.make_node("Mul", ["x", "two"], ["feat"], name="pre"),
        h.make_node("If", ["flag"], ["gated"], then_branch=then_g, else_branch=else_g, name="gate"),
        h.make_node("ReduceMean", ["gated"], ["score"], keepdims=0, name="score")],
        "vad", [h.make_tensor_value_info("x", T.FLOAT, [1, 16]), h.make_tensor_value_info("flag", T.BOOL, [])],
        [h.make_tensor_value_info("score", T.FLOAT, None)], [w, two])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)]), {
        True: {"proj", "then_out"}, False: {"scaled", "else_out"}}


def loop_model():
    """A wake-word-like accumulator: Loop adds tanh(x * (i + 1)) 3 times and
    scans out each step's partial sum."""
    trip = numpy_helper.from_array(np.array(3, np.int64), "trip")
    cond = numpy_helper.from_array(np.array(True), "cond")
    zero = numpy_helper.from_array(np.zeros((1, 8), np.float32), "zero")
    one = numpy_helper.from_array(np.array(1.0, np.float32), "one")
    body = h.make_graph([
        h.make_node("Cast", ["i"], ["fi"], to=T.FLOAT, name="cast"),
        h.make_node("Add", ["fi", "one"], ["step"], name="step"),
        h.make_node("Mul", ["x", "step"], ["xs"], name="scale"),
        h.make_node("Tanh", ["xs"], ["t"], name="tanh"),
        h.make_node("Add", ["acc_in", "t"], ["acc_out"], name="acc"),
        h.make_node("Identity", ["cond_in"], ["cond_out"], name="keep"),
        h.make_node("Identity", ["acc_out"], ["partial"], name="scan")], "body",
        [h.make_tensor_value_info("i", T.INT64, []), h.make_tensor_value_info("cond_in", T.BOOL, []),
         h.make_tensor_value_info("acc_in", T.FLOAT, [1, 8])],
        [h.make_tensor_value_info("cond_out", T.BOOL, []), h.make_tensor_value_info("acc_out", T.FLOAT, [1, 8]),
         h.make_tensor_value_info("partial", T.FLOAT, [1, 8])])
    g = h.make_graph([
        h.make_node("Relu", ["x0"], ["x"], name="pre"),
        h.make_node("Loop", ["trip", "cond", "zero"], ["total", "partials"], body=body, name="loop"),
        h.make_node("Softmax", ["total"], ["prob"], axis=-1, name="prob")],
        "kws", [h.make_tensor_value_info("x0", T.FLOAT, [1, 8])], [h.make_tensor_value_info("prob", T.FLOAT, None)],
        [trip, cond, zero, one])
    body_names = {"%s__iter%d" % (n, k) for n in ("fi", "step", "xs", "t", "acc_out", "cond_out", "partial")
                  for k in range(3)}
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)]), body_names


def aimet_dump(model, samples, out):
    from aimet_onnx.layer_output_utils import LayerOutputUtil
    u = LayerOutputUtil(model, out)
    for s in samples:
        u.generate_layer_outputs(s)


def compare_with_aimet(name, model, samples, body_for_sample):
    path = os.path.join(WORK, name + ".onnx")
    onnx.save(model, path)
    ref = fresh(name + "_aimet")
    aimet_dump(model, samples, ref)
    for extra in ([], ["--subgraphs"]):
        out = fresh(name + ("_sub" if extra else ""))
        for k, s in enumerate(samples):
            generate(path, s if isinstance(s, list) else [s], out, *extra, append=k > 0)
        got = files(out) - {"manifest.json"}
        want = files(ref)
        if not extra:
            assert got == want, ("files", sorted(got ^ want))
            assert set(order(out)) == set(order(ref)), sorted(set(order(out)) ^ set(order(ref)))
            for f in sorted(want):
                if f.endswith(".raw") and f.startswith("outputs"):
                    a = np.fromfile(os.path.join(ref, f), np.uint8)
                    b = np.fromfile(os.path.join(out, f), np.uint8)
                    assert a.size == b.size, f
                    man = {t["file"]: t for t in manifest(out).values()}
                    dt = np.dtype(man[os.path.basename(f)]["dtype"])
                    assert np.allclose(a.view(dt), b.view(dt), atol=1e-5, rtol=0), (f, np.abs(a.view(dt) - b.view(dt)).max())
        else:
            # exactly the body tensors of what ran, sample by sample, after the top level
            for k in range(len(samples)):
                sub = "outputs/layer_outputs_%d/" % k
                extra_files = {f[len(sub):-4] for f in got - want if f.startswith(sub)}
                assert extra_files == body_for_sample[k], (k, sorted(extra_files ^ body_for_sample[k]))
            assert got >= want
            top = order(ref)
            names = order(out)
            assert set(names[:len(top)]) == set(top), names
            assert set(names[len(top):]) == set().union(*body_for_sample), names


@test
def aimet_layer_output_util_on_if_matches_by_default():
    model, body = vad_if_model()
    rng = np.random.RandomState(4)
    samples = [[rng.randn(1, 16).astype(np.float32), np.array(True)],
               [rng.randn(1, 16).astype(np.float32), np.array(False)]]
    compare_with_aimet("vad_if", model, samples, [body[True], body[False]])


@test
def aimet_layer_output_util_on_loop_matches_by_default():
    model, body = loop_model()
    rng = np.random.RandomState(5)
    samples = [rng.randn(1, 8).astype(np.float32), rng.randn(1, 8).astype(np.float32)]
    compare_with_aimet("kws_loop", model, samples, [body, body])


checks.finish("functions")
