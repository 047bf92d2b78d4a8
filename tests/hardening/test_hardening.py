#!/usr/bin/env python3
"""Hardening tests of `layerout generate` (issue 8): broken models, encodings
and input files each give one clear message and exit status 2 with no signal
and no file outside the output folder; a run killed with SIGKILL at several
points keeps every completed sample byte for byte and resumes with --append
to the uninterrupted result; SIGINT stops after the current sample (exit
130); a file-size limit stops the run naming the path and the OS error with
earlier samples intact; absurd sizes fail under `ulimit -v`; one generate
runs clean under valgrind.

Usage: test_hardening.py LAYEROUT_BINARY FIXTURE_DIR WORK_DIR [--no-valgrind]"""
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import checks  # noqa: E402
from checks import expect_error, test  # noqa: E402

LAYEROUT, FX, WORK = (os.path.abspath(a) for a in sys.argv[1:4])
VALGRIND = "--no-valgrind" not in sys.argv
os.makedirs(WORK, exist_ok=True)
GiB = 1 << 30


def limits(address_space=None, file_size=None):
    """preexec_fn setting rlimits: ulimit -v bounds what a bad model can make
    the process allocate; ulimit -f simulates a full disk (SIGXFSZ ignored so
    write() fails with EFBIG instead of killing the process)."""
    def apply():
        if address_space:
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
        if file_size is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
    return apply


def run(args, cwd=None, address_space=None, file_size=None, timeout=600, tool=(), env=None):
    return checks.run(LAYEROUT, args, timeout=timeout, tool=tool, cwd=cwd, env=env,
                      preexec_fn=limits(address_space, file_size))


def tree(d):
    out = []
    for root, dirs, files in os.walk(d):
        for f in files:
            out.append(os.path.relpath(os.path.join(root, f), d))
        for x in dirs:
            out.append(os.path.relpath(os.path.join(root, x), d) + "/")
    return sorted(out)


