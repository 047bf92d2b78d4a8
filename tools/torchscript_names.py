#!/usr/bin/env python3
"""Writes the name map `layerout generate --naming torchscript --name-map` takes:
a JSON object of ONNX tensor name -> TorchScript value name, one entry per
call of each leaf module, so files are named as aimet_torch's TORCHSCRIPT
scheme names them.

    tools/torchscript_names.py MODEL --shape 1x3x224x224 -o names.json [--onnx model.onnx]

MODEL is a torchvision model name (resnet18: random weights, the names do not
depend on them) or "package.module:callable" returning an nn.Module. Without
--onnx the model is also exported (torch.onnx.export, TorchScript exporter,
opset 17) to names.onnx beside the map, and that is the model to run.

How names are paired. TorchScript names exist only in a traced graph: the
model is traced (torch.jit.trace), saved and loaded back, and its value names
are read from the graph the loaded module runs (graph_for), as aimet_torch
does. The original trace's inlined graph has the same nodes in the same order
and still knows each node's module scope, so a leaf module call's TorchScript
name is the output of the last node of its run of nodes. The ONNX side finds
the same module calls from its node names (TorchScript exporter scopes
"/layer1/layer1.0/conv1/Conv", or AIMET's exporter names "layer1.0.conv1",
"relu#0-1.end"), and the two are joined on (module, call). A Conv whose
weights the exporter computed (onnx::Conv_N: a BatchNorm folded in) outputs
the BatchNorm's value, so it gets the BatchNorm's TorchScript name.
"""

import argparse
import importlib
import io
import json
import os
import re
import sys
import warnings

import torch

SKIP_KINDS = {"prim::Constant", "prim::GetAttr", "prim::ListConstruct", "prim::profile",
              "prim::TupleConstruct", "prim::TupleUnpack", "prim::ListUnpack"}


def load_model(spec):
    if ":" in spec:
        mod, fn = spec.split(":", 1)
        return getattr(importlib.import_module(mod), fn)()
    import torchvision
    return getattr(torchvision.models, spec)(weights=None)


def _nodes(graph):
    return [n for n in graph.nodes() if n.kind() not in SKIP_KINDS]


def _runs(modules):
    """Numbers calls: consecutive nodes of one module are one call."""
    count, calls, prev = {}, [], None
    for m in modules:
        if m is None:
            calls.append(0)
        elif m == prev:
            calls.append(calls[-1])
        else:
            count[m] = count.get(m, 0) + 1
            calls.append(count[m])
        prev = m
    return calls


def torchscript_calls(model, example):
    """{(module, call): TorchScript output name}, and {module output name:
    (module, call)} of the module reading it (for folded BatchNorms)."""
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, example)
        buf = io.BytesIO()
        torch.jit.save(traced, buf)
        buf.seek(0)
        loaded = torch.jit.load(buf)
        run_graph = _nodes(loaded.graph_for(example))
    scoped = _nodes(traced.inlined_graph)
    named = run_graph
    if [n.kind() for n in run_graph] != [n.kind() for n in scoped]:
        named = _nodes(loaded.inlined_graph)  # same nodes, names of the saved file
    if [n.kind() for n in named] != [n.kind() for n in scoped]:
        raise RuntimeError("the loaded TorchScript graph does not line up with the trace")
    leaves = {n for n, m in model.named_modules() if n and not list(m.children())}
    modules = []
    for n in scoped:
        scope = n.scopeName().split("/")[-1] if n.scopeName() else ""
        m = scope[len("__module."):] if scope.startswith("__module.") else None
        modules.append(m if m in leaves else None)
    calls = _runs(modules)
    out, last_value = {}, {}
    for i, (m, c) in enumerate(zip(modules, calls)):
        if m is None or not list(named[i].outputs()):
            continue
        out[(m, c)] = named[i].outputsAt(0).debugName()
        last_value[(m, c)] = scoped[i].outputsAt(0)
    # a BatchNorm call reading a module call's output directly
    bn_after = {}
    for i, n in enumerate(scoped):
        if n.kind() == "aten::batch_norm" and modules[i]:
            src = n.inputsAt(0)
            for key, v in last_value.items():
                if v is src:
                    bn_after[key] = (modules[i], calls[i])
    return out, bn_after


