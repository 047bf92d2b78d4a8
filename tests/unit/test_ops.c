/* Every operator with a fast path against its own reference path.
 *
 * The driver walks the registry: each kernel flagged LO_OP_FAST must have a
 * case generator below (a missing one is a failure, so a new fast kernel
 * cannot go untested). Each generator draws random shapes, dtypes and
 * attributes; the op runs once with the reference loops
 * (LO_KERNELS_REFERENCE) and once with each fast variant, on two threads,
 * and every output is compared by its normalised mean squared error
 * (sum (fast - ref)^2 / sum ref^2, NaNs and infinities matching by place)
 * against the op's tolerance; integer outputs must match exactly.
 *
 * `test_ops OP` runs only that op. */
#define HARNESS_SEED 0x5eed0f0b5eed0f0bull
#define HARNESS_THREADS 2
#include "harness.h"

#define MAX_IN 10
#define MAX_ATTR 10

/* One drawn instance of an op: its opset, attributes and inputs. */
typedef struct op_case {
    int opset;
    lo_attr attrs[MAX_ATTR];
    int64_t ints[MAX_ATTR][16];
    int n_attrs;
    lo_tensor in[MAX_IN];
    bool present[MAX_IN];
    int n_in, n_out;
} op_case;

static void add_int(op_case *c, const char *name, int64_t v) { c->attrs[c->n_attrs++] = attr_int(name, v); }
static void add_float(op_case *c, const char *name, float v) { c->attrs[c->n_attrs++] = attr_float(name, v); }
static void add_string(op_case *c, const char *name, const char *v) {
    c->attrs[c->n_attrs++] = attr_string(name, v);
}
static void add_ints(op_case *c, const char *name, int n, const int64_t *v) {
    int k = c->n_attrs++;
    memcpy(c->ints[k], v, (size_t)n * sizeof *v);
    c->attrs[k] = attr_ints(name, n, c->ints[k]);
}
static void add_in(op_case *c, lo_tensor t) {
    c->present[c->n_in] = true;
    c->in[c->n_in++] = t;
}
static void add_none(op_case *c) { c->present[c->n_in++] = false; }

/* Random contents in [lo, hi); integers rounded. */
static lo_tensor rand_in(lo_dtype dt, int rank, const int64_t *dims, double lo, double hi) {
    lo_tensor t = tensor_new(dt, rank, dims);
    for (int64_t i = 0; i < lo_numel(&t); i++) {
        double v = rnd_uniform(lo, hi);
        if (dt == LO_BOOL) lo_set_i64(&t, i, v > (lo + hi) / 2);
        else if (lo_dtype_is_int(dt)) lo_set_i64(&t, i, (int64_t)floor(v));
        else lo_set_f64(&t, i, v);
    }
    return t;
}

static void rand_dims(int rank, int64_t lo, int64_t hi, int64_t *dims) {
    for (int d = 0; d < rank; d++) dims[d] = rnd_range(lo, hi);
}

/* A shape that broadcasts to (rank, dims): leading axes dropped at times,
 * others set to 1 at times. */
static int broadcast_of(int rank, const int64_t *dims, int64_t *out) {
    int drop = rnd_range(0, 3) == 0 ? (int)rnd_range(0, rank) : 0;
    for (int d = drop; d < rank; d++) out[d - drop] = rnd_range(0, 2) == 0 ? 1 : dims[d];
    return rank - drop;
}

/* ---- elementwise ----------------------------------------------------------- */

static bool is(const char *op, const char *name) { return strcmp(op, name) == 0; }

static lo_dtype pick(int n, const lo_dtype *types) { return types[rnd_range(0, n - 1)]; }

