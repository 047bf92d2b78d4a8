#!/usr/bin/env python3
"""generate --format safetensors: one file per sample.

References nobody here wrote: Hugging Face's `safetensors` package reads
every file (safetensors.numpy.load_file; BF16 through safetensors.torch),
and every tensor's values, shape and dtype are checked against ONNX Runtime
running the same model with every node output a graph output (aimet_onnx's
technique), and the BF16 cast against PyTorch's. The other checks hold a
safetensors dump against a raw dump of the same run (itself checked against
ORT here): compare, extract, merge of shards, --append, a killed writer, a
full disk, tensors safetensors has no type for, and layerout.load_sample.

Usage: test_safetensors.py LAYEROUT_BINARY WORK_DIR"""
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
import safetensors
import safetensors.numpy
from onnx import TensorProto, helper, numpy_helper

import layerout

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import checks  # noqa: E402
from checks import expect_error, test  # noqa: E402

LAYEROUT, WORK = (os.path.abspath(a) for a in sys.argv[1:3])
os.makedirs(WORK, exist_ok=True)


def run(*args, expect=0, preexec=None):
    return checks.run(LAYEROUT, args, expect=expect, preexec_fn=preexec)


def w(path):
    return os.path.join(WORK, path)


# ---- the model: several dtypes, a name that sanitizing changes, odd sizes ----------------

rng = np.random.default_rng(16)
CONV_W = rng.standard_normal((8, 3, 3, 3)).astype(np.float32) * 0.3
MAT_W = rng.standard_normal((8 * 6 * 6, 10)).astype(np.float32) * 0.1


def make_model(path):
    nodes = [
        helper.make_node("Conv", ["x", "conv.w"], ["conv/out:0"], name="conv"),
        helper.make_node("Relu", ["conv/out:0"], ["relu"], name="relu"),
        helper.make_node("Flatten", ["relu"], ["flat"], axis=1, name="flat"),
        helper.make_node("MatMul", ["flat", "mat.w"], ["logits"], name="mm"),
        helper.make_node("Cast", ["logits"], ["half"], to=TensorProto.FLOAT16, name="to_half"),
        helper.make_node("Cast", ["logits"], ["double"], to=TensorProto.DOUBLE, name="to_double"),
        helper.make_node("Cast", ["logits"], ["bf16"], to=TensorProto.BFLOAT16, name="to_bf16"),
        # a bool tensor of an odd size: the next tensor's bytes are misaligned
        helper.make_node("Greater", ["logits", "zero"], ["positive"], name="gt"),
        helper.make_node("ArgMax", ["logits"], ["top"], axis=1, keepdims=0, name="argmax"),
        helper.make_node("Cast", ["logits"], ["i32"], to=TensorProto.INT32, name="to_i32"),
        helper.make_node("Cast", ["logits"], ["i8"], to=TensorProto.INT8, name="to_i8"),
        helper.make_node("Cast", ["relu"], ["u8"], to=TensorProto.UINT8, name="to_u8"),
        helper.make_node("Shape", ["relu"], ["shape"], name="shape"),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1, name="softmax"),
    ]
    outs = ["probs"]
    graph = helper.make_graph(
        nodes, "st", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, [1, 10]) for o in outs],
        [numpy_helper.from_array(CONV_W, "conv.w"), numpy_helper.from_array(MAT_W, "mat.w"),
         numpy_helper.from_array(np.zeros((1, 1), np.float32), "zero")])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, path)


MODEL = w("model.onnx")
make_model(MODEL)
N = 6
INPUTS = [rng.standard_normal((1, 3, 8, 8)).astype(np.float32) for _ in range(N)]
os.makedirs(w("inputs"), exist_ok=True)
for k, a in enumerate(INPUTS):
    a.tofile(w("inputs/%d.raw" % k))
with open(w("list.txt"), "w") as f:
    f.writelines(w("inputs/%d.raw" % k) + "\n" for k in range(N))

