/* Helpers the one-path kernels share (those moved out of the old catch-all
 * file): input/output presence, dtype checks and a working buffer. These run
 * on small tensors in the models that hold them, so each has one path: a
 * plain reference that reads and writes through the generic getters
 * (lo_get_f64 / lo_set_f64) with double arithmetic. */
#ifndef LO_OPS_HELPERS_H
#define LO_OPS_HELPERS_H

#include <stdlib.h>

#include "ops.h"

/* Static, as they were in the one file they came from (same code, same
 * inlining); unused is for the files that need only some. */
#define LO_HELPER static __attribute__((unused))

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

LO_HELPER bool has_in(lo_kernel_ctx *ctx, int i) {
    return i < ctx->n_in && ctx->in[i] && ctx->in[i]->kind == LO_KIND_TENSOR;
}
LO_HELPER bool has_out(lo_kernel_ctx *ctx, int i) { return i < ctx->n_out && ctx->out[i]; }

LO_HELPER bool float_type(lo_dtype d) {
    return d == LO_FLOAT || d == LO_DOUBLE || d == LO_FLOAT16 || d == LO_BFLOAT16;
}

LO_HELPER lo_status need_float_in(lo_kernel_ctx *ctx, int i, const char *what) {
    LO_CHECK(ctx, has_in(ctx, i), "%s is required", what);
    if (!float_type(ctx->in[i]->dtype))
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "%s of type %s", what, lo_dtype_name(ctx->in[i]->dtype));
    return LO_OK;
}

LO_HELPER lo_status scalar_i64(lo_kernel_ctx *ctx, int i, const char *what, int64_t *v) {
    LO_CHECK(ctx, has_in(ctx, i) && lo_numel(ctx->in[i]) == 1, "%s must be a single value", what);
    *v = lo_get_i64(ctx->in[i], 0);
    return LO_OK;
}

/* Working memory: the session's scratch block (lo_scratch) when running in
 * a session, else the heap; *heap is what the caller frees. Not for kernels
 * that run other kernels or subgraphs, which may take the scratch block. */
LO_HELPER void *work_buffer(lo_kernel_ctx *ctx, size_t bytes, void **heap) {
    void *p = ctx->frame ? lo_scratch(ctx, bytes ? bytes : 8) : NULL;
    *heap = p ? NULL : malloc(bytes ? bytes : 8);
    return p ? p : *heap;
}

#endif
