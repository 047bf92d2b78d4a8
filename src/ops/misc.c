/* Operators that fit no other family: detection post-processing
 * (NonMaxSuppression), sampling (GridSample, AffineGrid), text
 * (StringNormalizer, TfIdfVectorizer, StringConcat, StringSplit,
 * RegexFullMatch), signal processing (DFT, STFT, the windows,
 * MelWeightMatrix), Det, the random generators, CenterCropPad, Col2Im,
 * CumProd, BitCast, TensorScatter, ImageDecoder (BMP, PNM, PNG, plain TIFF),
 * the attention blocks of the newest opsets (Attention, RMSNormalization,
 * RotaryEmbedding, Swish, SwiGLU, LinearAttention, CausalConvWithState,
 * ai.onnx.preview FlexAttention) and the ai.onnx.ml operators the suite
 * holds (Binarizer, ArrayFeatureExtractor, LabelEncoder, TreeEnsemble).
 *
 * These run on small tensors in the models that hold them, so each has
 * one path: a plain reference that reads and writes through the generic
 * getters (lo_get_f64 / lo_set_f64) with double arithmetic. */
#include <ctype.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../exec/exec.h"
#include "ops.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

static bool has_in(lo_kernel_ctx *ctx, int i) {
    return i < ctx->n_in && ctx->in[i] && ctx->in[i]->kind == LO_KIND_TENSOR;
}
static bool has_out(lo_kernel_ctx *ctx, int i) { return i < ctx->n_out && ctx->out[i]; }

static bool float_type(lo_dtype d) {
    return d == LO_FLOAT || d == LO_DOUBLE || d == LO_FLOAT16 || d == LO_BFLOAT16;
}

static lo_status need_float_in(lo_kernel_ctx *ctx, int i, const char *what) {
    LO_CHECK(ctx, has_in(ctx, i), "%s is required", what);
    if (!float_type(ctx->in[i]->dtype))
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "%s of type %s", what, lo_dtype_name(ctx->in[i]->dtype));
    return LO_OK;
}

static lo_status scalar_i64(lo_kernel_ctx *ctx, int i, const char *what, int64_t *v) {
    LO_CHECK(ctx, has_in(ctx, i) && lo_numel(ctx->in[i]) == 1, "%s must be a single value", what);
    *v = lo_get_i64(ctx->in[i], 0);
    return LO_OK;
}

/* Working memory: the session's scratch block (lo_scratch) when running in
 * a session, else the heap; *heap is what the caller frees. Not for kernels
 * that run other kernels or subgraphs, which may take the scratch block. */
static void *work_buffer(lo_kernel_ctx *ctx, size_t bytes, void **heap) {
    void *p = ctx->frame ? lo_scratch(ctx, bytes ? bytes : 8) : NULL;
    *heap = p ? NULL : malloc(bytes ? bytes : 8);
    return p ? p : *heap;
}

/* ---- NonMaxSuppression -------------------------------------------------------- */

typedef struct nms_cand {
    double score;
    int64_t idx;
} nms_cand;

static int nms_cmp(const void *a, const void *b) {
    const nms_cand *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Corners (ymin, xmin, ymax, xmax) of box i, from either encoding. */
static void nms_corners(const lo_tensor *boxes, int64_t base, bool center, double c[4]) {
    double a = lo_get_f64(boxes, base), b = lo_get_f64(boxes, base + 1), d = lo_get_f64(boxes, base + 2),
           e = lo_get_f64(boxes, base + 3);
    if (center) { /* x_center, y_center, width, height */
        c[0] = b - e / 2, c[2] = b + e / 2, c[1] = a - d / 2, c[3] = a + d / 2;
    } else { /* y1, x1, y2, x2 in either order */
        c[0] = fmin(a, d), c[2] = fmax(a, d), c[1] = fmin(b, e), c[3] = fmax(b, e);
    }
}

static bool nms_suppress(const double *p, const double *q, double thr) {
    double ix0 = fmax(p[1], q[1]), ix1 = fmin(p[3], q[3]);
    double iy0 = fmax(p[0], q[0]), iy1 = fmin(p[2], q[2]);
    if (ix1 <= ix0 || iy1 <= iy0) return false;
    double inter = (ix1 - ix0) * (iy1 - iy0);
    double a1 = (p[3] - p[1]) * (p[2] - p[0]), a2 = (q[3] - q[1]) * (q[2] - q[0]);
    double uni = a1 + a2 - inter;
    if (inter <= 0 || a1 <= 0 || a2 <= 0 || uni <= 0) return false;
    return inter / uni > thr;
}

static lo_status nms_run(lo_kernel_ctx *ctx) {
    bool center = lo_attr_int(ctx->node, "center_point_box", 0) != 0;
    LO_TRY(need_float_in(ctx, 0, "boxes"));
    LO_TRY(need_float_in(ctx, 1, "scores"));
    const lo_tensor *boxes = ctx->in[0], *scores = ctx->in[1];
    LO_CHECK(ctx, boxes->rank == 3 && boxes->dims[2] == 4, "boxes must have shape [batch, boxes, 4]");
    LO_CHECK(ctx, scores->rank == 3 && scores->dims[0] == boxes->dims[0] && scores->dims[2] == boxes->dims[1],
             "scores must have shape [batch, classes, boxes]");
    int64_t max_out = 0;
    double iou = 0, score_thr = 0;
    bool have_score_thr = has_in(ctx, 4) && lo_numel(ctx->in[4]) > 0;
    if (has_in(ctx, 2) && lo_numel(ctx->in[2]) > 0) max_out = lo_get_i64(ctx->in[2], 0);
    if (max_out < 0) max_out = 0;
    if (has_in(ctx, 3) && lo_numel(ctx->in[3]) > 0) iou = lo_get_f64(ctx->in[3], 0);
    if (have_score_thr) score_thr = lo_get_f64(ctx->in[4], 0);
    int64_t nb = boxes->dims[0], nc = scores->dims[1], n = boxes->dims[1];
    void *heap;
    double *corners = work_buffer(ctx, (size_t)(n + 1) * (4 * sizeof(double) + sizeof(nms_cand) + sizeof(int64_t)), &heap);
    nms_cand *cand = corners ? (nms_cand *)(corners + 4 * (n + 1)) : NULL;
    int64_t *sel = corners ? (int64_t *)(cand + n + 1) : NULL;
    int64_t cap = 64, count = 0;
    int64_t *res = malloc((size_t)cap * 3 * sizeof *res);
    lo_status st = corners && res ? LO_OK : lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
    for (int64_t b = 0; st == LO_OK && b < nb; b++) {
        for (int64_t i = 0; i < n; i++) nms_corners(boxes, (b * n + i) * 4, center, &corners[i * 4]);
        for (int64_t c = 0; st == LO_OK && c < nc; c++) {
            int64_t m = 0;
            for (int64_t i = 0; i < n; i++) {
                double s = lo_get_f64(scores, (b * nc + c) * n + i);
                if (!have_score_thr || s > score_thr) cand[m++] = (nms_cand){s, i};
            }
            qsort(cand, (size_t)m, sizeof *cand, nms_cmp);
            int64_t ns = 0;
            for (int64_t k = 0; k < m && ns < max_out; k++) {
                bool keep = true;
                for (int64_t j = 0; j < ns && keep; j++)
                    if (nms_suppress(&corners[cand[k].idx * 4], &corners[sel[j] * 4], iou)) keep = false;
                if (!keep) continue;
                sel[ns++] = cand[k].idx;
                if (count == cap) {
                    int64_t *r = realloc(res, (size_t)cap * 2 * 3 * sizeof *res);
                    if (!r) {
                        st = lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
                        break;
                    }
                    res = r;
                    cap *= 2;
                }
                res[count * 3] = b, res[count * 3 + 1] = c, res[count * 3 + 2] = cand[k].idx;
                count++;
            }
        }
    }
    if (st == LO_OK) {
        int64_t dims[2] = {count, 3};
        st = lo_output(ctx, 0, LO_INT64, 2, dims);
        if (st == LO_OK && has_out(ctx, 0) && count) memcpy(ctx->out[0]->data, res, (size_t)count * 3 * sizeof *res);
    }
    free(heap);
    free(res);
    return st;
}

/* ---- GridSample --------------------------------------------------------------- */

typedef enum gs_mode { GS_LINEAR, GS_NEAREST, GS_CUBIC } gs_mode;
typedef enum gs_pad { GS_ZEROS, GS_BORDER, GS_REFLECTION } gs_pad;

typedef struct gs_params {
    gs_mode mode;
    gs_pad pad;
    bool align;
} gs_params;

static lo_status gs_prepare(const lo_node *node, void **params, lo_error *err) {
    gs_params *p = lo_calloc(1, sizeof *p, err);
    if (!p) return LO_ERR_NOMEM;
    *params = p;
    const char *m = lo_attr_string(node, "mode", node->opset >= 20 ? "linear" : "bilinear");
    const char *pm = lo_attr_string(node, "padding_mode", "zeros");
    if (!strcmp(m, "linear") || !strcmp(m, "bilinear")) p->mode = GS_LINEAR;
    else if (!strcmp(m, "nearest")) p->mode = GS_NEAREST;
    else if (!strcmp(m, "cubic") || !strcmp(m, "bicubic")) p->mode = GS_CUBIC;
    else return lo_fail(err, LO_ERR_UNSUPPORTED, "node '%s' (GridSample): mode '%s'", node->name, m);
    if (!strcmp(pm, "zeros")) p->pad = GS_ZEROS;
    else if (!strcmp(pm, "border")) p->pad = GS_BORDER;
    else if (!strcmp(pm, "reflection")) p->pad = GS_REFLECTION;
    else return lo_fail(err, LO_ERR_UNSUPPORTED, "node '%s' (GridSample): padding_mode '%s'", node->name, pm);
    p->align = lo_attr_int(node, "align_corners", 0) != 0;
    return LO_OK;
}

/* Folds x back into [lo, hi] by reflecting at the borders. */
static double gs_reflect(double x, double lo, double hi) {
    double range = hi - lo;
    if (range <= 0) return lo;
    if (x < lo) {
        double dx = lo - x;
        int64_t n = (int64_t)(dx / range);
        double r = dx - (double)n * range;
        return n % 2 == 0 ? lo + r : hi - r;
    }
    if (x > hi) {
        double dx = x - hi;
        int64_t n = (int64_t)(dx / range);
        double r = dx - (double)n * range;
        return n % 2 == 0 ? hi - r : lo + r;
    }
    return x;
}

static void gs_cubic_coeffs(double t, double c[4]) {
    const double a = -0.75;
    double x = fabs(t);
    c[0] = ((a * (x + 1) - 5 * a) * (x + 1) + 8 * a) * (x + 1) - 4 * a;
    c[1] = ((a + 2) * x - (a + 3)) * x * x + 1;
    c[2] = ((a + 2) * (1 - x) - (a + 3)) * (1 - x) * (1 - x) + 1;
    c[3] = ((a * (2 - x) - 5 * a) * (2 - x) + 8 * a) * (2 - x) - 4 * a;
}

/* Resolves an integer index along a dim of length d under the padding
 * mode; -1 means "zero". */
static int64_t gs_index(int64_t i, int64_t d, const gs_params *p, double lo, double hi) {
    if (p->pad == GS_ZEROS) return i >= 0 && i < d ? i : -1;
    if (p->pad == GS_BORDER) return i < 0 ? 0 : i >= d ? d - 1 : i;
    int64_t r = (int64_t)gs_reflect((double)i, lo, hi);
    return r < 0 ? 0 : r >= d ? d - 1 : r;
}

static lo_status gs_run(lo_kernel_ctx *ctx) {
    const gs_params *p = ctx->params;
    LO_TRY(need_float_in(ctx, 0, "X"));
    LO_TRY(need_float_in(ctx, 1, "grid"));
    const lo_tensor *x = ctx->in[0], *grid = ctx->in[1];
    int k = x->rank - 2;
    LO_CHECK(ctx, k >= 1 && k <= 3, "X must have 1 to 3 spatial dims, got rank %d", x->rank);
    LO_CHECK(ctx, grid->rank == k + 2 && grid->dims[0] == x->dims[0] && grid->dims[k + 1] == k,
             "grid must have shape [N, ..., %d] matching X", k);
    int64_t N = x->dims[0], C = x->dims[1], dims[LO_MAX_RANK];
    dims[0] = N, dims[1] = C;
    int64_t in_sp = 1, out_sp = 1;
    for (int i = 0; i < k; i++) {
        dims[2 + i] = grid->dims[1 + i];
        out_sp *= grid->dims[1 + i];
        in_sp *= x->dims[2 + i];
    }
    LO_TRY(lo_output(ctx, 0, x->dtype, x->rank, dims));
    if (!has_out(ctx, 0)) return LO_OK;
    lo_tensor *y = ctx->out[0];
    const int64_t *sd = &x->dims[2];
    int taps = p->mode == GS_CUBIC ? 4 : p->mode == GS_LINEAR ? 2 : 1;
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < out_sp; o++) {
            double pos[3];
            int64_t base[3];
            double w[3][4];
            for (int i = 0; i < k; i++) {
                /* the grid's last axis lists coordinates innermost dim first */
                double g = lo_get_f64(grid, (n * out_sp + o) * k + (k - 1 - i));
                double len = (double)sd[i];
                double v = p->align ? (g + 1) / 2.0 * (len - 1) : ((g + 1) * len - 1) / 2.0;
                v = (float)v;
                /* NaN and absurd coordinates sample just outside the image,
                 * which keeps the integer conversions below defined */
                if (!(fabs(v) < 1e12)) v = -len - 2;
                double lo = p->align ? 0 : -0.5, hi = p->align ? len - 1 : len - 0.5;
                if (p->mode == GS_NEAREST) v = nearbyint(v);
                if (v < lo || v > hi) {
                    if (p->pad == GS_BORDER) v = fmin(fmax(v, 0), len - 1);
                    else if (p->pad == GS_REFLECTION) v = gs_reflect(v, lo, hi);
                }
                pos[i] = v;
                if (p->mode == GS_NEAREST) {
                    base[i] = (int64_t)v;
                    w[i][0] = 1;
                } else {
                    double f = floor(v);
                    double t = v - f;
                    if (p->mode == GS_LINEAR) {
                        base[i] = (int64_t)f;
                        w[i][0] = 1 - t, w[i][1] = t;
                    } else {
                        base[i] = (int64_t)f - 1;
                        gs_cubic_coeffs(t, w[i]);
                    }
                }
            }
            (void)pos;
            for (int64_t c = 0; c < C; c++) {
                double acc = 0;
                int total = 1;
                for (int i = 0; i < k; i++) total *= taps;
                for (int t = 0; t < total; t++) {
                    int rem = t;
                    double wt = 1;
                    int64_t idx = 0;
                    bool zero = false;
                    for (int i = 0; i < k; i++) {
                        int tap = rem % taps;
                        rem /= taps;
                        double lo = p->align ? 0 : -0.5, hi = p->align ? (double)sd[i] - 1 : (double)sd[i] - 0.5;
                        int64_t j = gs_index(base[i] + tap, sd[i], p, lo, hi);
                        wt *= w[i][tap];
                        if (j < 0) zero = true;
                        idx = idx * sd[i] + (j < 0 ? 0 : j);
                    }
                    if (!zero && wt != 0) acc += wt * lo_get_f64(x, (n * C + c) * in_sp + idx);
                }
                lo_set_f64(y, (n * C + c) * out_sp + o, acc);
            }
        }
    return LO_OK;
}

/* ---- StringNormalizer ------------------------------------------------------------ */

static lo_status strnorm_run(lo_kernel_ctx *ctx) {
    LO_CHECK(ctx, has_in(ctx, 0) && ctx->in[0]->dtype == LO_STRING, "X must be a string tensor");
    const lo_tensor *x = ctx->in[0];
    LO_CHECK(ctx, x->rank == 1 || (x->rank == 2 && x->dims[0] == 1), "X must have shape [C] or [1, C]");
    const char *action = lo_attr_string(ctx->node, "case_change_action", "NONE");
    bool sensitive = lo_attr_int(ctx->node, "is_case_sensitive", 0) != 0;
    const lo_attr *sw = lo_attr_find(ctx->node, "stopwords");
    int change = !strcmp(action, "LOWER") ? 1 : !strcmp(action, "UPPER") ? 2 : 0;
    if (!change && strcmp(action, "NONE"))
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "case_change_action '%s'", action);
    int64_t n = lo_numel(x), kept = 0;
    char *const *in = x->data;
    bool *keep = calloc((size_t)n + 1, 1);
    if (!keep) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++) {
        const char *s = in[i] ? in[i] : "";
        keep[i] = true;
        for (int64_t k = 0; sw && sw->type == LO_ATTR_STRINGS && k < sw->n && keep[i]; k++)
            if (sensitive ? !strcmp(s, sw->strings[k]) : !strcasecmp(s, sw->strings[k])) keep[i] = false;
        kept += keep[i];
    }
    int64_t dims[2];
    int rank = x->rank;
    int64_t cols = kept ? kept : 1;
    if (rank == 1) dims[0] = cols;
    else dims[0] = 1, dims[1] = cols;
    lo_status st = lo_output(ctx, 0, LO_STRING, rank, dims);
    if (st == LO_OK && has_out(ctx, 0)) {
        char **out = ctx->out[0]->data;
        int64_t m = 0;
        for (int64_t i = 0; i < n; i++) {
            if (!keep[i]) continue;
            char *s = lo_strdup(in[i] ? in[i] : "");
            if (!s) {
                st = lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
                break;
            }
            for (char *c = s; *c; c++)
                if (change == 1) *c = (char)tolower((unsigned char)*c);
                else if (change == 2) *c = (char)toupper((unsigned char)*c);
            out[m++] = s;
        }
        if (st == LO_OK && m == 0) out[0] = lo_strdup("");
    }
    free(keep);
    return st;
}

