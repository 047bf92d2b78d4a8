"""A drop-in for aimet_onnx.layer_output_utils.LayerOutputUtil on layerout's
C engine.

    # from aimet_onnx.layer_output_utils import LayerOutputUtil
    from layerout.onnx import LayerOutputUtil

    util = LayerOutputUtil(model, dir_path="./dump")          # onnx.ModelProto or a path
    for batch in data:
        util.generate_layer_outputs(batch)                    # sample 0, 1, 2, ...

A QuantizationSimModel's model (``sim.model.model``) or the sim itself runs
quantization-simulated, with the encodings AIMET exports for the sim (see
layerout._quantsim).
"""

from __future__ import annotations

import errno
import os
import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _core, _quantsim
from ._core import compare as _compare
from ._lib import LayerOutError

__all__ = ["LayerOutputUtil", "LayerOutError"]

PathLike = Union[str, bytes, "os.PathLike[str]"]
InputInstance = Union[np.ndarray, List[np.ndarray], Tuple[np.ndarray, ...], Dict[str, np.ndarray]]


class InputMismatchError(LayerOutError, ValueError):
    """Inputs that do not fit the model's (count, names): a ValueError, as
    aimet_onnx raises, and a LayerOutError with status "input", as the
    library reports it."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 4)  # LO_ERR_INPUT


class ModelTypeError(TypeError, AttributeError):
    """The model is neither an onnx.ModelProto, a QuantizationSimModel nor a
    path. aimet_onnx raises AttributeError there (it reads model.graph), so
    this is both a TypeError and an AttributeError: scripts catching
    either keep working."""

# protobuf refuses to serialize a message of 2 GiB or more
_PROTOBUF_LIMIT = (1 << 31) - 1


def check_device(device: Any) -> None:
    """aimet_onnx takes device as a CUDA device id and runs on the CPU when
    CUDA is missing, whatever the id; layerout runs on the CPU always, so a
    device other than the CPU is accepted as AIMET accepts it, with a
    warning saying where the model runs."""
    if device is None or device == 0 or device == "cpu":
        return
    if getattr(device, "type", None) == "cpu":  # torch.device("cpu")
        return
    warnings.warn(f"layerout runs on the CPU: device {device!r} is not used", RuntimeWarning, stacklevel=3)


def save_model(model: Any, workdir: str) -> str:
    """Writes an onnx.ModelProto to workdir/model.onnx for the C engine,
    with its weights in model.onnx.data when the model is too large for one
    protobuf file. The caller's ModelProto is not modified."""
    import onnx
    from onnx import TensorProto

    for init in model.graph.initializer:
        if init.data_location == TensorProto.EXTERNAL:
            raise ValueError(f"initializer {init.name!r} still refers to external data: load the model "
                             "with its external data (onnx.load(path)) or pass the model's path instead")
    path = os.path.join(workdir, "model.onnx")
    if model.ByteSize() < _PROTOBUF_LIMIT:
        with open(path, "wb") as f:
            f.write(model.SerializeToString())
    else:
        # onnx.save_model moves the weights out of the message it is given:
        # work on a copy so the caller's model keeps its data
        copy = onnx.ModelProto()
        copy.CopyFrom(model)
        onnx.save_model(copy, path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location="model.onnx.data", size_threshold=1024)
    return path


