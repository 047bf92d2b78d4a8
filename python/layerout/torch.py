"""A drop-in for aimet_torch.layer_output_utils.LayerOutputUtil on layerout's
C engine.

    # from aimet_torch.layer_output_utils import LayerOutputUtil, NamingScheme
    from layerout.torch import LayerOutputUtil, NamingScheme

    util = LayerOutputUtil(model, dir_path="./dump", naming_scheme=NamingScheme.ONNX, dummy_input=x)
    for images, _ in loader:
        util.generate_layer_outputs(images)

What aimet_torch writes, and so what this writes: one file per leaf module
(per quantized module for a QuantizationSimModel's model) holding the
module's output as a forward hook sees it, i.e. of the module's last call
in the forward pass. The file names depend on the scheme:

- PYTORCH: the module's name with non-word runs as "_" (layer1.0.conv1 ->
  layer1_0_conv1).
- ONNX: the name aimet_torch's exporter gives the output tensor of the
  module's last ONNX node. That exporter puts a marker node before and after
  every module call; the markers keep each module's nodes apart (a
  BatchNorm stays a BatchNormalization node, not folded into the Conv
  before it), name the nodes after the modules, and shift the numbers of
  numeric tensor names. The export here is made the same way, with the
  caller's onnx_export_args, so the names are the same.
- TORCHSCRIPT: the value name aimet_torch's TorchScript pairing gives the
  module (see layerout._torchscript).

The values come from running that marker export, markers removed, in the C
engine: each module's output is the tensor its last call's end marker
marked.
"""

import copy
import dataclasses
import enum
import json
import os
import re
import shutil
import tempfile
import warnings
import weakref
import ctypes
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import _core, _lib
from ._core import compare as _compare
from ._lib import LayerOutError

__all__ = ["LayerOutputUtil", "NamingScheme", "OnnxExportApiArgs", "LayerOutError"]


class NamingScheme(enum.Enum):
    """How layer outputs are named, with AIMET's values."""

    PYTORCH = 1
    """By leaf module name (``layer1.0.conv1`` -> ``layer1_0_conv1``)."""
    ONNX = 2
    """By the output tensor names of aimet_torch's ONNX export."""
    TORCHSCRIPT = 3
    """By the traced TorchScript graph's value names."""


@dataclasses.dataclass(frozen=True)
class OnnxExportApiArgs:
    """torch.onnx.export settings, as aimet_torch.onnx_utils.OnnxExportApiArgs."""

    opset_version: Optional[int] = None
    input_names: Optional[List[str]] = None
    output_names: Optional[List[str]] = None

    @property
    def kwargs(self) -> Dict[str, Any]:
        return {"opset_version": self.opset_version, "input_names": self.input_names,
                "output_names": self.output_names}


def _scheme(value) -> NamingScheme:
    """Accepts our NamingScheme, AIMET's (same names and values) or its value."""
    if isinstance(value, NamingScheme):
        return value
    name = getattr(value, "name", None)
    if name in NamingScheme.__members__:
        return NamingScheme[name]
    try:
        return NamingScheme(value)
    except ValueError:
        raise ValueError(f"naming_scheme must be NamingScheme.PYTORCH, ONNX or TORCHSCRIPT, not {value!r}") from None


def _export_kwargs(onnx_export_args, validate: bool) -> Dict[str, Any]:
    """torch.onnx.export keyword arguments, as aimet_torch passes them: a
    dict as given, an OnnxExportApiArgs (ours or AIMET's) as its three
    fields; always the TorchScript exporter."""
    if onnx_export_args is None:
        kwargs = OnnxExportApiArgs().kwargs
    elif isinstance(onnx_export_args, dict):
        kwargs = dict(onnx_export_args)
    elif type(onnx_export_args).__name__ == "OnnxExportApiArgs" and hasattr(onnx_export_args, "kwargs"):
        kwargs = dict(onnx_export_args.kwargs)
    elif validate:
        raise ValueError("Invalid onnx_export_args data-type")
    else:
        kwargs = OnnxExportApiArgs().kwargs
    if kwargs.get("dynamo", None) and validate:
        raise RuntimeError("Dynamo-based onnx export is not supporterd")
    for key in ("enable_onnx_checker", "example_outputs", "use_external_data_format"):
        kwargs.pop(key, None)
    import torch
    import inspect
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    return kwargs


