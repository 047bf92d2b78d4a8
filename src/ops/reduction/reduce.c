/* Reductions: the Reduce* family, ArgMax/ArgMin and TopK.
 *
 * The reference reduction walks, for each output element, the reduced index
 * space with double (or int64 for integer sums, products and extrema)
 * accumulation. float32 reductions over one contiguous block of axes (the
 * ReduceMean over H,W or over the last axis of real models) have a
 * contiguous path beside it. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../ops.h"


#define PAR_WORK (1 << 15)

typedef enum reduce_kind {
    RED_SUM, RED_MEAN, RED_MAX, RED_MIN, RED_PROD, RED_L1, RED_L2, RED_LOG_SUM, RED_LOG_SUM_EXP,
    RED_SUM_SQUARE
} reduce_kind;

typedef struct reduce_params {
    reduce_kind kind;
    bool keepdims, noop_with_empty_axes;
    bool axes_from_input;
    int n_axes;
    int64_t axes[LO_MAX_RANK];
} reduce_params;

static lo_status reduce_prepare_kind(const lo_node *node, void **params, lo_error *err, reduce_kind kind,
                                     int input_since) {
    reduce_params *p = lo_calloc(1, sizeof *p, err);
    if (!p) return LO_ERR_NOMEM;
    p->kind = kind;
    p->keepdims = lo_attr_int(node, "keepdims", 1) != 0;
    p->noop_with_empty_axes = lo_attr_int(node, "noop_with_empty_axes", 0) != 0;
    p->axes_from_input = node->opset >= input_since;
    if (!p->axes_from_input) {
        int64_t n = 0;
        const int64_t *axes = lo_attr_ints(node, "axes", &n);
        if (n > LO_MAX_RANK) {
            free(p);
            return lo_fail(err, LO_ERR_MODEL, "node '%s' (%s): %lld axes", node->name, node->op_type, (long long)n);
        }
        p->n_axes = (int)n;
        if (n) memcpy(p->axes, axes, (size_t)n * sizeof *axes);
    }
    *params = p;
    return LO_OK;
}

#define REDUCE_PREPARE(fn, kind, since)                                            \
    static lo_status fn(const lo_node *node, void **params, lo_error *err) {      \
        return reduce_prepare_kind(node, params, err, kind, since);               \
    }
REDUCE_PREPARE(reduce_sum_prepare, RED_SUM, 13)
REDUCE_PREPARE(reduce_mean_prepare, RED_MEAN, 18)
REDUCE_PREPARE(reduce_max_prepare, RED_MAX, 18)
REDUCE_PREPARE(reduce_min_prepare, RED_MIN, 18)
REDUCE_PREPARE(reduce_prod_prepare, RED_PROD, 18)
REDUCE_PREPARE(reduce_l1_prepare, RED_L1, 18)
REDUCE_PREPARE(reduce_l2_prepare, RED_L2, 18)
REDUCE_PREPARE(reduce_log_sum_prepare, RED_LOG_SUM, 18)
REDUCE_PREPARE(reduce_log_sum_exp_prepare, RED_LOG_SUM_EXP, 18)
REDUCE_PREPARE(reduce_sum_square_prepare, RED_SUM_SQUARE, 18)

/* Kept and reduced index spaces of one reduction. */
typedef struct reduce_shape {
    int n_keep, n_red;
    int64_t keep_dims[LO_MAX_RANK], keep_str[LO_MAX_RANK];
    int64_t red_dims[LO_MAX_RANK], red_str[LO_MAX_RANK];
    int64_t keep_count, red_count;
    /* the reduced axes as one block [outer, red_count, inner], if they are */
    bool contiguous;
    int64_t outer, inner;
} reduce_shape;

static int64_t space_offset(int64_t j, int rank, const int64_t *dims, const int64_t *strides) {
    int64_t idx = 0;
    for (int d = rank - 1; d >= 0; d--) {
        idx += (j % dims[d]) * strides[d];
        j /= dims[d];
    }
    return idx;
}

