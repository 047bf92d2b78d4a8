/* Kernels of norm.c, through the registry; the fast and reference paths are
 * chosen as sessions choose them, by the context's kernel choice. */

/* Two threads, so the kernels' parallel splits run too. */
#define HARNESS_THREADS 2
#include "harness.h"

/* Runs op twice, fast path and forced reference, and returns both. */
static lo_status run_both(const char *op, int opset, lo_attr *at, int n_at, const lo_tensor **in, int n_in,
                          lo_tensor *fast, lo_tensor *ref, int n_out, lo_error *err) {
    harness_kernels = LO_KERNELS_FAST;
    lo_status s = run_op(op, opset, at, n_at, in, n_in, fast, n_out, err);
    if (s != LO_OK) return s;
    harness_kernels = LO_KERNELS_REFERENCE;
    s = run_op(op, opset, at, n_at, in, n_in, ref, n_out, err);
    harness_kernels = LO_KERNELS_FAST;
    return s;
}

static void test_softmax(void) {
    lo_error err;
    static const char *ops[3] = {"Softmax", "LogSoftmax", "Hardmax"};
    for (int trial = 0; trial < 18; trial++) {
        int64_t dims[3] = {rnd_int(1, 5), rnd_int(1, 7), rnd_int(1, 300)};
        lo_tensor x = tensor_rand(LO_FLOAT, 3, dims);
        for (int64_t i = 0; i < lo_numel(&x); i++) ((float *)x.data)[i] *= 30; /* exercise the max shift */
        const char *op = ops[trial % 3];
        int64_t axis = trial % 2 ? -1 : 1;
        lo_attr at[1] = {attr_int("axis", axis)};
        const lo_tensor *in[1] = {&x};
        lo_tensor fast[1] = {{0}}, ref[1] = {{0}};
        lo_status st = run_both(op, 13, at, 1, in, 1, fast, ref, 1, &err);
        CHECK(st == LO_OK, "%s: %s", op, err.message);
        if (st != LO_OK) continue;
        CHECK(mismatch(fast, ref, 1e-6, 1e-5) <= 1, "%s axis %lld: fast path differs from reference", op, (long long)axis);
        /* along the axis, softmax sums to 1, exp(logsoftmax) too, hardmax has one 1 */
        int64_t n = axis == 1 ? dims[1] : dims[2], inner = axis == 1 ? dims[2] : 1, outer = lo_numel(&x) / (n * inner);
        int bad = 0;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t i = 0; i < inner; i++) {
                double s = 0;
                for (int64_t k = 0; k < n; k++) {
                    double v = lo_get_f64(fast, o * n * inner + k * inner + i);
                    s += trial % 3 == 1 ? exp(v) : v;
                }
                bad += fabs(s - 1) > 1e-4;
            }
        CHECK(bad == 0, "%s axis %lld: %d slices do not sum to 1", op, (long long)axis, bad);
        free_all(fast, 1), free_all(ref, 1);
        lo_tensor_free_data(&x);
    }
    /* opset < 13 flattens at the axis: [2,3,4] axis 1 sums over 12 values */
    int64_t d[3] = {2, 3, 4};
    lo_tensor x = tensor_rand(LO_FLOAT, 3, d);
    const lo_tensor *in[1] = {&x};
    lo_tensor out[1] = {{0}};
    lo_attr at[1] = {attr_int("axis", 1)};
    CHECK(run_op("Softmax", 11, at, 1, in, 1, out, 1, &err) == LO_OK, "Softmax-11");
    double s0 = 0;
    for (int i = 0; i < 12; i++) s0 += lo_get_f64(out, i);
    CHECK(fabs(s0 - 1) < 1e-5, "Softmax-11 does not coerce to 2-D (sum %g)", s0);
    free_all(out, 1);
    CHECK(run_op("Softmax", 1, NULL, 0, in, 1, out, 1, &err) == LO_OK, "Softmax-1 default axis");
    free_all(out, 1);
    /* Hardmax picks the first of equal maxima */
    double tie[4] = {1, 3, 3, 0};
    int64_t d4[1] = {4};
    lo_tensor t = tensor_of(LO_FLOAT, 1, d4, tie);
    const lo_tensor *tin[1] = {&t};
    CHECK(run_op("Hardmax", 13, NULL, 0, tin, 1, out, 1, &err) == LO_OK && lo_get_f64(out, 1) == 1 &&
               lo_get_f64(out, 2) == 0,
           "Hardmax tie goes to the first index");
    free_all(out, 1);
    /* float16 through the reference path */
    lo_tensor h = tensor_new(LO_FLOAT16, 3, d);
    for (int64_t i = 0; i < 24; i++) lo_set_f64(&h, i, lo_get_f64(&x, i));
    const lo_tensor *hin[1] = {&h}, *xin[1] = {&x};
    lo_tensor oh[1] = {{0}}, ox[1] = {{0}};
    CHECK(run_op("Softmax", 13, NULL, 0, hin, 1, oh, 1, &err) == LO_OK && oh[0].dtype == LO_FLOAT16, "Softmax f16");
    run_op("Softmax", 13, NULL, 0, xin, 1, ox, 1, &err);
    CHECK(mismatch(oh, ox, 1e-3, 2e-3) <= 1, "Softmax f16 differs from f32");
    free_all(oh, 1), free_all(ox, 1);
    lo_tensor_free_data(&x), lo_tensor_free_data(&t), lo_tensor_free_data(&h);
    /* an axis out of range is an input error */
    lo_attr bad_axis[1] = {attr_int("axis", 5)};
    lo_tensor y = tensor_rand(LO_FLOAT, 3, d);
    const lo_tensor *yin[1] = {&y};
    CHECK(run_op("Softmax", 13, bad_axis, 1, yin, 1, out, 1, &err) == LO_ERR_INPUT, "axis 5 of rank 3 accepted");
    free_all(out, 1);
    lo_tensor_free_data(&y);
}

