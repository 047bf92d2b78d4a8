/* The elementwise machinery math/elementwise.c and tensor/cast.c share: op
 * codes and parameters, element access with each type's own rounding or
 * wrap-around, and the broadcast iteration (reference walk and collapsed
 * rows). */
#ifndef LO_OPS_MATH_ELEMENTWISE_H
#define LO_OPS_MATH_ELEMENTWISE_H

#include <float.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <tgmath.h>

#include "../ops.h"
#include "fast_math.h"

/* Static, as they were in the one file they came from (same code, same
 * inlining); unused is for the file that needs only some. */
#define LO_EW_HELPER static __attribute__((unused))

/* ---- op codes and parameters --------------------------------------------- */

/* Float unary ops written once for float and double: T is the element type
 * (a macro set around each expansion), p the node's parameters. tgmath picks
 * expf for a float x and exp for a double one. */
#define SOFTPLUS_OF(v) ((v) > 0 ? (v) + log1p(exp(-(v))) : log1p(exp(v)))
#define CLIP_HIGH(v) ((v) > (T)p->clip_hi ? (T)p->clip_hi : (v))
/* Ternaries, not fmin/fmax: those are library calls that stop vectorizing. */
#define UNIT_CLAMP(v) ((v) < (T)0 ? (T)0 : (v) > (T)1 ? (T)1 : (v))
/* float32 takes the vectorizable approximation, double the exact formula
 * (which is also the reference for float32). */
#define SIGMOID_OF(v) _Generic((v), float: sigmoid_fast_f32, default: sigmoid_f64)(v)
#define ERF_OF(v) _Generic((v), float: erf_fast_f32, default: erf_f64)(v)

static inline double erf_f64(double x) { return erf(x); }

static inline double sigmoid_f64(double x) {
    return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x));
}

#define FLOAT_UNARY_OPS(X)                                                                   \
    X(ABS, fabs(x))                                                                          \
    X(NEG, -x)                                                                               \
    X(RECIPROCAL, (T)1 / x)                                                                  \
    X(FLOOR, floor(x))                                                                       \
    X(CEIL, ceil(x))                                                                         \
    X(ROUND, nearbyint(x)) /* default rounding mode: half to even */                        \
    X(SIGN, x > 0 ? (T)1 : x < 0 ? (T)-1 : x)                                                \
    X(SQRT, sqrt(x))                                                                         \
    X(EXP, exp(x))                                                                           \
    X(LOG, log(x))                                                                           \
    X(ERF, ERF_OF(x))                                                                           \
    X(SIN, sin(x))                                                                           \
    X(COS, cos(x))                                                                           \
    X(TAN, tan(x))                                                                           \
    X(ASIN, asin(x))                                                                         \
    X(ACOS, acos(x))                                                                         \
    X(ATAN, atan(x))                                                                         \
    X(SINH, sinh(x))                                                                         \
    X(COSH, cosh(x))                                                                         \
    X(ASINH, asinh(x))                                                                       \
    X(ACOSH, acosh(x))                                                                       \
    X(ATANH, atanh(x))                                                                       \
    X(RELU, x < 0 ? (T)0 : x)                                                                \
    X(LEAKYRELU, x < 0 ? (T)p->alpha * x : x)                                                \
    X(ELU, x < 0 ? (T)p->alpha * expm1(x) : x)                                               \
    X(SELU, x > 0 ? (T)p->gamma * x : (T)p->gamma * (T)p->alpha * expm1(x))                  \
    X(CELU, (x > 0 ? x : (T)0) +                                                             \
                (x > 0 ? (T)0 : (T)p->alpha * expm1(x / (T)p->alpha)))                       \
    X(SIGMOID, SIGMOID_OF(x))                                                                \
    X(HARDSIGMOID, UNIT_CLAMP((T)p->alpha * x + (T)p->beta))                                 \
    X(HARDSWISH, x * UNIT_CLAMP(x * (T)(1.0 / 6.0) + (T)0.5))                                \
    X(SOFTPLUS, SOFTPLUS_OF(x))                                                              \
    X(SOFTSIGN, x / ((T)1 + fabs(x)))                                                        \
    X(TANH, tanh(x))                                                                         \
    X(GELU, (T)0.5 * x * ((T)1 + ERF_OF(x * (T)0.70710678118654752440)))                       \
    X(GELU_TANH, (T)0.5 * x *                                                                \
                     ((T)1 + tanh((T)0.79788456080286535588 *                                \
                                  (x + (T)0.044715 * x * x * x))))                           \
    X(MISH, x * tanh(SOFTPLUS_OF(x)))                                                        \
    X(THRESHOLDEDRELU, x > (T)p->alpha ? x : (T)0)                                           \
    X(SHRINK, x < -(T)p->lambd ? x + (T)p->bias : x > (T)p->lambd ? x - (T)p->bias : (T)0)  \
    X(CLIP, CLIP_HIGH(x < (T)p->clip_lo ? (T)p->clip_lo : x)) /* min > max gives max */

