/* Unit tests of src/compare: metrics on hand-computed pairs and their
 * degenerate cases, the channel-last walk against an explicit transpose,
 * results independent of the thread count, and the naming helpers.
 * (Metrics against numpy on many tensors: tests/compare.) */
#include <omp.h>

#include "compare/compare.h"
#include "dump/dump.h"
#include "harness.h"

static bool close_to(double a, double b) { return fabs(a - b) <= 1e-12 * (1 + fabs(b)); }

static lo_metrics measure(const float *r, const float *t, int64_t n) {
    lo_pair p = {r, LO_FLOAT, t, LO_FLOAT, 1, 1, n, false, false};
    lo_metrics m;
    lo_error err;
    lo_status st = lo_metrics_compute(&p, &m, &err);
    CHECK(st == LO_OK, "compute: %s", err.message);
    return m;
}

static void test_basic(void) {
    float r[4] = {1, -2, 3, 0}, t[4] = {1.5f, -2, 2, 0};
    lo_metrics m = measure(r, t, 4);
    /* err = {0.5, 0, -1, 0}: |ref|^2 = 14, |err|^2 = 1.25 */
    CHECK(close_to(lo_metrics_sqnr(&m), 10 * log10(14 / 1.25)), "sqnr %g", lo_metrics_sqnr(&m));
    CHECK(close_to(lo_metrics_mse(&m), 1.25 / 4), "mse");
    CHECK(close_to(lo_metrics_mean_abs(&m), 1.5 / 4), "mean abs");
    CHECK(m.max_abs_err == 1 && m.max_abs_index == 2, "max abs %g at %lld", m.max_abs_err, (long long)m.max_abs_index);
    CHECK(close_to(lo_metrics_rtol(&m), 0.5), "rtol %g", lo_metrics_rtol(&m));
    CHECK(close_to(lo_metrics_atol(&m), 1), "atol");
    double dot = 1.5 + 4 + 6, nt = sqrt(1.5 * 1.5 + 4 + 4);
    CHECK(close_to(lo_metrics_cosine(&m), dot / (sqrt(14) * nt)), "cosine %g", lo_metrics_cosine(&m));
    CHECK(close_to(lo_metrics_rel_l2(&m), sqrt(1.25 / 14)), "rel l2");
}

static void test_degenerate(void) {
    float z[3] = {0, 0, 0}, x[3] = {0, 1e-3f, 0};
    lo_metrics m = measure(z, z, 3);
    CHECK(isinf(lo_metrics_sqnr(&m)) && lo_metrics_sqnr(&m) > 0, "zero vs zero is identical: +inf");
    CHECK(lo_metrics_cosine(&m) == 1 && lo_metrics_rel_l2(&m) == 0 && lo_metrics_rtol(&m) == 0, "zero vs zero");
    m = measure(z, x, 3);
    CHECK(isinf(lo_metrics_sqnr(&m)) && lo_metrics_sqnr(&m) < 0, "zero ref, nonzero test: -inf");
    CHECK(lo_metrics_cosine(&m) == 0 && isinf(lo_metrics_rel_l2(&m)) && isinf(lo_metrics_rtol(&m)), "zero ref");
    CHECK(m.max_abs_index == 1, "max abs index %lld", (long long)m.max_abs_index);
    float nr[4] = {NAN, INFINITY, 1, -INFINITY}, nt[4] = {NAN, INFINITY, 1, INFINITY};
    m = measure(nr, nt, 4);
    CHECK(m.nan_ref == 1 && m.inf_ref == 2 && m.nan_test == 1 && m.inf_test == 2, "non-finite counts");
    CHECK(m.nonfinite_mismatch == 1 && m.finite == 1, "one mismatch (-inf vs inf), one finite pair");
    CHECK(lo_metrics_sqnr(&m) < 0 && isinf(lo_metrics_sqnr(&m)) && isinf(lo_metrics_atol(&m)), "mismatch is -inf");
    nt[3] = -INFINITY;
    m = measure(nr, nt, 4);
    CHECK(m.nonfinite_mismatch == 0 && isinf(lo_metrics_sqnr(&m)) && lo_metrics_sqnr(&m) > 0,
          "agreeing NaN/Inf positions leave an identical pair");
    lo_metrics e = measure(NULL, NULL, 0);
    CHECK(e.count == 0 && lo_metrics_sqnr(&e) > 0, "empty tensors are identical");
}

