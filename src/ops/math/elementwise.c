/* Elementwise kernels: unary math and activations (Swish and SwiGLU too),
 * binary and variadic ops with broadcasting, and Clip. Cast and CastLike
 * (tensor/cast.c) and Where (tensor/where.c) share the machinery in
 * elementwise.h.
 *
 * Every op has one generic element function that works in double (float
 * types), int64 (signed) or uint64 (unsigned and bool) and stores back with
 * the output's own rounding or wrap-around. That function, applied to each
 * output index in order with the uncollapsed broadcast strides, is the
 * reference. The production path collapses the broadcast iteration into
 * rows with a contiguous output, splits it across OpenMP threads and, for
 * float32, runs typed row loops (same-shape, scalar and per-channel operands
 * all become contiguous or stride-0 rows). The context's kernel choice
 * (lo_use_ref) forces the reference; tests/unit/test_ops.c compares both. */
/* The fast rows select with comparisons (NaN, range limits); under GCC's
 * default -ftrapping-math it will not if-convert them, and the loops stay
 * scalar. Nothing here reads the floating-point exception flags, so the
 * results are the same either way. */
/* GCC only: clang does not trap by default and rejects the pragma (-Werror). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#include <float.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <tgmath.h>

#include "elementwise.h"
#include "fusion.h"
#include "../helpers.h"

/* ---- binary element functions --------------------------------------------- */

static bool op_is_compare(ew_op op) {
    return op == OP_EQ || op == OP_LT || op == OP_GT || op == OP_LE || op == OP_GE;
}

static inline double binary_f64(ew_op op, double a, double b, const ew_params *p) {
    switch (op) {
    case OP_ADD: case OP_SUM: case OP_MEAN: return a + b;
    case OP_SUB: return a - b;
    case OP_MUL: return a * b;
    case OP_DIV: return a / b;
    case OP_POW: return pow(a, b);
    case OP_MOD: {
        double r = fmod(a, b);
        /* Python's %: the result takes the divisor's sign. */
        if (!p->fmod && r != 0 && ((r < 0) != (b < 0))) r += b;
        return r;
    }
    case OP_MAX: return (a != a || a > b) ? a : b;
    case OP_MIN: return (a != a || a < b) ? a : b;
    case OP_PRELU: return a < 0 ? a * b : a;
    case OP_EQ: return a == b;
    case OP_LT: return a < b;
    case OP_GT: return a > b;
    case OP_LE: return a <= b;
    case OP_GE: return a >= b;
    default: return 0;
    }
}

static inline int64_t ipow_signed(int64_t base, int64_t e) {
    if (e < 0) return base == 1 ? 1 : base == -1 ? ((e & 1) ? -1 : 1) : 0;
    uint64_t r = 1, b = (uint64_t)base;
    while (e) {
        if (e & 1) r *= b;
        b *= b;
        e >>= 1;
    }
    return (int64_t)r;
}

/* Signed integers; wrap-around is done in uint64 so it is defined. Division
 * and modulo by zero give 0 (numpy's answer) instead of trapping. */
static inline int64_t binary_i64(ew_op op, int64_t a, int64_t b, const ew_params *p) {
    switch (op) {
    case OP_ADD: case OP_SUM: return (int64_t)((uint64_t)a + (uint64_t)b);
    case OP_SUB: return (int64_t)((uint64_t)a - (uint64_t)b);
    case OP_MUL: return (int64_t)((uint64_t)a * (uint64_t)b);
    case OP_DIV:
        if (b == 0) return 0;
        if (b == -1) return (int64_t)(0 - (uint64_t)a);
        return a / b;
    case OP_MOD: {
        if (b == 0 || b == -1) return 0;
        int64_t r = a % b;
        if (!p->fmod && r != 0 && ((r < 0) != (b < 0))) r += b;
        return r;
    }
    case OP_POW: return ipow_signed(a, b);
    case OP_MAX: return a > b ? a : b;
    case OP_MIN: return a < b ? a : b;
    case OP_PRELU: return a < 0 ? (int64_t)((uint64_t)a * (uint64_t)b) : a;
    case OP_BITAND: return a & b;
    case OP_BITOR: return a | b;
    case OP_BITXOR: return a ^ b;
    case OP_EQ: return a == b;
    case OP_LT: return a < b;
    case OP_GT: return a > b;
    case OP_LE: return a <= b;
    case OP_GE: return a >= b;
    default: return 0;
    }
}

static inline uint64_t binary_u64(ew_op op, uint64_t a, uint64_t b, const ew_params *p, int bits) {
    switch (op) {
    case OP_ADD: case OP_SUM: return a + b;
    case OP_SUB: return a - b;
    case OP_MUL: return a * b;
    case OP_DIV: return b ? a / b : 0;
    case OP_MOD: return b ? a % b : 0;
    case OP_POW: return (uint64_t)ipow_signed((int64_t)a, (int64_t)b);
    case OP_MAX: return a > b ? a : b;
    case OP_MIN: return a < b ? a : b;
    case OP_PRELU: return a;
    case OP_BITSHIFT:
        if (b >= (uint64_t)bits) return 0;
        return p->shift_left ? a << b : a >> b;
    case OP_BITAND: case OP_AND: return a & b;
    case OP_BITOR: case OP_OR: return a | b;
    case OP_BITXOR: case OP_XOR: return a ^ b;
    case OP_EQ: return a == b;
    case OP_LT: return a < b;
    case OP_GT: return a > b;
    case OP_LE: return a <= b;
    case OP_GE: return a >= b;
    default: return 0;
    }
}

static void elem_binary(ew_loop *L, int64_t o, int64_t ia, int64_t ib, int64_t ic) {
    lo_dtype ta = L->in_dtype[0], tb = L->in_dtype[1];
    const ew_params *p = L->p;
    ew_op op = L->op;
    switch (class_of(ta)) {
    case CLASS_FLOAT: {
        double r = binary_f64(op, load_f(L->in[0], ta, ia), load_f(L->in[1], tb, ib), p);
        if (op_is_compare(op)) ((uint8_t *)L->out)[o] = r != 0;
        else store_f(L->out, L->out_dtype, o, r);
        return;
    }
    case CLASS_SIGNED: {
        int64_t a = load_i(L->in[0], ta, ia), r;
        if (op == OP_POW && class_of(tb) == CLASS_FLOAT)
            r = f64_to_i64(pow((double)a, load_f(L->in[1], tb, ib)));
        else if (op == OP_BITSHIFT) {
            /* opset 28 semantics: arithmetic right shift; a shift that is
             * negative or not below the width leaves only the sign fill */
            int64_t b = load_i(L->in[1], tb, ib), bits = (int64_t)lo_dtype_size(ta) * 8;
            if (b < 0 || b >= bits) r = p->shift_left ? 0 : (a < 0 ? -1 : 0);
            else r = p->shift_left ? (int64_t)((uint64_t)a << b) : a >> b;
        } else
            r = binary_i64(op, a, load_i(L->in[1], tb, ib), p);
        if (op_is_compare(op)) ((uint8_t *)L->out)[o] = r != 0;
        else store_i(L->out, L->out_dtype, o, r);
        return;
    }
    case CLASS_UNSIGNED: case CLASS_BOOL: {
        uint64_t a = (uint64_t)load_i(L->in[0], ta, ia), r;
        if (op == OP_POW && class_of(tb) == CLASS_FLOAT) {
            double v = pow((double)a, load_f(L->in[1], tb, ib));
            r = v >= 9.2233720368547758e18 && v < 1.8446744073709552e19 ? (uint64_t)v
                                                                        : (uint64_t)f64_to_i64(v);
        } else {
            r = binary_u64(op, a, (uint64_t)load_i(L->in[1], tb, ib), p, (int)lo_dtype_size(ta) * 8);
        }
        if (op_is_compare(op)) ((uint8_t *)L->out)[o] = r != 0;
        else store_i(L->out, L->out_dtype, o, (int64_t)r);
        return;
    }
    case CLASS_STRING: {
        const char *a = ((char *const *)L->in[0])[ia], *b = ((char *const *)L->in[1])[ib];
        ((uint8_t *)L->out)[o] = strcmp(a ? a : "", b ? b : "") == 0;
        return;
    }
    default: return;
    }
}
GENERIC_ROW(row_binary_generic, elem_binary)

