/* RMSNormalization. */
#include <ctype.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../helpers.h"

/* ---- RMSNormalization, RotaryEmbedding, Swish, SwiGLU --------------------------------------- */

static lo_status rms_run(lo_kernel_ctx *ctx) {
    LO_TRY(need_float_in(ctx, 0, "X"));
    LO_TRY(need_float_in(ctx, 1, "scale"));
    const lo_tensor *x = ctx->in[0], *w = ctx->in[1];
    int axis;
    LO_CHECK(ctx, lo_norm_axis(lo_attr_int(ctx->node, "axis", -1), x->rank, &axis), "axis out of range");
    double eps = lo_attr_float(ctx->node, "epsilon", 1e-5f);
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; i++) outer *= x->dims[i];
    for (int i = axis; i < x->rank; i++) inner *= x->dims[i];
    /* the scale broadcasts over the normalized dims, aligned to the right */
    int nr = x->rank - axis;
    LO_CHECK(ctx, w->rank <= nr, "scale has rank %d, more than the %d normalized dims", w->rank, nr);
    int64_t wstr[LO_MAX_RANK], st = 1;
    for (int d = nr - 1; d >= 0; d--) {
        int wd = d - (nr - w->rank);
        if (wd < 0) {
            wstr[d] = 0;
            continue;
        }
        LO_CHECK(ctx, w->dims[wd] == 1 || w->dims[wd] == x->dims[axis + d], "scale does not broadcast to X");
        wstr[d] = w->dims[wd] == 1 ? 0 : st;
        st *= w->dims[wd];
    }
    LO_TRY(lo_output(ctx, 0, x->dtype, x->rank, x->dims));
    if (!has_out(ctx, 0)) return LO_OK;
    for (int64_t o = 0; o < outer; o++) {
        double ss = 0;
        for (int64_t i = 0; i < inner; i++) {
            double v = lo_get_f64(x, o * inner + i);
            ss += v * v;
        }
        double r = 1.0 / sqrt(ss / (double)inner + eps);
        for (int64_t i = 0; i < inner; i++) {
            int64_t wi = 0, rem = i;
            for (int d = nr - 1; d >= 0; d--) {
                wi += (rem % x->dims[axis + d]) * wstr[d];
                rem /= x->dims[axis + d];
            }
            lo_set_f64(ctx->out[0], o * inner + i, lo_get_f64(x, o * inner + i) * r * lo_get_f64(w, wi));
        }
    }
    return LO_OK;
}

const lo_op_def lo_ops_nn_rms_normalization[] = {
    {"", "RMSNormalization", 23, LO_OPSET_MAX, NULL, rms_run, NULL, 0},
    {0},
};
