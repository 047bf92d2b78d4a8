/* DeformConv: one reference path. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <immintrin.h>
#include <omp.h>

#include "conv.h"

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
    LO_TRY(lo_conv_geometry(ctx, &p->a, x, w, &g));
    LO_TRY(lo_conv_check_float_inputs(ctx, x, w, b, g.out_ch));
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
    lo_conv_out_dims(&g, dims);
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

const lo_op_def lo_ops_deform_conv[] = {
    {"", "DeformConv", 19, LO_OPSET_MAX, lo_conv_prepare, deform_conv_run, lo_conv_params_free, 0},
    {0},
};
