/* Kernels of nn/loss.c, quantization/quantize.c and the one-path ops of
 * several domains: each against a formula written out here, or against
 * another operator it must agree with. */

/* The seed these random cases were written with. */
#define HARNESS_SEED 88172645463325252ull
#include "harness.h"

/* In [-1, 1], in steps of 1e-6. */
static double rnd_micro(void) { return (double)rnd_range(-1000000, 1000000) / 1000000.0; }

static double max_diff(const lo_tensor *a, const lo_tensor *b) {
    if (a->rank != b->rank || lo_numel(a) != lo_numel(b)) return INFINITY;
    double m = 0;
    for (int64_t i = 0; i < lo_numel(a); i++) m = fmax(m, fabs(lo_get_f64(a, i) - lo_get_f64(b, i)));
    return m;
}

/* ---- loss.c ---------------------------------------------------------------------- */

/* SoftmaxCrossEntropyLoss against log-softmax + NLL written out here, with
 * weights and ignore_index, for each reduction. */
static void test_losses(void) {
    lo_error err;
    int64_t N = 3, C = 4, D = 2, xd[3] = {3, 4, 2}, td[2] = {3, 2}, wd[1] = {4};
    double xv[24], wv[4] = {0.5, 1, 2, 0.25};
    for (int i = 0; i < 24; i++) xv[i] = rnd_micro() * 3;
    double tv[6] = {0, 3, 1, 2, 2, 0};
    lo_tensor x = tensor_of(LO_FLOAT, 3, xd, xv), t = tensor_of(LO_INT64, 2, td, tv), w = tensor_of(LO_FLOAT, 1, wd, wv);
    static const char *reds[3] = {"none", "sum", "mean"};
    for (int r = 0; r < 3; r++) {
        double loss[6], sum = 0, wsum = 0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t d = 0; d < D; d++) {
                int64_t k = (int64_t)tv[n * D + d];
                double m = -INFINITY, s = 0;
                for (int64_t c = 0; c < C; c++) m = fmax(m, xv[(n * C + c) * D + d]);
                for (int64_t c = 0; c < C; c++) s += exp(xv[(n * C + c) * D + d] - m);
                double lp = xv[(n * C + k) * D + d] - m - log(s);
                bool ignored = k == 2; /* ignore_index below */
                loss[n * D + d] = ignored ? 0 : -lp * wv[k];
                sum += loss[n * D + d];
                wsum += ignored ? 0 : wv[k];
            }
        lo_attr at[2] = {attr_string("reduction", reds[r]), attr_int("ignore_index", 2)};
        const lo_tensor *in[3] = {&x, &t, &w};
        lo_tensor out[2];
        memset(out, 0, sizeof out);
        lo_status st = run_op("SoftmaxCrossEntropyLoss", 13, at, 2, in, 3, out, 2, &err);
        CHECK(st == LO_OK, "sce %s: %s", reds[r], err.message);
        if (st == LO_OK) {
            if (r == 0) {
                lo_tensor want = tensor_of(LO_FLOAT, 2, td, loss);
                CHECK(max_diff(&out[0], &want) < 1e-5, "sce none values");
                lo_tensor_free_data(&want);
            } else {
                double v = r == 1 ? sum : sum / wsum;
                CHECK(out[0].rank == 0 && fabs(lo_get_f64(&out[0], 0) - v) < 1e-5, "sce %s value", reds[r]);
            }
            CHECK(out[1].rank == 3 && out[1].dims[1] == C, "log_prob output shape");
        }
        lo_tensor_free_data(&out[0]);
        lo_tensor_free_data(&out[1]);
    }
    /* a target outside [0, C) is an input error */
    ((int64_t *)t.data)[0] = 9;
    const lo_tensor *in[2] = {&x, &t};
    lo_tensor o = {0};
    CHECK(run_op("NegativeLogLikelihoodLoss", 13, NULL, 0, in, 2, &o, 1, &err) == LO_ERR_INPUT, "bad target rejected");
    lo_tensor_free_data(&o);
    lo_tensor_free_data(&x);
    lo_tensor_free_data(&t);
    lo_tensor_free_data(&w);
}

/* ---- quantize.c ------------------------------------------------------------------ */

/* Per-axis and blocked QuantizeLinear against the formula, and
 * DequantizeLinear bringing the values back within half a step. */