typedef enum ew_op {
#define X(name, expr) OP_##name,
    FLOAT_UNARY_OPS(X)
#undef X
    OP_ISNAN,
    OP_ISINF,
    OP_NOT,
    OP_BITWISENOT,
    /* binary */
    OP_ADD,
    OP_SUB,
    OP_MUL,
    OP_DIV,
    OP_POW,
    OP_MOD,
    OP_MAX,
    OP_MIN,
    OP_PRELU,
    OP_BITSHIFT,
    OP_BITAND,
    OP_BITOR,
    OP_BITXOR,
    OP_AND,
    OP_OR,
    OP_XOR,
    OP_EQ,
    OP_LT,
    OP_GT,
    OP_LE,
    OP_GE,
    /* variadic (Max and Min reuse OP_MAX, OP_MIN) */
    OP_SUM,
    OP_MEAN,
    OP_WHERE,
    OP_CAST,
    OP_CASTLIKE,
} ew_op;

typedef struct ew_params {
    ew_op op;
    double alpha, beta, gamma, lambd, bias;
    double clip_lo, clip_hi; /* Clip-1..10 attributes; filled per run for 11+ */
    int64_t clip_lo_i, clip_hi_i; /* integer Clip bounds (uint64 as bit patterns) */
    bool legacy;        /* opset 1..6 binary form with broadcast/axis */
    bool legacy_bcast;  /* broadcast=1 */
    bool has_axis;
    int64_t axis;
    bool fmod;
    bool shift_left;
    bool detect_pos, detect_neg;
    lo_dtype to;        /* Cast */
    bool saturate;
    int e8m0_round;     /* Cast's round_mode, an e8m0_rounding */
} ew_params;

/* ---- element access ------------------------------------------------------- */

typedef enum { CLASS_FLOAT, CLASS_SIGNED, CLASS_UNSIGNED, CLASS_BOOL, CLASS_STRING, CLASS_OTHER } dclass;

/* int2/uint2 stay CLASS_OTHER: no operator but Cast takes them, and the
 * arithmetic kernels then refuse them without a case of their own. */
LO_EW_HELPER dclass class_of(lo_dtype t) {
    switch (t) {
    case LO_FLOAT: case LO_DOUBLE: case LO_FLOAT16: case LO_BFLOAT16: return CLASS_FLOAT;
    case LO_INT8: case LO_INT16: case LO_INT32: case LO_INT64: case LO_INT4: return CLASS_SIGNED;
    case LO_UINT8: case LO_UINT16: case LO_UINT32: case LO_UINT64: case LO_UINT4: return CLASS_UNSIGNED;
    case LO_BOOL: return CLASS_BOOL;
    case LO_STRING: return CLASS_STRING;
    default: return CLASS_OTHER;
    }
}

LO_EW_HELPER bool is_numeric(lo_dtype t) {
    dclass c = class_of(t);
    return c == CLASS_FLOAT || c == CLASS_SIGNED || c == CLASS_UNSIGNED;
}

