/* Fusion planning for the run loop (exec.c runs the plan). */
#include <stdlib.h>
#include <string.h>

#include "../ops/math/fusion.h"
#include "internal.h"

/* ---- fusion ------------------------------------------------------------------- */
/* A tensor no observer keeps, read by one node only, need not exist: the
 * run loop may then
 * - run a chain of elementwise nodes over its producer's output in
 *   cache-sized blocks, in place (Conv+Relu, MatMul+bias Add, Add+Relu,
 *   Sigmoid x Mul, GELU's Div/Erf/Add/Mul, ...): the head node runs as
 *   always, the links are evaluated right after it, and the chain's result
 *   is shown to the observer at the last link's place in the order, so the
 *   order of saved tensors does not change;
 * - let MatMul read an operand through the Transpose that made it (K^T in
 *   attention), which then never runs;
 * - hold a Conv's output in oneDNN's blocked layout up to the Convs that
 *   read it, through the elementwise nodes, pooling and gate Muls between
 *   (plan_blocked; docs/ARCHITECTURE.md, "The run plan").
 * Independently of what is saved, a Reshape-like node that is the last
 * reader of its input takes the input's block instead of copying it.
 * Encoded tensors are never fused away (the quantization step must happen
 * on them), nor graph outputs, nor tensors a subgraph reads. */

void lo_plan_free(lo_plan *p) {
    free(p->role);
    free(p->group);
    free(p->fold);
    free(p->donor);
    free(p->alias);
    free(p->groups);
    free(p->vblk);
    memset(p, 0, sizeof *p);
}

/* Whether value v of the top graph is seen by nobody but its readers:
 * no observer keeps it, it is no graph output and has no encoding. */
static bool value_unseen(const lo_session *s, const lo_graph *g, int v, bool observing) {
    const lo_value *val = &g->values[v];
    if (val->kind != LO_VALUE_NODE || val->is_graph_output || val->producer < 0) return false;
    const lo_quant *q = s->model->quant;
    if (q && lo_quant_find(q, g, v)) return false;
    if (!observing) return true;
    const lo_node *producer = &g->nodes[val->producer];
    if (lo_is_op(producer, "Constant") || (q && lo_quant_hidden(q, g, v))) return true;
    if (val->in_function && !s->subgraphs) return true; /* never reported */
    if (!s->saved) return false;
    lo_layer_output o;
    memset(&o, 0, sizeof o);
    o.name = val->name;
    o.node_name = val->call_node ? val->call_node : producer->name;
    o.op_type = val->call_op ? val->call_op : producer->op_type;
    o.iteration = -1;
    o.nested = val->in_function;
    o.tensor.name = val->name;
    o.tensor.rank = -1;
    return !s->saved(s->saved_user, &o);
}

/* Occurrences of v among the explicit inputs of nodes[0..n). */
static int reads_among(const lo_graph *g, const int *nodes, int n, int v) {
    int c = 0;
    for (int k = 0; k < n; k++) {
        const lo_node *m = &g->nodes[nodes[k]];
        for (int i = 0; i < m->n_inputs; i++) c += m->inputs[i] == v;
    }
    return c;
}

static bool has_subgraph(const lo_node *n) {
    for (int a = 0; a < n->n_attrs; a++)
        if (n->attrs[a].type == LO_ATTR_GRAPH || n->attrs[a].type == LO_ATTR_GRAPHS) return true;
    return n->n_implicit > 0;
}

/* The nodes reading each value: nodes[start[v] .. start[v + 1]). */
typedef struct reader_index {
    int *start, *nodes;
} reader_index;

