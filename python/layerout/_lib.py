"""ctypes binding of liblayerout's public header (include/layerout.h).

Only this module knows the C structs; the rest of the package talks in numpy
arrays and Python exceptions. The structs below mirror the header field by
field; ctypes cannot read the header, so any change to it must be repeated
here. What the library can tell is checked when it loads (check_layouts): the
struct_size each *_init writes is C's sizeof, and an embedded options struct
must sit where the mirror puts it, so a mirror that drifted fails at once
instead of passing fields to the wrong places.
"""

import ctypes
import ctypes.util
import os
import shutil
import time

import numpy as np

# ---- enums (values of the header) -------------------------------------------------

LO_OK = 0
LO_ERR_INTERRUPTED = 8

STATUS_NAMES = {
    0: "ok", 1: "io", 2: "model", 3: "unsupported", 4: "input", 5: "argument",
    6: "encodings", 7: "nomem", 8: "interrupted", 9: "runtime",
}

LO_FLOAT, LO_UINT8, LO_INT8, LO_UINT16, LO_INT16, LO_INT32, LO_INT64 = 1, 2, 3, 4, 5, 6, 7
LO_STRING, LO_BOOL, LO_FLOAT16, LO_DOUBLE, LO_UINT32, LO_UINT64 = 8, 9, 10, 11, 12, 13
LO_COMPLEX64, LO_COMPLEX128, LO_BFLOAT16 = 14, 15, 16
LO_FLOAT8E4M3FN, LO_FLOAT8E4M3FNUZ, LO_FLOAT8E5M2, LO_FLOAT8E5M2FNUZ = 17, 18, 19, 20
LO_UINT4, LO_INT4, LO_FLOAT4E2M1 = 21, 22, 23
LO_FLOAT8E8M0, LO_UINT2, LO_INT2, LO_FLOAT6E2M3, LO_FLOAT6E3M2 = 24, 25, 26, 27, 28

LO_MAX_RANK = 8

FORMATS = {"raw": 0, "npy": 1, "safetensors": 2}
DIR_MODES = {"new": 0, "overwrite": 1, "append": 2}
NAMINGS = {"onnx": 0, "qnn": 1, "pytorch": 2, "torchscript": 3}
ROUNDINGS = {"half-away": 0, "half-even": 1}


def _numpy_dtypes():
    """lo_dtype -> numpy dtype of the bytes the library hands over.

    Types numpy lacks keep their bytes: bfloat16 as uint16, the 8-, 6- and
    4-bit floats as uint8 and the 2-bit integers as (u)int8 (one element per
    byte, as the library holds them),
    unless ml_dtypes is installed, whose types are bit-compatible."""
    table = {
        LO_FLOAT: np.float32, LO_UINT8: np.uint8, LO_INT8: np.int8, LO_UINT16: np.uint16,
        LO_INT16: np.int16, LO_INT32: np.int32, LO_INT64: np.int64, LO_BOOL: np.bool_,
        LO_FLOAT16: np.float16, LO_DOUBLE: np.float64, LO_UINT32: np.uint32, LO_UINT64: np.uint64,
        LO_COMPLEX64: np.complex64, LO_COMPLEX128: np.complex128, LO_BFLOAT16: np.uint16,
        LO_FLOAT8E4M3FN: np.uint8, LO_FLOAT8E4M3FNUZ: np.uint8, LO_FLOAT8E5M2: np.uint8,
        LO_FLOAT8E5M2FNUZ: np.uint8, LO_UINT4: np.uint8, LO_INT4: np.int8, LO_FLOAT4E2M1: np.uint8,
        LO_FLOAT8E8M0: np.uint8, LO_UINT2: np.uint8, LO_INT2: np.int8, LO_FLOAT6E2M3: np.uint8,
        LO_FLOAT6E3M2: np.uint8,
    }
    try:
        import ml_dtypes  # optional: gives the exotic floats their real numpy types
        for code, attr in ((LO_BFLOAT16, "bfloat16"), (LO_FLOAT8E4M3FN, "float8_e4m3fn"),
                           (LO_FLOAT8E4M3FNUZ, "float8_e4m3fnuz"), (LO_FLOAT8E5M2, "float8_e5m2"),
                           (LO_FLOAT8E5M2FNUZ, "float8_e5m2fnuz"), (LO_UINT4, "uint4"),
                           (LO_INT4, "int4"), (LO_FLOAT4E2M1, "float4_e2m1fn"),
                           (LO_FLOAT8E8M0, "float8_e8m0fnu"), (LO_UINT2, "uint2"), (LO_INT2, "int2"),
                           (LO_FLOAT6E2M3, "float6_e2m3fn"), (LO_FLOAT6E3M2, "float6_e3m2fn")):
            if hasattr(ml_dtypes, attr):
                table[code] = getattr(ml_dtypes, attr)
    except ImportError:
        pass
    return {k: np.dtype(v) for k, v in table.items()}


