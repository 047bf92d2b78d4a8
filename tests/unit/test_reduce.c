/* Kernels of reduce.c, through the registry; the fast and reference paths are
 * chosen as sessions choose them, by the context's kernel choice. */

/* Two threads, so the kernels' parallel splits run too. */
#define HARNESS_THREADS 2
#include "harness.h"

/* Sum-like reductions written as a scatter over every input element. */
static void naive_reduce(const char *op, const lo_tensor *x, const bool *red, lo_tensor *y) {
    int64_t n_out = lo_numel(y), count = lo_numel(x) / (n_out ? n_out : 1);
    double *acc = calloc((size_t)(n_out ? n_out : 1), sizeof(double));
    bool is_max = strcmp(op, "ReduceMax") == 0, is_min = strcmp(op, "ReduceMin") == 0, is_prod = strcmp(op, "ReduceProd") == 0;
    for (int64_t o = 0; o < n_out; o++) acc[o] = is_max ? -INFINITY : is_min ? INFINITY : is_prod ? 1 : 0;
    for (int64_t i = 0; i < lo_numel(x); i++) {
        int64_t rem = i, o = 0, mul = 1;
        for (int d = x->rank - 1; d >= 0; d--) {
            int64_t c = rem % x->dims[d];
            rem /= x->dims[d];
            if (!red[d]) {
                o += c * mul;
                mul *= x->dims[d];
            }
        }
        double v = lo_get_f64(x, i);
        if (is_max) acc[o] = v > acc[o] ? v : acc[o];
        else if (is_min) acc[o] = v < acc[o] ? v : acc[o];
        else if (is_prod) acc[o] *= v;
        else if (!strcmp(op, "ReduceL1")) acc[o] += fabs(v);
        else if (!strcmp(op, "ReduceL2") || !strcmp(op, "ReduceSumSquare")) acc[o] += v * v;
        else if (!strcmp(op, "ReduceLogSumExp")) acc[o] += exp(v);
        else acc[o] += v;
    }
    for (int64_t o = 0; o < n_out; o++) {
        double v = acc[o];
        if (!strcmp(op, "ReduceMean")) v /= count;
        if (!strcmp(op, "ReduceL2")) v = sqrt(v);
        if (!strcmp(op, "ReduceLogSum") || !strcmp(op, "ReduceLogSumExp")) v = log(v);
        lo_set_f64(y, o, v);
    }
    free(acc);
}