static void reduce_shape_make(const lo_tensor *x, const bool *reduced, reduce_shape *s) {
    int64_t strides[LO_MAX_RANK], st = 1;
    for (int d = x->rank - 1; d >= 0; d--) {
        strides[d] = st;
        st *= x->dims[d];
    }
    s->n_keep = s->n_red = 0;
    int first = -1, last = -1;
    for (int d = 0; d < x->rank; d++) {
        if (reduced[d]) {
            s->red_dims[s->n_red] = x->dims[d];
            s->red_str[s->n_red++] = strides[d];
            if (first < 0) first = d;
            last = d;
        } else {
            s->keep_dims[s->n_keep] = x->dims[d];
            s->keep_str[s->n_keep++] = strides[d];
        }
    }
    s->keep_count = lo_numel_dims(s->n_keep, s->keep_dims);
    s->red_count = lo_numel_dims(s->n_red, s->red_dims);
    s->contiguous = first >= 0 && last - first + 1 == s->n_red;
    if (s->contiguous) {
        s->outer = lo_numel_dims(first, x->dims);
        s->inner = lo_numel_dims(x->rank - last - 1, x->dims + last + 1);
    }
}

static double reduce_identity(reduce_kind k) {
    switch (k) {
    case RED_MAX: return -INFINITY;
    case RED_MIN: return INFINITY;
    case RED_PROD: return 1;
    default: return 0;
    }
}

static double reduce_finish(reduce_kind k, double acc, int64_t n) {
    switch (k) {
    case RED_MEAN: return n ? acc / (double)n : NAN;
    case RED_L2: return sqrt(acc);
    case RED_LOG_SUM: return log(acc);
    default: return acc;
    }
}

static inline double reduce_step(reduce_kind k, double acc, double v) {
    switch (k) {
    case RED_MAX: return v > acc || isnan(v) ? v : acc;
    case RED_MIN: return v < acc || isnan(v) ? v : acc;
    case RED_PROD: return acc * v;
    case RED_L1: return acc + fabs(v);
    case RED_L2: case RED_SUM_SQUARE: return acc + v * v;
    default: return acc + v;
    }
}

static void reduce_ref(reduce_kind k, const lo_tensor *x, lo_tensor *y, const reduce_shape *s) {
    bool int_exact = lo_dtype_is_int(x->dtype) || x->dtype == LO_BOOL;
    int_exact = int_exact && (k == RED_SUM || k == RED_PROD || k == RED_MAX || k == RED_MIN || k == RED_L1 ||
                              k == RED_SUM_SQUARE);
#pragma omp parallel for if (s->keep_count * s->red_count > PAR_WORK)
    for (int64_t o = 0; o < s->keep_count; o++) {
        int64_t base = space_offset(o, s->n_keep, s->keep_dims, s->keep_str);
        if (int_exact) {
            uint64_t acc = k == RED_PROD ? 1 : 0;
            int64_t ext = 0;
            for (int64_t r = 0; r < s->red_count; r++) {
                int64_t v = lo_get_i64(x, base + space_offset(r, s->n_red, s->red_dims, s->red_str));
                if (k == RED_MAX) ext = r == 0 || v > ext ? v : ext;
                else if (k == RED_MIN) ext = r == 0 || v < ext ? v : ext;
                else if (k == RED_PROD) acc *= (uint64_t)v;
                else if (k == RED_L1) acc += (uint64_t)(v < 0 ? -v : v);
                else if (k == RED_SUM_SQUARE) acc += (uint64_t)v * (uint64_t)v;
                else acc += (uint64_t)v;
            }
            lo_set_i64(y, o, k == RED_MAX || k == RED_MIN ? ext : (int64_t)acc);
            continue;
        }
        double acc;
        if (k == RED_LOG_SUM_EXP) {
            double mx = -INFINITY;
            for (int64_t r = 0; r < s->red_count; r++) {
                double v = lo_get_f64(x, base + space_offset(r, s->n_red, s->red_dims, s->red_str));
                mx = v > mx ? v : mx;
            }
            double sum = 0;
            for (int64_t r = 0; r < s->red_count; r++)
                sum += exp(lo_get_f64(x, base + space_offset(r, s->n_red, s->red_dims, s->red_str)) - mx);
            acc = isinf(mx) ? mx : mx + log(sum);
        } else {
            acc = reduce_identity(k);
            for (int64_t r = 0; r < s->red_count; r++)
                acc = reduce_step(k, acc, lo_get_f64(x, base + space_offset(r, s->n_red, s->red_dims, s->red_str)));
            acc = reduce_finish(k, acc, s->red_count);
        }
        lo_set_f64(y, o, acc);
    }
}

