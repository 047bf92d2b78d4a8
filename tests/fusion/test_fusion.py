"""Fusion where intermediates are unsaved: tests/fusion/run.sh BUILD_DIR VENV_PYTHON.

For each pattern the run loop fuses (Conv+activation, Conv+Add+Relu, MatMul/Gemm
+ bias, residual Add, Sigmoid x Mul, GELU's Div/Erf/Add/Mul/Mul, a Transpose
folded into MatMul, reshapes taking their input's block, and chains whose
broadcast the fused path refuses) a small model is built with onnx.helper and
run these ways by `layerout generate`:

  all      every tensor saved: nothing may be fused (the unfused reference);
  outputs  only the graph outputs saved (--layers): the intermediates fuse;
  some     the graph outputs and a few intermediates inside the chains saved;
  nofuse   as outputs, with --no-fusion (and as outputs with
           --reference-kernels, which implies it).

Checks: every tensor saved by `outputs`, `some` and `nofuse` is bit for bit the one
`all` saved; `all` agrees with ONNX Runtime on every tensor; the order of
the saved names is `all`'s order filtered; and the profile's fusion line says
the fused path was taken where expected (and never in `all`), so the test
fails if fusion silently stops happening, and says nothing fused (0, 0, 0)
with --no-fusion and --reference-kernels.
"""

import json
import os
import re
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

BIN, WORK = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(16)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import Tally  # noqa: E402

tally = Tally()
check = tally.check


def init(name, arr):
    return numpy_helper.from_array(np.asarray(arr, dtype=np.float32), name)