/* Fills ri for graph g; false (nothing held) when out of memory. */
static bool reader_index_build(const lo_graph *g, reader_index *ri) {
    int total = 0;
    for (int i = 0; i < g->n_nodes; i++) total += g->nodes[i].n_inputs;
    ri->start = calloc((size_t)g->n_values + 2, sizeof *ri->start);
    ri->nodes = calloc((size_t)total + 1, sizeof *ri->nodes);
    int *fill = calloc((size_t)g->n_values + 1, sizeof *fill);
    if (!ri->start || !ri->nodes || !fill) {
        free(ri->start);
        free(ri->nodes);
        free(fill);
        return false;
    }
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_inputs; k++)
            if (g->nodes[i].inputs[k] >= 0) ri->start[g->nodes[i].inputs[k] + 1]++;
    for (int v = 0; v < g->n_values; v++) ri->start[v + 1] += ri->start[v];
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_inputs; k++) {
            int v = g->nodes[i].inputs[k];
            if (v >= 0) ri->nodes[ri->start[v] + fill[v]++] = i;
        }
    free(fill);
    return true;
}

/* A Constant node (no inputs, no subgraph) that may run ahead of its place. */
static bool early_constant(const lo_graph *g, const lo_plan *p, int node) {
    const lo_node *n = &g->nodes[node];
    return lo_is_op(n, "Constant") && n->n_inputs == 0 && n->n_outputs == 1 && !has_subgraph(n) &&
           (p->role[node] == LO_ROLE_NONE || p->role[node] == LO_ROLE_EARLY);
}

/* Grows the chain of elementwise nodes over head h's output; true when at
 * least one link stays after trimming to what may go unmaterialized. */
static bool plan_group(const lo_session *s, const lo_graph *g, lo_plan *p, const int *pos, const reader_index *ri,
                       bool observing, int h, lo_fuse_group *grp) {
    const lo_node *head = &g->nodes[h];
    if (!head->def || head->n_outputs != 1 || head->outputs[0] < 0 || lo_is_op(head, "Constant") || has_subgraph(head))
        return false;
    int v0 = head->outputs[0];
    if (!value_unseen(s, g, v0, observing)) return false;
    memset(grp, 0, sizeof *grp);
    grp->head = h;
    grp->values[0] = v0;
    int n = 0;
    while (n < LO_CHAIN_MAX) {
        int best = -1;
        int best_slot[3] = {0, 0, 0};
        for (int r = 0; r <= n; r++)
        for (int j = ri->start[grp->values[r]]; j < ri->start[grp->values[r] + 1]; j++) {
            int c = ri->nodes[j];
            const lo_node *m = &g->nodes[c];
            if (p->role[c] != LO_ROLE_NONE || c == h || pos[c] <= pos[h] || (best >= 0 && pos[c] >= pos[best])) continue;
            if (m->n_inputs > 3 || m->n_outputs != 1 || m->outputs[0] < 0 || !lo_ew_fusable(m)) continue;
            bool linked = false, ok = true, taken = false;
            for (int k = 0; k < n && !taken; k++) taken = grp->link[k] == c;
            if (taken) continue;
            int slot[3];
            for (int i = 0; i < m->n_inputs && ok; i++) {
                int v = m->inputs[i];
                slot[i] = -1;
                if (v < 0) {
                    slot[i] = -2;
                    ok = lo_is_op(m, "Clip");
                    continue;
                }
                for (int k = 0; k <= n; k++)
                    if (grp->values[k] == v) slot[i] = k;
                if (slot[i] >= 0) {
                    linked = true;
                    continue;
                }
                const lo_value *val = &g->values[v];
                if (val->kind == LO_VALUE_NODE)
                    ok = val->producer >= 0 && (pos[val->producer] < pos[h] || early_constant(g, p, val->producer));
                else ok = val->kind == LO_VALUE_INITIALIZER || val->kind == LO_VALUE_INPUT;
            }
            if (!ok || !linked) continue;
            best = c;
            memcpy(best_slot, slot, sizeof slot);
        }
        if (best < 0) break;
        grp->link[n] = best;
        memcpy(grp->slot[n], best_slot, sizeof best_slot);
        grp->values[n + 1] = g->nodes[best].outputs[0];
        n++;
    }
    /* keep the longest prefix whose inner values (all but the last link's
     * output) are unseen and read by its links only */
    for (; n >= 1; n--) {
        bool ok = true;
        for (int k = 0; k < n && ok; k++) {
            int v = grp->values[k];
            ok = (k == 0 || value_unseen(s, g, v, observing)) &&
                 reads_among(g, grp->link, n, v) == g->values[v].n_readers;
        }
        if (ok) break;
    }
    grp->n_links = n;
    return n >= 1;
}

