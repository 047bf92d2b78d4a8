/* ReverseSequence, Compress. */
#include "copy.h"

/* ---- ReverseSequence, Compress ------------------------------------------ */

typedef struct reverse_sequence_params {
    int64_t batch_axis, time_axis;
} reverse_sequence_params;

static lo_status reverse_sequence_prepare(const lo_node *node, void **params, lo_error *err) {
    reverse_sequence_params *p = alloc_params(sizeof *p, err);
    if (!p) return err->status;
    *params = p;
    p->batch_axis = lo_attr_int(node, "batch_axis", 1);
    p->time_axis = lo_attr_int(node, "time_axis", 0);
    if (!((p->batch_axis == 0 && p->time_axis == 1) || (p->batch_axis == 1 && p->time_axis == 0)))
        return prep_fail(node, err, LO_ERR_MODEL, "batch_axis and time_axis must be 0 and 1");
    return LO_OK;
}

static lo_status reverse_sequence_run(lo_kernel_ctx *ctx) {
    const reverse_sequence_params *p = ctx->params;
    LO_TRY(need_in(ctx, 0, "input"));
    LO_TRY(need_in(ctx, 1, "sequence_lens"));
    const lo_tensor *x = ctx->in[0], *lens = ctx->in[1];
    LO_CHECK(ctx, x->rank >= 2, "input must have rank >= 2");
    int64_t batch = x->dims[p->batch_axis], time = x->dims[p->time_axis];
    LO_CHECK(ctx, lo_dtype_is_int(lens->dtype) && lens->rank == 1 && lens->dims[0] == batch,
             "sequence_lens must be 1-D integers, one per batch entry");
    for (int64_t b = 0; b < batch; b++) {
        int64_t len = lo_get_i64(lens, b);
        LO_CHECK(ctx, len >= 0 && len <= time, "sequence length %lld is outside [0, %lld]",
                 (long long)len, (long long)time);
    }
    if (!has_out(ctx, 0)) return LO_OK;
    size_t esize;
    LO_TRY(element_size(ctx, x->dtype, &esize));
    LO_TRY(lo_output(ctx, 0, x->dtype, x->rank, x->dims));
    char *out = ctx->out[0]->data;
    const char *src = x->data;
    if (x->nbytes) memcpy(out, src, x->nbytes);
    int64_t inner = lo_numel_dims(x->rank - 2, x->dims + 2);
    size_t block = (size_t)inner * esize;
    for (int64_t b = 0; b < batch; b++) {
        int64_t len = lo_get_i64(lens, b);
        for (int64_t t = 0; t < len; t++) {
            int64_t to = p->batch_axis == 0 ? b * time + t : t * batch + b;
            int64_t from = p->batch_axis == 0 ? b * time + (len - 1 - t) : (len - 1 - t) * batch + b;
            memcpy(out + (size_t)to * block, src + (size_t)from * block, block);
        }
    }
    return own_strings(ctx, ctx->out[0]);
}

static lo_status compress_run(lo_kernel_ctx *ctx) {
    const axis_params *p = ctx->params;
    LO_TRY(need_in(ctx, 0, "input"));
    LO_TRY(need_in(ctx, 1, "condition"));
    const lo_tensor *x = ctx->in[0], *cond = ctx->in[1];
    LO_CHECK(ctx, cond->rank == 1 && is_numeric(cond->dtype), "condition must be a 1-D bool tensor");
    int64_t outer, n, inner;
    int axis = 0;
    if (p->has_axis) {
        LO_CHECK(ctx, x->rank > 0 && lo_norm_axis(p->axis, x->rank, &axis),
                 "axis %lld is out of range for rank %d", (long long)p->axis, x->rank);
        outer = lo_numel_dims(axis, x->dims);
        n = x->dims[axis];
        inner = lo_numel_dims(x->rank - axis - 1, x->dims + axis + 1);
    } else {
        outer = 1;
        n = lo_numel(x);
        inner = 1;
    }
    int64_t selected = 0, clen = cond->dims[0];
    for (int64_t i = 0; i < clen; i++) {
        if (lo_get_f64(cond, i) == 0) continue;
        LO_CHECK(ctx, i < n, "condition selects index %lld beyond %lld", (long long)i, (long long)n);
        selected++;
    }
    int64_t dims[LO_MAX_RANK];
    int r = 1;
    if (p->has_axis) {
        r = x->rank;
        memcpy(dims, x->dims, sizeof dims);
        dims[axis] = selected;
    } else {
        dims[0] = selected;
    }
    if (!has_out(ctx, 0)) return LO_OK;
    size_t esize;
    LO_TRY(element_size(ctx, x->dtype, &esize));
    LO_TRY(lo_output(ctx, 0, x->dtype, r, dims));
    char *out = ctx->out[0]->data;
    const char *src = x->data;
    size_t block = (size_t)inner * esize;
    int64_t at = 0;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < clen && i < n; i++)
            if (lo_get_f64(cond, i) != 0)
                memcpy(out + (size_t)(at++) * block, src + (size_t)(o * n + i) * block, block);
    return own_strings(ctx, ctx->out[0]);
}

const lo_op_def lo_ops_reverse_sequence_compress[] = {
    {"", "ReverseSequence", 10, LO_OPSET_MAX, reverse_sequence_prepare, reverse_sequence_run, NULL, 0},
    {"", "Compress", 9, LO_OPSET_MAX, axis0_prepare, compress_run, NULL, 0},
    {0},
};