class LayerOutputUtil:
    """Captures the output of every layer of an ONNX model and saves it in
    AIMET's layout, running layerout's C engine instead of ONNX Runtime.

    The dump in dir_path:

    - ``layer_output_name_order.json``: the file names in graph order;
    - ``inputs/input_K.raw`` when generate_layer_outputs is given an array,
      ``inputs/input_K/I.raw`` when given a list or tuple (as AIMET does);
    - ``outputs/layer_outputs_K/NAME.raw``: one file per graph input and node
      output (Constant nodes excepted), NAME the tensor's name with every run
      of non-word characters replaced by ``_``;
    - ``manifest.json``: names, dtypes, shapes and the sample count.

    Every sample is written completely or not at all.

    :param model: an ``onnx.ModelProto`` (saved to a private temporary file,
        weights included) or the path of a .onnx file (external data files
        beside it are found as usual). A QuantizationSimModel's model
        (``sim.model.model``, as AIMET's documentation passes it) or the
        ``aimet_onnx.quantsim.QuantizationSimModel`` itself is run as the
        sim runs it: the float graph with the sim's encodings (exported by
        AIMET), files named without ``_updated``, quantized values.
    :param dir_path: folder for the dump; by default a dump already there is
        replaced (as rerunning an AIMET script overwrites its files).
    :param device: accepted for compatibility with AIMET; the engine runs on
        the CPU (another device gives a RuntimeWarning).
    :param encodings: (keyword-only, as the extensions below: AIMET's
        constructor takes three positional arguments) an AIMET encodings
        file (0.6.1, 1.0.0 or 2.0.0) to simulate: the quantize-dequantized
        value of every encoded tensor is saved under the tensor's name, as
        QuantizationSimModel's is.

    Keyword-only extensions (the options of ``layerout generate``):
    ``naming`` ('onnx' default, or 'qnn' to name files as Qualcomm's converter
    names tensors), ``rounding`` ('half-away' as aimet_onnx, 'half-even' as
    aimet_torch), ``strict`` (encodings naming unknown tensors are an error),
    ``threads`` (0: the cores other processes leave free), ``format`` ('raw', 'npy', or
    'safetensors': one file per sample, ``outputs/layer_outputs_K.safetensors``
    keyed by NAME, read back with :func:`layerout.load_sample`), ``mode``
    ('overwrite', 'new': refuse a non-empty folder, 'append': continue its
    samples), ``layers`` (regex of tensors to save), ``op_types`` (list of op
    types whose outputs to save), ``max_memory`` (bytes of tensors held at
    once; 0: unbounded), ``subgraphs`` (also save the tensors inside
    If/Loop/Scan bodies and model-local function bodies, as ``layerout
    generate --subgraphs``; by default only graph inputs and top-level node
    outputs are saved, as AIMET saves them).

    Errors of the C library are raised as :class:`layerout.LayerOutError`
    carrying its message.
    """

    def __init__(self, model: Any, dir_path: PathLike, device: Any = 0, *, encodings: Optional[PathLike] = None,
                 naming: str = "onnx", rounding: str = "half-away", strict: bool = False, threads: int = 0,
                 format: str = "raw", mode: str = "overwrite", layers: Optional[str] = None,
                 op_types: Optional[Union[str, Sequence[str]]] = None, max_memory: int = 0,
                 subgraphs: bool = False) -> None:
        import tempfile

        given = model
        # AIMET's ONNXModel wrapper (sim.model): the ModelProto it holds
        if not hasattr(model, "SerializeToString") and hasattr(getattr(model, "model", None), "SerializeToString") \
                and not _quantsim.is_quantsim(model):
            model = model.model
        # the argument errors aimet_onnx raises, before any work
        is_path = isinstance(model, (str, os.PathLike)) or (isinstance(model, bytes) and os.path.isfile(model))
        is_proto = hasattr(model, "graph") and hasattr(model, "SerializeToString")
        is_sim = _quantsim.is_quantsim(model)
        if not (is_path or is_proto or is_sim):
            raise ModelTypeError(f"model must be an onnx.ModelProto, an aimet_onnx QuantizationSimModel or the "
                                 f"path of an .onnx file, not {type(model).__name__}")
        dir_path = os.fspath(dir_path)  # TypeError for None or a number, as AIMET's os.path.join
        if os.path.exists(dir_path) and not os.path.isdir(dir_path):
            raise FileExistsError(errno.EEXIST, "exists and is not a folder", dir_path)
        check_device(device)
        workdir = tempfile.mkdtemp(prefix="layerout-onnx-")
        try:
            sim = model if is_sim else None
            if is_proto and not is_sim:
                n = _quantsim.quantizer_count(model)
                if n:
                    sim = _quantsim.find_owner(model)
                    if sim is None:
                        raise ValueError(_quantsim.NOT_FOUND.format(n=n))
            if sim is not None:
                if encodings is not None:
                    raise ValueError("encodings= cannot be combined with a QuantizationSimModel, whose own "
                                     "encodings are used")
                model, encodings = _quantsim.sim_parts(sim, workdir)
                is_path, is_proto = False, True
            if is_path:
                model_path = os.fsdecode(model)
                if not os.path.isfile(model_path):
                    raise FileNotFoundError(errno.ENOENT, "no ONNX model at this path", model_path)
            else:
                model_path = save_model(model, workdir)
            self._engine = _core.Engine(model_path, dir_path, naming=naming, encodings=encodings,
                                        rounding=rounding, strict=strict, threads=threads, format=format,
                                        mode=mode, layers=layers, op_types=op_types, max_memory=max_memory,
                                        subgraphs=subgraphs, workdir=workdir)
        except BaseException:
            import shutil
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        self.model = given  # as AIMET keeps it
        self.dir_path = dir_path
        self.model_path = model_path
        self.quantsim = sim
        self._input_names = None

    def _check_instance(self, input_instance: Any) -> None:
        """The errors aimet_onnx's create_input_dict raises, with its types."""
        if isinstance(input_instance, dict):
            if self._input_names is None:
                self._input_names = self._engine.input_names()
            missing = [n for n in self._input_names if n not in input_instance]
            if missing:
                raise InputMismatchError(f"Required inputs ({missing}) are missing from input feed "
                                         f"({list(input_instance)}).")
            return
        if isinstance(input_instance, (list, tuple)):
            count = len(input_instance)
        elif isinstance(input_instance, np.ndarray) or type(input_instance).__name__ == "Tensor":
            count = 1
        else:
            raise ValueError("Input batch should be either dict, numpy array, list or tuple, not "
                             f"{type(input_instance).__name__}")
        if self._input_names is None:
            self._input_names = self._engine.input_names()
        if count != len(self._input_names):
            raise InputMismatchError(f"There is mismatch between number of input names and input tensors: the "
                                     f"model has {len(self._input_names)} inputs, {count} given")

    def generate_layer_outputs(self, input_instance: InputInstance) -> None:
        """Runs one input instance and saves its inputs and layer outputs as
        the next sample K (0, 1, 2, ...).

        :param input_instance: a numpy array (single-input model; saved as
            inputs/input_K.raw) or a list/tuple of arrays, one per model input
            in model order (saved as inputs/input_K/I.raw). A dict of input
            name -> array is also accepted, matched by name. Arrays are used
            with their own dtype and shape, which must fit the model.
        """
        self._check_instance(input_instance)
        self._engine.generate(input_instance)

    def get_layer_outputs(self, input_instance: InputInstance) -> Dict[str, np.ndarray]:
        """Runs one input instance and returns its layer outputs in memory,
        writing nothing to dir_path.

        :param input_instance: as for generate_layer_outputs.
        :return: dict of file name (without .raw, exactly as
            generate_layer_outputs would name the file) -> numpy array, in
            graph order. The arrays are copies owned by the caller.
        """
        self._check_instance(input_instance)
        return self._engine.layer_outputs(input_instance)

    @staticmethod
    def compare(ref_dir: PathLike, test_dir: PathLike, model: Optional[PathLike] = None,
                sqnr_min: Optional[float] = None, drop_db: Optional[float] = None) -> List[Dict[str, Any]]:
        """Compares two dumps layer by layer; see :func:`layerout.compare`."""
        return _compare(ref_dir, test_dir, model=model, sqnr_min=sqnr_min, drop_db=drop_db)

    @property
    def sample_count(self) -> int:
        """Complete samples in dir_path, earlier runs' included."""
        return self._engine.sample_count

    def close(self) -> None:
        """Frees the engine; the dump written so far stays complete."""
        self._engine.close()

    def __enter__(self) -> "LayerOutputUtil":
        return self

    def __exit__(self, *exc: Any) -> bool:
        self.close()
        return False
