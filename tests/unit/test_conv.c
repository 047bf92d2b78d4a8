/* Tests of the convolution kernels (src/ops/nn/conv.c, conv_integer.c, deform_conv.c).
 *
 * The kernels are driven through the registry as the executor drives them.
 * Results are compared with straightforward double-precision loops written
 * here (ConvTranspose as a scatter, unlike the kernel's gather), and the
 * oneDNN path is compared with the kernel's own reference path
 * (LO_KERNELS_REFERENCE) on random shapes.
 *
 * `test_conv bench` prints GFLOP/s of a ResNet-50 3x3 layer instead. */
#include <malloc.h>
#include <omp.h>
#include <time.h>

/* The seed these random cases were written with. */
#define HARNESS_SEED 0x1234567887654321u
#include "harness.h"

/* In [-1, 1], in steps of 1e-4. */
static float rnd_float(void) { return (float)((rng_next32() % 20001) / 10000.0 - 1.0); }

static void fill_random(lo_tensor *t) {
    int64_t n = lo_numel(t);
    for (int64_t i = 0; i < n; i++) ((float *)t->data)[i] = rnd_float();
}

/* ---- test-side references ------------------------------------------------ */

typedef struct geom {
    int nsp;
    int64_t batch, cin, cout, group;
    int64_t in[6], out[6], k[6], s[6], d[6], pb[6], pe[6];
} geom;

static int64_t prod(int n, const int64_t *v) {
    int64_t p = 1;
    for (int i = 0; i < n; i++) p *= v[i];
    return p;
}

/* Convolution as the ONNX spec states it, in double. */
static void ref_conv(const geom *g, const float *x, const float *w, const float *b, double *y) {
    int64_t cg = g->cin / g->group, mg = g->cout / g->group;
    int64_t isz = prod(g->nsp, g->in), osz = prod(g->nsp, g->out), ksz = prod(g->nsp, g->k);
    for (int64_t n = 0; n < g->batch; n++)
        for (int64_t m = 0; m < g->cout; m++)
            for (int64_t o = 0; o < osz; o++) {
                int64_t oc[6], rem = o;
                for (int d = g->nsp - 1; d >= 0; d--) oc[d] = rem % g->out[d], rem /= g->out[d];
                double acc = b ? b[m] : 0.0;
                for (int64_t c = 0; c < cg; c++)
                    for (int64_t kk = 0; kk < ksz; kk++) {
                        int64_t kc[6], r2 = kk, off = 0;
                        bool inside = true;
                        for (int d = g->nsp - 1; d >= 0; d--) kc[d] = r2 % g->k[d], r2 /= g->k[d];
                        for (int d = 0; d < g->nsp; d++) {
                            int64_t i = oc[d] * g->s[d] - g->pb[d] + kc[d] * g->d[d];
                            if (i < 0 || i >= g->in[d]) inside = false;
                            off = off * g->in[d] + i;
                        }
                        if (!inside) continue;
                        int64_t ci = (m / mg) * cg + c;
                        acc += (double)x[(n * g->cin + ci) * isz + off] *
                               (double)w[(m * cg + c) * ksz + kk];
                    }
                y[(n * g->cout + m) * osz + o] = acc;
            }
}

/* Transposed convolution as a scatter of every input element. */
static void ref_conv_transpose(const geom *g, const float *x, const float *w, const float *b,
                               double *y) {
    int64_t cg = g->cin / g->group, mg = g->cout / g->group;
    int64_t isz = prod(g->nsp, g->in), osz = prod(g->nsp, g->out), ksz = prod(g->nsp, g->k);
    for (int64_t n = 0; n < g->batch; n++)
        for (int64_t m = 0; m < g->cout; m++)
            for (int64_t o = 0; o < osz; o++) y[(n * g->cout + m) * osz + o] = b ? b[m] : 0.0;
    for (int64_t n = 0; n < g->batch; n++)
        for (int64_t c = 0; c < g->cin; c++)
            for (int64_t i = 0; i < isz; i++) {
                int64_t ic[6], rem = i;
                for (int d = g->nsp - 1; d >= 0; d--) ic[d] = rem % g->in[d], rem /= g->in[d];
                double xv = x[(n * g->cin + c) * isz + i];
                int64_t grp = c / cg;
                for (int64_t mi = 0; mi < mg; mi++)
                    for (int64_t kk = 0; kk < ksz; kk++) {
                        int64_t kc[6], r2 = kk, off = 0;
                        bool inside = true;
                        for (int d = g->nsp - 1; d >= 0; d--) kc[d] = r2 % g->k[d], r2 /= g->k[d];
                        for (int d = 0; d < g->nsp; d++) {
                            int64_t o = ic[d] * g->s[d] - g->pb[d] + kc[d] * g->d[d];
                            if (o < 0 || o >= g->out[d]) inside = false;
                            off = off * g->out[d] + o;
                        }
                        if (!inside) continue;
                        int64_t m = grp * mg + mi;
                        y[(n * g->cout + m) * osz + off] += xv * w[(c * mg + mi) * ksz + kk];
                    }
            }
}

static bool close_enough(double a, double b) { return fabs(a - b) <= 1e-4 + 1e-4 * fabs(b); }

static int64_t count_mismatch(const float *got, const double *want, int64_t n, int64_t *first) {
    int64_t bad = 0;
    *first = -1;
    for (int64_t i = 0; i < n; i++)
        if (!close_enough(got[i], want[i])) {
            if (bad == 0) *first = i;
            bad++;
        }
    return bad;
}

/* ---- Conv --------------------------------------------------------------- */

