/* Col2Im. */
#include <ctype.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../helpers.h"

static lo_status col2im_run(lo_kernel_ctx *ctx) {
    LO_TRY(need_float_in(ctx, 0, "input"));
    LO_CHECK(ctx, has_in(ctx, 1) && has_in(ctx, 2), "image_shape and block_shape are required");
    const lo_tensor *x = ctx->in[0], *ims = ctx->in[1], *bs = ctx->in[2];
    int64_t nd = lo_numel(ims);
    LO_CHECK(ctx, nd >= 1 && nd <= 5 && lo_numel(bs) == nd && x->rank == 3, "input must be [N, C * prod(block), L]");
    int64_t n_dil, n_pad, n_str;
    const int64_t *dil = lo_attr_ints(ctx->node, "dilations", &n_dil);
    const int64_t *pad = lo_attr_ints(ctx->node, "pads", &n_pad);
    const int64_t *str = lo_attr_ints(ctx->node, "strides", &n_str);
    LO_CHECK(ctx, (!dil || n_dil == nd) && (!pad || n_pad == 2 * nd) && (!str || n_str == nd),
             "dilations, pads or strides have the wrong length");
    int64_t img[5], blk[5], cols[5], bl = 1, ncol = 1, imsz = 1;
    for (int64_t i = 0; i < nd; i++) {
        img[i] = lo_get_i64(ims, i), blk[i] = lo_get_i64(bs, i);
        int64_t d = dil ? dil[i] : 1, s = str ? str[i] : 1, p0 = pad ? pad[i] : 0, p1 = pad ? pad[i + nd] : 0;
        LO_CHECK(ctx, blk[i] > 0 && img[i] > 0 && d > 0 && s > 0, "bad sizes");
        cols[i] = (img[i] + p0 + p1 - (d * (blk[i] - 1) + 1)) / s + 1;
        bl *= blk[i], ncol *= cols[i], imsz *= img[i];
    }
    LO_CHECK(ctx, x->dims[1] % bl == 0 && x->dims[2] == ncol, "input shape does not match the blocks");
    int64_t N = x->dims[0], C = x->dims[1] / bl, dims[LO_MAX_RANK];
    dims[0] = N, dims[1] = C;
    for (int64_t i = 0; i < nd; i++) dims[2 + i] = img[i];
    LO_TRY(lo_output(ctx, 0, x->dtype, (int)(2 + nd), dims));
    if (!has_out(ctx, 0)) return LO_OK;
    void *heap;
    double *acc = work_buffer(ctx, (size_t)(imsz ? imsz : 1) * sizeof(double), &heap);
    if (!acc) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            memset(acc, 0, (size_t)imsz * sizeof *acc);
            for (int64_t kb = 0; kb < bl; kb++)
                for (int64_t col = 0; col < ncol; col++) {
                    int64_t rk = kb, rc = col, idx = 0;
                    bool out = false;
                    int64_t ko[5], co[5];
                    for (int64_t i = nd - 1; i >= 0; i--) {
                        ko[i] = rk % blk[i], rk /= blk[i];
                        co[i] = rc % cols[i], rc /= cols[i];
                    }
                    for (int64_t i = 0; i < nd; i++) {
                        int64_t pos = co[i] * (str ? str[i] : 1) - (pad ? pad[i] : 0) + ko[i] * (dil ? dil[i] : 1);
                        if (pos < 0 || pos >= img[i]) out = true;
                        idx = idx * img[i] + pos;
                    }
                    if (!out) acc[idx] += lo_get_f64(x, ((n * C + c) * bl + kb) * ncol + col);
                }
            for (int64_t i = 0; i < imsz; i++) lo_set_f64(ctx->out[0], (n * C + c) * imsz + i, acc[i]);
        }
    free(heap);
    return LO_OK;
}

const lo_op_def lo_ops_nn_col2im[] = {
    {"", "Col2Im", 18, LO_OPSET_MAX, NULL, col2im_run, NULL, 0},
    {0},
};