def rand(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def model(name, nodes, inputs, outputs, inits, opset=17):
    g = helper.make_graph(nodes, name,
                          [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
                          [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outputs],
                          inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8

    return m


N = helper.make_node
CASES = []


def case(name, m, feeds, some, expect):
    """expect: minimum (chains, folded, reshapes) of the `outputs` run; a
    negative chains value means exactly 0 (a refused chain that must fall back)."""
    CASES.append((name, m, feeds, some, expect))


# Conv + Relu, Conv + Clip(0, 6) with bounds as inputs, Conv + LeakyRelu
case("conv_activations", model("conv_act", [
    N("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
    N("Relu", ["c1"], ["r1"]),
    N("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
    N("Clip", ["c2", "lo", "hi"], ["k2"]),
    N("Conv", ["k2", "w3"], ["c3"]),
    N("LeakyRelu", ["c3"], ["y"], alpha=0.1),
], [("x", [1, 16, 12, 12])], ["y"], [
    init("w1", rand(32, 16, 3, 3, scale=0.2)), init("b1", rand(32)),
    init("w2", rand(32, 32, 3, 3, scale=0.2)), init("b2", rand(32)),
    init("lo", 0.0), init("hi", 6.0), init("w3", rand(16, 32, 1, 1, scale=0.3))]),
    {"x": rand(1, 16, 12, 12)}, ["c1", "k2"], (3, 0, 0))

# Clip's bounds from Constant nodes that come after the Conv (as PyTorch
# exports ReLU6), one pair of them shared by two Clips: the Constants run with
# the chain's head; a third Clip reads a bound made by a Relu after the head,
# which cannot run early, so that chain must stay unfused
case("clip_late_constants", model("clip_late", [
    N("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
    N("Constant", [], ["lo"], value=helper.make_tensor("lo_v", TensorProto.FLOAT, [], [0.0])),
    N("Constant", [], ["hi"], value=helper.make_tensor("hi_v", TensorProto.FLOAT, [], [6.0])),
    N("Clip", ["c1", "lo", "hi"], ["k1"]),
    N("Conv", ["k1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
    N("Clip", ["c2", "lo", "hi"], ["k2"]),
    N("Conv", ["k2", "w3"], ["c3"]),
    N("Relu", ["h0"], ["h1"]),
    N("Clip", ["c3", "lo", "h1"], ["y"]),
], [("x", [1, 8, 12, 12]), ("h0", [])], ["y"], [
    init("w1", rand(16, 8, 3, 3, scale=0.3)), init("b1", rand(16)),
    init("w2", rand(16, 16, 3, 3, scale=0.2)), init("b2", rand(16)),
    init("w3", rand(8, 16, 1, 1, scale=0.3))]),
    {"x": rand(1, 8, 12, 12, scale=3.0), "h0": np.array(2.5, np.float32)}, ["c1"], (2, 0, 0))

# Convolutions passing unsaved tensors in oneDNN's blocked layout: inverted
# residual blocks (1x1 expand, ReLU6, depthwise 3x3 strided and not, ReLU6,
# 1x1 project), batch 2; SiLU chains; a squeeze-excitation (its pooling and
# gate Mul read the depthwise output blocked); 24 channels (no 16-channel
# blocks); a 1-D convolution pair; a blocked output read by two convolutions;
# a Conv whose chain adds a whole tensor (not a single value: stays NCHW)
S = lambda name, v: init(name, np.float32(v))
case("conv_blocked", model("conv_blk", [
    N("Conv", ["x", "we"], ["e1"], pads=[0, 0, 0, 0]),
    N("Clip", ["e1", "c0", "c6"], ["e2"]),
    N("Conv", ["e2", "wd", "bd"], ["d1"], pads=[1, 1, 1, 1], strides=[2, 2], group=32),
    N("Clip", ["d1", "c0", "c6"], ["d2"]),
    N("Conv", ["d2", "wp"], ["p1"]),
    N("Conv", ["p1", "we2"], ["f1"]),
    N("Sigmoid", ["f1"], ["f2"]),
    N("Mul", ["f1", "f2"], ["f3"]),
    N("Conv", ["f3", "wd2"], ["g1"], pads=[1, 1, 1, 1], group=48),
    N("Sigmoid", ["g1"], ["g2"]),
    N("Mul", ["g1", "g2"], ["g3"]),
    N("GlobalAveragePool", ["g3"], ["se1"]),
    N("Conv", ["se1", "ws1"], ["se2"]),
    N("Sigmoid", ["se2"], ["se3"]),
    N("Mul", ["g3", "se3"], ["h1"]),
    N("Conv", ["h1", "w24"], ["k1"]),
    N("Relu", ["k1"], ["k2"]),
    N("Conv", ["k2", "w24b"], ["k3"], pads=[1, 1, 1, 1]),
    N("Conv", ["k3", "wa"], ["m1"]),
    N("Conv", ["m1", "wb"], ["m2"], pads=[1, 1, 1, 1]),
    N("Conv", ["m1", "wc"], ["m3"]),
    N("Add", ["m2", "m3"], ["m4"]),
    N("Conv", ["m4", "wr"], ["r1"]),
    N("Add", ["r1", "m4"], ["r2"]),
    N("Conv", ["r2", "wz"], ["y"]),
    N("Reshape", ["y", "shp"], ["y1d"]),
    N("Conv", ["y1d", "w1a"], ["q1"], pads=[1, 1]),
    N("Relu", ["q1"], ["q2"]),
    N("Conv", ["q2", "w1b"], ["y2"], pads=[1, 1], strides=[2]),
], [("x", [2, 16, 14, 14])], ["y", "y2"], [
    init("we", rand(32, 16, 1, 1, scale=0.25)), S("c0", 0.0), S("c6", 6.0),
    init("wd", rand(32, 1, 3, 3, scale=0.333)), init("bd", rand(32)),
    init("wp", rand(16, 32, 1, 1, scale=0.177)), init("we2", rand(48, 16, 1, 1, scale=0.25)),
    init("wd2", rand(48, 1, 3, 3, scale=0.333)), init("ws1", rand(48, 48, 1, 1, scale=0.144)),
    init("w24", rand(24, 48, 1, 1, scale=0.144)), init("w24b", rand(32, 24, 3, 3, scale=0.068)),
    init("wa", rand(32, 32, 1, 1, scale=0.177)), init("wb", rand(32, 32, 3, 3, scale=0.059)),
    init("wc", rand(32, 32, 1, 1, scale=0.177)), init("wr", rand(32, 32, 1, 1, scale=0.177)),
    init("wz", rand(16, 32, 1, 1, scale=0.177)), numpy_helper.from_array(np.array([2, 16, 49], np.int64), "shp"),
    init("w1a", rand(32, 16, 3, scale=0.144)), init("w1b", rand(16, 32, 3, scale=0.102))]),
    {"x": rand(2, 16, 14, 14, scale=2.0)}, ["d1"], (8, 0, 0))

# Squeeze-excitations held blocked: the pooling sums the blocked channels
# (49 and 196 positions: lane tails) in NCHW's order, the gate Mul scales
# them; the gate first or second, per sample ([2, C, 1, 1]) or shared (an
# initializer [C, 1, 1]); a Mul whose "gate" is a spatial map must fall back
# to NCHW at run time; the pooled values and the gate saved in `some`
case("squeeze_excitation", model("se", [
    N("Conv", ["x", "we"], ["e1"]),
    N("Sigmoid", ["e1"], ["e2"]),
    N("Mul", ["e1", "e2"], ["e3"]),
    N("Conv", ["e3", "wd"], ["d1"], pads=[1, 1, 1, 1], group=32),
    N("Sigmoid", ["d1"], ["d2"]),
    N("Mul", ["d1", "d2"], ["d3"]),
    N("GlobalAveragePool", ["d3"], ["p"]),
    N("Conv", ["p", "w1", "b1"], ["s1"]),
    N("Relu", ["s1"], ["s2"]),
    N("Conv", ["s2", "w2", "b2"], ["s3"]),
    N("Sigmoid", ["s3"], ["gate"]),
    N("Mul", ["gate", "d3"], ["m"]),
    N("Conv", ["m", "wp"], ["y1"]),
    N("Conv", ["y1", "wf"], ["f1"]),
    N("Relu", ["f1"], ["f2"]),
    N("Conv", ["f2", "wfd"], ["f3"], pads=[1, 1, 1, 1], strides=[2, 2], group=48),
    N("GlobalAveragePool", ["f3"], ["q"]),
    N("Mul", ["f3", "gi"], ["m2"]),
    N("Conv", ["m2", "wq"], ["y2"]),
    N("Conv", ["y2", "wg"], ["g1"]),
    N("Relu", ["g1"], ["g2"]),
    N("GlobalAveragePool", ["g2"], ["y4"]),
    N("Mul", ["g2", "sp"], ["m3"]),
    N("Conv", ["m3", "wz"], ["y5"]),
], [("x", [2, 16, 14, 14]), ("sp", [2, 1, 7, 7])], ["q", "y4", "y5"], [
    init("we", rand(32, 16, 1, 1, scale=0.25)), init("wd", rand(32, 1, 3, 3, scale=0.333)),
    init("w1", rand(8, 32, 1, 1, scale=0.177)), init("b1", rand(8)),
    init("w2", rand(32, 8, 1, 1, scale=0.35)), init("b2", rand(32)),
    init("wp", rand(16, 32, 1, 1, scale=0.177)), init("wf", rand(48, 16, 1, 1, scale=0.25)),
    init("wfd", rand(48, 1, 3, 3, scale=0.333)), init("gi", rand(48, 1, 1)),
    init("wq", rand(16, 48, 1, 1, scale=0.144)), init("wg", rand(32, 16, 1, 1, scale=0.25)),
    init("wz", rand(16, 32, 1, 1, scale=0.177))]),
    {"x": rand(2, 16, 14, 14, scale=2.0), "sp": rand(2, 1, 7, 7)}, ["p", "s3"], (6, 0, 0))
# e3, d3 and m (the first block), y1, f2, f3 and m2 (the second), y2 and g2
# (the third, whose Mul falls back)

# Elementwise nodes between Convs on blocked values: chains whose Add reads
# the other branch blocked (a residual block's identity, a Mul by a single
# value, a 1-D pair), a Sigmoid and a Sub of it, pooling of a blocked Sub;
# nodes that run by themselves on blocked operands (an Add of two Conv
# outputs each read again elsewhere, a Sigmoid of it); an Add of a graph
# input (NCHW) keeps its Conv in NCHW; 24 channels mixed in (no 16-channel
# blocks: that Add reads NCHW); in `some` two of the blocked values are
# saved, so they must stay NCHW
case("elementwise_blocked", model("ew_blk", [
    N("Conv", ["x", "w0"], ["c0"], pads=[1, 1, 1, 1]),
    N("Relu", ["c0"], ["r0"]),
    N("Conv", ["r0", "w1"], ["c1"], pads=[1, 1, 1, 1]),
    N("Relu", ["c1"], ["r1"]),
    N("Conv", ["r1", "w2"], ["c2"], pads=[1, 1, 1, 1]),
    N("Add", ["c2", "r0"], ["a2"]),
    N("Relu", ["a2"], ["r2"]),
    N("Conv", ["r2", "w3"], ["c3"]),
    N("Mul", ["c3", "half"], ["m3"]),
    N("Conv", ["r2", "w3b"], ["c3b"]),
    N("Add", ["m3", "c3b"], ["a3"]),
    N("Sigmoid", ["a3"], ["s3"]),
    N("Sub", ["a3", "s3"], ["t3"]),
    N("Conv", ["t3", "w4"], ["y"]),
    N("GlobalAveragePool", ["t3"], ["yp"]),
    N("Conv", ["r2", "w5"], ["c5"]),
    N("Add", ["c5", "xin"], ["y5"]),
    N("Conv", ["r2", "w6"], ["c6"]),
    N("Relu", ["c6"], ["r6"]),
    N("Conv", ["r6", "w7"], ["c7"]),
    N("Add", ["c7", "r6"], ["y7"]),
    N("Conv", ["z", "v0"], ["z0"], pads=[1, 1]),
    N("Conv", ["z", "v1"], ["z1"], pads=[1, 1]),
    N("Add", ["z0", "z1"], ["z2"]),
    N("Clip", ["z2", "lo", "hi"], ["z3"]),
    N("Conv", ["z3", "v2"], ["yz"]),
    N("Conv", ["r2", "w8"], ["c8"]),
    N("Conv", ["r2", "w9"], ["c9"]),
    N("Add", ["c8", "c9"], ["a8"]),
    N("Conv", ["c8", "w10"], ["y8"]),
    N("Conv", ["c9", "w10"], ["y9"]),
    N("Conv", ["a8", "w10"], ["y10"]),
    N("Sigmoid", ["a8"], ["sg"]),
    N("Conv", ["sg", "w10"], ["y11"]),
], [("x", [2, 16, 10, 10]), ("xin", [2, 16, 10, 10]), ("z", [1, 16, 20])],
    ["y", "yp", "y5", "y7", "yz", "y8", "y9", "y10", "y11"], [
    init("w8", rand(32, 32, 1, 1, scale=0.177)), init("w9", rand(32, 32, 1, 1, scale=0.177)),
    init("w10", rand(16, 32, 1, 1, scale=0.177)),
    init("w0", rand(32, 16, 3, 3, scale=0.083)), init("w1", rand(32, 32, 3, 3, scale=0.059)),
    init("w2", rand(32, 32, 3, 3, scale=0.059)), init("w3", rand(32, 32, 1, 1, scale=0.177)),
    init("half", 0.5), init("w3b", rand(32, 32, 1, 1, scale=0.177)), init("w4", rand(16, 32, 1, 1, scale=0.177)),
    init("w5", rand(16, 32, 1, 1, scale=0.177)), init("w6", rand(24, 32, 1, 1, scale=0.177)),
    init("w7", rand(24, 24, 1, 1, scale=0.2)), init("v0", rand(32, 16, 3, scale=0.144)),
    init("v1", rand(32, 16, 3, scale=0.144)), init("lo", -1.0), init("hi", 1.5),
    init("v2", rand(16, 32, 1, scale=0.177))]),
    {"x": rand(2, 16, 10, 10, scale=2.0), "xin": rand(2, 16, 10, 10), "z": rand(1, 16, 20)}, ["r2", "s3"], (4, 0, 0))
BLOCKED_MIN = {"conv_activations": 2, "clip_late_constants": 2, "conv_blocked": 9, "squeeze_excitation": 9,
               "elementwise_blocked": 11}

# a ResNet block: Conv, Relu, Conv, Add(identity), Relu; the downsample's
# Add reads a Conv that runs after the block's first Conv
case("conv_residual", model("conv_res", [
    N("Conv", ["x", "w1"], ["a1"], pads=[1, 1, 1, 1]),
    N("Relu", ["a1"], ["r1"]),
    N("Conv", ["r1", "w2"], ["a2"], pads=[1, 1, 1, 1]),
    N("Add", ["a2", "x"], ["s1"]),
    N("Relu", ["s1"], ["y1"]),
    N("Conv", ["y1", "w3"], ["a3"], pads=[1, 1, 1, 1], strides=[2, 2]),
    N("Conv", ["y1", "wd"], ["d3"], strides=[2, 2]),
    N("Add", ["d3", "a3"], ["s3"]),
    N("Relu", ["s3"], ["y"]),
], [("x", [1, 16, 10, 10])], ["y"], [
    init("w1", rand(16, 16, 3, 3, scale=0.2)), init("w2", rand(16, 16, 3, 3, scale=0.2)),
    init("w3", rand(32, 16, 3, 3, scale=0.2)), init("wd", rand(32, 16, 1, 1, scale=0.3))]),
    {"x": rand(1, 16, 10, 10)}, ["s1"], (4, 0, 0))

# MatMul + bias, + Relu; Gemm + bias; MatMul + a residual of the same shape
case("matmul_bias", model("mm_bias", [
    N("MatMul", ["x", "w"], ["m"]),
    N("Add", ["m", "b"], ["mb"]),
    N("Relu", ["mb"], ["y1"]),
    N("Gemm", ["g", "wg"], ["gm"], transB=1),
    N("Add", ["bg", "gm"], ["y2"]),
    N("MatMul", ["y1", "w2"], ["m2"]),
    N("Add", ["m2", "res"], ["y3"]),
], [("x", [2, 7, 24]), ("g", [5, 24]), ("res", [2, 7, 24])], ["y1", "y2", "y3"], [
    init("w", rand(24, 40, scale=0.2)), init("b", rand(40)), init("wg", rand(40, 24, scale=0.2)),
    init("bg", rand(1, 40)), init("w2", rand(40, 24, scale=0.2))]),
    {"x": rand(2, 7, 24), "g": rand(5, 24), "res": rand(2, 7, 24)}, ["mb"], (4, 0, 0))

# SiLU both ways round, over a graph input and over a MatMul's output
case("silu", model("silu", [
    N("Sigmoid", ["x"], ["s"]),
    N("Mul", ["x", "s"], ["y1"]),
    N("MatMul", ["x", "w"], ["m"]),
    N("Sigmoid", ["m"], ["t"]),
    N("Mul", ["t", "m"], ["y2"]),
], [("x", [3, 50])], ["y1", "y2"], [init("w", rand(50, 50, scale=0.2))]),
    {"x": rand(3, 50, scale=3)}, [], (3, 0, 0))

# SiLU inside longer chains: a Sigmoid that a later link reads again, a
# Sigmoid squared (neither may take the one-pass SiLU), and a SiLU pair between
# a bias Add and a residual Add; rows long enough for several blocks
case("silu_in_chains", model("silu_chains", [
    N("MatMul", ["x", "w1"], ["m"]),
    N("Sigmoid", ["m"], ["t"]),
    N("Mul", ["m", "t"], ["u"]),
    N("Add", ["u", "t"], ["y1"]),
    N("MatMul", ["x", "w2"], ["n"]),
    N("Sigmoid", ["n"], ["s"]),
    N("Mul", ["s", "s"], ["v"]),
    N("Mul", ["v", "n"], ["y2"]),
    N("MatMul", ["x", "w3"], ["p"]),
    N("Add", ["p", "b"], ["q"]),
    N("Sigmoid", ["q"], ["r"]),
    N("Mul", ["q", "r"], ["z"]),
    N("Add", ["z", "res"], ["y3"]),
], [("x", [2, 40, 96]), ("res", [2, 40, 96])], ["y1", "y2", "y3"], [
    init("w1", rand(96, 96, scale=0.3)), init("w2", rand(96, 96, scale=0.3)),
    init("w3", rand(96, 96, scale=0.3)), init("b", rand(96))]),
    {"x": rand(2, 40, 96, scale=2), "res": rand(2, 40, 96)}, ["t", "z"], (10, 0, 0))

# GELU as PyTorch's exporter writes it, after MatMul + bias (a value read twice
# inside the chain), large enough for several blocks and threads
case("gelu", model("gelu", [
    N("MatMul", ["x", "w"], ["m"]),
    N("Add", ["b", "m"], ["h"]),
    N("Div", ["h", "sqrt2"], ["d"]),
    N("Erf", ["d"], ["e"]),
    N("Add", ["e", "one"], ["e1"]),
    N("Mul", ["h", "e1"], ["p"]),
    N("Mul", ["p", "half"], ["y"]),
], [("x", [197, 64])], ["y"], [
    init("w", rand(64, 384, scale=0.3)), init("b", rand(384)), init("sqrt2", np.sqrt(2.0)),
    init("one", 1.0), init("half", 0.5)]),
    {"x": rand(197, 64)}, ["e"], (6, 0, 0))

# GELU's other forms: x times 1/sqrt(2) (Mul, the constant first) and the
# Add, Mul and Mul operands the other way round, with a scale that is not a
# power of two, in one pass; a GELU whose Erf value a later link reads again,
# and one that divides the constant by x, must run link by link
case("gelu_forms", model("gelu_forms", [
    N("MatMul", ["x", "w"], ["m"]),
    N("Mul", ["rsqrt2", "m"], ["d"]),
    N("Erf", ["d"], ["e"]),
    N("Add", ["one", "e"], ["e1"]),
    N("Mul", ["e1", "m"], ["p"]),
    N("Mul", ["third", "p"], ["y1"]),
    N("MatMul", ["x", "w2"], ["n"]),
    N("Div", ["n", "sqrt2"], ["nd"]),
    N("Erf", ["nd"], ["ne"]),
    N("Add", ["ne", "one"], ["ne1"]),
    N("Mul", ["n", "ne1"], ["np_"]),
    N("Mul", ["np_", "half"], ["nq"]),
    N("Add", ["nq", "ne"], ["y2"]),
    N("MatMul", ["x", "w3"], ["r"]),
    N("Div", ["sqrt2", "r"], ["rd"]),
    N("Erf", ["rd"], ["re"]),
    N("Add", ["re", "one"], ["re1"]),
    N("Mul", ["r", "re1"], ["rp"]),
    N("Mul", ["rp", "half"], ["y3"]),
], [("x", [97, 64])], ["y1", "y2", "y3"], [
    init("w", rand(64, 96, scale=0.3)), init("w2", rand(64, 96, scale=0.3)), init("w3", rand(64, 96, scale=0.3)),
    init("rsqrt2", 1 / np.sqrt(2.0)), init("sqrt2", np.sqrt(2.0)), init("one", 1.0), init("half", 0.5),
    init("third", 1 / 3)]),
    {"x": rand(97, 64)}, ["e", "np_"], (15, 0, 0))

# attention: K^T folded into Q.K^T; a 2-D weight transposed on B; A transposed;
# a head-split perm that feeds a Reshape (not folded); seq-first heads
# ([L, H, d] read as [H, L, d] and [H, d, L]: one sgemm per head)
case("transpose_matmul", model("tmm", [
    N("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]),
    N("MatMul", ["q", "kt"], ["s"]),
    N("Softmax", ["s"], ["p"], axis=-1),
    N("MatMul", ["p", "v"], ["o"]),
    N("Transpose", ["o"], ["oh"], perm=[0, 2, 1, 3]),
    N("Reshape", ["oh", "shape"], ["o2"]),
    N("Transpose", ["wt"], ["w"], perm=[1, 0]),
    N("MatMul", ["o2", "w"], ["y1"]),
    N("Transpose", ["a"], ["at"], perm=[0, 2, 1]),
    N("MatMul", ["at", "wa"], ["y2"]),
    N("Transpose", ["q3"], ["q3t"], perm=[1, 0, 2]),
    N("Transpose", ["k3"], ["k3t"], perm=[1, 2, 0]),
    N("MatMul", ["q3t", "k3t"], ["y3"]),
], [("q", [2, 3, 5, 8]), ("k", [2, 3, 5, 8]), ("v", [2, 3, 5, 8]), ("a", [2, 8, 5]), ("q3", [5, 3, 8]),
    ("k3", [5, 3, 8])], ["y1", "y2", "y3"], [
    numpy_helper.from_array(np.array([2, 5, 24], dtype=np.int64), "shape"),
    init("wt", rand(10, 24, scale=0.3)), init("wa", rand(8, 6, scale=0.3))]),
    {"q": rand(2, 3, 5, 8), "k": rand(2, 3, 5, 8), "v": rand(2, 3, 5, 8), "a": rand(2, 8, 5), "q3": rand(5, 3, 8),
     "k3": rand(5, 3, 8)}, ["s"], (0, 5, 1))

# reshapes that take their input's block; one input with a second reader
# later; a Transpose that moves only an axis of size 1 (a reshape) and a real
# one after it, which must not write over its input; Identity of a weight
# and of a graph input, borrowed when unseen
case("reshapes", model("reshape", [
    N("Relu", ["x"], ["r"]),
    N("Reshape", ["r", "s1"], ["a"]),
    N("Flatten", ["a"], ["b"], axis=1),
    N("Unsqueeze", ["b", "ax"], ["c"]),
    N("Squeeze", ["c", "ax"], ["d"]),
    N("Identity", ["d"], ["e"]),
    N("Reshape", ["e", "s2"], ["f"]),
    N("Add", ["f", "x"], ["y1"]),
    N("Reshape", ["x", "s1"], ["g"]),
    N("Neg", ["g"], ["y2"]),
    N("Neg", ["z"], ["zn"]),
    N("Transpose", ["zn"], ["zt"], perm=[1, 0, 2]),
    N("Transpose", ["zt"], ["y3"], perm=[2, 1, 0]),
    N("Identity", ["k"], ["ki"]),
    N("Identity", ["z"], ["zi"]),
    N("Mul", ["zi", "ki"], ["y4"]),
], [("x", [2, 3, 4]), ("z", [1, 4, 6])], ["y1", "y2", "y3", "y4"], [
    init("k", rand(6)),
    numpy_helper.from_array(np.array([6, 4], dtype=np.int64), "s1"),
    numpy_helper.from_array(np.array([0], dtype=np.int64), "ax"),
    numpy_helper.from_array(np.array([2, 3, 4], dtype=np.int64), "s2")]),
    {"x": rand(2, 3, 4), "z": rand(1, 4, 6)}, ["b", "d", "zt", "ki"], (0, 0, 8))

# RMSNorm as exported: the chain over ReduceMean's [2, 5, 1] fuses up to
# Reciprocal; the Mul that widens it back to [2, 5, 16] runs on its own
case("rmsnorm_prefix", model("rms", [
    N("Pow", ["x", "two"], ["p"]),
    N("ReduceMean", ["p"], ["m"], axes=[-1], keepdims=1),
    N("Add", ["m", "eps"], ["a"]),
    N("Sqrt", ["a"], ["s"]),
    N("Reciprocal", ["s"], ["r"]),
    N("Mul", ["x", "r"], ["n"]),
    N("Mul", ["w", "n"], ["y"]),
], [("x", [2, 5, 16])], ["y"], [init("two", 2.0), init("eps", 1e-6), init("w", rand(16))]),
    {"x": rand(2, 5, 16)}, ["n"], (3, 0, 0))

# broadcasts the fused path refuses: a column ([4, 1]) and an Add that widens
# the chain's shape; the nodes must then run one by one, unchanged
case("refused_broadcasts", model("refused", [
    N("MatMul", ["x", "w"], ["m"]),
    N("Add", ["m", "col"], ["mc"]),
    N("Relu", ["mc"], ["y1"]),
    N("Sigmoid", ["v"], ["sv"]),
    N("Add", ["sv", "wide"], ["y2"]),
], [("x", [4, 6]), ("v", [6])], ["y1", "y2"], [
    init("w", rand(6, 6)), init("col", rand(4, 1)), init("wide", rand(3, 6))]),
    {"x": rand(4, 6), "v": rand(6)}, [], (-1, 0, 0))


def stem(name):
    return re.sub(r"\W+", "_", name)


def run(m_path, feeds_dir, feeds, out, layers, extra=()):
    args = [BIN, "generate", m_path, "-o", out, "--overwrite", "--format", "npy", "--profile", "--threads", "2"]
    args += list(extra)
    for k in feeds:
        args += ["-i", f"{k}={feeds_dir}/{k}.npy"]
    if layers is not None:
        args += ["--layers", layers]
    p = subprocess.run(args, capture_output=True, text=True)
    if p.returncode != 0:
        return None, None, p.stderr
    saved = {}
    d = os.path.join(out, "outputs", "layer_outputs_0")
    for f in os.listdir(d):
        saved[f[:-4]] = np.load(os.path.join(d, f))
    with open(os.path.join(out, "layer_output_name_order.json")) as f:
        order = json.load(f)["layer_output_names"]
    fu = re.search(r"fusion per run: (\d+) nodes .*?, (\d+) Transposes .*?, (\d+) reshapes .*?, (\d+) outputs "
                   r"passed on blocked", p.stderr)
    counts = tuple(int(x) for x in fu.groups()[:3]) if fu else None
    BLOCKED[out] = int(fu.group(4)) if fu else None
    return saved, order, counts


BLOCKED = {}  # run folder -> outputs passed on blocked, per run
os.makedirs(WORK, exist_ok=True)
for name, m, feeds, some, expect in CASES:
    d = os.path.join(WORK, name)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "model.onnx")
    onnx.save(m, path)
    for k, v in feeds.items():
        np.save(os.path.join(d, f"{k}.npy"), v)
    outs = [o.name for o in m.graph.output]
    anchor = lambda names: "^(" + "|".join(re.escape(n) for n in names) + ")$"
    runs = {}
    # nofuse: as outputs, with --no-fusion; reference: as outputs, with
    # --reference-kernels, which implies it
    for mode, layers, extra in (("all", None, ()), ("outputs", anchor(outs), ()), ("some", anchor(outs + some), ()),
                                ("nofuse", anchor(outs), ("--no-fusion",)),
                                ("reference", anchor(outs), ("--reference-kernels",))):
        saved, order, counts = run(path, d, feeds, os.path.join(d, mode), layers, extra)
        check(saved is not None, f"{name} {mode}: layerout failed: {counts}")
        runs[mode] = (saved, order, counts)
    if any(r[0] is None for r in runs.values()):
        continue
    ref, ref_order, ref_counts = runs["all"]
    check(ref_counts is not None and ref_counts[0] == 0 and ref_counts[1] == 0,
          f"{name}: with every tensor saved nothing may fuse (profile said {ref_counts})")
    # the unfused run against ONNX Runtime, every node output
    mo = onnx.load(path)
    have = {o.name for o in mo.graph.output}
    for n in mo.graph.node:
        for o in n.output:
            if o not in have and n.op_type != "Constant":  # Constant outputs are never saved
                mo.graph.output.append(helper.make_empty_tensor_value_info(o))
                have.add(o)
    sess = ort.InferenceSession(mo.SerializeToString(), providers=["CPUExecutionProvider"])
    got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
    for t, v in got.items():
        a = ref.get(stem(t))
        check(a is not None and a.shape == v.shape and np.allclose(a, v, rtol=1e-4, atol=1e-5),
              f"{name}: {t} differs from ONNX Runtime" +
              (f" (max diff {np.abs(a - v).max():g})" if a is not None and a.shape == v.shape else ""))
    for mode in ("outputs", "some", "nofuse"):
        saved, order, counts = runs[mode]
        want = set(stem(n) for n in outs + (some if mode == "some" else []))
        check(set(saved) == want, f"{name} {mode}: saved {sorted(saved)}, expected {sorted(want)}")
        for k, v in saved.items():
            check(k in ref and ref[k].dtype == v.dtype and ref[k].shape == v.shape and
                  np.array_equal(ref[k].view(np.uint32), v.view(np.uint32)),
                  f"{name} {mode}: {k} is not bit for bit the unfused value")
        check(order == [n for n in ref_order if n in set(order)],
              f"{name} {mode}: saved order {order} is not the unfused order")
    for mode in ("nofuse", "reference"):
        c = runs[mode][2]
        check(c == (0, 0, 0), f"{name} {mode}: nothing may fuse, the profile said {c}")
    for mode in ("all", "nofuse", "reference"):
        b = BLOCKED.get(os.path.join(d, mode))
        check(b == 0, f"{name} {mode}: no output may pass blocked, the profile said {b}")
    b = BLOCKED.get(os.path.join(d, "outputs"))
    check(b is not None and b >= BLOCKED_MIN.get(name, 0),
          f"{name}: {b} outputs passed on blocked, expected at least {BLOCKED_MIN.get(name, 0)}")
    counts = runs["outputs"][2]
    chains, folded, reshapes = expect
    ok = counts is not None and (counts[0] == 0 if chains < 0 else counts[0] >= chains) and \
        counts[1] >= folded and counts[2] >= reshapes
    check(ok, f"{name}: the fused path was not taken as expected: (chains, folded, reshapes) = {counts}, "
              f"expected at least {expect}")
    print(f"{name}: fused (chains, folded, reshapes) = {counts}, outputs passed on blocked {b}", flush=True)

# Under --encodings an encoded tensor inside a chain is quantized as always:
# the GELU model with its bias Add output and its Erf output encoded, saved in
# full and with only y saved, must give the same y, and one that differs from
# the float model's (else the encodings did nothing and the check is void).
gelu = next(c for c in CASES if c[0] == "gelu")
d = os.path.join(WORK, "gelu")
enc = os.path.join(d, "act.encodings")


def grid(lo, hi):
    scale = (hi - lo) / 255.0
    return {"dtype": "INT", "bw": 8, "is_sym": False, "enc_type": "PER_TENSOR", "scale": [scale],
            "offset": [float(np.round(lo / scale))]}


with open(enc, "w") as f:
    json.dump({"version": "1.0.0", "param_encodings": [],
               "activation_encodings": [{"name": "h", **grid(-8.0, 8.0)}, {"name": "e", **grid(-1.0, 1.0)}]}, f)


def run_enc(out, layers):
    args = [BIN, "generate", os.path.join(d, "model.onnx"), "-o", out, "--overwrite", "--format", "npy",
            "--profile", "--threads", "2", "-i", f"x={d}/x.npy", "--encodings", enc]
    if layers:
        args += ["--layers", layers]
    p = subprocess.run(args, capture_output=True, text=True)
    if p.returncode != 0:
        return None, p.stderr
    fu = re.search(r"fusion per run: (\d+) nodes", p.stderr)
    return np.load(os.path.join(out, "outputs", "layer_outputs_0", "y.npy")), int(fu.group(1)) if fu else None


qa, _ = run_enc(os.path.join(d, "enc_all"), None)
qy, chains = run_enc(os.path.join(d, "enc_outputs"), "^y$")
plain = np.load(os.path.join(d, "all", "outputs", "layer_outputs_0", "y.npy"))
check(qa is not None and qy is not None, "gelu under --encodings: layerout failed")
if qa is not None and qy is not None:
    check(np.array_equal(qa.view(np.uint32), qy.view(np.uint32)),
          "gelu under --encodings: y with only y saved is not bit for bit y with everything saved")
    check(not np.array_equal(qa, plain), "gelu under --encodings: the encodings changed nothing (void check)")
    check(chains is not None and chains >= 1, f"gelu under --encodings: nothing fused ({chains})")
    print(f"gelu under --encodings: y identical saved or not, {chains} nodes fused around the encoded ones")

tally.finish("fusion")