/* Sums of a float32 row in double, in SUM_LANES explicit lanes: element k
 * goes to lane k % SUM_LANES (the tail's too), the lanes are added in
 * order. The one-by-one loop is a chain of dependent double additions, 4
 * cycles an element (efficientnet_b0's 17 squeeze-excitation poolings, 3 M
 * elements a sample, took 1.2 ms on 1 thread, 0.3 ms in lanes). The order
 * is fixed, not the vector width's, so a row held in oneDNN's blocked layout
 * (sum16_f32) sums to the same bits, and every compiled version agrees; it
 * differs from the one-by-one sum by far less than float32's rounding. */
#define ROW_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#define SUM_LANES 16
/* name(x, n, m): the sum of TERM(x[k], m) over the row, in SUM_LANES lanes */
#define LANE_SUM(name, TERM)                                                                     \
    ROW_CLONES static double name(const float *x, int64_t n, float m) {                          \
        (void)m;                                                                                 \
        double lane[SUM_LANES] = {0};                                                            \
        int64_t body = n - n % SUM_LANES;                                                        \
        for (int64_t k = 0; k < body; k += SUM_LANES)                                            \
            _Pragma("omp simd") for (int j = 0; j < SUM_LANES; j++) lane[j] += TERM(x[k + j], m); \
        for (int64_t k = body; k < n; k++) lane[k - body] += TERM(x[k], m);                      \
        double sum = 0;                                                                          \
        for (int j = 0; j < SUM_LANES; j++) sum += lane[j];                                      \
        return sum;                                                                              \
    }
#define TERM_VALUE(v, m) (double)(v)
#define TERM_ABS(v, m) (double)fabsf(v)
#define TERM_SQUARE(v, m) ((double)(v) * (v))
#define TERM_DEVIATION(v, m) ((double)((v) - (m)) * (double)((v) - (m)))
LANE_SUM(sum_f32_lanes, TERM_VALUE)
LANE_SUM(sum_abs_f32_lanes, TERM_ABS)
LANE_SUM(sum_squares_f32_lanes, TERM_SQUARE)
LANE_SUM(sum_deviations_f32_lanes, TERM_DEVIATION)
static double sum_f32(const float *x, int64_t n) { return sum_f32_lanes(x, n, 0); }
static double sum_abs_f32(const float *x, int64_t n) { return sum_abs_f32_lanes(x, n, 0); }
static double sum_squares_f32(const float *x, int64_t n) { return sum_squares_f32_lanes(x, n, 0); }

/* sum_f32 of each of 16 channels held interleaved (nCx16c: position k of
 * channel l at x[k * 16 + l]), n positions: the same lanes, the same order,
 * so the same bits as sum_f32 over the channel's row in NCHW. */
ROW_CLONES static void sum16_f32(const float *x, int64_t n, double *out) {
    double lane[SUM_LANES][16] = {{0}};
    int64_t body = n - n % SUM_LANES;
    for (int64_t k = 0; k < body; k += SUM_LANES)
        for (int j = 0; j < SUM_LANES; j++)
#pragma omp simd
            for (int l = 0; l < 16; l++) lane[j][l] += x[(k + j) * 16 + l];
    for (int64_t k = body; k < n; k++)
#pragma omp simd
        for (int l = 0; l < 16; l++) lane[k - body][l] += x[k * 16 + l];
    for (int l = 0; l < 16; l++) {
        double sum = 0;
        for (int j = 0; j < SUM_LANES; j++) sum += lane[j][l];
        out[l] = sum;
    }
}

