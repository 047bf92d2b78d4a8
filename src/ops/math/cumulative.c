/* CumProd. */
#include <ctype.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../helpers.h"

/* ---- CumProd, BitCast, TensorScatter ----------------------------------------------------- */

static lo_status cumprod_run(lo_kernel_ctx *ctx) {
    LO_CHECK(ctx, has_in(ctx, 0), "x is required");
    const lo_tensor *x = ctx->in[0];
    LO_CHECK(ctx, float_type(x->dtype) || lo_dtype_is_int(x->dtype), "x of type %s", lo_dtype_name(x->dtype));
    int64_t a = 0; /* LO_TRY returns when scalar_i64 does not set it; GCC cannot tell */
    LO_TRY(scalar_i64(ctx, 1, "axis", &a));
    int axis;
    LO_CHECK(ctx, lo_norm_axis(a, x->rank, &axis) && x->rank > 0, "axis %lld out of range", (long long)a);
    bool exclusive = lo_attr_int(ctx->node, "exclusive", 0) != 0, reverse = lo_attr_int(ctx->node, "reverse", 0) != 0;
    LO_TRY(lo_output(ctx, 0, x->dtype, x->rank, x->dims));
    if (!has_out(ctx, 0)) return LO_OK;
    int64_t outer = 1, inner = 1, d = x->dims[axis];
    for (int i = 0; i < axis; i++) outer *= x->dims[i];
    for (int i = axis + 1; i < x->rank; i++) inner *= x->dims[i];
    bool fl = float_type(x->dtype);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++) {
            double pf = 1;
            uint64_t pi = 1; /* integer products wrap as the type does */
            for (int64_t t = 0; t < d; t++) {
                int64_t k = reverse ? d - 1 - t : t;
                int64_t at = (o * d + k) * inner + in;
                if (exclusive) {
                    if (fl) lo_set_f64(ctx->out[0], at, pf);
                    else lo_set_i64(ctx->out[0], at, (int64_t)pi);
                }
                if (fl) pf *= lo_get_f64(x, at);
                else pi *= (uint64_t)lo_get_i64(x, at);
                if (!exclusive) {
                    if (fl) lo_set_f64(ctx->out[0], at, pf);
                    else lo_set_i64(ctx->out[0], at, (int64_t)pi);
                }
            }
        }
    return LO_OK;
}

const lo_op_def lo_ops_math_cumulative[] = {
    {"", "CumProd", 26, LO_OPSET_MAX, NULL, cumprod_run, NULL, 0},
    {0},
};
