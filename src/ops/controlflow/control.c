/* Control flow: If, Loop and Scan run their bodies through the executor, so
 * the bodies' node outputs reach the observer too (Loop and Scan bodies with
 * their iteration number). */
#include <stdlib.h>
#include <string.h>

#include "../ops.h"

static const lo_graph *graph_attr(const lo_node *n, const char *name) {
    const lo_attr *a = lo_attr_find(n, name);
    return a && a->type == LO_ATTR_GRAPH ? a->graph : NULL;
}

static lo_status need_graph(const lo_node *n, const char *name, lo_error *err) {
    if (!graph_attr(n, name))
        return lo_fail(err, LO_ERR_MODEL, "node '%s' (%s) has no graph attribute '%s'", n->name, n->op_type, name);
    return LO_OK;
}

static bool truth(const lo_tensor *t) {
    return t && t->kind == LO_KIND_TENSOR && lo_numel(t) > 0 && lo_get_f64(t, 0) != 0;
}

/* Moves owned body results into the node's outputs (omitted outputs drop them). */
static void move_out(lo_kernel_ctx *ctx, int i, lo_tensor *t) {
    if (i < ctx->n_out && ctx->out[i]) *ctx->out[i] = *t;
    else lo_tensor_free_data(t);
    memset(t, 0, sizeof *t);
}

/* ---- If ---------------------------------------------------------------------- */

static lo_status if_prepare(const lo_node *n, void **params, lo_error *err) {
    LO_TRY(need_graph(n, "then_branch", err));
    LO_TRY(need_graph(n, "else_branch", err));
    const lo_graph *t = graph_attr(n, "then_branch"), *e = graph_attr(n, "else_branch");
    if (t->n_outputs != n->n_outputs || e->n_outputs != n->n_outputs)
        return lo_fail(err, LO_ERR_MODEL, "node '%s' (If): branches give %d and %d outputs, the node has %d",
                       n->name, t->n_outputs, e->n_outputs, n->n_outputs);
    return LO_OK;
}

static lo_status if_run(lo_kernel_ctx *ctx) {
    LO_CHECK(ctx, ctx->n_in >= 1 && ctx->in[0] && lo_numel(ctx->in[0]) == 1,
             "the condition must be a single boolean");
    const lo_graph *body = graph_attr(ctx->node, truth(ctx->in[0]) ? "then_branch" : "else_branch");
    lo_tensor *outs = calloc((size_t)body->n_outputs + 1, sizeof *outs);
    if (!outs) return lo_fail(ctx->err, LO_ERR_NOMEM, "out of memory");
    lo_status st = ctx->run_subgraph(ctx, body, NULL, 0, outs, -1);
    if (st == LO_OK)
        for (int i = 0; i < body->n_outputs; i++) move_out(ctx, i, &outs[i]);
    free(outs);
    return st;
}

/* ---- stacking per-iteration results -------------------------------------------- */

typedef struct stack {
    int n, cap;
    lo_tensor *items;
} stack;

static lo_status stack_push(stack *s, lo_tensor *t, lo_error *err) {
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 16;
        lo_tensor *p = realloc(s->items, (size_t)cap * sizeof *p);
        if (!p) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
        s->items = p;
        s->cap = cap;
    }
    s->items[s->n++] = *t;
    memset(t, 0, sizeof *t);
    return LO_OK;
}

static void stack_free(stack *s) {
    for (int i = 0; i < s->n; i++) lo_tensor_free_data(&s->items[i]);
    free(s->items);
    memset(s, 0, sizeof *s);
}

/* Concatenates the slices along a new axis `axis` (0 for Loop); reverse
 * stores them last-first (Scan's output directions). */
