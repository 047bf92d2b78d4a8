/* Binarizer, ArrayFeatureExtractor, LabelEncoder, TreeEnsemble. */
#include <ctype.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../helpers.h"

/* ---- ai.onnx.ml: Binarizer, ArrayFeatureExtractor, LabelEncoder, TreeEnsemble ------------- */

static lo_status binarizer_run(lo_kernel_ctx *ctx) {
    LO_CHECK(ctx, has_in(ctx, 0), "X is required");
    const lo_tensor *x = ctx->in[0];
    LO_CHECK(ctx, float_type(x->dtype) || lo_dtype_is_int(x->dtype), "X of type %s", lo_dtype_name(x->dtype));
    double thr = lo_attr_float(ctx->node, "threshold", 0);
    LO_TRY(lo_output(ctx, 0, x->dtype, x->rank, x->dims));
    if (has_out(ctx, 0))
        for (int64_t i = 0; i < lo_numel(x); i++) lo_set_f64(ctx->out[0], i, lo_get_f64(x, i) > thr ? 1 : 0);
    return LO_OK;
}

static lo_status array_feature_extractor_run(lo_kernel_ctx *ctx) {
    LO_CHECK(ctx, has_in(ctx, 0) && has_in(ctx, 1), "X and Y are required");
    const lo_tensor *x = ctx->in[0], *idx = ctx->in[1];
    LO_CHECK(ctx, x->rank >= 1 && lo_dtype_is_int(idx->dtype), "X must have rank >= 1, Y integer indices");
    int64_t n = lo_numel(idx), last = x->dims[x->rank - 1], rows = lo_numel(x) / (last ? last : 1);
    int64_t dims[LO_MAX_RANK];
    int rank;
    if (x->rank == 1) rank = 2, dims[0] = 1, dims[1] = n;
    else {
        rank = x->rank;
        memcpy(dims, x->dims, sizeof dims);
        dims[rank - 1] = n;
    }
    for (int64_t k = 0; k < n; k++) {
        int64_t j = lo_get_i64(idx, k);
        LO_CHECK(ctx, j >= 0 && j < last, "index %lld out of range [0, %lld)", (long long)j, (long long)last);
    }
    LO_TRY(lo_output(ctx, 0, x->dtype, rank, dims));
    if (!has_out(ctx, 0)) return LO_OK;
    size_t es = lo_dtype_size(x->dtype);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t k = 0; k < n; k++) {
            int64_t j = lo_get_i64(idx, k);
            if (x->dtype == LO_STRING) {
                const char *str = ((char *const *)x->data)[r * last + j];
                ((char **)ctx->out[0]->data)[r * n + k] = lo_strdup(str ? str : "");
            } else {
                memcpy((char *)ctx->out[0]->data + (size_t)(r * n + k) * es, (const char *)x->data + (size_t)(r * last + j) * es, es);
            }
        }
    return LO_OK;
}

/* A list attribute of LabelEncoder in any of its spellings: NAME_floats,
 * NAME_int64s, NAME_strings or NAME_tensor. */
typedef struct le_list {
    int64_t n;
    lo_dtype dtype; /* FLOAT, INT64, STRING, or the tensor's */
    const float *f;
    const int64_t *i;
    char **s;
    const lo_tensor *t;
} le_list;

static bool le_find(const lo_node *node, const char *prefix, le_list *l) {
    char name[64];
    memset(l, 0, sizeof *l);
    snprintf(name, sizeof name, "%s_floats", prefix);
    if ((l->f = lo_attr_floats(node, name, &l->n))) return l->dtype = LO_FLOAT, true;
    snprintf(name, sizeof name, "%s_int64s", prefix);
    if ((l->i = lo_attr_ints(node, name, &l->n))) return l->dtype = LO_INT64, true;
    snprintf(name, sizeof name, "%s_strings", prefix);
    const lo_attr *a = lo_attr_find(node, name);
    if (a && a->type == LO_ATTR_STRINGS) return l->s = a->strings, l->n = a->n, l->dtype = LO_STRING, true;
    snprintf(name, sizeof name, "%s_tensor", prefix);
    a = lo_attr_find(node, name);
    if (a && a->type == LO_ATTR_TENSOR && a->tensor)
        return l->t = a->tensor, l->n = lo_numel(a->tensor), l->dtype = a->tensor->dtype, true;
    return false;
}