static void test_quantize(void) {
    lo_error err;
    for (int trial = 0; trial < 20; trial++) {
        int64_t xd[3] = {rnd_range(1, 3), rnd_range(2, 6), rnd_range(1, 4)};
        bool blocked = trial % 2;
        int64_t block = blocked ? rnd_range(1, xd[1]) : 0;
        int64_t sd[3] = {xd[0], blocked ? (xd[1] + block - 1) / block : xd[1], xd[2]};
        lo_tensor x = tensor_new(LO_FLOAT, 3, xd);
        for (int64_t i = 0; i < lo_numel(&x); i++) ((float *)x.data)[i] = (float)(rnd_micro() * 5);
        lo_tensor s = blocked ? tensor_new(LO_FLOAT, 3, sd) : tensor_new(LO_FLOAT, 1, &sd[1]);
        lo_tensor z = blocked ? tensor_new(LO_INT8, 3, sd) : tensor_new(LO_INT8, 1, &sd[1]);
        for (int64_t i = 0; i < lo_numel(&s); i++) {
            ((float *)s.data)[i] = (float)(0.01 + fabs(rnd_micro()) * 0.05);
            ((int8_t *)z.data)[i] = (int8_t)rnd_range(-5, 5);
        }
        lo_attr at[2] = {attr_int("axis", 1), attr_int("block_size", block)};
        const lo_tensor *in[3] = {&x, &s, &z};
        lo_tensor q = {0}, dq = {0};
        lo_status st = run_op("QuantizeLinear", 21, at, blocked ? 2 : 1, in, 3, &q, 1, &err);
        CHECK(st == LO_OK && q.dtype == LO_INT8, "quantize trial %d: %s", trial, err.message);
        if (st != LO_OK) continue;
        int bad = 0, far = 0;
        for (int64_t i = 0; i < lo_numel(&x); i++) {
            int64_t a = (i / xd[2]) % xd[1], o = i / (xd[1] * xd[2]), in_ = i % xd[2];
            int64_t k = blocked ? (o * sd[1] + a / block) * xd[2] + in_ : a;
            float sc = ((float *)s.data)[k];
            double v = nearbyint(((float *)x.data)[i] / sc) + ((int8_t *)z.data)[k];
            v = fmin(fmax(v, -128), 127);
            if (((int8_t *)q.data)[i] != (int8_t)v) bad++;
        }
        CHECK(bad == 0, "quantize trial %d: %d values differ", trial, bad);
        const lo_tensor *din[3] = {&q, &s, &z};
        st = run_op("DequantizeLinear", 21, at, blocked ? 2 : 1, din, 3, &dq, 1, &err);
        CHECK(st == LO_OK, "dequantize trial %d: %s", trial, err.message);
        for (int64_t i = 0; st == LO_OK && i < lo_numel(&x); i++) {
            int64_t a = (i / xd[2]) % xd[1], o = i / (xd[1] * xd[2]), in_ = i % xd[2];
            int64_t k = blocked ? (o * sd[1] + a / block) * xd[2] + in_ : a;
            int8_t qv = ((int8_t *)q.data)[i];
            if (qv > -128 && qv < 127 && fabs(((float *)dq.data)[i] - ((float *)x.data)[i]) > ((float *)s.data)[k] * 0.5001)
                far++;
        }
        CHECK(far == 0, "dequantize trial %d: %d values off by more than half a step", trial, far);
        lo_tensor *all[] = {&x, &s, &z, &q, &dq};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) lo_tensor_free_data(all[i]);
    }
    /* DynamicQuantizeLinear on [0, 2, -3, -2.5, 1.34, 0.5]: ONNX's own example */
    int64_t d6[1] = {6};
    double xv[6] = {0, 2, -3, -2.5, 1.34, 0.5};
    lo_tensor x = tensor_of(LO_FLOAT, 1, d6, xv), out[3];
    memset(out, 0, sizeof out);
    const lo_tensor *in[1] = {&x};
    CHECK(run_op("DynamicQuantizeLinear", 11, NULL, 0, in, 1, out, 3, &err) == LO_OK, "dynamic: %s", err.message);
    static const uint8_t want[6] = {153, 255, 0, 26, 221, 179};
    CHECK(out[0].data && !memcmp(out[0].data, want, 6) && *(uint8_t *)out[2].data == 153 &&
               fabs(*(float *)out[1].data - 5.0 / 255) < 1e-7,
           "dynamic values");
    for (int i = 0; i < 3; i++) lo_tensor_free_data(&out[i]);
    lo_tensor_free_data(&x);
}