# ONNX Runtime, every node output a graph output (aimet_onnx's technique);
# BF16 left to PyTorch, as ORT hands bfloat16 outputs to numpy poorly
_m = onnx.load(MODEL)
_names = [o for n in _m.graph.node for o in n.output if o != "bf16"]
del _m.graph.output[:]
_m.graph.output.extend([helper.make_empty_tensor_value_info(o) for o in _names])
SESSION = ort.InferenceSession(_m.SerializeToString(), providers=["CPUExecutionProvider"])


def ort_outputs(k):
    vals = SESSION.run(_names, {"x": INPUTS[k]})
    d = dict(zip(_names, vals))
    d["x"] = INPUTS[k]
    return d


def stem(name):
    import re
    return re.sub(r"\W+", "_", name)


def check_against_ort(dump, k, input_index=None):
    """Sample k of a safetensors dump (made from INPUTS[input_index], default
    k), read by the safetensors package, against ORT."""
    path = os.path.join(dump, "outputs", "layer_outputs_%d.safetensors" % k)
    # BF16 has no numpy type (safetensors.numpy refuses the file): the file
    # is read through torch, which has every type in it
    import torch
    from safetensors import safe_open
    got = {}
    with safe_open(path, framework="pt") as f:
        meta = f.metadata()
        for key in f.keys():
            got[key] = f.get_tensor(key)
    ref = ort_outputs(k if input_index is None else input_index)
    want_keys = {stem(n) for n in list(ref) + ["bf16"]}
    assert set(got) == want_keys, (sorted(got), sorted(want_keys))
    for name, r in ref.items():
        t = got[stem(name)]
        a = t.numpy()
        assert a.dtype == r.dtype, (name, a.dtype, r.dtype)
        assert a.shape == r.shape, (name, a.shape, r.shape)
        if name == "probs":  # one Softmax kernel against another
            np.testing.assert_allclose(a, r, rtol=1e-5, atol=1e-7, err_msg=name)
        elif a.dtype.kind == "f":
            np.testing.assert_allclose(a, r, rtol=1e-5, atol=1e-5, err_msg=name)
        else:
            np.testing.assert_array_equal(a, r, err_msg=name)
        assert meta[stem(name)] == name, (name, meta.get(stem(name)))
    want_bf16 = torch.from_numpy(ref["logits"]).to(torch.bfloat16)
    assert got["bf16"].dtype == torch.bfloat16
    assert torch.equal(got["bf16"], want_bf16), "bf16 differs from PyTorch's cast"
    return got


def load_numpy_without_bf16(path):
    from safetensors import safe_open
    with safe_open(path, framework="np") as f:
        return {k: f.get_tensor(k) for k in f.keys() if k != "bf16"}


@test
def every_tensor_matches_ort_through_the_safetensors_package():
    d = w("st")
    run("generate", MODEL, "--input-list", w("list.txt"), "-o", d, "--format", "safetensors", "-q")
    m = json.load(open(os.path.join(d, "manifest.json")))
    assert m["format"] == "safetensors" and m["samples"] == N, m
    order = json.load(open(os.path.join(d, "layer_output_name_order.json")))["layer_output_names"]
    assert order == [e["file"] for e in m["tensors"]], order
    for k in range(N):
        check_against_ort(d, k)
        # the sample's input, under the model's input name
        inp = safetensors.numpy.load_file(os.path.join(d, "inputs", "input_%d.safetensors" % k))
        assert list(inp) == ["x"] and np.array_equal(inp["x"], INPUTS[k])
    # one file per sample, nothing else in outputs/
    assert sorted(os.listdir(os.path.join(d, "outputs"))) == sorted(
        "layer_outputs_%d.safetensors" % k for k in range(N)), os.listdir(os.path.join(d, "outputs"))


@test
def the_raw_dump_of_the_same_run_matches_ort():
    d = w("raw")
    run("generate", MODEL, "--input-list", w("list.txt"), "-o", d, "-q")
    m = json.load(open(os.path.join(d, "manifest.json")))
    for k in range(N):
        ref = ort_outputs(k)
        for e in m["tensors"]:
            if e["name"] == "bf16":
                continue
            a = np.fromfile(os.path.join(d, "outputs", "layer_outputs_%d" % k, e["file"]),
                            dtype=ref[e["name"]].dtype).reshape(ref[e["name"]].shape)
            np.testing.assert_allclose(a, ref[e["name"]], rtol=1e-5, atol=1e-5, err_msg=e["name"])


