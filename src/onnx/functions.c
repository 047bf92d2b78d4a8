/* Inlining of model-local functions (see functions.h).
 *
 * Names: a tensor written in a function body is renamed CALL/NAME, CALL
 * being the call node's name (nested calls: OUTER/INNER), so a dump with
 * --subgraphs says which call a body tensor belongs to. A formal input or
 * output takes the call site's tensor name instead. A renamed tensor that
 * would still collide with a name of the model (or an earlier rename) gets
 * ~2, ~3, ... appended: inlining never changes what a model's own name
 * refers to. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "functions.h"

/* Calls nested deeper than this are taken for runaway recursion. */
#define MAX_CALL_DEPTH 64
/* A small file whose functions call each other many times over would
 * inline into more nodes than any real model has. */
#define MAX_INLINED_NODES ((size_t)1 << 20)

typedef struct fn_def {
    const Onnx__FunctionProto *fp;
    char *overload; /* "" when none */
    size_t n_defaults;
    Onnx__AttributeProto **defaults; /* FunctionProto.attribute_proto, decoded by us */
    int sizing;  /* 0: size unknown, 1: being counted, 2: counted */
    size_t size; /* nodes a call inlines into, nested calls expanded (capped) */
} fn_def;

struct lo_fn_scope {
    lo_fn_scope *parent;
    int depth;
    const fn_def *fn;
    char *prefix;    /* the call's path: its node name, under the parent's */
    char *call_name; /* for messages */
    char describe[600];
    size_t n_in, n_out;
    const char **in_actual; /* call-site names, mapped by the parent; "" when omitted */
    int *in_depth;
    const char **out_actual; /* NULL or "" when the call leaves the output out */
    int *out_depth;
    size_t n_attrs;
    Onnx__AttributeProto *attrs; /* shallow copies: the call's values, then defaults */
    lo_graph *memo;              /* renamed body names: value v's name -> mapped[v] */
    char **mapped;
    int cap_mapped;
};

struct lo_fn_table {
    const lo_model_ir *model;
    size_t n_fns;
    fn_def *fns;
    lo_graph *taken; /* every name of the model's graphs, and every rename issued */
    size_t n_scopes, cap_scopes;
    lo_fn_scope **scopes;
    size_t n_inlined; /* nodes made from function bodies so far */
    /* The op a formal output that is also a formal input becomes: the body
     * hands its input straight back, so the call's output needs a producer. */
    Onnx__NodeProto identity;
};

static const char *dom(const char *d) { return !d || strcmp(d, "ai.onnx") == 0 ? "" : d; }

/* A length-delimited field protobuf-c kept as unknown (Debian's onnx.proto
 * predates it): its payload, after the varint length protobuf-c leaves in. */
static bool unknown_bytes(const ProtobufCMessageUnknownField *u, const uint8_t **data, size_t *len) {
    if (u->wire_type != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED) return false;
    size_t pre = 0;
    while (pre < u->len && (u->data[pre] & 0x80)) pre++;
    pre++;
    if (pre > u->len) return false;
    *data = u->data + pre;
    *len = u->len - pre;
    return true;
}

/* NodeProto.overload (8) and FunctionProto.overload (13). */
static char *read_overload(const ProtobufCMessage *m, unsigned tag) {
    for (unsigned i = 0; i < m->n_unknown_fields; i++) {
        const uint8_t *d;
        size_t n;
        if (m->unknown_fields[i].tag == tag && unknown_bytes(&m->unknown_fields[i], &d, &n))
            return lo_strndup((const char *)d, n);
    }
    return lo_strdup("");
}

static lo_status take_name(lo_fn_table *t, const char *name, lo_error *err) {
    if (!name || !*name || lo_graph_find(t->taken, name) >= 0) return LO_OK;
    return lo_graph_add_value(t->taken, name, err) < 0 ? err->status : LO_OK;
}