static void test_reduce_all(void) {
    static const char *ops[] = {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd",
                                "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"};
    lo_error err;
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++)
        for (int trial = 0; trial < 12; trial++) {
            const char *op = ops[k];
            int rank = (int)rnd_int(1, 4);
            int64_t dims[4];
            for (int d = 0; d < rank; d++) dims[d] = rnd_int(1, 6);
            if (trial == 0) dims[rank - 1] = 200; /* long rows for the parallel path */
            lo_tensor x = tensor_rand(LO_FLOAT, rank, dims);
            if (!strcmp(op, "ReduceLogSum") || !strcmp(op, "ReduceProd"))
                for (int64_t i = 0; i < lo_numel(&x); i++) lo_set_f64(&x, i, 0.5 + fabs(lo_get_f64(&x, i)));
            /* a random subset of axes; trial 1 reduces everything, trial 2 a trailing block */
            bool red[4] = {0};
            int64_t axes[4];
            int n_axes = 0;
            for (int d = 0; d < rank; d++) {
                bool r = trial == 1 ? false : trial == 2 ? d >= rank / 2 : rnd() > 0;
                if (r) red[d] = true, axes[n_axes++] = d - (trial % 2 ? rank : 0); /* negative axes too */
            }
            if (n_axes == 0)
                for (int d = 0; d < rank; d++) red[d] = true;
            bool keep = trial % 3 != 0;
            int64_t yd[4], yr = 0, ykd[4];
            for (int d = 0; d < rank; d++) {
                if (!red[d]) yd[yr++] = dims[d];
                ykd[d] = red[d] ? 1 : dims[d];
            }
            lo_tensor want = tensor_new(LO_FLOAT, keep ? rank : (int)yr, keep ? ykd : yd);
            naive_reduce(op, &x, red, &want);
            /* opset 13 with axes as an attribute (ReduceSum: 11), opset 18 with axes as an input */
            int64_t ad[1] = {n_axes};
            lo_tensor axes_t = tensor_new(LO_INT64, 1, ad);
            for (int a = 0; a < n_axes; a++) lo_set_i64(&axes_t, a, axes[a]);
            lo_attr at[2] = {attr_int("keepdims", keep), attr_ints("axes", n_axes, axes)};
            const lo_tensor *in1[1] = {&x}, *in2[2] = {&x, n_axes ? &axes_t : NULL};
            int old = strcmp(op, "ReduceSum") ? 13 : 11;
            lo_tensor o_attr[1] = {{0}}, o_input[1] = {{0}}, o_ref[1] = {{0}};
            lo_status s1 = run_op(op, old, at, n_axes ? 2 : 1, in1, 1, o_attr, 1, &err);
            lo_status s2 = run_op(op, 18, at, 1, in2, 2, o_input, 1, &err);
            harness_kernels = LO_KERNELS_REFERENCE;
            lo_status s3 = run_op(op, 18, at, 1, in2, 2, o_ref, 1, &err);
            harness_kernels = LO_KERNELS_FAST;
            CHECK(s1 == LO_OK && s2 == LO_OK && s3 == LO_OK, "%s: %s", op, err.message);
            if (s1 == LO_OK && s2 == LO_OK && s3 == LO_OK) {
                CHECK(mismatch(o_attr, &want, 1e-5, 1e-4) <= 1, "%s trial %d (attribute axes) differs from naive", op, trial);
                CHECK(mismatch(o_input, &want, 1e-5, 1e-4) <= 1, "%s trial %d (input axes) differs from naive", op, trial);
                CHECK(mismatch(o_ref, &want, 1e-5, 1e-4) <= 1, "%s trial %d reference differs from naive", op, trial);
            }
            free_all(o_attr, 1), free_all(o_input, 1), free_all(o_ref, 1);
            lo_tensor_free_data(&x), lo_tensor_free_data(&want), lo_tensor_free_data(&axes_t);
        }
}

static void test_reduce_edges(void) {
    lo_error err;
    int64_t d[2] = {2, 3};
    lo_tensor x = tensor_rand(LO_FLOAT, 2, d);
    const lo_tensor *in[2] = {&x, NULL};
    lo_tensor out[1] = {{0}};
    /* no axes + noop: the elementwise part only (ReduceSumSquare squares) */
    lo_attr noop[1] = {attr_int("noop_with_empty_axes", 1)};
    CHECK(run_op("ReduceSumSquare", 18, noop, 1, in, 2, out, 1, &err) == LO_OK && out[0].rank == 2 &&
               fabs(lo_get_f64(out, 4) - pow(lo_get_f64(&x, 4), 2)) < 1e-7,
           "noop_with_empty_axes");
    free_all(out, 1);
    CHECK(run_op("ReduceSum", 13, noop, 1, in, 2, out, 1, &err) == LO_OK && lo_get_f64(out, 5) == lo_get_f64(&x, 5),
           "ReduceSum-13 noop");
    free_all(out, 1);
    /* no axes, no noop: everything, keepdims gives [1,1] */
    CHECK(run_op("ReduceMean", 18, NULL, 0, in, 2, out, 1, &err) == LO_OK && out[0].rank == 2 && out[0].dims[0] == 1,
           "ReduceMean over everything");
    free_all(out, 1);
    /* an empty reduced axis gives the identity */
    int64_t ed[2] = {2, 0};
    lo_tensor e = tensor_new(LO_FLOAT, 2, ed);
    int64_t one[1] = {1};
    double ax1 = 1;
    lo_tensor axes = tensor_of(LO_INT64, 1, one, &ax1);
    const lo_tensor *ein[2] = {&e, &axes};
    CHECK(run_op("ReduceSum", 18, NULL, 0, ein, 2, out, 1, &err) == LO_OK && lo_get_f64(out, 1) == 0, "empty sum");
    free_all(out, 1);
    CHECK(run_op("ReduceProd", 18, NULL, 0, ein, 2, out, 1, &err) == LO_OK && lo_get_f64(out, 1) == 1, "empty prod");
    free_all(out, 1);
    CHECK(run_op("ReduceLogSumExp", 18, NULL, 0, ein, 2, out, 1, &err) == LO_OK && isinf(lo_get_f64(out, 0)),
           "empty logsumexp");
    free_all(out, 1);
    /* int64 sums stay exact beyond 2^53 */
    int64_t id[1] = {3};
    lo_tensor big = tensor_new(LO_INT64, 1, id);
    ((int64_t *)big.data)[0] = (1ll << 60) + 1, ((int64_t *)big.data)[1] = 1, ((int64_t *)big.data)[2] = -(1ll << 60);
    const lo_tensor *bin[1] = {&big};
    lo_attr nk[1] = {attr_int("keepdims", 0)};
    CHECK(run_op("ReduceSum", 11, nk, 1, bin, 1, out, 1, &err) == LO_OK && out[0].rank == 0 &&
               ((int64_t *)out[0].data)[0] == 2,
           "int64 ReduceSum exact");
    free_all(out, 1);
    /* axis out of range */
    double ax9 = 9;
    lo_tensor a9 = tensor_of(LO_INT64, 1, one, &ax9);
    const lo_tensor *in9[2] = {&x, &a9};
    CHECK(run_op("ReduceMax", 18, NULL, 0, in9, 2, out, 1, &err) == LO_ERR_INPUT, "axis 9 accepted");
    free_all(out, 1);
    lo_tensor_free_data(&x), lo_tensor_free_data(&e), lo_tensor_free_data(&axes), lo_tensor_free_data(&big);
    lo_tensor_free_data(&a9);
}

