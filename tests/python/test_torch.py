"""layerout.torch.LayerOutputUtil: names against forward hooks, files
against `layerout generate` on the util's own export."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
import torch.nn as nn  # noqa: E402

from layerout.torch import LayerOutputUtil, NamingScheme  # noqa: E402

from conftest import REPO, assert_same_dump, manifest, run_cli, write_encodings  # noqa: E402

torch.set_num_threads(1)


class TwiceNet(nn.Module):
    """A module called twice (relu), a functional op (the add, flatten), a
    nested Sequential, and no BatchNorm an exporter could fold away."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.block = nn.Sequential(nn.Conv2d(8, 8, 1), nn.ReLU(), nn.MaxPool2d(2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = self.relu(self.conv1(x))
        y = self.relu(self.conv2(x)) + x
        y = self.pool(self.block(y))
        return self.fc(torch.flatten(y, 1))


def build(name):
    torch.manual_seed(0)
    if name == "twice":
        return TwiceNet().eval(), torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    model = getattr(torchvision.models, name)(weights=None).eval()
    return model, torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))


def hooked_outputs(model, x):
    """{expected file stem: output} from forward hooks on leaf modules, named
    as aimet_torch names them: the module name with \\W+ -> _; a module
    called K times keeps its plain name for the last call and NAME__callN
    for the earlier ones. Modules whose output is their input (Dropout in
    eval mode) are left out: exporters drop them, so no file can exist."""
    names = {m: n for n, m in model.named_modules()}
    calls = {}
    handles = []

    def hook(module, inputs, output):
        if not isinstance(output, torch.Tensor):
            return
        # in eval mode these return their input; an in-place ReLU also
        # returns its input object, so identity is judged by type
        same = isinstance(module, (nn.Dropout, nn.Identity))
        calls.setdefault(names[module], []).append(None if same else output.detach().clone().numpy())

    for n, m in model.named_modules():
        if n and not list(m.children()):
            handles.append(m.register_forward_hook(hook))
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    out = {}
    for n, outs in calls.items():
        base = re.sub(r"\W+", "_", n)
        for k, o in enumerate(outs, 1):
            if o is not None:
                out[base if k == len(outs) else f"{base}__call{k}"] = o
    return out


@pytest.mark.parametrize("name", ["twice", "squeezenet1_1"])
def test_pytorch_names_equal_hook_names(name, cli, tmp_path):
    model, x = build(name)
    expected = hooked_outputs(model, x)
    util = LayerOutputUtil(model, str(tmp_path / "py"), threads=2)  # dummy input: the first one seen
    util.generate_layer_outputs(x)
    order = json.load(open(tmp_path / "py" / "layer_output_name_order.json"))["layer_output_names"]
    assert sorted(order) == sorted(expected)
    for stem, ref in expected.items():
        got = np.fromfile(tmp_path / "py" / "outputs" / "layer_outputs_0" / (stem + ".raw"), dtype=np.float32)
        assert got.size == ref.size, stem
        assert np.allclose(got, ref.reshape(-1), rtol=1e-4, atol=1e-4), stem
    mem = util.get_layer_outputs(x)
    assert list(mem) == order
    for stem in order:
        assert mem[stem].tobytes() == (tmp_path / "py" / "outputs" / "layer_outputs_0" / (stem + ".raw")).read_bytes()
    onnx_path = util.onnx_path
    ref = run_cli(cli, onnx_path, str(tmp_path / "cli"), [[x.numpy()]], "--naming", "pytorch")
    assert_same_dump(str(tmp_path / "py"), ref)
    util.close()


def test_onnx_scheme_identical_to_cli(cli, tmp_path):
    model, x = build("resnet18")
    util = LayerOutputUtil(model, str(tmp_path / "py"), naming_scheme=NamingScheme.ONNX, dummy_input=x,
                           onnx_export_args={"opset_version": 17}, threads=2)
    x2 = x * 0.5
    util.generate_layer_outputs(x)
    util.generate_layer_outputs(x2)
    ref = run_cli(cli, util.onnx_path, str(tmp_path / "cli"), [[x.numpy()], [x2.numpy()]], "--naming", "onnx")
    assert_same_dump(str(tmp_path / "py"), ref)
    mem = util.get_layer_outputs(x2)
    for stem, arr in mem.items():
        assert arr.tobytes() == (tmp_path / "py" / "outputs" / "layer_outputs_1" / (stem + ".raw")).read_bytes()
    util.close()


