/* Pooling: MaxPool, AveragePool, LpPool, their Global forms, MaxUnpool,
 * MaxRoiPool, RoiAlign.
 *
 * The reference path walks every window of any rank and element type in
 * double; float32 2-D max and average pooling (the layers of every CNN) also
 * have a fast path with the window bounds hoisted out of the inner loops,
 * tested against the reference. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ops.h"

#define MAX_SPATIAL (LO_MAX_RANK - 2)
#define ATTR_LIMIT ((int64_t)1 << 31)

typedef enum pool_kind { POOL_MAX, POOL_AVG, POOL_LP } pool_kind;
typedef enum auto_pad_kind { PAD_NOTSET, PAD_SAME_UPPER, PAD_SAME_LOWER, PAD_VALID } auto_pad_kind;

typedef struct pool_params {
    pool_kind kind;
    auto_pad_kind auto_pad;
    bool ceil_mode, count_include_pad, column_major_indices;
    double p;
    int n_kernel, n_strides, n_dilations, n_pads;
    int64_t kernel[MAX_SPATIAL], strides[MAX_SPATIAL], dilations[MAX_SPATIAL];
    int64_t pads[2 * MAX_SPATIAL];
} pool_params;

typedef struct pool_geom {
    int nsp;
    int64_t planes; /* N * C */
    int64_t in[MAX_SPATIAL], out[MAX_SPATIAL], kernel[MAX_SPATIAL];
    int64_t stride[MAX_SPATIAL], dilation[MAX_SPATIAL], pad_begin[MAX_SPATIAL],
        pad_end[MAX_SPATIAL];
    int64_t in_size, out_size;
} pool_geom;

/* ---- element access ----------------------------------------------------- */

static bool pool_dtype_ok(lo_dtype t, bool integers) {
    return t == LO_FLOAT || t == LO_DOUBLE || t == LO_FLOAT16 || t == LO_BFLOAT16 ||
           (integers && (t == LO_INT8 || t == LO_UINT8));
}

static double load(const void *data, lo_dtype t, int64_t i) {
    switch (t) {
    case LO_FLOAT: return ((const float *)data)[i];
    case LO_DOUBLE: return ((const double *)data)[i];
    case LO_FLOAT16: return lo_half_to_float(((const uint16_t *)data)[i]);
    case LO_BFLOAT16: return lo_bfloat16_to_float(((const uint16_t *)data)[i]);
    case LO_INT8: return ((const int8_t *)data)[i];
    case LO_UINT8: return ((const uint8_t *)data)[i];
    default: LO_ASSERT(0 && "pool dtype checked before");
    }
    return 0;
}

/* Stores a value that is either an element read by load() (max pooling:
 * exact) or a computed one, rounded to nearest. */
static void store(void *data, lo_dtype t, int64_t i, double v) {
    switch (t) {
    case LO_FLOAT: ((float *)data)[i] = (float)v; break;
    case LO_DOUBLE: ((double *)data)[i] = v; break;
    case LO_FLOAT16: ((uint16_t *)data)[i] = lo_float_to_half((float)v); break;
    case LO_BFLOAT16: ((uint16_t *)data)[i] = lo_float_to_bfloat16((float)v); break;
    case LO_INT8: ((int8_t *)data)[i] = (int8_t)v; break;
    case LO_UINT8: ((uint8_t *)data)[i] = (uint8_t)v; break;
    default: LO_ASSERT(0 && "pool dtype checked before");
    }
}

static double lowest(lo_dtype t) {
    switch (t) {
    case LO_INT8: return -128;
    case LO_UINT8: return 0;
    case LO_DOUBLE: return -DBL_MAX;
    case LO_FLOAT16: return -65504.0;
    default: return -FLT_MAX;
    }
}

/* The executor leaves an omitted output NULL (lo_output then does
 * nothing): a kernel whose only output nobody reads has nothing to do. */
static bool output_wanted(const lo_kernel_ctx *ctx, int i) { return i < ctx->n_out && ctx->out[i]; }

/* ---- attributes --------------------------------------------------------- */


static lo_status parse_auto_pad(const lo_node *node, auto_pad_kind *out, lo_error *err) {
    const char *ap = lo_attr_string(node, "auto_pad", "NOTSET");
    if (strcmp(ap, "NOTSET") == 0)
        *out = PAD_NOTSET;
    else if (strcmp(ap, "SAME_UPPER") == 0)
        *out = PAD_SAME_UPPER;
    else if (strcmp(ap, "SAME_LOWER") == 0)
        *out = PAD_SAME_LOWER;
    else if (strcmp(ap, "VALID") == 0)
        *out = PAD_VALID;
    else
        return lo_fail(err, LO_ERR_MODEL, "node '%s' (%s): unknown auto_pad '%s'", node->name,
                       node->op_type, ap);
    return LO_OK;
}