static void test_layout_and_threads(void) {
    /* N=2, C=3, spatial 5x7 and a big one for the parallel path */
    const int64_t N = 2, C = 3, S = 35;
    float r[2 * 3 * 35], t_nhwc[2 * 3 * 35], t_nchw[2 * 3 * 35];
    unsigned seed = 7;
    for (int64_t i = 0; i < N * C * S; i++) r[i] = (float)(rand_r(&seed) % 1000) / 100.0f - 5;
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t s = 0; s < S; s++) {
                float v = r[(n * C + c) * S + s] + (float)((n + c + s) % 5) * 0.01f;
                t_nchw[(n * C + c) * S + s] = v;
                t_nhwc[(n * S + s) * C + c] = v;
            }
    lo_pair direct = {r, LO_FLOAT, t_nchw, LO_FLOAT, 1, 1, N * C * S, false, false};
    lo_pair last = {r, LO_FLOAT, t_nhwc, LO_FLOAT, N, C, S, false, true};
    lo_metrics a, b;
    lo_metrics_compute(&direct, &a, NULL);
    lo_metrics_compute(&last, &b, NULL);
    /* blocks differ (rows vs one run), so sums agree to rounding only */
    CHECK(close_to(a.err_sq, b.err_sq) && a.max_abs_index == b.max_abs_index && close_to(a.dot, b.dot),
          "channel-last walk equals the transposed data (%g vs %g, %lld vs %lld)", a.err_sq, b.err_sq,
          (long long)a.max_abs_index, (long long)b.max_abs_index);
    /* a channel-last reference against a channel-first test */
    lo_pair swapped = {t_nhwc, LO_FLOAT, r, LO_FLOAT, N, C, S, true, false};
    lo_metrics_compute(&swapped, &b, NULL);
    CHECK(close_to(a.err_sq, b.err_sq), "channel-last reference side");

    int64_t n = 3 << 20;
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    for (int64_t i = 0; i < n; i++) {
        x[i] = (float)sin((double)i * 0.001);
        y[i] = x[i] + (float)((i * 7919) % 101 - 50) * 1e-5f;
    }
    lo_pair big = {x, LO_FLOAT, y, LO_FLOAT, 1, 1, n, false, false};
    omp_set_num_threads(1);
    lo_metrics_compute(&big, &a, NULL);
    omp_set_num_threads(2);
    lo_metrics_compute(&big, &b, NULL);
    CHECK(a.err_sq == b.err_sq && a.ref_sq == b.ref_sq && a.max_abs_index == b.max_abs_index,
          "the thread count does not change a result");
    /* float64 path (other dtypes convert) agrees with the float path */
    double *xd = malloc((size_t)n * sizeof *xd), *yd = malloc((size_t)n * sizeof *yd);
    for (int64_t i = 0; i < n; i++) {
        xd[i] = x[i];
        yd[i] = y[i];
    }
    lo_pair bigd = {xd, LO_DOUBLE, yd, LO_DOUBLE, 1, 1, n, false, false};
    lo_metrics_compute(&bigd, &b, NULL);
    CHECK(a.err_sq == b.err_sq && a.max_abs_index == b.max_abs_index, "double path");
    free(x);
    free(y);
    free(xd);
    free(yd);
}

static void name_case(char *(*fn)(const char *), const char *in, const char *want) {
    char *got = fn(in);
    CHECK((!got && !want) || (got && want && !strcmp(got, want)), "%s -> %s, want %s", in, got ? got : "NULL",
          want ? want : "NULL");
    free(got);
}

static void test_names(void) {
    name_case(lo_sanitize_qnn, "input", "input");
    name_case(lo_sanitize_qnn, "/conv1/Conv_output_0", "__conv1_Conv_output_0");
    name_case(lo_sanitize_qnn, "0:x.y", "_0_x_y");
    name_case(lo_sanitize_qnn, "_a", "__a");
    name_case(lo_qnn_name_unprefix, "__conv1_Conv_output_0", "_conv1_Conv_output_0");
    name_case(lo_qnn_name_unprefix, "_0_x_y", "0_x_y");
    name_case(lo_qnn_name_unprefix, "input", "input");
    /* the inverse holds on the dump module's QNN names */
    const char *names[] = {"/a/b.c", "x", "9lives", "_under", "é.z", "a:b"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *q = lo_sanitize_qnn(names[i]), *a = lo_sanitize_name(names[i]);
        char *back = q ? lo_qnn_name_unprefix(q) : NULL;
        CHECK(back && a && !strcmp(back, a), "unprefix(qnn(%s)) = %s, want %s", names[i], back, a);
        free(q);
        free(a);
        free(back);
    }
    name_case(lo_module_from_node, "/layer1/layer1.0/conv1/Conv", "layer1.0.conv1");
    name_case(lo_module_from_node, "/conv1/Conv", "conv1");
    name_case(lo_module_from_node, "/features/features.3/Relu", "features.3");
    name_case(lo_module_from_node, "/Flatten", NULL);
    name_case(lo_module_from_node, "layer1.0.conv1#2", "layer1.0.conv1");
    name_case(lo_module_from_node, "layer1.0.relu.end", "layer1.0.relu");
    name_case(lo_module_from_node, "Conv_12", NULL);
}

int main(void) {
    test_basic();
    test_degenerate();
    test_layout_and_threads();
    test_names();
    return finish("test_compare");
}