/* ---- one-path ops (text, signal, llm, ml, ...) ------------------------------------ */

static void test_nms(void) {
    lo_error err;
    /* two overlapping boxes and one apart; scores favour the second */
    int64_t bd[3] = {1, 3, 4}, sd[3] = {1, 1, 3}, one = 1;
    double bv[12] = {0, 0, 1, 1, 0, 0.1, 1, 1.1, 0, 10, 1, 11};
    double sv[3] = {0.9, 0.95, 0.3};
    lo_tensor boxes = tensor_of(LO_FLOAT, 3, bd, bv), scores = tensor_of(LO_FLOAT, 3, sd, sv);
    double mv = 3, iv = 0.5;
    lo_tensor maxo = tensor_of(LO_INT64, 1, &one, &mv), iou = tensor_of(LO_FLOAT, 1, &one, &iv), sel = {0};
    const lo_tensor *in[4] = {&boxes, &scores, &maxo, &iou};
    CHECK(run_op("NonMaxSuppression", 11, NULL, 0, in, 4, &sel, 1, &err) == LO_OK, "nms: %s", err.message);
    CHECK(sel.rank == 2 && sel.dims[0] == 2 && ((int64_t *)sel.data)[2] == 1 && ((int64_t *)sel.data)[5] == 2,
           "nms keeps boxes 1 and 2");
    lo_tensor *all[] = {&boxes, &scores, &maxo, &iou, &sel};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) lo_tensor_free_data(all[i]);
}

/* Det against cofactor expansion on random 3x3 matrices (batched). */
static void test_det(void) {
    lo_error err;
    int64_t d[3] = {5, 3, 3};
    double v[45];
    for (int i = 0; i < 45; i++) v[i] = rnd_micro() * 4;
    lo_tensor x = tensor_of(LO_DOUBLE, 3, d, v), y = {0};
    const lo_tensor *in[1] = {&x};
    CHECK(run_op("Det", 11, NULL, 0, in, 1, &y, 1, &err) == LO_OK && y.rank == 1 && y.dims[0] == 5, "det");
    for (int b = 0; b < 5 && y.data; b++) {
        const double *m = v + 9 * b;
        double want = m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) +
                      m[2] * (m[3] * m[7] - m[4] * m[6]);
        CHECK(fabs(((double *)y.data)[b] - want) < 1e-9 * (1 + fabs(want)), "det %d", b);
    }
    lo_tensor_free_data(&x);
    lo_tensor_free_data(&y);
}

/* DFT then inverse DFT returns the signal; a one-sided DFT equals the first
 * half of the full one. */
static void test_dft(void) {
    lo_error err;
    int64_t d[3] = {2, 7, 1}, two = 2;
    double v[14];
    for (int i = 0; i < 14; i++) v[i] = rnd_micro();
    lo_tensor x = tensor_of(LO_DOUBLE, 3, d, v), full = {0}, back = {0}, half = {0};
    const lo_tensor *in[1] = {&x};
    lo_attr inv = attr_int("inverse", 1), ones = attr_int("onesided", 1);
    CHECK(run_op("DFT", 17, NULL, 0, in, 1, &full, 1, &err) == LO_OK && full.dims[2] == 2, "dft");
    const lo_tensor *in2[1] = {&full};
    CHECK(run_op("DFT", 17, &inv, 1, in2, 1, &back, 1, &err) == LO_OK, "idft");
    double worst = 0;
    for (int i = 0; i < 14 && back.data; i++)
        worst = fmax(worst, fabs(((double *)back.data)[2 * i] - v[i]) + fabs(((double *)back.data)[2 * i + 1]));
    CHECK(worst < 1e-9, "idft(dft(x)) = x (off by %g)", worst);
    CHECK(run_op("DFT", 17, &ones, 1, in, 1, &half, 1, &err) == LO_OK && half.dims[1] == 4, "one-sided dft");
    for (int b = 0; b < 2 && half.data; b++)
        for (int k = 0; k < 4; k++)
            CHECK(fabs(((double *)half.data)[(b * 4 + k) * 2] - ((double *)full.data)[(b * 7 + k) * 2]) < 1e-12,
                   "one-sided bin %d", k);
    (void)two;
    lo_tensor *all[] = {&x, &full, &back, &half};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) lo_tensor_free_data(all[i]);
}