static lo_status pool_prepare_kind(const lo_node *node, void **params, lo_error *err,
                                   pool_kind kind) {
    pool_params *p = lo_calloc(1, sizeof *p, err);
    if (!p) return LO_ERR_NOMEM;
    p->kind = kind;
    lo_status st = parse_auto_pad(node, &p->auto_pad, err);
    if (st == LO_OK) st = lo_attr_ints_checked(node, "kernel_shape", MAX_SPATIAL, 1, &p->n_kernel, p->kernel, err);
    if (st == LO_OK) st = lo_attr_ints_checked(node, "strides", MAX_SPATIAL, 1, &p->n_strides, p->strides, err);
    if (st == LO_OK)
        st = lo_attr_ints_checked(node, "dilations", MAX_SPATIAL, 1, &p->n_dilations, p->dilations, err);
    if (st == LO_OK) st = lo_attr_ints_checked(node, "pads", 2 * MAX_SPATIAL, 0, &p->n_pads, p->pads, err);
    if (st == LO_OK && p->n_kernel == 0)
        st = lo_fail(err, LO_ERR_MODEL, "node '%s' (%s): kernel_shape is required", node->name,
                     node->op_type);
    if (st == LO_OK && ((p->n_strides && p->n_strides != p->n_kernel) ||
                        (p->n_dilations && p->n_dilations != p->n_kernel) ||
                        (p->n_pads && p->n_pads != 2 * p->n_kernel)))
        st = lo_fail(err, LO_ERR_MODEL,
                     "node '%s' (%s): strides/dilations/pads do not match kernel_shape's %d dims",
                     node->name, node->op_type, p->n_kernel);
    int64_t ceil_mode = lo_attr_int(node, "ceil_mode", 0);
    int64_t cip = lo_attr_int(node, "count_include_pad", 0);
    int64_t order = lo_attr_int(node, "storage_order", 0);
    if (st == LO_OK && (ceil_mode < 0 || ceil_mode > 1 || cip < 0 || cip > 1 || order < 0 || order > 1))
        st = lo_fail(err, LO_ERR_MODEL,
                     "node '%s' (%s): ceil_mode, count_include_pad and storage_order must be 0 or 1",
                     node->name, node->op_type);
    p->ceil_mode = ceil_mode;
    p->count_include_pad = cip;
    p->column_major_indices = order;
    p->p = lo_attr_float(node, "p", 2.0f);
    if (st == LO_OK && kind == POOL_LP && !(p->p > 0))
        st = lo_fail(err, LO_ERR_MODEL, "node '%s' (%s): p = %g must be positive", node->name,
                     node->op_type, p->p);
    if (st != LO_OK) {
        free(p);
        return st;
    }
    *params = p;
    return LO_OK;
}

static lo_status max_pool_prepare(const lo_node *node, void **params, lo_error *err) {
    return pool_prepare_kind(node, params, err, POOL_MAX);
}
static lo_status avg_pool_prepare(const lo_node *node, void **params, lo_error *err) {
    return pool_prepare_kind(node, params, err, POOL_AVG);
}
static lo_status lp_pool_prepare(const lo_node *node, void **params, lo_error *err) {
    return pool_prepare_kind(node, params, err, POOL_LP);
}

/* ---- geometry ----------------------------------------------------------- */

static lo_status pool_geometry(lo_kernel_ctx *ctx, const pool_params *p, const lo_tensor *x,
                               pool_geom *g) {
    LO_CHECK(ctx, x->rank >= 3, "X has rank %d, expected at least 3 (N, C, spatial...)", x->rank);
    memset(g, 0, sizeof *g);
    g->nsp = x->rank - 2;
    if (p->n_kernel != g->nsp)
        return lo_kernel_fail(ctx, LO_ERR_MODEL, "kernel_shape has %d dims but X has %d spatial dims",
                              p->n_kernel, g->nsp);
    g->planes = x->dims[0] * x->dims[1];
    g->in_size = g->out_size = 1;
    for (int d = 0; d < g->nsp; d++) {
        int64_t in = x->dims[2 + d], k = p->kernel[d];
        int64_t s = p->n_strides ? p->strides[d] : 1, dil = p->n_dilations ? p->dilations[d] : 1;
        int64_t pb = p->n_pads ? p->pads[d] : 0, pe = p->n_pads ? p->pads[g->nsp + d] : 0;
        int64_t ext = (k - 1) * dil + 1, out;
        if (p->auto_pad == PAD_SAME_UPPER || p->auto_pad == PAD_SAME_LOWER) {
            out = (in + s - 1) / s;
            int64_t total = (out - 1) * s + ext - in;
            if (total < 0) total = 0;
            pb = p->auto_pad == PAD_SAME_UPPER ? total / 2 : total - total / 2;
            pe = total - pb;
        } else {
            if (p->auto_pad == PAD_VALID) pb = pe = 0;
            int64_t span = in + pb + pe - ext;
            LO_CHECK(ctx, span >= 0,
                     "spatial dim %d: input %lld with pads %lld+%lld is smaller than the window %lld",
                     d, (long long)in, (long long)pb, (long long)pe, (long long)ext);
            out = (p->ceil_mode ? (span + s - 1) / s : span / s) + 1;
            /* A window that would start in the end padding is dropped. */
            if (p->ceil_mode && (out - 1) * s >= in + pb) out--;
        }
        g->in[d] = in;
        g->out[d] = out;
        g->kernel[d] = k;
        g->stride[d] = s;
        g->dilation[d] = dil;
        g->pad_begin[d] = pb;
        g->pad_end[d] = pe;
        g->in_size *= in;
        g->out_size *= out;
    }
    /* Attribute values only bounded by 2^31 could ask for a window walk
     * that never ends; real models are many orders of magnitude below. */
    double taps = (double)g->planes * (double)g->out_size;
    for (int d = 0; d < g->nsp; d++) taps *= (double)g->kernel[d];
    if (taps > 1e14)
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "%.3g window taps are too many", taps);
    return LO_OK;
}

/* ---- reference ---------------------------------------------------------- */

/* One output element of any pooling: walks the window tap by tap. */
static void pool_window(const pool_params *p, const pool_geom *g, const void *x, lo_dtype t,
                        int64_t plane, const int64_t *o, double *value, int64_t *argmax) {
    int64_t k[MAX_SPATIAL] = {0};
    int64_t count = 0, best_at = -1;
    double acc = 0, best = 0;
    const int64_t base = plane * g->in_size;
    for (;;) {
        bool inside = true, in_padded = true;
        int64_t off = 0, col_off = 0, col_stride = 1;
        for (int d = 0; d < g->nsp; d++) {
            int64_t i = o[d] * g->stride[d] - g->pad_begin[d] + k[d] * g->dilation[d];
            if (i < 0 || i >= g->in[d]) inside = false;
            if (i >= g->in[d] + g->pad_end[d]) in_padded = false;
            off = off * g->in[d] + i;
            col_off += i * col_stride;
            col_stride *= g->in[d];
        }
        if (inside) {
            double v = load(x, t, base + off);
            if (p->kind == POOL_MAX) {
                if (best_at < 0 || v > best || (best != best && v == v)) {
                    best = v;
                    best_at = p->column_major_indices ? col_off : off;
                }
            } else if (p->kind == POOL_AVG) {
                acc += v;
            } else {
                acc += pow(fabs(v), p->p);
            }
            count++;
        } else if (in_padded && p->count_include_pad) {
            count++;
        }
        int d = g->nsp - 1;
        while (d >= 0 && ++k[d] == g->kernel[d]) k[d--] = 0;
        if (d < 0) break;
    }
    if (p->kind == POOL_MAX) {
        *value = best_at < 0 ? lowest(t) : best;
        *argmax = best_at < 0 ? -1 : plane * g->in_size + best_at;
    } else if (p->kind == POOL_AVG) {
        *value = count ? acc / (double)count : 0.0;
    } else {
        *value = pow(acc, 1.0 / p->p);
    }
}

