/* Sequences and optionals.
 *
 * A sequence is an lo_tensor of kind LO_KIND_SEQUENCE owning items[]; an
 * optional holding a value is just that value, an empty one has kind
 * LO_KIND_NONE. Every op copies what it keeps (inputs are never moved
 * from: the executor may still hand them to other readers). */
#include <stdlib.h>
#include <string.h>

#include "../ops.h"

static bool has_out(lo_kernel_ctx *ctx, int i) { return i < ctx->n_out && ctx->out[i]; }

static const lo_tensor *in_at(lo_kernel_ctx *ctx, int i) { return i < ctx->n_in ? ctx->in[i] : NULL; }

static lo_status need_seq(lo_kernel_ctx *ctx, int i) {
    const lo_tensor *t = in_at(ctx, i);
    LO_CHECK(ctx, t && t->kind == LO_KIND_SEQUENCE, "input %d must be a sequence", i);
    return LO_OK;
}

static lo_status need_tensor(lo_kernel_ctx *ctx, int i) {
    const lo_tensor *t = in_at(ctx, i);
    LO_CHECK(ctx, t && t->kind == LO_KIND_TENSOR, "input %d must be a tensor", i);
    return LO_OK;
}

/* Hands n items (owned, moved) to output i as a sequence of dtype. */
static lo_status emit_seq(lo_kernel_ctx *ctx, int i, lo_dtype dtype, lo_tensor *items, int n) {
    if (!has_out(ctx, i)) {
        for (int k = 0; k < n; k++) lo_tensor_free_data(&items[k]);
        free(items);
        return LO_OK;
    }
    lo_tensor *o = ctx->out[i];
    memset(o, 0, sizeof *o);
    o->kind = LO_KIND_SEQUENCE;
    o->dtype = dtype;
    o->n_items = n;
    o->items = items;
    return LO_OK;
}

static lo_tensor *alloc_items(lo_kernel_ctx *ctx, int64_t n) {
    lo_tensor *items = calloc((size_t)n + 1, sizeof *items);
    if (!items) lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
    return items;
}

static void free_items(lo_tensor *items, int n) {
    for (int k = 0; k < n; k++) lo_tensor_free_data(&items[k]);
    free(items);
}

/* Copies a tensor into output i (a fresh buffer from lo_output). */
static lo_status emit_copy(lo_kernel_ctx *ctx, int i, const lo_tensor *src) {
    if (!has_out(ctx, i)) return LO_OK;
    if (src->kind != LO_KIND_TENSOR) return lo_tensor_clone(src, ctx->out[i], ctx->err);
    LO_TRY(lo_output(ctx, i, src->dtype, src->rank, src->dims));
    lo_tensor *o = ctx->out[i];
    if (src->dtype == LO_STRING) {
        int64_t n = lo_numel(src);
        for (int64_t k = 0; k < n; k++) {
            const char *s = ((char *const *)src->data)[k];
            ((char **)o->data)[k] = lo_strdup(s ? s : "");
        }
    } else if (src->nbytes) {
        memcpy(o->data, src->data, src->nbytes);
    }
    return LO_OK;
}

/* A position input: a scalar (or one-element) integer, negative from the end. */
static lo_status position(lo_kernel_ctx *ctx, int i, int64_t len, bool allow_end, int64_t *pos) {
    const lo_tensor *t = in_at(ctx, i);
    LO_CHECK(ctx, t->kind == LO_KIND_TENSOR && lo_numel(t) == 1 && lo_dtype_is_int(t->dtype),
             "position must be a single integer");
    int64_t p = lo_get_i64(t, 0);
    int64_t hi = allow_end ? len : len - 1;
    LO_CHECK(ctx, p >= -len && p <= hi, "position %lld out of range for a sequence of %lld", (long long)p,
             (long long)len);
    *pos = p < 0 ? p + len : p;
    return LO_OK;
}

/* ---- construction ------------------------------------------------------------ */

static lo_status seq_empty_run(lo_kernel_ctx *ctx) {
    lo_dtype dt = (lo_dtype)lo_attr_int(ctx->node, "dtype", LO_FLOAT);
    return emit_seq(ctx, 0, dt, alloc_items(ctx, 0), 0);
}