@test
def safetensors_and_raw_dumps_hold_the_same_bytes():
    raw, st = w("raw"), w("st")
    mr = json.load(open(os.path.join(raw, "manifest.json")))
    for k in range(N):
        tensors = load_numpy_without_bf16(os.path.join(st, "outputs", "layer_outputs_%d.safetensors" % k))
        for e in mr["tensors"]:
            s = os.path.splitext(e["file"])[0]
            b = open(os.path.join(raw, "outputs", "layer_outputs_%d" % k, e["file"]), "rb").read()
            if s == "bf16":
                import torch
                from safetensors.torch import load_file
                b2 = load_file(os.path.join(st, "outputs", "layer_outputs_%d.safetensors" % k))["bf16"]
                assert b2.view(torch.int16).numpy().tobytes() == b, s
                continue
            assert tensors[s].tobytes() == b, s


def compare_json(ref, test, *extra):
    out = w("cmp.json")
    run("compare", ref, test, "--json", out, *extra, expect=None)
    return json.load(open(out))


@test
def compare_reads_safetensors_against_raw_and_itself():
    for ref, test in ((w("raw"), w("st")), (w("st"), w("raw")), (w("st"), w("st"))):
        p = run("compare", ref, test, expect=0)
        assert "15 compared, 15 pass" in p.stdout, p.stdout
    # an AIMET dump (the name-order file and .raw files, no manifest) against it
    aimet = w("aimet")
    shutil.copytree(w("raw"), aimet)
    os.remove(os.path.join(aimet, "manifest.json"))
    for ref, test in ((aimet, w("st")), (w("st"), aimet)):
        p = run("compare", ref, test, "--model", MODEL, expect=0)
        assert "AIMET dump" in p.stdout and "15 compared, 15 pass" in p.stdout, p.stdout
    # and the Python package's compare
    rows = layerout.compare(w("raw"), w("st"))
    assert len(rows) == 15 and all(r["status"] == "pass" and r["sqnr_db"] == float("inf") for r in rows), rows


@test
def compare_finds_a_changed_tensor_in_a_safetensors_file():
    # the reference package writes a copy of sample 0 with one tensor changed
    d = w("st_bad")
    shutil.copytree(w("st"), d)
    for k in range(N):
        path = os.path.join(d, "outputs", "layer_outputs_%d.safetensors" % k)
        import torch
        from safetensors.torch import load_file, save_file
        from safetensors import safe_open
        with safe_open(path, framework="pt") as f:
            meta = f.metadata()
        t = load_file(path)
        t["relu"] = t["relu"] * 1.1
        save_file(t, path, metadata=meta)
    p = run("compare", w("raw"), d, "--json", w("bad.json"), expect=1)
    rows = {r["name"]: r for r in json.load(open(w("bad.json")))["tensors"]}
    # 20*log10(1/0.1) = 20 dB for relu; every other tensor exact
    assert abs(rows["relu"]["sqnr_db"] - 20.0) < 1e-3, rows["relu"]["sqnr_db"]
    assert all(r["sqnr_db"] == float("inf") or r["sqnr_db"] is None or r["name"] == "relu"
               for r in rows.values() if isinstance(r.get("sqnr_db"), float)), p.stdout


@test
def a_truncated_safetensors_file_is_a_clear_error():
    d = w("st_trunc")
    shutil.copytree(w("st"), d)
    path = os.path.join(d, "outputs", "layer_outputs_1.safetensors")
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size - 10)
    expect_error(run("compare", w("raw"), d, expect=None), "layer_outputs_1.safetensors", "truncated")
    with open(path, "wb") as f:
        f.write(b"\x05\x00")
    expect_error(run("compare", w("raw"), d, expect=None), "layer_outputs_1.safetensors", "not a safetensors file")