static lo_status stack_emit(lo_kernel_ctx *ctx, int out, stack *s, int axis, bool reverse,
                            const lo_value *decl) {
    if (out >= ctx->n_out || !ctx->out[out]) return LO_OK;
    if (s->n == 0) {
        /* no iteration ran: an empty tensor of the declared element shape */
        int64_t dims[LO_MAX_RANK] = {0};
        int rank = 1;
        lo_dtype dt = decl && decl->decl_dtype ? decl->decl_dtype : LO_FLOAT;
        if (decl && decl->decl_rank >= 0 && decl->decl_rank < LO_MAX_RANK) {
            rank = decl->decl_rank + 1;
            for (int d = 0; d < decl->decl_rank; d++) dims[d + 1] = decl->decl_dims[d] > 0 ? decl->decl_dims[d] : 0;
        }
        return lo_output(ctx, out, dt, rank, dims);
    }
    const lo_tensor *first = &s->items[0];
    if (first->kind != LO_KIND_TENSOR) return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "scan outputs must be tensors");
    LO_CHECK(ctx, first->rank + 1 <= LO_MAX_RANK, "scan output rank too large");
    for (int i = 1; i < s->n; i++)
        LO_CHECK(ctx, s->items[i].kind == LO_KIND_TENSOR && s->items[i].dtype == first->dtype &&
                          s->items[i].rank == first->rank &&
                          !memcmp(s->items[i].dims, first->dims, (size_t)first->rank * sizeof(int64_t)),
                 "iteration %d's scan output %d has another shape or type than iteration 0's", i, out);
    int64_t dims[LO_MAX_RANK];
    int rank = first->rank + 1;
    for (int d = 0, k = 0; d < rank; d++) dims[d] = d == axis ? s->n : first->dims[k++];
    LO_TRY(lo_output(ctx, out, first->dtype, rank, dims));
    size_t es = lo_dtype_size(first->dtype);
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++) outer *= first->dims[d];
    for (int d = axis; d < first->rank; d++) inner *= first->dims[d];
    char *dst = ctx->out[out]->data;
    for (int i = 0; i < s->n; i++) {
        int pos = reverse ? s->n - 1 - i : i;
        const lo_tensor *it = &s->items[i];
        for (int64_t o = 0; o < outer; o++) {
            char *to = dst + ((o * s->n + pos) * inner) * es;
            if (first->dtype == LO_STRING)
                for (int64_t k = 0; k < inner; k++)
                    ((char **)to)[k] = lo_strdup(((char **)it->data)[o * inner + k]);
            else
                memcpy(to, (char *)it->data + o * inner * es, (size_t)inner * es);
        }
    }
    return LO_OK;
}

/* ---- Loop -------------------------------------------------------------------------- */

static lo_status loop_prepare(const lo_node *n, void **params, lo_error *err) {
    LO_TRY(need_graph(n, "body", err));
    const lo_graph *b = graph_attr(n, "body");
    int carried = n->n_inputs - 2;
    if (carried < 0 || b->n_inputs != carried + 2 || b->n_outputs < carried + 1 ||
        n->n_outputs != b->n_outputs - 1)
        return lo_fail(err, LO_ERR_MODEL, "node '%s' (Loop): body signature does not match the node "
                       "(%d inputs, body %d inputs and %d outputs, node %d outputs)",
                       n->name, n->n_inputs, b->n_inputs, b->n_outputs, n->n_outputs);
    return LO_OK;
}

static lo_status loop_run(lo_kernel_ctx *ctx) {
    const lo_graph *body = graph_attr(ctx->node, "body");
    int carried = ctx->n_in - 2, n_scan = body->n_outputs - 1 - carried;
    const lo_tensor *M = ctx->in[0], *cond0 = ctx->in[1];
    int64_t max_trip = M ? lo_get_i64(M, 0) : INT64_MAX;
    LO_CHECK(ctx, !M || lo_numel(M) == 1, "M must be a scalar");
    bool cond = cond0 ? truth(cond0) : true;
    lo_error *err = ctx->err;
    lo_status st = LO_OK;
    lo_tensor *state = calloc((size_t)carried + 1, sizeof *state);
    lo_tensor *outs = calloc((size_t)body->n_outputs + 1, sizeof *outs);
    const lo_tensor **ins = calloc((size_t)carried + 3, sizeof *ins);
    stack *scans = calloc((size_t)n_scan + 1, sizeof *scans);
    if (!state || !outs || !ins || !scans) st = lo_fail(err, LO_ERR_NOMEM, "out of memory");
    for (int i = 0; st == LO_OK && i < carried; i++) {
        if (ctx->in[i + 2]) st = lo_tensor_clone(ctx->in[i + 2], &state[i], err);
        else state[i].kind = LO_KIND_NONE;
    }
    int64_t iter_value = 0;
    uint8_t cond_value = 1;
    lo_tensor iter_t = {.kind = LO_KIND_TENSOR, .dtype = LO_INT64, .rank = 0, .data = &iter_value, .nbytes = 8};
    lo_tensor cond_t = {.kind = LO_KIND_TENSOR, .dtype = LO_BOOL, .rank = 0, .data = &cond_value, .nbytes = 1};
    for (int64_t it = 0; st == LO_OK && it < max_trip && cond; it++) {
        if (it > INT32_MAX) {
            st = lo_kernel_fail(ctx, LO_ERR_RUNTIME, "more than 2^31 iterations");
            break;
        }
        iter_value = it;
        cond_value = cond;
        ins[0] = &iter_t;
        ins[1] = &cond_t;
        for (int i = 0; i < carried; i++) ins[i + 2] = state[i].kind == LO_KIND_NONE ? NULL : &state[i];
        st = ctx->run_subgraph(ctx, body, ins, carried + 2, outs, (int)it);
        if (st != LO_OK) break;
        cond = truth(&outs[0]);
        lo_tensor_free_data(&outs[0]);
        for (int i = 0; i < carried; i++) {
            lo_tensor_free_data(&state[i]);
            state[i] = outs[1 + i];
            memset(&outs[1 + i], 0, sizeof outs[1 + i]);
        }
        for (int k = 0; k < n_scan && st == LO_OK; k++) st = stack_push(&scans[k], &outs[1 + carried + k], err);
        for (int k = 0; k < body->n_outputs; k++) lo_tensor_free_data(&outs[k]);
    }
    for (int i = 0; i < carried; i++) {
        if (st == LO_OK) move_out(ctx, i, &state[i]);
        else lo_tensor_free_data(&state[i]);
    }
    for (int k = 0; k < n_scan; k++) {
        if (st == LO_OK)
            st = stack_emit(ctx, carried + k, &scans[k], 0, false, &body->values[body->outputs[1 + carried + k]]);
        stack_free(&scans[k]);
    }
    free(state);
    free(outs);
    free(ins);
    free(scans);
    return st;
}

