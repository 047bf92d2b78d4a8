"""layerout: every layer's output of an ONNX model, in AIMET's layout, from
layerout's C engine (liblayerout.so through ctypes).

Drop-ins for AIMET's LayerOutputUtil:

- ``layerout.onnx.LayerOutputUtil`` for aimet_onnx's (an ONNX model),
- ``layerout.torch.LayerOutputUtil`` and ``layerout.torch.NamingScheme`` for
  aimet_torch's (a PyTorch module, exported to ONNX once).

``layerout.compare(ref_dir, test_dir)`` compares two dumps layer by layer;
``layerout.load_sample(dump_dir, k)`` gives sample k's tensors as numpy
arrays, whatever the dump's format (raw, npy, safetensors).
The library is found through $LAYEROUT_LIBRARY, beside the package, or where
``cmake --install`` puts it. The submodules import onnx and torch only when
used, so ``import layerout`` needs nothing but numpy.
"""

from ._core import compare
from ._dump import load_sample, read_safetensors
from ._lib import LayerOutError, library_path, version

__version__ = "0.1.0"
__all__ = ["compare", "load_sample", "read_safetensors", "LayerOutError", "library_path", "version", "__version__"]
