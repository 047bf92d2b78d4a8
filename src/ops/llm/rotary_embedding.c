/* RotaryEmbedding. */
#include <ctype.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../helpers.h"

static lo_status rotary_run(lo_kernel_ctx *ctx) {
    LO_TRY(need_float_in(ctx, 0, "X"));
    LO_TRY(need_float_in(ctx, 1, "cos_cache"));
    LO_TRY(need_float_in(ctx, 2, "sin_cache"));
    const lo_tensor *x = ctx->in[0], *cs = ctx->in[1], *sn = ctx->in[2];
    const lo_tensor *pos = has_in(ctx, 3) ? ctx->in[3] : NULL;
    bool inter = lo_attr_int(ctx->node, "interleaved", 0) != 0;
    int64_t rot = lo_attr_int(ctx->node, "rotary_embedding_dim", 0);
    int64_t heads = lo_attr_int(ctx->node, "num_heads", 0);
    int64_t B, H, S, D;
    bool packed = x->rank == 3;
    if (x->rank == 4) B = x->dims[0], H = x->dims[1], S = x->dims[2], D = x->dims[3];
    else {
        LO_CHECK(ctx, x->rank == 3 && heads > 0 && x->dims[2] % heads == 0, "X must be 4-D, or 3-D with num_heads");
        B = x->dims[0], S = x->dims[1], H = heads, D = x->dims[2] / heads;
    }
    if (rot == 0) rot = D;
    int64_t half = rot / 2;
    LO_CHECK(ctx, rot <= D && rot % 2 == 0, "rotary_embedding_dim %lld", (long long)rot);
    LO_CHECK(ctx, sn->rank == cs->rank && !memcmp(sn->dims, cs->dims, sizeof cs->dims[0] * (size_t)cs->rank),
             "cos_cache and sin_cache differ in shape");
    LO_CHECK(ctx, cs->dims[cs->rank - 1] == half && sn->dims[sn->rank - 1] == half,
             "cos/sin caches must end in rotary_embedding_dim / 2 = %lld", (long long)half);
    if (pos) LO_CHECK(ctx, cs->rank == 2 && lo_numel(pos) == B * S, "with position_ids the caches are 2-D");
    else LO_CHECK(ctx, cs->rank == 3 && cs->dims[0] == B && cs->dims[1] == S, "caches must be [batch, seq, dim / 2]");
    LO_TRY(lo_output(ctx, 0, x->dtype, x->rank, x->dims));
    if (!has_out(ctx, 0)) return LO_OK;
    for (int64_t b = 0; b < B; b++)
        for (int64_t s = 0; s < S; s++) {
            int64_t crow;
            if (pos) {
                crow = lo_get_i64(pos, b * S + s);
                LO_CHECK(ctx, crow >= 0 && crow < cs->dims[0], "position id %lld out of range", (long long)crow);
            } else {
                crow = b * S + s;
            }
            for (int64_t h = 0; h < H; h++) {
                int64_t base = packed ? (b * S + s) * (H * D) + h * D : ((b * H + h) * S + s) * D;
                for (int64_t i = 0; i < half; i++) {
                    int64_t i1 = inter ? 2 * i : i, i2 = inter ? 2 * i + 1 : i + half;
                    double c = lo_get_f64(cs, crow * half + i), sv = lo_get_f64(sn, crow * half + i);
                    double x1 = lo_get_f64(x, base + i1), x2 = lo_get_f64(x, base + i2);
                    lo_set_f64(ctx->out[0], base + i1, c * x1 - sv * x2);
                    lo_set_f64(ctx->out[0], base + i2, sv * x1 + c * x2);
                }
                for (int64_t d = rot; d < D; d++) lo_set_f64(ctx->out[0], base + d, lo_get_f64(x, base + d));
            }
        }
    return LO_OK;
}

const lo_op_def lo_ops_llm_rotary_embedding[] = {
    {"", "RotaryEmbedding", 23, LO_OPSET_MAX, NULL, rotary_run, NULL, 0},
    {0},
};
