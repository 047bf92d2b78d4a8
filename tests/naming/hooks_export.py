"""Runs a model of the oracle zoo in PyTorch with a forward hook on every
leaf module and exports the same model to ONNX, in one process, so the hook
outputs and the exported graph come from the same torch.

    python hooks_export.py --work DIR --variant ts13|ts17|dynamo --models resnet18 ...

DIR/<model>/<variant>/ gets model.onnx, input.npy, hooks/<module>__<k>.npy (the
k-th call's output of each leaf module, cloned in the hook because in-place
ReLU overwrites it otherwise) and hooks.json: per leaf module its class, its
calls, whether its output equalled its input (a no-op in eval mode) and,
for a BatchNorm, the module whose output it read (a Conv the exporter may
fold it into).
"""

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "oracle"))
import oracle_models  # noqa: E402

# Small inputs keep the test quick on two cores; the ViT is built for 64x64.
INPUT_SHAPE = (1, 3, 64, 64)
MODELS = ["resnet18", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "squeezenet1_1", "vit_small"]


def is_leaf(module):
    # aimet_torch.utils.is_leaf_module: a module without children
    return len(list(module.children())) == 0


def export(model, example, path, variant):
    log = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        warnings.simplefilter("ignore")
        if variant == "dynamo":
            torch.onnx.export(model, (example,), path, dynamo=True)
        else:
            kwargs = {"dynamo": False} if torch.__version__ >= "2" else {}
            torch.onnx.export(model, (example,), path, opset_version=int(variant[2:]), **kwargs)


def run(work, name, variant):
    out = os.path.join(work, name, variant)
    if os.path.exists(os.path.join(out, "hooks.json")):
        return
    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.join(tmp, "hooks"))
    model, _ = oracle_models.build(name)
    example = torch.randn(INPUT_SHAPE, generator=torch.Generator().manual_seed(7))
    names = {m: n for n, m in model.named_modules()}
    info = {}
    produced_by = {}  # data_ptr of a module's output -> module name, for BN inputs
    handles = []

    def hook(module, inputs, output):
        n = names[module]
        e = info.setdefault(n, {"class": type(module).__name__, "calls": 0, "identity": True, "reads": None})
        if not isinstance(output, torch.Tensor):
            e["not_tensor"] = True
            return
        e["calls"] += 1
        np.save(os.path.join(tmp, "hooks", f"{n}__{e['calls']}.npy"), output.detach().clone().numpy())
        x = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None
        if x is not None and x.data_ptr() in produced_by:
            e["reads"] = produced_by[x.data_ptr()]
        produced_by[output.data_ptr()] = n

    for n, m in model.named_modules():
        if n and is_leaf(m):
            handles.append(m.register_forward_hook(hook))
    # Whether a module is a no-op (Dropout, Identity in eval): compared with a
    # copy of its input taken before the call, since an in-place module has
    # changed its input by the time the forward hook runs.
    pre = {}

    def pre_hook(module, inputs):
        if inputs and isinstance(inputs[0], torch.Tensor):
            pre[names[module]] = inputs[0].detach().clone()

    for n, m in model.named_modules():
        if n and is_leaf(m):
            handles.append(m.register_forward_pre_hook(pre_hook))

    def identity_hook(module, inputs, output):
        n = names[module]
        if isinstance(output, torch.Tensor) and n in pre:
            same = pre[n].shape == output.shape and bool(torch.equal(pre[n], output))
            info[n]["identity"] = info[n]["identity"] and same

    for n, m in model.named_modules():
        if n and is_leaf(m):
            handles.append(m.register_forward_hook(identity_hook))
    with torch.no_grad():
        model(example)
    for h in handles:
        h.remove()
    for n, m in model.named_modules():
        if n and is_leaf(m) and n not in info:
            info[n] = {"class": type(m).__name__, "calls": 0, "identity": False, "reads": None}
    export(model, example, os.path.join(tmp, "model.onnx"), variant)
    np.save(os.path.join(tmp, "input.npy"), example.numpy())
    with open(os.path.join(tmp, "hooks.json"), "w") as f:
        json.dump({"model": name, "variant": variant, "torch": torch.__version__, "modules": info}, f, indent=1)
    shutil.rmtree(out, ignore_errors=True)
    os.rename(tmp, out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--variant", required=True, choices=["ts13", "ts17", "dynamo"])
    ap.add_argument("--models", nargs="*", default=MODELS)
    args = ap.parse_args()
    torch.set_num_threads(1)
    failed = 0
    for name in args.models:
        try:
            run(args.work, name, args.variant)
        except Exception as e:  # report, go on with the other models
            failed += 1
            print(f"EXPORT FAILED {name}/{args.variant}: {type(e).__name__}: {str(e).strip()[:300]}", flush=True)
            os.makedirs(os.path.join(args.work, name), exist_ok=True)
            with open(os.path.join(args.work, name, args.variant + ".failed"), "w") as f:
                f.write(f"torch {torch.__version__}: {type(e).__name__}: {e}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
