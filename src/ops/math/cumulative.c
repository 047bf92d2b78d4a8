/* CumSum and CumProd: running sums and products along an axis. CumSum
 * keeps the element's own type (the Scatter reductions' arithmetic, shared
 * through tensor/copy.h); CumProd works in double through the generic
 * getters. */
#include "../tensor/copy.h"

/* CumProd's input checks: a present tensor (not a sequence), a float type,
 * a single-value axis input. */
static bool tensor_in(lo_kernel_ctx *ctx, int i) {
    return i < ctx->n_in && ctx->in[i] && ctx->in[i]->kind == LO_KIND_TENSOR;
}
static bool float_type(lo_dtype d) {
    return d == LO_FLOAT || d == LO_DOUBLE || d == LO_FLOAT16 || d == LO_BFLOAT16;
}
static lo_status scalar_i64(lo_kernel_ctx *ctx, int i, const char *what, int64_t *v) {
    LO_CHECK(ctx, tensor_in(ctx, i) && lo_numel(ctx->in[i]) == 1, "%s must be a single value", what);
    *v = lo_get_i64(ctx->in[i], 0);
    return LO_OK;
}

/* ---- CumSum -------------------------------------------------------------- */

typedef struct cumsum_params {
    bool exclusive, reverse;
} cumsum_params;

static lo_status cumsum_prepare(const lo_node *node, void **params, lo_error *err) {
    cumsum_params *p = alloc_params(sizeof *p, err);
    if (!p) return err->status;
    *params = p;
    p->exclusive = lo_attr_int(node, "exclusive", 0) != 0;
    p->reverse = lo_attr_int(node, "reverse", 0) != 0;
    return LO_OK;
}

#define CUMSUM_LOOP(TYPE, ACC, ADD)                                                    \
    do {                                                                               \
        const TYPE *in = x->data;                                                      \
        TYPE *o = out->data;                                                           \
        for (int64_t b = 0; b < outer; b++)                                            \
            for (int64_t i = 0; i < inner; i++) {                                      \
                ACC acc = 0;                                                           \
                for (int64_t s = 0; s < n; s++) {                                      \
                    int64_t j = p->reverse ? n - 1 - s : s;                            \
                    size_t at = (size_t)((b * n + j) * inner + i);                     \
                    if (p->exclusive) {                                                \
                        o[at] = (TYPE)acc;                                             \
                        acc = ADD(acc, in[at]);                                        \
                    } else {                                                           \
                        acc = ADD(acc, in[at]);                                        \
                        o[at] = (TYPE)acc;                                             \
                    }                                                                  \
                }                                                                      \
            }                                                                          \
    } while (0)

#define ADD_PLAIN(a, b) ((a) + (b))
#define ADD_WRAP(a, b) ((uint64_t)(a) + (uint64_t)(b))

static lo_status cumsum_run(lo_kernel_ctx *ctx) {
    const cumsum_params *p = ctx->params;
    LO_TRY(need_in(ctx, 0, "x"));
    LO_TRY(need_in(ctx, 1, "axis"));
    const lo_tensor *x = ctx->in[0];
    int64_t axis_v = 0; /* LO_TRY returns when it is not set; GCC cannot tell */
    LO_TRY(read_scalar_i64(ctx, ctx->in[1], "axis", &axis_v));
    int axis;
    LO_CHECK(ctx, x->rank > 0 && lo_norm_axis(axis_v, x->rank, &axis),
             "axis %lld is out of range for rank %d", (long long)axis_v, x->rank);
    if (!has_out(ctx, 0)) return LO_OK;
    LO_TRY(lo_output(ctx, 0, x->dtype, x->rank, x->dims));
    lo_tensor *out = ctx->out[0];
    int64_t n = x->dims[axis], outer = lo_numel_dims(axis, x->dims);
    int64_t inner = lo_numel_dims(x->rank - axis - 1, x->dims + axis + 1);
    switch (x->dtype) {
    case LO_FLOAT: CUMSUM_LOOP(float, float, ADD_PLAIN); break;
    case LO_DOUBLE: CUMSUM_LOOP(double, double, ADD_PLAIN); break;
    case LO_INT32: CUMSUM_LOOP(int32_t, uint64_t, ADD_WRAP); break;
    case LO_INT64: CUMSUM_LOOP(int64_t, uint64_t, ADD_WRAP); break;
    case LO_UINT32: CUMSUM_LOOP(uint32_t, uint64_t, ADD_WRAP); break;
    case LO_UINT64: CUMSUM_LOOP(uint64_t, uint64_t, ADD_WRAP); break;
    case LO_INT8: CUMSUM_LOOP(int8_t, uint64_t, ADD_WRAP); break;
    case LO_UINT8: CUMSUM_LOOP(uint8_t, uint64_t, ADD_WRAP); break;
    case LO_INT16: CUMSUM_LOOP(int16_t, uint64_t, ADD_WRAP); break;
    case LO_UINT16: CUMSUM_LOOP(uint16_t, uint64_t, ADD_WRAP); break;
    case LO_FLOAT16: case LO_BFLOAT16:
        /* accumulate in the type itself, rounding after every step as a
         * float16 add does */
        for (int64_t b = 0; b < outer; b++)
            for (int64_t i = 0; i < inner; i++) {
                float acc = 0;
                for (int64_t s = 0; s < n; s++) {
                    int64_t j = p->reverse ? n - 1 - s : s;
                    int64_t at = (b * n + j) * inner + i;
                    float next = acc + (float)lo_get_f64(x, at);
                    next = x->dtype == LO_FLOAT16 ? lo_half_to_float(lo_float_to_half(next))
                                                  : lo_bfloat16_to_float(lo_float_to_bfloat16(next));
                    lo_set_f64(out, at, p->exclusive ? acc : next);
                    acc = next;
                }
            }
        break;
    default:
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "type %s", lo_dtype_name(x->dtype));
    }
    return LO_OK;
}

/* ---- CumProd -------------------------------------------------------------- */

static lo_status cumprod_run(lo_kernel_ctx *ctx) {
    LO_CHECK(ctx, tensor_in(ctx, 0), "x is required");
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

const lo_op_def lo_ops_cumulative[] = {
    {"", "CumSum", 11, LO_OPSET_MAX, cumsum_prepare, cumsum_run, NULL, 0},
    {"", "CumProd", 26, LO_OPSET_MAX, NULL, cumprod_run, NULL, 0},
    {0},
};