def test_torchscript_scheme_identical_to_cli(cli, tmp_path):
    tool = os.path.join(REPO, "tools", "torchscript_names.py")
    if not os.path.exists(tool):
        pytest.skip("tools/torchscript_names.py is not there")
    model, x = build("resnet18")
    util = LayerOutputUtil(model, str(tmp_path / "py"), naming_scheme=NamingScheme.TORCHSCRIPT, dummy_input=x,
                           threads=2)
    util.generate_layer_outputs(x)
    # the map the tool's command writes for the same export (the names
    # depend on the structure, not on the random weights)
    names = str(tmp_path / "names.json")
    r = subprocess.run([sys.executable, tool, "resnet18", "--shape", "1x3x64x64", "-o", names,
                        "--onnx", util.onnx_path], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    ref = run_cli(cli, util.onnx_path, str(tmp_path / "cli"), [[x.numpy()]], "--naming", "torchscript",
                  "--name-map", names)
    assert_same_dump(str(tmp_path / "py"), ref)
    order = json.load(open(tmp_path / "py" / "layer_output_name_order.json"))["layer_output_names"]
    assert len(order) > 20 and all(re.fullmatch(r"\w+", n) for n in order)
    util.close()


def test_quantized_equals_cli(cli, tmp_path):
    model, x = build("resnet18")
    with LayerOutputUtil(model, str(tmp_path / "float"), naming_scheme=NamingScheme.ONNX, dummy_input=x,
                         threads=2) as f:
        f.generate_layer_outputs(x)
        onnx_copy = str(tmp_path / "model.onnx")
        with open(f.onnx_path, "rb") as src, open(onnx_copy, "wb") as dst:
            dst.write(src.read())
    enc = str(tmp_path / "model.encodings")
    write_encodings(enc, onnx_copy, str(tmp_path / "float"))
    util = LayerOutputUtil(model, str(tmp_path / "py"), dummy_input=x, encodings=enc, rounding="half-even",
                           threads=2)
    util.generate_layer_outputs(x)
    ref = run_cli(cli, util.onnx_path, str(tmp_path / "cli"), [[x.numpy()]], "--naming", "pytorch",
                  "--encodings", enc, "--rounding", "half-even")
    assert_same_dump(str(tmp_path / "py"), ref)
    assert any(e["encoding"] for e in manifest(str(tmp_path / "py"))["tensors"])
    util.close()


def test_list_input_and_export_args_object(tmp_path):
    class ExportArgs:  # the attributes of AIMET's OnnxExportApiArgs
        opset_version = 13
        input_names = ["image"]
        output_names = ["logits"]

    model, x = build("twice")
    util = LayerOutputUtil(model, str(tmp_path / "py"), naming_scheme=NamingScheme.ONNX, dummy_input=[x],
                           onnx_export_args=ExportArgs())
    util.generate_layer_outputs([x])
    util.generate_layer_outputs(x)
    import onnx
    m = onnx.load(util.onnx_path)
    assert [i.name for i in m.graph.input] == ["image"] and [o.name for o in m.graph.output] == ["logits"]
    assert any(o.version == 13 for o in m.opset_import if o.domain in ("", "ai.onnx"))
    d = tmp_path / "py" / "inputs"
    assert sorted(os.listdir(d)) == ["input_0", "input_1.raw"]  # AIMET: the layout follows the type passed
    assert (d / "input_0" / "0.raw").read_bytes() == x.numpy().tobytes()
    assert (d / "input_1.raw").read_bytes() == x.numpy().tobytes()
    order = json.load(open(tmp_path / "py" / "layer_output_name_order.json"))["layer_output_names"]
    assert "image" in order and "logits" in order
    util.close()


def test_aimet_enum_and_required_dummy_input(tmp_path):
    model, x = build("twice")
    with pytest.raises(ValueError, match="dummy_input"):
        LayerOutputUtil(model, str(tmp_path / "a"), naming_scheme=NamingScheme.ONNX)
    with pytest.raises(ValueError, match="dummy_input"):
        LayerOutputUtil(model, str(tmp_path / "a"), naming_scheme=3)
    assert [s.value for s in NamingScheme] == [1, 2, 3]
    try:
        from aimet_torch.layer_output_utils import NamingScheme as AimetScheme
    except Exception:
        pytest.skip("aimet_torch does not import here")
    util = LayerOutputUtil(model, str(tmp_path / "b"), naming_scheme=AimetScheme.PYTORCH)
    assert util.naming_scheme is NamingScheme.PYTORCH
    util.generate_layer_outputs(x)
    assert "conv1" in json.load(open(tmp_path / "b" / "layer_output_name_order.json"))["layer_output_names"]
    util.close()
