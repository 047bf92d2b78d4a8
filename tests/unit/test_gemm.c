/* Kernels of gemm.c, through the registry; the fast and reference paths are
 * chosen as sessions choose them, by the context's kernel choice. */

/* Two threads, so the kernels' parallel splits run too. */
#define HARNESS_THREADS 2
#include "harness.h"

/* ---- Gemm ---- */

static void test_gemm_op(void) {
    lo_error err;
    for (int trial = 0; trial < 12; trial++) {
        int64_t M = rnd_int(1, 9), N = rnd_int(1, 9), K = rnd_int(1, 9);
        int ta = trial & 1, tb = (trial >> 1) & 1, cform = trial % 4; /* 0 none, 1 scalar, 2 [N], 3 [M,1] */
        int64_t ad[2] = {ta ? K : M, ta ? M : K}, bd[2] = {tb ? N : K, tb ? K : N};
        lo_tensor A = tensor_rand(LO_FLOAT, 2, ad), B = tensor_rand(LO_FLOAT, 2, bd), C;
        int64_t cd[2] = {cform == 3 ? M : N, 1};
        C = tensor_rand(LO_FLOAT, cform == 1 ? 0 : cform == 2 ? 1 : 2, cd);
        lo_attr at[4] = {attr_int("transA", ta), attr_int("transB", tb), attr_float("alpha", 0.25f),
                         attr_float("beta", 2.0f)};
        const lo_tensor *in[3] = {&A, &B, cform ? &C : NULL};
        lo_tensor out[1] = {0};
        lo_status st = run_op("Gemm", 13, at, 4, in, 3, out, 1, &err);
        CHECK(st == LO_OK, "Gemm failed: %s", err.message);
        if (st == LO_OK) {
            double worst = 0;
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < N; j++) {
                    double s = 0;
                    for (int64_t k = 0; k < K; k++)
                        s += lo_get_f64(&A, ta ? k * M + i : i * K + k) * lo_get_f64(&B, tb ? j * K + k : k * N + j);
                    double c = cform == 0 ? 0 : cform == 1 ? lo_get_f64(&C, 0) : cform == 2 ? lo_get_f64(&C, j)
                                                                                          : lo_get_f64(&C, i);
                    double want = 0.25 * s + 2.0 * c, got = ((float *)out[0].data)[i * N + j];
                    double e = fabs(got - want) / (1e-5 + 1e-5 * fabs(want));
                    if (e > worst) worst = e;
                }
            CHECK(worst <= 1, "Gemm ta=%d tb=%d c=%d: error %g", ta, tb, cform, worst);
        }
        /* the same in double goes through the generic path */
        lo_tensor Ad = tensor_new(LO_DOUBLE, 2, ad), Bd = tensor_new(LO_DOUBLE, 2, bd), Cd = tensor_new(LO_DOUBLE, C.rank, C.dims);
        for (int64_t i = 0; i < lo_numel(&A); i++) lo_set_f64(&Ad, i, lo_get_f64(&A, i));
        for (int64_t i = 0; i < lo_numel(&B); i++) lo_set_f64(&Bd, i, lo_get_f64(&B, i));
        for (int64_t i = 0; i < lo_numel(&C); i++) lo_set_f64(&Cd, i, lo_get_f64(&C, i));
        const lo_tensor *ind[3] = {&Ad, &Bd, cform ? &Cd : NULL};
        lo_tensor outd[1] = {0};
        st = run_op("Gemm", 13, at, 4, ind, 3, outd, 1, &err);
        CHECK(st == LO_OK && outd[0].dtype == LO_DOUBLE && mismatch(&outd[0], &out[0], 1e-5, 1e-5) <= 1,
               "Gemm double differs from float");
        free_all(out, 1), free_all(outd, 1);
        lo_tensor_free_data(&A), lo_tensor_free_data(&B), lo_tensor_free_data(&C);
        lo_tensor_free_data(&Ad), lo_tensor_free_data(&Bd), lo_tensor_free_data(&Cd);
    }
    /* bad shapes are reported, not crashed on */
    int64_t d1[2] = {2, 3}, d2[2] = {4, 5};
    lo_tensor A = tensor_rand(LO_FLOAT, 2, d1), B = tensor_rand(LO_FLOAT, 2, d2);
    const lo_tensor *in[2] = {&A, &B};
    lo_tensor out[1] = {0};
    CHECK(run_op("Gemm", 13, NULL, 0, in, 2, out, 1, &err) == LO_ERR_INPUT, "inner-dimension mismatch accepted");
    CHECK(run_op("MatMul", 13, NULL, 0, in, 2, out, 1, &err) == LO_ERR_INPUT, "MatMul mismatch accepted");
    free_all(out, 1);
    lo_tensor_free_data(&A), lo_tensor_free_data(&B);
}

