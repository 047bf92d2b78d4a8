/* Where: a broadcast select, on the elementwise machinery (math/elementwise.h):
 * the reference walks every output index, the fast path copies collapsed rows
 * (float32-sized elements by a typed loop). */
#include <stdlib.h>
#include <string.h>

#include "../math/elementwise.h"

static void elem_where(ew_loop *L, int64_t o, int64_t ic, int64_t ix, int64_t iy) {
    bool pick_x = ((const uint8_t *)L->in[0])[ic] != 0;
    const void *src = pick_x ? L->in[1] : L->in[2];
    int64_t i = pick_x ? ix : iy;
    switch (L->out_dtype == LO_STRING ? 0 : lo_dtype_size(L->out_dtype)) {
    case 0: {
        const char *s = ((char *const *)src)[i];
        char *copy = lo_strdup(s);
        if (!copy) L->failed = 1;
        ((char **)L->out)[o] = copy;
        return;
    }
    case 1: ((uint8_t *)L->out)[o] = ((const uint8_t *)src)[i]; return;
    case 2: ((uint16_t *)L->out)[o] = ((const uint16_t *)src)[i]; return;
    case 4: ((uint32_t *)L->out)[o] = ((const uint32_t *)src)[i]; return;
    case 8: ((uint64_t *)L->out)[o] = ((const uint64_t *)src)[i]; return;
    default: {
        size_t s = lo_dtype_size(L->out_dtype);
        memcpy((char *)L->out + o * s, (const char *)src + i * s, s);
    }
    }
}
GENERIC_ROW(row_where_generic, elem_where)

static void row_where_f32(ew_loop *L, int64_t o, const int64_t *off, int64_t n) {
    const uint8_t *c = (const uint8_t *)L->in[0] + off[0];
    const uint32_t *x = (const uint32_t *)L->in[1] + off[1], *y = (const uint32_t *)L->in[2] + off[2];
    int64_t sc = L->stride[0][L->rank - 1], sx = L->stride[1][L->rank - 1], sy = L->stride[2][L->rank - 1];
    uint32_t *out = (uint32_t *)L->out + o;
    for (int64_t i = 0; i < n; i++) out[i] = c[i * sc] ? x[i * sx] : y[i * sy];
}

static lo_status run_where(lo_kernel_ctx *ctx) {
    for (int i = 0; i < 3; i++) LO_CHECK(ctx, input_ok(ctx, i), "input %d is missing or not a tensor", i);
    const lo_tensor *ins[3] = {ctx->in[0], ctx->in[1], ctx->in[2]};
    LO_CHECK(ctx, ins[0]->dtype == LO_BOOL, "condition has type %s, not bool", lo_dtype_name(ins[0]->dtype));
    LO_CHECK(ctx, ins[1]->dtype == ins[2]->dtype, "X and Y have different types %s and %s",
             lo_dtype_name(ins[1]->dtype), lo_dtype_name(ins[2]->dtype));
    lo_dtype t = ins[1]->dtype;
    if (!lo_dtype_size(t) || t == LO_UNDEFINED)
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "%s inputs are not supported", lo_dtype_name(t));
    int rank;
    int64_t dims[LO_MAX_RANK];
    lo_error berr;
    if (lo_broadcast_shape(3, ins, &rank, dims, &berr) != LO_OK)
        return lo_kernel_fail(ctx, LO_ERR_INPUT, "%s", berr.message);
    if (!output_wanted(ctx)) return LO_OK;
    LO_TRY(lo_output(ctx, 0, t, rank, dims));
    ew_loop L;
    loop_init(&L, 3, ins, rank, dims, ctx->out[0], ctx->params, OP_WHERE);
    if (lo_use_ref(ctx) || t == LO_STRING) {
        loop_reference(&L, elem_where);
    } else {
        loop_collapse(&L);
        loop_run(&L, lo_dtype_size(t) == 4 ? row_where_f32 : row_where_generic, thread_count(ctx),
                 PARALLEL_MIN_CHEAP);
    }
    if (L.failed) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory copying strings");
    return LO_OK;
}

static lo_status prep_where(const lo_node *node, void **params, lo_error *err) {
    return lo_ew_prepare(node, params, err, OP_WHERE);
}

const lo_op_def lo_ops_tensor_where[] = {
    {"", "Where", 9, LO_OPSET_MAX, prep_where, run_where, NULL, LO_OP_FAST},
    {0},
};
