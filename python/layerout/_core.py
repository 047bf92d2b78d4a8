"""The engine behind both LayerOutputUtil classes: one model file, a
generator that writes the dump, and (made on first use) a session whose
observer hands every layer output to Python."""

import ctypes
import json
import os
import shutil
import tempfile
import weakref
from typing import Any, Dict, List, Optional

import numpy as np

from . import _dump, _lib
from ._lib import LayerOutError


def _opt_bytes(value):
    return None if value is None else os.fsencode(value) if isinstance(value, os.PathLike) else str(value).encode()


def as_input_list(input_instance):
    """(arrays, names, as_folder) for what the caller passed.

    AIMET decides the inputs/ layout by the type it is given, not by how many
    inputs the model has: a list or tuple is written as input_K/I.raw even
    when it holds one array, a bare array as input_K.raw. A dict (name ->
    array) is matched by name and written like a list."""
    if isinstance(input_instance, dict):
        names = list(input_instance)
        return [np.asarray(input_instance[n]) for n in names], names, True
    if isinstance(input_instance, (list, tuple)):
        return [np.asarray(a) for a in input_instance], None, True
    return [np.asarray(input_instance)], None, False


def _clean(tmpdir):
    shutil.rmtree(tmpdir, ignore_errors=True)


class Engine:
    """Runs one ONNX model file with layerout's C engine.

    Not meant to be used directly: see layerout.onnx.LayerOutputUtil and
    layerout.torch.LayerOutputUtil."""

    def __init__(self, model_path, dir_path, *, naming="onnx", name_map=None, all_tensors=False,
                 encodings=None, rounding="half-away", strict=False, threads=0, format="raw",
                 mode="overwrite", layers=None, op_types=None, max_memory=0, subgraphs=False, workdir=None):
        self._lib = _lib.load(saves_every_layer=dir_path is not None and layers is None and op_types is None)
        self._gen = None
        self._model = None
        self._session = None
        # a private folder for the learning runs of get_layer_outputs (and
        # whatever the caller's wrapper puts there, such as an exported model)
        self.workdir = workdir or tempfile.mkdtemp(prefix="layerout-")
        self._finalizer = weakref.finalize(self, _clean, self.workdir)
        self.model_path = os.fspath(model_path)
        self.dir_path = os.fspath(dir_path) if dir_path is not None else None
        for what, value, table in (("naming", naming, _lib.NAMINGS), ("rounding", rounding, _lib.ROUNDINGS),
                                   ("format", format, _lib.FORMATS), ("mode", mode, _lib.DIR_MODES)):
            if value not in table:
                raise ValueError(f"{what} must be one of {', '.join(table)}, not {value!r}")
        if isinstance(name_map, dict):
            path = os.path.join(self.workdir, "name_map.json")
            with open(path, "w") as f:
                json.dump(name_map, f)
            name_map = path
        if isinstance(op_types, (list, tuple)):
            op_types = ",".join(op_types)
        self._settings = dict(naming=naming, name_map=name_map, all_tensors=all_tensors, encodings=encodings,
                              rounding=rounding, strict=strict, threads=threads, format=format,
                              layers=layers, op_types=op_types, max_memory=max_memory, subgraphs=subgraphs)
        self._mode = mode
        self._as_folder = False
        # ONNX name (with __iterN) -> file stem, learnt from a generator's
        # manifest; None: not learnt yet
        self._stems = None
        self._known = set()
        if self.dir_path is not None:
            self._gen = self._create_generator(self.dir_path, mode, False)

    # ---- C objects ---------------------------------------------------------------

    def _generator_options(self, mode, as_folder):
        s = self._settings
        o = _lib.LoGeneratorOptions()
        self._lib.lo_generator_options_init(ctypes.byref(o))
        o.format = _lib.FORMATS[s["format"]]
        o.mode = _lib.DIR_MODES[mode]
        self._session_options(o.session)
        o.model.encodings = _opt_bytes(s["encodings"])
        o.model.rounding = _lib.ROUNDINGS[s["rounding"]]
        o.model.strict = int(bool(s["strict"]))
        o.naming = _lib.NAMINGS[s["naming"]]
        o.name_map = _opt_bytes(s["name_map"])
        o.all_tensors = int(bool(s["all_tensors"]))
        o.layers = _opt_bytes(s["layers"])
        o.op_types = _opt_bytes(s["op_types"])
        o.input_folder = int(bool(as_folder))
        return o

    def _session_options(self, so):
        """Fills an initialised LoSessionOptions (a session's, or the one a
        generator's options embed) from the settings."""
        s = self._settings
        so.threads = int(s["threads"])
        so.max_memory = int(s["max_memory"])
        so.subgraphs = int(bool(s["subgraphs"]))

    def _create_generator(self, dir_path, mode, as_folder):
        opt = self._generator_options(mode, as_folder)
        gen = ctypes.c_void_p()
        err = _lib.LoError()
        st = self._lib.lo_generator_create(os.fsencode(self.model_path), os.fsencode(dir_path),
                                           ctypes.byref(opt), ctypes.byref(gen), ctypes.byref(err))
        _lib.check(st, err)
        return gen

    def _ensure_session(self):
        if self._session is not None:
            return
        s = self._settings
        mo = _lib.LoModelOptions()
        self._lib.lo_model_options_init(ctypes.byref(mo))
        mo.encodings = _opt_bytes(s["encodings"])
        mo.rounding = _lib.ROUNDINGS[s["rounding"]]
        mo.strict = int(bool(s["strict"]))
        model = ctypes.c_void_p()
        err = _lib.LoError()
        _lib.check(self._lib.lo_model_load_ex(os.fsencode(self.model_path), ctypes.byref(mo),
                                              ctypes.byref(model), ctypes.byref(err)), err)
        so = _lib.LoSessionOptions()
        self._lib.lo_session_options_init(ctypes.byref(so))
        self._session_options(so)
        session = ctypes.c_void_p()
        st = self._lib.lo_session_create(model, ctypes.byref(so), ctypes.byref(session), ctypes.byref(err))
        if st != _lib.LO_OK:
            self._lib.lo_model_free(model)
            _lib.check(st, err)
        self._model, self._session = model, session

    def close(self):
        """Frees the C objects and the private temporary folder. The dump
        written so far stays complete."""
        if self._gen is not None:
            self._lib.lo_generator_free(self._gen)
            self._gen = None
        if self._session is not None:
            self._lib.lo_session_free(self._session)  # before its model, which it references
            self._session = None
        if self._model is not None:
            self._lib.lo_model_free(self._model)
            self._model = None
        self._finalizer()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # ---- model facts ----------------------------------------------------------------

    def input_names(self):
        """The model's inputs (initializers excepted), in model order."""
        model = self._lib.lo_generator_model(self._gen) if self._gen is not None else None
        if not model:
            self._ensure_session()
            model = self._model
        n = self._lib.lo_model_input_count(model)
        return [self._lib.lo_model_input_name(model, i).decode() for i in range(n)]

    @property
    def sample_count(self):
        """Complete samples in the dump folder."""
        return self._lib.lo_generator_sample_count(self._gen) if self._gen is not None else 0

    # ---- writing a dump --------------------------------------------------------------

    def generate(self, input_instance):
        """Runs one input instance and writes it as the next sample."""
        if self._gen is None:
            raise LayerOutError("this LayerOutputUtil has no output folder")
        arrays, names, as_folder = as_input_list(input_instance)
        if as_folder != self._as_folder:
            # The inputs/ layout is a generator option; the caller switched
            # between a bare array and a list, so continue the same dump
            # with the other layout (before any sample: start it afresh).
            mode = "append" if self.sample_count > 0 else self._mode_after_create()
            self._lib.lo_generator_free(self._gen)
            self._gen = None
            self._gen = self._create_generator(self.dir_path, mode, as_folder)
            self._as_folder = as_folder
        views = _lib.InputViews(arrays, names)
        err = _lib.LoError()
        _lib.check(self._lib.lo_generator_generate(self._gen, views.views, views.count, ctypes.byref(err)), err)

    def _mode_after_create(self):
        # The first generator made the folder, with at most empty inputs/ and
        # outputs/ in it; "new" accepts that, and the other modes already
        # did their work on the first creation.
        return "new" if self._mode != "append" else "append"

    # ---- layer outputs in memory ---------------------------------------------------------

    def _learn_stems(self, arrays, names, as_folder):
        """Learns each tensor's file stem under the naming scheme from the
        manifest of a private one-sample dump: the naming rules (pytorch
        module calls, clashes, long names) live in the C library, and this
        keeps get_layer_outputs' keys identical to the file names."""
        d = os.path.join(self.workdir, "learn")
        gen = self._create_generator(d, "overwrite", as_folder)
        try:
            views = _lib.InputViews(arrays, names)
            err = _lib.LoError()
            _lib.check(self._lib.lo_generator_generate(gen, views.views, views.count, ctypes.byref(err)), err)
        finally:
            self._lib.lo_generator_free(gen)
        with open(os.path.join(d, "manifest.json")) as f:
            manifest = json.load(f)
        shutil.rmtree(d, ignore_errors=True)
        # a safetensors dump's files are bare stems; a name map may put dots in one
        self._stems = {e["name"]: _dump.file_stem(e["file"]) for e in manifest["tensors"]}

    def layer_outputs(self, input_instance):
        """{file stem: array} for one input instance, in graph order, without
        writing files."""
        arrays, names, as_folder = as_input_list(input_instance)
        self._ensure_session()
        if self._stems is None:
            self._learn_stems(arrays, names, as_folder)
        captured, seen = self._run(arrays, names)
        if seen - self._known - set(self._stems):
            # tensors the learning run did not have (a Loop that ran more
            # iterations this time): learn the names again with this input
            # (their data was copied already: unknown keys are always kept)
            self._learn_stems(arrays, names, as_folder)
        self._known |= seen
        return {self._stems[k]: v for k, v in captured.items() if k in self._stems}

    def _run(self, arrays, names):
        stems, known = self._stems, self._known
        captured, seen = {}, set()
        failure = []

        def observer(_user, out_ptr, err_ptr):
            try:
                o = out_ptr.contents
                key = o.name.decode("utf-8", "surrogateescape")
                if o.iteration >= 0:
                    key = f"{key}__iter{o.iteration}"
                seen.add(key)
                # copy only what gets a name (or may, once learnt again):
                # the data is the library's and dies with the call
                if key in stems or key not in known:
                    captured[key] = _lib.copy_tensor(o.tensor)
                return _lib.LO_OK
            except BaseException as e:  # must not unwind through C; re-raised below
                failure.append(e)
                msg = f"Python observer failed: {type(e).__name__}: {e}".encode()[:1000]
                err_ptr.contents.status = _lib.LO_ERR_INTERRUPTED
                err_ptr.contents.message = msg
                return _lib.LO_ERR_INTERRUPTED

        callback = _lib.OBSERVER(observer)
        views = _lib.InputViews(arrays, names)
        err = _lib.LoError()
        st = self._lib.lo_session_run(self._session, views.views, views.count, callback, None, ctypes.byref(err))
        if failure:
            raise failure[0]
        _lib.check(st, err)
        return captured, seen


