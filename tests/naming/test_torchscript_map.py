"""tools/torchscript_names.py, then `layerout generate --naming torchscript --name-map`.

    VENV_PYTHON test_torchscript_map.py LAYEROUT WORK

Runs the tool on torchvision's resnet18 (1x3x64x64): it exports the model
(modules kept apart, as aimet_torch's exporter does) and writes the name map. layerout must then write exactly one file per map entry,
named by the TorchScript name sanitized, holding the same values as that ONNX
tensor's file under the onnx scheme, and no other file (tensors outside the
map are left out without --all-tensors).
"""

import json
import os
import re
import subprocess
import sys

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
tool = os.path.join(here, "..", "..", "tools", "torchscript_names.py")


def files(dump):
    m = json.load(open(os.path.join(dump, "manifest.json")))
    d = os.path.join(dump, "outputs", "layer_outputs_0")
    return {e["name"]: (os.path.splitext(e["file"])[0],
                        np.fromfile(os.path.join(d, e["file"]), dtype=e["dtype"])) for e in m["tensors"]}


def main():
    layerout, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    problems = []
    names = os.path.join(work, "resnet18_names.json")
    r = subprocess.run([sys.executable, tool, "resnet18", "--shape", "1x3x64x64", "-o", names],
                       capture_output=True, text=True)
    if r.returncode != 0:
        problems.append("tool failed: " + r.stderr.strip()[-500:])
    else:
        model = os.path.join(work, "resnet18_names.onnx")
        mapping = json.load(open(names))
        np.save(os.path.join(work, "x.npy"), np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32))
        dumps = {}
        for scheme, extra in [("torchscript", ["--name-map", names]), ("onnx", [])]:
            dumps[scheme] = os.path.join(work, "dump_" + scheme)
            r = subprocess.run([layerout, "generate", model, "-o", dumps[scheme], "--overwrite", "--naming", scheme,
                                "-i", os.path.join(work, "x.npy")] + extra, capture_output=True, text=True)
            if r.returncode != 0:
                problems.append(f"layerout --naming {scheme} failed: {r.stderr.strip()[:300]}")
        if not problems:
            ts, ox = files(dumps["torchscript"]), files(dumps["onnx"])
            if set(ts) != set(mapping):
                problems.append(f"files for {sorted(set(ts) ^ set(mapping))[:10]}: not the map's entries")
            for onnx_name, ts_name in mapping.items():
                if onnx_name not in ts:
                    continue
                stem, values = ts[onnx_name]
                if stem != re.sub(r"\W+", "_", ts_name):
                    problems.append(f"{onnx_name}: file {stem}, expected {re.sub(r'[^0-9A-Za-z_]+', '_', ts_name)}")
                if not np.array_equal(values, ox[onnx_name][1]):
                    problems.append(f"{onnx_name}: values differ from the onnx scheme's file")
            # resnet18: 52 leaf modules; aimet_torch's TorchScript pairing
            # names all but fc (torch 2's aten::linear is no addmm)
            if len(mapping) != 51:
                problems.append(f"{len(mapping)} names mapped, expected 51")
    print(f"torchscript map: {'ok' if not problems else 'FAILED'}")
    for p in problems:
        print("    " + p)
    print(f"torchscript map: {int(not problems)} passed, {int(bool(problems))} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
