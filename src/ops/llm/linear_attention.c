/* LinearAttention, CausalConvWithState. */
#include <ctype.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../helpers.h"

/* ---- LinearAttention, CausalConvWithState (opset 27) ------------------------------------- */

/* Recurrent linear attention over a [d_k, d_v] state per batch and key
 * head: per step, optionally decay the state (gated), optionally replace
 * v by beta * (v - state^T k) (delta rule), add k v^T, read q^T state. */
static lo_status linear_attention_run(lo_kernel_ctx *ctx) {
    for (int i = 0; i < 3; i++) LO_TRY(need_float_in(ctx, i, i == 0 ? "query" : i == 1 ? "key" : "value"));
    const lo_tensor *q = ctx->in[0], *k = ctx->in[1], *v = ctx->in[2];
    const lo_tensor *past = has_in(ctx, 3) ? ctx->in[3] : NULL, *decay = has_in(ctx, 4) ? ctx->in[4] : NULL;
    const lo_tensor *beta = has_in(ctx, 5) ? ctx->in[5] : NULL;
    const char *rule = lo_attr_string(ctx->node, "update_rule", "gated_delta");
    bool gated = !strcmp(rule, "gated") || !strcmp(rule, "gated_delta");
    bool delta = !strcmp(rule, "delta") || !strcmp(rule, "gated_delta");
    if (!gated && !delta && strcmp(rule, "linear"))
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "update_rule '%s'", rule);
    int64_t hq = lo_attr_int(ctx->node, "q_num_heads", 0), hk = lo_attr_int(ctx->node, "kv_num_heads", 0);
    LO_CHECK(ctx, hq > 0 && hk > 0 && hq % hk == 0, "q_num_heads must be a positive multiple of kv_num_heads");
    LO_CHECK(ctx, gated == (decay != NULL) && delta == (beta != NULL), "decay / beta do not fit update_rule '%s'", rule);
    LO_CHECK(ctx, q->rank == 3 && k->rank == 3 && v->rank == 3, "query, key and value must be [B, T, H * D]");
    int64_t B = q->dims[0], T = q->dims[1], dk = q->dims[2] / hq, dv = v->dims[2] / hk, grp = hq / hk;
    LO_CHECK(ctx, q->dims[2] % hq == 0 && v->dims[2] % hk == 0 && k->dims[0] == B && k->dims[1] == T &&
                      k->dims[2] == hk * dk && v->dims[0] == B && v->dims[1] == T,
             "query, key and value shapes do not agree");
    int64_t decay_last = 0, beta_last = 0;
    if (decay) {
        decay_last = decay->dims[decay->rank - 1];
        LO_CHECK(ctx, decay->rank == 3 && decay->dims[0] == B && decay->dims[1] == T &&
                          (decay_last == hk || decay_last == hk * dk),
                 "decay must be [B, T, H] or [B, T, H * d_k]");
    }
    if (beta) {
        beta_last = beta->dims[beta->rank - 1];
        LO_CHECK(ctx, beta->rank == 3 && beta->dims[0] == B && beta->dims[1] == T && (beta_last == hk || beta_last == 1),
                 "beta must be [B, T, H] or [B, T, 1]");
    }
    if (past)
        LO_CHECK(ctx, past->rank == 4 && past->dims[0] == B && past->dims[1] == hk && past->dims[2] == dk &&
                          past->dims[3] == dv,
                 "past_state must be [B, H, d_k, d_v]");
    double scale = lo_attr_float(ctx->node, "scale", 0);
    if (scale == 0) scale = 1.0 / sqrt((double)dk);
    int64_t odims[3] = {B, T, hq * dv}, sdims[4] = {B, hk, dk, dv};
    LO_TRY(lo_output(ctx, 0, q->dtype, 3, odims));
    LO_TRY(lo_output(ctx, 1, past ? past->dtype : q->dtype, 4, sdims));
    void *heap;
    double *st = work_buffer(ctx, (size_t)(dk * dv + dv + 1) * sizeof(double), &heap);
    if (!st) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
    double *vt = st + dk * dv;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < hk; h++) {
            for (int64_t i = 0; i < dk * dv; i++) st[i] = past ? lo_get_f64(past, (b * hk + h) * dk * dv + i) : 0;
            for (int64_t t = 0; t < T; t++) {
                if (gated)
                    for (int64_t a = 0; a < dk; a++) {
                        double g = decay_last == hk ? lo_get_f64(decay, (b * T + t) * hk + h)
                                                    : lo_get_f64(decay, (b * T + t) * hk * dk + h * dk + a);
                        double e = exp(g);
                        for (int64_t m = 0; m < dv; m++) st[a * dv + m] *= e;
                    }
                for (int64_t m = 0; m < dv; m++) vt[m] = lo_get_f64(v, (b * T + t) * hk * dv + h * dv + m);
                if (delta) {
                    double bt = lo_get_f64(beta, (b * T + t) * beta_last + (beta_last == 1 ? 0 : h));
                    for (int64_t m = 0; m < dv; m++) {
                        double r = 0;
                        for (int64_t a = 0; a < dk; a++) r += st[a * dv + m] * lo_get_f64(k, (b * T + t) * hk * dk + h * dk + a);
                        vt[m] = bt * (vt[m] - r);
                    }
                }
                for (int64_t a = 0; a < dk; a++) {
                    double ka = lo_get_f64(k, (b * T + t) * hk * dk + h * dk + a);
                    for (int64_t m = 0; m < dv; m++) st[a * dv + m] += ka * vt[m];
                }
                if (!has_out(ctx, 0)) continue;
                for (int64_t g = 0; g < grp; g++) {
                    int64_t qh = h * grp + g;
                    for (int64_t m = 0; m < dv; m++) {
                        double o = 0;
                        for (int64_t a = 0; a < dk; a++) o += lo_get_f64(q, (b * T + t) * hq * dk + qh * dk + a) * st[a * dv + m];
                        lo_set_f64(ctx->out[0], (b * T + t) * hq * dv + qh * dv + m, scale * o);
                    }
                }
            }
            if (has_out(ctx, 1))
                for (int64_t i = 0; i < dk * dv; i++) lo_set_f64(ctx->out[1], (b * hk + h) * dk * dv + i, st[i]);
        }
    free(heap);
    return LO_OK;
}

