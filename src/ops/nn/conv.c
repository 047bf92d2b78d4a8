/* Convolutions: Conv, ConvTranspose, ConvInteger, QLinearConv, DeformConv.
 *
 * Every op has a plain direct-loop reference (accumulating in double, or in
 * int64 for the integer ops) that states the semantics. Float32 Conv and
 * ConvTranspose of 1 to 3 spatial dims go through oneDNN, one primitive per
 * node and input shape, cached in the node's params with the weights
 * reordered once; the reference is the fallback for what oneDNN refuses (or
 * only has its own reference code for) and for double. float16/bfloat16 are
 * widened to float32 and take the float32 path. The integer ops run an exact
 * im2col + int16 GEMM. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dnnl.h>
#include <immintrin.h>
#include <omp.h>

#include <pthread.h>

#include "conv.h"

/* ---- oneDNN ------------------------------------------------------------- */

/* One engine for the process (oneDNN engines are thread-safe), created once
 * by whichever thread gets here first: pthread_once rather than a named
 * OpenMP critical, whose lock would be an exported symbol of its own. */
static dnnl_engine_t engine;
static int engine_state; /* 1 usable, -1 failed */
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;

static void engine_create(void) { engine_state = dnnl_engine_create(&engine, dnnl_cpu, 0) == dnnl_success ? 1 : -1; }

static dnnl_engine_t dnnl_cpu_engine(void) {
    pthread_once(&engine_once, engine_create);
    return engine_state > 0 ? engine : NULL;
}


static void dnnl_cache_clear(dnnl_cache *c) {
    if (c->prim) dnnl_primitive_destroy(c->prim);
    if (c->wei_reorder) dnnl_primitive_destroy(c->wei_reorder);
    if (c->src_reorder) dnnl_primitive_destroy(c->src_reorder);
    if (c->dst_reorder) dnnl_primitive_destroy(c->dst_reorder);
    dnnl_memory_t mems[] = {c->src_mem, c->wei_mem, c->bias_mem, c->dst_mem,
                            c->wei_user_mem, c->src_user_mem, c->dst_user_mem};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        if (mems[i]) dnnl_memory_destroy(mems[i]);
    if (c->stream) dnnl_stream_destroy(c->stream);
    free(c->wei_buf);
    memset(c, 0, sizeof *c);
}

void lo_conv_params_free(void *p) {
    conv_params *cp = p;
    if (!cp) return;
    dnnl_cache_clear(&cp->dnnl);
    free(cp->plain);
    free(cp);
}

/* ---- attributes --------------------------------------------------------- */


static lo_status parse_conv_attrs(const lo_node *node, conv_attrs *a, lo_error *err) {
    memset(a, 0, sizeof *a);
    const char *ap = lo_attr_string(node, "auto_pad", "NOTSET");
    if (strcmp(ap, "NOTSET") == 0)
        a->auto_pad = PAD_NOTSET;
    else if (strcmp(ap, "SAME_UPPER") == 0)
        a->auto_pad = PAD_SAME_UPPER;
    else if (strcmp(ap, "SAME_LOWER") == 0)
        a->auto_pad = PAD_SAME_LOWER;
    else if (strcmp(ap, "VALID") == 0)
        a->auto_pad = PAD_VALID;
    else
        return lo_fail(err, LO_ERR_MODEL, "node '%s' (%s): unknown auto_pad '%s'", node->name,
                       node->op_type, ap);
    a->group = lo_attr_int(node, "group", 1);
    if (a->group < 1 || a->group > ATTR_LIMIT)
        return lo_fail(err, LO_ERR_MODEL, "node '%s' (%s): group %lld must be positive",
                       node->name, node->op_type, (long long)a->group);
    a->offset_group = lo_attr_int(node, "offset_group", 1);
    if (a->offset_group < 1 || a->offset_group > ATTR_LIMIT)
        return lo_fail(err, LO_ERR_MODEL, "node '%s' (%s): offset_group %lld must be positive",
                       node->name, node->op_type, (long long)a->offset_group);
    LO_TRY(lo_attr_ints_checked(node, "kernel_shape", MAX_SPATIAL, 1, &a->n_kernel, a->kernel, err));
    LO_TRY(lo_attr_ints_checked(node, "strides", MAX_SPATIAL, 1, &a->n_strides, a->strides, err));
    LO_TRY(lo_attr_ints_checked(node, "dilations", MAX_SPATIAL, 1, &a->n_dilations, a->dilations, err));
    LO_TRY(lo_attr_ints_checked(node, "pads", 2 * MAX_SPATIAL, 0, &a->n_pads, a->pads, err));
    LO_TRY(lo_attr_ints_checked(node, "output_padding", MAX_SPATIAL, 0, &a->n_output_padding,
                     a->output_padding, err));
    LO_TRY(lo_attr_ints_checked(node, "output_shape", LO_MAX_RANK, 0, &a->n_output_shape, a->output_shape,
                     err));
    if (a->n_pads % 2)
        return lo_fail(err, LO_ERR_MODEL, "node '%s' (%s): pads has an odd number of values (%d)",
                       node->name, node->op_type, a->n_pads);
    return LO_OK;
}

lo_status lo_conv_prepare(const lo_node *node, void **params, lo_error *err) {
    conv_params *p = lo_calloc(1, sizeof *p, err);
    if (!p) return LO_ERR_NOMEM;
    lo_status st = parse_conv_attrs(node, &p->a, err);
    if (st != LO_OK) {
        free(p);
        return st;
    }
    *params = p;
    return LO_OK;
}

/* ---- geometry ----------------------------------------------------------- */

static int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

/* Checks the attribute lists against the spatial rank and fills strides,
 * dilations and the kernel (from W, checked against kernel_shape). */
