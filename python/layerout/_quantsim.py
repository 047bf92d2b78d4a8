"""aimet_onnx QuantizationSimModel support for layerout.onnx.LayerOutputUtil.

AIMET's documented flow passes ``sim.model.model``: the sim's ModelProto,
whose QcQuantizeOp nodes carry only a name; the scales and offsets live in
the QuantizationSimModel's quantizer objects. Such a model is run here as
the float graph it simulates (the QcQuantizeOp nodes removed, the
``NAME_updated`` tensors named NAME again) with the encodings AIMET itself
exports for the sim, through the engine's ``encodings`` machinery: every
encoded tensor is saved quantize-dequantized under its original name, which
is what AIMET's LayerOutputUtil saves for the sim (it drops the unquantized
tensor of each ``_updated`` pair, the ``_qdq`` parameters, and strips
``_updated`` from the file names)."""

from __future__ import annotations

import gc
import inspect
import os
import sys
from typing import Any, Iterator, Optional, Tuple

QUANTIZER_OP = "QcQuantizeOp"
# the domains AIMET registers its custom quantizer under (CPU and CUDA kernels)
QUANTIZER_DOMAINS = ("aimet.customop.cpu", "aimet.customop.cuda")


def is_quantsim(obj: Any) -> bool:
    """True for an aimet_onnx QuantizationSimModel (checked by shape, so no
    AIMET import is needed to tell)."""
    return (hasattr(obj, "qc_quantize_op_dict") and hasattr(obj, "export")
            and hasattr(getattr(obj, "model", None), "model")
            and hasattr(obj.model.model, "graph"))


def _graphs(graph) -> Iterator[Any]:
    """graph and every graph nested in its nodes' attributes (If, Loop, Scan)."""
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("g"):
                yield from _graphs(attr.g)
            for g in attr.graphs:
                yield from _graphs(g)


def _all_nodes(model) -> Iterator[Any]:
    for g in _graphs(model.graph):
        yield from g.node
    for f in model.functions:
        for node in f.node:
            yield node
            for attr in node.attribute:
                if attr.HasField("g"):
                    for g in _graphs(attr.g):
                        yield from g.node
                for sub in attr.graphs:
                    for g in _graphs(sub):
                        yield from g.node


def quantizer_count(model) -> int:
    """How many AIMET QcQuantizeOp nodes the ModelProto holds."""
    return sum(1 for n in _all_nodes(model) if n.op_type == QUANTIZER_OP)


def find_owner(proto) -> Optional[Any]:
    """The live aimet_onnx QuantizationSimModel whose ``model.model`` is this
    very ModelProto object, or None. Looked for only when aimet_onnx is
    already imported: without it there can be no such object."""
    module = sys.modules.get("aimet_onnx.quantsim")
    cls = getattr(module, "QuantizationSimModel", None) if module is not None else None
    if cls is None:
        return None
    # One pass over the objects the collector tracks (a sim is one of them).
    # Walking up from the proto with gc.get_referrers costs such a pass per
    # step (the sim is two or three steps up), so this is the cheaper way.
    for obj in gc.get_objects():
        # type(), not isinstance: isinstance reads __class__, which some
        # lazy module proxies answer with a deprecation warning
        if issubclass(type(obj), cls) and _owns(obj, proto):
            return obj
    return None


def _owns(sim, proto) -> bool:
    try:
        return sim.model.model is proto
    except Exception:
        return False


def float_model(sim_proto):
    """A copy of the sim's ModelProto with the QcQuantizeOp nodes removed and
    every tensor they produced (``NAME_updated``, ``NAME_qdq``) replaced by
    the tensor they quantized, in every graph and function body."""
    import onnx

    model = onnx.ModelProto()
    model.CopyFrom(sim_proto)
    renamed = {}
    for node in _all_nodes(model):
        if node.op_type == QUANTIZER_OP and len(node.input) >= 1 and len(node.output) >= 1:
            renamed[node.output[0]] = node.input[0]

    def resolve(name):
        # a quantizer may quantize another quantizer's output
        seen = set()
        while name in renamed and name not in seen:
            seen.add(name)
            name = renamed[name]
        return name

    def rewrite(graph_like, has_io):
        keep = [n for n in graph_like.node if n.op_type != QUANTIZER_OP]
        del graph_like.node[:]
        graph_like.node.extend(keep)
        for node in graph_like.node:
            for i, t in enumerate(node.input):
                if t in renamed:
                    node.input[i] = resolve(t)
        if has_io:
            for out in graph_like.output:
                if out.name in renamed:
                    out.name = resolve(out.name)
            vi = [v for v in graph_like.value_info if v.name not in renamed]
            del graph_like.value_info[:]
            graph_like.value_info.extend(vi)
        else:
            for i, t in enumerate(graph_like.output):
                if t in renamed:
                    graph_like.output[i] = resolve(t)

    for g in list(_graphs(model.graph)):
        rewrite(g, True)
    for f in model.functions:
        rewrite(f, False)
        for node in f.node:
            for attr in node.attribute:
                subs = ([attr.g] if attr.HasField("g") else []) + list(attr.graphs)
                for sub in subs:
                    for g in list(_graphs(sub)):
                        rewrite(g, True)
    still_used = {n.domain for n in _all_nodes(model)}
    imports = [o for o in model.opset_import if o.domain not in QUANTIZER_DOMAINS or o.domain in still_used]
    del model.opset_import[:]
    model.opset_import.extend(imports)
    return model


def export_encodings(sim, workdir: str) -> str:
    """The sim's encodings, written by AIMET's own export into workdir, in
    the 1.0.0 format and without the int32 bias encodings AIMET derives only
    for export (the sim itself does not apply them)."""
    params = inspect.signature(sim.export).parameters
    kwargs = {}
    if "export_model" in params:
        kwargs["export_model"] = False
    if "encoding_version" in params:
        kwargs["encoding_version"] = "1.0.0"
    if "export_int32_bias" in params:
        kwargs["export_int32_bias"] = False
    try:
        sim.export(workdir, "quantsim", **kwargs)
    except Exception as e:
        raise ValueError(f"AIMET could not export the QuantizationSimModel's encodings ({type(e).__name__}: "
                         f"{e}); call sim.compute_encodings(...) before LayerOutputUtil") from e
    path = os.path.join(workdir, "quantsim.encodings")
    if not os.path.isfile(path):
        raise ValueError(f"QuantizationSimModel.export wrote no encodings file in {workdir}")
    return path


def sim_parts(sim, workdir: str) -> Tuple[Any, str]:
    """(float ModelProto, encodings file) that simulate the sim."""
    return float_model(sim.model.model), export_encodings(sim, workdir)


NOT_FOUND = ("this ModelProto is an aimet_onnx QuantizationSimModel's model ({n} QcQuantizeOp nodes), whose "
             "scales and offsets live in the QuantizationSimModel, not in the model, and no live "
             "QuantizationSimModel in this process owns it (was it copied?). Pass the QuantizationSimModel "
             "itself (LayerOutputUtil(sim, dir_path)), or export it with sim.export(path, prefix) and pass "
             "the exported model with its encodings: LayerOutputUtil('path/prefix.onnx', dir_path, "
             "encodings='path/prefix.encodings')")
