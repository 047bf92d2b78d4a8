#!/usr/bin/env python3
"""Command-line tests of `layerout generate`: the layout and values of a dump
(references computed with numpy by make_fixtures.py), input forms, directory
modes, and every kind of bad input the generate issue names: one clear
message, exit status 2, no signal, no half-written sample.

Usage: test_cli.py LAYEROUT_BINARY FIXTURE_DIR WORK_DIR"""
import json
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import checks  # noqa: E402
from checks import test  # noqa: E402

LAYEROUT, FX, WORK = sys.argv[1], sys.argv[2], sys.argv[3]


def run(*args, expect=0):
    return checks.run(LAYEROUT, args, expect=expect, timeout=300)


def fx(name):
    return os.path.join(FX, name)


def fresh(name):
    d = os.path.join(WORK, name)
    shutil.rmtree(d, ignore_errors=True)
    return d


def tree(d):
    out = []
    for root, dirs, files in os.walk(d):
        for f in files + [x + "/" for x in dirs]:
            out.append(os.path.relpath(os.path.join(root, f), d))
    return sorted(out)


def check_no_partial(d):
    leftovers = [p for p in tree(d) if ".partial" in p or p.endswith(".tmp")]
    assert not leftovers, "half-written files left behind: %s" % leftovers


def bad(args, *words, dump=None):
    p = run(*args, expect=2)
    msg = p.stderr.strip()
    assert msg.startswith("layerout: "), "message should start with 'layerout: ': %r" % msg
    for w in words:
        assert w in msg, "message %r does not mention %r" % (msg, w)
    assert "\n" not in msg or len(msg.splitlines()) <= 2, "one clear message expected, got %r" % msg
    if dump and os.path.isdir(dump):
        check_no_partial(dump)
        assert not os.path.exists(os.path.join(dump, "outputs", "layer_outputs_0")), "a sample was written"
    return msg


EXPECTED = ["x", "y", "add_out_0", "mul_out", "z"]


@test
def generate_two_inputs_layout_and_values():
    d = fresh("two")
    p = run("generate", fx("two_inputs.onnx"), "-i", fx("x.npy"), "-i", fx("y.npy"), "-o", d)
    assert "1 sample" in p.stdout and "5 layer outputs" in p.stdout, p.stdout
    order = json.load(open(os.path.join(d, "layer_output_name_order.json")))
    assert order == {"layer_output_names": EXPECTED}, order
    files = sorted(os.listdir(os.path.join(d, "outputs", "layer_outputs_0")))
    assert files == sorted(n + ".raw" for n in EXPECTED), files
    for n in EXPECTED:
        got = np.fromfile(os.path.join(d, "outputs", "layer_outputs_0", n + ".raw"), np.float32).reshape(2, 3)
        ref = np.load(fx("ref_%s.npy" % n))
        assert np.allclose(got, ref, rtol=1e-6, atol=1e-7), (n, got, ref)
    # several inputs: inputs/input_0/0.raw and 1.raw in model-input order
    assert sorted(os.listdir(os.path.join(d, "inputs", "input_0"))) == ["0.raw", "1.raw"]
    got_y = np.fromfile(os.path.join(d, "inputs", "input_0", "1.raw"), np.float32)
    assert np.array_equal(got_y, np.load(fx("y.npy")).ravel())
    m = json.load(open(os.path.join(d, "manifest.json")))
    assert m["samples"] == 1 and len(m["model"]["sha256"]) == 64
    byname = {t["name"]: t for t in m["tensors"]}
    assert byname["add/out.0"]["file"] == "add_out_0.raw" and byname["add/out.0"]["node"] == "add"
    assert byname["add/out.0"]["op_type"] == "Add" and byname["add/out.0"]["dtype"] == "float32"
    assert byname["add/out.0"]["shape"] == [2, 3]
    assert "const:out" not in byname, "outputs of Constant nodes are not saved"
    check_no_partial(d)