/* not cloned themselves: clang 14 leaves an extern function's clones
 * unresolved for callers in other files */
double lo_sum_f32(const float *x, int64_t n) { return sum_f32(x, n); }
void lo_sum16_f32(const float *x, int64_t n, double *out) { sum16_f32(x, n, out); }
double lo_sum_squares_f32(const float *x, int64_t n) { return sum_squares_f32(x, n); }
double lo_sum_deviations_f32(const float *x, int64_t n, float m) { return sum_deviations_f32_lanes(x, n, m); }


/* float32 over one contiguous block of axes. inner == 1 (the last axes) reads
 * rows; otherwise each output row of `inner` values accumulates plane by plane. */
static void reduce_block_f32(reduce_kind k, const float *x, float *y, int64_t outer, int64_t n, int64_t inner) {
    if (inner == 1) {
#pragma omp parallel for if (outer * n > PAR_WORK)
        for (int64_t o = 0; o < outer; o++) {
            const float *xr = x + o * n;
            double acc;
            if (k == RED_MAX || k == RED_MIN) {
                float e = n ? xr[0] : (k == RED_MAX ? -INFINITY : INFINITY);
                for (int64_t r = 1; r < n; r++) {
                    float v = xr[r];
                    if (k == RED_MAX ? (v > e || isnan(v)) : (v < e || isnan(v))) e = v;
                }
                acc = e;
            } else if (k == RED_L2 || k == RED_SUM_SQUARE) {
                acc = sum_squares_f32(xr, n);
            } else if (k == RED_L1) {
                acc = sum_abs_f32(xr, n);
            } else {
                acc = sum_f32(xr, n);
            }
            y[o] = (float)reduce_finish(k, acc, n);
        }
        return;
    }
#pragma omp parallel for if (outer * n * inner > PAR_WORK)
    for (int64_t o = 0; o < outer; o++) {
        float *yr = y + o * inner;
        const float *xb = x + o * n * inner;
        /* lanes are consecutive, so the planes a lane walks stay in cache
         * for the next lane */
        for (int64_t i = 0; i < inner; i++) {
            double acc = reduce_identity(k);
            for (int64_t r = 0; r < n; r++) acc = reduce_step(k, acc, xb[r * inner + i]);
            yr[i] = (float)reduce_finish(k, acc, n);
        }
    }
}

static lo_status reduce_run(lo_kernel_ctx *ctx) {
    const reduce_params *p = ctx->params;
    LO_CHECK(ctx, ctx->n_in >= 1 && ctx->in[0], "needs an input");
    const lo_tensor *x = ctx->in[0];
    if (!(lo_dtype_is_float(x->dtype) || lo_dtype_is_int(x->dtype) || x->dtype == LO_BOOL))
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "element type %s", lo_dtype_name(x->dtype));
    int64_t axes[LO_MAX_RANK];
    int n_axes = 0;
    if (p->axes_from_input) {
        const lo_tensor *a = ctx->n_in > 1 ? ctx->in[1] : NULL;
        if (a) {
            LO_CHECK(ctx, a->rank <= 1 && lo_dtype_is_int(a->dtype), "axes must be a 1-D integer tensor");
            LO_CHECK(ctx, lo_numel(a) <= LO_MAX_RANK, "too many axes");
            n_axes = (int)lo_numel(a);
            for (int k = 0; k < n_axes; k++) axes[k] = lo_get_i64(a, k);
        }
    } else {
        n_axes = p->n_axes;
        memcpy(axes, p->axes, sizeof axes);
    }
    bool reduced[LO_MAX_RANK] = {0};
    for (int k = 0; k < n_axes; k++) {
        int a;
        LO_CHECK(ctx, x->rank > 0 && lo_norm_axis(axes[k], x->rank, &a), "axis %lld is out of range for rank %d",
                 (long long)axes[k], x->rank);
        reduced[a] = true;
    }
    if (n_axes == 0 && !p->noop_with_empty_axes)
        for (int d = 0; d < x->rank; d++) reduced[d] = true;
    int rank = 0;
    int64_t dims[LO_MAX_RANK];
    for (int d = 0; d < x->rank; d++) {
        if (!reduced[d])
            dims[rank++] = x->dims[d];
        else if (p->keepdims)
            dims[rank++] = 1;
    }
    if (ctx->n_out < 1 || !ctx->out[0]) return LO_OK; /* nothing asked for */
    LO_TRY(lo_output(ctx, 0, x->dtype, rank, dims));
    reduce_shape s;
    reduce_shape_make(x, reduced, &s);
    bool fast = x->dtype == LO_FLOAT && s.contiguous && p->kind != RED_PROD && p->kind != RED_LOG_SUM_EXP &&
                p->kind != RED_LOG_SUM && !lo_use_ref(ctx);
    if (fast)
        reduce_block_f32(p->kind, x->data, ctx->out[0]->data, s.outer, s.red_count, s.inner);
    else
        reduce_ref(p->kind, x, ctx->out[0], &s);
    return LO_OK;
}