static lo_status seq_construct_run(lo_kernel_ctx *ctx) {
    LO_CHECK(ctx, ctx->n_in >= 1, "needs at least one input");
    lo_tensor *items = alloc_items(ctx, ctx->n_in);
    if (!items) return LO_ERR_NOMEM;
    for (int i = 0; i < ctx->n_in; i++) {
        lo_status st = need_tensor(ctx, i);
        if (st == LO_OK && ctx->in[i]->dtype != ctx->in[0]->dtype)
            st = lo_kernel_fail(ctx, LO_ERR_INPUT, "input %d has type %s, input 0 %s", i,
                                lo_dtype_name(ctx->in[i]->dtype), lo_dtype_name(ctx->in[0]->dtype));
        if (st == LO_OK) st = lo_tensor_clone(ctx->in[i], &items[i], ctx->err);
        if (st != LO_OK) {
            free_items(items, i);
            return st;
        }
    }
    return emit_seq(ctx, 0, ctx->in[0]->dtype, items, ctx->n_in);
}

/* ---- access and editing ------------------------------------------------------- */

static lo_status seq_at_run(lo_kernel_ctx *ctx) {
    LO_TRY(need_seq(ctx, 0));
    LO_CHECK(ctx, in_at(ctx, 1), "position is required");
    int64_t p;
    LO_TRY(position(ctx, 1, ctx->in[0]->n_items, false, &p));
    return emit_copy(ctx, 0, &ctx->in[0]->items[p]);
}

static lo_status seq_length_run(lo_kernel_ctx *ctx) {
    LO_TRY(need_seq(ctx, 0));
    LO_TRY(lo_output(ctx, 0, LO_INT64, 0, NULL));
    if (has_out(ctx, 0)) *(int64_t *)ctx->out[0]->data = ctx->in[0]->n_items;
    return LO_OK;
}

static lo_status seq_insert_run(lo_kernel_ctx *ctx) {
    LO_TRY(need_seq(ctx, 0));
    LO_TRY(need_tensor(ctx, 1));
    const lo_tensor *s = ctx->in[0], *t = ctx->in[1];
    LO_CHECK(ctx, s->n_items == 0 || t->dtype == s->dtype, "tensor type %s, sequence of %s",
             lo_dtype_name(t->dtype), lo_dtype_name(s->dtype));
    int64_t n = s->n_items, p = n;
    if (in_at(ctx, 2)) LO_TRY(position(ctx, 2, n, true, &p));
    lo_tensor *items = alloc_items(ctx, n + 1);
    if (!items) return LO_ERR_NOMEM;
    lo_status st = LO_OK;
    int done = 0;
    for (int64_t k = 0; k <= n && st == LO_OK; k++, done++) {
        const lo_tensor *src = k == p ? t : &s->items[k < p ? k : k - 1];
        st = lo_tensor_clone(src, &items[k], ctx->err);
    }
    if (st != LO_OK) {
        free_items(items, done);
        return st;
    }
    return emit_seq(ctx, 0, t->dtype, items, (int)n + 1);
}

static lo_status seq_erase_run(lo_kernel_ctx *ctx) {
    LO_TRY(need_seq(ctx, 0));
    const lo_tensor *s = ctx->in[0];
    int64_t n = s->n_items, p = n - 1;
    LO_CHECK(ctx, n > 0, "erasing from an empty sequence");
    if (in_at(ctx, 1)) LO_TRY(position(ctx, 1, n, false, &p));
    lo_tensor *items = alloc_items(ctx, n - 1);
    if (!items) return LO_ERR_NOMEM;
    int m = 0;
    for (int64_t k = 0; k < n; k++) {
        if (k == p) continue;
        lo_status st = lo_tensor_clone(&s->items[k], &items[m], ctx->err);
        if (st != LO_OK) {
            free_items(items, m);
            return st;
        }
        m++;
    }
    return emit_seq(ctx, 0, s->dtype, items, m);
}

/* ---- splitting and concatenation --------------------------------------------- */

/* Copies rows [from, from + len) along axis of t (viewed as [outer, d, inner]
 * with element size es) into a new tensor dst of the given shape. */
