/* Graph construction helpers: name lookup, outer-scope resolution,
 * topological order, attribute access, freeing. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "graph.h"
#include "../util/util.h"

/* Open-addressing map from value name to index, rebuilt on growth. */
typedef struct name_index {
    size_t cap; /* power of two */
    int *slots; /* value index + 1; 0 = empty */
} name_index;

static uint64_t hash_str(const char *s) { return lo_fnv1a64(s); }

static bool index_insert(lo_graph *g, int value) {
    name_index *ix = g->name_index;
    if (!ix) {
        ix = calloc(1, sizeof *ix);
        if (!ix) return false;
        g->name_index = ix;
    }
    if ((size_t)(g->n_values + 1) * 2 > ix->cap) {
        size_t cap = ix->cap ? ix->cap * 2 : 64;
        while ((size_t)(g->n_values + 1) * 2 > cap) cap *= 2;
        int *slots = calloc(cap, sizeof *slots);
        if (!slots) return false;
        free(ix->slots);
        ix->slots = slots;
        ix->cap = cap;
        for (int v = 0; v < g->n_values; v++) {
            if (v == value) continue;
            size_t h = hash_str(g->values[v].name) & (cap - 1);
            while (slots[h]) h = (h + 1) & (cap - 1);
            slots[h] = v + 1;
        }
    }
    size_t h = hash_str(g->values[value].name) & (ix->cap - 1);
    while (ix->slots[h]) h = (h + 1) & (ix->cap - 1);
    ix->slots[h] = value + 1;
    return true;
}

int lo_graph_find(const lo_graph *g, const char *name) {
    const name_index *ix = g->name_index;
    if (!ix || !ix->cap) return -1;
    size_t h = hash_str(name) & (ix->cap - 1);
    while (ix->slots[h]) {
        int v = ix->slots[h] - 1;
        if (strcmp(g->values[v].name, name) == 0) return v;
        h = (h + 1) & (ix->cap - 1);
    }
    return -1;
}

int lo_graph_add_value(lo_graph *g, const char *name, lo_error *err) {
    if (g->n_values == g->cap_values) {
        int cap = g->cap_values ? g->cap_values * 2 : 64;
        lo_value *vals = realloc(g->values, (size_t)cap * sizeof *vals);
        if (!vals) {
            lo_fail(err, LO_ERR_NOMEM, "out of memory building the graph");
            return -1;
        }
        g->values = vals;
        g->cap_values = cap;
    }
    lo_value *v = &g->values[g->n_values];
    memset(v, 0, sizeof *v);
    v->name = lo_strdup(name);
    v->producer = -1;
    v->outer_value = -1;
    v->decl_rank = -1;
    if (!v->name) {
        lo_fail(err, LO_ERR_NOMEM, "out of memory building the graph");
        return -1;
    }
    g->n_values++;
    if (!index_insert(g, g->n_values - 1)) {
        lo_fail(err, LO_ERR_NOMEM, "out of memory building the graph");
        return -1;
    }
    return g->n_values - 1;
}

int lo_graph_resolve(lo_graph *g, const char *name, lo_error *err) {
    int v = lo_graph_find(g, name);
    if (v >= 0 || !g->parent) return v;
    int outer = lo_graph_resolve(g->parent, name, err);
    if (outer < 0) return -1;
    v = lo_graph_add_value(g, name, err);
    if (v < 0) return -1;
    g->values[v].kind = LO_VALUE_OUTER;
    g->values[v].outer_value = outer;
    const lo_value *src = &g->parent->values[outer];
    g->values[v].decl_dtype = src->decl_dtype;
    g->values[v].decl_rank = src->decl_rank;
    memcpy(g->values[v].decl_dims, src->decl_dims, sizeof src->decl_dims);
    return v;
}

/* ---- topological order -------------------------------------------------- */

