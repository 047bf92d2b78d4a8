/* Losses: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss.
 *
 * Both read their float inputs through the generic getters and accumulate
 * in double; the tensors involved are small (one value per sample and
 * class), so the reference path is the only one. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../ops.h"

typedef enum reduction { RED_NONE, RED_SUM, RED_MEAN } reduction;

typedef struct loss_params {
    reduction red;
    bool has_ignore;
    int64_t ignore_index;
} loss_params;

static lo_status loss_prepare(const lo_node *node, void **params, lo_error *err) {
    loss_params *p = lo_calloc(1, sizeof *p, err);
    if (!p) return LO_ERR_NOMEM;
    *params = p;
    const char *r = lo_attr_string(node, "reduction", "mean");
    if (strcmp(r, "none") == 0) p->red = RED_NONE;
    else if (strcmp(r, "sum") == 0) p->red = RED_SUM;
    else if (strcmp(r, "mean") == 0) p->red = RED_MEAN;
    else
        return lo_fail(err, LO_ERR_MODEL, "node '%s' (%s): unknown reduction '%s'", node->name, node->op_type, r);
    p->has_ignore = lo_attr_find(node, "ignore_index") != NULL;
    p->ignore_index = lo_attr_int(node, "ignore_index", 0);
    return LO_OK;
}

/* Working memory: the session's scratch block (lo_scratch) when running in
 * a session, else the heap; *heap is what the caller frees. Not for kernels
 * that run other kernels or subgraphs, which may take the scratch block. */
static void *work_buffer(lo_kernel_ctx *ctx, size_t bytes, void **heap) {
    void *p = ctx->frame ? lo_scratch(ctx, bytes ? bytes : 8) : NULL;
    *heap = p ? NULL : malloc(bytes ? bytes : 8);
    return p ? p : *heap;
}

static bool float_type(lo_dtype d) {
    return d == LO_FLOAT || d == LO_DOUBLE || d == LO_FLOAT16 || d == LO_BFLOAT16;
}

/* Per-element losses into loss[N * D], then output 0 by the reduction. */
static lo_status nll_fill(lo_kernel_ctx *ctx, const loss_params *p, const lo_tensor *logp, const lo_tensor *target,
                          const lo_tensor *weight, int64_t n, int64_t c, int64_t d, double *loss,
                          lo_dtype out_dtype) {
    int64_t total = n * d;
    double loss_sum = 0, weight_sum = 0;
    for (int64_t b = 0; b < n; b++)
        for (int64_t j = 0; j < d; j++) {
            int64_t i = b * d + j;
            int64_t t = lo_get_i64(target, i);
            if (p->has_ignore && t == p->ignore_index) {
                loss[i] = 0;
                continue;
            }
            LO_CHECK(ctx, t >= 0 && t < c, "target value %lld outside [0, %lld)", (long long)t, (long long)c);
            double w = weight ? lo_get_f64(weight, t) : 1.0;
            loss[i] = -lo_get_f64(logp, (b * c + t) * d + j) * w;
            loss_sum += loss[i];
            weight_sum += w;
        }
    if (p->red == RED_NONE) {
        LO_TRY(lo_output(ctx, 0, out_dtype, target->rank, target->dims));
        if (ctx->n_out > 0 && ctx->out[0])
            for (int64_t i = 0; i < total; i++) lo_set_f64(ctx->out[0], i, loss[i]);
        return LO_OK;
    }
    LO_TRY(lo_output(ctx, 0, out_dtype, 0, NULL));
    double v = p->red == RED_SUM ? loss_sum : loss_sum / weight_sum;
    if (ctx->n_out > 0 && ctx->out[0]) lo_set_f64(ctx->out[0], 0, v);
    return LO_OK;
}

/* logp holds the log-probabilities [N, C, D] (any float type, read through
 * the getters); target [N, D]; weight [C] or NULL; loss has room for N * D
 * doubles. Writes output 0. */