@test
def name_map_names_are_kept_whole():
    # --naming onnx drops "_updated" from ONNX names as aimet_onnx does, but a
    # name the user mapped is the name to use, "_updated" included
    d = fresh("namemap_updated")
    m = os.path.join(WORK, "namemap_updated.json")
    with open(m, "w") as f:
        json.dump({"mul out": "mul_updated"}, f)
    run("generate", fx("two_inputs.onnx"), "-i", fx("x.npy"), "-i", fx("y.npy"), "-o", d, "--name-map", m, "--quiet")
    got = np.fromfile(os.path.join(d, "outputs", "layer_outputs_0", "mul_updated.raw"), np.float32).reshape(2, 3)
    assert np.allclose(got, np.load(fx("ref_mul_out.npy")), rtol=1e-6, atol=1e-7)
    assert not os.path.exists(os.path.join(d, "outputs", "layer_outputs_0", "mul.raw"))


@test
def reference_kernels_give_the_same_layers():
    # the reference loops instead of the fast paths: same files, values within
    # float32 rounding of numpy's
    d = fresh("refkernels")
    run("generate", fx("two_inputs.onnx"), "-i", fx("x.npy"), "-i", fx("y.npy"), "-o", d, "--reference-kernels",
        "--quiet")
    for n in EXPECTED:
        got = np.fromfile(os.path.join(d, "outputs", "layer_outputs_0", n + ".raw"), np.float32).reshape(2, 3)
        assert np.allclose(got, np.load(fx("ref_%s.npy" % n)), rtol=1e-6, atol=1e-7), n
    assert "--reference-kernels" in run("generate", "--help").stdout


@test
def no_fusion_gives_the_same_layers():
    # every node run by itself: the same files and values, within float32
    # rounding of numpy's (tests/fusion checks the bits and the profile)
    d = fresh("nofusion")
    run("generate", fx("two_inputs.onnx"), "-i", fx("x.npy"), "-i", fx("y.npy"), "-o", d, "--no-fusion", "--quiet")
    for n in EXPECTED:
        got = np.fromfile(os.path.join(d, "outputs", "layer_outputs_0", n + ".raw"), np.float32).reshape(2, 3)
        assert np.allclose(got, np.load(fx("ref_%s.npy" % n)), rtol=1e-6, atol=1e-7), n
    assert "--no-fusion" in run("generate", "--help").stdout


@test
def inputs_by_name_pb_raw_and_npy_format():
    d = fresh("byname")
    run("generate", fx("two_inputs.onnx"), "-i", "y=" + fx("y.raw"), "-i", "x=" + fx("x.pb"), "-o", d,
        "--format", "npy", "--quiet")
    z = np.load(os.path.join(d, "outputs", "layer_outputs_0", "z.npy"))
    assert z.shape == (2, 3) and np.allclose(z, np.load(fx("ref_z.npy")), atol=1e-7)
    assert os.path.exists(os.path.join(d, "inputs", "input_0", "0.npy"))


@test
def input_list_two_samples_then_append():
    d = fresh("list")
    run("generate", fx("two_inputs.onnx"), "--input-list", fx("list.txt"), "-o", d, "-q")
    assert os.path.isdir(os.path.join(d, "outputs", "layer_outputs_1"))
    x2 = np.fromfile(os.path.join(d, "outputs", "layer_outputs_1", "x.raw"), np.float32)
    assert np.array_equal(x2, np.load(fx("x2.npy")).ravel()), "line 2 names its inputs out of order"
    run("generate", fx("two_inputs.onnx"), "-i", fx("x.npy"), "-i", fx("y.npy"), "-o", d, "--append", "-q")
    m = json.load(open(os.path.join(d, "manifest.json")))
    assert m["samples"] == 3 and os.path.isdir(os.path.join(d, "outputs", "layer_outputs_2"))
    bad(("generate", fx("dynamic.onnx"), "-i", fx("x.npy"), "-o", d, "--append"), "another model")