static void test_arg(void) {
    lo_error err;
    double v[8] = {1, 5, 5, 0, /* row 2 */ 2, 2, -1, -1};
    int64_t d[2] = {2, 4};
    lo_tensor x = tensor_of(LO_FLOAT, 2, d, v);
    const lo_tensor *in[1] = {&x};
    lo_tensor out[1] = {{0}};
    lo_attr at[3] = {attr_int("axis", 1), attr_int("keepdims", 0), attr_int("select_last_index", 0)};
    CHECK(run_op("ArgMax", 13, at, 3, in, 1, out, 1, &err) == LO_OK && out[0].rank == 1 &&
               ((int64_t *)out[0].data)[0] == 1 && ((int64_t *)out[0].data)[1] == 0,
           "ArgMax first index");
    free_all(out, 1);
    at[2] = attr_int("select_last_index", 1);
    CHECK(run_op("ArgMax", 13, at, 3, in, 1, out, 1, &err) == LO_OK && ((int64_t *)out[0].data)[0] == 2 &&
               ((int64_t *)out[0].data)[1] == 1,
           "ArgMax last index");
    free_all(out, 1);
    CHECK(run_op("ArgMin", 13, at, 3, in, 1, out, 1, &err) == LO_OK && ((int64_t *)out[0].data)[0] == 3 &&
               ((int64_t *)out[0].data)[1] == 3,
           "ArgMin last index");
    free_all(out, 1);
    lo_attr a0[1] = {attr_int("axis", -2)};
    CHECK(run_op("ArgMin", 11, a0, 1, in, 1, out, 1, &err) == LO_OK && out[0].rank == 2 && out[0].dims[0] == 1 &&
               ((int64_t *)out[0].data)[2] == 1,
           "ArgMin axis -2 keepdims");
    free_all(out, 1);
    lo_tensor_free_data(&x);
}

