/* Normalizations: BatchNormalization, LayerNormalization,
 * InstanceNormalization, GroupNormalization, LRN, MeanVarianceNormalization,
 * LpNormalization, RMSNormalization, and the softmax family (Softmax,
 * LogSoftmax, Hardmax).
 *
 * Each op has a reference path that reads and writes any float type
 * through the generic getters with double arithmetic; the float32 layouts
 * real models hit (softmax and layer norm over the last axis, batch norm
 * and instance norm on NCHW) have a contiguous path beside it. */
/* The fast rows select with comparisons (NaN, range limits); under GCC's
 * default -ftrapping-math it will not if-convert them, and the loops stay
 * scalar. Nothing here reads the floating-point exception flags, so the
 * results are the same either way. */
/* GCC only: clang does not trap by default and rejects the pragma (-Werror). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../helpers.h"
#include "../math/fast_math.h"

/* Rows of work below which one thread does it all: a transformer's
 * [197, 384] LayerNorm takes ~0.1 ms on one core, less than a parallel
 * region costs when the machine is busy. */
#define PAR_WORK (1 << 17)
/* Softmax: an exp an element, worth a second thread from 16 K elements (a
 * ViT attention's 3 x 197 x 197 scores, inside the model: 0.12 ms a node on
 * 1 thread, 0.055 on 2) */
#define PAR_WORK_EXP (1 << 14)


static lo_status need_float(lo_kernel_ctx *ctx, const lo_tensor *x) {
    if (!float_type(x->dtype))
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "element type %s", lo_dtype_name(x->dtype));
    return LO_OK;
}

/* Index into a tensor broadcast (unidirectionally) over the trailing
 * dims[0..rank) of the data, given the linear index j within those dims. */
static int64_t bcast_index(int64_t j, int rank, const int64_t *dims, const int64_t *strides) {
    int64_t idx = 0;
    for (int d = rank - 1; d >= 0; d--) {
        idx += (j % dims[d]) * strides[d];
        j /= dims[d];
    }
    return idx;
}

static lo_status check_unidirectional(lo_kernel_ctx *ctx, const lo_tensor *t, int rank, const int64_t *dims,
                                      const char *what) {
    bool ok = t->rank <= rank;
    for (int d = 0; ok && d < t->rank; d++) {
        int64_t td = t->dims[d], od = dims[rank - t->rank + d];
        ok = td == od || td == 1;
    }
    if (!ok) {
        char s1[128], s2[128];
        return lo_kernel_fail(ctx, LO_ERR_INPUT, "%s of shape %s does not broadcast to %s", what,
                              lo_shape_str(t->rank, t->dims, s1, sizeof s1), lo_shape_str(rank, dims, s2, sizeof s2));
    }
    return LO_OK;
}

/* ---- Softmax, LogSoftmax, Hardmax --------------------------------------- */

typedef enum softmax_kind { SOFTMAX, LOG_SOFTMAX, HARDMAX } softmax_kind;

typedef struct softmax_params {
    softmax_kind kind;
    int64_t axis;
    bool coerce_2d; /* opset < 13: flatten to [prod(dims[:axis]), prod(dims[axis:])] */
} softmax_params;

static lo_status softmax_prepare_kind(const lo_node *node, void **params, lo_error *err, softmax_kind kind) {
    softmax_params *p = lo_calloc(1, sizeof *p, err);
    if (!p) return LO_ERR_NOMEM;
    p->kind = kind;
    p->coerce_2d = node->opset < 13;
    p->axis = lo_attr_int(node, "axis", p->coerce_2d ? 1 : -1);
    *params = p;
    return LO_OK;
}
static lo_status softmax_prepare(const lo_node *n, void **p, lo_error *e) { return softmax_prepare_kind(n, p, e, SOFTMAX); }
static lo_status log_softmax_prepare(const lo_node *n, void **p, lo_error *e) { return softmax_prepare_kind(n, p, e, LOG_SOFTMAX); }
static lo_status hardmax_prepare(const lo_node *n, void **p, lo_error *e) { return softmax_prepare_kind(n, p, e, HARDMAX); }

static void softmax_ref(softmax_kind kind, const lo_tensor *x, lo_tensor *y, int64_t outer, int64_t n,
                        int64_t inner) {
#pragma omp parallel for if (outer * n * inner > PAR_WORK)
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t base = o * n * inner + i;
            double mx = -INFINITY;
            int64_t arg = 0;
            for (int64_t k = 0; k < n; k++) {
                double v = lo_get_f64(x, base + k * inner);
                if (v > mx || (k == 0 && isnan(v))) mx = v, arg = k;
            }
            if (kind == HARDMAX) {
                for (int64_t k = 0; k < n; k++) lo_set_f64(y, base + k * inner, k == arg ? 1.0 : 0.0);
                continue;
            }
            double sum = 0;
            for (int64_t k = 0; k < n; k++) sum += exp(lo_get_f64(x, base + k * inner) - mx);
            double ls = log(sum);
            for (int64_t k = 0; k < n; k++) {
                double v = lo_get_f64(x, base + k * inner) - mx;
                lo_set_f64(y, base + k * inner, kind == LOG_SOFTMAX ? v - ls : exp(v) / sum);
            }
        }
}