/* Integers (and bool) as int64; uint64 keeps its bit pattern. */
static inline int64_t load_i(const void *d, lo_dtype t, int64_t i) {
    switch (t) {
    case LO_INT8: case LO_INT4: case LO_INT2: return ((const int8_t *)d)[i];
    case LO_UINT8: case LO_UINT4: case LO_UINT2: case LO_BOOL: return ((const uint8_t *)d)[i];
    case LO_INT16: return ((const int16_t *)d)[i];
    case LO_UINT16: return ((const uint16_t *)d)[i];
    case LO_INT32: return ((const int32_t *)d)[i];
    case LO_UINT32: return ((const uint32_t *)d)[i];
    case LO_INT64: return ((const int64_t *)d)[i];
    case LO_UINT64: return (int64_t)((const uint64_t *)d)[i];
    default: return 0;
    }
}

static inline double load_f(const void *d, lo_dtype t, int64_t i) {
    switch (t) {
    case LO_FLOAT: return ((const float *)d)[i];
    case LO_DOUBLE: return ((const double *)d)[i];
    case LO_FLOAT16: return lo_half_to_float(((const uint16_t *)d)[i]);
    case LO_BFLOAT16: return lo_bfloat16_to_float(((const uint16_t *)d)[i]);
    case LO_UINT64: return (double)((const uint64_t *)d)[i];
    default: return (double)load_i(d, t, i);
    }
}

/* Stores wrap to the type's width, as C's conversions to unsigned do. */
static inline void store_i(void *d, lo_dtype t, int64_t i, int64_t v) {
    switch (t) {
    case LO_INT8: ((int8_t *)d)[i] = (int8_t)v; return;
    case LO_UINT8: ((uint8_t *)d)[i] = (uint8_t)v; return;
    case LO_BOOL: ((uint8_t *)d)[i] = v != 0; return;
    case LO_INT16: ((int16_t *)d)[i] = (int16_t)v; return;
    case LO_UINT16: ((uint16_t *)d)[i] = (uint16_t)v; return;
    case LO_INT32: ((int32_t *)d)[i] = (int32_t)v; return;
    case LO_UINT32: ((uint32_t *)d)[i] = (uint32_t)v; return;
    case LO_INT64: ((int64_t *)d)[i] = v; return;
    case LO_UINT64: ((uint64_t *)d)[i] = (uint64_t)v; return;
    case LO_INT4: ((int8_t *)d)[i] = (int8_t)((int)((v & 0xf) ^ 8) - 8); return;
    case LO_UINT4: ((uint8_t *)d)[i] = (uint8_t)(v & 0xf); return;
    case LO_INT2: ((int8_t *)d)[i] = (int8_t)((int)((v & 3) ^ 2) - 2); return;
    case LO_UINT2: ((uint8_t *)d)[i] = (uint8_t)(v & 3); return;
    default: return;
    }
}

/* Truncation toward zero, saturated to int64 (NaN gives 0): out-of-range
 * float-to-int conversions are undefined in ONNX, but must not be in C. */
static inline int64_t f64_to_i64(double v) {
    if (v != v) return 0;
    if (v >= 9.2233720368547758e18) return INT64_MAX;
    if (v <= -9.2233720368547758e18) return INT64_MIN;
    return (int64_t)v;
}

static inline void store_f(void *d, lo_dtype t, int64_t i, double v) {
    switch (t) {
    case LO_FLOAT: ((float *)d)[i] = (float)v; return;
    case LO_DOUBLE: ((double *)d)[i] = v; return;
    case LO_FLOAT16: ((uint16_t *)d)[i] = lo_float_to_half((float)v); return;
    case LO_BFLOAT16: ((uint16_t *)d)[i] = lo_float_to_bfloat16((float)v); return;
    case LO_BOOL: ((uint8_t *)d)[i] = v != 0; return;
    case LO_UINT64:
        if (v >= 9.2233720368547758e18 && v < 1.8446744073709552e19) {
            ((uint64_t *)d)[i] = (uint64_t)v;
            return;
        }
        store_i(d, t, i, f64_to_i64(v));
        return;
    default: store_i(d, t, i, f64_to_i64(v)); return;
    }
}