static lo_status add_implicit(lo_node *n, int value, lo_error *err) {
    for (int i = 0; i < n->n_implicit; i++)
        if (n->implicit_inputs[i] == value) return LO_OK;
    int *p = realloc(n->implicit_inputs, (size_t)(n->n_implicit + 1) * sizeof *p);
    if (!p) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    p[n->n_implicit++] = value;
    n->implicit_inputs = p;
    return LO_OK;
}

/* Every value a node's subgraphs read from this graph becomes an implicit
 * input of the node, so it is ordered after their producers and kept alive. */
static lo_status collect_implicit(lo_graph *g, lo_node *n, const lo_graph *sub, lo_error *err) {
    for (int v = 0; v < sub->n_values; v++) {
        const lo_value *val = &sub->values[v];
        if (val->kind != LO_VALUE_OUTER) continue;
        LO_ASSERT(sub->parent == g);
        LO_TRY(add_implicit(n, val->outer_value, err));
    }
    return LO_OK;
}

static lo_status node_subgraphs_implicit(lo_graph *g, lo_node *n, lo_error *err) {
    for (int a = 0; a < n->n_attrs; a++) {
        const lo_attr *at = &n->attrs[a];
        if (at->type == LO_ATTR_GRAPH && at->graph) LO_TRY(collect_implicit(g, n, at->graph, err));
        if (at->type == LO_ATTR_GRAPHS)
            for (int64_t k = 0; k < at->n; k++) LO_TRY(collect_implicit(g, n, at->graphs[k], err));
    }
    return LO_OK;
}

/* A min-heap of node indices: the ready set of the topological sort. */
static void heap_push(int *heap, int *n, int value) {
    int k = (*n)++;
    heap[k] = value;
    while (k > 0 && heap[(k - 1) / 2] > heap[k]) {
        int t = heap[k];
        heap[k] = heap[(k - 1) / 2];
        heap[(k - 1) / 2] = t;
        k = (k - 1) / 2;
    }
}

static int heap_pop(int *heap, int *n) {
    int top = heap[0];
    heap[0] = heap[--*n];
    for (int k = 0;;) {
        int l = 2 * k + 1, r = l + 1, m = k;
        if (l < *n && heap[l] < heap[m]) m = l;
        if (r < *n && heap[r] < heap[m]) m = r;
        if (m == k) break;
        int t = heap[k];
        heap[k] = heap[m];
        heap[m] = t;
        k = m;
    }
    return top;
}