static void test_layernorm(void) {
    lo_error err;
    for (int trial = 0; trial < 10; trial++) {
        int64_t dims[3] = {rnd_int(1, 4), rnd_int(1, 9), rnd_int(1, 200)};
        int64_t cd[1] = {dims[2]};
        lo_tensor x = tensor_rand(LO_FLOAT, 3, dims), sc = tensor_rand(LO_FLOAT, 1, cd), b = tensor_rand(LO_FLOAT, 1, cd);
        const lo_tensor *in[3] = {&x, &sc, trial % 2 ? &b : NULL};
        lo_tensor fast[3] = {{0}}, ref[3] = {{0}};
        lo_attr at[1] = {attr_float("epsilon", 1e-3f)};
        lo_status st = run_both("LayerNormalization", 17, at, 1, in, 3, fast, ref, 3, &err);
        CHECK(st == LO_OK, "LayerNormalization: %s", err.message);
        if (st != LO_OK) continue;
        for (int o = 0; o < 3; o++)
            CHECK(mismatch(&fast[o], &ref[o], 1e-5, 1e-4) <= 1, "LayerNormalization output %d: fast differs", o);
        CHECK(fast[1].rank == 3 && fast[1].dims[2] == 1 && fast[1].dims[1] == dims[1], "Mean shape");
        /* check one row by hand */
        int64_t C = dims[2];
        double m = 0, v = 0;
        for (int64_t k = 0; k < C; k++) m += lo_get_f64(&x, k);
        m /= C;
        for (int64_t k = 0; k < C; k++) v += (lo_get_f64(&x, k) - m) * (lo_get_f64(&x, k) - m);
        v /= C;
        double inv = 1 / sqrt(v + 1e-3);
        double want = (lo_get_f64(&x, C - 1) - m) * inv * lo_get_f64(&sc, C - 1) + (trial % 2 ? lo_get_f64(&b, C - 1) : 0);
        CHECK(fabs(lo_get_f64(&fast[0], C - 1) - want) < 1e-4 && fabs(lo_get_f64(&fast[1], 0) - m) < 1e-5 &&
                   fabs(lo_get_f64(&fast[2], 0) - inv) < 1e-3 * inv,
               "LayerNormalization row 0 by hand");
        free_all(fast, 3), free_all(ref, 3);
        lo_tensor_free_data(&x), lo_tensor_free_data(&sc), lo_tensor_free_data(&b);
    }
    /* axis 1 of [2,3,4] with a broadcast [1,4] scale (reference path only) */
    int64_t d[3] = {2, 3, 4}, sd[2] = {1, 4};
    lo_tensor x = tensor_rand(LO_FLOAT, 3, d), sc = tensor_rand(LO_FLOAT, 2, sd);
    const lo_tensor *in[2] = {&x, &sc};
    lo_tensor out[3] = {{0}};
    lo_attr at[1] = {attr_int("axis", 1)};
    CHECK(run_op("LayerNormalization", 17, at, 1, in, 2, out, 1, &err) == LO_OK, "LayerNorm axis 1: %s", err.message);
    double m = 0, v = 0;
    for (int k = 0; k < 12; k++) m += lo_get_f64(&x, 12 + k);
    m /= 12;
    for (int k = 0; k < 12; k++) v += pow(lo_get_f64(&x, 12 + k) - m, 2);
    v /= 12;
    double want = (lo_get_f64(&x, 12 + 5) - m) / sqrt(v + 1e-5) * lo_get_f64(&sc, 1);
    CHECK(out[0].data && fabs(lo_get_f64(&out[0], 12 + 5) - want) < 1e-5, "LayerNorm axis 1 value");
    free_all(out, 3);
    lo_tensor_free_data(&x), lo_tensor_free_data(&sc);
}