@test
def non_empty_dir_needs_a_flag_and_overwrite_keeps_other_files():
    d = fresh("modes")
    run("generate", fx("two_inputs.onnx"), "-i", fx("x.npy"), "-i", fx("y.npy"), "-o", d, "-q")
    bad(("generate", fx("two_inputs.onnx"), "-i", fx("x.npy"), "-i", fx("y.npy"), "-o", d), "not empty", "--overwrite")
    open(os.path.join(d, "notes.txt"), "w").write("mine")
    run("generate", fx("two_inputs.onnx"), "-i", fx("x.npy"), "-i", fx("y.npy"), "-o", d, "--overwrite", "-q")
    assert open(os.path.join(d, "notes.txt")).read() == "mine"
    assert json.load(open(os.path.join(d, "manifest.json")))["samples"] == 1


@test
def unsorted_file_order_is_sorted():
    d = fresh("unsorted")
    run("generate", fx("unsorted.onnx"), "-i", fx("x.npy"), "-o", d, "-q")
    order = json.load(open(os.path.join(d, "layer_output_name_order.json")))["layer_output_names"]
    assert order == ["x", "a", "b"], order
    b = np.fromfile(os.path.join(d, "outputs", "layer_outputs_0", "b.raw"), np.float32)
    assert np.array_equal(b, np.maximum(-np.load(fx("x.npy")), 0).ravel())


@test
def dynamic_raw_input_needs_shape():
    d = fresh("dyn")
    bad(("generate", fx("dynamic.onnx"), "-i", fx("x.raw"), "-o", d), "dynamic", "--shape", dump=d)
    run("generate", fx("dynamic.onnx"), "-i", fx("x.raw"), "--shape", "x=2x3", "-o", d, "--overwrite", "-q")
    r = np.fromfile(os.path.join(d, "outputs", "layer_outputs_0", "r.raw"), np.float32)
    assert np.array_equal(r, np.maximum(np.load(fx("x.npy")), 0).ravel())



@test
def manifest_follows_each_sample_of_a_list():
    """The index after every sample: samples of the same shapes only count
    up (the manifest is rewritten from the last one's text), a later sample
    of a new shape gives its shape, and both files always parse as what a
    fresh dump of the same samples would hold."""
    d = fresh("dynlist")
    xs = [np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5, np.ones((2, 3), np.float32),
          np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3), -np.ones((2, 3), np.float32)]
    lst = os.path.join(WORK, "dynlist.txt")
    with open(lst, "w") as f:
        for k, x in enumerate(xs):
            np.save(os.path.join(WORK, "dynlist_%d.npy" % k), x)
            f.write(os.path.join(WORK, "dynlist_%d.npy" % k) + "\n")
    for n in range(1, len(xs) + 1):
        with open(lst + ".head", "w") as f:
            f.writelines(open(lst).readlines()[:n])
        run("generate", fx("dynamic.onnx"), "--input-list", lst + ".head", "-o", d, "--overwrite", "-q")
        m = json.load(open(os.path.join(d, "manifest.json")))
        order = json.load(open(os.path.join(d, "layer_output_name_order.json")))
        assert m["samples"] == n, m["samples"]
        assert order == {"layer_output_names": ["x", "r"]}, order
        shapes = {t["name"]: t["shape"] for t in m["tensors"]}
        assert shapes == {"x": list(xs[n - 1].shape), "r": list(xs[n - 1].shape)}, (n, shapes)
        for k in range(n):
            r = np.fromfile(os.path.join(d, "outputs", "layer_outputs_%d" % k, "r.raw"), np.float32)
            assert np.array_equal(r, np.maximum(xs[k], 0).ravel()), k
        check_no_partial(d)

