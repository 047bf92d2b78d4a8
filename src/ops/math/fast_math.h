/* float32 transcendental functions in plain arithmetic, without libm calls,
 * so loops over them vectorize (glibc's vector expf/erff are only declared
 * under -ffast-math). Used by the fast paths; the references keep libm. */
#ifndef LO_OPS_MATH_FAST_MATH_H
#define LO_OPS_MATH_FAST_MATH_H

#include <math.h>
#include <stdint.h>

/* e^x in float32 without a libm call, so loops over it vectorize: Cody-Waite
 * reduction by ln 2 and a degree-6 polynomial on [-ln2/2, ln2/2] (Cephes'
 * coefficients), within 2 ulp. NaN and out-of-range inputs are resolved by
 * selects, keeping the float-to-int conversion in range. */
__attribute__((always_inline)) static inline float exp_fast_f32(float x) {
    float xc = x > -87.0f ? x : -87.0f;
    xc = xc < 88.0f ? xc : 88.0f;
    float k = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round to integer */
    float r = xc - k * 0.693359375f;
    r = r - k * -2.12194440e-4f;
    float poly = 1.9875691500e-4f;
    poly = poly * r + 1.3981999507e-3f;
    poly = poly * r + 8.3334519073e-3f;
    poly = poly * r + 4.1665795894e-2f;
    poly = poly * r + 1.6666665459e-1f;
    poly = poly * r + 5.0000001201e-1f;
    float y = poly * r * r + r + 1.0f;
    union {
        uint32_t u;
        float f;
    } scale = {(uint32_t)((int32_t)k + 127) << 23};
    float v = y * scale.f;
    v = x < -87.0f ? 0.0f : v;
    v = x > 88.0f ? INFINITY : v;
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
    s = s * x2 - 1.0f / 1320.0f;
    s = s * x2 + 1.0f / 216.0f;
    s = s * x2 - 1.0f / 42.0f;
    s = s * x2 + 1.0f / 10.0f;
    s = s * x2 - 1.0f / 3.0f;
    s = s * x2 + 1.0f;
    float small = 1.12837916709551257f * x * s;
    float t = 1.0f / (1.0f + 0.5f * z);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t - 1.26551223f;
    float zc = z < 10.0f ? z : 10.0f; /* erfc(10) is 2e-45: keeps exp in range */
    float erfc = t * exp_fast_f32(-zc * zc + p);
    float big = 1.0f - erfc;
    big = x < 0 ? -big : big;
    return x != x ? x : z < 0.5f ? small : big;
}

#endif