/* ---- float32 binary rows ---------------------------------------------------- */

/* One loop per operand layout: both contiguous, one of them a row-constant
 * (scalar or per-channel after collapsing), or anything else strided;
 * compiled for each vector width (elementwise: the same bits in each). */
#define F32_BINARY_ROW(name, OUT_T, EXPR)                                                        \
    LO_VECTOR_CLONES static void name(ew_loop *L, int64_t o, const int64_t *off, int64_t n) {    \
        OUT_T *y = (OUT_T *)L->out + o;                                                          \
        const float *pa = (const float *)L->in[0] + off[0];                                      \
        const float *pb = (const float *)L->in[1] + off[1];                                      \
        int64_t sa = L->stride[0][L->rank - 1], sb = L->stride[1][L->rank - 1];                  \
        if (sa == 1 && sb == 1) {                                                                \
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {                                \
                float a = pa[i], b = pb[i];                                                      \
                y[i] = (EXPR);                                                                   \
            }                                                                                    \
        } else if (sa == 1 && sb == 0) {                                                         \
            const float b = pb[0];                                                               \
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {                                \
                float a = pa[i];                                                                 \
                y[i] = (EXPR);                                                                   \
            }                                                                                    \
        } else if (sa == 0 && sb == 1) {                                                         \
            const float a = pa[0];                                                               \
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {                                \
                float b = pb[i];                                                                 \
                y[i] = (EXPR);                                                                   \
            }                                                                                    \
        } else {                                                                                 \
            for (int64_t i = 0; i < n; i++) {                                                    \
                float a = pa[i * sa], b = pb[i * sb];                                            \
                y[i] = (EXPR);                                                                   \
            }                                                                                    \
        }                                                                                        \
    }

F32_BINARY_ROW(row_f32_add, float, a + b)
F32_BINARY_ROW(row_f32_sub, float, a - b)
F32_BINARY_ROW(row_f32_mul, float, a * b)
F32_BINARY_ROW(row_f32_div, float, a / b)
F32_BINARY_ROW(row_f32_max, float, (a != a || a > b) ? a : b)
F32_BINARY_ROW(row_f32_min, float, (a != a || a < b) ? a : b)
F32_BINARY_ROW(row_f32_prelu, float, a < 0 ? a * b : a)
F32_BINARY_ROW(row_f32_pow, float, pow(a, b))
F32_BINARY_ROW(row_f32_eq, uint8_t, a == b)
F32_BINARY_ROW(row_f32_lt, uint8_t, a < b)
F32_BINARY_ROW(row_f32_gt, uint8_t, a > b)
F32_BINARY_ROW(row_f32_le, uint8_t, a <= b)
F32_BINARY_ROW(row_f32_ge, uint8_t, a >= b)

/* Squares and square roots dominate Pow in real models (LayerNorm, GELU
 * decompositions); they are exact without powf. */
static void row_f32_pow_dispatch(ew_loop *L, int64_t o, const int64_t *off, int64_t n) {
    int64_t sa = L->stride[0][L->rank - 1], sb = L->stride[1][L->rank - 1];
    const float *pa = (const float *)L->in[0] + off[0];
    float *y = (float *)L->out + o;
    if (sa == 1 && sb == 0) {
        float e = ((const float *)L->in[1])[off[1]];
        if (e == 2.0f) {
#pragma omp simd
            for (int64_t i = 0; i < n; i++) y[i] = pa[i] * pa[i];
            return;
        }
        if (e == 1.0f) {
            memmove(y, pa, (size_t)n * sizeof *y);
            return;
        }
    }
    row_f32_pow(L, o, off, n);
}

static row_fn f32_binary_row(ew_op op) {
    switch (op) {
    case OP_ADD: case OP_SUM: case OP_MEAN: return row_f32_add;
    case OP_SUB: return row_f32_sub;
    case OP_MUL: return row_f32_mul;
    case OP_DIV: return row_f32_div;
    case OP_MAX: return row_f32_max;
    case OP_MIN: return row_f32_min;
    case OP_PRELU: return row_f32_prelu;
    case OP_POW: return row_f32_pow_dispatch;
    case OP_EQ: return row_f32_eq;
    case OP_LT: return row_f32_lt;
    case OP_GT: return row_f32_gt;
    case OP_LE: return row_f32_le;
    case OP_GE: return row_f32_ge;
    default: return NULL;
    }
}

/* Runs out = op(a, b) over out's shape (already allocated). */
static void binary_compute(lo_kernel_ctx *ctx, const ew_params *p, ew_op op, const lo_tensor *a,
                           const lo_tensor *b, lo_tensor *out) {
    const lo_tensor *ins[2] = {a, b};
    ew_loop L;
    loop_init(&L, 2, ins, out->rank, out->dims, out, p, op);
    if (lo_use_ref(ctx)) {
        loop_reference(&L, elem_binary);
        return;
    }
    loop_collapse(&L);
    row_fn fn = NULL;
    if (a->dtype == LO_FLOAT && b->dtype == LO_FLOAT) fn = f32_binary_row(op);
    bool costly = op == OP_POW || op == OP_MOD || fn == NULL;
    loop_run(&L, fn ? fn : row_binary_generic, thread_count(ctx),
             costly ? PARALLEL_MIN_COSTLY : PARALLEL_MIN_CHEAP);
}

/* ---- binary ops ------------------------------------------------------------ */

/* What each binary op accepts and yields. */
static lo_status binary_check_types(lo_kernel_ctx *ctx, ew_op op, lo_dtype ta, lo_dtype tb,
                                    lo_dtype *out) {
    dclass ca = class_of(ta);
    if (op == OP_POW) {
        if (!(ca == CLASS_FLOAT || ca == CLASS_SIGNED || ca == CLASS_UNSIGNED) || !is_numeric(tb))
            return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "Pow of %s by %s is not supported",
                                  lo_dtype_name(ta), lo_dtype_name(tb));
        *out = ta;
        return LO_OK;
    }
    if (ta != tb)
        return lo_kernel_fail(ctx, LO_ERR_INPUT, "inputs have different types %s and %s",
                              lo_dtype_name(ta), lo_dtype_name(tb));
    bool ok;
    switch (op) {
    case OP_AND: case OP_OR: case OP_XOR: ok = ca == CLASS_BOOL; break;
    case OP_BITSHIFT: ok = ca == CLASS_UNSIGNED || ca == CLASS_SIGNED; break;
    case OP_BITAND: case OP_BITOR: case OP_BITXOR: ok = ca == CLASS_SIGNED || ca == CLASS_UNSIGNED; break;
    case OP_EQ: ok = ca != CLASS_OTHER; break;
    case OP_LT: case OP_GT: case OP_LE: case OP_GE: ok = is_numeric(ta) || ca == CLASS_BOOL; break;
    default: ok = is_numeric(ta); break;
    }
    if (!ok || ta == LO_INT4 || ta == LO_UINT4)
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "%s inputs are not supported",
                              lo_dtype_name(ta));
    *out = op_is_compare(op) ? LO_BOOL : ta;
    return LO_OK;
}

/* The opset 1..6 form: with broadcast=1, B lines up with A starting at
 * `axis` (or at the end), which is not numpy's rule when axis is given. */