LO_EW_HELPER int thread_count(const lo_kernel_ctx *ctx) {
    return ctx->threads > 0 ? ctx->threads : omp_get_max_threads();
}

/* Below these sizes a parallel region costs more than it saves; the cheap
 * limit is twice the quiet-machine break-even, because on a busy machine a
 * region waits a whole time slice for a descheduled member. */
#define PARALLEL_MIN_CHEAP 131072
#define PARALLEL_MIN_COSTLY 8192

LO_EW_HELPER bool input_ok(const lo_kernel_ctx *ctx, int i) {
    return i < ctx->n_in && ctx->in[i] && ctx->in[i]->kind == LO_KIND_TENSOR;
}

LO_EW_HELPER bool output_wanted(const lo_kernel_ctx *ctx) { return ctx->n_out > 0 && ctx->out[0]; }

/* ---- broadcast iteration -------------------------------------------------- */

enum { MAX_OPERANDS = 3 };

typedef struct ew_loop {
    int rank;
    int64_t dims[LO_MAX_RANK];
    int64_t total;
    int n_in;
    const void *in[MAX_OPERANDS];
    lo_dtype in_dtype[MAX_OPERANDS];
    int64_t stride[MAX_OPERANDS][LO_MAX_RANK];
    void *out;
    lo_dtype out_dtype;
    const ew_params *p;
    ew_op op;
    void (*f32_unary)(const float *xs, float *ys, int64_t n, const struct ew_params *p);
    int failed; /* set (racily, only ever to 1) when a string copy fails */
} ew_loop;

/* The element at output index o from operand offsets a, b, c. */
typedef void (*elem_fn)(ew_loop *L, int64_t o, int64_t a, int64_t b, int64_t c);
/* n elements of the innermost axis: output o.., operands from off[k] with
 * the innermost strides. */
typedef void (*row_fn)(ew_loop *L, int64_t o, const int64_t *off, int64_t n);

LO_EW_HELPER void loop_init(ew_loop *L, int n_in, const lo_tensor *const *ins, int rank, const int64_t *dims,
                      lo_tensor *out, const ew_params *p, ew_op op) {
    memset(L, 0, sizeof *L);
    L->rank = rank;
    L->total = 1;
    for (int d = 0; d < rank; d++) {
        L->dims[d] = dims[d];
        L->total *= dims[d];
    }
    L->n_in = n_in;
    for (int k = 0; k < n_in; k++) {
        L->in[k] = ins[k]->data;
        L->in_dtype[k] = ins[k]->dtype;
        lo_broadcast_strides(ins[k], rank, dims, L->stride[k]);
    }
    L->out = out->data;
    L->out_dtype = out->dtype;
    L->p = p;
    L->op = op;
}

/* Drops unit axes and merges neighbours that every operand walks
 * contiguously (or not at all), so rows are as long as possible. */
LO_EW_HELPER void loop_collapse(ew_loop *L) {
    int r = 0;
    int64_t dims[LO_MAX_RANK], st[MAX_OPERANDS][LO_MAX_RANK];
    memset(st, 0, sizeof st); /* absent operands keep stride 0 */
    for (int d = 0; d < L->rank; d++) {
        if (L->dims[d] == 1) continue;
        bool merge = r > 0;
        for (int k = 0; k < L->n_in && merge; k++)
            if (st[k][r - 1] != L->stride[k][d] * L->dims[d]) merge = false;
        if (merge) {
            dims[r - 1] *= L->dims[d];
            for (int k = 0; k < L->n_in; k++) st[k][r - 1] = L->stride[k][d];
        } else {
            dims[r] = L->dims[d];
            for (int k = 0; k < L->n_in; k++) st[k][r] = L->stride[k][d];
            r++;
        }
    }
    if (r == 0) {
        dims[0] = 1;
        for (int k = 0; k < L->n_in; k++) st[k][0] = 0;
        r = 1;
    }
    L->rank = r;
    memcpy(L->dims, dims, sizeof dims);
    memcpy(L->stride, st, sizeof st);
}

