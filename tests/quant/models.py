"""Float test models for the quantization tests, built so that every leaf
module exports to exactly one non-Constant ONNX node (TorchScript exporter,
opset 17): the k-th leaf-module call in PyTorch is then the k-th node of the
ONNX graph, which is how the PyTorch reference finds the ONNX name of each
tensor it fake-quantizes."""
import warnings

import numpy as np
import torch
import torch.nn as nn


class Op(nn.Module):
    """One functional op as a leaf module, so a forward hook sees its output."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *args):
        return self.fn(*args)


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.conv3 = nn.Conv2d(16, 16, 3, padding=1, groups=4)
        self.add = Op(torch.add)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.pool(self.relu1(self.conv1(x)))
        y = self.relu2(self.conv2(x))
        y = self.add(y, self.conv3(y))
        return self.fc(self.flatten(self.gap(y)))


class MatMulWeight(nn.Module):
    """x @ W with W an initializer: per-channel on axis 1 for MatMul weights."""

    def __init__(self, k, n):
        super().__init__()
        self.w = nn.Parameter(torch.randn(k, n) / k ** 0.5)

    def forward(self, x):
        return x @ self.w


class SmallTransformer(nn.Module):
    """One encoder block on a (tokens, features) matrix: 2-D Linear layers
    export as Gemm (transB=1), attention as MatMul/Softmax."""

    def __init__(self, s=8, d=16, h=2, ff=32):
        super().__init__()
        self.s, self.d, self.h, self.dh = s, d, h, d // h
        self.q, self.k, self.v = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.q_split = Op(lambda t: t.reshape(s, h, d // h))
        self.k_split = Op(lambda t: t.reshape(s, h, d // h))
        self.v_split = Op(lambda t: t.reshape(s, h, d // h))
        self.q_t = Op(lambda t: t.transpose(0, 1))
        self.k_t = Op(lambda t: t.permute(1, 2, 0))
        self.v_t = Op(lambda t: t.transpose(0, 1))
        self.scores = Op(torch.matmul)
        self.scale = Op(lambda t: t * (1.0 / (d // h) ** 0.5))
        self.softmax = nn.Softmax(dim=-1)
        self.context = Op(torch.matmul)
        self.merge_t = Op(lambda t: t.transpose(0, 1))
        self.merge = Op(lambda t: t.reshape(s, d))
        self.proj = nn.Linear(d, d)
        self.res1 = Op(torch.add)
        self.ln1 = nn.LayerNorm(d)
        self.ff1 = nn.Linear(d, ff)
        self.act = nn.ReLU()
        self.ff2 = nn.Linear(ff, d)
        self.res2 = Op(torch.add)
        self.ln2 = nn.LayerNorm(d)
        self.head = MatMulWeight(d, 4)

    def forward(self, x):
        q = self.q_t(self.q_split(self.q(x)))
        k = self.k_t(self.k_split(self.k(x)))
        v = self.v_t(self.v_split(self.v(x)))
        a = self.softmax(self.scale(self.scores(q, k)))
        c = self.merge(self.merge_t(self.context(a, v)))
        x = self.ln1(self.res1(x, self.proj(c)))
        x = self.ln2(self.res2(x, self.ff2(self.act(self.ff1(x)))))
        return self.head(x)


def build(name):
    torch.manual_seed(0)
    if name == "cnn":
        model, shape = SmallCNN(), (1, 3, 16, 16)
    else:
        model, shape = SmallTransformer(), (8, 16)
    model.eval()
    # Non-trivial running statistics and LayerNorm affine parameters.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model, shape


def export(model, shape, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kwargs = dict(opset_version=17, input_names=["input"], output_names=["output"], do_constant_folding=True)
        try:
            torch.onnx.export(model, (torch.zeros(shape),), path, dynamo=False, **kwargs)
        except TypeError:  # torch without the dynamo switch
            torch.onnx.export(model, (torch.zeros(shape),), path, **kwargs)


def leaf_modules(model):
    return [(n, m) for n, m in model.named_modules() if not list(m.children())]


def sample(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
