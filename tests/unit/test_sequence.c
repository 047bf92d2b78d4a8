/* Kernels of sequence.c: sequences and optionals. */

/* The seed these random cases were written with. */
#define HARNESS_SEED 88172645463325252ull
#include "harness.h"

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
    CHECK(run_op("SequenceConstruct", 11, NULL, 0, in2, 2, &seq, 1, &err) == LO_OK, "construct: %s", err.message);
    CHECK(seq.kind == LO_KIND_SEQUENCE && seq.n_items == 2 && same_tensor(&seq.items[1], &b), "construct result");
    /* insert c at the front: [c, a, b] */
    lo_tensor pos0 = tensor_scalar_i64(0), seq2 = {0};
    const lo_tensor *in3[3] = {&seq, &c, &pos0};
    CHECK(run_op("SequenceInsert", 11, NULL, 0, in3, 3, &seq2, 1, &err) == LO_OK, "insert: %s", err.message);
    CHECK(seq2.n_items == 3 && same_tensor(&seq2.items[0], &c) && same_tensor(&seq2.items[2], &b), "insert result");
    /* at(-1) is b */
    lo_tensor m1 = tensor_scalar_i64(-1), got = {0};
    const lo_tensor *in_at[2] = {&seq2, &m1};
    CHECK(run_op("SequenceAt", 11, NULL, 0, in_at, 2, &got, 1, &err) == LO_OK && same_tensor(&got, &b), "at(-1)");
    /* erase position 1: [c, b]; erase with no position drops the last */
    lo_tensor one = tensor_scalar_i64(1), seq3 = {0}, seq4 = {0}, len = {0};
    const lo_tensor *in_er[2] = {&seq2, &one};
    CHECK(run_op("SequenceErase", 11, NULL, 0, in_er, 2, &seq3, 1, &err) == LO_OK && seq3.n_items == 2 &&
               same_tensor(&seq3.items[1], &b),
           "erase(1)");
    const lo_tensor *in_er2[1] = {&seq3};
    CHECK(run_op("SequenceErase", 11, NULL, 0, in_er2, 1, &seq4, 1, &err) == LO_OK && seq4.n_items == 1 &&
               same_tensor(&seq4.items[0], &c),
           "erase()");
    const lo_tensor *in_len[1] = {&seq2};
    CHECK(run_op("SequenceLength", 11, NULL, 0, in_len, 1, &len, 1, &err) == LO_OK && *(int64_t *)len.data == 3,
           "length");
    /* out-of-range positions are input errors, not crashes */
    lo_tensor big = tensor_scalar_i64(7), bad = {0};
    const lo_tensor *in_bad[2] = {&seq2, &big};
    CHECK(run_op("SequenceAt", 11, NULL, 0, in_bad, 2, &bad, 1, &err) == LO_ERR_INPUT, "at(7) rejected");
    lo_tensor empty = {0};
    lo_attr dt = attr_int("dtype", LO_INT32);
    CHECK(run_op("SequenceEmpty", 11, &dt, 1, NULL, 0, &empty, 1, &err) == LO_OK && empty.n_items == 0 &&
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
        int rank = (int)rnd_range(1, 4);
        int64_t dims[4];
        for (int d = 0; d < rank; d++) dims[d] = rnd_range(1, 5);
        lo_tensor x = tensor_new(LO_INT32, rank, dims);
        for (int64_t i = 0; i < lo_numel(&x); i++) ((int32_t *)x.data)[i] = (int32_t)rnd_range(-1000, 1000);
        int axis = (int)rnd_range(0, rank - 1);
        int form = (int)rnd_range(0, 2); /* 0: none, 1: scalar chunk, 2: list */
        lo_tensor split = {0};
        if (form == 1) split = tensor_scalar_i64(rnd_range(1, dims[axis]));
        if (form == 2) {
            int64_t n = rnd_range(1, dims[axis]), rest = dims[axis];
            split = tensor_new(LO_INT64, 1, &n);
            for (int64_t k = 0; k < n; k++) {
                int64_t v = k == n - 1 ? rest : rnd_range(0, rest);
                ((int64_t *)split.data)[k] = v;
                rest -= v;
            }
        }
        bool keep = form != 0 || rnd_range(0, 1);
        lo_attr at[2] = {attr_int("axis", axis - (rnd_range(0, 1) ? rank : 0)), attr_int("keepdims", keep)};
        const lo_tensor *in[2] = {&x, form ? &split : NULL};
        lo_tensor seq = {0}, back = {0};
        lo_status st = run_op("SplitToSequence", 11, at, 2, in, 2, &seq, 1, &err);
        CHECK(st == LO_OK, "split trial %d: %s", trial, err.message);
        if (st == LO_OK) {
            lo_attr cat[2] = {attr_int("axis", axis), attr_int("new_axis", keep ? 0 : 1)};
            const lo_tensor *cin[1] = {&seq};
            st = run_op("ConcatFromSequence", 11, cat, 2, cin, 1, &back, 1, &err);
            CHECK(st == LO_OK && same_tensor(&back, &x), "concat trial %d: %s", trial, st ? err.message : "differs");
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
    CHECK(run_op("Optional", 15, NULL, 0, in, 1, &opt, 1, &err) == LO_OK && same_tensor(&opt, &x), "Optional(x)");
    const lo_tensor *in_opt[1] = {&opt};
    CHECK(run_op("OptionalHasElement", 18, NULL, 0, in_opt, 1, &has, 1, &err) == LO_OK && *(uint8_t *)has.data == 1,
           "has element");
    const lo_tensor *in_null[1] = {NULL};
    CHECK(run_op("Optional", 15, NULL, 0, in_null, 1, &none, 1, &err) == LO_OK && none.kind == LO_KIND_NONE,
           "empty Optional");
    const lo_tensor *in_none[1] = {&none};
    CHECK(run_op("OptionalHasElement", 18, NULL, 0, in_none, 1, &has_none, 1, &err) == LO_OK &&
               *(uint8_t *)has_none.data == 0,
           "has no element");
    CHECK(run_op("OptionalGetElement", 18, NULL, 0, in_opt, 1, &got, 1, &err) == LO_OK && same_tensor(&got, &x),
           "get element");
    CHECK(run_op("OptionalGetElement", 18, NULL, 0, in_none, 1, &bad, 1, &err) == LO_ERR_INPUT, "get from empty");
    lo_tensor *all[] = {&x, &opt, &has, &none, &has_none, &got, &bad};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) lo_tensor_free_data(all[i]);
}

int main(void) {
    test_editing();
    test_split_concat();
    test_optional();
    return finish(NULL);
}
