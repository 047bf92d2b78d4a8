"""layerout.torch.LayerOutputUtil against aimet_torch's LayerOutputUtil: the
same model, inputs and onnx_export_args through both, for each naming
scheme; the dumps must hold the same relative paths, the same
layer_output_name_order.json and the same values (1e-4 + 1e-4*|ref|; equal
bytes for integers). Where aimet_torch fails on a model (its TORCHSCRIPT
pairing on modules it does not know), layerout must fail too, with an error
naming the module. A v2 QuantizationSimModel goes through both as well."""

import json
import logging
import os
import shutil
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
aimet_lou = pytest.importorskip("aimet_torch.layer_output_utils")
import torch.nn as nn  # noqa: E402

from layerout.torch import LayerOutError, LayerOutputUtil, NamingScheme, OnnxExportApiArgs  # noqa: E402

torch.set_num_threads(1)
logging.getLogger().setLevel(logging.ERROR)
for _name in ("LayerOutputs", "Utils", "Quant", "Aimet"):
    logging.getLogger(_name).setLevel(logging.ERROR)

SCHEMES = ["PYTORCH", "ONNX", "TORCHSCRIPT"]


class TwiceNet(nn.Module):
    """One ReLU module called three times, a functional add and flatten, a
    Dropout, a nested Sequential."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.block = nn.Sequential(nn.Conv2d(8, 8, 1), nn.ReLU(), nn.MaxPool2d(2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = self.relu(self.bn(self.conv1(x)))
        y = self.relu(self.conv2(x)) + x
        y = self.relu(self.pool(self.block(y)))
        return self.fc(self.drop(torch.flatten(y, 1)))


def _randomize_bn(model, seed):
    """Random running statistics, so a BatchNorm is not the identity and
    its output differs from the Conv's before it."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return model


def build(name):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    if name == "twice":
        model, shape = TwiceNet(), (1, 3, 32, 32)
    elif name == "vit":
        from torchvision.models.vision_transformer import VisionTransformer
        model = VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32,
                                  mlp_dim=64, num_classes=10)
        shape = (1, 3, 32, 32)
    elif name == "encoder":
        layer = nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, batch_first=True)
        model = nn.Sequential(nn.Linear(16, 32), nn.TransformerEncoder(layer, num_layers=2), nn.Linear(32, 5))
        shape = (2, 7, 16)
    else:
        model, shape = getattr(torchvision.models, name)(weights=None), (1, 3, 64, 64)
    with torch.no_grad():
        _randomize_bn(model, 2)
    return model.eval(), [torch.randn(*shape, generator=g) for _ in range(2)]


def tree(root):
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            out[os.path.relpath(p, root)] = p
    return out


def quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a, **k)


def run(cls, scheme_enum, model, xs, d, scheme, args):
    shutil.rmtree(d, ignore_errors=True)
    util = quiet(cls, model, d, naming_scheme=getattr(scheme_enum, scheme), dummy_input=xs[0],
                 onnx_export_args=args)
    for x in xs:
        quiet(util.generate_layer_outputs, x)
    if hasattr(util, "close"):
        util.close()
    return d


def run_both(model, xs, tmp, scheme, args=None):
    """(aimet_torch's dump, layerout's dump), or (exception, exception)."""
    out = []
    for tag, cls, enum_ in (("aimet", aimet_lou.LayerOutputUtil, aimet_lou.NamingScheme),
                            ("layerout", LayerOutputUtil, NamingScheme)):
        try:
            out.append(run(cls, enum_, model, xs, str(tmp / tag), scheme, args))
        except Exception as e:  # compared below
            out.append(e)
    return out


def order(d):
    with open(os.path.join(d, "layer_output_name_order.json")) as f:
        return json.load(f)["layer_output_names"]


def assert_same_files(ref, ours):
    a, b = tree(ref), tree(ours)
    assert sorted(a) == sorted(b), f"file sets differ: only aimet {sorted(set(a) - set(b))[:8]}, " \
                                   f"only layerout {sorted(set(b) - set(a))[:8]}"
    assert order(ref) == order(ours)
    return a, b


def assert_same_values(ref, ours):
    a, b = assert_same_files(ref, ours)
    bad = []
    for rel in a:
        if not rel.endswith(".raw"):
            continue
        ra, rb = open(a[rel], "rb").read(), open(b[rel], "rb").read()
        if ra == rb:
            continue
        x, y = np.frombuffer(ra, np.float32), np.frombuffer(rb, np.float32) if len(ra) == len(rb) else None
        if y is None or not np.all(np.abs(x - y) <= 1e-4 + 1e-4 * np.abs(x)):
            bad.append(rel)
    assert not bad, f"{len(bad)} files differ, e.g. {bad[:5]}"
    return a


# BatchNorm CNNs (resnet18 also calls each block's ReLU twice), a small
# model calling one ReLU three times, two transformers
MODELS = ["resnet18", "shufflenet_v2_x0_5", "mobilenet_v3_small", "twice", "vit", "encoder"]


