/* Resize (10, 11, 13, 18, 19+) and Upsample (7, 9).
 *
 * Every output position of an axis reads a few input positions ("taps")
 * with weights; the taps and weights of each axis are computed once per run
 * into an axis_plan, following ONNX's reference semantics (coordinate
 * transformation, nearest rounding, cubic coefficients, antialias,
 * exclude_outside, tf_crop_and_resize extrapolation). The N-d result is the
 * tensor product of the axes' taps.
 *
 * resize_reference evaluates that product for any rank and numeric dtype,
 * accumulating in double. Two faster paths serve the common cases and are
 * tested against it: nearest_copy (every axis one tap, no extrapolation:
 * a gather by element size, any dtype) and bilinear_f32 (float32, only the
 * last two axes resized, at most two taps each). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ops.h"


#define PARALLEL_MIN_ELEMENTS ((int64_t)1 << 14)

typedef enum interp_mode { MODE_NEAREST, MODE_LINEAR, MODE_CUBIC } interp_mode;

typedef enum coord_mode {
    COORD_HALF_PIXEL,
    COORD_HALF_PIXEL_SYMMETRIC,
    COORD_PYTORCH_HALF_PIXEL,
    COORD_ALIGN_CORNERS,
    COORD_ASYMMETRIC,
    COORD_TF_HALF_PIXEL_FOR_NN,
    COORD_TF_CROP_AND_RESIZE
} coord_mode;

typedef enum nearest_mode {
    NEAREST_ROUND_PREFER_FLOOR,
    NEAREST_ROUND_PREFER_CEIL,
    NEAREST_FLOOR,
    NEAREST_CEIL,
    NEAREST_SIMPLE /* Resize-10 and Upsample: floor, or ceil when downsampling */
} nearest_mode;

typedef enum keep_policy { KEEP_STRETCH, KEEP_NOT_LARGER, KEEP_NOT_SMALLER } keep_policy;

typedef struct resize_params {
    interp_mode mode;
    coord_mode coord;
    nearest_mode nearest;
    double cubic_a;
    bool exclude_outside;
    double extrapolation;
    bool antialias;
    keep_policy keep;
    int n_axes; /* 0: all axes */
    int64_t axes[LO_MAX_RANK];
    bool upsample;
    int n_attr_scales; /* Upsample-7's scales attribute */
    double attr_scales[LO_MAX_RANK];
} resize_params;

static lo_status prep_fail(const lo_node *node, lo_error *err, lo_status status, const char *what,
                           const char *value) {
    return lo_fail(err, status, "node '%s' (%s): %s '%s' is not supported", node->name ? node->name : "",
                   node->op_type, what, value);
}

static lo_status parse_mode(const lo_node *node, resize_params *p, lo_error *err) {
    const char *mode = lo_attr_string(node, "mode", "nearest");
    if (!strcmp(mode, "nearest")) p->mode = MODE_NEAREST;
    else if (!strcmp(mode, "linear") || !strcmp(mode, "bilinear")) p->mode = MODE_LINEAR;
    else if (!strcmp(mode, "cubic") && !p->upsample) p->mode = MODE_CUBIC;
    else return prep_fail(node, err, LO_ERR_UNSUPPORTED, "mode", mode);
    return LO_OK;
}

