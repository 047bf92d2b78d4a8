"""Export the oracle's models to ONNX, deterministically, into a cache.

    python3 export_models.py --work DIR --exporter torchscript   (Debian torch 1.13: opset 13 and 17)
    venv/python export_models.py --work DIR --exporter dynamo    (PyPI torch: torch.onnx.export(dynamo=True))

Each variant lands in DIR/<model>/<variant>/ with model.onnx (plus model.onnx.data
when the exporter writes external data), input.npy, expected.npy (PyTorch's own
forward output) and export.json. A variant whose export.json exists is not
exported again; a variant is written to a temporary folder and renamed into
place, so an interrupted export leaves nothing half-written behind.
"""

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import time
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle_models  # noqa: E402

# The TorchScript variants: opset -> whether the batch dimension is exported as
# dynamic (users often export that way; it exercises the Shape/Gather/Concat
# subgraphs and resolving dynamic dims from the actual input).
TORCHSCRIPT_VARIANTS = {"ts13": (13, True), "ts17": (17, False)}


def _export_torchscript(model, example, path, opset, dynamic_batch):
    kwargs = {}
    if dynamic_batch:
        kwargs = dict(input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    if torch.__version__ >= "2":
        kwargs["dynamo"] = False
    torch.onnx.export(model, (example,), path, opset_version=opset, do_constant_folding=True, **kwargs)


def _export_dynamo(model, example, path):
    program = torch.onnx.export(model, (example,), path, dynamo=True)
    return program


def _write_variant(work, name, variant, exporter_fn, meta):
    final = os.path.join(work, name, variant)
    if os.path.exists(os.path.join(final, "export.json")):
        return False
    tmp = final + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    model, example = oracle_models.build(name)
    with torch.no_grad():
        expected = model(example)
    t0 = time.time()
    log = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        warnings.simplefilter("ignore")
        exporter_fn(model, example, os.path.join(tmp, "model.onnx"))
    meta = dict(meta, model=name, variant=variant, torch=torch.__version__,
                export_seconds=round(time.time() - t0, 2),
                input_shape=list(example.shape), input_dtype=str(example.numpy().dtype))
    np.save(os.path.join(tmp, "input.npy"), example.numpy())
    np.save(os.path.join(tmp, "expected.npy"), expected.numpy())
    with open(os.path.join(tmp, "export.log"), "w") as f:
        f.write(log.getvalue())
    with open(os.path.join(tmp, "export.json"), "w") as f:
        json.dump(meta, f, indent=2)
    shutil.rmtree(final, ignore_errors=True)
    os.rename(tmp, final)
    print(f"exported {name}/{variant} in {meta['export_seconds']} s", flush=True)
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--exporter", choices=["torchscript", "dynamo"], required=True)
    ap.add_argument("--models", nargs="*", default=oracle_models.MODEL_NAMES)
    args = ap.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    failures = 0
    for name in args.models:
        if args.exporter == "torchscript":
            variants = [(v, (lambda o, d: lambda m, x, p: _export_torchscript(m, x, p, o, d))(o, d),
                         dict(exporter="torchscript", opset=o, dynamic_batch=d))
                        for v, (o, d) in TORCHSCRIPT_VARIANTS.items()]
        else:
            variants = [("dynamo", _export_dynamo, dict(exporter="dynamo", dynamic_batch=False))]
        for variant, fn, meta in variants:
            failed_marker = os.path.join(args.work, name, variant + ".failed")
            try:
                _write_variant(args.work, name, variant, fn, meta)
                if os.path.exists(failed_marker):
                    os.remove(failed_marker)
            except Exception as e:  # report and go on with the other models
                failures += 1
                msg = f"{type(e).__name__}: {str(e).strip()}"
                print(f"EXPORT FAILED {name}/{variant}: {msg}", flush=True)
                os.makedirs(os.path.dirname(failed_marker), exist_ok=True)
                with open(failed_marker, "w") as f:
                    f.write(f"torch {torch.__version__}, {variant}: {msg}\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