/* ---- MatMul: batched broadcasting, fast against reference and naive ---- */

static void naive_matmul(const lo_tensor *A, const lo_tensor *B, lo_tensor *Y) {
    /* numpy semantics written out directly */
    int ra = A->rank, rb = B->rank;
    int64_t M = ra == 1 ? 1 : A->dims[ra - 2], K = A->dims[ra - 1], N = rb == 1 ? 1 : B->dims[rb - 1];
    int br = (ra > 2 ? ra - 2 : 0) > (rb > 2 ? rb - 2 : 0) ? ra - 2 : (rb > 2 ? rb - 2 : 0);
    int64_t bd[8], nb = 1;
    for (int d = 0; d < br; d++) {
        int da = d - (br - (ra - 2)), db = d - (br - (rb - 2));
        int64_t xa = ra > 2 && da >= 0 ? A->dims[da] : 1, xb = rb > 2 && db >= 0 ? B->dims[db] : 1;
        bd[d] = xa > xb ? xa : xb;
        nb *= bd[d];
    }
    for (int64_t b = 0; b < nb; b++) {
        int64_t ia = 0, ib = 0, sa = 1, sb = 1, rem = b;
        for (int d = br - 1; d >= 0; d--) {
            int64_t x = rem % bd[d];
            rem /= bd[d];
            int da = d - (br - (ra - 2)), db = d - (br - (rb - 2));
            int64_t xa = ra > 2 && da >= 0 ? A->dims[da] : 1, xb = rb > 2 && db >= 0 ? B->dims[db] : 1;
            ia += (xa == 1 ? 0 : x) * sa;
            ib += (xb == 1 ? 0 : x) * sb;
            sa *= xa;
            sb *= xb;
        }
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double s = 0;
                for (int64_t k = 0; k < K; k++)
                    s += lo_get_f64(A, ia * M * K + i * K + k) * lo_get_f64(B, ib * K * N + k * N + j);
                lo_set_f64(Y, b * M * N + i * N + j, s);
            }
    }
}

static void test_matmul(void) {
    static const struct {
        int ra, rb;
        int64_t a[5], b[5];
        int ry;
        int64_t y[5];
    } cases[] = {
        {2, 2, {3, 4}, {4, 5}, 2, {3, 5}},
        {1, 2, {4}, {4, 5}, 1, {5}},
        {2, 1, {3, 4}, {4}, 1, {3}},
        {1, 1, {4}, {4}, 0, {0}},
        {3, 2, {2, 3, 4}, {4, 5}, 3, {2, 3, 5}},
        {2, 3, {3, 4}, {2, 4, 5}, 3, {2, 3, 5}},
        {4, 3, {2, 1, 3, 4}, {3, 4, 5}, 4, {2, 3, 3, 5}},
        {3, 3, {1, 33, 17}, {6, 17, 9}, 3, {6, 33, 9}},
        {4, 4, {2, 3, 40, 64}, {2, 3, 64, 48}, 4, {2, 3, 40, 48}},
        {3, 1, {5, 3, 4}, {4}, 2, {5, 3}},
        {1, 3, {4}, {5, 4, 3}, 2, {5, 3}},
        {2, 2, {0, 4}, {4, 5}, 2, {0, 5}},
        {2, 2, {3, 0}, {0, 5}, 2, {3, 5}},
    };
    lo_error err;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        lo_tensor A = tensor_rand(LO_FLOAT, cases[c].ra, cases[c].a), B = tensor_rand(LO_FLOAT, cases[c].rb, cases[c].b);
        const lo_tensor *in[2] = {&A, &B};
        lo_tensor fast[1] = {0}, ref[1] = {0};
        harness_kernels = LO_KERNELS_FAST;
        lo_status s1 = run_op("MatMul", 13, NULL, 0, in, 2, fast, 1, &err);
        harness_kernels = LO_KERNELS_REFERENCE;
        lo_status s2 = run_op("MatMul", 13, NULL, 0, in, 2, ref, 1, &err);
        harness_kernels = LO_KERNELS_FAST;
        CHECK(s1 == LO_OK && s2 == LO_OK, "MatMul case %zu failed: %s", c, err.message);
        if (s1 == LO_OK && s2 == LO_OK) {
            lo_tensor want = tensor_new(LO_FLOAT, cases[c].ry, cases[c].y);
            naive_matmul(&A, &B, &want);
            CHECK(mismatch(&fast[0], &want, 1e-5, 1e-4) <= 1, "MatMul case %zu: oneDNN path differs", c);
            CHECK(mismatch(&ref[0], &want, 1e-6, 1e-6) <= 1, "MatMul case %zu: reference path differs", c);
            lo_tensor_free_data(&want);
        }
        /* int32 through the generic integer path */
        lo_tensor Ai = tensor_rand(LO_INT32, A.rank, A.dims), Bi = tensor_rand(LO_INT32, B.rank, B.dims);
        const lo_tensor *ini[2] = {&Ai, &Bi};
        lo_tensor outi[1] = {0};
        CHECK(run_op("MatMul", 13, NULL, 0, ini, 2, outi, 1, &err) == LO_OK, "MatMul int32: %s", err.message);
        lo_tensor wanti = tensor_new(LO_INT32, cases[c].ry, cases[c].y);
        naive_matmul(&Ai, &Bi, &wanti);
        CHECK(outi[0].dtype == LO_INT32 && mismatch(&outi[0], &wanti, 1e-9, 0) <= 1, "MatMul int32 case %zu", c);
        free_all(fast, 1), free_all(ref, 1), free_all(outi, 1);
        lo_tensor_free_data(&A), lo_tensor_free_data(&B), lo_tensor_free_data(&Ai), lo_tensor_free_data(&Bi);
        lo_tensor_free_data(&wanti);
    }
}