static lo_status resize_prepare(const lo_node *node, void **params, lo_error *err) {
    resize_params *p = lo_calloc(1, sizeof *p, err);
    if (!p) return err->status;
    *params = p;
    LO_TRY(parse_mode(node, p, err));
    if (node->opset < 11) {
        p->coord = COORD_ASYMMETRIC;
        p->nearest = NEAREST_SIMPLE;
        return LO_OK;
    }
    const char *coord = lo_attr_string(node, "coordinate_transformation_mode", "half_pixel");
    static const struct {
        const char *name;
        coord_mode mode;
    } coords[] = {
        {"half_pixel", COORD_HALF_PIXEL},
        {"half_pixel_symmetric", COORD_HALF_PIXEL_SYMMETRIC},
        {"pytorch_half_pixel", COORD_PYTORCH_HALF_PIXEL},
        {"align_corners", COORD_ALIGN_CORNERS},
        {"asymmetric", COORD_ASYMMETRIC},
        {"tf_half_pixel_for_nn", COORD_TF_HALF_PIXEL_FOR_NN},
        {"tf_crop_and_resize", COORD_TF_CROP_AND_RESIZE},
    };
    size_t c = 0;
    while (c < sizeof coords / sizeof coords[0] && strcmp(coords[c].name, coord)) c++;
    if (c == sizeof coords / sizeof coords[0])
        return prep_fail(node, err, LO_ERR_UNSUPPORTED, "coordinate_transformation_mode", coord);
    p->coord = coords[c].mode;
    const char *nearest = lo_attr_string(node, "nearest_mode", "round_prefer_floor");
    if (!strcmp(nearest, "round_prefer_floor")) p->nearest = NEAREST_ROUND_PREFER_FLOOR;
    else if (!strcmp(nearest, "round_prefer_ceil")) p->nearest = NEAREST_ROUND_PREFER_CEIL;
    else if (!strcmp(nearest, "floor")) p->nearest = NEAREST_FLOOR;
    else if (!strcmp(nearest, "ceil")) p->nearest = NEAREST_CEIL;
    else return prep_fail(node, err, LO_ERR_UNSUPPORTED, "nearest_mode", nearest);
    p->cubic_a = lo_attr_float(node, "cubic_coeff_a", -0.75f);
    p->exclude_outside = lo_attr_int(node, "exclude_outside", 0) != 0;
    p->extrapolation = lo_attr_float(node, "extrapolation_value", 0.0f);
    if (node->opset >= 18) {
        p->antialias = lo_attr_int(node, "antialias", 0) != 0;
        const char *keep = lo_attr_string(node, "keep_aspect_ratio_policy", "stretch");
        if (!strcmp(keep, "stretch")) p->keep = KEEP_STRETCH;
        else if (!strcmp(keep, "not_larger")) p->keep = KEEP_NOT_LARGER;
        else if (!strcmp(keep, "not_smaller")) p->keep = KEEP_NOT_SMALLER;
        else return prep_fail(node, err, LO_ERR_UNSUPPORTED, "keep_aspect_ratio_policy", keep);
        int64_t n;
        const int64_t *axes = lo_attr_ints(node, "axes", &n);
        if (axes) {
            if (n < 1 || n > LO_MAX_RANK)
                return lo_fail(err, LO_ERR_MODEL, "node '%s' (Resize): %lld axes",
                               node->name ? node->name : "", (long long)n);
            p->n_axes = (int)n;
            memcpy(p->axes, axes, (size_t)n * sizeof *axes);
        }
    }
    return LO_OK;
}

static lo_status upsample_prepare(const lo_node *node, void **params, lo_error *err) {
    resize_params *p = lo_calloc(1, sizeof *p, err);
    if (!p) return err->status;
    *params = p;
    p->upsample = true;
    LO_TRY(parse_mode(node, p, err));
    p->coord = COORD_ASYMMETRIC;
    p->nearest = NEAREST_SIMPLE;
    if (node->opset < 9) {
        int64_t n;
        const float *scales = lo_attr_floats(node, "scales", &n);
        if (!scales || n < 1 || n > LO_MAX_RANK)
            return lo_fail(err, LO_ERR_MODEL, "node '%s' (Upsample): attribute 'scales' is required",
                           node->name ? node->name : "");
        p->n_attr_scales = (int)n;
        for (int i = 0; i < n; i++) p->attr_scales[i] = scales[i];
    }
    return LO_OK;
}

/* ---- per-axis taps and weights --------------------------------------------- */