/* One contiguous row of softmax or log-softmax. The max and the sum are
 * kept in LANES explicit lanes (element k of the row's body in lane
 * k % LANES), combined in lane order, the tail after them: a vector
 * register's worth in every compiled version, so the same bits on each.
 * (omp simd reductions spilled their lanes to the stack and summed them one
 * by one twice a row: on attention's rows of 197 the row took 0.101 ms per
 * 591 rows against 0.075 now, 1 thread.) */
#define LANES 16
LO_VECTOR_CLONES static void softmax_row_f32(bool log_softmax, const float *xr, float *yr, int64_t n) {
    int64_t body = n - n % LANES;
    float lane[LANES];
    for (int j = 0; j < LANES; j++) lane[j] = -INFINITY;
    for (int64_t k = 0; k < body; k += LANES)
#pragma omp simd
        for (int j = 0; j < LANES; j++) lane[j] = xr[k + j] > lane[j] ? xr[k + j] : lane[j];
    float mx = -INFINITY;
    for (int j = 0; j < LANES; j++) mx = lane[j] > mx ? lane[j] : mx;
    for (int64_t k = body; k < n; k++) mx = xr[k] > mx ? xr[k] : mx;
    for (int j = 0; j < LANES; j++) lane[j] = 0;
    if (log_softmax) {
        for (int64_t k = 0; k < body; k += LANES)
#pragma omp simd
            for (int j = 0; j < LANES; j++) lane[j] += exp_fast_f32(xr[k + j] - mx);
    } else {
        for (int64_t k = 0; k < body; k += LANES)
#pragma omp simd
            for (int j = 0; j < LANES; j++) {
                float e = exp_fast_f32(xr[k + j] - mx);
                yr[k + j] = e;
                lane[j] += e;
            }
    }
    float sum = 0;
    for (int j = 0; j < LANES; j++) sum += lane[j];
    for (int64_t k = body; k < n; k++) {
        float e = exp_fast_f32(xr[k] - mx);
        if (!log_softmax) yr[k] = e;
        sum += e;
    }
    if (log_softmax) {
        float ls = logf(sum);
#pragma omp simd
        for (int64_t k = 0; k < n; k++) yr[k] = xr[k] - mx - ls;
        return;
    }
    float inv = 1.0f / sum;
#pragma omp simd
    for (int64_t k = 0; k < n; k++) yr[k] *= inv;
}
#undef LANES

/* Rows contiguous in memory: the attention-scores and classifier case. */
static void softmax_rows_f32(softmax_kind kind, const float *x, float *y, int64_t rows, int64_t n) {
#pragma omp parallel for if (rows * n > PAR_WORK_EXP)
    for (int64_t r = 0; r < rows; r++) softmax_row_f32(kind == LOG_SOFTMAX, x + r * n, y + r * n, n);
}

static lo_status softmax_run(lo_kernel_ctx *ctx) {
    const softmax_params *p = ctx->params;
    LO_CHECK(ctx, ctx->n_in >= 1 && ctx->in[0], "needs an input");
    const lo_tensor *x = ctx->in[0];
    LO_TRY(need_float(ctx, x));
    int axis;
    LO_CHECK(ctx, lo_norm_axis(p->axis, x->rank, &axis) || (x->rank == 0 && (p->axis == 0 || p->axis == -1)),
             "axis %lld is out of range for rank %d", (long long)p->axis, x->rank);
    if (x->rank == 0) axis = 0;
    int64_t outer = lo_numel_dims(axis, x->dims), n, inner;
    if (p->coerce_2d || x->rank == 0) {
        n = lo_numel_dims(x->rank - axis, x->dims + axis);
        inner = 1;
    } else {
        n = x->dims[axis];
        inner = lo_numel_dims(x->rank - axis - 1, x->dims + axis + 1);
    }
    if (ctx->n_out < 1 || !ctx->out[0]) return LO_OK; /* nothing asked for */
    LO_TRY(lo_output(ctx, 0, x->dtype, x->rank, x->dims));
    if (x->dtype == LO_FLOAT && inner == 1 && p->kind != HARDMAX && !lo_use_ref(ctx))
        softmax_rows_f32(p->kind, x->data, ctx->out[0]->data, outer, n);
    else
        softmax_ref(p->kind, x, ctx->out[0], outer, n, inner);
    return LO_OK;
}

/* ---- BatchNormalization ------------------------------------------------- */

typedef struct batchnorm_params {
    float epsilon, momentum;
    bool training;
    bool per_element; /* spatial = 0 (opsets < 9): statistics per C x D1 x ... */
} batchnorm_params;

