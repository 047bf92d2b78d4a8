"""A drop-in for aimet_torch.layer_output_utils.LayerOutputUtil on layerout's
C engine.

    # from aimet_torch.layer_output_utils import LayerOutputUtil, NamingScheme
    from layerout.torch import LayerOutputUtil, NamingScheme

    util = LayerOutputUtil(model, dir_path="./dump", naming_scheme=NamingScheme.PYTORCH)
    for images, _ in loader:
        util.generate_layer_outputs(images)

The module is exported to ONNX once (torch.onnx.export) and the export runs
in the C engine; PyTorch does not run the model again.
"""

import enum
import importlib.util
import inspect
import os
import shutil
import tempfile
import warnings
import weakref

import numpy as np

from . import _core, _lib
from ._core import compare as _compare
from ._lib import LayerOutError

__all__ = ["LayerOutputUtil", "NamingScheme", "LayerOutError"]


class NamingScheme(enum.Enum):
    """How layer outputs are named, with AIMET's values."""

    PYTORCH = 1
    """By leaf module name (``layer1.0.conv1`` -> ``layer1_0_conv1``)."""
    ONNX = 2
    """By the exported ONNX model's tensor names."""
    TORCHSCRIPT = 3
    """By the traced TorchScript graph's value names."""


_NAMING = {NamingScheme.PYTORCH: "pytorch", NamingScheme.ONNX: "onnx", NamingScheme.TORCHSCRIPT: "torchscript"}


def _scheme(value):
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


def _to_numpy(x):
    import torch
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().contiguous().numpy()
    return np.asarray(x)


def _numpy_instance(input_instance):
    """The caller's tensors as numpy, keeping list/tuple vs bare tensor (it
    decides the inputs/ layout, as in AIMET)."""
    if isinstance(input_instance, dict):
        return {k: _to_numpy(v) for k, v in input_instance.items()}
    if isinstance(input_instance, (list, tuple)):
        return [_to_numpy(x) for x in input_instance]
    return _to_numpy(input_instance)


def _export_kwargs(onnx_export_args):
    """torch.onnx.export keyword arguments from a dict or an object with
    opset_version / input_names / output_names (AIMET's OnnxExportApiArgs)."""
    import torch
    kwargs = {}
    if onnx_export_args is None:
        pass
    elif isinstance(onnx_export_args, dict):
        kwargs.update(onnx_export_args)
    else:
        for key in ("opset_version", "input_names", "output_names"):
            if not hasattr(onnx_export_args, key):
                raise ValueError("onnx_export_args must be a dict or have opset_version, input_names and "
                                 f"output_names attributes; {type(onnx_export_args).__name__} lacks {key}")
            kwargs[key] = getattr(onnx_export_args, key)
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    # The TorchScript exporter is what AIMET uses and what its node names
    # (scope paths) come from; newer torch defaults to the dynamo exporter.
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs.setdefault("dynamo", False)
    return kwargs


def _export_args(example):
    if isinstance(example, dict):
        return (example,)
    if isinstance(example, (list, tuple)):
        return tuple(example)
    return (example,)


def _torchscript_names_module():
    """tools/torchscript_names.py, which pairs ONNX tensors with TorchScript
    value names. It lives in the repository's tools/; found beside this
    package's source tree, beside the build folder of the library in use, or
    in $LAYEROUT_TOOLS."""
    try:
        from . import _torchscript_names  # if the helper is ever shipped inside the package
        return _torchscript_names
    except ImportError:
        pass
    here = os.path.dirname(os.path.abspath(__file__))
    places = []
    if os.environ.get("LAYEROUT_TOOLS"):
        places.append(os.environ["LAYEROUT_TOOLS"])
    places.append(os.path.join(here, "..", "..", "tools"))
    try:
        lib_dir = os.path.dirname(_lib.library_path())
        places += [os.path.join(lib_dir, "..", "tools"), os.path.join(lib_dir, "..", "share", "layerout", "tools")]
    except LayerOutError:
        pass
    for d in places:
        path = os.path.join(d, "torchscript_names.py")
        if os.path.isfile(path):
            spec = importlib.util.spec_from_file_location("layerout_torchscript_names", path)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            return mod
    raise LayerOutError("NamingScheme.TORCHSCRIPT needs layerout's tools/torchscript_names.py; set "
                        "LAYEROUT_TOOLS to the folder holding it (looked in: " + ", ".join(places) + ")")


