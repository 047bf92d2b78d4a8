"""Float models for the AIMET set-of-files tests (tests/quant/aimet_sets.py).

  constcnn     a torchvision MobileNetV3-Small (width 0.5, random weights,
               BatchNorm folded by the exporter) whose initializers are all
               rewritten into Constant nodes the way Paddle2ONNX writes
               weights, one of them read through an Identity chain;
  transformer  an encoder block on a (1, tokens, features) input: Linear on
               3-D tensors exports as MatMul + Add (what AIMET's sim fuses
               into Gemm), GELU as Erf arithmetic on scalar initializers;
  detector     a small encoder-decoder with ConvTranspose upsampling, a
               Resize, a skip Concat and two heads (heatmap and boxes).
"""
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Encoder(nn.Module):
    def __init__(self, s=8, d=32, h=4, ff=64):
        super().__init__()
        self.h, self.dh = h, d // h
        self.q, self.k, self.v = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.proj = nn.Linear(d, d)
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.ff1, self.ff2 = nn.Linear(d, ff), nn.Linear(ff, d)
        self.head = nn.Linear(d, 4)

    def forward(self, x):
        b, s, d = x.shape

        def split(t):
            return t.reshape(b, s, self.h, self.dh).transpose(1, 2)

        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        a = torch.softmax(q @ k.transpose(-1, -2) * (1.0 / self.dh ** 0.5), dim=-1)
        c = (a @ v).transpose(1, 2).reshape(b, s, d)
        x = self.ln1(x + self.proj(c))
        x = self.ln2(x + self.ff2(F.gelu(self.ff1(x))))
        return self.head(x)


class Detector(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.c2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.c3 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.up1 = nn.ConvTranspose2d(32, 16, 2, stride=2)
        self.up2 = nn.ConvTranspose2d(32, 8, 4, stride=2, padding=1)
        self.heat = nn.Conv2d(16, 3, 1)
        self.box = nn.Conv2d(16, 4, 3, padding=1)

    def forward(self, x):
        f1 = F.relu(self.c1(x))
        f2 = F.relu(self.c2(f1))
        f3 = F.relu(self.c3(f2))
        u1 = F.relu(self.up1(f3))
        u2 = F.relu(self.up2(torch.cat([u1, f2], 1)))
        y = torch.cat([u2, F.interpolate(f1, scale_factor=1.0, mode="nearest")], 1)
        return torch.sigmoid(self.heat(y)), self.box(y) * 0.25


def build(name):
    torch.manual_seed(0)
    if name == "constcnn":
        import torchvision
        model, shape = torchvision.models.mobilenet_v3_small(num_classes=10, width_mult=0.5), (1, 3, 32, 32)
    elif name == "transformer":
        model, shape = Encoder(), (1, 8, 32)
    else:
        model, shape = Detector(), (1, 3, 32, 32)
    model.eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 2.0)
    return model, shape


def export(model, shape, path):
    import onnx
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kwargs = dict(opset_version=17, input_names=["input"], do_constant_folding=True)
        try:
            torch.onnx.export(model, (torch.zeros(shape),), path, dynamo=False, **kwargs)
        except TypeError:
            torch.onnx.export(model, (torch.zeros(shape),), path, **kwargs)
    m = onnx.load(path)
    if "constcnn" in path:
        m = to_constants(m)
    onnx.save(m, path)


def to_constants(m):
    """Every initializer becomes a Constant node at the top of the graph, as
    Paddle2ONNX writes weights; the first Conv's weight is read through two
    Identity nodes."""
    from onnx import helper
    g = m.graph
    consts = [helper.make_node("Constant", [], [i.name], name="const_" + i.name, value=i) for i in g.initializer]
    first_conv = next(n for n in g.node if n.op_type == "Conv")
    w = first_conv.input[1]
    chain = [helper.make_node("Identity", [w], [w + "_id1"], name="id1_" + w),
             helper.make_node("Identity", [w + "_id1"], [w + "_id2"], name="id2_" + w)]
    first_conv.input[1] = w + "_id2"
    nodes = consts + chain + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    del g.initializer[:]
    return m


def sample(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def oddities(path):
    """Built by hand: the cases a framework exporter rarely writes but
    AIMET's sim treats each its own way.
      - an embedding table read by Gather (an initializer on the data path:
        quantized as an activation, saved);
      - a MatMul weight read through two Identity nodes (AIMET follows
        Identity chains to the parameters of Conv, Gemm and the like, not of
        MatMul: the initializer is quantized as an activation and saved);
      - Transpose(W) -> MatMul -> Add(b): fused by the sim into Gemm with
        transB (no file for the MatMul or the Transpose; W per-channel on
        axis 0, b a parameter);
      - a MatMul whose static operand comes first (data, not a weight).
    """
    import onnx
    from onnx import helper, numpy_helper, TensorProto
    rng = np.random.default_rng(5)

    inits = [
        numpy_helper.from_array((rng.standard_normal((16, 8)) * 0.5).astype(np.float32), "embedding"),
        numpy_helper.from_array(np.array([[1, 3, 5, 7]], dtype=np.int64), "token_ids"),
        numpy_helper.from_array((rng.standard_normal((8, 8)) * 0.3).astype(np.float32), "w1"),
        numpy_helper.from_array((rng.standard_normal((12, 8)) * 0.3).astype(np.float32), "w2_t"),
        numpy_helper.from_array((rng.standard_normal(12) * 0.1).astype(np.float32), "b2"),
        numpy_helper.from_array((rng.standard_normal((4, 4)) * 0.5).astype(np.float32), "mixer"),
    ]
    nodes = [
        helper.make_node("Gather", ["embedding", "token_ids"], ["embedded"], name="embed"),
        helper.make_node("Add", ["input", "embedded"], ["summed"], name="add_embed"),
        helper.make_node("Identity", ["w1"], ["w1_a"], name="w1_id1"),
        helper.make_node("Identity", ["w1_a"], ["w1_b"], name="w1_id2"),
        helper.make_node("MatMul", ["summed", "w1_b"], ["h1"], name="mm1"),
        helper.make_node("Relu", ["h1"], ["h1r"], name="relu1"),
        helper.make_node("Transpose", ["w2_t"], ["w2"], name="w2_transpose", perm=[1, 0]),
        helper.make_node("MatMul", ["h1r", "w2"], ["h2_mm"], name="mm2"),
        helper.make_node("Add", ["h2_mm", "b2"], ["h2"], name="mm2_bias"),
        helper.make_node("MatMul", ["mixer", "h2"], ["mixed"], name="mix"),
        helper.make_node("Sigmoid", ["mixed"], ["output"], name="sigmoid"),
    ]
    g = helper.make_graph(nodes, "oddities", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 4, 8])],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 4, 12])], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, path)
    return (1, 4, 8)