/* ---- Scan ---------------------------------------------------------------------------- */

typedef struct scan_params {
    int n_scan_in;
    int64_t in_axes[64], in_dirs[64], out_axes[64], out_dirs[64];
} scan_params;

static lo_status scan_prepare(const lo_node *n, void **params, lo_error *err) {
    LO_TRY(need_graph(n, "body", err));
    scan_params *p = calloc(1, sizeof *p);
    if (!p) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    *params = p;
    const lo_graph *b = graph_attr(n, "body");
    p->n_scan_in = (int)lo_attr_int(n, "num_scan_inputs", 0);
    bool v8 = n->opset < 9;
    int n_state = n->n_inputs - (v8 ? 1 : 0) - p->n_scan_in;
    int n_scan_out = n->n_outputs - n_state;
    if (p->n_scan_in <= 0 || p->n_scan_in > 64 || n_state < 0 || n_scan_out < 0 || n_scan_out > 64 ||
        b->n_inputs != n_state + p->n_scan_in || b->n_outputs != n->n_outputs)
        return lo_fail(err, LO_ERR_MODEL, "node '%s' (Scan): body signature does not match the node", n->name);
    int64_t cnt;
    const int64_t *v;
    v = lo_attr_ints(n, v8 ? "directions" : "scan_input_directions", &cnt);
    for (int i = 0; i < p->n_scan_in; i++) p->in_dirs[i] = i < cnt ? v[i] : 0;
    v = lo_attr_ints(n, "scan_input_axes", &cnt);
    for (int i = 0; i < p->n_scan_in; i++) p->in_axes[i] = i < cnt ? v[i] : 0;
    v = lo_attr_ints(n, "scan_output_directions", &cnt);
    for (int i = 0; i < n_scan_out; i++) p->out_dirs[i] = i < cnt ? v[i] : 0;
    v = lo_attr_ints(n, "scan_output_axes", &cnt);
    for (int i = 0; i < n_scan_out; i++) p->out_axes[i] = i < cnt ? v[i] : 0;
    return LO_OK;
}

/* Copies slice `index` along `axis` of src into a fresh tensor. */
static lo_status take_slice(const lo_tensor *src, int axis, int64_t index, lo_tensor *dst, lo_error *err) {
    memset(dst, 0, sizeof *dst);
    dst->kind = LO_KIND_TENSOR;
    dst->dtype = src->dtype;
    dst->rank = src->rank - 1;
    for (int d = 0, k = 0; d < src->rank; d++)
        if (d != axis) dst->dims[k++] = src->dims[d];
    size_t es = lo_dtype_size(src->dtype);
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++) outer *= src->dims[d];
    for (int d = axis + 1; d < src->rank; d++) inner *= src->dims[d];
    dst->nbytes = (size_t)(outer * inner) * es;
    dst->data = malloc(dst->nbytes ? dst->nbytes : 1);
    if (!dst->data) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    for (int64_t o = 0; o < outer; o++) {
        const char *from = (const char *)src->data + ((o * src->dims[axis] + index) * inner) * es;
        char *to = (char *)dst->data + o * inner * es;
        if (src->dtype == LO_STRING)
            for (int64_t k = 0; k < inner; k++) ((char **)to)[k] = lo_strdup(((char *const *)from)[k]);
        else
            memcpy(to, from, (size_t)inner * es);
    }
    return LO_OK;
}

