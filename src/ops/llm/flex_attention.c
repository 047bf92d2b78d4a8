/* FlexAttention. */
#include <ctype.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../helpers.h"

/* ---- FlexAttention (ai.onnx.preview) --------------------------------------------------- */

static const lo_graph *graph_attr(const lo_node *n, const char *name) {
    const lo_attr *a = lo_attr_find(n, name);
    return a && a->type == LO_ATTR_GRAPH ? a->graph : NULL;
}

/* Runs a one-in, one-out modifier subgraph on t, replacing it. */
static lo_status run_modifier(lo_kernel_ctx *ctx, const lo_graph *g, lo_tensor *t) {
    LO_CHECK(ctx, g->n_inputs == 1 && g->n_outputs == 1, "modifier subgraphs take and give one tensor");
    const lo_tensor *ins[1] = {t};
    lo_tensor out;
    memset(&out, 0, sizeof out);
    LO_TRY(ctx->run_subgraph(ctx, g, ins, 1, &out, -1));
    if (out.kind != LO_KIND_TENSOR || out.rank != t->rank || memcmp(out.dims, t->dims, sizeof t->dims[0] * (size_t)t->rank)) {
        lo_tensor_free_data(&out);
        return lo_kernel_fail(ctx, LO_ERR_INPUT, "a modifier subgraph changed the shape");
    }
    /* keep t's buffer and type; take the values (converted) from out */
    for (int64_t i = 0; i < lo_numel(t); i++) lo_set_f64(t, i, lo_get_f64(&out, i));
    lo_tensor_free_data(&out);
    return LO_OK;
}

static lo_status flex_attention_run(lo_kernel_ctx *ctx) {
    for (int i = 0; i < 3; i++) LO_TRY(need_float_in(ctx, i, i == 0 ? "Q" : i == 1 ? "K" : "V"));
    const lo_tensor *q = ctx->in[0], *k = ctx->in[1], *v = ctx->in[2];
    LO_CHECK(ctx, q->rank == 4 && k->rank == 4 && v->rank == 4, "Q, K and V must be rank 4");
    int64_t B = q->dims[0], Hq = q->dims[1], L = q->dims[2], E = q->dims[3], Hk = k->dims[1], S = k->dims[2],
            Ev = v->dims[3];
    LO_CHECK(ctx, k->dims[0] == B && v->dims[0] == B && v->dims[1] == Hk && v->dims[2] == S && k->dims[3] == E,
             "Q, K and V shapes do not agree");
    LO_CHECK(ctx, Hk > 0 && Hq % Hk == 0, "q heads must be a multiple of kv heads");
    const lo_attr *sa = lo_attr_find(ctx->node, "scale");
    double scale = sa ? sa->f : 1.0 / sqrt((double)E);
    lo_dtype cd = (lo_dtype)lo_attr_int(ctx->node, "softmax_precision", q->dtype == LO_DOUBLE ? LO_DOUBLE : LO_FLOAT);
    LO_CHECK(ctx, float_type(cd), "softmax_precision %d", (int)cd);
    lo_tensor sc;
    memset(&sc, 0, sizeof sc);
    sc.dtype = cd;
    sc.rank = 4;
    sc.dims[0] = B, sc.dims[1] = Hq, sc.dims[2] = L, sc.dims[3] = S;
    if (!lo_shape_bytes(cd, 4, sc.dims, &sc.nbytes, ctx->err)) return ctx->err->status;
    sc.data = malloc(sc.nbytes ? sc.nbytes : 8);
    if (!sc.data) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
    double sq = sqrt((float)scale);
    int64_t grp = Hq / Hk;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < Hq; h++)
            for (int64_t i = 0; i < L; i++)
                for (int64_t j = 0; j < S; j++) {
                    double dot = 0;
                    for (int64_t e = 0; e < E; e++)
                        dot += lo_get_f64(q, ((b * Hq + h) * L + i) * E + e) * sq *
                               (lo_get_f64(k, ((b * Hk + h / grp) * S + j) * E + e) * sq);
                    lo_set_f64(&sc, ((b * Hq + h) * L + i) * S + j, dot);
                }
    lo_status st = LO_OK;
    const lo_graph *smod = graph_attr(ctx->node, "score_mod"), *pmod = graph_attr(ctx->node, "prob_mod");
    if (smod) st = run_modifier(ctx, smod, &sc);
    for (int64_t r = 0; st == LO_OK && r < B * Hq * L; r++) {
        double mx = -INFINITY, sum = 0;
        for (int64_t j = 0; j < S; j++) mx = fmax(mx, lo_get_f64(&sc, r * S + j));
        for (int64_t j = 0; j < S; j++) sum += exp(lo_get_f64(&sc, r * S + j) - mx);
        for (int64_t j = 0; j < S; j++) lo_set_f64(&sc, r * S + j, exp(lo_get_f64(&sc, r * S + j) - mx) / sum);
    }
    if (st == LO_OK && pmod) st = run_modifier(ctx, pmod, &sc);
    int64_t ydims[4] = {B, Hq, L, Ev};
    if (st == LO_OK) st = lo_output(ctx, 0, v->dtype, 4, ydims);
    if (st == LO_OK && has_out(ctx, 0))
        for (int64_t b = 0; b < B; b++)
            for (int64_t h = 0; h < Hq; h++)
                for (int64_t i = 0; i < L; i++)
                    for (int64_t e = 0; e < Ev; e++) {
                        double acc = 0;
                        for (int64_t j = 0; j < S; j++)
                            acc += lo_get_f64(&sc, ((b * Hq + h) * L + i) * S + j) *
                                   lo_get_f64(v, ((b * Hk + h / grp) * S + j) * Ev + e);
                        lo_set_f64(ctx->out[0], ((b * Hq + h) * L + i) * Ev + e, acc);
                    }
    free(sc.data);
    return st;
}

const lo_op_def lo_ops_llm_flex_attention[] = {
    {"ai.onnx.preview", "FlexAttention", 1, 1, NULL, flex_attention_run, NULL, 0},
    {0},
};
