#!/usr/bin/env python3
"""Sharding and the dump folder's protocol (issue 15).

- The same input list (12 samples) as one process, as 3 `--shard` processes
  started at once on one folder plus `merge`, and as 3 shards in separate
  folders plus `merge -o`: every file's bytes, the name-order file and the
  manifest are the same (the one-process dump is the reference; its layer
  outputs are also checked against numpy's own Conv/Relu, so the reference is
  not ours alone).
- A shard killed with SIGKILL midway: merge refuses, naming the missing
  samples and the shard; the shard rerun with --append finishes its part.
- Clear errors: bad K/N, another model, another split, overlapping and
  missing samples, a second process on one shard, a plain writer while
  shards run.
- The folder protocol, each interleaving several times: a plain run and an
  --append run started together, two plain runs, a writer killed in the
  middle of a sample (with another starting right after). Each time the
  promise is checked from the files alone: a manifest that counts K samples
  has samples 0..K-1 whole (every tensor's file, its size from dtype and
  shape), and finishing with --append gives the reference dump.

Usage: test_shard.py LAYEROUT_BINARY WORK_DIR [ROUNDS]"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import onnx
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import checks  # noqa: E402
from checks import test  # noqa: E402
from dumps import conv_model, input_list, same_dump  # noqa: E402

LAYEROUT, WORK = (os.path.abspath(a) for a in sys.argv[1:3])
ROUNDS = int(sys.argv[3]) if len(sys.argv) > 3 else 4
os.makedirs(WORK, exist_ok=True)
ITEMSIZE = {"float32": 4, "float64": 8, "int64": 8, "int32": 4, "uint8": 1, "int8": 1, "bool": 1, "float16": 2}


def run(*args, expect=0):
    return checks.run(LAYEROUT, args, expect=expect)


def start(*args):
    return subprocess.Popen([LAYEROUT, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(p):
    out, err = p.communicate(timeout=600)
    return p.returncode, out + err


# ---- fixtures -----------------------------------------------------------------------

FX = os.path.join(WORK, "fixtures")
os.makedirs(FX, exist_ok=True)
SMALL = os.path.join(FX, "small.onnx")
SMALL_PROTO = conv_model(SMALL, 3, 4, 12, 1)
OTHER = os.path.join(FX, "other.onnx")
conv_model(OTHER, 3, 4, 12, 2)
BIG = os.path.join(FX, "big.onnx")
conv_model(BIG, 16, 16, 48, 3)
LIST, LIST_FILES = input_list(os.path.join(FX, "small_inputs"), 12, 12, 4)
BIG_LIST, _ = input_list(os.path.join(FX, "big_inputs"), 12, 48, 5)
LONG_LIST = os.path.join(FX, "long_list.txt")  # 36 lines: a run long enough to be stopped while it holds the lock
with open(BIG_LIST) as f, open(LONG_LIST, "w") as g:
    lines = [ln for ln in f if not ln.startswith("#")]
    g.writelines(lines * 3)


# ---- comparing dumps ------------------------------------------------------------------

def check_promise(d):
    """A manifest that counts K samples: samples 0..K-1 whole. Returns K."""
    mpath = os.path.join(d, "manifest.json")
    if not os.path.exists(mpath):
        return 0
    with open(mpath) as f:
        m = json.load(f)
    with open(os.path.join(d, "layer_output_name_order.json")) as f:
        order = json.load(f)["layer_output_names"]
    if [t["file"].rsplit(".", 1)[0] for t in m["tensors"]] != order:
        raise AssertionError("%s: the name-order file and the manifest disagree" % d)
    for k in range(m["samples"]):
        folder = os.path.join(d, "outputs", "layer_outputs_%d" % k)
        for t in m["tensors"]:
            want = int(np.prod(t["shape"])) * ITEMSIZE[t["dtype"]]
            p = os.path.join(folder, t["file"])
            if not os.path.exists(p) or os.path.getsize(p) != want:
                raise AssertionError("%s: the manifest counts %d samples but %s is %s" % (
                    d, m["samples"], p, "missing" if not os.path.exists(p) else "%d bytes, not %d" % (
                        os.path.getsize(p), want)))
        if not os.path.exists(os.path.join(d, "inputs", "input_%d.raw" % k)):
            raise AssertionError("%s: sample %d's input is missing" % (d, k))
    return m["samples"]


def fresh(name):
    d = os.path.join(WORK, name)
    shutil.rmtree(d, ignore_errors=True)
    return d


REF = fresh("reference")
run("generate", SMALL, "--input-list", LIST, "-o", REF, "-q")
BIG_REF = fresh("big_reference")
run("generate", BIG, "--input-list", BIG_LIST, "-o", BIG_REF, "-q")


@test
def reference_is_numpy_conv_relu():
    """The one-process dump the others are held against holds numpy's values."""
    w = {i.name: numpy_helper.to_array(i) for i in SMALL_PROTO.graph.initializer}
    for k in (0, 7, 11):
        x = np.load(LIST_FILES[k]).astype(np.float64)
        for i in range(3):
            wi = w["w%d" % i].astype(np.float64)
            xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
            y = np.zeros((1, wi.shape[0], x.shape[2], x.shape[3]))
            for dy in range(3):
                for dx in range(3):
                    y += np.einsum("oc,nchw->nohw", wi[:, :, dy, dx], xp[:, :, dy:dy + x.shape[2], dx:dx + x.shape[3]])
            got = np.fromfile(os.path.join(REF, "outputs", "layer_outputs_%d" % k, "conv%d.raw" % i), np.float32)
            assert np.allclose(got.reshape(y.shape), y, atol=1e-4), "sample %d conv%d differs from numpy" % (k, i)
            x = np.maximum(y, 0)


