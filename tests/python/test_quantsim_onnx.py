"""AIMET's QuantSim flow through the aimet_onnx drop-in:

    sim = QuantizationSimModel(model, config_file=...)
    sim.compute_encodings(...)
    LayerOutputUtil(sim.model.model, dir).generate_layer_outputs(x)

run once with aimet_onnx's LayerOutputUtil and once with layerout's, on a
CNN (BatchNorm, residual, depthwise) and a transformer (two encoder layers), with AIMET's default
config (per-channel weights) and a per-tensor one. The two dumps must hold
the same files (same relative paths; layerout's manifest.json aside) and
values within one quantization step of the tensor's encoding (the steps
taken are ties of the rounding, counted and printed); tensors AIMET leaves
unquantized (a Conv's output inside a Conv+ReLU supergroup) within float
noise."""

import copy
import json
import os
import re

import numpy as np
import pytest

aimet_onnx = pytest.importorskip("aimet_onnx")
onnx = pytest.importorskip("onnx")
torch = pytest.importorskip("torch")

from aimet_onnx.layer_output_utils import LayerOutputUtil as AimetUtil  # noqa: E402
from aimet_onnx.quantsim import QuantizationSimModel  # noqa: E402
from aimet_onnx.utils import duplicate_shared_initializers  # noqa: E402

from conftest import REPORT, WORK, control_flow_model, tree_files  # noqa: E402
from layerout.onnx import LayerOutputUtil  # noqa: E402

SAMPLES = 2


def _export(name):
    out = os.path.join(WORK, "quantsim-models", name + ".onnx")
    if os.path.exists(out):
        return out
    os.makedirs(os.path.dirname(out), exist_ok=True)
    torch.manual_seed(0)
    if name == "cnn":
        class CNN(torch.nn.Module):
            def __init__(self):
                super().__init__()
                nn = torch.nn
                self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2))
                self.block = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                                           nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.BatchNorm2d(16))
                self.skip = nn.Conv2d(8, 16, 1)
                self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))

            def forward(self, x):
                x = self.stem(x)
                return self.head(torch.relu(self.block(x) + self.skip(x)))
        net, x = CNN().eval(), torch.randn(1, 3, 32, 32)
        with torch.no_grad():  # BatchNorm statistics other than the identity, as after training
            for m in net.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.5, 0.5)
                    m.running_var.uniform_(0.5, 2.0)
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.2, 0.2)
    else:
        class Encoder(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.embed = torch.nn.Linear(16, 32)
                layer = torch.nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True)
                self.encoder = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
                self.head = torch.nn.Linear(32, 10)

            def forward(self, x):
                return self.head(self.encoder(self.embed(x)).mean(1))
        net, x = Encoder().eval(), torch.randn(1, 8, 16)
    torch.onnx.export(net, (x,), out + ".tmp", opset_version=17, dynamo=False, input_names=["input"])
    os.rename(out + ".tmp", out)
    return out


def _config(per_channel, tmp_path):
    """AIMET's default config (per-channel weights) or the same with
    per_channel_quantization off."""
    from aimet_onnx.common.quantsim_config import quantsim_config
    path = os.path.join(os.path.dirname(quantsim_config.__file__),
                        quantsim_config._config_file_aliases["default"])
    if per_channel:
        return path
    with open(path) as f:
        cfg = json.load(f)
    cfg["defaults"]["per_channel_quantization"] = "False"
    out = str(tmp_path / "per_tensor_config.json")
    with open(out, "w") as f:
        json.dump(cfg, f)
    return out


def _make_sim(name, per_channel, tmp_path):
    model = onnx.load(_export(name))
    # the exporter shares identical initializers between layers; AIMET asks
    # for one copy per consumer
    duplicate_shared_initializers(model.graph)
    sim = QuantizationSimModel(model, config_file=_config(per_channel, tmp_path))
    rng = np.random.default_rng(7)
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    xs = [rng.standard_normal(shape).astype(np.float32) for _ in range(SAMPLES)]
    sim.compute_encodings([{"input": x} for x in xs])
    return sim, xs


def _activation_scales(sim, tmp_path):
    """{file stem: scale} of every activation AIMET encodes, from AIMET's own
    export (independent of layerout's reading of it)."""
    d = tmp_path / "aimet-export"
    d.mkdir()
    sim.export(str(d), "sim", export_model=False, encoding_version="1.0.0")
    with open(d / "sim.encodings") as f:
        enc = json.load(f)
    assert enc["activation_encodings"], "AIMET exported no activation encodings"
    return {re.sub(r"\W+", "_", e["name"]): float(e["scale"][0]) for e in enc["activation_encodings"]}