def fresh(name):
    d = os.path.join(WORK, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def fx(*p):
    return os.path.join(FX, *p)


# Whether the binary can run under an address-space limit (AddressSanitizer
# reserves terabytes of shadow memory and cannot).
p = subprocess.run([LAYEROUT, "--version"], capture_output=True, preexec_fn=limits(4 * GiB))
AS_LIMIT = 4 * GiB if p.returncode == 0 else None
if not AS_LIMIT:
    print("note: the binary cannot run under ulimit -v (sanitizer build?); size tests run without it")

EXPECT = json.load(open(fx("models", "expect.json")))
SANDBOX = os.path.join(WORK, "sandbox")


def generate_in_sandbox(model, input_file, extra=()):
    """Runs generate from an empty folder with the dump in sandbox/out and
    checks nothing appears anywhere else (the sandbox, the model's folder)."""
    shutil.rmtree(SANDBOX, ignore_errors=True)
    os.makedirs(SANDBOX)
    before = tree(fx("models"))
    p = run(["generate", model, "-o", "out", "-i", input_file, "--threads", "1", *extra], cwd=SANDBOX,
            address_space=AS_LIMIT, timeout=120)
    stray = [f for f in tree(SANDBOX) if not f.startswith("out/")]
    assert not stray, "files outside the output folder: %s" % stray
    assert tree(fx("models")) == before, "files appeared beside the model: %s" % sorted(
        set(tree(fx("models"))) - set(before))
    return p


def model_case(name):
    spec = EXPECT[name]

    def case():
        p = generate_in_sandbox(fx("models", name + ".onnx"), fx("inputs", spec["input"]))
        if spec["expect"] == "ok":
            assert p.returncode == 0, "exit %d: %s" % (p.returncode, p.stderr)
        elif spec["expect"] == "fail_or_ok" and p.returncode == 0:
            pass
        else:
            expect_error(p)
    case.__name__ = "broken_model_" + name
    return case


# The absurd-size models may only run where the address space is bounded:
# unbounded, a 16 GiB allocation could succeed lazily and the kernel filling
# it would be OOM-killed, on a machine shared with others.
NEEDS_AS_LIMIT = {"constant_of_shape_16g", "tile_enormous", "sparse_enormous_dense"}
for name in sorted(EXPECT):
    if name in NEEDS_AS_LIMIT and not AS_LIMIT:
        print("skip broken_model_%s (no ulimit -v possible)" % name)
        continue
    test(model_case(name))


@test
def absurd_sizes_fail_with_a_message_under_ulimit_v():
    if not AS_LIMIT:
        print("    skipped: no ulimit -v possible")
        return
    for name in ["constant_of_shape_16g", "constant_of_shape_enormous", "enormous_initializer_dims",
                 "large_initializer_no_data"]:
        p = generate_in_sandbox(fx("models", name + ".onnx"), fx("inputs", "x23.npy"))
        expect_error(p)
        assert any(w in p.stderr for w in ("memory", "too large", "too many", "holds", "needs")), \
            "%s: the message does not say it is a size problem: %s" % (name, p.stderr)


@test
def hostile_tensor_names_stay_inside_the_output_folder():
    p = generate_in_sandbox(fx("models", "hostile_names.onnx"), fx("inputs", "x23.npy"))
    assert p.returncode == 0, p.stderr
    files = os.listdir(os.path.join(SANDBOX, "out", "outputs", "layer_outputs_0"))
    assert len(files) == 11, files  # x, 9 hostile names, y
    for f in files:
        assert "/" not in f and not f.startswith("."), f
        assert len(f.encode()) < 255, f


@test
def external_data_inside_the_model_folder_loads():
    p = generate_in_sandbox(fx("models", "external_ok.onnx"), fx("inputs", "x3.npy"))
    assert p.returncode == 0, p.stderr


@test
def external_data_outside_the_model_folder_is_refused_by_name():
    for name in ["external_dotdot", "external_absolute", "external_dotdot_deep"]:
        p = generate_in_sandbox(fx("models", name + ".onnx"), fx("inputs", "x3.npy"))
        expect_error(p, "outside")


# ---- encodings ---------------------------------------------------------------------------
def encodings_case(name):
    def case():
        p = generate_in_sandbox(fx("base.onnx"), fx("inputs", "x23.npy"),
                                ["--encodings", fx("encodings", name + ".json")])
        expect_error(p)
    case.__name__ = "broken_encodings_" + name
    return case


for f in sorted(os.listdir(fx("encodings"))):
    test(encodings_case(f[:-5]))


# ---- input files -------------------------------------------------------------------------
def input_case(name):
    def case():
        p = generate_in_sandbox(fx("base.onnx"), fx("inputs", name))
        expect_error(p)
        assert name in p.stderr, "the message does not name the file: %s" % p.stderr
    case.__name__ = "broken_input_" + name.replace(".", "_")
    return case


for f in sorted(os.listdir(fx("inputs"))):
    if f not in ("x23.npy", "x3.npy", "x1144.npy"):
        test(input_case(f))


def list_case(name, text, *words):
    def case():
        path = os.path.join(WORK, name + ".txt")
        with open(path, "w", errors="surrogateescape") as fh:
            fh.write(text)
        shutil.rmtree(SANDBOX, ignore_errors=True)
        os.makedirs(SANDBOX)
        p = run(["generate", fx("base.onnx"), "-o", "out", "--input-list", path, "--threads", "1"], cwd=SANDBOX)
        expect_error(p, *words)
    case.__name__ = "broken_input_list_" + name
    return case


good = fx("inputs", "x23.npy")
for args in [("empty", ""), ("only_comments", "# nothing\n\n   \n# here\n", "no sample"),
             ("missing_file", good + "\n" + fx("inputs", "nope.npy") + "\n", "nope.npy"),
             ("two_files_one_input", good + " " + good + "\n", "input"),
             ("unknown_name", "zzz:=" + good + "\n", "zzz"),
             ("empty_name", ":=" + good + "\n"),
             ("empty_path", "x:=\n"),
             ("name_twice", "x:=%s x:=%s\n" % (good, good)),
             ("directory", fx("inputs", "a_directory.npy") + "\n", "a_directory"),
             ("bad_file_second_line", good + "\n" + fx("inputs", "truncated.npy") + "\n", "truncated.npy"),
             ("binary_garbage", "\x00\x01\xff\xfe\n\x00", ),
             ("many_tokens", " ".join([good] * 5000) + "\n")]:
    test(list_case(*args))


@test
def missing_input_list_names_the_path():
    p = run(["generate", fx("base.onnx"), "-o", os.path.join(WORK, "o"), "--input-list", fx("nope.txt")])
    expect_error(p, "nope.txt", "No such file")


@test
def unwritable_output_folder_names_path_and_os_error():
    p = run(["generate", fx("base.onnx"), "-o", "/proc/layerout-cannot-be-here", "-i", good])
    expect_error(p, "/proc/layerout-cannot-be-here")
    f = os.path.join(WORK, "a_file")
    open(f, "w").close()
    p = run(["generate", fx("base.onnx"), "-o", f, "-i", good])
    expect_error(p, f)


# ---- interrupted runs ----------------------------------------------------------------------
HEAVY, LIST = fx("heavy.onnx"), fx("heavy_list.txt")
LINES = open(LIST).read().split()
N = len(LINES)


def gen_args(out, list_path, *extra):
    return ["generate", HEAVY, "-o", out, "--input-list", list_path, "--threads", "1", "-q", *extra]


REF = os.path.join(WORK, "ref")
shutil.rmtree(REF, ignore_errors=True)
_p = run(gen_args(REF, LIST))
assert _p.returncode == 0, _p.stderr


def read(path):
    with open(path, "rb") as fh:
        return fh.read()


def manifest_samples(d):
    try:
        return json.load(open(os.path.join(d, "manifest.json")))["samples"]
    except (OSError, ValueError, KeyError):
        return None


def check_complete_samples(d):
    """Every sample the manifest counts equals the uninterrupted run's, file
    for file; returns that count."""
    k = manifest_samples(d) or 0
    for s in range(k):
        rel = "outputs/layer_outputs_%d" % s
        assert sorted(os.listdir(os.path.join(d, rel))) == sorted(os.listdir(os.path.join(REF, rel))), rel
        for f in os.listdir(os.path.join(REF, rel)):
            assert read(os.path.join(d, rel, f)) == read(os.path.join(REF, rel, f)), "%s/%s differs" % (rel, f)
        rel = "inputs/input_%d.raw" % s
        assert read(os.path.join(d, rel)) == read(os.path.join(REF, rel)), rel + " differs"
    if k:
        assert read(os.path.join(d, "layer_output_name_order.json")) == read(
            os.path.join(REF, "layer_output_name_order.json"))
    return k


def check_same_as_ref(d):
    assert tree(d) == tree(REF), "different files: only here %s, only in ref %s" % (
        sorted(set(tree(d)) - set(tree(REF)))[:10], sorted(set(tree(REF)) - set(tree(d)))[:10])
    for f in tree(REF):
        if not f.endswith("/"):
            assert read(os.path.join(d, f)) == read(os.path.join(REF, f)), f + " differs"


def resume(d, k):
    """The same command again with --append: lines already complete (the
    first k) are skipped, the rest run."""
    p = run(gen_args(d, LIST, "--append"))
    assert p.returncode == 0, "resume after %d samples: exit %d: %s" % (k, p.returncode, p.stderr)


def run_until(d, cond, sig, delay=0.0, timeout=120):
    proc = subprocess.Popen([LAYEROUT, *gen_args(d, LIST)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    t0 = time.time()
    while not cond() and proc.poll() is None:
        if time.time() - t0 > timeout:
            proc.kill()
            raise AssertionError("the condition never came")
        time.sleep(0.001)
    if delay:
        time.sleep(delay)
    if proc.poll() is not None:
        return proc.returncode, proc.stderr.read(), False
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, err, True


def exists(*p):
    return lambda: os.path.exists(os.path.join(*p))


def count_files(*p):
    def n():
        try:
            return len(os.listdir(os.path.join(*p)))
        except OSError:
            return 0
    return n


def kill_case(label, cond_of, delay=0.0):
    def case():
        d = os.path.join(WORK, "killed")
        shutil.rmtree(d, ignore_errors=True)
        rc, err, sent = run_until(d, cond_of(d), signal.SIGKILL, delay)
        if sent:
            assert rc == -signal.SIGKILL, "exit %d" % rc
        k = check_complete_samples(d)
        assert k < N or not sent or manifest_samples(d) == N
        resume(d, k)
        check_same_as_ref(d)
        print("    killed at %s: %d complete samples kept, resumed to %d" % (label, k, N))
    case.__name__ = "sigkill_" + label
    return case


for label, cond_of, delay in [
        ("mid_first_sample", lambda d: lambda: count_files(d, "outputs", ".layer_outputs_0.partial")() >= 3, 0),
        ("first_sample_published", lambda d: exists(d, "outputs", "layer_outputs_0"), 0),
        ("after_three_samples", lambda d: lambda: (manifest_samples(d) or 0) >= 3, 0.013),
        ("mid_writing_sample_6", lambda d: lambda: count_files(d, "outputs", ".layer_outputs_6.partial")() >= 5, 0),
        ("sample_8_published", lambda d: exists(d, "outputs", "layer_outputs_8"), 0)]:
    test(kill_case(label, cond_of, delay))


@test
def sigint_stops_after_the_current_sample():
    d = os.path.join(WORK, "interrupted")
    shutil.rmtree(d, ignore_errors=True)
    rc, err, sent = run_until(d, lambda: (manifest_samples(d) or 0) >= 2, signal.SIGINT)
    assert sent, "the run ended before it could be interrupted"
    assert rc == 130, "exit %d: %s" % (rc, err)
    assert "interrupted" in err and "--append" in err, err
    k = check_complete_samples(d)
    assert k >= 2
    assert not [f for f in tree(d) if ".partial" in f or f.endswith(".tmp")], "leftovers: %s" % tree(d)
    resume(d, k)
    check_same_as_ref(d)


@test
def file_size_limit_stops_with_path_and_os_error():
    d = os.path.join(WORK, "full")
    shutil.rmtree(d, ignore_errors=True)
    first = os.path.join(WORK, "first2.txt")
    with open(first, "w") as fh:
        fh.write(LINES[0] + "\n" + LINES[1] + "\n")
    assert run(gen_args(d, first)).returncode == 0
    # every tensor file of this model is 192 KiB: the next sample cannot be written
    p = run(gen_args(d, LIST, "--append"), file_size=100 * 1024)
    expect_error(p, "layer_outputs_2", os.strerror(27))  # EFBIG: "File too large"
    assert check_complete_samples(d) == 2
    assert manifest_samples(d) == 2
    assert not os.path.exists(os.path.join(d, "outputs", "layer_outputs_2"))
    resume(d, 2)
    check_same_as_ref(d)


@test
def file_size_limit_on_the_manifest_keeps_the_old_one():
    d = os.path.join(WORK, "full_manifest")
    shutil.rmtree(d, ignore_errors=True)
    args = ["generate", fx("base.onnx"), "-o", d, "-i", good, "--threads", "1", "-q"]
    assert run(args).returncode == 0
    old = read(os.path.join(d, "manifest.json"))
    p = run(args[:-1] + ["--append"], file_size=len(old) - 100)
    expect_error(p, "manifest.json", os.strerror(27))
    assert read(os.path.join(d, "manifest.json")) == old, "the manifest changed"
    assert manifest_samples(d) == 1


@test
def max_memory_bounds_the_arena():
    d = os.path.join(WORK, "bounded")
    shutil.rmtree(d, ignore_errors=True)
    first = os.path.join(WORK, "first1.txt")
    with open(first, "w") as fh:
        fh.write(LINES[0] + "\n")
    # each activation is 192 KiB: 256 KiB cannot hold an input and an output
    p = run(gen_args(d, first, "--max-memory", "256K"))
    expect_error(p, "--max-memory")
    assert manifest_samples(d) is None
    assert run(gen_args(d, first, "--max-memory", "64M", "--overwrite")).returncode == 0


@test
def valgrind_generate_is_clean():
    if not VALGRIND:
        print("    skipped (--no-valgrind)")
        return
    if not shutil.which("valgrind"):
        raise AssertionError("valgrind is not installed")
    d = os.path.join(WORK, "vg")
    shutil.rmtree(d, ignore_errors=True)
    tiny = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples")
    log = os.path.join(WORK, "valgrind.log")
    p = run(["generate", os.path.join(tiny, "tiny_cnn.onnx"), "-o", d, "-i", os.path.join(tiny, "input.npy"),
             "--threads", "1", "-q"],
            tool=["valgrind", "--tool=memcheck", "--error-exitcode=99", "--leak-check=full", "--trace-children=yes",
                  "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite", "--log-file=" + log],
            timeout=1200,
            # a set spin policy keeps the command from starting itself again
            # (src/cli/main.c), so valgrind watches the process that works
            env=dict(os.environ, GOMP_SPINCOUNT="20000"))
    text = open(log).read()
    assert p.returncode == 0, "exit %d; valgrind log:\n%s" % (p.returncode, text[-4000:])
    assert "Command: " in text and "generate" in text, "valgrind did not watch the run:\n" + text[-2000:]
    summary = [line for line in text.splitlines() if "ERROR SUMMARY" in line or "definitely lost" in line]
    assert any("ERROR SUMMARY: 0 errors" in line for line in summary), "\n".join(summary)
    print("    " + " / ".join(s.split("== ")[-1] for s in summary))


checks.finish("hardening")
