#!/usr/bin/env python3
"""Writes an ONNX export of a PyTorch model and the name map
`layerout generate --naming torchscript --name-map` takes with it, so the
files are named as aimet_torch's NamingScheme.TORCHSCRIPT names them.

    tools/torchscript_names.py MODEL --shape 1x3x224x224 -o names.json [--opset 17]

MODEL is a torchvision model name (random weights: the names do not depend
on them) or "package.module:callable" returning an nn.Module. The export
(names.onnx beside the map) is made as aimet_torch's exporter makes it, each
module's nodes kept apart (a BatchNorm is not folded into its Conv), and the
map gives, for each leaf module aimet_torch can name, the export's tensor
holding the module's output -> its TorchScript value name. The logic lives in
the layerout package (layerout._torchscript, layerout.torch); this is its
command-line face. Then:

    layerout generate names.onnx --naming torchscript --name-map names.json -i input.npy -o dump
"""

import argparse
import importlib
import os
import shutil
import sys
import tempfile

# from a source checkout, the package beside this file, not an installed one
_SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python")
if os.path.isdir(os.path.join(_SRC, "layerout")):
    sys.path.insert(0, os.path.normpath(_SRC))


def load_model(spec):
    if ":" in spec:
        mod, fn = spec.split(":", 1)
        return getattr(importlib.import_module(mod), fn)()
    import torchvision
    return getattr(torchvision.models, spec)(weights=None)


def write(model, example, onnx_path, map_path, opset=17):
    """Exports model on example to onnx_path and writes the name map to
    map_path; returns the map."""
    import json
    from layerout.torch import _Export, _export_kwargs
    from layerout._torchscript import module_output_names
    names = module_output_names(model, example)
    work = tempfile.mkdtemp(prefix="layerout-tsnames-")
    try:
        kwargs = _export_kwargs({"opset_version": opset}, True)
        export = _Export(model, example, kwargs, work)
        mapping = {}
        for layer, ts in names.items():
            t = export.tensor_of(layer)
            if t is not None:
                mapping[t] = ts
        for p in (onnx_path, map_path):
            os.makedirs(os.path.dirname(os.path.abspath(p)), exist_ok=True)
        shutil.copyfile(export.model_path, onnx_path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    with open(map_path, "w") as f:
        json.dump(mapping, f, indent=1)
    return mapping


def main():
    import torch
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="torchvision model name or package.module:callable")
    ap.add_argument("--shape", required=True, help="dummy input shape, e.g. 1x3x224x224")
    ap.add_argument("-o", "--output", required=True, help="the JSON name map to write (the export goes beside it)")
    ap.add_argument("--opset", type=int, default=17)
    args = ap.parse_args()
    model = load_model(args.model).eval()
    example = torch.randn([int(d) for d in args.shape.lower().split("x")])
    onnx_path = os.path.splitext(args.output)[0] + ".onnx"
    try:
        mapping = write(model, example, onnx_path, args.output, args.opset)
    except Exception as e:
        print(f"torchscript_names: {e}", file=sys.stderr)
        return 2
    print(f"{len(mapping)} names written to {args.output} (ONNX model: {onnx_path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
