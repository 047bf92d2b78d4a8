/* Reports of a comparison: the terminal summary, CSV, JSON and one
 * self-contained HTML page. Files are composed in memory and written with
 * lo_write_file_atomic, so a reader never sees half a report. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compare.h"
#include "../dump/dump.h"

const char *lo_format_db(double v, char *buf, size_t size) {
    if (isnan(v)) snprintf(buf, size, "nan");
    else if (isinf(v)) snprintf(buf, size, v > 0 ? "inf" : "-inf");
    else snprintf(buf, size, "%.2f", v);
    return buf;
}

/* %.6g for people, with non-finite values spelled as Python prints them. */
static const char *num(double v, char *buf, size_t size) {
    if (isnan(v)) snprintf(buf, size, "nan");
    else if (isinf(v)) snprintf(buf, size, v > 0 ? "inf" : "-inf");
    else snprintf(buf, size, "%.6g", v);
    return buf;
}

/* %.17g for files: every double reads back as itself (float() in Python). */
static const char *full(double v, char *buf, size_t size) {
    if (isnan(v)) snprintf(buf, size, "nan");
    else if (isinf(v)) snprintf(buf, size, v > 0 ? "inf" : "-inf");
    else snprintf(buf, size, "%.17g", v);
    return buf;
}

static const char *status_name(lo_row_status s) {
    switch (s) {
    case LO_ROW_PASS: return "pass";
    case LO_ROW_BELOW: return "below";
    case LO_ROW_ERROR: return "error";
    case LO_ROW_ONLY_REF: return "only_ref";
    case LO_ROW_ONLY_TEST: return "only_test";
    }
    return "?";
}

static const char *layout_name(const lo_row *r) {
    if (r->ref_channel_last) return "ref channel-last";
    if (r->test_channel_last) return "test channel-last";
    return "same";
}

/* A flat position in the model's layout as a multi-index in the row's
 * shape ("[0,4,28,9]", or "s1:[0,4,28,9]" with its sample); "" when none. */
static const char *at_index(const lo_row *r, int64_t index, int sample, bool with_sample, char *buf, size_t size) {
    buf[0] = 0;
    if (index < 0) return buf;
    size_t len = 0;
    if (with_sample) len += (size_t)snprintf(buf + len, size - len, "s%d:", sample);
    if (r->rank > 0) {
        int64_t idx[LO_MAX_RANK], rest = index;
        for (int d = r->rank - 1; d >= 0; d--) {
            idx[d] = r->dims[d] ? rest % r->dims[d] : 0;
            rest = r->dims[d] ? rest / r->dims[d] : 0;
        }
        len += (size_t)snprintf(buf + len, size - len, "[");
        for (int d = 0; d < r->rank && len < size; d++)
            len += (size_t)snprintf(buf + len, size - len, "%s%lld", d ? "," : "", (long long)idx[d]);
        if (len < size) snprintf(buf + len, size - len, "]");
    } else {
        snprintf(buf + len, size - len, "[%lld]", (long long)index);
    }
    return buf;
}

/* The max-abs-error position; "-" when there is none. */
static const char *where(const lo_row *r, const lo_metrics *m, bool with_sample, char *buf, size_t size) {
    if (m->max_abs_index < 0) {
        snprintf(buf, size, "-");
        return buf;
    }
    return at_index(r, m->max_abs_index, m->max_abs_sample, with_sample, buf, size);
}

static const char *shape_of(const lo_row *r, char *buf, size_t size) {
    if (r->rank < 0) snprintf(buf, size, "?");
    else lo_shape_str(r->rank, r->dims, buf, size);
    return buf;
}

static const char *file_of(const lo_dump *d, int t) { return t >= 0 ? d->tensors[t].file : ""; }

static bool compared(const lo_row *r) { return r->status == LO_ROW_PASS || r->status == LO_ROW_BELOW; }

/* ---- terminal ------------------------------------------------------------------- */

/* Long names keep their end, which tells layers apart ("..._conv2_Conv_output_0"). */
static const char *tail(const char *s, int width, char *buf, size_t size) {
    int n = (int)strlen(s);
    if (n <= width) snprintf(buf, size, "%s", s);
    else snprintf(buf, size, "...%s", s + n - (width - 3));
    return buf;
}

static void text_row(const lo_comparison *c, const lo_row *r, int index, FILE *out) {
    char name[64], shape[64], a[32], b[32], d[32], e[32], f[32], w[96];
    if (r->status == LO_ROW_ERROR) {
        fprintf(out, "%5d  %-42s  %-14s  not compared: %s\n", index, tail(r->name, 42, name, sizeof name),
                shape_of(r, shape, sizeof shape), r->error ? r->error : "?");
        return;
    }
    const char *flag = r->below && r->drop ? "BELOW,DROP" : r->below ? "BELOW" : r->drop ? "DROP" : "";
    char nf[128] = "";
    const lo_metrics *pm = &r->pooled;
    if (pm->nonfinite_mismatch) {
        char at[96];
        snprintf(nf, sizeof nf, " NONFINITE at %s",
                 at_index(r, pm->first_mismatch, pm->first_mismatch_sample, c->n_samples > 1, at, sizeof at));
    }
    fprintf(out, "%5d  %-42s  %-14s %8s %8s %9s %9s %10s %-14s %s%s\n", index, tail(r->name, 42, name, sizeof name),
            shape_of(r, shape, sizeof shape), lo_format_db(r->sqnr, a, sizeof a),
            lo_format_db(r->sqnr_min, b, sizeof b), num(lo_metrics_cosine(pm), d, sizeof d),
            num(lo_metrics_rel_l2(pm), e, sizeof e), num(pm->max_abs_err, f, sizeof f),
            where(r, pm, c->n_samples > 1, w, sizeof w), flag, nf);
}

