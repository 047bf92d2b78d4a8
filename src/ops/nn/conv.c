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

#include "../ops.h"

#define MAX_SPATIAL (LO_MAX_RANK - 2)
/* Attribute values above this are nonsense for a convolution and would let
 * the shape arithmetic overflow int64. */
#define ATTR_LIMIT ((int64_t)1 << 31)

typedef enum auto_pad_kind { PAD_NOTSET, PAD_SAME_UPPER, PAD_SAME_LOWER, PAD_VALID } auto_pad_kind;

typedef struct conv_attrs {
    auto_pad_kind auto_pad;
    int64_t group;
    int64_t offset_group; /* DeformConv */
    int n_kernel, n_strides, n_dilations, n_pads, n_output_padding, n_output_shape;
    int64_t kernel[MAX_SPATIAL];
    int64_t strides[MAX_SPATIAL];
    int64_t dilations[MAX_SPATIAL];
    int64_t pads[2 * MAX_SPATIAL];
    int64_t output_padding[MAX_SPATIAL];
    int64_t output_shape[LO_MAX_RANK];
} conv_attrs;

/* The resolved shape of one convolution: everything the loops need. */
typedef struct conv_geom {
    int nsp; /* spatial dims */
    int64_t batch, in_ch, out_ch, group;
    int64_t in[MAX_SPATIAL], out[MAX_SPATIAL], kernel[MAX_SPATIAL];
    int64_t stride[MAX_SPATIAL], dilation[MAX_SPATIAL];
    int64_t pad_begin[MAX_SPATIAL], pad_end[MAX_SPATIAL];
    int64_t in_size, out_size, kernel_size; /* products of the spatial dims */
} conv_geom;

/* ---- oneDNN ------------------------------------------------------------- */

/* One engine for the process; oneDNN engines are thread-safe. */
static dnnl_engine_t dnnl_cpu_engine(void) {
    static dnnl_engine_t engine;
    static int state; /* 0 untried, 1 usable, -1 failed */
    dnnl_engine_t result = NULL;
#pragma omp critical(lo_dnnl_engine)
    {
        if (state == 0) state = dnnl_engine_create(&engine, dnnl_cpu, 0) == dnnl_success ? 1 : -1;
        if (state > 0) result = engine;
    }
    return result;
}

/* Weights that oneDNN wants in its own blocked layout are reordered once
 * and kept when they are an initializer (constant for the session, keyed on
 * the buffer and its size); a computed weight (a DequantizeLinear output,
 * fake-quantized weights) is reordered on every run, which is exact. */
typedef struct dnnl_cache {
    bool built;
    bool refused; /* oneDNN cannot do this shape: the reference runs */
    int64_t key[2 * LO_MAX_RANK + 2];
    dnnl_stream_t stream;
    dnnl_primitive_t prim;
    dnnl_memory_t src_mem, wei_mem, bias_mem, dst_mem;
    /* Weights reorder, when the primitive wants a blocked layout. */
    dnnl_primitive_t wei_reorder;
    dnnl_memory_t wei_user_mem;
    void *wei_buf;
    const void *wei_key_ptr;
    size_t wei_key_bytes;
    bool wei_ready;
    /* src/dst reorders when the primitive computes in blocked layouts. */
    dnnl_primitive_t src_reorder, dst_reorder;
    dnnl_memory_t src_user_mem, dst_user_mem;
    /* Bytes of the src/dst copies in oneDNN's layout (0: it reads and writes
     * our NCHW tensors directly); they live in the kernel's scratch. */
    size_t src_bytes, dst_bytes;
    bool src_nhwc, dst_nhwc; /* converted by transpose_plane, not by oneDNN */
} dnnl_cache;

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

/* The context's kernel choice selects Conv's paths: the reference runs the
 * direct loops; "plain" gives oneDNN NCHW src/dst, "blocked" lets it choose
 * src/dst layouts and converts around it; "portable" keeps the integer GEMM
 * off AVX-512. LO_KERNELS_FAST: the measured default. */
enum {
    IMPL_REFERENCE = LO_KERNELS_REFERENCE,
    IMPL_DEFAULT = LO_KERNELS_FAST,
    IMPL_PLAIN = LO_KERNELS_CONV_PLAIN,
    IMPL_BLOCKED = LO_KERNELS_CONV_BLOCKED,
    IMPL_PORTABLE = LO_KERNELS_CONV_PORTABLE
};

static int conv_impl_choice(const lo_kernel_ctx *ctx) { return (int)ctx->kernels; }

typedef struct conv_params {
    conv_attrs a;
    dnnl_cache dnnl;
} conv_params;