/* ---- TfIdfVectorizer ------------------------------------------------------------ */

typedef struct tfidf_params {
    int64_t min_gram, max_gram, max_skip;
    int mode; /* 0 TF, 1 IDF, 2 TFIDF */
    int64_t n_counts;
    const int64_t *counts;
    int64_t n_indexes;
    const int64_t *indexes;
    int64_t n_pool;
    const int64_t *pool_i;
    char **pool_s;
    int64_t n_weights;
    const float *weights;
    int64_t out_len;
} tfidf_params;

static lo_status tfidf_prepare(const lo_node *node, void **params, lo_error *err) {
    tfidf_params *p = lo_calloc(1, sizeof *p, err);
    if (!p) return LO_ERR_NOMEM;
    *params = p;
    p->min_gram = lo_attr_int(node, "min_gram_length", 1);
    p->max_gram = lo_attr_int(node, "max_gram_length", 1);
    p->max_skip = lo_attr_int(node, "max_skip_count", 0);
    const char *mode = lo_attr_string(node, "mode", "TF");
    p->mode = !strcmp(mode, "TF") ? 0 : !strcmp(mode, "IDF") ? 1 : !strcmp(mode, "TFIDF") ? 2 : -1;
    p->counts = lo_attr_ints(node, "ngram_counts", &p->n_counts);
    p->indexes = lo_attr_ints(node, "ngram_indexes", &p->n_indexes);
    p->pool_i = lo_attr_ints(node, "pool_int64s", &p->n_pool);
    const lo_attr *ps = lo_attr_find(node, "pool_strings");
    if (ps && ps->type == LO_ATTR_STRINGS) p->pool_s = ps->strings, p->n_pool = ps->n;
    p->weights = lo_attr_floats(node, "weights", &p->n_weights);
    if (p->mode < 0 || p->min_gram < 1 || p->max_gram < p->min_gram || p->max_skip < 0)
        return lo_fail(err, LO_ERR_MODEL, "node '%s' (TfIdfVectorizer): bad mode or gram lengths", node->name);
    for (int64_t i = 0; i < p->n_counts; i++)
        if (p->counts[i] < (i ? p->counts[i - 1] : 0) || p->counts[i] > p->n_pool)
            return lo_fail(err, LO_ERR_MODEL, "node '%s' (TfIdfVectorizer): ngram_counts do not fit the pool", node->name);
    for (int64_t i = 0; i < p->n_indexes; i++) {
        if (p->indexes[i] < 0 || p->indexes[i] > (1 << 30))
            return lo_fail(err, LO_ERR_MODEL, "node '%s' (TfIdfVectorizer): ngram index %lld", node->name,
                           (long long)p->indexes[i]);
        if (p->indexes[i] + 1 > p->out_len) p->out_len = p->indexes[i] + 1;
    }
    if (p->n_weights && p->n_weights != p->n_indexes)
        return lo_fail(err, LO_ERR_MODEL, "node '%s' (TfIdfVectorizer): %lld weights for %lld n-grams", node->name,
                       (long long)p->n_weights, (long long)p->n_indexes);
    return LO_OK;
}

static bool tfidf_item_eq(const tfidf_params *p, int64_t pool_at, const lo_tensor *x, int64_t xi) {
    if (p->pool_s) {
        const char *s = ((char *const *)x->data)[xi];
        return !strcmp(p->pool_s[pool_at], s ? s : "");
    }
    return p->pool_i[pool_at] == lo_get_i64(x, xi);
}

/* The ordinal of the n-gram at x[start], x[start + step], ... in the pool,
 * or -1. n-grams of length n sit from counts[n - 1] to counts[n] (items). */
static int64_t tfidf_find(const tfidf_params *p, int64_t n, const lo_tensor *x, int64_t start, int64_t step) {
    if (n > p->n_counts) return -1;
    int64_t from = p->counts[n - 1], to = n < p->n_counts ? p->counts[n] : p->n_pool;
    int64_t ordinal = 0;
    for (int64_t m = 1; m < n; m++) {
        int64_t f = p->counts[m - 1], t = m < p->n_counts ? p->counts[m] : p->n_pool;
        ordinal += (t - f) / m;
    }
    for (int64_t g = from; g + n <= to; g += n, ordinal++) {
        bool eq = true;
        for (int64_t k = 0; k < n && eq; k++) eq = tfidf_item_eq(p, g + k, x, start + k * step);
        if (eq) return ordinal;
    }
    return -1;
}

static lo_status tfidf_run(lo_kernel_ctx *ctx) {
    const tfidf_params *p = ctx->params;
    LO_CHECK(ctx, has_in(ctx, 0), "X is required");
    const lo_tensor *x = ctx->in[0];
    LO_CHECK(ctx, (p->pool_s != NULL) == (x->dtype == LO_STRING), "X's type does not match the pool");
    LO_CHECK(ctx, x->rank == 1 || x->rank == 2, "X must be 1-D or 2-D");
    int64_t rows = x->rank == 2 ? x->dims[0] : 1, len = x->dims[x->rank - 1];
    int64_t dims[2];
    if (x->rank == 1) dims[0] = p->out_len;
    else dims[0] = rows, dims[1] = p->out_len;
    LO_TRY(lo_output(ctx, 0, LO_FLOAT, x->rank, dims));
    if (!has_out(ctx, 0)) return LO_OK;
    float *y = ctx->out[0]->data;
    memset(y, 0, (size_t)(rows * p->out_len) * sizeof *y);
    for (int64_t r = 0; r < rows; r++) {
        float *row = y + r * p->out_len;
        int64_t min_n = p->min_gram;
        for (int64_t d = 1; d <= p->max_skip + 1; d++) {
            /* unigrams do not depend on the skip: counted at distance 1 only */
            if (d > 1 && min_n == 1) min_n = 2;
            if (min_n > p->max_gram) break;
            for (int64_t s = 0; s < len; s++) {
                if (s + d * (min_n - 1) >= len) break;
                for (int64_t n = min_n; n <= p->max_gram && s + d * (n - 1) < len; n++) {
                    int64_t ord = tfidf_find(p, n, x, r * len + s, d);
                    if (ord >= 0 && ord < p->n_indexes) row[p->indexes[ord]] += 1;
                }
            }
        }
        for (int64_t i = 0; i < p->n_indexes; i++) {
            int64_t o = p->indexes[i];
            float w = p->n_weights ? p->weights[i] : 1.0f;
            if (p->mode == 1) row[o] = row[o] > 0 ? w : 0;
            else if (p->mode == 2) row[o] *= w;
        }
    }
    return LO_OK;
}

/* ---- random generators ------------------------------------------------------------ */

/* splitmix64: small, seedable, good enough for test-time sampling. Only
 * shapes and types of random outputs are comparable across engines. */
typedef struct rng {
    uint64_t s;
} rng;

static void rng_seed(rng *r, const lo_node *node) {
    const lo_attr *a = lo_attr_find(node, "seed");
    float seed = a ? a->f : 0.0f;
    uint64_t bits = 0;
    memcpy(&bits, &seed, sizeof seed);
    r->s = bits * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
}

static double rng_uniform(rng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-53;
}

static double rng_normal(rng *r) {
    double u = rng_uniform(r), v = rng_uniform(r);
    return sqrt(-2.0 * log(u > 0 ? u : 1e-300)) * cos(2 * M_PI * v);
}

typedef enum rand_kind { RAND_UNIFORM, RAND_NORMAL } rand_kind;

static lo_status random_fill(lo_kernel_ctx *ctx, rand_kind kind, lo_dtype dt, int rank, const int64_t *dims) {
    if (!float_type(dt)) return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "dtype %s", lo_dtype_name(dt));
    LO_TRY(lo_output(ctx, 0, dt, rank, dims));
    if (!has_out(ctx, 0)) return LO_OK;
    rng r;
    rng_seed(&r, ctx->node);
    double a = kind == RAND_UNIFORM ? lo_attr_float(ctx->node, "low", 0) : lo_attr_float(ctx->node, "mean", 0);
    double b = kind == RAND_UNIFORM ? lo_attr_float(ctx->node, "high", 1) : lo_attr_float(ctx->node, "scale", 1);
    int64_t n = lo_numel(ctx->out[0]);
    for (int64_t i = 0; i < n; i++)
        lo_set_f64(ctx->out[0], i, kind == RAND_UNIFORM ? a + (b - a) * rng_uniform(&r) : a + b * rng_normal(&r));
    return LO_OK;
}

static lo_status random_shape_run(lo_kernel_ctx *ctx, rand_kind kind) {
    int64_t rank;
    const int64_t *shape = lo_attr_ints(ctx->node, "shape", &rank);
    LO_CHECK(ctx, shape && rank <= LO_MAX_RANK, "attribute 'shape' is required (rank <= %d)", LO_MAX_RANK);
    return random_fill(ctx, kind, (lo_dtype)lo_attr_int(ctx->node, "dtype", LO_FLOAT), (int)rank, shape);
}

static lo_status random_like_run(lo_kernel_ctx *ctx, rand_kind kind) {
    LO_CHECK(ctx, has_in(ctx, 0), "input is required");
    const lo_tensor *x = ctx->in[0];
    return random_fill(ctx, kind, (lo_dtype)lo_attr_int(ctx->node, "dtype", x->dtype), x->rank, x->dims);
}

static lo_status random_uniform_run(lo_kernel_ctx *ctx) { return random_shape_run(ctx, RAND_UNIFORM); }
static lo_status random_normal_run(lo_kernel_ctx *ctx) { return random_shape_run(ctx, RAND_NORMAL); }
static lo_status random_uniform_like_run(lo_kernel_ctx *ctx) { return random_like_run(ctx, RAND_UNIFORM); }
static lo_status random_normal_like_run(lo_kernel_ctx *ctx) { return random_like_run(ctx, RAND_NORMAL); }

static lo_status bernoulli_run(lo_kernel_ctx *ctx) {
    LO_TRY(need_float_in(ctx, 0, "input"));
    const lo_tensor *x = ctx->in[0];
    lo_dtype dt = (lo_dtype)lo_attr_int(ctx->node, "dtype", x->dtype);
    LO_TRY(lo_output(ctx, 0, dt, x->rank, x->dims));
    if (!has_out(ctx, 0)) return LO_OK;
    rng r;
    rng_seed(&r, ctx->node);
    for (int64_t i = 0; i < lo_numel(x); i++)
        lo_set_f64(ctx->out[0], i, rng_uniform(&r) < lo_get_f64(x, i) ? 1.0 : 0.0);
    return LO_OK;
}

static lo_status multinomial_run(lo_kernel_ctx *ctx) {
    LO_TRY(need_float_in(ctx, 0, "input"));
    const lo_tensor *x = ctx->in[0];
    LO_CHECK(ctx, x->rank == 2, "input must be [batch, classes]");
    int64_t samples = lo_attr_int(ctx->node, "sample_size", 1);
    lo_dtype dt = (lo_dtype)lo_attr_int(ctx->node, "dtype", LO_INT32);
    LO_CHECK(ctx, dt == LO_INT32 || dt == LO_INT64, "dtype must be int32 or int64");
    int64_t dims[2] = {x->dims[0], samples}, c = x->dims[1];
    LO_TRY(lo_output(ctx, 0, dt, 2, dims));
    if (!has_out(ctx, 0)) return LO_OK;
    rng r;
    rng_seed(&r, ctx->node);
    for (int64_t b = 0; b < x->dims[0]; b++) {
        double total = 0, mx = -INFINITY;
        for (int64_t k = 0; k < c; k++) mx = fmax(mx, lo_get_f64(x, b * c + k));
        for (int64_t k = 0; k < c; k++) total += exp(lo_get_f64(x, b * c + k) - mx);
        for (int64_t s = 0; s < samples; s++) {
            double u = rng_uniform(&r) * total, acc = 0;
            int64_t pick = c - 1;
            for (int64_t k = 0; k < c; k++) {
                acc += exp(lo_get_f64(x, b * c + k) - mx);
                if (u < acc) {
                    pick = k;
                    break;
                }
            }
            lo_set_i64(ctx->out[0], b * samples + s, pick);
        }
    }
    return LO_OK;
}

/* ---- windows and MelWeightMatrix ----------------------------------------------------- */

typedef enum window_kind { WIN_HANN, WIN_HAMMING, WIN_BLACKMAN } window_kind;

static lo_status window_run(lo_kernel_ctx *ctx, window_kind kind) {
    int64_t size;
    LO_TRY(scalar_i64(ctx, 0, "size", &size));
    LO_CHECK(ctx, size >= 0, "size %lld", (long long)size);
    bool periodic = lo_attr_int(ctx->node, "periodic", 1) != 0;
    lo_dtype dt = (lo_dtype)lo_attr_int(ctx->node, "output_datatype", LO_FLOAT);
    LO_TRY(lo_output(ctx, 0, dt, 1, &size));
    if (!has_out(ctx, 0)) return LO_OK;
    double n = (double)(periodic ? size : size - 1);
    for (int64_t i = 0; i < size; i++) {
        double t = 2 * M_PI * (double)i / n, v;
        if (kind == WIN_HANN) v = 0.5 - 0.5 * cos(t);
        else if (kind == WIN_HAMMING) v = 25.0 / 46.0 - (1 - 25.0 / 46.0) * cos(t);
        else v = 0.42 - 0.5 * cos(t) + 0.08 * cos(2 * t);
        lo_set_f64(ctx->out[0], i, v);
    }
    return LO_OK;
}
static lo_status hann_run(lo_kernel_ctx *ctx) { return window_run(ctx, WIN_HANN); }
static lo_status hamming_run(lo_kernel_ctx *ctx) { return window_run(ctx, WIN_HAMMING); }
static lo_status blackman_run(lo_kernel_ctx *ctx) { return window_run(ctx, WIN_BLACKMAN); }

/* Triangular filters on the mel scale, with the spec's bin placement:
 * num_mel_bins + 2 edges spaced by (high - low) / (num_mel_bins + 2) mels
 * and snapped down to DFT bins of (dft_length + 1) / sample_rate. */
static lo_status mel_run(lo_kernel_ctx *ctx) {
    int64_t bins, dft_len, rate;
    LO_TRY(scalar_i64(ctx, 0, "num_mel_bins", &bins));
    LO_TRY(scalar_i64(ctx, 1, "dft_length", &dft_len));
    LO_TRY(scalar_i64(ctx, 2, "sample_rate", &rate));
    LO_CHECK(ctx, has_in(ctx, 3) && has_in(ctx, 4), "edge frequencies are required");
    LO_CHECK(ctx, bins > 0 && dft_len > 0 && rate > 0, "num_mel_bins, dft_length and sample_rate must be positive");
    double lo = lo_get_f64(ctx->in[3], 0), hi = lo_get_f64(ctx->in[4], 0);
    lo_dtype dt = (lo_dtype)lo_attr_int(ctx->node, "output_datatype", LO_FLOAT);
    int64_t spec = dft_len / 2 + 1, dims[2] = {spec, bins};
    LO_TRY(lo_output(ctx, 0, dt, 2, dims));
    if (!has_out(ctx, 0)) return LO_OK;
    void *heap;
    double *w = work_buffer(ctx, (size_t)(spec * bins + bins + 2) * sizeof(double), &heap);
    if (!w) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
    memset(w, 0, (size_t)(spec * bins) * sizeof *w);
    int64_t *edge = (int64_t *)(w + spec * bins);
    double lo_mel = 2595 * log1p(lo / 700) / log(10), hi_mel = 2595 * log1p(hi / 700) / log(10);
    double step = (hi_mel - lo_mel) / (double)(bins + 2);
    for (int64_t i = 0; i < bins + 2; i++) {
        double hz = 700 * expm1(((double)i * step + lo_mel) / 2595 * log(10));
        edge[i] = (int64_t)floor((double)(dft_len + 1) * hz / (double)rate);
    }
    lo_status st = LO_OK;
    for (int64_t i = 0; i < bins && st == LO_OK; i++) {
        int64_t l = edge[i], c = edge[i + 1], r = edge[i + 2];
        if (l < 0 || c < l || r < c || c >= spec || r > spec) {
            st = lo_kernel_fail(ctx, LO_ERR_INPUT, "mel filter %lld falls outside the spectrum", (long long)i);
            break;
        }
        if (c == l) w[c * bins + i] = 1;
        else
            for (int64_t j = l; j <= c; j++) w[j * bins + i] = (double)(j - l) / (double)(c - l);
        for (int64_t j = c; j < r; j++) w[j * bins + i] = (double)(r - j) / (double)(r - c);
    }
    if (st == LO_OK)
        for (int64_t i = 0; i < spec * bins; i++) lo_set_f64(ctx->out[0], i, w[i]);
    free(heap);
    return st;
}

