/* The recurrent ops: RNN, GRU, LSTM. Each step is two float32 GEMMs (input
 * and hidden state against their weights, src/ops/math/gemm.h) and the gate
 * activations. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../math/gemm.h"

/* ---- RNN, GRU, LSTM ----------------------------------------------------- */

typedef enum act_kind {
    ACT_SIGMOID, ACT_TANH, ACT_RELU, ACT_AFFINE, ACT_LEAKY_RELU, ACT_THRESHOLDED_RELU,
    ACT_SCALED_TANH, ACT_HARD_SIGMOID, ACT_ELU, ACT_SOFTSIGN, ACT_SOFTPLUS
} act_kind;

typedef struct activation {
    act_kind kind;
    float alpha, beta;
} activation;

static const struct {
    const char *name;
    act_kind kind;
    bool has_alpha, has_beta;
    float alpha, beta;
} act_table[] = {
    {"sigmoid", ACT_SIGMOID, false, false, 0, 0},
    {"tanh", ACT_TANH, false, false, 0, 0},
    {"relu", ACT_RELU, false, false, 0, 0},
    {"affine", ACT_AFFINE, true, true, 1.0f, 0.0f},
    {"leakyrelu", ACT_LEAKY_RELU, true, false, 0.01f, 0},
    {"thresholdedrelu", ACT_THRESHOLDED_RELU, true, false, 1.0f, 0},
    {"scaledtanh", ACT_SCALED_TANH, true, true, 1.0f, 1.0f},
    {"hardsigmoid", ACT_HARD_SIGMOID, true, true, 0.2f, 0.5f},
    {"elu", ACT_ELU, true, false, 1.0f, 0},
    {"softsign", ACT_SOFTSIGN, false, false, 0, 0},
    {"softplus", ACT_SOFTPLUS, false, false, 0, 0},
};

static inline float act_apply(const activation *a, float x) {
    switch (a->kind) {
    case ACT_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case ACT_TANH: return tanhf(x);
    case ACT_RELU: return x > 0 ? x : 0;
    case ACT_AFFINE: return a->alpha * x + a->beta;
    case ACT_LEAKY_RELU: return x >= 0 ? x : a->alpha * x;
    case ACT_THRESHOLDED_RELU: return x > a->alpha ? x : 0;
    case ACT_SCALED_TANH: return a->alpha * tanhf(a->beta * x);
    case ACT_HARD_SIGMOID: {
        float v = a->alpha * x + a->beta;
        return v < 0 ? 0 : v > 1 ? 1 : v;
    }
    case ACT_ELU: return x >= 0 ? x : a->alpha * (expf(x) - 1);
    case ACT_SOFTSIGN: return x / (1 + fabsf(x));
    case ACT_SOFTPLUS: return x > 30 ? x : log1pf(expf(x));
    }
    return x;
}

typedef enum rnn_kind { RNN_SIMPLE, RNN_GRU, RNN_LSTM } rnn_kind;

typedef struct rnn_params {
    rnn_kind kind;
    int gates;     /* 1, 3 or 4 blocks of hidden_size rows in W and R */
    int n_act;     /* activations per direction */
    int64_t hidden_size; /* 0: from R's shape */
    int num_dir;
    bool reverse; /* direction "reverse" (one direction) */
    int layout;
    bool has_clip;
    float clip;
    bool linear_before_reset, input_forget;
    activation act[6];
} rnn_params;

static bool name_eq_nocase(const char *a, const char *b) {
    for (; *a && *b; a++, b++) {
        char x = *a >= 'A' && *a <= 'Z' ? (char)(*a + 32) : *a;
        if (x != *b) return false;
    }
    return *a == *b;
}