/* ---- ArgMax, ArgMin ----------------------------------------------------- */

typedef struct arg_params {
    bool is_max, keepdims, last;
    int64_t axis;
} arg_params;

static lo_status arg_prepare_kind(const lo_node *node, void **params, lo_error *err, bool is_max) {
    arg_params *p = lo_calloc(1, sizeof *p, err);
    if (!p) return LO_ERR_NOMEM;
    p->is_max = is_max;
    p->axis = lo_attr_int(node, "axis", 0);
    p->keepdims = lo_attr_int(node, "keepdims", 1) != 0;
    p->last = lo_attr_int(node, "select_last_index", 0) != 0;
    *params = p;
    return LO_OK;
}
static lo_status argmax_prepare(const lo_node *n, void **p, lo_error *e) { return arg_prepare_kind(n, p, e, true); }
static lo_status argmin_prepare(const lo_node *n, void **p, lo_error *e) { return arg_prepare_kind(n, p, e, false); }

static lo_status arg_run(lo_kernel_ctx *ctx) {
    const arg_params *p = ctx->params;
    LO_CHECK(ctx, ctx->n_in >= 1 && ctx->in[0], "needs an input");
    const lo_tensor *x = ctx->in[0];
    if (!(lo_dtype_is_float(x->dtype) || lo_dtype_is_int(x->dtype) || x->dtype == LO_BOOL))
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "element type %s", lo_dtype_name(x->dtype));
    int axis;
    LO_CHECK(ctx, x->rank > 0 && lo_norm_axis(p->axis, x->rank, &axis), "axis %lld is out of range for rank %d",
             (long long)p->axis, x->rank);
    int64_t n = x->dims[axis];
    LO_CHECK(ctx, n > 0, "cannot take the arg%s of an empty axis", p->is_max ? "max" : "min");
    int rank = 0;
    int64_t dims[LO_MAX_RANK];
    for (int d = 0; d < x->rank; d++) {
        if (d != axis)
            dims[rank++] = x->dims[d];
        else if (p->keepdims)
            dims[rank++] = 1;
    }
    if (ctx->n_out < 1 || !ctx->out[0]) return LO_OK; /* nothing asked for */
    LO_TRY(lo_output(ctx, 0, LO_INT64, rank, dims));
    int64_t *y = ctx->out[0]->data;
    int64_t outer = lo_numel_dims(axis, x->dims), inner = lo_numel_dims(x->rank - axis - 1, x->dims + axis + 1);
    bool is_int = lo_dtype_is_int(x->dtype) || x->dtype == LO_BOOL;
#pragma omp parallel for if (outer * n * inner > PAR_WORK)
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t base = o * n * inner + i, best = 0;
            double bv = lo_get_f64(x, base);
            int64_t bi = is_int ? lo_get_i64(x, base) : 0;
            for (int64_t k = 1; k < n; k++) {
                bool better, tie;
                if (is_int) {
                    int64_t v = lo_get_i64(x, base + k * inner);
                    better = p->is_max ? v > bi : v < bi;
                    tie = v == bi;
                    if (better || (tie && p->last)) bi = v, best = k;
                } else {
                    double v = lo_get_f64(x, base + k * inner);
                    better = p->is_max ? v > bv : v < bv;
                    tie = v == bv;
                    if (better || (tie && p->last)) bv = v, best = k;
                }
            }
            y[o * inner + i] = best;
        }
    return LO_OK;
}

