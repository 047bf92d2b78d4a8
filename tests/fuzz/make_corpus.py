#!/usr/bin/env python3
"""Writes the fuzz seed corpora (tests/fuzz/corpus/<target>/): small valid
files of every kind each target reads, so fuzzing starts from inputs that get
past the first checks. The files are committed; run this again only to
change them.  Needs numpy and onnx (Debian's python3-numpy, python3-onnx)."""
import json
import os
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.join(here, "corpus")
SEP = b"\n----\n"  # fuzz_common.h's part separator


def put(target, name, data):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def npy(arr, version=(1, 0)):
    import io
    b = io.BytesIO()
    np.lib.format.write_array(b, arr, version=version)
    return b.getvalue()


# ---- models -------------------------------------------------------------------
def model(nodes, inputs, outputs, inits=(), opset=13, **kw):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits), **kw)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m.SerializeToString()


f32 = TensorProto.FLOAT
X = helper.make_tensor_value_info("x", f32, [1, 3, 4, 4])
Y = helper.make_tensor_value_info("y", f32, None)
w = numpy_helper.from_array(np.ones((2, 3, 1, 1), np.float32), "w")
put("model", "conv_relu", model([helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
                                 helper.make_node("Relu", ["c"], ["y"], name="relu")], [X], [Y], [w]))
tiny = os.path.join(here, "..", "..", "examples", "tiny_cnn.onnx")
if os.path.exists(tiny):
    put("model", "tiny_cnn", open(tiny, "rb").read())
shape = numpy_helper.from_array(np.array([2, 8], np.int64), "shape")
put("model", "reshape_gemm", model(
    [helper.make_node("Reshape", ["x", "shape"], ["r"]),
     helper.make_node("Gemm", ["r", "r"], ["y"], transB=1, alpha=0.5)],
    [helper.make_tensor_value_info("x", f32, [4, 4])], [Y], [shape]))
then = helper.make_graph([helper.make_node("Identity", ["x"], ["t"])], "then", [],
                         [helper.make_tensor_value_info("t", f32, None)])
other = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [],
                          [helper.make_tensor_value_info("e", f32, None)])
put("model", "if_subgraph", model(
    [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
     helper.make_node("Greater", ["s", "zero"], ["cond"]),
     helper.make_node("If", ["cond"], ["y"], then_branch=then, else_branch=other)],
    [helper.make_tensor_value_info("x", f32, [3])], [Y],
    [numpy_helper.from_array(np.array(0, np.float32), "zero")]))
sparse = helper.make_sparse_tensor(numpy_helper.from_array(np.array([1.0, 2.0], np.float32), "sp"),
                                   numpy_helper.from_array(np.array([0, 5], np.int64), "idx"), [2, 3])
put("model", "sparse_init", model([helper.make_node("Add", ["x", "sp"], ["y"])],
                                  [helper.make_tensor_value_info("x", f32, [2, 3])], [Y],
                                  sparse_initializer=[sparse]))
ext = TensorProto(name="e", data_type=f32, dims=[2])
ext.data_location = TensorProto.EXTERNAL
ext.external_data.add(key="location", value="weights.bin")
ext.external_data.add(key="offset", value="0")
put("model", "external_data", model([helper.make_node("Mul", ["x", "e"], ["y"])],
                                    [helper.make_tensor_value_info("x", f32, [2])], [Y], [ext]))
put("model", "constant_of_shape", model(
    [helper.make_node("ConstantOfShape", ["shape"], ["y"],
                      value=numpy_helper.from_array(np.array([1.5], np.float32)))], [], [Y], [shape]))
put("model", "cast_strings", model(
    [helper.make_node("Cast", ["x"], ["y"], to=TensorProto.STRING)],
    [helper.make_tensor_value_info("x", f32, [2])], [helper.make_tensor_value_info("y", TensorProto.STRING, [2])]))
body = helper.make_graph(
    [helper.make_node("Add", ["acc", "one"], ["acc2"]), helper.make_node("Identity", ["c"], ["c2"])],
    "body", [helper.make_tensor_value_info("i", TensorProto.INT64, []),
             helper.make_tensor_value_info("c", TensorProto.BOOL, []),
             helper.make_tensor_value_info("acc", f32, [1])],
    [helper.make_tensor_value_info("c2", TensorProto.BOOL, []),
     helper.make_tensor_value_info("acc2", f32, [1])],
    [numpy_helper.from_array(np.array([1], np.float32), "one")])
put("model", "loop", model(
    [helper.make_node("Loop", ["n", "", "x"], ["y"], body=body)],
    [helper.make_tensor_value_info("x", f32, [1])], [Y],
    [numpy_helper.from_array(np.array(3, np.int64), "n")]))