static void test_batchnorm(void) {
    lo_error err;
    for (int trial = 0; trial < 6; trial++) {
        int64_t dims[4] = {rnd_int(1, 3), rnd_int(1, 8), rnd_int(1, 9), rnd_int(1, 9)};
        int64_t cd[1] = {dims[1]};
        lo_tensor x = tensor_rand(LO_FLOAT, 4, dims), sc = tensor_rand(LO_FLOAT, 1, cd), b = tensor_rand(LO_FLOAT, 1, cd),
                  mean = tensor_rand(LO_FLOAT, 1, cd), var = tensor_rand(LO_FLOAT, 1, cd);
        for (int64_t c = 0; c < dims[1]; c++) lo_set_f64(&var, c, fabs(lo_get_f64(&var, c)) + 0.1);
        const lo_tensor *in[5] = {&x, &sc, &b, &mean, &var};
        lo_tensor fast[1] = {{0}}, ref[1] = {{0}};
        int opset = trial % 2 ? 15 : 7;
        lo_status st = run_both("BatchNormalization", opset, NULL, 0, in, 5, fast, ref, 1, &err);
        CHECK(st == LO_OK, "BatchNormalization: %s", err.message);
        if (st == LO_OK) {
            CHECK(mismatch(fast, ref, 1e-5, 1e-4) <= 1, "BatchNormalization fast differs from reference");
            int64_t i = lo_numel(&x) - 1, c = dims[1] - 1;
            double want = (lo_get_f64(&x, i) - lo_get_f64(&mean, c)) / sqrt(lo_get_f64(&var, c) + 1e-5) * lo_get_f64(&sc, c) +
                          lo_get_f64(&b, c);
            CHECK(fabs(lo_get_f64(fast, i) - want) < 1e-4, "BatchNormalization last element by hand");
        }
        free_all(fast, 1), free_all(ref, 1);
        /* training mode: batch statistics normalize; running stats move by momentum */
        if (trial == 1) {
            lo_attr at[2] = {attr_int("training_mode", 1), attr_float("momentum", 0.8f)};
            lo_tensor out[3] = {{0}};
            CHECK(run_op("BatchNormalization", 15, at, 2, in, 5, out, 3, &err) == LO_OK, "training: %s", err.message);
            int64_t N = dims[0], C = dims[1], sp = dims[2] * dims[3];
            double s = 0, ss = 0;
            for (int64_t n = 0; n < N; n++)
                for (int64_t k = 0; k < sp; k++) s += lo_get_f64(&x, (n * C) * sp + k);
            double m = s / (N * sp);
            for (int64_t n = 0; n < N; n++)
                for (int64_t k = 0; k < sp; k++) ss += pow(lo_get_f64(&x, (n * C) * sp + k) - m, 2);
            double v = ss / (N * sp);
            CHECK(out[1].data && fabs(lo_get_f64(&out[1], 0) - (0.8 * lo_get_f64(&mean, 0) + 0.2 * m)) < 1e-5 &&
                       fabs(lo_get_f64(&out[2], 0) - (0.8 * lo_get_f64(&var, 0) + 0.2 * v)) < 1e-5,
                   "training running mean/var");
            double want = (lo_get_f64(&x, 0) - m) / sqrt(v + 1e-5) * lo_get_f64(&sc, 0) + lo_get_f64(&b, 0);
            CHECK(fabs(lo_get_f64(&out[0], 0) - want) < 1e-4, "training Y");
            free_all(out, 3);
        }
        lo_tensor *all[] = {&x, &sc, &b, &mean, &var};
        for (int k = 0; k < 5; k++) lo_tensor_free_data(all[k]);
    }
    /* spatial = 0 (opset 7): statistics per C x H x W element */
    int64_t d[4] = {2, 2, 1, 3}, sd[3] = {2, 1, 3};
    lo_tensor x = tensor_rand(LO_FLOAT, 4, d), sc = tensor_rand(LO_FLOAT, 3, sd), b = tensor_rand(LO_FLOAT, 3, sd),
              mean = tensor_rand(LO_FLOAT, 3, sd), var = tensor_rand(LO_FLOAT, 3, sd);
    for (int k = 0; k < 6; k++) lo_set_f64(&var, k, fabs(lo_get_f64(&var, k)) + 0.1);
    const lo_tensor *in[5] = {&x, &sc, &b, &mean, &var};
    lo_attr at[1] = {attr_int("spatial", 0)};
    lo_tensor out[1] = {{0}};
    CHECK(run_op("BatchNormalization", 7, at, 1, in, 5, out, 1, &err) == LO_OK, "spatial=0: %s", err.message);
    double want = (lo_get_f64(&x, 6 + 4) - lo_get_f64(&mean, 4)) / sqrt(lo_get_f64(&var, 4) + 1e-5) * lo_get_f64(&sc, 4) +
                  lo_get_f64(&b, 4);
    CHECK(out[0].data && fabs(lo_get_f64(out, 10) - want) < 1e-5, "spatial=0 value");
    free_all(out, 1);
    /* per-channel statistics of the wrong length are an input error */
    CHECK(run_op("BatchNormalization", 15, NULL, 0, in, 5, out, 1, &err) == LO_ERR_INPUT, "stat length mismatch accepted");
    free_all(out, 1);
    lo_tensor *all[] = {&x, &sc, &b, &mean, &var};
    for (int k = 0; k < 5; k++) lo_tensor_free_data(all[k]);
}