/* ---- TopK --------------------------------------------------------------- */

typedef struct topk_params {
    int64_t axis, k_attr;
    bool largest, sorted;
    bool k_from_input;
} topk_params;

static lo_status topk_prepare(const lo_node *node, void **params, lo_error *err) {
    topk_params *p = lo_calloc(1, sizeof *p, err);
    if (!p) return LO_ERR_NOMEM;
    p->axis = lo_attr_int(node, "axis", -1);
    p->largest = lo_attr_int(node, "largest", 1) != 0;
    p->sorted = lo_attr_int(node, "sorted", 1) != 0;
    p->k_from_input = node->opset >= 10;
    if (!p->k_from_input) {
        const lo_attr *k = lo_attr_find(node, "k");
        if (!k || k->i < 0) {
            free(p);
            return lo_fail(err, LO_ERR_MODEL, "node '%s' (%s): needs a non-negative attribute k", node->name,
                           node->op_type);
        }
        p->k_attr = k->i;
    }
    *params = p;
    return LO_OK;
}

typedef struct topk_item {
    double v;
    int64_t iv, idx;
} topk_item;

/* Ties keep the lower index first, whichever the direction. NaN counts as
 * larger than any number, as numpy's sort places it. */
static int cmp_desc(const void *a, const void *b) {
    const topk_item *x = a, *y = b;
    bool xn = isnan(x->v), yn = isnan(y->v);
    if (xn != yn) return xn ? -1 : 1;
    if (!xn && x->v != y->v) return x->v > y->v ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}
static int cmp_asc(const void *a, const void *b) {
    const topk_item *x = a, *y = b;
    bool xn = isnan(x->v), yn = isnan(y->v);
    if (xn != yn) return xn ? 1 : -1;
    if (!xn && x->v != y->v) return x->v < y->v ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}
static int cmp_desc_int(const void *a, const void *b) {
    const topk_item *x = a, *y = b;
    if (x->iv != y->iv) return x->iv > y->iv ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}