void lo_report_text(const lo_comparison *c, FILE *out, int top) {
    char a[32], b[32];
    fprintf(out, "REF  %s (%s, %d sample%s, %d tensors)\n", c->ref.path, lo_dump_kind_name(c->ref.kind),
            c->ref.n_samples, c->ref.n_samples == 1 ? "" : "s", c->ref.n_tensors);
    fprintf(out, "TEST %s (%s, %d sample%s, %d tensors)\n", c->test.path, lo_dump_kind_name(c->test.kind),
            c->test.n_samples, c->test.n_samples == 1 ? "" : "s", c->test.n_tensors);
    if (c->notes && *c->notes) {
        const char *p = c->notes;
        while (*p) {
            const char *nl = strchr(p, '\n');
            int len = nl ? (int)(nl - p) : (int)strlen(p);
            fprintf(out, "note: %.*s\n", len, p);
            p += len + (nl ? 1 : 0);
        }
    }
    int n;
    int *worst = lo_comparison_worst(c, &n);
    bool sorted = top > 0;
    int shown = sorted && top < n ? top : n;
    fprintf(out, "\n%s (threshold %s dB):\n", sorted ? (shown < n ? "worst tensors" : "tensors, worst first")
                                                     : "tensors in graph order",
            lo_format_db(c->options.sqnr_min, a, sizeof a));
    fprintf(out, "%5s  %-42s  %-14s %8s %8s %9s %9s %10s %-14s %s\n", "#", "tensor", "shape", "SQNR dB",
            "min dB", "cosine", "rel L2", "max |err|", "at", "flags");
    if (sorted) {
        for (int i = 0; worst && i < shown; i++) text_row(c, &c->rows[worst[i]], worst[i], out);
        if (shown < n) fprintf(out, "  ... %d more (--top 0 lists all in graph order)\n", n - shown);
    } else {
        for (int r = 0; r < c->n_rows; r++)
            if (c->rows[r].status <= LO_ROW_ERROR) text_row(c, &c->rows[r], r, out);
    }
    free(worst);
    fputc('\n', out);
    if (c->first_divergence >= 0) {
        const lo_row *r = &c->rows[c->first_divergence];
        fprintf(out, "first divergence: #%d %s: SQNR %s dB pooled", c->first_divergence, r->name,
                lo_format_db(r->sqnr, a, sizeof a));
        if (c->n_samples > 1)
            fprintf(out, " (%s dB in sample %d)", lo_format_db(r->sqnr_min, b, sizeof b), r->worst_sample);
        if (r->below) fprintf(out, " < %s dB threshold", lo_format_db(c->options.sqnr_min, b, sizeof b));
        if (r->drop) fprintf(out, "%s a sharp drop from its inputs' %s dB", r->below ? ";" : "",
                             lo_format_db(r->input_sqnr, b, sizeof b));
        if (r->pooled.nonfinite_mismatch)
            fprintf(out, "; %lld NaN/Inf mismatches", (long long)r->pooled.nonfinite_mismatch);
        fputc('\n', out);
    } else {
        fprintf(out, "first divergence: none\n");
    }
    for (int pass = 0; pass < 2; pass++) {
        lo_row_status want = pass ? LO_ROW_ONLY_TEST : LO_ROW_ONLY_REF;
        int count = pass ? c->n_only_test : c->n_only_ref, listed = 0;
        if (!count) continue;
        fprintf(out, "only in %s (%d):", pass ? "TEST" : "REF", count);
        for (int r = 0; r < c->n_rows; r++) {
            if (c->rows[r].status != want) continue;
            if (listed++ < 20) fprintf(out, " %s", c->rows[r].name);
        }
        if (listed > 20) fprintf(out, " ... (%d more; the reports list all)", listed - 20);
        fputc('\n', out);
    }
    fprintf(out, "totals: %d compared, %d pass, %d below %s dB, %d not comparable, %d only in REF, %d only in TEST\n",
            c->n_compared, c->n_pass, c->n_below, lo_format_db(c->options.sqnr_min, a, sizeof a), c->n_error,
            c->n_only_ref, c->n_only_test);
}

/* ---- files ------------------------------------------------------------------------ */

typedef struct membuf {
    char *data;
    size_t size;
    FILE *f;
} membuf;

static lo_status mem_open(membuf *m, lo_error *err) {
    m->data = NULL;
    m->size = 0;
    m->f = open_memstream(&m->data, &m->size);
    return m->f ? LO_OK : lo_fail(err, LO_ERR_NOMEM, "out of memory");
}

static lo_status mem_write(membuf *m, const char *path, lo_error *err) {
    bool bad = ferror(m->f);
    fclose(m->f);
    lo_status st = bad ? lo_fail(err, LO_ERR_NOMEM, "out of memory composing '%s'", path)
                       : lo_write_file_atomic(path, m->data, m->size, err);
    free(m->data);
    return st;
}

/* ---- CSV -------------------------------------------------------------------------- */

/* RFC 4180: every field quoted, quotes doubled, so names and positions with
 * commas stay one field. */
static void csv_field(FILE *f, bool first, const char *s) {
    if (!first) fputc(',', f);
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static const char *const csv_columns[] = {
    "index", "tensor", "ref_file", "test_file", "status", "shape", "shape_source", "layout", "sample",
    "sqnr_db", "cosine", "mse", "mean_abs_err", "max_abs_err", "max_abs_err_at", "max_abs_err_index",
    "max_abs_err_sample", "rel_l2", "atol", "rtol", "elements", "finite", "nan_ref", "inf_ref", "nan_test",
    "inf_test", "nonfinite_mismatch", "first_nan_ref_at", "first_inf_ref_at", "first_nan_test_at",
    "first_inf_test_at", "first_mismatch_at", "sqnr_db_pooled", "sqnr_db_min_sample", "worst_sample",
    "input_sqnr_db", "below", "drop", "error"};
#define CSV_METRIC_FIRST 9  /* sqnr_db */

static void csv_metric_fields(FILE *f, const lo_row *r, const lo_metrics *m, double sqnr, bool pooled) {
    char b[64];
    csv_field(f, false, full(sqnr, b, sizeof b));
    csv_field(f, false, full(lo_metrics_cosine(m), b, sizeof b));
    csv_field(f, false, full(lo_metrics_mse(m), b, sizeof b));
    csv_field(f, false, full(lo_metrics_mean_abs(m), b, sizeof b));
    csv_field(f, false, full(m->max_abs_err, b, sizeof b));
    char w[160];
    csv_field(f, false, at_index(r, m->max_abs_index, m->max_abs_sample, false, w, sizeof w));
    snprintf(b, sizeof b, "%lld", (long long)m->max_abs_index);
    csv_field(f, false, b);
    if (m->max_abs_index >= 0) snprintf(b, sizeof b, "%d", m->max_abs_sample);
    else b[0] = 0;
    csv_field(f, false, b);
    csv_field(f, false, full(lo_metrics_rel_l2(m), b, sizeof b));
    csv_field(f, false, full(lo_metrics_atol(m), b, sizeof b));
    csv_field(f, false, full(lo_metrics_rtol(m), b, sizeof b));
    const int64_t counts[] = {m->count, m->finite, m->nan_ref, m->inf_ref, m->nan_test, m->inf_test,
                              m->nonfinite_mismatch};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        snprintf(b, sizeof b, "%lld", (long long)counts[i]);
        csv_field(f, false, b);
    }
    csv_field(f, false, at_index(r, m->first_nan_ref, m->first_nan_ref_sample, pooled, w, sizeof w));
    csv_field(f, false, at_index(r, m->first_inf_ref, m->first_inf_ref_sample, pooled, w, sizeof w));
    csv_field(f, false, at_index(r, m->first_nan_test, m->first_nan_test_sample, pooled, w, sizeof w));
    csv_field(f, false, at_index(r, m->first_inf_test, m->first_inf_test_sample, pooled, w, sizeof w));
    csv_field(f, false, at_index(r, m->first_mismatch, m->first_mismatch_sample, pooled, w, sizeof w));
}

