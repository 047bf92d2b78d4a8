"""`pip install ./python`, as the README says, in a fresh Python venv and
offline: the build requirements come from a local wheelhouse (filled once
from PyPI with the versions python/build-requirements.txt pins, plus the
numpy the drop-ins need), liblayerout and the layerout command are built by
CMake into the package, and both drop-ins run from the installed package:
aimet_onnx's from inside the fresh venv (numpy alone), aimet_torch's from
the test venv (torch is too big to install again) importing the installed
package folder. Their dumps are compared file by file with AIMET's."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import REPO, REPORT, WORK, tree_files

SYSTEM_PYTHON = "/usr/bin/python3"


def _clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "LAYEROUT_LIBRARY", "LAYEROUT_BINARY", "LAYEROUT_TOOLS", "VIRTUAL_ENV",
                        "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS")}
    env.update(extra)
    return env


def _wheelhouse():
    """The folder of build-requirement wheels (and numpy) the offline
    install reads; filled from PyPI by pip download when something is
    missing."""
    wh = os.environ.get("LAYEROUT_WHEELHOUSE") or os.path.join(WORK, "wheelhouse")
    os.makedirs(wh, exist_ok=True)
    pins = [line.strip() for line in open(os.path.join(REPO, "python", "build-requirements.txt"))
            if line.strip() and not line.startswith("#")]
    pins.append(f"numpy=={np.__version__}")
    have = {f.split("-")[0].lower().replace("_", "-") + "==" + f.split("-")[1] for f in os.listdir(wh)
            if f.endswith(".whl")}
    missing = [p for p in pins if p.lower() not in have]
    if missing:
        r = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                            "--only-binary=:all:", "--python-version", "3.11", "-d", wh, *missing],
                           capture_output=True, text=True)
        assert r.returncode == 0, f"filling the wheelhouse from PyPI failed:\n{r.stderr[-2000:]}"
    return wh


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    if not os.path.exists(SYSTEM_PYTHON):
        pytest.skip("no /usr/bin/python3")
    wh = _wheelhouse()
    d = tmp_path_factory.mktemp("fresh")
    venv = str(d / "venv")
    subprocess.run([SYSTEM_PYTHON, "-m", "venv", venv], check=True)
    py = os.path.join(venv, "bin", "python")
    t0 = time.monotonic()
    # the README's command, run from the repository root, with no index
    r = subprocess.run([py, "-m", "pip", "install", "--no-index", "--find-links", wh, "./python"], cwd=REPO,
                       capture_output=True, text=True,
                       env=_clean_env(CMAKE_BUILD_PARALLEL_LEVEL=os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", "2")))
    assert r.returncode == 0, f"pip install ./python failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    REPORT.append(f"install: pip install ./python in a fresh venv, offline, took {time.monotonic() - t0:.0f} s")
    site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    return py, os.path.join(site, "layerout")


def test_package_contents(venv):
    py, pkg = venv
    for f in ("liblayerout.so.0", "layerout", "_torchscript_names.py", "py.typed", "onnx.py", "torch.py"):
        assert os.path.isfile(os.path.join(pkg, f)), f"{f} is not in the installed package"
    r = subprocess.run([py, "-c", "import layerout; print(layerout.library_path()); print(layerout.version())"],
                       capture_output=True, text=True, env=_clean_env(), cwd="/")
    assert r.returncode == 0, r.stderr
    lib, version = r.stdout.split()
    assert lib == os.path.realpath(os.path.join(pkg, "liblayerout.so.0"))
    assert version == "0.1.0"
    # the console command runs the binary inside the package
    cmd = os.path.join(os.path.dirname(py), "layerout")
    r = subprocess.run([cmd, "--help"], capture_output=True, text=True, env=_clean_env())
    assert r.returncode == 0 and "generate" in r.stdout + r.stderr, r.stderr


def _onnx_model(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(5)
    w = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "conv.w")
    b = numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "conv.b")
    g = helper.make_graph([helper.make_node("Conv", ["x", "conv.w", "conv.b"], ["conv/out"], name="conv", pads=[1] * 4),
                           helper.make_node("Relu", ["conv/out"], ["relu:0"], name="relu"),
                           helper.make_node("GlobalAveragePool", ["relu:0"], ["pool"], name="pool")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                          [helper.make_tensor_value_info("pool", TensorProto.FLOAT, [1, 4, 1, 1])], [w, b])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    path = str(tmp_path / "model.onnx")
    onnx.save(m, path)
    return m, path


def _assert_like_aimet(aimet_dir, ours_dir, atol=1e-5):
    fa, fo = tree_files(aimet_dir), tree_files(ours_dir)
    fo.pop("manifest.json", None)
    assert sorted(fa) == sorted(fo), f"only AIMET: {sorted(set(fa) - set(fo))}, only ours: {sorted(set(fo) - set(fa))}"
    for rel in fa:
        if rel.endswith(".raw"):
            a, o = np.fromfile(fa[rel], np.float32), np.fromfile(fo[rel], np.float32)
            assert a.shape == o.shape and np.allclose(a, o, rtol=1e-4, atol=atol), rel
        else:
            assert json.load(open(fa[rel])) == json.load(open(fo[rel])), rel


def test_onnx_drop_in_from_fresh_venv(venv, tmp_path):
    pytest.importorskip("aimet_onnx")
    from aimet_onnx.layer_output_utils import LayerOutputUtil as AimetUtil
    py, _ = venv
    model, path = _onnx_model(tmp_path)
    xs = [np.random.default_rng(k).standard_normal((1, 3, 8, 8)).astype(np.float32) for k in range(2)]
    aimet = AimetUtil(model, str(tmp_path / "aimet"))
    for k, x in enumerate(xs):
        np.save(tmp_path / f"x{k}.npy", x)
        aimet.generate_layer_outputs(x)
    script = ("import sys, numpy as np\n"
              "from layerout.onnx import LayerOutputUtil\n"
              "u = LayerOutputUtil(sys.argv[1], sys.argv[2])\n"
              "for p in sys.argv[3:]: u.generate_layer_outputs(np.load(p))\n"
              "import layerout; print(layerout.library_path())\n")
    r = subprocess.run([py, "-c", script, path, str(tmp_path / "ours"), str(tmp_path / "x0.npy"),
                        str(tmp_path / "x1.npy")], capture_output=True, text=True, env=_clean_env(), cwd="/")
    assert r.returncode == 0, r.stderr
    assert "/venv/" in r.stdout, r.stdout
    _assert_like_aimet(str(tmp_path / "aimet"), str(tmp_path / "ours"))


TORCH_SCRIPT = r"""
import json, os, sys
import numpy as np, torch
sys.path.insert(0, sys.argv[1])
import layerout
from layerout.torch import LayerOutputUtil
from aimet_torch.layer_output_utils import LayerOutputUtil as AimetUtil
assert layerout.__file__.startswith(sys.argv[1]), layerout.__file__
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                          torch.nn.Linear(4 * 8 * 8, 5)).eval()
xs = [torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(k)) for k in range(2)]
for cls, d in ((AimetUtil, "aimet"), (LayerOutputUtil, "ours")):
    u = cls(net, os.path.join(sys.argv[2], d), dummy_input=xs[0])
    for x in xs:
        u.generate_layer_outputs(x)
    if hasattr(u, "close"):
        u.close()
print(layerout._lib.library_path())
"""


def test_torch_drop_in_from_installed_package(venv, tmp_path):
    pytest.importorskip("aimet_torch")
    _, pkg = venv
    # the test venv's python (torch, AIMET) with the installed package
    # folder alone on its path: not the fresh venv's numpy
    only = tmp_path / "only-layerout"
    only.mkdir()
    os.symlink(pkg, only / "layerout")
    r = subprocess.run([sys.executable, "-c", TORCH_SCRIPT, str(only), str(tmp_path)], capture_output=True, text=True,
                       env=_clean_env(OMP_NUM_THREADS="2"), cwd="/")
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip().splitlines()[-1] == os.path.realpath(os.path.join(pkg, "liblayerout.so.0"))
    _assert_like_aimet(str(tmp_path / "aimet"), str(tmp_path / "ours"))