static void gen_unary(const char *op, op_case *c) {
    c->opset = 20;
    int rank = (int)rnd_range(0, 5);
    int64_t dims[5];
    rand_dims(rank, 1, 6, dims);
    if (rnd_range(0, 2) == 0) { /* one axis, up to large enough for several threads */
        static const int64_t sizes[] = {1, 7, 100, 70000};
        rank = 1, dims[0] = sizes[rnd_range(0, 3)];
    }
    static const lo_dtype floats[] = {LO_FLOAT, LO_FLOAT, LO_DOUBLE, LO_FLOAT16};
    lo_dtype t = pick(4, floats);
    double lo = -4, hi = 4;
    if (is(op, "Not")) t = LO_BOOL;
    if (is(op, "BitwiseNot")) {
        static const lo_dtype ints[] = {LO_INT32, LO_UINT8, LO_INT64};
        t = pick(3, ints), lo = 0, hi = 200;
    }
    if (is(op, "Abs") || is(op, "Neg") || is(op, "Sign") || is(op, "Relu")) {
        static const lo_dtype any[] = {LO_FLOAT, LO_DOUBLE, LO_INT32, LO_INT64, LO_INT8};
        t = pick(5, any), lo = -100, hi = 100;
    }
    if (is(op, "Acosh")) lo = 1;
    if (is(op, "Asin") || is(op, "Acos") || is(op, "Atanh")) lo = -1, hi = 1;
    if (is(op, "Round")) lo = -10, hi = 10;
    if (is(op, "Gelu") && rnd_range(0, 1)) add_string(c, "approximate", "tanh");
    if (is(op, "LeakyRelu") || is(op, "Elu") || is(op, "Celu") || is(op, "ThresholdedRelu"))
        add_float(c, "alpha", (float)rnd_uniform(0.1, 2));
    if (is(op, "HardSigmoid")) add_float(c, "alpha", 0.3f), add_float(c, "beta", 0.4f);
    if (is(op, "Shrink")) add_float(c, "lambd", 0.7f), add_float(c, "bias", 0.2f);
    lo_tensor x = rand_in(t, rank, dims, lo, hi);
    if ((is(op, "IsNaN") || is(op, "IsInf") || is(op, "Relu") || is(op, "Sigmoid") || is(op, "Tanh")) &&
        t != LO_BOOL && !lo_dtype_is_int(t))
        for (int64_t i = 0; i < lo_numel(&x); i++) {
            int r = (int)rnd_range(0, 9);
            if (r == 0) lo_set_f64(&x, i, NAN);
            if (r == 1) lo_set_f64(&x, i, r % 2 ? INFINITY : -INFINITY);
        }
    add_in(c, x);
    c->n_out = 1;
}

static void gen_binary(const char *op, op_case *c) {
    c->opset = 18;
    int rank = (int)rnd_range(0, 5);
    int64_t dims[5], da[5], db[5];
    rand_dims(rank, 1, rnd_range(0, 3) ? 6 : 40, dims);
    int ra = broadcast_of(rank, dims, da), rb = broadcast_of(rank, dims, db);
    if (rnd_range(0, 1)) ra = rank, memcpy(da, dims, sizeof dims); /* one operand full-size */
    if (rnd_range(0, 7) == 0) { /* shapes real models give, large enough for several threads */
        static const int64_t common[][4] = {{2, 64, 56, 56}, {1, 64, 1, 1}, {1, 1, 1, 1}, {1, 1, 1, 56}};
        rank = ra = rb = 4;
        memcpy(da, common[0], sizeof common[0]);
        memcpy(db, common[rnd_range(0, 3)], sizeof common[0]);
    }
    static const lo_dtype arith[] = {LO_FLOAT, LO_FLOAT, LO_DOUBLE, LO_INT32, LO_INT64, LO_UINT8, LO_FLOAT16};
    lo_dtype t = pick(7, arith);
    double lo = t == LO_UINT8 ? 0 : -50, hi = 50;
    if (is(op, "BitShift")) {
        static const lo_dtype u[] = {LO_UINT8, LO_UINT32, LO_UINT64};
        t = pick(3, u), lo = 0, hi = 8;
        add_string(c, "direction", rnd_range(0, 1) ? "LEFT" : "RIGHT");
    }
    if (strncmp(op, "Bitwise", 7) == 0) {
        static const lo_dtype ints[] = {LO_INT32, LO_UINT8, LO_INT64, LO_INT16};
        t = pick(4, ints), lo = 0, hi = 120;
    }
    if (is(op, "And") || is(op, "Or") || is(op, "Xor")) t = LO_BOOL;
    if (is(op, "Pow")) {
        static const lo_dtype p[] = {LO_FLOAT, LO_DOUBLE};
        t = pick(2, p), lo = 0.1, hi = 3;
    }
    if (is(op, "Mod")) {
        bool fl = !lo_dtype_is_int(t);
        add_int(c, "fmod", fl ? 1 : rnd_range(0, 1));
    }
    lo_tensor a = rand_in(t, ra, da, lo, hi), b = rand_in(t, rb, db, lo, hi);
    if (is(op, "Div") || is(op, "Mod"))
        for (int64_t i = 0; i < lo_numel(&b); i++)
            if (lo_get_f64(&b, i) == 0) lo_set_f64(&b, i, 3);
    add_in(c, a);
    add_in(c, b);
    c->n_out = 1;
}

static void gen_variadic(const char *op, op_case *c) {
    c->opset = 13;
    int rank = (int)rnd_range(1, 4);
    int64_t dims[4], d[4];
    rand_dims(rank, 1, rnd_range(0, 1) ? 40 : 5, dims);
    static const lo_dtype types[] = {LO_FLOAT, LO_FLOAT, LO_DOUBLE, LO_INT32};
    lo_dtype t = is(op, "Mean") || is(op, "Sum") ? pick(2, types) : pick(4, types);
    int n = (int)rnd_range(1, 4);
    for (int i = 0; i < n; i++) {
        int r = i == 0 ? rank : broadcast_of(rank, dims, d);
        add_in(c, rand_in(t, r, i == 0 ? dims : d, -50, 50));
    }
    c->n_out = 1;
}

