"""layerout.onnx.LayerOutputUtil against `layerout generate` on the same
model and inputs."""

import json
import os
import tracemalloc

import numpy as np
import onnx
import pytest

import layerout
from layerout.onnx import LayerOutputUtil

from conftest import assert_same_dump, control_flow_model, manifest, rss_bytes, run_cli, write_encodings


def second_input(x):
    return (x * 0.5 + 0.25).astype(x.dtype)


def test_files_identical_to_cli(model, cli, tmp_path):
    tag, path, x = model
    x2 = second_input(x)
    util = LayerOutputUtil(path, str(tmp_path / "py"), threads=2)
    util.generate_layer_outputs(x)
    util.generate_layer_outputs(x2)
    assert util.sample_count == 2
    util.close()
    ref = run_cli(cli, path, str(tmp_path / "cli"), [[x], [x2]])
    assert_same_dump(str(tmp_path / "py"), ref)
    assert os.path.isfile(tmp_path / "py" / "inputs" / "input_1.raw")


def test_model_proto_and_list_input(model, cli, tmp_path):
    """A ModelProto (weights loaded from external data, if any) is saved and
    run; a list with one array gives AIMET's inputs/input_K/0.raw."""
    tag, path, x = model
    proto = onnx.load(path)
    before = proto.SerializeToString()
    util = LayerOutputUtil(proto, str(tmp_path / "py"), device="cpu", threads=2)
    util.generate_layer_outputs([x])
    util.close()
    assert proto.SerializeToString() == before, "the caller's ModelProto was modified"
    ref = run_cli(cli, path, str(tmp_path / "cli"), [[x]])
    assert_same_dump(str(tmp_path / "py"), ref, inputs=False)
    assert os.listdir(tmp_path / "py" / "inputs") == ["input_0"]
    assert os.listdir(tmp_path / "py" / "inputs" / "input_0") == ["0.raw"]
    assert (tmp_path / "py" / "inputs" / "input_0" / "0.raw").read_bytes() == x.tobytes()


def test_get_layer_outputs_equal_files(model, tmp_path):
    tag, path, x = model
    util = LayerOutputUtil(path, str(tmp_path / "py"), threads=2)
    got = util.get_layer_outputs(x)
    assert util.sample_count == 0
    assert not os.listdir(tmp_path / "py" / "outputs"), "get_layer_outputs wrote files"
    util.generate_layer_outputs(x)
    order = json.load(open(tmp_path / "py" / "layer_output_name_order.json"))["layer_output_names"]
    assert list(got) == order
    entries = {os.path.splitext(e["file"])[0]: e for e in manifest(str(tmp_path / "py"))["tensors"]}
    for name, arr in got.items():
        e = entries[name]
        assert arr.dtype == np.dtype(e["dtype"]) and list(arr.shape) == e["shape"], name
        raw = (tmp_path / "py" / "outputs" / "layer_outputs_0" / e["file"]).read_bytes()
        assert arr.tobytes() == raw, name
    # a second call gives the same values (the names are learnt once)
    again = util.get_layer_outputs(x)
    assert list(again) == list(got)
    assert all(np.array_equal(again[k], got[k]) for k in got)
    util.close()


@pytest.mark.parametrize("rounding", ["half-away", "half-even"])
def test_quantized_equals_cli(model, cli, tmp_path, rounding):
    tag, path, x = model
    float_dump = run_cli(cli, path, str(tmp_path / "float"), [[x]])
    enc = str(tmp_path / "model.encodings")
    n_acts, n_params = write_encodings(enc, path, float_dump)
    assert n_acts > 10 and n_params > 5
    util = LayerOutputUtil(path, str(tmp_path / "py"), encodings=enc, rounding=rounding, threads=2)
    util.generate_layer_outputs(x)
    mem = util.get_layer_outputs(x)
    util.close()
    ref = run_cli(cli, path, str(tmp_path / "cli"), [[x]], "--encodings", enc, "--rounding", rounding)
    assert_same_dump(str(tmp_path / "py"), ref)
    m = manifest(str(tmp_path / "py"))
    assert sum(1 for e in m["tensors"] if e["encoding"]) >= n_acts - 1
    for e in m["tensors"]:
        stem = os.path.splitext(e["file"])[0]
        assert mem[stem].tobytes() == (tmp_path / "py" / "outputs" / "layer_outputs_0" / e["file"]).read_bytes()
    # the simulation changed values: it is not the float dump again
    rows = layerout.compare(float_dump, str(tmp_path / "py"))
    assert any(r.get("sqnr_db", float("inf")) < 200 for r in rows)