def _validate_dummy_input(dummy_input):
    import torch
    if not isinstance(dummy_input, (torch.Tensor, tuple, list)):
        raise ValueError("Invalid dummy_input data-type")


def _forward_args(example) -> Tuple:
    return tuple(example) if isinstance(example, (list, tuple)) else (example,)


def _is_leaf(module) -> bool:
    from ._torchscript import is_leaf
    return is_leaf(module)


def _quantized_types() -> Tuple[type, ...]:
    """aimet_torch's quantized module base class, when aimet_torch is there."""
    try:
        from aimet_torch.nn.base import BaseQuantizationMixin
        return (BaseQuantizationMixin,)
    except Exception:
        return ()


def _original_model(model):
    """The float model of a QuantizationSimModel's model (aimet_torch's own
    unwrapping), or a copy of the model."""
    if _quantized_types() and any(isinstance(m, _quantized_types()) for m in model.modules()):
        from aimet_torch.quantsim import QuantizationSimModel
        return QuantizationSimModel.get_original_model(model)
    return copy.deepcopy(model)


# ---- the marker export ---------------------------------------------------------------------

_MARKER_DOMAIN = "layerout_marker"


def _marker_classes():
    import torch

    class MarkerFn(torch.autograd.Function):
        """One ONNX node per marked tensor; its attributes name the module,
        say whether it is a leaf and whether the tensor enters or leaves it."""

        @staticmethod
        def symbolic(g, inp, identifier, start, is_leaf):
            return g.op(_MARKER_DOMAIN + "::CustomMarker", inp, id_s=identifier, leaf_s=is_leaf,
                        start_s=start).setType(inp.type())

        @staticmethod
        def forward(ctx, inp, _identifier, _start, _is_leaf):
            # the tracer must see an op here, or it drops the marker
            return inp.clone().detach()

    class Marker(torch.nn.Module):
        def __init__(self, module, identifier, is_leaf):
            super().__init__()
            # the attribute name is part of every scope path, so of every
            # tensor name the exporter makes
            self.marked_module = module
            self.identifier = identifier
            self.is_leaf = is_leaf

        def forward(self, *inputs, **kwargs):
            seen = {}
            inputs = self._mark_seq(inputs, "True", seen)
            if kwargs:
                kwargs = self._mark_dict(kwargs, "True", seen)
            x = self.marked_module(*inputs, **kwargs)
            seen.clear()
            if isinstance(x, dict):
                return self._mark_dict(x, "False", seen)
            was_tuple = isinstance(x, tuple)
            if isinstance(x, torch.Tensor):
                x = [x]
            out = self._mark_seq(x, "False", seen)
            return out[0] if len(out) == 1 and not was_tuple else tuple(out)

        def _mark_seq(self, values, start, seen):
            out = []
            for t in values:
                if id(t) in seen:
                    t = seen[id(t)]
                else:
                    key = id(t)
                    if isinstance(t, torch.Tensor):
                        t = MarkerFn.apply(t, self.identifier, start, self.is_leaf)
                    elif isinstance(t, dict):
                        t = self._mark_dict(t, start, seen)
                    seen[key] = t
                out.append(t)
            return out

        def _mark_dict(self, values, start, seen):
            out = {}
            for k, t in values.items():
                if id(t) in seen:
                    t = seen[id(t)]
                else:
                    key = id(t)
                    if isinstance(t, torch.Tensor):
                        t = MarkerFn.apply(t, self.identifier, start, self.is_leaf)
                    seen[key] = t
                out[k] = t
            return out

        def __getitem__(self, item):
            return self.marked_module[item]

        def __getattr__(self, name):
            try:
                if name == "marked_module":
                    return self.__dict__["_modules"]["marked_module"]
                return self.__dict__[name]
            except KeyError:
                return getattr(self.__dict__["_modules"]["marked_module"], name)

    return Marker