static void gen_prelu(const char *op, op_case *c) {
    c->opset = 16;
    int64_t dims[4], sd[3];
    rand_dims(4, 1, 12, dims);
    add_in(c, rand_in(LO_FLOAT, 4, dims, -3, 3));
    int kind = (int)rnd_range(0, 2);
    if (kind == 0) sd[0] = dims[1], sd[1] = 1, sd[2] = 1;
    add_in(c, kind == 0 ? rand_in(LO_FLOAT, 3, sd, 0, 1)
                        : kind == 1 ? rand_in(LO_FLOAT, 0, NULL, 0, 1) : rand_in(LO_FLOAT, 4, dims, 0, 1));
    c->n_out = 1;
}

static void gen_where(const char *op, op_case *c) {
    c->opset = 16;
    int rank = (int)rnd_range(0, 4);
    int64_t dims[4], d0[4], d1[4], d2[4];
    rand_dims(rank, 1, 30, dims);
    int r0 = broadcast_of(rank, dims, d0), r1 = rnd_range(0, 1) ? rank : broadcast_of(rank, dims, d1);
    if (r1 == rank) memcpy(d1, dims, sizeof dims);
    int r2 = broadcast_of(rank, dims, d2);
    static const lo_dtype types[] = {LO_FLOAT, LO_DOUBLE, LO_INT64, LO_UINT8};
    lo_dtype t = pick(4, types);
    add_in(c, rand_in(LO_BOOL, r0, d0, 0, 1));
    add_in(c, rand_in(t, r1, d1, 0, 100));
    add_in(c, rand_in(t, r2, d2, 0, 100));
    c->n_out = 1;
}

static void gen_clip(const char *op, op_case *c) {
    c->opset = 13;
    int rank = (int)rnd_range(0, 4);
    int64_t dims[4];
    rand_dims(rank, 1, 40, dims);
    static const lo_dtype types[] = {LO_FLOAT, LO_FLOAT, LO_DOUBLE, LO_INT32};
    lo_dtype t = pick(4, types);
    add_in(c, rand_in(t, rank, dims, -10, 10));
    if (rnd_range(0, 3)) add_in(c, rand_in(t, 0, NULL, -6, 0)); else add_none(c);
    if (rnd_range(0, 3)) add_in(c, rand_in(t, 0, NULL, 0, 6)); else add_none(c);
    c->n_out = 1;
}

/* ---- convolution and pooling ------------------------------------------------ */

/* Spatial sizes, kernel, strides, dilations and pads that give an output of
 * at least one element. */
static void conv_geometry(op_case *c, int nsp, int64_t *in, bool transpose, bool dilate) {
    int64_t k[3], s[3], d[3], pads[6];
    for (int i = 0; i < nsp; i++) {
        in[i] = rnd_range(3, nsp == 1 ? 30 : nsp == 2 ? 14 : 6);
        k[i] = rnd_range(1, 3);
        s[i] = rnd_range(1, 2);
        d[i] = dilate ? rnd_range(1, 2) : 1;
        pads[i] = rnd_range(0, k[i] - 1);
        pads[nsp + i] = rnd_range(0, k[i] - 1);
        if (transpose && pads[i] + pads[nsp + i] >= (in[i] - 1) * s[i] + (k[i] - 1) * d[i] + 1) pads[i] = pads[nsp + i] = 0;
    }
    add_ints(c, "kernel_shape", nsp, k);
    add_ints(c, "strides", nsp, s);
    if (dilate) add_ints(c, "dilations", nsp, d);
    add_ints(c, "pads", 2 * nsp, pads);
}