static lo_status batchnorm_prepare(const lo_node *node, void **params, lo_error *err) {
    batchnorm_params *p = lo_calloc(1, sizeof *p, err);
    if (!p) return LO_ERR_NOMEM;
    p->epsilon = lo_attr_float(node, "epsilon", 1e-5f);
    p->momentum = lo_attr_float(node, "momentum", 0.9f);
    p->per_element = node->opset < 9 && lo_attr_int(node, "spatial", 1) == 0;
    p->training = node->opset >= 14 && lo_attr_int(node, "training_mode", 0) != 0;
    bool extra_outputs = false;
    for (int i = 1; i < node->n_outputs; i++) extra_outputs = extra_outputs || node->outputs[i] >= 0;
    if (node->opset < 14 && extra_outputs) {
        free(p);
        return lo_fail(err, LO_ERR_UNSUPPORTED,
                       "node '%s' (%s): training outputs (mean, var, saved_mean, saved_var) are not supported "
                       "before opset 14",
                       node->name, node->op_type);
    }
    *params = p;
    return LO_OK;
}

static lo_status batchnorm_run(lo_kernel_ctx *ctx) {
    const batchnorm_params *p = ctx->params;
    LO_CHECK(ctx, ctx->n_in >= 5, "needs 5 inputs");
    for (int i = 0; i < 5; i++) LO_CHECK(ctx, ctx->in[i], "input %d is missing", i);
    const lo_tensor *x = ctx->in[0], *scale = ctx->in[1], *bias = ctx->in[2], *mean = ctx->in[3],
                    *var = ctx->in[4];
    LO_TRY(need_float(ctx, x));
    LO_CHECK(ctx, x->rank >= 2, "X must have rank >= 2");
    int64_t N = x->dims[0], C = x->dims[1];
    int64_t spatial = lo_numel_dims(x->rank - 2, x->dims + 2);
    int64_t stat_len = p->per_element ? C * spatial : C;
    for (int i = 1; i < 5; i++) {
        LO_TRY(need_float(ctx, ctx->in[i]));
        LO_CHECK(ctx, lo_numel(ctx->in[i]) == stat_len, "input %d has %lld elements, expected %lld", i,
                 (long long)lo_numel(ctx->in[i]), (long long)stat_len);
    }
    LO_TRY(lo_output(ctx, 0, x->dtype, x->rank, x->dims));
    lo_tensor *y = ctx->n_out > 0 ? ctx->out[0] : NULL;
    if (p->training) {
        /* Statistics of this batch normalize it; the running ones are updated. */
        int64_t cnt = N * spatial;
        for (int o = 1; o < 3; o++)
            if (o < ctx->n_out && ctx->out[o]) LO_TRY(lo_output(ctx, o, mean->dtype, 1, &C));
#pragma omp parallel for if (N * C * spatial > PAR_WORK)
        for (int64_t c = 0; c < C; c++) {
            double s = 0, ss = 0;
            for (int64_t n = 0; n < N; n++)
                for (int64_t k = 0; k < spatial; k++) s += lo_get_f64(x, (n * C + c) * spatial + k);
            double m = cnt ? s / (double)cnt : 0;
            for (int64_t n = 0; n < N; n++)
                for (int64_t k = 0; k < spatial; k++) {
                    double d = lo_get_f64(x, (n * C + c) * spatial + k) - m;
                    ss += d * d;
                }
            double v = cnt ? ss / (double)cnt : 0;
            double a = lo_get_f64(scale, c) / sqrt(v + p->epsilon), b = lo_get_f64(bias, c) - m * a;
            for (int64_t n = 0; n < N; n++)
                for (int64_t k = 0; k < spatial; k++) {
                    int64_t i = (n * C + c) * spatial + k;
                    if (y) lo_set_f64(y, i, lo_get_f64(x, i) * a + b);
                }
            if (1 < ctx->n_out && ctx->out[1])
                lo_set_f64(ctx->out[1], c, lo_get_f64(mean, c) * p->momentum + m * (1 - p->momentum));
            if (2 < ctx->n_out && ctx->out[2])
                lo_set_f64(ctx->out[2], c, lo_get_f64(var, c) * p->momentum + v * (1 - p->momentum));
        }
        return LO_OK;
    }
    if (!y) return LO_OK;
    bool fast = x->dtype == LO_FLOAT && scale->dtype == LO_FLOAT && bias->dtype == LO_FLOAT &&
                mean->dtype == LO_FLOAT && var->dtype == LO_FLOAT && !p->per_element && !lo_use_ref(ctx);
    if (fast) {
        const float *xs = x->data, *sc = scale->data, *bs = bias->data, *mn = mean->data, *vr = var->data;
        float *ys = y->data;
#pragma omp parallel for if (N * C * spatial > PAR_WORK)
        for (int64_t nc = 0; nc < N * C; nc++) {
            int64_t c = nc % C;
            float a = sc[c] / sqrtf(vr[c] + p->epsilon), b = bs[c] - mn[c] * a;
            const float *xp = xs + nc * spatial;
            float *yp = ys + nc * spatial;
            for (int64_t k = 0; k < spatial; k++) yp[k] = xp[k] * a + b;
        }
        return LO_OK;
    }
#pragma omp parallel for if (N * C * spatial > PAR_WORK)
    for (int64_t nc = 0; nc < N * C; nc++) {
        int64_t c = nc % C;
        for (int64_t k = 0; k < spatial; k++) {
            int64_t s = p->per_element ? c * spatial + k : c;
            int64_t i = nc * spatial + k;
            double v = (lo_get_f64(x, i) - lo_get_f64(mean, s)) / sqrt(lo_get_f64(var, s) + p->epsilon);
            lo_set_f64(y, i, v * lo_get_f64(scale, s) + lo_get_f64(bias, s));
        }
    }
    return LO_OK;
}

