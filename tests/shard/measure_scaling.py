#!/usr/bin/env python3
"""The figures of docs/SCALING.md: file creation rate, and the cost of a
sharded run's bookkeeping and of its merge, on a disk folder and on tmpfs.
Not a test (nothing is asserted); prints a table.

Usage: measure_scaling.py LAYEROUT_BINARY DISK_DIR [SAMPLES]"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dumps import conv_model, input_list  # noqa: E402

LAYEROUT = os.path.abspath(sys.argv[1])
DISK = os.path.abspath(sys.argv[2])
SAMPLES = int(sys.argv[3]) if len(sys.argv) > 3 else 2000


def create_files(folder, n, size):
    """n files of size bytes in one folder: open, write, close."""
    os.makedirs(folder)
    data = b"\0" * size
    t0 = time.perf_counter()
    for i in range(n):
        fd = os.open(os.path.join(folder, "f%d.raw" % i), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, data)
        os.close(fd)
    return time.perf_counter() - t0


def timed(*args):
    t0 = time.perf_counter()
    subprocess.run([LAYEROUT, *args], check=True, capture_output=True)
    return time.perf_counter() - t0


def count_files(d):
    return sum(len(f) for _, _, f in os.walk(d))


def measure(base, label, model, lst, shards):
    work = tempfile.mkdtemp(dir=base, prefix="layerout-scaling.")
    try:
        t_files = create_files(os.path.join(work, "files"), 3000, 20 * 1024)
        one = timed("generate", model, "--input-list", lst, "-o", os.path.join(work, "one"), "-q", "--threads", "1")
        n_files = count_files(os.path.join(work, "one"))
        shared = os.path.join(work, "shared")
        t0 = time.perf_counter()
        procs = [subprocess.Popen([LAYEROUT, "generate", model, "--input-list", lst, "-o", shared, "--shard",
                                   "%d/%d" % (k, shards), "-q", "--threads", "1"]) for k in range(shards)]
        for p in procs:
            assert p.wait() == 0
        t_shards = time.perf_counter() - t0
        t_merge = timed("merge", shared, "-q")
        parts = [os.path.join(work, "part%d" % k) for k in range(shards)]
        for k in range(shards):
            subprocess.run([LAYEROUT, "generate", model, "--input-list", lst, "-o", parts[k], "--shard",
                            "%d/%d" % (k, shards), "-q", "--threads", "1"], check=True)
        t_move = timed("merge", *parts, "-o", os.path.join(work, "merged"), "-q")
        print("| %s | %.3f ms | %d | %.2f s | %.2f s | %.2f s (%.1f us/file) | %.2f s (%.1f us/sample) |" % (
            label, t_files / 3000 * 1e3, n_files, one, t_shards, t_merge, t_merge / n_files * 1e6, t_move,
            t_move / SAMPLES * 1e6), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    fx = tempfile.mkdtemp(prefix="layerout-scaling-fx.")
    try:
        model = os.path.join(fx, "m.onnx")
        conv_model(model, 3, 4, 12, 1)
        lst, _ = input_list(os.path.join(fx, "in"), SAMPLES, 12, 1)
        print("%d samples, %d shards; files of a sample: 1 input + 6 layer outputs" % (SAMPLES, 2))
        print("| folder | create a 20 kB file | files in the dump | one process | 2 shards at once | "
              "merge in place | merge -o of 2 folders |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        measure(DISK, "ext4 (%s)" % DISK, model, lst, 2)
        if os.path.isdir("/dev/shm"):
            measure("/dev/shm", "tmpfs (/dev/shm)", model, lst, 2)
    finally:
        shutil.rmtree(fx, ignore_errors=True)


main()
