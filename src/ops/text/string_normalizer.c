/* StringNormalizer. */
#include <ctype.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../helpers.h"

/* ---- StringNormalizer ------------------------------------------------------------ */

static lo_status strnorm_run(lo_kernel_ctx *ctx) {
    LO_CHECK(ctx, has_in(ctx, 0) && ctx->in[0]->dtype == LO_STRING, "X must be a string tensor");
    const lo_tensor *x = ctx->in[0];
    LO_CHECK(ctx, x->rank == 1 || (x->rank == 2 && x->dims[0] == 1), "X must have shape [C] or [1, C]");
    const char *action = lo_attr_string(ctx->node, "case_change_action", "NONE");
    bool sensitive = lo_attr_int(ctx->node, "is_case_sensitive", 0) != 0;
    const lo_attr *sw = lo_attr_find(ctx->node, "stopwords");
    int change = !strcmp(action, "LOWER") ? 1 : !strcmp(action, "UPPER") ? 2 : 0;
    if (!change && strcmp(action, "NONE"))
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "case_change_action '%s'", action);
    int64_t n = lo_numel(x), kept = 0;
    char *const *in = x->data;
    bool *keep = calloc((size_t)n + 1, 1);
    if (!keep) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++) {
        const char *s = in[i] ? in[i] : "";
        keep[i] = true;
        for (int64_t k = 0; sw && sw->type == LO_ATTR_STRINGS && k < sw->n && keep[i]; k++)
            if (sensitive ? !strcmp(s, sw->strings[k]) : !strcasecmp(s, sw->strings[k])) keep[i] = false;
        kept += keep[i];
    }
    int64_t dims[2];
    int rank = x->rank;
    int64_t cols = kept ? kept : 1;
    if (rank == 1) dims[0] = cols;
    else dims[0] = 1, dims[1] = cols;
    lo_status st = lo_output(ctx, 0, LO_STRING, rank, dims);
    if (st == LO_OK && has_out(ctx, 0)) {
        char **out = ctx->out[0]->data;
        int64_t m = 0;
        for (int64_t i = 0; i < n; i++) {
            if (!keep[i]) continue;
            char *s = lo_strdup(in[i] ? in[i] : "");
            if (!s) {
                st = lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
                break;
            }
            for (char *c = s; *c; c++)
                if (change == 1) *c = (char)tolower((unsigned char)*c);
                else if (change == 2) *c = (char)toupper((unsigned char)*c);
            out[m++] = s;
        }
        if (st == LO_OK && m == 0) out[0] = lo_strdup("");
    }
    free(keep);
    return st;
}

const lo_op_def lo_ops_text_string_normalizer[] = {
    {"", "StringNormalizer", 10, LO_OPSET_MAX, NULL, strnorm_run, NULL, 0},
    {0},
};