static lo_status slice_axis(const lo_tensor *t, int64_t outer, int64_t d, int64_t inner, int64_t from, int64_t len,
                            int rank, const int64_t *dims, lo_tensor *dst, lo_error *err) {
    memset(dst, 0, sizeof *dst);
    dst->dtype = t->dtype;
    dst->rank = rank;
    if (rank) memcpy(dst->dims, dims, (size_t)rank * sizeof *dims);
    if (!lo_shape_bytes(t->dtype, rank, dims, &dst->nbytes, err)) return err->status;
    dst->data = calloc(1, dst->nbytes ? dst->nbytes : 1);
    if (!dst->data) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    size_t es = lo_dtype_size(t->dtype);
    for (int64_t o = 0; o < outer; o++) {
        size_t src_off = (size_t)((o * d + from) * inner), dst_off = (size_t)(o * len * inner);
        size_t count = (size_t)(len * inner);
        if (t->dtype == LO_STRING) {
            for (size_t k = 0; k < count; k++) {
                const char *s = ((char *const *)t->data)[src_off + k];
                ((char **)dst->data)[dst_off + k] = lo_strdup(s ? s : "");
            }
        } else {
            memcpy((char *)dst->data + dst_off * es, (const char *)t->data + src_off * es, count * es);
        }
    }
    return LO_OK;
}

typedef struct split_params {
    int64_t axis, keepdims;
} split_params;

static lo_status split_prepare(const lo_node *node, void **params, lo_error *err) {
    split_params *p = lo_calloc(1, sizeof *p, err);
    if (!p) return LO_ERR_NOMEM;
    p->axis = lo_attr_int(node, "axis", 0);
    p->keepdims = lo_attr_int(node, "keepdims", 1);
    *params = p;
    return LO_OK;
}

static lo_status split_to_seq_run(lo_kernel_ctx *ctx) {
    const split_params *p = ctx->params;
    LO_TRY(need_tensor(ctx, 0));
    const lo_tensor *x = ctx->in[0], *split = in_at(ctx, 1);
    int axis;
    LO_CHECK(ctx, x->rank > 0 && lo_norm_axis(p->axis, x->rank, &axis), "axis %lld out of range for rank %d",
             (long long)p->axis, x->rank);
    int64_t d = x->dims[axis], outer = 1, inner = 1;
    for (int k = 0; k < axis; k++) outer *= x->dims[k];
    for (int k = axis + 1; k < x->rank; k++) inner *= x->dims[k];
    int64_t n;
    int64_t *sizes;
    bool squeeze = false;
    if (!split) {
        n = d;
        sizes = malloc((size_t)(n + 1) * sizeof *sizes);
        if (!sizes) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
        for (int64_t k = 0; k < n; k++) sizes[k] = 1;
        squeeze = p->keepdims == 0;
    } else {
        LO_CHECK(ctx, lo_dtype_is_int(split->dtype) && split->rank <= 1, "split must be an integer scalar or 1-D");
        if (split->rank == 0) {
            int64_t c = lo_get_i64(split, 0);
            LO_CHECK(ctx, c > 0, "split %lld must be positive", (long long)c);
            n = d ? (d + c - 1) / c : 0;
            sizes = malloc((size_t)(n + 1) * sizeof *sizes);
            if (!sizes) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
            for (int64_t k = 0; k < n; k++) sizes[k] = k == n - 1 ? d - c * (n - 1) : c;
        } else {
            n = split->dims[0];
            sizes = malloc((size_t)(n + 1) * sizeof *sizes);
            if (!sizes) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
            int64_t sum = 0;
            for (int64_t k = 0; k < n; k++) {
                sizes[k] = lo_get_i64(split, k);
                sum += sizes[k];
                if (sizes[k] < 0) sum = -1 - d;
            }
            if (sum != d) {
                free(sizes);
                return lo_kernel_fail(ctx, LO_ERR_INPUT, "split sizes do not add up to %lld", (long long)d);
            }
        }
    }
    lo_tensor *items = alloc_items(ctx, n);
    lo_status st = items ? LO_OK : LO_ERR_NOMEM;
    int64_t from = 0;
    int done = 0;
    for (int64_t k = 0; k < n && st == LO_OK; k++, done++) {
        int64_t dims[LO_MAX_RANK];
        int rank = 0;
        for (int a = 0; a < x->rank; a++) {
            if (a == axis && squeeze) continue;
            dims[rank++] = a == axis ? sizes[k] : x->dims[a];
        }
        st = slice_axis(x, outer, d, inner, from, sizes[k], rank, dims, &items[k], ctx->err);
        from += sizes[k];
    }
    free(sizes);
    if (st != LO_OK) {
        if (items) free_items(items, done);
        return st;
    }
    return emit_seq(ctx, 0, x->dtype, items, (int)n);
}