static void pool_reference(const pool_params *p, const pool_geom *g, const lo_tensor *x,
                           lo_tensor *y, lo_tensor *indices) {
    int64_t total = g->planes * g->out_size;
    int64_t work = total * lo_numel_dims(g->nsp, g->kernel);
#pragma omp parallel for schedule(static) if (work > 200000)
    for (int64_t plane = 0; plane < g->planes; plane++) {
        int64_t o[MAX_SPATIAL] = {0};
        for (int64_t op = 0; op < g->out_size; op++) {
            double v;
            int64_t arg = -1;
            pool_window(p, g, x->data, x->dtype, plane, o, &v, &arg);
            store(y->data, y->dtype, plane * g->out_size + op, v);
            if (indices) ((int64_t *)indices->data)[plane * g->out_size + op] = arg;
            int d = g->nsp - 1;
            while (d >= 0 && ++o[d] == g->out[d]) o[d--] = 0;
        }
    }
}

/* ---- float32 2-D fast path ---------------------------------------------- */

/* The taps of output position o along one dim that fall inside the input:
 * k in [k0, k1). */
static void tap_range(int64_t o, int64_t stride, int64_t pad, int64_t dil, int64_t kernel,
                      int64_t in, int64_t *k0, int64_t *k1) {
    int64_t start = o * stride - pad;
    int64_t lo = start < 0 ? (-start + dil - 1) / dil : 0;
    int64_t hi = in - start <= 0 ? 0 : (in - start + dil - 1) / dil;
    if (hi > kernel) hi = kernel;
    if (lo > hi) lo = hi;
    *k0 = lo;
    *k1 = hi;
}

/* Taps counted by count_include_pad: those before the end of the padding. */
static int64_t padded_taps(int64_t o, int64_t stride, int64_t pad, int64_t pad_end, int64_t dil,
                           int64_t kernel, int64_t in) {
    int64_t start = o * stride - pad, limit = in + pad_end;
    int64_t n = limit - start <= 0 ? 0 : (limit - start + dil - 1) / dil;
    return n > kernel ? kernel : n;
}

/* One output of the float32 2-D path with bounds checks: the window edges. */
static float pool2d_edge(const pool_params *p, const pool_geom *g, const float *xp, int64_t oh,
                         int64_t ow) {
    const int64_t H = g->in[0], W = g->in[1];
    int64_t kh0, kh1, kw0, kw1;
    tap_range(oh, g->stride[0], g->pad_begin[0], g->dilation[0], g->kernel[0], H, &kh0, &kh1);
    tap_range(ow, g->stride[1], g->pad_begin[1], g->dilation[1], g->kernel[1], W, &kw0, &kw1);
    const int64_t h0 = oh * g->stride[0] - g->pad_begin[0], w0 = ow * g->stride[1] - g->pad_begin[1];
    if (p->kind == POOL_MAX) {
        float best = 0;
        bool any = false;
        for (int64_t kh = kh0; kh < kh1; kh++) {
            const float *row = xp + (h0 + kh * g->dilation[0]) * W + w0;
            for (int64_t kw = kw0; kw < kw1; kw++) {
                float v = row[kw * g->dilation[1]];
                if (!any || v > best || (best != best && v == v)) best = v;
                any = true;
            }
        }
        return any ? best : -FLT_MAX;
    }
    double acc = 0;
    for (int64_t kh = kh0; kh < kh1; kh++) {
        const float *row = xp + (h0 + kh * g->dilation[0]) * W + w0;
        for (int64_t kw = kw0; kw < kw1; kw++) acc += row[kw * g->dilation[1]];
    }
    int64_t count =
        p->count_include_pad
            ? padded_taps(oh, g->stride[0], g->pad_begin[0], g->pad_end[0], g->dilation[0],
                          g->kernel[0], H) *
                  padded_taps(ow, g->stride[1], g->pad_begin[1], g->pad_end[1], g->dilation[1],
                              g->kernel[1], W)
            : (kh1 - kh0) * (kw1 - kw0);
    return count ? (float)(acc / (double)count) : 0.f;
}

/* Float32 2-D max and average pooling. Columns whose window lies inside
 * the input horizontally are done a chunk of outputs at a time, one tap
 * after another across the chunk, which vectorizes and visits the taps in
 * the reference's order (so averages are bit-identical to it); the rest go
 * through pool2d_edge. */
