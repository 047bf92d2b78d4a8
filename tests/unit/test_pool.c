/* Tests of the pooling kernels (src/ops/nn/pool.c).
 *
 * Random max/average pooling of 1 to 3 spatial dims is checked against
 * loops written here from the ONNX spec, and the float32 2-D fast path
 * against the kernel's reference (LO_KERNELS_REFERENCE). Known
 * answers come from the ONNX operator documentation. */
#include <float.h>

/* The seed these random cases were written with. */
#define HARNESS_SEED 0x9876543212345678u
#include "harness.h"

/* Runs a one-input pool op and returns its output (and Indices if asked). */
static lo_status run1(op_instance *op, const lo_tensor *x, lo_tensor *y, lo_tensor *ind) {
    const lo_tensor *in[] = {x};
    lo_tensor out[2] = {{0}, {0}};
    lo_status st = op_run(op, in, 1, out, ind ? 2 : 1);
    *y = out[0];
    if (ind) *ind = out[1];
    return st;
}

/* ---- test-side reference ------------------------------------------------ */

typedef struct pgeom {
    int nsp, kind; /* 0 max, 1 avg */
    int64_t planes, in[3], out[3], k[3], s[3], d[3], pb[3], pe[3];
    bool include_pad;
} pgeom;

static void ref_pool(const pgeom *g, const float *x, double *y) {
    int64_t isz = 1, osz = 1, ksz = 1;
    for (int d = 0; d < g->nsp; d++) isz *= g->in[d], osz *= g->out[d], ksz *= g->k[d];
    for (int64_t p = 0; p < g->planes; p++)
        for (int64_t o = 0; o < osz; o++) {
            int64_t oc[3], rem = o;
            for (int d = g->nsp - 1; d >= 0; d--) oc[d] = rem % g->out[d], rem /= g->out[d];
            double best = -INFINITY, sum = 0;
            int64_t n_in = 0, n_pad = 0;
            for (int64_t kk = 0; kk < ksz; kk++) {
                int64_t kc[3], r2 = kk, off = 0;
                bool inside = true, before_end = true;
                for (int d = g->nsp - 1; d >= 0; d--) kc[d] = r2 % g->k[d], r2 /= g->k[d];
                for (int d = 0; d < g->nsp; d++) {
                    int64_t i = oc[d] * g->s[d] - g->pb[d] + kc[d] * g->d[d];
                    if (i < 0 || i >= g->in[d]) inside = false;
                    if (i >= g->in[d] + g->pe[d]) before_end = false;
                    off = off * g->in[d] + i;
                }
                if (before_end) n_pad++;
                if (!inside) continue;
                double v = x[p * isz + off];
                if (v > best) best = v;
                sum += v;
                n_in++;
            }
            /* A window over padding only has no defined value: NaN is skipped. */
            y[p * osz + o] = n_in == 0 ? NAN
                             : g->kind == 0 ? best
                                            : sum / (double)(g->include_pad ? n_pad : n_in);
        }
}