lo_status lo_report_csv(const lo_comparison *c, const char *path, lo_error *err) {
    membuf m;
    LO_TRY(mem_open(&m, err));
    FILE *f = m.f;
    /* One row per tensor and sample, and a pooled row per tensor (sample
     * "all"), so a spreadsheet can filter either; a tensor not compared has
     * its one row with the metric fields empty and the reason. */
    size_t n_cols = sizeof csv_columns / sizeof csv_columns[0];
    for (size_t i = 0; i < n_cols; i++) csv_field(f, i == 0, csv_columns[i]);
    if (c->isolated) csv_field(f, false, "isolated_sqnr_db");
    fputs("\r\n", f);
    for (int i = 0; i < c->n_rows; i++) {
        const lo_row *r = &c->rows[i];
        char s[160], b[64];
        for (int k = -1; k < (compared(r) ? r->n_samples : 0); k++) {
            snprintf(b, sizeof b, "%d", i);
            csv_field(f, true, b);
            csv_field(f, false, r->name);
            csv_field(f, false, file_of(&c->ref, r->ref));
            csv_field(f, false, file_of(&c->test, r->test));
            csv_field(f, false, status_name(r->status));
            csv_field(f, false, r->rank >= 0 ? shape_of(r, s, sizeof s) : "");
            csv_field(f, false, r->shape_source ? r->shape_source : "");
            csv_field(f, false, r->ref >= 0 && r->test >= 0 ? layout_name(r) : "");
            if (k < 0) snprintf(b, sizeof b, "all");
            else snprintf(b, sizeof b, "%d", c->ref_sample0 + k);
            csv_field(f, false, b);
            if (compared(r)) {
                if (k < 0) csv_metric_fields(f, r, &r->pooled, r->sqnr, true);
                else csv_metric_fields(f, r, &r->samples[k], lo_metrics_sqnr(&r->samples[k]), false);
                csv_field(f, false, full(r->sqnr, b, sizeof b));
                csv_field(f, false, full(r->sqnr_min, b, sizeof b));
                snprintf(b, sizeof b, "%d", r->worst_sample);
                csv_field(f, false, b);
                csv_field(f, false, isnan(r->input_sqnr) ? "" : full(r->input_sqnr, b, sizeof b));
                csv_field(f, false, r->below ? "1" : "0");
                csv_field(f, false, r->drop ? "1" : "0");
            } else {
                for (int j = CSV_METRIC_FIRST; j < (int)n_cols - 1; j++) csv_field(f, false, "");
            }
            csv_field(f, false, r->error ? r->error : "");
            if (c->isolated) csv_field(f, false, isnan(c->isolated[i]) ? "" : full(c->isolated[i], b, sizeof b));
            fputs("\r\n", f);
        }
    }
    return mem_write(&m, path, err);
}

/* ---- JSON ------------------------------------------------------------------------- */

/* JSON has no Inf or NaN: they are the strings "inf", "-inf", "nan"
 * (Python's float() reads them back). */