def test_twenty_samples_numbering_and_memory(small_model, tmp_path):
    tag, path, x = small_model
    util = LayerOutputUtil(path, str(tmp_path / "py"), threads=2)
    rng = np.random.default_rng(3)
    samples = [(x + rng.standard_normal(x.shape).astype(x.dtype) * 0.1) for _ in range(20)]
    rss, traced = [], []
    tracemalloc.start()
    for k, s in enumerate(samples):
        util.generate_layer_outputs(s)
        assert util.sample_count == k + 1
        rss.append(rss_bytes())
        traced.append(tracemalloc.get_traced_memory()[0])
    tracemalloc.stop()
    util.close()
    d = tmp_path / "py"
    assert sorted(os.listdir(d / "outputs")) == sorted(f"layer_outputs_{k}" for k in range(20))
    assert sorted(os.listdir(d / "inputs")) == sorted(f"input_{k}.raw" for k in range(20))
    for k in (0, 7, 19):
        assert (d / "inputs" / f"input_{k}.raw").read_bytes() == samples[k].tobytes()
    order = json.load(open(d / "layer_output_name_order.json"))["layer_output_names"]
    m = manifest(str(d))
    assert m["samples"] == 20
    assert order == [os.path.splitext(e["file"])[0] for e in m["tensors"]]
    for k in range(20):
        assert sorted(os.listdir(d / "outputs" / f"layer_outputs_{k}")) == sorted(o + ".raw" for o in order)
    # Memory must not grow call to call: after warm-up (allocator pools,
    # first-touch of the arena) the resident size stays put. The slack is a
    # small fraction of one sample's outputs, far below a leak of a sample.
    sample_bytes = sum(os.path.getsize(d / "outputs" / "layer_outputs_0" / (o + ".raw")) for o in order)
    growth = max(rss[5:]) - rss[4]
    assert growth < max(4 << 20, sample_bytes // 4), f"RSS grew by {growth} bytes over 15 calls: {rss}"
    # Python's side exactly (numpy buffers included): nothing of a call
    # (input copies, views, dims arrays) may outlive it.
    assert traced[-1] - traced[4] < 64 << 10, f"Python allocations grew: {traced}"


def test_get_layer_outputs_memory(small_model, tmp_path):
    tag, path, x = small_model
    util = LayerOutputUtil(path, str(tmp_path / "py"), threads=2)
    rss = []
    for _ in range(12):
        out = util.get_layer_outputs(x)
        del out
        rss.append(rss_bytes())
    util.close()
    assert max(rss[4:]) - rss[3] < 8 << 20, rss


def test_mode_append_and_new(small_model, tmp_path):
    tag, path, x = small_model
    d = str(tmp_path / "py")
    with LayerOutputUtil(path, d, threads=2) as u:
        u.generate_layer_outputs(x)
    with LayerOutputUtil(path, d, mode="append", threads=2) as u:
        assert u.sample_count == 1
        u.generate_layer_outputs(x)
    assert manifest(d)["samples"] == 2
    with pytest.raises(layerout.LayerOutError, match="not empty") as e:
        LayerOutputUtil(path, d, mode="new")
    assert e.value.status_name == "argument"
    with LayerOutputUtil(path, d) as u:  # default: replace, as rerunning AIMET overwrites
        assert u.sample_count == 0


def test_errors_carry_the_c_message(small_model, tmp_path):
    tag, path, x = small_model
    util = LayerOutputUtil(path, str(tmp_path / "py"), threads=2)
    with pytest.raises(layerout.LayerOutError, match="float32") as e:
        util.generate_layer_outputs(x.astype(np.float64))
    assert e.value.status_name == "input"
    with pytest.raises(layerout.LayerOutError, match="input"):
        util.generate_layer_outputs([x, x])
    with pytest.raises(layerout.LayerOutError):
        util.get_layer_outputs(x[..., :3])
    assert util.sample_count == 0
    util.close()
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage that is not a model")
    with pytest.raises(layerout.LayerOutError) as e:
        LayerOutputUtil(str(bad), str(tmp_path / "bad"))
    assert e.value.status_name in ("model", "io")
    enc = tmp_path / "broken.encodings"
    enc.write_text('{"version": "1.0.0", "activation_encodings": [{"name": 3}]}')
    with pytest.raises(layerout.LayerOutError, match="broken.encodings"):
        LayerOutputUtil(path, str(tmp_path / "q"), encodings=str(enc))


@pytest.mark.parametrize("device", [1, "cuda", "cuda:0"])
def test_gpu_device_runs_on_the_cpu(small_model, tmp_path, device):
    """aimet_onnx runs on the CPU, silently, when the CUDA device asked for
    is missing; layerout does the same, with a warning."""
    with pytest.warns(RuntimeWarning, match="runs on the CPU"):
        u = LayerOutputUtil(small_model[1], str(tmp_path / "py"), device=device, threads=2)
    u.generate_layer_outputs(small_model[2])
    assert u.sample_count == 1
    u.close()


def test_compare(small_model, tmp_path):
    tag, path, x = small_model
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    with LayerOutputUtil(path, a, threads=2) as u:
        u.generate_layer_outputs(x)
    with LayerOutputUtil(path, b, threads=2) as u:
        u.generate_layer_outputs(second_input(x))
    same = LayerOutputUtil.compare(a, a)
    order = json.load(open(os.path.join(a, "layer_output_name_order.json")))["layer_output_names"]
    assert [r["ref_file"] for r in same] == order
    assert all(r["status"] == "pass" and r["sqnr_db"] == float("inf") for r in same)
    diff = layerout.compare(a, b)
    finite = [r["sqnr_db"] for r in diff if isinstance(r.get("sqnr_db"), float) and np.isfinite(r["sqnr_db"])]
    assert finite, diff[:2]
    with pytest.raises(layerout.LayerOutError):
        layerout.compare(a, str(tmp_path / "missing"))


def two_input_model(path):
    from onnx import TensorProto, helper
    g = helper.make_graph(
        [helper.make_node("Mul", ["x", "y"], ["x*y"], name="mul"), helper.make_node("Relu", ["x*y"], ["out/relu"])],
        "two", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
                helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("out/relu", TensorProto.FLOAT, [2, 3])])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