@test
def many_samples_with_the_default_threads():
    """A list of 9 samples with the default thread count: a run that spends
    most of its time writing (here 1x1 convolutions over 2 MB maps, every
    layer saved) tries one thread less from the fourth sample and keeps the
    faster count, the oneDNN kernels built again for each; with --threads 2
    it tries writing each sample's files after its kernels instead of beside
    them. Every file is bit for bit the one --threads 1 writes, whichever
    count ran it and however it was written."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(9)
    w = lambda name, o, i: numpy_helper.from_array((rng.standard_normal((o, i, 1, 1)) * 0.25).astype(np.float32), name)
    g = helper.make_graph([
        helper.make_node("Conv", ["x", "w1"], ["c1"]), helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2"], ["c2"]), helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("Conv", ["r2", "w3"], ["y"])], "wide",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 128, 128])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [w("w1", 32, 16), w("w2", 32, 32), w("w3", 16, 32)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    model = os.path.join(WORK, "wide.onnx")
    onnx.save(m, model)
    lst = os.path.join(WORK, "many.txt")
    with open(lst, "w") as f:
        for k in range(9):
            p = os.path.join(WORK, "many_%d.npy" % k)
            np.save(p, rng.standard_normal((1, 16, 128, 128)).astype(np.float32))
            f.write(p + "\n")
    dumps = []
    # --threads 2 tries writing each sample after its kernels (samples 4-5)
    for extra in (("--profile",), ("--threads", "2", "--profile"), ("--threads", "1")):
        d = fresh("many" + "".join(extra))
        p = run("generate", model, "--input-list", lst, "-o", d, "--quiet", *extra)
        if "--profile" in extra:
            print("    " + " | ".join(p.stderr.splitlines()[:2]))
        dumps.append(d)
    trees = [tree(os.path.join(d, "outputs")) for d in dumps]
    ref = trees[-1]
    assert all(t == ref for t in trees) and len([p for p in ref if p.endswith(".raw")]) == 9 * 6, ref[:5]
    for p in ref:
        if p.endswith(".raw"):
            want = open(os.path.join(dumps[-1], "outputs", p), "rb").read()
            for d in dumps[:-1]:
                assert open(os.path.join(d, "outputs", p), "rb").read() == want, \
                    "%s of %s differs from the --threads 1 run" % (p, d)


@test
def max_pool_fast_path_is_the_reference():
    """Stride-2 max pooling (the fast path takes column maxima first): bit for
    bit the --reference-kernels loops, over rows of several chunks, pads, ceil
    mode, windows of 1 to 5, -inf and NaN (windows all NaN included); without
    NaN also numpy's max over each window."""
    import onnx
    from onnx import TensorProto, helper
    rng = np.random.default_rng(7)
    for k, pad, ceil, h, w, nan in ((3, 1, 0, 30, 112, 0), (3, 1, 1, 9, 1101, 0.05), (2, 0, 0, 5, 600, 0),
                                    (5, 2, 0, 9, 700, 0.3), (3, 0, 1, 7, 531, 1.0), (4, 1, 0, 16, 64, 0.02),
                                    (1, 0, 0, 8, 40, 0.1)):
        x = rng.standard_normal((1, 2, h, w)).astype(np.float32)
        x[rng.random(x.shape) < nan] = np.nan
        x[rng.random(x.shape) < 0.01] = -np.inf
        g = helper.make_graph([helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[k, k], strides=[2, 2],
                                                pads=[pad] * 4, ceil_mode=ceil)], "pool",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        m.ir_version = 8
        path = os.path.join(WORK, "pool.onnx")
        onnx.save(m, path)
        np.save(os.path.join(WORK, "pool_x.npy"), x)
        got = []
        for extra in ((), ("--reference-kernels",)):
            d = fresh("pool")
            run("generate", path, "-i", os.path.join(WORK, "pool_x.npy"), "-o", d, "--quiet", *extra)
            got.append(np.fromfile(os.path.join(d, "outputs", "layer_outputs_0", "y.raw"), np.float32))
        case = (k, pad, ceil, h, w, nan)
        assert got[0].size == got[1].size > 0 and np.array_equal(got[0].view(np.uint32), got[1].view(np.uint32)), \
            "%s: fast and reference max pooling differ" % (case,)
        if nan == 0:
            oh = (h + 2 * pad - k + (2 - 1 if ceil else 0)) // 2 + 1
            ow = (w + 2 * pad - k + (2 - 1 if ceil else 0)) // 2 + 1
            xp = np.pad(x, ((0, 0), (0, 0), (pad, pad + 2), (pad, pad + 2)), constant_values=-np.inf)
            want = np.full((1, 2, oh, ow), -np.inf, np.float32)
            for i in range(k):
                for j in range(k):
                    want = np.maximum(want, xp[:, :, i:i + 2 * oh:2, j:j + 2 * ow:2])
            assert np.array_equal(got[0].reshape(want.shape), want), "%s: max pooling differs from numpy" % (case,)


