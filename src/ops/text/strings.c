/* StringConcat, StringSplit, RegexFullMatch. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "../helpers.h"

/* ---- StringConcat, StringSplit, RegexFullMatch ----------------------------------------- */

static lo_status string_concat_run(lo_kernel_ctx *ctx) {
    LO_CHECK(ctx, has_in(ctx, 0) && has_in(ctx, 1), "X and Y are required");
    const lo_tensor *ins[2] = {ctx->in[0], ctx->in[1]};
    LO_CHECK(ctx, ins[0]->dtype == LO_STRING && ins[1]->dtype == LO_STRING, "inputs must be strings");
    int rank;
    int64_t dims[LO_MAX_RANK], sa[LO_MAX_RANK], sb[LO_MAX_RANK];
    lo_error berr;
    if (lo_broadcast_shape(2, ins, &rank, dims, &berr) != LO_OK)
        return lo_kernel_fail(ctx, LO_ERR_INPUT, "%s", berr.message);
    lo_broadcast_strides(ins[0], rank, dims, sa);
    lo_broadcast_strides(ins[1], rank, dims, sb);
    LO_TRY(lo_output(ctx, 0, LO_STRING, rank, dims));
    if (!has_out(ctx, 0)) return LO_OK;
    int64_t n = lo_numel_dims(rank, dims);
    for (int64_t e = 0; e < n; e++) {
        int64_t rem = e, ia = 0, ib = 0;
        for (int d = rank - 1; d >= 0; d--) {
            int64_t c = rem % dims[d];
            rem /= dims[d];
            ia += c * sa[d], ib += c * sb[d];
        }
        const char *a = ((char *const *)ins[0]->data)[ia], *b = ((char *const *)ins[1]->data)[ib];
        a = a ? a : "", b = b ? b : "";
        size_t la = strlen(a), lb = strlen(b);
        char *r = malloc(la + lb + 1);
        if (!r) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
        memcpy(r, a, la);
        memcpy(r + la, b, lb + 1);
        ((char **)ctx->out[0]->data)[e] = r;
    }
    return LO_OK;
}

/* Splits s as Python's str.split does: on whitespace runs (no empty
 * pieces) when sep is empty, else on each occurrence of sep; at most
 * maxsplit splits when maxsplit >= 0. Returns the pieces' count; fills
 * start/len when given. */
static int64_t split_str(const char *s, const char *sep, int64_t maxsplit, int64_t *start, int64_t *len) {
    int64_t n = 0, i = 0, L = (int64_t)strlen(s);
    if (!sep[0]) {
        while (i < L) {
            while (i < L && isspace((unsigned char)s[i])) i++;
            if (i >= L) break;
            int64_t b = i;
            if (maxsplit >= 0 && n == maxsplit) {
                int64_t e = L;
                while (e > b && isspace((unsigned char)s[e - 1])) e--;
                if (start) start[n] = b, len[n] = e - b;
                return n + 1;
            }
            while (i < L && !isspace((unsigned char)s[i])) i++;
            if (start) start[n] = b, len[n] = i - b;
            n++;
        }
        return n;
    }
    int64_t ls = (int64_t)strlen(sep), b = 0;
    for (i = 0; i + ls <= L;) {
        if ((maxsplit < 0 || n < maxsplit) && !strncmp(s + i, sep, (size_t)ls)) {
            if (start) start[n] = b, len[n] = i - b;
            n++;
            i += ls;
            b = i;
        } else {
            i++;
        }
    }
    if (start) start[n] = b, len[n] = L - b;
    return n + 1;
}