def test_two_inputs_list_and_dict(cli, tmp_path):
    path = two_input_model(str(tmp_path / "two.onnx"))
    x = np.arange(6, dtype=np.float32).reshape(2, 3) - 2
    y = np.full((2, 3), 0.5, np.float32)
    with LayerOutputUtil(path, str(tmp_path / "py")) as u:
        u.generate_layer_outputs((x, y))
        u.generate_layer_outputs({"y": y, "x": x})  # matched by name, written in model order
        mem = u.get_layer_outputs([x, y])
    assert list(mem) == ["x", "y", "x_y", "out_relu"]
    assert np.array_equal(mem["out_relu"], np.maximum(x * y, 0))
    ref = run_cli(cli, path, str(tmp_path / "cli"), [[x, y], [x, y]])
    assert_same_dump(str(tmp_path / "py"), ref)
    for k in (0, 1):
        assert (tmp_path / "py" / "inputs" / f"input_{k}" / "0.raw").read_bytes() == x.tobytes()
        assert (tmp_path / "py" / "inputs" / f"input_{k}" / "1.raw").read_bytes() == y.tobytes()


@pytest.mark.parametrize("cond", [True, False])
def test_control_flow_as_aimet_and_subgraphs_as_cli(cli, tmp_path, cond):
    """By default the top-level tensors only, as AIMET saves them;
    subgraphs=True adds the body tensors, exactly as `--subgraphs`."""
    path = str(tmp_path / "cf.onnx")
    model = control_flow_model(path)
    x = np.linspace(-2, 2, 6, dtype=np.float32).reshape(2, 3)
    sample = [x, np.array(cond)]
    with LayerOutputUtil(model, str(tmp_path / "py"), threads=2) as u:
        u.generate_layer_outputs(sample)
    aimet_onnx = pytest.importorskip("aimet_onnx.layer_output_utils")
    aimet_dir = tmp_path / "aimet"
    aimet_onnx.LayerOutputUtil(model, str(aimet_dir)).generate_layer_outputs(sample)
    rel = os.path.join("outputs", "layer_outputs_0")
    ours = sorted(os.listdir(tmp_path / "py" / rel))
    assert ours == sorted(os.listdir(aimet_dir / rel))
    for f in ours:
        assert np.array_equal(np.fromfile(tmp_path / "py" / rel / f, np.uint8),
                              np.fromfile(aimet_dir / rel / f, np.uint8)), f
    with LayerOutputUtil(model, str(tmp_path / "sub"), threads=2, subgraphs=True) as u:
        u.generate_layer_outputs(sample)
    ref = run_cli(cli, path, str(tmp_path / "cli"), [sample], "--subgraphs")
    assert_same_dump(str(tmp_path / "sub"), ref, inputs=False)
    extra = set(os.listdir(tmp_path / "sub" / rel)) - set(ours)
    branch = "then_add" if cond else "else_mul"
    assert any(f.startswith(branch) for f in extra), sorted(extra)
    assert sum(1 for f in extra if f.startswith("body_acc")) == 3, sorted(extra)