/* ---- MatMulInteger, QLinearMatMul ---- */

static void test_matmul_integer(void) {
    lo_error err;
    int64_t ad[3] = {2, 3, 5}, bd[2] = {5, 4}, zad[1] = {3}, zbd[1] = {4};
    lo_tensor A = tensor_rand(LO_UINT8, 3, ad), B = tensor_rand(LO_INT8, 2, bd);
    lo_tensor ZA = tensor_rand(LO_UINT8, 1, zad), ZB = tensor_rand(LO_INT8, 1, zbd);
    const lo_tensor *in[4] = {&A, &B, &ZA, &ZB};
    lo_tensor out[1] = {0};
    lo_status st = run_op("MatMulInteger", 10, NULL, 0, in, 4, out, 1, &err);
    CHECK(st == LO_OK && out[0].dtype == LO_INT32 && out[0].rank == 3, "MatMulInteger: %s", err.message);
    if (st == LO_OK) {
        int bad = 0;
        for (int64_t b = 0; b < 2; b++)
            for (int64_t i = 0; i < 3; i++)
                for (int64_t j = 0; j < 4; j++) {
                    int64_t s = 0;
                    for (int64_t k = 0; k < 5; k++)
                        s += (lo_get_i64(&A, (b * 3 + i) * 5 + k) - lo_get_i64(&ZA, i)) *
                             (lo_get_i64(&B, k * 4 + j) - lo_get_i64(&ZB, j));
                    bad += ((int32_t *)out[0].data)[(b * 3 + i) * 4 + j] != s;
                }
        CHECK(bad == 0, "MatMulInteger per-row/per-column zero points: %d wrong", bad);
    }
    free_all(out, 1);
    /* QLinearMatMul: dequantize, multiply, requantize with rounding to even */
    double as = 0.02, bs = 0.01, ys = 0.05;
    int64_t one[1] = {1};
    lo_tensor AS = tensor_of(LO_FLOAT, 0, one, &as), BS = tensor_of(LO_FLOAT, 0, one, &bs), YS = tensor_of(LO_FLOAT, 0, one, &ys);
    double azp = 10, bzp = -3, yzp = 128;
    lo_tensor AZ = tensor_of(LO_UINT8, 0, one, &azp), BZ = tensor_of(LO_INT8, 0, one, &bzp), YZ = tensor_of(LO_UINT8, 0, one, &yzp);
    const lo_tensor *qin[8] = {&A, &AS, &AZ, &B, &BS, &BZ, &YS, &YZ};
    st = run_op("QLinearMatMul", 10, NULL, 0, qin, 8, out, 1, &err);
    CHECK(st == LO_OK && out[0].dtype == LO_UINT8, "QLinearMatMul: %s", err.message);
    if (st == LO_OK) {
        int bad = 0;
        for (int64_t b = 0; b < 2; b++)
            for (int64_t i = 0; i < 3; i++)
                for (int64_t j = 0; j < 4; j++) {
                    double s = 0;
                    for (int64_t k = 0; k < 5; k++)
                        s += (lo_get_i64(&A, (b * 3 + i) * 5 + k) - azp) * as * (lo_get_i64(&B, k * 4 + j) - bzp) * bs;
                    double q = nearbyint(s / ys) + yzp;
                    q = q < 0 ? 0 : q > 255 ? 255 : q;
                    bad += ((uint8_t *)out[0].data)[(b * 3 + i) * 4 + j] != (uint8_t)q;
                }
        CHECK(bad == 0, "QLinearMatMul: %d wrong", bad);
    }
    free_all(out, 1);
    lo_tensor *all[] = {&A, &B, &ZA, &ZB, &AS, &BS, &YS, &AZ, &BZ, &YZ};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) lo_tensor_free_data(all[i]);
}