static void test_group_instance(void) {
    lo_error err;
    int64_t d[4] = {2, 6, 5, 7}, cd[1] = {6}, gd[1] = {3};
    lo_tensor x = tensor_rand(LO_FLOAT, 4, d), sc = tensor_rand(LO_FLOAT, 1, cd), b = tensor_rand(LO_FLOAT, 1, cd);
    const lo_tensor *in[3] = {&x, &sc, &b};
    lo_tensor fast[1] = {{0}}, ref[1] = {{0}};
    CHECK(run_both("InstanceNormalization", 6, NULL, 0, in, 3, fast, ref, 1, &err) == LO_OK, "InstanceNorm: %s", err.message);
    CHECK(mismatch(fast, ref, 1e-5, 1e-4) <= 1, "InstanceNormalization fast differs from reference");
    /* GroupNormalization-21 with one group per channel is InstanceNormalization */
    lo_tensor g[1] = {{0}};
    lo_attr at[1] = {attr_int("num_groups", 6)};
    CHECK(run_op("GroupNormalization", 21, at, 1, in, 3, g, 1, &err) == LO_OK, "GroupNorm: %s", err.message);
    CHECK(mismatch(g, fast, 1e-5, 1e-4) <= 1, "GroupNormalization(C groups) differs from InstanceNormalization");
    free_all(g, 1);
    /* 3 groups, opset 18 per-group affine: check one group's statistics */
    lo_tensor gs = tensor_rand(LO_FLOAT, 1, gd), gb = tensor_rand(LO_FLOAT, 1, gd);
    const lo_tensor *gin[3] = {&x, &gs, &gb};
    at[0] = attr_int("num_groups", 3);
    CHECK(run_op("GroupNormalization", 18, at, 1, gin, 3, g, 1, &err) == LO_OK, "GroupNorm-18: %s", err.message);
    int64_t len = 2 * 35, base = (1 * 6 + 2) * 35; /* batch 1, group 1 */
    double m = 0, v = 0;
    for (int64_t k = 0; k < len; k++) m += lo_get_f64(&x, base + k);
    m /= len;
    for (int64_t k = 0; k < len; k++) v += pow(lo_get_f64(&x, base + k) - m, 2);
    v /= len;
    double want = (lo_get_f64(&x, base + 3) - m) / sqrt(v + 1e-5) * lo_get_f64(&gs, 1) + lo_get_f64(&gb, 1);
    CHECK(g[0].data && fabs(lo_get_f64(g, base + 3) - want) < 1e-5, "GroupNormalization-18 value");
    free_all(g, 1);
    at[0] = attr_int("num_groups", 4);
    CHECK(run_op("GroupNormalization", 21, at, 1, in, 3, g, 1, &err) == LO_ERR_INPUT, "6 channels in 4 groups accepted");
    free_all(g, 1);
    free_all(fast, 1), free_all(ref, 1);
    lo_tensor_free_data(&x), lo_tensor_free_data(&sc), lo_tensor_free_data(&b), lo_tensor_free_data(&gs), lo_tensor_free_data(&gb);
}