static lo_status legacy_view(lo_kernel_ctx *ctx, const ew_params *p, const lo_tensor *a,
                             const lo_tensor *b, lo_tensor *view) {
    *view = *b;
    if (!p->legacy_bcast) {
        LO_CHECK(ctx, a->rank == b->rank && memcmp(a->dims, b->dims, (size_t)a->rank * sizeof a->dims[0]) == 0,
                 "shapes differ but broadcast=0");
        return LO_OK;
    }
    if (!p->has_axis || lo_numel(b) == 1) return LO_OK;
    int64_t axis = p->axis < 0 ? p->axis + a->rank : p->axis;
    LO_CHECK(ctx, axis >= 0 && axis + b->rank <= a->rank, "axis %lld does not fit B of rank %d in A of rank %d",
             (long long)p->axis, b->rank, a->rank);
    view->rank = a->rank;
    for (int d = 0; d < a->rank; d++)
        view->dims[d] = d >= axis && d < axis + b->rank ? b->dims[d - axis] : 1;
    return LO_OK;
}

/* For a channel Mul whose X arrives in oneDNN's nCx16c (lo_plan: a
 * squeeze-excitation between a depthwise Conv and the projecting one): the
 * gate's offset for each batch (0 when it has no batch dimension), or false
 * when `gate` is not [N or 1, C, 1, ...] against the output's dims. */
static bool channel_gate(const lo_tensor *gate, int rank, const int64_t *dims, bool *per_batch) {
    if (gate->dtype != LO_FLOAT || rank < 3 || gate->rank < rank - 1 || gate->rank > rank) return false;
    int lead = rank - gate->rank; /* gate dims are right-aligned */
    for (int d = 2; d < rank; d++)
        if (gate->dims[d - lead] != 1) return false;
    if (gate->dims[1 - lead] != dims[1]) return false;
    *per_batch = lead == 0 && gate->dims[0] == dims[0] && dims[0] != 1;
    return lead == 1 || gate->dims[0] == 1 || gate->dims[0] == dims[0];
}

/* y = x * gate per channel, x and y in nCx16c: C / 16 groups of 16
 * channels, `plane` positions each, one product per element (the bits of
 * the NCHW Mul). */
LO_VECTOR_CLONES static void channel_mul16(const float *x, const float *gate, float *y, int64_t batch, int64_t ch,
                                           int64_t plane, bool per_batch, int threads) {
    int64_t groups = batch * (ch / 16);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && groups * plane * 16 > PARALLEL_MIN_CHEAP)
    for (int64_t gi = 0; gi < groups; gi++) {
        int64_t n = gi / (ch / 16), cb = gi % (ch / 16);
        const float *gv = gate + (per_batch ? n * ch : 0) + cb * 16;
        const float *xs = x + gi * plane * 16;
        float *ys = y + gi * plane * 16;
        for (int64_t k = 0; k < plane; k++)
#pragma omp simd
            for (int l = 0; l < 16; l++) ys[k * 16 + l] = xs[k * 16 + l] * gv[l];
    }
}

static lo_status run_binary(lo_kernel_ctx *ctx) {
    const ew_params *p = ctx->params;
    LO_CHECK(ctx, input_ok(ctx, 0) && input_ok(ctx, 1), "needs two tensor inputs");
    const lo_tensor *a = ctx->in[0], *b = ctx->in[1];
    lo_dtype out_type = LO_UNDEFINED;
    LO_TRY(binary_check_types(ctx, p->op, a->dtype, b->dtype, &out_type));
    lo_tensor bview;
    if (p->legacy) {
        LO_TRY(legacy_view(ctx, p, a, b, &bview));
        b = &bview;
    }
    const lo_tensor *pair[2] = {a, b};
    int rank;
    int64_t dims[LO_MAX_RANK];
    lo_error berr;
    if (lo_broadcast_shape(2, pair, &rank, dims, &berr) != LO_OK)
        return lo_kernel_fail(ctx, LO_ERR_INPUT, "%s", berr.message);
    if (p->op == OP_PRELU) {
        bool same = rank == a->rank && memcmp(dims, a->dims, (size_t)rank * sizeof dims[0]) == 0;
        LO_CHECK(ctx, same, "slope does not broadcast to the shape of X");
    }
    if (!output_wanted(ctx)) return LO_OK;
    if (ctx->in_blocked) {
        /* input blocked_arg arrives in nCx16c; the other is the gate */
        const lo_tensor *x = ctx->blocked_arg == 0 ? a : b, *gate = x == a ? b : a;
        bool per_batch = false;
        int64_t plane = rank >= 2 ? lo_numel_dims(rank - 2, dims + 2) : 0;
        bool x_full = x->rank == rank && !memcmp(x->dims, dims, (size_t)rank * sizeof dims[0]);
        if (ctx->out_may_block && p->op == OP_MUL && out_type == LO_FLOAT && x_full && rank >= 3 &&
            dims[1] % 16 == 0 && channel_gate(gate, rank, dims, &per_batch)) {
            LO_TRY(lo_output(ctx, 0, out_type, rank, dims));
            channel_mul16(x->data, gate->data, ctx->out[0]->data, dims[0], dims[1], plane, per_batch,
                          thread_count(ctx));
            ctx->out_blocked = true;
            return LO_OK;
        }
        /* anything else: NCHW first (x is float32 and nCx16c: the Conv wrote it) */
        lo_tensor plain;
        if (!lo_unblocked_copy(x, &plain)) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
        lo_status st = lo_output(ctx, 0, out_type, rank, dims);
        if (st == LO_OK) binary_compute(ctx, p, p->op, x == a ? &plain : a, x == b ? &plain : b, ctx->out[0]);
        free(plain.data);
        return st;
    }
    LO_TRY(lo_output(ctx, 0, out_type, rank, dims));
    binary_compute(ctx, p, p->op, a, b, ctx->out[0]);
    return LO_OK;
}

/* PRelu-1..6 took a slope per channel: shape [C] against NCHW. */
static lo_status run_prelu(lo_kernel_ctx *ctx) {
    LO_CHECK(ctx, input_ok(ctx, 0) && input_ok(ctx, 1), "needs two tensor inputs");
    const lo_tensor *x = ctx->in[0], *slope = ctx->in[1];
    if (ctx->node->opset < 7 && slope->rank == 1 && x->rank >= 2 && slope->dims[0] == x->dims[1] &&
        slope->dims[0] != 1 && x->dims[x->rank - 1] != slope->dims[0]) {
        lo_tensor view = *slope;
        view.rank = x->rank - 1;
        for (int d = 1; d < x->rank; d++) view.dims[d - 1] = d == 1 ? slope->dims[0] : 1;
        LO_CHECK(ctx, x->dtype == slope->dtype, "inputs have different types");
        LO_CHECK(ctx, is_numeric(x->dtype), "%s inputs are not supported", lo_dtype_name(x->dtype));
        if (!output_wanted(ctx)) return LO_OK;
        LO_TRY(lo_output(ctx, 0, x->dtype, x->rank, x->dims));
        binary_compute(ctx, ctx->params, OP_PRELU, x, &view, ctx->out[0]);
        return LO_OK;
    }
    return run_binary(ctx);
}

/* ---- variadic ops ----------------------------------------------------------- */

static void elem_scale(ew_loop *L, int64_t o, int64_t a, int64_t b, int64_t c) {
    store_f(L->out, L->out_dtype, o, load_f(L->out, L->out_dtype, o) / L->p->alpha);
}