static void test_topk(void) {
    lo_error err;
    double v[10] = {3, 1, 4, 1, 5, /* row 2 */ 9, 2, 6, 5, 3};
    int64_t d[2] = {2, 5}, one[1] = {1};
    lo_tensor x = tensor_of(LO_FLOAT, 2, d, v);
    double kv = 3;
    lo_tensor K = tensor_of(LO_INT64, 1, one, &kv);
    const lo_tensor *in[2] = {&x, &K};
    lo_tensor out[2] = {{0}};
    CHECK(run_op("TopK", 11, NULL, 0, in, 2, out, 2, &err) == LO_OK, "TopK: %s", err.message);
    static const double want_v[6] = {5, 4, 3, 9, 6, 5};
    static const int64_t want_i[6] = {4, 2, 0, 0, 2, 3};
    int bad = 0;
    for (int i = 0; i < 6 && out[0].data; i++) bad += lo_get_f64(&out[0], i) != want_v[i] || ((int64_t *)out[1].data)[i] != want_i[i];
    CHECK(bad == 0 && out[0].dims[1] == 3, "TopK largest values/indices");
    free_all(out, 2);
    /* smallest: the two 1s come lower index first */
    lo_attr sm[1] = {attr_int("largest", 0)};
    CHECK(run_op("TopK", 11, sm, 1, in, 2, out, 2, &err) == LO_OK && ((int64_t *)out[1].data)[0] == 1 &&
               ((int64_t *)out[1].data)[1] == 3 && ((int64_t *)out[1].data)[2] == 0,
           "TopK smallest with a tie");
    free_all(out, 2);
    /* opset 1: k attribute, along axis 0 */
    lo_attr k1[2] = {attr_int("k", 1), attr_int("axis", 0)};
    const lo_tensor *in1[1] = {&x};
    CHECK(run_op("TopK", 1, k1, 2, in1, 1, out, 2, &err) == LO_OK && out[0].dims[0] == 1 && lo_get_f64(&out[0], 0) == 9 &&
               ((int64_t *)out[1].data)[4] == 0,
           "TopK-1 axis 0");
    free_all(out, 2);
    /* only indices wanted */
    bool want[2] = {false, true};
    CHECK(run_op_mask("TopK", 11, NULL, 0, in, 2, out, 2, want, &err) == LO_OK && ((int64_t *)out[1].data)[0] == 4,
           "TopK without Values");
    free_all(out, 2);
    /* k beyond the axis is an input error; k = 0 is an empty result */
    kv = 6;
    lo_tensor K6 = tensor_of(LO_INT64, 1, one, &kv);
    const lo_tensor *in6[2] = {&x, &K6};
    CHECK(run_op("TopK", 11, NULL, 0, in6, 2, out, 2, &err) == LO_ERR_INPUT, "k = 6 of 5 accepted");
    free_all(out, 2);
    kv = 0;
    lo_tensor K0 = tensor_of(LO_INT64, 1, one, &kv);
    const lo_tensor *in0[2] = {&x, &K0};
    CHECK(run_op("TopK", 11, NULL, 0, in0, 2, out, 2, &err) == LO_OK && out[0].dims[1] == 0, "k = 0");
    free_all(out, 2);
    /* int32 input, many rows (the parallel path) against a simple check */
    int64_t bd[2] = {300, 200};
    lo_tensor xi = tensor_rand(LO_INT32, 2, bd);
    kv = 7;
    lo_tensor K7 = tensor_of(LO_INT64, 1, one, &kv);
    const lo_tensor *ini[2] = {&xi, &K7};
    CHECK(run_op("TopK", 11, NULL, 0, ini, 2, out, 2, &err) == LO_OK, "TopK int32: %s", err.message);
    bad = 0;
    for (int64_t r = 0; r < 300 && out[0].data; r++) {
        int64_t mx = INT64_MIN;
        for (int64_t c = 0; c < 200; c++) mx = lo_get_i64(&xi, r * 200 + c) > mx ? lo_get_i64(&xi, r * 200 + c) : mx;
        bad += lo_get_i64(&out[0], r * 7) != mx;
        for (int e = 1; e < 7; e++) bad += lo_get_i64(&out[0], r * 7 + e) > lo_get_i64(&out[0], r * 7 + e - 1);
        for (int e = 0; e < 7; e++) bad += lo_get_i64(&xi, r * 200 + ((int64_t *)out[1].data)[r * 7 + e]) != lo_get_i64(&out[0], r * 7 + e);
    }
    CHECK(bad == 0, "TopK int32 rows (%d)", bad);
    free_all(out, 2);
    lo_tensor *all[] = {&x, &K, &K6, &K0, &xi, &K7};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) lo_tensor_free_data(all[i]);
}

int main(void) {
    test_reduce_all();
    test_reduce_edges();
    test_arg();
    test_topk();
    return finish(NULL);
}
