/* RandomUniform, RandomNormal, RandomUniformLike, RandomNormalLike, Bernoulli, Multinomial. */
#include <ctype.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../helpers.h"

/* ---- random generators ------------------------------------------------------------ */

/* splitmix64: small, seedable, good enough for test-time sampling. Only
 * shapes and types of random outputs are comparable across engines. */
typedef struct rng {
    uint64_t s;
} rng;

static void rng_seed(rng *r, const lo_node *node) {
    const lo_attr *a = lo_attr_find(node, "seed");
    float seed = a ? a->f : 0.0f;
    uint64_t bits = 0;
    memcpy(&bits, &seed, sizeof seed);
    r->s = bits * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
}

static double rng_uniform(rng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-53;
}

static double rng_normal(rng *r) {
    double u = rng_uniform(r), v = rng_uniform(r);
    return sqrt(-2.0 * log(u > 0 ? u : 1e-300)) * cos(2 * M_PI * v);
}

typedef enum rand_kind { RAND_UNIFORM, RAND_NORMAL } rand_kind;

static lo_status random_fill(lo_kernel_ctx *ctx, rand_kind kind, lo_dtype dt, int rank, const int64_t *dims) {
    if (!float_type(dt)) return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "dtype %s", lo_dtype_name(dt));
    LO_TRY(lo_output(ctx, 0, dt, rank, dims));
    if (!has_out(ctx, 0)) return LO_OK;
    rng r;
    rng_seed(&r, ctx->node);
    double a = kind == RAND_UNIFORM ? lo_attr_float(ctx->node, "low", 0) : lo_attr_float(ctx->node, "mean", 0);
    double b = kind == RAND_UNIFORM ? lo_attr_float(ctx->node, "high", 1) : lo_attr_float(ctx->node, "scale", 1);
    int64_t n = lo_numel(ctx->out[0]);
    for (int64_t i = 0; i < n; i++)
        lo_set_f64(ctx->out[0], i, kind == RAND_UNIFORM ? a + (b - a) * rng_uniform(&r) : a + b * rng_normal(&r));
    return LO_OK;
}

static lo_status random_shape_run(lo_kernel_ctx *ctx, rand_kind kind) {
    int64_t rank;
    const int64_t *shape = lo_attr_ints(ctx->node, "shape", &rank);
    LO_CHECK(ctx, shape && rank <= LO_MAX_RANK, "attribute 'shape' is required (rank <= %d)", LO_MAX_RANK);
    return random_fill(ctx, kind, (lo_dtype)lo_attr_int(ctx->node, "dtype", LO_FLOAT), (int)rank, shape);
}

static lo_status random_like_run(lo_kernel_ctx *ctx, rand_kind kind) {
    LO_CHECK(ctx, has_in(ctx, 0), "input is required");
    const lo_tensor *x = ctx->in[0];
    return random_fill(ctx, kind, (lo_dtype)lo_attr_int(ctx->node, "dtype", x->dtype), x->rank, x->dims);
}

static lo_status random_uniform_run(lo_kernel_ctx *ctx) { return random_shape_run(ctx, RAND_UNIFORM); }
static lo_status random_normal_run(lo_kernel_ctx *ctx) { return random_shape_run(ctx, RAND_NORMAL); }
static lo_status random_uniform_like_run(lo_kernel_ctx *ctx) { return random_like_run(ctx, RAND_UNIFORM); }
static lo_status random_normal_like_run(lo_kernel_ctx *ctx) { return random_like_run(ctx, RAND_NORMAL); }

static lo_status bernoulli_run(lo_kernel_ctx *ctx) {
    LO_TRY(need_float_in(ctx, 0, "input"));
    const lo_tensor *x = ctx->in[0];
    lo_dtype dt = (lo_dtype)lo_attr_int(ctx->node, "dtype", x->dtype);
    LO_TRY(lo_output(ctx, 0, dt, x->rank, x->dims));
    if (!has_out(ctx, 0)) return LO_OK;
    rng r;
    rng_seed(&r, ctx->node);
    for (int64_t i = 0; i < lo_numel(x); i++)
        lo_set_f64(ctx->out[0], i, rng_uniform(&r) < lo_get_f64(x, i) ? 1.0 : 0.0);
    return LO_OK;
}

static lo_status multinomial_run(lo_kernel_ctx *ctx) {
    LO_TRY(need_float_in(ctx, 0, "input"));
    const lo_tensor *x = ctx->in[0];
    LO_CHECK(ctx, x->rank == 2, "input must be [batch, classes]");
    int64_t samples = lo_attr_int(ctx->node, "sample_size", 1);
    lo_dtype dt = (lo_dtype)lo_attr_int(ctx->node, "dtype", LO_INT32);
    LO_CHECK(ctx, dt == LO_INT32 || dt == LO_INT64, "dtype must be int32 or int64");
    int64_t dims[2] = {x->dims[0], samples}, c = x->dims[1];
    LO_TRY(lo_output(ctx, 0, dt, 2, dims));
    if (!has_out(ctx, 0)) return LO_OK;
    rng r;
    rng_seed(&r, ctx->node);
    for (int64_t b = 0; b < x->dims[0]; b++) {
        double total = 0, mx = -INFINITY;
        for (int64_t k = 0; k < c; k++) mx = fmax(mx, lo_get_f64(x, b * c + k));
        for (int64_t k = 0; k < c; k++) total += exp(lo_get_f64(x, b * c + k) - mx);
        for (int64_t s = 0; s < samples; s++) {
            double u = rng_uniform(&r) * total, acc = 0;
            int64_t pick = c - 1;
            for (int64_t k = 0; k < c; k++) {
                acc += exp(lo_get_f64(x, b * c + k) - mx);
                if (u < acc) {
                    pick = k;
                    break;
                }
            }
            lo_set_i64(ctx->out[0], b * samples + s, pick);
        }
    }
    return LO_OK;
}

const lo_op_def lo_ops_generator_random[] = {
    {"", "RandomUniform", 1, LO_OPSET_MAX, NULL, random_uniform_run, NULL, 0},
    {"", "RandomNormal", 1, LO_OPSET_MAX, NULL, random_normal_run, NULL, 0},
    {"", "RandomUniformLike", 1, LO_OPSET_MAX, NULL, random_uniform_like_run, NULL, 0},
    {"", "RandomNormalLike", 1, LO_OPSET_MAX, NULL, random_normal_like_run, NULL, 0},
    {"", "Bernoulli", 15, LO_OPSET_MAX, NULL, bernoulli_run, NULL, 0},
    {"", "Multinomial", 7, LO_OPSET_MAX, NULL, multinomial_run, NULL, 0},
    {0},
};