static lo_status run_variadic(lo_kernel_ctx *ctx) {
    const ew_params *p = ctx->params;
    LO_CHECK(ctx, ctx->n_in >= 1, "needs at least one input");
    const lo_tensor *ins[64] = {0};
    int n = 0;
    LO_CHECK(ctx, ctx->n_in <= 64, "more than 64 inputs are not supported");
    for (int i = 0; i < ctx->n_in; i++) {
        LO_CHECK(ctx, input_ok(ctx, i), "input %d is missing or not a tensor", i);
        ins[n++] = ctx->in[i];
    }
    lo_dtype t = ins[0]->dtype;
    for (int i = 1; i < n; i++)
        LO_CHECK(ctx, ins[i]->dtype == t, "inputs have different types %s and %s", lo_dtype_name(t),
                 lo_dtype_name(ins[i]->dtype));
    bool float_only = p->op == OP_SUM || p->op == OP_MEAN;
    if (!is_numeric(t) || t == LO_INT4 || t == LO_UINT4 || (float_only && class_of(t) != CLASS_FLOAT))
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "%s inputs are not supported", lo_dtype_name(t));
    int rank;
    int64_t dims[LO_MAX_RANK];
    lo_error berr;
    if (lo_broadcast_shape(n, ins, &rank, dims, &berr) != LO_OK)
        return lo_kernel_fail(ctx, LO_ERR_INPUT, "%s", berr.message);
    if (!output_wanted(ctx)) return LO_OK;
    LO_TRY(lo_output(ctx, 0, t, rank, dims));
    lo_tensor *out = ctx->out[0];
    if (lo_numel(out) == 0) return LO_OK;
    ew_op op = p->op == OP_MEAN ? OP_SUM : p->op;
    if (n == 1) {
        /* Max of one tensor is that tensor. */
        binary_compute(ctx, p, OP_MAX, ins[0], ins[0], out);
    } else {
        binary_compute(ctx, p, op, ins[0], ins[1], out);
        /* Folding into the output in place is safe: each element is read
         * before it is written, at the same index. */
        for (int i = 2; i < n; i++) binary_compute(ctx, p, op, out, ins[i], out);
    }
    if (p->op == OP_MEAN) {
        int64_t count = lo_numel(out);
        if (t == LO_FLOAT && !lo_use_ref(ctx)) {
            float *y = out->data, divisor = (float)n;
            int threads = thread_count(ctx);
#pragma omp parallel for num_threads(threads) if (threads > 1 && count > PARALLEL_MIN_CHEAP)
            for (int64_t i = 0; i < count; i++) y[i] /= divisor;
        } else {
            ew_params scale = *p;
            scale.alpha = n;
            const lo_tensor *self[1] = {out};
            ew_loop L;
            loop_init(&L, 1, self, out->rank, out->dims, out, &scale, OP_MEAN);
            loop_reference(&L, elem_scale);
        }
    }
    return LO_OK;
}

/* ---- unary ops -------------------------------------------------------------- */

#define T double
static double unary_f64(ew_op op, double x, const ew_params *p) {
    switch (op) {
#define X(name, expr)                                                                            \
    case OP_##name: return (expr);
        FLOAT_UNARY_OPS(X)
#undef X
    default: return x;
    }
}
#undef T

#define T float
#define X(name, expr)                                                                            \
    LO_VECTOR_CLONES static void row32_##name(const float *xs, float *ys, int64_t n, const ew_params *p) { \
        _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {                                    \
            float x = xs[i];                                                                     \
            ys[i] = (expr);                                                                      \
        }                                                                                        \
    }
FLOAT_UNARY_OPS(X)
#undef X
#undef T

typedef void (*row32_fn)(const float *xs, float *ys, int64_t n, const ew_params *p);

/* x * sigmoid(x) in one pass: a chain's Sigmoid and the Mul that takes it
 * back to x (SiLU), the product of the same two floats as the two links'. */
LO_VECTOR_CLONES static void row32_silu(const float *xs, float *ys, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        float x = xs[i], s = sigmoid_fast_f32(x);
        ys[i] = x * s;
    }
}

/* GELU as PyTorch exports it, Div (or Mul) by c1, Erf, Add c2, Mul by x,
 * Mul by c3, in one pass: the same float operations in the same order as
 * the five links (Add and Mul commute exactly). */
LO_VECTOR_CLONES static void row32_gelu_erf(const float *xs, float *ys, int64_t n, bool divide, float c1, float c2,
                                            float c3) {
    if (divide) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            float x = xs[i];
            ys[i] = (x * (erf_fast_f32(x / c1) + c2)) * c3;
        }
    } else {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            float x = xs[i];
            ys[i] = (x * (erf_fast_f32(x * c1) + c2)) * c3;
        }
    }
}

static row32_fn f32_unary_row(ew_op op) {
    switch (op) {
#define X(name, expr)                                                                            \
    case OP_##name: return row32_##name;
        FLOAT_UNARY_OPS(X)
#undef X
    default: return NULL;
    }
}

static bool op_is_cheap(ew_op op) {
    switch (op) {
    case OP_ABS: case OP_NEG: case OP_RELU: case OP_LEAKYRELU: case OP_CLIP: case OP_HARDSIGMOID:
    case OP_HARDSWISH: case OP_FLOOR: case OP_CEIL: case OP_ROUND: case OP_SIGN: case OP_RECIPROCAL:
    case OP_SQRT: case OP_THRESHOLDEDRELU: case OP_SHRINK: case OP_SOFTSIGN: return true;
    default: return false;
    }
}

static bool op_takes_ints(ew_op op) {
    return op == OP_ABS || op == OP_NEG || op == OP_SIGN || op == OP_RELU || op == OP_CLIP ||
           op == OP_SHRINK || op == OP_BITWISENOT;
}

static void elem_unary(ew_loop *L, int64_t o, int64_t ia, int64_t ib, int64_t ic) {
    lo_dtype t = L->in_dtype[0];
    const ew_params *p = L->p;
    switch (L->op) {
    case OP_ISNAN: {
        double x = load_f(L->in[0], t, ia);
        ((uint8_t *)L->out)[o] = x != x;
        return;
    }
    case OP_ISINF: {
        double x = load_f(L->in[0], t, ia);
        ((uint8_t *)L->out)[o] = (x == INFINITY && p->detect_pos) || (x == -INFINITY && p->detect_neg);
        return;
    }
    case OP_NOT: ((uint8_t *)L->out)[o] = !((const uint8_t *)L->in[0])[ia]; return;
    default: break;
    }
    dclass c = class_of(t);
    if (c == CLASS_FLOAT || L->op == OP_SHRINK) {
        store_f(L->out, t, o, unary_f64(L->op, load_f(L->in[0], t, ia), p));
        return;
    }
    int64_t x = load_i(L->in[0], t, ia), r = x;
    if (c == CLASS_SIGNED) {
        switch (L->op) {
        case OP_ABS: r = x < 0 ? (int64_t)(0 - (uint64_t)x) : x; break;
        case OP_NEG: r = (int64_t)(0 - (uint64_t)x); break;
        case OP_SIGN: r = (x > 0) - (x < 0); break;
        case OP_RELU: r = x < 0 ? 0 : x; break;
        case OP_CLIP:
            r = x < p->clip_lo_i ? p->clip_lo_i : x;
            r = r > p->clip_hi_i ? p->clip_hi_i : r;
            break;
        case OP_BITWISENOT: r = ~x; break;
        default: break;
        }
    } else {
        uint64_t u = (uint64_t)x;
        switch (L->op) {
        case OP_NEG: r = (int64_t)(0 - u); break;
        case OP_SIGN: r = u != 0; break;
        case OP_CLIP: {
            uint64_t lo = (uint64_t)p->clip_lo_i, hi = (uint64_t)p->clip_hi_i;
            uint64_t v = u < lo ? lo : u;
            r = (int64_t)(v > hi ? hi : v);
            break;
        }
        case OP_BITWISENOT: r = (int64_t)~u; break;
        default: break;
        }
    }
    store_i(L->out, t, o, r);
}
GENERIC_ROW(row_unary_generic, elem_unary)