static void pool2d_f32(const pool_params *p, const pool_geom *g, const float *x, float *y) {
    const int64_t H = g->in[0], W = g->in[1], OH = g->out[0], OW = g->out[1];
    const int64_t KH = g->kernel[0], KW = g->kernel[1], SH = g->stride[0], SW = g->stride[1];
    const int64_t DH = g->dilation[0], DW = g->dilation[1], PT = g->pad_begin[0],
                  PL = g->pad_begin[1];
    const bool is_max = p->kind == POOL_MAX;
    /* ow in [ow_lo, ow_hi): every horizontal tap is inside the row. */
    int64_t ow_lo = (PL + SW - 1) / SW, last = W - 1 - (KW - 1) * DW + PL;
    int64_t ow_hi = last < 0 ? 0 : last / SW + 1;
    if (ow_lo > OW) ow_lo = OW;
    if (ow_hi > OW) ow_hi = OW;
    if (ow_hi < ow_lo) ow_hi = ow_lo;
    int64_t work = g->planes * g->out_size * KH * KW;
#pragma omp parallel for schedule(static) if (work > 200000)
    for (int64_t plane = 0; plane < g->planes; plane++) {
        const float *xp = x + plane * H * W;
        float *yp = y + plane * OH * OW;
        for (int64_t oh = 0; oh < OH; oh++) {
            float *yrow = yp + oh * OW;
            for (int64_t ow = 0; ow < ow_lo; ow++) yrow[ow] = pool2d_edge(p, g, xp, oh, ow);
            for (int64_t ow = ow_hi; ow < OW; ow++) yrow[ow] = pool2d_edge(p, g, xp, oh, ow);
            if (ow_hi == ow_lo) continue;
            int64_t kh0, kh1;
            tap_range(oh, SH, PT, DH, KH, H, &kh0, &kh1);
            const int64_t h0 = oh * SH - PT;
            int64_t count = p->count_include_pad
                                ? padded_taps(oh, SH, PT, g->pad_end[0], DH, KH, H) * KW
                                : (kh1 - kh0) * KW;
            enum { CHUNK = 256, VSPAN = CHUNK * 2 + 64 };
            for (int64_t c0 = ow_lo; c0 < ow_hi; c0 += CHUNK) {
                const int n = (int)(ow_hi - c0 < CHUNK ? ow_hi - c0 : CHUNK);
                if (is_max && SW == 2 && DW == 1 && (n - 1) * 2 + KW <= VSPAN) {
                    /* ResNet's 3x3 stride-2 pool and its kind: the column
                     * maxima of the window's rows first (contiguous), then
                     * each output's KW of them at a constant stride, which
                     * vectorizes as shuffles (resnet18's pool: 0.74 -> 0.58
                     * ms on 1 thread). The same maximum as tap by tap; NaN
                     * skipped alike, an all-NaN window settled exactly. */
                    float vm[VSPAN], acc[CHUNK];
                    const int64_t span = (n - 1) * 2 + KW;
                    const float *col = xp + c0 * 2 - PL;
                    for (int64_t j = 0; j < span; j++) vm[j] = -INFINITY;
                    for (int64_t kh = kh0; kh < kh1; kh++) {
                        const float *row = col + (h0 + kh * DH) * W;
#pragma omp simd
                        for (int64_t j = 0; j < span; j++) vm[j] = row[j] > vm[j] ? row[j] : vm[j];
                    }
                    for (int i = 0; i < n; i++) acc[i] = -INFINITY;
                    for (int64_t kw = 0; kw < KW; kw++)
#pragma omp simd
                        for (int i = 0; i < n; i++) {
                            float v = vm[2 * i + kw];
                            acc[i] = v > acc[i] ? v : acc[i];
                        }
                    int unsettled = 0;
#pragma omp simd reduction(| : unsettled)
                    for (int i = 0; i < n; i++) {
                        yrow[c0 + i] = acc[i];
                        unsettled |= acc[i] == -INFINITY;
                    }
                    for (int i = 0; unsettled && i < n; i++)
                        if (acc[i] == -INFINITY) yrow[c0 + i] = pool2d_edge(p, g, xp, oh, c0 + i);
                } else if (is_max) {
                    float acc[CHUNK];
                    for (int i = 0; i < n; i++) acc[i] = -INFINITY;
                    for (int64_t kh = kh0; kh < kh1; kh++) {
                        const float *row = xp + (h0 + kh * DH) * W + c0 * SW - PL;
                        for (int64_t kw = 0; kw < KW; kw++) {
                            const float *src = row + kw * DW;
#pragma omp simd
                            for (int i = 0; i < n; i++) {
                                float v = src[i * SW];
                                acc[i] = v > acc[i] ? v : acc[i];
                            }
                        }
                    }
                    /* -inf also stands for "only NaN seen": settle those
                     * (rare) outputs the exact way. */
                    for (int i = 0; i < n; i++)
                        yrow[c0 + i] = acc[i] == -INFINITY ? pool2d_edge(p, g, xp, oh, c0 + i) : acc[i];
                } else {
                    double acc[CHUNK];
                    for (int i = 0; i < n; i++) acc[i] = 0;
                    for (int64_t kh = kh0; kh < kh1; kh++) {
                        const float *row = xp + (h0 + kh * DH) * W + c0 * SW - PL;
                        for (int64_t kw = 0; kw < KW; kw++) {
                            const float *src = row + kw * DW;
#pragma omp simd
                            for (int i = 0; i < n; i++) acc[i] += src[i * SW];
                        }
                    }
                    for (int i = 0; i < n; i++)
                        yrow[c0 + i] = count ? (float)(acc[i] / (double)count) : 0.f;
                }
            }
        }
    }
}

static lo_status pool_run(lo_kernel_ctx *ctx) {
    const pool_params *p = ctx->params;
    LO_CHECK(ctx, ctx->n_in >= 1 && ctx->in[0], "X is required");
    const lo_tensor *x = ctx->in[0];
    bool integers = p->kind == POOL_MAX && ctx->node->opset >= 12;
    LO_CHECK(ctx, pool_dtype_ok(x->dtype, integers), "X has unsupported type %s",
             lo_dtype_name(x->dtype));
    pool_geom g;
    LO_TRY(pool_geometry(ctx, p, x, &g));
    int64_t dims[LO_MAX_RANK];
    dims[0] = x->dims[0];
    dims[1] = x->dims[1];
    for (int d = 0; d < g.nsp; d++) dims[2 + d] = g.out[d];
    bool want_y = output_wanted(ctx, 0);
    bool want_indices = p->kind == POOL_MAX && output_wanted(ctx, 1);
    if (!want_y && !want_indices) return LO_OK;
    LO_TRY(lo_output(ctx, 0, x->dtype, x->rank, dims));
    if (want_indices) LO_TRY(lo_output(ctx, 1, LO_INT64, x->rank, dims));
    lo_tensor *indices = want_indices ? ctx->out[1] : NULL;
    /* Only the indices wanted: the values still need somewhere to go. */
    lo_tensor y_scratch = {0};
    lo_tensor *y = want_y ? ctx->out[0] : &y_scratch;
    void *heap = NULL;
    if (!want_y) {
        y_scratch.dtype = x->dtype;
        y_scratch.rank = x->rank;
        memcpy(y_scratch.dims, dims, sizeof dims);
        size_t bytes = (size_t)lo_numel(&y_scratch) * lo_dtype_size(x->dtype);
        y_scratch.data = lo_scratch(ctx, bytes);
        if (!y_scratch.data) y_scratch.data = heap = malloc(bytes ? bytes : 1);
        if (!y_scratch.data) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory for values");
    }
    if (lo_numel(y) > 0) {
        if (x->dtype == LO_FLOAT && g.nsp == 2 && !indices && p->kind != POOL_LP &&
            !lo_use_ref(ctx))
            pool2d_f32(p, &g, x->data, y->data);
        else
            pool_reference(p, &g, x, y, indices);
    }
    free(heap);
    return LO_OK;
}

