#!/usr/bin/env python3
"""Turns ONNX's conformance cases of function-bodied operators into cases
that run the operator as a model-local function (ModelProto.functions).

Neither Debian's libonnx-testdata nor the onnx wheel's generators hold a
case with model-local functions: ONNX tests function bodies only inlined
(the `_expanded` cases). So for every single-node case whose operator ONNX
defines by a function body (onnx.defs: has_function), this writes two cases
with the same inputs and ONNX's expected outputs:

  NAME_local   the node calls a function 'local.fn'::OP whose body is ONNX's
               own, with its attribute references (ref_attr_name), the
               schema's defaults as FunctionProto.attribute_proto, and the
               body's own opset import; the model imports neither
               'local.fn' nor the operator's opset: the default ONNX opset
               of the model is 1, so a body node resolved against the
               model's imports instead of the function's fails.
  NAME_nested  the node calls 'local.wrap'::Wrap, a function whose body
               calls 'local.fn'::OP, every attribute passed down by
               reference: attributes through two levels of functions, and
               tensor names of the inner body renamed under both calls.

Usage: gen_function_cases.py OUT_DIR CASES_DIR..."""
import os
import sys

import onnx
from onnx import defs, helper


def function_of(op, version):
    """ONNX's function body of op at an opset, or None."""
    try:
        schema = defs.get_schema(op, version, "")
    except Exception:
        return None, None
    if not schema.has_function or schema.has_context_dependent_function:
        return None, None
    usable = [v for v in schema.function_opset_versions if v <= version]
    if not usable:
        return None, None
    f = onnx.FunctionProto()
    f.ParseFromString(schema.get_function_with_opset_version(max(usable)))
    return schema, f


def local_function(schema, body, domain):
    f = onnx.FunctionProto()
    f.CopyFrom(body)
    f.name = schema.name
    f.domain = domain
    if not f.opset_import:
        f.opset_import.append(helper.make_opsetid("", schema.since_version))
    # the schema's defaults, as a model-local function declares them
    del f.attribute[:]
    for name, a in sorted(schema.attributes.items()):
        if a.default_value is not None and a.default_value.type != 0:
            d = onnx.AttributeProto()
            d.CopyFrom(a.default_value)
            d.name = name
            f.attribute_proto.append(d)
        else:
            f.attribute.append(name)
    return f


def wrapper(node, inner):
    """'local.wrap'::Wrap(ins) -> outs, calling the inner function with every
    attribute forwarded by reference."""
    ins = ["w_in%d" % i if n else "" for i, n in enumerate(node.input)]
    outs = ["w_out%d" % i for i in range(len(node.output))]
    call = helper.make_node(inner.name, ins, outs, domain=inner.domain, name="inner_call")
    for a in node.attribute:
        r = onnx.AttributeProto()
        r.name = a.name
        r.type = a.type
        r.ref_attr_name = "outer_" + a.name
        call.attribute.append(r)
    w = onnx.FunctionProto()
    w.name = "Wrap"
    w.domain = "local.wrap"
    w.input.extend(ins)
    w.output.extend(outs)
    w.attribute.extend(["outer_" + a.name for a in node.attribute])
    w.node.append(call)
    w.opset_import.extend([helper.make_opsetid(inner.domain, 1)])
    return w


def link_data(src, dst):
    for name in sorted(os.listdir(src)):
        if name.startswith("test_data_set_"):
            os.symlink(os.path.join(src, name), os.path.join(dst, name))


def main():
    out, sources = sys.argv[1], sys.argv[2:]
    os.makedirs(out, exist_ok=True)
    written = 0
    for top in sources:
        if not os.path.isdir(top):
            continue
        for case in sorted(os.listdir(top)):
            src = os.path.join(top, case)
            path = os.path.join(src, "model.onnx")
            if case.endswith("_expanded") or "_expanded_" in case or not os.path.isfile(path):
                continue
            m = onnx.load(path)
            if len(m.graph.node) != 1 or m.functions:
                continue
            node = m.graph.node[0]
            if node.domain not in ("", "ai.onnx"):
                continue
            version = next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), 0)
            schema, body = function_of(node.op_type, version)
            if schema is None:
                continue
            tag = os.path.basename(os.path.dirname(top.rstrip("/"))) + "_" + os.path.basename(top.rstrip("/"))
            inner = local_function(schema, body, "local.fn")

            # NAME_local: the node calls the function; the model imports no opset it needs
            a = onnx.ModelProto()
            a.CopyFrom(m)
            a.graph.node[0].domain = "local.fn"
            del a.opset_import[:]
            a.opset_import.append(helper.make_opsetid("", 1))
            a.functions.append(inner)
            d = os.path.join(out, "%s_%s_local" % (case, tag))
            os.makedirs(d, exist_ok=True)
            onnx.save(a, os.path.join(d, "model.onnx"))
            link_data(src, d)

            # NAME_nested: a function calling the function, attributes by reference
            if any(not n for n in node.input):
                written += 1
                continue
            b = onnx.ModelProto()
            b.CopyFrom(m)
            call = b.graph.node[0]
            call.op_type = "Wrap"
            call.domain = "local.wrap"
            call.name = "outer_call"
            for at in call.attribute:
                at.name = "outer_" + at.name
            del b.opset_import[:]
            b.opset_import.extend([helper.make_opsetid("", 1), helper.make_opsetid("local.wrap", 1)])
            b.functions.extend([inner, wrapper(node, inner)])
            d = os.path.join(out, "%s_%s_nested" % (case, tag))
            os.makedirs(d, exist_ok=True)
            onnx.save(b, os.path.join(d, "model.onnx"))
            link_data(src, d)
            written += 2
    print("function cases: %d written to %s" % (written, out))
    return 0 if written else 1


if __name__ == "__main__":
    sys.exit(main())