static lo_status scan_once(lo_kernel_ctx *ctx, const scan_params *p, const lo_tensor *const *state_in,
                           const lo_tensor *const *scan_in, int n_state, lo_tensor *state_out, stack *scans,
                           int n_scan_out, int64_t seq_len_limit, int axes_shift) {
    const lo_graph *body = graph_attr(ctx->node, "body");
    lo_error *err = ctx->err;
    int n_scan_in = p->n_scan_in;
    int axes[64];
    int64_t len = -1;
    for (int i = 0; i < n_scan_in; i++) {
        LO_CHECK(ctx, scan_in[i], "scan input %d is missing", i);
        LO_CHECK(ctx, lo_norm_axis(p->in_axes[i], scan_in[i]->rank, &axes[i]), "scan input axis out of range");
        axes[i] += axes_shift;
        LO_CHECK(ctx, axes[i] < scan_in[i]->rank, "scan input axis out of range");
        int64_t l = scan_in[i]->dims[axes[i]];
        LO_CHECK(ctx, len < 0 || l == len, "scan inputs have different sequence lengths (%lld and %lld)",
                 (long long)len, (long long)l);
        len = l;
    }
    if (seq_len_limit >= 0 && seq_len_limit < len) len = seq_len_limit;
    lo_status st = LO_OK;
    lo_tensor *state = calloc((size_t)n_state + 1, sizeof *state);
    lo_tensor *slices = calloc((size_t)n_scan_in + 1, sizeof *slices);
    lo_tensor *outs = calloc((size_t)body->n_outputs + 1, sizeof *outs);
    const lo_tensor **ins = calloc((size_t)(n_state + n_scan_in) + 1, sizeof *ins);
    if (!state || !slices || !outs || !ins) st = lo_fail(err, LO_ERR_NOMEM, "out of memory");
    for (int i = 0; st == LO_OK && i < n_state; i++) st = lo_tensor_clone(state_in[i], &state[i], err);
    for (int64_t t = 0; st == LO_OK && t < len; t++) {
        for (int i = 0; i < n_state; i++) ins[i] = &state[i];
        for (int i = 0; st == LO_OK && i < n_scan_in; i++) {
            int64_t idx = p->in_dirs[i] ? len - 1 - t : t;
            st = take_slice(scan_in[i], axes[i], idx, &slices[i], err);
            ins[n_state + i] = &slices[i];
        }
        if (st == LO_OK) st = ctx->run_subgraph(ctx, body, ins, n_state + n_scan_in, outs, (int)t);
        for (int i = 0; i < n_scan_in; i++) lo_tensor_free_data(&slices[i]);
        if (st != LO_OK) break;
        for (int i = 0; i < n_state; i++) {
            lo_tensor_free_data(&state[i]);
            state[i] = outs[i];
            memset(&outs[i], 0, sizeof outs[i]);
        }
        for (int k = 0; k < n_scan_out && st == LO_OK; k++) st = stack_push(&scans[k], &outs[n_state + k], err);
        for (int k = 0; k < body->n_outputs; k++) lo_tensor_free_data(&outs[k]);
    }
    for (int i = 0; i < n_state; i++) {
        if (st == LO_OK) state_out[i] = state[i];
        else lo_tensor_free_data(&state[i]);
    }
    free(state);
    free(slices);
    free(outs);
    free(ins);
    return st;
}