/* ---- DFT and STFT --------------------------------------------------------------------- */

/* A plain O(n^2) DFT of n complex values (in[k*stride]), writing m bins. */
static void dft_1d(const double *re, const double *im, int64_t n, int64_t m, int64_t len, bool inverse, double *ore,
                   double *oim) {
    double sign = inverse ? 1 : -1;
    for (int64_t k = 0; k < m; k++) {
        double sr = 0, si = 0;
        for (int64_t t = 0; t < n; t++) {
            double ang = sign * 2 * M_PI * (double)((k * t) % len) / (double)len;
            double c = cos(ang), s = sin(ang);
            sr += re[t] * c - im[t] * s;
            si += re[t] * s + im[t] * c;
        }
        ore[k] = inverse ? sr / (double)len : sr;
        oim[k] = inverse ? si / (double)len : si;
    }
}

static lo_status dft_run(lo_kernel_ctx *ctx) {
    LO_TRY(need_float_in(ctx, 0, "input"));
    const lo_tensor *x = ctx->in[0];
    int rank = x->rank;
    LO_CHECK(ctx, rank >= 2 && (x->dims[rank - 1] == 1 || x->dims[rank - 1] == 2),
             "input's last dim must be 1 (real) or 2 (complex)");
    bool inverse = lo_attr_int(ctx->node, "inverse", 0) != 0;
    bool onesided = lo_attr_int(ctx->node, "onesided", 0) != 0;
    int64_t axis = ctx->node->opset >= 20 ? -2 : lo_attr_int(ctx->node, "axis", 1);
    if (ctx->node->opset >= 20 && has_in(ctx, 2)) LO_TRY(scalar_i64(ctx, 2, "axis", &axis));
    if (axis < 0) axis += rank;
    LO_CHECK(ctx, axis >= 0 && axis < rank - 1, "axis %lld out of range", (long long)axis);
    int64_t n_in = x->dims[axis];
    int64_t len = inverse && onesided ? 2 * (n_in - 1) : n_in;
    if (has_in(ctx, 1) && lo_numel(ctx->in[1]) == 1) len = lo_get_i64(ctx->in[1], 0);
    LO_CHECK(ctx, len > 0, "dft_length %lld", (long long)len);
    bool cplx = x->dims[rank - 1] == 2;
    /* the transform reads n points: the signal cut or zero-padded to len
     * (for an inverse one-sided transform, to len / 2 + 1 bins) */
    int64_t n = inverse && onesided ? len / 2 + 1 : len;
    int64_t m = !inverse && onesided ? len / 2 + 1 : len;
    int64_t dims[LO_MAX_RANK];
    memcpy(dims, x->dims, sizeof dims);
    dims[axis] = m;
    dims[rank - 1] = inverse && onesided ? 1 : 2;
    LO_TRY(lo_output(ctx, 0, x->dtype, rank, dims));
    if (!has_out(ctx, 0)) return LO_OK;
    int64_t outer = 1, inner = 1;
    for (int a = 0; a < axis; a++) outer *= x->dims[a];
    for (int a = (int)axis + 1; a < rank - 1; a++) inner *= x->dims[a];
    int64_t comp = x->dims[rank - 1], ocomp = dims[rank - 1];
    void *heap;
    double *buf = work_buffer(ctx, (size_t)(2 * n + 4 * len + 4) * sizeof(double), &heap);
    if (!buf) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
    double *re = buf, *im = buf + n, *ore = buf + 2 * n, *oim = ore + len, *fr = oim + len, *fi = fr + len;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            for (int64_t t = 0; t < n; t++) {
                bool in_range = t < n_in;
                int64_t at = ((o * n_in + t) * inner + i) * comp;
                re[t] = in_range ? lo_get_f64(x, at) : 0;
                im[t] = in_range && cplx ? lo_get_f64(x, at + 1) : 0;
            }
            if (inverse && onesided) {
                /* Hermitian extension of the n = len/2 + 1 bins; the real
                 * part of the full inverse is the real output */
                for (int64_t k = 0; k < len; k++) {
                    if (k < n) fr[k] = re[k], fi[k] = im[k];
                    else fr[k] = re[len - k], fi[k] = -im[len - k];
                }
                fi[0] = 0;
                if (len % 2 == 0) fi[len / 2] = 0;
                dft_1d(fr, fi, len, len, len, true, ore, oim);
            } else {
                dft_1d(re, im, n, m, len, inverse, ore, oim);
            }
            for (int64_t k = 0; k < m; k++) {
                int64_t at = ((o * m + k) * inner + i) * ocomp;
                lo_set_f64(ctx->out[0], at, ore[k]);
                if (ocomp == 2) lo_set_f64(ctx->out[0], at + 1, oim[k]);
            }
        }
    free(heap);
    return LO_OK;
}

static lo_status stft_run(lo_kernel_ctx *ctx) {
    LO_TRY(need_float_in(ctx, 0, "signal"));
    const lo_tensor *x = ctx->in[0];
    LO_CHECK(ctx, x->rank == 3 && (x->dims[2] == 1 || x->dims[2] == 2), "signal must be [batch, length, 1 or 2]");
    int64_t step;
    LO_TRY(scalar_i64(ctx, 1, "frame_step", &step));
    const lo_tensor *win = has_in(ctx, 2) ? ctx->in[2] : NULL;
    int64_t flen = win ? win->dims[0] : x->dims[1];
    if (has_in(ctx, 3)) LO_TRY(scalar_i64(ctx, 3, "frame_length", &flen));
    LO_CHECK(ctx, step > 0 && flen > 0 && flen <= x->dims[1], "bad frame_step or frame_length");
    LO_CHECK(ctx, !win || (win->rank == 1 && win->dims[0] == flen), "window must have frame_length values");
    bool onesided = lo_attr_int(ctx->node, "onesided", 1) != 0;
    int64_t B = x->dims[0], L = x->dims[1], comp = x->dims[2];
    int64_t frames = 1 + (L - flen) / step, bins = onesided ? flen / 2 + 1 : flen;
    int64_t dims[4] = {B, frames, bins, 2};
    LO_TRY(lo_output(ctx, 0, x->dtype, 4, dims));
    if (!has_out(ctx, 0)) return LO_OK;
    void *heap;
    double *buf = work_buffer(ctx, (size_t)(2 * flen + 2 * bins + 4) * sizeof(double), &heap);
    if (!buf) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
    double *re = buf, *im = buf + flen, *ore = im + flen, *oim = ore + bins;
    for (int64_t b = 0; b < B; b++)
        for (int64_t f = 0; f < frames; f++) {
            for (int64_t t = 0; t < flen; t++) {
                int64_t at = (b * L + f * step + t) * comp;
                double w = win ? lo_get_f64(win, t) : 1.0;
                re[t] = lo_get_f64(x, at) * w;
                im[t] = comp == 2 ? lo_get_f64(x, at + 1) * w : 0;
            }
            dft_1d(re, im, flen, bins, flen, false, ore, oim);
            for (int64_t k = 0; k < bins; k++) {
                int64_t at = ((b * frames + f) * bins + k) * 2;
                lo_set_f64(ctx->out[0], at, ore[k]);
                lo_set_f64(ctx->out[0], at + 1, oim[k]);
            }
        }
    free(heap);
    return LO_OK;
}

/* ---- Det ---------------------------------------------------------------------------------- */

static lo_status det_run(lo_kernel_ctx *ctx) {
    LO_TRY(need_float_in(ctx, 0, "X"));
    const lo_tensor *x = ctx->in[0];
    LO_CHECK(ctx, x->rank >= 2 && x->dims[x->rank - 1] == x->dims[x->rank - 2], "X must be [..., M, M]");
    int64_t m = x->dims[x->rank - 1], batch = 1;
    for (int i = 0; i < x->rank - 2; i++) batch *= x->dims[i];
    LO_TRY(lo_output(ctx, 0, x->dtype, x->rank - 2, x->dims));
    if (!has_out(ctx, 0)) return LO_OK;
    void *heap;
    double *a = work_buffer(ctx, (size_t)(m * m + 1) * sizeof(double), &heap);
    if (!a) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
    for (int64_t b = 0; b < batch; b++) {
        for (int64_t i = 0; i < m * m; i++) a[i] = lo_get_f64(x, b * m * m + i);
        /* LU with partial pivoting */
        double det = 1;
        for (int64_t c = 0; c < m && det != 0; c++) {
            int64_t piv = c;
            for (int64_t r = c + 1; r < m; r++)
                if (fabs(a[r * m + c]) > fabs(a[piv * m + c])) piv = r;
            if (a[piv * m + c] == 0) {
                det = 0;
                break;
            }
            if (piv != c) {
                for (int64_t k = 0; k < m; k++) {
                    double t = a[c * m + k];
                    a[c * m + k] = a[piv * m + k];
                    a[piv * m + k] = t;
                }
                det = -det;
            }
            det *= a[c * m + c];
            for (int64_t r = c + 1; r < m; r++) {
                double f = a[r * m + c] / a[c * m + c];
                for (int64_t k = c; k < m; k++) a[r * m + k] -= f * a[c * m + k];
            }
        }
        lo_set_f64(ctx->out[0], b, det);
    }
    free(heap);
    return LO_OK;
}

/* ---- Attention (opset 23+) ----------------------------------------------------------- */

typedef struct attn_params {
    double scale; /* 0: 1 / sqrt(head size) */
    bool causal;
    int64_t q_heads, kv_heads;
    double softcap;
    int64_t qk_mode;
    int64_t left_window, right_window;
} attn_params;

static lo_status attn_prepare(const lo_node *node, void **params, lo_error *err) {
    attn_params *p = lo_calloc(1, sizeof *p, err);
    if (!p) return LO_ERR_NOMEM;
    *params = p;
    p->scale = lo_attr_float(node, "scale", 0);
    p->causal = lo_attr_int(node, "is_causal", 0) != 0;
    p->q_heads = lo_attr_int(node, "q_num_heads", 0);
    p->kv_heads = lo_attr_int(node, "kv_num_heads", 0);
    p->softcap = lo_attr_float(node, "softcap", 0);
    p->qk_mode = lo_attr_int(node, "qk_matmul_output_mode", 0);
    p->left_window = lo_attr_int(node, "left_window_size", -1);
    p->right_window = lo_attr_int(node, "right_window_size", -1);
    if (p->qk_mode < 0 || p->qk_mode > 3)
        return lo_fail(err, LO_ERR_MODEL, "node '%s' (Attention): qk_matmul_output_mode %lld", node->name,
                       (long long)p->qk_mode);
    return LO_OK;
}

/* A [B, H, S, D] view of a 4-D tensor or of a 3-D [B, S, H * D] one. */
typedef struct heads_view {
    const lo_tensor *t;
    int64_t b, h, s, d;
    bool packed;
} heads_view;

static lo_status heads_of(lo_kernel_ctx *ctx, const lo_tensor *t, int64_t heads, const char *what, heads_view *v) {
    v->t = t;
    if (t->rank == 4) {
        v->b = t->dims[0], v->h = t->dims[1], v->s = t->dims[2], v->d = t->dims[3], v->packed = false;
        return LO_OK;
    }
    LO_CHECK(ctx, t->rank == 3, "%s must be 3-D or 4-D", what);
    LO_CHECK(ctx, heads > 0 && t->dims[2] % heads == 0, "%s: hidden size %lld is not a multiple of %lld heads",
             what, (long long)t->dims[2], (long long)heads);
    v->b = t->dims[0], v->s = t->dims[1], v->h = heads, v->d = t->dims[2] / heads, v->packed = true;
    return LO_OK;
}

static inline int64_t heads_at(const heads_view *v, int64_t b, int64_t h, int64_t s, int64_t d) {
    return v->packed ? (b * v->s + s) * (v->h * v->d) + h * v->d + d : ((b * v->h + h) * v->s + s) * v->d + d;
}

static double bf16_round(double v) { return lo_bfloat16_to_float(lo_float_to_bfloat16((float)v)); }