@test
def bad_models():
    d = fresh("badmodels")
    bad(("generate", fx("missing.onnx"), "-i", fx("x.npy"), "-o", d), "missing.onnx", "No such file")
    bad(("generate", fx("truncated.onnx"), "-i", fx("x.npy"), "-o", d), "truncated.onnx")
    bad(("generate", fx("not_onnx.onnx"), "-i", fx("x.npy"), "-o", d), "not an ONNX model")
    bad(("generate", fx("empty.onnx"), "-i", fx("x.npy"), "-o", d), "empty.onnx")
    bad(("generate", fx("unsupported.onnx"), "-i", fx("x.npy"), "-o", d), "FancyOp", "com.example", "fancy", "opset 1")
    bad(("generate", fx("cycle.onnx"), "-i", fx("x.npy"), "-o", d), "cycle")
    bad(("generate", fx("dangling.onnx"), "-i", fx("x.npy"), "-o", d), "ghost", "adder")
    assert not os.path.exists(os.path.join(d, "manifest.json"))


@test
def bad_inputs_leave_nothing_half_written():
    d = fresh("badinputs")
    m = fx("two_inputs.onnx")
    bad(("generate", m, "-i", fx("x.npy"), "-o", d), "2 inputs", dump=d)
    bad(("generate", m, "-i", fx("x_f64.npy"), "-i", fx("y.npy"), "-o", d), "float64", "float32", dump=d)
    bad(("generate", m, "-i", fx("x_shape.npy"), "-i", fx("y.npy"), "-o", d), "3x2", "2x3", dump=d)
    bad(("generate", m, "-i", fx("x_short.raw"), "-i", fx("y.npy"), "-o", d), "x_short.raw", "bytes", dump=d)
    bad(("generate", m, "-i", fx("bad.npy"), "-i", fx("y.npy"), "-o", d), "bad.npy", dump=d)
    bad(("generate", m, "-i", fx("nope.npy"), "-i", fx("y.npy"), "-o", d), "nope.npy", dump=d)
    bad(("generate", m, "-i", "w=" + fx("x.npy"), "-i", fx("y.npy"), "-o", d), "no input named 'w'", dump=d)


@test
def unwritable_dir():
    if os.geteuid() == 0:
        # root writes anywhere; a path through a regular file fails for everyone
        blocker = os.path.join(WORK, "a_file")
        open(blocker, "w").write("x")
        bad(("generate", fx("two_inputs.onnx"), "-i", fx("x.npy"), "-i", fx("y.npy"), "-o", os.path.join(blocker, "dump")),
            "a_file")
    else:
        d = fresh("ro")
        os.makedirs(d)
        os.chmod(d, 0o500)
        bad(("generate", fx("two_inputs.onnx"), "-i", fx("x.npy"), "-i", fx("y.npy"), "-o", os.path.join(d, "dump")), "ro")