/* ---- global pooling ----------------------------------------------------- */

static lo_status global_pool(lo_kernel_ctx *ctx, pool_kind kind, double pw) {
    LO_CHECK(ctx, ctx->n_in >= 1 && ctx->in[0], "X is required");
    const lo_tensor *x = ctx->in[0];
    LO_CHECK(ctx, x->rank >= 2, "X has rank %d, expected at least 2", x->rank);
    LO_CHECK(ctx, pool_dtype_ok(x->dtype, false), "X has unsupported type %s",
             lo_dtype_name(x->dtype));
    int64_t dims[LO_MAX_RANK];
    for (int d = 0; d < x->rank; d++) dims[d] = d < 2 ? x->dims[d] : 1;
    if (!output_wanted(ctx, 0)) return LO_OK;
    LO_TRY(lo_output(ctx, 0, x->dtype, x->rank, dims));
    lo_tensor *y = ctx->out[0];
    int64_t planes = x->dims[0] * x->dims[1], size = lo_numel_dims(x->rank - 2, x->dims + 2);
    if (planes == 0) return LO_OK;
    LO_CHECK(ctx, size > 0 || kind != POOL_MAX, "global max pooling of an empty plane");
    const lo_dtype t = x->dtype;
    lo_tensor plain_x = {0};
    if (ctx->in_blocked) {
        /* X in oneDNN's nCx16c (a squeeze-excitation's depthwise output):
         * averages from the same lanes as NCHW's, so the same bits */
        if (t == LO_FLOAT && kind == POOL_AVG && x->dims[1] % 16 == 0) {
            const int64_t groups = x->dims[0] * (x->dims[1] / 16);
            const float *xd = x->data;
            void *yd = y->data;
#pragma omp parallel for schedule(static) if (planes * size > 100000)
            for (int64_t gi = 0; gi < groups; gi++) {
                double sums[16];
                lo_sum16_f32(xd + gi * 16 * size, size, sums);
                for (int l = 0; l < 16; l++) store(yd, t, gi * 16 + l, size ? sums[l] / (double)size : 0.0);
            }
            return LO_OK;
        }
        if (!lo_unblocked_copy(x, &plain_x)) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
        x = &plain_x;
    }
#pragma omp parallel for schedule(static) if (planes * size > 100000)
    for (int64_t pl = 0; pl < planes; pl++) {
        double acc = 0, best = 0;
        if (t == LO_FLOAT && kind != POOL_LP) {
            const float *xp = (const float *)x->data + pl * size;
            if (kind == POOL_MAX) {
                float b = xp[0];
                for (int64_t i = 1; i < size; i++)
                    if (xp[i] > b || (b != b && xp[i] == xp[i])) b = xp[i];
                best = b;
            } else {
                acc = lo_sum_f32(xp, size);
            }
        } else {
            for (int64_t i = 0; i < size; i++) {
                double v = load(x->data, t, pl * size + i);
                if (kind == POOL_MAX) {
                    if (i == 0 || v > best || (best != best && v == v)) best = v;
                } else if (kind == POOL_AVG) {
                    acc += v;
                } else {
                    acc += pow(fabs(v), pw);
                }
            }
        }
        double out = kind == POOL_MAX ? best
                     : kind == POOL_AVG ? (size ? acc / (double)size : 0.0)
                                        : pow(acc, 1.0 / pw);
        store(y->data, t, pl, out);
    }
    free(plain_x.data);
    return LO_OK;
}

static lo_status global_avg_run(lo_kernel_ctx *ctx) { return global_pool(ctx, POOL_AVG, 1); }
static lo_status global_max_run(lo_kernel_ctx *ctx) { return global_pool(ctx, POOL_MAX, 1); }
static lo_status global_lp_run(lo_kernel_ctx *ctx) {
    const pool_params *p = ctx->params;
    return global_pool(ctx, POOL_LP, p->p);
}

static lo_status global_lp_prepare(const lo_node *node, void **params, lo_error *err) {
    pool_params *p = lo_calloc(1, sizeof *p, err);
    if (!p) return LO_ERR_NOMEM;
    p->kind = POOL_LP;
    p->p = lo_attr_float(node, "p", 2.0f);
    if (!(p->p > 0)) {
        free(p);
        return lo_fail(err, LO_ERR_MODEL, "node '%s' (%s): p must be positive", node->name,
                       node->op_type);
    }
    *params = p;
    return LO_OK;
}

/* ---- MaxUnpool ---------------------------------------------------------- */