/* Attention: the 3-D packed form equals the 4-D one, is_causal equals an
 * explicit lower-triangular boolean mask, and GQA shares key heads. */
static void test_attention(void) {
    lo_error err;
    int64_t B = 2, Hq = 4, Hk = 2, S = 3, D = 4;
    int64_t qd[4] = {B, Hq, S, D}, kd[4] = {B, Hk, S, D};
    lo_tensor q = tensor_new(LO_FLOAT, 4, qd), k = tensor_new(LO_FLOAT, 4, kd), v = tensor_new(LO_FLOAT, 4, kd);
    for (int64_t i = 0; i < lo_numel(&q); i++) ((float *)q.data)[i] = (float)rnd_micro();
    for (int64_t i = 0; i < lo_numel(&k); i++) ((float *)k.data)[i] = (float)rnd_micro(), ((float *)v.data)[i] = (float)rnd_micro();
    lo_attr causal = attr_int("is_causal", 1);
    const lo_tensor *in[3] = {&q, &k, &v};
    lo_tensor y1[4], y2[4];
    memset(y1, 0, sizeof y1);
    memset(y2, 0, sizeof y2);
    CHECK(run_op("Attention", 23, &causal, 1, in, 3, y1, 1, &err) == LO_OK, "attention: %s", err.message);
    int64_t md[2] = {S, S};
    lo_tensor mask = tensor_new(LO_BOOL, 2, md);
    for (int64_t i = 0; i < S; i++)
        for (int64_t j = 0; j < S; j++) ((uint8_t *)mask.data)[i * S + j] = j <= i;
    const lo_tensor *in_m[4] = {&q, &k, &v, &mask};
    CHECK(run_op("Attention", 23, NULL, 0, in_m, 4, y2, 1, &err) == LO_OK, "masked attention: %s", err.message);
    CHECK(max_diff(&y1[0], &y2[0]) < 1e-6, "is_causal equals a lower-triangular mask");
    /* packed [B, S, H * D] inputs */
    int64_t pq[3] = {B, S, Hq * D}, pk[3] = {B, S, Hk * D};
    lo_tensor q3 = tensor_new(LO_FLOAT, 3, pq), k3 = tensor_new(LO_FLOAT, 3, pk), v3 = tensor_new(LO_FLOAT, 3, pk);
    for (int64_t b = 0; b < B; b++)
        for (int64_t s = 0; s < S; s++)
            for (int64_t d = 0; d < D; d++) {
                for (int64_t h = 0; h < Hq; h++)
                    ((float *)q3.data)[(b * S + s) * Hq * D + h * D + d] = ((float *)q.data)[((b * Hq + h) * S + s) * D + d];
                for (int64_t h = 0; h < Hk; h++) {
                    ((float *)k3.data)[(b * S + s) * Hk * D + h * D + d] = ((float *)k.data)[((b * Hk + h) * S + s) * D + d];
                    ((float *)v3.data)[(b * S + s) * Hk * D + h * D + d] = ((float *)v.data)[((b * Hk + h) * S + s) * D + d];
                }
            }
    lo_attr at3[3] = {attr_int("is_causal", 1), attr_int("q_num_heads", Hq), attr_int("kv_num_heads", Hk)};
    const lo_tensor *in3[3] = {&q3, &k3, &v3};
    lo_tensor y3 = {0};
    CHECK(run_op("Attention", 23, at3, 3, in3, 3, &y3, 1, &err) == LO_OK, "packed attention: %s", err.message);
    int bad = 0;
    for (int64_t b = 0; y3.data && y1[0].data && b < B; b++)
        for (int64_t h = 0; h < Hq; h++)
            for (int64_t s = 0; s < S; s++)
                for (int64_t d = 0; d < D; d++)
                    if (fabsf(((float *)y3.data)[(b * S + s) * Hq * D + h * D + d] -
                              ((float *)y1[0].data)[((b * Hq + h) * S + s) * D + d]) > 1e-6f)
                        bad++;
    CHECK(bad == 0, "packed and 4-D attention agree (%d differ)", bad);
    /* first query position attends only to key 0: its output is v[0] */
    CHECK(y1[0].data && fabsf(((float *)y1[0].data)[0] - ((float *)v.data)[0]) < 1e-6f, "causal first row");
    lo_tensor *all[] = {&q, &k, &v, &y1[0], &y2[0], &mask, &q3, &k3, &v3, &y3};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) lo_tensor_free_data(all[i]);
}

