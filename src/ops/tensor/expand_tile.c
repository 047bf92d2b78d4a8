/* Expand, Tile. */
#include "copy.h"

/* ---- Expand, Tile -------------------------------------------------------- */

static lo_status expand_run(lo_kernel_ctx *ctx) {
    LO_TRY(need_in(ctx, 0, "input"));
    LO_TRY(need_in(ctx, 1, "shape"));
    const lo_tensor *x = ctx->in[0];
    lo_tensor shape_as = {0};
    int n;
    LO_TRY(read_int_list(ctx, ctx->in[1], "shape", LO_MAX_RANK, shape_as.dims, &n));
    shape_as.rank = n;
    for (int i = 0; i < n; i++)
        LO_CHECK(ctx, shape_as.dims[i] >= 0, "shape[%d] is %lld", i, (long long)shape_as.dims[i]);
    const lo_tensor *both[2] = {x, &shape_as};
    int r;
    int64_t dims[LO_MAX_RANK], strides[LO_MAX_RANK], *tables[LO_MAX_RANK];
    LO_TRY(lo_broadcast_shape(2, both, &r, dims, ctx->err));
    if (!has_out(ctx, 0)) return LO_OK;
    size_t esize;
    LO_TRY(element_size(ctx, x->dtype, &esize));
    LO_TRY(lo_output(ctx, 0, x->dtype, r, dims));
    lo_broadcast_strides(x, r, dims, strides);
    int64_t *block = alloc_tables(ctx, r, dims, tables);
    if (!block) return ctx->err->status;
    for (int d = 0; d < r; d++)
        for (int64_t i = 0; i < dims[d]; i++) tables[d][i] = i * strides[d];
    lo_status st = gather_copy(ctx, ctx->out[0]->data, x->data, esize, r, dims, tables, NULL);
    free(block);
    LO_TRY(st);
    return own_strings(ctx, ctx->out[0]);
}

static lo_status tile_run(lo_kernel_ctx *ctx) {
    LO_TRY(need_in(ctx, 0, "input"));
    LO_TRY(need_in(ctx, 1, "repeats"));
    const lo_tensor *x = ctx->in[0];
    int r = x->rank;
    int64_t reps[LO_MAX_RANK];
    if (ctx->node->opset < 6) {
        /* Tile-1: a repeat count for one axis. */
        int64_t tiles, axis;
        LO_TRY(need_in(ctx, 2, "axis"));
        LO_TRY(read_scalar_i64(ctx, ctx->in[1], "tiles", &tiles));
        LO_TRY(read_scalar_i64(ctx, ctx->in[2], "axis", &axis));
        int a;
        LO_CHECK(ctx, lo_norm_axis(axis, r, &a) && r > 0, "axis %lld is out of range",
                 (long long)axis);
        for (int d = 0; d < r; d++) reps[d] = d == a ? tiles : 1;
    } else {
        int n;
        LO_TRY(read_int_list(ctx, ctx->in[1], "repeats", LO_MAX_RANK, reps, &n));
        LO_CHECK(ctx, n == r, "repeats has %d values, the input has rank %d", n, r);
    }
    int64_t dims[LO_MAX_RANK], strides[LO_MAX_RANK], *tables[LO_MAX_RANK];
    row_major_strides(r, x->dims, strides);
    for (int d = 0; d < r; d++) {
        LO_CHECK(ctx, reps[d] >= 0, "repeats[%d] is %lld", d, (long long)reps[d]);
        dims[d] = x->dims[d] * reps[d];
    }
    if (!has_out(ctx, 0)) return LO_OK;
    size_t esize;
    LO_TRY(element_size(ctx, x->dtype, &esize));
    LO_TRY(lo_output(ctx, 0, x->dtype, r, dims));
    int64_t *block = alloc_tables(ctx, r, dims, tables);
    if (!block) return ctx->err->status;
    for (int d = 0; d < r; d++)
        for (int64_t i = 0; i < dims[d]; i++) tables[d][i] = (i % x->dims[d]) * strides[d];
    lo_status st = gather_copy(ctx, ctx->out[0]->data, x->data, esize, r, dims, tables, NULL);
    free(block);
    LO_TRY(st);
    return own_strings(ctx, ctx->out[0]);
}

const lo_op_def lo_ops_expand_tile[] = {
    {"", "Expand", 8, LO_OPSET_MAX, NULL, expand_run, NULL, 0},
    {"", "Tile", 1, LO_OPSET_MAX, NULL, tile_run, NULL, 0},
    {0},
};