typedef struct axis_plan {
    int64_t in, out;
    double scale;
    int taps;
    bool identity;
    int64_t *index;          /* [out * taps] input positions, already clamped */
    double *weight;          /* [out * taps] */
    unsigned char *outside;  /* [out] tf_crop_and_resize extrapolates here */
    double roi_start, roi_end;
} axis_plan;

static int taps_for(const resize_params *p, double scale) {
    if (p->mode == MODE_NEAREST) return 1;
    if (!p->antialias || scale >= 1) return p->mode == MODE_LINEAR ? 2 : 4;
    /* antialias stretches the filter by 1/scale */
    double reach = p->mode == MODE_LINEAR ? 1.0 : 2.0;
    int64_t start = (int64_t)floor(-reach / scale) + 1;
    return (int)(2 - 2 * start);
}

static double cubic_kernel(double x, double a) {
    x = fabs(x);
    if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
    return 0;
}

/* Weights of the taps for a source position whose distance past its left
 * tap is ratio, in (0, 1]. Tap k sits at (first + k) - x_original =
 * k - taps/2 + 1 - ratio. */
static void weights_for(const resize_params *p, double ratio, double scale, int taps, double *w) {
    if (p->mode == MODE_LINEAR && taps == 2) {
        w[0] = 1 - ratio;
        w[1] = ratio;
        return;
    }
    if (p->mode == MODE_CUBIC && taps == 4 && (!p->antialias || scale >= 1)) {
        for (int k = 0; k < 4; k++) w[k] = cubic_kernel(k - 1 - ratio, p->cubic_a);
        return;
    }
    double s = scale < 1 ? scale : 1, sum = 0;
    for (int k = 0; k < taps; k++) {
        double x = (k - taps / 2 + 1 - ratio) * s;
        w[k] = p->mode == MODE_LINEAR ? fmax(0.0, fmin(1.0, 1 - fabs(x))) : cubic_kernel(x, p->cubic_a);
        sum += w[k];
    }
    for (int k = 0; k < taps; k++) w[k] /= sum;
}

static double source_coordinate(const resize_params *p, const axis_plan *a, double x) {
    double scale = a->scale, in = (double)a->in;
    double out_width = scale * in; /* fractional when a scale does not divide */
    switch (p->coord) {
    case COORD_HALF_PIXEL: return (x + 0.5) / scale - 0.5;
    case COORD_HALF_PIXEL_SYMMETRIC: {
        double adjustment = (double)a->out / out_width, center = in / 2;
        return center * (1 - adjustment) + (x + 0.5) / scale - 0.5;
    }
    case COORD_PYTORCH_HALF_PIXEL: return a->out > 1 ? (x + 0.5) / scale - 0.5 : 0;
    case COORD_ALIGN_CORNERS: return out_width == 1 ? 0 : x * (in - 1) / (out_width - 1);
    case COORD_ASYMMETRIC: return x / scale;
    case COORD_TF_HALF_PIXEL_FOR_NN: return (x + 0.5) / scale;
    case COORD_TF_CROP_AND_RESIZE: {
        double span = a->roi_end - a->roi_start;
        double v = out_width == 1 ? span * (in - 1) / 2 : x * span * (in - 1) / (out_width - 1);
        return v + a->roi_start * (in - 1);
    }
    }
    return x;
}

static int64_t nearest_index(const resize_params *p, double x, double scale) {
    double f = floor(x), frac = x - f;
    switch (p->nearest) {
    case NEAREST_ROUND_PREFER_FLOOR: return (int64_t)(frac <= 0.5 ? f : f + 1);
    case NEAREST_ROUND_PREFER_CEIL: return (int64_t)(frac < 0.5 ? f : f + 1);
    case NEAREST_FLOOR: return (int64_t)f;
    case NEAREST_CEIL: return (int64_t)ceil(x);
    case NEAREST_SIMPLE: return (int64_t)(scale < 1 ? ceil(x) : f);
    }
    return (int64_t)f;
}

