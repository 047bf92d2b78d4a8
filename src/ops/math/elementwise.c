/* Elementwise kernels: unary math and activations, binary and variadic ops
 * with broadcasting, Where, Clip, Cast and CastLike.
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
#include <float.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <tgmath.h>

#include "../ops.h"

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

static inline double sigmoid_f64(double x) {
    return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x));
}

/* e^x in float32 without a libm call, so loops over it vectorize: Cody-Waite
 * reduction by ln 2 and a degree-6 polynomial on [-ln2/2, ln2/2] (Cephes'
 * coefficients), within 2 ulp. NaN and out-of-range inputs are resolved by
 * selects, keeping the float-to-int conversion in range. */
static inline float exp_fast_f32(float x) {
    float xc = x > -87.0f ? x : -87.0f;
    xc = xc < 88.0f ? xc : 88.0f;
    float k = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round to integer */
    float r = xc - k * 0.693359375f;
    r = r - k * -2.12194440e-4f;
    float poly = 1.9875691500e-4f;
    poly = poly * r + 1.3981999507e-3f;
    poly = poly * r + 8.3334519073e-3f;
    poly = poly * r + 4.1665795894e-2f;
    poly = poly * r + 1.6666665459e-1f;
    poly = poly * r + 5.0000001201e-1f;
    float y = poly * r * r + r + 1.0f;
    union {
        uint32_t u;
        float f;
    } scale = {(uint32_t)((int32_t)k + 127) << 23};
    float v = y * scale.f;
    v = x < -87.0f ? 0.0f : v;
    v = x > 88.0f ? INFINITY : v;
    return x != x ? x : v;
}