/* ---- Einsum against hand-written loops ---- */

static lo_status einsum(const char *eq, const lo_tensor **in, int n, lo_tensor *out, lo_error *err) {
    lo_attr at[1] = {attr_string("equation", eq)};
    return run_op("Einsum", 12, at, 1, in, n, out, 1, err);
}

static void test_einsum(void) {
    lo_error err;
    int64_t d34[2] = {3, 4}, d45[2] = {4, 5}, d33[2] = {3, 3}, d234[3] = {2, 3, 4}, d245[3] = {2, 4, 5};
    lo_tensor A = tensor_rand(LO_FLOAT, 2, d34), B = tensor_rand(LO_FLOAT, 2, d45), S = tensor_rand(LO_FLOAT, 2, d33);
    lo_tensor BA = tensor_rand(LO_FLOAT, 3, d234), BB = tensor_rand(LO_FLOAT, 3, d245);
    lo_tensor out[1] = {0}, mm[1] = {0};
    const lo_tensor *ab[2] = {&A, &B};
    run_op("MatMul", 13, NULL, 0, ab, 2, mm, 1, &err);
    CHECK(einsum("ij,jk->ik", ab, 2, out, &err) == LO_OK && mismatch(out, mm, 1e-6, 1e-5) <= 1, "ij,jk->ik");
    free_all(out, 1);
    CHECK(einsum("ij,jk", ab, 2, out, &err) == LO_OK && mismatch(out, mm, 1e-6, 1e-5) <= 1, "implicit ij,jk");
    free_all(out, 1);
    /* transposed result: ki */
    CHECK(einsum("ij,jk->ki", ab, 2, out, &err) == LO_OK && out[0].dims[0] == 5 && out[0].dims[1] == 3,
           "ij,jk->ki shape");
    if (out[0].data) {
        int bad = 0;
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < 5; k++) bad += fabs(lo_get_f64(out, k * 3 + i) - lo_get_f64(mm, i * 5 + k)) > 1e-5;
        CHECK(bad == 0, "ij,jk->ki values");
    }
    free_all(out, 1);
    free_all(mm, 1);
    const lo_tensor *bab[2] = {&BA, &BB};
    run_op("MatMul", 13, NULL, 0, bab, 2, mm, 1, &err);
    CHECK(einsum("bij,bjk->bik", bab, 2, out, &err) == LO_OK && mismatch(out, mm, 1e-6, 1e-5) <= 1, "batched");
    free_all(out, 1);
    CHECK(einsum("...ij,...jk->...ik", bab, 2, out, &err) == LO_OK && mismatch(out, mm, 1e-6, 1e-5) <= 1,
           "ellipsis batched");
    free_all(out, 1);
    free_all(mm, 1);
    /* diagonal and trace */
    const lo_tensor *s1[1] = {&S};
    CHECK(einsum("ii->i", s1, 1, out, &err) == LO_OK && out[0].rank == 1 && out[0].dims[0] == 3 &&
               fabs(lo_get_f64(out, 2) - lo_get_f64(&S, 8)) < 1e-7,
           "ii->i diagonal");
    free_all(out, 1);
    double tr = lo_get_f64(&S, 0) + lo_get_f64(&S, 4) + lo_get_f64(&S, 8);
    CHECK(einsum("ii", s1, 1, out, &err) == LO_OK && out[0].rank == 0 && fabs(lo_get_f64(out, 0) - tr) < 1e-6,
           "ii trace");
    free_all(out, 1);
    /* sum over everything, transpose */
    const lo_tensor *a1[1] = {&A};
    double total = 0;
    for (int i = 0; i < 12; i++) total += lo_get_f64(&A, i);
    CHECK(einsum("ij->", a1, 1, out, &err) == LO_OK && out[0].rank == 0 && fabs(lo_get_f64(out, 0) - total) < 1e-5,
           "ij-> sum");
    free_all(out, 1);
    CHECK(einsum("ij->ji", a1, 1, out, &err) == LO_OK && out[0].dims[0] == 4 &&
               lo_get_f64(out, 1 * 3 + 2) == lo_get_f64(&A, 2 * 4 + 1),
           "ij->ji");
    free_all(out, 1);
    /* implicit order is alphabetical: "ba" alone means transpose */
    CHECK(einsum("ba", a1, 1, out, &err) == LO_OK && out[0].dims[0] == 4 && lo_get_f64(out, 1 * 3 + 2) == lo_get_f64(&A, 2 * 4 + 1),
           "implicit ba");
    free_all(out, 1);
    /* a bad equation is refused at prepare, a bad shape at run */
    CHECK(einsum("ij,jk->iq", ab, 2, out, &err) == LO_ERR_INPUT, "unknown output label accepted");
    free_all(out, 1);
    CHECK(einsum("ij,j.k", ab, 2, out, &err) == LO_ERR_MODEL, "malformed equation accepted");
    free_all(out, 1);
    CHECK(einsum("ij,ik->jk", ab, 2, out, &err) == LO_ERR_INPUT, "label size mismatch accepted");
    free_all(out, 1);
    /* the transpose + batched GEMM path against the generic loop */
    static const struct {
        const char *eq;
        int ra, rb;
        int64_t a[4], b[4];
    } cases[] = {
        {"bhid,bhjd->bhij", 4, 4, {2, 3, 5, 8}, {2, 3, 7, 8}},
        {"bhij,bhjd->bhid", 4, 4, {2, 3, 5, 7}, {2, 3, 7, 8}},
        {"ij,kj->ik", 2, 2, {6, 5}, {4, 5}},
        {"i,j->ij", 1, 1, {6}, {4}},
        {"ij,ij->i", 2, 2, {6, 5}, {6, 5}},
        {"...ij,...jk->...ik", 4, 3, {2, 1, 3, 4}, {5, 4, 6}},
        {"bnd,d->bn", 3, 1, {3, 4, 5}, {5}},
        {"abc,cd->dba", 3, 2, {2, 3, 4}, {4, 5}},
        {"ij,jk", 2, 2, {1, 5}, {5, 1}},
        {"ij,jk->ik", 2, 2, {3, 0}, {0, 4}},
        {"ik,jk->", 2, 2, {3, 4}, {5, 4}}, /* k in both, i and j each only in one and summed: generic */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        lo_tensor X = tensor_rand(LO_FLOAT, cases[c].ra, cases[c].a), Y = tensor_rand(LO_FLOAT, cases[c].rb, cases[c].b);
        const lo_tensor *xy[2] = {&X, &Y};
        lo_tensor fast[1] = {0}, ref[1] = {0};
        harness_kernels = LO_KERNELS_FAST;
        lo_status s1 = einsum(cases[c].eq, xy, 2, fast, &err);
        harness_kernels = LO_KERNELS_REFERENCE;
        lo_status s2 = einsum(cases[c].eq, xy, 2, ref, &err);
        harness_kernels = LO_KERNELS_FAST;
        CHECK(s1 == LO_OK && s2 == LO_OK && mismatch(fast, ref, 1e-5, 1e-4) <= 1, "Einsum %s: fast path differs (%s)",
               cases[c].eq, err.message);
        free_all(fast, 1), free_all(ref, 1);
        lo_tensor_free_data(&X), lo_tensor_free_data(&Y);
    }
    lo_tensor *all[] = {&A, &B, &S, &BA, &BB};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) lo_tensor_free_data(all[i]);
}