static lo_status geom_common(lo_kernel_ctx *ctx, const conv_attrs *a, const lo_tensor *x,
                             const lo_tensor *w, conv_geom *g) {
    LO_CHECK(ctx, x->rank >= 3, "input X has rank %d, expected at least 3 (N, C, spatial...)",
             x->rank);
    LO_CHECK(ctx, w->rank == x->rank, "weights W have rank %d but X has rank %d", w->rank,
             x->rank);
    memset(g, 0, sizeof *g);
    g->nsp = x->rank - 2;
    int n = g->nsp;
    if ((a->n_kernel && a->n_kernel != n) || (a->n_strides && a->n_strides != n) ||
        (a->n_dilations && a->n_dilations != n) || (a->n_pads && a->n_pads != 2 * n))
        return lo_kernel_fail(ctx, LO_ERR_MODEL,
                              "kernel_shape/strides/dilations/pads do not fit %d spatial dims", n);
    g->batch = x->dims[0];
    g->in_ch = x->dims[1];
    g->group = a->group;
    g->in_size = g->out_size = g->kernel_size = 1;
    for (int d = 0; d < n; d++) {
        g->in[d] = x->dims[2 + d];
        g->kernel[d] = w->dims[2 + d];
        if (a->n_kernel && a->kernel[d] != g->kernel[d])
            return lo_kernel_fail(ctx, LO_ERR_INPUT, "kernel_shape[%d] = %lld but W has %lld", d,
                                  (long long)a->kernel[d], (long long)g->kernel[d]);
        g->stride[d] = a->n_strides ? a->strides[d] : 1;
        g->dilation[d] = a->n_dilations ? a->dilations[d] : 1;
        g->pad_begin[d] = a->n_pads ? a->pads[d] : 0;
        g->pad_end[d] = a->n_pads ? a->pads[n + d] : 0;
        g->in_size *= g->in[d];
        g->kernel_size *= g->kernel[d];
    }
    return LO_OK;
}

/* Output shape and pads of a convolution (Conv, ConvInteger, QLinearConv). */
lo_status lo_conv_geometry(lo_kernel_ctx *ctx, const conv_attrs *a, const lo_tensor *x,
                               const lo_tensor *w, conv_geom *g) {
    LO_TRY(geom_common(ctx, a, x, w, g));
    LO_CHECK(ctx, g->in_ch % g->group == 0, "%lld input channels do not split into %lld groups",
             (long long)g->in_ch, (long long)g->group);
    LO_CHECK(ctx, w->dims[1] * g->group == g->in_ch,
             "W has %lld channels per group, X has %lld channels in %lld groups",
             (long long)w->dims[1], (long long)g->in_ch, (long long)g->group);
    g->out_ch = w->dims[0];
    LO_CHECK(ctx, g->out_ch % g->group == 0, "%lld output channels do not split into %lld groups",
             (long long)g->out_ch, (long long)g->group);
    for (int d = 0; d < g->nsp; d++) {
        int64_t ext = (g->kernel[d] - 1) * g->dilation[d] + 1;
        if (a->auto_pad == PAD_SAME_UPPER || a->auto_pad == PAD_SAME_LOWER) {
            g->out[d] = ceil_div(g->in[d], g->stride[d]);
            int64_t total = (g->out[d] - 1) * g->stride[d] + ext - g->in[d];
            if (total < 0) total = 0;
            g->pad_begin[d] = a->auto_pad == PAD_SAME_UPPER ? total / 2 : total - total / 2;
            g->pad_end[d] = total - g->pad_begin[d];
        } else {
            if (a->auto_pad == PAD_VALID) g->pad_begin[d] = g->pad_end[d] = 0;
            int64_t span = g->in[d] + g->pad_begin[d] + g->pad_end[d] - ext;
            LO_CHECK(ctx, span >= 0,
                     "spatial dim %d: input %lld with pads %lld+%lld is smaller than the "
                     "dilated kernel %lld",
                     d, (long long)g->in[d], (long long)g->pad_begin[d], (long long)g->pad_end[d],
                     (long long)ext);
            g->out[d] = span / g->stride[d] + 1;
        }
        g->out_size *= g->out[d];
    }
    return LO_OK;
}

/* Output shape and pads of ConvTranspose, following the ONNX spec. */
static lo_status conv_transpose_geometry(lo_kernel_ctx *ctx, const conv_attrs *a,
                                         const lo_tensor *x, const lo_tensor *w, conv_geom *g) {
    LO_TRY(geom_common(ctx, a, x, w, g));
    int n = g->nsp;
    if ((a->n_output_padding && a->n_output_padding != n) ||
        (a->n_output_shape && a->n_output_shape != n && a->n_output_shape != n + 2))
        return lo_kernel_fail(ctx, LO_ERR_MODEL,
                              "output_padding/output_shape do not fit %d spatial dims", n);
    LO_CHECK(ctx, w->dims[0] == g->in_ch, "W has %lld input channels, X has %lld",
             (long long)w->dims[0], (long long)g->in_ch);
    LO_CHECK(ctx, g->in_ch % g->group == 0, "%lld input channels do not split into %lld groups",
             (long long)g->in_ch, (long long)g->group);
    g->out_ch = w->dims[1] * g->group;
    for (int d = 0; d < n; d++) {
        int64_t ext = (g->kernel[d] - 1) * g->dilation[d] + 1;
        int64_t opad = a->n_output_padding ? a->output_padding[d] : 0;
        int64_t full = g->stride[d] * (g->in[d] - 1) + opad + ext;
        bool same = a->auto_pad == PAD_SAME_UPPER || a->auto_pad == PAD_SAME_LOWER;
        if (a->n_output_shape || same) {
            int64_t want = a->n_output_shape ? a->output_shape[a->n_output_shape - n + d]
                                             : g->in[d] * g->stride[d];
            int64_t total = full - want;
            if (total < 0 && !a->n_output_shape) {
                /* SAME with a kernel smaller than the stride: ONNX Runtime
                 * keeps the full size rather than the spec's in*stride. */
                g->pad_begin[d] = g->pad_end[d] = 0;
                want = full;
            } else if (total < 0) {
                /* Asked for more than the kernels cover: the rest is bias only. */
                g->pad_begin[d] = 0;
                g->pad_end[d] = total;
            } else if (a->auto_pad == PAD_SAME_UPPER) {
                g->pad_begin[d] = total / 2;
                g->pad_end[d] = total - total / 2;
            } else {
                g->pad_begin[d] = total - total / 2;
                g->pad_end[d] = total / 2;
            }
            g->out[d] = want;
        } else {
            if (a->auto_pad == PAD_VALID) g->pad_begin[d] = g->pad_end[d] = 0;
            g->out[d] = full - g->pad_begin[d] - g->pad_end[d];
        }
        LO_CHECK(ctx, g->out[d] >= 0, "spatial dim %d: output size %lld is negative", d,
                 (long long)g->out[d]);
        g->out_size *= g->out[d];
    }
    return LO_OK;
}