@test
def three_shards_one_folder_then_merge():
    d = fresh("shared")
    procs = [start("generate", SMALL, "--input-list", LIST, "-o", d, "--shard", "%d/3" % k, "-q") for k in range(3)]
    for k, p in enumerate(procs):
        rc, out = finish(p)
        assert rc == 0, "shard %d/3: exit %d: %s" % (k, rc, out)
    assert not os.path.exists(os.path.join(d, "manifest.json")), "a shard wrote a manifest"
    out = run("merge", d).stdout
    assert "merged 12 samples" in out, out
    n = same_dump(REF, d)
    assert n >= 12 * 7, n


@test
def three_shards_separate_folders_then_merge():
    dirs = [fresh("part%d" % k) for k in range(3)]
    procs = [start("generate", SMALL, "--input-list", LIST, "-o", dirs[k], "--shard", "%d/3" % k, "-q")
             for k in range(3)]
    for p in procs:
        assert finish(p)[0] == 0
    out_dir = fresh("merged")
    out = run("merge", *dirs, "-o", out_dir).stdout
    assert "12 moved" in out, out
    same_dump(REF, out_dir)
    for d in dirs:  # moved, not copied: the shard folders are left empty
        assert os.listdir(d) == [], (d, os.listdir(d))


def varying_model(folder):
    """Samples that save different tensors and shapes: x has a dynamic length
    and a Loop runs M times (M an input), so later samples add iterations'
    tensors and every sample changes shapes. One process lists tensors in the
    order it first met them, sample by sample, with the last sample's shapes;
    merge must rebuild exactly that from shards that each saw other samples."""
    from onnx import TensorProto, helper
    os.makedirs(folder, exist_ok=True)
    body = helper.make_graph(
        [helper.make_node("Add", ["acc_in", "one"], ["acc_out"], name="body_add"),
         helper.make_node("Identity", ["cond_in"], ["cond_out"], name="body_cond")],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [1])])
    inits = [numpy_helper.from_array(np.array(True), "cond"), numpy_helper.from_array(np.zeros(1, np.float32), "zero"),
             numpy_helper.from_array(np.ones(1, np.float32), "one")]
    g = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"], name="relu"),
         helper.make_node("Loop", ["M", "cond", "zero"], ["loop_out"], body=body, name="loop")],
        "varying",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "n"]),
         helper.make_tensor_value_info("M", TensorProto.INT64, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, "n"]),
         helper.make_tensor_value_info("loop_out", TensorProto.FLOAT, [1])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    path = os.path.join(folder, "varying.onnx")
    onnx.save(m, path)
    rng = np.random.default_rng(8)
    lines = []
    for i, (n, trips) in enumerate([(3, 2), (5, 0), (2, 4), (7, 1), (4, 3), (6, 5), (1, 2), (8, 0), (3, 6)]):
        np.save(os.path.join(folder, "x%d.npy" % i), rng.standard_normal((1, n)).astype(np.float32))
        np.save(os.path.join(folder, "m%d.npy" % i), np.array(trips, np.int64))
        lines.append("M:=%s x:=%s" % (os.path.join(folder, "m%d.npy" % i), os.path.join(folder, "x%d.npy" % i)))
    lst = os.path.join(folder, "list.txt")
    with open(lst, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path, lst


@test
def varying_tensors_and_shapes_merge_in_sample_order():
    model, lst = varying_model(os.path.join(FX, "varying"))
    # the Loop body's tensors (--subgraphs) are what varies from sample to sample
    ref = fresh("varying_one")
    run("generate", model, "--input-list", lst, "-o", ref, "-q", "--subgraphs")
    with open(os.path.join(ref, "manifest.json")) as f:
        names = [t["name"] for t in json.load(f)["tensors"]]
    assert len(set(names)) == len(names) and len(names) >= 5, names
    d = fresh("varying_shared")
    procs = [start("generate", model, "--input-list", lst, "-o", d, "--shard", "%d/3" % k, "-q", "--subgraphs") for k in range(3)]
    for p in procs:
        rc, out = finish(p)
        assert rc == 0, out
    run("merge", d, "-q")
    same_dump(ref, d)
    parts = [fresh("varying_part%d" % k) for k in range(2)]
    for k in range(2):
        run("generate", model, "--input-list", lst, "-o", parts[k], "--shard", "%d/2" % k, "-q", "--subgraphs")
    out_dir = fresh("varying_merged")
    run("merge", parts[1], parts[0], "-o", out_dir, "-q")
    same_dump(ref, out_dir)


@test
def killed_shard_resumes_with_append():
    d = fresh("killed")
    procs = [start("generate", BIG, "--input-list", BIG_LIST, "-o", d, "--shard", "%d/3" % k, "-q") for k in range(3)]
    # kill shard 1 as soon as its first sample is out
    deadline = time.time() + 120
    while time.time() < deadline and not os.path.exists(os.path.join(d, "outputs", "layer_outputs_1")):
        time.sleep(0.0005)
    procs[1].send_signal(signal.SIGKILL)
    for k, p in enumerate(procs):
        rc, out = finish(p)
        assert rc == (-9 if k == 1 else 0), (k, rc, out)
    p = run("merge", d, expect=2)
    assert "samples are not complete" in p.stderr and "shard 1/3" in p.stderr, p.stderr
    assert "0/3" not in p.stderr and "2/3" not in p.stderr, p.stderr
    assert not os.path.exists(os.path.join(d, "manifest.json"))
    # without --append the rerun is refused, with it the shard finishes
    p = run("generate", BIG, "--input-list", BIG_LIST, "-o", d, "--shard", "1/3", expect=2)
    assert "--append" in p.stderr, p.stderr
    run("generate", BIG, "--input-list", BIG_LIST, "-o", d, "--shard", "1/3", "--append", "-q")
    run("merge", d, "-q")
    same_dump(BIG_REF, d)


@test
def clear_errors():
    d = fresh("errors")
    for bad in ("3/3", "1/0", "a/3", "-1/3", "1/", "1/2/3", "2"):
        p = run("generate", SMALL, "--input-list", LIST, "-o", d, "--shard", bad, expect=2)
        assert p.stderr.startswith("layerout: --shard takes K/N"), (bad, p.stderr)
    p = run("generate", SMALL, "-i", LIST_FILES[0], "-o", d, "--shard", "0/2", expect=2)
    assert "--shard needs --input-list" in p.stderr, p.stderr
    p = run("generate", SMALL, "--input-list", LIST, "-o", d, "--shard", "0/2", "--overwrite", expect=2)
    assert "exclude each other" in p.stderr, p.stderr
    run("generate", SMALL, "--input-list", LIST, "-o", d, "--shard", "0/3", "-q")
    p = run("generate", OTHER, "--input-list", LIST, "-o", d, "--shard", "1/3", expect=2)
    assert "another model (SHA-256" in p.stderr, p.stderr
    p = run("generate", SMALL, "--input-list", LIST, "-o", d, "--shard", "1/4", expect=2)
    assert "split into 3 shards" in p.stderr and "overlap" in p.stderr, p.stderr
    p = run("generate", SMALL, "--input-list", LIST, "-o", d, "--shard", "1/3", "--format", "npy", expect=2)
    assert "other options" in p.stderr, p.stderr
    p = run("generate", SMALL, "--input-list", BIG_LIST, "-o", d, "--shard", "1/3", expect=2)
    assert "12" in p.stderr or "another" in p.stderr or "shape" in p.stderr, p.stderr
    p = run("merge", d, expect=2)
    assert "8 of 12 samples are not complete" in p.stderr and "1/3 (4 missing), 2/3 (4 missing)" in p.stderr, p.stderr
    assert "1, 2, 4, 5, 7, 8, 10, 11" in p.stderr, p.stderr
    p = run("generate", SMALL, "--input-list", LIST, "-o", d, expect=2)
    assert "not merged" in p.stderr, p.stderr
    # overlapping shards: two folders that both hold shard 0/3
    e = fresh("errors2")
    run("generate", SMALL, "--input-list", LIST, "-o", e, "--shard", "0/3", "-q")
    p = run("merge", d, e, "-o", fresh("errors3"), expect=2)
    assert "sample 0 is in both" in p.stderr and "overlapping" in p.stderr, p.stderr
    p = run("merge", REF, expect=2)
    assert "finished dump" in p.stderr, p.stderr
    p = run("merge", d, e, expect=2)
    assert "-o DIR" in p.stderr, p.stderr
    p = run("merge", expect=2)
    assert "needs a folder" in p.stderr, p.stderr
    # a damaged published sample is named, not passed off as complete
    f = fresh("errors4")
    for k in range(2):
        run("generate", SMALL, "--input-list", LIST, "-o", f, "--shard", "%d/2" % k, "-q")
    os.truncate(os.path.join(f, "outputs", "layer_outputs_5", "relu1.raw"), 10)
    p = run("merge", f, expect=2)
    assert "sample 5" in p.stderr and "relu1.raw" in p.stderr and "damaged" in p.stderr, p.stderr
    assert not os.path.exists(os.path.join(f, "manifest.json"))


@test
def concurrent_writers_refused_by_name():
    """Each holder is stopped (SIGSTOP) while it holds the lock, so the others
    meet it whatever the machine's speed."""
    d = fresh("busy")
    a = start("generate", BIG, "--input-list", LONG_LIST, "-o", d, "--shard", "0/2", "-q")
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not os.path.exists(os.path.join(d, ".layerout", "shard-0.owner")):
            time.sleep(0.001)
        a.send_signal(signal.SIGSTOP)
        p = run("generate", BIG, "--input-list", LONG_LIST, "-o", d, "--shard", "0/2", "--append", expect=2)
        assert "shard 0/2" in p.stderr and "already being written" in p.stderr and "pid %d" % a.pid in p.stderr, \
            p.stderr
        p = run("generate", BIG, "--input-list", LONG_LIST, "-o", d, "--append", expect=2)
        assert "being written by shard 0/2" in p.stderr and "pid %d" % a.pid in p.stderr, p.stderr
        p = run("merge", d, expect=2)
        assert "being written by shard 0/2" in p.stderr, p.stderr
        # another shard of the run joins while shard 0 holds its part
        run("generate", BIG, "--input-list", LONG_LIST, "-o", d, "--shard", "1/2", "-q")
    finally:
        a.send_signal(signal.SIGCONT)
        rc, out = finish(a)
    assert rc == 0, out
    run("merge", d, "-q")
    b = start("generate", BIG, "--input-list", LONG_LIST, "-o", fresh("busy2"), "-q")
    try:
        while b.poll() is None and not os.path.exists(os.path.join(WORK, "busy2", "outputs")):
            time.sleep(0.001)
        b.send_signal(signal.SIGSTOP)
        p = run("generate", BIG, "--input-list", LONG_LIST, "-o", os.path.join(WORK, "busy2"), "--shard", "1/2",
                expect=2)
        assert "being written by another layerout" in p.stderr and "pid %d" % b.pid in p.stderr, p.stderr
        p = run("merge", os.path.join(WORK, "busy2"), expect=2)
        assert "being written by another layerout" in p.stderr and "pid %d" % b.pid in p.stderr, p.stderr
    finally:
        b.send_signal(signal.SIGCONT)
        assert finish(b)[0] == 0
    same_dump(os.path.join(WORK, "busy2"), d)


def finish_and_compare(d):
    """Whatever the interleaving left, --append completes it to the reference."""
    run("generate", BIG, "--input-list", BIG_LIST, "-o", d, "--append", "-q")
    assert check_promise(d) == 12
    same_dump(BIG_REF, d)


@test
def protocol_plain_and_append_together():
    for r in range(ROUNDS):
        d = fresh("together%d" % r)
        # the --append run first, then the plain one, some rounds the other way
        order = [["--append"], []] if r % 2 else [[], ["--append"]]
        procs = [start("generate", BIG, "--input-list", BIG_LIST, "-o", d, "-q", *extra) for extra in order]
        outs = [finish(p) for p in procs]
        for (rc, out), p in zip(outs, procs):
            other = procs[1 - procs.index(p)].pid
            assert rc in (0, 2), (rc, out)
            if rc == 2:
                assert ("being written by another layerout" in out and "pid %d" % other in out) or "not empty" in out or \
                    "no readable manifest" in out, out
        assert any(rc == 0 for rc, _ in outs), outs
        check_promise(d)
        finish_and_compare(d)


@test
def protocol_two_plain_runs():
    for r in range(ROUNDS):
        d = fresh("twice%d" % r)
        procs = [start("generate", BIG, "--input-list", BIG_LIST, "-o", d, "-q") for _ in range(2)]
        outs = [finish(p) for p in procs]
        assert sorted(rc for rc, _ in outs) == [0, 2], outs
        bad = [out for rc, out in outs if rc == 2][0]
        assert "being written by another layerout" in bad or "not empty" in bad, bad
        assert check_promise(d) == 12
        same_dump(BIG_REF, d)


@test
def protocol_writer_killed_mid_sample():
    for r in range(ROUNDS):
        # a run may end before the poll below sees it inside a sample (the
        # samples are small): that run is started again, a few times at most
        for attempt in range(8):
            d = fresh("kill%d_%d" % (r, attempt))
            a = start("generate", BIG, "--input-list", BIG_LIST, "-o", d, "-q")
            k = 1 + r % 4  # inside sample k (or a later one), some of its files written
            deadline = time.time() + 60
            while time.time() < deadline and a.poll() is None:
                part = os.path.join(d, "outputs", ".layer_outputs_%d.partial" % k)
                try:
                    inside = len(os.listdir(part)) > 3
                except OSError:
                    inside = False
                if inside:
                    a.send_signal(signal.SIGSTOP)  # still inside? then kill it there
                    if os.path.isdir(part):
                        a.send_signal(signal.SIGKILL)
                        break
                    a.send_signal(signal.SIGCONT)
                    k += 1
                time.sleep(0.0005)
            rc = finish(a)[0]
            if rc != 0:
                break
        assert rc == -9, "the writer was not killed (exit %d)" % rc
        assert check_promise(d) == k, "killed inside sample %d" % k
        # the lock died with the writer: the next one starts at once, while a
        # third tries to join and is refused or finds nothing left to do
        b = start("generate", BIG, "--input-list", BIG_LIST, "-o", d, "--append", "-q")
        c = start("generate", BIG, "--input-list", BIG_LIST, "-o", d, "--append", "-q")
        for rc, out in (finish(b), finish(c)):
            assert rc == 0 or "being written by another layerout" in out, out
        check_promise(d)
        finish_and_compare(d)


checks.finish("shard")