/* GridSample at the pixel centres (align_corners=0) returns the image, in
 * every mode; Col2Im of a stride-1 kernel-1 layout is a reshape. */
static void test_grid_sample(void) {
    lo_error err;
    int64_t H = 3, W = 5, xd[4] = {1, 2, 3, 5}, gd[4] = {1, 3, 5, 2};
    lo_tensor x = tensor_new(LO_FLOAT, 4, xd), g = tensor_new(LO_FLOAT, 4, gd);
    for (int64_t i = 0; i < lo_numel(&x); i++) ((float *)x.data)[i] = (float)rnd_micro();
    for (int64_t i = 0; i < H; i++)
        for (int64_t j = 0; j < W; j++) {
            ((float *)g.data)[(i * W + j) * 2] = (float)((2.0 * (double)j + 1) / (double)W - 1);
            ((float *)g.data)[(i * W + j) * 2 + 1] = (float)((2.0 * (double)i + 1) / (double)H - 1);
        }
    static const char *modes[3] = {"linear", "nearest", "cubic"};
    for (int m = 0; m < 3; m++) {
        lo_attr at = attr_string("mode", modes[m]);
        const lo_tensor *in[2] = {&x, &g};
        lo_tensor y = {0};
        CHECK(run_op("GridSample", 20, &at, 1, in, 2, &y, 1, &err) == LO_OK, "gridsample %s: %s", modes[m], err.message);
        CHECK(max_diff(&y, &x) < 1e-5, "gridsample %s at pixel centres is the identity", modes[m]);
        lo_tensor_free_data(&y);
    }
    lo_tensor_free_data(&x);
    lo_tensor_free_data(&g);
}

static void test_strings(void) {
    lo_error err;
    int64_t d[1] = {4};
    lo_tensor x = tensor_new(LO_STRING, 1, d);
    const char *words[4] = {"Monday", "tuesday", "monday", "Friday"};
    for (int i = 0; i < 4; i++) ((char **)x.data)[i] = lo_strdup(words[i]);
    char *stop[1] = {"MONDAY"};
    lo_attr at[2] = {attr_string("case_change_action", "UPPER"), {0}};
    at[1].name = "stopwords", at[1].type = LO_ATTR_STRINGS, at[1].n = 1, at[1].strings = stop;
    const lo_tensor *in[1] = {&x};
    lo_tensor y = {0};
    CHECK(run_op("StringNormalizer", 10, at, 2, in, 1, &y, 1, &err) == LO_OK && y.dims[0] == 2 &&
               !strcmp(((char **)y.data)[0], "TUESDAY") && !strcmp(((char **)y.data)[1], "FRIDAY"),
           "string normalizer drops stop words case-insensitively and upper-cases");
    lo_attr sep = attr_string("delimiter", "da");
    lo_tensor parts[2];
    memset(parts, 0, sizeof parts);
    CHECK(run_op("StringSplit", 20, &sep, 1, in, 1, parts, 2, &err) == LO_OK && parts[0].dims[1] == 2 &&
               !strcmp(((char **)parts[0].data)[0], "Mon") && !strcmp(((char **)parts[0].data)[1], "y") &&
               ((int64_t *)parts[1].data)[0] == 2,
           "string split");
    lo_attr pat = attr_string("pattern", "[\\w]+day");
    lo_tensor m = {0};
    CHECK(run_op("RegexFullMatch", 20, &pat, 1, in, 1, &m, 1, &err) == LO_OK && ((uint8_t *)m.data)[0] == 1,
           "regex full match with \\w in brackets");
    lo_tensor *all[] = {&x, &y, &parts[0], &parts[1], &m};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) lo_tensor_free_data(all[i]);

    /* RE2 syntax beyond POSIX: non-capturing groups, inline flags, lazy
     * quantifiers, UTF-8 code points as one character (answers as Python's
     * re.fullmatch gives them) */
    static const struct {
        const char *pattern, *text;
        int want;
    } re2[] = {
        {"(?:ab)+c", "ababc", 1}, {"(?:ab)+c", "abac", 0}, {"(?i)hello", "HeLLo", 1},
        {"\\d+(?:\\.\\d+)?", "3.14", 1}, {"\\d+(?:\\.\\d+)?", "3.", 0}, {"a.c", "a\xc3\xa9" "c", 1},
        {"a+?b", "aaab", 1}, {"\\w+@\\w+\\.com", "me@example.com", 1},
    };
    for (size_t k = 0; k < sizeof re2 / sizeof re2[0]; k++) {
        int64_t one[1] = {1};
        lo_tensor t = tensor_new(LO_STRING, 1, one);
        ((char **)t.data)[0] = lo_strdup(re2[k].text);
        lo_attr pa = attr_string("pattern", re2[k].pattern);
        const lo_tensor *tin[1] = {&t};
        lo_tensor r = {0};
        lo_status st = run_op("RegexFullMatch", 20, &pa, 1, tin, 1, &r, 1, &err);
        CHECK(st == LO_OK && ((uint8_t *)r.data)[0] == re2[k].want, "RegexFullMatch '%s' on '%s': %s",
              re2[k].pattern, re2[k].text, st == LO_OK ? "wrong answer" : err.message);
        if (st == LO_OK) lo_tensor_free_data(&r);
        lo_tensor_free_data(&t);
    }
}