# model-local functions: a nested call, an attribute reference with a default
# (FunctionProto.attribute_proto) and an overload, the fields read from
# protobuf's unknown fields
inner = helper.make_function("local", "Inner", ["a"], ["b"], [helper.make_node("LeakyRelu", ["a"], ["b"])],
                             [helper.make_opsetid("", 13)], ["alpha"])
inner.node[0].attribute.append(helper.make_attribute_ref("alpha", onnx.AttributeProto.FLOAT))
inner.node[0].attribute[0].ref_attr_name = "alpha"
outer = helper.make_function("local", "Outer", ["a"], ["b"], [
    helper.make_node("Inner", ["a"], ["t"], domain="local", alpha=0.2),
    helper.make_node("Neg", ["t"], ["b"])], [helper.make_opsetid("", 13), helper.make_opsetid("local", 1)], [])
if hasattr(outer, "attribute_proto"):
    outer.attribute_proto.append(helper.make_attribute("unused", 1.5))
    outer.overload = "v1"
fm = helper.make_model(helper.make_graph(
    [helper.make_node("Outer", ["x"], ["y"], domain="local", name="call")],
    "g", [helper.make_tensor_value_info("x", f32, [3])], [Y]),
    opset_imports=[helper.make_opsetid("", 13)], functions=[inner, outer])
if hasattr(outer, "attribute_proto"):
    fm.graph.node[0].overload = "v1"
fm.ir_version = 8
put("model", "functions", fm.SerializeToString())

# ---- safetensors (one sample of --format safetensors) ---------------------------------
def safetensors(tensors, metadata=None, pad=0):
    header, data = {}, b""
    for key, a in tensors.items():
        code = {"float32": "F32", "int64": "I64", "bool": "BOOL", "float16": "F16", "uint8": "U8"}[str(a.dtype)]
        header[key] = {"dtype": code, "shape": list(a.shape), "data_offsets": [len(data), len(data) + a.nbytes]}
        data += a.tobytes()
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode() + b" " * pad
    return struct.pack("<Q", len(h)) + h + data


put("safetensors", "one", safetensors({"x": np.arange(6, dtype=np.float32).reshape(2, 3)}))
put("safetensors", "several", safetensors({"conv_out": np.ones((1, 2, 3, 3), np.float32),
                                           "mask": np.array([True, False, True]), "ids": np.arange(3, dtype=np.int64),
                                           "half": np.zeros((2,), np.float16)},
                                          metadata={"conv_out": "conv/out:0"}, pad=5))
put("safetensors", "empty", safetensors({}))
put("safetensors", "zero_size", safetensors({"e": np.zeros((0, 4), np.uint8)}))

# ---- .npy ---------------------------------------------------------------------
rng = np.random.default_rng(1)
for dt in ["<f4", "<f8", "<f2", "|u1", "|i1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8", "|b1", "<c8"]:
    put("npy", "a" + dt.replace("<", "le").replace("|", "na"), npy((rng.standard_normal((2, 3)) * 4).astype(dt)))
put("npy", "scalar", npy(np.array(3.5, np.float32)))
put("npy", "rank1", npy(np.arange(5, dtype=np.int64)))
put("npy", "rank4_v2", npy(np.zeros((1, 2, 2, 1), np.float32), version=(2, 0)))
put("npy", "empty", npy(np.zeros((0, 3), np.float32)))

# ---- .pb ----------------------------------------------------------------------
for name, arr in [("f32", np.arange(6, dtype=np.float32).reshape(2, 3)), ("i64", np.arange(4, dtype=np.int64)),
                  ("f16", np.ones((3,), np.float16)), ("bool", np.array([True, False])),
                  ("u8", np.arange(5, dtype=np.uint8)), ("f64", np.array(2.5))]:
    put("pb", name, numpy_helper.from_array(arr, "t").SerializeToString())
put("pb", "typed_floats", helper.make_tensor("t", f32, [2, 2], [1, 2, 3, 4]).SerializeToString())
put("pb", "typed_int32", helper.make_tensor("t", TensorProto.INT32, [3], [1, -2, 3]).SerializeToString())
put("pb", "strings", helper.make_tensor("s", TensorProto.STRING, [2], [b"ab", b"c"]).SerializeToString())
int4 = TensorProto(name="q", data_type=22,  # INT4 (newer than this onnx)
                    dims=[3], raw_data=bytes([0x21, 0x0f]))
put("pb", "int4_raw", int4.SerializeToString())

# ---- raw (3 header bytes, see fuzz_raw.c, then the file) ------------------------
def raw_seed(kind, dtype, dims, body):
    return bytes([kind, dtype, len(dims) + 1] + list(dims)) + body