/* ---- LayerNormalization -------------------------------------------------- */

typedef struct layernorm_params {
    int64_t axis;
    float epsilon;
    lo_dtype stash;
} layernorm_params;

static lo_status layernorm_prepare(const lo_node *node, void **params, lo_error *err) {
    layernorm_params *p = lo_calloc(1, sizeof *p, err);
    if (!p) return LO_ERR_NOMEM;
    p->axis = lo_attr_int(node, "axis", -1);
    p->epsilon = lo_attr_float(node, "epsilon", 1e-5f);
    int64_t st = lo_attr_int(node, "stash_type", 1);
    p->stash = st == LO_DOUBLE ? LO_DOUBLE : LO_FLOAT;
    *params = p;
    return LO_OK;
}

/* One row of LayerNormalization: statistics accumulated in double, in the
 * explicit lanes of the row sums (reduce.c; omp simd reductions spilled
 * their lanes and added them one by one on every row). */
LO_VECTOR_CLONES static void layernorm_row_f32(const float *xr, const float *scale, const float *bias, float *yr,
                                            int64_t cols, float epsilon, float *mean_out, float *inv_out) {
    float m = (float)(lo_sum_f32(xr, cols) / (double)cols);
    double ss = lo_sum_deviations_f32(xr, cols, m);
    float inv = (float)(1.0 / sqrt(ss / (double)cols + epsilon));
    if (bias) {
#pragma omp simd
        for (int64_t k = 0; k < cols; k++) yr[k] = (xr[k] - m) * inv * scale[k] + bias[k];
    } else {
#pragma omp simd
        for (int64_t k = 0; k < cols; k++) yr[k] = (xr[k] - m) * inv * scale[k];
    }
    *mean_out = m;
    *inv_out = inv;
}

/* Normalizes rows of a [rows, cols] float32 matrix with per-column scale and
 * bias: the transformer case. */
static void layernorm_rows_f32(const float *x, const float *scale, const float *bias, float *y, float *mean_out,
                               float *inv_out, int64_t rows, int64_t cols, float epsilon) {
#pragma omp parallel for if (rows * cols > PAR_WORK)
    for (int64_t r = 0; r < rows; r++) {
        float m, inv;
        layernorm_row_f32(x + r * cols, scale, bias, y + r * cols, cols, epsilon, &m, &inv);
        if (mean_out) mean_out[r] = m;
        if (inv_out) inv_out[r] = inv;
    }
}

static lo_status layernorm_run(lo_kernel_ctx *ctx) {
    const layernorm_params *p = ctx->params;
    LO_CHECK(ctx, ctx->n_in >= 2 && ctx->in[0] && ctx->in[1], "needs X and Scale");
    const lo_tensor *x = ctx->in[0], *scale = ctx->in[1], *bias = ctx->n_in > 2 ? ctx->in[2] : NULL;
    LO_TRY(need_float(ctx, x));
    LO_TRY(need_float(ctx, scale));
    if (bias) LO_TRY(need_float(ctx, bias));
    int axis;
    LO_CHECK(ctx, lo_norm_axis(p->axis, x->rank, &axis) && x->rank > 0, "axis %lld is out of range for rank %d",
             (long long)p->axis, x->rank);
    int nrank = x->rank - axis;
    const int64_t *ndims = x->dims + axis;
    LO_TRY(check_unidirectional(ctx, scale, nrank, ndims, "Scale"));
    if (bias) LO_TRY(check_unidirectional(ctx, bias, nrank, ndims, "B"));
    int64_t rows = lo_numel_dims(axis, x->dims), cols = lo_numel_dims(nrank, ndims);
    LO_TRY(lo_output(ctx, 0, x->dtype, x->rank, x->dims));
    int64_t sdims[LO_MAX_RANK];
    for (int d = 0; d < x->rank; d++) sdims[d] = d < axis ? x->dims[d] : 1;
    lo_tensor *stats[2] = {NULL, NULL};
    for (int o = 1; o < 3; o++)
        if (o < ctx->n_out && ctx->out[o]) {
            LO_TRY(lo_output(ctx, o, p->stash, x->rank, sdims));
            stats[o - 1] = ctx->out[o];
        }
    lo_tensor *y = ctx->n_out > 0 ? ctx->out[0] : NULL;
    bool fast = y && x->dtype == LO_FLOAT && scale->dtype == LO_FLOAT && lo_numel(scale) == cols &&
                (!bias || (bias->dtype == LO_FLOAT && lo_numel(bias) == cols)) && p->stash == LO_FLOAT &&
                !lo_use_ref(ctx);
    if (fast) {
        layernorm_rows_f32(x->data, scale->data, bias ? bias->data : NULL, y->data,
                           stats[0] ? stats[0]->data : NULL, stats[1] ? stats[1]->data : NULL, rows, cols,
                           p->epsilon);
        return LO_OK;
    }
    int64_t s_str[LO_MAX_RANK], b_str[LO_MAX_RANK];
    lo_broadcast_strides(scale, nrank, ndims, s_str);
    if (bias) lo_broadcast_strides(bias, nrank, ndims, b_str);
#pragma omp parallel for if (rows * cols > PAR_WORK)
    for (int64_t r = 0; r < rows; r++) {
        double s = 0, ss = 0;
        for (int64_t k = 0; k < cols; k++) s += lo_get_f64(x, r * cols + k);
        double m = cols ? s / (double)cols : 0;
        for (int64_t k = 0; k < cols; k++) {
            double d = lo_get_f64(x, r * cols + k) - m;
            ss += d * d;
        }
        double inv = 1.0 / sqrt((cols ? ss / (double)cols : 0) + p->epsilon);
        for (int64_t k = 0; k < cols; k++) {
            double v = (lo_get_f64(x, r * cols + k) - m) * inv *
                       lo_get_f64(scale, bcast_index(k, nrank, ndims, s_str));
            if (bias) v += lo_get_f64(bias, bcast_index(k, nrank, ndims, b_str));
            if (y) lo_set_f64(y, r * cols + k, v);
        }
        if (stats[0]) lo_set_f64(stats[0], r, m);
        if (stats[1]) lo_set_f64(stats[1], r, inv);
    }
    return LO_OK;
}