static lo_status take_graph_names(lo_fn_table *t, const Onnx__GraphProto *g, lo_error *err) {
    if (!g) return LO_OK;
    for (size_t i = 0; i < g->n_input; i++) LO_TRY(take_name(t, g->input[i]->name, err));
    for (size_t i = 0; i < g->n_output; i++) LO_TRY(take_name(t, g->output[i]->name, err));
    for (size_t i = 0; i < g->n_initializer; i++) LO_TRY(take_name(t, g->initializer[i]->name, err));
    for (size_t i = 0; i < g->n_sparse_initializer; i++)
        if (g->sparse_initializer[i]->values) LO_TRY(take_name(t, g->sparse_initializer[i]->values->name, err));
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *np = g->node[i];
        for (size_t k = 0; k < np->n_input; k++) LO_TRY(take_name(t, np->input[k], err));
        for (size_t k = 0; k < np->n_output; k++) LO_TRY(take_name(t, np->output[k], err));
        for (size_t a = 0; a < np->n_attribute; a++) {
            const Onnx__AttributeProto *ap = np->attribute[a];
            LO_TRY(take_graph_names(t, ap->g, err));
            for (size_t k = 0; k < ap->n_graphs; k++) LO_TRY(take_graph_names(t, ap->graphs[k], err));
        }
    }
    return LO_OK;
}

lo_status lo_fn_table_create(const Onnx__ModelProto *mp, const lo_model_ir *model, lo_fn_table **out,
                             lo_error *err) {
    *out = NULL;
    lo_fn_table *t = calloc(1, sizeof *t);
    if (!t) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    t->model = model;
    onnx__node_proto__init(&t->identity);
    t->identity.op_type = (char *)"Identity";
    t->identity.domain = (char *)"";
    t->taken = calloc(1, sizeof *t->taken);
    t->fns = calloc(mp->n_functions + 1, sizeof *t->fns);
    if (!t->taken || !t->fns) {
        lo_fn_table_free(t);
        return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    }
    for (size_t f = 0; f < mp->n_functions; f++) {
        const Onnx__FunctionProto *fp = mp->functions[f];
        fn_def *d = &t->fns[t->n_fns++];
        d->fp = fp;
        d->overload = read_overload(&fp->base, 13);
        if (!d->overload) {
            lo_fn_table_free(t);
            return lo_fail(err, LO_ERR_NOMEM, "out of memory");
        }
        if (!fp->name || !*fp->name) {
            lo_fn_table_free(t);
            return lo_fail(err, LO_ERR_MODEL, "a model-local function (domain '%s') has no name", dom(fp->domain));
        }
        for (size_t p = 0; p < f; p++) {
            const Onnx__FunctionProto *q = mp->functions[p];
            if (strcmp(q->name, fp->name) == 0 && strcmp(dom(q->domain), dom(fp->domain)) == 0 &&
                strcmp(t->fns[p].overload, d->overload) == 0) {
                lo_fn_table_free(t);
                return lo_fail(err, LO_ERR_MODEL, "the model-local function '%s' (domain '%s') is defined twice",
                               fp->name, dom(fp->domain));
            }
        }
        /* FunctionProto.attribute_proto (11): attributes with defaults */
        const ProtobufCMessage *base = &fp->base;
        for (unsigned i = 0; i < base->n_unknown_fields; i++) {
            const uint8_t *bytes;
            size_t n;
            if (base->unknown_fields[i].tag != 11 || !unknown_bytes(&base->unknown_fields[i], &bytes, &n)) continue;
            Onnx__AttributeProto *ap = onnx__attribute_proto__unpack(NULL, n, bytes);
            if (!ap) {
                lo_fn_table_free(t);
                return lo_fail(err, LO_ERR_MODEL, "function '%s': an attribute default does not decode", fp->name);
            }
            Onnx__AttributeProto **grown = realloc(d->defaults, (d->n_defaults + 1) * sizeof *grown);
            if (!grown) {
                onnx__attribute_proto__free_unpacked(ap, NULL);
                lo_fn_table_free(t);
                return lo_fail(err, LO_ERR_NOMEM, "out of memory");
            }
            d->defaults = grown;
            d->defaults[d->n_defaults++] = ap;
        }
    }
    lo_status st = take_graph_names(t, mp->graph, err);
    if (st != LO_OK) {
        lo_fn_table_free(t);
        return st;
    }
    *out = t;
    return LO_OK;
}

static void scope_free(lo_fn_scope *s) {
    free(s->prefix);
    free(s->call_name);
    free(s->in_actual);
    free(s->in_depth);
    free(s->out_actual);
    free(s->out_depth);
    free(s->attrs);
    if (s->memo)
        for (int v = 0; v < s->memo->n_values; v++) free(s->mapped[v]);
    free(s->mapped);
    lo_graph_free(s->memo);
    free(s);
}