static lo_status nll(lo_kernel_ctx *ctx, const loss_params *p, const lo_tensor *logp, const lo_tensor *target,
                     const lo_tensor *weight, lo_dtype out_dtype, double *loss) {
    LO_CHECK(ctx, logp->rank >= 2, "input must have rank >= 2, got %d", logp->rank);
    LO_CHECK(ctx, target->rank == logp->rank - 1, "target rank %d does not match input rank %d", target->rank,
             logp->rank);
    LO_CHECK(ctx, lo_dtype_is_int(target->dtype), "target must be an integer tensor");
    int64_t n = logp->dims[0], c = logp->dims[1], d = 1;
    LO_CHECK(ctx, target->dims[0] == n, "target batch %lld, input batch %lld", (long long)target->dims[0],
             (long long)n);
    for (int i = 2; i < logp->rank; i++) {
        LO_CHECK(ctx, target->dims[i - 1] == logp->dims[i], "target dim %d is %lld, input has %lld", i - 1,
                 (long long)target->dims[i - 1], (long long)logp->dims[i]);
        d *= logp->dims[i];
    }
    if (weight) {
        LO_CHECK(ctx, weight->rank == 1 && weight->dims[0] == c, "weight must have shape [%lld]", (long long)c);
        LO_CHECK(ctx, float_type(weight->dtype), "weight must be a float tensor");
    }
    return nll_fill(ctx, p, logp, target, weight, n, c, d, loss, out_dtype);
}

static lo_status nll_run(lo_kernel_ctx *ctx) {
    const lo_tensor *x = ctx->in[0], *t = ctx->n_in > 1 ? ctx->in[1] : NULL;
    const lo_tensor *w = ctx->n_in > 2 ? ctx->in[2] : NULL;
    LO_CHECK(ctx, x && t, "input and target are required");
    LO_CHECK(ctx, float_type(x->dtype), "input must be a float tensor, got %s", lo_dtype_name(x->dtype));
    LO_CHECK(ctx, x->rank >= 2 && x->dims[1] > 0, "input must be [N, C, ...] with C > 0");
    void *heap;
    double *loss = work_buffer(ctx, (size_t)(lo_numel(x) / x->dims[1]) * sizeof(double), &heap);
    if (!loss) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
    lo_status st = nll(ctx, ctx->params, x, t, w, x->dtype, loss);
    free(heap);
    return st;
}

static lo_status sce_run(lo_kernel_ctx *ctx) {
    const lo_tensor *x = ctx->in[0], *t = ctx->n_in > 1 ? ctx->in[1] : NULL;
    const lo_tensor *w = ctx->n_in > 2 ? ctx->in[2] : NULL;
    LO_CHECK(ctx, x && t, "scores and labels are required");
    LO_CHECK(ctx, float_type(x->dtype), "scores must be a float tensor, got %s", lo_dtype_name(x->dtype));
    LO_CHECK(ctx, x->rank >= 2, "scores must have rank >= 2, got %d", x->rank);
    int64_t n = x->dims[0], c = x->dims[1], d = 1;
    for (int i = 2; i < x->rank; i++) d *= x->dims[i];
    /* log-softmax over the class axis, in double, kept as a double tensor
     * that nll() reads; it is also output 1 when asked for. */
    lo_tensor logp;
    memset(&logp, 0, sizeof logp);
    logp.dtype = LO_DOUBLE;
    logp.rank = x->rank;
    memcpy(logp.dims, x->dims, sizeof x->dims);
    size_t bytes;
    if (!lo_shape_bytes(LO_DOUBLE, x->rank, x->dims, &bytes, ctx->err)) return ctx->err->status;
    /* one block: the log-probabilities, then the per-element losses */
    void *heap;
    double *lp = work_buffer(ctx, bytes + (size_t)(n * d) * sizeof(double), &heap);
    if (!lp) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
    logp.data = lp;
    logp.nbytes = bytes;
    for (int64_t b = 0; b < n; b++)
        for (int64_t j = 0; j < d; j++) {
            double m = -INFINITY;
            for (int64_t k = 0; k < c; k++) m = fmax(m, lo_get_f64(x, (b * c + k) * d + j));
            double s = 0;
            for (int64_t k = 0; k < c; k++) s += exp(lo_get_f64(x, (b * c + k) * d + j) - m);
            double ls = log(s) + m;
            for (int64_t k = 0; k < c; k++) lp[(b * c + k) * d + j] = lo_get_f64(x, (b * c + k) * d + j) - ls;
        }
    lo_status st = nll(ctx, ctx->params, &logp, t, w, x->dtype, lp + n * c * d);
    if (st == LO_OK && ctx->n_out > 1 && ctx->out[1]) {
        st = lo_output(ctx, 1, x->dtype, x->rank, x->dims);
        if (st == LO_OK)
            for (int64_t i = 0; i < lo_numel(x); i++) lo_set_f64(ctx->out[1], i, lp[i]);
    }
    free(heap);
    return st;
}

const lo_op_def lo_ops_loss[] = {
    {"", "NegativeLogLikelihoodLoss", 12, LO_OPSET_MAX, loss_prepare, nll_run, NULL, 0},
    {"", "SoftmaxCrossEntropyLoss", 12, LO_OPSET_MAX, loss_prepare, sce_run, NULL, 0},
    {0},
};