static lo_status string_split_run(lo_kernel_ctx *ctx) {
    LO_CHECK(ctx, has_in(ctx, 0) && ctx->in[0]->dtype == LO_STRING, "X must be a string tensor");
    const lo_tensor *x = ctx->in[0];
    LO_CHECK(ctx, x->rank < LO_MAX_RANK, "rank %d is too high", x->rank);
    const char *sep = lo_attr_string(ctx->node, "delimiter", "");
    int64_t maxsplit = lo_attr_int(ctx->node, "maxsplit", -1);
    int64_t n = lo_numel(x), most = 0;
    char *const *in = x->data;
    for (int64_t i = 0; i < n; i++) {
        int64_t c = split_str(in[i] ? in[i] : "", sep, maxsplit, NULL, NULL);
        if (c > most) most = c;
    }
    int64_t dims[LO_MAX_RANK];
    memcpy(dims, x->dims, sizeof dims);
    dims[x->rank] = most;
    LO_TRY(lo_output(ctx, 0, LO_STRING, x->rank + 1, dims));
    LO_TRY(lo_output(ctx, 1, LO_INT64, x->rank, x->dims));
    int64_t *st = malloc((size_t)(most + 1) * 2 * sizeof *st);
    if (!st) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
    int64_t *ln = st + most + 1;
    for (int64_t i = 0; i < n; i++) {
        const char *s = in[i] ? in[i] : "";
        int64_t c = split_str(s, sep, maxsplit, st, ln);
        if (has_out(ctx, 1)) ((int64_t *)ctx->out[1]->data)[i] = c;
        if (!has_out(ctx, 0)) continue;
        for (int64_t k = 0; k < most; k++)
            ((char **)ctx->out[0]->data)[i * most + k] = k < c ? lo_strndup(s + st[k], (size_t)ln[k]) : lo_strdup("");
    }
    free(st);
    return LO_OK;
}

/* RegexFullMatch's patterns are RE2's syntax, which PCRE2 reads as Perl's
 * (classes, \d \w \s, non-greedy and non-capturing groups, leftmost-first
 * alternation) with UTF-8 on. RE2 runs in linear time; PCRE2 backtracks, so
 * a match limit turns a pathological pattern into an error instead of a hang. */
#define REGEX_MATCH_LIMIT 10000000u

static lo_status regex_full_match_run(lo_kernel_ctx *ctx) {
    LO_CHECK(ctx, has_in(ctx, 0) && ctx->in[0]->dtype == LO_STRING, "X must be a string tensor");
    const lo_tensor *x = ctx->in[0];
    const char *pattern = lo_attr_string(ctx->node, "pattern", NULL);
    LO_CHECK(ctx, pattern, "attribute 'pattern' is required");
    int code;
    PCRE2_SIZE at;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_ANCHORED | PCRE2_ENDANCHORED, &code, &at, NULL);
    if (!re) {
        PCRE2_UCHAR why[256];
        pcre2_get_error_message(code, why, sizeof why);
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "pattern '%s' is not supported: %s at offset %zu", pattern,
                              (const char *)why, (size_t)at);
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    pcre2_match_context *mc = pcre2_match_context_create(NULL);
    lo_status st = md && mc ? LO_OK : lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
    if (mc) pcre2_set_match_limit(mc, REGEX_MATCH_LIMIT);
    if (st == LO_OK) st = lo_output(ctx, 0, LO_BOOL, x->rank, x->dims);
    for (int64_t i = 0; st == LO_OK && has_out(ctx, 0) && i < lo_numel(x); i++) {
        const char *s = ((char *const *)x->data)[i];
        int rc = pcre2_match(re, (PCRE2_SPTR)(s ? s : ""), PCRE2_ZERO_TERMINATED, 0, 0, md, mc);
        if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
            PCRE2_UCHAR why[256];
            pcre2_get_error_message(rc, why, sizeof why);
            st = lo_kernel_fail(ctx, LO_ERR_RUNTIME, "matching element %lld: %s", (long long)i, (const char *)why);
        }
        ((uint8_t *)ctx->out[0]->data)[i] = rc >= 0;
    }
    pcre2_match_context_free(mc);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return st;
}

const lo_op_def lo_ops_text_strings[] = {
    {"", "StringConcat", 20, LO_OPSET_MAX, NULL, string_concat_run, NULL, 0},
    {"", "StringSplit", 20, LO_OPSET_MAX, NULL, string_split_run, NULL, 0},
    {"", "RegexFullMatch", 20, LO_OPSET_MAX, NULL, regex_full_match_run, NULL, 0},
    {0},
};