void lo_fn_table_free(lo_fn_table *t) {
    if (!t) return;
    for (size_t i = 0; i < t->n_fns; i++) {
        free(t->fns[i].overload);
        for (size_t k = 0; k < t->fns[i].n_defaults; k++)
            onnx__attribute_proto__free_unpacked(t->fns[i].defaults[k], NULL);
        free(t->fns[i].defaults);
    }
    free(t->fns);
    for (size_t i = 0; i < t->n_scopes; i++) scope_free(t->scopes[i]);
    free(t->scopes);
    lo_graph_free(t->taken);
    free(t);
}

int lo_fn_depth(const lo_fn_scope *scope) { return scope ? scope->depth : 0; }

static const lo_fn_scope *outermost(const lo_fn_scope *s, const lo_fn_scope *top) {
    while (s && s->parent != top) s = s->parent;
    return s;
}

const char *lo_fn_call_node(const lo_fn_scope *s, const lo_fn_scope *top) {
    s = outermost(s, top);
    return s ? s->call_name : NULL;
}

const char *lo_fn_call_op(const lo_fn_scope *s, const lo_fn_scope *top) {
    s = outermost(s, top);
    return s ? s->fn->fp->name : NULL;
}

const char *lo_fn_describe(const lo_fn_scope *scope) { return scope ? scope->describe : ""; }

/* NAME under PREFIX; a name that already starts with '/' (as PyTorch's
 * exporter writes them) is not given a second one. */
static char *join(const char *prefix, const char *name) {
    size_t n = strlen(prefix) + strlen(name) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s%s%s", prefix, name[0] == '/' ? "" : "/", name);
    return s;
}

const char *lo_fn_map(lo_fn_table *t, lo_fn_scope *s, const char *name, int *depth) {
    if (depth) *depth = 0;
    if (!name) name = "";
    if (!s || !*name) return name;
    const Onnx__FunctionProto *fp = s->fn->fp;
    for (size_t k = 0; k < fp->n_input; k++)
        if (fp->input[k] && strcmp(fp->input[k], name) == 0) {
            if (depth) *depth = k < s->n_in ? s->in_depth[k] : 0;
            return k < s->n_in ? s->in_actual[k] : "";
        }
    for (size_t k = 0; k < fp->n_output; k++)
        if (fp->output[k] && strcmp(fp->output[k], name) == 0 && k < s->n_out && s->out_actual[k] &&
            *s->out_actual[k]) {
            if (depth) *depth = s->out_depth[k];
            return s->out_actual[k];
        }
    if (depth) *depth = s->depth;
    int v = lo_graph_find(s->memo, name);
    if (v >= 0) return s->mapped[v];
    char *cand = join(s->prefix, name);
    for (int k = 2; cand && lo_graph_find(t->taken, cand) >= 0; k++) {
        char *base = join(s->prefix, name);
        size_t n = base ? strlen(base) + 16 : 0;
        free(cand);
        cand = base ? malloc(n) : NULL;
        if (cand) snprintf(cand, n, "%s~%d", base, k);
        free(base);
    }
    lo_error ignore;
    if (!cand || take_name(t, cand, &ignore) != LO_OK) {
        free(cand);
        return NULL;
    }
    if (s->memo->n_values == s->cap_mapped) {
        int cap = s->cap_mapped ? s->cap_mapped * 2 : 32;
        char **grown = realloc(s->mapped, (size_t)cap * sizeof *grown);
        if (!grown) {
            free(cand);
            return NULL;
        }
        s->mapped = grown;
        s->cap_mapped = cap;
    }
    v = lo_graph_add_value(s->memo, name, &ignore);
    if (v < 0) {
        free(cand);
        return NULL;
    }
    s->mapped[v] = cand;
    return cand;
}

static const fn_def *find_function(const lo_fn_table *t, const Onnx__NodeProto *np, lo_error *err, bool *oom) {
    *oom = false;
    if (!t->n_fns || !np->op_type) return NULL;
    const char *nd = dom(np->domain);
    char *overload = NULL;
    const fn_def *hit = NULL;
    for (size_t i = 0; i < t->n_fns && !hit; i++) {
        const fn_def *d = &t->fns[i];
        if (strcmp(d->fp->name, np->op_type) != 0 || strcmp(dom(d->fp->domain), nd) != 0) continue;
        if (!overload && !(overload = read_overload(&np->base, 8))) {
            *oom = true;
            lo_fail(err, LO_ERR_NOMEM, "out of memory");
            return NULL;
        }
        if (strcmp(d->overload, overload) == 0) hit = d;
    }
    free(overload);
    return hit;
}

