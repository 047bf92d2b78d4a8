/* placeholder until the run loop lands */
#include <stdlib.h>
#include <string.h>

#include "exec.h"

lo_status lo_output(lo_kernel_ctx *ctx, int i, lo_dtype dtype, int rank, const int64_t *dims) {
    LO_ASSERT(i >= 0 && i < ctx->n_out && ctx->out[i]);
    lo_tensor *t = ctx->out[i];
    size_t bytes;
    if (!lo_shape_bytes(dtype, rank, dims, &bytes, ctx->err)) return ctx->err->status;
    t->kind = LO_KIND_TENSOR;
    t->dtype = dtype;
    t->rank = rank;
    memcpy(t->dims, dims, (size_t)rank * sizeof *dims);
    t->nbytes = bytes;
    t->data = calloc(1, bytes ? bytes : 1);
    if (!t->data) return lo_fail(ctx->err, LO_ERR_NOMEM, "out of memory");
    return LO_OK;
}

void *lo_scratch(lo_kernel_ctx *ctx, size_t bytes) { (void)ctx; (void)bytes; return NULL; }