static lo_status scan_run(lo_kernel_ctx *ctx) {
    const scan_params *p = ctx->params;
    const lo_graph *body = graph_attr(ctx->node, "body");
    bool v8 = ctx->node->opset < 9;
    int first = v8 ? 1 : 0;
    int n_state = ctx->n_in - first - p->n_scan_in, n_scan_out = ctx->n_out - n_state;
    lo_error *err = ctx->err;
    for (int i = first; i < ctx->n_in; i++)
        LO_CHECK(ctx, ctx->in[i] && ctx->in[i]->kind == LO_KIND_TENSOR, "input %d is missing", i);
    stack *scans = calloc((size_t)n_scan_out + 1, sizeof *scans);
    lo_tensor *state_out = calloc((size_t)n_state + 1, sizeof *state_out);
    if (!scans || !state_out) {
        free(scans);
        free(state_out);
        return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    }
    lo_status st = LO_OK;
    if (!v8) {
        st = scan_once(ctx, p, ctx->in, ctx->in + n_state, n_state, state_out, scans, n_scan_out, -1, 0);
        for (int i = 0; i < n_state; i++) {
            if (st == LO_OK) move_out(ctx, i, &state_out[i]);
            else lo_tensor_free_data(&state_out[i]);
        }
        for (int k = 0; k < n_scan_out; k++) {
            int axis = 0;
            if (st == LO_OK && scans[k].n) {
                int r = scans[k].items[0].rank + 1;
                if (!lo_norm_axis(p->out_axes[k], r, &axis)) st = lo_kernel_fail(ctx, LO_ERR_INPUT, "scan output axis out of range");
            }
            if (st == LO_OK)
                st = stack_emit(ctx, n_state + k, &scans[k], axis, p->out_dirs[k] != 0,
                                &body->values[body->outputs[n_state + k]]);
            stack_free(&scans[k]);
        }
    } else {
        /* Scan-8: a batch axis first; each batch entry is scanned on its own */
        const lo_tensor *lens = ctx->in[0];
        int64_t batch = ctx->in[1]->rank ? ctx->in[1]->dims[0] : 0;
        stack *per_state = calloc((size_t)n_state + 1, sizeof *per_state);
        stack *per_scan = calloc((size_t)n_scan_out + 1, sizeof *per_scan);
        if (!per_state || !per_scan) st = lo_fail(err, LO_ERR_NOMEM, "out of memory");
        for (int64_t b = 0; st == LO_OK && b < batch; b++) {
            lo_tensor *slices = calloc((size_t)(n_state + p->n_scan_in) + 1, sizeof *slices);
            const lo_tensor **ptrs = calloc((size_t)(n_state + p->n_scan_in) + 1, sizeof *ptrs);
            if (!slices || !ptrs) st = lo_fail(err, LO_ERR_NOMEM, "out of memory");
            for (int i = 0; st == LO_OK && i < n_state + p->n_scan_in; i++) {
                st = take_slice(ctx->in[1 + i], 0, b, &slices[i], err);
                ptrs[i] = &slices[i];
            }
            int64_t limit = lens ? lo_get_i64(lens, b) : -1;
            if (st == LO_OK)
                st = scan_once(ctx, p, ptrs, ptrs + n_state, n_state, state_out, scans, n_scan_out, limit, 0);
            for (int i = 0; i < n_state + p->n_scan_in && slices; i++) lo_tensor_free_data(&slices[i]);
            free(slices);
            free(ptrs);
            for (int i = 0; st == LO_OK && i < n_state; i++) st = stack_push(&per_state[i], &state_out[i], err);
            for (int k = 0; st == LO_OK && k < n_scan_out; k++) {
                /* stack this batch entry's sequence into one tensor */
                lo_tensor seq;
                memset(&seq, 0, sizeof seq);
                lo_tensor *out_slot = &seq;
                lo_tensor *const outs1[1] = {out_slot};
                lo_kernel_ctx sub = *ctx;
                sub.out = outs1;
                sub.n_out = 1;
                st = stack_emit(&sub, 0, &scans[k], 0, p->out_dirs[k] != 0, &body->values[body->outputs[n_state + k]]);
                stack_free(&scans[k]);
                if (st == LO_OK) st = stack_push(&per_scan[k], &seq, err);
            }
        }
        for (int i = 0; i < n_state; i++) {
            if (st == LO_OK) st = stack_emit(ctx, i, &per_state[i], 0, false, NULL);
            if (per_state) stack_free(&per_state[i]);
        }
        for (int k = 0; k < n_scan_out; k++) {
            if (st == LO_OK) st = stack_emit(ctx, n_state + k, &per_scan[k], 0, false, NULL);
            if (per_scan) stack_free(&per_scan[k]);
            stack_free(&scans[k]);
        }
        free(per_state);
        free(per_scan);
    }
    free(scans);
    free(state_out);
    return st;
}

const lo_op_def lo_ops_control[] = {
    {"", "If", 1, LO_OPSET_MAX, if_prepare, if_run, NULL, 0},
    {"", "Loop", 1, LO_OPSET_MAX, loop_prepare, loop_run, NULL, 0},
    {"", "Scan", 8, LO_OPSET_MAX, scan_prepare, scan_run, NULL, 0},
    {0},
};