static lo_status attn_run(lo_kernel_ctx *ctx) {
    const attn_params *p = ctx->params;
    for (int i = 0; i < 3; i++) LO_TRY(need_float_in(ctx, i, i == 0 ? "Q" : i == 1 ? "K" : "V"));
    heads_view q, k, v;
    LO_TRY(heads_of(ctx, ctx->in[0], p->q_heads, "Q", &q));
    LO_TRY(heads_of(ctx, ctx->in[1], p->kv_heads, "K", &k));
    LO_TRY(heads_of(ctx, ctx->in[2], p->kv_heads, "V", &v));
    const lo_tensor *mask = has_in(ctx, 3) ? ctx->in[3] : NULL;
    const lo_tensor *pk = has_in(ctx, 4) ? ctx->in[4] : NULL, *pv = has_in(ctx, 5) ? ctx->in[5] : NULL;
    const lo_tensor *nonpad = has_in(ctx, 6) ? ctx->in[6] : NULL;
    int64_t B = q.b, Hq = q.h, Sq = q.s, D = q.d, Hk = k.h, Skv = k.s, Dv = v.d;
    LO_CHECK(ctx, k.b == B && v.b == B && v.h == Hk && v.s == Skv && k.d == D, "Q, K and V shapes do not agree");
    LO_CHECK(ctx, Hk > 0 && Hq % Hk == 0, "%lld query heads are not a multiple of %lld key heads", (long long)Hq,
             (long long)Hk);
    LO_CHECK(ctx, (pk == NULL) == (pv == NULL), "past_key and past_value go together");
    int64_t P = 0;
    if (pk) {
        LO_CHECK(ctx, pk->rank == 4 && pk->dims[0] == B && pk->dims[1] == Hk && pk->dims[3] == D && pv->rank == 4 &&
                          pv->dims[0] == B && pv->dims[1] == Hk && pv->dims[2] == pk->dims[2] && pv->dims[3] == Dv,
                 "past_key / past_value shapes do not agree with K and V");
        P = pk->dims[2];
    }
    int64_t T = P + Skv;
    if (nonpad) LO_CHECK(ctx, lo_numel(nonpad) == B, "nonpad_kv_seqlen must have %lld values", (long long)B);
    int64_t mdims[4] = {1, 1, 1, 1}, mstr[4] = {0, 0, 0, 0}, mlast = 0;
    if (mask) {
        LO_CHECK(ctx, mask->rank >= 1 && mask->rank <= 4, "attn_mask must have rank 1 to 4");
        int off = 4 - mask->rank;
        int64_t st = 1;
        for (int d = 3; d >= 0; d--) {
            if (d < off) continue;
            mdims[d] = mask->dims[d - off];
            mstr[d] = mdims[d] == 1 ? 0 : st;
            st *= mask->dims[d - off];
        }
        mlast = mdims[3];
        mstr[3] = 1;
        LO_CHECK(ctx, (mdims[0] == 1 || mdims[0] == B) && (mdims[1] == 1 || mdims[1] == Hq) &&
                          (mdims[2] == 1 || mdims[2] == Sq) && mlast <= T,
                 "attn_mask does not broadcast to [%lld, %lld, %lld, %lld]", (long long)B, (long long)Hq,
                 (long long)Sq, (long long)T);
    }
    lo_dtype dt = ctx->in[0]->dtype;
    int64_t ydims[4], kd[4] = {B, Hk, T, D}, vd[4] = {B, Hk, T, Dv}, qkd[4] = {B, Hq, Sq, T};
    int yrank = q.packed ? 3 : 4;
    if (q.packed) ydims[0] = B, ydims[1] = Sq, ydims[2] = Hq * Dv;
    else ydims[0] = B, ydims[1] = Hq, ydims[2] = Sq, ydims[3] = Dv;
    LO_TRY(lo_output(ctx, 0, dt, yrank, ydims));
    LO_TRY(lo_output(ctx, 1, dt, 4, kd));
    LO_TRY(lo_output(ctx, 2, dt, 4, vd));
    LO_TRY(lo_output(ctx, 3, dt, 4, qkd));
    /* present key / value: the past followed by the new entries */
    for (int which = 0; which < 2; which++) {
        if (!has_out(ctx, 1 + which)) continue;
        const heads_view *nv = which ? &v : &k;
        const lo_tensor *past = which ? pv : pk;
        int64_t dd = which ? Dv : D;
        for (int64_t b = 0; b < B; b++)
            for (int64_t h = 0; h < Hk; h++)
                for (int64_t j = 0; j < T; j++)
                    for (int64_t d = 0; d < dd; d++) {
                        double val = j < P ? lo_get_f64(past, ((b * Hk + h) * P + j) * dd + d)
                                           : lo_get_f64(nv->t, heads_at(nv, b, h, j - P, d));
                        lo_set_f64(ctx->out[1 + which], ((b * Hk + h) * T + j) * dd + d, val);
                    }
    }
    double scale = p->scale != 0 ? p->scale : 1.0 / sqrt((double)D);
    /* bfloat16 runs round every intermediate to bfloat16 (dot products
     * accumulated in float32), as the specification's reference does: with
     * 8 mantissa bits the rounding points decide the result's last bit. */
    bool bf = dt == LO_BFLOAT16;
    double sq = bf ? bf16_round(sqrt(scale)) : sqrt(scale);
    void *heap;
    double *row = work_buffer(ctx, (size_t)(3 * T + 1) * sizeof(double), &heap);
    if (!row) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
    double *bias = row + T, *prob = bias + T;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < Hq; h++) {
            int64_t hk = h / (Hq / Hk);
            for (int64_t i = 0; i < Sq; i++) {
                int64_t offset = !pk && nonpad ? lo_get_i64(nonpad, b) - Sq : P;
                bool all_masked = true;
                for (int64_t j = 0; j < T; j++) {
                    double bv = 0;
                    if (mask) {
                        if (j >= mlast) bv = -INFINITY;
                        else {
                            int64_t mi = (mdims[0] > 1 ? b : 0) * mstr[0] + (mdims[1] > 1 ? h : 0) * mstr[1] +
                                         (mdims[2] > 1 ? i : 0) * mstr[2] + j;
                            if (mask->dtype == LO_BOOL) bv = ((const uint8_t *)mask->data)[mi] ? 0 : -INFINITY;
                            else bv = lo_get_f64(mask, mi);
                        }
                    }
                    if (p->causal && j > i + offset) bv = -INFINITY;
                    if (p->left_window >= 0 || p->right_window >= 0) {
                        int64_t diff = i + offset - j;
                        if ((p->left_window >= 0 && diff > p->left_window) ||
                            (p->right_window >= 0 && -diff > p->right_window))
                            bv = -INFINITY;
                    }
                    if (nonpad && j >= lo_get_i64(nonpad, b)) bv = -INFINITY;
                    bias[j] = bv;
                    if (!(isinf(bv) && bv < 0)) all_masked = false;
                    double dot = 0;
                    float dotf = 0;
                    for (int64_t d = 0; d < D; d++) {
                        double kv = j < P ? lo_get_f64(pk, ((b * Hk + hk) * P + j) * D + d)
                                          : lo_get_f64(k.t, heads_at(&k, b, hk, j - P, d));
                        double qv = lo_get_f64(q.t, heads_at(&q, b, h, i, d));
                        if (bf) dotf += (float)(bf16_round(qv * sq) * bf16_round(kv * sq));
                        else dot += qv * kv;
                    }
                    double sc = bf ? bf16_round(dotf) : dot * scale;
                    if (p->softcap > 0) sc = p->softcap * tanh(sc / p->softcap);
                    row[j] = sc;
                }
                double mx = -INFINITY, sum = 0;
                for (int64_t j = 0; j < T; j++) mx = fmax(mx, bf ? bf16_round(row[j] + bias[j]) : row[j] + bias[j]);
                for (int64_t j = 0; j < T; j++) {
                    double xb = bf ? bf16_round(row[j] + bias[j]) : row[j] + bias[j];
                    double sm = isinf(mx) && mx < 0 ? 0 : mx;
                    prob[j] = bf ? bf16_round(expf((float)bf16_round(xb - sm))) : exp(xb - sm);
                    sum = bf ? bf16_round(sum + prob[j]) : sum + prob[j];
                }
                if (sum == 0) sum = 1;
                for (int64_t j = 0; j < T; j++)
                    prob[j] = all_masked ? 0 : bf ? bf16_round(prob[j] / sum) : prob[j] / sum;
                if (has_out(ctx, 3))
                    for (int64_t j = 0; j < T; j++) {
                        double o = p->qk_mode == 2 ? row[j] + bias[j] : p->qk_mode == 3 ? prob[j] : row[j];
                        lo_set_f64(ctx->out[3], ((b * Hq + h) * Sq + i) * T + j, o);
                    }
                if (!has_out(ctx, 0)) continue;
                for (int64_t d = 0; d < Dv; d++) {
                    double acc = 0;
                    float accf = 0;
                    for (int64_t j = 0; j < T; j++) {
                        if (prob[j] == 0) continue;
                        double vv = j < P ? lo_get_f64(pv, ((b * Hk + hk) * P + j) * Dv + d)
                                          : lo_get_f64(v.t, heads_at(&v, b, hk, j - P, d));
                        if (bf) accf += (float)(prob[j] * vv);
                        else acc += prob[j] * vv;
                    }
                    int64_t at = q.packed ? (b * Sq + i) * (Hq * Dv) + h * Dv + d : ((b * Hq + h) * Sq + i) * Dv + d;
                    lo_set_f64(ctx->out[0], at, bf ? accf : acc);
                }
            }
        }
    free(heap);
    return LO_OK;
}

/* ---- RMSNormalization, RotaryEmbedding, Swish, SwiGLU --------------------------------------- */

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

static lo_status rotary_run(lo_kernel_ctx *ctx) {
    LO_TRY(need_float_in(ctx, 0, "X"));
    LO_TRY(need_float_in(ctx, 1, "cos_cache"));
    LO_TRY(need_float_in(ctx, 2, "sin_cache"));
    const lo_tensor *x = ctx->in[0], *cs = ctx->in[1], *sn = ctx->in[2];
    const lo_tensor *pos = has_in(ctx, 3) ? ctx->in[3] : NULL;
    bool inter = lo_attr_int(ctx->node, "interleaved", 0) != 0;
    int64_t rot = lo_attr_int(ctx->node, "rotary_embedding_dim", 0);
    int64_t heads = lo_attr_int(ctx->node, "num_heads", 0);
    int64_t B, H, S, D;
    bool packed = x->rank == 3;
    if (x->rank == 4) B = x->dims[0], H = x->dims[1], S = x->dims[2], D = x->dims[3];
    else {
        LO_CHECK(ctx, x->rank == 3 && heads > 0 && x->dims[2] % heads == 0, "X must be 4-D, or 3-D with num_heads");
        B = x->dims[0], S = x->dims[1], H = heads, D = x->dims[2] / heads;
    }
    if (rot == 0) rot = D;
    int64_t half = rot / 2;
    LO_CHECK(ctx, rot <= D && rot % 2 == 0, "rotary_embedding_dim %lld", (long long)rot);
    LO_CHECK(ctx, sn->rank == cs->rank && !memcmp(sn->dims, cs->dims, sizeof cs->dims[0] * (size_t)cs->rank),
             "cos_cache and sin_cache differ in shape");
    LO_CHECK(ctx, cs->dims[cs->rank - 1] == half && sn->dims[sn->rank - 1] == half,
             "cos/sin caches must end in rotary_embedding_dim / 2 = %lld", (long long)half);
    if (pos) LO_CHECK(ctx, cs->rank == 2 && lo_numel(pos) == B * S, "with position_ids the caches are 2-D");
    else LO_CHECK(ctx, cs->rank == 3 && cs->dims[0] == B && cs->dims[1] == S, "caches must be [batch, seq, dim / 2]");
    LO_TRY(lo_output(ctx, 0, x->dtype, x->rank, x->dims));
    if (!has_out(ctx, 0)) return LO_OK;
    for (int64_t b = 0; b < B; b++)
        for (int64_t s = 0; s < S; s++) {
            int64_t crow;
            if (pos) {
                crow = lo_get_i64(pos, b * S + s);
                LO_CHECK(ctx, crow >= 0 && crow < cs->dims[0], "position id %lld out of range", (long long)crow);
            } else {
                crow = b * S + s;
            }
            for (int64_t h = 0; h < H; h++) {
                int64_t base = packed ? (b * S + s) * (H * D) + h * D : ((b * H + h) * S + s) * D;
                for (int64_t i = 0; i < half; i++) {
                    int64_t i1 = inter ? 2 * i : i, i2 = inter ? 2 * i + 1 : i + half;
                    double c = lo_get_f64(cs, crow * half + i), sv = lo_get_f64(sn, crow * half + i);
                    double x1 = lo_get_f64(x, base + i1), x2 = lo_get_f64(x, base + i2);
                    lo_set_f64(ctx->out[0], base + i1, c * x1 - sv * x2);
                    lo_set_f64(ctx->out[0], base + i2, sv * x1 + c * x2);
                }
                for (int64_t d = rot; d < D; d++) lo_set_f64(ctx->out[0], base + d, lo_get_f64(x, base + d));
            }
        }
    return LO_OK;
}

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

/* ---- CumProd, BitCast, TensorScatter ----------------------------------------------------- */

static lo_status cumprod_run(lo_kernel_ctx *ctx) {
    LO_CHECK(ctx, has_in(ctx, 0), "x is required");
    const lo_tensor *x = ctx->in[0];
    LO_CHECK(ctx, float_type(x->dtype) || lo_dtype_is_int(x->dtype), "x of type %s", lo_dtype_name(x->dtype));
    int64_t a;
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

static lo_status tensor_scatter_run(lo_kernel_ctx *ctx) {
    LO_CHECK(ctx, has_in(ctx, 0) && has_in(ctx, 1), "past_cache and update are required");
    const lo_tensor *cache = ctx->in[0], *upd = ctx->in[1];
    const lo_tensor *wi = has_in(ctx, 2) ? ctx->in[2] : NULL;
    const char *mode = lo_attr_string(ctx->node, "mode", "linear");
    bool circular = !strcmp(mode, "circular");
    if (!circular && strcmp(mode, "linear")) return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "mode '%s'", mode);
    int axis;
    LO_CHECK(ctx, lo_norm_axis(lo_attr_int(ctx->node, "axis", -2), cache->rank, &axis) && axis >= 1,
             "axis out of range");
    LO_CHECK(ctx, cache->dtype == upd->dtype && cache->rank == upd->rank, "update must match past_cache");
    for (int i = 0; i < cache->rank; i++)
        LO_CHECK(ctx, i == axis ? upd->dims[i] <= cache->dims[i] : upd->dims[i] == cache->dims[i],
                 "update dim %d does not fit past_cache", i);
    LO_CHECK(ctx, !wi || (lo_dtype_is_int(wi->dtype) && lo_numel(wi) == cache->dims[0]),
             "write_indices must hold one integer per batch");
    LO_TRY(lo_output(ctx, 0, cache->dtype, cache->rank, cache->dims));
    if (!has_out(ctx, 0)) return LO_OK;
    if (cache->dtype == LO_STRING) return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "string caches");
    memcpy(ctx->out[0]->data, cache->data, cache->nbytes);
    int64_t outer = 1, inner = 1, L = cache->dims[axis], S = upd->dims[axis];
    for (int i = 0; i < axis; i++) outer *= cache->dims[i];
    for (int i = axis + 1; i < cache->rank; i++) inner *= cache->dims[i];
    int64_t per_batch = outer / cache->dims[0];
    size_t es = lo_dtype_size(cache->dtype);
    for (int64_t o = 0; o < outer; o++) {
        int64_t b = o / per_batch, start = wi ? lo_get_i64(wi, b) : 0;
        for (int64_t t = 0; t < S; t++) {
            int64_t pos = start + t;
            if (circular) pos = ((pos % L) + L) % L;
            LO_CHECK(ctx, pos >= 0 && pos < L, "write index %lld out of range", (long long)pos);
            memcpy((char *)ctx->out[0]->data + (size_t)((o * L + pos) * inner) * es,
                   (const char *)upd->data + (size_t)((o * S + t) * inner) * es, (size_t)inner * es);
        }
    }
    return LO_OK;
}

/* ---- CenterCropPad, Col2Im, AffineGrid ---------------------------------------------------- */

static lo_status center_crop_pad_run(lo_kernel_ctx *ctx) {
    LO_CHECK(ctx, has_in(ctx, 0) && has_in(ctx, 1), "input and shape are required");
    const lo_tensor *x = ctx->in[0], *shape = ctx->in[1];
    LO_CHECK(ctx, x->dtype != LO_STRING, "string input");
    int64_t n_axes;
    const int64_t *axes = lo_attr_ints(ctx->node, "axes", &n_axes);
    if (!axes) n_axes = x->rank;
    LO_CHECK(ctx, lo_numel(shape) == n_axes, "shape has %lld values for %lld axes", (long long)lo_numel(shape),
             (long long)n_axes);
    int64_t dims[LO_MAX_RANK], src_off[LO_MAX_RANK] = {0}, dst_off[LO_MAX_RANK] = {0}, len[LO_MAX_RANK];
    memcpy(dims, x->dims, sizeof dims);
    for (int i = 0; i < x->rank; i++) len[i] = x->dims[i];
    for (int64_t k = 0; k < n_axes; k++) {
        int a;
        LO_CHECK(ctx, lo_norm_axis(axes ? axes[k] : k, x->rank, &a), "axis out of range");
        int64_t want = lo_get_i64(shape, k), have = x->dims[a];
        LO_CHECK(ctx, want >= 0, "negative target size");
        dims[a] = want;
        if (want < have) src_off[a] = (have - want) / 2, len[a] = want;
        else if (want > have) dst_off[a] = (want - have) / 2, len[a] = have;
    }
    LO_TRY(lo_output(ctx, 0, x->dtype, x->rank, dims));
    if (!has_out(ctx, 0)) return LO_OK;
    size_t es = lo_dtype_size(x->dtype);
    memset(ctx->out[0]->data, 0, ctx->out[0]->nbytes);
    int64_t total = lo_numel_dims(x->rank, len);
    for (int64_t e = 0; e < total; e++) {
        int64_t rem = e, si = 0, di = 0, ss = 1, ds = 1;
        for (int d = x->rank - 1; d >= 0; d--) {
            int64_t c = rem % len[d];
            rem /= len[d];
            si += (c + src_off[d]) * ss;
            di += (c + dst_off[d]) * ds;
            ss *= x->dims[d];
            ds *= dims[d];
        }
        memcpy((char *)ctx->out[0]->data + (size_t)di * es, (const char *)x->data + (size_t)si * es, es);
    }
    return LO_OK;
}