static lo_status concat_from_seq_run(lo_kernel_ctx *ctx) {
    LO_TRY(need_seq(ctx, 0));
    const lo_tensor *s = ctx->in[0];
    int64_t axis_attr = lo_attr_int(ctx->node, "axis", 0);
    bool new_axis = lo_attr_int(ctx->node, "new_axis", 0) != 0;
    LO_CHECK(ctx, s->n_items > 0, "concatenating an empty sequence");
    const lo_tensor *t0 = &s->items[0];
    int out_rank = t0->rank + (new_axis ? 1 : 0);
    int axis;
    LO_CHECK(ctx, out_rank <= LO_MAX_RANK && lo_norm_axis(axis_attr, out_rank, &axis) && (out_rank > 0),
             "axis %lld out of range", (long long)axis_attr);
    int64_t dims[LO_MAX_RANK], total = 0;
    for (int i = 0; i < s->n_items; i++) {
        const lo_tensor *t = &s->items[i];
        LO_CHECK(ctx, t->kind == LO_KIND_TENSOR && t->dtype == t0->dtype && t->rank == t0->rank,
                 "item %d differs in type or rank from item 0", i);
        for (int a = 0; a < t->rank; a++) {
            bool along = !new_axis && a == axis;
            LO_CHECK(ctx, along || t->dims[a] == t0->dims[a], "item %d has dim %d = %lld, item 0 %lld", i, a,
                     (long long)t->dims[a], (long long)t0->dims[a]);
        }
        total += new_axis ? 1 : t->dims[axis];
    }
    for (int a = 0, k = 0; a < out_rank; a++) {
        if (a == axis) dims[a] = total, k += new_axis ? 0 : 1;
        else dims[a] = t0->dims[k++];
    }
    int64_t outer = 1, inner = 1;
    for (int a = 0; a < axis; a++) outer *= dims[a];
    for (int a = axis + 1; a < out_rank; a++) inner *= dims[a];
    LO_TRY(lo_output(ctx, 0, t0->dtype, out_rank, dims));
    if (!has_out(ctx, 0)) return LO_OK;
    lo_tensor *y = ctx->out[0];
    size_t es = lo_dtype_size(t0->dtype);
    int64_t at = 0;
    for (int i = 0; i < s->n_items; i++) {
        const lo_tensor *t = &s->items[i];
        int64_t len = new_axis ? 1 : t->dims[axis];
        for (int64_t o = 0; o < outer; o++) {
            size_t src = (size_t)(o * len * inner), dst = (size_t)((o * total + at) * inner);
            size_t count = (size_t)(len * inner);
            if (t0->dtype == LO_STRING)
                for (size_t k = 0; k < count; k++) {
                    const char *str = ((char *const *)t->data)[src + k];
                    ((char **)y->data)[dst + k] = lo_strdup(str ? str : "");
                }
            else
                memcpy((char *)y->data + dst * es, (const char *)t->data + src * es, count * es);
        }
        at += len;
    }
    return LO_OK;
}

/* ---- SequenceMap -------------------------------------------------------------- */

static lo_status seq_map_prepare(const lo_node *n, void **params, lo_error *err) {
    const lo_attr *a = lo_attr_find(n, "body");
    if (!a || a->type != LO_ATTR_GRAPH || !a->graph)
        return lo_fail(err, LO_ERR_MODEL, "node '%s' (SequenceMap) has no graph attribute 'body'", n->name);
    if (a->graph->n_inputs != n->n_inputs || a->graph->n_outputs != n->n_outputs)
        return lo_fail(err, LO_ERR_MODEL, "node '%s' (SequenceMap): body takes %d inputs and gives %d outputs, "
                       "the node has %d and %d", n->name, a->graph->n_inputs, a->graph->n_outputs, n->n_inputs,
                       n->n_outputs);
    return LO_OK;
}

