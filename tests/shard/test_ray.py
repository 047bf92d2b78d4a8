#!/usr/bin/env python3
"""layerout.distributed.generate on a running two-node Ray cluster: 4 shards
of a 16-sample list, with the Ray worker running one shard killed (SIGKILL)
in the middle; Ray retries the task, the retry finishes the shard with
--append, and the merged dump is the one-process dump file for file. Then a
ModelProto with options (format npy), and importing the module without Ray.

Usage: test_ray.py LAYEROUT_BINARY WORK_DIR RAY_ADDRESS"""
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import onnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dumps import conv_model, input_list, same_dump  # noqa: E402

LAYEROUT, WORK = (os.path.abspath(a) for a in sys.argv[1:3])
ADDRESS = sys.argv[3]
failures = []


def check(name, fn):
    t0 = time.time()
    try:
        fn()
        print("PASS %s (%.1f s)" % (name, time.time() - t0), flush=True)
    except Exception as e:  # noqa: BLE001 - every failure is reported
        failures.append(name)
        print("FAIL", name, "\n   ", str(e).replace("\n", "\n    "), flush=True)


def no_ray_import():
    code = "import sys, layerout.distributed; assert 'ray' not in sys.modules, 'ray imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


check("importing layerout.distributed does not import ray", no_ray_import)

import ray  # noqa: E402

from layerout import distributed  # noqa: E402

FX = os.path.join(WORK, "fixtures")
os.makedirs(FX, exist_ok=True)
BIG = os.path.join(FX, "big.onnx")
conv_model(BIG, 16, 16, 48, 3)
LIST, _ = input_list(os.path.join(FX, "inputs"), 16, 48, 6)
REF = os.path.join(WORK, "reference")
shutil.rmtree(REF, ignore_errors=True)
subprocess.run([LAYEROUT, "generate", BIG, "--input-list", LIST, "-o", REF, "-q"], check=True)

# The driver joins on the loopback address too, so no traffic leaves the machine.
ray.init(address=ADDRESS, log_to_driver=False, _node_ip_address="127.0.0.1")


def two_nodes():
    deadline = time.time() + 120
    while time.time() < deadline and sum(n["Alive"] for n in ray.nodes()) < 2:
        time.sleep(0.5)
    alive = [n for n in ray.nodes() if n["Alive"]]
    assert len(alive) == 2, "the cluster has %d nodes alive" % len(alive)
    assert ray.cluster_resources().get("CPU") == 2, ray.cluster_resources()


check("the cluster has two nodes of one CPU", two_nodes)


def shard_processes(out_dir):
    """pid -> (parent pid, shard) of the layerout commands writing out_dir."""
    found = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
            with open("/proc/%s/status" % pid) as f:
                ppid = int([ln for ln in f if ln.startswith("PPid:")][0].split()[1])
        except (OSError, IndexError):
            continue
        if b"--shard" in argv and out_dir.encode() in argv and b"generate" in argv:
            found[int(pid)] = (ppid, argv[argv.index(b"--shard") + 1].decode())
    return found


def killed_worker_retried():
    out = os.path.join(WORK, "ray_dump")
    shutil.rmtree(out, ignore_errors=True)
    killed = {}

    def killer():
        # once a shard has published a sample and is writing its next one,
        # SIGKILL the Ray worker process running it
        deadline = time.time() + 300
        while time.time() < deadline and not killed:
            published = os.path.isdir(os.path.join(out, "outputs")) and any(
                e.startswith("layer_outputs_") for e in os.listdir(os.path.join(out, "outputs")))
            for pid, (ppid, shard) in shard_processes(out).items():
                if published and ppid > 1:
                    os.kill(ppid, signal.SIGKILL)
                    killed.update(worker=ppid, command=pid, shard=shard)
                    break
            time.sleep(0.02)

    t = threading.Thread(target=killer)
    t.start()
    summary = distributed.generate(BIG, LIST, out, shards=4, layerout=LAYEROUT)
    t.join()
    assert killed, "no shard process was found to kill"
    # the killed attempt's command died with its worker
    assert not os.path.exists("/proc/%d" % killed["command"]) or \
        open("/proc/%d/status" % killed["command"]).read().find("State:\tZ") >= 0, "the command outlived its worker"
    assert summary["samples"] == 16 and summary["shards"] == 4, summary
    assert all(r and r["output"] == "" for r in summary["per_shard"]), summary
    same_dump(REF, out)
    print("    killed the worker (pid %d) of shard %s; Ray %s" % (killed["worker"], killed["shard"], ray.__version__))


check("4 shards, a worker killed midway, dump identical to one process", killed_worker_retried)


def model_proto_with_options():
    small = os.path.join(FX, "small.onnx")
    conv_model(small, 3, 4, 12, 1)
    lst, _ = input_list(os.path.join(FX, "small_inputs"), 6, 12, 7)
    ref = os.path.join(WORK, "small_reference")
    shutil.rmtree(ref, ignore_errors=True)
    subprocess.run([LAYEROUT, "generate", small, "--input-list", lst, "-o", ref, "--format", "npy", "-q"], check=True)
    out = os.path.join(WORK, "small_dump")
    shutil.rmtree(out, ignore_errors=True)
    summary = distributed.generate(onnx.load(small), lst, out, shards=2, layerout=LAYEROUT, format="npy",
                                   progress=False)
    assert summary["samples"] == 6, summary
    same_dump(ref, out)  # the manifest's model path aside: a ModelProto has none
    try:
        distributed.generate(small, lst, os.path.join(WORK, "bad"), shards=2, layerout=LAYEROUT, naming="nope",
                             progress=False)
        raise AssertionError("a bad option was accepted")
    except Exception as e:  # noqa: BLE001 - the shard's message comes back through Ray
        assert "--naming takes" in str(e), e


check("a ModelProto with format npy; a bad option's message", model_proto_with_options)
ray.shutdown()
print("ray: %d failed" % len(failures))
sys.exit(1 if failures else 0)
