/* Elementwise kernels: fast paths against the reference on random shapes
 * (broadcast included), known values for the tricky semantics, and the
 * errors bad inputs must produce. */
#include "harness.h"

/* ---- helpers of this file ----------------------------------------------------- */

static lo_tensor make_strings(int rank, const int64_t *dims, const char *const *s) {
    lo_tensor x = tensor_new(LO_STRING, rank, dims);
    for (int64_t i = 0; i < lo_numel(&x); i++) ((char **)x.data)[i] = lo_strdup(s[i]);
    return x;
}

static void fill_random(lo_tensor *x, double lo, double hi) {
    for (int64_t i = 0; i < lo_numel(x); i++) {
        double v = rnd_uniform(lo, hi);
        if (lo_dtype_is_int(x->dtype)) v = floor(v);
        if (x->dtype == LO_BOOL) v = rng_next() & 1;
        lo_set_f64(x, i, v);
    }
}

typedef struct attr_spec {
    const char *name;
    lo_attr_type type;
    double value;
    const char *s;
} attr_spec;

/* Runs op on inputs (NULL entries are omitted inputs) into *out; on failure
 * last_err says why. */
static lo_status run_specs(const char *op_type, int opset, const attr_spec *specs, int n_specs,
                           const lo_tensor *const *ins, int n_in, lo_tensor *out, int threads) {
    lo_attr storage[8];
    LO_ASSERT(n_specs <= 8);
    for (int i = 0; i < n_specs; i++) {
        memset(&storage[i], 0, sizeof storage[i]);
        storage[i].name = (char *)specs[i].name;
        storage[i].type = specs[i].type;
        storage[i].f = (float)specs[i].value;
        storage[i].i = (int64_t)specs[i].value;
        if (specs[i].s) {
            storage[i].s = (char *)specs[i].s;
            storage[i].s_len = strlen(specs[i].s);
        }
    }
    return run_kernel(op_type, opset, storage, n_specs, ins, n_in, out, 1, NULL, threads, NULL);
}

/* Runs the op with the production path and the reference path and checks
 * they agree within the tolerance (0: bitwise equal, NaNs matching). */
static void compare_paths(const char *what, const char *op_type, int opset, const attr_spec *specs,
                          int n_specs, const lo_tensor *const *ins, int n_in, double rel_tol, int threads) {
    lo_tensor fast, ref;
    harness_kernels = LO_KERNELS_FAST;
    lo_status s1 = run_specs(op_type, opset, specs, n_specs, ins, n_in, &fast, threads);
    harness_kernels = LO_KERNELS_REFERENCE;
    lo_status s2 = run_specs(op_type, opset, specs, n_specs, ins, n_in, &ref, threads);
    harness_kernels = LO_KERNELS_FAST;
    if (s1 != LO_OK || s2 != LO_OK) {
        CHECK(0, "%s: %s failed: %s", what, op_type, last_err.message);
        lo_tensor_free_data(&fast);
        lo_tensor_free_data(&ref);
        return;
    }
    bool same_shape = fast.dtype == ref.dtype && fast.rank == ref.rank &&
                      memcmp(fast.dims, ref.dims, sizeof(int64_t) * (size_t)fast.rank) == 0;
    int64_t bad = -1;
    double fv = 0, rv = 0;
    if (same_shape) {
        for (int64_t i = 0; i < lo_numel(&ref); i++) {
            fv = lo_get_f64(&fast, i);
            rv = lo_get_f64(&ref, i);
            if (isnan(fv) && isnan(rv)) continue;
            if (fv == rv) continue;
            /* Relative for large values, absolute below 1: float and double
             * evaluations differ most where results cancel to near zero. */
            if (rel_tol > 0 && fabs(fv - rv) <= rel_tol * fmax(1.0, fabs(rv))) continue;
            bad = i;
            break;
        }
    }
    CHECK(same_shape && bad < 0, "%s: %s fast and reference differ at %lld: %.9g vs %.9g", what, op_type,
          (long long)bad, fv, rv);
    lo_tensor_free_data(&fast);
    lo_tensor_free_data(&ref);
}

/* ---- known values ------------------------------------------------------------- */

static bool values_are(const lo_tensor *t, const double *want, int64_t n, double tol) {
    if (lo_numel(t) != n) return false;
    for (int64_t i = 0; i < n; i++) {
        double v = lo_get_f64(t, i);
        if (isnan(want[i]) ? !isnan(v) : fabs(v - want[i]) > tol * fmax(1, fabs(want[i]))) {
            printf("  element %lld: got %.9g want %.9g\n", (long long)i, v, want[i]);
            return false;
        }
    }
    return true;
}

static void expect_unary(const char *op, int opset, const attr_spec *a, int na, lo_dtype t, const double *in,
                         const double *want, int64_t n, double tol) {
    lo_tensor x = tensor_of(t, 1, &n, in), y;
    const lo_tensor *ins[1] = {&x};
    lo_status st = run_specs(op, opset, a, na, ins, 1, &y, 1);
    CHECK(st == LO_OK && values_are(&y, want, n, tol), "%s %s: %s", op, lo_dtype_name(t), last_err.message);
    lo_tensor_free_data(&x);
    lo_tensor_free_data(&y);
}