static const Onnx__AttributeProto *scope_attr(const lo_fn_scope *s, const char *name) {
    for (size_t i = 0; s && i < s->n_attrs; i++)
        if (s->attrs[i].name && strcmp(s->attrs[i].name, name) == 0) return &s->attrs[i];
    return NULL;
}

const Onnx__AttributeProto *lo_fn_attr(const lo_fn_scope *s, const Onnx__AttributeProto *ap,
                                       Onnx__AttributeProto *tmp) {
    if (!s || !ap->ref_attr_name || !*ap->ref_attr_name) return ap;
    const Onnx__AttributeProto *v = scope_attr(s, ap->ref_attr_name);
    if (!v) return NULL;
    *tmp = *v;
    tmp->name = ap->name;
    tmp->ref_attr_name = NULL;
    return tmp;
}

int64_t lo_fn_opset(const lo_fn_scope *s, const lo_model_ir *model, const char *domain) {
    const char *d = dom(domain);
    for (; s; s = s->parent) {
        const Onnx__FunctionProto *fp = s->fn->fp;
        for (size_t i = 0; i < fp->n_opset_import; i++)
            if (strcmp(dom(fp->opset_import[i]->domain), d) == 0)
                return fp->opset_import[i]->has_version ? fp->opset_import[i]->version : 1;
    }
    return lo_model_opset(model, d);
}

/* How many nodes a call of d inlines into, saturating past the cap; a
 * function reached again while being counted (recursion, refused when
 * expanded) counts nothing. */
static size_t fn_size(lo_fn_table *t, fn_def *d, int depth, bool *oom, lo_error *err) {
    if (d->sizing == 2) return d->size;
    if (d->sizing == 1 || depth > MAX_CALL_DEPTH) return 0; /* refused when expanded */
    d->sizing = 1;
    size_t total = 0;
    for (size_t i = 0; i < d->fp->n_node && total <= MAX_INLINED_NODES && !*oom; i++) {
        const fn_def *callee = find_function(t, d->fp->node[i], err, oom);
        total += callee ? fn_size(t, (fn_def *)callee, depth + 1, oom, err) : 1;
    }
    if (total > MAX_INLINED_NODES) total = MAX_INLINED_NODES + 1;
    d->size = total;
    d->sizing = 2;
    return total;
}

typedef struct node_list {
    lo_fn_node *v;
    size_t n, cap;
} node_list;

static lo_fn_node *push(node_list *l, lo_error *err) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        lo_fn_node *grown = realloc(l->v, cap * sizeof *grown);
        if (!grown) {
            lo_fail(err, LO_ERR_NOMEM, "out of memory");
            return NULL;
        }
        l->v = grown;
        l->cap = cap;
    }
    lo_fn_node *x = &l->v[l->n++];
    memset(x, 0, sizeof *x);
    return x;
}

