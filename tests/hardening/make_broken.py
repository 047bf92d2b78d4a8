#!/usr/bin/env python3
"""Writes the hardening fixtures into OUT: broken models, broken encodings,
broken input files and the models the interruption tests run. Nothing here
is committed; test_hardening.py calls this first.

Each broken model is OUT/models/NAME.onnx; OUT/models/expect.json says, per
model, whether it must fail ("fail") or may load when truncation happens to
fall on a field boundary ("fail_or_ok"), and which input file to give it.

Usage: make_broken.py OUT"""
import json
import os
import random
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper

OUT = sys.argv[1]
MODELS = os.path.join(OUT, "models")
os.makedirs(MODELS, exist_ok=True)
os.makedirs(os.path.join(OUT, "inputs"), exist_ok=True)
os.makedirs(os.path.join(OUT, "encodings"), exist_ok=True)
expect = {}
f32 = TensorProto.FLOAT


def write(path, data):
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def graph_model(nodes, inputs, outputs, inits=(), opset=13, **kw):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits), **kw)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def save(name, model, how="fail", input_file="x23.npy"):
    data = model if isinstance(model, bytes) else model.SerializeToString()
    write(os.path.join(MODELS, name + ".onnx"), data)
    expect[name] = {"expect": how, "input": input_file}


X = helper.make_tensor_value_info("x", f32, [2, 3])
Y = helper.make_tensor_value_info("y", f32, None)
np.save(os.path.join(OUT, "inputs", "x23.npy"), np.arange(6, dtype=np.float32).reshape(2, 3))

# ---- a valid base model: the one truncated below ------------------------------
w = numpy_helper.from_array(np.linspace(-1, 1, 9, dtype=np.float32).reshape(3, 3), "w")
b = numpy_helper.from_array(np.ones(3, np.float32), "b")
base = graph_model([helper.make_node("MatMul", ["x", "w"], ["mm"], name="mm"),
                    helper.make_node("Add", ["mm", "b"], ["add"], name="add"),
                    helper.make_node("Relu", ["add"], ["y"], name="relu")], [X], [Y], [w, b])
base_bytes = base.SerializeToString()
write(os.path.join(OUT, "base.onnx"), base_bytes)


def field_boundaries(data):
    """Offsets where a top-level protobuf field ends: a file cut there is a
    shorter but well-formed message, which may legitimately load."""
    ends, i = {0}, 0

    def varint(i):
        v, s = 0, 0
        while True:
            c = data[i]
            v |= (c & 0x7F) << s
            i += 1
            s += 7
            if not c & 0x80:
                return v, i

    while i < len(data):
        key, i = varint(i)
        wt = key & 7
        if wt == 0:
            _, i = varint(i)
        elif wt == 1:
            i += 8
        elif wt == 2:
            n, i = varint(i)
            i += n
        elif wt == 5:
            i += 4
        ends.add(i)
    return ends


