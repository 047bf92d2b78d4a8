"""Reading a layerout dump's tensors back as numpy arrays, whatever its
format: .raw files (dtype and shape from manifest.json), .npy files, or one
safetensors file per sample. Needs numpy only."""

import json
import os
import struct

import numpy as np

from . import _lib

# safetensors' dtype names -> the library's dtype codes, whose numpy types
# _lib already knows (types numpy lacks keep their bytes, see _lib)
_ST_CODES = {
    "F64": _lib.LO_DOUBLE, "F32": _lib.LO_FLOAT, "F16": _lib.LO_FLOAT16, "BF16": _lib.LO_BFLOAT16,
    "I64": _lib.LO_INT64, "U64": _lib.LO_UINT64, "I32": _lib.LO_INT32, "U32": _lib.LO_UINT32,
    "I16": _lib.LO_INT16, "U16": _lib.LO_UINT16, "I8": _lib.LO_INT8, "U8": _lib.LO_UINT8,
    "BOOL": _lib.LO_BOOL, "C64": _lib.LO_COMPLEX64, "F8_E4M3": _lib.LO_FLOAT8E4M3FN,
    "F8_E5M2": _lib.LO_FLOAT8E5M2, "F8_E4M3FNUZ": _lib.LO_FLOAT8E4M3FNUZ,
    "F8_E5M2FNUZ": _lib.LO_FLOAT8E5M2FNUZ, "F8_E8M0": _lib.LO_FLOAT8E8M0,
}


def file_stem(file):
    """A manifest's file name without its .raw/.npy extension (a safetensors
    dump's names have none)."""
    return file[:-4] if file.endswith((".raw", ".npy")) else file


def read_safetensors(path):
    """{key: array} of a safetensors file, in the order of its data; and its
    __metadata__ (a dict, empty when it has none)."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise _lib.LayerOutError("%s: not a safetensors file (shorter than 8 bytes)" % path)
    (n,) = struct.unpack("<Q", blob[:8])
    if n > len(blob) - 8:
        raise _lib.LayerOutError("%s: not a safetensors file (header of %d bytes in a file of %d)"
                                 % (path, n, len(blob)))
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", None) or {}
    data = memoryview(blob)[8 + n:]
    out = {}
    for key, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        code = _ST_CODES.get(e["dtype"])
        if code is None:
            raise _lib.LayerOutError("%s: tensor %r has dtype %s, which layerout does not read"
                                     % (path, key, e["dtype"]))
        begin, end = e["data_offsets"]
        dt = _lib.NUMPY_OF[code]
        shape = tuple(e["shape"])
        if end > len(data) or end - begin != int(np.prod(shape, dtype=np.int64)) * dt.itemsize:
            raise _lib.LayerOutError("%s: tensor %r does not fit its data_offsets (truncated?)" % (path, key))
        out[key] = np.frombuffer(data[begin:end], dtype=dt).reshape(shape).copy()
    return out, meta


# the library's names (lo_dtype_name) of the types numpy lacks, as manifests spell them
_LO_NAMES = {
    "bfloat16": _lib.LO_BFLOAT16, "float8e4m3fn": _lib.LO_FLOAT8E4M3FN, "float8e4m3fnuz": _lib.LO_FLOAT8E4M3FNUZ,
    "float8e5m2": _lib.LO_FLOAT8E5M2, "float8e5m2fnuz": _lib.LO_FLOAT8E5M2FNUZ, "uint4": _lib.LO_UINT4,
    "int4": _lib.LO_INT4, "float4e2m1": _lib.LO_FLOAT4E2M1, "float8e8m0": _lib.LO_FLOAT8E8M0,
    "uint2": _lib.LO_UINT2, "int2": _lib.LO_INT2, "float6e2m3": _lib.LO_FLOAT6E2M3, "float6e3m2": _lib.LO_FLOAT6E3M2,
}


def _numpy_dtype(name):
    """The manifest's dtype name (numpy's, or the library's for types numpy lacks)."""
    if name in _LO_NAMES:
        return _lib.NUMPY_OF[_LO_NAMES[name]]
    if name == "string":
        raise _lib.LayerOutError("string tensors are saved as NUL-terminated strings; read them with .split(b'\\0')")
    return np.dtype(name)


def load_sample(dump_dir, sample=0):
    """Sample ``sample``'s saved tensors of a layerout dump: {file stem:
    numpy array}, in the order of layer_output_name_order.json. Reads every
    format generate writes (raw, npy, safetensors)."""
    with open(os.path.join(dump_dir, "manifest.json")) as f:
        manifest = json.load(f)
    if not 0 <= sample < manifest["samples"]:
        raise _lib.LayerOutError("%s holds %d complete samples; there is no sample %d"
                                 % (dump_dir, manifest["samples"], sample))
    fmt = manifest.get("format", "raw")
    outputs = os.path.join(dump_dir, "outputs")
    entries = manifest["tensors"]
    if fmt == "safetensors":
        tensors, _ = read_safetensors(os.path.join(outputs, "layer_outputs_%d.safetensors" % sample))
        return {e["file"]: tensors[e["file"]] for e in entries if e["file"] in tensors}
    folder = os.path.join(outputs, "layer_outputs_%d" % sample)
    out = {}
    for e in entries:
        path = os.path.join(folder, e["file"])
        stem = file_stem(e["file"])
        if not os.path.exists(path):
            continue  # a tensor this sample did not produce (a loop's extra iteration)
        if fmt == "npy":
            out[stem] = np.load(path)
        else:
            out[stem] = np.fromfile(path, dtype=_numpy_dtype(e["dtype"])).reshape(e["shape"])
    return out