/* ---- InstanceNormalization and GroupNormalization ----------------------- */

typedef struct group_params {
    float epsilon;
    int64_t groups; /* 0: InstanceNormalization (one group per channel) */
    bool per_channel_affine;
} group_params;

static lo_status instancenorm_prepare(const lo_node *node, void **params, lo_error *err) {
    group_params *p = lo_calloc(1, sizeof *p, err);
    if (!p) return LO_ERR_NOMEM;
    p->epsilon = lo_attr_float(node, "epsilon", 1e-5f);
    p->per_channel_affine = true;
    *params = p;
    return LO_OK;
}

static lo_status groupnorm_prepare(const lo_node *node, void **params, lo_error *err) {
    const lo_attr *g = lo_attr_find(node, "num_groups");
    if (!g || g->i <= 0)
        return lo_fail(err, LO_ERR_MODEL, "node '%s' (%s): num_groups must be a positive integer", node->name,
                       node->op_type);
    group_params *p = lo_calloc(1, sizeof *p, err);
    if (!p) return LO_ERR_NOMEM;
    p->epsilon = lo_attr_float(node, "epsilon", 1e-5f);
    p->groups = g->i;
    /* opset 18 scaled per group; 21 per channel */
    p->per_channel_affine = node->opset >= 21;
    *params = p;
    return LO_OK;
}

static void groupnorm_ref(const lo_tensor *x, const lo_tensor *scale, const lo_tensor *bias, lo_tensor *y,
                          int64_t N, int64_t C, int64_t G, int64_t spatial, bool per_channel, double eps) {
    int64_t cpg = C / G, len = cpg * spatial;
#pragma omp parallel for if (N * C * spatial > PAR_WORK)
    for (int64_t ng = 0; ng < N * G; ng++) {
        int64_t base = ng * len, g = ng % G;
        double s = 0, ss = 0;
        for (int64_t k = 0; k < len; k++) s += lo_get_f64(x, base + k);
        double m = len ? s / (double)len : 0;
        for (int64_t k = 0; k < len; k++) {
            double d = lo_get_f64(x, base + k) - m;
            ss += d * d;
        }
        double inv = 1.0 / sqrt((len ? ss / (double)len : 0) + eps);
        for (int64_t k = 0; k < len; k++) {
            int64_t ai = per_channel ? g * cpg + k / spatial : g;
            double v = (lo_get_f64(x, base + k) - m) * inv * lo_get_f64(scale, ai) + lo_get_f64(bias, ai);
            lo_set_f64(y, base + k, v);
        }
    }
}

/* InstanceNormalization on float32 NCHW: one plane per (n, c). */
static void instancenorm_f32(const float *x, const float *scale, const float *bias, float *y, int64_t N, int64_t C,
                             int64_t spatial, float eps) {
#pragma omp parallel for if (N * C * spatial > PAR_WORK)
    for (int64_t nc = 0; nc < N * C; nc++) {
        const float *xp = x + nc * spatial;
        float *yp = y + nc * spatial;
        int64_t c = nc % C;
        double s = 0, ss = 0;
        for (int64_t k = 0; k < spatial; k++) s += xp[k];
        float m = spatial ? (float)(s / (double)spatial) : 0.0f;
        for (int64_t k = 0; k < spatial; k++) {
            float d = xp[k] - m;
            ss += (double)d * d;
        }
        float inv = (float)(1.0 / sqrt((spatial ? ss / (double)spatial : 0) + eps));
        float a = inv * scale[c], b = bias[c] - m * a;
        for (int64_t k = 0; k < spatial; k++) yp[k] = xp[k] * a + b;
    }
}