void lo_conv_out_dims(const conv_geom *g, int64_t *dims) {
    dims[0] = g->batch;
    dims[1] = g->out_ch;
    for (int d = 0; d < g->nsp; d++) dims[2 + d] = g->out[d];
}

/* ---- scratch ------------------------------------------------------------ */

static void *aligned_buffer(size_t bytes) {
    size_t rounded = (bytes + 63) / 64 * 64;
    return aligned_alloc(64, rounded ? rounded : 64);
}

static size_t round64(size_t n) { return (n + 63) / 64 * 64; }

bool lo_conv_scratch_carve(lo_kernel_ctx *ctx, scratch *s, int n, const size_t *sizes,
                          void **out) {
    size_t total = 0;
    for (int i = 0; i < n; i++) total += round64(sizes[i]);
    if (total == 0) {
        for (int i = 0; i < n; i++) out[i] = NULL;
        return true;
    }
    char *base = lo_scratch(ctx, total);
    if (!base) base = s->heap = aligned_buffer(total);
    if (!base) return false;
    for (int i = 0; i < n; i++) {
        out[i] = base;
        base += round64(sizes[i]);
    }
    return true;
}

void lo_conv_scratch_release(scratch *s) {
    free(s->heap);
    s->heap = NULL;
}

/* Widens a float16/bfloat16/float tensor into float32 (a copy for float). */
static void to_float(const lo_tensor *t, float *dst) {
    int64_t n = lo_numel(t);
    if (t->dtype == LO_FLOAT) {
        memcpy(dst, t->data, (size_t)n * sizeof(float));
        return;
    }
    const uint16_t *src = t->data;
    if (t->dtype == LO_FLOAT16)
        for (int64_t i = 0; i < n; i++) dst[i] = lo_half_to_float(src[i]);
    else
        for (int64_t i = 0; i < n; i++) dst[i] = lo_bfloat16_to_float(src[i]);
}

static void from_float(const float *src, lo_tensor *t) {
    int64_t n = lo_numel(t);
    uint16_t *dst = t->data;
    if (t->dtype == LO_FLOAT16)
        for (int64_t i = 0; i < n; i++) dst[i] = lo_float_to_half(src[i]);
    else
        for (int64_t i = 0; i < n; i++) dst[i] = lo_float_to_bfloat16(src[i]);
}

/* ---- reference loops ---------------------------------------------------- */

/* The same for a transposed convolution: the input position whose kernel
 * tap k lands on output position o, or -1. */
static int64_t conv_transpose_tap(const conv_geom *g, const int64_t *o, const int64_t *k) {
    int64_t off = 0;
    for (int d = 0; d < g->nsp; d++) {
        int64_t t = o[d] + g->pad_begin[d] - k[d] * g->dilation[d];
        if (t < 0 || t % g->stride[d]) return -1;
        int64_t i = t / g->stride[d];
        if (i >= g->in[d]) return -1;
        off = off * g->in[d] + i;
    }
    return off;
}

DEFINE_CONV_REFERENCE(conv_reference_f32, float, double)
DEFINE_CONV_REFERENCE(conv_reference_f64, double, double)

/* Direct transposed convolution, written as a gather so that each output is
 * one accumulation. X is (N, C, in...), W is (C, M/group, k...). */
#define DEFINE_CONV_TRANSPOSE_REFERENCE(NAME, T, ACC)                                          \
    static void NAME(const conv_geom *g, const T *x, const T *w, const T *b, T *y) {          \
        int64_t cg = g->in_ch / g->group, mg = g->out_ch / g->group;                           \
        int64_t planes = g->batch * g->out_ch;                                                 \
        double work = (double)planes * (double)g->out_size * (double)(cg * g->kernel_size); \
        _Pragma("omp parallel for schedule(dynamic) if(work > 100000)")                       \
        for (int64_t pm = 0; pm < planes; pm++) {                                              \
            int64_t n = pm / g->out_ch, m = pm % g->out_ch, grp = m / mg, mi = m % mg;         \
            const T *xg = x + (n * g->in_ch + grp * cg) * g->in_size;                          \
            T *yp = y + pm * g->out_size;                                                      \
            for (int64_t op = 0; op < g->out_size; op++) {                                     \
                int64_t o[MAX_SPATIAL], k[MAX_SPATIAL];                                        \
                unflatten(op, g->nsp, g->out, o);                                              \
                ACC acc = b ? (ACC)b[m] : 0;                                                   \
                for (int64_t kp = 0; kp < g->kernel_size; kp++) {                              \
                    unflatten(kp, g->nsp, g->kernel, k);                                       \
                    int64_t off = conv_transpose_tap(g, o, k);                                 \
                    if (off < 0) continue;                                                     \
                    for (int64_t c = 0; c < cg; c++)                                           \
                        acc += (ACC)xg[c * g->in_size + off] *                                 \
                               (ACC)w[((grp * cg + c) * mg + mi) * g->kernel_size + kp];       \
                }                                                                              \
                yp[op] = (T)acc;                                                               \
            }                                                                                  \
        }                                                                                      \
    }

DEFINE_CONV_TRANSPOSE_REFERENCE(conv_transpose_reference_f32, float, double)
DEFINE_CONV_TRANSPOSE_REFERENCE(conv_transpose_reference_f64, double, double)

/* ---- oneDNN path -------------------------------------------------------- */

