/* GridSample. */
#include <ctype.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../helpers.h"

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

const lo_op_def lo_ops_tensor_grid_sample[] = {
    {"", "GridSample", 16, LO_OPSET_MAX, gs_prepare, gs_run, NULL, 0},
    {0},
};
