/* Grids wider than 16 bits (int32 bias encodings of a 2.0.0 export, 24-bit
 * activations): every quantize-dequantized value must be the float nearest
 * the grid point nearest x, worked out here in long double, and so within
 * half a step of x (plus the float rounding of the result) when x is in
 * range. Checked through lo_qdq_affine in both rounding modes and through
 * the encodings reader of each version, whose offsets (0.6.1 and 1.0.0: the
 * unsigned grid's, 2.0.0: y_zero_point on the signed grid) must land on the
 * same grid. The 16-bit-and-below float kernels are tested in test_quant.c. */
#include <unistd.h>

#include "quant/quant.h"
#define HARNESS_SEED 0x13b1a5u
#include "harness.h"

/* The reference: real = (q + offset) * scale with q the nearest integer to
 * x / scale - offset (ties reported, not decided), clamped to [0, qmax]. */
static float reference(float x, double scale, double offset, double qmax, bool *tie) {
    long double t = (long double)x / (long double)scale - (long double)offset;
    long double q = floorl(t + 0.5L);
    *tie = t - floorl(t) == 0.5L;
    if (q < 0) q = 0;
    if (q > qmax) q = qmax;
    return (float)((q + (long double)offset) * (long double)scale);
}

static int checks_one(const float *x, const float *got, int n, double scale, double offset, double qmax,
                      const char *what) {
    int bad = 0;
    for (int i = 0; i < n; i++) {
        bool tie;
        float want = reference(x[i], scale, offset, qmax, &tie);
        long double lo = (long double)offset * scale, hi = ((long double)offset + qmax) * scale;
        bool in_range = x[i] >= lo && x[i] <= hi;
        long double err = fabsl((long double)got[i] - x[i]);
        long double allowed = 0.5L * scale + 0.5L * (nextafterf(fabsf(got[i]), INFINITY) - fabsf(got[i]));
        if (!tie && got[i] != want) {
            if (bad++ < 5) CHECK(false, "%s: qdq(%.9g) = %.9g, want %.9g (scale %g)", what, x[i], got[i], want, scale);
        } else if (in_range && err > allowed) {
            if (bad++ < 5) CHECK(false, "%s: qdq(%.9g) = %.9g is %Lg steps off", what, x[i], got[i], err / scale);
        } else {
            checks_passed++;
        }
    }
    return bad;
}

#define N_RANDOM 4000

/* The values plus random ones over the whole range and around 0. */
static int fill(float *x, double scale, double offset, double qmax) {
    int n = 0;
    const float fixed[] = {0.11251387f, 1e-4f, -0.5f, 0.0f, 0.5f, -1e-4f, 3.0e-5f, -7.77e-6f};
    for (unsigned k = 0; k < sizeof fixed / sizeof *fixed; k++) x[n++] = fixed[k];
    double lo = offset * scale, hi = (offset + qmax) * scale;
    for (int k = 0; k < N_RANDOM / 2; k++) x[n++] = (float)rnd_uniform(lo * 1.01, hi * 1.01);
    for (int k = 0; k < N_RANDOM / 2; k++) x[n++] = (float)(rnd() * 1000 * scale);
    return n;
}