/* RMSNormalization against the formula; CumProd against running products. */
static void test_small_ops(void) {
    lo_error err;
    int64_t d[2] = {3, 5}, wd[1] = {5};
    lo_tensor x = tensor_new(LO_FLOAT, 2, d), w = tensor_new(LO_FLOAT, 1, wd), y = {0}, c = {0};
    for (int64_t i = 0; i < 15; i++) ((float *)x.data)[i] = (float)rnd_micro() * 2;
    for (int64_t i = 0; i < 5; i++) ((float *)w.data)[i] = (float)rnd_micro();
    const lo_tensor *in[2] = {&x, &w};
    CHECK(run_op("RMSNormalization", 23, NULL, 0, in, 2, &y, 1, &err) == LO_OK, "rms: %s", err.message);
    for (int r = 0; r < 3 && y.data; r++) {
        double ss = 0;
        for (int j = 0; j < 5; j++) ss += (double)((float *)x.data)[r * 5 + j] * ((float *)x.data)[r * 5 + j];
        double inv = 1 / sqrt(ss / 5 + 1e-5);
        for (int j = 0; j < 5; j++)
            CHECK(fabs(((float *)y.data)[r * 5 + j] - ((float *)x.data)[r * 5 + j] * inv * ((float *)w.data)[j]) < 1e-5,
                   "rms value");
    }
    lo_tensor axis = tensor_scalar_i64(1);
    lo_attr rev = attr_int("reverse", 1);
    const lo_tensor *cin[2] = {&x, &axis};
    CHECK(run_op("CumProd", 26, &rev, 1, cin, 2, &c, 1, &err) == LO_OK, "cumprod: %s", err.message);
    for (int r = 0; r < 3 && c.data; r++) {
        double p = 1;
        for (int j = 4; j >= 0; j--) {
            p *= ((float *)x.data)[r * 5 + j];
            CHECK(fabs(((float *)c.data)[r * 5 + j] - p) < 1e-5, "cumprod value");
        }
    }
    lo_attr sc = attr_float("alpha", 1.0f);
    lo_tensor s = {0};
    const lo_tensor *sin1[1] = {&x};
    CHECK(run_op("Swish", 24, &sc, 1, sin1, 1, &s, 1, &err) == LO_OK &&
               fabs(((float *)s.data)[0] - ((float *)x.data)[0] / (1 + exp(-((float *)x.data)[0]))) < 1e-6,
           "swish");
    lo_tensor *all[] = {&x, &w, &y, &c, &axis, &s};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) lo_tensor_free_data(all[i]);
}

/* CRC-32 (PNG chunks) and Adler-32 (zlib), bit by bit: libpng checks both. */
static uint32_t png_crc(const uint8_t *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xffffffffu;
}

static void put_be32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v; }