static void gen_conv(const char *op, op_case *c) {
    c->opset = is(op, "ConvInteger") || is(op, "QLinearConv") ? 10 : 11;
    bool transpose = is(op, "ConvTranspose"), integer = is(op, "ConvInteger") || is(op, "QLinearConv");
    int nsp = integer ? 2 : (int)rnd_range(1, 3);
    int64_t sp[3];
    conv_geometry(c, nsp, sp, transpose, true);
    int64_t group = rnd_range(0, 2) ? 1 : rnd_range(2, 3), cg = rnd_range(1, 5), mg = rnd_range(1, 5);
    if (rnd_range(0, 4) == 0) group = rnd_range(2, 8), cg = 1, mg = 1; /* depthwise */
    add_int(c, "group", group);
    const int64_t *k = c->ints[0];
    int64_t xd[5] = {rnd_range(1, 2), cg * group}, wd[5];
    for (int i = 0; i < nsp; i++) xd[2 + i] = sp[i], wd[2 + i] = k[i];
    if (transpose) wd[0] = cg * group, wd[1] = mg;
    else wd[0] = mg * group, wd[1] = cg;
    int64_t bd[1] = {transpose ? mg * group : mg * group};
    if (!integer) {
        static const lo_dtype types[] = {LO_FLOAT, LO_FLOAT, LO_FLOAT16};
        lo_dtype t = pick(3, types);
        add_in(c, rand_in(t, nsp + 2, xd, -1, 1));
        add_in(c, rand_in(t, nsp + 2, wd, -1, 1));
        if (rnd_range(0, 1)) add_in(c, rand_in(t, 1, bd, -1, 1));
        c->n_out = 1;
        return;
    }
    lo_dtype xt = rnd_range(0, 1) ? LO_UINT8 : LO_INT8, wt = rnd_range(0, 1) ? LO_UINT8 : LO_INT8;
    double xlo = xt == LO_UINT8 ? 0 : -128, wlo = wt == LO_UINT8 ? 0 : -128;
    lo_tensor x = rand_in(xt, nsp + 2, xd, xlo, xlo + 256), w = rand_in(wt, nsp + 2, wd, wlo, wlo + 256);
    lo_tensor xz = rand_in(xt, 0, NULL, xlo + 100, xlo + 156), wz = rand_in(wt, 0, NULL, wlo + 100, wlo + 156);
    if (is(op, "ConvInteger")) {
        add_in(c, x), add_in(c, w), add_in(c, xz), add_in(c, wz);
    } else {
        add_in(c, x), add_in(c, rand_in(LO_FLOAT, 0, NULL, 0.01, 0.05)), add_in(c, xz);
        add_in(c, w), add_in(c, rand_in(LO_FLOAT, 0, NULL, 0.01, 0.05)), add_in(c, wz);
        add_in(c, rand_in(LO_FLOAT, 0, NULL, 0.5, 2)), add_in(c, rand_in(xt, 0, NULL, xlo + 100, xlo + 156));
        if (rnd_range(0, 1)) add_in(c, rand_in(LO_INT32, 1, bd, -1000, 1000));
    }
    c->n_out = 1;
}

static void gen_pool(const char *op, op_case *c) {
    c->opset = 19;
    int64_t sp[2];
    conv_geometry(c, 2, sp, false, is(op, "MaxPool"));
    /* pads below the kernel size, as ONNX requires */
    if (rnd_range(0, 1)) add_int(c, "ceil_mode", 1);
    if (is(op, "AveragePool") && rnd_range(0, 1)) add_int(c, "count_include_pad", 1);
    int64_t xd[4] = {rnd_range(1, 2), rnd_range(1, 20), sp[0], sp[1]};
    lo_tensor x = rand_in(LO_FLOAT, 4, xd, -5, 5);
    if (is(op, "MaxPool"))
        for (int64_t i = 0; i < lo_numel(&x); i += 17) lo_set_f64(&x, i, i % 2 ? -INFINITY : NAN);
    add_in(c, x);
    c->n_out = 1;
}

/* ---- matrix products ------------------------------------------------------ */

static void gen_gemm(const char *op, op_case *c) {
    c->opset = 13;
    int64_t M = rnd_range(1, 80), N = rnd_range(1, 80), K = rnd_range(1, 90);
    bool ta = rnd_range(0, 1), tb = rnd_range(0, 1);
    if (ta) add_int(c, "transA", 1);
    if (tb) add_int(c, "transB", 1);
    if (rnd_range(0, 1)) add_float(c, "alpha", (float)rnd_uniform(-2, 2));
    if (rnd_range(0, 1)) add_float(c, "beta", (float)rnd_uniform(-2, 2));
    int64_t ad[2] = {ta ? K : M, ta ? M : K}, bd[2] = {tb ? N : K, tb ? K : N}, cd[2] = {M, N};
    add_in(c, rand_in(LO_FLOAT, 2, ad, -1, 1));
    add_in(c, rand_in(LO_FLOAT, 2, bd, -1, 1));
    int cf = (int)rnd_range(0, 3);
    if (cf == 1) add_in(c, rand_in(LO_FLOAT, 0, NULL, -1, 1));
    if (cf == 2) add_in(c, rand_in(LO_FLOAT, 1, cd + 1, -1, 1));
    if (cf == 3) add_in(c, rand_in(LO_FLOAT, 2, cd, -1, 1));
    c->n_out = 1;
}