static lo_status seq_map_run(lo_kernel_ctx *ctx) {
    const lo_graph *body = lo_attr_find(ctx->node, "body")->graph;
    LO_TRY(need_seq(ctx, 0));
    int64_t n = ctx->in[0]->n_items;
    for (int i = 1; i < ctx->n_in; i++) {
        const lo_tensor *t = ctx->in[i];
        LO_CHECK(ctx, t, "input %d is missing", i);
        if (t->kind == LO_KIND_SEQUENCE)
            LO_CHECK(ctx, t->n_items == n, "sequence input %d has %d items, input 0 has %lld", i, t->n_items,
                     (long long)n);
    }
    int n_out = body->n_outputs;
    lo_tensor **results = calloc((size_t)n_out + 1, sizeof *results);
    const lo_tensor **ins = calloc((size_t)ctx->n_in + 1, sizeof *ins);
    lo_tensor *outs = calloc((size_t)n_out + 1, sizeof *outs);
    lo_status st = results && ins && outs ? LO_OK : lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
    for (int o = 0; st == LO_OK && o < n_out; o++) {
        results[o] = alloc_items(ctx, n);
        if (!results[o]) st = LO_ERR_NOMEM;
    }
    int64_t done = 0;
    for (int64_t k = 0; st == LO_OK && k < n; k++) {
        for (int i = 0; i < ctx->n_in; i++)
            ins[i] = ctx->in[i]->kind == LO_KIND_SEQUENCE ? &ctx->in[i]->items[k] : ctx->in[i];
        st = ctx->run_subgraph(ctx, body, ins, ctx->n_in, outs, (int)k);
        if (st != LO_OK) break;
        for (int o = 0; o < n_out; o++) {
            results[o][k] = outs[o];
            memset(&outs[o], 0, sizeof outs[o]);
        }
        done = k + 1;
    }
    for (int o = 0; o < n_out && results; o++) {
        if (!results[o]) continue;
        if (st != LO_OK) {
            free_items(results[o], (int)done);
            continue;
        }
        /* the element type of an empty result comes from the body's declaration */
        lo_dtype dt = n ? results[o][0].dtype : body->values[body->outputs[o]].decl_dtype;
        st = emit_seq(ctx, o, dt, results[o], (int)n);
        results[o] = NULL;
    }
    if (st != LO_OK && results)
        for (int o = 0; o < n_out; o++)
            if (results[o]) free_items(results[o], 0);
    free(results);
    free(ins);
    free(outs);
    return st;
}

/* ---- Optional ---------------------------------------------------------------------- */

static lo_status optional_run(lo_kernel_ctx *ctx) {
    const lo_tensor *x = in_at(ctx, 0);
    if (!has_out(ctx, 0)) return LO_OK;
    if (!x || x->kind == LO_KIND_NONE) {
        memset(ctx->out[0], 0, sizeof *ctx->out[0]);
        ctx->out[0]->kind = LO_KIND_NONE;
        return LO_OK;
    }
    return x->kind == LO_KIND_TENSOR ? emit_copy(ctx, 0, x) : lo_tensor_clone(x, ctx->out[0], ctx->err);
}

static lo_status optional_has_run(lo_kernel_ctx *ctx) {
    const lo_tensor *x = in_at(ctx, 0);
    LO_TRY(lo_output(ctx, 0, LO_BOOL, 0, NULL));
    if (has_out(ctx, 0)) *(uint8_t *)ctx->out[0]->data = x && x->kind != LO_KIND_NONE;
    return LO_OK;
}

static lo_status optional_get_run(lo_kernel_ctx *ctx) {
    const lo_tensor *x = in_at(ctx, 0);
    LO_CHECK(ctx, x && x->kind != LO_KIND_NONE, "the optional input is empty");
    if (x->kind == LO_KIND_TENSOR) return emit_copy(ctx, 0, x);
    return has_out(ctx, 0) ? lo_tensor_clone(x, ctx->out[0], ctx->err) : LO_OK;
}

const lo_op_def lo_ops_sequence[] = {
    {"", "SequenceEmpty", 11, LO_OPSET_MAX, NULL, seq_empty_run, NULL, 0},
    {"", "SequenceConstruct", 11, LO_OPSET_MAX, NULL, seq_construct_run, NULL, 0},
    {"", "SequenceAt", 11, LO_OPSET_MAX, NULL, seq_at_run, NULL, 0},
    {"", "SequenceLength", 11, LO_OPSET_MAX, NULL, seq_length_run, NULL, 0},
    {"", "SequenceInsert", 11, LO_OPSET_MAX, NULL, seq_insert_run, NULL, 0},
    {"", "SequenceErase", 11, LO_OPSET_MAX, NULL, seq_erase_run, NULL, 0},
    {"", "SplitToSequence", 11, LO_OPSET_MAX, split_prepare, split_to_seq_run, NULL, 0},
    {"", "ConcatFromSequence", 11, LO_OPSET_MAX, NULL, concat_from_seq_run, NULL, 0},
    {"", "SequenceMap", 17, LO_OPSET_MAX, seq_map_prepare, seq_map_run, NULL, 0},
    {"", "Optional", 15, LO_OPSET_MAX, NULL, optional_run, NULL, 0},
    {"", "OptionalHasElement", 15, LO_OPSET_MAX, NULL, optional_has_run, NULL, 0},
    {"", "OptionalGetElement", 15, LO_OPSET_MAX, NULL, optional_get_run, NULL, 0},
    {0},
};
