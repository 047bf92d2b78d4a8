/* The harness every tests/unit/test_*.c shares: pass/fail counters and the
 * CHECK macro, tensors and attributes built by hand, one node run through its
 * kernel's prepare and run as the executor would, the random numbers the
 * random cases are drawn from, and the closing "N passed, M failed" line.
 *
 * Everything here is static inline (or a static variable marked unused):
 * nothing is emitted unless used. Tests reach kernels only through the
 * registry, and choose the fast or the reference path with harness_kernels
 * (the context's kernel choice), as sessions do. The file is not named
 * test_*.c, so CMake's glob does not build it as a test of its own.
 *
 * A test may define, before including this:
 *   HARNESS_SEED     the random generator's starting state. Each test keeps
 *                    the seed it was written with, so its random cases stay
 *                    the ones it has always run.
 *   HARNESS_THREADS  the thread count run_op passes to kernels (default 1). */
#ifndef LAYEROUT_TESTS_UNIT_HARNESS_H
#define LAYEROUT_TESTS_UNIT_HARNESS_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

/* Static variables a given test may not touch: unused ones must not warn
 * under -Werror. */
#define HARNESS_UNUSED __attribute__((unused))

/* ---- checks ------------------------------------------------------------- */

static int checks_passed HARNESS_UNUSED, checks_failed HARNESS_UNUSED;

/* Counts one check; a failing one prints where it is and why (printf-style). */
#define CHECK(cond, ...)                                                          \
    do {                                                                          \
        if (cond) {                                                               \
            checks_passed++;                                                      \
        } else {                                                                  \
            checks_failed++;                                                      \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                           \
            printf(__VA_ARGS__);                                                  \
            printf("\n");                                                         \
        }                                                                         \
    } while (0)

/* Prints the closing line, "name: N passed, M failed" (or without "name: "
 * when name is NULL), which ctest's log and CI read, and returns main's exit
 * code: 1 when any check failed. */
static inline int finish(const char *name) {
    if (name) printf("%s: ", name);
    printf("%d passed, %d failed\n", checks_passed, checks_failed);
    return checks_failed ? 1 : 0;
}

/* ---- random numbers ----------------------------------------------------- */

#ifndef HARNESS_SEED
#define HARNESS_SEED 0x9e3779b97f4a7c15ull
#endif

/* xorshift64: fixed seed, so every run draws the same cases and a failure
 * reproduces. */
static uint64_t rng_state HARNESS_UNUSED = HARNESS_SEED;