static void row_unary_f32(ew_loop *L, int64_t o, const int64_t *off, int64_t n) {
    L->f32_unary((const float *)L->in[0] + off[0], (float *)L->out + o, n, L->p);
}

/* y = op(x) over a contiguous tensor; p may differ from ctx->params (Clip
 * puts its run-time bounds there). */
static lo_status unary_compute(lo_kernel_ctx *ctx, const ew_params *p, ew_op op) {
    const lo_tensor *x = ctx->in[0];
    lo_dtype t = x->dtype;
    dclass c = class_of(t);
    lo_dtype out_type = t;
    switch (op) {
    case OP_ISNAN: case OP_ISINF:
        if (c != CLASS_FLOAT) goto unsupported;
        out_type = LO_BOOL;
        break;
    case OP_NOT:
        if (c != CLASS_BOOL) goto unsupported;
        break;
    case OP_BITWISENOT:
        if (c != CLASS_SIGNED && c != CLASS_UNSIGNED) goto unsupported;
        break;
    default:
        if (c == CLASS_FLOAT) break;
        if ((c == CLASS_SIGNED || c == CLASS_UNSIGNED) && op_takes_ints(op)) break;
        goto unsupported;
    }
    if (t == LO_INT4 || t == LO_UINT4) goto unsupported;
    if (!output_wanted(ctx)) return LO_OK;
    LO_TRY(lo_output(ctx, 0, out_type, x->rank, x->dims));
    lo_tensor *y = ctx->out[0];
    /* A flat view: unary ops never broadcast. */
    lo_tensor flat_x = *x, flat_y = *y;
    flat_x.rank = flat_y.rank = 1;
    flat_x.dims[0] = flat_y.dims[0] = lo_numel(x);
    const lo_tensor *ins[1] = {&flat_x};
    ew_loop L;
    loop_init(&L, 1, ins, 1, flat_y.dims, &flat_y, p, op);
    if (lo_use_ref(ctx)) {
        loop_reference(&L, elem_unary);
        return LO_OK;
    }
    int64_t min_par = op_is_cheap(op) ? PARALLEL_MIN_CHEAP : PARALLEL_MIN_COSTLY;
    row32_fn fn = t == LO_FLOAT && out_type == LO_FLOAT ? f32_unary_row(op) : NULL;
    if (fn) {
        L.f32_unary = fn;
        loop_run(&L, row_unary_f32, thread_count(ctx), min_par);
        return LO_OK;
    }
    loop_run(&L, row_unary_generic, thread_count(ctx), PARALLEL_MIN_COSTLY);
    return LO_OK;
unsupported:
    return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "%s input is not supported", lo_dtype_name(t));
}

static lo_status run_unary(lo_kernel_ctx *ctx) {
    LO_CHECK(ctx, input_ok(ctx, 0), "input is missing or not a tensor");
    const ew_params *p = ctx->params;
    return unary_compute(ctx, p, p->op);
}

/* ---- Swish, SwiGLU ------------------------------------------------------- */

/* The activations of the newest opsets, each one reference path: they come
 * in models small enough not to need a fast one. */
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

/* ---- Clip ------------------------------------------------------------------- */

/* min and max are optional scalar inputs of the input's own type. */
static lo_status clip_bound(lo_kernel_ctx *ctx, int i, lo_dtype t, double *f, int64_t *iv) {
    if (!input_ok(ctx, i)) return LO_OK;
    const lo_tensor *b = ctx->in[i];
    const char *what = i == 1 ? "min" : "max";
    LO_CHECK(ctx, lo_numel(b) == 1, "%s must be a scalar, got %lld elements", what, (long long)lo_numel(b));
    LO_CHECK(ctx, b->dtype == t, "%s has type %s, the input %s", what, lo_dtype_name(b->dtype),
             lo_dtype_name(t));
    if (class_of(t) == CLASS_FLOAT) *f = load_f(b->data, t, 0);
    else *iv = load_i(b->data, t, 0);
    return LO_OK;
}

static lo_status run_clip(lo_kernel_ctx *ctx) {
    LO_CHECK(ctx, input_ok(ctx, 0), "input is missing or not a tensor");
    ew_params q = *(const ew_params *)ctx->params;
    lo_dtype t = ctx->in[0]->dtype;
    bool is_signed = class_of(t) == CLASS_SIGNED;
    if (ctx->node->opset >= 11) {
        q.clip_lo = -INFINITY;
        q.clip_hi = INFINITY;
        q.clip_lo_i = is_signed ? INT64_MIN : 0;
        q.clip_hi_i = is_signed ? INT64_MAX : (int64_t)UINT64_MAX;
        LO_TRY(clip_bound(ctx, 1, t, &q.clip_lo, &q.clip_lo_i));
        LO_TRY(clip_bound(ctx, 2, t, &q.clip_hi, &q.clip_hi_i));
    } else {
        q.clip_lo_i = f64_to_i64(q.clip_lo);
        q.clip_hi_i = f64_to_i64(q.clip_hi);
    }
    return unary_compute(ctx, &q, OP_CLIP);
}

/* ---- prepare ---------------------------------------------------------------- */

lo_status lo_ew_prepare(const lo_node *node, void **out, lo_error *err, ew_op op) {
    ew_params *p = lo_calloc(1, sizeof *p, err);
    if (!p) return LO_ERR_NOMEM;
    p->op = op;
    lo_status st = LO_OK;
    switch (op) {
    case OP_LEAKYRELU: p->alpha = lo_attr_float(node, "alpha", 0.01f); break;
    case OP_ELU: case OP_CELU: case OP_THRESHOLDEDRELU: p->alpha = lo_attr_float(node, "alpha", 1.0f); break;
    case OP_SELU:
        p->alpha = lo_attr_float(node, "alpha", 1.67326319217681884765625f);
        p->gamma = lo_attr_float(node, "gamma", 1.05070102214813232421875f);
        break;
    case OP_HARDSIGMOID:
        p->alpha = lo_attr_float(node, "alpha", 0.2f);
        p->beta = lo_attr_float(node, "beta", 0.5f);
        break;
    case OP_SHRINK:
        p->lambd = lo_attr_float(node, "lambd", 0.5f);
        p->bias = lo_attr_float(node, "bias", 0.0f);
        break;
    case OP_GELU: {
        const char *a = lo_attr_string(node, "approximate", "none");
        if (strcmp(a, "tanh") == 0) p->op = OP_GELU_TANH;
        else if (strcmp(a, "none") != 0)
            st = lo_fail(err, LO_ERR_UNSUPPORTED, "node '%s' (%s): approximate='%s' is not supported",
                         node->name, node->op_type, a);
        break;
    }
    case OP_ISINF:
        p->detect_pos = lo_attr_int(node, "detect_positive", 1) != 0;
        p->detect_neg = lo_attr_int(node, "detect_negative", 1) != 0;
        break;
    case OP_CLIP:
        p->clip_lo = lo_attr_float(node, "min", -FLT_MAX);
        p->clip_hi = lo_attr_float(node, "max", FLT_MAX);
        break;
    case OP_MOD: {
        int64_t f = lo_attr_int(node, "fmod", 0);
        if (f != 0 && f != 1)
            st = lo_fail(err, LO_ERR_MODEL, "node '%s' (%s): fmod must be 0 or 1, not %lld", node->name,
                         node->op_type, (long long)f);
        p->fmod = f == 1;
        break;
    }
    case OP_BITSHIFT: {
        const char *d = lo_attr_string(node, "direction", "");
        if (strcmp(d, "LEFT") == 0) p->shift_left = true;
        else if (strcmp(d, "RIGHT") != 0)
            st = lo_fail(err, LO_ERR_MODEL, "node '%s' (%s): direction must be LEFT or RIGHT, not '%s'",
                         node->name, node->op_type, d);
        break;
    }
    case OP_CAST:
        st = lo_cast_prepare_target(node, p, err);
        if (st == LO_OK) st = lo_cast_prepare_round_mode(node, p, err);
        p->saturate = lo_attr_int(node, "saturate", 1) != 0;
        break;
    case OP_CASTLIKE:
        st = lo_cast_prepare_round_mode(node, p, err);
        p->saturate = lo_attr_int(node, "saturate", 1) != 0;
        break;
    default: break;
    }
    bool binary_legacy = op == OP_ADD || op == OP_SUB || op == OP_MUL || op == OP_DIV || op == OP_POW ||
                         op == OP_AND || op == OP_OR || op == OP_XOR || op == OP_EQ || op == OP_LT ||
                         op == OP_GT;
    if (binary_legacy && node->opset < 7) {
        p->legacy = true;
        p->legacy_bcast = lo_attr_int(node, "broadcast", 0) != 0;
        const lo_attr *axis = lo_attr_find(node, "axis");
        p->has_axis = axis != NULL;
        p->axis = axis ? axis->i : 0;
    }
    if (st != LO_OK) {
        free(p);
        return st;
    }
    *out = p;
    return LO_OK;
}

