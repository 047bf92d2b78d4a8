"""Prepare the benchmark's models, once, into WORK/models/NAME/.

    /usr/bin/python3 prepare.py export  --work WORK [--models ...]   (Debian torch 1.13)
    .venv/bin/python  prepare.py prepare --work WORK [--models ...]  (PyPI torch, onnx, onnxruntime)

export:  model.onnx (TorchScript exporter, opset 17, static shapes, constant
         folding), input.npy, state_dict.pt (the exported weights), export.json.
prepare: module.pt (the same weights in a venv-torch nn.Module, pickled, so the
         PyTorch-side tools do not pay for random initialisation),
         capture.onnx (every graph input and non-Constant node output added as a
         graph output, as aimet_onnx and Polygraphy do; written before timing)
         and layers.json (how many tensors a full capture saves and their total
         bytes, measured by running capture.onnx once with ONNX Runtime).

Each step is skipped when its result exists; files are written under a
temporary name and renamed into place.
"""

import argparse
import contextlib
import io
import json
import os
import sys
import time
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_models  # noqa: E402

OPSET = 17


def _atomic(path, write):
    tmp = path + ".tmp"
    write(tmp)
    os.replace(tmp, path)


def _write_npy(path, array):
    with open(path, "wb") as f:  # np.save(name) would append ".npy" to the temporary name
        np.save(f, array)


def _write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)


def export(work, name):
    d = os.path.join(work, "models", name)
    if os.path.exists(os.path.join(d, "export.json")):
        return
    os.makedirs(d, exist_ok=True)
    model, example = bench_models.build(name)
    t0 = time.time()
    log = io.StringIO()
    kwargs = {"dynamo": False} if torch.__version__ >= "2" else {}
    with warnings.catch_warnings(), contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        warnings.simplefilter("ignore")
        _atomic(os.path.join(d, "model.onnx"),
                lambda p: torch.onnx.export(model, (example,), p, opset_version=OPSET, do_constant_folding=True,
                                            input_names=["input"], output_names=["output"], **kwargs))
    _atomic(os.path.join(d, "state_dict.pt"), lambda p: torch.save(model.state_dict(), p))
    _atomic(os.path.join(d, "input.npy"), lambda p: _write_npy(p, example.numpy()))
    meta = dict(model=name, torch=torch.__version__, opset=OPSET, exporter="torchscript",
                input_shape=list(example.shape), input_dtype=str(example.numpy().dtype),
                export_seconds=round(time.time() - t0, 2))
    _atomic(os.path.join(d, "export.json"), lambda p: _write_json(p, meta))
    print(f"exported {name} in {meta['export_seconds']} s", flush=True)


def capture_names(model):
    """Graph inputs (not initializers) and every node output except Constant's,
    in graph order: the tensors AIMET's LayerOutputUtil saves."""
    inits = {i.name for i in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in inits]
    for node in model.graph.node:
        if node.op_type == "Constant":
            continue
        names.extend(o for o in node.output if o)
    seen, unique = set(), []
    for n in names:
        if n not in seen:
            seen.add(n)
            unique.append(n)
    return unique


def count_flops(model, shapes):
    """Multiply-adds x 2 of Conv, Gemm and MatMul nodes, from the shapes of one
    real run; what --profile's GFLOP/s is measured against."""
    shapes = dict(shapes)
    shapes.update({i.name: tuple(i.dims) for i in model.graph.initializer})
    flops = {"Conv": 0, "Gemm": 0, "MatMul": 0}
    for node in model.graph.node:
        if node.op_type not in flops or not all(n in shapes for n in list(node.input[:2]) + [node.output[0]]):
            continue
        out = shapes[node.output[0]]
        out_items = 1
        for v in out:
            out_items *= int(v)
        if node.op_type == "Conv":
            w = shapes[node.input[1]]  # (M, C/group, kH, kW...): each output sums C/group*k items
            k = 1
            for v in w[1:]:
                k *= int(v)
        elif node.op_type == "Gemm":
            trans_a = next((a.i for a in node.attribute if a.name == "transA"), 0)
            a = shapes[node.input[0]]
            k = int(a[0] if trans_a else a[1])
        else:
            k = int(shapes[node.input[0]][-1])
        flops[node.op_type] += 2 * out_items * k
    return flops


def prepare(work, name):
    import onnx
    import onnxruntime as ort

    d = os.path.join(work, "models", name)
    module_path = os.path.join(d, "module.pt")
    if not os.path.exists(module_path):
        model, _ = bench_models.build(name)
        model.load_state_dict(torch.load(os.path.join(d, "state_dict.pt")))
        model.eval()
        _atomic(module_path, lambda p: torch.save(model, p))
    capture_path = os.path.join(d, "capture.onnx")
    if not os.path.exists(capture_path):
        m = onnx.load(os.path.join(d, "model.onnx"))
        existing = {o.name for o in m.graph.output}
        for n in capture_names(m):
            if n not in existing:
                vi = onnx.ValueInfoProto()
                vi.name = n  # untyped, as aimet_onnx registers them; ORT infers the type
                m.graph.output.append(vi)
        _atomic(capture_path, lambda p: onnx.save(m, p))
    layers_path = os.path.join(d, "layers.json")
    if not os.path.exists(layers_path):
        so = ort.SessionOptions()
        so.intra_op_num_threads = 2
        sess = ort.InferenceSession(capture_path, so, providers=["CPUExecutionProvider"])
        x = np.load(os.path.join(d, "input.npy"))
        outs = sess.run(None, {sess.get_inputs()[0].name: x})
        total = int(sum(o.nbytes for o in outs))
        shapes = {o.name: v.shape for o, v in zip(sess.get_outputs(), outs)}
        model = onnx.load(os.path.join(d, "model.onnx"))
        flops = count_flops(model, shapes)
        info = dict(tensors=len(outs), total_bytes=total, total_mib=round(total / 2**20, 1),
                    largest_bytes=int(max(o.nbytes for o in outs)), nodes=len(model.graph.node),
                    flops=flops)
        _atomic(layers_path, lambda p: _write_json(p, info))
    with open(layers_path) as f:
        info = json.load(f)
    print(f"{name}: {info['tensors']} layer outputs, {info['total_mib']} MiB in total", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("step", choices=["export", "prepare"])
    ap.add_argument("--work", required=True)
    ap.add_argument("--models", nargs="*", default=bench_models.MODEL_NAMES)
    args = ap.parse_args()
    torch.set_num_threads(2)
    failed = 0
    for name in args.models:
        try:
            (export if args.step == "export" else prepare)(args.work, name)
        except Exception as e:  # report every model, then fail
            failed += 1
            print(f"{args.step} FAILED {name}: {type(e).__name__}: {str(e).strip()[:400]}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