/* ---- recurrent ops: properties that tie the variants together ---- */

/* X time-reversed along the sequence axis (layout 0). */
static lo_tensor reverse_seq(const lo_tensor *x) {
    lo_tensor r = tensor_new(x->dtype, x->rank, x->dims);
    int64_t S = x->dims[0], row = lo_numel(x) / S;
    for (int64_t t = 0; t < S; t++)
        for (int64_t i = 0; i < row; i++) lo_set_f64(&r, t * row + i, lo_get_f64(x, (S - 1 - t) * row + i));
    return r;
}

static void test_recurrent(const char *op, int gates, bool lbr) {
    lo_error err;
    int64_t S = 5, Bt = 3, I = 4, H = 6;
    int64_t xd[3] = {S, Bt, I}, wd[3] = {1, gates * H, I}, rd[3] = {1, gates * H, H}, bd[2] = {1, 2 * gates * H};
    int64_t w2d[3] = {2, gates * H, I}, r2d[3] = {2, gates * H, H}, b2d[2] = {2, 2 * gates * H};
    lo_tensor X = tensor_rand(LO_FLOAT, 3, xd), W = tensor_rand(LO_FLOAT, 3, wd), R = tensor_rand(LO_FLOAT, 3, rd);
    lo_tensor Bv = tensor_rand(LO_FLOAT, 2, bd);
    lo_tensor Xr = reverse_seq(&X);
    lo_attr fwd[3] = {attr_int("hidden_size", H), attr_string("direction", "forward"), attr_int("linear_before_reset", lbr)};
    lo_attr rev[3] = {attr_int("hidden_size", H), attr_string("direction", "reverse"), attr_int("linear_before_reset", lbr)};
    lo_attr bid[3] = {attr_int("hidden_size", H), attr_string("direction", "bidirectional"),
                      attr_int("linear_before_reset", lbr)};
    const lo_tensor *in_f[4] = {&X, &W, &R, &Bv}, *in_r[4] = {&Xr, &W, &R, &Bv};
    lo_tensor of[2] = {{0}}, orv[2] = {{0}};
    lo_status s1 = run_op(op, 14, fwd, 3, in_f, 4, of, 2, &err);
    CHECK(s1 == LO_OK, "%s forward: %s", op, err.message);
    lo_status s2 = run_op(op, 14, rev, 3, in_r, 4, orv, 2, &err);
    CHECK(s2 == LO_OK, "%s reverse: %s", op, err.message);
    if (s1 == LO_OK && s2 == LO_OK) {
        /* reverse over reversed X ends in the same state as forward over X */
        CHECK(mismatch(&of[1], &orv[1], 1e-6, 1e-5) <= 1, "%s: reverse of reversed input differs in Y_h", op);
        /* and its Y is forward's Y read backwards */
        int bad = 0;
        int64_t row = Bt * H;
        for (int64_t t = 0; t < S; t++)
            for (int64_t i = 0; i < row; i++)
                bad += fabs(lo_get_f64(&of[0], t * row + i) - lo_get_f64(&orv[0], (S - 1 - t) * row + i)) > 1e-5;
        CHECK(bad == 0, "%s: reverse Y is not forward Y reversed (%d)", op, bad);
        /* the last Y step equals Y_h */
        bad = 0;
        for (int64_t i = 0; i < row; i++) bad += lo_get_f64(&of[0], (S - 1) * row + i) != lo_get_f64(&of[1], i);
        CHECK(bad == 0, "%s: Y_h is not the last Y", op);
    }
    /* bidirectional = forward with direction-0 weights + reverse with direction-1 weights */
    lo_tensor W2 = tensor_rand(LO_FLOAT, 3, w2d), R2 = tensor_rand(LO_FLOAT, 3, r2d), B2 = tensor_rand(LO_FLOAT, 2, b2d);
    const lo_tensor *in_b[4] = {&X, &W2, &R2, &B2};
    lo_tensor ob[2] = {{0}};
    CHECK(run_op(op, 14, bid, 3, in_b, 4, ob, 2, &err) == LO_OK, "%s bidirectional: %s", op, err.message);
    for (int d = 0; d < 2 && ob[0].data; d++) {
        lo_tensor Wd = tensor_new(LO_FLOAT, 3, wd), Rd = tensor_new(LO_FLOAT, 3, rd), Bd = tensor_new(LO_FLOAT, 2, bd);
        memcpy(Wd.data, (float *)W2.data + d * lo_numel(&Wd), Wd.nbytes);
        memcpy(Rd.data, (float *)R2.data + d * lo_numel(&Rd), Rd.nbytes);
        memcpy(Bd.data, (float *)B2.data + d * lo_numel(&Bd), Bd.nbytes);
        const lo_tensor *in_d[4] = {&X, &Wd, &Rd, &Bd};
        lo_tensor od[2] = {{0}};
        CHECK(run_op(op, 14, d ? rev : fwd, 3, in_d, 4, od, 2, &err) == LO_OK, "%s single direction", op);
        int bad = 0;
        for (int64_t t = 0; t < S; t++)
            for (int64_t i = 0; i < Bt * H; i++)
                bad += fabs(lo_get_f64(&ob[0], (t * 2 + d) * Bt * H + i) - lo_get_f64(&od[0], t * Bt * H + i)) > 1e-5;
        for (int64_t i = 0; i < Bt * H; i++) bad += fabs(lo_get_f64(&ob[1], d * Bt * H + i) - lo_get_f64(&od[1], i)) > 1e-5;
        CHECK(bad == 0, "%s bidirectional direction %d differs from a single-direction run (%d)", op, d, bad);
        free_all(od, 2);
        lo_tensor_free_data(&Wd), lo_tensor_free_data(&Rd), lo_tensor_free_data(&Bd);
    }
    /* layout 1 = layout 0 with batch and sequence swapped */
    int64_t xbd[3] = {Bt, S, I};
    lo_tensor Xb = tensor_new(LO_FLOAT, 3, xbd);
    for (int64_t t = 0; t < S; t++)
        for (int64_t b = 0; b < Bt; b++)
            for (int64_t i = 0; i < I; i++) lo_set_f64(&Xb, (b * S + t) * I + i, lo_get_f64(&X, (t * Bt + b) * I + i));
    lo_attr lay[4] = {fwd[0], fwd[1], fwd[2], attr_int("layout", 1)};
    const lo_tensor *in_l[4] = {&Xb, &W, &R, &Bv};
    lo_tensor ol[2] = {{0}};
    CHECK(run_op(op, 14, lay, 4, in_l, 4, ol, 2, &err) == LO_OK, "%s layout 1: %s", op, err.message);
    if (ol[0].data && of[0].data) {
        int bad = 0;
        for (int64_t t = 0; t < S; t++)
            for (int64_t b = 0; b < Bt; b++)
                for (int64_t j = 0; j < H; j++)
                    bad += fabs(lo_get_f64(&ol[0], (b * S + t) * H + j) - lo_get_f64(&of[0], (t * Bt + b) * H + j)) > 1e-6;
        /* with one direction, Y_h [batch, 1, H] holds [1, batch, H]'s values in the same order */
        for (int64_t i = 0; i < Bt * H; i++) bad += lo_get_f64(&ol[1], i) != lo_get_f64(&of[1], i);
        CHECK(bad == 0 && ol[1].dims[0] == Bt && ol[1].dims[1] == 1, "%s layout 1 differs (%d)", op, bad);
    }
    /* sequence_lens: an entry of length L ends where a run over its first L steps ends */
    int64_t bdim[1] = {Bt};
    double lens[3] = {5, 2, 0};
    lo_tensor SL = tensor_of(LO_INT32, 1, bdim, lens);
    const lo_tensor *in_s[5] = {&X, &W, &R, &Bv, &SL};
    lo_tensor os[2] = {{0}};
    CHECK(run_op(op, 14, fwd, 3, in_s, 5, os, 2, &err) == LO_OK, "%s sequence_lens: %s", op, err.message);
    int64_t x2d[3] = {2, Bt, I};
    lo_tensor X2 = tensor_new(LO_FLOAT, 3, x2d);
    memcpy(X2.data, X.data, X2.nbytes);
    const lo_tensor *in_2[4] = {&X2, &W, &R, &Bv};
    lo_tensor o2[2] = {{0}};
    CHECK(run_op(op, 14, fwd, 3, in_2, 4, o2, 2, &err) == LO_OK, "%s short run", op);
    if (os[0].data && o2[0].data) {
        int bad = 0;
        for (int64_t j = 0; j < H; j++) {
            bad += fabs(lo_get_f64(&os[1], 1 * H + j) - lo_get_f64(&o2[1], 1 * H + j)) > 1e-6; /* batch 1, len 2 */
            bad += fabs(lo_get_f64(&os[1], 0 * H + j) - lo_get_f64(&of[1], 0 * H + j)) > 1e-6; /* batch 0, full */
            bad += lo_get_f64(&os[1], 2 * H + j) != 0;                                           /* batch 2, empty */
            for (int64_t t = 2; t < S; t++) bad += lo_get_f64(&os[0], (t * Bt + 1) * H + j) != 0; /* padding is 0 */
        }
        CHECK(bad == 0, "%s sequence_lens (%d)", op, bad);
    }
    /* bad lengths are an input error */
    lens[1] = 9;
    lo_tensor SLb = tensor_of(LO_INT32, 1, bdim, lens);
    const lo_tensor *in_sb[5] = {&X, &W, &R, &Bv, &SLb};
    lo_tensor obad[2] = {{0}};
    CHECK(run_op(op, 14, fwd, 3, in_sb, 5, obad, 2, &err) == LO_ERR_INPUT, "%s: sequence_lens > seq accepted", op);
    free_all(of, 2), free_all(orv, 2), free_all(ob, 2), free_all(ol, 2), free_all(os, 2), free_all(o2, 2), free_all(obad, 2);
    lo_tensor *all[] = {&X, &W, &R, &Bv, &Xr, &W2, &R2, &B2, &Xb, &SL, &X2, &SLb};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) lo_tensor_free_data(all[i]);
}