static void test_arithmetic(void) {
    static float x[N_RANDOM + 16], y[N_RANDOM + 16];
    struct {
        int bw;
        double scale, offset;
    } grids[] = {
        {32, 1.3105904e-05, -2147483648.0}, /* int32 symmetric, the scale */
        {32, 4.386667933431454e-05, -2147483648.0},
        {32, 5.698681457277921e-11, -2147483648.0},
        {32, 2.5e-10, 0.0},                  /* uint32 */
        {24, 1.3105904e-05, -8388608.0},     /* int24 symmetric */
        {24, 3.1e-7, -1234567.0},            /* asymmetric */
    };
    for (unsigned gi = 0; gi < sizeof grids / sizeof *grids; gi++) {
        double qmax = ldexp(1.0, grids[gi].bw) - 1;
        int n = fill(x, grids[gi].scale, grids[gi].offset, qmax);
        int64_t dims[1] = {n}, enc[1] = {1};
        for (int mode = 0; mode < 2; mode++) {
            memcpy(y, x, (size_t)n * sizeof(float));
            lo_qdq_affine(y, 1, dims, enc, &grids[gi].scale, &grids[gi].offset, qmax,
                          mode ? LO_ROUND_HALF_AWAY : LO_ROUND_HALF_EVEN);
            char what[96];
            snprintf(what, sizeof what, "%d-bit scale %g offset %g %s", grids[gi].bw, grids[gi].scale,
                     grids[gi].offset, mode ? "half-away" : "half-even");
            checks_one(x, y, n, grids[gi].scale, grids[gi].offset, qmax, what);
        }
    }
    /* The numbers, spelled out: 0.11251387 -> 0.11251419, 1e-4 stays
     * 1e-4 to within half a step, -0.5 -> the grid point nearest -0.5. */
    float v[3] = {0.11251387f, 1e-4f, -0.5f};
    int64_t d3[1] = {3}, e1[1] = {1};
    double s = 1.3105904e-05, o = -2147483648.0;
    lo_qdq_affine(v, 1, d3, e1, &s, &o, ldexp(1.0, 32) - 1, LO_ROUND_HALF_AWAY);
    CHECK(fabsf(v[0] - 0.11251419f) < 1e-8f, "0.11251387 -> %.9g, want 0.11251419", v[0]);
    CHECK(fabs(v[1] - 1e-4) <= s / 2, "1e-4 -> %.9g", v[1]);
    CHECK(fabs(v[2] + 0.5) <= s / 2, "-0.5 -> %.9g", v[2]);
    /* Per-channel: two channels with their own 32-bit scales. */
    float w[4] = {0.11251387f, -0.5f, 0.11251387f, -0.5f};
    float w0[4];
    memcpy(w0, w, sizeof w);
    int64_t d22[2] = {2, 2}, e21[2] = {2, 1};
    double sc[2] = {1.3105904e-05, 4.386667933431454e-05}, of[2] = {o, o};
    lo_qdq_affine(w, 2, d22, e21, sc, of, ldexp(1.0, 32) - 1, LO_ROUND_HALF_EVEN);
    checks_one(w0, w, 2, sc[0], o, ldexp(1.0, 32) - 1, "per-channel row 0");
    checks_one(w0 + 2, w + 2, 2, sc[1], o, ldexp(1.0, 32) - 1, "per-channel row 1");
    /* 16 bits still goes through the float kernel: a tie on its float
     * quotient is decided as aimet_onnx decides it (roundf on the unsigned
     * grid), not on the exact one. 16-bit scale 1/3: x = 1/6 in float is a
     * hair above 1/6, float's x / scale is 0.5 exactly, the kernel's
     * roundf gives 1 step. */
    float h = 1.0f / 6.0f;
    int64_t d1[1] = {1};
    double s16 = 1.0 / 3.0, o16 = -32768.0;
    lo_qdq_affine(&h, 1, d1, e1, &s16, &o16, 65535, LO_ROUND_HALF_AWAY);
    float hs = (float)s16, t = (1.0f / 6.0f) / hs - (float)o16;
    float kernel = (roundf(t) + (float)o16) * hs;
    CHECK(h == kernel, "16-bit: %.9g, the float kernel gives %.9g", h, kernel);
}

static char dir[64];

static const char *write_file(const char *text) {
    static char path[128];
    snprintf(path, sizeof path, "%s/wide.encodings", dir);
    FILE *f = fopen(path, "w");
    if (!f) return path;
    fputs(text, f);
    fclose(f);
    return path;
}

/* One 32-bit symmetric encoding in each version's own words, read and
 * applied through the reader. */
