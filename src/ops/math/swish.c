/* Swish, SwiGLU. */
#include <ctype.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../helpers.h"

static lo_status swish_run(lo_kernel_ctx *ctx) {
    LO_TRY(need_float_in(ctx, 0, "X"));
    const lo_tensor *x = ctx->in[0];
    double alpha = lo_attr_float(ctx->node, "alpha", 1.0f);
    LO_TRY(lo_output(ctx, 0, x->dtype, x->rank, x->dims));
    if (!has_out(ctx, 0)) return LO_OK;
    for (int64_t i = 0; i < lo_numel(x); i++) {
        double v = lo_get_f64(x, i);
        lo_set_f64(ctx->out[0], i, v / (1 + exp(-alpha * v)));
    }
    return LO_OK;
}

static lo_status swiglu_run(lo_kernel_ctx *ctx) {
    LO_TRY(need_float_in(ctx, 0, "A"));
    LO_TRY(need_float_in(ctx, 1, "B"));
    const lo_tensor *a = ctx->in[0], *b = ctx->in[1];
    LO_CHECK(ctx, a->dtype == b->dtype && a->rank == b->rank && !memcmp(a->dims, b->dims, sizeof a->dims[0] * (size_t)a->rank),
             "A and B must have the same type and shape");
    double alpha = lo_attr_float(ctx->node, "alpha", 1.0f);
    LO_TRY(lo_output(ctx, 0, a->dtype, a->rank, a->dims));
    if (!has_out(ctx, 0)) return LO_OK;
    for (int64_t i = 0; i < lo_numel(a); i++) {
        double v = lo_get_f64(a, i);
        lo_set_f64(ctx->out[0], i, v / (1 + exp(-alpha * v)) * lo_get_f64(b, i));
    }
    return LO_OK;
}

const lo_op_def lo_ops_math_swish[] = {
    {"", "Swish", 24, LO_OPSET_MAX, NULL, swish_run, NULL, 0},
    {"", "SwiGLU", 28, LO_OPSET_MAX, NULL, swiglu_run, NULL, 0},
    {0},
};