static lo_status col2im_run(lo_kernel_ctx *ctx) {
    LO_TRY(need_float_in(ctx, 0, "input"));
    LO_CHECK(ctx, has_in(ctx, 1) && has_in(ctx, 2), "image_shape and block_shape are required");
    const lo_tensor *x = ctx->in[0], *ims = ctx->in[1], *bs = ctx->in[2];
    int64_t nd = lo_numel(ims);
    LO_CHECK(ctx, nd >= 1 && nd <= 5 && lo_numel(bs) == nd && x->rank == 3, "input must be [N, C * prod(block), L]");
    int64_t n_dil, n_pad, n_str;
    const int64_t *dil = lo_attr_ints(ctx->node, "dilations", &n_dil);
    const int64_t *pad = lo_attr_ints(ctx->node, "pads", &n_pad);
    const int64_t *str = lo_attr_ints(ctx->node, "strides", &n_str);
    LO_CHECK(ctx, (!dil || n_dil == nd) && (!pad || n_pad == 2 * nd) && (!str || n_str == nd),
             "dilations, pads or strides have the wrong length");
    int64_t img[5], blk[5], cols[5], bl = 1, ncol = 1, imsz = 1;
    for (int64_t i = 0; i < nd; i++) {
        img[i] = lo_get_i64(ims, i), blk[i] = lo_get_i64(bs, i);
        int64_t d = dil ? dil[i] : 1, s = str ? str[i] : 1, p0 = pad ? pad[i] : 0, p1 = pad ? pad[i + nd] : 0;
        LO_CHECK(ctx, blk[i] > 0 && img[i] > 0 && d > 0 && s > 0, "bad sizes");
        cols[i] = (img[i] + p0 + p1 - (d * (blk[i] - 1) + 1)) / s + 1;
        bl *= blk[i], ncol *= cols[i], imsz *= img[i];
    }
    LO_CHECK(ctx, x->dims[1] % bl == 0 && x->dims[2] == ncol, "input shape does not match the blocks");
    int64_t N = x->dims[0], C = x->dims[1] / bl, dims[LO_MAX_RANK];
    dims[0] = N, dims[1] = C;
    for (int64_t i = 0; i < nd; i++) dims[2 + i] = img[i];
    LO_TRY(lo_output(ctx, 0, x->dtype, (int)(2 + nd), dims));
    if (!has_out(ctx, 0)) return LO_OK;
    void *heap;
    double *acc = work_buffer(ctx, (size_t)(imsz ? imsz : 1) * sizeof(double), &heap);
    if (!acc) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            memset(acc, 0, (size_t)imsz * sizeof *acc);
            for (int64_t kb = 0; kb < bl; kb++)
                for (int64_t col = 0; col < ncol; col++) {
                    int64_t rk = kb, rc = col, idx = 0;
                    bool out = false;
                    int64_t ko[5], co[5];
                    for (int64_t i = nd - 1; i >= 0; i--) {
                        ko[i] = rk % blk[i], rk /= blk[i];
                        co[i] = rc % cols[i], rc /= cols[i];
                    }
                    for (int64_t i = 0; i < nd; i++) {
                        int64_t pos = co[i] * (str ? str[i] : 1) - (pad ? pad[i] : 0) + ko[i] * (dil ? dil[i] : 1);
                        if (pos < 0 || pos >= img[i]) out = true;
                        idx = idx * img[i] + pos;
                    }
                    if (!out) acc[idx] += lo_get_f64(x, ((n * C + c) * bl + kb) * ncol + col);
                }
            for (int64_t i = 0; i < imsz; i++) lo_set_f64(ctx->out[0], (n * C + c) * imsz + i, acc[i]);
        }
    free(heap);
    return LO_OK;
}

static lo_status affine_grid_run(lo_kernel_ctx *ctx) {
    LO_TRY(need_float_in(ctx, 0, "theta"));
    LO_CHECK(ctx, has_in(ctx, 1), "size is required");
    const lo_tensor *theta = ctx->in[0], *size = ctx->in[1];
    bool align = lo_attr_int(ctx->node, "align_corners", 0) != 0;
    int64_t ns = lo_numel(size);
    LO_CHECK(ctx, ns == 4 || ns == 5, "size must be [N, C, H, W] or [N, C, D, H, W]");
    int k = (int)ns - 2;
    int64_t N = lo_get_i64(size, 0), sp[3], dims[LO_MAX_RANK], total = 1;
    LO_CHECK(ctx, theta->rank == 3 && theta->dims[0] == N && theta->dims[1] == k && theta->dims[2] == k + 1,
             "theta must be [N, %d, %d]", k, k + 1);
    dims[0] = N;
    for (int i = 0; i < k; i++) {
        sp[i] = lo_get_i64(size, 2 + i);
        LO_CHECK(ctx, sp[i] > 0, "size must be positive");
        dims[1 + i] = sp[i];
        total *= sp[i];
    }
    dims[1 + k] = k;
    LO_TRY(lo_output(ctx, 0, theta->dtype, k + 2, dims));
    if (!has_out(ctx, 0)) return LO_OK;
    for (int64_t n = 0; n < N; n++)
        for (int64_t e = 0; e < total; e++) {
            /* base coordinates, innermost dim first (x, y[, z]), then 1 */
            double base[4];
            int64_t rem = e;
            for (int i = k - 1; i >= 0; i--) {
                int64_t c = rem % sp[i];
                rem /= sp[i];
                double v = align ? (sp[i] > 1 ? -1 + 2.0 * (double)c / (double)(sp[i] - 1) : -1)
                                 : -1 + (2.0 * (double)c + 1) / (double)sp[i];
                base[k - 1 - i] = v;
            }
            base[k] = 1;
            for (int r = 0; r < k; r++) {
                double acc = 0;
                for (int c = 0; c <= k; c++) acc += lo_get_f64(theta, (n * k + r) * (k + 1) + c) * base[c];
                lo_set_f64(ctx->out[0], (n * total + e) * k + r, acc);
            }
        }
    return LO_OK;
}

/* ---- StringConcat, StringSplit, RegexFullMatch ----------------------------------------- */

static lo_status string_concat_run(lo_kernel_ctx *ctx) {
    LO_CHECK(ctx, has_in(ctx, 0) && has_in(ctx, 1), "X and Y are required");
    const lo_tensor *ins[2] = {ctx->in[0], ctx->in[1]};
    LO_CHECK(ctx, ins[0]->dtype == LO_STRING && ins[1]->dtype == LO_STRING, "inputs must be strings");
    int rank;
    int64_t dims[LO_MAX_RANK], sa[LO_MAX_RANK], sb[LO_MAX_RANK];
    lo_error berr;
    if (lo_broadcast_shape(2, ins, &rank, dims, &berr) != LO_OK)
        return lo_kernel_fail(ctx, LO_ERR_INPUT, "%s", berr.message);
    lo_broadcast_strides(ins[0], rank, dims, sa);
    lo_broadcast_strides(ins[1], rank, dims, sb);
    LO_TRY(lo_output(ctx, 0, LO_STRING, rank, dims));
    if (!has_out(ctx, 0)) return LO_OK;
    int64_t n = lo_numel_dims(rank, dims);
    for (int64_t e = 0; e < n; e++) {
        int64_t rem = e, ia = 0, ib = 0;
        for (int d = rank - 1; d >= 0; d--) {
            int64_t c = rem % dims[d];
            rem /= dims[d];
            ia += c * sa[d], ib += c * sb[d];
        }
        const char *a = ((char *const *)ins[0]->data)[ia], *b = ((char *const *)ins[1]->data)[ib];
        a = a ? a : "", b = b ? b : "";
        size_t la = strlen(a), lb = strlen(b);
        char *r = malloc(la + lb + 1);
        if (!r) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
        memcpy(r, a, la);
        memcpy(r + la, b, lb + 1);
        ((char **)ctx->out[0]->data)[e] = r;
    }
    return LO_OK;
}

/* Splits s as Python's str.split does: on whitespace runs (no empty
 * pieces) when sep is empty, else on each occurrence of sep; at most
 * maxsplit splits when maxsplit >= 0. Returns the pieces' count; fills
 * start/len when given. */
static int64_t split_str(const char *s, const char *sep, int64_t maxsplit, int64_t *start, int64_t *len) {
    int64_t n = 0, i = 0, L = (int64_t)strlen(s);
    if (!sep[0]) {
        while (i < L) {
            while (i < L && isspace((unsigned char)s[i])) i++;
            if (i >= L) break;
            int64_t b = i;
            if (maxsplit >= 0 && n == maxsplit) {
                int64_t e = L;
                while (e > b && isspace((unsigned char)s[e - 1])) e--;
                if (start) start[n] = b, len[n] = e - b;
                return n + 1;
            }
            while (i < L && !isspace((unsigned char)s[i])) i++;
            if (start) start[n] = b, len[n] = i - b;
            n++;
        }
        return n;
    }
    int64_t ls = (int64_t)strlen(sep), b = 0;
    for (i = 0; i + ls <= L;) {
        if ((maxsplit < 0 || n < maxsplit) && !strncmp(s + i, sep, (size_t)ls)) {
            if (start) start[n] = b, len[n] = i - b;
            n++;
            i += ls;
            b = i;
        } else {
            i++;
        }
    }
    if (start) start[n] = b, len[n] = L - b;
    return n + 1;
}

static lo_status string_split_run(lo_kernel_ctx *ctx) {
    LO_CHECK(ctx, has_in(ctx, 0) && ctx->in[0]->dtype == LO_STRING, "X must be a string tensor");
    const lo_tensor *x = ctx->in[0];
    LO_CHECK(ctx, x->rank < LO_MAX_RANK, "rank %d is too high", x->rank);
    const char *sep = lo_attr_string(ctx->node, "delimiter", "");
    int64_t maxsplit = lo_attr_int(ctx->node, "maxsplit", -1);
    int64_t n = lo_numel(x), most = 0;
    char *const *in = x->data;
    for (int64_t i = 0; i < n; i++) {
        int64_t c = split_str(in[i] ? in[i] : "", sep, maxsplit, NULL, NULL);
        if (c > most) most = c;
    }
    int64_t dims[LO_MAX_RANK];
    memcpy(dims, x->dims, sizeof dims);
    dims[x->rank] = most;
    LO_TRY(lo_output(ctx, 0, LO_STRING, x->rank + 1, dims));
    LO_TRY(lo_output(ctx, 1, LO_INT64, x->rank, x->dims));
    int64_t *st = malloc((size_t)(most + 1) * 2 * sizeof *st);
    if (!st) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
    int64_t *ln = st + most + 1;
    for (int64_t i = 0; i < n; i++) {
        const char *s = in[i] ? in[i] : "";
        int64_t c = split_str(s, sep, maxsplit, st, ln);
        if (has_out(ctx, 1)) ((int64_t *)ctx->out[1]->data)[i] = c;
        if (!has_out(ctx, 0)) continue;
        for (int64_t k = 0; k < most; k++)
            ((char **)ctx->out[0]->data)[i * most + k] = k < c ? lo_strndup(s + st[k], (size_t)ln[k]) : lo_strdup("");
    }
    free(st);
    return LO_OK;
}

/* Rewrites the Perl/RE2 classes \w \W \d \D \s \S (also inside brackets)
 * into POSIX ERE for regcomp; glibc understands \b and \B itself. */
static char *regex_to_posix(const char *p) {
    size_t cap = strlen(p) * 16 + 16, n = 0;
    char *o = malloc(cap);
    if (!o) return NULL;
#define EMIT(str) do { size_t l_ = strlen(str); memcpy(o + n, str, l_); n += l_; } while (0)
    for (const char *c = p; *c; c++) {
        if (*c == '[') {
            /* collect a bracket expression; ']' goes first and '-' last so
             * neither needs an escape */
            char body[1024];
            size_t b = 0;
            bool neg = false, close_br = false, dash = false;
            c++;
            if (*c == '^') neg = true, c++;
            for (; *c && *c != ']' && b < sizeof body - 32; c++) {
                if (*c == '\\' && c[1]) {
                    c++;
                    const char *cls = *c == 'w' ? "[:alnum:]_" : *c == 'd' ? "0-9" : *c == 's' ? "[:space:]" : NULL;
                    if (cls) {
                        memcpy(body + b, cls, strlen(cls));
                        b += strlen(cls);
                    } else if (*c == ']') close_br = true;
                    else if (*c == '-') dash = true;
                    else body[b++] = *c;
                } else if (*c == '-' && (c[1] == ']' || b == 0)) {
                    dash = true;
                } else {
                    body[b++] = *c;
                }
            }
            if (!*c) break;
            EMIT("[");
            if (neg) EMIT("^");
            if (close_br) EMIT("]");
            memcpy(o + n, body, b);
            n += b;
            if (dash) EMIT("-");
            EMIT("]");
            continue;
        }
        if (*c == '\\' && c[1]) {
            c++;
            switch (*c) {
            case 'w': EMIT("[[:alnum:]_]"); break;
            case 'W': EMIT("[^[:alnum:]_]"); break;
            case 'd': EMIT("[0-9]"); break;
            case 'D': EMIT("[^0-9]"); break;
            case 's': EMIT("[[:space:]]"); break;
            case 'S': EMIT("[^[:space:]]"); break;
            default: o[n++] = '\\', o[n++] = *c; break;
            }
            continue;
        }
        o[n++] = *c;
    }
#undef EMIT
    o[n] = 0;
    return o;
}

static lo_status regex_full_match_run(lo_kernel_ctx *ctx) {
    LO_CHECK(ctx, has_in(ctx, 0) && ctx->in[0]->dtype == LO_STRING, "X must be a string tensor");
    const lo_tensor *x = ctx->in[0];
    const char *pattern = lo_attr_string(ctx->node, "pattern", NULL);
    LO_CHECK(ctx, pattern, "attribute 'pattern' is required");
    char *posix = regex_to_posix(pattern);
    if (!posix) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
    size_t len = strlen(posix) + 8;
    char *anchored = malloc(len);
    if (!anchored) {
        free(posix);
        return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
    }
    snprintf(anchored, len, "^(%s)$", posix);
    free(posix);
    regex_t re;
    int rc = regcomp(&re, anchored, REG_EXTENDED | REG_NOSUB);
    free(anchored);
    if (rc != 0) return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "pattern '%s' is not supported", pattern);
    lo_status st = lo_output(ctx, 0, LO_BOOL, x->rank, x->dims);
    if (st == LO_OK && has_out(ctx, 0))
        for (int64_t i = 0; i < lo_numel(x); i++) {
            const char *s = ((char *const *)x->data)[i];
            ((uint8_t *)ctx->out[0]->data)[i] = regexec(&re, s ? s : "", 0, NULL, 0) == 0;
        }
    regfree(&re);
    return st;
}

/* ---- LinearAttention, CausalConvWithState (opset 27) ------------------------------------- */

/* Recurrent linear attention over a [d_k, d_v] state per batch and key
 * head: per step, optionally decay the state (gated), optionally replace
 * v by beta * (v - state^T k) (delta rule), add k v^T, read q^T state. */
static lo_status linear_attention_run(lo_kernel_ctx *ctx) {
    for (int i = 0; i < 3; i++) LO_TRY(need_float_in(ctx, i, i == 0 ? "query" : i == 1 ? "key" : "value"));
    const lo_tensor *q = ctx->in[0], *k = ctx->in[1], *v = ctx->in[2];
    const lo_tensor *past = has_in(ctx, 3) ? ctx->in[3] : NULL, *decay = has_in(ctx, 4) ? ctx->in[4] : NULL;
    const lo_tensor *beta = has_in(ctx, 5) ? ctx->in[5] : NULL;
    const char *rule = lo_attr_string(ctx->node, "update_rule", "gated_delta");
    bool gated = !strcmp(rule, "gated") || !strcmp(rule, "gated_delta");
    bool delta = !strcmp(rule, "delta") || !strcmp(rule, "gated_delta");
    if (!gated && !delta && strcmp(rule, "linear"))
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "update_rule '%s'", rule);
    int64_t hq = lo_attr_int(ctx->node, "q_num_heads", 0), hk = lo_attr_int(ctx->node, "kv_num_heads", 0);
    LO_CHECK(ctx, hq > 0 && hk > 0 && hq % hk == 0, "q_num_heads must be a positive multiple of kv_num_heads");
    LO_CHECK(ctx, gated == (decay != NULL) && delta == (beta != NULL), "decay / beta do not fit update_rule '%s'", rule);
    LO_CHECK(ctx, q->rank == 3 && k->rank == 3 && v->rank == 3, "query, key and value must be [B, T, H * D]");
    int64_t B = q->dims[0], T = q->dims[1], dk = q->dims[2] / hq, dv = v->dims[2] / hk, grp = hq / hk;
    LO_CHECK(ctx, q->dims[2] % hq == 0 && v->dims[2] % hk == 0 && k->dims[0] == B && k->dims[1] == T &&
                      k->dims[2] == hk * dk && v->dims[0] == B && v->dims[1] == T,
             "query, key and value shapes do not agree");
    int64_t decay_last = 0, beta_last = 0;
    if (decay) {
        decay_last = decay->dims[decay->rank - 1];
        LO_CHECK(ctx, decay->rank == 3 && decay->dims[0] == B && decay->dims[1] == T &&
                          (decay_last == hk || decay_last == hk * dk),
                 "decay must be [B, T, H] or [B, T, H * d_k]");
    }
    if (beta) {
        beta_last = beta->dims[beta->rank - 1];
        LO_CHECK(ctx, beta->rank == 3 && beta->dims[0] == B && beta->dims[1] == T && (beta_last == hk || beta_last == 1),
                 "beta must be [B, T, H] or [B, T, 1]");
    }
    if (past)
        LO_CHECK(ctx, past->rank == 4 && past->dims[0] == B && past->dims[1] == hk && past->dims[2] == dk &&
                          past->dims[3] == dv,
                 "past_state must be [B, H, d_k, d_v]");
    double scale = lo_attr_float(ctx->node, "scale", 0);
    if (scale == 0) scale = 1.0 / sqrt((double)dk);
    int64_t odims[3] = {B, T, hq * dv}, sdims[4] = {B, hk, dk, dv};
    LO_TRY(lo_output(ctx, 0, q->dtype, 3, odims));
    LO_TRY(lo_output(ctx, 1, past ? past->dtype : q->dtype, 4, sdims));
    void *heap;
    double *st = work_buffer(ctx, (size_t)(dk * dv + dv + 1) * sizeof(double), &heap);
    if (!st) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
    double *vt = st + dk * dv;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < hk; h++) {
            for (int64_t i = 0; i < dk * dv; i++) st[i] = past ? lo_get_f64(past, (b * hk + h) * dk * dv + i) : 0;
            for (int64_t t = 0; t < T; t++) {
                if (gated)
                    for (int64_t a = 0; a < dk; a++) {
                        double g = decay_last == hk ? lo_get_f64(decay, (b * T + t) * hk + h)
                                                    : lo_get_f64(decay, (b * T + t) * hk * dk + h * dk + a);
                        double e = exp(g);
                        for (int64_t m = 0; m < dv; m++) st[a * dv + m] *= e;
                    }
                for (int64_t m = 0; m < dv; m++) vt[m] = lo_get_f64(v, (b * T + t) * hk * dv + h * dv + m);
                if (delta) {
                    double bt = lo_get_f64(beta, (b * T + t) * beta_last + (beta_last == 1 ? 0 : h));
                    for (int64_t m = 0; m < dv; m++) {
                        double r = 0;
                        for (int64_t a = 0; a < dk; a++) r += st[a * dv + m] * lo_get_f64(k, (b * T + t) * hk * dk + h * dk + a);
                        vt[m] = bt * (vt[m] - r);
                    }
                }
                for (int64_t a = 0; a < dk; a++) {
                    double ka = lo_get_f64(k, (b * T + t) * hk * dk + h * dk + a);
                    for (int64_t m = 0; m < dv; m++) st[a * dv + m] += ka * vt[m];
                }
                if (!has_out(ctx, 0)) continue;
                for (int64_t g = 0; g < grp; g++) {
                    int64_t qh = h * grp + g;
                    for (int64_t m = 0; m < dv; m++) {
                        double o = 0;
                        for (int64_t a = 0; a < dk; a++) o += lo_get_f64(q, (b * T + t) * hq * dk + qh * dk + a) * st[a * dv + m];
                        lo_set_f64(ctx->out[0], (b * T + t) * hq * dv + qh * dv + m, scale * o);
                    }
                }
            }
            if (has_out(ctx, 1))
                for (int64_t i = 0; i < dk * dv; i++) lo_set_f64(ctx->out[1], (b * hk + h) * dk * dv + i, st[i]);
        }
    free(heap);
    return LO_OK;
}

