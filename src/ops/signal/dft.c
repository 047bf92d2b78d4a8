/* DFT and STFT, through FFTW. */
#include <ctype.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fftw3.h>
#include <pthread.h>

#include "../helpers.h"

/* ---- DFT and STFT --------------------------------------------------------------------- */

/* A plain O(n^2) DFT of n complex values (in[k*stride]), writing m bins:
 * the fallback when FFTW cannot be given memory. */
static void dft_direct(const double *re, const double *im, int64_t n, int64_t m, int64_t len, bool inverse,
                       double *ore, double *oim) {
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

/* FFTW's planner is not thread-safe (executing a plan is): sessions on other
 * threads may plan at the same time. */
static pthread_mutex_t fftw_planner = PTHREAD_MUTEX_INITIALIZER;

/* The same transform through FFTW, O(len log len) in double: the n inputs
 * zero-padded to len points, the first m bins kept. */
static void dft_1d(const double *re, const double *im, int64_t n, int64_t m, int64_t len, bool inverse, double *ore,
                   double *oim) {
    fftw_complex *io = len <= INT32_MAX ? fftw_alloc_complex((size_t)len) : NULL;
    fftw_plan plan = NULL;
    if (io) {
        pthread_mutex_lock(&fftw_planner);
        plan = fftw_plan_dft_1d((int)len, io, io, inverse ? FFTW_BACKWARD : FFTW_FORWARD, FFTW_ESTIMATE);
        pthread_mutex_unlock(&fftw_planner);
    }
    if (!plan) {
        if (io) fftw_free(io);
        dft_direct(re, im, n, m, len, inverse, ore, oim);
        return;
    }
    for (int64_t t = 0; t < len; t++) {
        io[t][0] = t < n ? re[t] : 0;
        io[t][1] = t < n ? im[t] : 0;
    }
    fftw_execute(plan);
    for (int64_t k = 0; k < m; k++) {
        ore[k] = inverse ? io[k][0] / (double)len : io[k][0];
        oim[k] = inverse ? io[k][1] / (double)len : io[k][1];
    }
    pthread_mutex_lock(&fftw_planner);
    fftw_destroy_plan(plan);
    pthread_mutex_unlock(&fftw_planner);
    fftw_free(io);
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
    int64_t step = 0; /* LO_TRY returns when scalar_i64 does not set it; GCC cannot tell */
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

const lo_op_def lo_ops_signal_dft[] = {
    {"", "DFT", 17, LO_OPSET_MAX, NULL, dft_run, NULL, 0},
    {"", "STFT", 17, LO_OPSET_MAX, NULL, stft_run, NULL, 0},
    {0},
};