class LayerOutputUtil:
    """Captures the output of every layer of a PyTorch model and saves it in
    AIMET's layout, running the model's ONNX export in layerout's C engine.

    :param model: the ``torch.nn.Module``. It is exported once with
        ``torch.onnx.export`` (TorchScript exporter, eval mode) on
        ``dummy_input``; later inputs must have the dummy input's shapes.
    :param dir_path: folder for the dump (see layerout.onnx.LayerOutputUtil
        for the layout); a dump already there is replaced by default.
    :param naming_scheme: NamingScheme.PYTORCH (default): one file per leaf
        module call, named by the module (``layer1.0.conv1`` ->
        ``layer1_0_conv1``; earlier calls of a module called several times
        get ``__callK``); functional ops have no file. NamingScheme.ONNX:
        every tensor of the export under its ONNX name. NamingScheme.TORCHSCRIPT:
        module outputs under their TorchScript value names (traced with
        torch.jit.trace). AIMET's own NamingScheme values are accepted too.
    :param dummy_input: a tensor or tuple/list of tensors for the export.
        Required for ONNX and TORCHSCRIPT, as in AIMET; for PYTORCH the first
        input given to generate_layer_outputs/get_layer_outputs is used.
    :param onnx_export_args: a dict of torch.onnx.export keyword arguments,
        or an object with ``opset_version``, ``input_names`` and
        ``output_names`` (AIMET's OnnxExportApiArgs). ``dynamo`` defaults to
        False.
    :param encodings: an AIMET encodings file to simulate (the export is the
        float model; the encodings are applied to its tensors by name).

    Keyword-only extensions: ``rounding`` ('half-away' default, as aimet_onnx;
    'half-even' as aimet_torch v2's torch.round), ``strict``, ``threads``,
    ``format``, ``mode``, ``layers``, ``op_types``, ``max_memory`` (see
    layerout.onnx.LayerOutputUtil), ``all_tensors`` (PYTORCH: also save
    tensors of no module, under ONNX names).
    """

    def __init__(self, model, dir_path, naming_scheme=NamingScheme.PYTORCH, dummy_input=None,
                 onnx_export_args=None, encodings=None, *, rounding="half-away", strict=False, threads=0,
                 format="raw", mode="overwrite", layers=None, op_types=None, max_memory=0, all_tensors=False):
        self.model = model
        self.dir_path = dir_path
        self.naming_scheme = _scheme(naming_scheme)
        if dummy_input is None and self.naming_scheme != NamingScheme.PYTORCH:
            raise ValueError(f"dummy_input is required for NamingScheme.{self.naming_scheme.name}")
        self._export_kwargs = _export_kwargs(onnx_export_args)
        self._options = dict(encodings=encodings, rounding=rounding, strict=strict, threads=threads,
                             format=format, mode=mode, layers=layers, op_types=op_types, max_memory=max_memory,
                             all_tensors=all_tensors)
        self._workdir = tempfile.mkdtemp(prefix="layerout-torch-")
        # removes the export even if the engine never starts and close() is
        # never called
        weakref.finalize(self, shutil.rmtree, self._workdir, True)
        self._engine = None
        self.onnx_path = None
        os.makedirs(dir_path, exist_ok=True)
        if dummy_input is not None:
            self._start(dummy_input)

    def _start(self, example):
        """Exports the model on example and starts the engine."""
        import torch
        path = os.path.join(self._workdir, "model.onnx")
        try:
            with torch.no_grad(), warnings.catch_warnings():
                # the TorchScript exporter's deprecation and tracer warnings
                # say nothing about the dump
                warnings.simplefilter("ignore")
                torch.onnx.export(self.model, _export_args(example), path, **self._export_kwargs)
        except Exception as e:
            raise LayerOutError(f"torch.onnx.export failed: {type(e).__name__}: {e}") from e
        name_map = None
        if self.naming_scheme == NamingScheme.TORCHSCRIPT:
            tool = _torchscript_names_module()
            ts_example = example if isinstance(example, torch.Tensor) else tuple(_export_args(example))
            name_map = tool.build_map(self.model, ts_example, path)
        self.onnx_path = path
        self._engine = _core.Engine(path, self.dir_path, naming=_NAMING[self.naming_scheme], name_map=name_map,
                                    workdir=self._workdir, **self._options)

    def _engine_for(self, input_instance):
        if self._engine is None:
            self._start(input_instance)
        return self._engine

    def generate_layer_outputs(self, input_instance):
        """Runs one input instance and saves its inputs and layer outputs as
        the next sample K (0, 1, 2, ...).

        :param input_instance: a tensor (saved as inputs/input_K.raw) or a
            list/tuple of tensors, one per model input (saved as
            inputs/input_K/I.raw), as AIMET does.
        """
        self._engine_for(input_instance).generate(_numpy_instance(input_instance))

    def get_layer_outputs(self, input_instance):
        """Runs one input instance and returns its layer outputs in memory,
        writing nothing to dir_path.

        :return: dict of file name (without .raw, as generate_layer_outputs
            names the file) -> numpy array, in graph order.
        """
        return self._engine_for(input_instance).layer_outputs(_numpy_instance(input_instance))

    @staticmethod
    def compare(ref_dir, test_dir, model=None, sqnr_min=None, drop_db=None):
        """Compares two dumps layer by layer; see :func:`layerout.compare`."""
        return _compare(ref_dir, test_dir, model=model, sqnr_min=sqnr_min, drop_db=drop_db)

    @property
    def sample_count(self):
        """Complete samples in dir_path, earlier runs' included."""
        return self._engine.sample_count if self._engine is not None else 0

    def close(self):
        """Frees the engine and the exported model; the dump stays."""
        if self._engine is not None:
            self._engine.close()
            self._engine = None
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