NUMPY_OF = _numpy_dtypes()
# The reverse, for inputs: the first lo_dtype listed for a numpy type wins,
# so uint16 means LO_UINT16, not bfloat16.
LO_OF = {}
for _code, _dt in sorted(NUMPY_OF.items()):
    LO_OF.setdefault(_dt, _code)


# ---- structs ------------------------------------------------------------------------

class LoError(ctypes.Structure):
    _fields_ = [("status", ctypes.c_int), ("message", ctypes.c_char * 1024)]


class LoTensorView(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("dtype", ctypes.c_int),
        ("rank", ctypes.c_int),
        ("dims", ctypes.POINTER(ctypes.c_int64)),
        ("data", ctypes.c_void_p),
        ("nbytes", ctypes.c_size_t),
    ]


class LoLayerOutput(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("node_name", ctypes.c_char_p),
        ("op_type", ctypes.c_char_p),
        ("iteration", ctypes.c_int),
        ("is_graph_input", ctypes.c_int),
        ("encoding", ctypes.c_char_p),
        ("tensor", LoTensorView),
        ("block", ctypes.c_void_p),
        ("nested", ctypes.c_int),
    ]


class LoModelOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("encodings", ctypes.c_char_p), ("rounding", ctypes.c_int),
                ("strict", ctypes.c_int)]


class LoSessionOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("threads", ctypes.c_int), ("profile", ctypes.c_int),
                ("max_memory", ctypes.c_size_t), ("subgraphs", ctypes.c_int), ("reference_kernels", ctypes.c_int),
                ("fusion", ctypes.c_int)]


class LoGeneratorOptions(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("format", ctypes.c_int),
        ("mode", ctypes.c_int),
        ("model", LoModelOptions),
        ("session", LoSessionOptions),
        ("naming", ctypes.c_int),
        ("name_map", ctypes.c_char_p),
        ("all_tensors", ctypes.c_int),
        ("layers", ctypes.c_char_p),
        ("op_types", ctypes.c_char_p),
        ("input_folder", ctypes.c_int),
        ("shard_index", ctypes.c_int),
        ("shard_count", ctypes.c_int),
        ("shard_samples", ctypes.c_int),
    ]


class LoCompareSettings(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("model", ctypes.c_char_p), ("sqnr_min", ctypes.c_double),
                ("drop_db", ctypes.c_double), ("text", ctypes.c_void_p), ("top", ctypes.c_int)]


OBSERVER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(LoLayerOutput),
                            ctypes.POINTER(LoError))


# ---- errors -----------------------------------------------------------------------------