/* Depthwise causal 1-D convolution whose left padding is the previous
 * call's last k - 1 inputs (past_state, zeros when absent). */
static lo_status causal_conv_run(lo_kernel_ctx *ctx) {
    LO_TRY(need_float_in(ctx, 0, "input"));
    LO_TRY(need_float_in(ctx, 1, "weight"));
    const lo_tensor *x = ctx->in[0], *w = ctx->in[1];
    const lo_tensor *bias = has_in(ctx, 2) ? ctx->in[2] : NULL, *past = has_in(ctx, 3) ? ctx->in[3] : NULL;
    const char *act = lo_attr_string(ctx->node, "activation", "none");
    bool silu = !strcmp(act, "silu") || !strcmp(act, "swish");
    if (!silu && strcmp(act, "none")) return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "activation '%s'", act);
    LO_CHECK(ctx, x->rank == 3 && w->rank == 3, "input must be [B, C, L] and weight [C, 1, k]");
    int64_t B = x->dims[0], C = x->dims[1], L = x->dims[2], K = w->dims[2];
    LO_CHECK(ctx, w->dims[0] == C && w->dims[1] == 1 && K >= 1, "weight must be [C, 1, k]");
    LO_CHECK(ctx, !bias || lo_numel(bias) == C, "bias must have C values");
    LO_CHECK(ctx, !past || (past->rank == 3 && past->dims[0] == B && past->dims[1] == C && past->dims[2] == K - 1),
             "past_state must be [B, C, k - 1]");
    int64_t sdims[3] = {B, C, K - 1};
    LO_TRY(lo_output(ctx, 0, x->dtype, 3, x->dims));
    LO_TRY(lo_output(ctx, 1, x->dtype, 3, sdims));
    for (int64_t b = 0; b < B; b++)
        for (int64_t c = 0; c < C; c++) {
            /* padded[i] for i in [0, k - 1 + L): the state, then the input */
#define PADDED(i) ((i) < K - 1 ? (past ? lo_get_f64(past, (b * C + c) * (K - 1) + (i)) : 0.0) \
                               : lo_get_f64(x, (b * C + c) * L + (i) - (K - 1)))
            for (int64_t t = 0; has_out(ctx, 0) && t < L; t++) {
                double acc = bias ? lo_get_f64(bias, c) : 0;
                for (int64_t j = 0; j < K; j++) acc += lo_get_f64(w, c * K + j) * PADDED(t + j);
                if (silu) {
                    if (x->dtype == LO_FLOAT16) acc = lo_half_to_float(lo_float_to_half((float)acc));
                    acc = acc / (1 + exp(-acc));
                }
                lo_set_f64(ctx->out[0], (b * C + c) * L + t, acc);
            }
            for (int64_t j = 0; has_out(ctx, 1) && j < K - 1; j++)
                lo_set_f64(ctx->out[1], (b * C + c) * (K - 1) + j, PADDED(L + j));
#undef PADDED
        }
    return LO_OK;
}

/* ---- FlexAttention (ai.onnx.preview) --------------------------------------------------- */

static const lo_graph *graph_attr(const lo_node *n, const char *name) {
    const lo_attr *a = lo_attr_find(n, name);
    return a && a->type == LO_ATTR_GRAPH ? a->graph : NULL;
}

/* Runs a one-in, one-out modifier subgraph on t, replacing it. */
static lo_status run_modifier(lo_kernel_ctx *ctx, const lo_graph *g, lo_tensor *t) {
    LO_CHECK(ctx, g->n_inputs == 1 && g->n_outputs == 1, "modifier subgraphs take and give one tensor");
    const lo_tensor *ins[1] = {t};
    lo_tensor out;
    memset(&out, 0, sizeof out);
    LO_TRY(lo_exec_subgraph(ctx, g, ins, 1, &out, -1));
    if (out.kind != LO_KIND_TENSOR || out.rank != t->rank || memcmp(out.dims, t->dims, sizeof t->dims[0] * (size_t)t->rank)) {
        lo_tensor_free_data(&out);
        return lo_kernel_fail(ctx, LO_ERR_INPUT, "a modifier subgraph changed the shape");
    }
    /* keep t's buffer and type; take the values (converted) from out */
    for (int64_t i = 0; i < lo_numel(t); i++) lo_set_f64(t, i, lo_get_f64(&out, i));
    lo_tensor_free_data(&out);
    return LO_OK;
}

static lo_status flex_attention_run(lo_kernel_ctx *ctx) {
    for (int i = 0; i < 3; i++) LO_TRY(need_float_in(ctx, i, i == 0 ? "Q" : i == 1 ? "K" : "V"));
    const lo_tensor *q = ctx->in[0], *k = ctx->in[1], *v = ctx->in[2];
    LO_CHECK(ctx, q->rank == 4 && k->rank == 4 && v->rank == 4, "Q, K and V must be rank 4");
    int64_t B = q->dims[0], Hq = q->dims[1], L = q->dims[2], E = q->dims[3], Hk = k->dims[1], S = k->dims[2],
            Ev = v->dims[3];
    LO_CHECK(ctx, k->dims[0] == B && v->dims[0] == B && v->dims[1] == Hk && v->dims[2] == S && k->dims[3] == E,
             "Q, K and V shapes do not agree");
    LO_CHECK(ctx, Hk > 0 && Hq % Hk == 0, "q heads must be a multiple of kv heads");
    const lo_attr *sa = lo_attr_find(ctx->node, "scale");
    double scale = sa ? sa->f : 1.0 / sqrt((double)E);
    lo_dtype cd = (lo_dtype)lo_attr_int(ctx->node, "softmax_precision", q->dtype == LO_DOUBLE ? LO_DOUBLE : LO_FLOAT);
    LO_CHECK(ctx, float_type(cd), "softmax_precision %d", (int)cd);
    lo_tensor sc;
    memset(&sc, 0, sizeof sc);
    sc.dtype = cd;
    sc.rank = 4;
    sc.dims[0] = B, sc.dims[1] = Hq, sc.dims[2] = L, sc.dims[3] = S;
    if (!lo_shape_bytes(cd, 4, sc.dims, &sc.nbytes, ctx->err)) return ctx->err->status;
    sc.data = malloc(sc.nbytes ? sc.nbytes : 8);
    if (!sc.data) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
    double sq = sqrt((float)scale);
    int64_t grp = Hq / Hk;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < Hq; h++)
            for (int64_t i = 0; i < L; i++)
                for (int64_t j = 0; j < S; j++) {
                    double dot = 0;
                    for (int64_t e = 0; e < E; e++)
                        dot += lo_get_f64(q, ((b * Hq + h) * L + i) * E + e) * sq *
                               (lo_get_f64(k, ((b * Hk + h / grp) * S + j) * E + e) * sq);
                    lo_set_f64(&sc, ((b * Hq + h) * L + i) * S + j, dot);
                }
    lo_status st = LO_OK;
    const lo_graph *smod = graph_attr(ctx->node, "score_mod"), *pmod = graph_attr(ctx->node, "prob_mod");
    if (smod) st = run_modifier(ctx, smod, &sc);
    for (int64_t r = 0; st == LO_OK && r < B * Hq * L; r++) {
        double mx = -INFINITY, sum = 0;
        for (int64_t j = 0; j < S; j++) mx = fmax(mx, lo_get_f64(&sc, r * S + j));
        for (int64_t j = 0; j < S; j++) sum += exp(lo_get_f64(&sc, r * S + j) - mx);
        for (int64_t j = 0; j < S; j++) lo_set_f64(&sc, r * S + j, exp(lo_get_f64(&sc, r * S + j) - mx) / sum);
    }
    if (st == LO_OK && pmod) st = run_modifier(ctx, pmod, &sc);
    int64_t ydims[4] = {B, Hq, L, Ev};
    if (st == LO_OK) st = lo_output(ctx, 0, v->dtype, 4, ydims);
    if (st == LO_OK && has_out(ctx, 0))
        for (int64_t b = 0; b < B; b++)
            for (int64_t h = 0; h < Hq; h++)
                for (int64_t i = 0; i < L; i++)
                    for (int64_t e = 0; e < Ev; e++) {
                        double acc = 0;
                        for (int64_t j = 0; j < S; j++)
                            acc += lo_get_f64(&sc, ((b * Hq + h) * L + i) * S + j) *
                                   lo_get_f64(v, ((b * Hk + h / grp) * S + j) * Ev + e);
                        lo_set_f64(ctx->out[0], ((b * Hq + h) * L + i) * Ev + e, acc);
                    }
    free(sc.data);
    return st;
}

/* ---- ai.onnx.ml: Binarizer, ArrayFeatureExtractor, LabelEncoder, TreeEnsemble ------------- */

static lo_status binarizer_run(lo_kernel_ctx *ctx) {
    LO_CHECK(ctx, has_in(ctx, 0), "X is required");
    const lo_tensor *x = ctx->in[0];
    LO_CHECK(ctx, float_type(x->dtype) || lo_dtype_is_int(x->dtype), "X of type %s", lo_dtype_name(x->dtype));
    double thr = lo_attr_float(ctx->node, "threshold", 0);
    LO_TRY(lo_output(ctx, 0, x->dtype, x->rank, x->dims));
    if (has_out(ctx, 0))
        for (int64_t i = 0; i < lo_numel(x); i++) lo_set_f64(ctx->out[0], i, lo_get_f64(x, i) > thr ? 1 : 0);
    return LO_OK;
}

static lo_status array_feature_extractor_run(lo_kernel_ctx *ctx) {
    LO_CHECK(ctx, has_in(ctx, 0) && has_in(ctx, 1), "X and Y are required");
    const lo_tensor *x = ctx->in[0], *idx = ctx->in[1];
    LO_CHECK(ctx, x->rank >= 1 && lo_dtype_is_int(idx->dtype), "X must have rank >= 1, Y integer indices");
    int64_t n = lo_numel(idx), last = x->dims[x->rank - 1], rows = lo_numel(x) / (last ? last : 1);
    int64_t dims[LO_MAX_RANK];
    int rank;
    if (x->rank == 1) rank = 2, dims[0] = 1, dims[1] = n;
    else {
        rank = x->rank;
        memcpy(dims, x->dims, sizeof dims);
        dims[rank - 1] = n;
    }
    for (int64_t k = 0; k < n; k++) {
        int64_t j = lo_get_i64(idx, k);
        LO_CHECK(ctx, j >= 0 && j < last, "index %lld out of range [0, %lld)", (long long)j, (long long)last);
    }
    LO_TRY(lo_output(ctx, 0, x->dtype, rank, dims));
    if (!has_out(ctx, 0)) return LO_OK;
    size_t es = lo_dtype_size(x->dtype);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t k = 0; k < n; k++) {
            int64_t j = lo_get_i64(idx, k);
            if (x->dtype == LO_STRING) {
                const char *str = ((char *const *)x->data)[r * last + j];
                ((char **)ctx->out[0]->data)[r * n + k] = lo_strdup(str ? str : "");
            } else {
                memcpy((char *)ctx->out[0]->data + (size_t)(r * n + k) * es, (const char *)x->data + (size_t)(r * last + j) * es, es);
            }
        }
    return LO_OK;
}

/* A list attribute of LabelEncoder in any of its spellings: NAME_floats,
 * NAME_int64s, NAME_strings or NAME_tensor. */
typedef struct le_list {
    int64_t n;
    lo_dtype dtype; /* FLOAT, INT64, STRING, or the tensor's */
    const float *f;
    const int64_t *i;
    char **s;
    const lo_tensor *t;
} le_list;

static bool le_find(const lo_node *node, const char *prefix, le_list *l) {
    char name[64];
    memset(l, 0, sizeof *l);
    snprintf(name, sizeof name, "%s_floats", prefix);
    if ((l->f = lo_attr_floats(node, name, &l->n))) return l->dtype = LO_FLOAT, true;
    snprintf(name, sizeof name, "%s_int64s", prefix);
    if ((l->i = lo_attr_ints(node, name, &l->n))) return l->dtype = LO_INT64, true;
    snprintf(name, sizeof name, "%s_strings", prefix);
    const lo_attr *a = lo_attr_find(node, name);
    if (a && a->type == LO_ATTR_STRINGS) return l->s = a->strings, l->n = a->n, l->dtype = LO_STRING, true;
    snprintf(name, sizeof name, "%s_tensor", prefix);
    a = lo_attr_find(node, name);
    if (a && a->type == LO_ATTR_TENSOR && a->tensor)
        return l->t = a->tensor, l->n = lo_numel(a->tensor), l->dtype = a->tensor->dtype, true;
    return false;
}

static const char *le_str(const le_list *l, int64_t k) {
    if (l->s) return l->s[k];
    const char *s = l->t && l->t->dtype == LO_STRING ? ((char *const *)l->t->data)[k] : NULL;
    return s ? s : "";
}

static double le_num(const le_list *l, int64_t k) {
    return l->f ? l->f[k] : l->i ? (double)l->i[k] : lo_get_f64(l->t, k);
}

static lo_status label_encoder_run(lo_kernel_ctx *ctx) {
    LO_CHECK(ctx, has_in(ctx, 0), "X is required");
    const lo_tensor *x = ctx->in[0];
    le_list keys, vals;
    LO_CHECK(ctx, le_find(ctx->node, "keys", &keys) && le_find(ctx->node, "values", &vals) && keys.n == vals.n,
             "keys and values of the same length are required");
    LO_CHECK(ctx, (keys.dtype == LO_STRING) == (x->dtype == LO_STRING), "X's type %s does not match the keys",
             lo_dtype_name(x->dtype));
    lo_dtype ot = vals.dtype;
    const lo_attr *dt = lo_attr_find(ctx->node, "default_tensor");
    if (dt && (dt->type != LO_ATTR_TENSOR || !dt->tensor || lo_numel(dt->tensor) < 1 ||
               (dt->tensor->dtype == LO_STRING) != (ot == LO_STRING)))
        return lo_kernel_fail(ctx, LO_ERR_MODEL, "default_tensor does not match the values' type");
    LO_TRY(lo_output(ctx, 0, ot, x->rank, x->dims));
    if (!has_out(ctx, 0)) return LO_OK;
    for (int64_t i = 0; i < lo_numel(x); i++) {
        int64_t hit = -1;
        for (int64_t k = 0; k < keys.n && hit < 0; k++) {
            if (x->dtype == LO_STRING) {
                const char *s = ((char *const *)x->data)[i];
                if (!strcmp(s ? s : "", le_str(&keys, k))) hit = k;
            } else {
                double a = lo_get_f64(x, i), b = le_num(&keys, k);
                if (a == b || (isnan(a) && isnan(b))) hit = k;
            }
        }
        if (ot == LO_STRING) {
            const char *v = hit >= 0 ? le_str(&vals, hit)
                            : dt && dt->tensor && dt->tensor->dtype == LO_STRING ? ((char *const *)dt->tensor->data)[0]
                                                                                 : lo_attr_string(ctx->node, "default_string", "_Unused");
            ((char **)ctx->out[0]->data)[i] = lo_strdup(v ? v : "");
        } else {
            double v = hit >= 0 ? le_num(&vals, hit)
                       : dt && dt->tensor ? lo_get_f64(dt->tensor, 0)
                       : ot == LO_FLOAT ? lo_attr_float(ctx->node, "default_float", -0.0f)
                                        : (double)lo_attr_int(ctx->node, "default_int64", -1);
            lo_set_f64(ctx->out[0], i, v);
        }
    }
    return LO_OK;
}