static lo_status groupnorm_run(lo_kernel_ctx *ctx) {
    const group_params *p = ctx->params;
    LO_CHECK(ctx, ctx->n_in >= 3 && ctx->in[0] && ctx->in[1] && ctx->in[2], "needs input, scale and B");
    const lo_tensor *x = ctx->in[0], *scale = ctx->in[1], *bias = ctx->in[2];
    LO_TRY(need_float(ctx, x));
    LO_TRY(need_float(ctx, scale));
    LO_TRY(need_float(ctx, bias));
    LO_CHECK(ctx, x->rank >= 2, "input must have rank >= 2");
    int64_t N = x->dims[0], C = x->dims[1], spatial = lo_numel_dims(x->rank - 2, x->dims + 2);
    int64_t G = p->groups ? p->groups : C;
    LO_CHECK(ctx, G > 0 && C % G == 0, "%lld channels do not split into %lld groups", (long long)C, (long long)G);
    int64_t alen = p->per_channel_affine ? C : G;
    LO_CHECK(ctx, lo_numel(scale) == alen && lo_numel(bias) == alen, "scale and B must have %lld elements",
             (long long)alen);
    if (ctx->n_out < 1 || !ctx->out[0]) return LO_OK; /* nothing asked for */
    LO_TRY(lo_output(ctx, 0, x->dtype, x->rank, x->dims));
    if (!p->groups && x->dtype == LO_FLOAT && scale->dtype == LO_FLOAT && bias->dtype == LO_FLOAT &&
        !lo_use_ref(ctx))
        instancenorm_f32(x->data, scale->data, bias->data, ctx->out[0]->data, N, C, spatial, p->epsilon);
    else
        groupnorm_ref(x, scale, bias, ctx->out[0], N, C, G, spatial, p->per_channel_affine, p->epsilon);
    return LO_OK;
}

/* ---- LRN ---------------------------------------------------------------- */

typedef struct lrn_params {
    float alpha, beta, bias;
    int64_t size;
} lrn_params;

static lo_status lrn_prepare(const lo_node *node, void **params, lo_error *err) {
    const lo_attr *size = lo_attr_find(node, "size");
    if (!size || size->i <= 0)
        return lo_fail(err, LO_ERR_MODEL, "node '%s' (%s): size must be a positive integer", node->name,
                       node->op_type);
    lrn_params *p = lo_calloc(1, sizeof *p, err);
    if (!p) return LO_ERR_NOMEM;
    p->alpha = lo_attr_float(node, "alpha", 1e-4f);
    p->beta = lo_attr_float(node, "beta", 0.75f);
    p->bias = lo_attr_float(node, "bias", 1.0f);
    p->size = size->i;
    *params = p;
    return LO_OK;
}

static lo_status lrn_run(lo_kernel_ctx *ctx) {
    const lrn_params *p = ctx->params;
    LO_CHECK(ctx, ctx->n_in >= 1 && ctx->in[0], "needs an input");
    const lo_tensor *x = ctx->in[0];
    LO_TRY(need_float(ctx, x));
    LO_CHECK(ctx, x->rank >= 2, "input must have rank >= 2");
    int64_t N = x->dims[0], C = x->dims[1], spatial = lo_numel_dims(x->rank - 2, x->dims + 2);
    if (ctx->n_out < 1 || !ctx->out[0]) return LO_OK; /* nothing asked for */
    LO_TRY(lo_output(ctx, 0, x->dtype, x->rank, x->dims));
    lo_tensor *y = ctx->out[0];
    int64_t before = (p->size - 1) / 2, after = p->size - 1 - before;
#pragma omp parallel for if (N * C * spatial * p->size > PAR_WORK)
    for (int64_t nc = 0; nc < N * C; nc++) {
        int64_t n = nc / C, c = nc % C;
        int64_t lo = c - before < 0 ? 0 : c - before, hi = c + after >= C ? C - 1 : c + after;
        for (int64_t k = 0; k < spatial; k++) {
            double sq = 0;
            for (int64_t j = lo; j <= hi; j++) {
                double v = lo_get_f64(x, (n * C + j) * spatial + k);
                sq += v * v;
            }
            int64_t i = nc * spatial + k;
            lo_set_f64(y, i, lo_get_f64(x, i) / pow(p->bias + p->alpha / (double)p->size * sq, p->beta));
        }
    }
    return LO_OK;
}

/* ---- MeanVarianceNormalization ------------------------------------------ */

typedef struct mvn_params {
    int n_axes;
    int64_t axes[LO_MAX_RANK];
} mvn_params;

static lo_status mvn_prepare(const lo_node *node, void **params, lo_error *err) {
    int64_t n = 0;
    const int64_t *axes = lo_attr_ints(node, "axes", &n);
    static const int64_t dflt[3] = {0, 2, 3};
    if (!axes) {
        axes = dflt;
        n = 3;
    }
    if (n > LO_MAX_RANK)
        return lo_fail(err, LO_ERR_MODEL, "node '%s' (%s): too many axes", node->name, node->op_type);
    mvn_params *p = lo_calloc(1, sizeof *p, err);
    if (!p) return LO_ERR_NOMEM;
    p->n_axes = (int)n;
    memcpy(p->axes, axes, (size_t)n * sizeof *axes);
    *params = p;
    return LO_OK;
}