static lo_status plan_axis(lo_kernel_ctx *ctx, const resize_params *p, axis_plan *a) {
    a->identity = a->out == a->in && a->scale == 1 && p->coord != COORD_TF_CROP_AND_RESIZE;
    a->taps = a->identity ? 1 : taps_for(p, a->scale);
    if (a->out > 0 && a->in == 0)
        return lo_kernel_fail(ctx, LO_ERR_INPUT, "cannot resize an empty axis to %lld",
                              (long long)a->out);
    size_t n;
    if (a->taps < 1 || a->taps > (1 << 20) || !lo_mul_size((size_t)a->out, (size_t)a->taps, &n))
        return lo_kernel_fail(ctx, LO_ERR_NOMEM, "resize filter of %d taps is too large", a->taps);
    a->index = lo_malloc((n ? n : 1) * sizeof *a->index, ctx->err);
    a->weight = lo_malloc((n ? n : 1) * sizeof *a->weight, ctx->err);
    a->outside = lo_calloc((size_t)(a->out ? a->out : 1), 1, ctx->err);
    if (!a->index || !a->weight || !a->outside) return LO_ERR_NOMEM;
    for (int64_t o = 0; o < a->out; o++) {
        int64_t *idx = a->index + o * a->taps;
        double *w = a->weight + o * a->taps;
        if (a->identity) {
            idx[0] = o;
            w[0] = 1;
            continue;
        }
        double x = source_coordinate(p, a, (double)o);
        if (p->coord == COORD_TF_CROP_AND_RESIZE && (x < 0 || x > (double)(a->in - 1)))
            a->outside[o] = 1;
        if (!isfinite(x)) x = 0;
        if (p->mode == MODE_NEAREST) {
            int64_t i = nearest_index(p, x, a->scale);
            idx[0] = i < 0 ? 0 : i >= a->in ? a->in - 1 : i;
            w[0] = 1;
            continue;
        }
        double f = floor(x);
        double ratio = x == f ? 1.0 : x - f;
        int64_t first = (int64_t)f - a->taps / 2 + (x == f ? 0 : 1);
        weights_for(p, ratio, a->scale, a->taps, w);
        if (p->exclude_outside) {
            double sum = 0;
            for (int k = 0; k < a->taps; k++) {
                if (first + k < 0 || first + k >= a->in) w[k] = 0;
                sum += w[k];
            }
            if (sum != 0)
                for (int k = 0; k < a->taps; k++) w[k] /= sum;
        }
        for (int k = 0; k < a->taps; k++) {
            int64_t i = first + k;
            idx[k] = i < 0 ? 0 : i >= a->in ? a->in - 1 : i;
        }
    }
    return LO_OK;
}

static void free_plans(axis_plan *plans, int rank) {
    for (int d = 0; d < rank; d++) {
        free(plans[d].index);
        free(plans[d].weight);
        free(plans[d].outside);
    }
}

/* ---- evaluation ----------------------------------------------------------- */

/* Stores v into element i as the reference does: integers are rounded half
 * to even and saturated. */
static void store_value(lo_tensor *out, int64_t i, double v) {
    if (lo_dtype_is_float(out->dtype)) {
        lo_set_f64(out, i, v);
        return;
    }
    double lo = 0, hi = 0;
    switch (out->dtype) {
    case LO_INT8: lo = -128, hi = 127; break;
    case LO_UINT8: lo = 0, hi = 255; break;
    case LO_INT16: lo = -32768, hi = 32767; break;
    case LO_UINT16: lo = 0, hi = 65535; break;
    case LO_INT32: lo = -2147483648.0, hi = 2147483647.0; break;
    case LO_UINT32: lo = 0, hi = 4294967295.0; break;
    case LO_INT4: lo = -8, hi = 7; break;
    case LO_UINT4: lo = 0, hi = 15; break;
    default: lo = -9.2233720368547758e18, hi = 9.2233720368547758e18; break;
    }
    v = nearbyint(v);
    if (isnan(v)) v = 0;
    v = v < lo ? lo : v > hi ? hi : v;
    lo_set_f64(out, i, v);
}