/* Whether value v is known to hold a single element: an initializer or a
 * Constant's output (any broadcast of it is indifferent to the layout). */
static bool single_value(const lo_graph *g, int v) {
    const lo_value *val = &g->values[v];
    if (val->kind == LO_VALUE_INITIALIZER) return lo_numel(&val->init) == 1;
    if (val->kind != LO_VALUE_NODE || val->producer < 0) return false;
    const lo_node *c = &g->nodes[val->producer];
    if (!lo_is_op(c, "Constant") || c->n_attrs != 1) return false;
    const lo_attr *a = &c->attrs[0];
    if (a->type == LO_ATTR_TENSOR) return a->tensor && lo_numel(a->tensor) == 1;
    return a->type == LO_ATTR_FLOAT || a->type == LO_ATTR_INT;
}

/* ---- values held blocked ------------------------------------------------------ */
/* A Conv's output in oneDNN's nCx16c layout is turned back to NCHW only
 * where something needs NCHW: the next Conv reads it blocked, and so do the
 * nodes between that do not care where a channel's values lie (an
 * elementwise node whose operands are all blocked alike or single values:
 * Relu, Clip, SiLU's Sigmoid and Mul, a residual Add), average pooling (the
 * same lanes as NCHW's row sums) and a squeeze-excitation's per-channel
 * gate Mul. Only values nobody sees are so held: no saved tensor, graph
 * output or encoded tensor. (Saving one would cost the writer a pass to put
 * it in NCHW order, measured to cost what the reorders it spares do: every
 * saved value needs one transposition either way.) Whether a value is
 * blocked in a run is decided as it is made (a Conv blocks only where its
 * kernels do; exec.c). */

/* Whether value v may be held blocked at all, whoever reads it. */
static bool may_hold_blocked(const lo_session *s, const lo_graph *g, int v, bool observing) {
    const lo_quant *q = s->model->quant;
    return !g->values[v].in_function && !(q && lo_quant_hidden(q, g, v)) && value_unseen(s, g, v, observing);
}

/* An elementwise node indifferent to the layout when its operands are
 * blocked alike or single values. */
static bool layout_free(const lo_node *m) { return lo_ew_fusable(m) && m->outputs[0] >= 0 && !has_subgraph(m); }

/* Whether node a's group (a is its head or a link) may evaluate over
 * blocked values as a whole: what its links read from outside is single
 * values or values held blocked too (a residual Add's other branch, a
 * gate's feature map; were one in NCHW, the chain would mix layouts). */
static bool unit_group(const lo_graph *g, const lo_plan *p, int a) {
    const lo_fuse_group *grp = &p->groups[p->group[a]];
    for (int l = 0; l < grp->n_links; l++) {
        const lo_node *m = &g->nodes[grp->link[l]];
        for (int j = 0; j < m->n_inputs; j++)
            if (grp->slot[l][j] == -1 && !single_value(g, m->inputs[j]) && !p->vblk[m->inputs[j]]) return false;
    }
    return true;
}

/* The value node a's group leaves: its last link's output. */
static int group_result(const lo_plan *p, int a) {
    const lo_fuse_group *grp = &p->groups[p->group[a]];
    return grp->values[grp->n_links];
}

/* A Conv, or an elementwise node (a Mul among them: a gate's too). */
static bool blockable_op(const lo_node *m) {
    return m->n_outputs == 1 && m->outputs[0] >= 0 && !has_subgraph(m) && (lo_is_op(m, "Conv") || layout_free(m));
}

/* Whether node a (run by its own kernel) can leave its output blocked,
 * its inputs as vblk holds them: a Conv always may; an elementwise node
 * when its operands are blocked alike or single values; a Mul with one
 * blocked side (the other a per-channel gate, checked as it runs). */