static json_t *jnum(double v) {
    if (isfinite(v)) return json_real(v);
    return json_string(isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
}

static json_t *jmetrics(const lo_row *r, const lo_metrics *m, double sqnr) {
    json_t *o = json_object();
    char w[160];
    json_object_set_new(o, "sqnr_db", jnum(sqnr));
    json_object_set_new(o, "cosine", jnum(lo_metrics_cosine(m)));
    json_object_set_new(o, "mse", jnum(lo_metrics_mse(m)));
    json_object_set_new(o, "mean_abs_err", jnum(lo_metrics_mean_abs(m)));
    json_object_set_new(o, "max_abs_err", jnum(m->max_abs_err));
    json_object_set_new(o, "max_abs_err_index", json_integer(m->max_abs_index));
    json_object_set_new(o, "max_abs_err_at", json_string(where(r, m, false, w, sizeof w)));
    json_object_set_new(o, "rel_l2", jnum(lo_metrics_rel_l2(m)));
    json_object_set_new(o, "atol", jnum(lo_metrics_atol(m)));
    json_object_set_new(o, "rtol", jnum(lo_metrics_rtol(m)));
    json_object_set_new(o, "elements", json_integer(m->count));
    json_object_set_new(o, "finite", json_integer(m->finite));
    json_object_set_new(o, "nan_ref", json_integer(m->nan_ref));
    json_object_set_new(o, "inf_ref", json_integer(m->inf_ref));
    json_object_set_new(o, "nan_test", json_integer(m->nan_test));
    json_object_set_new(o, "inf_test", json_integer(m->inf_test));
    json_object_set_new(o, "nonfinite_mismatch", json_integer(m->nonfinite_mismatch));
    struct { const char *key; int64_t index; int sample; } firsts[] = {
        {"first_nan_ref", m->first_nan_ref, m->first_nan_ref_sample},
        {"first_inf_ref", m->first_inf_ref, m->first_inf_ref_sample},
        {"first_nan_test", m->first_nan_test, m->first_nan_test_sample},
        {"first_inf_test", m->first_inf_test, m->first_inf_test_sample},
        {"first_mismatch", m->first_mismatch, m->first_mismatch_sample}};
    for (size_t i = 0; i < sizeof firsts / sizeof firsts[0]; i++) {
        if (firsts[i].index < 0) {
            json_object_set_new(o, firsts[i].key, json_null());
            continue;
        }
        json_t *e = json_object();
        json_object_set_new(e, "sample", json_integer(firsts[i].sample));
        json_object_set_new(e, "index", json_integer(firsts[i].index));
        json_object_set_new(e, "at", json_string(at_index(r, firsts[i].index, 0, false, w, sizeof w)));
        json_object_set_new(o, firsts[i].key, e);
    }
    return o;
}

static json_t *jdump(const lo_dump *d) {
    json_t *o = json_object();
    json_object_set_new(o, "path", json_string(d->path));
    json_object_set_new(o, "kind", json_string(d->kind == LO_DUMP_LAYEROUT ? "layerout"
                                               : d->kind == LO_DUMP_AIMET  ? "aimet"
                                                                           : "qnn"));
    json_object_set_new(o, "samples", json_integer(d->n_samples));
    json_object_set_new(o, "tensors", json_integer(d->n_tensors));
    return o;
}

static json_t *comparison_json(const lo_comparison *c) {
    json_t *root = json_object();
    json_object_set_new(root, "tool", json_string("layerout compare"));
    json_object_set_new(root, "version", json_string(lo_version()));
    json_object_set_new(root, "ref", jdump(&c->ref));
    json_object_set_new(root, "test", jdump(&c->test));
    json_object_set_new(root, "samples", json_integer(c->n_samples));
    json_object_set_new(root, "sqnr_min_db", jnum(c->options.sqnr_min));
    json_object_set_new(root, "drop_db", jnum(c->options.drop_db));
    json_object_set_new(root, "producers", json_string(c->producers_from_model ? "model" : "graph order"));
    json_object_set_new(root, "first_sample", json_integer(c->ref_sample0));
    json_t *conv = json_object();
    json_object_set_new(conv, "sqnr_db",
                        json_string("10*log10(sum ref^2 / sum (test-ref)^2) over the finite pairs; pooled = "
                                    "the sums over all compared samples (the same as sqnr_db_pooled); inf when "
                                    "the error is zero, -inf when the reference is all zero and the error is "
                                    "not, or when NaN/Inf positions disagree"));
    json_object_set_new(conv, "sqnr_db_min_sample", json_string("the lowest per-sample sqnr_db; worst_sample "
                                                                "is its sample"));
    json_object_set_new(conv, "threshold", json_string("a tensor is below when sqnr_db_pooled or "
                                                       "sqnr_db_min_sample is below sqnr_min_db"));
    json_object_set_new(conv, "drop", json_string("sqnr_db_pooled < input_sqnr_db - drop_db and "
                                                  "sqnr_db_pooled < sqnr_min_db + drop_db, where input_sqnr_db "
                                                  "(the minimum pooled SQNR of the inputs) is finite"));
    json_object_set_new(conv, "first_divergence", json_string("the first tensor in graph order that is below "
                                                              "or a drop"));
    json_object_set_new(conv, "atol", json_string("max |test-ref| over the finite pairs: numpy.allclose(test, "
                                                  "ref, rtol=0, atol=atol) holds there; inf on a NaN/Inf "
                                                  "mismatch"));
    json_object_set_new(conv, "rtol", json_string("the smallest rtol with numpy.allclose(test, ref, rtol=rtol, "
                                                  "atol=0) on the finite pairs, in numpy's arithmetic (float32 "
                                                  "for a float32 pair, else float64); inf where ref is 0 and "
                                                  "test is not, or on a NaN/Inf mismatch"));
    json_object_set_new(conv, "positions", json_string("flat indices and [i,j,...] in the model's layout "
                                                       "(channel-first), C order; samples by number"));
    json_object_set_new(root, "conventions", conv);
    json_t *sum = json_object();
    json_object_set_new(sum, "compared", json_integer(c->n_compared));
    json_object_set_new(sum, "pass", json_integer(c->n_pass));
    json_object_set_new(sum, "below", json_integer(c->n_below));
    json_object_set_new(sum, "errors", json_integer(c->n_error));
    json_object_set_new(sum, "only_ref", json_integer(c->n_only_ref));
    json_object_set_new(sum, "only_test", json_integer(c->n_only_test));
    if (c->first_divergence >= 0) {
        json_t *fd = json_object();
        const lo_row *r = &c->rows[c->first_divergence];
        json_object_set_new(fd, "index", json_integer(c->first_divergence));
        json_object_set_new(fd, "name", json_string(r->name));
        json_object_set_new(fd, "sqnr_db", jnum(r->sqnr));
        json_object_set_new(fd, "sqnr_db_pooled", jnum(r->sqnr));
        json_object_set_new(fd, "sqnr_db_min_sample", jnum(r->sqnr_min));
        json_object_set_new(fd, "worst_sample", json_integer(r->worst_sample));
        json_object_set_new(fd, "input_sqnr_db", isnan(r->input_sqnr) ? json_null() : jnum(r->input_sqnr));
        json_object_set_new(fd, "below", json_boolean(r->below));
        json_object_set_new(fd, "drop", json_boolean(r->drop));
        json_object_set_new(sum, "first_divergence", fd);
    } else {
        json_object_set_new(sum, "first_divergence", json_null());
    }
    json_object_set_new(root, "summary", sum);
    json_object_set_new(root, "notes", json_string(c->notes ? c->notes : ""));
    json_t *rows = json_array();
    for (int i = 0; i < c->n_rows; i++) {
        const lo_row *r = &c->rows[i];
        json_t *o = json_object();
        json_object_set_new(o, "index", json_integer(i));
        json_object_set_new(o, "name", json_string(r->name));
        json_object_set_new(o, "ref_file", r->ref >= 0 ? json_string(c->ref.tensors[r->ref].file) : json_null());
        json_object_set_new(o, "test_file", r->test >= 0 ? json_string(c->test.tensors[r->test].file) : json_null());
        json_object_set_new(o, "status", json_string(status_name(r->status)));
        if (r->ref >= 0 && r->test >= 0) {
            json_t *shape = json_array();
            for (int d = 0; d < r->rank; d++) json_array_append_new(shape, json_integer(r->dims[d]));
            json_object_set_new(o, "shape", r->rank >= 0 ? shape : (json_decref(shape), json_null()));
            json_object_set_new(o, "shape_source", r->shape_source ? json_string(r->shape_source) : json_null());
            json_object_set_new(o, "ref_dtype", json_string(lo_numpy_name(r->ref_dtype) ? lo_numpy_name(r->ref_dtype) : "?"));
            json_object_set_new(o, "test_dtype", json_string(lo_numpy_name(r->test_dtype) ? lo_numpy_name(r->test_dtype) : "?"));
            json_object_set_new(o, "layout", json_string(layout_name(r)));
            json_object_set_new(o, "layout_decision",
                                r->layout_decision ? json_string(r->layout_decision) : json_null());
        }
        if (r->error) json_object_set_new(o, "error", json_string(r->error));
        if (compared(r)) {
            json_t *pooled = jmetrics(r, &r->pooled, r->sqnr);
            json_object_set_new(pooled, "max_abs_err_sample", json_integer(r->pooled.max_abs_sample));
            json_object_set_new(o, "pooled", pooled);
            json_object_set_new(o, "sqnr_db", jnum(r->sqnr));
            json_object_set_new(o, "sqnr_min_db", jnum(r->sqnr_min));
            json_object_set_new(o, "sqnr_db_pooled", jnum(r->sqnr));
            json_object_set_new(o, "sqnr_db_min_sample", jnum(r->sqnr_min));
            json_object_set_new(o, "worst_sample", json_integer(r->worst_sample));
            json_t *ss = json_array();
            for (int k = 0; k < r->n_samples; k++) {
                json_t *sm = jmetrics(r, &r->samples[k], lo_metrics_sqnr(&r->samples[k]));
                json_object_set_new(sm, "sample", json_integer(c->ref_sample0 + k));
                json_array_append_new(ss, sm);
            }
            json_object_set_new(o, "samples", ss);
            json_t *in = json_array();
            for (int k = 0; k < r->n_inputs; k++) json_array_append_new(in, json_integer(r->inputs[k]));
            json_object_set_new(o, "inputs", in);
            json_object_set_new(o, "input_sqnr_db", isnan(r->input_sqnr) ? json_null() : jnum(r->input_sqnr));
            json_object_set_new(o, "below", json_boolean(r->below));
            json_object_set_new(o, "drop", json_boolean(r->drop));
            if (c->isolated)
                json_object_set_new(o, "isolated_sqnr_db", isnan(c->isolated[i]) ? json_null() : jnum(c->isolated[i]));
        }
        json_array_append_new(rows, o);
    }
    json_object_set_new(root, "tensors", rows);
    return root;
}

lo_status lo_report_json(const lo_comparison *c, const char *path, lo_error *err) {
    json_t *root = comparison_json(c);
    char *text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!text) return lo_fail(err, LO_ERR_NOMEM, "out of memory composing '%s'", path);
    size_t len = strlen(text);
    lo_status st = lo_write_file_atomic(path, text, len, err);
    free(text);
    return st;
}

