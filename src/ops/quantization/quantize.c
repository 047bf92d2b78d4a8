/* Linear quantization: QuantizeLinear, DequantizeLinear (per-tensor,
 * per-axis, and blocked from opset 21) and DynamicQuantizeLinear.
 *
 * Integer targets are computed here. Conversions to and from the small
 * float formats (float8, float4) are Cast's: the kernels run the registered
 * CastLike kernel on a float32 intermediate, so the rounding and saturation
 * tables live in one place. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../ops.h"

typedef struct q_params {
    int64_t axis;
    int64_t block_size;
    int64_t output_dtype; /* 0: not given */
    int64_t precision;    /* 0: not given */
    bool saturate;
} q_params;

static lo_status q_prepare(const lo_node *node, void **params, lo_error *err) {
    q_params *p = lo_calloc(1, sizeof *p, err);
    if (!p) return LO_ERR_NOMEM;
    *params = p;
    p->axis = lo_attr_int(node, "axis", 1);
    p->block_size = lo_attr_int(node, "block_size", 0);
    p->output_dtype = lo_attr_int(node, "output_dtype", 0);
    p->precision = lo_attr_int(node, "precision", 0);
    p->saturate = lo_attr_int(node, "saturate", 1) != 0;
    if (p->block_size < 0)
        return lo_fail(err, LO_ERR_MODEL, "node '%s' (%s): block_size %lld", node->name, node->op_type,
                       (long long)p->block_size);
    return LO_OK;
}

static bool small_float(lo_dtype t) {
    return t == LO_FLOAT8E4M3FN || t == LO_FLOAT8E4M3FNUZ || t == LO_FLOAT8E5M2 || t == LO_FLOAT8E5M2FNUZ ||
           t == LO_FLOAT4E2M1;
}

static bool int_target(lo_dtype t) {
    return t == LO_INT8 || t == LO_UINT8 || t == LO_INT16 || t == LO_UINT16 || t == LO_INT4 || t == LO_UINT4 ||
           t == LO_INT2 || t == LO_UINT2 || t == LO_INT32;
}

/* float8e8m0 scales (opset 25, microscaling) are powers of two that
 * lo_get_f64 reads exactly; the arithmetic then runs in float32. */
static bool scale_type_ok(lo_dtype t) { return lo_dtype_is_float(t) || t == LO_FLOAT8E8M0; }

static void int_range(lo_dtype t, double *lo, double *hi) {
    switch (t) {
    case LO_INT8: *lo = -128, *hi = 127; break;
    case LO_UINT8: *lo = 0, *hi = 255; break;
    case LO_INT16: *lo = -32768, *hi = 32767; break;
    case LO_UINT16: *lo = 0, *hi = 65535; break;
    case LO_INT4: *lo = -8, *hi = 7; break;
    case LO_UINT4: *lo = 0, *hi = 15; break;
    case LO_INT2: *lo = -2, *hi = 1; break;
    case LO_UINT2: *lo = 0, *hi = 3; break;
    default: *lo = -2147483648.0, *hi = 2147483647.0; break;
    }
}

/* Runs the registered CastLike kernel: src converted to type `to` in dst
 * (a tensor without data, given its buffer by lo_output). The node's own
 * attributes go along, so its `saturate` applies. */
static lo_status cast_to(lo_kernel_ctx *ctx, const lo_tensor *src, lo_dtype to, lo_tensor *dst) {
    static char castlike[] = "CastLike";
    const lo_op_def *def = lo_op_lookup("", castlike, 21);
    if (!def) return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "no CastLike kernel for %s", lo_dtype_name(to));
    lo_node n = *ctx->node;
    n.op_type = castlike;
    n.opset = 21;
    void *params = NULL;
    if (def->prepare) LO_TRY(def->prepare(&n, &params, ctx->err));
    uint64_t scratch = 0;
    lo_tensor like;
    memset(&like, 0, sizeof like);
    like.dtype = to;
    like.data = &scratch;
    like.nbytes = lo_dtype_size(to);
    const lo_tensor *ins[2] = {src, &like};
    lo_tensor *outs[1] = {dst};
    lo_kernel_ctx c = *ctx;
    c.node = &n;
    c.params = params;
    c.in = ins;
    c.n_in = 2;
    c.out = outs;
    c.n_out = 1;
    lo_status st = def->run(&c);
    if (params) (def->free_params ? def->free_params : free)(params);
    return st;
}