class LayerOutError(RuntimeError):
    """An error reported by liblayerout (or the layerout command).

    ``status`` is the library's lo_status code and ``status_name`` its short
    name ("model", "input", "encodings", ...); the message is the library's
    own, naming what was wrong."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status
        self.status_name = STATUS_NAMES.get(status, "unknown") if status is not None else None


def check(status, err):
    """Raises LayerOutError with the C message unless status is LO_OK."""
    if status != LO_OK:
        msg = err.message.decode("utf-8", "replace") or f"liblayerout failed ({STATUS_NAMES.get(status, status)})"
        raise LayerOutError(msg, status)


# ---- finding the library and the command --------------------------------------------------

_HERE = os.path.dirname(os.path.abspath(__file__))
_lib = None
_lib_path = None


def _candidates():
    """Where liblayerout is looked for, in order: inside this package (where
    `pip install ./python` puts it), $LAYEROUT_LIBRARY, the repository's build
    folder (a source checkout used in place), where `cmake --install` puts it,
    then the loader's search path."""
    for name in ("liblayerout.so", "liblayerout.so.0"):
        yield os.path.join(_HERE, name)
    env = os.environ.get("LAYEROUT_LIBRARY")
    if env:
        # an explicit choice: falling back silently past it would run a
        # library other than the one asked for
        yield env
        return
    yield os.path.join(os.path.dirname(os.path.dirname(_HERE)), "build", "liblayerout.so")
    # GNUInstallDirs: lib under /usr/local, the multiarch folder under /usr
    for d in ("/usr/local/lib", "/usr/local/lib64", "/usr/local/lib/x86_64-linux-gnu",
              "/usr/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib64"):
        for name in ("liblayerout.so", "liblayerout.so.0"):
            yield os.path.join(d, name)
    found = ctypes.util.find_library("layerout")
    if found:
        yield found


def library_path() -> str:
    """The path of the liblayerout.so this package uses (loading it if needed)."""
    load()
    return _lib_path


def _cores_busy():
    """Whether other processes keep one of our cores busy, by the rule of
    lo_default_threads (src/exec/exec.c), which cannot be called before the
    library, and with it libgomp, is loaded: the smaller of the rounded
    1-minute load average and the other runnable threads right now (the
    least of up to 5 readings 2 ms apart); never
    on a machine where we are confined to fewer cores than it has."""
    try:
        cores = len(os.sched_getaffinity(0))
        if cores <= 1 or cores != os.cpu_count():
            return False
        by_now = None
        for k in range(5):  # the least of up to 5 readings, 2 ms apart
            if k:
                time.sleep(0.002)
            with open("/proc/loadavg") as f:
                fields = f.read().split()
            now = int(fields[3].split("/")[0]) - 1
            by_now = now if by_now is None else min(by_now, now)
            if by_now == 0:
                break
        by_load = int(float(fields[0]) + 0.5)
        return min(by_load, by_now) > 0
    except (OSError, ValueError, IndexError):
        return False


def load(saves_every_layer=False):
    """Loads liblayerout once and declares the functions used.
    saves_every_layer: the first caller will write every layer (the OpenMP
    spin is then short, as the command chooses it for `generate` without
    --layers/--op-types)."""
    global _lib, _lib_path
    if _lib is not None:
        return _lib
    tried = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append(path)
            continue
        try:
            # libgomp reads its barrier policy when it loads: a short spin
            # when other processes keep a core busy or every layer is
            # written (the writer thread needs the core a spinning thread
            # would hold), a long one otherwise (measured in src/cli/main.c);
            # a policy the user set is kept
            if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
                os.environ["GOMP_SPINCOUNT"] = "300" if saves_every_layer or _cores_busy() else "20000"
            lib = ctypes.CDLL(path)
        except OSError as e:
            tried.append(f"{path} ({e})")
            continue
        _declare(lib)
        check_layouts(lib)
        _lib, _lib_path = lib, os.path.realpath(path) if os.path.exists(path) else path
        return _lib
    raise LayerOutError("cannot find liblayerout.so: install the package with `pip install ./python` "
                        "(it builds the library into the package), or build it (cmake --build build) and "
                        "set LAYEROUT_LIBRARY to its path; tried "
                        + ", ".join(tried))