lo_status lo_graph_finalize(lo_graph *g, lo_error *err) {
    /* Nested graphs first: their outer references must be known here. */
    for (int i = 0; i < g->n_nodes; i++) {
        lo_node *n = &g->nodes[i];
        for (int a = 0; a < n->n_attrs; a++) {
            lo_attr *at = &n->attrs[a];
            if (at->type == LO_ATTR_GRAPH && at->graph) LO_TRY(lo_graph_finalize(at->graph, err));
            if (at->type == LO_ATTR_GRAPHS)
                for (int64_t k = 0; k < at->n; k++) LO_TRY(lo_graph_finalize(at->graphs[k], err));
        }
        LO_TRY(node_subgraphs_implicit(g, n, err));
    }

    int *pending = calloc((size_t)g->n_nodes + 1, sizeof *pending);
    int *queue = calloc((size_t)g->n_nodes + 1, sizeof *queue);
    free(g->order);
    g->order = calloc((size_t)g->n_nodes + 1, sizeof *g->order);
    if (!pending || !queue || !g->order) {
        free(pending);
        free(queue);
        return lo_fail(err, LO_ERR_NOMEM, "out of memory ordering the graph");
    }
    for (int v = 0; v < g->n_values; v++) g->values[v].n_readers = 0;
    /* A node waits for each input that another node produces. */
    for (int i = 0; i < g->n_nodes; i++) {
        lo_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_inputs + n->n_implicit; k++) {
            int v = k < n->n_inputs ? n->inputs[k] : n->implicit_inputs[k - n->n_inputs];
            if (v < 0) continue;
            g->values[v].n_readers++;
            if (g->values[v].kind == LO_VALUE_NODE) pending[i]++;
        }
    }
    /* Kahn's algorithm, taking ready nodes in file order so that a model
     * already sorted keeps its order (it is the order AIMET reports). */
    int tail = 0, done = 0;
    for (int i = 0; i < g->n_nodes; i++)
        if (!pending[i]) queue[tail++] = i;
    /* Readers of each value as linked lists over the edges. */
    int *first = malloc(((size_t)g->n_values + 1) * sizeof *first);
    int *next = NULL, *who = NULL;
    int n_edges = 0;
    for (int i = 0; i < g->n_nodes; i++) n_edges += g->nodes[i].n_inputs + g->nodes[i].n_implicit;
    next = malloc(((size_t)n_edges + 1) * sizeof *next);
    who = malloc(((size_t)n_edges + 1) * sizeof *who);
    if (!first || !next || !who) {
        free(pending); free(queue); free(first); free(next); free(who);
        return lo_fail(err, LO_ERR_NOMEM, "out of memory ordering the graph");
    }
    for (int v = 0; v < g->n_values; v++) first[v] = -1;
    int e = 0;
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        lo_node *n = &g->nodes[i];
        for (int k = n->n_inputs + n->n_implicit - 1; k >= 0; k--) {
            int v = k < n->n_inputs ? n->inputs[k] : n->implicit_inputs[k - n->n_inputs];
            if (v < 0 || g->values[v].kind != LO_VALUE_NODE) continue;
            who[e] = i;
            next[e] = first[v];
            first[v] = e++;
        }
    }
    int heap_n = 0;
    for (int q = 0; q < tail; q++) heap_push(queue, &heap_n, queue[q]);
    while (heap_n > 0) {
        int i = heap_pop(queue, &heap_n);
        g->order[done++] = i;
        lo_node *n = &g->nodes[i];
        for (int o = 0; o < n->n_outputs; o++) {
            int v = n->outputs[o];
            if (v < 0) continue;
            for (int ed = first[v]; ed >= 0; ed = next[ed])
                if (--pending[who[ed]] == 0) heap_push(queue, &heap_n, who[ed]);
        }
    }
    lo_status st = LO_OK;
    if (done != g->n_nodes) {
        int stuck = -1;
        for (int i = 0; i < g->n_nodes && stuck < 0; i++)
            if (pending[i]) stuck = i;
        st = lo_fail(err, LO_ERR_MODEL,
                     "graph '%s' has a cycle: node '%s' (%s) depends on its own output",
                     g->name ? g->name : "", g->nodes[stuck].name, g->nodes[stuck].op_type);
    }
    free(pending); free(queue); free(first); free(next); free(who);
    return st;
}

/* ---- attributes ----------------------------------------------------------- */

const lo_attr *lo_attr_find(const lo_node *n, const char *name) {
    for (int i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0) return &n->attrs[i];
    return NULL;
}

int64_t lo_attr_int(const lo_node *n, const char *name, int64_t dflt) {
    const lo_attr *a = lo_attr_find(n, name);
    return a && a->type == LO_ATTR_INT ? a->i : dflt;
}

float lo_attr_float(const lo_node *n, const char *name, float dflt) {
    const lo_attr *a = lo_attr_find(n, name);
    if (a && a->type == LO_ATTR_FLOAT) return a->f;
    if (a && a->type == LO_ATTR_INT) return (float)a->i;
    return dflt;
}

const char *lo_attr_string(const lo_node *n, const char *name, const char *dflt) {
    const lo_attr *a = lo_attr_find(n, name);
    return a && a->type == LO_ATTR_STRING ? a->s : dflt;
}

