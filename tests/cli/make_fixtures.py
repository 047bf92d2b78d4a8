#!/usr/bin/env python3
"""Builds the models and input files the command-line tests use, under the
folder given as argv[1]. Good models get numpy references computed here, with
numpy, independently of layerout."""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(7)


def save(model, name, check=True):
    if check:
        onnx.checker.check_model(model)
    onnx.save(model, os.path.join(out, name))


def model_of(nodes, inputs, outputs, inits=(), opset=13, name="g"):
    g = helper.make_graph(nodes, name, inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 7
    return m


X = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
Y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])

# two inputs, names that need sanitizing, a Constant whose output is not saved
c = numpy_helper.from_array(np.full((2, 3), 0.5, np.float32), "c")
two = model_of([
    helper.make_node("Constant", [], ["const:out"], value=c, name="const"),
    helper.make_node("Add", ["x", "y"], ["add/out.0"], name="add"),
    helper.make_node("Mul", ["add/out.0", "const:out"], ["mul out"], name="mul"),
    helper.make_node("Relu", ["mul out"], ["z"], name="relu"),
], [X, helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
   [helper.make_tensor_value_info("z", TensorProto.FLOAT, [2, 3])])
save(two, "two_inputs.onnx")
x = rng.standard_normal((2, 3)).astype(np.float32)
y = rng.standard_normal((2, 3)).astype(np.float32)
np.save(os.path.join(out, "x.npy"), x)
np.save(os.path.join(out, "y.npy"), y)
x.tofile(os.path.join(out, "x.raw"))
y.tofile(os.path.join(out, "y.raw"))
with open(os.path.join(out, "x.pb"), "wb") as f:
    f.write(numpy_helper.from_array(x, "x").SerializeToString())
add = x + y
mul = add * np.float32(0.5)
refs = {"x": x, "y": y, "add_out_0": add, "mul_out": mul, "z": np.maximum(mul, 0)}
for k, v in refs.items():
    np.save(os.path.join(out, "ref_" + k + ".npy"), v)
# a second sample for input lists
x2 = rng.standard_normal((2, 3)).astype(np.float32)
np.save(os.path.join(out, "x2.npy"), x2)
with open(os.path.join(out, "list.txt"), "w") as f:
    f.write("# two samples\n%s %s\n\ny:=%s x:=%s\n" % (
        os.path.join(out, "x.npy"), os.path.join(out, "y.npy"),
        os.path.join(out, "y.npy"), os.path.join(out, "x2.npy")))

# a dynamic batch dim (raw input needs --shape)
D = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])
save(model_of([helper.make_node("Relu", ["x"], ["r"])], [D],
              [helper.make_tensor_value_info("r", TensorProto.FLOAT, ["N", 3])]), "dynamic.onnx")

# an op of a domain the engine does not know
m = model_of([helper.make_node("FancyOp", ["x"], ["r"], domain="com.example", name="fancy")], [X],
             [helper.make_tensor_value_info("r", TensorProto.FLOAT, [2, 3])])
m.opset_import.append(helper.make_opsetid("com.example", 1))
save(m, "unsupported.onnx", check=False)

# a cycle: a -> b -> a
save(model_of([helper.make_node("Relu", ["x", ], ["a"], name="n0"),
               helper.make_node("Add", ["a", "c2"], ["b"], name="n1"),
               helper.make_node("Relu", ["b"], ["c2"], name="n2")], [X],
              [helper.make_tensor_value_info("b", TensorProto.FLOAT, [2, 3])]), "cycle.onnx", check=False)
# an input that nothing produces
save(model_of([helper.make_node("Add", ["x", "ghost"], ["r"], name="adder")], [X],
              [helper.make_tensor_value_info("r", TensorProto.FLOAT, [2, 3])]), "dangling.onnx", check=False)
# a model whose file order is not topological
save(model_of([helper.make_node("Relu", ["a"], ["b"], name="second"),
               helper.make_node("Neg", ["x"], ["a"], name="first")], [X],
              [helper.make_tensor_value_info("b", TensorProto.FLOAT, [2, 3])]), "unsorted.onnx", check=False)

# truncated and foreign files
data = open(os.path.join(out, "two_inputs.onnx"), "rb").read()
open(os.path.join(out, "truncated.onnx"), "wb").write(data[: len(data) // 2])
open(os.path.join(out, "not_onnx.onnx"), "wb").write(b"this is a text file, not a model\n" * 10)
open(os.path.join(out, "empty.onnx"), "wb").write(b"")

# wrong inputs
np.save(os.path.join(out, "x_f64.npy"), x.astype(np.float64))
np.save(os.path.join(out, "x_shape.npy"), rng.standard_normal((3, 2)).astype(np.float32))
x[:1].tofile(os.path.join(out, "x_short.raw"))
open(os.path.join(out, "bad.npy"), "wb").write(b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f4',")
json.dump({"ok": True}, open(os.path.join(out, "fixtures.json"), "w"))

# control flow: a Loop whose body adds x to the carried value 3 times, and an
# If that picks a branch; body node outputs are layer outputs too
trip = numpy_helper.from_array(np.array(3, np.int64), "trip")
cond = numpy_helper.from_array(np.array(True), "cond")
body = helper.make_graph(
    [helper.make_node("Add", ["acc_in", "x"], ["acc_out"], name="body_add"),
     helper.make_node("Identity", ["cond_in"], ["cond_out"], name="body_cond")],
    "body",
    [helper.make_tensor_value_info("i", TensorProto.INT64, []),
     helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
     helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, [2, 3])],
    [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
     helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [2, 3])])
then_g = helper.make_graph([helper.make_node("Neg", ["loop_out"], ["then_out"], name="then_neg")], "then", [],
                           [helper.make_tensor_value_info("then_out", TensorProto.FLOAT, [2, 3])])
else_g = helper.make_graph([helper.make_node("Abs", ["loop_out"], ["else_out"], name="else_abs")], "else", [],
                           [helper.make_tensor_value_info("else_out", TensorProto.FLOAT, [2, 3])])
zero = numpy_helper.from_array(np.zeros((2, 3), np.float32), "zero")
flag = numpy_helper.from_array(np.array(False), "flag")
cf = model_of([
    helper.make_node("Loop", ["trip", "cond", "zero"], ["loop_out"], body=body, name="loop"),
    helper.make_node("If", ["flag"], ["if_out"], then_branch=then_g, else_branch=else_g, name="branch"),
], [X], [helper.make_tensor_value_info("if_out", TensorProto.FLOAT, [2, 3])], [trip, cond, zero, flag])
save(cf, "control_flow.onnx")