static void expect_binary(const char *op, int opset, const attr_spec *a, int na, lo_dtype ta, lo_dtype tb,
                          const double *va, const double *vb, const double *want, int64_t n, lo_dtype out_t) {
    lo_tensor x = tensor_of(ta, 1, &n, va), y = tensor_of(tb, 1, &n, vb), z;
    const lo_tensor *ins[2] = {&x, &y};
    lo_status st = run_specs(op, opset, a, na, ins, 2, &z, 1);
    CHECK(st == LO_OK && z.dtype == out_t && values_are(&z, want, n, 1e-6), "%s %s: %s", op, lo_dtype_name(ta),
          last_err.message);
    lo_tensor_free_data(&x);
    lo_tensor_free_data(&y);
    lo_tensor_free_data(&z);
}

static void test_known_values(void) {
    {
        double in[] = {0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, -2.6};
        double want[] = {0, 2, 2, -0.0, -2, -2, 2, -3};
        expect_unary("Round", 11, NULL, 0, LO_FLOAT, in, want, 8, 0);
        expect_unary("Round", 22, NULL, 0, LO_FLOAT16, in, want, 8, 0);
    }
    {
        double in[] = {-3, 0, 5, -128};
        double abs_want[] = {3, 0, 5, -128}; /* int8 abs(-128) wraps */
        double sign_want[] = {-1, 0, 1, -1};
        double relu_want[] = {0, 0, 5, 0};
        expect_unary("Abs", 13, NULL, 0, LO_INT8, in, abs_want, 4, 0);
        expect_unary("Sign", 13, NULL, 0, LO_INT8, in, sign_want, 4, 0);
        expect_unary("Relu", 14, NULL, 0, LO_INT8, in, relu_want, 4, 0);
        double bn_want[] = {2, -1, -6, 127};
        expect_unary("BitwiseNot", 18, NULL, 0, LO_INT8, in, bn_want, 4, 0);
    }
    {
        double in[] = {-1, 0, 1, 3};
        double want[] = {-0.15865525, 0, 0.84134475, 2.99595031};
        expect_unary("Gelu", 20, NULL, 0, LO_FLOAT, in, want, 4, 1e-6);
        double hs[] = {-1 * (1.0 / 6 * -1 + 0.5), 0, 1 * (1.0 / 6 + 0.5), 3};
        expect_unary("HardSwish", 14, NULL, 0, LO_FLOAT, in, hs, 4, 1e-6);
        attr_spec lr[] = {{"alpha", LO_ATTR_FLOAT, 0.1, NULL}};
        double lrw[] = {-0.1, 0, 1, 3};
        expect_unary("LeakyRelu", 6, lr, 1, LO_FLOAT, in, lrw, 4, 1e-6);
        double lr_default[] = {-0.01, 0, 1, 3};
        expect_unary("LeakyRelu", 16, NULL, 0, LO_FLOAT, in, lr_default, 4, 1e-6);
    }
    {
        double in[] = {INFINITY, -INFINITY, NAN, 1.0};
        double both[] = {1, 1, 0, 0}, pos[] = {1, 0, 0, 0}, nan_want[] = {0, 0, 1, 0};
        expect_unary("IsInf", 10, NULL, 0, LO_FLOAT, in, both, 4, 0);
        attr_spec no_neg[] = {{"detect_negative", LO_ATTR_INT, 0, NULL}};
        expect_unary("IsInf", 20, no_neg, 1, LO_DOUBLE, in, pos, 4, 0);
        expect_unary("IsNaN", 13, NULL, 0, LO_FLOAT16, in, nan_want, 4, 0);
    }
    {
        double a[] = {-7, 7, -7, 7, 5, -128}, b[] = {2, -2, -2, 2, 0, -1};
        double div_want[] = {-3, -3, 3, 3, 0, -128};
        expect_binary("Div", 14, NULL, 0, LO_INT8, LO_INT8, a, b, div_want, 6, LO_INT8);
        double mod_want[] = {1, -1, -1, 1, 0, 0};
        expect_binary("Mod", 13, NULL, 0, LO_INT32, LO_INT32, a, b, mod_want, 6, LO_INT32);
        attr_spec fm[] = {{"fmod", LO_ATTR_INT, 1, NULL}};
        double fmod_want[] = {-1, 1, -1, 1, NAN, -0.0};
        expect_binary("Mod", 13, fm, 1, LO_FLOAT, LO_FLOAT, a, b, fmod_want, 6, LO_FLOAT);
    }
    {
        double a[] = {2, 3, -2, 5}, b[] = {10, 2, 3, 0};
        double want[] = {1024, 9, -8, 1};
        expect_binary("Pow", 15, NULL, 0, LO_INT64, LO_INT64, a, b, want, 4, LO_INT64);
        double bf[] = {0.5, 2, 1, 3};
        double wf[] = {1, 9, -2, 125}; /* int base, float exponent: truncated */
        expect_binary("Pow", 15, NULL, 0, LO_INT32, LO_FLOAT, a, bf, wf, 4, LO_INT32);
        double fa[] = {4, 3, 2, 0.5};
        double wi[] = {1048576, 9, 8, 1};
        expect_binary("Pow", 15, NULL, 0, LO_FLOAT, LO_INT64, fa, b, wi, 4, LO_FLOAT);
    }
    {
        double a[] = {1, 255, 16, 3}, b[] = {1, 4, 8, 2};
        attr_spec left[] = {{"direction", LO_ATTR_STRING, 0, "LEFT"}};
        attr_spec right[] = {{"direction", LO_ATTR_STRING, 0, "RIGHT"}};
        double lw[] = {2, 240, 0, 12}, rw[] = {0, 15, 0, 0};
        expect_binary("BitShift", 11, left, 1, LO_UINT8, LO_UINT8, a, b, lw, 4, LO_UINT8);
        expect_binary("BitShift", 11, right, 1, LO_UINT8, LO_UINT8, a, b, rw, 4, LO_UINT8);
    }
    {
        double a[] = {1, NAN, 3, -0.0}, b[] = {NAN, 2, 1, 0};
        double maxw[] = {NAN, NAN, 3, 0}, eqw[] = {0, 0, 0, 1};
        expect_binary("Max", 13, NULL, 0, LO_FLOAT, LO_FLOAT, a, b, maxw, 4, LO_FLOAT);
        expect_binary("Equal", 13, NULL, 0, LO_FLOAT, LO_FLOAT, a, b, eqw, 4, LO_BOOL);
        double ua[] = {18446744073709551615.0, 1, 0, 5}, ub[] = {1, 2, 0, 5};
        double lt[] = {0, 1, 0, 0};
        expect_binary("Less", 13, NULL, 0, LO_UINT64, LO_UINT64, ua, ub, lt, 4, LO_BOOL);
    }
}

