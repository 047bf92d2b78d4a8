/* Attention. */
#include <ctype.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../helpers.h"

/* ---- Attention (opset 23+) ----------------------------------------------------------- */

typedef struct attn_params {
    double scale; /* 0: 1 / sqrt(head size) */
    bool causal;
    int64_t q_heads, kv_heads;
    double softcap;
    int64_t qk_mode;
    int64_t left_window, right_window;
} attn_params;

static lo_status attn_prepare(const lo_node *node, void **params, lo_error *err) {
    attn_params *p = lo_calloc(1, sizeof *p, err);
    if (!p) return LO_ERR_NOMEM;
    *params = p;
    p->scale = lo_attr_float(node, "scale", 0);
    p->causal = lo_attr_int(node, "is_causal", 0) != 0;
    p->q_heads = lo_attr_int(node, "q_num_heads", 0);
    p->kv_heads = lo_attr_int(node, "kv_num_heads", 0);
    p->softcap = lo_attr_float(node, "softcap", 0);
    p->qk_mode = lo_attr_int(node, "qk_matmul_output_mode", 0);
    p->left_window = lo_attr_int(node, "left_window_size", -1);
    p->right_window = lo_attr_int(node, "right_window_size", -1);
    if (p->qk_mode < 0 || p->qk_mode > 3)
        return lo_fail(err, LO_ERR_MODEL, "node '%s' (Attention): qk_matmul_output_mode %lld", node->name,
                       (long long)p->qk_mode);
    return LO_OK;
}

/* A [B, H, S, D] view of a 4-D tensor or of a 3-D [B, S, H * D] one. */
typedef struct heads_view {
    const lo_tensor *t;
    int64_t b, h, s, d;
    bool packed;
} heads_view;

static lo_status heads_of(lo_kernel_ctx *ctx, const lo_tensor *t, int64_t heads, const char *what, heads_view *v) {
    v->t = t;
    if (t->rank == 4) {
        v->b = t->dims[0], v->h = t->dims[1], v->s = t->dims[2], v->d = t->dims[3], v->packed = false;
        return LO_OK;
    }
    LO_CHECK(ctx, t->rank == 3, "%s must be 3-D or 4-D", what);
    LO_CHECK(ctx, heads > 0 && t->dims[2] % heads == 0, "%s: hidden size %lld is not a multiple of %lld heads",
             what, (long long)t->dims[2], (long long)heads);
    v->b = t->dims[0], v->s = t->dims[1], v->h = heads, v->d = t->dims[2] / heads, v->packed = true;
    return LO_OK;
}

static inline int64_t heads_at(const heads_view *v, int64_t b, int64_t h, int64_t s, int64_t d) {
    return v->packed ? (b * v->s + s) * (v->h * v->d) + h * v->d + d : ((b * v->h + h) * v->s + s) * v->d + d;
}

static double bf16_round(double v) { return lo_bfloat16_to_float(lo_float_to_bfloat16((float)v)); }

