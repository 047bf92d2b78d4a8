/* AffineGrid. */
#include <ctype.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../helpers.h"

static lo_status affine_grid_run(lo_kernel_ctx *ctx) {
    LO_TRY(need_float_in(ctx, 0, "theta"));
    LO_CHECK(ctx, has_in(ctx, 1), "size is required");
    const lo_tensor *theta = ctx->in[0], *size = ctx->in[1];
    bool align = lo_attr_int(ctx->node, "align_corners", 0) != 0;
    int64_t ns = lo_numel(size);
    LO_CHECK(ctx, ns == 4 || ns == 5, "size must be [N, C, H, W] or [N, C, D, H, W]");
    int k = (int)ns - 2;
    int64_t N = lo_get_i64(size, 0), sp[3], dims[LO_MAX_RANK], total = 1;
    LO_CHECK(ctx, theta->rank == 3 && theta->dims[0] == N && theta->dims[1] == k && theta->dims[2] == k + 1,
             "theta must be [N, %d, %d]", k, k + 1);
    dims[0] = N;
    for (int i = 0; i < k; i++) {
        sp[i] = lo_get_i64(size, 2 + i);
        LO_CHECK(ctx, sp[i] > 0, "size must be positive");
        dims[1 + i] = sp[i];
        total *= sp[i];
    }
    dims[1 + k] = k;
    LO_TRY(lo_output(ctx, 0, theta->dtype, k + 2, dims));
    if (!has_out(ctx, 0)) return LO_OK;
    for (int64_t n = 0; n < N; n++)
        for (int64_t e = 0; e < total; e++) {
            /* base coordinates, innermost dim first (x, y[, z]), then 1 */
            double base[4];
            int64_t rem = e;
            for (int i = k - 1; i >= 0; i--) {
                int64_t c = rem % sp[i];
                rem /= sp[i];
                double v = align ? (sp[i] > 1 ? -1 + 2.0 * (double)c / (double)(sp[i] - 1) : -1)
                                 : -1 + (2.0 * (double)c + 1) / (double)sp[i];
                base[k - 1 - i] = v;
            }
            base[k] = 1;
            for (int r = 0; r < k; r++) {
                double acc = 0;
                for (int c = 0; c <= k; c++) acc += lo_get_f64(theta, (n * k + r) * (k + 1) + c) * base[c];
                lo_set_f64(ctx->out[0], (n * total + e) * k + r, acc);
            }
        }
    return LO_OK;
}

const lo_op_def lo_ops_tensor_affine_grid[] = {
    {"", "AffineGrid", 20, LO_OPSET_MAX, NULL, affine_grid_run, NULL, 0},
    {0},
};
