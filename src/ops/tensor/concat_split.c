/* Concat, Split. */
#include "copy.h"

/* ---- Concat -------------------------------------------------------------- */

static lo_status concat_prepare(const lo_node *node, void **params, lo_error *err) {
    if (node->opset >= 4 && !lo_attr_find(node, "axis"))
        return prep_fail(node, err, LO_ERR_MODEL, "attribute 'axis' is required");
    return axis1_prepare(node, params, err);
}

static lo_status concat_run(lo_kernel_ctx *ctx) {
    const axis_params *p = ctx->params;
    LO_CHECK(ctx, ctx->n_in >= 1, "needs at least one input");
    const lo_tensor *first = NULL;
    for (int i = 0; i < ctx->n_in; i++) {
        LO_TRY(need_in(ctx, i, "input"));
        if (!first) first = ctx->in[i];
    }
    int r = first->rank, axis;
    LO_CHECK(ctx, r > 0, "cannot concatenate scalars");
    LO_CHECK(ctx, lo_norm_axis(p->axis, r, &axis), "axis %lld is out of range for rank %d",
             (long long)p->axis, r);
    int64_t dims[LO_MAX_RANK];
    memcpy(dims, first->dims, sizeof dims);
    dims[axis] = 0;
    for (int i = 0; i < ctx->n_in; i++) {
        const lo_tensor *t = ctx->in[i];
        LO_CHECK(ctx, t->dtype == first->dtype, "input %d is %s, input 0 is %s", i,
                 lo_dtype_name(t->dtype), lo_dtype_name(first->dtype));
        LO_CHECK(ctx, t->rank == r, "input %d has rank %d, input 0 has rank %d", i, t->rank, r);
        for (int d = 0; d < r; d++)
            LO_CHECK(ctx, d == axis || t->dims[d] == first->dims[d],
                     "input %d has size %lld on axis %d, input 0 has %lld", i,
                     (long long)t->dims[d], d, (long long)first->dims[d]);
        dims[axis] += t->dims[axis];
    }
    if (!has_out(ctx, 0)) return LO_OK;
    size_t esize;
    LO_TRY(element_size(ctx, first->dtype, &esize));
    LO_TRY(lo_output(ctx, 0, first->dtype, r, dims));
    lo_tensor *out = ctx->out[0];
    int64_t outer = lo_numel_dims(axis, dims);
    int64_t inner = lo_numel_dims(r - axis - 1, dims + axis + 1);
    size_t out_row = (size_t)(dims[axis] * inner) * esize;
    size_t at = 0;
    for (int i = 0; i < ctx->n_in; i++) {
        const lo_tensor *t = ctx->in[i];
        size_t row = (size_t)(t->dims[axis] * inner) * esize;
        if (row) {
#pragma omp parallel for schedule(static) if (outer * (int64_t)row > PARALLEL_MIN_ELEMENTS * 4)
            for (int64_t o = 0; o < outer; o++)
                memcpy((char *)out->data + (size_t)o * out_row + at,
                       (const char *)t->data + (size_t)o * row, row);
        }
        at += row;
    }
    return own_strings(ctx, out);
}

/* ---- Split --------------------------------------------------------------- */

typedef struct split_params {
    int64_t axis;
    int64_t num_outputs; /* 0: not given */
    bool has_split;      /* the attribute (before 13) */
    int64_t n_split;
    int64_t split[];
} split_params;

static lo_status split_prepare(const lo_node *node, void **params, lo_error *err) {
    int64_t n = 0;
    const int64_t *split = node->opset < 13 ? lo_attr_ints(node, "split", &n) : NULL;
    split_params *p = lo_calloc(1, sizeof *p + (size_t)n * sizeof(int64_t), err);
    if (!p) return err->status;
    *params = p;
    p->axis = lo_attr_int(node, "axis", 0);
    p->num_outputs = node->opset >= 18 ? lo_attr_int(node, "num_outputs", 0) : 0;
    if (lo_attr_find(node, "num_outputs") && p->num_outputs < 1 && node->opset >= 18)
        return prep_fail(node, err, LO_ERR_MODEL, "num_outputs must be positive");
    p->has_split = split != NULL;
    p->n_split = n;
    if (n) memcpy(p->split, split, (size_t)n * sizeof(int64_t));
    return LO_OK;
}