static lo_status attn_run(lo_kernel_ctx *ctx) {
    const attn_params *p = ctx->params;
    for (int i = 0; i < 3; i++) LO_TRY(need_float_in(ctx, i, i == 0 ? "Q" : i == 1 ? "K" : "V"));
    heads_view q, k, v;
    LO_TRY(heads_of(ctx, ctx->in[0], p->q_heads, "Q", &q));
    LO_TRY(heads_of(ctx, ctx->in[1], p->kv_heads, "K", &k));
    LO_TRY(heads_of(ctx, ctx->in[2], p->kv_heads, "V", &v));
    const lo_tensor *mask = has_in(ctx, 3) ? ctx->in[3] : NULL;
    const lo_tensor *pk = has_in(ctx, 4) ? ctx->in[4] : NULL, *pv = has_in(ctx, 5) ? ctx->in[5] : NULL;
    const lo_tensor *nonpad = has_in(ctx, 6) ? ctx->in[6] : NULL;
    int64_t B = q.b, Hq = q.h, Sq = q.s, D = q.d, Hk = k.h, Skv = k.s, Dv = v.d;
    LO_CHECK(ctx, k.b == B && v.b == B && v.h == Hk && v.s == Skv && k.d == D, "Q, K and V shapes do not agree");
    LO_CHECK(ctx, Hk > 0 && Hq % Hk == 0, "%lld query heads are not a multiple of %lld key heads", (long long)Hq,
             (long long)Hk);
    LO_CHECK(ctx, (pk == NULL) == (pv == NULL), "past_key and past_value go together");
    int64_t P = 0;
    if (pk) {
        LO_CHECK(ctx, pk->rank == 4 && pk->dims[0] == B && pk->dims[1] == Hk && pk->dims[3] == D && pv->rank == 4 &&
                          pv->dims[0] == B && pv->dims[1] == Hk && pv->dims[2] == pk->dims[2] && pv->dims[3] == Dv,
                 "past_key / past_value shapes do not agree with K and V");
        P = pk->dims[2];
    }
    int64_t T = P + Skv;
    if (nonpad) LO_CHECK(ctx, lo_numel(nonpad) == B, "nonpad_kv_seqlen must have %lld values", (long long)B);
    int64_t mdims[4] = {1, 1, 1, 1}, mstr[4] = {0, 0, 0, 0}, mlast = 0;
    if (mask) {
        LO_CHECK(ctx, mask->rank >= 1 && mask->rank <= 4, "attn_mask must have rank 1 to 4");
        int off = 4 - mask->rank;
        int64_t st = 1;
        for (int d = 3; d >= 0; d--) {
            if (d < off) continue;
            mdims[d] = mask->dims[d - off];
            mstr[d] = mdims[d] == 1 ? 0 : st;
            st *= mask->dims[d - off];
        }
        mlast = mdims[3];
        mstr[3] = 1;
        LO_CHECK(ctx, (mdims[0] == 1 || mdims[0] == B) && (mdims[1] == 1 || mdims[1] == Hq) &&
                          (mdims[2] == 1 || mdims[2] == Sq) && mlast <= T,
                 "attn_mask does not broadcast to [%lld, %lld, %lld, %lld]", (long long)B, (long long)Hq,
                 (long long)Sq, (long long)T);
    }
    lo_dtype dt = ctx->in[0]->dtype;
    int64_t ydims[4], kd[4] = {B, Hk, T, D}, vd[4] = {B, Hk, T, Dv}, qkd[4] = {B, Hq, Sq, T};
    int yrank = q.packed ? 3 : 4;
    if (q.packed) ydims[0] = B, ydims[1] = Sq, ydims[2] = Hq * Dv;
    else ydims[0] = B, ydims[1] = Hq, ydims[2] = Sq, ydims[3] = Dv;
    LO_TRY(lo_output(ctx, 0, dt, yrank, ydims));
    LO_TRY(lo_output(ctx, 1, dt, 4, kd));
    LO_TRY(lo_output(ctx, 2, dt, 4, vd));
    LO_TRY(lo_output(ctx, 3, dt, 4, qkd));
    /* present key / value: the past followed by the new entries */
    for (int which = 0; which < 2; which++) {
        if (!has_out(ctx, 1 + which)) continue;
        const heads_view *nv = which ? &v : &k;
        const lo_tensor *past = which ? pv : pk;
        int64_t dd = which ? Dv : D;
        for (int64_t b = 0; b < B; b++)
            for (int64_t h = 0; h < Hk; h++)
                for (int64_t j = 0; j < T; j++)
                    for (int64_t d = 0; d < dd; d++) {
                        double val = j < P ? lo_get_f64(past, ((b * Hk + h) * P + j) * dd + d)
                                           : lo_get_f64(nv->t, heads_at(nv, b, h, j - P, d));
                        lo_set_f64(ctx->out[1 + which], ((b * Hk + h) * T + j) * dd + d, val);
                    }
    }
    double scale = p->scale != 0 ? p->scale : 1.0 / sqrt((double)D);
    /* bfloat16 runs round every intermediate to bfloat16 (dot products
     * accumulated in float32), as the specification's reference does: with
     * 8 mantissa bits the rounding points decide the result's last bit. */
    bool bf = dt == LO_BFLOAT16;
    double sq = bf ? bf16_round(sqrt(scale)) : sqrt(scale);
    void *heap;
    double *row = work_buffer(ctx, (size_t)(3 * T + 1) * sizeof(double), &heap);
    if (!row) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
    double *bias = row + T, *prob = bias + T;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < Hq; h++) {
            int64_t hk = h / (Hq / Hk);
            for (int64_t i = 0; i < Sq; i++) {
                int64_t offset = !pk && nonpad ? lo_get_i64(nonpad, b) - Sq : P;
                bool all_masked = true;
                for (int64_t j = 0; j < T; j++) {
                    double bv = 0;
                    if (mask) {
                        if (j >= mlast) bv = -INFINITY;
                        else {
                            int64_t mi = (mdims[0] > 1 ? b : 0) * mstr[0] + (mdims[1] > 1 ? h : 0) * mstr[1] +
                                         (mdims[2] > 1 ? i : 0) * mstr[2] + j;
                            if (mask->dtype == LO_BOOL) bv = ((const uint8_t *)mask->data)[mi] ? 0 : -INFINITY;
                            else bv = lo_get_f64(mask, mi);
                        }
                    }
                    if (p->causal && j > i + offset) bv = -INFINITY;
                    if (p->left_window >= 0 || p->right_window >= 0) {
                        int64_t diff = i + offset - j;
                        if ((p->left_window >= 0 && diff > p->left_window) ||
                            (p->right_window >= 0 && -diff > p->right_window))
                            bv = -INFINITY;
                    }
                    if (nonpad && j >= lo_get_i64(nonpad, b)) bv = -INFINITY;
                    bias[j] = bv;
                    if (!(isinf(bv) && bv < 0)) all_masked = false;
                    double dot = 0;
                    float dotf = 0;
                    for (int64_t d = 0; d < D; d++) {
                        double kv = j < P ? lo_get_f64(pk, ((b * Hk + hk) * P + j) * D + d)
                                          : lo_get_f64(k.t, heads_at(&k, b, hk, j - P, d));
                        double qv = lo_get_f64(q.t, heads_at(&q, b, h, i, d));
                        if (bf) dotf += (float)(bf16_round(qv * sq) * bf16_round(kv * sq));
                        else dot += qv * kv;
                    }
                    double sc = bf ? bf16_round(dotf) : dot * scale;
                    if (p->softcap > 0) sc = p->softcap * tanh(sc / p->softcap);
                    row[j] = sc;
                }
                double mx = -INFINITY, sum = 0;
                for (int64_t j = 0; j < T; j++) mx = fmax(mx, bf ? bf16_round(row[j] + bias[j]) : row[j] + bias[j]);
                for (int64_t j = 0; j < T; j++) {
                    double xb = bf ? bf16_round(row[j] + bias[j]) : row[j] + bias[j];
                    double sm = isinf(mx) && mx < 0 ? 0 : mx;
                    prob[j] = bf ? bf16_round(expf((float)bf16_round(xb - sm))) : exp(xb - sm);
                    sum = bf ? bf16_round(sum + prob[j]) : sum + prob[j];
                }
                if (sum == 0) sum = 1;
                for (int64_t j = 0; j < T; j++)
                    prob[j] = all_masked ? 0 : bf ? bf16_round(prob[j] / sum) : prob[j] / sum;
                if (has_out(ctx, 3))
                    for (int64_t j = 0; j < T; j++) {
                        double o = p->qk_mode == 2 ? row[j] + bias[j] : p->qk_mode == 3 ? prob[j] : row[j];
                        lo_set_f64(ctx->out[3], ((b * Hq + h) * Sq + i) * T + j, o);
                    }
                if (!has_out(ctx, 0)) continue;
                for (int64_t d = 0; d < Dv; d++) {
                    double acc = 0;
                    float accf = 0;
                    for (int64_t j = 0; j < T; j++) {
                        if (prob[j] == 0) continue;
                        double vv = j < P ? lo_get_f64(pv, ((b * Hk + hk) * P + j) * Dv + d)
                                          : lo_get_f64(v.t, heads_at(&v, b, hk, j - P, d));
                        if (bf) accf += (float)(prob[j] * vv);
                        else acc += prob[j] * vv;
                    }
                    int64_t at = q.packed ? (b * Sq + i) * (Hq * Dv) + h * Dv + d : ((b * Hq + h) * Sq + i) * Dv + d;
                    lo_set_f64(ctx->out[0], at, bf ? accf : acc);
                }
            }
        }
    free(heap);
    return LO_OK;
}

const lo_op_def lo_ops_llm_attention[] = {
    {"", "Attention", 23, LO_OPSET_MAX, attn_prepare, attn_run, NULL, 0},
    {0},
};