static const char *pad_names[] = {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"};

/* One random pooling case through every path. */
static void random_pool_case(int nsp) {
    pgeom g = {0};
    g.nsp = nsp;
    g.kind = rnd_int32(0, 1);
    int64_t n = rnd_int32(1, 2), c = rnd_int32(1, 5);
    g.planes = n * c;
    int auto_pad = rnd_int32(0, 5);
    if (auto_pad > 3) auto_pad = 0;
    bool ceil_mode = auto_pad == 0 && rnd_int32(0, 1);
    g.include_pad = g.kind == 1 && rnd_int32(0, 1);
    int max_in = nsp == 3 ? 8 : nsp == 2 ? 17 : 40;
    for (int d = 0; d < nsp; d++) {
        g.in[d] = rnd_int32(1, max_in);
        g.k[d] = rnd_int32(1, 4);
        g.s[d] = rnd_int32(1, 3);
        g.d[d] = rnd_int32(1, 2);
        int64_t ext = (g.k[d] - 1) * g.d[d] + 1;
        if (auto_pad == 1 || auto_pad == 2) {
            g.out[d] = (g.in[d] + g.s[d] - 1) / g.s[d];
            int64_t total = (g.out[d] - 1) * g.s[d] + ext - g.in[d];
            if (total < 0) total = 0;
            g.pb[d] = auto_pad == 1 ? total / 2 : total - total / 2;
            g.pe[d] = total - g.pb[d];
        } else {
            if (auto_pad == 0) {
                /* Pads smaller than the window, as the spec asks. */
                g.pb[d] = rnd_int32(0, (int)(ext - 1 < 2 ? ext - 1 : 2));
                g.pe[d] = rnd_int32(0, (int)(ext - 1 < 2 ? ext - 1 : 2));
            }
            int64_t span = g.in[d] + g.pb[d] + g.pe[d] - ext;
            if (span < 0) return;
            g.out[d] = (ceil_mode ? (span + g.s[d] - 1) / g.s[d] : span / g.s[d]) + 1;
            if (ceil_mode && (g.out[d] - 1) * g.s[d] >= g.in[d] + g.pb[d]) g.out[d]--;
        }
    }
    /* Every window must hold at least one input element for max pooling
     * to be defined; the cases drawn above satisfy it by construction
     * except with SAME padding on tiny inputs, which is fine too. */
    int64_t xd[5] = {n, c}, isz = g.planes, osz = g.planes;
    for (int d = 0; d < nsp; d++) xd[2 + d] = g.in[d], isz *= g.in[d], osz *= g.out[d];
    lo_tensor x = tensor_new(LO_FLOAT, nsp + 2, xd);
    for (int64_t i = 0; i < isz; i++) ((float *)x.data)[i] = (float)rnd_int32(-1000, 1000) / 37.f;
    double *want = malloc((size_t)osz * sizeof *want);
    ref_pool(&g, x.data, want);
    /* Some NaN and -inf in a few cases: the paths must agree bit for bit. */
    bool specials = rnd_int32(0, 4) == 0;
    if (specials)
        for (int64_t i = 0; i < isz; i++) {
            int r = rnd_int32(0, 9);
            if (r == 0) ((float *)x.data)[i] = NAN;
            if (r == 1) ((float *)x.data)[i] = -INFINITY;
        }
    float *reference_out = malloc((size_t)osz * sizeof(float));
    for (int impl = 0; impl < 2; impl++) {
        harness_kernels = impl == 0 ? LO_KERNELS_REFERENCE : LO_KERNELS_FAST;
        op_instance op;
        op_init(&op, g.kind == 0 ? "MaxPool" : "AveragePool", 19);
        int64_t pads[6];
        for (int d = 0; d < nsp; d++) pads[d] = g.pb[d], pads[nsp + d] = g.pe[d];
        op_attr_ints(&op, "kernel_shape", nsp, g.k);
        op_attr_ints(&op, "strides", nsp, g.s);
        op_attr_ints(&op, "dilations", nsp, g.d);
        if (auto_pad)
            op_attr_string(&op, "auto_pad", pad_names[auto_pad]);
        else
            op_attr_ints(&op, "pads", 2 * nsp, pads);
        if (ceil_mode) op_attr_int(&op, "ceil_mode", 1);
        if (g.include_pad) op_attr_int(&op, "count_include_pad", 1);
        lo_status st = op_prepare(&op);
        lo_tensor y = {0};
        if (st == LO_OK) st = run1(&op, &x, &y, NULL);
        CHECK(st == LO_OK, "%s: %s", op.node.op_type, op.err.message);
        bool shape_ok = st == LO_OK && y.rank == nsp + 2;
        for (int d = 0; d < nsp && shape_ok; d++) shape_ok = y.dims[2 + d] == g.out[d];
        CHECK(shape_ok, "%s %dD %s ceil%d shape", op.node.op_type, nsp, pad_names[auto_pad],
               ceil_mode);
        if (shape_ok && impl == 0) memcpy(reference_out, y.data, (size_t)osz * sizeof(float));
        if (shape_ok && impl == 1)
            CHECK(memcmp(reference_out, y.data, (size_t)osz * sizeof(float)) == 0,
                   "fast %s %dD differs from the reference bit for bit (specials %d)",
                   op.node.op_type, nsp, specials);
        int64_t bad = 0, first = -1;
        for (int64_t i = 0; i < osz && shape_ok && !specials; i++) {
            double v = ((float *)y.data)[i];
            if (isnan(want[i])) continue;
            if (!(fabs(v - want[i]) <= 1e-5 + 1e-5 * fabs(want[i]))) {
                if (first < 0) first = i;
                bad++;
            }
        }
        CHECK(bad == 0, "%s %s %dD %s ceil%d incl%d: %lld differ, first %lld: %g vs %g",
               impl ? "fast" : "reference", op.node.op_type, nsp, pad_names[auto_pad], ceil_mode,
               g.include_pad, (long long)bad, (long long)first,
               first >= 0 ? ((float *)y.data)[first] : 0.0, first >= 0 ? want[first] : 0.0);
        lo_tensor_free_data(&y);
        op_free(&op);
    }
    harness_kernels = LO_KERNELS_FAST;
    free(want);
    free(reference_out);
    lo_tensor_free_data(&x);
}

static void test_pool_random(void) {
    for (int i = 0; i < 600; i++) random_pool_case(2);
    for (int i = 0; i < 100; i++) random_pool_case(1);
    for (int i = 0; i < 60; i++) random_pool_case(3);
}

/* ---- known answers ------------------------------------------------------ */

static lo_tensor ramp(int64_t h, int64_t w) {
    int64_t d[] = {1, 1, h, w};
    lo_tensor x = tensor_new(LO_FLOAT, 4, d);
    for (int64_t i = 0; i < h * w; i++) ((float *)x.data)[i] = (float)(i + 1);
    return x;
}

static bool values_are(const lo_tensor *y, const float *want, int n) {
    if (!y->data || lo_numel(y) != n) return false;
    for (int i = 0; i < n; i++)
        if (fabsf(((float *)y->data)[i] - want[i]) > 1e-5f) return false;
    return true;
}

static void test_pool_known_answers(void) {
    lo_tensor x = ramp(4, 4), y = {0}, ind = {0};
    op_instance op;
    int64_t k3[] = {3, 3}, s2[] = {2, 2}, k2[] = {2, 2};
    /* ceil_mode: 4x4 with 3x3 windows at stride 2 gives 2x2. */
    op_init(&op, "MaxPool", 12);
    op_attr_ints(&op, "kernel_shape", 2, k3);
    op_attr_ints(&op, "strides", 2, s2);
    op_attr_int(&op, "ceil_mode", 1);
    op_prepare(&op);
    CHECK(run1(&op, &x, &y, NULL) == LO_OK, "maxpool ceil: %s", op.err.message);
    CHECK(values_are(&y, (const float[]){11, 12, 15, 16}, 4), "maxpool_2d_ceil values");
    lo_tensor_free_data(&y);
    op_free(&op);
    op_init(&op, "AveragePool", 11);
    op_attr_ints(&op, "kernel_shape", 2, k3);
    op_attr_ints(&op, "strides", 2, s2);
    op_attr_int(&op, "ceil_mode", 1);
    op_prepare(&op);
    CHECK(run1(&op, &x, &y, NULL) == LO_OK, "avgpool ceil: %s", op.err.message);
    CHECK(values_are(&y, (const float[]){6, 7.5f, 12, 13.5f}, 4), "averagepool_2d_ceil values");
    lo_tensor_free_data(&y);
    op_free(&op);
    lo_tensor_free_data(&x);

    /* Indices, column-major: 5x5 ramp, 2x2 windows at stride 2. */
    x = ramp(5, 5);
    op_init(&op, "MaxPool", 12);
    op_attr_ints(&op, "kernel_shape", 2, k2);
    op_attr_ints(&op, "strides", 2, s2);
    op_attr_int(&op, "storage_order", 1);
    op_prepare(&op);
    CHECK(run1(&op, &x, &y, &ind) == LO_OK, "argmax: %s", op.err.message);
    CHECK(values_are(&y, (const float[]){7, 9, 17, 19}, 4), "argmax values");
    CHECK(ind.dtype == LO_INT64 && ind.data && ((int64_t *)ind.data)[0] == 6 &&
               ((int64_t *)ind.data)[1] == 16 && ((int64_t *)ind.data)[2] == 8 &&
               ((int64_t *)ind.data)[3] == 18,
           "column-major indices");
    lo_tensor_free_data(&y);
    lo_tensor_free_data(&ind);
    op_free(&op);
    lo_tensor_free_data(&x);
    /* Row-major indices include the plane offset: two planes. */
    int64_t d2[] = {1, 2, 5, 5};
    lo_tensor x2 = tensor_new(LO_FLOAT, 4, d2);
    for (int i = 0; i < 50; i++) ((float *)x2.data)[i] = (float)(i % 25);
    op_init(&op, "MaxPool", 8);
    op_attr_ints(&op, "kernel_shape", 2, k2);
    op_attr_ints(&op, "strides", 2, s2);
    op_prepare(&op);
    CHECK(run1(&op, &x2, &y, &ind) == LO_OK, "argmax rows: %s", op.err.message);
    CHECK(ind.data && ((int64_t *)ind.data)[0] == 6 && ((int64_t *)ind.data)[3] == 18 &&
               ((int64_t *)ind.data)[4] == 31 && ((int64_t *)ind.data)[7] == 43,
           "row-major indices with plane offsets");
    lo_tensor_free_data(&y);
    lo_tensor_free_data(&ind);
    op_free(&op);
    lo_tensor_free_data(&x2);

    /* uint8 from opset 12, padded: values are copied exactly. */
    int64_t du[] = {1, 1, 5, 5}, k5[] = {5, 5}, p2[] = {2, 2, 2, 2};
    lo_tensor xu = tensor_new(LO_UINT8, 4, du);
    for (int i = 0; i < 25; i++) ((uint8_t *)xu.data)[i] = (uint8_t)(i + 1);
    op_init(&op, "MaxPool", 12);
    op_attr_ints(&op, "kernel_shape", 2, k5);
    op_attr_ints(&op, "pads", 4, p2);
    op_prepare(&op);
    CHECK(run1(&op, &xu, &y, NULL) == LO_OK, "uint8: %s", op.err.message);
    static const uint8_t want_u8[] = {13, 14, 15, 15, 15, 18, 19, 20, 20, 20, 23, 24, 25,
                                      25, 25, 23, 24, 25, 25, 25, 23, 24, 25, 25, 25};
    CHECK(y.dtype == LO_UINT8 && y.data && memcmp(y.data, want_u8, 25) == 0, "uint8 values");
    lo_tensor_free_data(&y);
    op_free(&op);
    op_init(&op, "MaxPool", 11);
    op_attr_ints(&op, "kernel_shape", 2, k5);
    op_prepare(&op);
    CHECK(run1(&op, &xu, &y, NULL) == LO_ERR_INPUT, "uint8 accepted before opset 12");
    lo_tensor_free_data(&y);
    op_free(&op);
    lo_tensor_free_data(&xu);

    /* float16 average: the same as float32 up to half precision. */
    int64_t dh[] = {1, 1, 4, 4};
    lo_tensor xh = tensor_new(LO_FLOAT16, 4, dh);
    for (int i = 0; i < 16; i++) ((uint16_t *)xh.data)[i] = lo_float_to_half((float)(i + 1));
    op_init(&op, "AveragePool", 11);
    op_attr_ints(&op, "kernel_shape", 2, k3);
    op_attr_ints(&op, "strides", 2, s2);
    op_attr_int(&op, "ceil_mode", 1);
    op_prepare(&op);
    CHECK(run1(&op, &xh, &y, NULL) == LO_OK, "float16: %s", op.err.message);
    CHECK(y.dtype == LO_FLOAT16 && y.data && lo_half_to_float(((uint16_t *)y.data)[1]) == 7.5f &&
               lo_half_to_float(((uint16_t *)y.data)[3]) == 13.5f,
           "float16 averages");
    lo_tensor_free_data(&y);
    op_free(&op);
    lo_tensor_free_data(&xh);
}

/* LpPool and the global pools against direct sums. */
static void test_lp_and_global(void) {
    int64_t d[] = {2, 3, 4, 5};
    lo_tensor x = tensor_new(LO_FLOAT, 4, d);
    for (int i = 0; i < 120; i++) ((float *)x.data)[i] = (float)rnd_int32(-50, 50) / 7.f;
    op_instance op;
    lo_tensor y = {0};
    const char *ops[] = {"GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"};
    for (int k = 0; k < 3; k++) {
        op_init(&op, ops[k], k == 2 ? 2 : 1);
        if (k == 2) op_attr_int(&op, "p", 3);
        op_prepare(&op);
        CHECK(run1(&op, &x, &y, NULL) == LO_OK, "%s: %s", ops[k], op.err.message);
        CHECK(y.rank == 4 && y.dims[1] == 3 && y.dims[2] == 1 && y.dims[3] == 1, "%s shape", ops[k]);
        int bad = 0;
        for (int pl = 0; pl < 6 && y.data; pl++) {
            double sum = 0, best = -INFINITY, lp = 0;
            for (int i = 0; i < 20; i++) {
                double v = ((float *)x.data)[pl * 20 + i];
                sum += v;
                best = v > best ? v : best;
                lp += pow(fabs(v), 3);
            }
            double want = k == 0 ? sum / 20 : k == 1 ? best : cbrt(lp);
            if (fabs(((float *)y.data)[pl] - want) > 1e-5 * (1 + fabs(want))) bad++;
        }
        CHECK(bad == 0, "%s values differ in %d planes", ops[k], bad);
        lo_tensor_free_data(&y);
        op_free(&op);
    }
    /* LpPool p=2, 2x2 windows, one pad: padding adds nothing to the norm. */
    op_init(&op, "LpPool", 18);
    int64_t k2[] = {2, 2}, pads[] = {1, 0, 0, 1};
    op_attr_ints(&op, "kernel_shape", 2, k2);
    op_attr_ints(&op, "pads", 4, pads);
    op_attr_int(&op, "p", 2);
    op_prepare(&op);
    CHECK(run1(&op, &x, &y, NULL) == LO_OK, "LpPool: %s", op.err.message);
    CHECK(y.dims[2] == 4 && y.dims[3] == 5, "LpPool shape %lldx%lld", (long long)y.dims[2],
           (long long)y.dims[3]);
    int bad = 0;
    for (int pl = 0; pl < 6 && y.data; pl++)
        for (int oh = 0; oh < 4; oh++)
            for (int ow = 0; ow < 5; ow++) {
                double acc = 0;
                for (int kh = 0; kh < 2; kh++)
                    for (int kw = 0; kw < 2; kw++) {
                        int h = oh - 1 + kh, w = ow + kw;
                        if (h < 0 || h >= 4 || w >= 5) continue;
                        double v = ((float *)x.data)[pl * 20 + h * 5 + w];
                        acc += v * v;
                    }
                if (fabs(((float *)y.data)[pl * 20 + oh * 5 + ow] - sqrt(acc)) > 1e-5 * (1 + sqrt(acc)))
                    bad++;
            }
    CHECK(bad == 0, "LpPool differs in %d places", bad);
    lo_tensor_free_data(&y);
    op_free(&op);
    /* LpPool-1 took p as a float. */
    op_init(&op, "LpPool", 1);
    op_attr_ints(&op, "kernel_shape", 2, k2);
    op_attr_float(&op, "p", 1.0f);
    op_prepare(&op);
    CHECK(run1(&op, &x, &y, NULL) == LO_OK, "LpPool-1: %s", op.err.message);
    double want = 0;
    for (int kh = 0; kh < 2; kh++)
        for (int kw = 0; kw < 2; kw++) want += fabs(((float *)x.data)[kh * 5 + kw]);
    CHECK(y.data && fabs(((float *)y.data)[0] - want) < 1e-5, "LpPool p=1 is the L1 norm");
    lo_tensor_free_data(&y);
    op_free(&op);
    lo_tensor_free_data(&x);
}

/* ---- MaxUnpool ---------------------------------------------------------- */

static void test_max_unpool(void) {
    int64_t d[] = {1, 1, 2, 2}, sd[] = {4};
    lo_tensor x = tensor_new(LO_FLOAT, 4, d), ind = tensor_new(LO_INT64, 4, d);
    lo_tensor shape = tensor_new(LO_INT64, 1, sd);
    const float xv[] = {5, 6, 7, 8};
    const int64_t iv[] = {5, 7, 13, 15}, sv[] = {1, 1, 5, 5};
    memcpy(x.data, xv, sizeof xv);
    memcpy(ind.data, iv, sizeof iv);
    memcpy(shape.data, sv, sizeof sv);
    op_instance op;
    int64_t k2[] = {2, 2}, s2[] = {2, 2};
    op_init(&op, "MaxUnpool", 11);
    op_attr_ints(&op, "kernel_shape", 2, k2);
    op_attr_ints(&op, "strides", 2, s2);
    op_prepare(&op);
    lo_tensor y = {0};
    const lo_tensor *in[] = {&x, &ind, &shape};
    CHECK(op_run(&op, in, 2, &y, 1) == LO_OK, "MaxUnpool: %s", op.err.message);
    float want4[16] = {0};
    want4[5] = 5, want4[7] = 6, want4[13] = 7, want4[15] = 8;
    CHECK(y.dims[2] == 4 && values_are(&y, want4, 16), "MaxUnpool without output_shape");
    lo_tensor_free_data(&y);
    CHECK(op_run(&op, in, 3, &y, 1) == LO_OK, "MaxUnpool shape: %s", op.err.message);
    /* Indices are positions in the 5x5 output (ONNX Runtime, PyTorch). */
    float want5[25] = {0};
    want5[5] = 5, want5[7] = 6, want5[13] = 7, want5[15] = 8;
    CHECK(y.dims[2] == 5 && values_are(&y, want5, 25), "MaxUnpool with output_shape");
    lo_tensor_free_data(&y);
    ((int64_t *)ind.data)[2] = 16;
    CHECK(op_run(&op, in, 2, &y, 1) == LO_ERR_INPUT, "index out of range accepted");
    lo_tensor_free_data(&y);
    op_free(&op);
    lo_tensor_free_data(&x);
    lo_tensor_free_data(&ind);
    lo_tensor_free_data(&shape);
}

/* ---- RoiAlign / MaxRoiPool ---------------------------------------------- */

static void test_roi(void) {
    /* On f(y, x) = x bilinear sampling is exact, so an average bin is its
     * centre's x; on a constant map every bin is that constant. */
    int64_t d[] = {2, 2, 10, 12}, rd[] = {2, 4}, bd[] = {2};
    lo_tensor x = tensor_new(LO_FLOAT, 4, d), rois = tensor_new(LO_FLOAT, 2, rd);
    lo_tensor bi = tensor_new(LO_INT64, 1, bd);
    for (int b = 0; b < 2; b++)
        for (int c = 0; c < 2; c++)
            for (int h = 0; h < 10; h++)
                for (int w = 0; w < 12; w++)
                    ((float *)x.data)[((b * 2 + c) * 10 + h) * 12 + w] = c == 0 ? (float)w : 3.f;
    const float rv[] = {1, 2, 9, 7, 2.5f, 0.5f, 8.5f, 6.5f};
    memcpy(rois.data, rv, sizeof rv);
    ((int64_t *)bi.data)[0] = 1;
    ((int64_t *)bi.data)[1] = 0;
    op_instance op;
    op_init(&op, "RoiAlign", 16);
    op_attr_int(&op, "output_height", 3);
    op_attr_int(&op, "output_width", 4);
    op_attr_int(&op, "sampling_ratio", 2);
    op_prepare(&op);
    const lo_tensor *in[] = {&x, &rois, &bi};
    lo_tensor y = {0};
    CHECK(op_run(&op, in, 3, &y, 1) == LO_OK, "RoiAlign: %s", op.err.message);
    CHECK(y.rank == 4 && y.dims[0] == 2 && y.dims[1] == 2 && y.dims[2] == 3 && y.dims[3] == 4,
           "RoiAlign shape");
    int bad = 0;
    for (int r = 0; r < 2 && y.data; r++) {
        double x1 = rv[r * 4] - 0.5, x2 = rv[r * 4 + 2] - 0.5, bw = (x2 - x1) / 4;
        for (int ph = 0; ph < 3; ph++)
            for (int pw = 0; pw < 4; pw++) {
                double want = x1 + (pw + 0.5) * bw;
                if (fabs(((float *)y.data)[((r * 2 + 0) * 3 + ph) * 4 + pw] - want) > 1e-5) bad++;
                if (fabs(((float *)y.data)[((r * 2 + 1) * 3 + ph) * 4 + pw] - 3.0) > 1e-5) bad++;
            }
    }
    CHECK(bad == 0, "RoiAlign half_pixel averages differ in %d places", bad);
    lo_tensor_free_data(&y);
    ((int64_t *)bi.data)[1] = 2;
    CHECK(op_run(&op, in, 3, &y, 1) == LO_ERR_INPUT, "batch index out of range accepted");
    lo_tensor_free_data(&y);
    op_free(&op);
    op_init(&op, "RoiAlign", 16);
    op_attr_string(&op, "mode", "median");
    CHECK(op_prepare(&op) == LO_ERR_MODEL, "unknown mode accepted");
    op_free(&op);

    /* MaxRoiPool: the whole 10x12 map of channel 0 in 2x3 bins. */
    int64_t rd5[] = {1, 5};
    lo_tensor r5 = tensor_new(LO_FLOAT, 2, rd5);
    const float r5v[] = {0, 0, 0, 11, 9};
    memcpy(r5.data, r5v, sizeof r5v);
    op_init(&op, "MaxRoiPool", 1);
    int64_t pooled[] = {2, 3};
    op_attr_ints(&op, "pooled_shape", 2, pooled);
    op_prepare(&op);
    const lo_tensor *in2[] = {&x, &r5};
    CHECK(op_run(&op, in2, 2, &y, 1) == LO_OK, "MaxRoiPool: %s", op.err.message);
    CHECK(y.dims[0] == 1 && y.dims[1] == 2 && y.dims[2] == 2 && y.dims[3] == 3,
           "MaxRoiPool shape");
    CHECK(values_are(&y, (const float[]){3, 7, 11, 3, 7, 11, 3, 3, 3, 3, 3, 3}, 12),
           "MaxRoiPool values");
    lo_tensor_free_data(&y);
    op_free(&op);
    lo_tensor_free_data(&r5);
    lo_tensor_free_data(&x);
    lo_tensor_free_data(&rois);
    lo_tensor_free_data(&bi);
}

/* The executor passes NULL for an output nobody reads. */
static void test_omitted_outputs(void) {
    lo_tensor x = ramp(5, 5);
    op_instance op;
    int64_t k2[] = {2, 2}, s2[] = {2, 2};
    op_init(&op, "MaxPool", 12);
    op_attr_ints(&op, "kernel_shape", 2, k2);
    op_attr_ints(&op, "strides", 2, s2);
    op_attr_int(&op, "storage_order", 1);
    op_prepare(&op);
    const lo_tensor *in[] = {&x};
    lo_tensor ind = {0};
    lo_tensor *outs[2] = {NULL, &ind};
    lo_kernel_ctx ctx = {.node = &op.node, .params = op.params, .in = in, .n_in = 1,
                         .out = outs, .n_out = 2, .err = &op.err};
    CHECK(op.def->run(&ctx) == LO_OK, "indices only: %s", op.err.message);
    CHECK(ind.data && ((int64_t *)ind.data)[0] == 6 && ((int64_t *)ind.data)[3] == 18,
           "indices without values");
    lo_tensor_free_data(&ind);
    outs[1] = NULL;
    CHECK(op.def->run(&ctx) == LO_OK, "no outputs: %s", op.err.message);
    op_free(&op);
    lo_tensor_free_data(&x);
}

static void test_pool_errors(void) {
    op_instance op;
    op_init(&op, "MaxPool", 12);
    CHECK(op_prepare(&op) == LO_ERR_MODEL, "missing kernel_shape accepted");
    op_free(&op);
    int64_t k[] = {2, 2}, s3[] = {1, 1, 1};
    op_init(&op, "AveragePool", 11);
    op_attr_ints(&op, "kernel_shape", 2, k);
    op_attr_ints(&op, "strides", 3, s3);
    CHECK(op_prepare(&op) == LO_ERR_MODEL, "strides of the wrong length accepted");
    op_free(&op);
    int64_t d3[] = {1, 1, 5}, big[] = {9, 9};
    lo_tensor x = tensor_new(LO_FLOAT, 3, d3), y = {0};
    op_init(&op, "MaxPool", 12);
    op_attr_ints(&op, "kernel_shape", 2, k);
    op_prepare(&op);
    CHECK(run1(&op, &x, &y, NULL) == LO_ERR_MODEL, "2-D kernel on 1-D input accepted");
    lo_tensor_free_data(&y);
    op_free(&op);
    int64_t d4[] = {1, 1, 5, 5};
    lo_tensor x4 = tensor_new(LO_FLOAT, 4, d4);
    op_init(&op, "MaxPool", 12);
    op_attr_ints(&op, "kernel_shape", 2, big);
    op_prepare(&op);
    CHECK(run1(&op, &x4, &y, NULL) == LO_ERR_INPUT, "window larger than input accepted");
    lo_tensor_free_data(&y);
    op_free(&op);
    lo_tensor_free_data(&x);
    lo_tensor_free_data(&x4);
}

int main(void) {
    test_pool_random();
    test_pool_known_answers();
    test_lp_and_global();
    test_max_unpool();
    test_roi();
    test_omitted_outputs();
    test_pool_errors();
    return finish(NULL);
}