@test
def subgraph_outputs_are_saved_per_iteration():
    x = np.load(fx("x.npy"))
    # by default only what AIMET saves: graph inputs and top-level node outputs
    d = fresh("control_default")
    run("generate", fx("control_flow.onnx"), "-i", fx("x.npy"), "-o", d, "-q")
    out = os.path.join(d, "outputs", "layer_outputs_0")
    assert not os.path.exists(os.path.join(out, "acc_out__iter0.raw"))
    assert not os.path.exists(os.path.join(out, "else_out.raw"))
    assert np.allclose(np.fromfile(os.path.join(out, "loop_out.raw"), np.float32).reshape(2, 3), 3 * x, atol=1e-6)
    top = json.load(open(os.path.join(d, "layer_output_name_order.json")))["layer_output_names"]
    assert not any("__iter" in n for n in top) and "else_out" not in top, top
    d = fresh("control")
    run("generate", fx("control_flow.onnx"), "-i", fx("x.npy"), "-o", d, "-q", "--subgraphs")
    out = os.path.join(d, "outputs", "layer_outputs_0")
    names = json.load(open(os.path.join(d, "layer_output_name_order.json")))["layer_output_names"]
    # the top-level names come first, as without --subgraphs; body tensors after
    assert names[:len(top)] == top and set(names[len(top):]) == {
        "%s__iter%d" % (n, k) for n in ("acc_out", "cond_out") for k in range(3)} | {"else_out"}, names
    for k in range(3):
        got = np.fromfile(os.path.join(out, "acc_out__iter%d.raw" % k), np.float32).reshape(2, 3)
        assert np.allclose(got, x * (k + 1), atol=1e-6), ("iteration", k)
    assert not os.path.exists(os.path.join(out, "acc_out__iter3.raw"))
    assert np.allclose(np.fromfile(os.path.join(out, "loop_out.raw"), np.float32).reshape(2, 3), 3 * x, atol=1e-6)
    # the else branch ran (flag is false): its node output is saved, the then branch's is not
    assert np.allclose(np.fromfile(os.path.join(out, "else_out.raw"), np.float32).reshape(2, 3), np.abs(3 * x), atol=1e-6)
    assert not os.path.exists(os.path.join(out, "then_out.raw"))
    m = json.load(open(os.path.join(d, "manifest.json")))
    it = {t["name"]: t for t in m["tensors"]}
    assert it["acc_out__iter2"]["iteration"] == 2 and it["acc_out__iter2"]["node"] == "body_add", it["acc_out__iter2"]
    assert it["acc_out__iter2"]["nested"] is True and "nested" not in it["loop_out"]
    # a dump's samples all hold the same set: --append keeps the setting it was made with
    p = run("generate", fx("control_flow.onnx"), "-i", fx("x.npy"), "-o", d, "-q", "--append", expect=2)
    assert "made with --subgraphs" in p.stderr, p.stderr
    assert "iteration" not in it["loop_out"]


@test
def usage_errors_and_help():
    p = run("--help")
    assert "generate" in p.stdout
    p = run("generate", "--help")
    for opt in ("--input-list", "--shape", "--format", "--threads", "--overwrite", "--append", "--quiet", "--subgraphs"):
        assert opt in p.stdout, opt
    assert run("--version").stdout.startswith("layerout ")
    bad(("generate",), "MODEL")
    bad(("generate", fx("two_inputs.onnx"), "-i", fx("x.npy")), "-o DIR")
    bad(("generate", fx("two_inputs.onnx"), "-o", fresh("u")), "no input")
    bad(("generate", fx("two_inputs.onnx"), "-i", fx("x.npy"), "-o", fresh("u"), "--format", "csv"), "csv")
    bad(("frobnicate",), "unknown command")


@test
def option_errors_of_compare_and_extract():
    """compare and extract parse with one shared loop: every error names the
    option or argument, and --name=value reaches the same place as --name
    value (here the dump folder, named because it is missing)."""
    bad(("compare", "a", "b", "--top"), "--top needs a value")
    bad(("compare", "a", "b", "--top", "x"), "--top", "'x'")
    bad(("compare", "a", "b", "--top=-1"), "--top", "'-1'")
    bad(("compare", "a", "b", "--sqnr-min", "nan"), "--sqnr-min", "'nan'")
    bad(("compare", "a", "b", "--drop-db", "-3"), "--drop-db")
    bad(("compare", "a", "b", "c"), "'c' is one too many")
    bad(("compare", "a", "b", "--bogus"), "unknown option '--bogus'")
    bad(("compare", "a", "b", "--quiet=1"), "--quiet takes no value")
    bad(("extract", "m.onnx", "--sample", "-1"), "--sample", "'-1'")
    bad(("extract", "m.onnx", "n.onnx"), "'n.onnx' is one too many")
    for form in (("--dump", fresh("nodump")), ("--dump=" + fresh("nodump"),)):
        bad(("extract", fx("two_inputs.onnx"), *form, "--tensor", "x", "-o", fresh("pack")), "nodump", "not a folder")
    assert "--dump DIR" in run("extract", "--help").stdout
    assert "--sqnr-min DB" in run("compare", "--help").stdout


if __name__ == "__main__":
    checks.finish("cli")