static lo_status split_run(lo_kernel_ctx *ctx) {
    const split_params *p = ctx->params;
    LO_TRY(need_in(ctx, 0, "input"));
    const lo_tensor *x = ctx->in[0];
    int r = x->rank, axis, n_out = ctx->n_out;
    LO_CHECK(ctx, r > 0 && lo_norm_axis(p->axis, r, &axis), "axis %lld is out of range for rank %d",
             (long long)p->axis, r);
    LO_CHECK(ctx, n_out >= 1, "has no outputs");
    int64_t dim = x->dims[axis];
    int64_t *sizes = lo_calloc((size_t)n_out, sizeof(int64_t), ctx->err);
    if (!sizes) return ctx->err->status;
    lo_status st = LO_OK;
    const lo_tensor *split_in = has_in(ctx, 1) ? ctx->in[1] : NULL;
    if (p->has_split || (split_in && lo_numel(split_in) > 0)) {
        int64_t n = p->has_split ? p->n_split : lo_numel(split_in), sum = 0;
        if (n != n_out) {
            st = lo_kernel_fail(ctx, LO_ERR_INPUT, "split lists %lld sizes for %d outputs",
                                (long long)n, n_out);
            goto done;
        }
        for (int i = 0; i < n_out; i++) {
            sizes[i] = p->has_split ? p->split[i] : lo_get_i64(split_in, i);
            if (sizes[i] < 0) {
                st = lo_kernel_fail(ctx, LO_ERR_INPUT, "split size %lld", (long long)sizes[i]);
                goto done;
            }
            sum += sizes[i];
        }
        if (sum != dim) {
            st = lo_kernel_fail(ctx, LO_ERR_INPUT, "split sizes add up to %lld, axis %d has %lld",
                                (long long)sum, axis, (long long)dim);
            goto done;
        }
    } else if (p->num_outputs) {
        if (p->num_outputs != n_out) {
            st = lo_kernel_fail(ctx, LO_ERR_MODEL, "num_outputs is %lld but the node has %d outputs",
                                (long long)p->num_outputs, n_out);
            goto done;
        }
        int64_t chunk = (dim + n_out - 1) / n_out, left = dim;
        for (int i = 0; i < n_out; i++) {
            sizes[i] = left < chunk ? left : chunk;
            left -= sizes[i];
        }
    } else {
        if (dim % n_out) {
            st = lo_kernel_fail(ctx, LO_ERR_INPUT, "axis %d of size %lld does not split into %d equal parts",
                                axis, (long long)dim, n_out);
            goto done;
        }
        for (int i = 0; i < n_out; i++) sizes[i] = dim / n_out;
    }
    size_t esize;
    st = element_size(ctx, x->dtype, &esize);
    if (st) goto done;
    int64_t outer = lo_numel_dims(axis, x->dims), inner = lo_numel_dims(r - axis - 1, x->dims + axis + 1);
    size_t in_row = (size_t)(dim * inner) * esize, at = 0;
    for (int i = 0; i < n_out; i++) {
        size_t row = (size_t)(sizes[i] * inner) * esize;
        if (has_out(ctx, i)) {
            int64_t dims[LO_MAX_RANK];
            memcpy(dims, x->dims, sizeof dims);
            dims[axis] = sizes[i];
            st = lo_output(ctx, i, x->dtype, r, dims);
            if (st) goto done;
            char *o = ctx->out[i]->data;
            if (row)
                for (int64_t k = 0; k < outer; k++)
                    memcpy(o + (size_t)k * row, (const char *)x->data + (size_t)k * in_row + at, row);
            st = own_strings(ctx, ctx->out[i]);
            if (st) goto done;
        }
        at += row;
    }
done:
    free(sizes);
    return st;
}

const lo_op_def lo_ops_concat_split[] = {
    {"", "Concat", 1, LO_OPSET_MAX, concat_prepare, concat_run, NULL, 0},
    {"", "Split", 1, LO_OPSET_MAX, split_prepare, split_run, NULL, 0},
    {0},
};
