/* ConvInteger and QLinearConv: 8-bit convolutions accumulated in int32, by
 * an int16-pair GEMM (AVX-512 where the CPU has it) or the reference loops. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <immintrin.h>
#include <omp.h>

#include "conv.h"

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
    LO_TRY(lo_conv_geometry(ctx, &p->a, x, w, &g));
    LO_TRY(check_zero_point(ctx, xzp, x, "x_zero_point", 0));
    LO_TRY(check_zero_point(ctx, wzp, w, "w_zero_point", g.out_ch));
    int64_t dims[LO_MAX_RANK];
    lo_conv_out_dims(&g, dims);
    if (!output_wanted(ctx, 0)) return LO_OK;
    LO_TRY(lo_output(ctx, 0, LO_INT32, x->rank, dims));
    if (lo_numel(ctx->out[0]) == 0) return LO_OK;
    scratch s = {0};
    size_t sizes[2];
    void *bufs[2];
    integer_conv_scratch(&g, x, w, sizes, conv_impl_choice(ctx));
    if (!lo_conv_scratch_carve(ctx, &s, 2, sizes, bufs))
        return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory for integer convolution scratch");
    integer_conv(&g, x, xzp, w, wzp, bufs[0], bufs[1], ctx->out[0]->data, conv_impl_choice(ctx));
    lo_conv_scratch_release(&s);
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
    LO_TRY(lo_conv_geometry(ctx, &p->a, x, w, &g));
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
    lo_conv_out_dims(&g, dims);
    if (!output_wanted(ctx, 0)) return LO_OK;
    LO_TRY(lo_output(ctx, 0, ytype, x->rank, dims));
    lo_tensor *y = ctx->out[0];
    int64_t total = lo_numel(y);
    if (total == 0) return LO_OK;
    scratch s = {0};
    size_t sizes[3] = {(size_t)total * sizeof(int32_t)};
    void *bufs[3];
    integer_conv_scratch(&g, x, w, sizes + 1, conv_impl_choice(ctx));
    if (!lo_conv_scratch_carve(ctx, &s, 3, sizes, bufs))
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
    lo_conv_scratch_release(&s);
    return LO_OK;
}

const lo_op_def lo_ops_conv_integer[] = {
    {"", "ConvInteger", 10, LO_OPSET_MAX, lo_conv_prepare, conv_integer_run, lo_conv_params_free, LO_OP_FAST},
    {"", "QLinearConv", 10, LO_OPSET_MAX, lo_conv_prepare, qlinear_conv_run, lo_conv_params_free, LO_OP_FAST},
    {0},
};