static lo_status new_scope(lo_fn_table *t, lo_fn_scope *parent, const fn_def *fn, const Onnx__NodeProto *np,
                           size_t index, lo_fn_scope **out, lo_error *err) {
    if (t->n_scopes == t->cap_scopes) {
        size_t cap = t->cap_scopes ? t->cap_scopes * 2 : 16;
        lo_fn_scope **grown = realloc(t->scopes, cap * sizeof *grown);
        if (!grown) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
        t->scopes = grown;
        t->cap_scopes = cap;
    }
    lo_fn_scope *s = calloc(1, sizeof *s);
    if (!s) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    t->scopes[t->n_scopes++] = s;
    s->parent = parent;
    s->depth = lo_fn_depth(parent) + 1;
    s->fn = fn;
    char local[300];
    if (np->name && *np->name) snprintf(local, sizeof local, "%s", np->name);
    else snprintf(local, sizeof local, "%s#%zu", fn->fp->name, index);
    s->call_name = parent ? join(parent->prefix, local) : lo_strdup(local);
    s->prefix = lo_strdup(s->call_name);
    s->memo = calloc(1, sizeof *s->memo);
    s->n_in = np->n_input;
    s->n_out = np->n_output;
    s->in_actual = calloc(np->n_input + 1, sizeof *s->in_actual);
    s->in_depth = calloc(np->n_input + 1, sizeof *s->in_depth);
    s->out_actual = calloc(np->n_output + 1, sizeof *s->out_actual);
    s->out_depth = calloc(np->n_output + 1, sizeof *s->out_depth);
    s->attrs = calloc(np->n_attribute + fn->n_defaults + 1, sizeof *s->attrs);
    if (!s->call_name || !s->prefix || !s->memo || !s->in_actual || !s->in_depth || !s->out_actual ||
        !s->out_depth || !s->attrs)
        return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    snprintf(s->describe, sizeof s->describe, "function '%s' (domain '%s') called by node '%s'", fn->fp->name,
             dom(fn->fp->domain), s->call_name);
    if (np->n_input > fn->fp->n_input)
        return lo_fail(err, LO_ERR_MODEL, "node '%s' gives %zu inputs to function '%s', which takes %zu",
                       s->call_name, np->n_input, fn->fp->name, fn->fp->n_input);
    if (np->n_output > fn->fp->n_output)
        return lo_fail(err, LO_ERR_MODEL, "node '%s' takes %zu outputs from function '%s', which has %zu",
                       s->call_name, np->n_output, fn->fp->name, fn->fp->n_output);
    for (size_t k = 0; k < np->n_input; k++)
        if (!(s->in_actual[k] = lo_fn_map(t, parent, np->input[k], &s->in_depth[k])))
            return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < np->n_output; k++)
        if (!(s->out_actual[k] = lo_fn_map(t, parent, np->output[k], &s->out_depth[k])))
            return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    /* The call's attributes, references to the caller's own resolved, then
     * the defaults of those it leaves unset. */
    for (size_t a = 0; a < np->n_attribute; a++) {
        const Onnx__AttributeProto *ap = np->attribute[a];
        if (ap->ref_attr_name && *ap->ref_attr_name && !parent)
            return lo_fail(err, LO_ERR_MODEL, "attribute '%s' of node '%s' refers to a function attribute outside "
                           "any function", ap->name ? ap->name : "", s->call_name);
        Onnx__AttributeProto tmp;
        const Onnx__AttributeProto *r = lo_fn_attr(parent, ap, &tmp);
        if (r) s->attrs[s->n_attrs++] = *r;
    }
    for (size_t k = 0; k < fn->n_defaults; k++)
        if (fn->defaults[k]->name && !scope_attr(s, fn->defaults[k]->name)) s->attrs[s->n_attrs++] = *fn->defaults[k];
    *out = s;
    return LO_OK;
}

static lo_status map_node(lo_fn_table *t, lo_fn_scope *s, const Onnx__NodeProto *np, size_t index, lo_fn_node *x,
                          lo_error *err) {
    x->np = np;
    x->scope = s;
    x->n_inputs = (int)np->n_input;
    x->n_outputs = (int)np->n_output;
    x->inputs = calloc(np->n_input + 1, sizeof *x->inputs);
    x->raw_inputs = calloc(np->n_input + 1, sizeof *x->raw_inputs);
    x->outputs = calloc(np->n_output + 1, sizeof *x->outputs);
    x->output_depth = calloc(np->n_output + 1, sizeof *x->output_depth);
    if (!x->inputs || !x->raw_inputs || !x->outputs || !x->output_depth)
        return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < np->n_input; k++) {
        x->raw_inputs[k] = np->input[k] ? np->input[k] : "";
        if (!(x->inputs[k] = lo_fn_map(t, s, np->input[k], NULL))) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    }
    for (size_t k = 0; k < np->n_output; k++)
        if (!(x->outputs[k] = lo_fn_map(t, s, np->output[k], &x->output_depth[k])))
            return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    if (s) {
        char local[300];
        if (np->name && *np->name) snprintf(local, sizeof local, "%s", np->name);
        else snprintf(local, sizeof local, "#%zu", index);
        x->name = join(s->prefix, local);
        if (!x->name) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    } else if (np->name && *np->name) {
        x->name = lo_strdup(np->name);
        if (!x->name) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    }
    return LO_OK;
}