static inline float sigmoid_fast_f32(float x) {
    float e = exp_fast_f32(-fabs(x)); /* in (0, 1]: no overflow on either side */
    float s = 1.0f / (1.0f + e);
    return x >= 0 ? s : x != x ? x : e * s;
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
    X(ERF, erf(x))                                                                           \
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
    X(GELU, (T)0.5 * x * ((T)1 + erf(x * (T)0.70710678118654752440)))                       \
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
static dclass class_of(lo_dtype t) {
    switch (t) {
    case LO_FLOAT: case LO_DOUBLE: case LO_FLOAT16: case LO_BFLOAT16: return CLASS_FLOAT;
    case LO_INT8: case LO_INT16: case LO_INT32: case LO_INT64: case LO_INT4: return CLASS_SIGNED;
    case LO_UINT8: case LO_UINT16: case LO_UINT32: case LO_UINT64: case LO_UINT4: return CLASS_UNSIGNED;
    case LO_BOOL: return CLASS_BOOL;
    case LO_STRING: return CLASS_STRING;
    default: return CLASS_OTHER;
    }
}

static bool is_numeric(lo_dtype t) {
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

static int thread_count(const lo_kernel_ctx *ctx) {
    return ctx->threads > 0 ? ctx->threads : omp_get_max_threads();
}

/* Below these sizes a parallel region costs more than it saves. */
#define PARALLEL_MIN_CHEAP 65536
#define PARALLEL_MIN_COSTLY 8192

static bool input_ok(const lo_kernel_ctx *ctx, int i) {
    return i < ctx->n_in && ctx->in[i] && ctx->in[i]->kind == LO_KIND_TENSOR;
}

static bool output_wanted(const lo_kernel_ctx *ctx) { return ctx->n_out > 0 && ctx->out[0]; }

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

static void loop_init(ew_loop *L, int n_in, const lo_tensor *const *ins, int rank, const int64_t *dims,
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
static void loop_collapse(ew_loop *L) {
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

static void loop_range(ew_loop *L, row_fn fn, int64_t begin, int64_t end) {
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

static void loop_run(ew_loop *L, row_fn fn, int threads, int64_t min_parallel) {
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
static void loop_reference(ew_loop *L, elem_fn fn) {
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
 * (scalar or per-channel after collapsing), or anything else strided. */
#define F32_BINARY_ROW(name, OUT_T, EXPR)                                                        \
    static void name(ew_loop *L, int64_t o, const int64_t *off, int64_t n) {                     \
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

/* Compiled for AVX-512, AVX2 and baseline; the loader picks one at start-up. */
#define VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

#define T float
#define X(name, expr)                                                                            \
    VECTOR_CLONES static void row32_##name(const float *xs, float *ys, int64_t n, const ew_params *p) {        \
        _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {                                    \
            float x = xs[i];                                                                     \
            ys[i] = (expr);                                                                      \
        }                                                                                        \
    }
FLOAT_UNARY_OPS(X)
#undef X
#undef T

typedef void (*row32_fn)(const float *xs, float *ys, int64_t n, const ew_params *p);

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

/* ---- Where ------------------------------------------------------------------ */

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

/* ---- Cast ------------------------------------------------------------------- */

/* Small float formats, described by their fields. IEEE formats have
 * infinities and a NaN per exponent-all-ones; "fn" formats use the all-ones
 * exponent for numbers except the one all-ones NaN pattern; "uz" formats
 * have no negative zero, their 0x80 is the only NaN. */
typedef struct minifloat {
    int exp_bits, man_bits, bias;
    bool ieee, fn, uz, no_nan;
} minifloat;

static const minifloat FMT_F16 = {5, 10, 15, true, false, false, false};
static const minifloat FMT_BF16 = {8, 7, 127, true, false, false, false};
static const minifloat FMT_E4M3FN = {4, 3, 7, false, true, false, false};
static const minifloat FMT_E4M3FNUZ = {4, 3, 8, false, false, true, false};
static const minifloat FMT_E5M2 = {5, 2, 15, true, false, false, false};
static const minifloat FMT_E5M2FNUZ = {5, 2, 16, false, false, true, false};
static const minifloat FMT_E2M1 = {2, 1, 1, false, false, false, true};
static const minifloat FMT_E2M3 = {2, 3, 1, false, false, false, true};
static const minifloat FMT_E3M2 = {3, 2, 3, false, false, false, true};

static const minifloat *minifloat_of(lo_dtype t) {
    switch (t) {
    case LO_FLOAT16: return &FMT_F16;
    case LO_BFLOAT16: return &FMT_BF16;
    case LO_FLOAT8E4M3FN: return &FMT_E4M3FN;
    case LO_FLOAT8E4M3FNUZ: return &FMT_E4M3FNUZ;
    case LO_FLOAT8E5M2: return &FMT_E5M2;
    case LO_FLOAT8E5M2FNUZ: return &FMT_E5M2FNUZ;
    case LO_FLOAT4E2M1: return &FMT_E2M1;
    case LO_FLOAT6E2M3: return &FMT_E2M3;
    case LO_FLOAT6E3M2: return &FMT_E3M2;
    default: return NULL;
    }
}

static double minifloat_max(const minifloat *f) {
    int top = (1 << f->exp_bits) - 1 - (f->ieee ? 1 : 0);
    double man = f->fn ? 2.0 - 2.0 / (1 << f->man_bits) : 2.0 - 1.0 / (1 << f->man_bits);
    return ldexp(man, top - f->bias);
}

static double minifloat_decode(uint32_t bits, const minifloat *f) {
    uint32_t sign = (bits >> (f->exp_bits + f->man_bits)) & 1;
    uint32_t exp = (bits >> f->man_bits) & ((1u << f->exp_bits) - 1);
    uint32_t man = bits & ((1u << f->man_bits) - 1);
    uint32_t exp_ones = (1u << f->exp_bits) - 1, man_ones = (1u << f->man_bits) - 1;
    if (f->uz && sign && exp == 0 && man == 0) return NAN;
    if (f->ieee && exp == exp_ones) return man ? NAN : sign ? -INFINITY : INFINITY;
    if (f->fn && exp == exp_ones && man == man_ones) return sign ? -NAN : NAN;
    int emin = 1 - f->bias;
    double v = exp == 0 ? ldexp((double)man, emin - f->man_bits)
                        : ldexp((double)((1u << f->man_bits) + man), (int)exp - f->bias - f->man_bits);
    return sign ? -v : v;
}

/* Rounds to nearest even in one step from double, so there is no double
 * rounding through float; out-of-range values follow Cast's saturate
 * tables (IEEE 16-bit formats always overflow to infinity). */
static uint32_t minifloat_encode(double v, const minifloat *f, bool saturate) {
    uint32_t sign_bit = 1u << (f->exp_bits + f->man_bits);
    uint32_t exp_ones = (1u << f->exp_bits) - 1;
    uint32_t sign = signbit(v) ? sign_bit : 0;
    uint32_t nan_bits = f->uz ? sign_bit
                        : f->ieee ? (exp_ones << f->man_bits) | (1u << (f->man_bits - 1))
                                  : sign_bit - 1;
    if (f->ieee && f != &FMT_E5M2) saturate = false;
    if (v != v) return f->no_nan ? sign_bit : (f->uz ? nan_bits : sign | nan_bits);
    double a = fabs(v), max = minifloat_max(f);
    uint32_t max_bits = f->ieee ? ((exp_ones - 1) << f->man_bits) | ((1u << f->man_bits) - 1)
                        : f->fn ? (exp_ones << f->man_bits) | ((1u << f->man_bits) - 2)
                                : (exp_ones << f->man_bits) | ((1u << f->man_bits) - 1);
    uint32_t over = f->no_nan || saturate ? sign | max_bits
                    : f->ieee             ? sign | (exp_ones << f->man_bits)
                    : f->uz               ? nan_bits
                                          : sign | nan_bits;
    if (isinf(a)) return over;
    int emin = 1 - f->bias, e;
    frexp(a, &e); /* a = m * 2^e, m in [0.5, 1) */
    int quantum_exp = (a < ldexp(1.0, emin) ? emin : e - 1) - f->man_bits;
    double r = nearbyint(ldexp(a, -quantum_exp));
    double rv = ldexp(r, quantum_exp);
    if (rv > max) return over;
    if (rv == 0) return f->uz ? 0 : sign;
    if (rv < ldexp(1.0, emin)) return sign | (uint32_t)r;
    frexp(rv, &e);
    int E = e - 1;
    uint32_t man = (uint32_t)ldexp(rv, f->man_bits - E) - (1u << f->man_bits);
    return sign | ((uint32_t)(E + f->bias) << f->man_bits) | man;
}

/* float8e8m0 is a bare biased exponent, 2^(code-127), with 0xff the NaN: no
 * sign, no zero, no mantissa. Casting to it rounds the float32 value to a
 * power of two as Cast's round_mode says. */
typedef enum { E8M0_UP, E8M0_DOWN, E8M0_NEAREST } e8m0_rounding;

static double e8m0_decode(uint8_t code) { return code == 0xff ? NAN : ldexp(1.0, (int)code - 127); }

/* Works on float32's bits as ONNX's reference does, so float32 subnormals
 * (exponent field 0) land on the codes exactly as the conformance data
 * has them; the sign is ignored (negative inputs are undefined). */
static uint8_t e8m0_encode(float x, e8m0_rounding mode, bool saturate) {
    uint32_t bits;
    memcpy(&bits, &x, 4);
    uint32_t exp = (bits >> 23) & 0xff, frac = bits & 0x7fffff;
    if (exp == 0xff) return 0xff; /* inf has no code of its own: NaN either way */
    bool up;
    switch (mode) {
    case E8M0_UP: up = frac != 0; break;
    case E8M0_DOWN: up = false; break;
    default:
        /* mantissa >= 1.5 goes up, ties included; on a subnormal the lone
         * top bit is the code's own value, not a tie, and stays */
        up = (frac & 0x400000) && ((frac & 0x3fffff) || exp > 0);
        break;
    }
    if (up && exp == 0xfe) return saturate ? 0xfe : 0xff;
    return (uint8_t)(exp + (up ? 1 : 0));
}

/* A value on its way through Cast: floats as double (float32 also kept
 * exactly for the float targets), integers as int64 with a flag for
 * uint64 values beyond INT64_MAX. */
typedef struct cast_value {
    bool is_float;
    bool is_unsigned;
    double f;
    int64_t i;
    float f32;
    bool have_f32;
} cast_value;

static cast_value cast_read(const void *d, lo_dtype t, int64_t i) {
    cast_value v = {0};
    const minifloat *mf;
    switch (t) {
    case LO_FLOAT:
        v.is_float = v.have_f32 = true;
        v.f32 = ((const float *)d)[i];
        v.f = v.f32;
        return v;
    case LO_DOUBLE: v.is_float = true; v.f = ((const double *)d)[i]; return v;
    case LO_FLOAT16: v.is_float = true; v.f = lo_half_to_float(((const uint16_t *)d)[i]); return v;
    case LO_BFLOAT16: v.is_float = true; v.f = lo_bfloat16_to_float(((const uint16_t *)d)[i]); return v;
    default: break;
    }
    if ((mf = minifloat_of(t))) {
        v.is_float = true;
        v.f = minifloat_decode(((const uint8_t *)d)[i] & 0xff, mf);
        return v;
    }
    if (t == LO_FLOAT8E8M0) {
        v.is_float = true;
        v.f = e8m0_decode(((const uint8_t *)d)[i]);
        return v;
    }
    v.i = load_i(d, t, i);
    v.is_unsigned = t == LO_UINT64;
    return v;
}

static double cast_as_double(const cast_value *v) {
    if (v->is_float) return v->f;
    return v->is_unsigned ? (double)(uint64_t)v->i : (double)v->i;
}

typedef struct cast_mode {
    bool saturate;
    e8m0_rounding e8m0_round;
} cast_mode;

static void cast_write(void *d, lo_dtype t, int64_t i, const cast_value *v, const cast_mode *mode) {
    switch (t) {
    case LO_FLOAT:
        ((float *)d)[i] = v->have_f32      ? v->f32
                          : v->is_float    ? (float)v->f
                          : v->is_unsigned ? (float)(uint64_t)v->i
                                           : (float)v->i;
        return;
    case LO_DOUBLE: ((double *)d)[i] = cast_as_double(v); return;
    case LO_FLOAT16:
        ((uint16_t *)d)[i] = v->have_f32 ? lo_float_to_half(v->f32)
                                         : (uint16_t)minifloat_encode(cast_as_double(v), &FMT_F16, false);
        return;
    case LO_BFLOAT16:
        ((uint16_t *)d)[i] = v->have_f32 ? lo_float_to_bfloat16(v->f32)
                                         : (uint16_t)minifloat_encode(cast_as_double(v), &FMT_BF16, false);
        return;
    case LO_BOOL: ((uint8_t *)d)[i] = v->is_float ? v->f != 0 : v->i != 0; return;
    case LO_FLOAT8E8M0: {
        /* the rounding is defined on float32, so other inputs get there first */
        float x = v->have_f32 ? v->f32 : (float)cast_as_double(v);
        ((uint8_t *)d)[i] = e8m0_encode(x, mode->e8m0_round, mode->saturate);
        return;
    }
    default: break;
    }
    const minifloat *mf = minifloat_of(t);
    if (mf) {
        ((uint8_t *)d)[i] = (uint8_t)minifloat_encode(cast_as_double(v), mf, mode->saturate);
        return;
    }
    if (!v->is_float) {
        store_i(d, t, i, v->i);
        return;
    }
    store_f(d, t, i, v->f);
}

/* Shortest decimal that reads back as the same value, laid out like
 * numpy's str(): positional for 1e-4 <= |x| < 1e16, else d.ddde+XX. */
static void format_float(double x, lo_dtype t, char *buf, size_t size) {
    if (x != x) {
        snprintf(buf, size, "nan");
        return;
    }
    if (isinf(x)) {
        snprintf(buf, size, x < 0 ? "-inf" : "inf");
        return;
    }
    char sci[40];
    int max_digits = t == LO_DOUBLE ? 17 : t == LO_FLOAT ? 9 : 5;
    for (int p = 1; p <= max_digits; p++) {
        snprintf(sci, sizeof sci, "%.*e", p - 1, x);
        double back = strtod(sci, NULL);
        bool same;
        switch (t) {
        case LO_DOUBLE: same = back == x; break;
        case LO_FLOAT: same = strtof(sci, NULL) == (float)x; break;
        case LO_FLOAT16: same = minifloat_encode(back, &FMT_F16, false) == minifloat_encode(x, &FMT_F16, false); break;
        case LO_BFLOAT16: same = minifloat_encode(back, &FMT_BF16, false) == minifloat_encode(x, &FMT_BF16, false); break;
        case LO_FLOAT8E8M0:
            same = e8m0_encode((float)back, E8M0_NEAREST, true) == e8m0_encode((float)x, E8M0_NEAREST, true);
            break;
        default: {
            const minifloat *mf = minifloat_of(t);
            same = mf ? minifloat_encode(back, mf, true) == minifloat_encode(x, mf, true) : back == x;
        }
        }
        if (same) break;
    }
    /* sci is "-d.ddde±XX": split into sign, digits and exponent. */
    char digits[40];
    int nd = 0, exp10 = 0;
    bool neg = sci[0] == '-';
    const char *s = sci + neg;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9') digits[nd++] = *s;
    if (*s == 'e') exp10 = atoi(s + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = 0;
    size_t len = 0;
#define PUT(c)                                                                                   \
    do {                                                                                         \
        if (len + 1 < size) buf[len++] = (c);                                                    \
    } while (0)
    if (neg) PUT('-');
    if (exp10 >= -4 && exp10 < 16) {
        if (exp10 < 0) {
            PUT('0');
            PUT('.');
            for (int k = 0; k < -exp10 - 1; k++) PUT('0');
            for (int k = 0; k < nd; k++) PUT(digits[k]);
        } else {
            for (int k = 0; k <= exp10; k++) PUT(k < nd ? digits[k] : '0');
            PUT('.');
            if (nd > exp10 + 1)
                for (int k = exp10 + 1; k < nd; k++) PUT(digits[k]);
            else
                PUT('0');
        }
        buf[len] = 0;
    } else {
        PUT(digits[0]);
        if (nd > 1) {
            PUT('.');
            for (int k = 1; k < nd; k++) PUT(digits[k]);
        }
        buf[len] = 0;
        snprintf(buf + len, size - len, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
    }
#undef PUT
}

static char *cast_to_string(const void *d, lo_dtype t, int64_t i) {
    char buf[64];
    if (t == LO_STRING) return lo_strdup(((char *const *)d)[i]);
    if (t == LO_BOOL) return lo_strdup(((const uint8_t *)d)[i] ? "True" : "False");
    cast_value v = cast_read(d, t, i);
    if (v.is_float) format_float(v.f, t, buf, sizeof buf);
    else if (v.is_unsigned) snprintf(buf, sizeof buf, "%llu", (unsigned long long)(uint64_t)v.i);
    else snprintf(buf, sizeof buf, "%lld", (long long)v.i);
    return lo_strdup(buf);
}

/* "+INF", "INF", "-INF" and "NaN" in any case are what strtod takes too. */
static cast_value parse_string(const char *s, lo_dtype target) {
    cast_value v = {0};
    if (!s) s = "";
    while (*s == ' ' || *s == '\t') s++;
    if (target == LO_FLOAT) {
        v.is_float = v.have_f32 = true;
        v.f32 = strtof(s, NULL);
        v.f = v.f32;
        return v;
    }
    if (class_of(target) == CLASS_SIGNED || class_of(target) == CLASS_UNSIGNED || target == LO_BOOL) {
        char *end;
        if (target == LO_UINT64 && *s != '-') {
            v.i = (int64_t)strtoull(s, &end, 10);
            v.is_unsigned = true;
        } else {
            v.i = strtoll(s, &end, 10);
        }
        if (end != s && (*end == 0 || *end == ' ')) return v;
    }
    v.is_float = true;
    v.is_unsigned = false;
    v.f = strtod(s, NULL);
    return v;
}

static bool cast_target_ok(lo_dtype t) {
    return t == LO_STRING || t == LO_BOOL || class_of(t) == CLASS_FLOAT || class_of(t) == CLASS_SIGNED ||
           class_of(t) == CLASS_UNSIGNED || minifloat_of(t) != NULL || t == LO_FLOAT8E8M0 || t == LO_INT2 ||
           t == LO_UINT2;
}

static lo_status cast_compute(lo_kernel_ctx *ctx, lo_dtype to, const cast_mode *mode) {
    const lo_tensor *x = ctx->in[0];
    lo_dtype from = x->dtype;
    if (!cast_target_ok(from))
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "casting from %s is not supported", lo_dtype_name(from));
    if (!cast_target_ok(to))
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "casting to %s is not supported", lo_dtype_name(to));
    if (!output_wanted(ctx)) return LO_OK;
    LO_TRY(lo_output(ctx, 0, to, x->rank, x->dims));
    void *out = ctx->out[0]->data;
    int64_t n = lo_numel(x);
    if (to == LO_STRING) {
        for (int64_t i = 0; i < n; i++)
            if (!(((char **)out)[i] = cast_to_string(x->data, from, i)))
                return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory making strings");
        return LO_OK;
    }
    if (from == LO_STRING) {
        for (int64_t i = 0; i < n; i++) {
            cast_value v = parse_string(((char *const *)x->data)[i], to);
            cast_write(out, to, i, &v, mode);
        }
        return LO_OK;
    }
    if (from == to) {
        memcpy(out, x->data, x->nbytes);
        return LO_OK;
    }
    int threads = thread_count(ctx);
#pragma omp parallel for num_threads(threads) if (threads > 1 && n > PARALLEL_MIN_COSTLY)
    for (int64_t i = 0; i < n; i++) {
        cast_value v = cast_read(x->data, from, i);
        cast_write(out, to, i, &v, mode);
    }
    return LO_OK;
}

static lo_status run_cast(lo_kernel_ctx *ctx) {
    LO_CHECK(ctx, input_ok(ctx, 0), "input is missing or not a tensor");
    const ew_params *p = ctx->params;
    cast_mode mode = {p->saturate, (e8m0_rounding)p->e8m0_round};
    return cast_compute(ctx, p->to, &mode);
}

static lo_status run_castlike(lo_kernel_ctx *ctx) {
    LO_CHECK(ctx, input_ok(ctx, 0) && input_ok(ctx, 1), "needs two tensor inputs");
    const ew_params *p = ctx->params;
    cast_mode mode = {p->saturate, (e8m0_rounding)p->e8m0_round};
    return cast_compute(ctx, ctx->in[1]->dtype, &mode);
}

/* ---- prepare ---------------------------------------------------------------- */

static const struct {
    const char *name;
    lo_dtype type;
} cast1_names[] = {
    {"FLOAT", LO_FLOAT},   {"UINT8", LO_UINT8},     {"INT8", LO_INT8},     {"UINT16", LO_UINT16},
    {"INT16", LO_INT16},   {"INT32", LO_INT32},     {"INT64", LO_INT64},   {"STRING", LO_STRING},
    {"BOOL", LO_BOOL},     {"FLOAT16", LO_FLOAT16}, {"DOUBLE", LO_DOUBLE}, {"UINT32", LO_UINT32},
    {"UINT64", LO_UINT64}, {"BFLOAT16", LO_BFLOAT16},
};

static lo_status prepare_cast_target(const lo_node *node, ew_params *p, lo_error *err) {
    const lo_attr *to = lo_attr_find(node, "to");
    if (!to) return lo_fail(err, LO_ERR_MODEL, "node '%s' (%s): attribute 'to' is missing", node->name, node->op_type);
    if (to->type == LO_ATTR_STRING) {
        for (size_t k = 0; k < sizeof cast1_names / sizeof cast1_names[0]; k++)
            if (strcasecmp(to->s, cast1_names[k].name) == 0) {
                p->to = cast1_names[k].type;
                return LO_OK;
            }
        return lo_fail(err, LO_ERR_UNSUPPORTED, "node '%s' (%s): unknown type name '%s'", node->name,
                       node->op_type, to->s);
    }
    int64_t t = to->i;
    if (t < 0 || t > LO_FLOAT6E3M2 || !cast_target_ok((lo_dtype)t))
        return lo_fail(err, LO_ERR_UNSUPPORTED, "node '%s' (%s): casting to type %lld is not supported",
                       node->name, node->op_type, (long long)t);
    p->to = (lo_dtype)t;
    return LO_OK;
}

/* Absent before opset 24, where casting to float8e8m0 does not exist. */
static lo_status prepare_round_mode(const lo_node *node, ew_params *p, lo_error *err) {
    const char *m = lo_attr_string(node, "round_mode", "up");
    if (strcmp(m, "up") == 0) p->e8m0_round = E8M0_UP;
    else if (strcmp(m, "down") == 0) p->e8m0_round = E8M0_DOWN;
    else if (strcmp(m, "nearest") == 0) p->e8m0_round = E8M0_NEAREST;
    else
        return lo_fail(err, LO_ERR_MODEL, "node '%s' (%s): round_mode must be up, down or nearest, not '%s'",
                       node->name, node->op_type, m);
    return LO_OK;
}

static lo_status ew_prepare(const lo_node *node, void **out, lo_error *err, ew_op op) {
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
        st = prepare_cast_target(node, p, err);
        if (st == LO_OK) st = prepare_round_mode(node, p, err);
        p->saturate = lo_attr_int(node, "saturate", 1) != 0;
        break;
    case OP_CASTLIKE:
        st = prepare_round_mode(node, p, err);
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
        return ew_prepare(node, params, err, op);                                                \
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
PREP(WHERE, OP_WHERE)
PREP(CAST, OP_CAST)
PREP(CASTLIKE, OP_CASTLIKE)

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
    {"", "Where", 9, LO_OPSET_MAX, prep_WHERE, run_where, NULL, LO_OP_FAST},
    {"", "Clip", 1, LO_OPSET_MAX, prep_CLIP, run_clip, NULL, LO_OP_FAST},
    {"", "Cast", 1, LO_OPSET_MAX, prep_CAST, run_cast, NULL, 0},
    {"", "CastLike", 15, LO_OPSET_MAX, prep_CASTLIKE, run_castlike, NULL, 0},
    {0},
};