static void gen_matmul(const char *op, op_case *c) {
    c->opset = 13;
    int64_t M = rnd_range(1, 60), N = rnd_range(1, 60), K = rnd_range(1, 70);
    int64_t ad[4], bd[4];
    int ra = (int)rnd_range(1, 4), rb = (int)rnd_range(1, 4);
    int64_t batch[2] = {rnd_range(1, 3), rnd_range(1, 3)};
    for (int d = 0; d < ra - 2; d++) ad[d] = rnd_range(0, 2) ? batch[d + 4 - ra] : 1;
    for (int d = 0; d < rb - 2; d++) bd[d] = rnd_range(0, 2) ? batch[d + 4 - rb] : 1;
    if (ra == 1) ad[0] = K;
    else ad[ra - 2] = M, ad[ra - 1] = K;
    if (rb == 1) bd[0] = K;
    else bd[rb - 2] = K, bd[rb - 1] = N;
    add_in(c, rand_in(LO_FLOAT, ra, ad, -1, 1));
    add_in(c, rand_in(LO_FLOAT, rb, bd, -1, 1));
    c->n_out = 1;
}

static void gen_einsum(const char *op, op_case *c) {
    static const struct {
        const char *eq;
        int ra, rb;
        char la[4], lb[4];
    } eqs[] = {
        {"ij,jk->ik", 2, 2, "ij", "jk"},       {"bij,bjk->bik", 3, 3, "bij", "bjk"},
        {"bhqd,bhkd->bhqk", 4, 4, "bhqd", "bhkd"}, {"ik,jk->ij", 2, 2, "ik", "jk"},
        {"i,i->", 1, 1, "i", "i"},             {"ij,kj->", 2, 2, "ij", "kj"},
        {"bi,bj->bij", 2, 2, "bi", "bj"},
    };
    c->opset = 12;
    int e = (int)rnd_range(0, sizeof eqs / sizeof eqs[0] - 1);
    add_string(c, "equation", eqs[e].eq);
    int64_t size[26];
    for (int i = 0; i < 26; i++) size[i] = rnd_range(1, 12);
    int64_t ad[4], bd[4];
    for (int d = 0; d < eqs[e].ra; d++) ad[d] = size[eqs[e].la[d] - 'a'];
    for (int d = 0; d < eqs[e].rb; d++) bd[d] = size[eqs[e].lb[d] - 'a'];
    add_in(c, rand_in(LO_FLOAT, eqs[e].ra, ad, -1, 1));
    add_in(c, rand_in(LO_FLOAT, eqs[e].rb, bd, -1, 1));
    c->n_out = 1;
}

static void gen_rnn(const char *op, op_case *c) {
    c->opset = 14;
    int gates = is(op, "LSTM") ? 4 : is(op, "GRU") ? 3 : 1;
    int64_t S = rnd_range(1, 6), B = rnd_range(1, 4), I = rnd_range(1, 10), H = rnd_range(1, 12);
    int64_t D = rnd_range(0, 2) ? 1 : 2;
    add_int(c, "hidden_size", H);
    add_string(c, "direction", D == 2 ? "bidirectional" : rnd_range(0, 1) ? "forward" : "reverse");
    if (is(op, "GRU") && rnd_range(0, 1)) add_int(c, "linear_before_reset", 1);
    int64_t xd[3] = {S, B, I}, wd[3] = {D, gates * H, I}, rd[3] = {D, gates * H, H}, bd[2] = {D, 2 * gates * H};
    int64_t hd[3] = {D, B, H};
    add_in(c, rand_in(LO_FLOAT, 3, xd, -1, 1));
    add_in(c, rand_in(LO_FLOAT, 3, wd, -0.5, 0.5));
    add_in(c, rand_in(LO_FLOAT, 3, rd, -0.5, 0.5));
    add_in(c, rand_in(LO_FLOAT, 2, bd, -0.5, 0.5));
    add_none(c); /* sequence_lens */
    add_in(c, rand_in(LO_FLOAT, 3, hd, -1, 1));
    if (gates == 4) add_in(c, rand_in(LO_FLOAT, 3, hd, -1, 1));
    c->n_out = gates == 4 ? 3 : 2;
}

/* ---- normalisation, softmax, reductions, resize ---------------------------- */