const int64_t *lo_attr_ints(const lo_node *n, const char *name, int64_t *count) {
    const lo_attr *a = lo_attr_find(n, name);
    if (a && a->type == LO_ATTR_INTS) {
        *count = a->n;
        return a->ints;
    }
    *count = 0;
    return NULL;
}

const float *lo_attr_floats(const lo_node *n, const char *name, int64_t *count) {
    const lo_attr *a = lo_attr_find(n, name);
    if (a && a->type == LO_ATTR_FLOATS) {
        *count = a->n;
        return a->floats;
    }
    *count = 0;
    return NULL;
}

int64_t lo_model_opset(const lo_model_ir *m, const char *domain) {
    const char *d = domain && strcmp(domain, "ai.onnx") != 0 ? domain : "";
    for (int i = 0; i < m->n_opsets; i++) {
        const char *md = strcmp(m->opsets[i].domain, "ai.onnx") == 0 ? "" : m->opsets[i].domain;
        if (strcmp(md, d) == 0) return m->opsets[i].version;
    }
    return -1;
}

/* ---- freeing ---------------------------------------------------------------- */

static void attr_free(lo_attr *a) {
    free(a->name);
    free(a->s);
    free(a->floats);
    free(a->ints);
    if (a->strings)
        for (int64_t i = 0; i < a->n; i++) free(a->strings[i]);
    free(a->strings);
    if (a->tensor) {
        lo_tensor_free_data(a->tensor);
        free(a->tensor);
    }
    if (a->tensors) {
        for (int64_t i = 0; i < a->n; i++) lo_tensor_free_data(&a->tensors[i]);
        free(a->tensors);
    }
    lo_graph_free(a->graph);
    if (a->graphs)
        for (int64_t i = 0; i < a->n; i++) lo_graph_free(a->graphs[i]);
    free(a->graphs);
}

static bool in_mapping(const lo_model_ir *m, const void *p) {
    if (!m) return false;
    for (int i = 0; i < m->n_mappings; i++) {
        const char *a = m->mappings[i].addr;
        if ((const char *)p >= a && (const char *)p < a + m->mappings[i].size) return true;
    }
    return false;
}

void lo_graph_free(lo_graph *g) {
    if (!g) return;
    for (int i = 0; i < g->n_nodes; i++) {
        lo_node *n = &g->nodes[i];
        if (n->params) {
            if (n->params_free) n->params_free(n->params);
            else free(n->params);
        }
        for (int a = 0; a < n->n_attrs; a++) attr_free(&n->attrs[a]);
        for (int k = 0; k < n->n_meta; k++) {
            free(n->meta_keys[k]);
            free(n->meta_values[k]);
        }
        free(n->meta_keys);
        free(n->meta_values);
        free(n->attrs);
        free(n->name);
        free(n->op_type);
        free(n->domain);
        free(n->inputs);
        free(n->outputs);
        free(n->implicit_inputs);
    }
    for (int v = 0; v < g->n_values; v++) {
        lo_value *val = &g->values[v];
        if (val->kind == LO_VALUE_INITIALIZER) {
            if (in_mapping(g->model, val->init.data)) val->init.data = NULL;
            lo_tensor_free_data(&val->init);
        }
        free(val->name);
        free(val->call_node);
        free(val->call_op);
    }
    name_index *ix = g->name_index;
    if (ix) free(ix->slots);
    free(ix);
    free(g->values);
    free(g->nodes);
    free(g->inputs);
    free(g->outputs);
    free(g->order);
    free(g->name);
    free(g);
}

void lo_model_ir_free(lo_model_ir *m) {
    if (!m) return;
    lo_graph_free(m->graph);
    for (int i = 0; i < m->n_mappings; i++) munmap(m->mappings[i].addr, m->mappings[i].size);
    free(m->mappings);
    for (int i = 0; i < m->n_opsets; i++) free(m->opsets[i].domain);
    free(m->opsets);
    free(m->path);
    free(m->producer_name);
    free(m->producer_version);
    free(m);
}
