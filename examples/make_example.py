#!/usr/bin/env python3
"""Writes examples/tiny_cnn.onnx and examples/input.npy: the small model the
README's quick start runs. Weights come from a fixed seed, so the files are the
same on every run; they are committed so the quick start needs no Python."""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(2024)
here = os.path.dirname(os.path.abspath(__file__))


def init(name, shape, scale=0.2):
    return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)


inits = [
    init("conv1.weight", (8, 3, 3, 3)), init("conv1.bias", (8,)),
    init("conv2.weight", (16, 8, 3, 3)),
    numpy_helper.from_array(np.abs(rng.standard_normal(16)).astype(np.float32) + 0.5, "bn.scale"),
    init("bn.bias", (16,)), init("bn.mean", (16,)),
    numpy_helper.from_array(np.abs(rng.standard_normal(16)).astype(np.float32) + 0.5, "bn.var"),
    init("fc.weight", (10, 16)), init("fc.bias", (10,)),
]
nodes = [
    helper.make_node("Conv", ["input", "conv1.weight", "conv1.bias"], ["/conv1/Conv_output_0"],
                     name="/conv1/Conv", pads=[1, 1, 1, 1]),
    helper.make_node("Relu", ["/conv1/Conv_output_0"], ["/relu1/Relu_output_0"], name="/relu1/Relu"),
    helper.make_node("MaxPool", ["/relu1/Relu_output_0"], ["/pool/MaxPool_output_0"], name="/pool/MaxPool",
                     kernel_shape=[2, 2], strides=[2, 2]),
    helper.make_node("Conv", ["/pool/MaxPool_output_0", "conv2.weight"], ["/conv2/Conv_output_0"],
                     name="/conv2/Conv", pads=[1, 1, 1, 1]),
    helper.make_node("BatchNormalization", ["/conv2/Conv_output_0", "bn.scale", "bn.bias", "bn.mean", "bn.var"],
                     ["/bn/BatchNormalization_output_0"], name="/bn/BatchNormalization"),
    helper.make_node("Relu", ["/bn/BatchNormalization_output_0"], ["/relu2/Relu_output_0"], name="/relu2/Relu"),
    helper.make_node("GlobalAveragePool", ["/relu2/Relu_output_0"], ["/gap/GlobalAveragePool_output_0"],
                     name="/gap/GlobalAveragePool"),
    helper.make_node("Flatten", ["/gap/GlobalAveragePool_output_0"], ["/Flatten_output_0"], name="/Flatten"),
    helper.make_node("Gemm", ["/Flatten_output_0", "fc.weight", "fc.bias"], ["/fc/Gemm_output_0"],
                     name="/fc/Gemm", transB=1),
    helper.make_node("Softmax", ["/fc/Gemm_output_0"], ["probabilities"], name="/Softmax", axis=1),
]
graph = helper.make_graph(
    nodes, "tiny_cnn",
    [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 32, 32])],
    [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [1, 10])],
    inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="layerout-example")
model.ir_version = 7
onnx.checker.check_model(model)
onnx.save(model, os.path.join(here, "tiny_cnn.onnx"))
np.save(os.path.join(here, "input.npy"), rng.standard_normal((1, 3, 32, 32)).astype(np.float32))
print("wrote", os.path.join(here, "tiny_cnn.onnx"), "and input.npy")