static const char *le_str(const le_list *l, int64_t k) {
    if (l->s) return l->s[k];
    const char *s = l->t && l->t->dtype == LO_STRING ? ((char *const *)l->t->data)[k] : NULL;
    return s ? s : "";
}

static double le_num(const le_list *l, int64_t k) {
    return l->f ? l->f[k] : l->i ? (double)l->i[k] : lo_get_f64(l->t, k);
}

static lo_status label_encoder_run(lo_kernel_ctx *ctx) {
    LO_CHECK(ctx, has_in(ctx, 0), "X is required");
    const lo_tensor *x = ctx->in[0];
    le_list keys, vals;
    LO_CHECK(ctx, le_find(ctx->node, "keys", &keys) && le_find(ctx->node, "values", &vals) && keys.n == vals.n,
             "keys and values of the same length are required");
    LO_CHECK(ctx, (keys.dtype == LO_STRING) == (x->dtype == LO_STRING), "X's type %s does not match the keys",
             lo_dtype_name(x->dtype));
    lo_dtype ot = vals.dtype;
    const lo_attr *dt = lo_attr_find(ctx->node, "default_tensor");
    if (dt && (dt->type != LO_ATTR_TENSOR || !dt->tensor || lo_numel(dt->tensor) < 1 ||
               (dt->tensor->dtype == LO_STRING) != (ot == LO_STRING)))
        return lo_kernel_fail(ctx, LO_ERR_MODEL, "default_tensor does not match the values' type");
    LO_TRY(lo_output(ctx, 0, ot, x->rank, x->dims));
    if (!has_out(ctx, 0)) return LO_OK;
    for (int64_t i = 0; i < lo_numel(x); i++) {
        int64_t hit = -1;
        for (int64_t k = 0; k < keys.n && hit < 0; k++) {
            if (x->dtype == LO_STRING) {
                const char *s = ((char *const *)x->data)[i];
                if (!strcmp(s ? s : "", le_str(&keys, k))) hit = k;
            } else {
                double a = lo_get_f64(x, i), b = le_num(&keys, k);
                if (a == b || (isnan(a) && isnan(b))) hit = k;
            }
        }
        if (ot == LO_STRING) {
            const char *v = hit >= 0 ? le_str(&vals, hit)
                            : dt && dt->tensor && dt->tensor->dtype == LO_STRING ? ((char *const *)dt->tensor->data)[0]
                                                                                 : lo_attr_string(ctx->node, "default_string", "_Unused");
            ((char **)ctx->out[0]->data)[i] = lo_strdup(v ? v : "");
        } else {
            double v = hit >= 0 ? le_num(&vals, hit)
                       : dt && dt->tensor ? lo_get_f64(dt->tensor, 0)
                       : ot == LO_FLOAT ? lo_attr_float(ctx->node, "default_float", -0.0f)
                                        : (double)lo_attr_int(ctx->node, "default_int64", -1);
            lo_set_f64(ctx->out[0], i, v);
        }
    }
    return LO_OK;
}

/* TreeEnsemble (ai.onnx.ml 5): trees of comparison nodes; each row takes
 * one leaf per tree and the leaves' weights aggregate per target. */