def _declare(lib):
    c = ctypes
    P = c.POINTER
    sigs = {
        "lo_version": (c.c_char_p, []),
        "lo_status_name": (c.c_char_p, [c.c_int]),
        "lo_model_options_init": (None, [P(LoModelOptions)]),
        "lo_model_load_ex": (c.c_int, [c.c_char_p, P(LoModelOptions), P(c.c_void_p), P(LoError)]),
        "lo_model_warnings": (c.c_char_p, [c.c_void_p]),
        "lo_model_free": (None, [c.c_void_p]),
        "lo_model_input_count": (c.c_int, [c.c_void_p]),
        "lo_model_input_name": (c.c_char_p, [c.c_void_p, c.c_int]),
        "lo_model_input_dtype": (c.c_int, [c.c_void_p, c.c_int]),
        "lo_model_input_rank": (c.c_int, [c.c_void_p, c.c_int]),
        "lo_model_input_dim": (c.c_int64, [c.c_void_p, c.c_int, c.c_int]),
        "lo_session_options_init": (None, [P(LoSessionOptions)]),
        "lo_session_create": (c.c_int, [c.c_void_p, P(LoSessionOptions), P(c.c_void_p), P(LoError)]),
        "lo_session_run": (c.c_int, [c.c_void_p, P(LoTensorView), c.c_int, OBSERVER, c.c_void_p, P(LoError)]),
        "lo_session_free": (None, [c.c_void_p]),
        "lo_generator_options_init": (None, [P(LoGeneratorOptions)]),
        "lo_generator_create": (c.c_int, [c.c_char_p, c.c_char_p, P(LoGeneratorOptions), P(c.c_void_p),
                                          P(LoError)]),
        "lo_generator_generate": (c.c_int, [c.c_void_p, P(LoTensorView), c.c_int, P(LoError)]),
        "lo_generator_sample_count": (c.c_int, [c.c_void_p]),
        "lo_generator_model": (c.c_void_p, [c.c_void_p]),
        "lo_generator_free": (None, [c.c_void_p]),
        "lo_compare_settings_init": (None, [P(LoCompareSettings)]),
        "lo_compare_dumps": (c.c_int, [c.c_char_p, c.c_char_p, P(LoCompareSettings), c.c_char_p, c.c_char_p,
                                       c.c_char_p, P(c.c_int), P(LoError)]),
    }
    for name, (restype, argtypes) in sigs.items():
        f = getattr(lib, name)
        f.restype = restype
        f.argtypes = argtypes


# the options structs and the *_init that sets their struct_size
OPTION_STRUCTS = (("lo_model_options_init", LoModelOptions), ("lo_session_options_init", LoSessionOptions),
                  ("lo_generator_options_init", LoGeneratorOptions),
                  ("lo_compare_settings_init", LoCompareSettings))


def check_layouts(lib, structs=OPTION_STRUCTS):
    """Raises LayerOutError when a mirrored options struct's size, or the
    place and size of an options struct it embeds, differs from the C
    library's. The *_init runs on a buffer larger than any mirror, so a
    mirror smaller than C's struct cannot be overrun."""
    for init_name, cls in structs:
        buf = (ctypes.c_size_t * 512)()  # size_t-aligned, 4 KiB
        init = getattr(lib, init_name)
        init(ctypes.cast(buf, init.argtypes[0]))
        raw = ctypes.string_at(buf, ctypes.sizeof(buf))

        def size_at(offset):
            return ctypes.c_size_t.from_buffer_copy(raw, offset).value

        where = [("", 0, cls)] + [(f".{name}", getattr(cls, name).offset, t) for name, t in cls._fields_
                                  if isinstance(t, type) and issubclass(t, ctypes.Structure)
                                  and t._fields_[0][0] == "struct_size"]
        for field, offset, t in where:
            if size_at(offset) != ctypes.sizeof(t):
                raise LayerOutError(
                    f"{init_name} sets {cls.__name__}{field}.struct_size {size_at(offset)} at offset {offset}, "
                    f"but the Python mirror is {ctypes.sizeof(t)} bytes: the package and liblayerout "
                    f"({getattr(lib, '_name', '?')}) disagree on include/layerout.h")