/* blk: bit 0 X arrives, bit 1 Y leaves, in the blocked layout (nCx16c).
 * The thread count is in the key: a primitive splits its work for the
 * count it was built with (lo_session_set_threads). */
static void cache_key(const lo_tensor *x, const lo_tensor *w, bool bias, int layout, int blk,
                      int64_t *key) {
    memset(key, 0, sizeof(int64_t) * (2 * LO_MAX_RANK + 2));
    key[0] = x->rank * 16 + layout;
    key[1] = bias + 2 * blk + 8 * (int64_t)omp_get_max_threads();
    for (int d = 0; d < x->rank; d++) {
        key[2 + d] = x->dims[d];
        key[2 + LO_MAX_RANK + d] = w->dims[d];
    }
}

static const dnnl_format_tag_t blocked16[] = {dnnl_aBc16b, dnnl_aBcd16b, dnnl_aBcde16b};
static const dnnl_format_tag_t plain_tags[] = {dnnl_format_tag_undef, dnnl_format_tag_undef,
                                               dnnl_format_tag_undef, dnnl_abc, dnnl_abcd,
                                               dnnl_abcde, dnnl_abcdef};

/* Builds the primitive (and the reorders it needs) for one shape. Returns
 * false when oneDNN cannot do it; the caller then uses the reference. */
