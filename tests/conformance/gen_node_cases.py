#!/usr/bin/env python3
"""Writes the node conformance cases of the installed onnx wheel into DIR/node.

The onnx wheels on PyPI no longer ship onnx/backend/test/data/node/ (the
model.onnx + test_data_set_0/*.pb files); they ship the Python generators
those files are made from. `python -m onnx.backend.test.cmd_tools
generate-data -o DIR` writes only the model-zoo stubs (real/, simple/) in
this version, so this script feeds the node generators to the same writer.
The result is cached: DIR/STAMP records the onnx, numpy and ml_dtypes
versions it was made with.

Usage: gen_node_cases.py DIR"""
import argparse
import os
import shutil
import sys
import warnings


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    args = ap.parse_args()
    import onnx
    import onnx.backend.test.case.model as model_cases
    import onnx.backend.test.case.node as node_cases
    from onnx.backend.test import cmd_tools

    stamp = os.path.join(args.dir, "STAMP")
    import ml_dtypes
    import numpy
    # the expected outputs are computed by onnx's generators through numpy
    # and ml_dtypes, so a change of any of the three makes new cases
    want = "onnx %s opset %d numpy %s ml_dtypes %s\n" % (onnx.__version__, onnx.defs.onnx_opset_version(),
                                                         numpy.__version__, ml_dtypes.__version__)
    if os.path.isfile(stamp) and open(stamp).read() == want and os.path.isdir(os.path.join(args.dir, "node")):
        print("node cases of %s are in %s (cached)" % (want.strip(), args.dir))
        return 0
    if os.path.isdir(args.dir):
        shutil.rmtree(args.dir)
    os.makedirs(args.dir)
    model_cases.collect_testcases = lambda: node_cases.collect_testcases()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the generators divide by zero on purpose
        cmd_tools.generate_data(argparse.Namespace(output=args.dir))
    with open(stamp, "w") as f:
        f.write(want)
    n = len(os.listdir(os.path.join(args.dir, "node")))
    print("wrote %d node cases of %s to %s" % (n, want.strip(), args.dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