@test
def malformed_headers_are_clear_errors():
    import struct
    d = w("st_malformed")
    shutil.copytree(w("st"), d)
    path = os.path.join(d, "outputs", "layer_outputs_0.safetensors")

    def st_file(header, data=b"", raw=None):
        h = raw if raw is not None else json.dumps(header).encode()
        return struct.pack("<Q", len(h)) + h + data

    x = {"dtype": "F32", "shape": [1, 3, 8, 8], "data_offsets": [0, 768]}
    cases = [
        (struct.pack("<Q", 1 << 62) + b"{}", "header length"),
        (st_file(None, raw=b"[1, 2]"), "not a JSON object"),
        (st_file(None, raw=b"{\"x\": "), "not a JSON object"),
        (st_file({"x": dict(x, dtype="STR")}, b"\0" * 768), "dtype 'STR'"),
        (st_file({"x": dict(x, shape=[1, -3, 8, 8])}, b"\0" * 768), "malformed shape"),
        (st_file({"x": dict(x, shape=[1, 3, 8, 9])}, b"\0" * 768), "data_offsets"),
        (st_file({"x": dict(x, data_offsets=[0, 1 << 40])}, b"\0" * 768), "data_offsets"),
        (st_file({"x": dict(x, data_offsets=[8, 0])}, b"\0" * 768), "data_offsets"),
        (st_file({"x": dict(x, shape="1x3")}, b"\0" * 768), "malformed"),
    ]
    for blob, words in cases:
        with open(path, "wb") as f:
            f.write(blob)
        expect_error(run("compare", w("raw"), d, expect=None), "layer_outputs_0.safetensors", words)
    # a manifest this reader refuses, after the sample files were found
    d2 = w("st_schema")
    shutil.copytree(w("st"), d2)
    mpath = os.path.join(d2, "manifest.json")
    m = json.load(open(mpath))
    m["schema"] = 99
    json.dump(m, open(mpath, "w"))
    expect_error(run("compare", w("raw"), d2, expect=None), "schema")
    expect_error(run("extract", MODEL, "--dump", d2, "--tensor", "relu", "-o", w("pack_schema"), expect=None), "schema")
    # a file that holds fewer tensors than the manifest names: those rows are not compared, saying why
    with open(path, "wb") as f:
        f.write(st_file({"x": x}, INPUTS[0].tobytes()))
    p = run("compare", w("raw"), d, expect=1)
    assert "holds no tensor 'relu'" in p.stdout and "1 compared, 1 pass" in p.stdout, p.stdout


@test
def extract_packs_a_tensor_of_a_safetensors_dump():
    for dump in ("raw", "st"):
        pack = w("pack_" + dump)
        run("extract", MODEL, "--dump", w(dump), "--tensor", "logits", "--sample", "3", "-o", pack, "-q")
    for sub in ("expected/logits.raw", "inputs/flat.raw"):
        a = open(os.path.join(w("pack_raw"), sub), "rb").read()
        b = open(os.path.join(w("pack_st"), sub), "rb").read()
        assert a == b and len(a) > 0, sub
    np.testing.assert_allclose(np.fromfile(os.path.join(w("pack_st"), "expected/logits.raw"), np.float32),
                               ort_outputs(3)["logits"].ravel(), rtol=1e-5, atol=1e-5)
    # the pack reproduces the target with layerout itself
    out = w("pack_st/out")
    subprocess.run([LAYEROUT, "generate", "model.onnx", "--input-list", "input_list.txt", "-o", out, "-q"],
                   cwd=w("pack_st"), check=True)
    assert open(os.path.join(out, "outputs/layer_outputs_0/logits.raw"), "rb").read() == \
        open(os.path.join(w("pack_st"), "expected/logits.raw"), "rb").read()


def same_tensors(a, b):
    ma, mb = (json.load(open(os.path.join(d, "manifest.json"))) for d in (a, b))
    for m in (ma, mb):
        del m["model"]["path"]
    assert ma == mb, (ma, mb)
    for k in range(ma["samples"]):
        for sub in ("outputs/layer_outputs_%d.safetensors", "inputs/input_%d.safetensors"):
            ta = load_numpy_without_bf16(os.path.join(a, sub % k))
            tb = load_numpy_without_bf16(os.path.join(b, sub % k))
            assert list(ta) == list(tb) and all(np.array_equal(ta[x], tb[x]) for x in ta), (sub % k)


