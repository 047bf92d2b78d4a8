/* TensorScatter. */
#include <ctype.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../helpers.h"

static lo_status tensor_scatter_run(lo_kernel_ctx *ctx) {
    LO_CHECK(ctx, has_in(ctx, 0) && has_in(ctx, 1), "past_cache and update are required");
    const lo_tensor *cache = ctx->in[0], *upd = ctx->in[1];
    const lo_tensor *wi = has_in(ctx, 2) ? ctx->in[2] : NULL;
    const char *mode = lo_attr_string(ctx->node, "mode", "linear");
    bool circular = !strcmp(mode, "circular");
    if (!circular && strcmp(mode, "linear")) return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "mode '%s'", mode);
    int axis;
    LO_CHECK(ctx, lo_norm_axis(lo_attr_int(ctx->node, "axis", -2), cache->rank, &axis) && axis >= 1,
             "axis out of range");
    LO_CHECK(ctx, cache->dtype == upd->dtype && cache->rank == upd->rank, "update must match past_cache");
    for (int i = 0; i < cache->rank; i++)
        LO_CHECK(ctx, i == axis ? upd->dims[i] <= cache->dims[i] : upd->dims[i] == cache->dims[i],
                 "update dim %d does not fit past_cache", i);
    LO_CHECK(ctx, !wi || (lo_dtype_is_int(wi->dtype) && lo_numel(wi) == cache->dims[0]),
             "write_indices must hold one integer per batch");
    LO_TRY(lo_output(ctx, 0, cache->dtype, cache->rank, cache->dims));
    if (!has_out(ctx, 0)) return LO_OK;
    if (cache->dtype == LO_STRING) return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "string caches");
    memcpy(ctx->out[0]->data, cache->data, cache->nbytes);
    int64_t outer = 1, inner = 1, L = cache->dims[axis], S = upd->dims[axis];
    for (int i = 0; i < axis; i++) outer *= cache->dims[i];
    for (int i = axis + 1; i < cache->rank; i++) inner *= cache->dims[i];
    int64_t per_batch = outer / cache->dims[0];
    size_t es = lo_dtype_size(cache->dtype);
    for (int64_t o = 0; o < outer; o++) {
        int64_t b = o / per_batch, start = wi ? lo_get_i64(wi, b) : 0;
        for (int64_t t = 0; t < S; t++) {
            int64_t pos = start + t;
            if (circular) pos = ((pos % L) + L) % L;
            LO_CHECK(ctx, pos >= 0 && pos < L, "write index %lld out of range", (long long)pos);
            memcpy((char *)ctx->out[0]->data + (size_t)((o * L + pos) * inner) * es,
                   (const char *)upd->data + (size_t)((o * S + t) * inner) * es, (size_t)inner * es);
        }
    }
    return LO_OK;
}

const lo_op_def lo_ops_llm_tensor_scatter[] = {
    {"", "TensorScatter", 24, LO_OPSET_MAX, NULL, tensor_scatter_run, NULL, 0},
    {0},
};