static int cmp_asc_int(const void *a, const void *b) {
    const topk_item *x = a, *y = b;
    if (x->iv != y->iv) return x->iv < y->iv ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static lo_status topk_run(lo_kernel_ctx *ctx) {
    const topk_params *p = ctx->params;
    LO_CHECK(ctx, ctx->n_in >= 1 && ctx->in[0], "needs an input");
    const lo_tensor *x = ctx->in[0];
    if (!(lo_dtype_is_float(x->dtype) || lo_dtype_is_int(x->dtype)))
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "element type %s", lo_dtype_name(x->dtype));
    int axis;
    LO_CHECK(ctx, x->rank > 0 && lo_norm_axis(p->axis, x->rank, &axis), "axis %lld is out of range for rank %d",
             (long long)p->axis, x->rank);
    int64_t k = p->k_attr;
    if (p->k_from_input) {
        const lo_tensor *kt = ctx->n_in > 1 ? ctx->in[1] : NULL;
        LO_CHECK(ctx, kt && lo_numel(kt) == 1 && lo_dtype_is_int(kt->dtype), "K must be a one-element integer tensor");
        k = lo_get_i64(kt, 0);
    }
    int64_t n = x->dims[axis];
    LO_CHECK(ctx, k >= 0 && k <= n, "k = %lld is outside [0, %lld]", (long long)k, (long long)n);
    int64_t dims[LO_MAX_RANK];
    memcpy(dims, x->dims, sizeof dims);
    dims[axis] = k;
    LO_TRY(lo_output(ctx, 0, x->dtype, x->rank, dims));
    if (ctx->n_out > 1 && ctx->out[1]) LO_TRY(lo_output(ctx, 1, LO_INT64, x->rank, dims));
    lo_tensor *vals = ctx->n_out > 0 ? ctx->out[0] : NULL;
    int64_t *idxs = ctx->n_out > 1 && ctx->out[1] ? ctx->out[1]->data : NULL;
    int64_t outer = lo_numel_dims(axis, x->dims), inner = lo_numel_dims(x->rank - axis - 1, x->dims + axis + 1);
    bool is_int = lo_dtype_is_int(x->dtype);
    int (*cmp)(const void *, const void *) =
        is_int ? (p->largest ? cmp_desc_int : cmp_asc_int) : (p->largest ? cmp_desc : cmp_asc);
    int threads = omp_get_max_threads();
    bool par = outer * inner > 1 && outer * inner * n > PAR_WORK;
    if (!par) threads = 1;
    size_t bytes = (size_t)threads * (size_t)(n ? n : 1) * sizeof(topk_item);
    void *heap = NULL;
    topk_item *items = lo_scratch(ctx, bytes);
    if (!items) items = heap = malloc(bytes);
    if (!items) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory for %zu bytes of scratch", bytes);
#pragma omp parallel for if (par) num_threads(threads)
    for (int64_t s = 0; s < outer * inner; s++) {
        topk_item *it = items + (size_t)omp_get_thread_num() * (size_t)n;
        int64_t o = s / inner, i = s % inner, base = o * n * inner + i;
        for (int64_t e = 0; e < n; e++) {
            it[e].idx = e;
            if (is_int)
                it[e].iv = lo_get_i64(x, base + e * inner);
            else
                it[e].v = lo_get_f64(x, base + e * inner);
        }
        qsort(it, (size_t)n, sizeof *it, cmp);
        for (int64_t e = 0; e < k; e++) {
            int64_t dst = (o * k + e) * inner + i;
            if (vals && is_int)
                lo_set_i64(vals, dst, it[e].iv);
            else if (vals)
                lo_set_f64(vals, dst, it[e].v);
            if (idxs) idxs[dst] = it[e].idx;
        }
    }
    free(heap);
    return LO_OK;
}

const lo_op_def lo_ops_reduce[] = {
    {"", "ReduceSum", 1, LO_OPSET_MAX, reduce_sum_prepare, reduce_run, NULL, LO_OP_FAST},
    {"", "ReduceMean", 1, LO_OPSET_MAX, reduce_mean_prepare, reduce_run, NULL, LO_OP_FAST},
    {"", "ReduceMax", 1, LO_OPSET_MAX, reduce_max_prepare, reduce_run, NULL, LO_OP_FAST},
    {"", "ReduceMin", 1, LO_OPSET_MAX, reduce_min_prepare, reduce_run, NULL, LO_OP_FAST},
    {"", "ReduceProd", 1, LO_OPSET_MAX, reduce_prod_prepare, reduce_run, NULL, 0},
    {"", "ReduceL1", 1, LO_OPSET_MAX, reduce_l1_prepare, reduce_run, NULL, LO_OP_FAST},
    {"", "ReduceL2", 1, LO_OPSET_MAX, reduce_l2_prepare, reduce_run, NULL, LO_OP_FAST},
    {"", "ReduceLogSum", 1, LO_OPSET_MAX, reduce_log_sum_prepare, reduce_run, NULL, 0},
    {"", "ReduceLogSumExp", 1, LO_OPSET_MAX, reduce_log_sum_exp_prepare, reduce_run, NULL, 0},
    {"", "ReduceSumSquare", 1, LO_OPSET_MAX, reduce_sum_square_prepare, reduce_run, NULL, LO_OP_FAST},
    {"", "ArgMax", 1, LO_OPSET_MAX, argmax_prepare, arg_run, NULL, 0},
    {"", "ArgMin", 1, LO_OPSET_MAX, argmin_prepare, arg_run, NULL, 0},
    {"", "TopK", 1, LO_OPSET_MAX, topk_prepare, topk_run, NULL, 0},
    {0},
};