/* The example of the ONNX operator documentation: 5x5 ramp, 3x3 ones. */
static void test_conv_known_answer(void) {
    int64_t xd[] = {1, 1, 5, 5}, wd[] = {1, 1, 3, 3};
    lo_tensor x = tensor_new(LO_FLOAT, 4, xd), w = tensor_new(LO_FLOAT, 4, wd), y = {0};
    for (int i = 0; i < 25; i++) ((float *)x.data)[i] = (float)i;
    for (int i = 0; i < 9; i++) ((float *)w.data)[i] = 1.f;
    const lo_tensor *in[] = {&x, &w};
    op_instance op;
    op_init(&op, "Conv", 11);
    int64_t k[] = {3, 3}, pads[] = {1, 1, 1, 1};
    op_attr_ints(&op, "kernel_shape", 2, k);
    op_attr_ints(&op, "pads", 4, pads);
    CHECK(op_prepare(&op) == LO_OK, "prepare: %s", op.err.message);
    CHECK(op_run(&op, in, 2, &y, 1) == LO_OK, "run: %s", op.err.message);
    static const float want[25] = {12, 21, 27, 33, 24, 33, 54, 63, 72, 51, 63, 99, 108,
                                   117, 81, 93, 144, 153, 162, 111, 72, 111, 117, 123, 84};
    CHECK(y.rank == 4 && y.dims[2] == 5 && y.dims[3] == 5, "shape");
    int bad = 0;
    for (int i = 0; i < 25 && y.data; i++) bad += ((float *)y.data)[i] != want[i];
    CHECK(bad == 0, "padded 3x3 ones conv differs in %d places", bad);
    lo_tensor_free_data(&y);
    op_free(&op);

    /* strides 2, asymmetric pads (1, 0, 1, 0) on 7x5: 4x2 output. */
    int64_t xd2[] = {1, 1, 7, 5};
    lo_tensor x2 = tensor_new(LO_FLOAT, 4, xd2);
    for (int i = 0; i < 35; i++) ((float *)x2.data)[i] = (float)i;
    const lo_tensor *in2[] = {&x2, &w};
    op_init(&op, "Conv", 11);
    int64_t s[] = {2, 2}, pads2[] = {1, 0, 1, 0};
    op_attr_ints(&op, "kernel_shape", 2, k);
    op_attr_ints(&op, "pads", 4, pads2);
    op_attr_ints(&op, "strides", 2, s);
    op_prepare(&op);
    CHECK(op_run(&op, in2, 2, &y, 1) == LO_OK, "run: %s", op.err.message);
    static const float want2[8] = {21, 33, 99, 117, 189, 207, 171, 183};
    CHECK(y.dims[2] == 4 && y.dims[3] == 2, "asymmetric pads shape %lldx%lld",
           (long long)y.dims[2], (long long)y.dims[3]);
    bad = 0;
    for (int i = 0; i < 8 && y.data; i++) bad += ((float *)y.data)[i] != want2[i];
    CHECK(bad == 0, "asymmetric padding conv differs in %d places", bad);
    lo_tensor_free_data(&y);
    op_free(&op);
    lo_tensor_free_data(&x);
    lo_tensor_free_data(&x2);
    lo_tensor_free_data(&w);
}

typedef struct conv_case {
    geom g;
    int auto_pad; /* 0 NOTSET, 1 SAME_UPPER, 2 SAME_LOWER, 3 VALID */
    bool bias, kernel_attr;
    int64_t out_pad[6];
    bool out_shape_attr;
} conv_case;