static inline uint64_t rng_next(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* The ways below of turning a draw into a value are each the one some tests
 * were written with; they are kept apart so those cases stay the same. */

/* 32 bits from the middle of a draw. */
static inline uint32_t rng_next32(void) { return (uint32_t)(rng_next() >> 16); }

/* Uniform in [lo, hi), from the top 53 bits of a draw. */
static inline double rnd_uniform(double lo, double hi) {
    return lo + (hi - lo) * (double)(rng_next() >> 11) / 9007199254740992.0;
}

/* Uniform in [-1, 1). */
static inline double rnd(void) { return rnd_uniform(-1, 1); }

/* In [lo, hi], scaled from rnd(). */
static inline int64_t rnd_int(int64_t lo, int64_t hi) {
    return lo + (int64_t)((rnd() + 1) / 2 * (double)(hi - lo + 1)) % (hi - lo + 1);
}

/* In [lo, hi], a draw modulo the range. */
static inline int64_t rnd_range(int64_t lo, int64_t hi) {
    return lo + (int64_t)(rng_next() % (uint64_t)(hi - lo + 1));
}

/* In [lo, hi], a 32-bit draw modulo the range. */
static inline int rnd_int32(int lo, int hi) { return lo + (int)(rng_next32() % (uint32_t)(hi - lo + 1)); }

/* ---- tensors ------------------------------------------------------------ */

/* A zero-filled tensor that owns its data; free with lo_tensor_free_data.
 * An empty one still gets a buffer, as the executor's outputs do. */
static inline lo_tensor tensor_new(lo_dtype dt, int rank, const int64_t *dims) {
    lo_tensor t;
    memset(&t, 0, sizeof t);
    t.kind = LO_KIND_TENSOR;
    t.dtype = dt;
    t.rank = rank;
    for (int d = 0; d < rank; d++) t.dims[d] = dims[d];
    t.nbytes = (size_t)lo_numel(&t) * lo_dtype_size(dt);
    t.data = calloc(1, t.nbytes ? t.nbytes : 1);
    return t;
}

/* Element i set from vals[i], converted to dt. */
static inline lo_tensor tensor_of(lo_dtype dt, int rank, const int64_t *dims, const double *vals) {
    lo_tensor t = tensor_new(dt, rank, dims);
    for (int64_t i = 0; i < lo_numel(&t); i++) lo_set_f64(&t, i, vals[i]);
    return t;
}

/* Random contents: integers in [-100, 100] ([0, 100] for uint8), other
 * types in [-1, 1). */
static inline lo_tensor tensor_rand(lo_dtype dt, int rank, const int64_t *dims) {
    lo_tensor t = tensor_new(dt, rank, dims);
    for (int64_t i = 0; i < lo_numel(&t); i++) {
        if (lo_dtype_is_int(dt))
            lo_set_i64(&t, i, rnd_int(dt == LO_UINT8 ? 0 : -100, 100));
        else
            lo_set_f64(&t, i, rnd());
    }
    return t;
}

static inline lo_tensor tensor_scalar_i64(int64_t v) {
    lo_tensor t = tensor_new(LO_INT64, 0, NULL);
    *(int64_t *)t.data = v;
    return t;
}

static inline void free_all(lo_tensor *t, int n) {
    for (int i = 0; i < n; i++) lo_tensor_free_data(&t[i]);
}

/* Largest |a-b| / (atol + rtol |b|) over the elements; <= 1 is a match.
 * Shapes that differ, or a NaN against a number, give infinity. */
static inline double mismatch(const lo_tensor *a, const lo_tensor *b, double atol, double rtol) {
    if (a->rank != b->rank || lo_numel(a) != lo_numel(b)) return INFINITY;
    for (int d = 0; d < a->rank; d++)
        if (a->dims[d] != b->dims[d]) return INFINITY;
    double worst = 0;
    for (int64_t i = 0; i < lo_numel(a); i++) {
        double x = lo_get_f64(a, i), y = lo_get_f64(b, i);
        if (isnan(x) && isnan(y)) continue;
        double e = fabs(x - y) / (atol + rtol * fabs(y));
        if (!(e <= worst)) worst = e;
    }
    return worst;
}

/* ---- attributes --------------------------------------------------------- */

/* Each refers to name and the caller's arrays, which must outlive the run;
 * the fields a kind does not use are zero. */
static inline lo_attr attr_int(const char *name, int64_t v) {
    return (lo_attr){.name = (char *)name, .type = LO_ATTR_INT, .i = v};
}
static inline lo_attr attr_float(const char *name, float v) {
    return (lo_attr){.name = (char *)name, .type = LO_ATTR_FLOAT, .f = v};
}
static inline lo_attr attr_ints(const char *name, int64_t n, int64_t *v) {
    return (lo_attr){.name = (char *)name, .type = LO_ATTR_INTS, .n = n, .ints = v};
}
static inline lo_attr attr_floats(const char *name, int64_t n, float *v) {
    return (lo_attr){.name = (char *)name, .type = LO_ATTR_FLOATS, .n = n, .floats = v};
}
static inline lo_attr attr_string(const char *name, const char *s) {
    return (lo_attr){.name = (char *)name, .type = LO_ATTR_STRING, .s = (char *)s, .s_len = strlen(s)};
}
static inline lo_attr attr_strings(const char *name, int64_t n, char **s) {
    return (lo_attr){.name = (char *)name, .type = LO_ATTR_STRINGS, .n = n, .strings = s};
}

/* ---- running one node --------------------------------------------------- */

/* The node every test runs is named "n"; kernels put the name in their
 * messages, and some checks look for it there. */
static inline void node_init(lo_node *node, const char *op, int opset, lo_attr *attrs, int n_attrs) {
    memset(node, 0, sizeof *node);
    node->name = "n";
    node->op_type = (char *)op;
    node->domain = "";
    node->opset = opset;
    node->attrs = attrs;
    node->n_attrs = n_attrs;
}

/* Looks the kernel up and runs its prepare, as the executor does at plan
 * time. On failure *params is released, as the executor releases it. */
static inline lo_status kernel_prepare(const lo_node *node, const lo_op_def **def, void **params, lo_error *err) {
    *params = NULL;
    *def = lo_op_lookup(node->domain, node->op_type, node->opset);
    if (!*def) return lo_fail(err, LO_ERR_UNSUPPORTED, "no kernel for %s-%d", node->op_type, node->opset);
    if (!(*def)->prepare) return LO_OK;
    lo_status st = (*def)->prepare(node, params, err);
    if (st != LO_OK && *params) {
        ((*def)->free_params ? (*def)->free_params : free)(*params);
        *params = NULL;
    }
    return st;
}

/* The implementation every kernel run below takes (the context's kernel
 * choice): tests set it to LO_KERNELS_REFERENCE to run the reference path. */
static lo_kernels harness_kernels HARNESS_UNUSED = LO_KERNELS_FAST;

/* One run of a prepared kernel with a minimal context: no frame (outputs are
 * malloc'd, not from a session arena). out[i] NULL is an output nobody reads;
 * the others must be empty tensors. */
static inline lo_status kernel_run(const lo_node *node, const lo_op_def *def, const void *params,
                                   const lo_tensor *const *in, int n_in, lo_tensor *const *out, int n_out,
                                   int threads, lo_error *err) {
    lo_kernel_ctx ctx = {.node = node, .params = params, .in = in, .n_in = n_in,
                         .out = out, .n_out = n_out, .err = err, .threads = threads,
                         .kernels = harness_kernels};
    return def->run(&ctx);
}

static inline void kernel_release(const lo_op_def *def, void **params) {
    if (def && *params) (def->free_params ? def->free_params : free)(*params);
    *params = NULL;
}

/* The last error of a run_kernel given no lo_error of its own. */
static lo_error last_err HARNESS_UNUSED;

#define HARNESS_MAX_IN 16
#define HARNESS_MAX_OUT 16

/* Runs op at opset once: prepare, run, release. in[i] NULL is an omitted
 * input; want_out (may be NULL) false for an output nobody reads. The
 * outputs wanted are emptied first and are the caller's to free. err NULL
 * uses last_err; either way it is cleared first. */
static inline lo_status run_kernel(const char *op, int opset, lo_attr *attrs, int n_attrs, const lo_tensor *const *in,
                                   int n_in, lo_tensor *out, int n_out, const bool *want_out, int threads,
                                   lo_error *err) {
    if (!err) err = &last_err;
    memset(err, 0, sizeof *err);
    /* Past these the arrays below would overflow: a test's own mistake. */
    LO_ASSERT(n_in <= HARNESS_MAX_IN && n_out <= HARNESS_MAX_OUT);
    lo_node node;
    node_init(&node, op, opset, attrs, n_attrs);
    /* Wired as in a graph, for kernels that ask the node which inputs and
     * outputs are present. */
    int ins[HARNESS_MAX_IN], outs[HARNESS_MAX_OUT];
    lo_tensor *outp[HARNESS_MAX_OUT];
    for (int i = 0; i < n_in; i++) ins[i] = in[i] ? i : -1;
    for (int i = 0; i < n_out; i++) {
        bool want = !want_out || want_out[i];
        outs[i] = want ? i : -1;
        outp[i] = want ? &out[i] : NULL;
        if (want) memset(&out[i], 0, sizeof out[i]);
    }
    node.inputs = ins, node.n_inputs = n_in, node.outputs = outs, node.n_outputs = n_out;
    const lo_op_def *def;
    void *params;
    lo_status st = kernel_prepare(&node, &def, &params, err);
    if (st != LO_OK) return st;
    st = kernel_run(&node, def, params, in, n_in, outp, n_out, threads, err);
    kernel_release(def, &params);
    return st;
}

#ifndef HARNESS_THREADS
#define HARNESS_THREADS 1
#endif

static inline lo_status run_op_mask(const char *op, int opset, lo_attr *attrs, int n_attrs, const lo_tensor **in,
                                    int n_in, lo_tensor *out, int n_out, const bool *want_out, lo_error *err) {
    return run_kernel(op, opset, attrs, n_attrs, in, n_in, out, n_out, want_out, HARNESS_THREADS, err);
}

static inline lo_status run_op(const char *op, int opset, lo_attr *attrs, int n_attrs, const lo_tensor **in, int n_in,
                               lo_tensor *out, int n_out, lo_error *err) {
    return run_kernel(op, opset, attrs, n_attrs, in, n_in, out, n_out, NULL, HARNESS_THREADS, err);
}

/* ---- one node kept across runs ------------------------------------------ */

/* For tests that prepare once and run several times (caches kept in the
 * params) or look at prepare and run apart. Attributes are copied in, so the
 * caller's arrays may be temporaries. */
typedef struct op_instance {
    lo_node node;
    lo_attr attrs[16];
    int64_t ints[16][16];
    const lo_op_def *def;
    void *params;
    lo_status prepare_status;
    lo_error err;
} op_instance;

static inline void op_init(op_instance *op, const char *type, int opset) {
    memset(op, 0, sizeof *op);
    node_init(&op->node, type, opset, op->attrs, 0);
}

static inline void op_attr(op_instance *op, lo_attr a) {
    int k = op->node.n_attrs;
    /* Past the storage above: a test's own mistake. */
    LO_ASSERT(k < 16 && (a.type != LO_ATTR_INTS || a.n <= 16));
    if (a.type == LO_ATTR_INTS) {
        memcpy(op->ints[k], a.ints, (size_t)a.n * sizeof *a.ints);
        a.ints = op->ints[k];
    }
    op->attrs[k] = a;
    op->node.n_attrs++;
}
static inline void op_attr_int(op_instance *op, const char *name, int64_t v) { op_attr(op, attr_int(name, v)); }
static inline void op_attr_float(op_instance *op, const char *name, float v) { op_attr(op, attr_float(name, v)); }
static inline void op_attr_string(op_instance *op, const char *name, const char *s) {
    op_attr(op, attr_string(name, s));
}
static inline void op_attr_ints(op_instance *op, const char *name, int n, const int64_t *v) {
    op_attr(op, attr_ints(name, n, (int64_t *)v));
}

static inline lo_status op_prepare(op_instance *op) {
    op->prepare_status = kernel_prepare(&op->node, &op->def, &op->params, &op->err);
    return op->prepare_status;
}

/* Runs on one thread; outputs are emptied first and are the caller's. */
static inline lo_status op_run(op_instance *op, const lo_tensor *const *in, int n_in, lo_tensor *out, int n_out) {
    LO_ASSERT(n_out <= HARNESS_MAX_OUT);
    lo_tensor *outs[HARNESS_MAX_OUT];
    for (int i = 0; i < n_out; i++) {
        memset(&out[i], 0, sizeof out[i]);
        outs[i] = &out[i];
    }
    return kernel_run(&op->node, op->def, op->params, in, n_in, outs, n_out, 1, &op->err);
}

static inline void op_free(op_instance *op) { kernel_release(op->def, &op->params); }

#endif
