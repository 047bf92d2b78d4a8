"""A drop-in for aimet_onnx.layer_output_utils.LayerOutputUtil on layerout's
C engine.

    # from aimet_onnx.layer_output_utils import LayerOutputUtil
    from layerout.onnx import LayerOutputUtil

    util = LayerOutputUtil(model, dir_path="./dump")          # onnx.ModelProto or a path
    for batch in data:
        util.generate_layer_outputs(batch)                    # sample 0, 1, 2, ...
"""

import os

from . import _core
from ._core import compare as _compare
from ._lib import LayerOutError

__all__ = ["LayerOutputUtil", "LayerOutError"]

# protobuf refuses to serialize a message of 2 GiB or more
_PROTOBUF_LIMIT = (1 << 31) - 1


def check_device(device):
    """Accepts what means "the CPU" to the caller; layerout has no other
    device, and silently running elsewhere than asked would mislead."""
    if device is None or device == 0 or device == "cpu":
        return
    if getattr(device, "type", None) == "cpu":  # torch.device("cpu")
        return
    raise ValueError(f"layerout runs on the CPU only: device {device!r} is not available "
                     "(pass device=0 or 'cpu')")


def save_model(model, workdir):
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
        beside it are found as usual).
    :param dir_path: folder for the dump; by default a dump already there is
        replaced (as rerunning an AIMET script overwrites its files).
    :param device: accepted for compatibility with AIMET; the engine runs on
        the CPU, so anything but 0 or ``'cpu'`` is a ValueError.
    :param encodings: an AIMET encodings file (0.6.1, 1.0.0 or 2.0.0) to
        simulate: the quantize-dequantized value of every encoded tensor is
        saved under the tensor's name, as QuantizationSimModel's is.

    Keyword-only extensions (the options of ``layerout generate``):
    ``naming`` ('onnx' default, or 'qnn' to name files as Qualcomm's converter
    names tensors), ``rounding`` ('half-away' as aimet_onnx, 'half-even' as
    aimet_torch), ``strict`` (encodings naming unknown tensors are an error),
    ``threads`` (0: all cores), ``format`` ('raw' or 'npy'), ``mode``
    ('overwrite', 'new': refuse a non-empty folder, 'append': continue its
    samples), ``layers`` (regex of tensors to save), ``op_types`` (list of op
    types whose outputs to save), ``max_memory`` (bytes of tensors held at
    once; 0: unbounded).

    Errors of the C library are raised as :class:`layerout.LayerOutError`
    carrying its message.
    """

    def __init__(self, model, dir_path, device=0, encodings=None, *, naming="onnx", rounding="half-away",
                 strict=False, threads=0, format="raw", mode="overwrite", layers=None, op_types=None,
                 max_memory=0):
        import tempfile

        check_device(device)
        workdir = tempfile.mkdtemp(prefix="layerout-onnx-")
        try:
            if isinstance(model, (str, bytes, os.PathLike)):
                model_path = os.fsdecode(model)
                if not os.path.isfile(model_path):
                    raise FileNotFoundError(f"no ONNX model at '{model_path}'")
            elif hasattr(model, "graph") and hasattr(model, "SerializeToString"):
                model_path = save_model(model, workdir)
            else:
                raise TypeError(f"model must be an onnx.ModelProto or a path, not {type(model).__name__}")
            self._engine = _core.Engine(model_path, dir_path, naming=naming, encodings=encodings,
                                        rounding=rounding, strict=strict, threads=threads, format=format,
                                        mode=mode, layers=layers, op_types=op_types, max_memory=max_memory,
                                        workdir=workdir)
        except BaseException:
            import shutil
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        self.dir_path = dir_path
        self.model_path = model_path

    def generate_layer_outputs(self, input_instance):
        """Runs one input instance and saves its inputs and layer outputs as
        the next sample K (0, 1, 2, ...).

        :param input_instance: a numpy array (single-input model; saved as
            inputs/input_K.raw) or a list/tuple of arrays, one per model input
            in model order (saved as inputs/input_K/I.raw). A dict of input
            name -> array is also accepted, matched by name. Arrays are used
            with their own dtype and shape, which must fit the model.
        """
        self._engine.generate(input_instance)

    def get_layer_outputs(self, input_instance):
        """Runs one input instance and returns its layer outputs in memory,
        writing nothing to dir_path.

        :param input_instance: as for generate_layer_outputs.
        :return: dict of file name (without .raw, exactly as
            generate_layer_outputs would name the file) -> numpy array, in
            graph order. The arrays are copies owned by the caller.
        """
        return self._engine.layer_outputs(input_instance)

    @staticmethod
    def compare(ref_dir, test_dir, model=None, sqnr_min=None, drop_db=None):
        """Compares two dumps layer by layer; see :func:`layerout.compare`."""
        return _compare(ref_dir, test_dir, model=model, sqnr_min=sqnr_min, drop_db=drop_db)

    @property
    def sample_count(self):
        """Complete samples in dir_path, earlier runs' included."""
        return self._engine.sample_count

    def close(self):
        """Frees the engine; the dump written so far stays complete."""
        self._engine.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