static void test_legacy_and_prelu(void) {
    /* Add-6, broadcast=1 axis=1: B (3,4) lines up with A's axes 1 and 2. */
    int64_t da[] = {2, 3, 4, 5}, db[] = {3, 4};
    lo_tensor a = tensor_new(LO_FLOAT, 4, da), b = tensor_new(LO_FLOAT, 2, db), y;
    fill_random(&a, -1, 1);
    fill_random(&b, -1, 1);
    attr_spec at[] = {{"broadcast", LO_ATTR_INT, 1, NULL}, {"axis", LO_ATTR_INT, 1, NULL}};
    const lo_tensor *ins[2] = {&a, &b};
    lo_status st = run_specs("Add", 6, at, 2, ins, 2, &y, 1);
    bool ok = st == LO_OK && y.rank == 4 && lo_numel(&y) == 120;
    for (int64_t i = 0; ok && i < 120; i++) {
        int64_t j = (i / 5) % 12;
        ok = lo_get_f64(&y, i) == (double)((float)lo_get_f64(&a, i) + (float)lo_get_f64(&b, j));
    }
    CHECK(ok, "legacy Add with axis: %s", last_err.message);
    lo_tensor_free_data(&y);
    /* broadcast=0 with different shapes is an error. */
    st = run_specs("Add", 6, NULL, 0, ins, 2, &y, 1);
    CHECK(st == LO_ERR_INPUT, "legacy Add without broadcast accepted different shapes");
    lo_tensor_free_data(&y);
    lo_tensor_free_data(&a);
    lo_tensor_free_data(&b);

    /* PRelu-6 slope (C) is per channel; at 9+ it would broadcast on W. */
    int64_t dx[] = {1, 2, 2, 3}, ds[] = {2};
    double xv[12] = {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1}, sv[] = {0.5, 0.25};
    lo_tensor x = tensor_of(LO_FLOAT, 4, dx, xv), s = tensor_of(LO_FLOAT, 1, ds, sv);
    const lo_tensor *pins[2] = {&x, &s};
    st = run_specs("PRelu", 6, NULL, 0, pins, 2, &y, 1);
    double want[12] = {-0.5, -0.5, -0.5, -0.5, -0.5, -0.5, -0.25, -0.25, -0.25, -0.25, -0.25, -0.25};
    CHECK(st == LO_OK && values_are(&y, want, 12, 0), "PRelu-6 per channel: %s", last_err.message);
    lo_tensor_free_data(&y);
    st = run_specs("PRelu", 9, NULL, 0, pins, 2, &y, 1);
    CHECK(st == LO_ERR_INPUT, "PRelu-9 slope (2) against W=3 must fail");
    lo_tensor_free_data(&y);
    lo_tensor_free_data(&x);
    lo_tensor_free_data(&s);
}