/* TreeEnsemble (ai.onnx.ml 5): trees of comparison nodes; each row takes
 * one leaf per tree and the leaves' weights aggregate per target. */
static double attr_tensor_f64(const lo_node *n, const char *name, int64_t k, int64_t *count) {
    const lo_attr *a = lo_attr_find(n, name);
    if (!a || a->type != LO_ATTR_TENSOR || !a->tensor) {
        if (count) *count = 0;
        return 0;
    }
    if (count) *count = lo_numel(a->tensor);
    return k < lo_numel(a->tensor) ? lo_get_f64(a->tensor, k) : 0;
}

static lo_status tree_ensemble_run(lo_kernel_ctx *ctx) {
    LO_TRY(need_float_in(ctx, 0, "X"));
    const lo_tensor *x = ctx->in[0];
    const lo_node *nd = ctx->node;
    LO_CHECK(ctx, x->rank == 2, "X must be [N, F]");
    int64_t n_nodes, n_feat, n_modes, n_tn, n_fn, n_tl, n_fl, n_lt, n_roots, n_leaves, n_members, n_splits, n_miss;
    const int64_t *feat = lo_attr_ints(nd, "nodes_featureids", &n_feat);
    const lo_attr *modes_a = lo_attr_find(nd, "nodes_modes");
    const int64_t *tn = lo_attr_ints(nd, "nodes_truenodeids", &n_tn), *fn = lo_attr_ints(nd, "nodes_falsenodeids", &n_fn);
    const int64_t *tl = lo_attr_ints(nd, "nodes_trueleafs", &n_tl), *fl = lo_attr_ints(nd, "nodes_falseleafs", &n_fl);
    const int64_t *lt = lo_attr_ints(nd, "leaf_targetids", &n_lt), *roots = lo_attr_ints(nd, "tree_roots", &n_roots);
    const int64_t *miss = lo_attr_ints(nd, "nodes_missing_value_tracks_true", &n_miss);
    attr_tensor_f64(nd, "leaf_weights", 0, &n_leaves);
    attr_tensor_f64(nd, "nodes_splits", 0, &n_splits);
    attr_tensor_f64(nd, "membership_values", 0, &n_members);
    n_modes = modes_a && modes_a->type == LO_ATTR_TENSOR && modes_a->tensor ? lo_numel(modes_a->tensor) : 0;
    n_nodes = n_feat;
    LO_CHECK(ctx, n_nodes > 0 && n_modes == n_nodes && n_tn == n_nodes && n_fn == n_nodes && n_tl == n_nodes &&
                      n_fl == n_nodes && n_splits == n_nodes && n_lt == n_leaves && n_roots > 0,
             "inconsistent tree attributes");
    int64_t targets = lo_attr_int(nd, "n_targets", 1), agg = lo_attr_int(nd, "aggregate_function", 1);
    LO_CHECK(ctx, lo_attr_int(nd, "post_transform", 0) == 0, "post_transform is not supported");
    LO_CHECK(ctx, agg >= 0 && agg <= 3, "aggregate_function %lld", (long long)agg);
    int64_t N = x->dims[0], F = x->dims[1], dims[2] = {N, targets};
    /* the structure is checked once, so the walk below cannot leave it */
    for (int64_t k = 0; k < n_nodes; k++) {
        LO_CHECK(ctx, feat[k] >= 0 && feat[k] < F, "node %lld reads feature %lld of %lld", (long long)k,
                 (long long)feat[k], (long long)F);
        LO_CHECK(ctx, tn[k] >= 0 && tn[k] < (tl[k] ? n_leaves : n_nodes) && fn[k] >= 0 &&
                          fn[k] < (fl[k] ? n_leaves : n_nodes),
                 "node %lld points outside the tree", (long long)k);
    }
    for (int64_t k = 0; k < n_leaves; k++)
        LO_CHECK(ctx, lt[k] >= 0 && lt[k] < targets, "leaf %lld has target %lld of %lld", (long long)k,
                 (long long)lt[k], (long long)targets);
    for (int64_t k = 0; k < n_roots; k++)
        LO_CHECK(ctx, roots[k] >= 0 && roots[k] < n_nodes, "tree root %lld out of range", (long long)roots[k]);
    /* members of MEMBER nodes: consecutive NaN-terminated runs, in node order */
    int64_t *member_start = calloc((size_t)n_nodes + 1, sizeof *member_start);
    if (!member_start) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
    for (int64_t k = 0, at = 0; k < n_nodes; k++) {
        member_start[k] = at;
        if ((int64_t)lo_get_f64(modes_a->tensor, k) == 6)
            while (at < n_members && !isnan(attr_tensor_f64(nd, "membership_values", at++, NULL))) {}
    }
    lo_status st = lo_output(ctx, 0, x->dtype, 2, dims);
    for (int64_t r = 0; st == LO_OK && has_out(ctx, 0) && r < N; r++) {
        for (int64_t t = 0; t < targets; t++)
            lo_set_f64(ctx->out[0], r * targets + t, agg == 2 ? INFINITY : agg == 3 ? -INFINITY : 0);
        double *acc = malloc((size_t)targets * sizeof *acc);
        if (!acc) {
            st = lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
            break;
        }
        for (int64_t t = 0; t < targets; t++) acc[t] = agg == 2 ? INFINITY : agg == 3 ? -INFINITY : 0;
        for (int64_t tr = 0; tr < n_roots && st == LO_OK; tr++) {
            int64_t cur = roots[tr];
            bool leaf = tl[cur] && fl[cur] && tn[cur] == fn[cur];
            if (leaf) cur = tn[cur];
            for (int64_t steps = 0; !leaf; steps++) {
                if (steps > n_nodes) { /* a cycle */
                    st = lo_kernel_fail(ctx, LO_ERR_MODEL, "tree %lld has a cycle", (long long)tr);
                    break;
                }
                double v = lo_get_f64(x, r * F + feat[cur]), sp = attr_tensor_f64(nd, "nodes_splits", cur, NULL);
                int mode = (int)lo_get_f64(modes_a->tensor, cur);
                bool go;
                switch (mode) {
                case 0: go = v <= sp; break;
                case 1: go = v < sp; break;
                case 2: go = v >= sp; break;
                case 3: go = v > sp; break;
                case 4: go = v == sp; break;
                case 5: go = v != sp; break;
                default: {
                    go = false;
                    for (int64_t at = member_start[cur]; at < n_members; at++) {
                        double mv = attr_tensor_f64(nd, "membership_values", at, NULL);
                        if (isnan(mv)) break;
                        if (mv == v) go = true;
                    }
                }
                }
                if (isnan(v) && miss && cur < n_miss && miss[cur]) go = true;
                leaf = go ? tl[cur] : fl[cur];
                cur = go ? tn[cur] : fn[cur];
            }
            if (st != LO_OK) break;
            double w = attr_tensor_f64(nd, "leaf_weights", cur, NULL);
            double *a = &acc[lt[cur]];
            if (agg == 0) *a += w / (double)n_roots;
            else if (agg == 1) *a += w;
            else if (agg == 2) *a = fmin(*a, w);
            else *a = fmax(*a, w);
        }
        for (int64_t t = 0; t < targets; t++) {
            double v = acc[t];
            if (isinf(v)) v = agg == 2 ? 3.4028234663852886e38 : -3.4028234663852886e38;
            lo_set_f64(ctx->out[0], r * targets + t, v);
        }
        free(acc);
    }
    free(member_start);
    return st;
}

/* ---- ImageDecoder: BMP, PNM, PNG and uncompressed TIFF ----------------------------------------- */

typedef struct image {
    int64_t w, h;
    uint8_t *rgb; /* h * w * 3 */
} image;

static uint32_t rd_u32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t rd_u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* BITMAPINFOHEADER files, 24 or 32 bits per pixel, uncompressed. */
static const char *decode_bmp(const uint8_t *b, size_t n, image *img) {
    if (n < 54) return "truncated BMP";
    uint32_t off = rd_u32(b + 10), hdr = rd_u32(b + 14);
    int32_t w = (int32_t)rd_u32(b + 18), h = (int32_t)rd_u32(b + 22);
    uint16_t bpp = rd_u16(b + 28);
    uint32_t comp = rd_u32(b + 30);
    if (hdr < 40 || (bpp != 24 && bpp != 32) || (comp != 0 && !(comp == 3 && bpp == 32)))
        return "BMP variant (palette or compression) not supported";
    bool top_down = h < 0;
    int64_t H = top_down ? -(int64_t)h : h, W = w;
    if (W <= 0 || H <= 0 || W > 1 << 16 || H > 1 << 16) return "bad BMP size";
    int64_t stride = ((W * bpp / 8) + 3) & ~3;
    if ((uint64_t)off + (uint64_t)(stride * H) > n) return "truncated BMP pixel data";
    img->w = W, img->h = H;
    img->rgb = malloc((size_t)(W * H * 3));
    if (!img->rgb) return "out of memory";
    for (int64_t y = 0; y < H; y++) {
        const uint8_t *row = b + off + (top_down ? y : H - 1 - y) * stride;
        for (int64_t x = 0; x < W; x++) {
            const uint8_t *px = row + x * (bpp / 8);
            uint8_t *o = img->rgb + (y * W + x) * 3;
            o[0] = px[2], o[1] = px[1], o[2] = px[0];
        }
    }
    return NULL;
}

static bool pnm_int(const uint8_t *b, size_t n, size_t *at, int64_t *v) {
    for (;;) {
        while (*at < n && isspace(b[*at])) (*at)++;
        if (*at < n && b[*at] == '#') {
            while (*at < n && b[*at] != '\n') (*at)++;
            continue;
        }
        break;
    }
    if (*at >= n || !isdigit(b[*at])) return false;
    *v = 0;
    while (*at < n && isdigit(b[*at]) && *v < (1 << 24)) *v = *v * 10 + (b[(*at)++] - '0');
    return true;
}

/* Netpbm P2/P3 (ASCII) and P5/P6 (binary) with maxval up to 255. */
static const char *decode_pnm(const uint8_t *b, size_t n, image *img) {
    if (n < 3 || b[0] != 'P' || !strchr("2356", b[1])) return "not a supported PNM file";
    char kind = (char)b[1];
    size_t at = 2;
    int64_t W, H, maxv;
    if (!pnm_int(b, n, &at, &W) || !pnm_int(b, n, &at, &H) || !pnm_int(b, n, &at, &maxv)) return "bad PNM header";
    if (W <= 0 || H <= 0 || W > 1 << 16 || H > 1 << 16 || maxv <= 0 || maxv > 255) return "PNM size or maxval not supported";
    int ch = kind == '3' || kind == '6' ? 3 : 1;
    bool ascii = kind == '2' || kind == '3';
    if (!ascii) {
        at++; /* the single whitespace after maxval */
        if (at + (size_t)(W * H * ch) > n) return "truncated PNM pixel data";
    }
    img->w = W, img->h = H;
    img->rgb = malloc((size_t)(W * H * 3));
    if (!img->rgb) return "out of memory";
    for (int64_t i = 0; i < W * H; i++)
        for (int c = 0; c < 3; c++) {
            int64_t v;
            if (c < ch) {
                if (ascii) {
                    if (!pnm_int(b, n, &at, &v)) return "truncated PNM pixel data";
                } else {
                    v = b[at++];
                }
                v = v * 255 / maxv;
            } else {
                v = img->rgb[i * 3];
            }
            img->rgb[i * 3 + c] = (uint8_t)v;
        }
    return NULL;
}

/* A DEFLATE (RFC 1951) decoder for PNG's zlib stream: stored, fixed and
 * dynamic Huffman blocks. Codes are canonical, so a table of code counts
 * per length and the symbols in code order decode them bit by bit. */
typedef struct bits {
    const uint8_t *p;
    size_t n, pos; /* in bits */
} bits;

static int bits_get(bits *b, int k, bool *ok) {
    int v = 0;
    for (int i = 0; i < k; i++, b->pos++) {
        if (b->pos >= b->n * 8) {
            *ok = false;
            return 0;
        }
        v |= ((b->p[b->pos >> 3] >> (b->pos & 7)) & 1) << i;
    }
    return v;
}

typedef struct huff {
    int16_t count[16];
    int16_t symbol[320];
} huff;

static bool huff_build(huff *h, const uint8_t *lengths, int n) {
    memset(h->count, 0, sizeof h->count);
    for (int i = 0; i < n; i++) h->count[lengths[i]]++;
    h->count[0] = 0;
    int16_t offs[16];
    offs[1] = 0;
    int left = 1;
    for (int len = 1; len < 16; len++) {
        left = left * 2 - h->count[len];
        if (left < 0) return false; /* over-subscribed */
        if (len < 15) offs[len + 1] = (int16_t)(offs[len] + h->count[len]);
    }
    for (int i = 0; i < n; i++)
        if (lengths[i]) h->symbol[offs[lengths[i]]++] = (int16_t)i;
    return true;
}

static int huff_decode(bits *b, const huff *h, bool *ok) {
    int code = 0, first = 0, index = 0;
    for (int len = 1; len < 16; len++) {
        code |= bits_get(b, 1, ok);
        if (!*ok) return -1;
        int c = h->count[len];
        if (code - first < c) return h->symbol[index + code - first];
        index += c;
        first = (first + c) << 1;
        code <<= 1;
    }
    *ok = false;
    return -1;
}