static bool makes_blocked(const lo_graph *g, const lo_plan *p, int a) {
    const lo_node *m = &g->nodes[a];
    if (lo_is_op(m, "Conv")) return true;
    int blocked = 0, other = 0;
    for (int k = 0; k < m->n_inputs; k++) {
        int v = m->inputs[k];
        if (v < 0 || single_value(g, v)) continue;
        if (p->vblk[v]) blocked++;
        else other++;
    }
    return blocked > 0 && (other == 0 || (lo_is_op(m, "Mul") && m->n_inputs == 2 && other == 1));
}

/* Whether node r can read value v blocked, under the current vblk. */
static bool takes_blocked(const lo_graph *g, const lo_plan *p, int r, int v) {
    const lo_node *m = &g->nodes[r];
    if (!blockable_op(m) && !lo_is_op(m, "GlobalAveragePool")) return false;
    int role = p->role[r];
    if (role == LO_ROLE_LINK) return unit_group(g, p, r) && p->vblk[group_result(p, r)];
    if (role != LO_ROLE_NONE && role != LO_ROLE_HEAD) return false;
    if (lo_is_op(m, "Conv")) {
        for (int k = 1; k < m->n_inputs; k++)
            if (m->inputs[k] == v) return false;
        return true;
    }
    if (lo_is_op(m, "GlobalAveragePool")) return m->n_inputs == 1;
    if (role == LO_ROLE_HEAD) return unit_group(g, p, r) && p->vblk[group_result(p, r)];
    return p->vblk[m->outputs[0]];
}

/* Whether vblk[v] still holds: its maker can make it blocked and each of
 * its readers can take it so. */
static bool stays_blocked(const lo_graph *g, const lo_plan *p, const reader_index *ri, int v) {
    int a = g->values[v].producer;
    bool ok;
    if (p->role[a] == LO_ROLE_NONE) ok = makes_blocked(g, p, a);
    else if (p->role[a] == LO_ROLE_LINK && group_result(p, a) == v)
        ok = unit_group(g, p, a) && makes_blocked(g, p, p->groups[p->group[a]].head);
    else ok = false;
    int takers = 0;
    for (int j = ri->start[v]; j < ri->start[v + 1] && ok; j++, takers++) ok = takes_blocked(g, p, ri->nodes[j], v);
    return ok && takers == g->values[v].n_readers;
}

static void plan_blocked(const lo_session *s, const lo_graph *g, lo_plan *p, const reader_index *ri,
                         bool observing) {
    /* every value that might, then away with those that cannot until none
     * changes: a value goes when a reader cannot take it blocked, or when
     * its maker can no longer make it so */
    for (int a = 0; a < g->n_nodes; a++) {
        const lo_node *m = &g->nodes[a];
        if (!blockable_op(m) || (p->role[a] != LO_ROLE_NONE && p->role[a] != LO_ROLE_HEAD)) continue;
        int out = p->role[a] == LO_ROLE_HEAD ? group_result(p, a) : m->outputs[0];
        if (may_hold_blocked(s, g, out, observing)) p->vblk[out] = true;
    }
    for (bool changed = true; changed;) {
        changed = false;
        for (int v = 0; v < g->n_values; v++)
            if (p->vblk[v] && !stays_blocked(g, p, ri, v)) {
                p->vblk[v] = false;
                changed = true;
            }
    }
    /* a whole group's inner values are blocked with its result */
    for (int k = 0; k < p->n_groups; k++) {
        const lo_fuse_group *grp = &p->groups[k];
        if (!unit_group(g, p, grp->head) || !p->vblk[grp->values[grp->n_links]]) continue;
        for (int j = 0; j < grp->n_links; j++) p->vblk[grp->values[j]] = true;
    }
}