static void test_clip(void) {
    double in[] = {-5, -1, 0, 2, 7, NAN};
    attr_spec at[] = {{"min", LO_ATTR_FLOAT, -1.5, NULL}, {"max", LO_ATTR_FLOAT, 3, NULL}};
    double w6[] = {-1.5, -1, 0, 2, 3, NAN};
    expect_unary("Clip", 6, at, 2, LO_FLOAT, in, w6, 6, 0);
    double unbounded[] = {-5, -1, 0, 2, 7, NAN};
    expect_unary("Clip", 13, NULL, 0, LO_FLOAT, in, unbounded, 6, 0);

    int64_t n = 5, one = 1;
    double xv[] = {-128, -3, 0, 5, 127}, mv[] = {-2}, Mv[] = {4};
    lo_tensor x = tensor_of(LO_INT8, 1, &n, xv), mn = tensor_of(LO_INT8, 0, &one, mv),
              mx = tensor_of(LO_INT8, 0, &one, Mv), y;
    const lo_tensor *only_max[3] = {&x, NULL, &mx};
    lo_status st = run_specs("Clip", 13, NULL, 0, only_max, 3, &y, 1);
    double w1[] = {-128, -3, 0, 4, 4};
    CHECK(st == LO_OK && values_are(&y, w1, 5, 0), "Clip int8 max only: %s", last_err.message);
    lo_tensor_free_data(&y);
    const lo_tensor *swapped[3] = {&x, &mx, &mn}; /* min > max: everything is max */
    st = run_specs("Clip", 13, NULL, 0, swapped, 3, &y, 1);
    double w2[] = {-2, -2, -2, -2, -2};
    CHECK(st == LO_OK && values_are(&y, w2, 5, 0), "Clip min>max: %s", last_err.message);
    lo_tensor_free_data(&y);
    lo_tensor fx = tensor_of(LO_FLOAT, 1, &n, xv), fmn = tensor_of(LO_FLOAT, 0, &one, mv),
              fmx = tensor_of(LO_FLOAT, 0, &one, Mv);
    const lo_tensor *fswapped[3] = {&fx, &fmx, &fmn};
    st = run_specs("Clip", 13, NULL, 0, fswapped, 3, &y, 1);
    CHECK(st == LO_OK && values_are(&y, w2, 5, 0), "Clip float min>max: %s", last_err.message);
    lo_tensor_free_data(&y);
    lo_tensor_free_data(&fx);
    lo_tensor_free_data(&fmn);
    lo_tensor_free_data(&fmx);
    lo_tensor wide = tensor_new(LO_INT8, 1, &n);
    const lo_tensor *bad[3] = {&x, &wide, NULL};
    st = run_specs("Clip", 13, NULL, 0, bad, 2, &y, 1);
    CHECK(st == LO_ERR_INPUT, "Clip with a non-scalar min must fail");
    lo_tensor_free_data(&y);
    lo_tensor_free_data(&wide);
    lo_tensor_free_data(&x);
    lo_tensor_free_data(&mn);
    lo_tensor_free_data(&mx);

    int64_t big = 100000;
    lo_tensor f = tensor_new(LO_FLOAT, 1, &big);
    fill_random(&f, -10, 10);
    double lo_v = -1, hi_v = 6;
    lo_tensor lo_t = tensor_of(LO_FLOAT, 0, &one, &lo_v), hi_t = tensor_of(LO_FLOAT, 0, &one, &hi_v);
    const lo_tensor *ins[3] = {&f, &lo_t, &hi_t};
    compare_paths("clip float32", "Clip", 13, NULL, 0, ins, 3, 0, 2);
    lo_tensor_free_data(&f);
    lo_tensor_free_data(&lo_t);
    lo_tensor_free_data(&hi_t);
}

static void test_variadic_values(void) {
    int64_t d1[] = {3}, d2[] = {2, 1}, d3[] = {1};
    double v1[] = {1, 2, 3}, v2[] = {10, 20}, v3[] = {100};
    lo_tensor a = tensor_of(LO_FLOAT, 1, d1, v1), b = tensor_of(LO_FLOAT, 2, d2, v2),
              c = tensor_of(LO_FLOAT, 1, d3, v3), y;
    const lo_tensor *ins[3] = {&a, &b, &c};
    lo_status st = run_specs("Sum", 13, NULL, 0, ins, 3, &y, 1);
    double sum[] = {111, 112, 113, 121, 122, 123};
    CHECK(st == LO_OK && y.rank == 2 && values_are(&y, sum, 6, 0), "Sum broadcast: %s", last_err.message);
    lo_tensor_free_data(&y);
    st = run_specs("Mean", 13, NULL, 0, ins, 3, &y, 1);
    double mean[] = {37, 112.0 / 3, 113.0 / 3, 121.0 / 3, 122.0 / 3, 41};
    CHECK(st == LO_OK && values_are(&y, mean, 6, 1e-6), "Mean broadcast: %s", last_err.message);
    lo_tensor_free_data(&y);
    st = run_specs("Min", 13, NULL, 0, ins, 1, &y, 1);
    CHECK(st == LO_OK && values_are(&y, v1, 3, 0), "Min of one input: %s", last_err.message);
    lo_tensor_free_data(&y);
    lo_tensor i64 = tensor_of(LO_INT64, 1, d1, v1);
    const lo_tensor *mixed[2] = {&a, &i64};
    st = run_specs("Max", 13, NULL, 0, mixed, 2, &y, 1);
    CHECK(st == LO_ERR_INPUT, "Max of float and int64 must fail");
    lo_tensor_free_data(&y);
    lo_tensor_free_data(&i64);
    lo_tensor_free_data(&a);
    lo_tensor_free_data(&b);
    lo_tensor_free_data(&c);
}