#define PREP(name, op)                                                                           \
    static lo_status prep_##name(const lo_node *node, void **params, lo_error *err) {             \
        return lo_ew_prepare(node, params, err, op);                                                \
    }
PREP(ABS, OP_ABS)
PREP(NEG, OP_NEG)
PREP(RECIPROCAL, OP_RECIPROCAL)
PREP(FLOOR, OP_FLOOR)
PREP(CEIL, OP_CEIL)
PREP(ROUND, OP_ROUND)
PREP(SIGN, OP_SIGN)
PREP(SQRT, OP_SQRT)
PREP(EXP, OP_EXP)
PREP(LOG, OP_LOG)
PREP(ERF, OP_ERF)
PREP(SIN, OP_SIN)
PREP(COS, OP_COS)
PREP(TAN, OP_TAN)
PREP(ASIN, OP_ASIN)
PREP(ACOS, OP_ACOS)
PREP(ATAN, OP_ATAN)
PREP(SINH, OP_SINH)
PREP(COSH, OP_COSH)
PREP(ASINH, OP_ASINH)
PREP(ACOSH, OP_ACOSH)
PREP(ATANH, OP_ATANH)
PREP(RELU, OP_RELU)
PREP(LEAKYRELU, OP_LEAKYRELU)
PREP(ELU, OP_ELU)
PREP(SELU, OP_SELU)
PREP(CELU, OP_CELU)
PREP(SIGMOID, OP_SIGMOID)
PREP(HARDSIGMOID, OP_HARDSIGMOID)
PREP(HARDSWISH, OP_HARDSWISH)
PREP(SOFTPLUS, OP_SOFTPLUS)
PREP(SOFTSIGN, OP_SOFTSIGN)
PREP(TANH, OP_TANH)
PREP(GELU, OP_GELU)
PREP(MISH, OP_MISH)
PREP(THRESHOLDEDRELU, OP_THRESHOLDEDRELU)
PREP(SHRINK, OP_SHRINK)
PREP(CLIP, OP_CLIP)
PREP(ISNAN, OP_ISNAN)
PREP(ISINF, OP_ISINF)
PREP(NOT, OP_NOT)
PREP(BITWISENOT, OP_BITWISENOT)
PREP(ADD, OP_ADD)
PREP(SUB, OP_SUB)
PREP(MUL, OP_MUL)
PREP(DIV, OP_DIV)
PREP(POW, OP_POW)
PREP(MOD, OP_MOD)
PREP(MAX, OP_MAX)
PREP(MIN, OP_MIN)
PREP(PRELU, OP_PRELU)
PREP(BITSHIFT, OP_BITSHIFT)
PREP(BITAND, OP_BITAND)
PREP(BITOR, OP_BITOR)
PREP(BITXOR, OP_BITXOR)
PREP(AND, OP_AND)
PREP(OR, OP_OR)
PREP(XOR, OP_XOR)
PREP(EQ, OP_EQ)
PREP(LT, OP_LT)
PREP(GT, OP_GT)
PREP(LE, OP_LE)
PREP(GE, OP_GE)
PREP(SUM, OP_SUM)
PREP(MEAN, OP_MEAN)

/* ---- fused chains (src/exec plans them; see fusion.h) -------------------------- */

bool lo_ew_fusable(const lo_node *n) {
    if (!n->def || n->domain[0] || n->n_outputs != 1 || !n->params) return false;
    const ew_params *p = n->params;
    if (n->def->run == run_clip) return n->n_inputs >= 1 && n->n_inputs <= 3;
    if (n->def->run == run_unary) return n->n_inputs == 1 && f32_unary_row(p->op) != NULL;
    if (n->def->run == run_binary)
        return n->n_inputs == 2 && !p->legacy &&
               (p->op == OP_ADD || p->op == OP_SUB || p->op == OP_MUL || p->op == OP_DIV || p->op == OP_POW);
    return false;
}

/* How an outside operand lines up with the chain's elements. */
enum { BC_SAME, BC_SCALAR, BC_ROW };

static bool dims_equal(int n, const int64_t *a, const int64_t *b) {
    return n == 0 || memcmp(a, b, (size_t)n * sizeof *a) == 0;
}

/* The broadcast of t against the chain's shape, leaving that shape as it
 * is; *row is the trailing row's length for BC_ROW. false otherwise. */
static bool operand_layout(const lo_tensor *t, int rank, const int64_t *dims, int *kind, int64_t *row) {
    if (!t || t->kind != LO_KIND_TENSOR || t->dtype != LO_FLOAT || t->rank > rank) return false;
    int64_t n = lo_numel(t);
    if (n == 1) {
        *kind = BC_SCALAR;
        return true;
    }
    int lead = 0; /* t's leading 1s */
    while (lead < t->rank && t->dims[lead] == 1) lead++;
    int tail = t->rank - lead;
    if (!dims_equal(tail, t->dims + lead, dims + rank - tail)) return false;
    if (lo_numel_dims(rank, dims) == n) {
        *kind = BC_SAME;
        return true;
    }
    *kind = BC_ROW;
    *row = n;
    return true;
}

bool lo_ew_chain_fits(const lo_ew_link *links, int n, lo_dtype head_dtype, int rank, const int64_t *dims) {
    if (head_dtype != LO_FLOAT || n < 1 || n > LO_CHAIN_MAX) return false;
    int64_t row = 0;
    for (int l = 0; l < n; l++) {
        const lo_ew_link *k = &links[l];
        bool clip = k->node->def->run == run_clip;
        for (int i = 0; i < k->n_in; i++) {
            if (k->slot[i] >= 0) {
                if (k->slot[i] > l) return false;
                continue;
            }
            if (k->slot[i] == -2) continue;
            int kind;
            int64_t r = 0;
            if (!operand_layout(k->ext[i], rank, dims, &kind, &r)) return false;
            if (clip && (i == 0 || kind != BC_SCALAR)) return false;
            if (kind == BC_ROW) {
                if (row && row != r) return false;
                row = r;
            }
        }
        if ((k->n_in == 1 || clip) && k->slot[0] < 0) return false;
        if (clip && k->node->opset < 11 && k->n_in > 1) return false;
    }
    return true;
}

/* y[i] = a op b over n elements; sa/sb 0 for a repeated scalar. The same
 * expressions as the binary rows above, one loop per op, so the results
 * are bit for bit the kernels'. */