/* ---- HTML ------------------------------------------------------------------------- */

static void html_str(FILE *f, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* A sort key for the table: JavaScript parses Infinity and -Infinity. */
static const char *sort_key(double v, char *buf, size_t size) {
    if (isnan(v)) snprintf(buf, size, "NaN");
    else if (isinf(v)) snprintf(buf, size, v > 0 ? "Infinity" : "-Infinity");
    else snprintf(buf, size, "%.17g", v);
    return buf;
}

static void html_num_cell(FILE *f, double v) {
    char k[48], s[48];
    fprintf(f, "<td data-v=\"%s\">%s</td>", sort_key(v, k, sizeof k), num(v, s, sizeof s));
}

static const char html_style[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:20px;color:#222}"
    "h1{font-size:20px;margin:0 0 8px}"
    ".sum{display:flex;flex-wrap:wrap;gap:10px;margin:10px 0}"
    ".card{border:1px solid #ccc;border-radius:6px;padding:8px 12px;min-width:110px}"
    ".card b{display:block;font-size:20px}"
    ".bad b{color:#c0392b}.good b{color:#1e8449}"
    ".paths{color:#555;font-size:12px}"
    "svg{border:1px solid #ddd;background:#fff;max-width:100%;height:auto}"
    "svg a{cursor:pointer}svg .pt:hover,svg .nc:hover{stroke:#000;stroke-width:2}"
    /* the table scrolls inside its box; the first two columns and the header stay put */
    "#table-box{position:relative;overflow:auto;max-height:60vh;max-width:100%;border:1px solid #ddd;margin-top:12px}"
    "table{border-collapse:separate;border-spacing:0;font-size:12px}"
    "th,td{border-right:1px solid #ddd;border-bottom:1px solid #ddd;padding:3px 6px;text-align:right;"
    "white-space:nowrap;background:#fff}"
    "td.n,th.n{text-align:left}"
    "th{background:#f2f2f2;cursor:pointer;position:sticky;top:0;z-index:2}"
    ".c0{position:sticky;left:0;z-index:1;min-width:44px;max-width:44px;width:44px;box-sizing:border-box}"
    ".c1{position:sticky;left:44px;z-index:1;min-width:300px;max-width:300px;width:300px;box-sizing:border-box;"
    "overflow:hidden;text-overflow:ellipsis;box-shadow:2px 0 3px rgba(0,0,0,.15)}"
    "th.c0,th.c1{z-index:3}"
    "td.cmd{text-align:left;font:11px monospace;color:#333}"
    "td.why{text-align:left;white-space:normal;min-width:260px}"
    "th.sorted-asc:after{content:' \\25B2'}th.sorted-desc:after{content:' \\25BC'}"
    "tr.below td{background:#fdecea}tr.error td{background:#fff4e0}tr.first td{border-top:2px solid #c0392b;"
    "border-bottom:2px solid #c0392b}tr:target td{background:#fff3b0}"
    "tr.only_ref td,tr.only_test td{color:#888}tbody tr{scroll-margin-top:40px}"
    ".legend span{margin-right:16px}pre{white-space:pre-wrap;color:#555}";

/* Sorting by a clicked header, numbers by data-v. "#sort=COLUMN" or
 * "#sort=-COLUMN" in the URL sorts on load (links can share a view). A
 * "#row-N" link (headline, chart) scrolls the table's box to that row. */
static const char html_script[] =
    "(function(){"
    "var t=document.getElementById('rows');var hs=t.tHead.rows[0].cells;"
    "function key(td,num){return num?parseFloat(td.getAttribute('data-v')):td.textContent;}"
    "function sortBy(i,desc){var num=hs[i].hasAttribute('data-num');var b=t.tBodies[0];"
    "var rs=Array.prototype.slice.call(b.rows);"
    "rs.sort(function(x,y){var a=key(x.cells[i],num),c=key(y.cells[i],num);"
    "if(num){if(isNaN(a))a=-Infinity;if(isNaN(c))c=-Infinity;}"
    "var r=a<c?-1:a>c?1:0;if(!r)r=x.getAttribute('data-row')-y.getAttribute('data-row');return desc?-r:r;});"
    "rs.forEach(function(r){b.appendChild(r);});"
    "for(var j=0;j<hs.length;j++)hs[j].className=hs[j].className.replace(/ ?sorted-\\w+/g,'');"
    "hs[i].className+=desc?' sorted-desc':' sorted-asc';t.setAttribute('data-sorted',hs[i].getAttribute('data-col')+(desc?':desc':':asc'));}"
    "for(var i=0;i<hs.length;i++)(function(i){hs[i].addEventListener('click',function(){"
    "sortBy(i,hs[i].className.indexOf('sorted-asc')>=0);});})(i);"
    "var m=/sort=(-?)(\\w+)/.exec(location.hash);if(m)for(var i=0;i<hs.length;i++)"
    "if(hs[i].getAttribute('data-col')===m[2])sortBy(i,m[1]==='-');"
    "function show(){var r=/^#row-(\\d+)$/.exec(location.hash);if(!r)return;"
    "var tr=document.getElementById('row-'+r[1]);if(!tr)return;var box=document.getElementById('table-box');"
    "box.scrollTop=Math.max(0,tr.offsetTop-box.clientHeight/2);var t=tr.getBoundingClientRect();"
    "if(t.top<0||t.bottom>window.innerHeight)window.scrollBy(0,t.top-window.innerHeight/2);}"
    "window.addEventListener('hashchange',show);window.addEventListener('load',function(){setTimeout(show,0);});show();"
    "document.body.setAttribute('data-ready','1');"
    "})();";

/* The row's repro command: `layerout extract` on the dump in the model's
 * layout (not a QNN folder), at the row's worst sample. */
static void extract_command(const lo_comparison *c, const lo_row *r, FILE *f) {
    const lo_dump *d = c->ref.kind != LO_DUMP_QNN ? &c->ref : c->test.kind != LO_DUMP_QNN ? &c->test : NULL;
    int t = d == &c->ref ? r->ref : r->test;
    if (!d || t < 0 || c->options.dumps_temporary) return;
    fputs("layerout extract ", f);
    html_str(f, c->options.model_path ? c->options.model_path : "MODEL.onnx");
    fputs(" --dump ", f);
    html_str(f, d->path);
    fputs(" --tensor '", f);
    html_str(f, d->tensors[t].file);
    fprintf(f, "' --sample %d%s -o pack_", compared(r) ? r->worst_sample : c->ref_sample0,
            d->quantized ? " --encodings ENCODINGS.json" : "");
    html_str(f, d->tensors[t].file);
}

/* The chart: SQNR per tensor in graph order (pooled, and the per-sample
 * minimum when there are several samples), the threshold, the first
 * divergence, and a mark under the axis for every tensor not compared.
 * Every point and mark links to its table row and names its tensor on
 * hover; names are written along the axis where they fit (every one up to
 * ~70 tensors, every k-th beyond). Static SVG: it shows without scripts. */
static void html_chart(const lo_comparison *c, FILE *f) {
    const double W = 1100, H = 470, L = 56, R = 20, T = 24, B = 170;
    int n = c->n_rows;
    double lo = c->options.sqnr_min - 10, hi = c->options.sqnr_min + 30;
    for (int r = 0; r < n; r++) {
        const lo_row *row = &c->rows[r];
        if (!compared(row)) continue;
        double v[2] = {row->sqnr, row->sqnr_min};
        for (int k = 0; k < 2; k++) {
            if (!isfinite(v[k])) continue;
            if (v[k] < lo) lo = v[k];
            if (v[k] > hi) hi = v[k];
        }
    }
    lo = floor(lo / 10) * 10 - 10;
    hi = ceil(hi / 10) * 10 + 10; /* the top band holds +inf points, the bottom band -inf */
    double pw = W - L - R, ph = H - T - B;
#define X(i) (L + (n > 1 ? pw * (i) / (n - 1) : pw / 2))
#define Y(v) (T + ph * (1 - ((v) - lo) / (hi - lo)))
    fprintf(f, "<svg id=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"SQNR per layer\">\n", W, H, W, H);
    for (double g = lo; g <= hi + 1e-9; g += (hi - lo) > 100 ? 20 : 10) {
        fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>", L, W - R, Y(g), Y(g));
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%s</text>\n", L - 6,
                Y(g) + 4, g == hi ? "inf" : g == lo ? "-inf" : "");
        if (g != hi && g != lo)
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%.0f</text>\n", L - 6,
                    Y(g) + 4, g);
    }
    fprintf(f, "<text x=\"14\" y=\"%.1f\" font-size=\"12\" transform=\"rotate(-90 14 %.1f)\" "
               "text-anchor=\"middle\">SQNR (dB)</text>\n", T + ph / 2, T + ph / 2);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\">tensor, in graph order "
               "(&#215; not compared)</text>\n", L + pw / 2, H - 6);
    /* threshold */
    fprintf(f, "<line id=\"threshold\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#c0392b\" "
               "stroke-dasharray=\"6 4\"/><text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" fill=\"#c0392b\" "
               "text-anchor=\"end\">threshold %.1f dB</text>\n", L, W - R, Y(c->options.sqnr_min),
            Y(c->options.sqnr_min), W - R - 4, Y(c->options.sqnr_min) - 4, c->options.sqnr_min);
    if (c->first_divergence >= 0) {
        double x = X(c->first_divergence);
        fprintf(f, "<a href=\"#row-%d\"><line id=\"first-divergence\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" "
                   "stroke=\"#e67e22\" stroke-width=\"2\"/><text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" "
                   "fill=\"#e67e22\">first divergence #%d</text></a>\n", c->first_divergence, x, x, T, T + ph,
                x + 4, T + 12, c->first_divergence);
    }
    /* lines: pooled and (several samples) the per-sample minimum */
    for (int series = 0; series < (c->n_samples > 1 ? 2 : 1); series++) {
        fprintf(f, "<polyline class=\"series\" data-series=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\"%s points=\"",
                series ? "sqnr_min" : "sqnr", series ? "#8e44ad" : "#2471a3", series ? " stroke-dasharray=\"3 2\"" : "");
        for (int r = 0; r < n; r++) {
            if (!compared(&c->rows[r])) continue;
            double v = series ? c->rows[r].sqnr_min : c->rows[r].sqnr;
            double y = isinf(v) ? (v > 0 ? Y(hi) : Y(lo)) : Y(v);
            fprintf(f, "%.1f,%.1f ", X(r), y);
        }
        fputs("\"/>\n", f);
    }
    if (c->isolated) {
        /* analyze: each layer's isolated SQNR, where it was measured */
        fputs("<polyline class=\"series\" data-series=\"isolated\" fill=\"none\" stroke=\"#1e8449\" "
              "stroke-width=\"1.5\" points=\"", f);
        for (int r = 0; r < n; r++) {
            double v = c->isolated[r];
            if (!compared(&c->rows[r]) || isnan(v)) continue;
            fprintf(f, "%.1f,%.1f ", X(r), isinf(v) ? (v > 0 ? Y(hi) : Y(lo)) : Y(v));
        }
        fputs("\"/>\n", f);
    }
    double axis = T + ph; /* marks for the not compared sit just under the plot */
    for (int r = 0; r < n; r++) {
        const lo_row *row = &c->rows[r];
        char a[32], b[32];
        fprintf(f, "<a href=\"#row-%d\">", r);
        if (compared(row)) {
            double v = row->sqnr;
            double y = isinf(v) ? (v > 0 ? Y(hi) : Y(lo)) : Y(v);
            fprintf(f, "<circle class=\"pt\" data-row=\"%d\" cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\"><title>#%d ",
                    r, X(r), y, n > 200 ? 2.5 : 3.5, row->below ? "#c0392b" : row->drop ? "#e67e22" : "#2471a3", r);
            html_str(f, row->name);
            fprintf(f, ": %s dB pooled (min %s dB)</title></circle>", lo_format_db(row->sqnr, a, sizeof a),
                    lo_format_db(row->sqnr_min, b, sizeof b));
        } else {
            double x = X(r), y = axis + 8, d = n > 200 ? 2.5 : 4;
            const char *color = row->status == LO_ROW_ERROR ? "#c0392b" : "#999";
            fprintf(f, "<path class=\"nc\" data-row=\"%d\" data-status=\"%s\" data-x=\"%.1f\" d=\"M%.1f %.1fL%.1f %.1fM%.1f "
                       "%.1fL%.1f %.1f\" stroke=\"%s\" stroke-width=\"2\"><title>#%d ", r, status_name(row->status), x,
                    x - d, y - d, x + d, y + d, x - d, y + d, x + d, y - d, color, r);
            html_str(f, row->name);
            fputs(": not compared: ", f);
            html_str(f, row->status == LO_ROW_ERROR && row->error ? row->error
                        : row->status == LO_ROW_ONLY_REF ? "only in REF" : "only in TEST");
            fputs("</title></path>", f);
        }
        fputs("</a>\n", f);
    }
    /* names along the axis: as many as fit at 13 px apart, ends kept */
    int step = 1;
    while (n > 0 && pw * step / (n > 1 ? n - 1 : 1) < 13) step++;
    for (int r = 0; r < n; r += step) {
        const lo_row *row = &c->rows[r];
        char shown[40];
        int len = (int)strlen(row->name);
        if (len <= 26) snprintf(shown, sizeof shown, "%s", row->name);
        else snprintf(shown, sizeof shown, "...%s", row->name + len - 23);
        double x = X(r), y = axis + 18;
        fprintf(f, "<a href=\"#row-%d\"><text class=\"xname\" data-row=\"%d\" x=\"%.1f\" y=\"%.1f\" font-size=\"10\" "
                   "text-anchor=\"end\" transform=\"rotate(-60 %.1f %.1f)\"%s><title>", r, r, x, y, x, y,
                   compared(row) ? "" : " fill=\"#c0392b\"");
        html_str(f, row->name);
        fputs("</title>", f);
        html_str(f, shown);
        fputs("</text></a>\n", f);
    }