static void test_strings(void) {
    int64_t n = 3, one = 1;
    const char *sa[] = {"a", "bb", ""}, *sb[] = {"bb"};
    lo_tensor a = make_strings(1, &n, sa), b = make_strings(1, &one, sb), y;
    const lo_tensor *ins[2] = {&a, &b};
    lo_status st = run_specs("Equal", 19, NULL, 0, ins, 2, &y, 1);
    double want[] = {0, 1, 0};
    CHECK(st == LO_OK && y.dtype == LO_BOOL && values_are(&y, want, 3, 0), "Equal strings: %s", last_err.message);
    lo_tensor_free_data(&y);

    double cv[] = {1, 0, 1};
    lo_tensor c = tensor_of(LO_BOOL, 1, &n, cv);
    const lo_tensor *wins[3] = {&c, &a, &b};
    st = run_specs("Where", 16, NULL, 0, wins, 3, &y, 1);
    char **s = y.data;
    CHECK(st == LO_OK && y.dtype == LO_STRING && strcmp(s[0], "a") == 0 && strcmp(s[1], "bb") == 0 &&
              strcmp(s[2], "") == 0,
          "Where strings: %s", last_err.message);
    lo_tensor_free_data(&y);
    lo_tensor_free_data(&a);
    lo_tensor_free_data(&b);
    lo_tensor_free_data(&c);
}