LO_EW_HELPER void loop_range(ew_loop *L, row_fn fn, int64_t begin, int64_t end) {
    int r = L->rank;
    int64_t idx[LO_MAX_RANK], off[MAX_OPERANDS] = {0, 0, 0}, rest = begin;
    for (int d = r - 1; d >= 0; d--) {
        idx[d] = rest % L->dims[d];
        rest /= L->dims[d];
        for (int k = 0; k < L->n_in; k++) off[k] += idx[d] * L->stride[k][d];
    }
    int64_t pos = begin;
    while (pos < end) {
        int64_t n = L->dims[r - 1] - idx[r - 1];
        if (n > end - pos) n = end - pos;
        fn(L, pos, off, n);
        pos += n;
        idx[r - 1] += n;
        for (int k = 0; k < L->n_in; k++) off[k] += n * L->stride[k][r - 1];
        for (int d = r - 1; d > 0 && idx[d] == L->dims[d]; d--) {
            idx[d] = 0;
            idx[d - 1]++;
            for (int k = 0; k < L->n_in; k++)
                off[k] += L->stride[k][d - 1] - L->dims[d] * L->stride[k][d];
        }
    }
}

LO_EW_HELPER void loop_run(ew_loop *L, row_fn fn, int threads, int64_t min_parallel) {
    if (L->total == 0) return;
    bool parallel = threads > 1 && L->total >= min_parallel;
#pragma omp parallel num_threads(threads) if (parallel)
    {
        int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
        /* Boundaries on 16-element multiples keep threads off each other's
         * cache lines. */
        int64_t b = (L->total * t / nt) & ~(int64_t)15;
        int64_t e = t == nt - 1 ? L->total : (L->total * (t + 1) / nt) & ~(int64_t)15;
        if (e > b) loop_range(L, fn, b, e);
    }
}

/* The reference walk: every output index in order, offsets recomputed from
 * scratch with the uncollapsed strides. */
LO_EW_HELPER void loop_reference(ew_loop *L, elem_fn fn) {
    for (int64_t i = 0; i < L->total; i++) {
        int64_t rest = i, off[MAX_OPERANDS] = {0, 0, 0};
        for (int d = L->rank - 1; d >= 0; d--) {
            int64_t id = rest % L->dims[d];
            rest /= L->dims[d];
            for (int k = 0; k < L->n_in; k++) off[k] += id * L->stride[k][d];
        }
        fn(L, i, off[0], off[1], off[2]);
    }
}

/* Generic rows call the element function, so they compute exactly what the
 * reference does; only the iteration differs. Strides of absent operands
 * are 0 (loop_init clears them). */
#define GENERIC_ROW(name, elem)                                                                  \
    static void name(ew_loop *L, int64_t o, const int64_t *off, int64_t n) {                     \
        int64_t s0 = L->stride[0][L->rank - 1], s1 = L->stride[1][L->rank - 1];                  \
        int64_t s2 = L->stride[2][L->rank - 1];                                                  \
        for (int64_t i = 0; i < n; i++)                                                          \
            elem(L, o + i, off[0] + i * s0, off[1] + i * s1, off[2] + i * s2);                   \
    }

/* Reads the node's attributes into ew_params for op (prepare of every
 * elementwise op and of Cast/CastLike). */
lo_status lo_ew_prepare(const lo_node *node, void **out, lo_error *err, ew_op op);
/* Cast's "to" and "round_mode" attributes (tensor/cast.c). */
lo_status lo_cast_prepare_target(const lo_node *node, ew_params *p, lo_error *err);
lo_status lo_cast_prepare_round_mode(const lo_node *node, ew_params *p, lo_error *err);

#endif