static lo_status rnn_prepare_kind(const lo_node *node, void **params, lo_error *err, rnn_kind kind) {
    rnn_params *p = lo_calloc(1, sizeof *p, err);
    if (!p) return LO_ERR_NOMEM;
    p->kind = kind;
    p->gates = kind == RNN_SIMPLE ? 1 : kind == RNN_GRU ? 3 : 4;
    p->n_act = kind == RNN_SIMPLE ? 1 : kind == RNN_GRU ? 2 : 3;
    p->hidden_size = lo_attr_int(node, "hidden_size", 0);
    p->layout = (int)lo_attr_int(node, "layout", 0);
    p->linear_before_reset = lo_attr_int(node, "linear_before_reset", 0) != 0;
    p->input_forget = lo_attr_int(node, "input_forget", 0) != 0;
    const lo_attr *clip = lo_attr_find(node, "clip");
    p->has_clip = clip != NULL;
    p->clip = clip ? clip->f : 0;
    const char *dir = lo_attr_string(node, "direction", "forward");
    const char *why = NULL;
    if (strcmp(dir, "forward") == 0) {
        p->num_dir = 1;
    } else if (strcmp(dir, "reverse") == 0) {
        p->num_dir = 1;
        p->reverse = true;
    } else if (strcmp(dir, "bidirectional") == 0) {
        p->num_dir = 2;
    } else {
        why = "direction must be forward, reverse or bidirectional";
    }
    if (!why && p->layout != 0 && p->layout != 1) why = "layout must be 0 or 1";
    if (!why && p->hidden_size < 0) why = "negative hidden_size";
    if (!why && p->has_clip && !(p->clip > 0)) why = "clip must be positive";
    static const act_kind defaults[3][3] = {
        {ACT_TANH}, {ACT_SIGMOID, ACT_TANH}, {ACT_SIGMOID, ACT_TANH, ACT_TANH}};
    int64_t n_names = 0, n_alpha = 0, n_beta = 0, used_alpha = 0, used_beta = 0;
    const lo_attr *names = lo_attr_find(node, "activations");
    if (names && names->type == LO_ATTR_STRINGS) n_names = names->n;
    const float *alphas = lo_attr_floats(node, "activation_alpha", &n_alpha);
    const float *betas = lo_attr_floats(node, "activation_beta", &n_beta);
    int total = p->n_act * (p->num_dir ? p->num_dir : 1);
    if (!why && n_names && n_names != p->n_act && n_names != total)
        why = "activations must list one function per gate and direction";
    for (int k = 0; !why && k < total; k++) {
        activation *a = &p->act[k];
        if (!n_names) {
            a->kind = defaults[kind][k % p->n_act];
            continue;
        }
        const char *nm = names->strings[k % n_names];
        size_t t = 0;
        while (t < sizeof act_table / sizeof act_table[0] && !name_eq_nocase(nm, act_table[t].name)) t++;
        if (t == sizeof act_table / sizeof act_table[0]) {
            free(p);
            return lo_fail(err, LO_ERR_UNSUPPORTED, "node '%s' (%s): activation '%s' is not supported",
                           node->name, node->op_type, nm);
        }
        a->kind = act_table[t].kind;
        a->alpha = act_table[t].alpha;
        a->beta = act_table[t].beta;
        if (act_table[t].has_alpha && used_alpha < n_alpha) a->alpha = alphas[used_alpha++];
        if (act_table[t].has_beta && used_beta < n_beta) a->beta = betas[used_beta++];
    }
    if (why) {
        free(p);
        return lo_fail(err, LO_ERR_UNSUPPORTED, "node '%s' (%s): %s", node->name, node->op_type, why);
    }
    *params = p;
    return LO_OK;
}

static lo_status rnn_prepare(const lo_node *node, void **params, lo_error *err) {
    return rnn_prepare_kind(node, params, err, RNN_SIMPLE);
}
static lo_status gru_prepare(const lo_node *node, void **params, lo_error *err) {
    return rnn_prepare_kind(node, params, err, RNN_GRU);
}
static lo_status lstm_prepare(const lo_node *node, void **params, lo_error *err) {
    return rnn_prepare_kind(node, params, err, RNN_LSTM);
}