static lo_status max_unpool_run(lo_kernel_ctx *ctx) {
    const pool_params *p = ctx->params;
    LO_CHECK(ctx, ctx->n_in >= 2 && ctx->in[0] && ctx->in[1], "X and I are required");
    const lo_tensor *x = ctx->in[0], *ind = ctx->in[1];
    const lo_tensor *shape = ctx->n_in > 2 ? ctx->in[2] : NULL;
    LO_CHECK(ctx, pool_dtype_ok(x->dtype, false), "X has unsupported type %s",
             lo_dtype_name(x->dtype));
    LO_CHECK(ctx, x->rank >= 3, "X has rank %d, expected at least 3", x->rank);
    int nsp = x->rank - 2;
    if (p->n_kernel != nsp)
        return lo_kernel_fail(ctx, LO_ERR_MODEL, "kernel_shape has %d dims but X has %d spatial dims",
                              p->n_kernel, nsp);
    LO_CHECK(ctx, ind->dtype == LO_INT64 && ind->rank == x->rank && lo_numel(ind) == lo_numel(x),
             "I must be int64 with the shape of X");
    for (int d = 0; d < x->rank; d++)
        LO_CHECK(ctx, ind->dims[d] == x->dims[d], "I must have the shape of X");
    /* Without output_shape the result has the size the kernel implies.
     * With it, indices are flat positions in that shape, as MaxPool produced
     * them on an input of that size: ONNX Runtime's and PyTorch's reading.
     * (ONNX's own test_maxunpool_export_with_output_shape instead embeds the
     * implied shape in a larger one; models exported from PyTorch would come
     * out wrong that way.) */
    int64_t dims[LO_MAX_RANK];
    dims[0] = x->dims[0];
    dims[1] = x->dims[1];
    for (int d = 0; d < nsp; d++) {
        int64_t s = p->n_strides ? p->strides[d] : 1;
        int64_t pads = p->n_pads ? p->pads[d] + p->pads[nsp + d] : 0;
        dims[2 + d] = (x->dims[2 + d] - 1) * s - pads + p->kernel[d];
        LO_CHECK(ctx, dims[2 + d] >= 0, "spatial dim %d: unpooled size %lld is negative", d,
                 (long long)dims[2 + d]);
    }
    if (shape) {
        LO_CHECK(ctx, shape->dtype == LO_INT64 && shape->rank == 1 && shape->dims[0] == x->rank,
                 "output_shape must be int64 with %d values", x->rank);
        for (int d = 0; d < x->rank; d++) {
            dims[d] = ((const int64_t *)shape->data)[d];
            LO_CHECK(ctx, dims[d] >= 0, "output_shape[%d] = %lld is negative", d, (long long)dims[d]);
        }
        LO_CHECK(ctx, dims[0] == x->dims[0] && dims[1] == x->dims[1],
                 "output_shape must keep X's batch and channels");
    }
    if (!output_wanted(ctx, 0)) return LO_OK;
    LO_TRY(lo_output(ctx, 0, x->dtype, x->rank, dims));
    lo_tensor *y = ctx->out[0];
    memset(y->data, 0, y->nbytes);
    size_t es = lo_dtype_size(x->dtype);
    int64_t total = lo_numel(y), n = lo_numel(x);
    const int64_t *iv = ind->data;
    for (int64_t i = 0; i < n; i++) {
        int64_t at = iv[i];
        LO_CHECK(ctx, at >= 0 && at < total, "index %lld at %lld is outside [0, %lld)",
                 (long long)at, (long long)i, (long long)total);
        memcpy((char *)y->data + (size_t)at * es, (const char *)x->data + (size_t)i * es, es);
    }
    return LO_OK;
}

/* ---- MaxRoiPool --------------------------------------------------------- */

typedef struct roi_params {
    int64_t pooled[2];
    float spatial_scale;
    int64_t sampling_ratio;
    bool max_mode, half_pixel;
} roi_params;

static lo_status max_roi_pool_prepare(const lo_node *node, void **params, lo_error *err) {
    int64_t n = 0;
    const int64_t *ps = lo_attr_ints(node, "pooled_shape", &n);
    if (n != 2 || ps[0] < 1 || ps[1] < 1 || ps[0] > ATTR_LIMIT || ps[1] > ATTR_LIMIT)
        return lo_fail(err, LO_ERR_MODEL, "node '%s' (%s): pooled_shape must be two positive values",
                       node->name, node->op_type);
    roi_params *p = lo_calloc(1, sizeof *p, err);
    if (!p) return LO_ERR_NOMEM;
    p->pooled[0] = ps[0];
    p->pooled[1] = ps[1];
    p->spatial_scale = lo_attr_float(node, "spatial_scale", 1.0f);
    *params = p;
    return LO_OK;
}

static lo_status roi_inputs(lo_kernel_ctx *ctx, const lo_tensor *x, const lo_tensor *rois,
                            int64_t cols) {
    LO_CHECK(ctx, pool_dtype_ok(x->dtype, false), "X has unsupported type %s",
             lo_dtype_name(x->dtype));
    LO_CHECK(ctx, x->rank == 4, "X must be (N, C, H, W), has rank %d", x->rank);
    LO_CHECK(ctx, rois->dtype == x->dtype, "rois has type %s, X has %s", lo_dtype_name(rois->dtype),
             lo_dtype_name(x->dtype));
    LO_CHECK(ctx, rois->rank == 2 && rois->dims[1] == cols, "rois must be (num_rois, %lld)",
             (long long)cols);
    return LO_OK;
}

