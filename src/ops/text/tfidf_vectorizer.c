/* TfIdfVectorizer. */
#include <ctype.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../helpers.h"

/* ---- TfIdfVectorizer ------------------------------------------------------------ */

typedef struct tfidf_params {
    int64_t min_gram, max_gram, max_skip;
    int mode; /* 0 TF, 1 IDF, 2 TFIDF */
    int64_t n_counts;
    const int64_t *counts;
    int64_t n_indexes;
    const int64_t *indexes;
    int64_t n_pool;
    const int64_t *pool_i;
    char **pool_s;
    int64_t n_weights;
    const float *weights;
    int64_t out_len;
} tfidf_params;

static lo_status tfidf_prepare(const lo_node *node, void **params, lo_error *err) {
    tfidf_params *p = lo_calloc(1, sizeof *p, err);
    if (!p) return LO_ERR_NOMEM;
    *params = p;
    p->min_gram = lo_attr_int(node, "min_gram_length", 1);
    p->max_gram = lo_attr_int(node, "max_gram_length", 1);
    p->max_skip = lo_attr_int(node, "max_skip_count", 0);
    const char *mode = lo_attr_string(node, "mode", "TF");
    p->mode = !strcmp(mode, "TF") ? 0 : !strcmp(mode, "IDF") ? 1 : !strcmp(mode, "TFIDF") ? 2 : -1;
    p->counts = lo_attr_ints(node, "ngram_counts", &p->n_counts);
    p->indexes = lo_attr_ints(node, "ngram_indexes", &p->n_indexes);
    p->pool_i = lo_attr_ints(node, "pool_int64s", &p->n_pool);
    const lo_attr *ps = lo_attr_find(node, "pool_strings");
    if (ps && ps->type == LO_ATTR_STRINGS) p->pool_s = ps->strings, p->n_pool = ps->n;
    p->weights = lo_attr_floats(node, "weights", &p->n_weights);
    if (p->mode < 0 || p->min_gram < 1 || p->max_gram < p->min_gram || p->max_skip < 0)
        return lo_fail(err, LO_ERR_MODEL, "node '%s' (TfIdfVectorizer): bad mode or gram lengths", node->name);
    for (int64_t i = 0; i < p->n_counts; i++)
        if (p->counts[i] < (i ? p->counts[i - 1] : 0) || p->counts[i] > p->n_pool)
            return lo_fail(err, LO_ERR_MODEL, "node '%s' (TfIdfVectorizer): ngram_counts do not fit the pool", node->name);
    for (int64_t i = 0; i < p->n_indexes; i++) {
        if (p->indexes[i] < 0 || p->indexes[i] > (1 << 30))
            return lo_fail(err, LO_ERR_MODEL, "node '%s' (TfIdfVectorizer): ngram index %lld", node->name,
                           (long long)p->indexes[i]);
        if (p->indexes[i] + 1 > p->out_len) p->out_len = p->indexes[i] + 1;
    }
    if (p->n_weights && p->n_weights != p->n_indexes)
        return lo_fail(err, LO_ERR_MODEL, "node '%s' (TfIdfVectorizer): %lld weights for %lld n-grams", node->name,
                       (long long)p->n_weights, (long long)p->n_indexes);
    return LO_OK;
}

static bool tfidf_item_eq(const tfidf_params *p, int64_t pool_at, const lo_tensor *x, int64_t xi) {
    if (p->pool_s) {
        const char *s = ((char *const *)x->data)[xi];
        return !strcmp(p->pool_s[pool_at], s ? s : "");
    }
    return p->pool_i[pool_at] == lo_get_i64(x, xi);
}

/* The ordinal of the n-gram at x[start], x[start + step], ... in the pool,
 * or -1. n-grams of length n sit from counts[n - 1] to counts[n] (items). */
static int64_t tfidf_find(const tfidf_params *p, int64_t n, const lo_tensor *x, int64_t start, int64_t step) {
    if (n > p->n_counts) return -1;
    int64_t from = p->counts[n - 1], to = n < p->n_counts ? p->counts[n] : p->n_pool;
    int64_t ordinal = 0;
    for (int64_t m = 1; m < n; m++) {
        int64_t f = p->counts[m - 1], t = m < p->n_counts ? p->counts[m] : p->n_pool;
        ordinal += (t - f) / m;
    }
    for (int64_t g = from; g + n <= to; g += n, ordinal++) {
        bool eq = true;
        for (int64_t k = 0; k < n && eq; k++) eq = tfidf_item_eq(p, g + k, x, start + k * step);
        if (eq) return ordinal;
    }
    return -1;
}

static lo_status tfidf_run(lo_kernel_ctx *ctx) {
    const tfidf_params *p = ctx->params;
    LO_CHECK(ctx, has_in(ctx, 0), "X is required");
    const lo_tensor *x = ctx->in[0];
    LO_CHECK(ctx, (p->pool_s != NULL) == (x->dtype == LO_STRING), "X's type does not match the pool");
    LO_CHECK(ctx, x->rank == 1 || x->rank == 2, "X must be 1-D or 2-D");
    int64_t rows = x->rank == 2 ? x->dims[0] : 1, len = x->dims[x->rank - 1];
    int64_t dims[2];
    if (x->rank == 1) dims[0] = p->out_len;
    else dims[0] = rows, dims[1] = p->out_len;
    LO_TRY(lo_output(ctx, 0, LO_FLOAT, x->rank, dims));
    if (!has_out(ctx, 0)) return LO_OK;
    float *y = ctx->out[0]->data;
    memset(y, 0, (size_t)(rows * p->out_len) * sizeof *y);
    for (int64_t r = 0; r < rows; r++) {
        float *row = y + r * p->out_len;
        int64_t min_n = p->min_gram;
        for (int64_t d = 1; d <= p->max_skip + 1; d++) {
            /* unigrams do not depend on the skip: counted at distance 1 only */
            if (d > 1 && min_n == 1) min_n = 2;
            if (min_n > p->max_gram) break;
            for (int64_t s = 0; s < len; s++) {
                if (s + d * (min_n - 1) >= len) break;
                for (int64_t n = min_n; n <= p->max_gram && s + d * (n - 1) < len; n++) {
                    int64_t ord = tfidf_find(p, n, x, r * len + s, d);
                    if (ord >= 0 && ord < p->n_indexes) row[p->indexes[ord]] += 1;
                }
            }
        }
        for (int64_t i = 0; i < p->n_indexes; i++) {
            int64_t o = p->indexes[i];
            float w = p->n_weights ? p->weights[i] : 1.0f;
            if (p->mode == 1) row[o] = row[o] > 0 ? w : 0;
            else if (p->mode == 2) row[o] *= w;
        }
    }
    return LO_OK;
}

const lo_op_def lo_ops_text_tfidf_vectorizer[] = {
    {"", "TfIdfVectorizer", 9, LO_OPSET_MAX, tfidf_prepare, tfidf_run, NULL, 0},
    {0},
};