bounds = field_boundaries(base_bytes)
offsets = sorted(set(list(range(1, 24)) + list(range(24, len(base_bytes), max(1, len(base_bytes) // 60)))
                     + [len(base_bytes) - k for k in (1, 2, 3, 5, 8)]))
for off in offsets:
    save("truncated_%04d" % off, base_bytes[:off], "fail_or_ok" if off in bounds else "fail")
save("empty_file", b"")
rng = random.Random(5)
for k in range(12):
    save("random_%02d" % k, bytes(rng.randrange(256) for _ in range(rng.choice([1, 7, 64, 500, 4096]))))
# random bytes behind a valid-looking start
save("garbage_tail", base_bytes[:40] + bytes(rng.randrange(256) for _ in range(300)))
save("not_onnx_text", b"this is not a model\n" * 10)

# ---- structure -------------------------------------------------------------------
save("cyclic_graph", graph_model([helper.make_node("Add", ["x", "b2"], ["a"], name="n1"),
                                  helper.make_node("Relu", ["a"], ["b2"], name="n2"),
                                  helper.make_node("Identity", ["a"], ["y"], name="n3")], [X], [Y]))
save("self_loop", graph_model([helper.make_node("Add", ["x", "y"], ["y"], name="selfish")], [X], [Y]))
save("dangling_input", graph_model([helper.make_node("Add", ["x", "nowhere"], ["y"])], [X], [Y]))
save("dangling_output", graph_model([helper.make_node("Relu", ["x"], ["r"])], [X], [Y]))
save("duplicate_node_output", graph_model([helper.make_node("Relu", ["x"], ["y"], name="a"),
                                           helper.make_node("Neg", ["x"], ["y"], name="b")], [X], [Y]))
save("duplicate_initializer", graph_model([helper.make_node("Add", ["x", "b"], ["y"])], [X], [Y], [b, b]))
save("duplicate_input", graph_model([helper.make_node("Relu", ["x"], ["y"])], [X, X], [Y]))
save("output_shadows_input", graph_model([helper.make_node("Relu", ["x"], ["x"])], [X],
                                         [helper.make_tensor_value_info("x", f32, None)]))
save("no_op_type", graph_model([helper.make_node("", ["x"], ["y"])], [X], [Y]))
save("unknown_op", graph_model([helper.make_node("NoSuchOp", ["x"], ["y"])], [X], [Y]))
save("future_opset", graph_model([helper.make_node("Relu", ["x"], ["y"])], [X], [Y], opset=10000))
m = graph_model([helper.make_node("Relu", ["x"], ["y"])], [X], [Y])
m.ClearField("graph")
save("no_graph", m)

# ---- sizes ---------------------------------------------------------------------------
neg = TensorProto(name="b", data_type=f32, dims=[-1, 3])
save("negative_initializer_dims", graph_model([helper.make_node("Add", ["x", "b"], ["y"])], [X], [Y], [neg]))
huge = TensorProto(name="b", data_type=f32, dims=[1 << 40, 1 << 40])
save("enormous_initializer_dims", graph_model([helper.make_node("Add", ["x", "b"], ["y"])], [X], [Y], [huge]))
big = TensorProto(name="b", data_type=f32, dims=[1 << 20, 1 << 20], raw_data=b"\0" * 16)
save("large_initializer_no_data", graph_model([helper.make_node("Add", ["x", "b"], ["y"])], [X], [Y], [big]))
rank9 = TensorProto(name="b", data_type=f32, dims=[1] * 9, float_data=[1.0])
save("rank9_initializer", graph_model([helper.make_node("Add", ["x", "b"], ["y"])], [X], [Y], [rank9]))
short_raw = TensorProto(name="b", data_type=f32, dims=[2, 3], raw_data=b"\0" * 20)
save("initializer_raw_short", graph_model([helper.make_node("Add", ["x", "b"], ["y"])], [X], [Y], [short_raw]))
short_typed = TensorProto(name="b", data_type=f32, dims=[2, 3], float_data=[1.0, 2.0])
save("initializer_typed_short", graph_model([helper.make_node("Add", ["x", "b"], ["y"])], [X], [Y], [short_typed]))
long_typed = TensorProto(name="b", data_type=TensorProto.INT64, dims=[2], int64_data=[1, 2, 3])
save("initializer_typed_long", graph_model([helper.make_node("Add", ["x", "b"], ["y"])], [X], [Y], [long_typed]))
sparse = helper.make_sparse_tensor(numpy_helper.from_array(np.ones(2, np.float32), "b"),
                                   numpy_helper.from_array(np.array([0, 99], np.int64), "i"), [2, 3])
save("sparse_index_out_of_range", graph_model([helper.make_node("Add", ["x", "b"], ["y"])], [X], [Y],
                                              sparse_initializer=[sparse]))
sparse_huge = helper.make_sparse_tensor(numpy_helper.from_array(np.ones(1, np.float32), "b"),
                                        numpy_helper.from_array(np.array([0], np.int64), "i"), [1 << 22, 1 << 22])
save("sparse_enormous_dense", graph_model([helper.make_node("Add", ["x", "b"], ["y"])], [X], [Y],
                                          sparse_initializer=[sparse_huge]))
# kernels asked for absurd outputs: must be refused before any allocation
shape = numpy_helper.from_array(np.array([1 << 20, 1 << 20, 1 << 10], np.int64), "s")
save("constant_of_shape_enormous", graph_model(
    [helper.make_node("ConstantOfShape", ["s"], ["c"]), helper.make_node("Add", ["x", "c"], ["y"])],
    [X], [Y], [shape]))
shape_neg = numpy_helper.from_array(np.array([-5, 3], np.int64), "s")
save("constant_of_shape_negative", graph_model(
    [helper.make_node("ConstantOfShape", ["s"], ["c"]), helper.make_node("Add", ["x", "c"], ["y"])],
    [X], [Y], [shape_neg]))
# 16 GiB: representable, so only the allocation can refuse it (run under ulimit -v)
shape16 = numpy_helper.from_array(np.array([1 << 16, 1 << 16], np.int64), "s")
save("constant_of_shape_16g", graph_model(
    [helper.make_node("ConstantOfShape", ["s"], ["c"]), helper.make_node("Add", ["x", "c"], ["y"])],
    [X], [Y], [shape16]))
reps = numpy_helper.from_array(np.array([1 << 31, 1 << 31], np.int64), "r")
save("tile_enormous", graph_model([helper.make_node("Tile", ["x", "r"], ["y"])], [X], [Y], [reps]))
exp_shape = numpy_helper.from_array(np.array([1 << 62, 2, 3], np.int64), "s")
save("expand_overflow", graph_model([helper.make_node("Expand", ["x", "s"], ["y"])], [X], [Y], [exp_shape]))
# a negative declared dim is read as dynamic (the file's shape is used)
save("input_negative_dim", graph_model([helper.make_node("Relu", ["x"], ["y"])],
                                       [helper.make_tensor_value_info("x", f32, [-7, 3])], [Y]), "fail_or_ok")

# ---- external data ------------------------------------------------------------------------
write(os.path.join(MODELS, "weights.bin"), np.ones(3, np.float32).tobytes())


def ext_model(location, offset=None, length=None):
    t = TensorProto(name="b", data_type=f32, dims=[3])
    t.data_location = TensorProto.EXTERNAL
    t.external_data.add(key="location", value=location)
    if offset is not None:
        t.external_data.add(key="offset", value=str(offset))
    if length is not None:
        t.external_data.add(key="length", value=str(length))
    return graph_model([helper.make_node("Add", ["x", "b"], ["y"])], [helper.make_tensor_value_info("x", f32, [3])],
                       [Y], [t])


np.save(os.path.join(OUT, "inputs", "x3.npy"), np.arange(3, dtype=np.float32))
save("external_ok", ext_model("weights.bin"), "ok", "x3.npy")
save("external_dotdot", ext_model("../models/weights.bin"), "fail", "x3.npy")
save("external_dotdot_deep", ext_model("sub/../../../../etc/passwd"), "fail", "x3.npy")
save("external_absolute", ext_model("/etc/passwd"), "fail", "x3.npy")
save("external_missing", ext_model("no_such_file.bin"), "fail", "x3.npy")
save("external_offset_past_end", ext_model("weights.bin", offset=1 << 40), "fail", "x3.npy")
save("external_length_wrong", ext_model("weights.bin", length=4), "fail", "x3.npy")
save("external_offset_negative", ext_model("weights.bin", offset=-8), "fail", "x3.npy")
save("external_offset_not_number", ext_model("weights.bin", offset="12abc"), "fail", "x3.npy")
save("external_directory", ext_model("."), "fail", "x3.npy")

# ---- dtypes -------------------------------------------------------------------------------
unk = TensorProto(name="b", data_type=99, dims=[3], raw_data=b"\0" * 12)
save("unknown_dtype_initializer", graph_model([helper.make_node("Add", ["x", "b"], ["y"])], [X], [Y], [unk]))
save("unknown_dtype_input", graph_model([helper.make_node("Relu", ["x"], ["y"])],
                                        [helper.make_tensor_value_info("x", 99, [2, 3])], [Y]))
save("string_raw_data", graph_model([helper.make_node("Identity", ["b"], ["y"])], [X], [Y],
                                    [TensorProto(name="b", data_type=TensorProto.STRING, dims=[1], raw_data=b"abcd")]))
save("cast_to_unknown", graph_model([helper.make_node("Cast", ["x"], ["y"], to=99)], [X], [Y]))

# ---- absurd attribute values -------------------------------------------------------------------
X4 = helper.make_tensor_value_info("x", f32, [1, 1, 4, 4])
np.save(os.path.join(OUT, "inputs", "x1144.npy"), np.ones((1, 1, 4, 4), np.float32))
wconv = numpy_helper.from_array(np.ones((1, 1, 3, 3), np.float32), "w")
for name, attrs in [("conv_strides_zero", {"strides": [0, 0]}),
                    ("conv_strides_huge", {"strides": [1 << 62, 1 << 62]}),
                    ("conv_pads_negative_huge", {"pads": [-(1 << 40)] * 4}),
                    ("conv_pads_huge", {"pads": [1 << 40] * 4}),
                    ("conv_dilations_huge", {"dilations": [1 << 62, 1 << 62]}),
                    ("conv_group_zero", {"group": 0}),
                    ("conv_group_huge", {"group": 1 << 40}),
                    ("conv_kernel_shape_wrong", {"kernel_shape": [1 << 30, 1 << 30]}),
                    ("conv_pads_wrong_count", {"pads": [1, 1, 1]})]:
    save(name, graph_model([helper.make_node("Conv", ["x", "w"], ["y"], **attrs)], [X4], [Y], [wconv]),
         "fail", "x1144.npy")
for name, attrs in [("maxpool_kernel_huge", {"kernel_shape": [1 << 40, 1 << 40]}),
                    ("maxpool_kernel_zero", {"kernel_shape": [0, 0]}),
                    ("maxpool_strides_negative", {"kernel_shape": [2, 2], "strides": [-1, -1]})]:
    save(name, graph_model([helper.make_node("MaxPool", ["x"], ["y"], **attrs)], [X4], [Y]), "fail", "x1144.npy")
for name, node in [("softmax_axis_huge", helper.make_node("Softmax", ["x"], ["y"], axis=1 << 40)),
                   ("softmax_axis_min", helper.make_node("Softmax", ["x"], ["y"], axis=-(1 << 63))),
                   ("flatten_axis_huge", helper.make_node("Flatten", ["x"], ["y"], axis=99)),
                   ("transpose_perm_out_of_range", helper.make_node("Transpose", ["x"], ["y"], perm=[0, 7])),
                   ("transpose_perm_repeated", helper.make_node("Transpose", ["x"], ["y"], perm=[1, 1])),
                   ("concat_axis_huge", helper.make_node("Concat", ["x", "x"], ["y"], axis=-(1 << 40))),
                   ("gather_axis_huge", helper.make_node("Gather", ["x", "x"], ["y"], axis=1 << 33)),
                   ("reduce_axes_huge", helper.make_node("ReduceSum", ["x"], ["y"], axes=[1 << 40], keepdims=1))]:
    save(name, graph_model([node], [X], [Y], opset=11 if node.op_type == "ReduceSum" else 13))
split = numpy_helper.from_array(np.array([1 << 40, -(1 << 40) + 3], np.int64), "sp")
save("split_sizes_overflow", graph_model([helper.make_node("Split", ["x", "sp"], ["y", "z"], axis=1)], [X],
                                         [Y, helper.make_tensor_value_info("z", f32, None)], [split]))
idx = numpy_helper.from_array(np.array([0, 1 << 40], np.int64), "i")
save("gather_index_out_of_range", graph_model([helper.make_node("Gather", ["x", "i"], ["y"])], [X], [Y], [idx]))
rshape = numpy_helper.from_array(np.array([-1, -1], np.int64), "s")
save("reshape_two_minus_ones", graph_model([helper.make_node("Reshape", ["x", "s"], ["y"])], [X], [Y], [rshape]))
rshape2 = numpy_helper.from_array(np.array([1 << 62, 4], np.int64), "s")
save("reshape_overflow", graph_model([helper.make_node("Reshape", ["x", "s"], ["y"])], [X], [Y], [rshape2]))
trip = numpy_helper.from_array(np.array(-5, np.int64), "n")
body = helper.make_graph([helper.make_node("Identity", ["c"], ["c2"]), helper.make_node("Identity", ["v"], ["v2"])],
                         "body", [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                                  helper.make_tensor_value_info("c", TensorProto.BOOL, []),
                                  helper.make_tensor_value_info("v", f32, None)],
                         [helper.make_tensor_value_info("c2", TensorProto.BOOL, []),
                          helper.make_tensor_value_info("v2", f32, None)])
save("loop_negative_trip", graph_model([helper.make_node("Loop", ["n", "", "x"], ["y"], body=body)], [X], [Y], [trip]),
     "fail_or_ok")

# ---- hostile tensor names: must stay inside the output folder (these run) ----------------------
names = ["../../escape", "/abs/escape", "a/../../b", "..", ".", "con\\back", "nul\x01byte", "x" * 300, "\u00e9t\u00e9"]
nodes, prev = [], "x"
for i, n in enumerate(names):
    nodes.append(helper.make_node("Relu", [prev], [n], name="../node%d" % i))
    prev = n
nodes.append(helper.make_node("Identity", [prev], ["y"]))
save("hostile_names", graph_model(nodes, [X], [Y]), "ok")

write(os.path.join(MODELS, "expect.json"), json.dumps(expect, indent=1))

# ---- broken encodings (for base.onnx: tensors x, w, b, mm, add, y) ------------------------------
good = {"bitwidth": 8, "dtype": "int", "is_symmetric": "False", "max": 1.0, "min": -1.0, "offset": -128,
        "scale": 2 / 255}
encs = {
    "truncated": json.dumps({"version": "0.6.1", "activation_encodings": {"mm": [good]}})[:40],
    "not_json": "version: 0.6.1\n",
    "empty": "",
    "array_top": "[1, 2, 3]",
    "unknown_version": json.dumps({"version": "9.9.9", "encodings": []}),
    "v061_bitwidth_zero": json.dumps({"version": "0.6.1", "activation_encodings": {"mm": [dict(good, bitwidth=0)]},
                                      "param_encodings": {}}),
    "v061_bitwidth_huge": json.dumps({"version": "0.6.1", "activation_encodings": {"mm": [dict(good, bitwidth=1000)]},
                                      "param_encodings": {}}),
    "v061_scale_zero": json.dumps({"version": "0.6.1", "activation_encodings": {"mm": [dict(good, scale=0.0)]},
                                   "param_encodings": {}}),
    "v061_scale_negative": json.dumps({"version": "0.6.1", "activation_encodings": {"mm": [dict(good, scale=-1.0)]},
                                       "param_encodings": {}}),
    "v061_scale_string": json.dumps({"version": "0.6.1", "activation_encodings": {"mm": [dict(good, scale="big")]},
                                     "param_encodings": {}}),
    "v061_not_list": json.dumps({"version": "0.6.1", "activation_encodings": {"mm": good}, "param_encodings": {}}),
    "v061_channels_mismatch": json.dumps({"version": "0.6.1", "activation_encodings": {},
                                          "param_encodings": {"w": [good] * 7}}),
    "v100_scale_offset_mismatch": json.dumps({"version": "1.0.0", "activation_encodings": [
        {"name": "mm", "dtype": "INT", "enc_type": "PER_TENSOR", "bw": 8, "is_sym": False, "scale": [0.1],
         "offset": []}], "param_encodings": []}),
    "v100_enc_type_unknown": json.dumps({"version": "1.0.0", "activation_encodings": [
        {"name": "mm", "dtype": "INT", "enc_type": "PER_GALAXY", "bw": 8, "is_sym": False, "scale": [0.1],
         "offset": [0]}], "param_encodings": []}),
    "v100_block_size_zero": json.dumps({"version": "1.0.0", "activation_encodings": [], "param_encodings": [
        {"name": "w", "dtype": "INT", "enc_type": "PER_BLOCK", "bw": 4, "is_sym": True, "scale": [0.1] * 3,
         "offset": [-8] * 3, "block_size": 0}]}),
    "v100_block_size_huge": json.dumps({"version": "1.0.0", "activation_encodings": [], "param_encodings": [
        {"name": "w", "dtype": "INT", "enc_type": "PER_BLOCK", "bw": 4, "is_sym": True, "scale": [0.1] * 3,
         "offset": [-8] * 3, "block_size": 1 << 62}]}),
    "v200_axis_huge": json.dumps({"version": "2.0.0", "encodings": [
        {"name": "w", "output_dtype": "int8", "y_scale": [0.1, 0.1, 0.1], "axis": 1 << 40}]}),
    "v200_dtype_unknown": json.dumps({"version": "2.0.0", "encodings": [
        {"name": "mm", "output_dtype": "int77", "y_scale": 0.1}]}),
    "v200_scale_nan": '{"version": "2.0.0", "encodings": [{"name": "mm", "output_dtype": "uint8", "y_scale": NaN}]}',
    "deep_nesting": "[" * 100000 + "]" * 100000,
}
for k, v in encs.items():
    write(os.path.join(OUT, "encodings", k + ".json"), v)

# ---- broken input files (for base.onnx, input x: float32 [2, 3]) ----------------------------------
ind = os.path.join(OUT, "inputs")
good_npy = open(os.path.join(ind, "x23.npy"), "rb").read()
bad_inputs = {
    "truncated.npy": good_npy[:-5],
    "header_only.npy": good_npy[:20],
    "bad_magic.npy": b"\x92NUMPY" + good_npy[6:],
    "header_len_huge.npy": good_npy[:8] + b"\xff\xff" + good_npy[10:],
    "version_9.npy": good_npy[:6] + b"\x09\x00" + good_npy[8:],
    "fortran.npy": good_npy.replace(b"'fortran_order': False", b"'fortran_order': True "),
    "big_endian.npy": good_npy.replace(b"'<f4'", b"'>f4'"),
    "wrong_dtype.npy": None,
    "wrong_shape.npy": None,
    "negative_shape.npy": good_npy.replace(b"(2, 3)", b"(-2,-3)"),
    "huge_shape.npy": good_npy.replace(b"(2, 3)", b"(9999999999999999999999, 3)"[:6] + b")"),
    "shape_overflow.npy": good_npy.replace(b"(2, 3), }", b"(4294967296, 4294967296, 4294967296,), }")[:len(good_npy)],
    "empty.npy": b"",
    "garbage.pb": bytes(random.Random(3).randrange(256) for _ in range(100)),
    "truncated.pb": numpy_helper.from_array(np.ones((2, 3), np.float32), "x").SerializeToString()[:-3],
    "wrong_shape.pb": numpy_helper.from_array(np.ones((3, 2), np.float32), "x").SerializeToString(),
    "short.raw": b"\0" * 23,
    "long.raw": b"\0" * 25,
    "empty.raw": b"",
}
np.save(os.path.join(ind, "wrong_dtype.npy"), np.ones((2, 3), np.int32))
np.save(os.path.join(ind, "wrong_shape.npy"), np.ones((3, 2), np.float32))
for k, v in bad_inputs.items():
    if v is not None:
        write(os.path.join(ind, k), v)
os.makedirs(os.path.join(ind, "a_directory.npy"), exist_ok=True)

# ---- the interruption tests' model: enough work per sample to be killed mid-sample --------------
H = 384
layers, prev, inits = [], "x", []
r = np.random.default_rng(11)
for i in range(8):
    wi = numpy_helper.from_array((r.standard_normal((H, H)) / np.sqrt(H)).astype(np.float32), "w%d" % i)
    inits.append(wi)
    layers.append(helper.make_node("MatMul", [prev, "w%d" % i], ["mm%d" % i], name="mm%d" % i))
    layers.append(helper.make_node("Tanh", ["mm%d" % i], ["t%d" % i], name="tanh%d" % i))
    prev = "t%d" % i
layers.append(helper.make_node("Identity", [prev], ["y"]))
heavy = graph_model(layers, [helper.make_tensor_value_info("x", f32, [128, H])], [Y], inits)
write(os.path.join(OUT, "heavy.onnx"), heavy.SerializeToString())
os.makedirs(os.path.join(OUT, "heavy_inputs"), exist_ok=True)
with open(os.path.join(OUT, "heavy_list.txt"), "w") as f:
    for k in range(10):
        p = os.path.join(OUT, "heavy_inputs", "s%d.npy" % k)
        np.save(p, r.standard_normal((128, H)).astype(np.float32))
        f.write(p + "\n")
print("fixtures in", OUT)