static lo_status max_roi_pool_run(lo_kernel_ctx *ctx) {
    const roi_params *p = ctx->params;
    LO_CHECK(ctx, ctx->n_in >= 2 && ctx->in[0] && ctx->in[1], "X and rois are required");
    const lo_tensor *x = ctx->in[0], *rois = ctx->in[1];
    LO_TRY(roi_inputs(ctx, x, rois, 5));
    int64_t R = rois->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
    int64_t PH = p->pooled[0], PW = p->pooled[1];
    for (int64_t r = 0; r < R; r++) {
        double b = load(rois->data, rois->dtype, r * 5);
        LO_CHECK(ctx, b >= 0 && b < (double)x->dims[0] && b == floor(b),
                 "roi %lld has batch index %g outside [0, %lld)", (long long)r, b,
                 (long long)x->dims[0]);
        for (int k = 1; k < 5; k++) {
            double v = load(rois->data, rois->dtype, r * 5 + k) * p->spatial_scale;
            LO_CHECK(ctx, fabs(v) < 1e15, "roi %lld has coordinate %g out of range", (long long)r, v);
        }
    }
    int64_t dims[4] = {R, C, PH, PW};
    if (!output_wanted(ctx, 0)) return LO_OK;
    LO_TRY(lo_output(ctx, 0, x->dtype, 4, dims));
    lo_tensor *y = ctx->out[0];
    const lo_dtype t = x->dtype;
#pragma omp parallel for schedule(static) if (R * C * H * W > 100000)
    for (int64_t rc = 0; rc < R * C; rc++) {
        int64_t r = rc / C, c = rc % C;
        const double scale = p->spatial_scale;
        int64_t batch = (int64_t)load(rois->data, t, r * 5);
        /* Caffe's ROI pooling: corners rounded half away from zero, bins of
         * fractional size covering whole pixels. */
        int64_t x1 = (int64_t)round(load(rois->data, t, r * 5 + 1) * scale);
        int64_t y1 = (int64_t)round(load(rois->data, t, r * 5 + 2) * scale);
        int64_t x2 = (int64_t)round(load(rois->data, t, r * 5 + 3) * scale);
        int64_t y2 = (int64_t)round(load(rois->data, t, r * 5 + 4) * scale);
        int64_t rh = y2 - y1 + 1 > 1 ? y2 - y1 + 1 : 1, rw = x2 - x1 + 1 > 1 ? x2 - x1 + 1 : 1;
        float bin_h = (float)rh / (float)PH, bin_w = (float)rw / (float)PW;
        int64_t plane = (batch * C + c) * H * W;
        for (int64_t ph = 0; ph < PH; ph++)
            for (int64_t pw = 0; pw < PW; pw++) {
                int64_t hs = (int64_t)floorf((float)ph * bin_h) + y1;
                int64_t he = (int64_t)ceilf((float)(ph + 1) * bin_h) + y1;
                int64_t ws = (int64_t)floorf((float)pw * bin_w) + x1;
                int64_t we = (int64_t)ceilf((float)(pw + 1) * bin_w) + x1;
                hs = hs < 0 ? 0 : hs > H ? H : hs;
                he = he < 0 ? 0 : he > H ? H : he;
                ws = ws < 0 ? 0 : ws > W ? W : ws;
                we = we < 0 ? 0 : we > W ? W : we;
                double best = 0;
                bool any = false;
                for (int64_t h = hs; h < he; h++)
                    for (int64_t w = ws; w < we; w++) {
                        double v = load(x->data, t, plane + h * W + w);
                        if (!any || v > best) best = v;
                        any = true;
                    }
                store(y->data, t, (rc * PH + ph) * PW + pw, any ? best : 0.0);
            }
    }
    return LO_OK;
}

/* ---- RoiAlign ----------------------------------------------------------- */

static lo_status roi_align_prepare(const lo_node *node, void **params, lo_error *err) {
    roi_params *p = lo_calloc(1, sizeof *p, err);
    if (!p) return LO_ERR_NOMEM;
    const char *mode = lo_attr_string(node, "mode", "avg");
    /* Opset 10 had no coordinate_transformation_mode and behaved as
     * output_half_pixel; opset 16 made half_pixel the default. */
    const char *ctm = lo_attr_string(node, "coordinate_transformation_mode",
                                     node->opset >= 16 ? "half_pixel" : "output_half_pixel");
    p->pooled[0] = lo_attr_int(node, "output_height", 1);
    p->pooled[1] = lo_attr_int(node, "output_width", 1);
    p->sampling_ratio = lo_attr_int(node, "sampling_ratio", 0);
    p->spatial_scale = lo_attr_float(node, "spatial_scale", 1.0f);
    lo_status st = LO_OK;
    if (strcmp(mode, "avg") == 0 || strcmp(mode, "max") == 0)
        p->max_mode = strcmp(mode, "max") == 0;
    else
        st = lo_fail(err, LO_ERR_MODEL, "node '%s' (%s): unknown mode '%s'", node->name,
                     node->op_type, mode);
    if (strcmp(ctm, "half_pixel") == 0 || strcmp(ctm, "output_half_pixel") == 0)
        p->half_pixel = strcmp(ctm, "half_pixel") == 0;
    else if (st == LO_OK)
        st = lo_fail(err, LO_ERR_MODEL, "node '%s' (%s): unknown coordinate_transformation_mode '%s'",
                     node->name, node->op_type, ctm);
    if (st == LO_OK && (p->pooled[0] < 1 || p->pooled[1] < 1 || p->pooled[0] > ATTR_LIMIT ||
                        p->pooled[1] > ATTR_LIMIT || p->sampling_ratio < 0 ||
                        p->sampling_ratio > ATTR_LIMIT))
        st = lo_fail(err, LO_ERR_MODEL,
                     "node '%s' (%s): output_height/output_width must be positive and "
                     "sampling_ratio not negative",
                     node->name, node->op_type);
    if (st != LO_OK) {
        free(p);
        return st;
    }
    *params = p;
    return LO_OK;
}

/* One bilinear sample: the four taps and their weights (all zero when the
 * point is more than one pixel outside the map). */
typedef struct bilinear_tap {
    int64_t pos[4];
    double w[4];
} bilinear_tap;

static bilinear_tap bilinear_at(double y, double x, int64_t H, int64_t W) {
    bilinear_tap t = {{0, 0, 0, 0}, {0, 0, 0, 0}};
    if (!(y >= -1.0 && y <= (double)H && x >= -1.0 && x <= (double)W)) return t; /* NaN too */
    if (y <= 0) y = 0;
    if (x <= 0) x = 0;
    int64_t y0 = (int64_t)y, x0 = (int64_t)x, y1, x1;
    if (y0 >= H - 1) {
        y0 = y1 = H - 1;
        y = (double)y0;
    } else {
        y1 = y0 + 1;
    }
    if (x0 >= W - 1) {
        x0 = x1 = W - 1;
        x = (double)x0;
    } else {
        x1 = x0 + 1;
    }
    double ly = y - (double)y0, lx = x - (double)x0, hy = 1.0 - ly, hx = 1.0 - lx;
    t.pos[0] = y0 * W + x0;
    t.pos[1] = y0 * W + x1;
    t.pos[2] = y1 * W + x0;
    t.pos[3] = y1 * W + x1;
    t.w[0] = hy * hx;
    t.w[1] = hy * lx;
    t.w[2] = ly * hx;
    t.w[3] = ly * lx;
    return t;
}

