/* Model-local functions (ModelProto.functions), inlined at load as ONNX
 * Runtime does: each call node is replaced by its function's body, with the
 * body's tensors renamed under the call so they cannot clash with the
 * graph's, attribute references resolved from the call site, and the body's
 * ops resolved against the function's own opset imports. Private to
 * src/onnx. */
#ifndef LO_ONNX_FUNCTIONS_H
#define LO_ONNX_FUNCTIONS_H

#include "../graph/graph.h"
#include "onnx/onnx.pb-c.h"

typedef struct lo_fn_table lo_fn_table;
typedef struct lo_fn_scope lo_fn_scope; /* one call being inlined; NULL: no function */

/* One node of a graph after inlining, its names already mapped into the
 * graph's namespace. */
typedef struct lo_fn_node {
    const Onnx__NodeProto *np; /* op_type, domain, attributes (names come from below) */
    lo_fn_scope *scope;        /* the call it was inlined from, or the graph's own scope */
    const char *name;          /* NULL: unnamed */
    int n_inputs, n_outputs;
    const char **inputs;  /* mapped; "" for an omitted input */
    const char **raw_inputs; /* as written in the body, for messages */
    const char **outputs; /* mapped; "" for an omitted output */
    int *output_depth;    /* how deep in calls the output's name was made (0: the model's own) */
} lo_fn_node;

/* Reads the functions of a model; the table borrows mp, which must outlive it. */
lo_status lo_fn_table_create(const Onnx__ModelProto *mp, const lo_model_ir *model, lo_fn_table **out,
                             lo_error *err);
void lo_fn_table_free(lo_fn_table *t);

/* The nodes of a graph (written in scope, NULL for the model's own graphs)
 * with every call of a model-local function expanded, recursively. */
lo_status lo_fn_expand(lo_fn_table *t, lo_fn_scope *scope, Onnx__NodeProto *const *nodes, size_t n_nodes,
                       lo_fn_node **out, size_t *n_out, lo_error *err);
void lo_fn_nodes_free(lo_fn_node *nodes, size_t n);

/* A name written inside scope, in the graph's namespace; depth (may be NULL)
 * receives how deep in calls it was made. NULL when out of memory. */
const char *lo_fn_map(lo_fn_table *t, lo_fn_scope *scope, const char *name, int *depth);
int lo_fn_depth(const lo_fn_scope *scope);

/* The attribute a body node gets for ap: ap itself, or for a reference to a
 * function attribute the call site's value (or the function's default)
 * copied into *tmp under ap's name; NULL when the call leaves it unset. */
const Onnx__AttributeProto *lo_fn_attr(const lo_fn_scope *scope, const Onnx__AttributeProto *ap,
                                       Onnx__AttributeProto *tmp);

/* The opset a node of domain written in scope runs at: the function's own
 * import, else the model's (-1 when neither imports it). */
int64_t lo_fn_opset(const lo_fn_scope *scope, const lo_model_ir *model, const char *domain);

/* The call that scope's body was inlined from, seen from a graph written in
 * top (the outermost call below top): its node's name and its function's
 * name, for the call's outputs, which the caller sees as that node's. */
const char *lo_fn_call_node(const lo_fn_scope *scope, const lo_fn_scope *top);
const char *lo_fn_call_op(const lo_fn_scope *scope, const lo_fn_scope *top);

/* "function 'F' (domain 'd') called by node 'C'" for messages; "" for NULL. */
const char *lo_fn_describe(const lo_fn_scope *scope);

#endif