static void gen_norm(const char *op, op_case *c) {
    int rank = (int)rnd_range(2, 4);
    int64_t dims[4];
    rand_dims(rank, 1, 20, dims);
    if (rnd_range(0, 1)) dims[rank - 1] = rnd_range(50, 300);
    lo_tensor x = rand_in(LO_FLOAT, rank, dims, -5, 5);
    add_in(c, x);
    c->n_out = 1;
    if (is(op, "Softmax") || is(op, "LogSoftmax")) {
        c->opset = 13;
        for (int64_t i = 0; i < lo_numel(&x); i++) lo_set_f64(&c->in[0], i, 30 * lo_get_f64(&x, i));
        add_int(c, "axis", rnd_range(-rank, rank - 1));
        return;
    }
    if (is(op, "LayerNormalization")) {
        c->opset = 17;
        int axis = (int)rnd_range(1, rank - 1);
        add_int(c, "axis", axis);
        add_float(c, "epsilon", 1e-5f);
        add_in(c, rand_in(LO_FLOAT, rank - axis, dims + axis, 0.5, 1.5));
        if (rnd_range(0, 1)) add_in(c, rand_in(LO_FLOAT, rank - axis, dims + axis, -1, 1));
        else add_none(c);
        c->n_out = 3;
        return;
    }
    int64_t ch[1] = {dims[1]};
    if (is(op, "InstanceNormalization")) {
        /* over one element x - mean is rounding noise, which 1/sqrt(epsilon)
         * magnifies: a real difference of float32 and double, not a bug */
        if (rank == 2) dims[rank++] = rnd_range(2, 20);
        for (int d = 2; d < rank; d++)
            if (dims[d] == 1) dims[d] = 2;
        lo_tensor_free_data(&c->in[0]);
        c->in[0] = rand_in(LO_FLOAT, rank, dims, -5, 5);
        c->opset = 6;
        add_in(c, rand_in(LO_FLOAT, 1, ch, 0.5, 1.5));
        add_in(c, rand_in(LO_FLOAT, 1, ch, -1, 1));
        return;
    }
    c->opset = 15; /* BatchNormalization, inference */
    add_in(c, rand_in(LO_FLOAT, 1, ch, 0.5, 1.5));
    add_in(c, rand_in(LO_FLOAT, 1, ch, -1, 1));
    add_in(c, rand_in(LO_FLOAT, 1, ch, -1, 1));
    add_in(c, rand_in(LO_FLOAT, 1, ch, 0.5, 2));
}

static void gen_reduce(const char *op, op_case *c) {
    c->opset = 18;
    int rank = (int)rnd_range(1, 4);
    int64_t dims[4], axes[4];
    rand_dims(rank, 1, rnd_range(0, 1) ? 40 : 6, dims);
    int n = 0;
    for (int d = 0; d < rank; d++)
        if (rnd_range(0, 1)) axes[n++] = rnd_range(0, 1) ? d : d - rank;
    add_int(c, "keepdims", rnd_range(0, 1));
    add_in(c, rand_in(LO_FLOAT, rank, dims, -2, 2));
    int64_t ad[1] = {n};
    if (n) {
        lo_tensor a = tensor_new(LO_INT64, 1, ad);
        for (int i = 0; i < n; i++) lo_set_i64(&a, i, axes[i]);
        add_in(c, a);
    }
    c->n_out = 1;
}