put("raw", "f32_2x3", raw_seed(0, 1, [2, 3], np.ones(6, np.float32).tobytes()))
put("raw", "u8_scalar", raw_seed(0, 2, [], b"\x07"))
put("raw", "dynamic", raw_seed(0, 1, [0xff, 2], np.ones(2, np.float32).tobytes()))
put("raw", "npy_match", raw_seed(1, 1, [2, 3], npy(np.ones((2, 3), np.float32))))
put("raw", "pb_match", raw_seed(2, 7, [4], numpy_helper.from_array(np.arange(4, dtype=np.int64)).SerializeToString()))
put("raw", "npy_nodecl", bytes([1, 0, 0]) + npy(np.ones((3,), np.int32)))

# ---- input_list.txt -------------------------------------------------------------
put("input_list", "plain", "a.raw b.raw\nc.raw d.raw\n")
put("input_list", "named", "#comment\n\ninput:=x/0.raw other:=/abs/1.npy\n  input:=y.pb\tother:=z.raw\r\n")
put("input_list", "odd", ":=a\nname:=\n" + "p " * 40 + "\n")

# ---- encodings ---------------------------------------------------------------------
enc = {"bitwidth": 8, "dtype": "int", "is_symmetric": "False", "max": 2.0, "min": -1.0,
       "offset": -85, "scale": 0.0117647}
put("encodings", "v061", json.dumps({"version": "0.6.1",
    "activation_encodings": {"/conv1/Conv_output_0": [enc], "input": [enc]},
    "param_encodings": {"conv1.weight": [dict(enc, is_symmetric="True", offset=-128)] * 4},
    "excluded_layers": []}))
put("encodings", "v100", json.dumps({"version": "1.0.0",
    "activation_encodings": [{"name": "/relu1/Relu_output_0", "dtype": "INT", "enc_type": "PER_TENSOR",
                              "bw": 8, "is_sym": False, "scale": [0.02], "offset": [-10]}],
    "param_encodings": [{"name": "fc.weight", "dtype": "INT", "enc_type": "PER_CHANNEL", "bw": 4,
                         "is_sym": True, "scale": [0.1] * 10, "offset": [-8] * 10},
                        {"name": "conv2.weight", "dtype": "FLOAT", "enc_type": "PER_TENSOR", "bw": 16}]}))
put("encodings", "v200", json.dumps({"version": "2.0.0", "encodings": [
    {"name": "/fc/Gemm_output_0", "output_dtype": "uint8", "y_scale": 0.1, "y_zero_point": 128},
    {"name": "conv1.weight", "output_dtype": "int8", "y_scale": [0.1, 0.2, 0.3, 0.4], "axis": 0},
    {"name": "fc.weight", "output_dtype": "int4", "y_scale": [[0.1, 0.2]] * 10, "axis": 1,
     "block_size": 4}]}))

# ---- dumps (parts: manifest, name order, t.npy, u.raw; see fuzz_dump.c) -------------
manifest = {"tool": "layerout", "version": "0.1.0", "format": "npy", "samples": 1,
            "tensors": [{"file": "t.npy", "name": "t", "node": "n", "op_type": "Relu", "dtype": "float32",
                         "shape": [2, 3]},
                        {"file": "u.raw", "name": "u/v", "node": "m", "op_type": "Conv", "dtype": "float32",
                         "shape": [1, 2, 2, 2]}]}
arr = rng.standard_normal((2, 3)).astype(np.float32)
put("dump", "layerout", json.dumps(manifest).encode() + SEP + SEP + npy(arr) + SEP +
    rng.standard_normal(8).astype(np.float32).tobytes())
put("dump", "aimet", SEP + json.dumps({"layer_output_names": ["t", "u"]}).encode() + SEP + npy(arr) + SEP +
    np.zeros(4, np.int32).tobytes())
put("dump", "qnn_flat", SEP + SEP + npy(arr) + SEP + np.ones(3, np.float32).tobytes())
# multi-sample dumps (parts 4-6: sample 1 t.npy, sample 1 u.raw, sample 2 u.raw; part 7: flags
# writing files empty): a short later file, an empty one, a missing one
manifest3 = dict(manifest, samples=3)
u = rng.standard_normal(8).astype(np.float32).tobytes()
head = json.dumps(manifest3).encode() + SEP + SEP + npy(arr) + SEP + u + SEP + npy(arr) + SEP
put("dump", "multi_short", head + u[:12] + SEP + u)
put("dump", "multi_empty", head + u + SEP + u + SEP + bytes([1 << 6, 1 << 5]))
put("dump", "multi_missing", head + u + SEP + SEP + bytes([0, 0]))
print("corpus written to", root)