static bool dnnl_build(dnnl_cache *c, const conv_geom *g, bool transpose, bool bias, int layout, int blk) {
    dnnl_engine_t engine = dnnl_cpu_engine();
    if (!engine || g->nsp < 1 || g->nsp > 3) return false;
    int rank = g->nsp + 2;
    dnnl_dims_t src_dims, dst_dims, wei_dims, bias_dims = {g->out_ch};
    dnnl_dims_t strides, dilates, pad_l, pad_r;
    src_dims[0] = dst_dims[0] = g->batch;
    src_dims[1] = g->in_ch;
    dst_dims[1] = g->out_ch;
    for (int d = 0; d < g->nsp; d++) {
        src_dims[2 + d] = g->in[d];
        dst_dims[2 + d] = g->out[d];
        strides[d] = g->stride[d];
        dilates[d] = g->dilation[d] - 1;
        pad_l[d] = g->pad_begin[d];
        pad_r[d] = g->pad_end[d];
        if (pad_l[d] < 0) return false;
    }
    /* oneDNN's deconvolution has no output_padding: it is extra right padding
     * taken back. */
    if (transpose)
        for (int d = 0; d < g->nsp; d++) {
            int64_t ext = (g->kernel[d] - 1) * g->dilation[d] + 1;
            pad_r[d] = (g->in[d] - 1) * g->stride[d] + ext - g->pad_begin[d] - g->out[d];
        }
    int wrank = g->group > 1 ? rank + 1 : rank;
    dnnl_format_tag_t wei_tag;
    int64_t cg = g->in_ch / g->group, mg = g->out_ch / g->group;
    if (g->group > 1) {
        wei_dims[0] = g->group;
        wei_dims[1] = mg;
        wei_dims[2] = cg;
        for (int d = 0; d < g->nsp; d++) wei_dims[3 + d] = g->kernel[d];
        static const dnnl_format_tag_t giox[] = {dnnl_acbd, dnnl_acbde, dnnl_acbdef};
        wei_tag = transpose ? giox[g->nsp - 1] : plain_tags[wrank];
    } else {
        wei_dims[0] = g->out_ch;
        wei_dims[1] = g->in_ch;
        for (int d = 0; d < g->nsp; d++) wei_dims[2 + d] = g->kernel[d];
        static const dnnl_format_tag_t iox[] = {dnnl_bac, dnnl_bacd, dnnl_bacde};
        wei_tag = transpose ? iox[g->nsp - 1] : plain_tags[wrank];
    }

    /* Blocked: 16-channel blocks (nChw16c) where the channels fill them,
     * else oneDNN's choice. Measured against letting it choose everywhere
     * (it then takes channels-last): 3x3 on 64x56x56 112 vs 101 GFLOP/s,
     * depthwise 3x3 on 32x112x112 40 vs 12. When a layout only has oneDNN's
     * reference implementation behind it (250 ms for a grouped 3x3 layer
     * that takes 4 ms otherwise), the next is tried: its choice, then plain,
     * then our own reference loops. */
    dnnl_format_tag_t candidates[3][2];
    int n_candidates = 0;
    if (layout == IMPL_BLOCKED) {
        candidates[n_candidates][0] = g->in_ch % 16 == 0 ? blocked16[g->nsp - 1] : dnnl_format_tag_any;
        candidates[n_candidates][1] = g->out_ch % 16 == 0 ? blocked16[g->nsp - 1] : dnnl_format_tag_any;
        n_candidates++;
        candidates[n_candidates][0] = candidates[n_candidates][1] = dnnl_format_tag_any;
        n_candidates++;
    }
    candidates[n_candidates][0] = candidates[n_candidates][1] = plain_tags[rank];
    n_candidates++;

    dnnl_memory_desc_t wei_any_md, wei_user_md, bias_md, src_user_md, dst_user_md;
    /* the tensors as the run loop holds them: NCHW, or blocked where the
     * plan passes them so between two convolutions (blk) */
    if (dnnl_memory_desc_init_by_tag(&src_user_md, rank, src_dims, dnnl_f32,
                                     blk & 1 ? blocked16[g->nsp - 1] : plain_tags[rank]) ||
        dnnl_memory_desc_init_by_tag(&dst_user_md, rank, dst_dims, dnnl_f32,
                                     blk & 2 ? blocked16[g->nsp - 1] : plain_tags[rank]) ||
        dnnl_memory_desc_init_by_tag(&wei_any_md, wrank, wei_dims, dnnl_f32,
                                     dnnl_format_tag_any) ||
        dnnl_memory_desc_init_by_tag(&wei_user_md, wrank, wei_dims, dnnl_f32, wei_tag) ||
        dnnl_memory_desc_init_by_tag(&bias_md, 1, bias_dims, dnnl_f32, dnnl_x))
        return false;

    dnnl_primitive_attr_t attr = NULL;
    if (dnnl_primitive_attr_create(&attr)) return false;
    /* Computations stay in float32 whatever ONEDNN_DEFAULT_FPMATH_MODE says. */
    dnnl_primitive_attr_set_fpmath_mode(attr, dnnl_fpmath_mode_strict);

    dnnl_primitive_desc_t pd = NULL;
    for (int cand = 0; cand < n_candidates && !pd; cand++) {
        dnnl_memory_desc_t src_md, dst_md;
        if (dnnl_memory_desc_init_by_tag(&src_md, rank, src_dims, dnnl_f32, candidates[cand][0]) ||
            dnnl_memory_desc_init_by_tag(&dst_md, rank, dst_dims, dnnl_f32, candidates[cand][1]))
            continue;
        dnnl_status_t st;
        if (transpose) {
            dnnl_deconvolution_desc_t desc;
            st = dnnl_dilated_deconvolution_forward_desc_init(
                &desc, dnnl_forward_inference, dnnl_deconvolution_direct, &src_md, &wei_any_md,
                bias ? &bias_md : NULL, &dst_md, strides, dilates, pad_l, pad_r);
            if (st == dnnl_success) st = dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL);
        } else {
            dnnl_convolution_desc_t desc;
            st = dnnl_dilated_convolution_forward_desc_init(
                &desc, dnnl_forward_inference, dnnl_convolution_direct, &src_md, &wei_any_md,
                bias ? &bias_md : NULL, &dst_md, strides, dilates, pad_l, pad_r);
            if (st == dnnl_success) st = dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL);
        }
        const char *impl = NULL;
        if (st == dnnl_success && pd &&
            dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success &&
            impl && strncmp(impl, "ref", 3) == 0) {
            dnnl_primitive_desc_destroy(pd);
            pd = NULL;
        }
        if (st != dnnl_success) pd = NULL;
    }
    dnnl_primitive_attr_destroy(attr);
    if (!pd) return false;

    bool ok = dnnl_primitive_create(&c->prim, pd) == dnnl_success &&
              dnnl_stream_create(&c->stream, engine, dnnl_stream_default_flags) == dnnl_success;
    const dnnl_memory_desc_t *wei_md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *psrc_md = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *pdst_md = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    ok = ok && wei_md && psrc_md && pdst_md;
    ok = ok && dnnl_memory_create(&c->src_mem, psrc_md, engine, DNNL_MEMORY_NONE) == dnnl_success;
    ok = ok && dnnl_memory_create(&c->dst_mem, pdst_md, engine, DNNL_MEMORY_NONE) == dnnl_success;
    ok = ok && dnnl_memory_create(&c->wei_mem, wei_md, engine, DNNL_MEMORY_NONE) == dnnl_success;
    if (ok && bias)
        ok = dnnl_memory_create(&c->bias_mem, &bias_md, engine, DNNL_MEMORY_NONE) == dnnl_success;
    if (ok && !dnnl_memory_desc_equal(wei_md, &wei_user_md)) {
        dnnl_primitive_desc_t rpd = NULL;
        ok = dnnl_reorder_primitive_desc_create(&rpd, &wei_user_md, engine, wei_md, engine, NULL) ==
             dnnl_success;
        ok = ok && dnnl_primitive_create(&c->wei_reorder, rpd) == dnnl_success;
        if (rpd) dnnl_primitive_desc_destroy(rpd);
        ok = ok && dnnl_memory_create(&c->wei_user_mem, &wei_user_md, engine, DNNL_MEMORY_NONE) ==
                       dnnl_success;
        ok = ok && (c->wei_buf = aligned_buffer(dnnl_memory_desc_get_size(wei_md))) != NULL;
        ok = ok && dnnl_memory_set_data_handle(c->wei_mem, c->wei_buf) == dnnl_success;
    }
    static const dnnl_format_tag_t channels_last[] = {dnnl_acb, dnnl_acdb, dnnl_acdeb};
    dnnl_memory_desc_t src_cl_md, dst_cl_md;
    ok = ok &&
         dnnl_memory_desc_init_by_tag(&src_cl_md, rank, src_dims, dnnl_f32,
                                      channels_last[g->nsp - 1]) == dnnl_success &&
         dnnl_memory_desc_init_by_tag(&dst_cl_md, rank, dst_dims, dnnl_f32,
                                      channels_last[g->nsp - 1]) == dnnl_success;
    if (ok && !(blk & 1) && !dnnl_memory_desc_equal(psrc_md, &src_user_md) &&
        dnnl_memory_desc_equal(psrc_md, &src_cl_md)) {
        c->src_nhwc = true;
        c->src_bytes = dnnl_memory_desc_get_size(psrc_md);
    } else if (ok && !dnnl_memory_desc_equal(psrc_md, &src_user_md)) {
        dnnl_primitive_desc_t rpd = NULL;
        ok = dnnl_reorder_primitive_desc_create(&rpd, &src_user_md, engine, psrc_md, engine,
                                                NULL) == dnnl_success;
        ok = ok && dnnl_primitive_create(&c->src_reorder, rpd) == dnnl_success;
        if (rpd) dnnl_primitive_desc_destroy(rpd);
        ok = ok && dnnl_memory_create(&c->src_user_mem, &src_user_md, engine, DNNL_MEMORY_NONE) ==
                       dnnl_success;
        c->src_bytes = dnnl_memory_desc_get_size(psrc_md);
    }
    if (ok && !(blk & 2) && !dnnl_memory_desc_equal(pdst_md, &dst_user_md) &&
        dnnl_memory_desc_equal(pdst_md, &dst_cl_md)) {
        c->dst_nhwc = true;
        c->dst_bytes = dnnl_memory_desc_get_size(pdst_md);
    } else if (ok && !dnnl_memory_desc_equal(pdst_md, &dst_user_md)) {
        dnnl_primitive_desc_t rpd = NULL;
        ok = dnnl_reorder_primitive_desc_create(&rpd, pdst_md, engine, &dst_user_md, engine,
                                                NULL) == dnnl_success;
        ok = ok && dnnl_primitive_create(&c->dst_reorder, rpd) == dnnl_success;
        if (rpd) dnnl_primitive_desc_destroy(rpd);
        ok = ok && dnnl_memory_create(&c->dst_user_mem, &dst_user_md, engine, DNNL_MEMORY_NONE) ==
                       dnnl_success;
        c->dst_bytes = dnnl_memory_desc_get_size(pdst_md);
    }
    dnnl_primitive_desc_destroy(pd);
    return ok;
}

