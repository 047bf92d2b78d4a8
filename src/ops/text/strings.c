/* StringConcat, StringSplit, RegexFullMatch. */
#include <ctype.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Rewrites the Perl/RE2 classes \w \W \d \D \s \S (also inside brackets)
 * into POSIX ERE for regcomp; glibc understands \b and \B itself. */
static char *regex_to_posix(const char *p) {
    size_t cap = strlen(p) * 16 + 16, n = 0;
    char *o = malloc(cap);
    if (!o) return NULL;
#define EMIT(str) do { size_t l_ = strlen(str); memcpy(o + n, str, l_); n += l_; } while (0)
    for (const char *c = p; *c; c++) {
        if (*c == '[') {
            /* collect a bracket expression; ']' goes first and '-' last so
             * neither needs an escape */
            char body[1024];
            size_t b = 0;
            bool neg = false, close_br = false, dash = false;
            c++;
            if (*c == '^') neg = true, c++;
            for (; *c && *c != ']' && b < sizeof body - 32; c++) {
                if (*c == '\\' && c[1]) {
                    c++;
                    const char *cls = *c == 'w' ? "[:alnum:]_" : *c == 'd' ? "0-9" : *c == 's' ? "[:space:]" : NULL;
                    if (cls) {
                        memcpy(body + b, cls, strlen(cls));
                        b += strlen(cls);
                    } else if (*c == ']') close_br = true;
                    else if (*c == '-') dash = true;
                    else body[b++] = *c;
                } else if (*c == '-' && (c[1] == ']' || b == 0)) {
                    dash = true;
                } else {
                    body[b++] = *c;
                }
            }
            if (!*c) break;
            EMIT("[");
            if (neg) EMIT("^");
            if (close_br) EMIT("]");
            memcpy(o + n, body, b);
            n += b;
            if (dash) EMIT("-");
            EMIT("]");
            continue;
        }
        if (*c == '\\' && c[1]) {
            c++;
            switch (*c) {
            case 'w': EMIT("[[:alnum:]_]"); break;
            case 'W': EMIT("[^[:alnum:]_]"); break;
            case 'd': EMIT("[0-9]"); break;
            case 'D': EMIT("[^0-9]"); break;
            case 's': EMIT("[[:space:]]"); break;
            case 'S': EMIT("[^[:space:]]"); break;
            default: o[n++] = '\\', o[n++] = *c; break;
            }
            continue;
        }
        o[n++] = *c;
    }
#undef EMIT
    o[n] = 0;
    return o;
}

static lo_status regex_full_match_run(lo_kernel_ctx *ctx) {
    LO_CHECK(ctx, has_in(ctx, 0) && ctx->in[0]->dtype == LO_STRING, "X must be a string tensor");
    const lo_tensor *x = ctx->in[0];
    const char *pattern = lo_attr_string(ctx->node, "pattern", NULL);
    LO_CHECK(ctx, pattern, "attribute 'pattern' is required");
    char *posix = regex_to_posix(pattern);
    if (!posix) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
    size_t len = strlen(posix) + 8;
    char *anchored = malloc(len);
    if (!anchored) {
        free(posix);
        return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
    }
    snprintf(anchored, len, "^(%s)$", posix);
    free(posix);
    regex_t re;
    int rc = regcomp(&re, anchored, REG_EXTENDED | REG_NOSUB);
    free(anchored);
    if (rc != 0) return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "pattern '%s' is not supported", pattern);
    lo_status st = lo_output(ctx, 0, LO_BOOL, x->rank, x->dims);
    if (st == LO_OK && has_out(ctx, 0))
        for (int64_t i = 0; i < lo_numel(x); i++) {
            const char *s = ((char *const *)x->data)[i];
            ((uint8_t *)ctx->out[0]->data)[i] = regexec(&re, s ? s : "", 0, NULL, 0) == 0;
        }
    regfree(&re);
    return st;
}

const lo_op_def lo_ops_text_strings[] = {
    {"", "StringConcat", 20, LO_OPSET_MAX, NULL, string_concat_run, NULL, 0},
    {"", "StringSplit", 20, LO_OPSET_MAX, NULL, string_split_run, NULL, 0},
    {"", "RegexFullMatch", 20, LO_OPSET_MAX, NULL, regex_full_match_run, NULL, 0},
    {0},
};