def _add_markers(parent, names, Marker):
    """Wraps every child module in a marker: leaves as leaves, containers
    (ModuleList excepted, as it has no forward) as non-leaves."""
    import torch
    for local, child in parent.named_children():
        if _is_leaf(child):
            setattr(parent, local, Marker(child, names[child], "True"))
        else:
            if not isinstance(child, torch.nn.ModuleList) and not isinstance(child, Marker):
                setattr(parent, local, Marker(child, names[child], "False"))
            _add_markers(child, names, Marker)


def _attr(node, key) -> str:
    for a in node.attribute:
        if a.name == key:
            return a.s.decode()
    return ""


def _plain_name(name: str) -> str:
    """A tensor name without the marker modules' scope level."""
    return name.replace("marked_module.", "").replace("marked_module/", "").replace("/marked_module", "")


def _scoped_name(tensor: str, node_name: str) -> str:
    """A leaf module node's output name spelt with the module's full dotted
    path at each level (/layer2/layer2.0/downsample/downsample.0/Conv_output_0),
    as aimet_torch renames them."""
    if "." not in node_name or "/" in node_name or "/" not in tensor:
        return tensor
    tokens = node_name.split(".")
    parts = [tokens[0]]
    for i in range(len(tokens) - 1):
        nxt = tokens[i + 1]
        if nxt.isdecimal():
            parts.append(tokens[i] + "." + nxt)
        elif nxt == "end" and "#" in tokens[i]:
            parts[-1] += "." + nxt
        else:
            parts.append(nxt)
    return "/" + "/".join(p for p in parts if p) + "/" + tensor.split("/")[-1]


