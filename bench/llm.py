"""A small decoder-only language model, Llama-style, for the dataset benchmark.

    .venv/bin/python bench/llm.py --work WORK [--seq 64] [--layers 4]

Writes WORK/models/llama_small/{model.onnx, input.npy}: random weights (fixed
seed), 4 decoder blocks of RMSNorm, grouped-query attention (8 query heads
sharing 2 key/value heads, rotary position embedding, causal mask) and a
SwiGLU MLP, exported with PyTorch's dynamo exporter. Built with torch.nn
(the transformers package is not in the venv). Skipped when model.onnx exists.
"""

import argparse
import math
import os

import numpy as np
import torch
from torch import nn

VOCAB, D, HEADS, KV_HEADS, FF = 2048, 256, 8, 2, 688


def rotate_half(x):
    a, b = x.chunk(2, dim=-1)
    return torch.cat((-b, a), dim=-1)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.hd = D // HEADS
        self.q = nn.Linear(D, HEADS * self.hd, bias=False)
        self.k = nn.Linear(D, KV_HEADS * self.hd, bias=False)
        self.v = nn.Linear(D, KV_HEADS * self.hd, bias=False)
        self.o = nn.Linear(HEADS * self.hd, D, bias=False)

    def forward(self, x, cos, sin, mask):
        b, s, _ = x.shape
        q = self.q(x).view(b, s, HEADS, self.hd).transpose(1, 2)
        k = self.k(x).view(b, s, KV_HEADS, self.hd).transpose(1, 2)
        v = self.v(x).view(b, s, KV_HEADS, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        # GQA: each key/value head serves HEADS // KV_HEADS query heads
        q = q.view(b, KV_HEADS, HEADS // KV_HEADS, s, self.hd)
        k = k.unsqueeze(2)
        v = v.unsqueeze(2)
        att = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.hd) + mask
        att = torch.softmax(att, dim=-1)
        y = torch.matmul(att, v).reshape(b, HEADS, s, self.hd).transpose(1, 2).reshape(b, s, D)
        return self.o(y)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1, self.n2 = nn.RMSNorm(D, eps=1e-5), nn.RMSNorm(D, eps=1e-5)
        self.att = Attention()
        self.gate = nn.Linear(D, FF, bias=False)
        self.up = nn.Linear(D, FF, bias=False)
        self.down = nn.Linear(FF, D, bias=False)

    def forward(self, x, cos, sin, mask):
        x = x + self.att(self.n1(x), cos, sin, mask)
        h = self.n2(x)
        return x + self.down(nn.functional.silu(self.gate(h)) * self.up(h))


class Llama(nn.Module):
    def __init__(self, layers, seq):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, D)
        self.blocks = nn.ModuleList(Block() for _ in range(layers))
        self.norm = nn.RMSNorm(D, eps=1e-5)
        self.head = nn.Linear(D, VOCAB, bias=False)
        hd = D // HEADS
        inv = 1.0 / (10000 ** (torch.arange(0, hd, 2).float() / hd))
        ang = torch.outer(torch.arange(seq).float(), inv)
        ang = torch.cat((ang, ang), dim=-1)
        self.register_buffer("cos", ang.cos(), persistent=False)
        self.register_buffer("sin", ang.sin(), persistent=False)
        self.register_buffer("mask", torch.full((seq, seq), -1e9).triu(1), persistent=False)

    def forward(self, ids):
        x = self.emb(ids)
        for blk in self.blocks:
            x = blk(x, self.cos, self.sin, self.mask)
        return self.head(self.norm(x))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--layers", type=int, default=4)
    a = ap.parse_args()
    out = os.path.join(a.work, "models", "llama_small")
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "model.onnx")
    if os.path.exists(path):
        return
    torch.manual_seed(0)
    model = Llama(a.layers, a.seq).eval()
    ids = torch.randint(0, VOCAB, (1, a.seq), dtype=torch.int64)
    np.save(os.path.join(out, "input.npy"), ids.numpy())
    with torch.no_grad():
        prog = torch.onnx.export(model, (ids,), dynamo=True, input_names=["input_ids"], output_names=["logits"])
    prog.save(path + ".tmp")
    os.replace(path + ".tmp", path)
    print(f"exported llama_small ({a.layers} layers, seq {a.seq}) to {path}")


if __name__ == "__main__":
    main()