@pytest.fixture(scope="module")
def models():
    return {}


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("name", MODELS)
def test_same_dump_as_aimet_torch(models, name, scheme, tmp_path):
    if name not in models:
        models[name] = build(name)
    model, xs = models[name]
    ref, ours = run_both(model, xs, tmp_path, scheme, {"opset_version": 17})
    if isinstance(ref, Exception):
        # aimet_torch cannot name this model in this scheme; layerout says
        # so, naming the module, instead of writing other names
        assert isinstance(ours, LayerOutError), f"aimet_torch raised {ref!r}; layerout gave {ours!r}"
        assert "module '" in str(ours)
        assert scheme == "TORCHSCRIPT"
        return
    if isinstance(ours, Exception):
        raise ours
    files = assert_same_values(ref, ours)
    n = sum(1 for r in files if r.startswith("outputs/layer_outputs_1/"))
    assert n == sum(1 for r in files if r.startswith("outputs/layer_outputs_0/"))
    # aimet_torch's TorchScript pairing names no module of the encoder
    # (torch 2 traces Linear as aten::linear, not addmm)
    assert n >= 4 or (name == "encoder" and scheme == "TORCHSCRIPT")
    if name not in ("vit", "encoder"):
        # BatchNorm outputs have files of their own, apart from the Conv's
        if scheme == "ONNX":
            assert any("BatchNormalization" in r for r in files)


def test_export_args_object_and_output_names(tmp_path):
    """AIMET's OnnxExportApiArgs, and layerout's class of the same shape, give
    aimet_torch's names (input and output names included)."""
    model, xs = build("twice")
    from aimet_torch.onnx_utils import OnnxExportApiArgs as AimetArgs
    fields = dict(opset_version=13, input_names=["image"], output_names=["logits"])
    ref = run(aimet_lou.LayerOutputUtil, aimet_lou.NamingScheme, model, xs, str(tmp_path / "aimet"), "ONNX",
              AimetArgs(**fields))
    for tag, args in (("theirs", AimetArgs(**fields)), ("ours", OnnxExportApiArgs(**fields))):
        mine = run(LayerOutputUtil, NamingScheme, model, xs, str(tmp_path / tag), "ONNX", args)
        assert_same_values(ref, mine)
        assert "logits" in order(mine)


def test_list_input_layout(tmp_path):
    model, xs = build("twice")
    dumps = []
    for tag, cls, enum_ in (("aimet", aimet_lou.LayerOutputUtil, aimet_lou.NamingScheme),
                            ("layerout", LayerOutputUtil, NamingScheme)):
        d = str(tmp_path / tag)
        util = quiet(cls, model, d, naming_scheme=enum_.ONNX, dummy_input=(xs[0],))
        quiet(util.generate_layer_outputs, [xs[0]])
        quiet(util.generate_layer_outputs, (xs[1],))
        dumps.append(d)
    assert_same_values(*dumps)
    assert sorted(os.listdir(os.path.join(dumps[1], "inputs"))) == ["input_0", "input_1"]
    # in memory: the files' names and bytes, nothing written
    util = quiet(LayerOutputUtil, model, str(tmp_path / "mem"), naming_scheme=NamingScheme.ONNX,
                 dummy_input=(xs[0],))
    mem = quiet(util.get_layer_outputs, (xs[1],))
    util.close()
    d = os.path.join(dumps[0], "outputs", "layer_outputs_1")
    assert sorted(k + ".raw" for k in mem) == sorted(os.listdir(d))
    assert not os.path.exists(tmp_path / "mem" / "outputs")


@pytest.mark.parametrize("case", ["dummy_missing", "dummy_type", "export_args_type", "dynamo"])
def test_bad_arguments_raise_as_aimet(case, tmp_path):
    model, xs = build("twice")
    kwargs = {"naming_scheme": "ONNX", "dummy_input": xs[0], "onnx_export_args": None}
    if case == "dummy_missing":
        kwargs["dummy_input"] = None
    elif case == "dummy_type":
        kwargs["dummy_input"] = xs[0].numpy()
    elif case == "export_args_type":
        kwargs["onnx_export_args"] = ["opset_version", 13]
    else:
        kwargs["onnx_export_args"] = {"dynamo": True}
    raised = []
    for tag, cls, enum_ in (("aimet", aimet_lou.LayerOutputUtil, aimet_lou.NamingScheme),
                            ("layerout", LayerOutputUtil, NamingScheme)):
        k = dict(kwargs, naming_scheme=getattr(enum_, kwargs["naming_scheme"]))
        with pytest.raises(Exception) as info:
            quiet(cls, model, str(tmp_path / tag), **k)
        raised.append(info.value)
    assert type(raised[0]) is type(raised[1]), raised
    assert str(raised[0]) == str(raised[1])


# ---- QuantizationSimModel (aimet_torch v2) ---------------------------------------------------