/* Maps an element of x to its scale / zero-point element. */
typedef struct q_layout {
    int64_t outer, d, inner; /* x as [outer, d, inner] around the axis */
    int64_t s;               /* scale's length along the axis */
    int64_t block;           /* elements of x per scale along the axis */
    bool per_tensor, per_axis;
} q_layout;

static inline int64_t q_index(const q_layout *L, int64_t i) {
    if (L->per_tensor) return 0;
    int64_t in = i % L->inner, a = (i / L->inner) % L->d, o = i / (L->inner * L->d);
    if (L->per_axis) return a;
    return (o * L->s + a / L->block) * L->inner + in;
}

static lo_status q_layout_init(lo_kernel_ctx *ctx, const q_params *p, const lo_tensor *x, const lo_tensor *scale,
                               const lo_tensor *zp, q_layout *L) {
    memset(L, 0, sizeof *L);
    /* a one-element zero point beside a scalar scale is common in exported
     * models; otherwise the two must have the same shape */
    if (zp && !(lo_numel(zp) == 1 && lo_numel(scale) == 1)) {
        LO_CHECK(ctx, zp->rank == scale->rank && !memcmp(zp->dims, scale->dims, (size_t)zp->rank * sizeof(int64_t)),
                 "zero point and scale have different shapes");
    }
    if (lo_numel(scale) == 1 && (scale->rank == 0 || p->block_size == 0)) {
        L->per_tensor = true;
        return LO_OK;
    }
    LO_CHECK(ctx, ctx->node->opset >= 13, "a non-scalar scale needs opset 13");
    int axis;
    LO_CHECK(ctx, lo_norm_axis(p->axis, x->rank, &axis), "axis %lld out of range for rank %d", (long long)p->axis,
             x->rank);
    L->outer = 1, L->inner = 1, L->d = x->dims[axis];
    for (int k = 0; k < axis; k++) L->outer *= x->dims[k];
    for (int k = axis + 1; k < x->rank; k++) L->inner *= x->dims[k];
    if (p->block_size == 0) {
        LO_CHECK(ctx, scale->rank == 1 && scale->dims[0] == L->d,
                 "per-axis scale must have shape [%lld]", (long long)L->d);
        /* per-axis: the scale is indexed by the axis coordinate only */
        L->s = L->d;
        L->block = 1;
        L->per_axis = true;
        return LO_OK;
    }
    LO_CHECK(ctx, scale->rank == x->rank, "blocked scale must have the rank of the input");
    for (int k = 0; k < x->rank; k++)
        if (k != axis)
            LO_CHECK(ctx, scale->dims[k] == x->dims[k], "blocked scale dim %d is %lld, input has %lld", k,
                     (long long)scale->dims[k], (long long)x->dims[k]);
    L->s = scale->dims[axis];
    L->block = p->block_size;
    LO_CHECK(ctx, (L->d + L->block - 1) / L->block == L->s, "block_size %lld does not fit axis length %lld and %lld scales",
             (long long)L->block, (long long)L->d, (long long)L->s);
    return LO_OK;
}

/* The division runs in the precision of the scale's type (or of the
 * `precision` attribute): 16-bit float scales round the quotient. */