/* One LSTM step written out by hand, with peepholes and a clip. */
static void test_lstm_step(void) {
    lo_error err;
    int64_t H = 2, I = 3;
    int64_t xd[3] = {1, 1, I}, wd[3] = {1, 4 * H, I}, rd[3] = {1, 4 * H, H}, bd[2] = {1, 8 * H}, pd[2] = {1, 3 * H},
            hd[3] = {1, 1, H};
    lo_tensor X = tensor_rand(LO_FLOAT, 3, xd), W = tensor_rand(LO_FLOAT, 3, wd), R = tensor_rand(LO_FLOAT, 3, rd);
    lo_tensor Bv = tensor_rand(LO_FLOAT, 2, bd), P = tensor_rand(LO_FLOAT, 2, pd);
    lo_tensor H0 = tensor_rand(LO_FLOAT, 3, hd), C0 = tensor_rand(LO_FLOAT, 3, hd);
    lo_attr at[2] = {attr_int("hidden_size", H), attr_float("clip", 0.5f)};
    const lo_tensor *in[8] = {&X, &W, &R, &Bv, NULL, &H0, &C0, &P};
    lo_tensor out[3] = {{0}};
    CHECK(run_op("LSTM", 14, at, 2, in, 8, out, 3, &err) == LO_OK, "LSTM step: %s", err.message);
    if (!out[2].data) return;
    const float *x = X.data, *w = W.data, *r = R.data, *b = Bv.data, *p = P.data, *h = H0.data, *c = C0.data;
    double g[4][2];
    for (int q = 0; q < 4; q++)
        for (int j = 0; j < H; j++) {
            double s = b[q * H + j] + b[4 * H + q * H + j];
            for (int k = 0; k < I; k++) s += x[k] * w[(q * H + j) * I + k];
            for (int k = 0; k < H; k++) s += h[k] * r[(q * H + j) * H + k];
            g[q][j] = s;
        }
    int bad = 0;
    for (int j = 0; j < H; j++) {
#define CLIP(v) ((v) < -0.5 ? -0.5 : (v) > 0.5 ? 0.5 : (v))
        double i = 1 / (1 + exp(-CLIP(g[0][j] + p[j] * c[j])));
        double f = 1 / (1 + exp(-CLIP(g[2][j] + p[2 * H + j] * c[j])));
        double cc = tanh(CLIP(g[3][j]));
        double cn = f * c[j] + i * cc;
        double o = 1 / (1 + exp(-CLIP(g[1][j] + p[H + j] * cn)));
        double hn = o * tanh(cn);
        bad += fabs(lo_get_f64(&out[1], j) - hn) > 1e-5 || fabs(lo_get_f64(&out[2], j) - cn) > 1e-5;
    }
    CHECK(bad == 0, "LSTM step with peepholes and clip differs from the formula (%d)", bad);
    free_all(out, 3);
    lo_tensor *all[] = {&X, &W, &R, &Bv, &P, &H0, &C0};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) lo_tensor_free_data(all[i]);
}