def _sim(name, xs, config=None):
    from aimet_torch.quantsim import QuantizationSimModel
    model, _ = build(name)
    kwargs = {}
    if config == "per-tensor":
        # aimet_torch's own per-tensor configuration (BatchNorm weights
        # quantized too); its default is per-channel
        import aimet_torch
        kwargs["config_file"] = os.path.join(os.path.dirname(aimet_torch.__file__), "common", "quantsim_config",
                                             "default_config.json")
    sim = quiet(QuantizationSimModel, model, dummy_input=xs[0], **kwargs)
    quiet(sim.compute_encodings, lambda m, _: [m(x) for x in xs], None)
    return sim


@pytest.mark.parametrize("name,scheme,config", [("resnet18", "PYTORCH", None), ("resnet18", "ONNX", None),
                                                ("twice", "PYTORCH", None), ("twice", "ONNX", None),
                                                ("twice", "TORCHSCRIPT", None), ("twice", "PYTORCH", "per-tensor")])
def test_quantsim_same_files_within_one_step(name, scheme, config, tmp_path):
    """A v2 QuantizationSimModel through both: the same files and name order,
    and values within one quantization step. The values are checked with
    teacher forcing, as tests/quant does: the sim runs in PyTorch with every
    quantized module's output replaced by layerout's saved value, so each
    module is compared on the inputs layerout had, and a rounding tie
    decided the other way in one module (a 1-ulp float difference moves a
    value across a rounding boundary) is counted there instead of spreading
    into every later layer. A module with an output quantizer may differ by
    one step of it at ties; others within 1e-4 + 1e-4*|ref|, or, with a
    quantized weight, by one weight step times an input (a weight at a tie).
    Ties must be
    rare, and layerout's quantized values lie on their quantizer's grid."""
    import re
    from aimet_torch.nn.base import BaseQuantizationMixin
    _, xs = build(name)
    sim = _sim(name, xs, config)
    ref, ours = run_both(sim.model, xs, tmp_path, scheme)
    for r in (ref, ours):
        if isinstance(r, Exception):
            raise r
    assert_same_files(ref, ours)
    if scheme != "PYTORCH":
        return  # the values are the same as PYTORCH's, under other names
    # the sim object itself is taken for its model
    whole = run(LayerOutputUtil, NamingScheme, sim, xs, str(tmp_path / "whole"), scheme, None)
    a, b = tree(ours), tree(whole)
    assert sorted(a) == sorted(b) and all(open(a[r], "rb").read() == open(b[r], "rb").read() for r in a)
    quantized = [(n, m) for n, m in sim.model.named_modules() if isinstance(m, BaseQuantizationMixin)]
    calls = {}

    def count(m, i, o):
        calls[m] = calls.get(m, 0) + 1

    ties = total = on_grid = 0
    problems = []
    for k, x in enumerate(xs):
        d = os.path.join(ours, "outputs", f"layer_outputs_{k}")
        handles = [m.register_forward_hook(count) for _, m in quantized]
        calls.clear()
        with torch.no_grad():
            sim.model(x)
        for h in handles:
            h.remove()
        seen = {}

        def force(name):
            def hook(m, i, out):
                seen[m] = seen.get(m, 0) + 1
                path = os.path.join(d, re.sub(r"\W+", "_", name) + ".raw")
                if seen[m] != calls[m] or not isinstance(out, torch.Tensor) or not os.path.exists(path):
                    return None
                nonlocal ties, total, on_grid
                want = torch.as_tensor(out).detach().numpy().astype(np.float32)
                got = np.fromfile(path, np.float32).reshape(want.shape)
                qs = [q for q in (m.output_quantizers or []) if q is not None]
                s = float(qs[0].get_scale().reshape(-1)[0]) if qs else None
                off = np.abs(got - want) > 1e-4 + 1e-4 * np.abs(want)
                if s is not None:
                    grid = got / s - np.round(got / s)
                    if np.any(np.abs(grid) > 1e-2):
                        problems.append(f"{name}: layerout's value is not on its quantizer's grid")
                    on_grid += 1
                    if np.any(np.abs(got - want)[off] > s * 1.001):
                        problems.append(f"{name}: more than one step ({s}) from aimet_torch")
                ties += int(off.sum())
                total += got.size
                # a weight at a rounding tie quantized the other way moves
                # outputs by at most its step times an input
                ws = [float(q.get_scale().max()) for q in (m.param_quantizers or {}).values() if q is not None]
                if s is None and ws and i and isinstance(i[0], torch.Tensor):
                    bound = max(ws) * float(i[0].abs().max()) * 1.01
                    if not np.any(np.abs(got - want)[off] > bound):
                        off = off & False
                ties += int((np.abs(got - want) > 1e-4 + 1e-4 * np.abs(want)).sum())
                if s is None and off.any():
                    problems.append(f"{name}: {int(off.sum())} values differ and it has no output quantizer: {got[off][:3]} vs {want[off][:3]}")
                return torch.from_numpy(got)
            return hook

        handles = [m.register_forward_hook(force(n)) for n, m in quantized]
        try:
            with torch.no_grad():
                sim.model(x)
        finally:
            for h in handles:
                h.remove()
    assert not problems, problems[:5]
    assert on_grid >= 3
    assert ties <= 0.01 * total, f"{ties} of {total} values one step apart"
    print(f"quantsim {name}: {ties} of {total} values at rounding ties")