static lo_status quantize_run(lo_kernel_ctx *ctx) {
    const q_params *p = ctx->params;
    const lo_tensor *x = ctx->in[0], *scale = ctx->n_in > 1 ? ctx->in[1] : NULL;
    const lo_tensor *zp = ctx->n_in > 2 ? ctx->in[2] : NULL;
    LO_CHECK(ctx, x && scale, "x and y_scale are required");
    LO_CHECK(ctx, lo_dtype_is_float(x->dtype) || x->dtype == LO_INT32, "x has type %s", lo_dtype_name(x->dtype));
    LO_CHECK(ctx, scale_type_ok(scale->dtype), "y_scale has type %s", lo_dtype_name(scale->dtype));
    lo_dtype to = zp ? zp->dtype : p->output_dtype ? (lo_dtype)p->output_dtype : LO_UINT8;
    LO_CHECK(ctx, !zp || !p->output_dtype || p->output_dtype == zp->dtype,
             "output_dtype %lld differs from the zero point's type %s", (long long)p->output_dtype,
             lo_dtype_name(zp->dtype));
    if (!int_target(to) && !small_float(to))
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "quantizing to %s is not supported", lo_dtype_name(to));
    q_layout L;
    LO_TRY(q_layout_init(ctx, p, x, scale, zp, &L));
    int64_t n = lo_numel(x);
    lo_dtype prec = p->precision ? (lo_dtype)p->precision : scale->dtype;
    if (int_target(to)) {
        LO_TRY(lo_output(ctx, 0, to, x->rank, x->dims));
        if (ctx->n_out < 1 || !ctx->out[0]) return LO_OK;
        lo_tensor *y = ctx->out[0];
        double lo, hi;
        int_range(to, &lo, &hi);
#pragma omp parallel for if (n > 65536)
        for (int64_t i = 0; i < n; i++) {
            int64_t k = q_index(&L, i);
            double q;
            if (prec == LO_DOUBLE) q = lo_get_f64(x, i) / lo_get_f64(scale, k);
            else {
                float qf = (float)lo_get_f64(x, i) / (float)lo_get_f64(scale, k);
                if (prec == LO_FLOAT16) qf = lo_half_to_float(lo_float_to_half(qf));
                else if (prec == LO_BFLOAT16) qf = lo_bfloat16_to_float(lo_float_to_bfloat16(qf));
                q = qf;
            }
            double v = nearbyint(q) + (zp ? (double)lo_get_i64(zp, k) : 0.0);
            if (v != v) v = 0;
            lo_set_i64(y, i, (int64_t)fmin(fmax(v, lo), hi));
        }
        return LO_OK;
    }
    /* small float: x / scale (+ zero point) in float32, then Cast's rounding */
    lo_tensor tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.dtype = LO_FLOAT;
    tmp.rank = x->rank;
    memcpy(tmp.dims, x->dims, sizeof x->dims);
    tmp.nbytes = (size_t)n * sizeof(float);
    float *t = malloc(tmp.nbytes ? tmp.nbytes : 4);
    if (!t) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
    tmp.data = t;
    lo_status st = LO_OK;
    lo_tensor zpf;
    memset(&zpf, 0, sizeof zpf);
    if (zp) st = cast_to(ctx, zp, LO_FLOAT, &zpf);
    if (st == LO_OK) {
        for (int64_t i = 0; i < n; i++) {
            int64_t k = q_index(&L, i);
            t[i] = (float)lo_get_f64(x, i) / (float)lo_get_f64(scale, k) + (zp ? ((float *)zpf.data)[k] : 0.0f);
        }
        if (ctx->n_out > 0 && ctx->out[0]) st = cast_to(ctx, &tmp, to, ctx->out[0]);
    }
    lo_tensor_free_data(&zpf);
    free(t);
    return st;
}