/* ImageDecoder on images built here: a P6 PNM and a PNG whose zlib stream
 * is one stored block, with Sub and Up filtered rows; both hold the same
 * 2x2 picture. Damaged files are input errors, not crashes. (Pillow's
 * pixels on images of every format: tests/image.) */
static void test_image_decoder(void) {
    lo_error err;
    static const uint8_t px[12] = {10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120};
    uint8_t pnm[64];
    int n = snprintf((char *)pnm, sizeof pnm, "P6\n# c\n2 2\n255\n");
    memcpy(pnm + n, px, 12);
    /* PNG: raw rows = filter byte + 6 bytes; row 0 Sub, row 1 Up */
    uint8_t raw[14];
    raw[0] = 1;
    for (int i = 0; i < 6; i++) raw[1 + i] = (uint8_t)(px[i] - (i >= 3 ? px[i - 3] : 0));
    raw[7] = 2;
    for (int i = 0; i < 6; i++) raw[8 + i] = (uint8_t)(px[6 + i] - px[i]);
    uint8_t png[128];
    size_t at = 0;
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(png, sig, 8), at = 8;
    static const uint8_t ihdr[25] = {0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0, 0, 2, 0, 0, 0, 2, 8, 2, 0, 0, 0, 0, 0, 0, 0};
    memcpy(png + at, ihdr, 25), at += 25;
    uint32_t zlen = 2 + 5 + 14 + 4;
    uint8_t idat_head[8] = {0, 0, 0, (uint8_t)zlen, 'I', 'D', 'A', 'T'};
    memcpy(png + at, idat_head, 8), at += 8;
    uint8_t zhead[7] = {0x78, 0x01, 0x01, 14, 0, (uint8_t)~14, 0xff};
    memcpy(png + at, zhead, 7), at += 7;
    memcpy(png + at, raw, 14), at += 14;
    uint32_t a = 1, b2 = 0;
    for (int i = 0; i < 14; i++) a = (a + raw[i]) % 65521, b2 = (b2 + a) % 65521;
    put_be32(png + at, b2 << 16 | a), at += 4;
    put_be32(png + at, png_crc(png + at - zlen - 4, zlen + 4)), at += 4;
    put_be32(png + 29, png_crc(png + 12, 17));
    static const uint8_t iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
    memcpy(png + at, iend, 12), at += 12;
    const uint8_t *files[2] = {pnm, png};
    int64_t lens[2] = {n + 12, (int64_t)at};
    for (int f = 0; f < 2; f++) {
        lo_tensor x = tensor_new(LO_UINT8, 1, &lens[f]), y = {0}, g = {0};
        memcpy(x.data, files[f], (size_t)lens[f]);
        const lo_tensor *in[1] = {&x};
        lo_status st = run_op("ImageDecoder", 20, NULL, 0, in, 1, &y, 1, &err);
        CHECK(st == LO_OK && y.rank == 3 && y.dims[0] == 2 && y.dims[1] == 2 && y.dims[2] == 3 &&
                   !memcmp(y.data, px, 12),
               "image %d decodes: %s", f, st ? err.message : "wrong pixels");
        lo_attr bgr = attr_string("pixel_format", "Grayscale");
        st = run_op("ImageDecoder", 20, &bgr, 1, in, 1, &g, 1, &err);
        CHECK(st == LO_OK && g.dims[2] == 1, "grayscale image %d", f);
        lo_tensor_free_data(&y);
        lo_tensor_free_data(&g);
        /* every truncation is rejected cleanly */
        int bad = 0;
        for (int64_t cut = 0; cut < lens[f] - (f ? 12 : 0); cut++) {
            lo_tensor t = tensor_new(LO_UINT8, 1, &cut), o = {0};
            if (cut) memcpy(t.data, files[f], (size_t)cut);
            const lo_tensor *tin[1] = {&t};
            if (run_op("ImageDecoder", 20, NULL, 0, tin, 1, &o, 1, &err) == LO_OK) bad++;
            lo_tensor_free_data(&t);
            lo_tensor_free_data(&o);
        }
        CHECK(bad == 0, "image %d: %d truncated files decoded", f, bad);
        lo_tensor_free_data(&x);
    }
}

int main(void) {
    test_losses();
    test_quantize();
    test_nms();
    test_det();
    test_dft();
    test_attention();
    test_grid_sample();
    test_strings();
    test_small_ops();
    test_image_decoder();
    return finish(NULL);
}