class _Export:
    """The model exported with markers, what the markers say about it, and
    the same graph without markers for the engine."""

    def __init__(self, model, example, kwargs, workdir):
        import onnx
        import torch
        Marker = _marker_classes()
        net = copy.deepcopy(model).cpu()
        # dropouts are identities at inference; aimet_torch's exporter
        # replaces them before exporting, which changes the numbering
        for parent in list(net.modules()):
            for local, child in list(parent.named_children()):
                if isinstance(child, (torch.nn.Dropout, torch.nn.Dropout2d, torch.nn.Dropout3d)):
                    setattr(parent, local, torch.nn.Identity())
        names = {m: n for n, m in net.named_modules()}
        # which leaf modules return one tensor (aimet_torch saves only those)
        self.tensor_output: Dict[str, bool] = {}

        def hook(module, _inputs, output):
            name = names.get(module)
            ok = isinstance(output, torch.Tensor)
            self.tensor_output[name] = self.tensor_output.get(name, True) and ok

        handles = [m.register_forward_hook(hook) for m in net.modules() if _is_leaf(m)]
        _add_markers(net, names, Marker)
        path = os.path.join(workdir, "marked.onnx")
        # the copy runs on the CPU, so the example does too
        cpu = [a.cpu() if isinstance(a, torch.Tensor) else a for a in _forward_args(example)]
        args = tuple(cpu) if isinstance(example, (list, tuple)) else cpu[0]
        try:
            # not under no_grad, as aimet_torch: PyTorch's fused attention
            # (taken without grad) has no ONNX export
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(net, args, path, **kwargs)
        except Exception as e:
            raise LayerOutError(f"torch.onnx.export failed: {type(e).__name__}: {e}") from e
        finally:
            for h in handles:
                h.remove()
        m = onnx.load(path)
        self._analyse(m)
        self._marked = m
        self.model_path = os.path.join(workdir, "model.onnx")
        self.write()

    def write(self, split=()):
        """Writes the graph without markers to model_path. The start markers
        whose outputs are in split stay, as Identity nodes: the tensor a
        module reads through one of them can then be given an encoding of
        its own (an input quantizer) that no other reader sees."""
        import onnx
        onnx.save(self._strip(copy.deepcopy(self._marked), set(split)), self.model_path)

    def _analyse(self, m):
        g = m.graph
        nodes = list(g.node)
        is_marker = [n.op_type == "CustomMarker" and n.domain == _MARKER_DOMAIN for n in nodes]
        consumers: Dict[str, List[int]] = {}
        for i, n in enumerate(nodes):
            for t in n.input:
                consumers.setdefault(t, []).append(i)
        self.inputs = [i.name for i in g.input]
        self.initializers = {i.name for i in g.initializer}
        # marker output -> marker input: the graph without markers
        alias = {}
        for i, n in enumerate(nodes):
            if is_marker[i]:
                alias[n.output[0]] = n.input[0]

        def root(t, stop=()):
            while t in alias and t not in stop:
                t = alias[t]
            return t
        self._root = root
        self.outputs = [o.name for o in g.output]
        # graph outputs keep their names: the node making the value is renamed
        self.rename = {}
        for o in self.outputs:
            r = root(o)
            if r != o and r not in self.inputs and r not in self.initializers:
                self.rename[r] = o

        # each leaf call's output: its end markers' inputs, in run order
        self.calls: Dict[str, List[List[str]]] = {}
        for i, n in enumerate(nodes):
            if is_marker[i] and _attr(n, "leaf") == "True" and _attr(n, "start") == "False":
                self.calls.setdefault(_attr(n, "id"), []).append(root(n.input[0]))

        # each leaf call's inputs: its start markers' inputs, in run order
        self.starts: Dict[str, List[str]] = {}
        self.start_markers: Dict[str, List[str]] = {}
        for i, n in enumerate(nodes):
            if is_marker[i] and _attr(n, "leaf") == "True" and _attr(n, "start") == "True":
                self.starts.setdefault(_attr(n, "id"), []).append(root(n.input[0]))
                self.start_markers.setdefault(_attr(n, "id"), []).append(n.output[0])

        # who reads each tensor: a leaf module (through its start marker)
        # or "" for a node of no leaf module (a functional op)
        self.readers: Dict[str, List[str]] = {}
        by_output = {n.output[0]: n for i, n in enumerate(nodes) if is_marker[i]}
        for i, n in enumerate(nodes):
            if is_marker[i]:
                continue
            for t in n.input:
                via = ""
                while t in alias:
                    mk = by_output[t]
                    if not via and _attr(mk, "leaf") == "True" and _attr(mk, "start") == "True":
                        via = _attr(mk, "id")
                    t = alias[t]
                self.readers.setdefault(t, []).append(via)

        # aimet_torch's node names: each leaf start marker names the nodes
        # downstream of it up to the next marker, NAME#depth, a repeat
        # NAME#depth-K, and a node feeding an end marker gets ".end"
        node_name = [n.name for n in nodes]
        count: Dict[str, int] = {}
        visited = set()

        def walk(start: Sequence[int], name: str, depth: int):
            for i in start:
                if i in visited:
                    continue
                if is_marker[i]:
                    return
                nm = name if depth == 0 else f"{name}#{depth}"
                if nm in count:
                    k = count[nm]
                    count[nm] = k + 1
                    nm = f"{nm}-{k}" if "#" in nm else f"{nm}#0-{k}"
                else:
                    count[nm] = 1
                node_name[i] = nm
                for t in nodes[i].output:
                    down = consumers.get(t, [])
                    walk(down, name, depth + 1)
                    if any(is_marker[d] for d in down):
                        node_name[i] += ".end" if "#" in node_name[i] else "#0.0.end"
                visited.add(i)

        starts: Dict[str, List[int]] = {}
        for i, n in enumerate(nodes):
            if is_marker[i] and _attr(n, "start") == "True":
                starts.setdefault(_attr(n, "id"), []).append(i)
        for ident, idx in starts.items():
            if _attr(nodes[idx[0]], "leaf") != "True":
                continue
            for i in idx:
                walk(consumers.get(nodes[i].output[0], []), ident, 0)
        # a module of one node is named plainly
        groups: Dict[str, List[int]] = {}
        for i in range(len(nodes)):
            if not is_marker[i]:
                groups.setdefault(node_name[i].split("#")[0], []).append(i)
        for r, idx in groups.items():
            if len(idx) == 1:
                node_name[idx[0]] = r
        # tensor names as aimet_torch writes them
        final: Dict[str, str] = {}
        used: Dict[str, int] = {}
        for i, n in enumerate(nodes):
            if is_marker[i]:
                continue
            for t in n.output:
                raw = self.rename.get(t, t)
                nm = _scoped_name(_plain_name(raw), node_name[i])
                if nm in used:
                    used[nm] += 1
                    nm = f"{nm}_dup{used[nm]}"
                else:
                    used[nm] = 0
                final[t] = nm
        # node name -> its outputs (the first node of a name counts)
        by_name: Dict[str, List[str]] = {}
        for i, n in enumerate(nodes):
            if is_marker[i] or not node_name[i]:
                continue
            if node_name[i] not in by_name:
                by_name[node_name[i]] = [final.get(t, t) for t in n.output]
        self.onnx_names: Dict[str, str] = {}
        self.onnx_problems: Dict[str, str] = {}
        for layer in self.calls:
            if layer not in by_name:
                continue
            ops = [k for k in by_name if (k.startswith(layer) and layer + "#" in k) or k == layer]
            ends = ops if len(ops) == 1 else [k for k in ops if k.endswith(".end")]
            outs = [t for k in ops if k in ends for t in by_name[k]]
            if outs:
                self.onnx_names[layer] = outs[0]
            else:
                self.onnx_problems[layer] = "its nodes in aimet_torch's export have no end node"

    def _strip(self, m, split):
        """The graph without markers: consumers read what the marker read;
        graph outputs keep their names; markers in split become Identity."""
        import onnx
        from onnx import numpy_helper
        g = m.graph
        # The exporter shares equal parameters through Identity nodes; each
        # gets its own initializer again (as aimet_torch restores them), so
        # that a parameter's encoding applies to that parameter alone.
        inits = {i.name: i for i in g.initializer}
        keep = []
        for n in g.node:
            if n.op_type == "Identity" and len(n.input) == 1 and n.input[0] in inits and n.output[0] not in inits:
                t = numpy_helper.from_array(numpy_helper.to_array(inits[n.input[0]]), n.output[0])
                g.initializer.append(t)
                inits[t.name] = t
                continue
            keep.append(n)
        self.initializers = set(inits)
        stripped = []
        for n in keep:
            if n.op_type == "CustomMarker" and n.domain == _MARKER_DOMAIN:
                if n.output[0] not in split:
                    continue
                n.op_type, n.domain = "Identity", ""
                del n.attribute[:]
            stripped.append(n)
        keep = stripped
        for n in keep:
            for k, t in enumerate(n.input):
                r = self._root(t, split if n.op_type != "Identity" or n.output[0] not in split else ())
                n.input[k] = self.rename.get(r, r)
            for k, t in enumerate(n.output):
                n.output[k] = self.rename.get(t, t)
        del g.node[:]
        g.node.extend(keep)
        # an output that is a graph input or initializer as it stands
        for o in g.output:
            r = self._root(o.name)
            if r != o.name and self.rename.get(r) != o.name:
                g.node.append(onnx.helper.make_node("Identity", [r], [o.name]))
        kept = [copy.deepcopy(o) for o in m.opset_import if o.domain != _MARKER_DOMAIN]
        del m.opset_import[:]
        m.opset_import.extend(kept)
        return m

    def tensor_of(self, layer: str) -> Optional[str]:
        """The engine's tensor holding layer's last call's output."""
        calls = self.calls.get(layer)
        if not calls or not self.tensor_output.get(layer, False):
            return None
        return self.rename.get(calls[-1], calls[-1])


