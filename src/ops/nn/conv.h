/* What the convolution kernels share: attributes, the resolved geometry,
 * the kernel choice, the per-node parameters (with the oneDNN primitive
 * cache), scratch carving and the direct reference loop. conv.c has Conv and
 * ConvTranspose and the shared functions, conv_integer.c ConvInteger and
 * QLinearConv, deform_conv.c DeformConv. */
#ifndef LO_OPS_NN_CONV_H
#define LO_OPS_NN_CONV_H

#include <dnnl.h>
#include <stdlib.h>

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

static inline int conv_impl_choice(const lo_kernel_ctx *ctx) { return (int)ctx->kernels; }

typedef struct conv_params {
    conv_attrs a;
    dnnl_cache dnnl;
    /* The float weights (an initializer only this node reads) were freed
     * once oneDNN held them reordered (lo_conv_take_weights): W then comes
     * with no data. plain is their copy made back from the reordered ones
     * when something needs them plain again (another shape, the reference
     * loops); NULL until then. */
    bool released;
    float *plain;
    bool no_blk; /* oneDNN refused this node a blocked output: it writes NCHW */
} conv_params;

/* Whether node's kernel holds its float32 weights w_data reordered for
 * oneDNN, so the initializer's own bytes are needed no more; if so it
 * takes note and the caller frees them (the node's W then has no data). */
bool lo_conv_take_weights(lo_node *node, const void *w_data);

/* lo_scratch hands out one block per kernel call (a second call may move
 * it), so a kernel asks once for the sum of its buffers and carves that.
 * Without a session to serve it (unit tests), a heap block is used and freed
 * when the kernel returns. */
typedef struct scratch {
    void *heap;
} scratch;

/* Parses the attributes (prepare of every convolution op). */
lo_status lo_conv_prepare(const lo_node *node, void **params, lo_error *err);
void lo_conv_params_free(void *p);
/* The geometry of a (non-transposed) convolution of x by w. */
lo_status lo_conv_geometry(lo_kernel_ctx *ctx, const conv_attrs *a, const lo_tensor *x, const lo_tensor *w,
                           conv_geom *g);
void lo_conv_out_dims(const conv_geom *g, int64_t *dims);
lo_status lo_conv_check_float_inputs(lo_kernel_ctx *ctx, const lo_tensor *x, const lo_tensor *w,
                                     const lo_tensor *b, int64_t out_ch);
/* Carves n buffers of the given sizes from one scratch block; false when
 * out of memory. */
bool lo_conv_scratch_carve(lo_kernel_ctx *ctx, scratch *s, int n, const size_t *sizes, void **bufs);
void lo_conv_scratch_release(scratch *s);

/* The executor leaves an omitted output NULL (lo_output then does
 * nothing): a kernel whose only output nobody reads has nothing to do. */
static inline bool output_wanted(const lo_kernel_ctx *ctx, int i) { return i < ctx->n_out && ctx->out[i]; }

/* Decodes a flat index over `dims` into coordinates (C order). */
static inline void unflatten(int64_t flat, int n, const int64_t *dims, int64_t *coord) {
    for (int d = n - 1; d >= 0; d--) {
        coord[d] = flat % dims[d];
        flat /= dims[d];
    }
}

/* The input offset (within one channel plane) that kernel tap k reads for
 * output position o of a convolution, or -1 when it falls in the padding. */
static inline int64_t conv_tap(const conv_geom *g, const int64_t *o, const int64_t *k) {
    int64_t off = 0;
    for (int d = 0; d < g->nsp; d++) {
        int64_t i = o[d] * g->stride[d] - g->pad_begin[d] + k[d] * g->dilation[d];
        if (i < 0 || i >= g->in[d]) return -1;
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

#endif