static double attr_tensor_f64(const lo_node *n, const char *name, int64_t k, int64_t *count) {
    const lo_attr *a = lo_attr_find(n, name);
    if (!a || a->type != LO_ATTR_TENSOR || !a->tensor) {
        if (count) *count = 0;
        return 0;
    }
    if (count) *count = lo_numel(a->tensor);
    return k < lo_numel(a->tensor) ? lo_get_f64(a->tensor, k) : 0;
}

static lo_status tree_ensemble_run(lo_kernel_ctx *ctx) {
    LO_TRY(need_float_in(ctx, 0, "X"));
    const lo_tensor *x = ctx->in[0];
    const lo_node *nd = ctx->node;
    LO_CHECK(ctx, x->rank == 2, "X must be [N, F]");
    int64_t n_nodes, n_feat, n_modes, n_tn, n_fn, n_tl, n_fl, n_lt, n_roots, n_leaves, n_members, n_splits, n_miss;
    const int64_t *feat = lo_attr_ints(nd, "nodes_featureids", &n_feat);
    const lo_attr *modes_a = lo_attr_find(nd, "nodes_modes");
    const int64_t *tn = lo_attr_ints(nd, "nodes_truenodeids", &n_tn), *fn = lo_attr_ints(nd, "nodes_falsenodeids", &n_fn);
    const int64_t *tl = lo_attr_ints(nd, "nodes_trueleafs", &n_tl), *fl = lo_attr_ints(nd, "nodes_falseleafs", &n_fl);
    const int64_t *lt = lo_attr_ints(nd, "leaf_targetids", &n_lt), *roots = lo_attr_ints(nd, "tree_roots", &n_roots);
    const int64_t *miss = lo_attr_ints(nd, "nodes_missing_value_tracks_true", &n_miss);
    attr_tensor_f64(nd, "leaf_weights", 0, &n_leaves);
    attr_tensor_f64(nd, "nodes_splits", 0, &n_splits);
    attr_tensor_f64(nd, "membership_values", 0, &n_members);
    n_modes = modes_a && modes_a->type == LO_ATTR_TENSOR && modes_a->tensor ? lo_numel(modes_a->tensor) : 0;
    n_nodes = n_feat;
    LO_CHECK(ctx, n_nodes > 0 && n_modes == n_nodes && n_tn == n_nodes && n_fn == n_nodes && n_tl == n_nodes &&
                      n_fl == n_nodes && n_splits == n_nodes && n_lt == n_leaves && n_roots > 0,
             "inconsistent tree attributes");
    int64_t targets = lo_attr_int(nd, "n_targets", 1), agg = lo_attr_int(nd, "aggregate_function", 1);
    LO_CHECK(ctx, lo_attr_int(nd, "post_transform", 0) == 0, "post_transform is not supported");
    LO_CHECK(ctx, agg >= 0 && agg <= 3, "aggregate_function %lld", (long long)agg);
    int64_t N = x->dims[0], F = x->dims[1], dims[2] = {N, targets};
    /* the structure is checked once, so the walk below cannot leave it */
    for (int64_t k = 0; k < n_nodes; k++) {
        LO_CHECK(ctx, feat[k] >= 0 && feat[k] < F, "node %lld reads feature %lld of %lld", (long long)k,
                 (long long)feat[k], (long long)F);
        LO_CHECK(ctx, tn[k] >= 0 && tn[k] < (tl[k] ? n_leaves : n_nodes) && fn[k] >= 0 &&
                          fn[k] < (fl[k] ? n_leaves : n_nodes),
                 "node %lld points outside the tree", (long long)k);
    }
    for (int64_t k = 0; k < n_leaves; k++)
        LO_CHECK(ctx, lt[k] >= 0 && lt[k] < targets, "leaf %lld has target %lld of %lld", (long long)k,
                 (long long)lt[k], (long long)targets);
    for (int64_t k = 0; k < n_roots; k++)
        LO_CHECK(ctx, roots[k] >= 0 && roots[k] < n_nodes, "tree root %lld out of range", (long long)roots[k]);
    /* members of MEMBER nodes: consecutive NaN-terminated runs, in node order */
    int64_t *member_start = calloc((size_t)n_nodes + 1, sizeof *member_start);
    if (!member_start) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
    for (int64_t k = 0, at = 0; k < n_nodes; k++) {
        member_start[k] = at;
        if ((int64_t)lo_get_f64(modes_a->tensor, k) == 6)
            while (at < n_members && !isnan(attr_tensor_f64(nd, "membership_values", at++, NULL))) {}
    }
    lo_status st = lo_output(ctx, 0, x->dtype, 2, dims);
    for (int64_t r = 0; st == LO_OK && has_out(ctx, 0) && r < N; r++) {
        for (int64_t t = 0; t < targets; t++)
            lo_set_f64(ctx->out[0], r * targets + t, agg == 2 ? INFINITY : agg == 3 ? -INFINITY : 0);
        double *acc = malloc((size_t)targets * sizeof *acc);
        if (!acc) {
            st = lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
            break;
        }
        for (int64_t t = 0; t < targets; t++) acc[t] = agg == 2 ? INFINITY : agg == 3 ? -INFINITY : 0;
        for (int64_t tr = 0; tr < n_roots && st == LO_OK; tr++) {
            int64_t cur = roots[tr];
            bool leaf = tl[cur] && fl[cur] && tn[cur] == fn[cur];
            if (leaf) cur = tn[cur];
            for (int64_t steps = 0; !leaf; steps++) {
                if (steps > n_nodes) { /* a cycle */
                    st = lo_kernel_fail(ctx, LO_ERR_MODEL, "tree %lld has a cycle", (long long)tr);
                    break;
                }
                double v = lo_get_f64(x, r * F + feat[cur]), sp = attr_tensor_f64(nd, "nodes_splits", cur, NULL);
                int mode = (int)lo_get_f64(modes_a->tensor, cur);
                bool go;
                switch (mode) {
                case 0: go = v <= sp; break;
                case 1: go = v < sp; break;
                case 2: go = v >= sp; break;
                case 3: go = v > sp; break;
                case 4: go = v == sp; break;
                case 5: go = v != sp; break;
                default: {
                    go = false;
                    for (int64_t at = member_start[cur]; at < n_members; at++) {
                        double mv = attr_tensor_f64(nd, "membership_values", at, NULL);
                        if (isnan(mv)) break;
                        if (mv == v) go = true;
                    }
                }
                }
                if (isnan(v) && miss && cur < n_miss && miss[cur]) go = true;
                leaf = go ? tl[cur] : fl[cur];
                cur = go ? tn[cur] : fn[cur];
            }
            if (st != LO_OK) break;
            double w = attr_tensor_f64(nd, "leaf_weights", cur, NULL);
            double *a = &acc[lt[cur]];
            if (agg == 0) *a += w / (double)n_roots;
            else if (agg == 1) *a += w;
            else if (agg == 2) *a = fmin(*a, w);
            else *a = fmax(*a, w);
        }
        for (int64_t t = 0; t < targets; t++) {
            double v = acc[t];
            if (isinf(v)) v = agg == 2 ? 3.4028234663852886e38 : -3.4028234663852886e38;
            lo_set_f64(ctx->out[0], r * targets + t, v);
        }
        free(acc);
    }
    free(member_start);
    return st;
}

const lo_op_def lo_ops_ml[] = {
    {"ai.onnx.ml", "Binarizer", 1, 5, NULL, binarizer_run, NULL, 0},
    {"ai.onnx.ml", "ArrayFeatureExtractor", 1, 5, NULL, array_feature_extractor_run, NULL, 0},
    {"ai.onnx.ml", "LabelEncoder", 2, 5, NULL, label_encoder_run, NULL, 0},
    {"ai.onnx.ml", "TreeEnsemble", 5, 5, NULL, tree_ensemble_run, NULL, 0},
    {0},
};