static void test_cast(void) {
    int64_t n = 8;
    /* float32 -> float16 rounds to nearest even; overflow is infinity. */
    double fv[] = {1.0, 65504, 65520, 1e-8, -2.5, NAN, 0.1, 3.0e-5};
    attr_spec to_f16[] = {{"to", LO_ATTR_INT, LO_FLOAT16, NULL}};
    double wf16[] = {1, 65504, INFINITY, 0, -2.5, NAN, 0.0999755859375, 2.9981136322021484e-05};
    expect_unary("Cast", 13, to_f16, 1, LO_FLOAT, fv, wf16, n, 0);
    expect_unary("Cast", 13, to_f16, 1, LO_DOUBLE, fv, wf16, n, 0);

    attr_spec to_i8[] = {{"to", LO_ATTR_INT, LO_INT8, NULL}};
    double iv[] = {200, -1.9, 1.9, 127, -128, 0, 300, 5};
    double wi8[] = {-56, -1, 1, 127, -128, 0, 44, 5};
    expect_unary("Cast", 13, to_i8, 1, LO_FLOAT, iv, wi8, n, 0);
    expect_unary("Cast", 13, to_i8, 1, LO_INT32, (double[]){200, -1, 1, 127, -128, 0, 300, 5},
                 (double[]){-56, -1, 1, 127, -128, 0, 44, 5}, n, 0);
    attr_spec to_bool[] = {{"to", LO_ATTR_STRING, 0, "BOOL"}}; /* Cast-1 names the type */
    double wb[] = {1, 1, 1, 1, 1, 0, 1, 1};
    expect_unary("Cast", 1, to_bool, 1, LO_FLOAT, iv, wb, n, 0);

    /* float8 and 4-bit types, values from ONNX's own Cast cases. */
    double f8in[] = {0.47892547, 0.48033667, 0.8191054, 1e6, 1e-7, INFINITY, -INFINITY, -1e6};
    attr_spec to_e4m3[] = {{"to", LO_ATTR_INT, LO_FLOAT8E4M3FN, NULL}};
    lo_tensor x = tensor_of(LO_FLOAT, 1, &n, f8in), y;
    const lo_tensor *ins[1] = {&x};
    lo_status st = run_specs("Cast", 19, to_e4m3, 1, ins, 1, &y, 1);
    uint8_t want_e4m3[] = {0x2f, 0x2f, 0x35, 0x7e, 0x00, 0x7e, 0xfe, 0xfe};
    CHECK(st == LO_OK && memcmp(y.data, want_e4m3, 8) == 0, "Cast to e4m3fn: %s", last_err.message);
    lo_tensor back;
    const lo_tensor *bins[1] = {&y};
    attr_spec to_float[] = {{"to", LO_ATTR_INT, LO_FLOAT, NULL}};
    st = run_specs("Cast", 19, to_float, 1, bins, 1, &back, 1);
    double wback[] = {0.46875, 0.46875, 0.8125, 448, 0, 448, -448, -448};
    CHECK(st == LO_OK && values_are(&back, wback, 8, 0), "Cast e4m3fn to float: %s", last_err.message);
    lo_tensor_free_data(&back);
    lo_tensor_free_data(&y);
    attr_spec e5m2_nosat[] = {{"to", LO_ATTR_INT, LO_FLOAT8E5M2, NULL}, {"saturate", LO_ATTR_INT, 0, NULL}};
    st = run_specs("Cast", 19, e5m2_nosat, 2, ins, 1, &y, 1);
    uint8_t want_e5m2[] = {0x38, 0x38, 0x3b, 0x7c, 0x00, 0x7c, 0xfc, 0xfc};
    CHECK(st == LO_OK && memcmp(y.data, want_e5m2, 8) == 0, "Cast to e5m2 without saturation: %s",
          last_err.message);
    lo_tensor_free_data(&y);
    lo_tensor_free_data(&x);

    int64_t n4 = 6;
    double i4in[] = {-9, -8, 7, 8, 9, 10};
    attr_spec to_int4[] = {{"to", LO_ATTR_INT, LO_INT4, NULL}};
    double wi4[] = {7, -8, 7, -8, -7, -6};
    expect_unary("Cast", 21, to_int4, 1, LO_FLOAT, i4in, wi4, n4, 0);
    double f4in[] = {0.48, 1.05, -3.5, 9, NAN, -0.0};
    attr_spec to_f4[] = {{"to", LO_ATTR_INT, LO_FLOAT4E2M1, NULL}};
    x = tensor_of(LO_FLOAT, 1, &n4, f4in);
    st = run_specs("Cast", 23, to_f4, 1, ins, 1, &y, 1);
    uint8_t want_f4[] = {0x1, 0x2, 0xe, 0x7, 0x8, 0x8};
    CHECK(st == LO_OK && memcmp(y.data, want_f4, 6) == 0, "Cast to float4e2m1: %s", last_err.message);
    lo_tensor_free_data(&y);
    lo_tensor_free_data(&x);

    /* 2-bit integers truncate toward zero and wrap like the wider ones
     * (ml_dtypes, which ONNX's reference uses, agrees). */
    double i2in[] = {-3, -2, 1.9, 2, 3, 5};
    attr_spec to_int2[] = {{"to", LO_ATTR_INT, LO_INT2, NULL}};
    attr_spec to_uint2[] = {{"to", LO_ATTR_INT, LO_UINT2, NULL}};
    expect_unary("Cast", 25, to_int2, 1, LO_FLOAT, i2in, (double[]){1, -2, 1, -2, -1, 1}, n4, 0);
    expect_unary("Cast", 25, to_uint2, 1, LO_FLOAT, i2in, (double[]){1, 2, 1, 2, 3, 1}, n4, 0);
    expect_unary("Cast", 25, to_float, 1, LO_INT2, (double[]){-2, -1, 0, 1, 1, -2}, (double[]){-2, -1, 0, 1, 1, -2},
                 n4, 0);
    expect_unary("Cast", 25, to_float, 1, LO_UINT2, (double[]){0, 1, 2, 3, 3, 0}, (double[]){0, 1, 2, 3, 3, 0}, n4,
                 0);

    /* float8e8m0 under each round_mode: 1.5 * 2^127 is past the largest
     * code, which saturation keeps and otherwise becomes NaN (0xff); inf
     * and NaN are NaN either way. */
    double e8in[] = {1.0, 1.5, 1.25, 0.75, 0, 0x1.8p127, INFINITY, NAN};
    x = tensor_of(LO_FLOAT, 1, &n, e8in);
    static const struct {
        const char *mode;
        int saturate;
        uint8_t want[8];
    } e8cases[] = {
        {"up", 1, {127, 128, 128, 127, 0, 254, 255, 255}},
        {"up", 0, {127, 128, 128, 127, 0, 255, 255, 255}},
        {"down", 1, {127, 127, 127, 126, 0, 254, 255, 255}},
        {"nearest", 1, {127, 128, 127, 127, 0, 254, 255, 255}},
        {"nearest", 0, {127, 128, 127, 127, 0, 255, 255, 255}},
    };
    for (size_t k = 0; k < sizeof e8cases / sizeof e8cases[0]; k++) {
        attr_spec to_e8[] = {{"to", LO_ATTR_INT, LO_FLOAT8E8M0, NULL},
                             {"round_mode", LO_ATTR_STRING, 0, e8cases[k].mode},
                             {"saturate", LO_ATTR_INT, e8cases[k].saturate, NULL}};
        st = run_specs("Cast", 25, to_e8, 3, ins, 1, &y, 1);
        CHECK(st == LO_OK && y.dtype == LO_FLOAT8E8M0 && memcmp(y.data, e8cases[k].want, 8) == 0,
              "Cast to float8e8m0, round_mode %s, saturate %d: %s", e8cases[k].mode, e8cases[k].saturate,
              last_err.message);
        lo_tensor_free_data(&y);
    }
    attr_spec e8_default[] = {{"to", LO_ATTR_INT, LO_FLOAT8E8M0, NULL}}; /* round up, saturate */
    st = run_specs("Cast", 24, e8_default, 1, ins, 1, &y, 1);
    CHECK(st == LO_OK && memcmp(y.data, e8cases[0].want, 8) == 0, "Cast to float8e8m0 by default: %s",
          last_err.message);
    lo_tensor_free_data(&y);
    attr_spec e8_bad[] = {{"to", LO_ATTR_INT, LO_FLOAT8E8M0, NULL}, {"round_mode", LO_ATTR_STRING, 0, "even"}};
    st = run_specs("Cast", 25, e8_bad, 2, ins, 1, &y, 1);
    CHECK(st == LO_ERR_MODEL, "an unknown round_mode is refused (status %d)", (int)st);
    lo_tensor_free_data(&y);
    lo_tensor_free_data(&x);
    int64_t n8 = 7;
    x = tensor_new(LO_FLOAT8E8M0, 1, &n8);
    memcpy(x.data, (uint8_t[]){0, 1, 126, 127, 128, 254, 255}, 7);
    st = run_specs("Cast", 25, to_float, 1, ins, 1, &y, 1);
    CHECK(st == LO_OK && values_are(&y, (double[]){0x1p-127, 0x1p-126, 0.5, 1, 2, 0x1p127, NAN}, 7, 0),
          "Cast float8e8m0 to float: %s", last_err.message);
    lo_tensor_free_data(&y);
    st = run_specs("Cast", 25, to_f16, 1, ins, 1, &y, 1);
    CHECK(st == LO_OK && values_are(&y, (double[]){0, 0, 0.5, 1, 2, INFINITY, NAN}, 7, 0),
          "Cast float8e8m0 to float16: %s", last_err.message);
    lo_tensor_free_data(&y);
    lo_tensor_free_data(&x);

    /* float6 (opset 28) have no infinity or NaN: out of range saturates,
     * NaN becomes -0 as ml_dtypes has it; small values are subnormal. */
    int64_t n6 = 4;
    attr_spec to_e2m3[] = {{"to", LO_ATTR_INT, LO_FLOAT6E2M3, NULL}};
    attr_spec to_e3m2[] = {{"to", LO_ATTR_INT, LO_FLOAT6E3M2, NULL}};
    x = tensor_of(LO_FLOAT, 1, &n6, (double[]){7.5, 100, -0.125, NAN});
    st = run_specs("Cast", 28, to_e2m3, 1, ins, 1, &y, 1);
    CHECK(st == LO_OK && memcmp(y.data, (uint8_t[]){0x1f, 0x1f, 0x21, 0x20}, 4) == 0, "Cast to float6e2m3: %s",
          last_err.message);
    lo_tensor_free_data(&y);
    lo_tensor_free_data(&x);
    x = tensor_of(LO_FLOAT, 1, &n6, (double[]){28, 100, -0.0625, 1});
    st = run_specs("Cast", 28, to_e3m2, 1, ins, 1, &y, 1);
    CHECK(st == LO_OK && memcmp(y.data, (uint8_t[]){0x1f, 0x1f, 0x21, 0x0c}, 4) == 0, "Cast to float6e3m2: %s",
          last_err.message);
    lo_tensor back6;
    st = run_specs("Cast", 28, to_float, 1, bins, 1, &back6, 1);
    CHECK(st == LO_OK && values_are(&back6, (double[]){28, 28, -0.0625, 1}, 4, 0), "Cast float6e3m2 to float: %s",
          last_err.message);
    lo_tensor_free_data(&back6);
    lo_tensor_free_data(&y);
    lo_tensor_free_data(&x);

    /* Strings both ways. */
    int64_t ns = 6;
    double sv[] = {0.039187793, 3.0, -1e-7, 1.5e20, 100.25, INFINITY};
    attr_spec to_str[] = {{"to", LO_ATTR_INT, LO_STRING, NULL}};
    x = tensor_of(LO_FLOAT, 1, &ns, sv);
    st = run_specs("Cast", 13, to_str, 1, ins, 1, &y, 1);
    const char *want_s[] = {"0.039187793", "3.0", "-1e-07", "1.5e+20", "100.25", "inf"};
    bool ok = st == LO_OK && y.dtype == LO_STRING;
    for (int i = 0; ok && i < 6; i++) {
        ok = strcmp(((char **)y.data)[i], want_s[i]) == 0;
        if (!ok) printf("  string %d: '%s'\n", i, ((char **)y.data)[i]);
    }
    CHECK(ok, "Cast float to string: %s", last_err.message);
    lo_tensor_free_data(&y);
    lo_tensor_free_data(&x);
    const char *strs[] = {"0.47892547", "NaN", "INF", "+INF", "-inf", "1e-5"};
    lo_tensor s = make_strings(1, &ns, strs);
    const lo_tensor *sins[1] = {&s};
    st = run_specs("Cast", 13, to_float, 1, sins, 1, &y, 1);
    double wparsed[] = {0.47892547f, NAN, INFINITY, INFINITY, -INFINITY, 1e-5f};
    CHECK(st == LO_OK && values_are(&y, wparsed, 6, 0), "Cast string to float: %s", last_err.message);
    lo_tensor_free_data(&y);
    const char *istrs[] = {"12", "-7", "100.5", "0", "1e3", " 42"};
    lo_tensor is = make_strings(1, &ns, istrs);
    const lo_tensor *iins[1] = {&is};
    attr_spec to_i64[] = {{"to", LO_ATTR_INT, LO_INT64, NULL}};
    st = run_specs("Cast", 13, to_i64, 1, iins, 1, &y, 1);
    double wint[] = {12, -7, 100, 0, 1000, 42};
    CHECK(st == LO_OK && values_are(&y, wint, 6, 0), "Cast string to int64: %s", last_err.message);
    lo_tensor_free_data(&y);
    lo_tensor_free_data(&is);

    /* CastLike takes the type of its second input. */
    int64_t one = 1;
    lo_tensor like = tensor_new(LO_FLOAT16, 1, &one);
    const lo_tensor *lins[2] = {&s, &like};
    st = run_specs("CastLike", 15, NULL, 0, lins, 2, &y, 1);
    CHECK(st == LO_OK && y.dtype == LO_FLOAT16 && fabs(lo_get_f64(&y, 0) - 0.47900390625) < 1e-9,
          "CastLike string to float16: %s", last_err.message);
    lo_tensor_free_data(&y);
    lo_tensor_free_data(&like);
    lo_tensor_free_data(&s);

    /* Every numeric pair: the parallel path against the reference. */
    lo_dtype types[] = {LO_FLOAT, LO_DOUBLE, LO_FLOAT16, LO_BFLOAT16, LO_INT8, LO_UINT8, LO_INT16,
                        LO_UINT16, LO_INT32, LO_UINT32, LO_INT64, LO_UINT64, LO_BOOL};
    int nt = (int)(sizeof types / sizeof types[0]);
    for (int i = 0; i < nt; i++)
        for (int j = 0; j < nt; j++) {
            int64_t m = 20000;
            lo_tensor src = tensor_new(types[i], 1, &m);
            fill_random(&src, -100, 100);
            attr_spec to[] = {{"to", LO_ATTR_INT, types[j], NULL}};
            const lo_tensor *cins[1] = {&src};
            compare_paths("cast pairs", "Cast", 13, to, 1, cins, 1, 0, 2);
            lo_tensor_free_data(&src);
        }
}