@test
def shards_and_merge_give_the_one_process_dump():
    d = w("st_shards")
    procs = [subprocess.Popen([LAYEROUT, "generate", MODEL, "--input-list", w("list.txt"), "-o", d, "--format",
                               "safetensors", "--shard", "%d/3" % i, "-q"]) for i in range(3)]
    assert [p.wait() for p in procs] == [0, 0, 0]
    run("merge", d, "-q")
    same_tensors(w("st"), d)
    for k in range(N):
        check_against_ort(d, k)
    # shards in separate folders, merged into a new one
    parts = [w("st_part%d" % i) for i in range(2)]
    for i, p in enumerate(parts):
        run("generate", MODEL, "--input-list", w("list.txt"), "-o", p, "--format", "safetensors", "--shard",
            "%d/2" % i, "-q")
    run("merge", *parts, "-o", w("st_merged"), "-q")
    same_tensors(w("st"), w("st_merged"))
    # shards on another file system (tmpfs) are copied, not renamed, into the merged folder
    if os.path.isdir("/dev/shm"):
        import tempfile
        shm = tempfile.mkdtemp(prefix="layerout-container-", dir="/dev/shm")
        try:
            parts = [os.path.join(shm, "part%d" % i) for i in range(2)]
            for i, p in enumerate(parts):
                run("generate", MODEL, "--input-list", w("list.txt"), "-o", p, "--format", "safetensors",
                    "--shard", "%d/2" % i, "-q")
            out = run("merge", *parts, "-o", w("st_merged_copy")).stdout
            assert "copied" in out or os.stat(shm).st_dev == os.stat(WORK).st_dev, out
            same_tensors(w("st"), w("st_merged_copy"))
        finally:
            shutil.rmtree(shm, ignore_errors=True)
    # a shard of another format is another run
    run("generate", MODEL, "--input-list", w("list.txt"), "-o", w("st_mixed"), "--format", "safetensors",
        "--shard", "0/2", "-q")
    expect_error(run("generate", MODEL, "--input-list", w("list.txt"), "-o", w("st_mixed"), "--shard", "1/2", "-q",
                     expect=None), "format safetensors")


@test
def merge_refuses_a_damaged_container():
    d = w("st_damaged")
    for i in range(2):
        run("generate", MODEL, "--input-list", w("list.txt"), "-o", d, "--format", "safetensors", "--shard",
            "%d/2" % i, "-q")
    with open(os.path.join(d, "outputs", "layer_outputs_2.safetensors"), "ab") as f:
        f.write(b"\0")
    expect_error(run("merge", d, expect=None), "sample 2", "another size")
    assert not os.path.exists(os.path.join(d, "manifest.json"))


@test
def append_continues_a_safetensors_dump():
    d = w("st_append")
    first = w("list3.txt")
    with open(first, "w") as f:
        f.writelines(w("inputs/%d.raw" % k) + "\n" for k in range(3))
    run("generate", MODEL, "--input-list", first, "-o", d, "--format", "safetensors", "-q")
    # --append skips the samples the folder holds
    run("generate", MODEL, "--input-list", w("list.txt"), "-o", d, "--format", "safetensors", "--append", "-q")
    same_tensors(w("st"), d)
    expect_error(run("generate", MODEL, "--input-list", w("list.txt"), "-o", d, "--append", "-q", expect=None),
                 "holds safetensors files")


def complete_prefix(d):
    """The promise, from the files alone: the manifest's K samples load whole."""
    if not os.path.exists(os.path.join(d, "manifest.json")):
        return 0
    m = json.load(open(os.path.join(d, "manifest.json")))
    for k in range(m["samples"]):
        t = load_numpy_without_bf16(os.path.join(d, "outputs", "layer_outputs_%d.safetensors" % k))
        assert len(t) == 14, (k, list(t))
    for name in os.listdir(os.path.join(d, "outputs")):
        assert name.endswith(".safetensors") or name.endswith(".partial"), name
    return m["samples"]