# ---- running the engine ---------------------------------------------------------------------

class _Runner:
    """The stripped export in a C session; returns the tensors asked for."""

    def __init__(self, path, encodings, rounding, strict, threads, workdir):
        self._engine = _core.Engine(path, None, naming="onnx", encodings=encodings, rounding=rounding,
                                    strict=strict, threads=threads, workdir=workdir)

    def run(self, arrays, wanted):
        eng = self._engine
        eng._ensure_session()
        lib = eng._lib
        captured, failure = {}, []

        def observer(_user, out_ptr, err_ptr):
            try:
                o = out_ptr.contents
                if o.iteration < 0:
                    key = o.name.decode("utf-8", "surrogateescape")
                    if key in wanted:
                        captured[key] = _lib.copy_tensor(o.tensor)
                return _lib.LO_OK
            except BaseException as e:  # must not unwind through C
                failure.append(e)
                err_ptr.contents.status = _lib.LO_ERR_INTERRUPTED
                err_ptr.contents.message = f"Python observer failed: {e}".encode()[:1000]
                return _lib.LO_ERR_INTERRUPTED

        cb = _lib.OBSERVER(observer)
        views = _lib.InputViews(arrays)
        err = _lib.LoError()
        st = lib.lo_session_run(eng._session, views.views, views.count, cb, None, ctypes.byref(err))
        if failure:
            raise failure[0]
        _lib.check(st, err)
        return captured

    def close(self):
        self._engine.close()


