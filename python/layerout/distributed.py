"""A dump of a whole input list over a Ray cluster: ``generate`` splits the
list into shards, runs each as a Ray task (``layerout generate ... --shard
K/N --append``), and merges the shards into one dump, the one a single
process would have written.

Ray is imported only when ``generate`` runs (``pip install ./python[ray]``).
Every node must see ``dir_path``, the input list and its files at the same
paths (shared storage), and have the ``layerout`` command (given as ``layerout=``,
in $LAYEROUT_BINARY, or on PATH) and this package.

A task killed midway (its worker or node dies, or the command is killed) is
retried by Ray; the retry runs the shard with --append, so it finishes what
the killed attempt left. A shard that fails on bad input (exit status 2) is
not retried: its message is raised as ``LayerOutError``.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

__all__ = ["generate", "ShardInterrupted"]

# option name -> how it goes on the command line
_FLAGS = {
    "format": "--format", "naming": "--naming", "name_map": "--name-map", "all_tensors": "--all-tensors",
    "encodings": "--encodings", "rounding": "--rounding", "strict": "--strict", "layers": "--layers",
    "op_types": "--op-types", "threads": "--threads", "max_memory": "--max-memory", "shape": "--shape",
}


class ShardInterrupted(RuntimeError):
    """A shard's command was killed (by a signal): Ray runs the task again."""


def _options_to_args(options):
    args = []
    for key, value in options.items():
        if key not in _FLAGS:
            raise TypeError("layerout.distributed.generate: unknown option %r (known: %s)"
                            % (key, ", ".join(sorted(_FLAGS))))
        flag = _FLAGS[key]
        if value is None or value is False:
            continue
        if value is True:
            args.append(flag)
        elif key == "shape":  # {"input": (1, 3, 224, 224)} or ["input=1x3x224x224"]
            items = value.items() if isinstance(value, dict) else [(None, v) for v in value]
            for name, dims in items:
                text = dims if isinstance(dims, str) else "x".join(str(int(d)) for d in dims)
                args += [flag, text if name is None else "%s=%s" % (name, text)]
        elif key == "op_types" and not isinstance(value, str):
            args += [flag, ",".join(value)]
        else:
            args += [flag, os.fspath(value) if isinstance(value, os.PathLike) else str(value)]
    return args


def _layerout_command(layerout):
    exe = layerout or os.environ.get("LAYEROUT_BINARY") or shutil.which("layerout")
    if not exe:
        from . import _lib
        exe = _lib.find_binary()  # beside the library, as compare finds it
    return os.path.abspath(exe) if os.sep in exe else exe


def _run_shard(argv, cwd, model_bytes, lock_wait):
    """The body of a shard's task, on whichever node Ray picks."""
    tmp = None
    try:
        if model_bytes is not None:  # a ModelProto travels through the object store
            tmp = tempfile.mkdtemp(prefix="layerout-model-")
            path = os.path.join(tmp, "model.onnx")
            with open(path, "wb") as f:
                f.write(model_bytes)
            argv = [path if a == "{model}" else a for a in argv]
        # the command dies with this worker (setpriv --pdeathsig): a retry
        # must not find the killed attempt still holding the shard
        setpriv = shutil.which("setpriv")
        cmd = [setpriv, "--pdeathsig", "KILL", "--", *argv] if setpriv else argv
        deadline = time.time() + lock_wait
        while True:
            p = subprocess.run(cmd, cwd=cwd if os.path.isdir(cwd) else None, capture_output=True, text=True,
                               errors="replace")
            if p.returncode < 0:
                raise ShardInterrupted("%s: killed by signal %d" % (" ".join(argv), -p.returncode))
            # a killed attempt's process can outlive its worker for a moment
            if p.returncode == 2 and "already being written" in p.stderr and time.time() < deadline:
                time.sleep(1.0)
                continue
            break
        if p.returncode != 0:
            from ._lib import LayerOutError
            raise LayerOutError(p.stderr.strip() or "%s: exit status %d" % (" ".join(argv), p.returncode))
        return {"node": os.uname().nodename, "pid": os.getpid(), "output": p.stdout.strip()}
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def _count_published(dir_path):
    try:
        return sum(1 for e in os.scandir(os.path.join(dir_path, "outputs")) if e.name.startswith("layer_outputs_"))
    except OSError:
        return 0


def _count_samples(input_list):
    n = 0
    with open(input_list) as f:
        for line in f:
            s = line.strip()
            if s and not s.startswith("#"):
                n += 1
    return n


def generate(model, input_list, dir_path, *, shards, address=None, layerout=None, max_retries=3,
             progress=True, lock_wait=60.0, **options):
    """Dumps every layer of ``model`` for each sample of ``input_list`` into
    ``dir_path``, over ``shards`` Ray tasks, and merges them.

    model: a path (seen by every node) or an ``onnx.ModelProto``.
    input_list: a QNN-style input list (line L is sample L).
    address: passed to ``ray.init``; when Ray is already initialized in this
        process, its cluster is used as it is.
    options: as the command's: format, naming, name_map, all_tensors,
        encodings, rounding, strict, layers, op_types, threads, max_memory,
        shape ({"input": (1, 3, 224, 224)}).
    Returns a summary: samples, shards, dir, seconds, and per shard the node
    that finished it and its report."""
    import ray  # the optional extra: imported only here

    if not isinstance(shards, int) or shards < 1:
        raise ValueError("shards must be a positive int, got %r" % (shards,))
    exe = _layerout_command(layerout)
    extra = _options_to_args(options)
    dir_path = os.path.abspath(os.fspath(dir_path))
    input_list = os.path.abspath(os.fspath(input_list))
    total = _count_samples(input_list)
    model_bytes = None
    if isinstance(model, (str, bytes, os.PathLike)):
        model_arg = os.path.abspath(os.fsdecode(model))
    else:  # an onnx.ModelProto
        model_bytes = model.SerializeToString()
        model_arg = "{model}"
    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False)
    model_ref = ray.put(model_bytes) if model_bytes is not None else None
    task = ray.remote(num_cpus=1, max_retries=max_retries, retry_exceptions=[ShardInterrupted])(_run_shard)
    cwd = os.getcwd()
    t0 = time.time()
    refs = {}
    for k in range(shards):
        argv = [exe, "generate", model_arg, "--input-list", input_list, "-o", dir_path,
                "--shard", "%d/%d" % (k, shards), "--append", "-q", *extra]
        refs[task.remote(argv, cwd, model_ref, lock_wait)] = k
    results = [None] * shards
    pending = list(refs)
    shown = None
    while pending:
        done, pending = ray.wait(pending, num_returns=1, timeout=1.0)
        for ref in done:
            results[refs[ref]] = ray.get(ref)  # raises the shard's error
        if progress:
            line = "layerout: %d/%d samples, %d/%d shards done" % (
                min(_count_published(dir_path), total), total, shards - len(pending), shards)
            if line != shown:
                print(line, file=sys.stderr, flush=True)
                shown = line
    p = subprocess.run([exe, "merge", dir_path, "-q"], capture_output=True, text=True, errors="replace")
    if p.returncode != 0:
        from ._lib import LayerOutError
        raise LayerOutError(p.stderr.strip() or "layerout merge: exit status %d" % p.returncode)
    return {"samples": total, "shards": shards, "dir": dir_path, "seconds": round(time.time() - t0, 3),
            "per_shard": results}
