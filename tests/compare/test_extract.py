"""`layerout extract`: repro packs from a float and a quantized dump.

A pack must reproduce the dump's value bit for bit through `layerout
generate` run in the pack's folder, its model must pass onnx.checker and
give ONNX Runtime's result within 1e-5, its encodings must be the dump's
restricted to its tensors, and bad requests must leave nothing behind.

Usage: test_extract.py LAYEROUT_BINARY WORK_DIR ARTIFACT_DIR
"""
import html
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_compare as tc  # noqa: E402
from verify import Tally  # noqa: E402

BIN, WORK = os.path.abspath(sys.argv[1]), os.path.join(sys.argv[2], "extract")
tally = Tally()
check = tally.check


def lo(*args, cwd=None):
    return subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, cwd=cwd)


NP = {1: np.float32, 2: np.uint8, 3: np.int8, 6: np.int32, 7: np.int64, 10: np.float16, 11: np.float64}


def pack_inputs(pack):
    """The pack's inputs as numpy arrays, by reading its input_list.txt and model."""
    m = onnx.load(f"{pack}/model.onnx")
    paths = open(f"{pack}/input_list.txt").read().split()
    feeds = {}
    for vi, p in zip(m.graph.input, paths):
        tt = vi.type.tensor_type
        shape = [d.dim_value for d in tt.shape.dim]
        feeds[vi.name] = np.fromfile(os.path.join(pack, p), NP[tt.elem_type]).reshape(shape)
    return m, feeds


def check_pack(pack, dump, man, target, sample, encodings=None, float_reference=False, naming=None):
    """Runs the pack as its README says and checks it against the dump."""
    what = f"pack {os.path.basename(pack)}"
    by_name = {t["name"]: t for t in man["tensors"]}
    file = tc.stem(by_name[target])
    dump_file = f"{dump}/outputs/layer_outputs_{sample}/{file}.raw"
    want = open(dump_file, "rb").read()
    check(open(f"{pack}/expected/{file}.raw", "rb").read() == want, f"{what}: expected/ holds the dump's bytes")
    check(not os.path.exists(pack + ".partial"), f"{what}: no .partial left")
    readme = open(f"{pack}/README.md").read()
    check("layerout generate model.onnx --input-list input_list.txt" in readme and "qnn-net-run" in readme,
          f"{what}: README says how to run it with layerout and qnn-net-run")
    args = ["generate", "model.onnx", "--input-list", "input_list.txt", "-o", "out", "-q"]
    if encodings:
        args += ["--encodings", "encodings.json"]
    if naming:
        args += ["--naming", naming]
        check(f"--naming {naming}" in readme, f"{what}: README passes --naming {naming}")
    shutil.rmtree(f"{pack}/out", ignore_errors=True)
    p = lo(*args, cwd=pack)
    check(p.returncode == 0, f"{what}: generate in the pack: {p.stderr}")
    got_path = f"{pack}/out/outputs/layer_outputs_0/{file}.raw"
    got = open(got_path, "rb").read() if os.path.exists(got_path) else b""
    check(got == want, f"{what}: generate writes {file}.raw with the dump's bytes "
          f"({len(got)} vs {len(want)} bytes, equal: {got == want})")
    m = onnx.load(f"{pack}/model.onnx")
    try:
        onnx.checker.check_model(m, full_check=True)
        ok = True
    except Exception as e:  # noqa: BLE001
        ok = False
        print(e)
    check(ok, f"{what}: onnx.checker accepts the model")
    check([o.name for o in m.graph.output] == [target], f"{what}: the model's output is {target}")
    m, feeds = pack_inputs(pack)
    sess = ort.InferenceSession(f"{pack}/model.onnx", providers=["CPUExecutionProvider"])
    out = sess.run(None, feeds)[0]
    if float_reference:
        # a quantized pack: ORT runs the float model; layerout's float run of it is the reference
        shutil.rmtree(f"{pack}/out_float", ignore_errors=True)
        p = lo("generate", "model.onnx", "--input-list", "input_list.txt", "-o", "out_float", "-q", cwd=pack)
        ref = np.fromfile(f"{pack}/out_float/outputs/layer_outputs_0/{file}.raw", np.float32)
        check(ref.tobytes() != want, f"{what}: without the encodings the value differs (the pack needs them)")
    else:
        ref = np.frombuffer(want, np.float32)
    check(out.size == ref.size and np.allclose(out.ravel(), ref, rtol=1e-5, atol=1e-5),
          f"{what}: ONNX Runtime agrees within 1e-5 (max diff {np.max(np.abs(out.ravel() - ref)) if out.size == ref.size else 'size'})")
    return m