static void test_lrn_mvn_lp(void) {
    lo_error err;
    int64_t d[4] = {1, 5, 2, 2};
    lo_tensor x = tensor_rand(LO_FLOAT, 4, d);
    const lo_tensor *in[1] = {&x};
    lo_tensor out[1] = {{0}};
    lo_attr at[4] = {attr_int("size", 3), attr_float("alpha", 0.1f), attr_float("beta", 0.6f), attr_float("bias", 2.0f)};
    CHECK(run_op("LRN", 13, at, 4, in, 1, out, 1, &err) == LO_OK, "LRN: %s", err.message);
    /* channel 0 sees channels 0..1, channel 2 sees 1..3 */
    for (int c = 0; c < 5; c += 2) {
        double sq = 0;
        for (int j = c - 1; j <= c + 1; j++)
            if (j >= 0 && j < 5) sq += pow(lo_get_f64(&x, j * 4 + 1), 2);
        double want = lo_get_f64(&x, c * 4 + 1) / pow(2.0 + 0.1 / 3 * sq, 0.6);
        CHECK(out[0].data && fabs(lo_get_f64(out, c * 4 + 1) - want) < 1e-6, "LRN channel %d", c);
    }
    free_all(out, 1);
    /* MVN: every (c) slice over axes 0,2,3 has mean 0 and unit variance */
    CHECK(run_op("MeanVarianceNormalization", 13, NULL, 0, in, 1, out, 1, &err) == LO_OK, "MVN: %s", err.message);
    int bad = 0;
    for (int c = 0; c < 5; c++) {
        double m = 0, v = 0;
        for (int k = 0; k < 4; k++) m += lo_get_f64(out, c * 4 + k);
        for (int k = 0; k < 4; k++) v += pow(lo_get_f64(out, c * 4 + k), 2);
        bad += fabs(m / 4) > 1e-5 || fabs(v / 4 - 1) > 1e-4;
    }
    CHECK(bad == 0, "MVN statistics (%d)", bad);
    free_all(out, 1);
    /* LpNormalization along axis 1 */
    for (int p = 1; p <= 2; p++) {
        lo_attr la[2] = {attr_int("axis", 1), attr_int("p", p)};
        CHECK(run_op("LpNormalization", 1, la, 2, in, 1, out, 1, &err) == LO_OK, "LpNorm: %s", err.message);
        double s = 0;
        for (int c = 0; c < 5; c++) s += p == 1 ? fabs(lo_get_f64(out, c * 4 + 3)) : pow(lo_get_f64(out, c * 4 + 3), 2);
        CHECK(fabs(s - 1) < 1e-5, "LpNormalization p=%d norm %g", p, s);
        free_all(out, 1);
    }
    lo_attr la[1] = {attr_int("p", 3)};
    CHECK(run_op("LpNormalization", 1, la, 1, in, 1, out, 1, &err) == LO_ERR_UNSUPPORTED, "p=3 accepted");
    lo_tensor_free_data(&x);
}

int main(void) {
    test_softmax();
    test_layernorm();
    test_batchnorm();
    test_group_instance();
    test_lrn_mvn_lp();
    return finish(NULL);
}