#undef X
#undef Y
    fputs("</svg>\n", f);
    fprintf(f, "<div class=\"legend\"><span style=\"color:#2471a3\">&#9679; %s</span>%s%s"
               "<span style=\"color:#c0392b\">&#9679; below threshold</span>"
               "<span style=\"color:#e67e22\">&#9679; sharp drop</span>"
               "<span style=\"color:#c0392b\">&#215; not comparable</span>"
               "<span style=\"color:#999\">&#215; only in REF or TEST</span>"
               "<span>click a point or name for its row</span></div>\n",
            c->isolated ? "cumulative SQNR (pooled)" : "pooled SQNR",
            c->n_samples > 1 ? "<span style=\"color:#8e44ad\">- - per-sample minimum</span>" : "",
            c->isolated ? "<span style=\"color:#1e8449\">&#8212; isolated SQNR</span>" : "");
}

static void card(FILE *f, const char *cls, const char *label, const char *value) {
    fprintf(f, "<div class=\"card %s\"><b>", cls);
    html_str(f, value);
    fprintf(f, "</b>%s</div>", label);
}

lo_status lo_report_html(const lo_comparison *c, const char *path, lo_error *err) {
    membuf m;
    LO_TRY(mem_open(&m, err));
    FILE *f = m.f;
    char a[64], b[64];
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          "<meta name=\"viewport\" content=\"width=device-width\"><title>", f);
    const char *title = c->isolated ? "layerout analyze" : "layerout compare";
    fprintf(f, "%s</title><style>", title);
    fputs(html_style, f);
    fprintf(f, "</style></head>\n<body>\n<h1>%s</h1>\n<div class=\"paths\">REF ", title);
    html_str(f, c->ref.path);
    fprintf(f, " (%s, %d samples) &mdash; TEST ", lo_dump_kind_name(c->ref.kind), c->ref.n_samples);
    html_str(f, c->test.path);
    fprintf(f, " (%s, %d samples) &mdash; %d sample(s) compared, layerout %s</div>\n",
            lo_dump_kind_name(c->test.kind), c->test.n_samples, c->n_samples, lo_version());
    bool ok = c->n_below == 0 && c->n_error == 0;
    fputs("<div class=\"sum\" id=\"summary\">", f);
    card(f, ok ? "good" : "bad", "verdict", ok ? "PASS" : "FAIL");
    snprintf(a, sizeof a, "%d", c->n_compared);
    card(f, "", "compared", a);
    snprintf(a, sizeof a, "%d", c->n_below);
    card(f, c->n_below ? "bad" : "good", "below threshold", a);
    snprintf(a, sizeof a, "%d", c->n_error);
    card(f, c->n_error ? "bad" : "", "not comparable", a);
    snprintf(a, sizeof a, "%d / %d", c->n_only_ref, c->n_only_test);
    card(f, "", "only in REF / TEST", a);
    snprintf(a, sizeof a, "%s dB", lo_format_db(c->options.sqnr_min, b, sizeof b));
    card(f, "", "threshold", a);
    fputs("</div>\n<p id=\"first\">First divergence: ", f);
    if (c->first_divergence >= 0) {
        const lo_row *r = &c->rows[c->first_divergence];
        fprintf(f, "<a id=\"first-link\" href=\"#row-%d\"><b>#%d ", c->first_divergence, c->first_divergence);
        html_str(f, r->name);
        fprintf(f, "</b></a> &mdash; SQNR %s dB pooled", lo_format_db(r->sqnr, a, sizeof a));
        if (c->n_samples > 1)
            fprintf(f, ", %s dB in sample %d", lo_format_db(r->sqnr_min, b, sizeof b), r->worst_sample);
        fprintf(f, "%s%s", r->below ? ", below the threshold" : "", r->drop ? ", a sharp drop from its inputs" : "");
    } else {
        fputs("none: every compared tensor is at or above the threshold", f);
    }
    fprintf(f, ". Producers for the drop rule: %s.</p>\n",
            c->producers_from_model ? "the model's edges" : "graph order (previous compared tensor)");
    if (c->notes && *c->notes) {
        fputs("<pre id=\"notes\">", f);
        html_str(f, c->notes);
        fputs("</pre>\n", f);
    }
    html_chart(c, f);
    /* the table: every row, including the unmatched and the not comparable;
     * the reason a row was not compared comes right after its status, so it
     * is on screen without scrolling */
    static const struct { const char *col, *label; bool num; } cols[] = {
        {"index", "#", true}, {"tensor", "tensor", false}, {"status", "status", false},
        {"reason", "not compared because", false}, {"shape", "shape", false}, {"sqnr", "SQNR dB", true},
        {"sqnr_min", "min SQNR dB", true}, {"cosine", "cosine", true}, {"mse", "MSE", true},
        {"mean_abs", "mean |err|", true}, {"max_abs", "max |err|", true}, {"at", "at", false},
        {"rel_l2", "rel L2", true}, {"atol", "atol", true}, {"rtol", "rtol", true},
        {"input_sqnr", "inputs dB", true}, {"nonfinite", "NaN/Inf ref/test (first at)", false},
        {"layout", "layout", false}, {"files", "REF / TEST file", false}, {"extract", "repro pack", false}};
    fputs("<div id=\"table-box\"><table id=\"rows\"><thead><tr>", f);
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) {
        fprintf(f, "<th data-col=\"%s\"%s%s>%s</th>", cols[i].col, cols[i].num ? " data-num" : "",
                i == 0 ? " class=\"c0\"" : i == 1 ? " class=\"n c1\"" : i == 3 ? " class=\"n\"" : "", cols[i].label);
        if (i == 6 && c->isolated) fputs("<th data-col=\"isolated\" data-num>isolated dB</th>", f);
    }
    fputs("</tr></thead>\n<tbody>\n", f);
    for (int i = 0; i < c->n_rows; i++) {
        const lo_row *r = &c->rows[i];
        char s[128], w[160];
        fprintf(f, "<tr id=\"row-%d\" data-row=\"%d\" class=\"%s%s\"><td class=\"c0\" data-v=\"%d\">%d</td>"
                   "<td class=\"n c1\" title=\"", i, i, status_name(r->status), i == c->first_divergence ? " first" : "",
                i, i);
        html_str(f, r->name);
        fputs("\">", f);
        html_str(f, r->name);
        fprintf(f, "</td><td>%s%s</td><td class=\"why\">", status_name(r->status), r->drop ? ", drop" : "");
        if (!compared(r))
            html_str(f, r->status == LO_ROW_ERROR && r->error ? r->error
                        : r->status == LO_ROW_ONLY_REF ? "only in REF" : r->status == LO_ROW_ONLY_TEST ? "only in TEST" : "");
        fprintf(f, "</td><td>%s</td>", shape_of(r, s, sizeof s));
        if (compared(r)) {
            const lo_metrics *pm = &r->pooled;
            html_num_cell(f, r->sqnr);
            html_num_cell(f, r->sqnr_min);
            if (c->isolated) html_num_cell(f, c->isolated[i]);
            html_num_cell(f, lo_metrics_cosine(pm));
            html_num_cell(f, lo_metrics_mse(pm));
            html_num_cell(f, lo_metrics_mean_abs(pm));
            html_num_cell(f, pm->max_abs_err);
            fprintf(f, "<td>%s</td>", where(r, pm, c->n_samples > 1, w, sizeof w));
            html_num_cell(f, lo_metrics_rel_l2(pm));
            html_num_cell(f, lo_metrics_atol(pm));
            html_num_cell(f, lo_metrics_rtol(pm));
            html_num_cell(f, r->input_sqnr);
            fprintf(f, "<td>%lld/%lld %lld/%lld%s", (long long)pm->nan_ref, (long long)pm->inf_ref,
                    (long long)pm->nan_test, (long long)pm->inf_test, pm->nonfinite_mismatch ? " mismatch" : "");
            if (pm->first_mismatch >= 0)
                fprintf(f, " at %s", at_index(r, pm->first_mismatch, pm->first_mismatch_sample, c->n_samples > 1, w, sizeof w));
            else if (pm->first_nan_ref >= 0)
                fprintf(f, " at %s", at_index(r, pm->first_nan_ref, pm->first_nan_ref_sample, c->n_samples > 1, w, sizeof w));
            else if (pm->first_inf_ref >= 0)
                fprintf(f, " at %s", at_index(r, pm->first_inf_ref, pm->first_inf_ref_sample, c->n_samples > 1, w, sizeof w));
            fputs("</td><td", f);
            if (r->layout_decision) {
                fputs(" title=\"", f);
                html_str(f, r->layout_decision);
                fputs("\"", f);
            }
            fprintf(f, ">%s</td>", layout_name(r));
        } else {
            /* not measured: sorts with the worst (-inf) so it is not missed */
            fputs("<td data-v=\"-Infinity\"></td><td data-v=\"-Infinity\"></td>", f);
            if (c->isolated) fputs("<td data-v=\"NaN\"></td>", f);
            for (int k = 0; k < 4; k++) fputs("<td data-v=\"NaN\"></td>", f);
            fputs("<td></td>", f);
            for (int k = 0; k < 4; k++) fputs("<td data-v=\"NaN\"></td>", f);
            fputs("<td></td><td></td>", f);
        }
        fputs("<td class=\"n\">", f);
        html_str(f, file_of(&c->ref, r->ref));
        fputs(" / ", f);
        html_str(f, file_of(&c->test, r->test));
        fputs("</td><td class=\"cmd\">", f);
        if (r->ref >= 0 && r->test >= 0) extract_command(c, r, f);
        fputs("</td></tr>\n", f);
    }
    fputs("</tbody></table></div>\n<script>", f);
    fputs(html_script, f);
    fputs("</script>\n</body></html>\n", f);
    return mem_write(&m, path, err);
}