def compare_quantized_dumps(aimet_dir, ours_dir, scales, tag):
    fa = set(tree_files(aimet_dir))
    fo = set(tree_files(ours_dir)) - {"manifest.json"}
    assert fa == fo, f"{tag}: only AIMET: {sorted(fa - fo)[:8]}; only layerout: {sorted(fo - fa)[:8]}"
    order = [json.load(open(os.path.join(d, "layer_output_name_order.json")))["layer_output_names"]
             for d in (aimet_dir, ours_dir)]
    # AIMET builds the sim's list from a set: same names, its own order
    assert sorted(order[0]) == sorted(order[1]) and len(order[1]) == len(set(order[1]))
    ties = quantized = elements = 0
    worst_float = 0.0
    for rel in sorted(fa):
        if not rel.endswith(".raw"):
            continue
        a = np.fromfile(os.path.join(aimet_dir, rel), dtype=np.float32)
        o = np.fromfile(os.path.join(ours_dir, rel), dtype=np.float32)
        assert a.shape == o.shape, rel
        diff = np.abs(a.astype(np.float64) - o.astype(np.float64))
        stem = os.path.splitext(os.path.basename(rel))[0]
        elements += a.size
        if rel.startswith("outputs") and stem in scales:
            quantized += 1
            step = scales[stem]
            bad = diff > step * (1 + 1e-5) + 1e-7
            assert not bad.any(), f"{tag}: {rel}: {int(bad.sum())} values more than one step ({step}) apart, " \
                                  f"max {diff.max()}"
            ties += int((diff > step / 2).sum())
        else:
            tol = 1e-4 + 1e-4 * np.abs(a)
            bad = diff > tol
            assert not bad.any(), f"{tag}: {rel} (not quantized): {int(bad.sum())} values apart, max {diff.max()}"
            worst_float = max(worst_float, float(diff.max(initial=0.0)))
    REPORT.append(f"quantsim {tag}: {len(fa)} files the same, {quantized} quantized tensor files, "
                  f"{ties} of {elements} values one step apart (ties), unquantized max diff {worst_float:.3g}")
    assert quantized > 10
    return ties


@pytest.mark.parametrize("per_channel", [True, False], ids=["per-channel", "per-tensor"])
@pytest.mark.parametrize("name", ["cnn", "transformer"])
def test_quantsim_model_proto(name, per_channel, tmp_path):
    sim, xs = _make_sim(name, per_channel, tmp_path)
    scales = _activation_scales(sim, tmp_path)
    before = sim.model.model.SerializeToString()
    aimet = AimetUtil(sim.model.model, str(tmp_path / "aimet"))
    ours = LayerOutputUtil(sim.model.model, str(tmp_path / "ours"), threads=2)
    for x in xs:
        aimet.generate_layer_outputs(x)
        ours.generate_layer_outputs(x)
    ours.close()
    assert sim.model.model.SerializeToString() == before, "the sim's model was modified"
    compare_quantized_dumps(str(tmp_path / "aimet"), str(tmp_path / "ours"), scales,
                            f"{name} {'per-channel' if per_channel else 'per-tensor'}")
    # the simulation is not a float run: some tensor differs from the float model's
    with LayerOutputUtil(_export(name), str(tmp_path / "float"), threads=2) as f:
        f.generate_layer_outputs(xs[0])
    rel = "outputs/layer_outputs_0"
    # (the sim's supergroups hide some of the float model's tensors)
    common = set(os.listdir(tmp_path / "float" / rel)) & set(os.listdir(tmp_path / "ours" / rel))
    changed = [n for n in common
               if (tmp_path / "float" / rel / n).read_bytes() != (tmp_path / "ours" / rel / n).read_bytes()]
    assert len(changed) > 10


def test_quantsim_object_and_copies(tmp_path):
    """The QuantizationSimModel itself is accepted; a copy of its model,
    which no sim owns, is refused with a message saying what to pass."""
    sim, xs = _make_sim("cnn", True, tmp_path)
    with LayerOutputUtil(sim, str(tmp_path / "sim"), threads=2) as u:
        u.generate_layer_outputs(xs[0])
    with LayerOutputUtil(sim.model.model, str(tmp_path / "proto"), threads=2) as u:
        u.generate_layer_outputs(xs[0])
    with LayerOutputUtil(sim.model, str(tmp_path / "wrapper"), threads=2) as u:
        u.generate_layer_outputs(xs[0])
    b = tree_files(str(tmp_path / "proto"))
    for other in ("sim", "wrapper"):
        a = tree_files(str(tmp_path / other))
        assert sorted(a) == sorted(b)
        for rel in a:
            if rel.endswith(".raw"):
                assert open(a[rel], "rb").read() == open(b[rel], "rb").read(), rel
    orphan = copy.deepcopy(sim.model.model)
    with pytest.raises(ValueError, match=r"QcQuantizeOp.*LayerOutputUtil\(sim, dir_path\).*encodings="):
        LayerOutputUtil(orphan, str(tmp_path / "orphan"))
    assert not os.path.exists(tmp_path / "orphan" / "outputs" / "layer_outputs_0")
    with pytest.raises(ValueError, match="encodings"):
        LayerOutputUtil(sim, str(tmp_path / "both"), encodings=str(tmp_path / "x.encodings"))


@pytest.mark.parametrize("cond", [True, False])
def test_quantsim_control_flow(tmp_path, cond):
    """A sim of a model with If and Loop (quantizers on their outputs): the
    same top-level files as AIMET's, the same bytes."""
    model = control_flow_model(str(tmp_path / "cf.onnx"))
    x = np.linspace(-2, 2, 6, dtype=np.float32).reshape(2, 3)
    sim = QuantizationSimModel(model)
    sim.compute_encodings([{"x": x * s, "cond": np.array(c)} for s in (0.5, 1.0) for c in (True, False)])
    sample = [x * 0.75, np.array(cond)]
    AimetUtil(sim.model.model, str(tmp_path / "aimet")).generate_layer_outputs(sample)
    with LayerOutputUtil(sim.model.model, str(tmp_path / "ours"), threads=2) as u:
        u.generate_layer_outputs(sample)
    a, o = tree_files(str(tmp_path / "aimet")), tree_files(str(tmp_path / "ours"))
    o.pop("manifest.json")
    assert sorted(a) == sorted(o)
    for rel in a:
        if rel.endswith(".raw"):
            assert open(a[rel], "rb").read() == open(o[rel], "rb").read(), rel