static void resize_reference(const resize_params *p, const lo_tensor *x, lo_tensor *out,
                             const axis_plan *plans) {
    int r = x->rank;
    int64_t in_strides[LO_MAX_RANK], total = lo_numel(out), combos = 1;
    int64_t s = 1;
    for (int d = r - 1; d >= 0; d--) {
        in_strides[d] = s;
        s *= x->dims[d];
        combos *= plans[d].taps;
    }
#pragma omp parallel for schedule(static) if (total * combos > PARALLEL_MIN_ELEMENTS)
    for (int64_t e = 0; e < total; e++) {
        int64_t pos[LO_MAX_RANK], rest = e;
        bool outside = false;
        for (int d = r - 1; d >= 0; d--) {
            pos[d] = rest % plans[d].out;
            rest /= plans[d].out;
            outside |= plans[d].outside[pos[d]] != 0;
        }
        if (outside) {
            store_value(out, e, p->extrapolation);
            continue;
        }
        double sum = 0;
        for (int64_t c = 0; c < combos; c++) {
            int64_t crest = c, offset = 0;
            double w = 1;
            for (int d = r - 1; d >= 0; d--) {
                int t = (int)(crest % plans[d].taps);
                crest /= plans[d].taps;
                int64_t k = pos[d] * plans[d].taps + t;
                w *= plans[d].weight[k];
                offset += plans[d].index[k] * in_strides[d];
            }
            /* a zero weight must not turn an inf or NaN neighbour into NaN */
            if (w != 0) sum += w * lo_get_f64(x, offset);
        }
        store_value(out, e, sum);
    }
}

/* Every axis has one tap and nothing extrapolates: a gather by element size. */
static void nearest_copy(const lo_tensor *x, lo_tensor *out, const axis_plan *plans) {
    int r = x->rank;
    size_t esize = lo_dtype_size(x->dtype);
    int64_t in_strides[LO_MAX_RANK], s = 1;
    for (int d = r - 1; d >= 0; d--) {
        in_strides[d] = s;
        s *= x->dims[d];
    }
    int64_t inner = r ? plans[r - 1].out : 1, total = lo_numel(out);
    if (inner == 0 || total == 0) return;
    int64_t rows = total / inner;
    const int64_t *last = r ? plans[r - 1].index : NULL;
    const char *src = x->data;
    char *dst = out->data;
#pragma omp parallel for schedule(static) if (total > PARALLEL_MIN_ELEMENTS)
    for (int64_t row = 0; row < rows; row++) {
        int64_t rest = row, offset = 0;
        for (int d = r - 2; d >= 0; d--) {
            offset += plans[d].index[rest % plans[d].out] * in_strides[d];
            rest /= plans[d].out;
        }
        char *o = dst + (size_t)(row * inner) * esize;
        if (r == 0) {
            memcpy(o, src, esize);
            continue;
        }
        if (esize == 4) {
            const uint32_t *in32 = (const uint32_t *)(const void *)(src + (size_t)offset * 4);
            uint32_t *o32 = (uint32_t *)(void *)o;
            for (int64_t i = 0; i < inner; i++) o32[i] = in32[last[i]];
        } else {
            for (int64_t i = 0; i < inner; i++)
                memcpy(o + (size_t)i * esize, src + (size_t)(offset + last[i]) * esize, esize);
        }
    }
}

/* The (at most two) taps of output position o as (index * stride, weight)
 * pairs, the weight-0 tap moved last. */
static void pair_taps(const axis_plan *a, int64_t o, int64_t stride, int64_t *index, float *weight) {
    const int64_t *idx = a->index + o * a->taps;
    const double *w = a->weight + o * a->taps;
    int first = a->taps == 2 && w[0] == 0 ? 1 : 0;
    index[0] = idx[first] * stride;
    weight[0] = (float)w[first];
    if (a->taps == 2 && first == 0 && w[1] != 0) {
        index[1] = idx[1] * stride;
        weight[1] = (float)w[1];
    } else {
        index[1] = index[0];
        weight[1] = 0;
    }
}

