"""TorchScript value names of leaf modules, as aimet_torch's
NamingScheme.TORCHSCRIPT finds them.

aimet_torch traces the model (torch.jit.trace), saves and loads the trace,
and reads value names from the graph the loaded module runs
(``graph_for``). It pairs graph nodes with modules in two ways: a node
reading a parameter of a leaf module belongs to that module; a node of one
of a few op kinds (relu, max_pool2d, ...) without parameters is paired with
the next leaf module in the order the modules run (Identity excepted). The
name of a module is then the first output of the last node paired with it.
Those rules are reproduced here, including their limits: a model whose
parameterless modules do not line up with those op kinds cannot be named,
and the error says which module broke the pairing.
"""

import io
import warnings
from typing import Any, Dict, List, Tuple

import torch

__all__ = ["module_output_names", "TorchScriptNamingError"]


class TorchScriptNamingError(RuntimeError):
    """aimet_torch's TorchScript naming cannot name this model."""


# module type -> the op kind (namespace and underscores stripped) the graph
# shows for it; the kinds aimet_torch pairs by run order
OP_KINDS = {
    torch.nn.Conv2d: "convolution",
    torch.nn.ConvTranspose2d: "convolution",
    torch.nn.BatchNorm1d: "batch_norm",
    torch.nn.BatchNorm2d: "batch_norm",
    torch.nn.ReLU: "relu",
    torch.nn.ReLU6: "hardtanh",
    torch.nn.MaxPool2d: "max_pool2d",
    torch.nn.AdaptiveAvgPool2d: "adaptive_avg_pool2d",
    torch.nn.AvgPool2d: "avg_pool2d",
    torch.nn.Linear: "addmm",
    torch.nn.Dropout: "dropout",
    torch.nn.Dropout2d: "feature_dropout",
    torch.nn.LogSoftmax: "log_softmax",
    torch.nn.Sigmoid: "sigmoid",
}
_KINDS = set(OP_KINDS.values())


def is_leaf(module: torch.nn.Module) -> bool:
    """A module without children; ModuleList and ModuleDict never are."""
    if isinstance(module, (torch.nn.ModuleList, torch.nn.ModuleDict)):
        return False
    return next(module.children(), None) is None


def _kind(node) -> str:
    return node.kind().split("::")[-1].lstrip("_").rstrip("_")


def _args(example) -> Tuple:
    return tuple(example) if isinstance(example, (list, tuple)) else (example,)


class _Entry:
    __slots__ = ("kind", "inputs", "outputs", "module")

    def __init__(self, kind, inputs, outputs):
        self.kind, self.inputs, self.outputs, self.module = kind, inputs, outputs, None


def _entries(graph, model) -> List[_Entry]:
    """The graph's non-constant nodes, each with the leaf module whose
    parameter it reads, if any."""
    inputs = list(graph.inputs())
    owner: Dict[str, Any] = {inputs[0].debugName(): model}
    entries = []
    for node in graph.nodes():
        if "GetAttr" in node.kind():
            out = node.outputsAt(0)
            owner[out.debugName()] = getattr(owner[node.input().debugName()], node.s("name"))
            continue
        kind = _kind(node)
        if "Constant" in kind:
            continue
        entries.append(_Entry(kind, [v for v in node.inputs() if "Constant" not in _kind(v.node())],
                              list(node.outputs())))
    for e in entries:
        kept = []
        for v in e.inputs:
            if "GetAttr" in v.node().kind():
                if e.kind in _KINDS:
                    module = owner[v.node().input().debugName()]
                    if e.module is None:
                        e.module = module
            else:
                kept.append(v)
        e.inputs = kept
    return entries


def _join_addmm(entries: List[_Entry]) -> None:
    """mm followed by an add of its result is one addmm (a Linear)."""
    drop = []
    for i, e in enumerate(entries):
        if e.kind == "add" and len(e.inputs) == 1 and i > 0:
            p = entries[i - 1]
            if p.kind == "mm" and len(p.outputs) == 1 and p.outputs[0] == e.inputs[0]:
                p.outputs, p.kind = e.outputs, "addmm"
                drop.append(i)
    for i in reversed(drop):
        del entries[i]


def module_output_names(model: torch.nn.Module, example: Any) -> Dict[str, str]:
    """{leaf module name: TorchScript value name} for model traced on
    example (a tensor, or a tuple/list of the forward's arguments). Modules
    the pairing does not reach are absent. Raises TorchScriptNamingError
    where aimet_torch's pairing fails on this model."""
    args = _args(example)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(model, example)
            buf = io.BytesIO()
            torch.jit.save(traced, buf)
            buf.seek(0)
            loaded = torch.jit.load(buf)
            graph = loaded.graph_for(*args)
            entries = _entries(graph, model)
            _join_addmm(entries)
            calls: List[torch.nn.Module] = []
            handles = []

            def hook(module, *_):
                if isinstance(module, (torch.nn.RNN, torch.nn.LSTM, torch.nn.GRU)):
                    raise TorchScriptNamingError("aimet_torch's TorchScript naming does not support recurrent "
                                                 f"modules ({type(module).__name__})")
                if not isinstance(module, torch.nn.Identity):
                    calls.append(module)

            for m in model.modules():
                if is_leaf(m):
                    handles.append(m.register_forward_hook(hook))
            try:
                model(*args)
            finally:
                for h in handles:
                    h.remove()
    finally:
        model.train(was_training)

    prefix = type(model).__name__
    names = {m: n for n, m in model.named_modules(prefix=prefix)}
    out: Dict[str, str] = {}
    index = 0
    for e in entries:
        if e.module is None:
            if e.kind not in _KINDS:
                continue
            if index >= len(calls):
                raise TorchScriptNamingError(
                    f"TorchScript naming: a '{e.kind}' node has no module call left to pair with "
                    f"({len(calls)} leaf module calls); aimet_torch cannot name this model either")
            e.module = calls[index]
            expected = OP_KINDS.get(type(e.module))
            if expected != e.kind:
                name = names.get(e.module, "?")[len(prefix) + 1:]
                raise TorchScriptNamingError(
                    f"TorchScript naming: module '{name}' ({type(e.module).__name__}) is paired with a "
                    f"'{e.kind}' node; aimet_torch's TORCHSCRIPT scheme pairs parameterless modules with nodes "
                    "by run order and fails on this model too. Use NamingScheme.PYTORCH or ONNX")
        index += 1
        if e.module not in names:
            continue
        out[names[e.module][len(prefix) + 1:]] = e.outputs[0].debugName() if e.outputs else ""
    return {k: v for k, v in out.items() if v}