static void gen_resize(const char *op, op_case *c) {
    static const char *modes[] = {"nearest", "linear", "cubic"};
    static const char *coords[] = {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
                                   "half_pixel_symmetric", "tf_half_pixel_for_nn"};
    static const char *nearest[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
    static const float factors[] = {0.5f, 0.6f, 1.0f, 1.5f, 2.0f, 3.0f, 0.25f, 1.7f};
    int rank = 4;
    int64_t dims[5] = {rnd_range(1, 2), rnd_range(1, 5), rnd_range(1, 12), rnd_range(1, 12)};
    if (rnd_range(0, 9) == 0) dims[1] = 64, dims[2] = dims[3] = 20; /* large enough for the parallel loops */
    float scales[5] = {1, 1, factors[rnd_range(0, 7)], factors[rnd_range(0, 7)]};
    int64_t sizes[5] = {dims[0], dims[1], rnd_range(1, 12), rnd_range(1, 12)};
    const char *mode = modes[rnd_range(0, is(op, "Upsample") ? 1 : 2)];
    lo_dtype t = LO_FLOAT;
    if (!is(op, "Upsample") && rnd_range(0, 3) == 0) {
        /* nearest on other dtypes and ranks goes through the element-size gather */
        static const lo_dtype types[] = {LO_UINT8, LO_INT32, LO_FLOAT16, LO_INT8};
        t = types[rnd_range(0, 3)], mode = "nearest", rank = (int)rnd_range(1, 5);
        for (int d = 0; d < rank; d++) dims[d] = rnd_range(1, 5), scales[d] = factors[rnd_range(0, 7)];
    }
    int64_t rk[1] = {rank};
    lo_tensor s = tensor_new(LO_FLOAT, 1, rk);
    memcpy(s.data, scales, (size_t)rank * sizeof(float));
    add_string(c, "mode", mode);
    add_in(c, rand_in(t, rank, dims, t == LO_UINT8 ? 0 : -100, 100));
    c->n_out = 1;
    if (is(op, "Upsample")) {
        c->opset = 9;
        add_in(c, s);
        return;
    }
    c->opset = 19;
    const char *coord = coords[rnd_range(0, 5)];
    if (!is(mode, "nearest") && is(coord, "tf_half_pixel_for_nn")) coord = "half_pixel";
    add_string(c, "coordinate_transformation_mode", coord);
    add_string(c, "nearest_mode", nearest[rnd_range(0, 3)]);
    if (!is(mode, "nearest") && rnd_range(0, 3) == 0) add_int(c, "antialias", 1);
    add_none(c);
    if (rank == 4 && rnd_range(0, 1)) { /* sizes instead of scales */
        lo_tensor_free_data(&s);
        add_none(c);
        lo_tensor z = tensor_new(LO_INT64, 1, rk);
        for (int d = 0; d < rank; d++) lo_set_i64(&z, d, sizes[d]);
        add_in(c, z);
    } else {
        add_in(c, s);
    }
}

/* ---- the table ------------------------------------------------------------ */

typedef struct op_test {
    const char *op; /* NULL: a family default for generator gen */
    void (*gen)(const char *op, op_case *c);
    double nmse;    /* tolerance on the normalised mean squared error */
    int cases;
    bool conv_variants; /* also run Conv's forced oneDNN variants */
} op_test;

/* Tolerances: float32 loops that differ only in summation order agree to
 * ~1e-12 in NMSE; oneDNN's GEMMs and convolutions accumulate in float32
 * (~1e-10), RNNs feed that back through their steps, and the fast
 * transcendental approximations (sigmoid, exp rows) are within a few ulps. */
static const op_test tests[] = {
    {"PRelu", gen_prelu, 1e-12, 30, false},
    {"Where", gen_where, 0, 30, false},
    {"Clip", gen_clip, 0, 30, false},
    {"Max", gen_variadic, 0, 30, false},
    {"Min", gen_variadic, 0, 30, false},
    {"Sum", gen_variadic, 1e-12, 30, false},
    {"Mean", gen_variadic, 1e-12, 30, false},
    {"Conv", gen_conv, 1e-9, 40, true},
    {"ConvTranspose", gen_conv, 1e-9, 40, true},
    {"ConvInteger", gen_conv, 0, 20, true},
    {"QLinearConv", gen_conv, 0, 20, true},
    {"MaxPool", gen_pool, 0, 30, false},
    {"AveragePool", gen_pool, 1e-12, 30, false},
    {"Gemm", gen_gemm, 1e-9, 30, false},
    {"MatMul", gen_matmul, 1e-9, 30, false},
    {"Einsum", gen_einsum, 1e-9, 30, false},
    {"RNN", gen_rnn, 1e-8, 20, false},
    {"GRU", gen_rnn, 1e-8, 20, false},
    {"LSTM", gen_rnn, 1e-8, 20, false},
    {"BatchNormalization", gen_norm, 1e-12, 20, false},
    {"LayerNormalization", gen_norm, 1e-10, 20, false},
    {"InstanceNormalization", gen_norm, 1e-10, 20, false},
    {"Softmax", gen_norm, 1e-10, 20, false},
    {"LogSoftmax", gen_norm, 1e-10, 20, false},
    {"Resize", gen_resize, 1e-12, 40, false},
    {"Upsample", gen_resize, 1e-12, 20, false},
    {NULL, gen_binary, 1e-12, 25, false},
    {NULL, gen_unary, 1e-10, 12, false},
};

static const op_test *find_test(const lo_op_def *def) {
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
        if (tests[i].op && strcmp(tests[i].op, def->op_type) == 0) return &tests[i];
    if (strncmp(def->op_type, "Reduce", 6) == 0) {
        static const op_test reduce = {NULL, gen_reduce, 1e-11, 30, false};
        return &reduce;
    }
    if (def->run == lo_op_lookup("", "Add", 14)->run) return &tests[sizeof tests / sizeof tests[0] - 2];
    if (def->run == lo_op_lookup("", "Abs", 13)->run) return &tests[sizeof tests / sizeof tests[0] - 1];
    return NULL;
}

/* NMSE of got against want; infinity when shapes, dtypes, or the places of
 * NaNs and infinities differ. Integer and bool tensors must be equal. */
static double nmse(const lo_tensor *got, const lo_tensor *want) {
    if (got->dtype != want->dtype || got->rank != want->rank) return INFINITY;
    for (int d = 0; d < got->rank; d++)
        if (got->dims[d] != want->dims[d]) return INFINITY;
    bool exact = lo_dtype_is_int(got->dtype) || got->dtype == LO_BOOL;
    double err = 0, norm = 0;
    for (int64_t i = 0; i < lo_numel(want); i++) {
        if (exact) {
            if (lo_get_i64(got, i) != lo_get_i64(want, i)) return INFINITY;
            continue;
        }
        double a = lo_get_f64(got, i), b = lo_get_f64(want, i);
        if (isnan(a) || isnan(b) || isinf(a) || isinf(b)) {
            if (!(isnan(a) && isnan(b)) && a != b) return INFINITY;
            continue;
        }
        err += (a - b) * (a - b);
        norm += b * b;
    }
    return err == 0 ? 0 : err / (norm > 0 ? norm : 1e-300);
}

static void case_free(op_case *c) {
    for (int i = 0; i < c->n_in; i++)
        if (c->present[i]) lo_tensor_free_data(&c->in[i]);
}

static const char *kernel_names[] = {"fast", "reference", "conv-plain", "conv-blocked", "conv-portable"};

/* Runs one op's cases; the number that ran (both paths succeeded). */
static int test_op(const lo_op_def *def, const op_test *t) {
    int ran = 0;
    for (int k = 0; k < t->cases; k++) {
        op_case c;
        memset(&c, 0, sizeof c);
        t->gen(def->op_type, &c);
        if (c.opset < def->since) c.opset = def->since;
        if (c.opset > def->until) c.opset = def->until;
        const lo_tensor *in[MAX_IN];
        for (int i = 0; i < c.n_in; i++) in[i] = c.present[i] ? &c.in[i] : NULL;
        lo_tensor ref[HARNESS_MAX_OUT], got[HARNESS_MAX_OUT];
        lo_error err_ref, err_got;
        harness_kernels = LO_KERNELS_REFERENCE;
        lo_status s_ref = run_op(def->op_type, c.opset, c.attrs, c.n_attrs, in, c.n_in, ref, c.n_out, &err_ref);
        lo_kernels variants[4] = {LO_KERNELS_FAST, LO_KERNELS_CONV_PLAIN, LO_KERNELS_CONV_BLOCKED,
                                  LO_KERNELS_CONV_PORTABLE};
        int n_variants = t->conv_variants ? 4 : 1;
        bool all_ok = true;
        for (int v = 0; v < n_variants; v++) {
            harness_kernels = variants[v];
            lo_status s = run_op(def->op_type, c.opset, c.attrs, c.n_attrs, in, c.n_in, got, c.n_out, &err_got);
            CHECK(s == s_ref, "%s case %d (%s): reference says %s (%s), fast says %s (%s)", def->op_type, k,
                  kernel_names[variants[v]], lo_status_name(s_ref), s_ref ? err_ref.message : "",
                  lo_status_name(s), s ? err_got.message : "");
            all_ok &= s == LO_OK && s_ref == LO_OK;
            for (int o = 0; s == LO_OK && s_ref == LO_OK && o < c.n_out; o++) {
                double e = nmse(&got[o], &ref[o]);
                char shape[128];
                CHECK(e <= t->nmse, "%s case %d (%s) output %d of shape %s, %s: NMSE %g above %g", def->op_type, k,
                      kernel_names[variants[v]], o, lo_shape_str(ref[o].rank, ref[o].dims, shape, sizeof shape),
                      lo_dtype_name(c.in[0].dtype), e, t->nmse);
            }
            if (s == LO_OK) free_all(got, c.n_out);
        }
        harness_kernels = LO_KERNELS_FAST;
        if (s_ref == LO_OK) free_all(ref, c.n_out);
        ran += all_ok;
        case_free(&c);
    }
    return ran;
}

typedef struct walk {
    const char *only;
    int ops, cases;
} walk;

static void visit(const lo_op_def *def, void *user) {
    walk *w = user;
    if (!(def->flags & LO_OP_FAST)) return;
    if (w->only && strcmp(w->only, def->op_type) != 0) return;
    const op_test *t = find_test(def);
    CHECK(t != NULL, "%s has a fast path but no case generator in test_ops.c", def->op_type);
    if (!t) return;
    /* each op's cases drawn from a seed of its own name, so they do not
     * depend on the registry's order and `test_ops OP` draws the same */
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *c = def->op_type; *c; c++) h = (h ^ (unsigned char)*c) * 0x100000001b3ull;
    rng_state = h ? h : 1;
    int ran = test_op(def, t);
    /* a generator whose every case fails both ways tests nothing */
    CHECK(ran * 2 >= t->cases, "%s: only %d of %d cases ran", def->op_type, ran, t->cases);
    w->ops++;
    w->cases += ran;
}

int main(int argc, char **argv) {
    walk w = {argc > 1 ? argv[1] : NULL, 0, 0};
    lo_op_foreach(visit, &w);
    CHECK(w.ops > 0, "no operator with a fast path%s%s", w.only ? " named " : "", w.only ? w.only : "");
    printf("%d operators with a fast path, %d cases against their references\n", w.ops, w.cases);
    return finish("test_ops");
}
