"""aimet_torch's LayerOutputUtil against layerout's scheme of the same name.

    VENV_PYTHON test_aimet.py LAYEROUT WORK

On resnet18 (random weights, 1x3x64x64), for each aimet_torch NamingScheme
(PYTORCH, ONNX, TORCHSCRIPT) the files aimet_torch writes must all be written
by layerout under the same names with the same values (1e-4 + 1e-4|ref|).
layerout runs on the model as AIMET exports it (OnnxSaver, the exporter
behind QuantizationSimModel.export: BatchNorms kept, nodes named by module).
What layerout writes beyond aimet_torch is listed:
  PYTORCH      earlier calls of a reused module (NAME__callN); aimet_torch's
               hook overwrites them, keeping the last call.
  ONNX         every other tensor: aimet_torch names only leaf-module outputs,
               layerout's onnx scheme (like aimet_onnx) saves every tensor.
  TORCHSCRIPT  nothing: layerout runs tools/torchscript_names.py's export
               with its name map (one tensor per module aimet_torch names,
               the module's last call, as aimet_torch's hook keeps).
If aimet_torch does not import, the test prints why and reports a skip.
"""

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "oracle"))
sys.path.insert(0, os.path.join(here, "..", "..", "tools"))


def load_dir(d, manifest=None):
    files = {}
    od = os.path.join(d, "outputs", "layer_outputs_0")
    if manifest:
        for e in json.load(open(manifest))["tensors"]:
            files[os.path.splitext(e["file"])[0]] = np.fromfile(os.path.join(od, e["file"]), dtype=e["dtype"]).reshape(e["shape"])
    else:
        for f in os.listdir(od):
            files[os.path.splitext(f)[0]] = np.fromfile(os.path.join(od, f), dtype=np.float32)
    return files


def main():
    layerout, work = sys.argv[1], sys.argv[2]
    try:
        import torch
        import oracle_models
        import torchscript_names
        from aimet_torch.layer_output_utils import LayerOutputUtil, NamingScheme
        from aimet_torch.onnx_utils import OnnxSaver, OnnxExportApiArgs
    except Exception as e:  # noqa: BLE001 - any import failure means skip
        print(f"aimet_torch: skipped ({type(e).__name__}: {e})")
        print("aimet: 0 passed, 0 failed, 1 skipped")
        return 0
    import logging
    logging.disable(logging.WARNING)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    model, _ = oracle_models.build("resnet18")
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    np.save(os.path.join(work, "input.npy"), x.numpy())
    onnx_path = os.path.join(work, "aimet_export.onnx")
    OnnxSaver.create_onnx_model_with_pytorch_layer_names(onnx_path, model, x, onnx_export_args=OnnxExportApiArgs())
    # the TorchScript names come with the tool's own export (modules kept
    # apart as in AIMET's); the map names that export's tensors
    name_map = os.path.join(work, "ts_names.json")
    ts_onnx = os.path.join(work, "ts_names.onnx")
    torchscript_names.write(model, x, ts_onnx, name_map)
    passed = failed = 0
    for scheme, ours, extra in [("PYTORCH", ["--naming", "pytorch"], r".*__call[0-9]+"),
                                ("ONNX", ["--naming", "onnx"], r".*"),
                                ("TORCHSCRIPT", ["--naming", "torchscript", "--name-map", name_map], r"(?!)")]:
        model_path = ts_onnx if scheme == "TORCHSCRIPT" else onnx_path
        adir = os.path.join(work, "aimet_" + scheme.lower())
        LayerOutputUtil(model, adir, naming_scheme=getattr(NamingScheme, scheme), dummy_input=x).generate_layer_outputs(x)
        odir = os.path.join(work, "layerout_" + scheme.lower())
        r = subprocess.run([layerout, "generate", model_path, "-o", odir, "-i", os.path.join(work, "input.npy")] + ours,
                           capture_output=True, text=True)
        problems = []
        if r.returncode != 0:
            problems.append("layerout failed: " + r.stderr.strip()[:300])
            theirs, mine = load_dir(adir), {}
        else:
            theirs, mine = load_dir(adir), load_dir(odir, os.path.join(odir, "manifest.json"))
        for name, ref in sorted(theirs.items()):
            if name not in mine:
                problems.append(f"{name}: written by aimet_torch, not by layerout")
                continue
            got = mine[name].astype(np.float64).reshape(-1)
            ref = ref.astype(np.float64)
            if got.shape != ref.shape or not np.all(np.abs(got - ref) <= 1e-4 + 1e-4 * np.abs(ref)):
                problems.append(f"{name}: values differ")
        more = sorted(set(mine) - set(theirs))
        unexplained = [m for m in more if not re.fullmatch(extra, m)]
        problems += [f"{m}: written by layerout only" for m in unexplained]
        ok = not problems
        print(f"aimet {scheme}: {'ok' if ok else 'FAILED'} ({len(theirs)} aimet_torch files, "
              f"{len(set(theirs) & set(mine))} matched, {len(more)} more from layerout)")
        for p in problems[:40]:
            print("    " + p)
        if more and scheme != "ONNX":
            print("    layerout only: " + ", ".join(more))
        passed += ok
        failed += not ok
    print(f"aimet: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