def _to_numpy(x):
    import torch
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _save_raw(array, name, folder):
    with open(os.path.join(folder, name + ".raw"), "wb") as f:
        np.ascontiguousarray(array).tofile(f)


class LayerOutputUtil:
    """Captures the output of every leaf module of a PyTorch model (or of
    every quantized module of an aimet_torch v2 QuantizationSimModel's
    model) and saves it as aimet_torch's LayerOutputUtil does, running the
    model's export in layerout's C engine.

    :param model: the ``torch.nn.Module``, or ``sim.model`` of an aimet_torch
        QuantizationSimModel (or the sim itself): its quantizers are applied.
    :param dir_path: folder for the dump: ``inputs/input_K.raw`` (or
        ``inputs/input_K/I.raw`` for a list/tuple), ``outputs/layer_outputs_K/NAME.raw``
        and ``layer_output_name_order.json``, as aimet_torch writes them.
    :param naming_scheme: NamingScheme.PYTORCH (default), ONNX or
        TORCHSCRIPT (aimet_torch's enum is accepted too).
    :param dummy_input: a tensor or tuple/list of tensors. Required for ONNX
        and TORCHSCRIPT, as in aimet_torch; for PYTORCH the first input
        given is used. The model is exported once on it; later inputs must
        have its shapes.
    :param onnx_export_args: torch.onnx.export settings, a dict or an
        OnnxExportApiArgs (ours or aimet_torch's): the same as given to
        QuantSim's export, as aimet_torch asks.

    Keyword-only extensions: ``threads`` (0: the cores other processes leave free), ``encodings`` (an
    AIMET encodings file applied to the export's tensors by name),
    ``rounding`` ('half-even', torch.round, default; or 'half-away'),
    ``strict``.
    """

    def __init__(self, model, dir_path: str, naming_scheme=NamingScheme.PYTORCH, dummy_input=None,
                 onnx_export_args=None, *, threads: int = 0, encodings: Optional[str] = None,
                 rounding: str = "half-even", strict: bool = False):
        import torch
        sim = None
        if not isinstance(model, torch.nn.Module) and isinstance(getattr(model, "model", None), torch.nn.Module):
            sim, model = model, model.model
        self.model = model
        self.dir_path = dir_path
        self.naming_scheme = _scheme(naming_scheme)
        self._qtypes = _quantized_types()
        self.is_quantsim_model = bool(self._qtypes) and any(isinstance(m, self._qtypes) for m in model.modules())
        if self.naming_scheme != NamingScheme.PYTORCH:
            if dir_path is None:
                raise ValueError("Missing directory path to save onnx/torchscript models")
            _validate_dummy_input(dummy_input)
        self._kwargs = _export_kwargs(onnx_export_args, self.naming_scheme == NamingScheme.ONNX)
        self._options = dict(encodings=encodings, rounding=rounding, strict=strict, threads=threads)
        self._workdir = tempfile.mkdtemp(prefix="layerout-torch-")
        weakref.finalize(self, shutil.rmtree, self._workdir, True)
        self._export = None
        self._runner = None
        self._input_counter = 0
        self.onnx_path = None
        self._module_names = {}
        for name, module in model.named_modules():
            self._module_names.setdefault(module, name)
        self._names = self._output_names(dummy_input)
        os.makedirs(dir_path, exist_ok=True)
        with open(os.path.join(dir_path, "layer_output_name_order.json"), "w") as f:
            json.dump({"layer_output_names": list(self._names.values())}, f, indent=4)
        if dummy_input is not None:
            self._start(dummy_input)

    # ---- names -----------------------------------------------------------------------------
    def _output_names(self, dummy_input) -> Dict[str, str]:
        """{layer name: file name} in aimet_torch's order."""
        names: Dict[str, str] = {}
        if self.naming_scheme == NamingScheme.PYTORCH:
            for name, module in self.model.named_modules():
                if _is_leaf(module) or (self._qtypes and isinstance(module, self._qtypes)):
                    name = name.replace("._module_to_wrap", "")
                    names[name] = name
        else:
            original = _original_model(self.model)
            if self.naming_scheme == NamingScheme.ONNX:
                export = self._export = _Export(original, dummy_input, self._kwargs, self._workdir)
                found = export.onnx_names
                if export.onnx_problems:
                    layer, why = next(iter(export.onnx_problems.items()))
                    raise LayerOutError(f"module '{layer}': {why}")
            else:
                from ._torchscript import module_output_names, TorchScriptNamingError
                try:
                    found = module_output_names(original, dummy_input)
                except TorchScriptNamingError as e:
                    raise LayerOutError(str(e)) from e
            missing = []
            for name, module in original.named_modules():
                if not _is_leaf(module):
                    continue
                if name in found:
                    names[name] = found[name]
                else:
                    missing.append(name)
            if missing:
                warnings.warn(f"these modules have no name in the {self.naming_scheme.name} scheme and are not "
                              f"saved (as in aimet_torch): {missing}", stacklevel=3)
        return {k: re.sub(r"\W+", "_", v) for k, v in names.items()}

    # ---- the engine -------------------------------------------------------------------------
    def _start(self, example):
        if self._export is None:
            self._export = _Export(_original_model(self.model), example, dict(self._kwargs), self._workdir)
        self.onnx_path = self._export.model_path
        encodings = self._options["encodings"]
        if self.is_quantsim_model:
            if encodings is not None:
                raise ValueError("encodings= and a QuantizationSimModel: the sim's own quantizers are used")
            from ._torchsim import sim_encodings
            encodings = os.path.join(self._workdir, "sim.encodings")
            sim_encodings(self.model, self._export, encodings, self._module_names)
        self._runner = _Runner(self.onnx_path, encodings, self._options["rounding"], self._options["strict"],
                               self._options["threads"], self._workdir)
        self._warn_repeats()

    def _warn_repeats(self):
        for layer, name in self._names.items():
            calls = self._export.calls.get(layer, [])
            # ONNX: the name is the first call's tensor (the first end node of
            # the module's name); TORCHSCRIPT pairs the last call, PYTORCH
            # names the module
            if len(calls) > 1 and self.naming_scheme == NamingScheme.ONNX:
                warnings.warn(f"module '{layer}' runs {len(calls)} times: its file '{name}' holds its last "
                              "call's output, as aimet_torch saves it, while the name is that of its first "
                              "call's tensor in the export", stacklevel=3)

    def _hooked_layers(self):
        """The modules aimet_torch hooks, in the order their first calls run."""
        order = []
        for layer in self._export.calls:
            module = self._find(layer)
            if module is None:
                continue
            if self.is_quantsim_model:
                if not isinstance(module, self._qtypes):
                    continue
            elif not _is_leaf(module):
                continue
            order.append(layer)
        return order

    def _find(self, layer):
        try:
            return self.model.get_submodule(layer) if layer else self.model
        except AttributeError:
            return None

    def get_layer_outputs(self, input_instance) -> Dict[str, np.ndarray]:
        """Runs one input instance; returns {file name: array} as
        generate_layer_outputs would save them, writing nothing."""
        if self._export is None:
            self._start(input_instance)
        arrays = [_to_numpy(a) for a in _forward_args(input_instance)]
        wanted = {}
        for layer in self._hooked_layers():
            t = self._export.tensor_of(layer)
            if t is not None:
                wanted[layer] = t
        values = self._runner.run(arrays, set(wanted.values()))
        given = dict(zip(self._export.inputs, arrays))
        by_layer = {}
        for layer, t in wanted.items():
            if t in values:
                by_layer[layer] = values[t]
            elif t in given:
                by_layer[layer] = given[t]
            else:
                warnings.warn(f"module '{layer}': its output ({t}) is not a tensor the engine computes; not saved",
                              stacklevel=2)
        # aimet_torch's renaming, including its overwrites when two modules
        # share a name
        out = by_layer
        for layer in list(out):
            if layer in self._names:
                out[self._names[layer]] = out.pop(layer)
            else:
                out.pop(layer)
        return out

    def generate_layer_outputs(self, input_instance) -> None:
        """Runs one input instance and saves its inputs and layer outputs as
        the next sample K (0, 1, 2, ...), as aimet_torch does."""
        outputs = self.get_layer_outputs(input_instance)
        inputs_dir = os.path.join(self.dir_path, "inputs")
        outputs_dir = os.path.join(self.dir_path, "outputs")
        os.makedirs(inputs_dir, exist_ok=True)
        os.makedirs(outputs_dir, exist_ok=True)
        k = self._input_counter
        if isinstance(input_instance, (list, tuple)):
            d = os.path.join(inputs_dir, f"input_{k}")
            os.makedirs(d, exist_ok=True)
            for i, a in enumerate(input_instance):
                _save_raw(_to_numpy(a), str(i), d)
        else:
            _save_raw(_to_numpy(input_instance), f"input_{k}", inputs_dir)
        d = os.path.join(outputs_dir, f"layer_outputs_{k}")
        os.makedirs(d, exist_ok=True)
        for name, arr in outputs.items():
            _save_raw(arr, name, d)
        self._input_counter += 1

    @staticmethod
    def compare(ref_dir, test_dir, model=None, sqnr_min=None, drop_db=None):
        """Compares two dumps layer by layer; see :func:`layerout.compare`."""
        return _compare(ref_dir, test_dir, model=model, sqnr_min=sqnr_min, drop_db=drop_db)

    @property
    def sample_count(self) -> int:
        """Samples written by this object."""
        return self._input_counter

    def close(self) -> None:
        """Frees the engine and the export; the dump stays."""
        if self._runner is not None:
            self._runner.close()
            self._runner = None
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
