/* Quantize-dequantize arithmetic. Both rounding modes reproduce a reference
 * bit for bit, so their float steps are fixed here on purpose:
 *  - half-away is aimet_onnx's libpymo kernel as it runs (read from the
 *    disassembly of quantizeDequantizeCpu<float> in aimet-onnx 2.42's
 *    libaimet_onnxrt_ops.so): min and max computed in double and cast to
 *    float, x clamped to them (NaN becomes min), t = x / scale - offset in
 *    float, roundf(t), then (q + offset) * scale in float;
 *  - half-even is ONNX QuantizeLinear / torch.fake_quantize: rint(x / scale)
 *    shifted by the zero point, clamped on the integer grid, then
 *    (q + offset) * scale in float.
 * Grids wider than 16 bits (the int32 bias encodings of a 2.0.0 export,
 * 24-bit activations) cannot go through float: with an offset of -2^31,
 * x / scale - offset lands on a multiple of 256. They are computed exactly
 * instead (run_wide): the quotient in double, the grid index an int64
 * clamped on the integer grid, the value (q + offset) * scale in double,
 * rounded once to float. Both modes keep their tie rule there. */
#include <math.h>
#include <stdint.h>

#include "quant.h"

/* One grid, converted once to the float values the kernel uses. */
typedef struct grid {
    float scale, offset, qmax, lo, hi;
    bool integer_offset;
} grid;

static grid make_grid(double scale, double offset, double qmax) {
    grid g;
    g.scale = (float)scale;
    g.offset = (float)offset;
    g.qmax = (float)qmax;
    g.lo = (float)(offset * scale);
    g.hi = (float)((offset + qmax) * scale);
    g.integer_offset = offset == floor(offset);
    return g;
}

static void run_half_away(float *x, int64_t n, const grid *g) {
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        if (isnan(v)) v = g->lo;
        v = fmaxf(fminf(v, g->hi), g->lo);
        float q = roundf(v / g->scale - g->offset);
        x[i] = (q + g->offset) * g->scale;
    }
}

static void run_half_even(float *x, int64_t n, const grid *g) {
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        /* With an integer offset the shift is exact after rounding; doing it
         * before would round x / scale - offset a second time in float and
         * move ties (128.5000001 is 128.5 in float). */
        float q = g->integer_offset ? rintf(v / g->scale) - g->offset : rintf(v / g->scale - g->offset);
        if (isnan(q) || q < 0.0f) q = 0.0f;
        if (q > g->qmax) q = g->qmax;
        x[i] = (q + g->offset) * g->scale;
    }
}

/* Above 16 bits. x / scale in double is within one double ulp of the real
 * quotient, far below the half step the result must be within; the offset
 * is an integer for these grids, so shifting by it is exact, and q + offset
 * is an exact int64 (|q + offset| <= 2^32). */
static void run_wide(float *x, int64_t n, double scale, double offset, double qmax, lo_rounding r) {
    bool integer_offset = offset == floor(offset);
    for (int64_t i = 0; i < n; i++) {
        double v = x[i];
        double t = v / scale;
        double q;
        if (isnan(t)) q = 0;
        else if (!integer_offset) q = r == LO_ROUND_HALF_AWAY ? round(t - offset) : rint(t - offset);
        /* On the unsigned grid half-away is half up on the real line. */
        else q = (r == LO_ROUND_HALF_AWAY ? floor(t + 0.5) : rint(t)) - offset;
        if (!(q > 0)) q = 0; /* also -inf */
        if (q > qmax) q = qmax;
        if (integer_offset) {
            int64_t k = (int64_t)q + (int64_t)offset;
            x[i] = (float)((double)k * scale);
        } else {
            x[i] = (float)((q + offset) * scale);
        }
    }
}

/* The widest grid the float kernels reproduce bit for bit: 16 bits. */
#define FLOAT_KERNEL_QMAX 65535.0

static void run(float *x, int64_t n, const grid *g, lo_rounding r) {
    if (r == LO_ROUNDING_HALF_AWAY) run_half_away(x, n, g);
    else run_half_even(x, n, g);
}

static void run_one(float *x, int64_t n, double scale, double offset, double qmax, lo_rounding r) {
    if (qmax > FLOAT_KERNEL_QMAX) {
        run_wide(x, n, scale, offset, qmax, r);
        return;
    }
    grid g = make_grid(scale, offset, qmax);
    run(x, n, &g, r);
}

void lo_qdq_affine(float *data, int rank, const int64_t *dims, const int64_t *enc_dims,
                   const double *scale, const double *offset, double qmax, lo_rounding rounding) {
    int64_t n = lo_numel_dims(rank, dims);
    int64_t n_enc = lo_numel_dims(rank, enc_dims);
    if (n == 0) return;
    if (n_enc == 1) {
        grid g = make_grid(scale[0], offset[0], qmax);
        /* Chunks big enough that the threads are worth waking. */
        const int64_t chunk = 1 << 16;
        int64_t n_chunks = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (n_chunks > 1)
        for (int64_t c = 0; c < n_chunks; c++) {
            int64_t start = c * chunk, len = n - start < chunk ? n - start : chunk;
            if (qmax > FLOAT_KERNEL_QMAX) run_wide(data + start, len, scale[0], offset[0], qmax, rounding);
            else run(data + start, len, &g, rounding);
        }
        return;
    }
    /* Rows along the last axis: when that axis is not split, a whole row
     * shares one grid; otherwise each element of the row picks its own. */
    int64_t row = rank > 0 ? dims[rank - 1] : 1;
    int64_t rows = n / row;
    int64_t last_div = rank > 0 ? dims[rank - 1] / enc_dims[rank - 1] : 1;
    int64_t enc_last = rank > 0 ? enc_dims[rank - 1] : 1;
#pragma omp parallel for schedule(static) if (rows * row > (1 << 14))
    for (int64_t r = 0; r < rows; r++) {
        /* The encoding index of this row's first element, from its
         * multi-index over the leading axes. */
        int64_t rest = r, enc_index = 0, enc_stride = enc_last;
        for (int d = rank - 2; d >= 0; d--) {
            int64_t i = rest % dims[d];
            rest /= dims[d];
            enc_index += i / (dims[d] / enc_dims[d]) * enc_stride;
            enc_stride *= enc_dims[d];
        }
        float *x = data + r * row;
        if (enc_last == 1) {
            run_one(x, row, scale[enc_index], offset[enc_index], qmax, rounding);
        } else {
            for (int64_t j = 0; j < row; j += last_div) {
                int64_t e = enc_index + j / last_div;
                run_one(x + j, last_div, scale[e], offset[e], qmax, rounding);
            }
        }
    }
}

void lo_qdq_float16(float *data, int64_t n) {
#pragma omp parallel for schedule(static) if (n > (1 << 16))
    for (int64_t i = 0; i < n; i++) data[i] = lo_half_to_float(lo_float_to_half(data[i]));
}

void lo_qdq_bfloat16(float *data, int64_t n) {
#pragma omp parallel for schedule(static) if (n > (1 << 16))
    for (int64_t i = 0; i < n; i++) data[i] = lo_bfloat16_to_float(lo_float_to_bfloat16(data[i]));
}