/* Depthwise causal 1-D convolution whose left padding is the previous
 * call's last k - 1 inputs (past_state, zeros when absent). */
static lo_status causal_conv_run(lo_kernel_ctx *ctx) {
    LO_TRY(need_float_in(ctx, 0, "input"));
    LO_TRY(need_float_in(ctx, 1, "weight"));
    const lo_tensor *x = ctx->in[0], *w = ctx->in[1];
    const lo_tensor *bias = has_in(ctx, 2) ? ctx->in[2] : NULL, *past = has_in(ctx, 3) ? ctx->in[3] : NULL;
    const char *act = lo_attr_string(ctx->node, "activation", "none");
    bool silu = !strcmp(act, "silu") || !strcmp(act, "swish");
    if (!silu && strcmp(act, "none")) return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "activation '%s'", act);
    LO_CHECK(ctx, x->rank == 3 && w->rank == 3, "input must be [B, C, L] and weight [C, 1, k]");
    int64_t B = x->dims[0], C = x->dims[1], L = x->dims[2], K = w->dims[2];
    LO_CHECK(ctx, w->dims[0] == C && w->dims[1] == 1 && K >= 1, "weight must be [C, 1, k]");
    LO_CHECK(ctx, !bias || lo_numel(bias) == C, "bias must have C values");
    LO_CHECK(ctx, !past || (past->rank == 3 && past->dims[0] == B && past->dims[1] == C && past->dims[2] == K - 1),
             "past_state must be [B, C, k - 1]");
    int64_t sdims[3] = {B, C, K - 1};
    LO_TRY(lo_output(ctx, 0, x->dtype, 3, x->dims));
    LO_TRY(lo_output(ctx, 1, x->dtype, 3, sdims));
    for (int64_t b = 0; b < B; b++)
        for (int64_t c = 0; c < C; c++) {
            /* padded[i] for i in [0, k - 1 + L): the state, then the input */
#define PADDED(i) ((i) < K - 1 ? (past ? lo_get_f64(past, (b * C + c) * (K - 1) + (i)) : 0.0) \
                               : lo_get_f64(x, (b * C + c) * L + (i) - (K - 1)))
            for (int64_t t = 0; has_out(ctx, 0) && t < L; t++) {
                double acc = bias ? lo_get_f64(bias, c) : 0;
                for (int64_t j = 0; j < K; j++) acc += lo_get_f64(w, c * K + j) * PADDED(t + j);
                if (silu) {
                    if (x->dtype == LO_FLOAT16) acc = lo_half_to_float(lo_float_to_half((float)acc));
                    acc = acc / (1 + exp(-acc));
                }
                lo_set_f64(ctx->out[0], (b * C + c) * L + t, acc);
            }
            for (int64_t j = 0; has_out(ctx, 1) && j < K - 1; j++)
                lo_set_f64(ctx->out[1], (b * C + c) * (K - 1) + j, PADDED(L + j));
#undef PADDED
        }
    return LO_OK;
}

const lo_op_def lo_ops_llm_linear_attention[] = {
    {"", "LinearAttention", 27, LO_OPSET_MAX, NULL, linear_attention_run, NULL, 0},
    {"", "CausalConvWithState", 27, LO_OPSET_MAX, NULL, causal_conv_run, NULL, 0},
    {0},
};