static lo_status mvn_run(lo_kernel_ctx *ctx) {
    const mvn_params *p = ctx->params;
    LO_CHECK(ctx, ctx->n_in >= 1 && ctx->in[0], "needs an input");
    const lo_tensor *x = ctx->in[0];
    LO_TRY(need_float(ctx, x));
    bool reduced[LO_MAX_RANK] = {0};
    for (int k = 0; k < p->n_axes; k++) {
        int a;
        LO_CHECK(ctx, lo_norm_axis(p->axes[k], x->rank, &a) && x->rank > 0, "axis %lld is out of range",
                 (long long)p->axes[k]);
        reduced[a] = true;
    }
    if (ctx->n_out < 1 || !ctx->out[0]) return LO_OK; /* nothing asked for */
    LO_TRY(lo_output(ctx, 0, x->dtype, x->rank, x->dims));
    lo_tensor *y = ctx->out[0];
    /* Split the shape into kept and reduced index spaces. */
    int rk = 0, kk = 0;
    int64_t rdims[LO_MAX_RANK], kdims[LO_MAX_RANK], rstr[LO_MAX_RANK], kstr[LO_MAX_RANK];
    int64_t st = 1;
    int64_t strides[LO_MAX_RANK];
    for (int d = x->rank - 1; d >= 0; d--) {
        strides[d] = st;
        st *= x->dims[d];
    }
    for (int d = 0; d < x->rank; d++) {
        if (reduced[d]) {
            rdims[rk] = x->dims[d];
            rstr[rk++] = strides[d];
        } else {
            kdims[kk] = x->dims[d];
            kstr[kk++] = strides[d];
        }
    }
    int64_t n_keep = lo_numel_dims(kk, kdims), n_red = lo_numel_dims(rk, rdims);
#pragma omp parallel for if (n_keep * n_red > PAR_WORK)
    for (int64_t o = 0; o < n_keep; o++) {
        int64_t base = bcast_index(o, kk, kdims, kstr);
        double s = 0, ss = 0;
        for (int64_t r = 0; r < n_red; r++) s += lo_get_f64(x, base + bcast_index(r, rk, rdims, rstr));
        double m = n_red ? s / (double)n_red : 0;
        for (int64_t r = 0; r < n_red; r++) {
            double d = lo_get_f64(x, base + bcast_index(r, rk, rdims, rstr)) - m;
            ss += d * d;
        }
        double sd = sqrt(n_red ? ss / (double)n_red : 0) + 1e-9;
        for (int64_t r = 0; r < n_red; r++) {
            int64_t i = base + bcast_index(r, rk, rdims, rstr);
            lo_set_f64(y, i, (lo_get_f64(x, i) - m) / sd);
        }
    }
    return LO_OK;
}

/* ---- LpNormalization ---------------------------------------------------- */

typedef struct lpnorm_params {
    int64_t axis, p;
} lpnorm_params;

static lo_status lpnorm_prepare(const lo_node *node, void **params, lo_error *err) {
    int64_t pp = lo_attr_int(node, "p", 2);
    if (pp != 1 && pp != 2)
        return lo_fail(err, LO_ERR_UNSUPPORTED, "node '%s' (%s): p = %lld (1 or 2 only)", node->name,
                       node->op_type, (long long)pp);
    lpnorm_params *p = lo_calloc(1, sizeof *p, err);
    if (!p) return LO_ERR_NOMEM;
    p->axis = lo_attr_int(node, "axis", -1);
    p->p = pp;
    *params = p;
    return LO_OK;
}

static lo_status lpnorm_run(lo_kernel_ctx *ctx) {
    const lpnorm_params *p = ctx->params;
    LO_CHECK(ctx, ctx->n_in >= 1 && ctx->in[0], "needs an input");
    const lo_tensor *x = ctx->in[0];
    LO_TRY(need_float(ctx, x));
    int axis;
    LO_CHECK(ctx, lo_norm_axis(p->axis, x->rank, &axis) && x->rank > 0, "axis %lld is out of range for rank %d",
             (long long)p->axis, x->rank);
    int64_t outer = lo_numel_dims(axis, x->dims), n = x->dims[axis];
    int64_t inner = lo_numel_dims(x->rank - axis - 1, x->dims + axis + 1);
    if (ctx->n_out < 1 || !ctx->out[0]) return LO_OK; /* nothing asked for */
    LO_TRY(lo_output(ctx, 0, x->dtype, x->rank, x->dims));
    lo_tensor *y = ctx->out[0];
#pragma omp parallel for if (outer * n * inner > PAR_WORK)
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t base = o * n * inner + i;
            double s = 0;
            for (int64_t k = 0; k < n; k++) {
                double v = lo_get_f64(x, base + k * inner);
                s += p->p == 1 ? fabs(v) : v * v;
            }
            double norm = p->p == 1 ? s : sqrt(s);
            for (int64_t k = 0; k < n; k++) {
                int64_t e = base + k * inner;
                lo_set_f64(y, e, norm == 0 ? 0.0 : lo_get_f64(x, e) / norm);
            }
        }
    return LO_OK;
}

