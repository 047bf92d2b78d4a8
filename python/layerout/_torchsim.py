"""Encodings of an aimet_torch v2 QuantizationSimModel for the C engine.

A v2 sim's quantized module quantize-dequantizes its inputs, parameters and
outputs with its quantizers (QuantizeDequantize: (clamp(round(x/scale) - o,
qmin, qmax) + o) * scale, torch.round). The engine simulates the same with
an AIMET 1.0.0 encodings file on the float export's tensors: the output
quantizer of a module on the tensor its end marker marked, an input
quantizer on the tensor its start marker marked, a parameter quantizer on
the parameter's initializer. AIMET's unsigned grid is the same grid moved by
qmin: offset = o + qmin, q in [0, qmax - qmin].

An input quantizer quantizes a tensor for its module alone: the module's
start marker is kept as an Identity node and the encoding goes on its
output, so the producer's saved output and other readers stay as they are.
"""

import json
from typing import Dict, Optional

import numpy as np

from ._lib import LayerOutError


def _encoding(name, q) -> Optional[dict]:
    if q is None:
        return None
    if hasattr(q, "is_initialized") and not q.is_initialized():
        return None
    try:
        scale = q.get_scale()
        offset = q.get_offset()
    except Exception as e:
        raise LayerOutError(f"quantizer of '{name}' has no scale/offset ({type(q).__name__}: {e}); "
                            "only affine integer quantizers are supported") from e
    if scale is None:
        return None
    qmin, qmax, bw = int(q.qmin), int(q.qmax), int(q.bitwidth)
    if qmax - qmin != 2 ** bw - 1:
        raise LayerOutError(f"quantizer of '{name}': range [{qmin}, {qmax}] is not a full {bw}-bit grid")
    scale = scale.detach().cpu().double().numpy().reshape(-1)
    offset = (offset.detach().cpu().double().numpy().reshape(-1) if offset is not None
              else np.zeros_like(scale))
    if offset.size == 1 and scale.size > 1:
        offset = np.full_like(scale, offset[0])
    shape = tuple(getattr(q, "shape", ()) or ())
    per_channel = scale.size > 1
    if per_channel and sum(1 for d in shape if d != 1) > 1:
        raise LayerOutError(f"quantizer of '{name}': block quantization (shape {shape}) is not supported here")
    return {"name": name, "dtype": "INT", "enc_type": "PER_CHANNEL" if per_channel else "PER_TENSOR",
            "bw": bw, "is_sym": bool(q.symmetric),
            "scale": [float(np.float32(s)) for s in scale],
            "offset": [int(round(o)) + qmin for o in offset]}


def sim_encodings(model, export, path, module_names) -> None:
    from aimet_torch.nn.base import BaseQuantizationMixin
    from .torch import _plain_name
    acts: Dict[str, dict] = {}
    owner: Dict[str, str] = {}
    params = []
    plain_inits = {}
    for raw in export.initializers:
        plain_inits.setdefault(_plain_name(raw), raw)
    graph_inputs = set(export.inputs)

    def put(tensor, enc, layer, what):
        enc = dict(enc, name=tensor)
        old = acts.get(tensor)
        if old is not None and (old["scale"], old["offset"], old["bw"]) != (enc["scale"], enc["offset"], enc["bw"]):
            raise LayerOutError(f"module '{layer}': its {what} quantizer and module '{owner[tensor]}' quantize "
                                f"the same tensor ({tensor}) differently; the engine cannot simulate both")
        acts[tensor] = enc
        owner[tensor] = layer

    mods = [(n, m) for n, m in model.named_modules() if isinstance(m, BaseQuantizationMixin)]
    for layer, m in mods:
        outs = [q for q in (m.output_quantizers or [])]
        calls = export.calls.get(layer, [])
        if not calls:
            continue
        if any(q is not None for q in outs) and not export.tensor_output.get(layer, False):
            raise LayerOutError(f"module '{layer}' has output quantizers but does not return one tensor; "
                                "not supported")
        enc = _encoding(layer, outs[0]) if outs else None
        if enc is not None:
            for t in calls:
                put(export.rename.get(t, t), enc, layer, "output")
    split = []
    for layer, m in mods:
        ins = list(m.input_quantizers or [])
        markers = export.start_markers.get(layer, [])
        ncalls = len(export.calls.get(layer, [])) or 1
        per_call = len(markers) // ncalls if markers else 0
        for i, q in enumerate(ins):
            enc = _encoding(layer, q)
            if enc is None:
                continue
            if i >= per_call:
                raise LayerOutError(f"module '{layer}': input quantizer {i} has no matching tensor input")
            # the tensor as this module reads it (its start marker, kept
            # as an Identity): quantized for this module only, as in PyTorch
            for c in range(ncalls):
                t = markers[c * per_call + i]
                split.append(t)
                put(t, enc, layer, "input")
        for pname, q in (m.param_quantizers or {}).items():
            enc = _encoding(f"{layer}.{pname}", q)
            if enc is None:
                continue
            raw = plain_inits.get(f"{layer}.{pname}")
            if raw is None:
                raise LayerOutError(f"module '{layer}': parameter '{pname}' is not an initializer of the export "
                                    "(folded or transformed by the exporter); its quantizer cannot be applied")
            params.append(dict(enc, name=raw))
    export.write(split)
    with open(path, "w") as f:
        json.dump({"version": "1.0.0", "activation_encodings": list(acts.values()), "param_encodings": params,
                   "excluded_layers": [], "quantizer_args": {}}, f)
