/* float32 transcendental functions in plain arithmetic, without libm calls,
 * so loops over them vectorize (glibc's vector expf/erff are only declared
 * under -ffast-math). Used by the fast paths; the references keep libm. */
#ifndef LO_OPS_MATH_FAST_MATH_H
#define LO_OPS_MATH_FAST_MATH_H

#include <math.h>
#include <stdint.h>

/* The fast paths' loops are compiled for AVX-512, for AVX with FMA, and
 * for the baseline; the loader picks one at start-up. Their polynomials
 * use fused multiply-adds (LO_FMAF): one rounding, so every version gives
 * the same bits, and half the instructions where the processor has FMA
 * (the baseline version calls libm's fmaf, slower, not different). */
#define LO_VECTOR_CLONES __attribute__((target_clones("avx512f", "fma", "default")))
#define LO_FMAF(a, b, c) __builtin_fmaf((a), (b), (c))

/* e^x for x in [-87, 88]: Cody-Waite reduction by ln 2 and a degree-6
 * polynomial on [-ln2/2, ln2/2] (Cephes' coefficients), within 2 ulp. The
 * integer k comes out of the rounding constant's low mantissa bits, which
 * shifted into the exponent field give 2^k. */
__attribute__((always_inline)) static inline float exp_core_f32(float x) {
    float k_bits = LO_FMAF(x, 1.44269504088896341f, 12582912.0f); /* 1.5 * 2^23 + round(x / ln 2) */
    float k = k_bits - 12582912.0f;
    float r = LO_FMAF(k, -0.693359375f, x);
    r = LO_FMAF(k, 2.12194440e-4f, r);
    float poly = 1.9875691500e-4f;
    poly = LO_FMAF(poly, r, 1.3981999507e-3f);
    poly = LO_FMAF(poly, r, 8.3334519073e-3f);
    poly = LO_FMAF(poly, r, 4.1665795894e-2f);
    poly = LO_FMAF(poly, r, 1.6666665459e-1f);
    poly = LO_FMAF(poly, r, 5.0000001201e-1f);
    float y = LO_FMAF(poly, r * r, r) + 1.0f;
    union {
        float f;
        uint32_t u;
    } scale = {k_bits};
    scale.u = (scale.u + 127u) << 23; /* k in [-126, 127]: the bits above shift out */
    return y * scale.f;
}

/* e^x in float32 without a libm call, so loops over it vectorize. NaN and
 * out-of-range inputs are resolved by selects. */
__attribute__((always_inline)) static inline float exp_fast_f32(float x) {
    float xc = x > -87.0f ? x : -87.0f;
    xc = xc < 88.0f ? xc : 88.0f;
    float v = exp_core_f32(xc);
    v = x < -87.0f ? 0.0f : v;
    v = x > 88.0f ? INFINITY : v;
    return x != x ? x : v;
}

/* The logistic function 1 / (1 + e^-x) from e^-|x| (at most 1: no overflow
 * on either side); 0 below -87. */
__attribute__((always_inline)) static inline float sigmoid_fast_f32(float x) {
    float t = -fabsf(x);
    float e = exp_core_f32(t > -87.0f ? t : -87.0f);
    e = t < -87.0f ? 0.0f : e;
    float s = 1.0f / (1.0f + e);
    float v = x >= 0 ? s : e * s;
    return x != x ? x : v;
}

/* erf(x): below |x| = 0.5 its Taylor series to x^13 (truncation under
 * 5e-10); above, 1 - erfc with erfc(z) = t exp(-z^2 + P(t)), t = 1/(1 + z/2)
 * (the Chebyshev fit of Numerical Recipes, relative error under 1.2e-7).
 * Both are computed and one selected, so the loop stays branch-free. */
__attribute__((always_inline)) static inline float erf_fast_f32(float x) {
    float z = x < 0 ? -x : x;
    float x2 = x * x;
    float s = 1.0f / 9360.0f;
    s = LO_FMAF(s, x2, -1.0f / 1320.0f);
    s = LO_FMAF(s, x2, 1.0f / 216.0f);
    s = LO_FMAF(s, x2, -1.0f / 42.0f);
    s = LO_FMAF(s, x2, 1.0f / 10.0f);
    s = LO_FMAF(s, x2, -1.0f / 3.0f);
    s = LO_FMAF(s, x2, 1.0f);
    float small = 1.12837916709551257f * x * s;
    float t = 1.0f / (1.0f + 0.5f * z);
    float p = 0.17087277f;
    p = LO_FMAF(p, t, -0.82215223f);
    p = LO_FMAF(p, t, 1.48851587f);
    p = LO_FMAF(p, t, -1.13520398f);
    p = LO_FMAF(p, t, 0.27886807f);
    p = LO_FMAF(p, t, -0.18628806f);
    p = LO_FMAF(p, t, 0.09678418f);
    p = LO_FMAF(p, t, 0.37409196f);
    p = LO_FMAF(p, t, 1.00002368f);
    p = LO_FMAF(p, t, -1.26551223f);
    float zc = z < 10.0f ? z : 10.0f; /* erfc(10) is 2e-45: keeps exp in range */
    float erfc = t * exp_fast_f32(-zc * zc + p);
    float big = 1.0f - erfc;
    big = x < 0 ? -big : big;
    return x != x ? x : z < 0.5f ? small : big;
}

#endif
