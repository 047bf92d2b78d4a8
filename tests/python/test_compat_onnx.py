"""An aimet_onnx script keeps working when only its import changes: the
constructor and generate_layer_outputs take the same arguments with the same
defaults, and bad arguments raise what aimet_onnx raises (checked against
aimet_onnx itself, case by case, on the same model)."""

import inspect
import os
import warnings

import numpy as np
import pytest

pytest.importorskip("aimet_onnx")
onnx = pytest.importorskip("onnx")

from aimet_onnx.layer_output_utils import LayerOutputUtil as AimetUtil  # noqa: E402

from layerout.onnx import LayerOutputUtil  # noqa: E402


def _model(tmp_path):
    from onnx import TensorProto, helper, numpy_helper
    w = numpy_helper.from_array(np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4), "w")
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm"),
                           helper.make_node("Relu", ["y"], ["z"], name="relu")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                          [helper.make_tensor_value_info("z", TensorProto.FLOAT, [2, 4])], [w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    path = str(tmp_path / "m.onnx")
    onnx.save(m, path)
    return m, path


def test_signatures_match_aimet():
    for name in ("__init__", "generate_layer_outputs"):
        theirs = inspect.signature(getattr(AimetUtil, name)).parameters
        ours = inspect.signature(getattr(LayerOutputUtil, name)).parameters
        positional = [p for p in ours.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        assert [p.name for p in positional] == list(theirs), name
        for p in positional:
            assert p.default == theirs[p.name].default, f"{name}({p.name}) default"
        # everything layerout adds is keyword-only: AIMET's positional
        # arity, so a 4th positional argument fails in both
        assert all(p.kind == p.KEYWORD_ONLY for p in ours.values() if p.name not in theirs), name
    public = [n for n in dir(AimetUtil) if not n.startswith("_")]
    assert public and all(hasattr(LayerOutputUtil, n) for n in public), public


def _outcome(fn):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn()
        return None
    except Exception as e:  # the outcome is what is compared
        return e


CONSTRUCTOR_CASES = {
    "model None": lambda m, d: ((None, d), {}),
    "model int": lambda m, d: ((42, d), {}),
    "model list": lambda m, d: (([m], d), {}),
    "dir None": lambda m, d: ((m, None), {}),
    "dir int": lambda m, d: ((m, 42), {}),
    "dir is a file": lambda m, d: ((m, d + ".file"), {}),
    "device 1": lambda m, d: ((m, d), {"device": 1}),
    "device cuda": lambda m, d: ((m, d), {"device": "cuda"}),
    "device None": lambda m, d: ((m, d), {"device": None}),
    "unknown keyword": lambda m, d: ((m, d), {"foo": 1}),
    "4 positional": lambda m, d: ((m, d, 0, 1), {}),
    "no dir": lambda m, d: ((m,), {}),
}


@pytest.mark.parametrize("case", list(CONSTRUCTOR_CASES))
def test_constructor_errors_as_aimet(case, tmp_path):
    model, _ = _model(tmp_path)
    (tmp_path / "d.file").write_text("x")
    results = {}
    for who, cls in (("aimet", AimetUtil), ("layerout", LayerOutputUtil)):
        args, kwargs = CONSTRUCTOR_CASES[case](model, str(tmp_path / "d"))
        results[who] = _outcome(lambda: cls(*args, **kwargs))
    theirs, ours = results["aimet"], results["layerout"]
    if theirs is None:
        assert ours is None, f"{case}: AIMET accepts it, layerout raised {ours!r}"
    else:
        assert ours is not None, f"{case}: AIMET raised {theirs!r}, layerout accepted it"
        assert isinstance(ours, type(theirs)), f"{case}: AIMET raised {type(theirs).__name__}, layerout {ours!r}"


x_ok = np.arange(6, dtype=np.float32).reshape(2, 3)
INPUT_CASES = {
    "array": x_ok,
    "list of one": [x_ok],
    "tuple of one": (x_ok,),
    "dict": {"x": x_ok},
    "string": "abc",
    "None": None,
    "int": 3,
    "two arrays": [x_ok, x_ok],
    "empty list": [],
    "dict without the input": {"nope": x_ok},
    "wrong shape": np.zeros((3, 3), np.float32),
    "wrong dtype": x_ok.astype(np.float64),
}


EXTENSIONS = {"dict"}


@pytest.mark.parametrize("case", list(INPUT_CASES))
def test_generate_errors_as_aimet(case, tmp_path):
    model, _ = _model(tmp_path)
    results = {}
    for who, cls in (("aimet", AimetUtil), ("layerout", LayerOutputUtil)):
        util = cls(model, str(tmp_path / who))
        results[who] = _outcome(lambda: util.generate_layer_outputs(INPUT_CASES[case]))
    theirs, ours = results["aimet"], results["layerout"]
    if case in EXTENSIONS:
        # AIMET runs a dict but then fails writing it to inputs/ (it calls
        # dict.tofile); layerout saves it as a list in model input order
        assert isinstance(theirs, AttributeError) and "tofile" in str(theirs), repr(theirs)
        assert ours is None, repr(ours)
        assert (tmp_path / "layerout" / "inputs" / "input_0" / "0.raw").read_bytes() == x_ok.tobytes()
    elif theirs is None:
        assert ours is None, f"{case}: AIMET accepts it, layerout raised {ours!r}"
        a = tmp_path / "aimet" / "outputs" / "layer_outputs_0"
        o = tmp_path / "layerout" / "outputs" / "layer_outputs_0"
        assert sorted(os.listdir(a)) == sorted(os.listdir(o))
        for f in os.listdir(a):
            assert (a / f).read_bytes() == (o / f).read_bytes(), f
    else:
        assert ours is not None, f"{case}: AIMET raised {theirs!r}, layerout accepted it"
        # ONNX Runtime's own exception classes (shape, dtype) are not
        # layerout's to raise: there any Exception with a message will do
        if type(theirs).__module__.startswith("onnxruntime"):
            assert str(ours)
        else:
            assert isinstance(ours, type(theirs)), f"{case}: AIMET raised {theirs!r}, layerout {ours!r}"
        # nothing half-written passes for a sample
        assert not os.path.exists(tmp_path / "layerout" / "outputs" / "layer_outputs_0")


def _files(root):
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            out[os.path.relpath(p, root)] = open(p, "rb").read()
    return out


def test_names_containing_updated_as_aimet(tmp_path):
    """aimet_onnx drops "_updated" wherever it occurs in a name before
    sanitizing it (its QuantSim's quantized twin NAME_updated is saved as
    NAME): a float model whose own names hold it gets the same files, bytes
    and name order from both."""
    from onnx import TensorProto, helper
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["a_updated"]),
                           helper.make_node("Neg", ["a_updated"], ["b/upd_updated.x"]),
                           helper.make_node("Abs", ["b/upd_updated.x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    x = np.arange(-3, 3, dtype=np.float32).reshape(2, 3)
    AimetUtil(m, str(tmp_path / "aimet")).generate_layer_outputs(x)
    LayerOutputUtil(m, str(tmp_path / "ours")).generate_layer_outputs(x)
    theirs, ours = _files(str(tmp_path / "aimet")), _files(str(tmp_path / "ours"))
    ours.pop("manifest.json")
    order = "layer_output_name_order.json"
    import json
    assert sorted(json.loads(theirs.pop(order))["layer_output_names"]) == \
        sorted(json.loads(ours.pop(order))["layer_output_names"])
    assert sorted(theirs) == sorted(ours)
    assert "outputs/layer_outputs_0/b_upd_x.raw" in ours
    for k in theirs:
        assert theirs[k] == ours[k], k