LO_VECTOR_CLONES static void chain_binary(ew_op op, const float *a, int sa, const float *b, int sb, float *y, int64_t n) {
#define CHAIN_LOOP(EXPR)                                                                           \
    do {                                                                                           \
        if (sa && sb) {                                                                            \
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {                                  \
                float av = a[i], bv = b[i];                                                        \
                y[i] = (EXPR);                                                                     \
            }                                                                                      \
        } else if (sa) {                                                                           \
            const float bv = b[0];                                                                 \
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {                                  \
                float av = a[i];                                                                   \
                y[i] = (EXPR);                                                                     \
            }                                                                                      \
        } else if (sb) {                                                                           \
            const float av = a[0];                                                                 \
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {                                  \
                float bv = b[i];                                                                   \
                y[i] = (EXPR);                                                                     \
            }                                                                                      \
        } else {                                                                                   \
            const float av = a[0], bv = b[0];                                                      \
            const float v = (EXPR);                                                                \
            for (int64_t i = 0; i < n; i++) y[i] = v;                                              \
        }                                                                                          \
    } while (0)
    switch (op) {
    case OP_ADD: CHAIN_LOOP(av + bv); break;
    case OP_SUB: CHAIN_LOOP(av - bv); break;
    case OP_MUL: CHAIN_LOOP(av * bv); break;
    case OP_DIV: CHAIN_LOOP(av / bv); break;
    case OP_POW:
        if (sa && !sb && b[0] == 2.0f) {
#pragma omp simd
            for (int64_t i = 0; i < n; i++) y[i] = a[i] * a[i];
        } else if (sa && !sb && b[0] == 1.0f) {
            memmove(y, a, (size_t)n * sizeof *y);
        } else {
            CHAIN_LOOP(pow(av, bv));
        }
        break;
    default: break;
    }
#undef CHAIN_LOOP
}

/* Links a chain evaluates in one pass: from link l, FUSED_SILU covers l and
 * l + 1, FUSED_GELU l to l + 4; x is in chain slot `in`, GELU's constants in
 * c. */
enum { FUSED_NONE, FUSED_SILU, FUSED_GELU };
typedef struct chain_fused {
    int kind, in;
    bool divide;
    float c[3];
} chain_fused;

typedef struct chain_operand {
    int kind; /* BC_*, or -1 for a chain slot */
    const float *data;
} chain_operand;

/* One block [i0, i0 + len) of the chain; slot k's values are in slot[k]. A
 * BC_ROW operand has blocks that start on a row and hold whole rows. */
static void chain_block(const lo_ew_link *links, int n, const chain_operand (*ops)[3], const ew_params *clip,
                        const chain_fused *fused, float **slot, float *y, int64_t i0, int64_t len, int64_t row) {
    for (int l = 0; l < n; l++) {
        const lo_ew_link *k = &links[l];
        const ew_params *p = k->node->params;
        const chain_fused *f = &fused[l];
        if (f->kind == FUSED_SILU) {
            row32_silu(slot[f->in], l + 1 == n - 1 ? y + i0 : slot[l + 2], len);
            l++;
            continue;
        }
        if (f->kind == FUSED_GELU) {
            row32_gelu_erf(slot[f->in], l + 4 == n - 1 ? y + i0 : slot[l + 5], len, f->divide, f->c[0], f->c[1], f->c[2]);
            l += 4;
            continue;
        }
        float *out = l == n - 1 ? y + i0 : slot[l + 1];
        const float *in[3];
        int step[3];
        for (int i = 0; i < k->n_in; i++) {
            const chain_operand *o = &ops[l][i];
            step[i] = 1;
            if (o->kind < 0) in[i] = slot[k->slot[i]];
            else if (o->kind == BC_SAME) in[i] = o->data + i0;
            else if (o->kind == BC_SCALAR) in[i] = o->data, step[i] = 0;
            else in[i] = o->data; /* BC_ROW: applied row by row below */
        }
        if (k->node->def->run == run_clip) {
            f32_unary_row(OP_CLIP)(in[0], out, len, &clip[l]);
            continue;
        }
        if (k->n_in == 1) {
            f32_unary_row(p->op)(in[0], out, len, p);
            continue;
        }
        bool row_a = ops[l][0].kind == BC_ROW, row_b = ops[l][1].kind == BC_ROW;
        if (!row_a && !row_b) {
            chain_binary(p->op, in[0], step[0], in[1], step[1], out, len);
            continue;
        }
        for (int64_t r = 0; r < len; r += row)
            chain_binary(p->op, row_a ? in[0] : in[0] + (step[0] ? r : 0), step[0],
                         row_b ? in[1] : in[1] + (step[1] ? r : 0), step[1], out + r, row);
    }
}

static ew_op link_op(const lo_ew_link *k) { return ((const ew_params *)k->node->params)->op; }

static bool is_binary_link(const lo_ew_link *k, ew_op op) {
    return k->n_in == 2 && k->node->def->run == run_binary && link_op(k) == op;
}

/* The single value a binary link takes besides chain slot `s` (either
 * side; only the second for a Div), or false. */
static bool slot_and_scalar(const lo_ew_link *k, const chain_operand *ops, int s, bool second_only, float *c) {
    for (int i = second_only ? 1 : 0; i < 2; i++)
        if (ops[i].kind == BC_SCALAR && k->slot[i] < 0 && k->slot[1 - i] == s) {
            *c = *ops[i].data;
            return true;
        }
    return false;
}

/* Whether a link from `from` on reads chain slot s. */
static bool slot_read_from(const lo_ew_link *links, int n, int from, int s) {
    for (int j = from; j < n; j++)
        for (int i = 0; i < links[j].n_in; i++)
            if (links[j].slot[i] == s) return true;
    return false;
}

/* Marks the link runs a chain evaluates in one pass, their inner values
 * read by nobody after them:
 * - SiLU: a Sigmoid and the Mul that takes it back to its own input;
 * - GELU (PyTorch's export): Div (or Mul) of x by a single value, Erf, Add
 *   of a single value, Mul by x, Mul by a single value. */
static void find_fused(const lo_ew_link *links, int n, const chain_operand (*ops)[3], chain_fused *fused) {
    for (int l = 0; l < n; l++) {
        const lo_ew_link *k = &links[l];
        int a = k->slot[0];
        if (l + 1 < n && k->node->def->run == run_unary && link_op(k) == OP_SIGMOID &&
            is_binary_link(&links[l + 1], OP_MUL)) {
            const lo_ew_link *m = &links[l + 1];
            if (((m->slot[0] == a && m->slot[1] == l + 1) || (m->slot[0] == l + 1 && m->slot[1] == a)) &&
                !slot_read_from(links, n, l + 2, l + 1)) {
                fused[l] = (chain_fused){.kind = FUSED_SILU, .in = a};
                l += 1;
                continue;
            }
        }
        if (k->n_in == 2 && a < 0) a = k->slot[1]; /* Mul(constant, x) */
        chain_fused g = {.kind = FUSED_GELU, .in = a, .divide = is_binary_link(k, OP_DIV)};
        if (l + 4 < n && a >= 0 && (g.divide || is_binary_link(k, OP_MUL)) &&
            slot_and_scalar(k, ops[l], a, g.divide, &g.c[0]) &&
            links[l + 1].node->def->run == run_unary && link_op(&links[l + 1]) == OP_ERF && links[l + 1].slot[0] == l + 1 &&
            is_binary_link(&links[l + 2], OP_ADD) && slot_and_scalar(&links[l + 2], ops[l + 2], l + 2, false, &g.c[1]) &&
            is_binary_link(&links[l + 3], OP_MUL) &&
            ((links[l + 3].slot[0] == a && links[l + 3].slot[1] == l + 3) ||
             (links[l + 3].slot[0] == l + 3 && links[l + 3].slot[1] == a)) &&
            is_binary_link(&links[l + 4], OP_MUL) && slot_and_scalar(&links[l + 4], ops[l + 4], l + 4, false, &g.c[2])) {
            bool inner_read = false;
            for (int s = l + 1; s <= l + 4; s++) inner_read = inner_read || slot_read_from(links, n, l + 5, s);
            if (!inner_read) {
                fused[l] = g;
                l += 4;
            }
        }
    }
}