/* Copies any float tensor into a float32 buffer. */
static void to_f32(const lo_tensor *t, float *dst) {
    int64_t n = lo_numel(t);
    if (t->dtype == LO_FLOAT)
        memcpy(dst, t->data, (size_t)n * sizeof(float));
    else
        for (int64_t i = 0; i < n; i++) dst[i] = (float)lo_get_f64(t, i);
}

static inline float clipf(float x, const rnn_params *p) {
    if (!p->has_clip) return x;
    return x < -p->clip ? -p->clip : x > p->clip ? p->clip : x;
}

/* The working set of one run, all float32, X in [seq, batch, input]. */
typedef struct rnn_work {
    int64_t S, Bt, I, H;
    const float *x;
    const float *w, *r, *bias, *peep; /* per-direction blocks */
    const int32_t *lens;
    float *xw;     /* [S*Bt, G*H] */
    float *hr;     /* [Bt, G*H] */
    float *h, *c;  /* [Bt, H] */
    float *rh;     /* GRU: r (.) h, [Bt, H] */
    float *y;      /* [S, num_dir, Bt, H] or NULL */
    bool ref;      /* the context's choice of the reference GEMM */
} rnn_work;

static void rnn_direction(const rnn_params *p, rnn_work *w, int dir, bool reverse) {
    int64_t S = w->S, Bt = w->Bt, I = w->I, H = w->H, G = p->gates;
    const float *W = w->w + dir * G * H * I, *R = w->r + dir * G * H * H;
    const float *bias = w->bias ? w->bias + dir * 2 * G * H : NULL;
    const float *P = w->peep ? w->peep + dir * 3 * H : NULL;
    const activation *act = &p->act[(p->num_dir == 2 ? dir : 0) * p->n_act];
    /* Input projections of every step at once: the bulk of the work. */
    lo_gemm_f32(w->ref, false, true, S * Bt, G * H, I, 1.0f, w->x, I, W, I, 0.0f, w->xw, G * H);
    if (bias) {
        bool gru = p->kind == RNN_GRU;
        for (int64_t row = 0; row < S * Bt; row++)
            for (int64_t k = 0; k < G * H; k++) {
                /* GRU keeps Rb of the hidden gate apart: it is scaled by r */
                float b = bias[k] + (gru && k >= 2 * H ? 0.0f : bias[G * H + k]);
                w->xw[row * G * H + k] += b;
            }
    }
    int64_t max_len = 0;
    for (int64_t b = 0; b < Bt; b++) {
        int64_t len = w->lens ? w->lens[b] : S;
        if (len > max_len) max_len = len;
    }
    for (int64_t s = 0; s < max_len; s++) {
        if (p->kind == RNN_GRU) {
            lo_gemm_f32(w->ref, false, true, Bt, 2 * H, H, 1.0f, w->h, H, R, H, 0.0f, w->hr, G * H);
            if (p->linear_before_reset)
                lo_gemm_f32(w->ref, false, true, Bt, H, H, 1.0f, w->h, H, R + 2 * H * H, H, 0.0f, w->hr + 2 * H, G * H);
        } else {
            lo_gemm_f32(w->ref, false, true, Bt, G * H, H, 1.0f, w->h, H, R, H, 0.0f, w->hr, G * H);
        }
        for (int64_t b = 0; b < Bt; b++) {
            int64_t len = w->lens ? w->lens[b] : S;
            if (s >= len) continue;
            int64_t t = reverse ? len - 1 - s : s;
            const float *xw = w->xw + (t * Bt + b) * G * H;
            float *hr = w->hr + b * G * H, *h = w->h + b * H;
            if (p->kind == RNN_SIMPLE) {
                for (int64_t k = 0; k < H; k++) h[k] = act_apply(&act[0], clipf(xw[k] + hr[k], p));
            } else if (p->kind == RNN_LSTM) {
                float *c = w->c + b * H;
                for (int64_t k = 0; k < H; k++) {
                    float cp = c[k];
                    float gi = xw[k] + hr[k], go = xw[H + k] + hr[H + k];
                    float gf = xw[2 * H + k] + hr[2 * H + k], gc = xw[3 * H + k] + hr[3 * H + k];
                    if (P) {
                        gi += P[k] * cp;
                        gf += P[2 * H + k] * cp;
                    }
                    float i = act_apply(&act[0], clipf(gi, p));
                    float f = p->input_forget ? 1.0f - i : act_apply(&act[0], clipf(gf, p));
                    float cc = act_apply(&act[1], clipf(gc, p));
                    float cn = f * cp + i * cc;
                    if (P) go += P[H + k] * cn;
                    float o = act_apply(&act[0], clipf(go, p));
                    c[k] = cn;
                    h[k] = o * act_apply(&act[2], cn);
                }
            } else { /* GRU: z, r first; r shapes the hidden gate */
                float *rh = w->rh + b * H;
                for (int64_t k = 0; k < H; k++) {
                    float z = act_apply(&act[0], clipf(xw[k] + hr[k], p));
                    float r = act_apply(&act[0], clipf(xw[H + k] + hr[H + k], p));
                    hr[k] = z; /* keep z for the update below */
                    rh[k] = p->linear_before_reset ? r : r * h[k];
                }
            }
        }
        if (p->kind == RNN_GRU) {
            if (!p->linear_before_reset)
                lo_gemm_f32(w->ref, false, true, Bt, H, H, 1.0f, w->rh, H, R + 2 * H * H, H, 0.0f, w->hr + 2 * H, G * H);
            for (int64_t b = 0; b < Bt; b++) {
                int64_t len = w->lens ? w->lens[b] : S;
                if (s >= len) continue;
                int64_t t = reverse ? len - 1 - s : s;
                const float *xw = w->xw + (t * Bt + b) * G * H;
                const float *hr = w->hr + b * G * H, *rh = w->rh + b * H;
                float *h = w->h + b * H;
                for (int64_t k = 0; k < H; k++) {
                    float rb = bias ? bias[G * H + 2 * H + k] : 0.0f;
                    float pre = p->linear_before_reset ? xw[2 * H + k] + rh[k] * (hr[2 * H + k] + rb)
                                                       : xw[2 * H + k] + hr[2 * H + k] + rb;
                    float hh = act_apply(&act[1], clipf(pre, p));
                    float z = hr[k];
                    h[k] = (1 - z) * hh + z * h[k];
                }
            }
        }
        if (w->y)
            for (int64_t b = 0; b < Bt; b++) {
                int64_t len = w->lens ? w->lens[b] : S;
                if (s >= len) continue;
                int64_t t = reverse ? len - 1 - s : s;
                memcpy(w->y + ((t * p->num_dir + dir) * Bt + b) * H, w->h + b * H, (size_t)H * sizeof(float));
            }
    }
}