/* float32 with only the last two axes resized by at most two taps each: the
 * bilinear (or nearest) upsampling of NCHW feature maps. Weights are
 * narrowed to float once. */
static lo_status bilinear_f32(lo_kernel_ctx *ctx, const lo_tensor *x, lo_tensor *out,
                              const axis_plan *plans) {
    int r = x->rank;
    const axis_plan *ay = &plans[r - 2], *ax = &plans[r - 1];
    int64_t H = x->dims[r - 2], W = x->dims[r - 1], OH = ay->out, OW = ax->out;
    int64_t planes = lo_numel_dims(r - 2, x->dims);
    float *wx = lo_malloc((size_t)(OW * 2 + OH * 2) * sizeof(float), ctx->err);
    int64_t *ix = lo_malloc((size_t)(OW * 2 + OH * 2) * sizeof(int64_t), ctx->err);
    if (!wx || !ix) {
        free(wx);
        free(ix);
        return LO_ERR_NOMEM;
    }
    float *wy = wx + OW * 2;
    int64_t *iy = ix + OW * 2;
    /* Two taps per axis, the second with weight 0 when there is one; a tap
     * of weight 0 is dropped so that an inf neighbour cannot turn into NaN,
     * as in the reference. */
    for (int64_t o = 0; o < OW; o++) pair_taps(ax, o, 1, ix + 2 * o, wx + 2 * o);
    for (int64_t o = 0; o < OH; o++) pair_taps(ay, o, W, iy + 2 * o, wy + 2 * o);
    const float *src = x->data;
    float *dst = out->data;
#pragma omp parallel for schedule(static) if (planes * OH * OW > PARALLEL_MIN_ELEMENTS)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *in = src + pl * H * W;
        float *o = dst + pl * OH * OW;
        for (int64_t oy = 0; oy < OH; oy++, o += OW) {
            const float *r0 = in + iy[2 * oy], *r1 = in + iy[2 * oy + 1];
            float w0 = wy[2 * oy], w1 = wy[2 * oy + 1];
            if (w1 == 0) {
                for (int64_t ox = 0; ox < OW; ox++) {
                    float a = r0[ix[2 * ox]] * wx[2 * ox];
                    if (wx[2 * ox + 1] != 0) a += r0[ix[2 * ox + 1]] * wx[2 * ox + 1];
                    o[ox] = a * w0;
                }
                continue;
            }
            for (int64_t ox = 0; ox < OW; ox++) {
                int64_t i0 = ix[2 * ox], i1 = ix[2 * ox + 1];
                float a0 = wx[2 * ox], a1 = wx[2 * ox + 1];
                float top = r0[i0] * a0, bottom = r1[i0] * a0;
                if (a1 != 0) {
                    top += r0[i1] * a1;
                    bottom += r1[i1] * a1;
                }
                o[ox] = top * w0 + bottom * w1;
            }
        }
    }
    free(wx);
    free(ix);
    return LO_OK;
}

/* ---- the run -------------------------------------------------------------- */

static bool is_resizable_type(lo_dtype dt) {
    return lo_dtype_is_float(dt) || lo_dtype_is_int(dt);
}

static lo_status read_values(lo_kernel_ctx *ctx, const lo_tensor *t, const char *what, int max,
                             double *v, int *n) {
    LO_CHECK(ctx, t->rank <= 1, "%s must be 1-D", what);
    LO_CHECK(ctx, lo_dtype_is_float(t->dtype) || lo_dtype_is_int(t->dtype), "%s must be numeric", what);
    int64_t count = lo_numel(t);
    LO_CHECK(ctx, count <= max, "%s has %lld values, expected at most %d", what, (long long)count, max);
    for (int64_t i = 0; i < count; i++) v[i] = lo_get_f64(t, i);
    *n = (int)count;
    return LO_OK;
}

