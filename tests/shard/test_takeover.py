#!/usr/bin/env python3
"""Within one process, a LayerOutputUtil made again on the same folder while
the first is still alive (a notebook cell run twice) takes the folder over:
it writes, the first one is refused with a message, and another process is
still refused while either is open. Usage: test_takeover.py LAYEROUT_BINARY WORK_DIR"""
import os
import shutil
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dumps import conv_model  # noqa: E402

LAYEROUT, WORK = (os.path.abspath(a) for a in sys.argv[1:3])
os.environ.setdefault("LAYEROUT_LIBRARY", os.path.join(os.path.dirname(LAYEROUT), "liblayerout.so"))
from layerout import LayerOutError  # noqa: E402
from layerout.onnx import LayerOutputUtil  # noqa: E402

shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
model = os.path.join(WORK, "m.onnx")
conv_model(model, 2, 4, 8, 1)
d = os.path.join(WORK, "dump")
x = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)
first = LayerOutputUtil(model, d)
first.generate_layer_outputs(x)
np.save(os.path.join(WORK, "x.npy"), x)
other = subprocess.run([LAYEROUT, "generate", model, "-i", os.path.join(WORK, "x.npy"), "-o", d, "--append"],
                       capture_output=True, text=True)
assert other.returncode == 2 and "being written by another layerout" in other.stderr, other.stderr
second = LayerOutputUtil(model, d)  # the same folder, the first still alive
second.generate_layer_outputs(x)
second.generate_layer_outputs(x)
try:
    first.generate_layer_outputs(x)
    raise AssertionError("the first LayerOutputUtil still wrote into the folder taken over")
except LayerOutError as e:
    assert "newer generator" in str(e), e
del first  # releasing the revoked one leaves the lock with the second
other = subprocess.run([LAYEROUT, "generate", model, "-i", os.path.join(WORK, "x.npy"), "-o", d, "--append"],
                       capture_output=True, text=True)
assert other.returncode == 2 and "being written by another layerout" in other.stderr, other.stderr
del second
subprocess.run([LAYEROUT, "generate", model, "-i", os.path.join(WORK, "x.npy"), "-o", d, "--append", "-q"], check=True)
with open(os.path.join(d, "manifest.json")) as f:
    import json
    assert json.load(f)["samples"] == 3
assert not os.path.exists(os.path.join(d, ".layerout.lock"))
print("PASS a LayerOutputUtil made again on its folder takes it over")