/* Activation names and their alpha/beta reach the kernel. */
static void test_rnn_activations(void) {
    lo_error err;
    int64_t xd[3] = {1, 1, 1}, wd[3] = {1, 1, 1};
    double one = 1, xv = -2;
    lo_tensor X = tensor_of(LO_FLOAT, 3, xd, &xv), W = tensor_of(LO_FLOAT, 3, wd, &one), R = tensor_of(LO_FLOAT, 3, wd, &one);
    char *names[1] = {"LeakyRelu"};
    float alpha[1] = {0.25f};
    lo_attr at[3] = {attr_int("hidden_size", 1), attr_strings("activations", 1, names), {0}};
    at[2].name = "activation_alpha";
    at[2].type = LO_ATTR_FLOATS;
    at[2].n = 1;
    at[2].floats = alpha;
    const lo_tensor *in[3] = {&X, &W, &R};
    lo_tensor out[2] = {{0}};
    CHECK(run_op("RNN", 14, at, 3, in, 3, out, 2, &err) == LO_OK && fabs(lo_get_f64(&out[1], 0) + 0.5) < 1e-6,
           "RNN LeakyRelu alpha 0.25 of -2 should be -0.5");
    free_all(out, 2);
    char *bad_names[1] = {"Swish"};
    at[1] = attr_strings("activations", 1, bad_names);
    CHECK(run_op("RNN", 14, at, 3, in, 3, out, 2, &err) == LO_ERR_UNSUPPORTED, "unknown activation accepted");
    free_all(out, 2);
    lo_tensor_free_data(&X), lo_tensor_free_data(&W), lo_tensor_free_data(&R);
}

int main(void) {
    test_gemm_op();
    test_matmul();
    test_matmul_integer();
    test_einsum();
    test_recurrent("RNN", 1, false);
    test_recurrent("GRU", 3, false);
    test_recurrent("GRU", 3, true);
    test_recurrent("LSTM", 4, false);
    test_lstm_step();
    test_rnn_activations();
    return finish(NULL);
}