static lo_status expand(lo_fn_table *t, lo_fn_scope *s, Onnx__NodeProto *const *nodes, size_t n_nodes,
                        node_list *out, lo_error *err) {
    for (size_t i = 0; i < n_nodes; i++) {
        const Onnx__NodeProto *np = nodes[i];
        bool oom;
        const fn_def *fn = find_function(t, np, err, &oom);
        if (oom) return err->status;
        if (!fn) {
            lo_fn_node *x = push(out, err);
            if (!x) return err->status;
            if (s) t->n_inlined++;
            LO_TRY(map_node(t, s, np, i, x, err));
            continue;
        }
        for (const lo_fn_scope *p = s; p; p = p->parent)
            if (p->fn == fn)
                return lo_fail(err, LO_ERR_MODEL, "function '%s' (domain '%s') calls itself (through node '%s')",
                               fn->fp->name, dom(fn->fp->domain), p->call_name);
        if (lo_fn_depth(s) >= MAX_CALL_DEPTH)
            return lo_fail(err, LO_ERR_MODEL, "model-local functions nest deeper than %d calls", MAX_CALL_DEPTH);
        lo_fn_scope *child = NULL;
        /* counted before any is made: a few bytes can nest into billions */
        bool oom2 = false;
        size_t size = fn_size(t, (fn_def *)fn, 0, &oom2, err);
        if (oom2) return err->status;
        if (size > MAX_INLINED_NODES - t->n_inlined)
            return lo_fail(err, LO_ERR_UNSUPPORTED, "inlining the model-local functions would make more than %zu "
                           "nodes (function '%s' is called too many times over)", MAX_INLINED_NODES, fn->fp->name);
        LO_TRY(new_scope(t, s, fn, np, i, &child, err));
        LO_TRY(expand(t, child, fn->fp->node, fn->fp->n_node, out, err));
        const Onnx__FunctionProto *fp = fn->fp;
        for (size_t k = 0; k < child->n_out; k++) {
            if (!child->out_actual[k] || !*child->out_actual[k] || !fp->output[k]) continue;
            bool is_input = false;
            for (size_t j = 0; j < fp->n_input && !is_input; j++)
                is_input = fp->input[j] && strcmp(fp->input[j], fp->output[k]) == 0;
            if (!is_input) continue;
            lo_fn_node *x = push(out, err);
            if (!x) return err->status;
            x->np = &t->identity;
            x->scope = child;
            x->n_inputs = x->n_outputs = 1;
            x->inputs = calloc(2, sizeof *x->inputs);
            x->raw_inputs = calloc(2, sizeof *x->raw_inputs);
            x->outputs = calloc(2, sizeof *x->outputs);
            x->output_depth = calloc(2, sizeof *x->output_depth);
            char local[300];
            snprintf(local, sizeof local, "#return%zu", k);
            x->name = join(child->prefix, local);
            if (!x->inputs || !x->raw_inputs || !x->outputs || !x->output_depth || !x->name)
                return lo_fail(err, LO_ERR_NOMEM, "out of memory");
            x->raw_inputs[0] = fp->output[k];
            x->inputs[0] = lo_fn_map(t, child, fp->output[k], NULL);
            x->outputs[0] = child->out_actual[k];
            x->output_depth[0] = child->out_depth[k];
        }
    }
    return LO_OK;
}

lo_status lo_fn_expand(lo_fn_table *t, lo_fn_scope *scope, Onnx__NodeProto *const *nodes, size_t n_nodes,
                       lo_fn_node **out, size_t *n_out, lo_error *err) {
    node_list l = {0};
    lo_status st = t ? expand(t, scope, nodes, n_nodes, &l, err) : LO_OK;
    if (!t)
        for (size_t i = 0; i < n_nodes && st == LO_OK; i++) {
            lo_fn_node *x = push(&l, err);
            st = x ? map_node(NULL, NULL, nodes[i], i, x, err) : err->status;
        }
    if (st != LO_OK) {
        lo_fn_nodes_free(l.v, l.n);
        *out = NULL;
        *n_out = 0;
        return st;
    }
    *out = l.v;
    *n_out = l.n;
    return LO_OK;
}

void lo_fn_nodes_free(lo_fn_node *nodes, size_t n) {
    for (size_t i = 0; nodes && i < n; i++) {
        free((char *)nodes[i].name);
        free(nodes[i].inputs);
        free(nodes[i].raw_inputs);
        free(nodes[i].outputs);
        free(nodes[i].output_depth);
    }
    free(nodes);
}