def _onnx_module(name):
    """(module, explicit call or 0) from an ONNX node name, or (None, 0)."""
    if name.startswith("/"):
        parts = name[1:].split("/")
        if len(parts) < 2:
            return None, 0
        full, prev = "", None
        for c in parts[:-1]:
            if prev is not None and c.startswith(prev + "."):
                full += c[len(prev):]
            else:
                full = full + "." + c if full else c
            prev = c
        return full, 0
    m = re.fullmatch(r"([^#/]+?)(?:#[0-9]+(?:\.[0-9]+)?)?(?:-([0-9]+))?(?:\.end)?", name)
    if not m or (("." not in m.group(1)) and m.group(1)[:1].isupper()):
        return None, 0
    return m.group(1), int(m.group(2)) + 1 if m.group(2) else 0


def onnx_calls(onnx_path):
    """{(module, call): (ONNX output tensor, folded)} for the last node of
    each module call, as layerout's pytorch scheme finds them."""
    import onnx
    g = onnx.load(onnx_path, load_external_data=False).graph
    inits = {i.name for i in g.initializer}
    nodes = [n for n in g.node if n.op_type != "Constant"]
    mods = [_onnx_module(n.name) for n in nodes]
    names = {m for m, _ in mods if m}
    fixed = []
    for m, hint in mods:  # "relu_1" beside "relu": the second call of relu
        s = re.fullmatch(r"(.*)_([0-9]+)", m) if m and not hint else None
        if s and s.group(1) in names and "." not in m[len(s.group(1)):]:
            fixed.append((s.group(1), int(s.group(2)) + 1))
        else:
            fixed.append((m, hint))
    parents = {m[:i] for m in names for i in range(len(m)) if m[i] == "."}
    count, prev, out = {}, (None, 0), {}
    for n, (m, hint) in zip(nodes, fixed):
        if m is None:
            prev = (None, 0)
            continue
        if hint:
            call = hint
            count[m] = max(count.get(m, 0), hint)
        elif prev[0] == m:
            call = prev[1]
        else:
            count[m] = count.get(m, 0) + 1
            call = count[m]
        prev = (m, call)
        if m in parents or not n.output:
            continue
        folded = n.op_type in ("Conv", "ConvTranspose") and len(n.input) > 1 and \
            n.input[1] in inits and n.input[1].startswith("onnx::")
        prior = out.get((m, call), (None, False))
        out[(m, call)] = (n.output[0], folded or prior[1])
    return out


def build_map(model, example, onnx_path):
    ts, bn_after = torchscript_calls(model, example)
    mapping = {}
    for key, (tensor, folded) in onnx_calls(onnx_path).items():
        if folded and key in bn_after:
            key = bn_after[key]
        if key in ts:
            mapping[tensor] = ts[key]
    return mapping


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="torchvision model name or package.module:callable")
    ap.add_argument("--shape", required=True, help="dummy input shape, e.g. 1x3x224x224")
    ap.add_argument("-o", "--output", required=True, help="the JSON name map to write")
    ap.add_argument("--onnx", help="an ONNX export of the same model (default: export one)")
    ap.add_argument("--opset", type=int, default=17)
    args = ap.parse_args()
    model = load_model(args.model).eval()
    example = torch.randn([int(d) for d in args.shape.lower().split("x")])
    onnx_path = args.onnx
    if not onnx_path:
        onnx_path = os.path.splitext(args.output)[0] + ".onnx"
        os.makedirs(os.path.dirname(os.path.abspath(onnx_path)), exist_ok=True)
        kwargs = {"dynamo": False} if torch.__version__ >= "2" else {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (example,), onnx_path, opset_version=args.opset, **kwargs)
    mapping = build_map(model, example, onnx_path)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(mapping, f, indent=1)
    print(f"{len(mapping)} names written to {args.output} (ONNX model: {onnx_path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