static lo_status resize_common(lo_kernel_ctx *ctx) {
    const resize_params *p = ctx->params;
    if (!(0 < ctx->n_in && ctx->in[0]))
        return lo_kernel_fail(ctx, LO_ERR_MODEL, "input X is missing");
    const lo_tensor *x = ctx->in[0];
    int r = x->rank;
    if (!is_resizable_type(x->dtype))
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "type %s", lo_dtype_name(x->dtype));
    LO_CHECK(ctx, r >= 1, "cannot resize a scalar");

    /* which axes the scales/sizes/roi lists refer to */
    int n_axes = p->n_axes ? p->n_axes : r, axes[LO_MAX_RANK];
    bool listed[LO_MAX_RANK] = {0};
    for (int i = 0; i < n_axes; i++) {
        int a = i;
        if (p->n_axes)
            LO_CHECK(ctx, lo_norm_axis(p->axes[i], r, &a), "axis %lld is out of range for rank %d",
                     (long long)p->axes[i], r);
        LO_CHECK(ctx, !listed[a], "axis %d is listed twice", a);
        listed[a] = true;
        axes[i] = a;
    }

    const lo_tensor *scales_t = NULL, *sizes_t = NULL, *roi_t = NULL;
    int opset = ctx->node->opset;
    if (p->upsample) {
        if (opset >= 9) scales_t = 1 < ctx->n_in ? ctx->in[1] : NULL;
    } else if (opset < 11) {
        scales_t = 1 < ctx->n_in ? ctx->in[1] : NULL;
    } else {
        roi_t = 1 < ctx->n_in ? ctx->in[1] : NULL;
        scales_t = 2 < ctx->n_in ? ctx->in[2] : NULL;
        sizes_t = 3 < ctx->n_in ? ctx->in[3] : NULL;
        if (scales_t && lo_numel(scales_t) == 0) scales_t = NULL;
        if (sizes_t && lo_numel(sizes_t) == 0) sizes_t = NULL;
        if (roi_t && lo_numel(roi_t) == 0) roi_t = NULL;
    }
    double scale[LO_MAX_RANK], roi[2 * LO_MAX_RANK];
    int64_t out_dims[LO_MAX_RANK];
    for (int d = 0; d < r; d++) {
        scale[d] = 1;
        out_dims[d] = x->dims[d];
    }
    if (p->upsample && opset < 9) {
        LO_CHECK(ctx, p->n_attr_scales == r, "scales has %d values for rank %d", p->n_attr_scales, r);
        for (int d = 0; d < r; d++) scale[d] = p->attr_scales[d];
    } else if (scales_t && !sizes_t) {
        double v[LO_MAX_RANK];
        int n;
        LO_TRY(read_values(ctx, scales_t, "scales", LO_MAX_RANK, v, &n));
        LO_CHECK(ctx, n == n_axes, "scales has %d values for %d axes", n, n_axes);
        for (int i = 0; i < n; i++) scale[axes[i]] = v[i];
    } else if (sizes_t && !scales_t) {
        double v[LO_MAX_RANK];
        int n;
        LO_TRY(read_values(ctx, sizes_t, "sizes", LO_MAX_RANK, v, &n));
        LO_CHECK(ctx, n == n_axes, "sizes has %d values for %d axes", n, n_axes);
        for (int i = 0; i < n; i++) {
            LO_CHECK(ctx, v[i] >= 0, "sizes[%d] is negative", i);
            LO_CHECK(ctx, x->dims[axes[i]] > 0, "cannot resize an empty axis");
        }
        if (p->keep == KEEP_STRETCH) {
            for (int i = 0; i < n; i++) {
                out_dims[axes[i]] = (int64_t)v[i];
                scale[axes[i]] = v[i] / (double)x->dims[axes[i]];
            }
        } else {
            double common = v[0] / (double)x->dims[axes[0]];
            for (int i = 1; i < n; i++) {
                double s = v[i] / (double)x->dims[axes[i]];
                common = p->keep == KEEP_NOT_LARGER ? fmin(common, s) : fmax(common, s);
            }
            for (int i = 0; i < n; i++) {
                scale[axes[i]] = common;
                out_dims[axes[i]] = (int64_t)(common * (double)x->dims[axes[i]] + 0.5);
            }
        }
    } else {
        return lo_kernel_fail(ctx, LO_ERR_INPUT, "exactly one of scales and sizes must be given");
    }
    if (!sizes_t) {
        for (int d = 0; d < r; d++) {
            LO_CHECK(ctx, scale[d] > 0 && isfinite(scale[d]), "scale of axis %d is %g", d, scale[d]);
            double o = floor((double)x->dims[d] * scale[d]);
            LO_CHECK(ctx, o < 9e15, "output axis %d would be too long", d);
            out_dims[d] = (int64_t)o;
        }
    }
    for (int d = 0; d < r; d++) {
        roi[d] = 0;
        roi[r + d] = 1;
    }
    if (p->coord == COORD_TF_CROP_AND_RESIZE) {
        LO_CHECK(ctx, roi_t, "tf_crop_and_resize needs roi");
        double v[2 * LO_MAX_RANK];
        int n;
        LO_TRY(read_values(ctx, roi_t, "roi", 2 * LO_MAX_RANK, v, &n));
        LO_CHECK(ctx, n == 2 * n_axes, "roi has %d values for %d axes", n, n_axes);
        for (int i = 0; i < n_axes; i++) {
            roi[axes[i]] = v[i];
            roi[r + axes[i]] = v[n_axes + i];
        }
    }

    if (!(0 < ctx->n_out && ctx->out[0])) return LO_OK;
    LO_TRY(lo_output(ctx, 0, x->dtype, r, out_dims));
    lo_tensor *out = ctx->out[0];
    axis_plan plans[LO_MAX_RANK];
    memset(plans, 0, sizeof plans);
    lo_status st = LO_OK;
    for (int d = 0; d < r && st == LO_OK; d++) {
        plans[d].in = x->dims[d];
        plans[d].out = out_dims[d];
        plans[d].scale = scale[d];
        plans[d].roi_start = roi[d];
        plans[d].roi_end = roi[r + d];
        st = plan_axis(ctx, p, &plans[d]);
    }
    if (st == LO_OK && lo_numel(out) > 0) {
        bool one_tap = true, extrapolates = false, inner_only = r >= 2;
        for (int d = 0; d < r; d++) {
            one_tap &= plans[d].taps == 1;
            for (int64_t o = 0; o < plans[d].out; o++) extrapolates |= plans[d].outside[o] != 0;
            if (d < r - 2) inner_only &= plans[d].identity;
            else inner_only &= plans[d].taps <= 2;
        }
        if (lo_use_ref(ctx) || extrapolates)
            resize_reference(p, x, out, plans);
        else if (one_tap)
            nearest_copy(x, out, plans);
        else if (x->dtype == LO_FLOAT && inner_only)
            st = bilinear_f32(ctx, x, out, plans);
        else
            resize_reference(p, x, out, plans);
    }
    free_plans(plans, r);
    return st;
}

static lo_status resize_run(lo_kernel_ctx *ctx) { return resize_common(ctx); }
static lo_status upsample_run(lo_kernel_ctx *ctx) { return resize_common(ctx); }

const lo_op_def lo_ops_resize[] = {
    {"", "Resize", 10, LO_OPSET_MAX, resize_prepare, resize_run, NULL, LO_OP_FAST},
    /* Upsample is deprecated since 10; older exporters still emit it. */
    {"", "Upsample", 7, LO_OPSET_MAX, upsample_prepare, upsample_run, NULL, LO_OP_FAST},
    {0},
};