static void conv_params_free(void *p) {
    conv_params *cp = p;
    if (!cp) return;
    dnnl_cache_clear(&cp->dnnl);
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

static lo_status conv_prepare(const lo_node *node, void **params, lo_error *err) {
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
static lo_status conv_geometry(lo_kernel_ctx *ctx, const conv_attrs *a, const lo_tensor *x,
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

static void out_dims(const conv_geom *g, int64_t *dims) {
    dims[0] = g->batch;
    dims[1] = g->out_ch;
    for (int d = 0; d < g->nsp; d++) dims[2 + d] = g->out[d];
}

/* ---- scratch ------------------------------------------------------------ */

static void *aligned_buffer(size_t bytes) {
    size_t rounded = (bytes + 63) / 64 * 64;
    return aligned_alloc(64, rounded ? rounded : 64);
}

/* lo_scratch hands out one block per kernel call (a second call may move
 * it), so a kernel asks once for the sum of its buffers and carves that.
 * Without a session to serve it (unit tests), a heap block is used and freed
 * when the kernel returns. */
typedef struct scratch {
    void *heap;
} scratch;

static size_t round64(size_t n) { return (n + 63) / 64 * 64; }

static bool scratch_carve(lo_kernel_ctx *ctx, scratch *s, int n, const size_t *sizes,
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

static void scratch_release(scratch *s) {
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

/* The executor leaves an omitted output NULL (lo_output then does
 * nothing): a kernel whose only output nobody reads has nothing to do. */
static bool output_wanted(const lo_kernel_ctx *ctx, int i) { return i < ctx->n_out && ctx->out[i]; }

/* ---- reference loops ---------------------------------------------------- */

/* Decodes a flat index over `dims` into coordinates (C order). */
static void unflatten(int64_t flat, int n, const int64_t *dims, int64_t *coord) {
    for (int d = n - 1; d >= 0; d--) {
        coord[d] = flat % dims[d];
        flat /= dims[d];
    }
}

/* The input offset (within one channel plane) that kernel tap k reads for
 * output position o of a convolution, or -1 when it falls in the padding. */
static int64_t conv_tap(const conv_geom *g, const int64_t *o, const int64_t *k) {
    int64_t off = 0;
    for (int d = 0; d < g->nsp; d++) {
        int64_t i = o[d] * g->stride[d] - g->pad_begin[d] + k[d] * g->dilation[d];
        if (i < 0 || i >= g->in[d]) return -1;
        off = off * g->in[d] + i;
    }
    return off;
}

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

/* Direct convolution for one element type T with accumulator ACC. X is
 * (N, C, in...), W is (M, C/group, k...), Y is (N, M, out...). */
#define DEFINE_CONV_REFERENCE(NAME, T, ACC)                                                    \
    static void NAME(const conv_geom *g, const T *x, const T *w, const T *b, T *y) {          \
        int64_t cg = g->in_ch / g->group, mg = g->out_ch / g->group;                           \
        int64_t planes = g->batch * g->out_ch;                                                 \
        double work = (double)planes * (double)g->out_size * (double)(cg * g->kernel_size); \
        _Pragma("omp parallel for schedule(dynamic) if(work > 100000)")                       \
        for (int64_t pm = 0; pm < planes; pm++) {                                              \
            int64_t n = pm / g->out_ch, m = pm % g->out_ch, grp = m / mg;                      \
            const T *xg = x + (n * g->in_ch + grp * cg) * g->in_size;                          \
            const T *wm = w + m * cg * g->kernel_size;                                         \
            T *yp = y + pm * g->out_size;                                                      \
            for (int64_t op = 0; op < g->out_size; op++) {                                     \
                int64_t o[MAX_SPATIAL], k[MAX_SPATIAL];                                        \
                unflatten(op, g->nsp, g->out, o);                                              \
                ACC acc = b ? (ACC)b[m] : 0;                                                   \
                for (int64_t kp = 0; kp < g->kernel_size; kp++) {                              \
                    unflatten(kp, g->nsp, g->kernel, k);                                       \
                    int64_t off = conv_tap(g, o, k);                                           \
                    if (off < 0) continue;                                                     \
                    for (int64_t c = 0; c < cg; c++)                                           \
                        acc += (ACC)xg[c * g->in_size + off] * (ACC)wm[c * g->kernel_size + kp]; \
                }                                                                              \
                yp[op] = (T)acc;                                                               \
            }                                                                                  \
        }                                                                                      \
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

static void cache_key(const lo_tensor *x, const lo_tensor *w, bool bias, int layout,
                      int64_t *key) {
    memset(key, 0, sizeof(int64_t) * (2 * LO_MAX_RANK + 2));
    key[0] = x->rank * 16 + layout;
    key[1] = bias;
    for (int d = 0; d < x->rank; d++) {
        key[2 + d] = x->dims[d];
        key[2 + LO_MAX_RANK + d] = w->dims[d];
    }
}

static const dnnl_format_tag_t plain_tags[] = {dnnl_format_tag_undef, dnnl_format_tag_undef,
                                               dnnl_format_tag_undef, dnnl_abc, dnnl_abcd,
                                               dnnl_abcde, dnnl_abcdef};

/* Builds the primitive (and the reorders it needs) for one shape. Returns
 * false when oneDNN cannot do it; the caller then uses the reference. */
static bool dnnl_build(dnnl_cache *c, const conv_geom *g, bool transpose, bool bias, int layout) {
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
    static const dnnl_format_tag_t blocked16[] = {dnnl_aBc16b, dnnl_aBcd16b, dnnl_aBcde16b};
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
    if (dnnl_memory_desc_init_by_tag(&src_user_md, rank, src_dims, dnnl_f32, plain_tags[rank]) ||
        dnnl_memory_desc_init_by_tag(&dst_user_md, rank, dst_dims, dnnl_f32, plain_tags[rank]) ||
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
    if (ok && !dnnl_memory_desc_equal(psrc_md, &src_user_md) &&
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
    if (ok && !dnnl_memory_desc_equal(pdst_md, &dst_user_md) &&
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

/* Runs a float32 convolution through oneDNN. Returns false (having written
 * nothing) when oneDNN cannot do it. */
/* Makes sure the cache holds a primitive for this shape; false when oneDNN
 * is not to be used or refuses the shape. */
static bool dnnl_conv_ready(dnnl_cache *c, const conv_geom *g, bool transpose, const lo_tensor *x,
                            const lo_tensor *w, bool bias, int layout) {
    if (layout == IMPL_REFERENCE) return false;
    /* Measured on this machine (one thread, ResNet/MobileNet layers): oneDNN
     * on NCHW falls back to im2col+GEMM, which wins for 1x1 kernels (115 vs
     * 101 GFLOP/s); elsewhere its blocked kernels plus two layout
     * conversions win (3x3 on 64x56x56: 112 vs 81; depthwise 10x). */
    if (layout == IMPL_DEFAULT || layout == IMPL_PORTABLE) {
        /* ... but only unstrided: a strided 1x1 on NCHW ran at 2 GFLOP/s
         * (ResNet's downsample), against ~100 blocked */
        bool unit_stride = true;
        for (int d = 0; d < g->nsp; d++) unit_stride = unit_stride && g->stride[d] == 1;
        layout = g->group == 1 && g->kernel_size == 1 && unit_stride ? IMPL_PLAIN : IMPL_BLOCKED;
    }
    int64_t key[2 * LO_MAX_RANK + 2];
    cache_key(x, w, bias, layout, key);
    if (!c->built || memcmp(key, c->key, sizeof key) != 0) {
        dnnl_cache_clear(c);
        memcpy(c->key, key, sizeof key);
        c->built = true;
        if (!dnnl_build(c, g, transpose, bias, layout)) {
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
    if (c->wei_reorder) {
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

/* ---- Conv / ConvTranspose ----------------------------------------------- */

static lo_status check_float_inputs(lo_kernel_ctx *ctx, const lo_tensor *x, const lo_tensor *w,
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
                     : conv_geometry(ctx, &p->a, x, w, &g));
    LO_TRY(check_float_inputs(ctx, x, w, b, g.out_ch));
    int64_t dims[LO_MAX_RANK];
    out_dims(&g, dims);
    if (!output_wanted(ctx, 0)) return LO_OK;
    LO_TRY(lo_output(ctx, 0, x->dtype, x->rank, dims));
    lo_tensor *y = ctx->out[0];
    if (lo_numel(y) == 0) return LO_OK;

    if (x->dtype == LO_DOUBLE) {
        (transpose ? conv_transpose_reference_f64 : conv_reference_f64)(
            &g, x->data, w->data, b ? b->data : NULL, y->data);
        return LO_OK;
    }
    bool use_dnnl = lo_numel(x) > 0 && lo_numel(w) > 0 &&
                    dnnl_conv_ready(&p->dnnl, &g, transpose, x, w, b != NULL, conv_impl_choice(ctx));
    bool widen = x->dtype != LO_FLOAT;
    size_t f = sizeof(float);
    size_t sizes[6] = {widen ? (size_t)lo_numel(x) * f : 0, widen ? (size_t)lo_numel(w) * f : 0,
                       widen && b ? (size_t)lo_numel(b) * f : 0, widen ? (size_t)lo_numel(y) * f : 0,
                       use_dnnl ? p->dnnl.src_bytes : 0, use_dnnl ? p->dnnl.dst_bytes : 0};
    void *bufs[6];
    scratch s = {0};
    if (!scratch_carve(ctx, &s, 6, sizes, bufs))
        return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory for convolution scratch");
    const float *xd = x->data, *wd = w->data, *bd = b ? b->data : NULL;
    float *yd = y->data;
    if (widen) {
        to_float(x, bufs[0]);
        to_float(w, bufs[1]);
        if (b) to_float(b, bufs[2]);
        xd = bufs[0], wd = bufs[1], bd = b ? bufs[2] : NULL, yd = bufs[3];
    }
    if (!use_dnnl || !dnnl_conv_exec(&p->dnnl, &g, w, lo_input_is_constant(ctx, 1), xd, wd, bd, yd, bufs[4], bufs[5]))
        (transpose ? conv_transpose_reference_f32 : conv_reference_f32)(&g, xd, wd, bd, yd);
    if (x->dtype != LO_FLOAT) from_float(yd, y);
    scratch_release(&s);
    return LO_OK;
}

static lo_status conv_run(lo_kernel_ctx *ctx) { return conv_like_run(ctx, false); }
static lo_status conv_transpose_run(lo_kernel_ctx *ctx) { return conv_like_run(ctx, true); }

/* ---- ConvInteger / QLinearConv ------------------------------------------ */

DEFINE_CONV_REFERENCE(conv_reference_i32, int32_t, int64_t)

static bool is_8bit(lo_dtype t) { return t == LO_UINT8 || t == LO_INT8; }

static int32_t load8(const lo_tensor *t, int64_t i) {
    return t->dtype == LO_UINT8 ? ((const uint8_t *)t->data)[i] : ((const int8_t *)t->data)[i];
}

/* A zero point: absent (0), a scalar, or for W one per output channel. */
static lo_status check_zero_point(lo_kernel_ctx *ctx, const lo_tensor *zp, const lo_tensor *of,
                                  const char *name, int64_t per_channel) {
    if (!zp) return LO_OK;
    LO_CHECK(ctx, zp->dtype == of->dtype, "%s has type %s but its tensor has %s", name,
             lo_dtype_name(zp->dtype), lo_dtype_name(of->dtype));
    int64_t n = lo_numel(zp);
    LO_CHECK(ctx, zp->rank <= 1 && (n == 1 || (per_channel > 0 && n == per_channel)),
             "%s must be a scalar%s (has %lld elements)", name,
             per_channel > 0 ? " or 1-D with one value per output channel" : "", (long long)n);
    return LO_OK;
}

/* Integer convolution shared by ConvInteger and QLinearConv: the zero
 * points come off X and W, products accumulate exactly (int64 in the
 * reference; the fast path's wrapping 32-bit sums agree whenever no sum
 * overflows, as in ONNX Runtime), the result is int32 (N, M, out...). */

/* The reference widens X and W to int32 and runs the direct loops. */
static void integer_conv_reference(const conv_geom *g, const lo_tensor *x, int32_t xz,
                                   const lo_tensor *w, const lo_tensor *wzp, int32_t *xi,
                                   int32_t *wi, int32_t *acc) {
    int64_t nx = lo_numel(x), nw = lo_numel(w);
    for (int64_t i = 0; i < nx; i++) xi[i] = load8(x, i) - xz;
    int64_t per_m = nw / g->out_ch;
    bool wzp_per_channel = wzp && lo_numel(wzp) > 1;
    for (int64_t i = 0; i < nw; i++) {
        int32_t z = !wzp ? 0 : load8(wzp, wzp_per_channel ? i / per_m : 0);
        wi[i] = load8(w, i) - z;
    }
    conv_reference_i32(g, xi, wi, NULL, acc);
}

/* The fast path: per image and group, im2col into int16 (values are in
 * [-255, 255] once the zero point is off; padding reads the zero point,
 * i.e. 0) and a GEMM over 8x16 blocks of 32-bit accumulators. Both
 * matrices hold k in pairs, [k/2][..][2], the operand layout of x86's
 * multiply-add of int16 pairs (vpmaddwd: a0*b0 + a1*b1 exactly in int32).
 * The im2col rows are padded to 16 columns and K to even, the weights to 8
 * rows, all with zeros, so the loops have fixed trip counts. */
enum { GEMM_MB = 8, GEMM_LANES = 16, GEMM_PANEL = 64 };

static int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

/* Portable block kernel; the library is built for baseline x86-64, so
 * the clones give the loader AVX2 code where it can run. */
__attribute__((target_clones("avx2", "default"))) static void
gemm_block_pairs(const int16_t *wb, const int16_t *cb, int64_t K2, int64_t P16,
                 uint32_t sum[GEMM_MB][GEMM_LANES]) {
    for (int mm = 0; mm < GEMM_MB; mm++)
        for (int l = 0; l < GEMM_LANES; l++) sum[mm][l] = 0;
    for (int64_t kp = 0; kp < K2; kp++) {
        const int16_t *cp = cb + kp * P16 * 2;
        const int16_t *wp = wb + kp * GEMM_MB * 2;
        for (int mm = 0; mm < GEMM_MB; mm++) {
            int32_t w0 = wp[2 * mm], w1 = wp[2 * mm + 1];
#pragma omp simd
            for (int l = 0; l < GEMM_LANES; l++)
                sum[mm][l] += (uint32_t)(w0 * cp[2 * l] + w1 * cp[2 * l + 1]);
        }
    }
}

/* The same with AVX-512BW: eight accumulators stay in registers, one
 * vpmaddwd per weight pair. Wrapping 32-bit adds give the bits of the
 * portable kernel's unsigned sums. */
__attribute__((target("avx512f,avx512bw"))) static void
gemm_block_pairs_avx512(const int16_t *wb, const int16_t *cb, int64_t K2, int64_t P16,
                        uint32_t sum[GEMM_MB][GEMM_LANES]) {
    __m512i acc[GEMM_MB];
    for (int mm = 0; mm < GEMM_MB; mm++) acc[mm] = _mm512_setzero_si512();
    for (int64_t kp = 0; kp < K2; kp++) {
        __m512i c = _mm512_loadu_si512((const void *)(cb + kp * P16 * 2));
        const int16_t *wp = wb + kp * GEMM_MB * 2;
        for (int mm = 0; mm < GEMM_MB; mm++) {
            int32_t pair;
            memcpy(&pair, wp + 2 * mm, sizeof pair);
            acc[mm] = _mm512_add_epi32(acc[mm], _mm512_madd_epi16(c, _mm512_set1_epi32(pair)));
        }
    }
    for (int mm = 0; mm < GEMM_MB; mm++) _mm512_storeu_si512((void *)sum[mm], acc[mm]);
}

static bool cpu_has_avx512bw(void) {
    static int state; /* 0 unknown, 1 yes, -1 no; a benign race: all writers agree */
    if (!state) state = __builtin_cpu_supports("avx512bw") ? 1 : -1;
    return state > 0;
}

static void integer_conv_gemm(const conv_geom *g, const lo_tensor *x, int32_t xz,
                              const lo_tensor *w, const lo_tensor *wzp, int16_t *wt,
                              int16_t *col, int32_t *acc, int impl) {
    const int64_t cg = g->in_ch / g->group, mg = g->out_ch / g->group;
    const int64_t K = cg * g->kernel_size, K2 = (K + 1) / 2;
    const int64_t P = g->out_size;
    const int64_t mblocks = (mg + GEMM_MB - 1) / GEMM_MB;
    const bool wzp_per_channel = wzp && lo_numel(wzp) > 1;
    const bool avx512 = cpu_has_avx512bw() && impl != IMPL_PORTABLE;
    /* wt[group][mblock][k/2][8][2]: what one step of k-pairs needs, together. */
    for (int64_t grp = 0; grp < g->group; grp++)
        for (int64_t mb = 0; mb < mblocks; mb++)
            for (int64_t k = 0; k < 2 * K2; k++)
                for (int64_t mm = 0; mm < GEMM_MB; mm++) {
                    int64_t m = mb * GEMM_MB + mm, om = grp * mg + m;
                    int16_t v = 0;
                    if (m < mg && k < K) {
                        int32_t z = !wzp ? 0 : load8(wzp, wzp_per_channel ? om : 0);
                        v = (int16_t)(load8(w, om * K + k) - z);
                    }
                    wt[(((grp * mblocks + mb) * K2 + k / 2) * GEMM_MB + mm) * 2 + k % 2] = v;
                }
    /* One parallel loop over (image, group, 64-column panel): each thread
     * builds its panel of the im2col matrix in its own slice of col (73 KiB
     * for a 3x3x64 layer, cache-resident) and multiplies it right away, so
     * there is no barrier between the two steps. */
    const int64_t chunks = (P + GEMM_PANEL - 1) / GEMM_PANEL;
    const int64_t panel = K2 * GEMM_PANEL * 2;
    double work = (double)g->batch * (double)g->out_ch * (double)P * (double)K;
#pragma omp parallel for collapse(3) schedule(static) if (work > 200000)
    for (int64_t n = 0; n < g->batch; n++)
        for (int64_t grp = 0; grp < g->group; grp++)
            for (int64_t ch = 0; ch < chunks; ch++) {
                int16_t *cp = col + omp_get_thread_num() * panel;
                const int64_t p0 = ch * GEMM_PANEL;
                const int64_t pw = P - p0 < GEMM_PANEL ? P - p0 : GEMM_PANEL;
                const int64_t xbase = (n * g->in_ch + grp * cg) * g->in_size;
                for (int64_t r = 0; r < 2 * K2; r++) {
                    /* Row r of the panel lands at [r/2][column][r%2]. */
                    int16_t *row = cp + (r / 2) * GEMM_PANEL * 2 + r % 2;
                    int64_t i = 0;
                    if (r < K) {
                        int64_t c = r / g->kernel_size, k[MAX_SPATIAL], o[MAX_SPATIAL];
                        unflatten(r % g->kernel_size, g->nsp, g->kernel, k);
                        unflatten(p0, g->nsp, g->out, o);
                        const int64_t base = xbase + c * g->in_size;
                        if (g->nsp == 2) {
                            /* The common case without a per-element tap search. */
                            const int64_t W = g->in[1], OW = g->out[1];
                            int64_t oh = o[0], ow = o[1];
                            int64_t ih = oh * g->stride[0] - g->pad_begin[0] + k[0] * g->dilation[0];
                            bool row_in = ih >= 0 && ih < g->in[0];
                            for (; i < pw; i++) {
                                int64_t iw = ow * g->stride[1] - g->pad_begin[1] + k[1] * g->dilation[1];
                                row[2 * i] = !row_in || iw < 0 || iw >= W
                                                 ? 0
                                                 : (int16_t)(load8(x, base + ih * W + iw) - xz);
                                if (++ow == OW) {
                                    ow = 0;
                                    oh++;
                                    ih = oh * g->stride[0] - g->pad_begin[0] + k[0] * g->dilation[0];
                                    row_in = ih >= 0 && ih < g->in[0];
                                }
                            }
                        } else {
                            for (; i < pw; i++) {
                                int64_t off = conv_tap(g, o, k);
                                row[2 * i] = off < 0 ? 0 : (int16_t)(load8(x, base + off) - xz);
                                int d = g->nsp - 1;
                                while (d >= 0 && ++o[d] == g->out[d]) o[d--] = 0;
                            }
                        }
                    }
                    for (; i < GEMM_PANEL; i++) row[2 * i] = 0;
                }
                int32_t *yg = acc + (n * g->out_ch + grp * mg) * P;
                for (int64_t mb = 0; mb < mblocks; mb++) {
                    const int16_t *wb = wt + (grp * mblocks + mb) * K2 * GEMM_MB * 2;
                    for (int64_t lb = 0; lb * GEMM_LANES < pw; lb++) {
                        uint32_t sum[GEMM_MB][GEMM_LANES];
                        const int16_t *cb = cp + lb * GEMM_LANES * 2;
                        if (avx512)
                            gemm_block_pairs_avx512(wb, cb, K2, GEMM_PANEL, sum);
                        else
                            gemm_block_pairs(wb, cb, K2, GEMM_PANEL, sum);
                        int64_t m0 = mb * GEMM_MB, q0 = p0 + lb * GEMM_LANES;
                        for (int mm = 0; mm < GEMM_MB && m0 + mm < mg; mm++)
                            for (int l = 0; l < GEMM_LANES && q0 + l < P; l++)
                                yg[(m0 + mm) * P + q0 + l] = (int32_t)sum[mm][l];
                    }
                }
            }
}

/* The scratch the chosen path needs, as two blocks. */
static void integer_conv_scratch(const conv_geom *g, const lo_tensor *x, const lo_tensor *w,
                                 size_t *sizes, int impl) {
    if (impl == IMPL_REFERENCE) {
        sizes[0] = (size_t)lo_numel(x) * sizeof(int32_t);
        sizes[1] = (size_t)lo_numel(w) * sizeof(int32_t);
    } else {
        int64_t mg = g->out_ch / g->group, K = g->in_ch / g->group * g->kernel_size;
        sizes[0] = (size_t)(g->group * round_up(mg, GEMM_MB) * round_up(K, 2)) * sizeof(int16_t);
        sizes[1] = (size_t)(round_up(K, 2) * GEMM_PANEL * omp_get_max_threads()) * sizeof(int16_t);
    }
}

static void integer_conv(const conv_geom *g, const lo_tensor *x, const lo_tensor *xzp,
                         const lo_tensor *w, const lo_tensor *wzp, void *buf0, void *buf1,
                         int32_t *acc, int impl) {
    int32_t xz = xzp ? load8(xzp, 0) : 0;
    if (impl == IMPL_REFERENCE)
        integer_conv_reference(g, x, xz, w, wzp, buf0, buf1, acc);
    else
        integer_conv_gemm(g, x, xz, w, wzp, buf0, buf1, acc, impl);
}

static lo_status conv_integer_run(lo_kernel_ctx *ctx) {
    conv_params *p = (conv_params *)ctx->params;
    LO_CHECK(ctx, ctx->n_in >= 2 && ctx->in[0] && ctx->in[1], "x and w are required");
    const lo_tensor *x = ctx->in[0], *w = ctx->in[1];
    const lo_tensor *xzp = ctx->n_in > 2 ? ctx->in[2] : NULL;
    const lo_tensor *wzp = ctx->n_in > 3 ? ctx->in[3] : NULL;
    LO_CHECK(ctx, is_8bit(x->dtype) && is_8bit(w->dtype), "x and w must be int8 or uint8, not %s/%s",
             lo_dtype_name(x->dtype), lo_dtype_name(w->dtype));
    conv_geom g;
    LO_TRY(conv_geometry(ctx, &p->a, x, w, &g));
    LO_TRY(check_zero_point(ctx, xzp, x, "x_zero_point", 0));
    LO_TRY(check_zero_point(ctx, wzp, w, "w_zero_point", g.out_ch));
    int64_t dims[LO_MAX_RANK];
    out_dims(&g, dims);
    if (!output_wanted(ctx, 0)) return LO_OK;
    LO_TRY(lo_output(ctx, 0, LO_INT32, x->rank, dims));
    if (lo_numel(ctx->out[0]) == 0) return LO_OK;
    scratch s = {0};
    size_t sizes[2];
    void *bufs[2];
    integer_conv_scratch(&g, x, w, sizes, conv_impl_choice(ctx));
    if (!scratch_carve(ctx, &s, 2, sizes, bufs))
        return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory for integer convolution scratch");
    integer_conv(&g, x, xzp, w, wzp, bufs[0], bufs[1], ctx->out[0]->data, conv_impl_choice(ctx));
    scratch_release(&s);
    return LO_OK;
}

static lo_status scale_check(lo_kernel_ctx *ctx, const lo_tensor *t, const char *name,
                             int64_t per_channel) {
    LO_CHECK(ctx, t, "%s is required", name);
    LO_CHECK(ctx, t->dtype == LO_FLOAT, "%s must be float32, not %s", name, lo_dtype_name(t->dtype));
    int64_t n = lo_numel(t);
    LO_CHECK(ctx, t->rank <= 1 && (n == 1 || (per_channel > 0 && n == per_channel)),
             "%s must be a scalar%s (has %lld elements)", name,
             per_channel > 0 ? " or 1-D with one value per output channel" : "", (long long)n);
    return LO_OK;
}

static lo_status qlinear_conv_run(lo_kernel_ctx *ctx) {
    conv_params *p = (conv_params *)ctx->params;
    const lo_tensor *in[9] = {0};
    for (int i = 0; i < 9 && i < ctx->n_in; i++) in[i] = ctx->in[i];
    const lo_tensor *x = in[0], *xs = in[1], *xzp = in[2], *w = in[3], *ws = in[4], *wzp = in[5],
                    *ys = in[6], *yzp = in[7], *b = in[8];
    LO_CHECK(ctx, x && w, "x and w are required");
    LO_CHECK(ctx, is_8bit(x->dtype) && is_8bit(w->dtype), "x and w must be int8 or uint8, not %s/%s",
             lo_dtype_name(x->dtype), lo_dtype_name(w->dtype));
    conv_geom g;
    LO_TRY(conv_geometry(ctx, &p->a, x, w, &g));
    LO_TRY(scale_check(ctx, xs, "x_scale", 0));
    LO_TRY(scale_check(ctx, ws, "w_scale", g.out_ch));
    LO_TRY(scale_check(ctx, ys, "y_scale", 0));
    LO_TRY(check_zero_point(ctx, xzp, x, "x_zero_point", 0));
    LO_TRY(check_zero_point(ctx, wzp, w, "w_zero_point", g.out_ch));
    lo_dtype ytype = yzp ? yzp->dtype : x->dtype;
    LO_CHECK(ctx, is_8bit(ytype), "y_zero_point must be int8 or uint8, not %s",
             lo_dtype_name(ytype));
    if (yzp) LO_CHECK(ctx, lo_numel(yzp) == 1, "y_zero_point must be a scalar");
    if (b) {
        LO_CHECK(ctx, b->dtype == LO_INT32, "B must be int32, not %s", lo_dtype_name(b->dtype));
        LO_CHECK(ctx, b->rank == 1 && b->dims[0] == g.out_ch,
                 "B must be 1-D with one value per output channel");
    }
    int64_t dims[LO_MAX_RANK];
    out_dims(&g, dims);
    if (!output_wanted(ctx, 0)) return LO_OK;
    LO_TRY(lo_output(ctx, 0, ytype, x->rank, dims));
    lo_tensor *y = ctx->out[0];
    int64_t total = lo_numel(y);
    if (total == 0) return LO_OK;
    scratch s = {0};
    size_t sizes[3] = {(size_t)total * sizeof(int32_t)};
    void *bufs[3];
    integer_conv_scratch(&g, x, w, sizes + 1, conv_impl_choice(ctx));
    if (!scratch_carve(ctx, &s, 3, sizes, bufs))
        return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory for the accumulators");
    int32_t *acc = bufs[0];
    integer_conv(&g, x, xzp, w, wzp, bufs[1], bufs[2], acc, conv_impl_choice(ctx));
    const float xscale = ((const float *)xs->data)[0], yscale = ((const float *)ys->data)[0];
    const float *wscale = ws->data;
    bool ws_per_channel = lo_numel(ws) > 1;
    int32_t yz = yzp ? load8(yzp, 0) : 0;
    float lo_q = ytype == LO_UINT8 ? 0.f : -128.f, hi_q = ytype == LO_UINT8 ? 255.f : 127.f;
    const int32_t *bias = b ? b->data : NULL;
    /* Requantization as ONNX Runtime does it: a float multiplier, the product
     * rounded half to even, then the zero point added and saturated. */
    for (int64_t i = 0; i < total; i++) {
        int64_t m = (i / g.out_size) % g.out_ch;
        float mult = xscale * wscale[ws_per_channel ? m : 0] / yscale;
        int32_t a = (int32_t)((uint32_t)acc[i] + (uint32_t)(bias ? bias[m] : 0));
        float v = nearbyintf((float)a * mult) + (float)yz;
        if (v != v) v = (float)yz; /* 0 * inf from absurd scales; the cast below needs a number */
        v = v < lo_q ? lo_q : v > hi_q ? hi_q : v;
        if (ytype == LO_UINT8)
            ((uint8_t *)y->data)[i] = (uint8_t)v;
        else
            ((int8_t *)y->data)[i] = (int8_t)v;
    }
    scratch_release(&s);
    return LO_OK;
}

/* ---- DeformConv --------------------------------------------------------- */

/* Bilinear sample of one plane at (h, w) with zeros outside, the way
 * GridSample with align_corners=1 and zero padding reads pixel positions. */
static double bilinear_zero(const float *plane, int64_t height, int64_t width, double h, double w) {
    if (!(h > -1.0 && h < (double)height && w > -1.0 && w < (double)width)) return 0.0;
    double h0 = floor(h), w0 = floor(w);
    double lh = h - h0, lw = w - w0;
    int64_t ih = (int64_t)h0, iw = (int64_t)w0;
    double v = 0.0;
    for (int dy = 0; dy < 2; dy++)
        for (int dx = 0; dx < 2; dx++) {
            int64_t yy = ih + dy, xx = iw + dx;
            if (yy < 0 || yy >= height || xx < 0 || xx >= width) continue;
            double wt = (dy ? lh : 1.0 - lh) * (dx ? lw : 1.0 - lw);
            v += wt * plane[yy * width + xx];
        }
    return v;
}

static lo_status deform_conv_run(lo_kernel_ctx *ctx) {
    conv_params *p = (conv_params *)ctx->params;
    LO_CHECK(ctx, ctx->n_in >= 3 && ctx->in[0] && ctx->in[1] && ctx->in[2],
             "X, W and offset are required");
    const lo_tensor *x = ctx->in[0], *w = ctx->in[1], *offset = ctx->in[2];
    const lo_tensor *b = ctx->n_in > 3 ? ctx->in[3] : NULL;
    const lo_tensor *mask = ctx->n_in > 4 ? ctx->in[4] : NULL;
    LO_CHECK(ctx, x->rank == 4, "only 2-D DeformConv is supported (X has rank %d)", x->rank);
    LO_CHECK(ctx, x->dtype == LO_FLOAT, "DeformConv runs on float32 only, not %s",
             lo_dtype_name(x->dtype));
    conv_geom g;
    LO_TRY(conv_geometry(ctx, &p->a, x, w, &g));
    LO_TRY(check_float_inputs(ctx, x, w, b, g.out_ch));
    int64_t og = p->a.offset_group, K = g.kernel_size;
    LO_CHECK(ctx, g.in_ch % og == 0, "%lld channels do not split into %lld offset groups",
             (long long)g.in_ch, (long long)og);
    LO_CHECK(ctx,
             offset->dtype == LO_FLOAT && offset->rank == 4 && offset->dims[0] == g.batch &&
                 offset->dims[1] == og * 2 * K && offset->dims[2] == g.out[0] &&
                 offset->dims[3] == g.out[1],
             "offset must be float32 (%lld, %lld, %lld, %lld)", (long long)g.batch,
             (long long)(og * 2 * K), (long long)g.out[0], (long long)g.out[1]);
    if (mask)
        LO_CHECK(ctx,
                 mask->dtype == LO_FLOAT && mask->rank == 4 && mask->dims[0] == g.batch &&
                     mask->dims[1] == og * K && mask->dims[2] == g.out[0] &&
                     mask->dims[3] == g.out[1],
                 "mask must be float32 (%lld, %lld, %lld, %lld)", (long long)g.batch,
                 (long long)(og * K), (long long)g.out[0], (long long)g.out[1]);
    int64_t dims[LO_MAX_RANK];
    out_dims(&g, dims);
    if (!output_wanted(ctx, 0)) return LO_OK;
    LO_TRY(lo_output(ctx, 0, LO_FLOAT, 4, dims));
    const float *xd = x->data, *wd = w->data, *od = offset->data;
    const float *md = mask ? mask->data : NULL, *bd = b ? b->data : NULL;
    float *yd = ctx->out[0]->data;
    int64_t cg = g.in_ch / g.group, mg = g.out_ch / g.group, cog = g.in_ch / og;
    int64_t H = g.in[0], W = g.in[1], OH = g.out[0], OW = g.out[1], KW = g.kernel[1];
    int64_t planes = g.batch * g.out_ch;
    double work = (double)planes * (double)g.out_size * (double)(cg * K) * 8;
#pragma omp parallel for schedule(dynamic) if (work > 100000)
    for (int64_t pm = 0; pm < planes; pm++) {
        int64_t n = pm / g.out_ch, m = pm % g.out_ch, grp = m / mg;
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                double acc = bd ? bd[m] : 0.0;
                for (int64_t c = 0; c < cg; c++) {
                    int64_t ci = grp * cg + c, ogi = ci / cog;
                    const float *plane = xd + (n * g.in_ch + ci) * H * W;
                    for (int64_t kp = 0; kp < K; kp++) {
                        int64_t kh = kp / KW, kw = kp % KW;
                        int64_t oc = ((n * og + ogi) * K + kp) * 2;
                        double dh = od[(oc * OH + oh) * OW + ow];
                        double dw = od[((oc + 1) * OH + oh) * OW + ow];
                        double hh = (double)(oh * g.stride[0] - g.pad_begin[0] + kh * g.dilation[0]) + dh;
                        double ww = (double)(ow * g.stride[1] - g.pad_begin[1] + kw * g.dilation[1]) + dw;
                        double v = bilinear_zero(plane, H, W, hh, ww);
                        if (md) v *= md[(((n * og + ogi) * K + kp) * OH + oh) * OW + ow];
                        acc += v * wd[(m * cg + c) * K + kp];
                    }
                }
                yd[(pm * OH + oh) * OW + ow] = (float)acc;
            }
    }
    return LO_OK;
}

const lo_op_def lo_ops_conv[] = {
    {"", "Conv", 1, LO_OPSET_MAX, conv_prepare, conv_run, conv_params_free, LO_OP_FAST},
    {"", "ConvTranspose", 1, LO_OPSET_MAX, conv_prepare, conv_transpose_run, conv_params_free, LO_OP_FAST},
    {"", "ConvInteger", 10, LO_OPSET_MAX, conv_prepare, conv_integer_run, conv_params_free, LO_OP_FAST},
    {"", "QLinearConv", 10, LO_OPSET_MAX, conv_prepare, qlinear_conv_run, conv_params_free, LO_OP_FAST},
    {"", "DeformConv", 19, LO_OPSET_MAX, conv_prepare, deform_conv_run, conv_params_free, 0},
    {0},
};
