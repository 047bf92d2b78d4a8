/* Kernels of sequence.c: sequences and optionals. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

static int n_pass, n_fail;

#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        if (cond) n_pass++;                                                                        \
        else {                                                                                     \
            n_fail++;                                                                              \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                            \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
        }                                                                                          \
    } while (0)

static uint64_t rng = 88172645463325252ull;
static int64_t rnd_int(int64_t lo, int64_t hi) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return lo + (int64_t)(rng % (uint64_t)(hi - lo + 1));
}

static lo_tensor tensor_new(lo_dtype dt, int rank, const int64_t *dims) {
    lo_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = dt;
    t.rank = rank;
    for (int d = 0; d < rank; d++) t.dims[d] = dims[d];
    t.nbytes = (size_t)lo_numel(&t) * lo_dtype_size(dt);
    t.data = calloc(1, t.nbytes ? t.nbytes : 1);
    return t;
}

static lo_tensor scalar_i64(int64_t v) {
    lo_tensor t = tensor_new(LO_INT64, 0, NULL);
    *(int64_t *)t.data = v;
    return t;
}

static lo_attr attr_int(const char *name, int64_t v) {
    lo_attr a;
    memset(&a, 0, sizeof a);
    a.name = (char *)name;
    a.type = LO_ATTR_INT;
    a.i = v;
    return a;
}

/* Runs op-opset through prepare and run; out[] must be zeroed tensors. */
static lo_status run_op(const char *op, int opset, lo_attr *attrs, int n_attrs, const lo_tensor **in, int n_in,
                        lo_tensor *out, int n_out, lo_error *err) {
    lo_node node;
    memset(&node, 0, sizeof node);
    node.name = "test";
    node.op_type = (char *)op;
    node.domain = "";
    node.opset = opset;
    node.attrs = attrs;
    node.n_attrs = n_attrs;
    int ins[16], outs[8];
    for (int i = 0; i < n_in; i++) ins[i] = in[i] ? i : -1;
    for (int i = 0; i < n_out; i++) outs[i] = i;
    node.inputs = ins, node.n_inputs = n_in, node.outputs = outs, node.n_outputs = n_out;
    const lo_op_def *d = lo_op_lookup("", op, opset);
    if (!d) return lo_fail(err, LO_ERR_UNSUPPORTED, "%s-%d is not registered", op, opset);
    void *params = NULL;
    if (d->prepare) {
        lo_status st = d->prepare(&node, &params, err);
        if (st != LO_OK) return st;
    }
    lo_tensor *outp[8];
    for (int i = 0; i < n_out; i++) outp[i] = &out[i];
    lo_kernel_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.node = &node, ctx.params = params, ctx.in = in, ctx.n_in = n_in, ctx.out = outp, ctx.n_out = n_out;
    ctx.err = err, ctx.threads = 1;
    lo_status st = d->run(&ctx);
    (d->free_params ? d->free_params : free)(params);
    return st;
}

static bool same_tensor(const lo_tensor *a, const lo_tensor *b) {
    if (a->kind != b->kind || a->dtype != b->dtype || a->rank != b->rank) return false;
    for (int d = 0; d < a->rank; d++)
        if (a->dims[d] != b->dims[d]) return false;
    return a->nbytes == b->nbytes && (!a->nbytes || !memcmp(a->data, b->data, a->nbytes));
}

/* Construct, insert, at, erase and length against a plain list. */
static void test_editing(void) {
    lo_error err;
    int64_t d1[1] = {2}, d2[2] = {1, 3};
    lo_tensor a = tensor_new(LO_FLOAT, 1, d1), b = tensor_new(LO_FLOAT, 2, d2), c = tensor_new(LO_FLOAT, 1, d1);
    for (int i = 0; i < 2; i++) ((float *)a.data)[i] = (float)i, ((float *)c.data)[i] = 10.0f + (float)i;
    for (int i = 0; i < 3; i++) ((float *)b.data)[i] = 5.0f + (float)i;
    lo_tensor seq = {0};
    const lo_tensor *in2[2] = {&a, &b};
    EXPECT(run_op("SequenceConstruct", 11, NULL, 0, in2, 2, &seq, 1, &err) == LO_OK, "construct: %s", err.message);
    EXPECT(seq.kind == LO_KIND_SEQUENCE && seq.n_items == 2 && same_tensor(&seq.items[1], &b), "construct result");
    /* insert c at the front: [c, a, b] */
    lo_tensor pos0 = scalar_i64(0), seq2 = {0};
    const lo_tensor *in3[3] = {&seq, &c, &pos0};
    EXPECT(run_op("SequenceInsert", 11, NULL, 0, in3, 3, &seq2, 1, &err) == LO_OK, "insert: %s", err.message);
    EXPECT(seq2.n_items == 3 && same_tensor(&seq2.items[0], &c) && same_tensor(&seq2.items[2], &b), "insert result");
    /* at(-1) is b */
    lo_tensor m1 = scalar_i64(-1), got = {0};
    const lo_tensor *in_at[2] = {&seq2, &m1};
    EXPECT(run_op("SequenceAt", 11, NULL, 0, in_at, 2, &got, 1, &err) == LO_OK && same_tensor(&got, &b), "at(-1)");
    /* erase position 1: [c, b]; erase with no position drops the last */
    lo_tensor one = scalar_i64(1), seq3 = {0}, seq4 = {0}, len = {0};
    const lo_tensor *in_er[2] = {&seq2, &one};
    EXPECT(run_op("SequenceErase", 11, NULL, 0, in_er, 2, &seq3, 1, &err) == LO_OK && seq3.n_items == 2 &&
               same_tensor(&seq3.items[1], &b),
           "erase(1)");
    const lo_tensor *in_er2[1] = {&seq3};
    EXPECT(run_op("SequenceErase", 11, NULL, 0, in_er2, 1, &seq4, 1, &err) == LO_OK && seq4.n_items == 1 &&
               same_tensor(&seq4.items[0], &c),
           "erase()");
    const lo_tensor *in_len[1] = {&seq2};
    EXPECT(run_op("SequenceLength", 11, NULL, 0, in_len, 1, &len, 1, &err) == LO_OK && *(int64_t *)len.data == 3,
           "length");
    /* out-of-range positions are input errors, not crashes */
    lo_tensor big = scalar_i64(7), bad = {0};
    const lo_tensor *in_bad[2] = {&seq2, &big};
    EXPECT(run_op("SequenceAt", 11, NULL, 0, in_bad, 2, &bad, 1, &err) == LO_ERR_INPUT, "at(7) rejected");
    lo_tensor empty = {0};
    lo_attr dt = attr_int("dtype", LO_INT32);
    EXPECT(run_op("SequenceEmpty", 11, &dt, 1, NULL, 0, &empty, 1, &err) == LO_OK && empty.n_items == 0 &&
               empty.dtype == LO_INT32,
           "empty");
    lo_tensor *all[] = {&a, &b, &c, &seq, &pos0, &seq2, &m1, &got, &one, &seq3, &seq4, &len, &big, &bad, &empty};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) lo_tensor_free_data(all[i]);
}

