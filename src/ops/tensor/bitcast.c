/* BitCast. */
#include <ctype.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../helpers.h"

static lo_status bitcast_run(lo_kernel_ctx *ctx) {
    LO_CHECK(ctx, has_in(ctx, 0), "input is required");
    const lo_tensor *x = ctx->in[0];
    lo_dtype to = (lo_dtype)lo_attr_int(ctx->node, "to", 0);
    bool sub_byte = false;
    for (int k = 0; k < 2; k++) {
        lo_dtype t = k ? to : x->dtype;
        sub_byte = sub_byte || t == LO_INT4 || t == LO_UINT4 || t == LO_FLOAT4E2M1 || t == LO_INT2 ||
                   t == LO_UINT2 || t == LO_FLOAT6E2M3 || t == LO_FLOAT6E3M2;
    }
    if (to == LO_STRING || x->dtype == LO_STRING || sub_byte || !lo_dtype_size(to))
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "bit-casting %s to type %d", lo_dtype_name(x->dtype), (int)to);
    LO_CHECK(ctx, lo_dtype_size(to) == lo_dtype_size(x->dtype), "%s and %s differ in width",
             lo_dtype_name(x->dtype), lo_dtype_name(to));
    LO_TRY(lo_output(ctx, 0, to, x->rank, x->dims));
    if (has_out(ctx, 0) && x->nbytes) memcpy(ctx->out[0]->data, x->data, x->nbytes);
    return LO_OK;
}

const lo_op_def lo_ops_tensor_bitcast[] = {
    {"", "BitCast", 26, LO_OPSET_MAX, NULL, bitcast_run, NULL, 0},
    {0},
};