/* dst = src transposed, src being rows x cols. oneDNN's own reorder between
 * NCHW and NHWC was measured 10-50x slower than this on small planes
 * (14x14, 7x7) with two threads, so channels-last conversions are done here. */
static void transpose_plane(const float *src, float *dst, int64_t rows, int64_t cols) {
    enum { T = 32 };
    int64_t rt = (rows + T - 1) / T, ct = (cols + T - 1) / T;
#pragma omp parallel for collapse(2) if (rows * cols > 65536)
    for (int64_t rb = 0; rb < rt; rb++)
        for (int64_t cb = 0; cb < ct; cb++) {
            int64_t r1 = rb * T + T < rows ? rb * T + T : rows;
            int64_t c1 = cb * T + T < cols ? cb * T + T : cols;
            for (int64_t r = rb * T; r < r1; r++)
                for (int64_t c = cb * T; c < c1; c++) dst[c * rows + r] = src[r * cols + c];
        }
}

static void to_channels_last(const conv_geom *g, int64_t ch, const int64_t *sp, const float *src,
                             float *dst) {
    int64_t plane = 1;
    for (int d = 0; d < g->nsp; d++) plane *= sp[d];
    for (int64_t n = 0; n < g->batch; n++)
        transpose_plane(src + n * ch * plane, dst + n * ch * plane, ch, plane);
}

static void from_channels_last(const conv_geom *g, int64_t ch, const int64_t *sp,
                               const float *src, float *dst) {
    int64_t plane = 1;
    for (int d = 0; d < g->nsp; d++) plane *= sp[d];
    for (int64_t n = 0; n < g->batch; n++)
        transpose_plane(src + n * ch * plane, dst + n * ch * plane, plane, ch);
}

/* The layout a kernel choice runs in. oneDNN's blocked kernels plus two
 * layout conversions beat its NCHW path (im2col + GEMM) everywhere but on
 * unstrided 1x1 kernels, where the two were level (EfficientNet-B0 and
 * MobileNetV2, whole models, 1 and 2 threads, within 7% either way); blocked
 * there too, because a plan that passes tensors blocked between
 * convolutions then drops the conversions, and a convolution computes the
 * same bits whichever layout its input arrives in. */
static int resolved_layout(int choice) {
    return choice == IMPL_DEFAULT || choice == IMPL_PORTABLE ? IMPL_BLOCKED : choice;
}

/* Makes sure the cache holds a primitive for this shape and these layouts;
 * false when oneDNN is not to be used or refuses the shape. */
static bool dnnl_conv_ready(dnnl_cache *c, const conv_geom *g, bool transpose, const lo_tensor *x,
                            const lo_tensor *w, bool bias, int layout, int blk) {
    if (layout == IMPL_REFERENCE) return false;
    layout = resolved_layout(layout);
    int64_t key[2 * LO_MAX_RANK + 2];
    cache_key(x, w, bias, layout, blk, key);
    if (!c->built || memcmp(key, c->key, sizeof key) != 0) {
        dnnl_cache_clear(c);
        memcpy(c->key, key, sizeof key);
        c->built = true;
        if (!dnnl_build(c, g, transpose, bias, layout, blk)) {
            dnnl_cache_clear(c);
            memcpy(c->key, key, sizeof key);
            c->built = true;
            c->refused = true;
        }
    }
    return !c->refused;
}

/* Runs the cached primitive; src_tmp/dst_tmp hold c->src_bytes/dst_bytes.
 * false (with the output unspecified) when oneDNN fails at run time. */
static bool dnnl_conv_exec(dnnl_cache *c, const conv_geom *g, const lo_tensor *w, bool w_constant,
                           const float *xd, const float *wd, const float *bd, float *yd,
                           void *src_tmp, void *dst_tmp) {
    if (c->wei_reorder && !wd) {
        if (!c->wei_ready) return false; /* released weights: the reordered copy is all there is */
    } else if (c->wei_reorder) {
        size_t bytes = (size_t)lo_numel(w) * sizeof(float);
        if (!w_constant || !c->wei_ready || c->wei_key_ptr != (const void *)wd || c->wei_key_bytes != bytes) {
            dnnl_memory_set_data_handle(c->wei_user_mem, (void *)wd);
            dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, c->wei_user_mem}, {DNNL_ARG_TO, c->wei_mem}};
            if (dnnl_primitive_execute(c->wei_reorder, c->stream, 2, args) != dnnl_success ||
                dnnl_stream_wait(c->stream) != dnnl_success) {
                c->wei_ready = false;
                return false;
            }
            c->wei_key_ptr = wd;
            c->wei_key_bytes = bytes;
            c->wei_ready = true;
        }
    } else {
        dnnl_memory_set_data_handle(c->wei_mem, (void *)wd);
    }
    if (c->src_bytes) dnnl_memory_set_data_handle(c->src_mem, src_tmp);
    if (c->dst_bytes) dnnl_memory_set_data_handle(c->dst_mem, dst_tmp);
    if (c->src_nhwc) {
        to_channels_last(g, g->in_ch, g->in, xd, src_tmp);
    } else if (c->src_reorder) {
        dnnl_memory_set_data_handle(c->src_user_mem, (void *)xd);
        dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, c->src_user_mem}, {DNNL_ARG_TO, c->src_mem}};
        if (dnnl_primitive_execute(c->src_reorder, c->stream, 2, args) != dnnl_success) return false;
    } else {
        dnnl_memory_set_data_handle(c->src_mem, (void *)xd);
    }
    if (c->dst_reorder)
        dnnl_memory_set_data_handle(c->dst_user_mem, yd);
    else if (!c->dst_bytes)
        dnnl_memory_set_data_handle(c->dst_mem, yd);
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, c->src_mem},
                               {DNNL_ARG_WEIGHTS, c->wei_mem},
                               {DNNL_ARG_DST, c->dst_mem},
                               {DNNL_ARG_BIAS, c->bias_mem}};
    if (bd) dnnl_memory_set_data_handle(c->bias_mem, (void *)bd);
    if (dnnl_primitive_execute(c->prim, c->stream, bd ? 4 : 3, args) != dnnl_success) return false;
    if (c->dst_reorder) {
        dnnl_exec_arg_t rargs[] = {{DNNL_ARG_FROM, c->dst_mem}, {DNNL_ARG_TO, c->dst_user_mem}};
        if (dnnl_primitive_execute(c->dst_reorder, c->stream, 2, rargs) != dnnl_success)
            return false;
    }
    if (dnnl_stream_wait(c->stream) != dnnl_success) return false;
    if (c->dst_nhwc) from_channels_last(g, g->out_ch, g->out, dst_tmp, yd);
    return true;
}

