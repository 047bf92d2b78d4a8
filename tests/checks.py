"""What the script-style suites (tests/cli, tests/hardening, tests/shard,
tests/functions) share: checks registered with @test and run at once, every
failure reported while the others still run, a closing "NAME: N passed, M
failed" line and exit status; the command run with its exit status checked;
and the shape of a clear error (exit 2, one "layerout: ..." message naming
what was wrong, no crash report). Imported by path: each suite puts this
folder on sys.path."""
import subprocess
import sys
import time
import traceback

results = []


class Tally:
    """The pass/fail count of the suites that check values one by one
    (compare, fusion, image): a failure is printed when it happens, the
    count once at the end."""

    def __init__(self):
        self.passed = self.failed = 0

    def check(self, cond, what):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL: {what}", flush=True)

    def line(self, label):
        return f"{label}: {self.passed} passed, {self.failed} failed"

    def finish(self, label):
        print(self.line(label), flush=True)
        sys.exit(1 if self.failed else 0)

trace = False  # a suite sets it to print a failing check's traceback too


def test(fn):
    """Runs fn now and records the outcome (used as @test)."""
    t0 = time.time()
    try:
        fn()
        results.append((fn.__name__, None))
        print("PASS %s (%.1f s)" % (fn.__name__, time.time() - t0), flush=True)
    except Exception as e:  # noqa: BLE001 - every failure is reported, the others still run
        if trace:
            traceback.print_exc()
        results.append((fn.__name__, e))
        print("FAIL", fn.__name__, "\n   ", str(e).replace("\n", "\n    "), flush=True)
    return fn


def finish(suite):
    """Prints the suite's closing line and exits 1 when a check failed."""
    failed = [n for n, e in results if e is not None]
    print("%s: %d passed, %d failed" % (suite, len(results) - len(failed), len(failed)), flush=True)
    sys.exit(1 if failed else 0)


def run(binary, args, expect=None, timeout=600, tool=(), **kwargs):
    """Runs `binary args` (under tool, e.g. valgrind) and returns the
    CompletedProcess. A signal is always a failure; with expect, so is any
    other exit status. kwargs go to subprocess.run (cwd, env, preexec_fn)."""
    p = subprocess.run([*tool, binary, *args], capture_output=True, text=True, errors="replace", timeout=timeout,
                       **kwargs)
    if p.returncode < 0:
        raise AssertionError("layerout %s: killed by signal %d\nstderr: %s"
                             % (" ".join(args), -p.returncode, p.stderr[-2000:]))
    if expect is not None and p.returncode != expect:
        raise AssertionError("layerout %s: exit %d (wanted %d)\nstdout: %s\nstderr: %s"
                             % (" ".join(args), p.returncode, expect, p.stdout[-2000:], p.stderr[-2000:]))
    return p


def expect_error(p, *words):
    """Exit 2 with one 'layerout: ...' message naming each of words (case
    aside), and no crash report."""
    if p.returncode != 2:
        raise AssertionError("exit %d (wanted 2)\nstdout: %s\nstderr: %s"
                             % (p.returncode, p.stdout[-500:], p.stderr[-2000:]))
    err = p.stderr.strip()
    if not err.startswith("layerout: ") or len(err) < 20:
        raise AssertionError("no clear message: %r" % err[-2000:])
    for bad in ("internal error", "Sanitizer", "runtime error", "Assertion", "Segmentation"):
        if bad in p.stderr:
            raise AssertionError("crash report in the message: %s" % err[-2000:])
    for w in words:
        if w.lower() not in err.lower():
            raise AssertionError("message does not mention %r: %s" % (w, err))