static const char *auto_pad_names[] = {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"};

/* A random convolution; false when the drawn sizes make no valid output. */
static bool random_conv_case(conv_case *cc, int nsp, bool transpose) {
    memset(cc, 0, sizeof *cc);
    geom *g = &cc->g;
    g->nsp = nsp;
    g->batch = rnd_int32(1, 2);
    int kind = rnd_int32(0, 3);
    int64_t cg = rnd_int32(1, 6), mg = rnd_int32(1, 6);
    g->group = kind == 0 ? 1 : kind == 1 ? 2 : kind == 2 ? 3 : rnd_int32(2, 8);
    if (kind == 3) cg = 1, mg = rnd_int32(1, 2); /* depthwise, with a multiplier at times */
    g->cin = cg * g->group;
    g->cout = mg * g->group;
    cc->auto_pad = rnd_int32(0, 5);
    if (cc->auto_pad > 3) cc->auto_pad = 0;
    cc->bias = rnd_int32(0, 1);
    cc->kernel_attr = rnd_int32(0, 1);
    int max_in = nsp == 3 ? 7 : nsp == 2 ? 13 : 30;
    for (int d = 0; d < nsp; d++) {
        g->in[d] = rnd_int32(1, max_in);
        g->k[d] = rnd_int32(1, nsp == 3 ? 3 : 4);
        g->s[d] = rnd_int32(1, 3);
        g->d[d] = rnd_int32(1, 3);
        if (cc->auto_pad == 0) {
            g->pb[d] = rnd_int32(0, 3);
            g->pe[d] = rnd_int32(0, 3);
        }
        int64_t ext = (g->k[d] - 1) * g->d[d] + 1;
        if (!transpose) {
            if (cc->auto_pad == 1 || cc->auto_pad == 2) {
                g->out[d] = (g->in[d] + g->s[d] - 1) / g->s[d];
                int64_t total = (g->out[d] - 1) * g->s[d] + ext - g->in[d];
                if (total < 0) total = 0;
                g->pb[d] = cc->auto_pad == 1 ? total / 2 : total - total / 2;
                g->pe[d] = total - g->pb[d];
            } else {
                int64_t span = g->in[d] + g->pb[d] + g->pe[d] - ext;
                if (span < 0) return false;
                g->out[d] = span / g->s[d] + 1;
            }
        } else {
            if (cc->auto_pad == 1 || cc->auto_pad == 2) return false; /* tested apart */
            cc->out_pad[d] = rnd_int32(0, (int)(g->s[d] > g->d[d] ? g->s[d] : g->d[d]) - 1);
            g->out[d] = g->s[d] * (g->in[d] - 1) + cc->out_pad[d] + ext - g->pb[d] - g->pe[d];
            if (g->out[d] < 1) return false;
        }
    }
    return true;
}

static void build_conv_op(op_instance *op, const conv_case *cc, bool transpose) {
    const geom *g = &cc->g;
    op_init(op, transpose ? "ConvTranspose" : "Conv", 11);
    int n = g->nsp;
    int64_t pads[12];
    for (int d = 0; d < n; d++) pads[d] = g->pb[d], pads[n + d] = g->pe[d];
    if (cc->auto_pad) op_attr_string(op, "auto_pad", auto_pad_names[cc->auto_pad]);
    if (cc->auto_pad == 0) op_attr_ints(op, "pads", 2 * n, pads);
    op_attr_ints(op, "strides", n, g->s);
    op_attr_ints(op, "dilations", n, g->d);
    if (cc->kernel_attr) op_attr_ints(op, "kernel_shape", n, g->k);
    if (g->group > 1) op_attr_int(op, "group", g->group);
    if (transpose) op_attr_ints(op, "output_padding", n, cc->out_pad);
}

static const char *describe(const conv_case *cc, char *buf, size_t size) {
    const geom *g = &cc->g;
    int len = snprintf(buf, size, "N%lld C%lld M%lld g%lld %s bias%d", (long long)g->batch,
                       (long long)g->cin, (long long)g->cout, (long long)g->group,
                       auto_pad_names[cc->auto_pad], cc->bias);
    for (int d = 0; d < g->nsp && len < (int)size; d++)
        len += snprintf(buf + len, size - (size_t)len, " [in%lld k%lld s%lld d%lld p%lld,%lld op%lld]",
                        (long long)g->in[d], (long long)g->k[d], (long long)g->s[d],
                        (long long)g->d[d], (long long)g->pb[d], (long long)g->pe[d],
                        (long long)cc->out_pad[d]);
    return buf;
}

/* Runs one case through every float32 path and checks each against the
 * double reference. */
static void check_conv_case(const conv_case *cc, bool transpose) {
    const geom *g = &cc->g;
    int n = g->nsp;
    int64_t xd[8] = {g->batch, g->cin}, wd[8], bd[1] = {g->cout}, yd[8] = {g->batch, g->cout};
    if (transpose)
        wd[0] = g->cin, wd[1] = g->cout / g->group;
    else
        wd[0] = g->cout, wd[1] = g->cin / g->group;
    for (int d = 0; d < n; d++) xd[2 + d] = g->in[d], wd[2 + d] = g->k[d], yd[2 + d] = g->out[d];
    lo_tensor x = tensor_new(LO_FLOAT, n + 2, xd), w = tensor_new(LO_FLOAT, n + 2, wd);
    lo_tensor b = tensor_new(LO_FLOAT, 1, bd);
    fill_random(&x);
    fill_random(&w);
    fill_random(&b);
    int64_t total = prod(n + 2, yd);
    double *want = malloc((size_t)total * sizeof *want);
    (transpose ? ref_conv_transpose : ref_conv)(g, x.data, w.data, cc->bias ? b.data : NULL, want);
    const lo_tensor *in[] = {&x, &w, &b};
    static const char *impls[] = {"reference", "plain", "blocked", "default"};
    static const lo_kernels kernels[] = {LO_KERNELS_REFERENCE, LO_KERNELS_CONV_PLAIN, LO_KERNELS_CONV_BLOCKED,
                                         LO_KERNELS_FAST};
    char desc[512];
    for (int i = 0; i < 4; i++) {
        harness_kernels = kernels[i];
        op_instance op;
        build_conv_op(&op, cc, transpose);
        lo_tensor y = {0};
        lo_status st = op_prepare(&op);
        if (st == LO_OK) st = op_run(&op, in, cc->bias ? 3 : 2, &y, 1);
        CHECK(st == LO_OK, "%s %s %s: %s", transpose ? "ConvTranspose" : "Conv", impls[i],
               describe(cc, desc, sizeof desc), op.err.message);
        if (st == LO_OK) {
            bool shape_ok = y.rank == n + 2 && memcmp(y.dims, yd, (size_t)(n + 2) * 8) == 0;
            CHECK(shape_ok, "%s shape %s", impls[i], describe(cc, desc, sizeof desc));
            int64_t first;
            int64_t bad = shape_ok ? count_mismatch(y.data, want, total, &first) : 0;
            CHECK(bad == 0, "%s %s: %lld of %lld differ, first at %lld: %g vs %g",
                   impls[i], describe(cc, desc, sizeof desc), (long long)bad, (long long)total,
                   (long long)first, bad ? ((float *)y.data)[first] : 0.0,
                   bad ? want[first] : 0.0);
        }
        lo_tensor_free_data(&y);
        op_free(&op);
    }
    harness_kernels = LO_KERNELS_FAST;
    free(want);
    lo_tensor_free_data(&x);
    lo_tensor_free_data(&w);
    lo_tensor_free_data(&b);
}

static void test_conv_random(void) {
    for (int nsp = 1; nsp <= 3; nsp++)
        for (int iter = 0, done = 0; done < (nsp == 2 ? 120 : 50) && iter < 10000; iter++) {
            conv_case cc;
            if (!random_conv_case(&cc, nsp, false)) continue;
            check_conv_case(&cc, false);
            done++;
        }
}

static void test_conv_transpose_random(void) {
    for (int nsp = 1; nsp <= 3; nsp++)
        for (int iter = 0, done = 0; done < (nsp == 2 ? 100 : 40) && iter < 10000; iter++) {
            conv_case cc;
            if (!random_conv_case(&cc, nsp, true)) continue;
            check_conv_case(&cc, true);
            done++;
        }
}

/* Layer shapes of real networks, where float32 accumulation error is
 * largest: oneDNN must stay within tolerance of the double reference. */
static void test_conv_realistic(void) {
    static const int64_t shapes[][8] = {
        /* N, C, H, M, k, stride, pad, group */
        {1, 64, 56, 64, 3, 1, 1, 1},   {1, 256, 14, 512, 1, 2, 0, 1}, {1, 3, 64, 32, 7, 2, 3, 1},
        {1, 128, 28, 128, 3, 1, 1, 32}, {1, 96, 28, 96, 3, 2, 1, 96}, {2, 512, 7, 512, 3, 1, 1, 1},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const int64_t *s = shapes[i];
        conv_case cc = {0};
        geom *g = &cc.g;
        g->nsp = 2;
        g->batch = s[0], g->cin = s[1], g->cout = s[3], g->group = s[7];
        for (int d = 0; d < 2; d++) {
            g->in[d] = s[2], g->k[d] = s[4], g->s[d] = s[5], g->d[d] = 1;
            g->pb[d] = g->pe[d] = s[6];
            g->out[d] = (g->in[d] + 2 * s[6] - s[4]) / s[5] + 1;
        }
        cc.bias = true;
        cc.kernel_attr = true;
        check_conv_case(&cc, false);
    }
    /* An upsampling ConvTranspose as in segmentation heads. */
    conv_case cc = {0};
    geom *g = &cc.g;
    g->nsp = 2, g->batch = 1, g->cin = 64, g->cout = 32, g->group = 1;
    for (int d = 0; d < 2; d++) {
        g->in[d] = 28, g->k[d] = 4, g->s[d] = 2, g->d[d] = 1, g->pb[d] = g->pe[d] = 1;
        g->out[d] = 2 * 27 + 4 - 2;
    }
    cc.bias = true;
    check_conv_case(&cc, true);
}

/* ConvTranspose's output_shape and SAME padding, against the ONNX cases. */
static void test_conv_transpose_shapes(void) {
    int64_t xd[] = {1, 1, 3, 3}, wd[] = {1, 2, 3, 3};
    lo_tensor x = tensor_new(LO_FLOAT, 4, xd), w = tensor_new(LO_FLOAT, 4, wd);
    for (int i = 0; i < 9; i++) ((float *)x.data)[i] = (float)i;
    for (int i = 0; i < 18; i++) ((float *)w.data)[i] = 1.f;
    const lo_tensor *in[] = {&x, &w};
    /* output_shape 10x8 with strides 3,2: the kernels cover 9x7, the rest is 0. */
    op_instance op;
    op_init(&op, "ConvTranspose", 11);
    int64_t s[] = {3, 2}, os[] = {10, 8};
    op_attr_ints(&op, "strides", 2, s);
    op_attr_ints(&op, "output_shape", 2, os);
    op_prepare(&op);
    lo_tensor y = {0};
    CHECK(op_run(&op, in, 2, &y, 1) == LO_OK, "output_shape: %s", op.err.message);
    CHECK(y.dims[1] == 2 && y.dims[2] == 10 && y.dims[3] == 8, "output_shape dims");
    if (y.data) {
        const float *yv = y.data;
        CHECK(yv[0] == 0 && yv[1] == 0 && yv[2] == 1 && yv[9 * 8] == 0 && yv[7] == 0 &&
                   yv[2 * 8 + 2] == 1 && yv[3 * 8 + 2] == 7,
               "output_shape values %g %g %g %g", yv[0], yv[2], yv[2 * 8 + 2], yv[3 * 8 + 2]);
    }
    lo_tensor_free_data(&y);
    op_free(&op);
    /* SAME_UPPER with strides 2: 6x6, the odd padding cell at the end. */
    op_init(&op, "ConvTranspose", 11);
    int64_t s2[] = {2, 2};
    op_attr_string(&op, "auto_pad", "SAME_UPPER");
    op_attr_ints(&op, "strides", 2, s2);
    op_prepare(&op);
    CHECK(op_run(&op, in, 2, &y, 1) == LO_OK, "SAME_UPPER: %s", op.err.message);
    CHECK(y.dims[2] == 6 && y.dims[3] == 6, "SAME_UPPER dims %lldx%lld", (long long)y.dims[2],
           (long long)y.dims[3]);
    if (y.data) {
        const float *yv = y.data;
        /* Full output is 7x7 starting at (0,0); pads (0,1): y[0][0] = x[0][0]. */
        CHECK(yv[0] == 0 && yv[1] == 0 && yv[2] == 1 && yv[6 * 1 + 0] == 0,
               "SAME_UPPER values %g %g %g", yv[0], yv[1], yv[2]);
    }
    lo_tensor_free_data(&y);
    op_free(&op);
    /* SAME with a kernel smaller than the stride: ONNX Runtime keeps the
     * covered size (3-1)*3+1 = 7 instead of 3*3 = 9. */
    int64_t w1d[] = {1, 1, 1, 1};
    lo_tensor w1 = tensor_new(LO_FLOAT, 4, w1d);
    ((float *)w1.data)[0] = 2.f;
    const lo_tensor *in1[] = {&x, &w1};
    op_init(&op, "ConvTranspose", 11);
    int64_t s3[] = {3, 3};
    op_attr_string(&op, "auto_pad", "SAME_LOWER");
    op_attr_ints(&op, "strides", 2, s3);
    op_prepare(&op);
    CHECK(op_run(&op, in1, 2, &y, 1) == LO_OK, "SAME small kernel: %s", op.err.message);
    CHECK(y.dims[2] == 7 && y.dims[3] == 7, "SAME small kernel dims %lldx%lld",
           (long long)y.dims[2], (long long)y.dims[3]);
    if (y.data) {
        const float *yv = y.data;
        CHECK(yv[3] == 2.f && yv[3 * 7 + 6] == 10.f && yv[1] == 0.f, "SAME small kernel values");
    }
    lo_tensor_free_data(&y);
    op_free(&op);
    lo_tensor_free_data(&w1);
    lo_tensor_free_data(&x);
    lo_tensor_free_data(&w);
}

/* float16 and double go through the same geometry; compare with float32. */
static void test_conv_other_types(void) {
    conv_case cc = {0};
    geom *g = &cc.g;
    g->nsp = 2, g->batch = 1, g->cin = 4, g->cout = 6, g->group = 2;
    for (int d = 0; d < 2; d++) {
        g->in[d] = 9, g->k[d] = 3, g->s[d] = 2, g->d[d] = 1, g->pb[d] = 1, g->pe[d] = 0;
        g->out[d] = (9 + 1 - 3) / 2 + 1;
    }
    int64_t xd[] = {1, 4, 9, 9}, wd[] = {6, 2, 3, 3}, bd[] = {6};
    lo_tensor x = tensor_new(LO_FLOAT, 4, xd), w = tensor_new(LO_FLOAT, 4, wd),
              b = tensor_new(LO_FLOAT, 1, bd);
    fill_random(&x);
    fill_random(&w);
    fill_random(&b);
    int64_t total = 6 * 4 * 4;
    double want[96];
    ref_conv(g, x.data, w.data, b.data, want);
    int64_t pads[] = {1, 1, 0, 0}, strides[] = {2, 2};
    for (int t = 0; t < 3; t++) {
        lo_dtype dt = t == 0 ? LO_DOUBLE : t == 1 ? LO_FLOAT16 : LO_BFLOAT16;
        lo_tensor xs = tensor_new(dt, 4, xd), ws = tensor_new(dt, 4, wd), bs = tensor_new(dt, 1, bd);
        lo_tensor *src[] = {&x, &w, &b}, *dst[] = {&xs, &ws, &bs};
        for (int k = 0; k < 3; k++)
            for (int64_t i = 0; i < lo_numel(src[k]); i++) {
                float v = ((float *)src[k]->data)[i];
                if (dt == LO_DOUBLE)
                    ((double *)dst[k]->data)[i] = v;
                else if (dt == LO_FLOAT16)
                    ((uint16_t *)dst[k]->data)[i] = lo_float_to_half(v);
                else
                    ((uint16_t *)dst[k]->data)[i] = lo_float_to_bfloat16(v);
            }
        op_instance op;
        op_init(&op, "Conv", 11);
        op_attr_ints(&op, "pads", 4, pads);
        op_attr_ints(&op, "strides", 2, strides);
        op_attr_int(&op, "group", 2);
        op_prepare(&op);
        const lo_tensor *in[] = {&xs, &ws, &bs};
        lo_tensor y = {0};
        CHECK(op_run(&op, in, 3, &y, 1) == LO_OK, "%s: %s", lo_dtype_name(dt), op.err.message);
        CHECK(y.dtype == dt && y.dims[2] == 4 && y.dims[3] == 4, "%s output", lo_dtype_name(dt));
        double tol = dt == LO_DOUBLE ? 1e-6 : dt == LO_FLOAT16 ? 3e-2 : 2e-1;
        int bad = 0;
        for (int64_t i = 0; i < total && y.data; i++) {
            double v = dt == LO_DOUBLE      ? ((double *)y.data)[i]
                       : dt == LO_FLOAT16 ? lo_half_to_float(((uint16_t *)y.data)[i])
                                          : lo_bfloat16_to_float(((uint16_t *)y.data)[i]);
            if (fabs(v - want[i]) > tol * (1 + fabs(want[i]))) bad++;
        }
        CHECK(bad == 0, "%s conv differs in %d places", lo_dtype_name(dt), bad);
        lo_tensor_free_data(&y);
        op_free(&op);
        lo_tensor_free_data(&xs);
        lo_tensor_free_data(&ws);
        lo_tensor_free_data(&bs);
    }
    lo_tensor_free_data(&x);
    lo_tensor_free_data(&w);
    lo_tensor_free_data(&b);
}

/* A weight buffer reused with new values (a computed weight, which is not
 * an initializer) must not be served from the reordered-weights cache. */
static void check_weight_cache(int64_t cin, int64_t cout) {
    int64_t xd[] = {1, cin, 12, 12}, wd[] = {cout, cin, 3, 3};
    lo_tensor x = tensor_new(LO_FLOAT, 4, xd), w = tensor_new(LO_FLOAT, 4, wd);
    fill_random(&x);
    fill_random(&w);
    geom g = {.nsp = 2, .batch = 1, .cin = cin, .cout = cout, .group = 1};
    for (int d = 0; d < 2; d++) g.in[d] = 12, g.k[d] = 3, g.s[d] = 1, g.d[d] = 1, g.out[d] = 10;
    int64_t total = cout * 100;
    double *want = malloc((size_t)total * sizeof *want);
    op_instance op;
    op_init(&op, "Conv", 11);
    op_prepare(&op);
    const lo_tensor *in[] = {&x, &w};
    for (int round = 0; round < 3; round++) {
        if (round == 2) fill_random(&w);
        ref_conv(&g, x.data, w.data, NULL, want);
        lo_tensor y = {0};
        CHECK(op_run(&op, in, 2, &y, 1) == LO_OK, "run %d: %s", round, op.err.message);
        int64_t first;
        CHECK(y.data && count_mismatch(y.data, want, total, &first) == 0,
               "%lldx%lld weights, round %d uses stale weights", (long long)cout, (long long)cin,
               round);
        lo_tensor_free_data(&y);
    }
    /* A new input shape on the same node rebuilds the primitive. */
    int64_t xd2[] = {2, cin, 8, 9};
    lo_tensor x2 = tensor_new(LO_FLOAT, 4, xd2);
    fill_random(&x2);
    g.batch = 2, g.in[0] = 8, g.in[1] = 9, g.out[0] = 6, g.out[1] = 7;
    double *want2 = malloc((size_t)(2 * cout * 42) * sizeof *want2);
    ref_conv(&g, x2.data, w.data, NULL, want2);
    const lo_tensor *in2[] = {&x2, &w};
    lo_tensor y = {0};
    CHECK(op_run(&op, in2, 2, &y, 1) == LO_OK, "new shape: %s", op.err.message);
    int64_t first;
    CHECK(y.data && y.dims[3] == 7 && count_mismatch(y.data, want2, 2 * cout * 42, &first) == 0,
           "new shape result");
    lo_tensor_free_data(&y);
    op_free(&op);
    free(want);
    free(want2);
    lo_tensor_free_data(&x);
    lo_tensor_free_data(&x2);
    lo_tensor_free_data(&w);
}

static void test_conv_weight_cache(void) {
    check_weight_cache(16, 32);
    check_weight_cache(64, 160);
}

/* Bad models and inputs are reported, never crash. */
static void test_conv_errors(void) {
    op_instance op;
    op_init(&op, "Conv", 11);
    op_attr_string(&op, "auto_pad", "SOMETIMES");
    CHECK(op_prepare(&op) != LO_OK, "unknown auto_pad accepted");
    op_free(&op);
    op_init(&op, "Conv", 11);
    int64_t bad_strides[] = {0, 1};
    op_attr_ints(&op, "strides", 2, bad_strides);
    CHECK(op_prepare(&op) != LO_OK, "zero stride accepted");
    op_free(&op);

    int64_t xd[] = {1, 3, 5, 5}, wd[] = {4, 2, 3, 3}, wd3[] = {4, 3, 3}, bd[] = {3};
    lo_tensor x = tensor_new(LO_FLOAT, 4, xd), w = tensor_new(LO_FLOAT, 4, wd);
    lo_tensor w3 = tensor_new(LO_FLOAT, 3, wd3), b = tensor_new(LO_FLOAT, 1, bd);
    lo_tensor xi = tensor_new(LO_INT32, 4, xd);
    struct {
        const lo_tensor *in[3];
        int n_in;
        const char *what;
        int64_t pads_n;
    } cases[] = {
        {{&x, &w}, 2, "channel mismatch", 0},
        {{&x, &w3}, 2, "rank mismatch", 0},
        {{&x, NULL}, 2, "missing W", 0},
        {{&xi, &w}, 2, "int32 input", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        op_init(&op, "Conv", 11);
        op_prepare(&op);
        lo_tensor y = {0};
        lo_status st = op_run(&op, cases[i].in, cases[i].n_in, &y, 1);
        CHECK(st == LO_ERR_INPUT, "%s: status %d", cases[i].what, st);
        lo_tensor_free_data(&y);
        op_free(&op);
    }
    /* Bias of the wrong length, pads of the wrong rank, kernel too large. */
    int64_t wd_ok[] = {3, 3, 3, 3};
    lo_tensor wok = tensor_new(LO_FLOAT, 4, wd_ok);
    int64_t bd4[] = {4};
    lo_tensor b4 = tensor_new(LO_FLOAT, 1, bd4);
    const lo_tensor *in_b[] = {&x, &wok, &b4};
    op_init(&op, "Conv", 11);
    op_prepare(&op);
    lo_tensor y = {0};
    CHECK(op_run(&op, in_b, 3, &y, 1) == LO_ERR_INPUT, "wrong bias length accepted");
    lo_tensor_free_data(&y);
    op_free(&op);
    op_init(&op, "Conv", 11);
    int64_t pads6[] = {1, 1, 1, 1, 1, 1};
    op_attr_ints(&op, "pads", 6, pads6);
    op_prepare(&op);
    CHECK(op_run(&op, in_b, 2, &y, 1) == LO_ERR_MODEL, "pads of 3 dims on 2-D conv accepted");
    lo_tensor_free_data(&y);
    op_free(&op);
    op_init(&op, "Conv", 11);
    int64_t dil[] = {4, 4};
    op_attr_ints(&op, "dilations", 2, dil);
    op_prepare(&op);
    CHECK(op_run(&op, in_b, 2, &y, 1) == LO_ERR_INPUT, "kernel larger than input accepted");
    lo_tensor_free_data(&y);
    op_free(&op);
    (void)b;
    lo_tensor_free_data(&x);
    lo_tensor_free_data(&w);
    lo_tensor_free_data(&w3);
    lo_tensor_free_data(&b);
    lo_tensor_free_data(&b4);
    lo_tensor_free_data(&xi);
    lo_tensor_free_data(&wok);
}

/* ---- ConvInteger / QLinearConv ------------------------------------------ */

static void test_conv_integer(void) {
    /* The ONNX documentation example: x = 2..10, w = ones, x_zero_point 1. */
    int64_t xd[] = {1, 1, 3, 3}, wd[] = {1, 1, 2, 2};
    lo_tensor x = tensor_new(LO_UINT8, 4, xd), w = tensor_new(LO_UINT8, 4, wd);
    lo_tensor xz = tensor_new(LO_UINT8, 0, NULL);
    for (int i = 0; i < 9; i++) ((uint8_t *)x.data)[i] = (uint8_t)(i + 2);
    for (int i = 0; i < 4; i++) ((uint8_t *)w.data)[i] = 1;
    ((uint8_t *)xz.data)[0] = 1;
    op_instance op;
    op_init(&op, "ConvInteger", 10);
    op_prepare(&op);
    const lo_tensor *in[] = {&x, &w, &xz};
    lo_tensor y = {0};
    CHECK(op_run(&op, in, 3, &y, 1) == LO_OK, "ConvInteger: %s", op.err.message);
    CHECK(y.dtype == LO_INT32 && y.dims[2] == 2, "ConvInteger output");
    static const int32_t want[] = {12, 16, 24, 28};
    CHECK(y.data && memcmp(y.data, want, sizeof want) == 0, "ConvInteger values");
    lo_tensor_free_data(&y);
    op_free(&op);
    lo_tensor_free_data(&x);
    lo_tensor_free_data(&w);
    lo_tensor_free_data(&xz);

    /* int8 with a per-channel weight zero point, groups and padding. */
    int64_t xd2[] = {2, 4, 6, 5}, wd2[] = {6, 2, 3, 2}, zd[] = {6};
    lo_tensor x2 = tensor_new(LO_INT8, 4, xd2), w2 = tensor_new(LO_INT8, 4, wd2);
    lo_tensor xz2 = tensor_new(LO_INT8, 0, NULL), wz2 = tensor_new(LO_INT8, 1, zd);
    for (int64_t i = 0; i < lo_numel(&x2); i++) ((int8_t *)x2.data)[i] = (int8_t)rnd_int32(-128, 127);
    for (int64_t i = 0; i < lo_numel(&w2); i++) ((int8_t *)w2.data)[i] = (int8_t)rnd_int32(-128, 127);
    for (int i = 0; i < 6; i++) ((int8_t *)wz2.data)[i] = (int8_t)rnd_int32(-5, 5);
    ((int8_t *)xz2.data)[0] = -3;
    geom g = {.nsp = 2, .batch = 2, .cin = 4, .cout = 6, .group = 2};
    g.in[0] = 6, g.in[1] = 5, g.k[0] = 3, g.k[1] = 2;
    for (int d = 0; d < 2; d++) g.s[d] = 1, g.d[d] = 1, g.pb[d] = 1, g.pe[d] = 1;
    g.out[0] = 6, g.out[1] = 6;
    float *xf = malloc(sizeof(float) * 240), *wf = malloc(sizeof(float) * 72);
    for (int i = 0; i < 240; i++) xf[i] = (float)(((int8_t *)x2.data)[i] + 3);
    for (int i = 0; i < 72; i++) wf[i] = (float)(((int8_t *)w2.data)[i] - ((int8_t *)wz2.data)[i / 12]);
    double want2[2 * 6 * 36];
    ref_conv(&g, xf, wf, NULL, want2);
    op_init(&op, "ConvInteger", 10);
    int64_t pads[] = {1, 1, 1, 1};
    op_attr_ints(&op, "pads", 4, pads);
    op_attr_int(&op, "group", 2);
    op_prepare(&op);
    const lo_tensor *in2[] = {&x2, &w2, &xz2, &wz2};
    CHECK(op_run(&op, in2, 4, &y, 1) == LO_OK, "ConvInteger int8: %s", op.err.message);
    int bad = 0;
    for (int i = 0; i < 2 * 6 * 36 && y.data; i++) bad += ((int32_t *)y.data)[i] != (int32_t)want2[i];
    CHECK(y.data && bad == 0, "ConvInteger per-channel differs in %d places", bad);
    lo_tensor_free_data(&y);
    op_free(&op);

    /* QLinearConv on the same data, per-channel weight scales, bias. */
    lo_tensor xs = tensor_new(LO_FLOAT, 0, NULL), ys = tensor_new(LO_FLOAT, 0, NULL);
    lo_tensor ws = tensor_new(LO_FLOAT, 1, zd), yz = tensor_new(LO_UINT8, 0, NULL);
    lo_tensor bias = tensor_new(LO_INT32, 1, zd);
    ((float *)xs.data)[0] = 0.05f;
    ((float *)ys.data)[0] = 7.5f;
    ((uint8_t *)yz.data)[0] = 100;
    for (int i = 0; i < 6; i++) {
        ((float *)ws.data)[i] = 0.01f * (float)(i + 1);
        ((int32_t *)bias.data)[i] = rnd_int32(-2000, 2000);
    }
    op_init(&op, "QLinearConv", 10);
    op_attr_ints(&op, "pads", 4, pads);
    op_attr_int(&op, "group", 2);
    op_prepare(&op);
    const lo_tensor *qin[] = {&x2, &xs, &xz2, &w2, &ws, &wz2, &ys, &yz, &bias};
    CHECK(op_run(&op, qin, 9, &y, 1) == LO_OK, "QLinearConv: %s", op.err.message);
    CHECK(y.dtype == LO_UINT8, "QLinearConv output type follows y_zero_point");
    bad = 0;
    for (int i = 0; i < 2 * 6 * 36 && y.data; i++) {
        int m = (i / 36) % 6;
        float mult = 0.05f * ((float *)ws.data)[m] / 7.5f;
        float v = nearbyintf((float)((int32_t)want2[i] + ((int32_t *)bias.data)[m]) * mult) + 100.f;
        v = v < 0 ? 0 : v > 255 ? 255 : v;
        bad += ((uint8_t *)y.data)[i] != (uint8_t)v;
    }
    CHECK(y.data && bad == 0, "QLinearConv differs in %d places", bad);
    lo_tensor_free_data(&y);
    op_free(&op);
    free(xf);
    free(wf);
    lo_tensor *all[] = {&x2, &w2, &xz2, &wz2, &xs, &ys, &ws, &yz, &bias};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) lo_tensor_free_data(all[i]);
}

/* Random ConvInteger shapes through the im2col+GEMM path and the reference,
 * both compared exactly with the double reference. */
static void check_conv_integer_case(const conv_case *ccp) {
    {
        conv_case cc = *ccp;
        const geom *g = &cc.g;
        int n = g->nsp;
        int64_t xd[8] = {g->batch, g->cin}, wd[8] = {g->cout, g->cin / g->group}, zd[1] = {g->cout};
        int64_t yd[8] = {g->batch, g->cout};
        for (int d = 0; d < n; d++) xd[2 + d] = g->in[d], wd[2 + d] = g->k[d], yd[2 + d] = g->out[d];
        lo_dtype xt = rnd_int32(0, 1) ? LO_UINT8 : LO_INT8, wt = rnd_int32(0, 1) ? LO_UINT8 : LO_INT8;
        lo_tensor x = tensor_new(xt, n + 2, xd), w = tensor_new(wt, n + 2, wd);
        lo_tensor xz = tensor_new(xt, 0, NULL);
        bool per_channel = rnd_int32(0, 1);
        lo_tensor wz = per_channel ? tensor_new(wt, 1, zd) : tensor_new(wt, 0, NULL);
        int64_t nx = lo_numel(&x), nw = lo_numel(&w), nz = lo_numel(&wz);
        float *xf = malloc((size_t)nx * sizeof *xf), *wf = malloc((size_t)nw * sizeof *wf);
        int lo_x = xt == LO_UINT8 ? 0 : -128, lo_w = wt == LO_UINT8 ? 0 : -128;
        int xzv = rnd_int32(lo_x, lo_x + 255);
        if (xt == LO_UINT8) ((uint8_t *)xz.data)[0] = (uint8_t)xzv; else ((int8_t *)xz.data)[0] = (int8_t)xzv;
        int wzv[512];
        for (int64_t i = 0; i < nz; i++) {
            wzv[i] = rnd_int32(lo_w, lo_w + 255);
            if (wt == LO_UINT8) ((uint8_t *)wz.data)[i] = (uint8_t)wzv[i]; else ((int8_t *)wz.data)[i] = (int8_t)wzv[i];
        }
        for (int64_t i = 0; i < nx; i++) {
            int v = rnd_int32(lo_x, lo_x + 255);
            if (xt == LO_UINT8) ((uint8_t *)x.data)[i] = (uint8_t)v; else ((int8_t *)x.data)[i] = (int8_t)v;
            xf[i] = (float)(v - xzv);
        }
        int64_t per_m = nw / g->cout;
        for (int64_t i = 0; i < nw; i++) {
            int v = rnd_int32(lo_w, lo_w + 255);
            if (wt == LO_UINT8) ((uint8_t *)w.data)[i] = (uint8_t)v; else ((int8_t *)w.data)[i] = (int8_t)v;
            wf[i] = (float)(v - wzv[per_channel ? i / per_m : 0]);
        }
        int64_t total = prod(n + 2, yd);
        double *want = malloc((size_t)total * sizeof *want);
        ref_conv(g, xf, wf, NULL, want);
        const lo_tensor *in[] = {&x, &w, &xz, &wz};
        static const char *int_impls[] = {"reference", "portable", "default"};
        static const lo_kernels int_kernels[] = {LO_KERNELS_REFERENCE, LO_KERNELS_CONV_PORTABLE, LO_KERNELS_FAST};
        for (int impl = 0; impl < 3; impl++) {
            harness_kernels = int_kernels[impl];
            op_instance op;
            build_conv_op(&op, &cc, false);
            op.node.op_type = "ConvInteger";
            op.node.opset = 10;
            lo_tensor y = {0};
            lo_status st = op_prepare(&op);
            if (st == LO_OK) st = op_run(&op, in, 4, &y, 1);
            char desc[512];
            CHECK(st == LO_OK, "ConvInteger %s: %s", describe(&cc, desc, sizeof desc), op.err.message);
            int64_t bad = 0;
            for (int64_t i = 0; i < total && st == LO_OK; i++) bad += ((int32_t *)y.data)[i] != (int32_t)want[i];
            CHECK(st == LO_OK && bad == 0, "ConvInteger %s %s: %lld differ", int_impls[impl],
                   describe(&cc, desc, sizeof desc), (long long)bad);
            lo_tensor_free_data(&y);
            op_free(&op);
        }
        harness_kernels = LO_KERNELS_FAST;
        free(want);
        free(xf);
        free(wf);
        lo_tensor *all[] = {&x, &w, &xz, &wz};
        for (int i = 0; i < 4; i++) lo_tensor_free_data(all[i]);
    }
}

static void test_conv_integer_random(void) {
    for (int iter = 0, done = 0; done < 120 && iter < 10000; iter++) {
        conv_case cc;
        if (!random_conv_case(&cc, 1 + done % 3, false)) continue;
        done++;
        check_conv_integer_case(&cc);
    }
    /* Layer sizes of a quantized ResNet: long sums, many column blocks. */
    static const int64_t shapes[][5] = {{64, 28, 64, 3, 1}, {128, 14, 96, 1, 2}, {32, 20, 32, 3, 32}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        conv_case cc = {0};
        geom *g = &cc.g;
        g->nsp = 2, g->batch = 1, g->cin = shapes[i][0], g->cout = shapes[i][2];
        g->group = shapes[i][4] == 32 ? 32 : 1;
        for (int d = 0; d < 2; d++) {
            g->in[d] = shapes[i][1], g->k[d] = shapes[i][3], g->d[d] = 1;
            g->s[d] = shapes[i][4] == 2 ? 2 : 1;
            g->pb[d] = g->pe[d] = shapes[i][3] / 2;
            g->out[d] = (g->in[d] + 2 * g->pb[d] - g->k[d]) / g->s[d] + 1;
        }
        check_conv_integer_case(&cc);
    }
}

/* ---- DeformConv --------------------------------------------------------- */

static void test_deform_conv(void) {
    /* Zero offsets and no mask: exactly Conv. Integer offsets: Conv of a
     * shifted input. Half-pixel offsets: the average of two neighbours. */
    int64_t xd[] = {1, 2, 6, 7}, wd[] = {4, 2, 3, 3}, od[] = {1, 18, 4, 5};
    lo_tensor x = tensor_new(LO_FLOAT, 4, xd), w = tensor_new(LO_FLOAT, 4, wd);
    lo_tensor off = tensor_new(LO_FLOAT, 4, od);
    fill_random(&x);
    fill_random(&w);
    geom g = {.nsp = 2, .batch = 1, .cin = 2, .cout = 4, .group = 1};
    g.in[0] = 6, g.in[1] = 7;
    for (int d = 0; d < 2; d++) g.k[d] = 3, g.s[d] = 1, g.d[d] = 1;
    g.out[0] = 4, g.out[1] = 5;
    double want[80];
    ref_conv(&g, x.data, w.data, NULL, want);
    op_instance op;
    op_init(&op, "DeformConv", 19);
    op_prepare(&op);
    const lo_tensor *in[] = {&x, &w, &off};
    lo_tensor y = {0};
    CHECK(op_run(&op, in, 3, &y, 1) == LO_OK, "DeformConv: %s", op.err.message);
    int64_t first;
    CHECK(y.data && count_mismatch(y.data, want, 80, &first) == 0, "zero offsets differ from Conv");
    lo_tensor_free_data(&y);

    /* Every tap moved down one row: Conv with pads (0, 0, 1, 0) shifted. */
    for (int64_t i = 0; i < 18; i++)
        for (int64_t p = 0; p < 20; p++) ((float *)off.data)[i * 20 + p] = (i % 2 == 0) ? 1.f : 0.f;
    geom g2 = g;
    g2.pb[0] = -1; /* taps read row oh + 1 + kh */
    ref_conv(&g2, x.data, w.data, NULL, want);
    CHECK(op_run(&op, in, 3, &y, 1) == LO_OK, "DeformConv shifted: %s", op.err.message);
    CHECK(y.data && count_mismatch(y.data, want, 80, &first) == 0,
           "integer offsets differ from shifted Conv");
    lo_tensor_free_data(&y);
    op_free(&op);
    lo_tensor_free_data(&x);
    lo_tensor_free_data(&w);
    lo_tensor_free_data(&off);
}

/* ---- benchmark ---------------------------------------------------------- */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void bench(void) {
    /* Output buffers come from calloc here; keep them off fresh mmaps so
     * page faults are not timed (the executor reuses an arena). */
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    static const int64_t layers[][5] = {
        /* C, H, M, k, stride */
        {64, 56, 64, 3, 1}, {128, 28, 128, 3, 1}, {256, 14, 256, 3, 1}, {512, 7, 512, 3, 1},
        {256, 56, 64, 1, 1}, {64, 56, 256, 1, 1},
    };
    const char *impls[] = {"default", "plain"}; /* the default choice, and NCHW throughout */
    const lo_kernels kernels[] = {LO_KERNELS_FAST, LO_KERNELS_CONV_PLAIN};
    for (size_t l = 0; l < sizeof layers / sizeof layers[0]; l++) {
        const int64_t *s = layers[l];
        int64_t pad = s[3] / 2, out = (s[1] + 2 * pad - s[3]) / s[4] + 1;
        int64_t xd[] = {1, s[0], s[1], s[1]}, wd[] = {s[2], s[0], s[3], s[3]}, bd[] = {s[2]};
        lo_tensor x = tensor_new(LO_FLOAT, 4, xd), w = tensor_new(LO_FLOAT, 4, wd),
                  b = tensor_new(LO_FLOAT, 1, bd);
        fill_random(&x);
        fill_random(&w);
        double flop = 2.0 * (double)(s[2] * out * out) * (double)(s[0] * s[3] * s[3]);
        for (int threads = 1; threads <= 2; threads++)
            for (int i = 0; i < 2; i++) {
                omp_set_num_threads(threads);
                harness_kernels = kernels[i];
                op_instance op;
                op_init(&op, "Conv", 11);
                int64_t pads[] = {pad, pad, pad, pad}, st[] = {s[4], s[4]};
                op_attr_ints(&op, "pads", 4, pads);
                op_attr_ints(&op, "strides", 2, st);
                op_prepare(&op);
                const lo_tensor *in[] = {&x, &w, &b};
                lo_tensor y = {0};
                op_run(&op, in, 3, &y, 1);
                lo_tensor_free_data(&y);
                /* Best of many runs: the machine is shared, the minimum is
                 * what the kernel can do. */
                double best = 1e9, start = now();
                while (now() - start < 1.0) {
                    double t0 = now();
                    op_run(&op, in, 3, &y, 1);
                    double t1 = now();
                    lo_tensor_free_data(&y);
                    if (t1 - t0 < best) best = t1 - t0;
                }
                printf("conv 1x%lldx%lldx%lld -> %lld k%lld s%lld  %-7s %d thread(s): %6.1f GFLOP/s "
                       "(%.3f ms)\n",
                       (long long)s[0], (long long)s[1], (long long)s[1], (long long)s[2],
                       (long long)s[3], (long long)s[4], impls[i], threads,
                       flop / best * 1e-9, best * 1e3);
                op_free(&op);
            }
        lo_tensor_free_data(&x);
        lo_tensor_free_data(&w);
        lo_tensor_free_data(&b);
    }
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "bench") == 0) {
        bench();
        return 0;
    }
    test_conv_known_answer();
    test_conv_random();
    test_conv_transpose_random();
    test_conv_realistic();
    test_conv_transpose_shapes();
    test_conv_other_types();
    test_conv_weight_cache();
    test_conv_errors();
    test_conv_integer();
    test_conv_integer_random();
    test_deform_conv();
    return finish(NULL);
}