static lo_status rnn_run(lo_kernel_ctx *ctx) {
    const rnn_params *p = ctx->params;
    bool lstm = p->kind == RNN_LSTM;
    LO_CHECK(ctx, ctx->n_in >= 3 && ctx->in[0] && ctx->in[1] && ctx->in[2], "needs inputs X, W and R");
    const lo_tensor *X = ctx->in[0], *W = ctx->in[1], *R = ctx->in[2];
    const lo_tensor *Bi = ctx->n_in > 3 ? ctx->in[3] : NULL, *SL = ctx->n_in > 4 ? ctx->in[4] : NULL;
    const lo_tensor *H0 = ctx->n_in > 5 ? ctx->in[5] : NULL;
    const lo_tensor *C0 = lstm && ctx->n_in > 6 ? ctx->in[6] : NULL;
    const lo_tensor *Pp = lstm && ctx->n_in > 7 ? ctx->in[7] : NULL;
    lo_dtype dt = X->dtype;
    if (dt != LO_FLOAT && dt != LO_DOUBLE && dt != LO_FLOAT16 && dt != LO_BFLOAT16)
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "element type %s", lo_dtype_name(dt));
    LO_CHECK(ctx, X->rank == 3 && W->rank == 3 && R->rank == 3, "X, W and R must be 3-D");
    int64_t nd = p->num_dir, G = p->gates;
    int64_t S = p->layout ? X->dims[1] : X->dims[0], Bt = p->layout ? X->dims[0] : X->dims[1];
    int64_t I = X->dims[2];
    int64_t H = p->hidden_size ? p->hidden_size : R->dims[2];
    char sh[128];
    LO_CHECK(ctx, W->dims[0] == nd && W->dims[1] == G * H && W->dims[2] == I, "W has shape %s",
             lo_shape_str(W->rank, W->dims, sh, sizeof sh));
    LO_CHECK(ctx, R->dims[0] == nd && R->dims[1] == G * H && R->dims[2] == H, "R has shape %s",
             lo_shape_str(R->rank, R->dims, sh, sizeof sh));
    LO_CHECK(ctx, !Bi || (Bi->rank == 2 && Bi->dims[0] == nd && Bi->dims[1] == 2 * G * H), "B has shape %s",
             Bi ? lo_shape_str(Bi->rank, Bi->dims, sh, sizeof sh) : "");
    LO_CHECK(ctx, !Pp || (Pp->rank == 2 && Pp->dims[0] == nd && Pp->dims[1] == 3 * H), "P has shape %s",
             Pp ? lo_shape_str(Pp->rank, Pp->dims, sh, sizeof sh) : "");
    const lo_tensor *states[2] = {H0, C0};
    for (int k = 0; k < 2; k++) {
        const lo_tensor *st = states[k];
        if (!st) continue;
        int64_t e0 = p->layout ? Bt : nd, e1 = p->layout ? nd : Bt;
        LO_CHECK(ctx, st->rank == 3 && st->dims[0] == e0 && st->dims[1] == e1 && st->dims[2] == H,
                 "initial state has shape %s", lo_shape_str(st->rank, st->dims, sh, sizeof sh));
    }
    LO_CHECK(ctx, !SL || (SL->rank == 1 && SL->dims[0] == Bt && lo_dtype_is_int(SL->dtype)),
             "sequence_lens must be an integer vector of the batch size");

    int64_t ydims[4], hdims[3];
    if (p->layout) {
        int64_t y[4] = {Bt, S, nd, H}, h[3] = {Bt, nd, H};
        memcpy(ydims, y, sizeof y);
        memcpy(hdims, h, sizeof h);
    } else {
        int64_t y[4] = {S, nd, Bt, H}, h[3] = {nd, Bt, H};
        memcpy(ydims, y, sizeof y);
        memcpy(hdims, h, sizeof h);
    }
    size_t fs = sizeof(float);
    /* x, W, R, B, P, xw, hr, h, c, y, rh, then the lengths */
    size_t need[12] = {(size_t)(S * Bt * I), (size_t)(nd * G * H * I), (size_t)(nd * G * H * H),
                       (size_t)(nd * 2 * G * H), (size_t)(nd * 3 * H), (size_t)(S * Bt * G * H),
                       (size_t)(Bt * G * H), (size_t)(nd * Bt * H), (size_t)(nd * Bt * H),
                       (size_t)(S * nd * Bt * H), (size_t)(Bt * H), (size_t)Bt};
    size_t offs[12], total = 0;
    for (int k = 0; k < 12; k++) {
        offs[k] = total;
        total += align64(need[k] * fs);
    }
    scratch_block sblock = {ctx, NULL};
    char *base = scratch_take(&sblock, total);
    if (!base) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory for %zu bytes of scratch", total);
    float *buf[11];
    for (int k = 0; k < 11; k++) buf[k] = (float *)(base + offs[k]);
    float *rh = buf[10];
    int32_t *lens = SL ? (int32_t *)(base + offs[11]) : NULL;
    memset(rh, 0, need[10] * fs);
    if (lens)
        for (int64_t b = 0; b < Bt; b++) {
            int64_t v = lo_get_i64(SL, b);
            if (v < 0 || v > S) {
                scratch_release(&sblock);
                return lo_kernel_fail(ctx, LO_ERR_INPUT, "sequence_lens[%lld] = %lld is outside [0, %lld]",
                                      (long long)b, (long long)v, (long long)S);
            }
            lens[b] = (int32_t)v;
        }

    /* X (and states) into [seq, batch, ...] order */
    float *x = buf[0];
    if (p->layout) {
        for (int64_t b = 0; b < Bt; b++)
            for (int64_t t = 0; t < S; t++)
                for (int64_t i = 0; i < I; i++) x[(t * Bt + b) * I + i] = (float)lo_get_f64(X, (b * S + t) * I + i);
    } else {
        to_f32(X, x);
    }
    to_f32(W, buf[1]);
    to_f32(R, buf[2]);
    if (Bi) to_f32(Bi, buf[3]);
    if (Pp) to_f32(Pp, buf[4]);
    float *h_all = buf[7], *c_all = buf[8], *y_all = buf[9];
    for (int k = 0; k < 2; k++) {
        const lo_tensor *st = states[k];
        float *dst = k ? c_all : h_all;
        for (int64_t d = 0; d < nd; d++)
            for (int64_t b = 0; b < Bt; b++)
                for (int64_t j = 0; j < H; j++) {
                    int64_t src = p->layout ? (b * nd + d) * H + j : (d * Bt + b) * H + j;
                    dst[(d * Bt + b) * H + j] = st ? (float)lo_get_f64(st, src) : 0.0f;
                }
    }
    memset(y_all, 0, need[9] * fs);

    for (int64_t d = 0; d < nd; d++) {
        rnn_work w = {S, Bt, I, H, x, buf[1], buf[2], Bi ? buf[3] : NULL, Pp ? buf[4] : NULL, lens,
                      buf[5], buf[6], h_all + d * Bt * H, c_all + d * Bt * H, rh, y_all, lo_use_ref(ctx)};
        rnn_direction(p, &w, (int)d, nd == 2 ? d == 1 : p->reverse);
    }

    /* outputs in the model's layout and type */
    const float *srcs[3] = {y_all, h_all, c_all};
    for (int o = 0; o < 3 && o < ctx->n_out; o++) {
        if (!ctx->out[o] || (o == 2 && !lstm)) continue;
        lo_status st = o == 0 ? lo_output(ctx, 0, dt, 4, ydims) : lo_output(ctx, o, dt, 3, hdims);
        if (st != LO_OK) {
            scratch_release(&sblock);
            return st;
        }
        lo_tensor *out = ctx->out[o];
        const float *src = srcs[o];
        int64_t n = lo_numel(out);
        for (int64_t e = 0; e < n; e++) {
            int64_t src_i = e;
            if (p->layout && o == 0) { /* [B, S, nd, H] from [S, nd, B, H] */
                int64_t j = e % H, d = e / H % nd, t = e / (H * nd) % S, b = e / (H * nd * S);
                src_i = ((t * nd + d) * Bt + b) * H + j;
            } else if (p->layout) { /* [B, nd, H] from [nd, B, H] */
                int64_t j = e % H, d = e / H % nd, b = e / (H * nd);
                src_i = (d * Bt + b) * H + j;
            }
            if (dt == LO_FLOAT)
                ((float *)out->data)[e] = src[src_i];
            else
                lo_set_f64(out, e, src[src_i]);
        }
    }
    scratch_release(&sblock);
    return LO_OK;
}

const lo_op_def lo_ops_rnn[] = {
    {"", "RNN", 1, LO_OPSET_MAX, rnn_prepare, rnn_run, NULL, LO_OP_FAST},
    {"", "GRU", 1, LO_OPSET_MAX, gru_prepare, rnn_run, NULL, LO_OP_FAST},
    {"", "LSTM", 1, LO_OPSET_MAX, lstm_prepare, rnn_run, NULL, LO_OP_FAST},
    {0},
};