/* SplitToSequence then ConcatFromSequence gives the input back, on random
 * shapes, axes and split forms; new_axis stacks the keepdims=0 pieces. */
static void test_split_concat(void) {
    lo_error err;
    for (int trial = 0; trial < 40; trial++) {
        int rank = (int)rnd_int(1, 4);
        int64_t dims[4];
        for (int d = 0; d < rank; d++) dims[d] = rnd_int(1, 5);
        lo_tensor x = tensor_new(LO_INT32, rank, dims);
        for (int64_t i = 0; i < lo_numel(&x); i++) ((int32_t *)x.data)[i] = (int32_t)rnd_int(-1000, 1000);
        int axis = (int)rnd_int(0, rank - 1);
        int form = (int)rnd_int(0, 2); /* 0: none, 1: scalar chunk, 2: list */
        lo_tensor split = {0};
        if (form == 1) split = scalar_i64(rnd_int(1, dims[axis]));
        if (form == 2) {
            int64_t n = rnd_int(1, dims[axis]), rest = dims[axis];
            split = tensor_new(LO_INT64, 1, &n);
            for (int64_t k = 0; k < n; k++) {
                int64_t v = k == n - 1 ? rest : rnd_int(0, rest);
                ((int64_t *)split.data)[k] = v;
                rest -= v;
            }
        }
        bool keep = form != 0 || rnd_int(0, 1);
        lo_attr at[2] = {attr_int("axis", axis - (rnd_int(0, 1) ? rank : 0)), attr_int("keepdims", keep)};
        const lo_tensor *in[2] = {&x, form ? &split : NULL};
        lo_tensor seq = {0}, back = {0};
        lo_status st = run_op("SplitToSequence", 11, at, 2, in, 2, &seq, 1, &err);
        EXPECT(st == LO_OK, "split trial %d: %s", trial, err.message);
        if (st == LO_OK) {
            lo_attr cat[2] = {attr_int("axis", axis), attr_int("new_axis", keep ? 0 : 1)};
            const lo_tensor *cin[1] = {&seq};
            st = run_op("ConcatFromSequence", 11, cat, 2, cin, 1, &back, 1, &err);
            EXPECT(st == LO_OK && same_tensor(&back, &x), "concat trial %d: %s", trial, st ? err.message : "differs");
        }
        lo_tensor_free_data(&x);
        lo_tensor_free_data(&split);
        lo_tensor_free_data(&seq);
        lo_tensor_free_data(&back);
    }
}

static void test_optional(void) {
    lo_error err;
    int64_t d[1] = {3};
    lo_tensor x = tensor_new(LO_FLOAT, 1, d), opt = {0}, has = {0}, none = {0}, has_none = {0}, got = {0}, bad = {0};
    const lo_tensor *in[1] = {&x};
    EXPECT(run_op("Optional", 15, NULL, 0, in, 1, &opt, 1, &err) == LO_OK && same_tensor(&opt, &x), "Optional(x)");
    const lo_tensor *in_opt[1] = {&opt};
    EXPECT(run_op("OptionalHasElement", 18, NULL, 0, in_opt, 1, &has, 1, &err) == LO_OK && *(uint8_t *)has.data == 1,
           "has element");
    const lo_tensor *in_null[1] = {NULL};
    EXPECT(run_op("Optional", 15, NULL, 0, in_null, 1, &none, 1, &err) == LO_OK && none.kind == LO_KIND_NONE,
           "empty Optional");
    const lo_tensor *in_none[1] = {&none};
    EXPECT(run_op("OptionalHasElement", 18, NULL, 0, in_none, 1, &has_none, 1, &err) == LO_OK &&
               *(uint8_t *)has_none.data == 0,
           "has no element");
    EXPECT(run_op("OptionalGetElement", 18, NULL, 0, in_opt, 1, &got, 1, &err) == LO_OK && same_tensor(&got, &x),
           "get element");
    EXPECT(run_op("OptionalGetElement", 18, NULL, 0, in_none, 1, &bad, 1, &err) == LO_ERR_INPUT, "get from empty");
    lo_tensor *all[] = {&x, &opt, &has, &none, &has_none, &got, &bad};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) lo_tensor_free_data(all[i]);
}

int main(void) {
    test_editing();
    test_split_concat();
    test_optional();
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