bool lo_ew_chain_run(const lo_kernel_ctx *ctx, const lo_ew_link *links, int n, const float *x, int rank,
                     const int64_t *dims, float *y) {
    if (!lo_ew_chain_fits(links, n, LO_FLOAT, rank, dims)) return false;
    chain_operand ops[LO_CHAIN_MAX][3];
    ew_params clip[LO_CHAIN_MAX];
    int64_t row = 0;
    for (int l = 0; l < n; l++) {
        const lo_ew_link *k = &links[l];
        for (int i = 0; i < k->n_in; i++) {
            ops[l][i].kind = -1;
            if (k->slot[i] >= 0 || k->slot[i] == -2) continue;
            int64_t r = 0;
            operand_layout(k->ext[i], rank, dims, &ops[l][i].kind, &r);
            ops[l][i].data = k->ext[i]->data;
            if (ops[l][i].kind == BC_ROW) row = r;
        }
        if (k->node->def->run == run_clip) {
            /* as run_clip: attributes before opset 11, scalar inputs after */
            clip[l] = *(const ew_params *)k->node->params;
            if (k->node->opset >= 11) {
                clip[l].clip_lo = k->n_in > 1 && k->slot[1] != -2 ? *(const float *)k->ext[1]->data : -INFINITY;
                clip[l].clip_hi = k->n_in > 2 && k->slot[2] != -2 ? *(const float *)k->ext[2]->data : INFINITY;
            }
        }
    }
    chain_fused fused[LO_CHAIN_MAX];
    memset(fused, 0, sizeof fused);
    find_fused(links, n, (const chain_operand(*)[3])ops, fused);
    int64_t total = lo_numel_dims(rank, dims);
    /* blocks of about 2048 floats (8 KiB a slot: all of them stay in L1/L2),
     * whole rows when a bias row is broadcast */
    int64_t block = 2048;
    if (row) block = row >= 2048 ? row : row * (2048 / row);
    int64_t n_blocks = (total + block - 1) / block;
    /* the elementwise kernels' break-even sizes, shared by the chain's links */
    bool costly = false;
    for (int l = 0; l < n; l++) {
        const ew_params *p = links[l].node->params;
        costly = costly || (links[l].n_in == 1 && links[l].node->def->run != run_clip && !op_is_cheap(p->op)) ||
                 (links[l].n_in == 2 && p->op == OP_POW);
    }
    int64_t min_par = (costly ? PARALLEL_MIN_COSTLY : PARALLEL_MIN_CHEAP) / n;
    if (min_par < 16384) min_par = 16384;
    int threads = thread_count(ctx);
    if (total < min_par || n_blocks < 2) threads = 1;
    /* every thread's slots taken before anything is written: a chain that
     * works in place cannot fall back once it has started */
    size_t per = (size_t)(n > 1 ? n - 1 : 1) * (size_t)block;
    float *buf = malloc((size_t)threads * per * sizeof(float));
    if (!buf) return false;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t b = 0; b < n_blocks; b++) {
        float *mine = buf + (size_t)omp_get_thread_num() * per;
        float *slot[LO_CHAIN_MAX + 1];
        slot[0] = (float *)x + b * block;
        for (int l = 1; l < n; l++) slot[l] = mine + (size_t)(l - 1) * (size_t)block;
        int64_t i0 = b * block, len = total - i0 < block ? total - i0 : block;
        chain_block(links, n, (const chain_operand(*)[3])ops, clip, fused, slot, y, i0, len, row);
    }
    free(buf);
    return true;
}

#define UNARY(op_type, since, name) {"", op_type, since, LO_OPSET_MAX, prep_##name, run_unary, NULL, LO_OP_FAST}
#define BINARY(op_type, since, name) {"", op_type, since, LO_OPSET_MAX, prep_##name, run_binary, NULL, LO_OP_FAST}
#define VARIADIC(op_type, since, name)                                                                 \
    {"", op_type, since, LO_OPSET_MAX, prep_##name, run_variadic, NULL, LO_OP_FAST}

const lo_op_def lo_ops_elementwise[] = {
    UNARY("Abs", 1, ABS),
    UNARY("Neg", 1, NEG),
    UNARY("Reciprocal", 1, RECIPROCAL),
    UNARY("Floor", 1, FLOOR),
    UNARY("Ceil", 1, CEIL),
    UNARY("Round", 11, ROUND),
    UNARY("Sign", 9, SIGN),
    UNARY("Sqrt", 1, SQRT),
    UNARY("Exp", 1, EXP),
    UNARY("Log", 1, LOG),
    UNARY("Erf", 9, ERF),
    UNARY("Sin", 7, SIN),
    UNARY("Cos", 7, COS),
    UNARY("Tan", 7, TAN),
    UNARY("Asin", 7, ASIN),
    UNARY("Acos", 7, ACOS),
    UNARY("Atan", 7, ATAN),
    UNARY("Sinh", 9, SINH),
    UNARY("Cosh", 9, COSH),
    UNARY("Asinh", 9, ASINH),
    UNARY("Acosh", 9, ACOSH),
    UNARY("Atanh", 9, ATANH),
    UNARY("IsNaN", 9, ISNAN),
    UNARY("IsInf", 10, ISINF),
    UNARY("Not", 1, NOT),
    UNARY("BitwiseNot", 18, BITWISENOT),
    UNARY("Relu", 1, RELU),
    UNARY("LeakyRelu", 1, LEAKYRELU),
    {"", "PRelu", 1, LO_OPSET_MAX, prep_PRELU, run_prelu, NULL, LO_OP_FAST},
    UNARY("Elu", 1, ELU),
    UNARY("Selu", 1, SELU),
    UNARY("Celu", 12, CELU),
    UNARY("Sigmoid", 1, SIGMOID),
    UNARY("HardSigmoid", 1, HARDSIGMOID),
    UNARY("HardSwish", 14, HARDSWISH),
    UNARY("Softplus", 1, SOFTPLUS),
    UNARY("Softsign", 1, SOFTSIGN),
    UNARY("Tanh", 1, TANH),
    UNARY("Gelu", 20, GELU),
    UNARY("Mish", 18, MISH),
    UNARY("ThresholdedRelu", 10, THRESHOLDEDRELU),
    UNARY("Shrink", 9, SHRINK),
    BINARY("Add", 1, ADD),
    BINARY("Sub", 1, SUB),
    BINARY("Mul", 1, MUL),
    BINARY("Div", 1, DIV),
    BINARY("Pow", 1, POW),
    BINARY("Mod", 10, MOD),
    BINARY("BitShift", 11, BITSHIFT),
    BINARY("BitwiseAnd", 18, BITAND),
    BINARY("BitwiseOr", 18, BITOR),
    BINARY("BitwiseXor", 18, BITXOR),
    BINARY("And", 1, AND),
    BINARY("Or", 1, OR),
    BINARY("Xor", 1, XOR),
    BINARY("Equal", 1, EQ),
    BINARY("Less", 1, LT),
    BINARY("Greater", 1, GT),
    BINARY("LessOrEqual", 12, LE),
    BINARY("GreaterOrEqual", 12, GE),
    VARIADIC("Max", 1, MAX),
    VARIADIC("Min", 1, MIN),
    VARIADIC("Sum", 1, SUM),
    VARIADIC("Mean", 1, MEAN),
    {"", "Clip", 1, LO_OPSET_MAX, prep_CLIP, run_clip, NULL, LO_OP_FAST},
    {"", "Swish", 24, LO_OPSET_MAX, NULL, swish_run, NULL, 0},
    {"", "SwiGLU", 28, LO_OPSET_MAX, NULL, swiglu_run, NULL, 0},
    {0},
};