/* NCHW from nCx16c (channels a multiple of 16, `plane` positions each). */
void lo_unblock16(int64_t batch, int64_t ch, int64_t plane, const float *src, float *dst) {
    for (int64_t n = 0; n < batch; n++)
        for (int64_t cb = 0; cb < ch / 16; cb++) {
            const float *s = src + (n * ch + cb * 16) * plane;
            float *d = dst + (n * ch + cb * 16) * plane;
            for (int64_t i = 0; i < plane; i++)
                for (int l = 0; l < 16; l++) d[l * plane + i] = s[i * 16 + l];
        }
}

bool lo_unblocked_copy(const lo_tensor *t, lo_tensor *plain) {
    *plain = *t;
    plain->data = malloc(t->nbytes + 1);
    if (!plain->data) return false;
    lo_unblock16(t->dims[0], t->dims[1], lo_numel_dims(t->rank - 2, t->dims + 2), t->data, plain->data);
    return true;
}

/* ---- weights held once --------------------------------------------------- */

bool lo_conv_take_weights(lo_node *node, const void *w_data) {
    if (!node->def || node->def->prepare != lo_conv_prepare || node->def->run == NULL || !node->params) return false;
    if (strcmp(node->op_type, "Conv") && strcmp(node->op_type, "ConvTranspose")) return false;
    conv_params *p = node->params;
    dnnl_cache *c = &p->dnnl;
    if (p->released || !c->built || c->refused || !c->wei_reorder || !c->wei_ready || !w_data ||
        c->wei_key_ptr != w_data)
        return false;
    p->released = true;
    return true;
}

/* The plain float weights back from oneDNN's reordered copy (a reorder
 * only moves bytes: they are the initializer's exact values). */
static bool restore_plain(conv_params *p, const lo_tensor *w) {
    if (p->plain) return true;
    dnnl_cache *c = &p->dnnl;
    if (!c->wei_reorder || !c->wei_ready || !c->wei_user_mem || !c->wei_mem) return false;
    float *plain = aligned_buffer((size_t)lo_numel(w) * sizeof(float));
    if (!plain) return false;
    const dnnl_memory_desc_t *from = NULL, *to = NULL;
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_t back = NULL;
    bool ok = dnnl_memory_get_memory_desc(c->wei_mem, &from) == dnnl_success &&
              dnnl_memory_get_memory_desc(c->wei_user_mem, &to) == dnnl_success &&
              dnnl_reorder_primitive_desc_create(&rpd, from, dnnl_cpu_engine(), to, dnnl_cpu_engine(), NULL) ==
                  dnnl_success &&
              dnnl_primitive_create(&back, rpd) == dnnl_success;
    if (ok) {
        dnnl_memory_set_data_handle(c->wei_user_mem, plain);
        dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, c->wei_mem}, {DNNL_ARG_TO, c->wei_user_mem}};
        ok = dnnl_primitive_execute(back, c->stream, 2, args) == dnnl_success &&
             dnnl_stream_wait(c->stream) == dnnl_success;
    }
    if (back) dnnl_primitive_destroy(back);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (!ok) {
        free(plain);
        return false;
    }
    p->plain = plain;
    return true;
}

/* ---- Conv / ConvTranspose ----------------------------------------------- */

lo_status lo_conv_check_float_inputs(lo_kernel_ctx *ctx, const lo_tensor *x, const lo_tensor *w,
                                    const lo_tensor *b, int64_t out_ch) {
    LO_CHECK(ctx,
             x->dtype == LO_FLOAT || x->dtype == LO_DOUBLE || x->dtype == LO_FLOAT16 ||
                 x->dtype == LO_BFLOAT16,
             "X has type %s; float16, bfloat16, float32 or double expected",
             lo_dtype_name(x->dtype));
    LO_CHECK(ctx, w->dtype == x->dtype, "W has type %s but X has %s", lo_dtype_name(w->dtype),
             lo_dtype_name(x->dtype));
    if (b) {
        LO_CHECK(ctx, b->dtype == x->dtype, "B has type %s but X has %s", lo_dtype_name(b->dtype),
                 lo_dtype_name(x->dtype));
        LO_CHECK(ctx, b->rank == 1 && b->dims[0] == out_ch,
                 "B must be 1-D with %lld elements (one per output channel)", (long long)out_ch);
    }
    return LO_OK;
}

