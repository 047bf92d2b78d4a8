"""The reference tools the benchmark times, one whole process each:

    python tools.py ort_capture  MODELDIR OUTDIR   ONNX Runtime, every tensor a graph output, .raw files
    python tools.py ort_plain    MODELDIR          ONNX Runtime inference, nothing saved
    python tools.py aimet_onnx   MODELDIR OUTDIR   aimet_onnx.layer_output_utils.LayerOutputUtil
    python tools.py aimet_torch  MODELDIR OUTDIR   aimet_torch.layer_output_utils.LayerOutputUtil
    python tools.py torch_hooks  MODELDIR OUTDIR   PyTorch, a forward hook on every leaf module, .raw files

MODELDIR is a folder prepare.py made (model.onnx, capture.onnx, module.pt,
input.npy). Every tool runs one sample on 2 threads and writes AIMET's layout
(layer_output_name_order.json, inputs/input_0.raw,
outputs/layer_outputs_0/NAME.raw). Each imports only what it needs, so a
process costs what a user's script would.
"""

import json
import os
import re
import sys

THREADS = 2


def _sanitize(name):
    return re.sub(r"\W+", "_", name)


def _write_dump(outdir, inputs, named_arrays):
    """AIMET's layout for sample 0: inputs, one .raw per tensor, the order file."""
    os.makedirs(os.path.join(outdir, "inputs"), exist_ok=True)
    sample = os.path.join(outdir, "outputs", "layer_outputs_0")
    os.makedirs(sample, exist_ok=True)
    if len(inputs) == 1:
        inputs[0].tofile(os.path.join(outdir, "inputs", "input_0.raw"))
    else:
        os.makedirs(os.path.join(outdir, "inputs", "input_0"), exist_ok=True)
        for i, x in enumerate(inputs):
            x.tofile(os.path.join(outdir, "inputs", "input_0", f"{i}.raw"))
    names = []
    for name, array in named_arrays:
        stem = _sanitize(name)
        names.append(stem)
        array.tofile(os.path.join(sample, stem + ".raw"))
    with open(os.path.join(outdir, "layer_output_name_order.json"), "w") as f:
        json.dump({"layer_output_names": names}, f)


def _ort_session(path):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = THREADS
    so.inter_op_num_threads = 1
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def ort_capture(modeldir, outdir):
    import numpy as np
    x = np.load(os.path.join(modeldir, "input.npy"))
    sess = _ort_session(os.path.join(modeldir, "capture.onnx"))
    names = [o.name for o in sess.get_outputs()]
    values = sess.run(names, {sess.get_inputs()[0].name: x})
    _write_dump(outdir, [x], zip(names, values))


def ort_plain(modeldir):
    import numpy as np
    x = np.load(os.path.join(modeldir, "input.npy"))
    sess = _ort_session(os.path.join(modeldir, "model.onnx"))
    sess.run(None, {sess.get_inputs()[0].name: x})


def aimet_onnx(modeldir, outdir):
    import numpy as np
    import onnx
    from aimet_onnx.layer_output_utils import LayerOutputUtil
    x = np.load(os.path.join(modeldir, "input.npy"))
    model = onnx.load(os.path.join(modeldir, "model.onnx"))
    LayerOutputUtil(model, outdir).generate_layer_outputs(x)


def _torch_model(modeldir):
    import numpy as np
    import torch
    torch.set_num_threads(THREADS)
    model = torch.load(os.path.join(modeldir, "module.pt"), weights_only=False)
    model.eval()
    x = torch.from_numpy(np.load(os.path.join(modeldir, "input.npy")))
    return torch, model, x


def aimet_torch(modeldir, outdir):
    torch, model, x = _torch_model(modeldir)
    from aimet_torch.layer_output_utils import LayerOutputUtil
    with torch.no_grad():
        LayerOutputUtil(model, outdir).generate_layer_outputs(x)


def torch_hooks(modeldir, outdir):
    torch, model, x = _torch_model(modeldir)
    _write_dump(outdir, [x.numpy()], [])
    sample = os.path.join(outdir, "outputs", "layer_outputs_0")
    module_names = {m: n for n, m in model.named_modules() if n and not list(m.children())}
    calls, order = {}, []

    def hook(module, args, output):
        # written at once, so memory stays flat; a module called twice gets
        # __2, __3 as layerout's pytorch naming does
        if not isinstance(output, torch.Tensor):
            return
        name = _sanitize(module_names[module])
        calls[name] = calls.get(name, 0) + 1
        stem = name if calls[name] == 1 else f"{name}__{calls[name]}"
        order.append(stem)
        output.detach().numpy().tofile(os.path.join(sample, stem + ".raw"))

    for module in module_names:
        module.register_forward_hook(hook)
    with torch.no_grad():
        model(x)
    with open(os.path.join(outdir, "layer_output_name_order.json"), "w") as f:
        json.dump({"layer_output_names": order}, f)


TOOLS = {"ort_capture": ort_capture, "ort_plain": ort_plain, "aimet_onnx": aimet_onnx,
         "aimet_torch": aimet_torch, "torch_hooks": torch_hooks}

if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in TOOLS:
        sys.exit(__doc__)
    TOOLS[sys.argv[1]](*sys.argv[2:])