static lo_status dequantize_run(lo_kernel_ctx *ctx) {
    const q_params *p = ctx->params;
    const lo_tensor *x = ctx->in[0], *scale = ctx->n_in > 1 ? ctx->in[1] : NULL;
    const lo_tensor *zp = ctx->n_in > 2 ? ctx->in[2] : NULL;
    LO_CHECK(ctx, x && scale, "x and x_scale are required");
    LO_CHECK(ctx, int_target(x->dtype) || small_float(x->dtype), "x has type %s", lo_dtype_name(x->dtype));
    LO_CHECK(ctx, scale_type_ok(scale->dtype), "x_scale has type %s", lo_dtype_name(scale->dtype));
    LO_CHECK(ctx, !zp || zp->dtype == x->dtype, "zero point type %s differs from x's %s", lo_dtype_name(zp->dtype),
             lo_dtype_name(x->dtype));
    lo_dtype out = p->output_dtype ? (lo_dtype)p->output_dtype : scale->dtype;
    LO_CHECK(ctx, lo_dtype_is_float(out), "output type %s is not a float type%s", lo_dtype_name(out),
             p->output_dtype ? "" : " (a float8e8m0 scale needs output_dtype)");
    q_layout L;
    LO_TRY(q_layout_init(ctx, p, x, scale, zp, &L));
    int64_t n = lo_numel(x);
    lo_tensor xf, zpf;
    memset(&xf, 0, sizeof xf);
    memset(&zpf, 0, sizeof zpf);
    lo_status st = LO_OK;
    bool sf = small_float(x->dtype);
    if (sf) {
        st = cast_to(ctx, x, LO_FLOAT, &xf);
        if (st == LO_OK && zp) st = cast_to(ctx, zp, LO_FLOAT, &zpf);
    }
    if (st == LO_OK) st = lo_output(ctx, 0, out, x->rank, x->dims);
    if (st == LO_OK && ctx->n_out > 0 && ctx->out[0]) {
        lo_tensor *y = ctx->out[0];
        const lo_tensor *xs = sf ? &xf : x, *zs = sf ? (zp ? &zpf : NULL) : zp;
#pragma omp parallel for if (n > 65536)
        for (int64_t i = 0; i < n; i++) {
            int64_t k = q_index(&L, i);
            double v;
            if (sf) {
                float d = ((const float *)xs->data)[i] - (zs ? ((const float *)zs->data)[k] : 0.0f);
                v = (float)(d * (float)lo_get_f64(scale, k));
            } else {
                int64_t d = lo_get_i64(xs, i) - (zs ? lo_get_i64(zs, k) : 0);
                v = (float)((float)d * (float)lo_get_f64(scale, k));
            }
            lo_set_f64(y, i, v);
        }
    }
    lo_tensor_free_data(&xf);
    lo_tensor_free_data(&zpf);
    return st;
}

/* y_scale = (max(0, max x) - min(0, min x)) / 255, y_zero_point =
 * round(-min / scale) clipped to uint8, y = round(x / scale) + zero point
 * clipped; float32 arithmetic throughout, as the spec's formula. */
static lo_status dynamic_quantize_run(lo_kernel_ctx *ctx) {
    const lo_tensor *x = ctx->in[0];
    LO_CHECK(ctx, x && x->dtype == LO_FLOAT, "x must be a float tensor");
    int64_t n = lo_numel(x);
    const float *xd = x->data;
    float mn = 0, mx = 0;
    for (int64_t i = 0; i < n; i++) {
        if (xd[i] < mn) mn = xd[i];
        if (xd[i] > mx) mx = xd[i];
    }
    float scale = (mx - mn) / 255.0f;
    float zpf = scale != 0 ? nearbyintf(0.0f - mn / scale) : 0.0f;
    uint8_t zp = (uint8_t)fminf(fmaxf(zpf, 0.0f), 255.0f);
    LO_TRY(lo_output(ctx, 0, LO_UINT8, x->rank, x->dims));
    LO_TRY(lo_output(ctx, 1, LO_FLOAT, 0, NULL));
    LO_TRY(lo_output(ctx, 2, LO_UINT8, 0, NULL));
    if (ctx->n_out > 0 && ctx->out[0]) {
        uint8_t *y = ctx->out[0]->data;
        for (int64_t i = 0; i < n; i++) {
            float v = scale != 0 ? nearbyintf(xd[i] / scale) + zp : (float)zp;
            y[i] = (uint8_t)fminf(fmaxf(v, 0.0f), 255.0f);
        }
    }
    if (ctx->n_out > 1 && ctx->out[1]) *(float *)ctx->out[1]->data = scale;
    if (ctx->n_out > 2 && ctx->out[2]) *(uint8_t *)ctx->out[2]->data = zp;
    return LO_OK;
}

const lo_op_def lo_ops_quantize[] = {
    {"", "QuantizeLinear", 10, LO_OPSET_MAX, q_prepare, quantize_run, NULL, 0},
    {"", "DequantizeLinear", 10, LO_OPSET_MAX, q_prepare, dequantize_run, NULL, 0},
    {"", "DynamicQuantizeLinear", 11, LO_OPSET_MAX, NULL, dynamic_quantize_run, NULL, 0},
    {0},
};