static lo_status conv_like_run(lo_kernel_ctx *ctx, bool transpose) {
    conv_params *p = (conv_params *)ctx->params;
    LO_CHECK(ctx, ctx->n_in >= 2 && ctx->in[0] && ctx->in[1], "X and W are required");
    const lo_tensor *x = ctx->in[0], *w = ctx->in[1];
    const lo_tensor *b = ctx->n_in > 2 ? ctx->in[2] : NULL;
    conv_geom g;
    LO_TRY(transpose ? conv_transpose_geometry(ctx, &p->a, x, w, &g)
                     : lo_conv_geometry(ctx, &p->a, x, w, &g));
    LO_TRY(lo_conv_check_float_inputs(ctx, x, w, b, g.out_ch));
    int64_t dims[LO_MAX_RANK];
    lo_conv_out_dims(&g, dims);
    if (!output_wanted(ctx, 0)) return LO_OK;
    LO_TRY(lo_output(ctx, 0, x->dtype, x->rank, dims));
    lo_tensor *y = ctx->out[0];
    if (lo_numel(y) == 0) return LO_OK;

    if (x->dtype == LO_DOUBLE) {
        (transpose ? conv_transpose_reference_f64 : conv_reference_f64)(
            &g, x->data, w->data, b ? b->data : NULL, y->data);
        return LO_OK;
    }
    /* X blocked: the plan's previous Conv wrote it so. Y blocked: when the
     * plan lets it and the blocked kernels run (a float32 convolution whose
     * output channels fill 16-channel blocks). */
    int blk = ctx->in_blocked ? 1 : 0;
    if (ctx->out_may_block && !transpose && x->dtype == LO_FLOAT && g.out_ch % 16 == 0 && g.nsp <= 3 &&
        !p->no_blk && resolved_layout(conv_impl_choice(ctx)) == IMPL_BLOCKED)
        blk |= 2;
    lo_tensor w_plain;
    if (!w->data && p->released) {
        /* the cached primitive reads its reordered copy; anything else (a
         * new shape rebuilds the cache, the reference loops) needs the plain
         * weights back first */
        int64_t key[2 * LO_MAX_RANK + 2];
        int layout = resolved_layout(conv_impl_choice(ctx));
        cache_key(x, w, b != NULL, layout, blk, key);
        bool cached = layout != IMPL_REFERENCE && p->dnnl.built && !p->dnnl.refused &&
                      memcmp(key, p->dnnl.key, sizeof key) == 0 && x->dtype == LO_FLOAT;
        if (!cached || p->plain) {
            if (!restore_plain(p, w))
                return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory restoring the weights of %s",
                                      ctx->node->name);
            w_plain = *w;
            w_plain.data = p->plain;
            w = &w_plain;
        }
    }
    bool use_dnnl = lo_numel(x) > 0 && lo_numel(w) > 0 &&
                    dnnl_conv_ready(&p->dnnl, &g, transpose, x, w, b != NULL, conv_impl_choice(ctx), blk);
    if (!use_dnnl && (blk & 2)) {
        /* never again for this node: a refused build would be retried every run */
        p->no_blk = true;
        blk &= 1;
        use_dnnl = lo_numel(x) > 0 && lo_numel(w) > 0 &&
                   dnnl_conv_ready(&p->dnnl, &g, transpose, x, w, b != NULL, conv_impl_choice(ctx), blk);
    }
    bool widen = x->dtype != LO_FLOAT;
    size_t f = sizeof(float);
    size_t sizes[6] = {widen ? (size_t)lo_numel(x) * f : 0, widen ? (size_t)lo_numel(w) * f : 0,
                       widen && b ? (size_t)lo_numel(b) * f : 0, widen ? (size_t)lo_numel(y) * f : 0,
                       use_dnnl ? p->dnnl.src_bytes : 0, use_dnnl ? p->dnnl.dst_bytes : 0};
    void *bufs[6];
    scratch s = {0};
    if (!lo_conv_scratch_carve(ctx, &s, 6, sizes, bufs))
        return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory for convolution scratch");
    const float *xd = x->data, *wd = w->data, *bd = b ? b->data : NULL;
    float *yd = y->data;
    if (widen) {
        to_float(x, bufs[0]);
        to_float(w, bufs[1]);
        if (b) to_float(b, bufs[2]);
        xd = bufs[0], wd = bufs[1], bd = b ? bufs[2] : NULL, yd = bufs[3];
    }
    bool done = use_dnnl &&
                dnnl_conv_exec(&p->dnnl, &g, w, lo_input_is_constant(ctx, 1), xd, wd, bd, yd, bufs[4], bufs[5]);
    ctx->out_blocked = done && (blk & 2);
    if (done && p->released && p->plain && p->dnnl.wei_reorder && p->dnnl.wei_ready) {
        /* weights restored to build the cache again (a new shape or thread
         * count) are in its reordered copy now: held once, as before */
        free(p->plain);
        p->plain = NULL;
    }
    if (!done) {
        float *unblocked = NULL;
        if (blk & 1) {
            /* the reference loops read NCHW */
            if (!(unblocked = malloc((size_t)lo_numel(x) * sizeof(float)))) {
                lo_conv_scratch_release(&s);
                return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory for convolution scratch");
            }
            lo_unblock16(g.batch, g.in_ch, g.in_size, xd, unblocked);
            xd = unblocked;
        }
        if (!wd && !(restore_plain(p, w) && (wd = p->plain) != NULL)) {
            free(unblocked);
            lo_conv_scratch_release(&s);
            return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory restoring the weights of %s", ctx->node->name);
        }
        (transpose ? conv_transpose_reference_f32 : conv_reference_f32)(&g, xd, wd, bd, yd);
        free(unblocked);
    }
    if (x->dtype != LO_FLOAT) from_float(yd, y);
    lo_conv_scratch_release(&s);
    return LO_OK;
}

static lo_status conv_run(lo_kernel_ctx *ctx) { return conv_like_run(ctx, false); }
static lo_status conv_transpose_run(lo_kernel_ctx *ctx) { return conv_like_run(ctx, true); }

const lo_op_def lo_ops_conv[] = {
    {"", "Conv", 1, LO_OPSET_MAX, lo_conv_prepare, conv_run, lo_conv_params_free, LO_OP_FAST},
    {"", "ConvTranspose", 1, LO_OPSET_MAX, lo_conv_prepare, conv_transpose_run, lo_conv_params_free, LO_OP_FAST},
    {0},
};