def version() -> str:
    """liblayerout's version string."""
    return load().lo_version().decode()


def find_binary() -> str:
    """The `layerout` command: $LAYEROUT_BINARY, else beside the library
    (a build folder holds both; an install puts it in ../bin), else PATH."""
    env = os.environ.get("LAYEROUT_BINARY")
    if env:
        return env
    lib_dir = os.path.dirname(library_path())
    for cand in (os.path.join(lib_dir, "layerout"), os.path.join(lib_dir, "..", "bin", "layerout"),
                 os.path.join(lib_dir, "..", "..", "bin", "layerout")):
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return os.path.normpath(cand)
    found = shutil.which("layerout")
    if found:
        return found
    raise LayerOutError("cannot find the layerout command: put it on PATH or "
                        "set LAYEROUT_BINARY")


# ---- tensors --------------------------------------------------------------------------------

class InputViews:
    """lo_tensor_view array for a list of numpy arrays; holds every buffer the
    views point into for as long as it lives."""

    def __init__(self, arrays, names=None):
        n = len(arrays)
        self.views = (LoTensorView * max(n, 1))()
        self.count = n
        self._keep = []
        for i, a in enumerate(arrays):
            v = self.views[i]
            if a.dtype.kind in "USO":
                # strings: an array of NUL-terminated char pointers
                flat = [str(s).encode("utf-8") for s in a.reshape(-1)]
                ptrs = (ctypes.c_char_p * max(len(flat), 1))(*flat)
                self._keep += [flat, ptrs]
                code, data = LO_STRING, ctypes.cast(ptrs, ctypes.c_void_p)
                nbytes = len(flat) * ctypes.sizeof(ctypes.c_char_p)
            else:
                # the library reads C-order little-endian bytes of the array's own type
                # (ascontiguousarray alone makes a 0-d array 1-d: keep scalars scalars)
                a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("=")).reshape(a.shape)
                code = LO_OF.get(np.dtype(a.dtype))
                if code is None:
                    raise TypeError(f"input {i}: numpy dtype {a.dtype} has no ONNX equivalent")
                data, nbytes = ctypes.c_void_p(a.ctypes.data), a.nbytes
                self._keep.append(a)
            dims = (ctypes.c_int64 * max(a.ndim, 1))(*a.shape)
            self._keep.append(dims)
            v.dtype, v.rank, v.dims, v.data, v.nbytes = code, a.ndim, dims, data, nbytes
            if names and names[i]:
                b = names[i].encode()
                self._keep.append(b)
                v.name = b


def copy_tensor(view):
    """A numpy array holding a copy of a lo_tensor_view's data (the library's
    buffer is valid only during the observer call)."""
    shape = tuple(view.dims[d] for d in range(view.rank))
    if view.dtype == LO_STRING:
        count = int(np.prod(shape, dtype=np.int64))
        ptrs = ctypes.cast(view.data, ctypes.POINTER(ctypes.c_char_p))
        out = np.empty(count, dtype=object)
        for i in range(count):
            out[i] = ptrs[i].decode("utf-8", "replace")
        return out.reshape(shape)
    dt = NUMPY_OF.get(view.dtype)
    if dt is None:
        raise LayerOutError(f"tensor of unknown element type {view.dtype}")
    arr = np.empty(shape, dtype=dt)
    if arr.nbytes != view.nbytes:
        raise LayerOutError(f"tensor {view.name!r}: {view.nbytes} bytes for shape {shape} of {dt}")
    if arr.nbytes:
        ctypes.memmove(arr.ctypes.data, view.data, arr.nbytes)
    return arr
