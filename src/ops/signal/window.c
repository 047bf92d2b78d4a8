/* HannWindow, HammingWindow, BlackmanWindow, MelWeightMatrix. */
#include <ctype.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../helpers.h"

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

const lo_op_def lo_ops_signal_window[] = {
    {"", "HannWindow", 17, LO_OPSET_MAX, NULL, hann_run, NULL, 0},
    {"", "HammingWindow", 17, LO_OPSET_MAX, NULL, hamming_run, NULL, 0},
    {"", "BlackmanWindow", 17, LO_OPSET_MAX, NULL, blackman_run, NULL, 0},
    {"", "MelWeightMatrix", 17, LO_OPSET_MAX, NULL, mel_run, NULL, 0},
    {0},
};