lo_status lo_plan_build(const lo_session *s, lo_plan *p, bool observing, lo_error *err) {
    const lo_graph *g = s->model->ir->graph;
    int nn = g->n_nodes;
    int *pos = calloc((size_t)nn + 1, sizeof *pos);
    p->role = calloc((size_t)nn + 1, 1);
    p->group = calloc((size_t)nn + 1, sizeof *p->group);
    p->fold = calloc((size_t)nn + 1, sizeof *p->fold);
    p->donor = calloc((size_t)nn + 1, sizeof *p->donor);
    p->alias = calloc((size_t)nn + 1, sizeof *p->alias);
    p->groups = calloc((size_t)nn + 1, sizeof *p->groups);
    p->vblk = calloc((size_t)g->n_values + 1, sizeof *p->vblk);
    reader_index ri;
    if (!pos || !p->role || !p->group || !p->fold || !p->donor || !p->alias || !p->groups || !p->vblk ||
        !reader_index_build(g, &ri)) {
        free(pos);
        lo_plan_free(p);
        return lo_fail(err, LO_ERR_NOMEM, "out of memory planning fusion");
    }
    for (int oi = 0; oi < nn; oi++) pos[g->order[oi]] = oi;
    const lo_quant *q = s->model->quant;
    for (int i = 0; i < nn; i++) {
        const lo_node *n = &g->nodes[i];
        p->fold[i][0] = p->fold[i][1] = -1;
        /* Transpose too: one that moves only axes of size 1 is a reshape */
        bool reshape = lo_is_op(n, "Reshape") || lo_is_op(n, "Flatten") || lo_is_op(n, "Squeeze") || lo_is_op(n, "Unsqueeze") ||
                       lo_is_op(n, "Identity") || lo_is_op(n, "Transpose");
        if (reshape && n->n_inputs >= 1 && n->inputs[0] >= 0 && n->n_outputs == 1 && n->outputs[0] >= 0) {
            int in = n->inputs[0], out = n->outputs[0];
            bool in_taken = g->values[in].kind == LO_VALUE_NODE && !g->values[in].is_graph_output;
            for (int k = 1; k < n->n_inputs; k++) in_taken = in_taken && n->inputs[k] != in;
            p->donor[i] = in_taken && !(q && lo_quant_find(q, g, out));
            lo_value_kind kin = g->values[in].kind;
            p->alias[i] = lo_is_op(n, "Identity") && n->n_inputs == 1 &&
                          (kin == LO_VALUE_INITIALIZER || kin == LO_VALUE_INPUT) && value_unseen(s, g, out, observing);
        }
    }
    for (int i = 0; i < nn; i++) {
        const lo_node *m = &g->nodes[i];
        if (!lo_is_op(m, "MatMul") || m->n_inputs != 2) continue;
        for (int k = 0; k < 2; k++) {
            int v = m->inputs[k];
            if (v < 0 || m->inputs[1 - k] == v || g->values[v].kind != LO_VALUE_NODE) continue;
            int t = g->values[v].producer;
            const lo_node *tn = &g->nodes[t];
            if (t < 0 || !lo_is_op(tn, "Transpose") || p->role[t] != LO_ROLE_NONE || tn->n_inputs < 1 || tn->inputs[0] < 0)
                continue;
            if (g->values[v].n_readers != 1 || !value_unseen(s, g, v, observing)) continue;
            p->fold[i][k] = t;
            p->role[t] = LO_ROLE_FOLDED;
        }
    }
    for (int oi = 0; oi < nn; oi++) {
        int h = g->order[oi];
        if (p->role[h] != LO_ROLE_NONE) continue;
        lo_fuse_group *grp = &p->groups[p->n_groups];
        if (!plan_group(s, g, p, pos, &ri, observing, h, grp)) continue;
        p->role[h] = LO_ROLE_HEAD;
        p->group[h] = p->n_groups;
        for (int k = 0; k < grp->n_links; k++) {
            const lo_node *m = &g->nodes[grp->link[k]];
            p->role[grp->link[k]] = LO_ROLE_LINK;
            p->group[grp->link[k]] = p->n_groups;
            for (int j = 0; j < m->n_inputs; j++) {
                int v = m->inputs[j];
                if (grp->slot[k][j] != -1 || g->values[v].kind != LO_VALUE_NODE) continue;
                int pr = g->values[v].producer;
                if (pos[pr] > pos[h]) p->role[pr] = LO_ROLE_EARLY;
            }
        }
        p->n_groups++;
    }
    plan_blocked(s, g, p, &ri, observing);
    free(pos);
    free(ri.start);
    free(ri.nodes);
    p->built = true;
    return LO_OK;
}