# ---- compare -------------------------------------------------------------------------------

_METRIC_KEYS = {"sqnr_db", "cosine", "mse", "mean_abs_err", "max_abs_err", "rel_l2", "atol", "rtol",
                "sqnr_min_db", "input_sqnr_db", "sqnr_db_pooled", "sqnr_db_min_sample"}
_NON_FINITE = {"inf", "-inf", "nan"}


def _numbers(obj):
    """The JSON report writes non-finite metrics as "inf", "-inf", "nan"
    (JSON has no such numbers); give them back as floats. Only those three
    strings under metric keys are converted: a tensor may well be called
    "nan", and the report's "conventions" explain the metrics in words under
    the same keys."""
    if isinstance(obj, dict):
        return {k: (float(v) if k in _METRIC_KEYS and isinstance(v, str) and v in _NON_FINITE else _numbers(v))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [_numbers(v) for v in obj]
    return obj


def compare_report(ref_dir: "str | os.PathLike[str]", test_dir: "str | os.PathLike[str]",
                   model: "str | os.PathLike[str] | None" = None, sqnr_min: Optional[float] = None,
                   drop_db: Optional[float] = None) -> Dict[str, Any]:
    """The whole JSON report of `layerout compare` (see compare())."""
    lib = _lib.load()
    settings = _lib.LoCompareSettings()
    lib.lo_compare_settings_init(ctypes.byref(settings))
    if model is not None:
        settings.model = os.fsencode(model)
    if sqnr_min is not None:
        settings.sqnr_min = float(sqnr_min)
    if drop_db is not None:
        settings.drop_db = float(drop_db)
    err = _lib.LoError()
    with tempfile.TemporaryDirectory(prefix="layerout-compare-") as tmp:
        out = os.path.join(tmp, "report.json")
        st = lib.lo_compare_dumps(os.fsencode(ref_dir), os.fsencode(test_dir), ctypes.byref(settings),
                                  os.fsencode(out), None, None, None, ctypes.byref(err))
        # tensors below the threshold are a result, not an error: only a
        # report that could not be made raises
        _lib.check(st, err)
        with open(out) as f:
            report = json.load(f)
    return _numbers(report)


def compare(ref_dir: "str | os.PathLike[str]", test_dir: "str | os.PathLike[str]",
            model: "str | os.PathLike[str] | None" = None, sqnr_min: Optional[float] = None,
            drop_db: Optional[float] = None) -> List[Dict[str, Any]]:
    """Compares two dumps tensor by tensor; returns one dict per tensor.

    ref_dir and test_dir may be layerout dumps, AIMET LayerOutputUtil dumps
    or QNN output folders. Each dict is a row of `layerout compare --json`:
    "name", "ref_file", "test_file", "status" ("pass", "below", "only_ref",
    ...), and for compared tensors "shape", "sqnr_db" (pooled over samples),
    "sqnr_min_db", "pooled" (cosine, mse, mean/max abs error, rel_l2, atol,
    rtol ...), "samples" (the same per sample), "below" and "drop". Rows are
    in graph order. Non-finite metrics are floats (inf, nan).

    model: the ONNX model, for shapes and producer edges of dumps without a
    manifest; sqnr_min (dB, default 30) and drop_db (default 20) as the
    command's --sqnr-min and --drop-db. Raises LayerOutError when a dump
    cannot be read."""
    return compare_report(ref_dir, test_dir, model, sqnr_min, drop_db)["tensors"]