@test
def a_killed_writer_leaves_whole_samples_and_append_finishes():
    total = 3000
    big = w("list_big.txt")
    with open(big, "w") as f:
        f.writelines(w("inputs/%d.raw" % (k % N)) + "\n" for k in range(total))
    # the signal comes once the run is under way (some samples whole), not
    # after a fixed delay, which a faster run could outlast
    for first, sig in ((2, signal.SIGKILL), (5, signal.SIGINT)):
        d = w("st_kill_%d" % sig)
        p = subprocess.Popen([LAYEROUT, "generate", MODEL, "--input-list", big, "-o", d, "--format",
                              "safetensors", "-q"], stderr=subprocess.PIPE, text=True)
        start = time.monotonic()
        while p.poll() is None and time.monotonic() - start < 60:
            try:
                m = json.load(open(os.path.join(d, "manifest.json")))
                if m["samples"] >= first:
                    break
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.002)
        p.send_signal(sig)
        _, err = p.communicate()
        assert p.returncode in (-9, 0, 130, 2), (p.returncode, err)
        done = complete_prefix(d)
        print("    signal %d after %d or more samples: %d samples whole" % (sig, first, done))
        assert first <= done < total, "the run finished before the signal: nothing tested"
        # --append finishes from where the dump stands
        run("generate", MODEL, "--input-list", big, "-o", d, "--format", "safetensors", "--append", "-q")
        assert complete_prefix(d) == total
        assert not [n for n in os.listdir(os.path.join(d, "outputs")) if n.endswith(".partial")]
        for k in (0, done, total - 1):
            check_against_ort(d, k, k % N)