def bad(args, pack, what, needle):
    p = lo("extract", *args, "-o", pack)
    check(p.returncode == 2 and needle in p.stderr and p.stderr.startswith("layerout:"),
          f"{what}: exit 2 naming the problem ({p.returncode}: {p.stderr.strip()})")
    check(not os.path.exists(pack) and not os.path.exists(pack + ".partial"), f"{what}: nothing written")


def write_encodings(path, dump, man, model):
    """AIMET 1.0.0 encodings, 8-bit per tensor, fitted to the float dump."""
    acts, params = [], []
    for t in man["tensors"]:
        a = np.fromfile(f"{dump}/outputs/layer_outputs_0/{tc.stem(t)}.raw", np.float32)
        lo_, hi = min(float(a.min()), 0.0), max(float(a.max()), 0.0)
        scale = max(hi - lo_, 1e-6) / 255
        acts.append({"name": t["name"], "dtype": "INT", "bw": 8, "is_sym": False, "enc_type": "PER_TENSOR",
                     "scale": [scale], "offset": [float(np.round(lo_ / scale))]})
    for init in onnx.load(model).graph.initializer:
        if init.name.endswith("weight"):
            w = numpy_helper.to_array(init)
            s = max(float(np.abs(w).max()), 1e-6) / 127
            params.append({"name": init.name, "dtype": "INT", "bw": 8, "is_sym": True, "enc_type": "PER_TENSOR",
                           "scale": [s], "offset": [-128.0]})
    doc = {"version": "1.0.0", "activation_encodings": acts, "param_encodings": params}
    json.dump(doc, open(path, "w"))
    return doc


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    tc.WORK = WORK
    model = f"{WORK}/cmp.onnx"
    tc.make_model(model)
    dump = f"{WORK}/float"
    man = tc.generate_dump(model, dump, 3)
    names = {n.name for n in onnx.load(model).graph.node}

    p = lo("extract", "--help")
    check(p.returncode == 0 and "--tensor" in p.stdout and "--to" in p.stdout, "extract --help")
    p = lo("--help")
    check("layerout extract" in p.stdout, "the command's help lists extract")

    # one layer, by ONNX name, sample 2
    pack = f"{WORK}/pack_conv"
    p = lo("extract", model, "--dump", dump, "--tensor", tc.DEGRADED, "--sample", 2, "-o", pack)
    check(p.returncode == 0, f"extract one layer: {p.stderr}")
    if p.returncode == 0:
        m = check_pack(pack, dump, man, tc.DEGRADED, 2)
        check([n.op_type for n in m.graph.node] == ["Conv"] and {n.name for n in m.graph.node} <= names,
              f"the smallest model: {[n.op_type for n in m.graph.node]}")
        check([i.name for i in m.graph.input] == ["/pool/MaxPool_output_0"], "its input is the dump's MaxPool output")
    # a subgraph, by the dump's file name, sample 1
    pack = f"{WORK}/pack_sub"
    p = lo("extract", model, "--dump", dump, "--tensor", tc.aimet_name("/relu/Relu_output_0"), "--to", "logits",
           "--sample", 1, "-o", pack)
    check(p.returncode == 0, f"extract --to: {p.stderr}")
    if p.returncode == 0:
        m = check_pack(pack, dump, man, "logits", 1)
        check([n.op_type for n in m.graph.node] == ["Relu", "MaxPool", "Conv", "Relu", "MaxPool", "Reshape", "Gemm"],
              f"the subgraph from Relu's producer inputs to logits: {[n.op_type for n in m.graph.node]}")
        check([i.name for i in m.graph.input] == ["/conv1/Conv_output_0"], "fed by conv1's dumped output")

    # a dump named as QNN names tensors: the pack keeps those file names
    qn = f"{WORK}/qnn_named"
    p = lo("generate", model, "-o", qn, "--input-list", f"{WORK}/input_list.txt", "--naming", "qnn", "-q")
    check(p.returncode == 0, f"QNN-named dump: {p.stderr}")
    qman = json.load(open(f"{qn}/manifest.json"))
    pack = f"{WORK}/pack_qnn_named"
    p = lo("extract", model, "--dump", qn, "--tensor", tc.qnn_name(tc.DEGRADED), "--sample", 2, "-o", pack)
    check(p.returncode == 0, f"extract by a QNN file name: {p.stderr}")
    if p.returncode == 0:
        check_pack(pack, qn, qman, tc.DEGRADED, 2, naming="qnn")

    # an IR 3 model: its initializers are graph inputs too, in the pack as well
    from onnx import TensorProto, helper
    rng = np.random.default_rng(4)
    w = numpy_helper.from_array(rng.standard_normal((4, 2, 3, 3)).astype(np.float32), "w")
    g = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c"], ["y"], name="relu")], "ir3",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 5, 5]),
         helper.make_tensor_value_info("w", TensorProto.FLOAT, [4, 2, 3, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 5, 5])], [w])
    m3 = helper.make_model(g, opset_imports=[helper.make_opsetid("", 8)])
    m3.ir_version = 3
    onnx.checker.check_model(m3)
    onnx.save(m3, f"{WORK}/ir3.onnx")
    rng.standard_normal((1, 2, 5, 5)).astype(np.float32).tofile(f"{WORK}/x3.raw")
    p = lo("generate", f"{WORK}/ir3.onnx", "-o", f"{WORK}/ir3_dump", "-i", f"{WORK}/x3.raw", "-q")
    check(p.returncode == 0, f"IR 3 dump: {p.stderr}")
    p = lo("extract", f"{WORK}/ir3.onnx", "--dump", f"{WORK}/ir3_dump", "--tensor", "c", "-o", f"{WORK}/pack_ir3")
    check(p.returncode == 0, f"extract from an IR 3 model: {p.stderr}")
    if p.returncode == 0:
        m = check_pack(f"{WORK}/pack_ir3", f"{WORK}/ir3_dump", json.load(open(f"{WORK}/ir3_dump/manifest.json")), "c", 0)
        check([i.name for i in m.graph.input] == ["x", "w"] and m.ir_version == 3,
              f"IR 3: the initializer listed as an input too: {[i.name for i in m.graph.input]}")

    # an AIMET dump (no manifest): names and types from the model
    aimet = f"{WORK}/aimet"
    shutil.copytree(f"{dump}/outputs", f"{aimet}/outputs")
    shutil.copy(f"{dump}/layer_output_name_order.json", aimet)
    pack = f"{WORK}/pack_aimet"
    p = lo("extract", model, "--dump", aimet, "--tensor", tc.DEGRADED, "--sample", 1, "-o", pack)
    check(p.returncode == 0, f"extract from an AIMET dump: {p.stderr}")
    if p.returncode == 0:
        check_pack(pack, dump, man, tc.DEGRADED, 1)

    # a quantized dump: the pack carries the encodings of its tensors only
    enc = f"{WORK}/enc.json"
    doc = write_encodings(enc, dump, man, model)
    qdump = f"{WORK}/quant"
    shutil.rmtree(qdump, ignore_errors=True)
    p = lo("generate", model, "-o", qdump, "--input-list", f"{WORK}/input_list.txt", "--encodings", enc, "-q")
    check(p.returncode == 0, f"quantized dump: {p.stderr}")
    qman = json.load(open(f"{qdump}/manifest.json"))
    for target, sample in ((tc.DEGRADED, 1), ("logits", 2)):
        pack = f"{WORK}/qpack_{sample}"
        p = lo("extract", model, "--dump", qdump, "--tensor", target, "--sample", sample, "--encodings", enc, "-o", pack)
        check(p.returncode == 0, f"extract quantized {target}: {p.stderr}")
        if p.returncode != 0:
            continue
        m = check_pack(pack, qdump, qman, target, sample, encodings=True, float_reference=True)
        penc = json.load(open(f"{pack}/encodings.json"))
        tensors = {i.name for i in m.graph.input} | {i.name for i in m.graph.initializer} | \
            {o for n in m.graph.node for o in n.output}
        got = {e["name"] for e in penc["activation_encodings"] + penc["param_encodings"]}
        orig = {e["name"]: e for e in doc["activation_encodings"] + doc["param_encodings"]}
        check(got == tensors & set(orig), f"encodings restricted to the pack's tensors: {sorted(got)}")
        check(all(e == orig[e["name"]] for e in penc["activation_encodings"] + penc["param_encodings"]),
              "each kept entry as it was")
        check(penc["version"] == "1.0.0", "the format kept")
    # a report on the quantized dump offers commands that ask for the encodings
    page = f"{WORK}/q.html"
    lo("compare", qdump, dump, "--model", model, "--html", page, "-q")
    text = open(page).read() if os.path.exists(page) else ""
    cmds = re.findall(r'<td class="cmd">(layerout extract [^<]*)</td>', text)
    check(cmds and all("--encodings ENCODINGS.json" in html.unescape(c) for c in cmds),
          f"the quantized dump's commands name --encodings: {cmds[:1]}")
    if cmds:
        line = html.unescape(cmds[-1]).replace("layerout ", f"{BIN} ", 1).replace("ENCODINGS.json", enc)
        p = subprocess.run(line, shell=True, capture_output=True, text=True, cwd=WORK)
        check(p.returncode == 0, f"and one runs once they are given: {p.stderr.strip()}")

    # the 0.6.1 format (dicts by name) is restricted the same way
    v061 = {"version": "0.6.1",
            "activation_encodings": {e["name"]: [{"bitwidth": 8, "dtype": "int", "is_symmetric": "False",
                                                  "scale": e["scale"][0], "offset": e["offset"][0],
                                                  "min": e["offset"][0] * e["scale"][0],
                                                  "max": (e["offset"][0] + 255) * e["scale"][0]}]
                                     for e in doc["activation_encodings"]},
            "param_encodings": {e["name"]: [{"bitwidth": 8, "dtype": "int", "is_symmetric": "True",
                                             "scale": e["scale"][0], "offset": -128, "min": -128 * e["scale"][0],
                                             "max": 127 * e["scale"][0]}] for e in doc["param_encodings"]},
            "excluded_layers": []}
    json.dump(v061, open(f"{WORK}/enc061.json", "w"))
    pack = f"{WORK}/qpack_061"
    p = lo("extract", model, "--dump", qdump, "--tensor", tc.DEGRADED, "--encodings", f"{WORK}/enc061.json", "-o", pack)
    check(p.returncode == 0, f"extract with 0.6.1 encodings: {p.stderr}")
    if p.returncode == 0:
        penc = json.load(open(f"{pack}/encodings.json"))
        check(sorted(penc["activation_encodings"]) == sorted(["/pool/MaxPool_output_0", tc.DEGRADED])
              and sorted(penc["param_encodings"]) == ["layer1.0.conv.weight"] and penc["excluded_layers"] == []
              and penc["version"] == "0.6.1", f"0.6.1 restricted: {sorted(penc['activation_encodings'])}")
    p = lo("extract", model, "--dump", qdump, "--tensor", "logits", "-o", f"{WORK}/noenc")
    check(p.returncode == 2 and "--encodings" in p.stderr and not os.path.exists(f"{WORK}/noenc"),
          f"a quantized dump without --encodings: {p.stderr.strip()}")

    # bad requests: a clear message, exit 2, nothing written
    out = f"{WORK}/bad_pack"
    bad([model, "--dump", dump, "--tensor", "no_such_tensor"], out, "unknown tensor", "no_such_tensor")
    bad([model, "--dump", dump, "--tensor", tc.INPUT], out, "a graph input", "no node computes it")
    bad([model, "--dump", dump, "--tensor", "logits", "--sample", 3], out, "sample out of range", "out of range")
    bad([model, "--dump", dump, "--tensor", "logits", "--sample", "x"], out, "a bad sample number", "--sample")
    holey = f"{WORK}/holey"
    shutil.copytree(dump, holey)
    os.remove(f"{holey}/outputs/layer_outputs_1/{tc.aimet_name('logits')}.raw")
    bad([model, "--dump", holey, "--tensor", "logits", "--sample", 1], out, "tensor not in the dump", "not in the dump")
    qnn = tc.make_qnn(dump, man, f"{WORK}/qnn", degrade=False)
    bad([model, "--dump", qnn, "--tensor", "logits"], out, "a QNN folder", "QNN")
    bad([model, "--dump", dump, "--tensor", "/conv1/Conv_output_0", "--to", "/relu/Relu_output_0" + "x"], out,
        "unknown --to", "no tensor")
    bad([model, "--dump", dump, "--tensor", tc.DEGRADED, "--to", "/conv1/Conv_output_0"], out,
        "--to upstream", "does not depend")
    os.makedirs(out)
    p = lo("extract", model, "--dump", dump, "--tensor", "logits", "-o", out)
    check(p.returncode == 2 and "--overwrite" in p.stderr and os.listdir(out) == [], "an existing folder is kept")
    p = lo("extract", model, "--dump", dump, "--tensor", "logits", "-o", out, "--overwrite")
    check(p.returncode == 0 and os.path.exists(f"{out}/model.onnx"), "--overwrite replaces it")
    tally.finish("extract")


if __name__ == "__main__":
    main()