static void test_readers(void) {
    const double s = 1.3105904e-05;
    char texts[3][600];
    snprintf(texts[0], sizeof texts[0],
             "{\"version\": \"0.6.1\", \"activation_encodings\": {\"b\": [{\"bitwidth\": 32, \"dtype\": \"int\","
             " \"is_symmetric\": \"True\", \"offset\": -2147483648, \"scale\": %.17g, \"min\": -28144.7,"
             " \"max\": 28144.7}]}, \"param_encodings\": {}}", s);
    snprintf(texts[1], sizeof texts[1],
             "{\"version\": \"1.0.0\", \"activation_encodings\": [{\"name\": \"b\", \"dtype\": \"INT\","
             " \"enc_type\": \"PER_TENSOR\", \"bw\": 32, \"is_sym\": true, \"scale\": [%.17g],"
             " \"offset\": [-2147483648]}], \"param_encodings\": []}", s);
    /* As sim.export(encoding_version="2.0.0") writes a bias: int32, no zero point. */
    snprintf(texts[2], sizeof texts[2],
             "{\"version\": \"2.0.0\", \"encodings\": [{\"name\": \"b\", \"output_dtype\": \"int32\", \"y_scale\": %.17g,"
             " \"y_zero_point\": 0}]}", s);
    static float x[N_RANDOM + 16], y[N_RANDOM + 16];
    int n = fill(x, s, -2147483648.0, ldexp(1.0, 32) - 1);
    for (int v = 0; v < 3; v++) {
        lo_quant *q;
        lo_error err;
        lo_status st = lo_quant_load(write_file(texts[v]), &q, &err);
        CHECK(st == LO_OK, "version %d: %s", v, st == LO_OK ? "" : err.message);
        if (st != LO_OK) continue;
        lo_encoding_info info;
        lo_quant_info(q, 0, &info);
        CHECK(info.bitwidth == 32 && !strcmp(info.dtype, "int32"), "version %d: read as %s, %d bits", v, info.dtype,
              info.bitwidth);
        int64_t dims[1] = {n};
        lo_tensor t = tensor_new(LO_FLOAT, 1, dims);
        memcpy(t.data, x, (size_t)n * sizeof(float));
        st = lo_quant_apply(q, lo_quant_entry(q, 0), &t, &err);
        CHECK(st == LO_OK, "version %d apply: %s", v, st == LO_OK ? "" : err.message);
        memcpy(y, t.data, (size_t)n * sizeof(float));
        char what[32];
        snprintf(what, sizeof what, "reader v%d", v);
        checks_one(x, y, n, s, -2147483648.0, ldexp(1.0, 32) - 1, what);
        free_all(&t, 1);
        lo_quant_free(q);
    }
    /* A 2.0.0 int32 zero point moves the grid: y_zero_point = -offset on the
     * signed grid, so 1000 here is real = (k - 1000) * scale. */
    char text[300];
    snprintf(text, sizeof text,
             "{\"version\": \"2.0.0\", \"encodings\": [{\"name\": \"b\", \"output_dtype\": \"int32\", \"y_scale\": %.17g,"
             " \"y_zero_point\": 1000}]}", s);
    lo_quant *q;
    lo_error err;
    if (lo_quant_load(write_file(text), &q, &err) == LO_OK) {
        int64_t dims[1] = {n};
        lo_tensor t = tensor_new(LO_FLOAT, 1, dims);
        memcpy(t.data, x, (size_t)n * sizeof(float));
        CHECK(lo_quant_apply(q, lo_quant_entry(q, 0), &t, &err) == LO_OK, "zero point apply");
        memcpy(y, t.data, (size_t)n * sizeof(float));
        checks_one(x, y, n, s, -2147483648.0 - 1000, ldexp(1.0, 32) - 1, "2.0.0 y_zero_point 1000");
        free_all(&t, 1);
        lo_quant_free(q);
    } else {
        CHECK(false, "zero point file: %s", err.message);
    }
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/lo_test_quant_wide.XXXXXX");
    if (!mkdtemp(dir)) return 1;
    test_arithmetic();
    test_readers();
    char path[128];
    snprintf(path, sizeof path, "%s/wide.encodings", dir);
    unlink(path);
    rmdir(dir);
    return finish("test_quant_wide");
}