@test
def megabytes_of_data_under_a_header_that_outgrew_its_room():
    # the first sample's header has no earlier one to size its room by: with
    # 12 long names it outgrows it, and 9 MB of data (several copy chunks)
    # move up behind it
    names = ["x"] + ["a fairly long tensor name, number %d, to grow the header" % i for i in range(12)]
    nodes = [helper.make_node("Neg" if i % 2 else "Abs", [names[i]], [names[i + 1]]) for i in range(12)]
    g = helper.make_graph(nodes, "big", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 256, 256])],
                          [helper.make_tensor_value_info(names[-1], TensorProto.FLOAT, [1, 3, 256, 256])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    path = w("big.onnx")
    onnx.save(m, path)
    xs = [rng.standard_normal((1, 3, 256, 256)).astype(np.float32) for _ in range(2)]
    for k, x in enumerate(xs):
        x.tofile(w("big%d.raw" % k))
    with open(w("big_list.txt"), "w") as f:
        f.write(w("big0.raw") + "\n" + w("big1.raw") + "\n")
    d = w("st_big")
    run("generate", path, "--input-list", w("big_list.txt"), "-o", d, "--format", "safetensors", "-q")
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    mo = onnx.load(path)
    del mo.graph.output[:]
    mo.graph.output.extend([helper.make_empty_tensor_value_info(n) for n in names[1:]])
    sess = ort.InferenceSession(mo.SerializeToString(), providers=["CPUExecutionProvider"])
    for k, x in enumerate(xs):
        fpath = os.path.join(d, "outputs", "layer_outputs_%d.safetensors" % k)
        got = safetensors.numpy.load_file(fpath)
        ref = dict(zip(names[1:], sess.run(names[1:], {"x": x})), x=x)
        assert set(got) == {stem(n) for n in names}, sorted(got)
        for n, a in ref.items():
            assert np.array_equal(got[stem(n)], a), n
        assert os.path.getsize(fpath) < 13 * x.nbytes + 4096, os.path.getsize(fpath)


def full_disk(limit):
    def f():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return f


@test
def a_full_disk_fails_clearly_and_publishes_nothing_partial():
    # each sample file holds ~2.6 KB of data: a limit of 1000 bytes stops the
    # first sample's data; the inputs file (256 B of data) would fit
    d = w("st_full")
    p = run("generate", MODEL, "--input-list", w("list.txt"), "-o", d, "--format", "safetensors",
            expect=None, preexec=full_disk(1000))
    expect_error(p, "File too large", "layer_outputs_0.safetensors")
    assert os.listdir(os.path.join(d, "outputs")) == [], os.listdir(os.path.join(d, "outputs"))
    assert not os.path.exists(os.path.join(d, "manifest.json"))
    run("generate", MODEL, "--input-list", w("list.txt"), "-o", d, "--format", "safetensors", "--append", "-q")
    same_tensors(w("st"), d)


@test
def a_string_tensor_is_refused_naming_it_and_its_type():
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("Cast", ["r"], ["as text"], to=TensorProto.STRING, name="to_str")]
    g = helper.make_graph(nodes, "s", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                          [helper.make_tensor_value_info("as text", TensorProto.STRING, [2])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    path = w("string.onnx")
    onnx.save(m, path)
    np.array([1.5, -2], np.float32).tofile(w("two.raw"))
    d = w("st_string")
    expect_error(run("generate", path, "-i", w("two.raw"), "-o", d, "--format", "safetensors", expect=None),
                 "string tensor 'as text'", "safetensors has no string type")
    assert os.listdir(os.path.join(d, "outputs")) == [] and not os.path.exists(os.path.join(d, "manifest.json"))
    # a tensor whose file name is the key safetensors reserves
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["__metadata__"])], "m",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                          [helper.make_tensor_value_info("__metadata__", TensorProto.FLOAT, [2])])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), w("reserved.onnx"))
    expect_error(run("generate", w("reserved.onnx"), "-i", w("two.raw"), "-o", w("st_reserved"), "--format",
                     "safetensors", expect=None), "tensor '__metadata__'", "reserves")
    # the same model saves as raw: the refusal is the format's
    run("generate", path, "-i", w("two.raw"), "-o", w("raw_string"), "-q")
    # leaving the string tensor out (--layers) makes it a safetensors dump again
    run("generate", path, "-i", w("two.raw"), "-o", d, "--format", "safetensors", "--layers", "^(x|r)$", "-q")
    t = safetensors.numpy.load_file(os.path.join(d, "outputs", "layer_outputs_0.safetensors"))
    assert np.array_equal(t["r"], np.array([1.5, 0], np.float32)), t


@test
def load_sample_reads_every_format_alike():
    # .npy has no bfloat16: that dump leaves it out
    run("generate", MODEL, "--input-list", w("list.txt"), "-o", w("npy"), "--format", "npy", "--op-types",
        "Conv,Relu,Flatten,MatMul,Greater,ArgMax,Shape,Softmax", "-q")
    for k in (0, N - 1):
        r, n, s = (layerout.load_sample(w(d), k) for d in ("raw", "npy", "st"))
        assert list(r) == list(s) and len(r) == 15, (list(r), list(s))
        assert list(n) == ["conv_out_0", "relu", "flat", "logits", "positive", "top", "shape", "probs"], list(n)
        ref = ort_outputs(k)
        for key in r:
            assert r[key].dtype == s[key].dtype and r[key].shape == s[key].shape, key
            assert np.array_equal(r[key].view(np.uint8), s[key].view(np.uint8)), key
            if key in n:
                assert n[key].dtype == s[key].dtype and np.array_equal(n[key], s[key]), key
        for name, a in ref.items():
            np.testing.assert_allclose(s[stem(name)], a, rtol=1e-5, atol=1e-5, err_msg=name)
    try:
        layerout.load_sample(w("st"), N)
        raise AssertionError("sample N loaded")
    except layerout.LayerOutError as e:
        assert "no sample %d" % N in str(e)


@test
def the_python_package_writes_safetensors():
    from layerout.onnx import LayerOutputUtil
    d = w("py_st")
    util = LayerOutputUtil(onnx.load(MODEL), d, format="safetensors")
    for k in range(2):
        util.generate_layer_outputs(INPUTS[k])
    del util
    for k in range(2):
        check_against_ort(d, k)


checks.finish("container")
