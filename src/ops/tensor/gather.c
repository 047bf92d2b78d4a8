/* Gather, GatherElements, GatherND. */
#include "copy.h"

/* ---- Gather, GatherElements, GatherND ------------------------------------ */

static lo_status gather_run(lo_kernel_ctx *ctx) {
    const axis_params *p = ctx->params;
    LO_TRY(need_in(ctx, 0, "data"));
    LO_TRY(need_in(ctx, 1, "indices"));
    const lo_tensor *x = ctx->in[0], *ind = ctx->in[1];
    int r = x->rank, q = ind->rank, axis;
    LO_CHECK(ctx, r > 0 && lo_norm_axis(p->axis, r, &axis), "axis %lld is out of range for rank %d",
             (long long)p->axis, r);
    if (r - 1 + q > LO_MAX_RANK)
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "output rank %d is beyond %d", r - 1 + q,
                              LO_MAX_RANK);
    int64_t n = x->dims[axis];
    LO_TRY(check_indices(ctx, ind, n));
    int64_t dims[LO_MAX_RANK];
    int o_r = 0;
    for (int d = 0; d < axis; d++) dims[o_r++] = x->dims[d];
    for (int d = 0; d < q; d++) dims[o_r++] = ind->dims[d];
    for (int d = axis + 1; d < r; d++) dims[o_r++] = x->dims[d];
    if (!has_out(ctx, 0)) return LO_OK;
    size_t esize;
    LO_TRY(element_size(ctx, x->dtype, &esize));
    LO_TRY(lo_output(ctx, 0, x->dtype, o_r, dims));
    int64_t outer = lo_numel_dims(axis, x->dims), inner = lo_numel_dims(r - axis - 1, x->dims + axis + 1);
    int64_t count = lo_numel(ind);
    size_t block = (size_t)inner * esize;
    char *out = ctx->out[0]->data;
    const char *src = x->data;
#pragma omp parallel for schedule(static) if (outer * count * inner > PARALLEL_MIN_ELEMENTS)
    for (int64_t k = 0; k < outer * count; k++) {
        int64_t o = k / count, j = k % count;
        memcpy(out + (size_t)k * block, src + (size_t)(o * n + index_at(ind, j, n)) * block, block);
    }
    return own_strings(ctx, ctx->out[0]);
}

static lo_status gather_elements_run(lo_kernel_ctx *ctx) {
    const axis_params *p = ctx->params;
    LO_TRY(need_in(ctx, 0, "data"));
    LO_TRY(need_in(ctx, 1, "indices"));
    const lo_tensor *x = ctx->in[0], *ind = ctx->in[1];
    int r = x->rank, axis;
    LO_CHECK(ctx, r > 0 && lo_norm_axis(p->axis, r, &axis), "axis %lld is out of range for rank %d",
             (long long)p->axis, r);
    LO_CHECK(ctx, ind->rank == r, "indices have rank %d, data %d", ind->rank, r);
    for (int d = 0; d < r; d++)
        LO_CHECK(ctx, d == axis || ind->dims[d] <= x->dims[d],
                 "indices are larger than data on axis %d", d);
    int64_t n = x->dims[axis];
    LO_TRY(check_indices(ctx, ind, n));
    if (!has_out(ctx, 0)) return LO_OK;
    size_t esize;
    LO_TRY(element_size(ctx, x->dtype, &esize));
    LO_TRY(lo_output(ctx, 0, x->dtype, r, ind->dims));
    int64_t strides[LO_MAX_RANK];
    row_major_strides(r, x->dims, strides);
    int64_t count = lo_numel(ind);
    char *out = ctx->out[0]->data;
    const char *src = x->data;
#pragma omp parallel for schedule(static) if (count > PARALLEL_MIN_ELEMENTS)
    for (int64_t i = 0; i < count; i++) {
        int64_t rest = i, offset = 0;
        for (int d = r - 1; d >= 0; d--) {
            int64_t c = rest % ind->dims[d];
            rest /= ind->dims[d];
            offset += (d == axis ? index_at(ind, i, n) : c) * strides[d];
        }
        copy_element(out + (size_t)i * esize, src + (size_t)offset * esize, esize);
    }
    return own_strings(ctx, ctx->out[0]);
}

typedef struct gather_nd_params {
    int64_t batch_dims;
} gather_nd_params;

static lo_status batch_dims_prepare(const lo_node *node, void **params, lo_error *err) {
    gather_nd_params *p = alloc_params(sizeof *p, err);
    if (!p) return err->status;
    *params = p;
    p->batch_dims = lo_attr_int(node, "batch_dims", 0);
    if (p->batch_dims < 0)
        return prep_fail(node, err, LO_ERR_MODEL, "batch_dims is negative");
    return LO_OK;
}

static lo_status gather_nd_run(lo_kernel_ctx *ctx) {
    const gather_nd_params *p = ctx->params;
    LO_TRY(need_in(ctx, 0, "data"));
    LO_TRY(need_in(ctx, 1, "indices"));
    const lo_tensor *x = ctx->in[0], *ind = ctx->in[1];
    int b = (int)(p->batch_dims > LO_MAX_RANK ? LO_MAX_RANK : p->batch_dims);
    nd_layout l;
    LO_TRY(nd_check(ctx, x, ind, b, &l));
    int64_t dims[LO_MAX_RANK];
    int o_r = 0;
    if (ind->rank - 1 + x->rank - b - (int)l.k > LO_MAX_RANK)
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "output rank beyond %d", LO_MAX_RANK);
    for (int d = 0; d < ind->rank - 1; d++) dims[o_r++] = ind->dims[d];
    for (int d = b + (int)l.k; d < x->rank; d++) dims[o_r++] = x->dims[d];
    int64_t tuples = l.n_batch * l.tuples_per_batch;
    for (int64_t t = 0; t < tuples; t++) {
        int64_t off;
        LO_TRY(nd_tuple_offset(ctx, x, ind, &l, b, t, &off));
    }
    if (!has_out(ctx, 0)) return LO_OK;
    size_t esize;
    LO_TRY(element_size(ctx, x->dtype, &esize));
    LO_TRY(lo_output(ctx, 0, x->dtype, o_r, dims));
    size_t block = (size_t)l.slice * esize;
    for (int64_t t = 0; t < tuples; t++) {
        int64_t off;
        LO_TRY(nd_tuple_offset(ctx, x, ind, &l, b, t, &off));
        memcpy((char *)ctx->out[0]->data + (size_t)t * block,
               (const char *)x->data + (size_t)off * esize, block);
    }
    return own_strings(ctx, ctx->out[0]);
}

const lo_op_def lo_ops_gather[] = {
    {"", "Gather", 1, LO_OPSET_MAX, axis0_prepare, gather_run, NULL, 0},
    {"", "GatherElements", 11, LO_OPSET_MAX, axis0_prepare, gather_elements_run, NULL, 0},
    {"", "GatherND", 11, LO_OPSET_MAX, batch_dims_prepare, gather_nd_run, NULL, 0},
    {0},
};