/* ---- RMSNormalization ---------------------------------------------------- */

/* One row of RMSNormalization, the scale covering the whole row (Llama's
 * case); the sum of squares in double lanes. */
LO_VECTOR_CLONES static void rms_row_f32(const float *xr, const float *w, float *yr, int64_t n, float eps) {
    double ss = lo_sum_squares_f32(xr, n);
    float r = (float)(1.0 / sqrt(ss / (double)n + eps));
#pragma omp simd
    for (int64_t k = 0; k < n; k++) yr[k] = xr[k] * r * w[k];
}

static void rms_rows_f32(const float *x, const float *w, float *y, int64_t rows, int64_t n, float eps) {
#pragma omp parallel for if (rows * n > PAR_WORK)
    for (int64_t r = 0; r < rows; r++) rms_row_f32(x + r * n, w, y + r * n, n, eps);
}

static lo_status rms_run(lo_kernel_ctx *ctx) {
    LO_TRY(need_float_in(ctx, 0, "X"));
    LO_TRY(need_float_in(ctx, 1, "scale"));
    const lo_tensor *x = ctx->in[0], *w = ctx->in[1];
    int axis;
    LO_CHECK(ctx, lo_norm_axis(lo_attr_int(ctx->node, "axis", -1), x->rank, &axis), "axis out of range");
    double eps = lo_attr_float(ctx->node, "epsilon", 1e-5f);
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; i++) outer *= x->dims[i];
    for (int i = axis; i < x->rank; i++) inner *= x->dims[i];
    /* the scale broadcasts over the normalized dims, aligned to the right */
    int nr = x->rank - axis;
    LO_CHECK(ctx, w->rank <= nr, "scale has rank %d, more than the %d normalized dims", w->rank, nr);
    int64_t wstr[LO_MAX_RANK], st = 1;
    for (int d = nr - 1; d >= 0; d--) {
        int wd = d - (nr - w->rank);
        if (wd < 0) {
            wstr[d] = 0;
            continue;
        }
        LO_CHECK(ctx, w->dims[wd] == 1 || w->dims[wd] == x->dims[axis + d], "scale does not broadcast to X");
        wstr[d] = w->dims[wd] == 1 ? 0 : st;
        st *= w->dims[wd];
    }
    LO_TRY(lo_output(ctx, 0, x->dtype, x->rank, x->dims));
    if (!has_out(ctx, 0)) return LO_OK;
    if (x->dtype == LO_FLOAT && w->dtype == LO_FLOAT && lo_numel(w) == inner && inner > 0 && !lo_use_ref(ctx)) {
        rms_rows_f32(x->data, w->data, ctx->out[0]->data, outer, inner, (float)eps);
        return LO_OK;
    }
    for (int64_t o = 0; o < outer; o++) {
        double ss = 0;
        for (int64_t i = 0; i < inner; i++) {
            double v = lo_get_f64(x, o * inner + i);
            ss += v * v;
        }
        double r = 1.0 / sqrt(ss / (double)inner + eps);
        for (int64_t i = 0; i < inner; i++) {
            int64_t wi = 0, rem = i;
            for (int d = nr - 1; d >= 0; d--) {
                wi += (rem % x->dims[axis + d]) * wstr[d];
                rem /= x->dims[axis + d];
            }
            lo_set_f64(ctx->out[0], o * inner + i, lo_get_f64(x, o * inner + i) * r * lo_get_f64(w, wi));
        }
    }
    return LO_OK;
}

const lo_op_def lo_ops_norm[] = {
    {"", "BatchNormalization", 1, LO_OPSET_MAX, batchnorm_prepare, batchnorm_run, NULL, LO_OP_FAST},
    {"", "LayerNormalization", 17, LO_OPSET_MAX, layernorm_prepare, layernorm_run, NULL, LO_OP_FAST},
    {"", "InstanceNormalization", 1, LO_OPSET_MAX, instancenorm_prepare, groupnorm_run, NULL, LO_OP_FAST},
    {"", "GroupNormalization", 18, LO_OPSET_MAX, groupnorm_prepare, groupnorm_run, NULL, 0},
    {"", "LRN", 1, LO_OPSET_MAX, lrn_prepare, lrn_run, NULL, 0},
    {"", "MeanVarianceNormalization", 9, LO_OPSET_MAX, mvn_prepare, mvn_run, NULL, 0},
    {"", "LpNormalization", 1, LO_OPSET_MAX, lpnorm_prepare, lpnorm_run, NULL, 0},
    {"", "Softmax", 1, LO_OPSET_MAX, softmax_prepare, softmax_run, NULL, LO_OP_FAST},
    {"", "LogSoftmax", 1, LO_OPSET_MAX, log_softmax_prepare, softmax_run, NULL, LO_OP_FAST},
    {"", "Hardmax", 1, LO_OPSET_MAX, hardmax_prepare, softmax_run, NULL, 0},
    {"", "RMSNormalization", 23, LO_OPSET_MAX, NULL, rms_run, NULL, LO_OP_FAST},
    {0},
};