static void test_errors(void) {
    int64_t d3[] = {3}, d4[] = {4};
    lo_tensor a = tensor_new(LO_FLOAT, 1, d3), b = tensor_new(LO_FLOAT, 1, d4), i = tensor_new(LO_INT32, 1, d3), y;
    const lo_tensor *ab[2] = {&a, &b};
    CHECK(run_specs("Add", 14, NULL, 0, ab, 2, &y, 1) == LO_ERR_INPUT && strstr(last_err.message, "'n'"),
          "shape mismatch: %s", last_err.message);
    lo_tensor_free_data(&y);
    const lo_tensor *ai[2] = {&a, &i};
    CHECK(run_specs("Mul", 14, NULL, 0, ai, 2, &y, 1) == LO_ERR_INPUT, "type mismatch accepted");
    lo_tensor_free_data(&y);
    const lo_tensor *io[1] = {&i};
    CHECK(run_specs("Sqrt", 13, NULL, 0, io, 1, &y, 1) == LO_ERR_UNSUPPORTED, "Sqrt of int32 accepted");
    lo_tensor_free_data(&y);
    CHECK(run_specs("Not", 1, NULL, 0, io, 1, &y, 1) == LO_ERR_UNSUPPORTED, "Not of int32 accepted");
    lo_tensor_free_data(&y);
    attr_spec bad_gelu[] = {{"approximate", LO_ATTR_STRING, 0, "erf"}};
    const lo_tensor *ao[1] = {&a};
    CHECK(run_specs("Gelu", 20, bad_gelu, 1, ao, 1, &y, 1) == LO_ERR_UNSUPPORTED, "Gelu approximate=erf accepted");
    attr_spec bad_dir[] = {{"direction", LO_ATTR_STRING, 0, "UP"}};
    CHECK(run_specs("BitShift", 11, bad_dir, 1, ab, 2, &y, 1) == LO_ERR_MODEL, "BitShift direction=UP accepted");
    const lo_tensor *missing[2] = {&a, NULL};
    CHECK(run_specs("Add", 14, NULL, 0, missing, 2, &y, 1) == LO_ERR_INPUT, "missing input accepted");
    lo_tensor_free_data(&y);
    CHECK(run_specs("Add", 14, NULL, 0, ab, 1, &y, 1) == LO_ERR_INPUT, "one input accepted");
    lo_tensor_free_data(&y);
    CHECK(run_specs("Cast", 13, NULL, 0, ao, 1, &y, 1) == LO_ERR_MODEL, "Cast without 'to' accepted");
    attr_spec complex_to[] = {{"to", LO_ATTR_INT, LO_COMPLEX64, NULL}};
    CHECK(run_specs("Cast", 13, complex_to, 1, ao, 1, &y, 1) == LO_ERR_UNSUPPORTED, "Cast to complex accepted");
    const lo_tensor *where_bad[3] = {&a, &a, &a};
    CHECK(run_specs("Where", 16, NULL, 0, where_bad, 3, &y, 1) == LO_ERR_INPUT, "Where with float condition");
    lo_tensor_free_data(&y);
    CHECK(lo_op_lookup("", "Gelu", 19) == NULL && lo_op_lookup("", "Gelu", 20) != NULL, "Gelu versions");
    CHECK(lo_op_lookup("", "Clip", 6) != NULL && lo_op_lookup("", "Clip", 25) != NULL, "Clip versions");
    lo_tensor_free_data(&a);
    lo_tensor_free_data(&b);
    lo_tensor_free_data(&i);
}

/* Empty tensors go through without touching data. */
static void test_empty(void) {
    int64_t d0[] = {0, 3}, d1[] = {1, 3};
    lo_tensor a = tensor_new(LO_FLOAT, 2, d0), b = tensor_new(LO_FLOAT, 2, d1), y;
    const lo_tensor *ins[2] = {&a, &b};
    lo_status st = run_specs("Add", 14, NULL, 0, ins, 2, &y, 2);
    CHECK(st == LO_OK && y.rank == 2 && y.dims[0] == 0 && y.dims[1] == 3, "empty Add: %s", last_err.message);
    lo_tensor_free_data(&y);
    const lo_tensor *one[1] = {&a};
    st = run_specs("Sigmoid", 13, NULL, 0, one, 1, &y, 2);
    CHECK(st == LO_OK && lo_numel(&y) == 0, "empty Sigmoid: %s", last_err.message);
    lo_tensor_free_data(&y);
    lo_tensor_free_data(&a);
    lo_tensor_free_data(&b);
}

int main(void) {
    test_known_values();
    test_legacy_and_prelu();
    test_clip();
    test_variadic_values();
    test_strings();
    test_cast();
    test_errors();
    test_empty();
    return finish(NULL);
}