static lo_status roi_align_run(lo_kernel_ctx *ctx) {
    const roi_params *p = ctx->params;
    LO_CHECK(ctx, ctx->n_in >= 3 && ctx->in[0] && ctx->in[1] && ctx->in[2],
             "X, rois and batch_indices are required");
    const lo_tensor *x = ctx->in[0], *rois = ctx->in[1], *bi = ctx->in[2];
    LO_TRY(roi_inputs(ctx, x, rois, 4));
    int64_t R = rois->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
    LO_CHECK(ctx, bi->dtype == LO_INT64 && bi->rank == 1 && bi->dims[0] == R,
             "batch_indices must be int64 with %lld values", (long long)R);
    int64_t PH = p->pooled[0], PW = p->pooled[1];
    for (int64_t r = 0; r < R; r++) {
        int64_t b = ((const int64_t *)bi->data)[r];
        LO_CHECK(ctx, b >= 0 && b < x->dims[0], "batch_indices[%lld] = %lld outside [0, %lld)",
                 (long long)r, (long long)b, (long long)x->dims[0]);
        /* With sampling_ratio 0 the sample count follows the roi's size: a
         * nonsense roi must not become an endless loop. */
        double extent[2] = {load(rois->data, rois->dtype, r * 4 + 3) - load(rois->data, rois->dtype, r * 4 + 1),
                            load(rois->data, rois->dtype, r * 4 + 2) - load(rois->data, rois->dtype, r * 4)};
        for (int k = 0; k < 2; k++) {
            double samples = fabs(extent[k]) * p->spatial_scale / (double)(k ? PW : PH);
            LO_CHECK(ctx, samples < 65536.0, "roi %lld spans %g, too large to sample",
                     (long long)r, extent[k]);
        }
    }
    int64_t dims[4] = {R, C, PH, PW};
    if (!output_wanted(ctx, 0)) return LO_OK;
    LO_TRY(lo_output(ctx, 0, x->dtype, 4, dims));
    lo_tensor *y = ctx->out[0];
    if (lo_numel(y) == 0 || H == 0 || W == 0) return LO_OK;
    const lo_dtype t = x->dtype;
    const double offset = p->half_pixel ? 0.5 : 0.0, scale = p->spatial_scale;
#pragma omp parallel for schedule(dynamic) if (R * C * PH * PW > 10000)
    for (int64_t rc = 0; rc < R * C; rc++) {
        int64_t r = rc / C, c = rc % C;
        double x1 = load(rois->data, t, r * 4) * scale - offset;
        double y1 = load(rois->data, t, r * 4 + 1) * scale - offset;
        double x2 = load(rois->data, t, r * 4 + 2) * scale - offset;
        double y2 = load(rois->data, t, r * 4 + 3) * scale - offset;
        double rw = x2 - x1, rh = y2 - y1;
        if (!p->half_pixel) {
            rw = rw > 1.0 ? rw : 1.0;
            rh = rh > 1.0 ? rh : 1.0;
        }
        double bin_h = rh / (double)PH, bin_w = rw / (double)PW;
        int64_t gh = p->sampling_ratio > 0 ? p->sampling_ratio : (int64_t)ceil(rh / (double)PH);
        int64_t gw = p->sampling_ratio > 0 ? p->sampling_ratio : (int64_t)ceil(rw / (double)PW);
        double count = gh * gw > 1 ? (double)(gh * gw) : 1.0;
        int64_t plane = (((const int64_t *)bi->data)[r] * C + c) * H * W;
        for (int64_t ph = 0; ph < PH; ph++)
            for (int64_t pw = 0; pw < PW; pw++) {
                double acc = 0;
                bool any = false;
                for (int64_t iy = 0; iy < gh; iy++) {
                    double yy = y1 + (double)ph * bin_h + ((double)iy + 0.5) * bin_h / (double)gh;
                    for (int64_t ix = 0; ix < gw; ix++) {
                        double xx = x1 + (double)pw * bin_w + ((double)ix + 0.5) * bin_w / (double)gw;
                        bilinear_tap tap = bilinear_at(yy, xx, H, W);
                        if (p->max_mode) {
                            /* As ONNX Runtime: the largest weighted tap. */
                            double v = tap.w[0] * load(x->data, t, plane + tap.pos[0]);
                            for (int k = 1; k < 4; k++) {
                                double vk = tap.w[k] * load(x->data, t, plane + tap.pos[k]);
                                if (vk > v) v = vk;
                            }
                            acc = !any || v > acc ? v : acc;
                            any = true;
                        } else {
                            for (int k = 0; k < 4; k++)
                                acc += tap.w[k] * load(x->data, t, plane + tap.pos[k]);
                        }
                    }
                }
                store(y->data, t, (rc * PH + ph) * PW + pw, p->max_mode ? acc : acc / count);
            }
    }
    return LO_OK;
}

const lo_op_def lo_ops_pool[] = {
    {"", "MaxPool", 1, LO_OPSET_MAX, max_pool_prepare, pool_run, NULL, LO_OP_FAST},
    {"", "AveragePool", 1, LO_OPSET_MAX, avg_pool_prepare, pool_run, NULL, LO_OP_FAST},
    {"", "LpPool", 1, LO_OPSET_MAX, lp_pool_prepare, pool_run, NULL, 0},
    {"", "GlobalAveragePool", 1, LO_OPSET_MAX, NULL, global_avg_run, NULL, 0},
    {"", "GlobalMaxPool", 1, LO_OPSET_MAX, NULL, global_max_run, NULL, 0},
    {"", "GlobalLpPool", 1, LO_OPSET_MAX, global_lp_prepare, global_lp_run, NULL, 0},
    {"", "MaxUnpool", 9, LO_OPSET_MAX, max_pool_prepare, max_unpool_run, NULL, 0},
    {"", "MaxRoiPool", 1, LO_OPSET_MAX, max_roi_pool_prepare, max_roi_pool_run, NULL, 0},
    {"", "RoiAlign", 10, LO_OPSET_MAX, roi_align_prepare, roi_align_run, NULL, 0},
    {0},
};