static const char *inflate_raw(const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *out_n) {
    static const int16_t len_base[29] = {3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
    static const int8_t len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
    static const int16_t dist_base[30] = {1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
    static const int8_t dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
    static const uint8_t clen_order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
    bits b = {in, n, 0};
    bool ok = true;
    size_t o = 0;
    int last;
    do {
        last = bits_get(&b, 1, &ok);
        int type = bits_get(&b, 2, &ok);
        if (!ok) return "truncated deflate stream";
        if (type == 0) {
            b.pos = (b.pos + 7) & ~(size_t)7;
            size_t at = b.pos / 8;
            if (at + 4 > n) return "truncated stored block";
            size_t len = in[at] | (size_t)in[at + 1] << 8;
            if ((len ^ 0xffff) != (in[at + 2] | (size_t)in[at + 3] << 8)) return "bad stored block";
            if (at + 4 + len > n || o + len > cap) return "stored block overruns";
            memcpy(out + o, in + at + 4, len);
            o += len;
            b.pos = (at + 4 + len) * 8;
            continue;
        }
        if (type == 3) return "bad deflate block type";
        huff lit, dist;
        uint8_t lens[320];
        if (type == 1) {
            for (int i = 0; i < 288; i++) lens[i] = i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8;
            huff_build(&lit, lens, 288);
            for (int i = 0; i < 30; i++) lens[i] = 5;
            huff_build(&dist, lens, 30);
        } else {
            int nlen = bits_get(&b, 5, &ok) + 257, ndist = bits_get(&b, 5, &ok) + 1, ncode = bits_get(&b, 4, &ok) + 4;
            if (!ok || nlen > 286 || ndist > 30) return "bad dynamic block header";
            uint8_t cl[19] = {0};
            for (int i = 0; i < ncode; i++) cl[clen_order[i]] = (uint8_t)bits_get(&b, 3, &ok);
            huff clh;
            if (!ok || !huff_build(&clh, cl, 19)) return "bad code-length code";
            for (int i = 0; i < nlen + ndist;) {
                int sym = huff_decode(&b, &clh, &ok);
                if (!ok) return "bad code lengths";
                if (sym < 16) {
                    lens[i++] = (uint8_t)sym;
                    continue;
                }
                int rep, val = 0;
                if (sym == 16) {
                    if (i == 0) return "repeat with no previous length";
                    val = lens[i - 1], rep = 3 + bits_get(&b, 2, &ok);
                } else if (sym == 17) rep = 3 + bits_get(&b, 3, &ok);
                else rep = 11 + bits_get(&b, 7, &ok);
                if (!ok || i + rep > nlen + ndist) return "code lengths overrun";
                while (rep--) lens[i++] = (uint8_t)val;
            }
            if (!huff_build(&lit, lens, nlen) || !huff_build(&dist, lens + nlen, ndist)) return "bad Huffman code";
        }
        for (;;) {
            int sym = huff_decode(&b, &lit, &ok);
            if (!ok) return "bad literal/length code";
            if (sym < 256) {
                if (o >= cap) return "inflated data overruns the image";
                out[o++] = (uint8_t)sym;
            } else if (sym == 256) {
                break;
            } else {
                sym -= 257;
                if (sym >= 29) return "bad length symbol";
                size_t len = (size_t)(len_base[sym] + bits_get(&b, len_extra[sym], &ok));
                int ds = huff_decode(&b, &dist, &ok);
                if (!ok || ds < 0 || ds >= 30) return "bad distance code";
                size_t d = (size_t)(dist_base[ds] + bits_get(&b, dist_extra[ds], &ok));
                if (!ok || d > o || o + len > cap) return "bad back-reference";
                for (size_t k = 0; k < len; k++, o++) out[o] = out[o - d];
            }
        }
    } while (!last);
    *out_n = o;
    return NULL;
}

static uint32_t rd_be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* 8-bit, non-interlaced PNG: grey, grey+alpha, RGB, RGBA or palette. */
static const char *decode_png(const uint8_t *b, size_t n, image *img) {
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n < 8 || memcmp(b, sig, 8)) return "not a PNG file";
    int64_t W = 0, H = 0;
    int ctype = -1;
    uint8_t pal[768];
    int npal = 0;
    size_t zcap = 0, zn = 0;
    uint8_t *z = NULL;
    const char *why = NULL;
    for (size_t at = 8; at + 12 <= n && !why;) {
        uint32_t len = rd_be32(b + at);
        const uint8_t *type = b + at + 4, *d = b + at + 8;
        if (len > n - at - 12) {
            why = "truncated PNG chunk";
            break;
        }
        if (!memcmp(type, "IHDR", 4) && len >= 13) {
            W = rd_be32(d), H = rd_be32(d + 4), ctype = d[9];
            if (d[8] != 8 || d[10] || d[11] || d[12]) why = "PNG bit depth, compression or interlacing not supported";
        } else if (!memcmp(type, "PLTE", 4) && len <= 768) {
            memcpy(pal, d, len);
            npal = (int)(len / 3);
        } else if (!memcmp(type, "IDAT", 4)) {
            if (zn + len > zcap) {
                zcap = (zn + len) * 2;
                uint8_t *nz = realloc(z, zcap);
                if (!nz) {
                    why = "out of memory";
                    break;
                }
                z = nz;
            }
            memcpy(z + zn, d, len);
            zn += len;
        } else if (!memcmp(type, "IEND", 4)) {
            break;
        }
        at += 12 + (size_t)len;
    }
    int ch = ctype == 0 ? 1 : ctype == 2 ? 3 : ctype == 3 ? 1 : ctype == 4 ? 2 : ctype == 6 ? 4 : 0;
    if (!why && (!ch || W <= 0 || H <= 0 || W > 1 << 16 || H > 1 << 16)) why = "PNG header not supported";
    if (!why && zn < 2) why = "PNG has no image data";
    size_t stride = (size_t)(W * ch), raw_n = 0, cap = (stride + 1) * (size_t)H;
    uint8_t *raw = why ? NULL : malloc(cap ? cap : 1);
    if (!why && !raw) why = "out of memory";
    /* zlib: 2-byte header, deflate data, adler-32 (not checked) */
    if (!why) why = inflate_raw(z + 2, zn - 2, raw, cap, &raw_n);
    if (!why && raw_n != cap) why = "PNG image data has the wrong size";
    if (!why) {
        img->w = W, img->h = H;
        img->rgb = malloc((size_t)(W * H * 3));
        if (!img->rgb) why = "out of memory";
    }
    for (int64_t y = 0; !why && y < H; y++) {
        uint8_t *row = raw + (size_t)y * (stride + 1), f = row[0];
        uint8_t *cur = row + 1, *prev = y ? raw + (size_t)(y - 1) * (stride + 1) + 1 : NULL;
        for (size_t i = 0; i < stride; i++) {
            int a = i >= (size_t)ch ? cur[i - ch] : 0, up = prev ? prev[i] : 0, c = prev && i >= (size_t)ch ? prev[i - ch] : 0;
            int pred;
            switch (f) {
            case 0: pred = 0; break;
            case 1: pred = a; break;
            case 2: pred = up; break;
            case 3: pred = (a + up) / 2; break;
            case 4: {
                int pp = a + up - c, pa = abs(pp - a), pb = abs(pp - up), pc = abs(pp - c);
                pred = pa <= pb && pa <= pc ? a : pb <= pc ? up : c;
                break;
            }
            default: pred = -1;
            }
            if (pred < 0) {
                why = "bad PNG filter";
                break;
            }
            cur[i] = (uint8_t)(cur[i] + pred);
        }
        for (int64_t x = 0; !why && x < W; x++) {
            const uint8_t *px = cur + x * ch;
            uint8_t *o = img->rgb + (y * W + x) * 3;
            if (ctype == 3) {
                if (px[0] >= npal) why = "PNG palette index out of range";
                else o[0] = pal[px[0] * 3], o[1] = pal[px[0] * 3 + 1], o[2] = pal[px[0] * 3 + 2];
            } else if (ch <= 2) {
                o[0] = o[1] = o[2] = px[0];
            } else {
                o[0] = px[0], o[1] = px[1], o[2] = px[2];
            }
        }
    }
    free(z);
    free(raw);
    return why;
}

/* Baseline TIFF, uncompressed, 8 bits per sample, chunky: grey or RGB(A). */
typedef struct tiff {
    const uint8_t *b;
    size_t n;
    bool be;
} tiff;

static uint32_t tiff_u(const tiff *t, size_t at, int bytes) {
    if (at + (size_t)bytes > t->n) return 0;
    uint32_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint32_t)t->b[at + (size_t)(t->be ? bytes - 1 - i : i)] << (8 * i);
    return v;
}

/* Value k of an IFD entry (SHORT or LONG, inline when it fits). */
static uint32_t tiff_value(const tiff *t, size_t entry, uint32_t k) {
    uint32_t type = tiff_u(t, entry + 2, 2), count = tiff_u(t, entry + 4, 4);
    int size = type == 3 ? 2 : type == 4 ? 4 : type == 1 ? 1 : 0;
    if (!size || k >= count) return 0;
    size_t at = (uint64_t)count * (uint64_t)size <= 4 ? entry + 8 : tiff_u(t, entry + 8, 4);
    return tiff_u(t, at + (size_t)k * (size_t)size, size);
}

static const char *decode_tiff(const uint8_t *b, size_t n, image *img) {
    tiff t = {b, n, b[0] == 'M'};
    if (n < 8 || tiff_u(&t, 2, 2) != 42) return "not a TIFF file";
    size_t ifd = tiff_u(&t, 4, 4);
    uint32_t entries = tiff_u(&t, ifd, 2);
    if (ifd + 2 + (size_t)entries * 12 > n) return "truncated TIFF directory";
    int64_t W = 0, H = 0, spp = 1, photometric = -1, compression = 1, planar = 1, rows_per_strip = 0;
    size_t offsets = 0, counts = 0;
    uint32_t n_strips = 0;
    bool bits8 = true;
    for (uint32_t i = 0; i < entries; i++) {
        size_t e = ifd + 2 + (size_t)i * 12;
        uint32_t tag = tiff_u(&t, e, 2);
        switch (tag) {
        case 256: W = tiff_value(&t, e, 0); break;
        case 257: H = tiff_value(&t, e, 0); break;
        case 258:
            for (uint32_t k = 0; k < tiff_u(&t, e + 4, 4) && k < 8; k++) bits8 = bits8 && tiff_value(&t, e, k) == 8;
            break;
        case 259: compression = tiff_value(&t, e, 0); break;
        case 262: photometric = tiff_value(&t, e, 0); break;
        case 273: offsets = e, n_strips = tiff_u(&t, e + 4, 4); break;
        case 277: spp = tiff_value(&t, e, 0); break;
        case 278: rows_per_strip = tiff_value(&t, e, 0); break;
        case 279: counts = e; break;
        case 284: planar = tiff_value(&t, e, 0); break;
        default: break;
        }
    }
    if (compression != 1 || planar != 1 || !bits8 || (photometric != 1 && photometric != 2) ||
        (photometric == 2 && spp < 3) || spp < 1 || spp > 4)
        return "TIFF variant (compression, planes, bit depth or colour model) not supported";
    if (W <= 0 || H <= 0 || W > 1 << 16 || H > 1 << 16 || !offsets || !counts) return "bad TIFF header";
    if (rows_per_strip <= 0 || rows_per_strip > H) rows_per_strip = H;
    img->w = W, img->h = H;
    img->rgb = malloc((size_t)(W * H * 3));
    if (!img->rgb) return "out of memory";
    size_t row_bytes = (size_t)(W * spp);
    for (int64_t y = 0; y < H; y++) {
        uint32_t strip = (uint32_t)(y / rows_per_strip);
        if (strip >= n_strips) return "TIFF strips do not cover the image";
        size_t at = tiff_value(&t, offsets, strip) + (size_t)(y % rows_per_strip) * row_bytes;
        if (at + row_bytes > n) return "truncated TIFF pixel data";
        for (int64_t x = 0; x < W; x++) {
            const uint8_t *px = b + at + (size_t)(x * spp);
            uint8_t *o = img->rgb + (y * W + x) * 3;
            if (photometric == 2) o[0] = px[0], o[1] = px[1], o[2] = px[2];
            else o[0] = o[1] = o[2] = px[0];
        }
    }
    return NULL;
}

static lo_status image_decoder_run(lo_kernel_ctx *ctx) {
    LO_CHECK(ctx, has_in(ctx, 0) && ctx->in[0]->dtype == LO_UINT8 && ctx->in[0]->rank == 1,
             "encoded_stream must be a 1-D uint8 tensor");
    const lo_tensor *x = ctx->in[0];
    const char *fmt = lo_attr_string(ctx->node, "pixel_format", "RGB");
    int mode = !strcmp(fmt, "RGB") ? 0 : !strcmp(fmt, "BGR") ? 1 : !strcmp(fmt, "Grayscale") ? 2 : -1;
    if (mode < 0) return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "pixel_format '%s'", fmt);
    const uint8_t *b = x->data;
    size_t n = (size_t)lo_numel(x);
    image img = {0, 0, NULL};
    const char *why;
    if (n >= 2 && b[0] == 'B' && b[1] == 'M') why = decode_bmp(b, n, &img);
    else if (n >= 2 && b[0] == 'P' && strchr("2356", b[1])) why = decode_pnm(b, n, &img);
    else if (n >= 8 && b[0] == 0x89 && b[1] == 'P') why = decode_png(b, n, &img);
    else if (n >= 8 && ((b[0] == 'I' && b[1] == 'I') || (b[0] == 'M' && b[1] == 'M'))) why = decode_tiff(b, n, &img);
    else why = "only BMP, PNM, PNG and uncompressed TIFF images are decoded (JPEG, WebP and JPEG 2000 are not supported)";
    if (why) {
        free(img.rgb);
        return lo_kernel_fail(ctx, strstr(why, "not") ? LO_ERR_UNSUPPORTED : LO_ERR_INPUT, "%s", why);
    }
    int64_t dims[3] = {img.h, img.w, mode == 2 ? 1 : 3};
    lo_status st = lo_output(ctx, 0, LO_UINT8, 3, dims);
    if (st == LO_OK && has_out(ctx, 0)) {
        uint8_t *o = ctx->out[0]->data;
        for (int64_t i = 0; i < img.w * img.h; i++) {
            const uint8_t *p = img.rgb + i * 3;
            if (mode == 0) o[i * 3] = p[0], o[i * 3 + 1] = p[1], o[i * 3 + 2] = p[2];
            else if (mode == 1) o[i * 3] = p[2], o[i * 3 + 1] = p[1], o[i * 3 + 2] = p[0];
            else o[i] = (uint8_t)lrint(0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]);
        }
    }
    free(img.rgb);
    return st;
}

/* ==== table ============================================================================ */

const lo_op_def lo_ops_misc[] = {
    {"", "NonMaxSuppression", 10, LO_OPSET_MAX, NULL, nms_run, NULL, 0},
    {"", "GridSample", 16, LO_OPSET_MAX, gs_prepare, gs_run, NULL, 0},
    {"", "StringNormalizer", 10, LO_OPSET_MAX, NULL, strnorm_run, NULL, 0},
    {"", "TfIdfVectorizer", 9, LO_OPSET_MAX, tfidf_prepare, tfidf_run, NULL, 0},
    {"", "RandomUniform", 1, LO_OPSET_MAX, NULL, random_uniform_run, NULL, 0},
    {"", "RandomNormal", 1, LO_OPSET_MAX, NULL, random_normal_run, NULL, 0},
    {"", "RandomUniformLike", 1, LO_OPSET_MAX, NULL, random_uniform_like_run, NULL, 0},
    {"", "RandomNormalLike", 1, LO_OPSET_MAX, NULL, random_normal_like_run, NULL, 0},
    {"", "Bernoulli", 15, LO_OPSET_MAX, NULL, bernoulli_run, NULL, 0},
    {"", "Multinomial", 7, LO_OPSET_MAX, NULL, multinomial_run, NULL, 0},
    {"", "HannWindow", 17, LO_OPSET_MAX, NULL, hann_run, NULL, 0},
    {"", "HammingWindow", 17, LO_OPSET_MAX, NULL, hamming_run, NULL, 0},
    {"", "BlackmanWindow", 17, LO_OPSET_MAX, NULL, blackman_run, NULL, 0},
    {"", "MelWeightMatrix", 17, LO_OPSET_MAX, NULL, mel_run, NULL, 0},
    {"", "DFT", 17, LO_OPSET_MAX, NULL, dft_run, NULL, 0},
    {"", "STFT", 17, LO_OPSET_MAX, NULL, stft_run, NULL, 0},
    {"", "Det", 11, LO_OPSET_MAX, NULL, det_run, NULL, 0},
    {"", "Attention", 23, LO_OPSET_MAX, attn_prepare, attn_run, NULL, 0},
    {"", "RMSNormalization", 23, LO_OPSET_MAX, NULL, rms_run, NULL, 0},
    {"", "RotaryEmbedding", 23, LO_OPSET_MAX, NULL, rotary_run, NULL, 0},
    {"", "Swish", 24, LO_OPSET_MAX, NULL, swish_run, NULL, 0},
    {"", "SwiGLU", 28, LO_OPSET_MAX, NULL, swiglu_run, NULL, 0},
    {"", "CumProd", 26, LO_OPSET_MAX, NULL, cumprod_run, NULL, 0},
    {"", "BitCast", 26, LO_OPSET_MAX, NULL, bitcast_run, NULL, 0},
    {"", "TensorScatter", 24, LO_OPSET_MAX, NULL, tensor_scatter_run, NULL, 0},
    {"", "CenterCropPad", 18, LO_OPSET_MAX, NULL, center_crop_pad_run, NULL, 0},
    {"", "Col2Im", 18, LO_OPSET_MAX, NULL, col2im_run, NULL, 0},
    {"", "AffineGrid", 20, LO_OPSET_MAX, NULL, affine_grid_run, NULL, 0},
    {"", "StringConcat", 20, LO_OPSET_MAX, NULL, string_concat_run, NULL, 0},
    {"", "StringSplit", 20, LO_OPSET_MAX, NULL, string_split_run, NULL, 0},
    {"", "RegexFullMatch", 20, LO_OPSET_MAX, NULL, regex_full_match_run, NULL, 0},
    {"", "LinearAttention", 27, LO_OPSET_MAX, NULL, linear_attention_run, NULL, 0},
    {"", "CausalConvWithState", 27, LO_OPSET_MAX, NULL, causal_conv_run, NULL, 0},
    {"ai.onnx.preview", "FlexAttention", 1, 1, NULL, flex_attention_run, NULL, 0},
    {"", "ImageDecoder", 20, LO_OPSET_MAX, NULL, image_decoder_run, NULL, 0},
    {"ai.onnx.ml", "Binarizer", 1, 5, NULL, binarizer_run, NULL, 0},
    {"ai.onnx.ml", "ArrayFeatureExtractor", 1, 5, NULL, array_feature_extractor_run, NULL, 0},
    {"ai.onnx.ml", "LabelEncoder", 2, 5, NULL, label_encoder_run, NULL, 0},
    {"ai.onnx.ml", "TreeEnsemble", 5, 5, NULL, tree_ensemble_run, NULL, 0},
    {0},
};
