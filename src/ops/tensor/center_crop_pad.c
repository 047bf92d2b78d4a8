/* CenterCropPad. */
#include <ctype.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../helpers.h"

/* ---- CenterCropPad, Col2Im, AffineGrid ---------------------------------------------------- */

static lo_status center_crop_pad_run(lo_kernel_ctx *ctx) {
    LO_CHECK(ctx, has_in(ctx, 0) && has_in(ctx, 1), "input and shape are required");
    const lo_tensor *x = ctx->in[0], *shape = ctx->in[1];
    LO_CHECK(ctx, x->dtype != LO_STRING, "string input");
    int64_t n_axes;
    const int64_t *axes = lo_attr_ints(ctx->node, "axes", &n_axes);
    if (!axes) n_axes = x->rank;
    LO_CHECK(ctx, lo_numel(shape) == n_axes, "shape has %lld values for %lld axes", (long long)lo_numel(shape),
             (long long)n_axes);
    int64_t dims[LO_MAX_RANK], src_off[LO_MAX_RANK] = {0}, dst_off[LO_MAX_RANK] = {0}, len[LO_MAX_RANK];
    memcpy(dims, x->dims, sizeof dims);
    for (int i = 0; i < x->rank; i++) len[i] = x->dims[i];
    for (int64_t k = 0; k < n_axes; k++) {
        int a;
        LO_CHECK(ctx, lo_norm_axis(axes ? axes[k] : k, x->rank, &a), "axis out of range");
        int64_t want = lo_get_i64(shape, k), have = x->dims[a];
        LO_CHECK(ctx, want >= 0, "negative target size");
        dims[a] = want;
        if (want < have) src_off[a] = (have - want) / 2, len[a] = want;
        else if (want > have) dst_off[a] = (want - have) / 2, len[a] = have;
    }
    LO_TRY(lo_output(ctx, 0, x->dtype, x->rank, dims));
    if (!has_out(ctx, 0)) return LO_OK;
    size_t es = lo_dtype_size(x->dtype);
    memset(ctx->out[0]->data, 0, ctx->out[0]->nbytes);
    int64_t total = lo_numel_dims(x->rank, len);
    for (int64_t e = 0; e < total; e++) {
        int64_t rem = e, si = 0, di = 0, ss = 1, ds = 1;
        for (int d = x->rank - 1; d >= 0; d--) {
            int64_t c = rem % len[d];
            rem /= len[d];
            si += (c + src_off[d]) * ss;
            di += (c + dst_off[d]) * ds;
            ss *= x->dims[d];
            ds *= dims[d];
        }
        memcpy((char *)ctx->out[0]->data + (size_t)di * es, (const char *)x->data + (size_t)si * es, es);
    }
    return LO_OK;
}

const lo_op_def lo_ops_tensor_center_crop_pad[] = {
    {"", "CenterCropPad", 18, LO_OPSET_MAX, NULL, center_crop_pad_run, NULL, 0},
    {0},
};
