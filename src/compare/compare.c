/* Pairs the tensors of two dumps, works out each pair's shape, dtypes and
 * layout, measures every sample, and flags the first divergence. */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "compare.h"
#include "../dump/dump.h"
#include "../onnx/onnx.h"

void lo_compare_options_init(lo_compare_options *o) {
    memset(o, 0, sizeof *o);
    o->sqnr_min = LO_COMPARE_DEFAULT_SQNR_MIN;
    o->drop_db = LO_COMPARE_DEFAULT_DROP_DB;
}

/* ---- notes -------------------------------------------------------------------- */

static void note(lo_comparison *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(lo_comparison *c, const char *fmt, ...) {
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    size_t have = c->notes ? strlen(c->notes) : 0, add = strlen(line);
    char *n = realloc(c->notes, have + add + 2);
    if (!n) return;
    memcpy(n + have, line, add);
    n[have + add] = '\n';
    n[have + add + 1] = 0;
    c->notes = n;
}

/* ---- matching ------------------------------------------------------------------ */

/* What a tensor is called once naming schemes are undone: the AIMET-
 * sanitized ONNX name when the dump records it, else the stem with QNN's
 * extra leading '_' dropped. */
static char *canonical_key(const lo_dump *d, const lo_dump_tensor *t) {
    if (t->name) return lo_sanitize_onnx(t->name);
    if (d->kind == LO_DUMP_QNN) return lo_qnn_name_unprefix(t->file);
    return lo_strdup(t->file);
}

/* The sanitized PyTorch module name whose output this tensor is: a
 * module's output is its last node's, so only the last tensor (in graph
 * order) of each module gets the key. */
static char **module_keys(const lo_dump *d) {
    char **keys = calloc((size_t)d->n_tensors + 1, sizeof *keys);
    if (!keys) return NULL;
    json_t *last = json_object();
    for (int i = 0; i < d->n_tensors; i++) {
        const lo_dump_tensor *t = &d->tensors[i];
        char *module = t->module ? lo_strdup(t->module) : lo_module_from_node(t->node);
        if (!module) continue;
        keys[i] = lo_sanitize_name(module);
        free(module);
        if (!keys[i]) continue;
        json_t *prev = json_object_get(last, keys[i]);
        if (prev) {
            int p = (int)json_integer_value(prev);
            free(keys[p]);
            keys[p] = NULL;
        }
        json_object_set_new_nocheck(last, keys[i], json_integer(i));
    }
    json_decref(last);
    return keys;
}

static json_t *index_of(char **keys, int n) {
    json_t *map = json_object();
    for (int i = 0; i < n; i++)
        if (keys[i] && !json_object_get(map, keys[i])) json_object_set_new_nocheck(map, keys[i], json_integer(i));
    return map;
}

static void free_keys(char **keys, int n) {
    if (!keys) return;
    for (int i = 0; i < n; i++) free(keys[i]);
    free(keys);
}

/* Tries to pair every unmatched test tensor through test_keys looked up in
 * ref_keys. */
static void match_pass(char **ref_keys, int n_ref, char **test_keys, int n_test, int *ref_of_test,
                       int *test_of_ref) {
    json_t *map = index_of(ref_keys, n_ref);
    for (int t = 0; t < n_test; t++) {
        if (ref_of_test[t] >= 0 || !test_keys[t]) continue;
        json_t *hit = json_object_get(map, test_keys[t]);
        if (!hit) continue;
        int r = (int)json_integer_value(hit);
        if (test_of_ref[r] >= 0) continue;
        ref_of_test[t] = r;
        test_of_ref[r] = t;
    }
    json_decref(map);
}

static lo_status match(const lo_dump *ref, const lo_dump *test, int *ref_of_test, int *test_of_ref,
                       lo_error *err) {
    for (int i = 0; i < test->n_tensors; i++) ref_of_test[i] = -1;
    for (int i = 0; i < ref->n_tensors; i++) test_of_ref[i] = -1;
    char **rs = calloc((size_t)ref->n_tensors + 1, sizeof *rs);
    char **ts = calloc((size_t)test->n_tensors + 1, sizeof *ts);
    char **rc = calloc((size_t)ref->n_tensors + 1, sizeof *rc);
    char **tc = calloc((size_t)test->n_tensors + 1, sizeof *tc);
    char **rm = module_keys(ref), **tm = module_keys(test);
    lo_status st = LO_OK;
    if (!rs || !ts || !rc || !tc || !rm || !tm) {
        st = lo_fail(err, LO_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < ref->n_tensors; i++) {
        rs[i] = lo_strdup(ref->tensors[i].file);
        rc[i] = canonical_key(ref, &ref->tensors[i]);
    }
    for (int i = 0; i < test->n_tensors; i++) {
        ts[i] = lo_strdup(test->tensors[i].file);
        tc[i] = canonical_key(test, &test->tensors[i]);
    }
    /* Most specific first: the same file name, then the same tensor once
     * schemes are undone, then a PyTorch module against a tensor or module. */
    match_pass(rs, ref->n_tensors, ts, test->n_tensors, ref_of_test, test_of_ref);
    match_pass(rc, ref->n_tensors, tc, test->n_tensors, ref_of_test, test_of_ref);
    match_pass(rm, ref->n_tensors, tc, test->n_tensors, ref_of_test, test_of_ref);
    match_pass(rc, ref->n_tensors, tm, test->n_tensors, ref_of_test, test_of_ref);
    match_pass(rm, ref->n_tensors, tm, test->n_tensors, ref_of_test, test_of_ref);
done:
    free_keys(rs, ref->n_tensors);
    free_keys(ts, test->n_tensors);
    free_keys(rc, ref->n_tensors);
    free_keys(tc, test->n_tensors);
    free_keys(rm, ref->n_tensors);
    free_keys(tm, test->n_tensors);
    return st;
}

/* ---- the model: shapes and producers --------------------------------------------- */

static int64_t numel_of(int rank, const int64_t *dims) {
    int64_t n = 1;
    for (int d = 0; d < rank; d++) n *= dims[d];
    return n;
}

typedef struct model_info {
    lo_model_ir *ir;
    json_t *by_key; /* sanitized and QNN names of every value -> value index */
    int *run_rank;  /* per value: rank seen when the model was run once, -1 when not */
    int64_t (*run_dims)[LO_MAX_RANK];
    char *run_note; /* why the model could not be run, or NULL */
} model_info;

static lo_status model_open(const char *path, model_info *mi, lo_error *err) {
    memset(mi, 0, sizeof *mi);
    LO_TRY(lo_onnx_load(path, &mi->ir, err));
    mi->by_key = json_object();
    const lo_graph *g = mi->ir->graph;
    for (int v = 0; v < g->n_values; v++) {
        /* a stem as AIMET's ONNX scheme, plain sanitizing or QNN names it */
        char *keys[3] = {lo_sanitize_onnx(g->values[v].name), lo_sanitize_name(g->values[v].name),
                         lo_sanitize_qnn(g->values[v].name)};
        for (int k = 0; k < 3; k++) {
            if (keys[k] && !json_object_get(mi->by_key, keys[k]))
                json_object_set_new_nocheck(mi->by_key, keys[k], json_integer(v));
            free(keys[k]);
        }
    }
    return LO_OK;
}

static void model_close(model_info *mi) {
    if (mi->ir) lo_model_ir_free(mi->ir);
    json_decref(mi->by_key);
    free(mi->run_rank);
    free(mi->run_dims);
    free(mi->run_note);
}

static bool shape_known(int rank, const int64_t *dims) {
    if (rank < 0) return false;
    for (int d = 0; d < rank; d++)
        if (dims[d] < 0) return false;
    return true;
}

static lo_status record_shape(void *user, const lo_layer_output *o, lo_error *err) {
    model_info *mi = user;
    int v = lo_graph_find(mi->ir->graph, o->name);
    if (v >= 0 && o->tensor.rank <= LO_MAX_RANK && o->iteration < 0) {
        mi->run_rank[v] = o->tensor.rank;
        for (int d = 0; d < o->tensor.rank; d++) mi->run_dims[v][d] = o->tensor.dims[d];
    }
    return LO_OK;
}

/* The REF dump's tensor that is graph input `name`, or -1. */
static int dump_tensor_of(const lo_dump *d, const char *name) {
    char *a = lo_sanitize_onnx(name), *p = lo_sanitize_name(name), *q = lo_sanitize_qnn(name);
    int found = -1;
    for (int i = 0; i < d->n_tensors && found < 0; i++) {
        const lo_dump_tensor *t = &d->tensors[i];
        if ((t->name && !strcmp(t->name, name)) || (a && !strcmp(t->file, a)) || (p && !strcmp(t->file, p)) ||
            (q && !strcmp(t->file, q)))
            found = i;
    }
    free(a);
    free(p);
    free(q);
    return found;
}

/* Shapes value_info does not give: the model is run once through the
 * engine, on REF's own copy of each graph input when it holds one of the
 * right size (QNN folders keep images channel-last, so not theirs), else
 * on zeros of the input's declared shape. A model that cannot be run leaves
 * the shapes unknown, and the notes say why. */
static void model_run_shapes(model_info *mi, const char *path, const lo_dump *ref) {
    const lo_graph *g = mi->ir->graph;
    bool need = false;
    for (int v = 0; v < g->n_values && !need; v++) {
        const lo_value *val = &g->values[v];
        if ((val->kind == LO_VALUE_NODE || val->kind == LO_VALUE_INPUT) && !val->is_optional_type &&
            !shape_known(val->decl_rank, val->decl_dims))
            need = true;
    }
    if (!need) return;
    mi->run_rank = malloc((size_t)(g->n_values + 1) * sizeof *mi->run_rank);
    mi->run_dims = calloc((size_t)(g->n_values + 1), sizeof *mi->run_dims);
    if (!mi->run_rank || !mi->run_dims) return;
    for (int v = 0; v < g->n_values; v++) mi->run_rank[v] = -1;
    lo_error err;
    lo_model *m = NULL;
    lo_session *s = NULL;
    lo_session_options so;
    lo_session_options_init(&so);
    int n_in = 0;
    lo_tensor_view *views = NULL;
    int64_t (*dims)[LO_MAX_RANK] = NULL;
    void **zeros = NULL;
    lo_mapped *maps = NULL;
    char why[600] = "";
    if (lo_model_load(path, &m, &err) != LO_OK || lo_session_create(m, &so, &s, &err) != LO_OK) {
        snprintf(why, sizeof why, "%s", err.message);
        goto done;
    }
    n_in = lo_model_input_count(m);
    views = calloc((size_t)n_in + 1, sizeof *views);
    dims = calloc((size_t)n_in + 1, sizeof *dims);
    zeros = calloc((size_t)n_in + 1, sizeof *zeros);
    maps = calloc((size_t)n_in + 1, sizeof *maps);
    if (!views || !dims || !zeros || !maps) goto done;
    for (int i = 0; i < n_in; i++) {
        const char *name = lo_model_input_name(m, i);
        lo_dtype dt = lo_model_input_dtype(m, i);
        int rank = lo_model_input_rank(m, i);
        int t = ref->kind == LO_DUMP_QNN ? -1 : dump_tensor_of(ref, name);
        const lo_dump_tensor *dt_ref = t >= 0 ? &ref->tensors[t] : NULL;
        bool have_shape = rank >= 0 && rank <= LO_MAX_RANK;
        for (int d = 0; have_shape && d < rank; d++) {
            dims[i][d] = lo_model_input_dim(m, i, d);
            if (dims[i][d] < 0) have_shape = false;
        }
        if (!have_shape && dt_ref && shape_known(dt_ref->rank, dt_ref->dims)) {
            rank = dt_ref->rank;
            memcpy(dims[i], dt_ref->dims, sizeof dims[i]);
            have_shape = true;
        }
        if (!have_shape) {
            snprintf(why, sizeof why, "graph input '%s' has no static shape and REF does not record one", name);
            goto done;
        }
        size_t esz = lo_dtype_size(dt);
        int64_t n = numel_of(rank, dims[i]);
        size_t bytes = (size_t)n * esz;
        views[i] = (lo_tensor_view){name, dt, rank, dims[i], NULL, bytes};
        if (t >= 0 && dt != LO_STRING && lo_dump_map(ref, 0, t, &maps[i], &err) == LO_OK && maps[i].nbytes == bytes)
            views[i].data = maps[i].data;
        if (!views[i].data) {
            if (dt == LO_STRING || !esz) {
                snprintf(why, sizeof why, "graph input '%s' is a %s tensor REF does not hold", name,
                         lo_dtype_name(dt));
                goto done;
            }
            zeros[i] = calloc(bytes ? bytes : 1, 1);
            if (!zeros[i]) goto done;
            views[i].data = zeros[i];
        }
    }
    if (lo_session_run(s, views, n_in, record_shape, mi, &err) != LO_OK) snprintf(why, sizeof why, "%s", err.message);
done:
    if (why[0]) {
        free(mi->run_note);
        size_t len = strlen(why) + strlen(path) + 64;
        mi->run_note = malloc(len);
        if (mi->run_note) snprintf(mi->run_note, len, "'%s' could not be run for shapes: %s", path, why);
    }
    for (int i = 0; i < n_in && maps; i++) {
        lo_unmap(&maps[i]);
        if (zeros) free(zeros[i]);
    }
    free(views);
    free(dims);
    free(zeros);
    free(maps);
    lo_session_free(s);
    lo_model_free(m);
}

/* The model value a row stands for, -1 when none. */
static int model_value(const model_info *mi, const lo_comparison *c, const lo_row *row) {
    if (!mi->ir) return -1;
    const lo_graph *g = mi->ir->graph;
    const lo_dump_tensor *sides[2] = {row->ref >= 0 ? &c->ref.tensors[row->ref] : NULL,
                                      row->test >= 0 ? &c->test.tensors[row->test] : NULL};
    for (int s = 0; s < 2; s++) {
        if (sides[s] && sides[s]->name) {
            int v = lo_graph_find(g, sides[s]->name);
            if (v >= 0) return v;
        }
    }
    for (int s = 0; s < 2; s++) {
        if (!sides[s]) continue;
        json_t *hit = json_object_get(mi->by_key, sides[s]->file);
        if (hit) return (int)json_integer_value(hit);
    }
    return -1;
}

/* ---- measuring one pair ------------------------------------------------------------ */

static int64_t numel(int rank, const int64_t *dims) { return numel_of(rank, dims); }

static void set_error(lo_row *row, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(lo_row *row, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    free(row->error);
    row->error = lo_strdup(msg);
    row->status = LO_ROW_ERROR;
}

/* The dtype of a side's file: its manifest's, its .npy header's, else the
 * other side's when the byte count fits, else float32 (what AIMET and QNN
 * write for activations). */
static lo_dtype side_dtype(const lo_dump_tensor *t, const lo_mapped *m, lo_dtype other, int64_t n) {
    if (t->dtype) return t->dtype;
    if (m->npy_dtype) return m->npy_dtype;
    if (other && n >= 0 && (size_t)n * lo_dtype_size(other) == m->nbytes) return other;
    return LO_FLOAT;
}

static void set_pair(lo_pair *p, const lo_row *row, int64_t n, bool ref_cl, bool test_cl) {
    if (ref_cl || test_cl) {
        p->outer = row->dims[0];
        p->channels = row->dims[1];
        p->inner = n / (p->outer * p->channels);
    } else {
        p->outer = 1;
        p->channels = 1;
        p->inner = n;
    }
    p->ref_channel_last = ref_cl;
    p->test_channel_last = test_cl;
}

/* Maps compared sample k of a row's two files. */
static lo_status map_pair(lo_comparison *c, const lo_row *row, int k, lo_mapped *rm, lo_mapped *tm, lo_error *err) {
    int rk = c->ref_sample0 - c->ref.first_sample + k, tk = c->test_sample0 - c->test.first_sample + k;
    if (lo_dump_map(&c->ref, rk, row->ref, rm, err) != LO_OK) return err->status;
    if (lo_dump_map(&c->test, tk, row->test, tm, err) != LO_OK) {
        lo_unmap(rm);
        return err->status;
    }
    return LO_OK;
}

static bool better_reading(const lo_metrics *a, const lo_metrics *b) {
    if (a->nonfinite_mismatch != b->nonfinite_mismatch) return a->nonfinite_mismatch < b->nonfinite_mismatch;
    double sa = lo_metrics_sqnr(a), sb = lo_metrics_sqnr(b);
    if (sa != sb) return sa > sb;
    return a->err_sq < b->err_sq;
}

static void measure_row(lo_comparison *c, lo_row *row, const model_info *mi) {
    const lo_dump_tensor *rt = &c->ref.tensors[row->ref], *tt = &c->test.tensors[row->test];
    lo_error err;
    lo_mapped rm, tm;
    int ns = c->n_samples;
    row->samples = calloc((size_t)(ns ? ns : 1), sizeof *row->samples);
    lo_metrics *alt = calloc((size_t)(ns ? ns : 1), sizeof *alt); /* the other reading, when in question */
    if (!row->samples || !alt) {
        free(alt);
        set_error(row, "out of memory");
        return;
    }
    lo_metrics_init(&row->pooled);
    row->sqnr_min = INFINITY;
    row->worst_sample = 0;
    int64_t n = -1;
    size_t rsz = 0, tsz = 0;
    bool in_question = false, qnn_ref = c->ref.kind == LO_DUMP_QNN;
    if (map_pair(c, row, 0, &rm, &tm, &err) != LO_OK) {
        set_error(row, "sample %d: %s", c->ref_sample0, err.message);
        free(alt);
        return;
    }
    /* Shape: a manifest's, the model's (declared, else seen when run), a
     * .npy header's; else flat. */
    int v = model_value(mi, c, row);
    const lo_value *mv = v >= 0 ? &mi->ir->graph->values[v] : NULL;
    row->rank = -1;
    if (shape_known(rt->rank, rt->dims)) {
        row->rank = rt->rank;
        memcpy(row->dims, rt->dims, sizeof row->dims);
        row->shape_source = "ref manifest";
    } else if (shape_known(tt->rank, tt->dims)) {
        row->rank = tt->rank;
        memcpy(row->dims, tt->dims, sizeof row->dims);
        row->shape_source = "test manifest";
    } else if (mv && shape_known(mv->decl_rank, mv->decl_dims)) {
        row->rank = mv->decl_rank;
        memcpy(row->dims, mv->decl_dims, sizeof row->dims);
        row->shape_source = "model";
    } else if (mv && mi->run_rank && mi->run_rank[v] >= 0) {
        row->rank = mi->run_rank[v];
        memcpy(row->dims, mi->run_dims[v], sizeof row->dims);
        row->shape_source = "model run";
    } else if (c->ref.kind != LO_DUMP_QNN && rm.npy_rank >= 0) {
        row->rank = rm.npy_rank;
        memcpy(row->dims, rm.npy_dims, sizeof row->dims);
        row->shape_source = "npy";
    } else if (c->test.kind != LO_DUMP_QNN && tm.npy_rank >= 0) {
        row->rank = tm.npy_rank;
        memcpy(row->dims, tm.npy_dims, sizeof row->dims);
        row->shape_source = "npy";
    } else {
        row->shape_source = "flat";
    }
    n = row->rank >= 0 ? numel(row->rank, row->dims) : -1;
    lo_dtype rdecl = rt->dtype ? rt->dtype : rm.npy_dtype;
    lo_dtype tdecl = tt->dtype ? tt->dtype : tm.npy_dtype;
    row->ref_dtype = side_dtype(rt, &rm, tdecl, n);
    row->test_dtype = side_dtype(tt, &tm, rdecl ? rdecl : row->ref_dtype, n);
    rsz = lo_dtype_size(row->ref_dtype);
    tsz = lo_dtype_size(row->test_dtype);
    if (row->ref_dtype == LO_STRING || row->test_dtype == LO_STRING) {
        set_error(row, "string tensors are not compared");
    } else if (n < 0) {
        /* no shape anywhere: compare flat when the element counts agree */
        int64_t rn = rsz ? (int64_t)(rm.nbytes / rsz) : -1, tn = tsz ? (int64_t)(tm.nbytes / tsz) : -1;
        if (rn != tn || (size_t)rn * rsz != rm.nbytes || (size_t)tn * tsz != tm.nbytes)
            set_error(row, "REF holds %zu bytes (%s), TEST %zu bytes (%s), and no shape is known "
                      "(give --model)", rm.nbytes, lo_dtype_name(row->ref_dtype), tm.nbytes,
                      lo_dtype_name(row->test_dtype));
        n = rn;
    }
    lo_unmap(&rm);
    lo_unmap(&tm);
    if (row->status == LO_ROW_ERROR) {
        free(alt);
        return;
    }
    in_question = (c->ref.kind == LO_DUMP_QNN) != (c->test.kind == LO_DUMP_QNN) && row->rank >= 3 && n > 0 &&
                  row->dims[1] > 1 && n / (row->dims[0] * row->dims[1]) > 1;
    for (int k = 0; k < ns; k++) {
        int sample = c->ref_sample0 + k;
        if (map_pair(c, row, k, &rm, &tm, &err) != LO_OK) {
            set_error(row, "sample %d: %s", sample, err.message);
            free(alt);
            return;
        }
        /* every sample is held to the size sample 0 set: a short or empty
         * later file is a reason, never a read past its end */
        char s[128];
        if ((rm.npy_dtype && rm.npy_dtype != row->ref_dtype) || (tm.npy_dtype && tm.npy_dtype != row->test_dtype)) {
            set_error(row, "sample %d: a .npy file of dtype %s, where REF is %s and TEST %s", sample,
                      lo_dtype_name(rm.npy_dtype && rm.npy_dtype != row->ref_dtype ? rm.npy_dtype : tm.npy_dtype),
                      lo_dtype_name(row->ref_dtype), lo_dtype_name(row->test_dtype));
        } else if (rm.nbytes != (size_t)n * rsz || tm.nbytes != (size_t)n * tsz) {
            if (row->rank >= 0)
                set_error(row, "sample %d: a %s tensor needs %lld elements; REF holds %zu bytes of %s, TEST %zu "
                          "bytes of %s", sample, lo_shape_str(row->rank, row->dims, s, sizeof s), (long long)n,
                          rm.nbytes, lo_dtype_name(row->ref_dtype), tm.nbytes, lo_dtype_name(row->test_dtype));
            else
                set_error(row, "sample %d: REF holds %zu bytes (%s), TEST %zu bytes (%s), where sample %d held "
                          "%lld elements and no shape is known", sample, rm.nbytes, lo_dtype_name(row->ref_dtype),
                          tm.nbytes, lo_dtype_name(row->test_dtype), c->ref_sample0, (long long)n);
        }
        if (row->status == LO_ROW_ERROR) {
            lo_unmap(&rm);
            lo_unmap(&tm);
            free(alt);
            return;
        }
        lo_pair p = {rm.data, row->ref_dtype, tm.data, row->test_dtype, 0, 0, 0, false, false};
        set_pair(&p, row, n, false, false);
        lo_status st = lo_metrics_compute(&p, &row->samples[k], &err);
        if (st == LO_OK && in_question) {
            /* QNN keeps images channel-last, but not every rank-4 tensor is
             * an image: both readings are measured, the choice is made on
             * all samples together below */
            set_pair(&p, row, n, qnn_ref, !qnn_ref);
            st = lo_metrics_compute(&p, &alt[k], &err);
        }
        lo_unmap(&rm);
        lo_unmap(&tm);
        if (st != LO_OK) {
            set_error(row, "%s", err.message);
            free(alt);
            return;
        }
    }
    if (in_question) {
        lo_metrics as_is, swapped;
        lo_metrics_init(&as_is);
        lo_metrics_init(&swapped);
        int votes = 0;
        for (int k = 0; k < ns; k++) {
            lo_metrics_merge(&as_is, &row->samples[k], k);
            lo_metrics_merge(&swapped, &alt[k], k);
            votes += better_reading(&alt[k], &row->samples[k]);
        }
        bool swap = better_reading(&swapped, &as_is);
        char msg[256];
        snprintf(msg, sizeof msg, "%s: %s fits better pooled over %d sample%s (better in %d of them)",
                 swap ? (qnn_ref ? "ref channel-last" : "test channel-last") : "same",
                 swap ? "reading the QNN side channel-last" : "reading both sides as stored", ns, ns == 1 ? "" : "s",
                 swap ? votes : ns - votes);
        row->layout_decision = lo_strdup(msg);
        if (swap) {
            memcpy(row->samples, alt, (size_t)ns * sizeof *alt);
            row->ref_channel_last = qnn_ref;
            row->test_channel_last = !qnn_ref;
        }
    }
    free(alt);
    for (int k = 0; k < ns; k++) {
        lo_metrics *m = &row->samples[k];
        int sample = c->ref_sample0 + k;
        m->max_abs_sample = m->first_nan_ref_sample = m->first_inf_ref_sample = m->first_nan_test_sample =
            m->first_inf_test_sample = m->first_mismatch_sample = sample;
        lo_metrics_merge(&row->pooled, m, sample);
        double s = lo_metrics_sqnr(m);
        if (k == 0 || s < row->sqnr_min) {
            row->sqnr_min = s;
            row->worst_sample = sample;
        }
        row->n_samples = k + 1;
    }
    row->sqnr = lo_metrics_sqnr(&row->pooled);
    row->status = LO_ROW_PASS;
}

/* ---- the drop rule ----------------------------------------------------------------- */

/* Rows feeding row r through the model's edges: the nearest compared
 * ancestors, walking through tensors that are not in both dumps (fused away
 * by the runtime, initializers are skipped). */
static void model_inputs(lo_comparison *c, const model_info *mi, const int *row_of_value, int r,
                         int v0, bool *seen, int *stack) {
    const lo_graph *g = mi->ir->graph;
    memset(seen, 0, (size_t)g->n_values * sizeof *seen);
    lo_row *row = &c->rows[r];
    int top = 0;
    seen[v0] = true;
    stack[top++] = v0;
    while (top > 0) {
        int v = stack[--top];
        int node = g->values[v].producer;
        if (node < 0) continue;
        const lo_node *nd = &g->nodes[node];
        for (int i = 0; i < nd->n_inputs; i++) {
            int u = nd->inputs[i];
            if (u < 0 || seen[u]) continue;
            seen[u] = true;
            int ur = row_of_value[u];
            if (ur >= 0 && ur != r && (c->rows[ur].status == LO_ROW_PASS || c->rows[ur].status == LO_ROW_BELOW)) {
                int *in = realloc(row->inputs, (size_t)(row->n_inputs + 1) * sizeof *in);
                if (!in) return;
                row->inputs = in;
                row->inputs[row->n_inputs++] = ur;
            } else if (g->values[u].kind == LO_VALUE_NODE) {
                stack[top++] = u;
            }
        }
    }
}

static void find_inputs(lo_comparison *c, const model_info *mi) {
    if (mi->ir) {
        const lo_graph *g = mi->ir->graph;
        int *row_of_value = malloc((size_t)(g->n_values + 1) * sizeof *row_of_value);
        int *value_of_row = malloc((size_t)(c->n_rows + 1) * sizeof *value_of_row);
        bool *seen = malloc((size_t)(g->n_values + 1) * sizeof *seen);
        int *stack = malloc((size_t)(g->n_values + 1) * sizeof *stack);
        if (row_of_value && value_of_row && seen && stack) {
            for (int v = 0; v < g->n_values; v++) row_of_value[v] = -1;
            int found = 0;
            for (int r = 0; r < c->n_rows; r++) {
                value_of_row[r] = c->rows[r].ref >= 0 && c->rows[r].test >= 0 ? model_value(mi, c, &c->rows[r]) : -1;
                if (value_of_row[r] >= 0) {
                    row_of_value[value_of_row[r]] = r;
                    found++;
                }
            }
            for (int r = 0; r < c->n_rows; r++)
                if (value_of_row[r] >= 0) model_inputs(c, mi, row_of_value, r, value_of_row[r], seen, stack);
            c->producers_from_model = found > 0;
            if (!found) note(c, "no compared tensor is named in --model: the drop rule uses graph order");
        }
        free(row_of_value);
        free(value_of_row);
        free(seen);
        free(stack);
    }
    if (c->producers_from_model) return;
    int prev = -1;
    for (int r = 0; r < c->n_rows; r++) {
        lo_row *row = &c->rows[r];
        if (row->status != LO_ROW_PASS && row->status != LO_ROW_BELOW) continue;
        if (prev >= 0 && (row->inputs = malloc(sizeof *row->inputs))) {
            row->inputs[0] = prev;
            row->n_inputs = 1;
        }
        prev = r;
    }
}

static void flag_rows(lo_comparison *c) {
    double t = c->options.sqnr_min, drop = c->options.drop_db;
    c->first_divergence = -1;
    for (int r = 0; r < c->n_rows; r++) {
        lo_row *row = &c->rows[r];
        row->input_sqnr = NAN;
        if (row->status != LO_ROW_PASS && row->status != LO_ROW_BELOW) continue;
        for (int i = 0; i < row->n_inputs; i++) {
            double s = c->rows[row->inputs[i]].sqnr;
            if (isnan(row->input_sqnr) || s < row->input_sqnr) row->input_sqnr = s;
        }
        row->below = row->sqnr_min < t || row->sqnr < t;
        /* Against bit-exact inputs (inf dB) any rounding would be a "drop":
         * only a finite base counts, and the threshold judges the rest. A
         * tensor at threshold + drop or better is clean whatever its inputs
         * (float reorderings of 140 dB inputs give 110 dB, harmlessly). */
        row->drop = isfinite(row->input_sqnr) && row->sqnr < row->input_sqnr - drop && row->sqnr < t + drop;
        row->status = row->below ? LO_ROW_BELOW : LO_ROW_PASS;
        if ((row->below || row->drop) && c->first_divergence < 0) c->first_divergence = r;
    }
}

/* ---- the whole comparison ---------------------------------------------------------- */

static char *display_name(const lo_dump_tensor *a, const lo_dump_tensor *b) {
    if (a && a->name) return lo_strdup(a->name);
    if (b && b->name) return lo_strdup(b->name);
    return lo_strdup(a ? a->file : b->file);
}

lo_status lo_compare_run(const char *ref_path, const char *test_path, const lo_compare_options *options,
                         lo_comparison **out, lo_error *err) {
    *out = NULL;
    lo_comparison *c = calloc(1, sizeof *c);
    if (!c) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    c->options = *options;
    c->notes = lo_strdup("");
    model_info mi = {0};
    int *ref_of_test = NULL, *test_of_ref = NULL;
    lo_status st = lo_dump_open(ref_path, &c->ref, err);
    if (st == LO_OK) st = lo_dump_open(test_path, &c->test, err);
    if (st == LO_OK && options->model_path) st = model_open(options->model_path, &mi, err);
    if (st != LO_OK) goto fail;
    /* a manifest on either side gives every shape: the model runs only when neither has one */
    if (mi.ir && c->ref.kind != LO_DUMP_LAYEROUT && c->test.kind != LO_DUMP_LAYEROUT) {
        model_run_shapes(&mi, options->model_path, c->ref.kind != LO_DUMP_QNN ? &c->ref : &c->test);
        if (mi.run_note) note(c, "%s", mi.run_note);
    }
    ref_of_test = malloc((size_t)(c->test.n_tensors + 1) * sizeof *ref_of_test);
    test_of_ref = malloc((size_t)(c->ref.n_tensors + 1) * sizeof *test_of_ref);
    c->rows = calloc((size_t)(c->ref.n_tensors + c->test.n_tensors + 1), sizeof *c->rows);
    if (!ref_of_test || !test_of_ref || !c->rows) {
        st = lo_fail(err, LO_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if ((st = match(&c->ref, &c->test, ref_of_test, test_of_ref, err)) != LO_OK) goto fail;
    /* Samples pair by number: a Result_K folder given alone is sample K. */
    {
        int rf = c->ref.first_sample, tf = c->test.first_sample;
        int base = rf > tf ? rf : tf;
        int re = rf + c->ref.n_samples, te = tf + c->test.n_samples;
        int end = re < te ? re : te;
        if (end <= base) {
            st = lo_fail(err, LO_ERR_INPUT, "REF holds samples %d..%d and TEST samples %d..%d: no sample in "
                         "common to compare", rf, re - 1, tf, te - 1);
            goto fail;
        }
        c->ref_sample0 = c->test_sample0 = base;
        c->n_samples = end - base;
        if (rf != tf)
            note(c, "%s is one Result_%d folder: paired with %s's sample %d", rf > tf ? "REF" : "TEST",
                 base, rf > tf ? "TEST" : "REF", base);
        else if (c->ref.n_samples != c->test.n_samples)
            note(c, "REF holds %d samples, TEST %d: comparing samples %d..%d", c->ref.n_samples,
                 c->test.n_samples, base, end - 1);
    }

    /* Rows in graph order: the order of the side that knows it (REF first);
     * the other side's unmatched tensors follow. */
    bool by_test = !c->ref.has_order && c->test.has_order;
    const lo_dump *lead = by_test ? &c->test : &c->ref, *other = by_test ? &c->ref : &c->test;
    const int *partner = by_test ? ref_of_test : test_of_ref;
    const int *partner_other = by_test ? test_of_ref : ref_of_test;
    for (int i = 0; i < lead->n_tensors; i++) {
        lo_row *row = &c->rows[c->n_rows++];
        row->ref = by_test ? partner[i] : i;
        row->test = by_test ? i : partner[i];
        row->rank = -1;
        row->input_sqnr = NAN;
        if (partner[i] < 0) row->status = by_test ? LO_ROW_ONLY_TEST : LO_ROW_ONLY_REF;
        row->name = display_name(&lead->tensors[i], partner[i] >= 0 ? &other->tensors[partner[i]] : NULL);
    }
    for (int i = 0; i < other->n_tensors; i++) {
        if (partner_other[i] >= 0) continue;
        lo_row *row = &c->rows[c->n_rows++];
        row->ref = by_test ? i : -1;
        row->test = by_test ? -1 : i;
        row->rank = -1;
        row->input_sqnr = NAN;
        row->status = by_test ? LO_ROW_ONLY_REF : LO_ROW_ONLY_TEST;
        row->name = display_name(&other->tensors[i], NULL);
    }
    int matched = 0;
    for (int r = 0; r < c->n_rows; r++) {
        if (c->rows[r].ref < 0 || c->rows[r].test < 0) continue;
        matched++;
        measure_row(c, &c->rows[r], &mi);
    }
    if (!matched) {
        st = lo_fail(err, LO_ERR_INPUT, "no tensor of '%s' matches one of '%s' by name (%d and %d tensors)",
                     test_path, ref_path, c->test.n_tensors, c->ref.n_tensors);
        goto fail;
    }
    find_inputs(c, &mi);
    flag_rows(c);
    int transposed = 0, flat = 0;
    for (int r = 0; r < c->n_rows; r++) {
        lo_row *row = &c->rows[r];
        switch (row->status) {
        case LO_ROW_PASS: c->n_pass++; c->n_compared++; break;
        case LO_ROW_BELOW: c->n_below++; c->n_compared++; break;
        case LO_ROW_ERROR: c->n_error++; break;
        case LO_ROW_ONLY_REF: c->n_only_ref++; break;
        case LO_ROW_ONLY_TEST: c->n_only_test++; break;
        }
        transposed += row->ref_channel_last || row->test_channel_last;
        flat += row->shape_source && !strcmp(row->shape_source, "flat");
    }
    if (transposed)
        note(c, "%d tensor(s) of the QNN side are channel-last and were transposed to the model's layout",
             transposed);
    if (flat) {
        char names[300] = "";
        size_t len = 0;
        int listed = 0;
        for (int r = 0; r < c->n_rows && len < sizeof names - 80; r++) {
            const lo_row *row = &c->rows[r];
            if (!row->shape_source || strcmp(row->shape_source, "flat")) continue;
            len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", listed ? ", " : "", row->name);
            listed++;
        }
        note(c, "%d tensor(s) have no known shape and were compared flat (%s%s)%s", flat, names,
             listed < flat ? ", ..." : "",
             options->model_path ? ": --model does not give their shapes" : ": give --model for shapes and NHWC handling");
    }
    int run_shapes = 0;
    for (int r = 0; r < c->n_rows; r++)
        run_shapes += c->rows[r].shape_source && !strcmp(c->rows[r].shape_source, "model run");
    if (run_shapes)
        note(c, "%d tensor(s) took their shape from running --model once (it declares none for them)", run_shapes);
    free(ref_of_test);
    free(test_of_ref);
    model_close(&mi);
    *out = c;
    return LO_OK;
fail:
    free(ref_of_test);
    free(test_of_ref);
    model_close(&mi);
    lo_comparison_free(c);
    return st;
}

void lo_comparison_free(lo_comparison *c) {
    if (c) free(c->isolated);
    if (!c) return;
    for (int r = 0; r < c->n_rows; r++) {
        free(c->rows[r].name);
        free(c->rows[r].error);
        free(c->rows[r].samples);
        free(c->rows[r].inputs);
        free(c->rows[r].layout_decision);
    }
    free(c->rows);
    lo_dump_close(&c->ref);
    lo_dump_close(&c->test);
    free(c->notes);
    free(c);
}

/* Errors first (a tensor that could not be compared is the worst news),
 * then lowest per-sample-minimum SQNR, then graph order. */
static int worse(const void *a, const void *b, void *ctx) {
    const lo_comparison *c = ctx;
    const lo_row *x = &c->rows[*(const int *)a], *y = &c->rows[*(const int *)b];
    int ex = x->status == LO_ROW_ERROR, ey = y->status == LO_ROW_ERROR;
    if (ex != ey) return ey - ex;
    if (!ex) {
        double sx = x->sqnr_min, sy = y->sqnr_min;
        if (sx < sy) return -1;
        if (sx > sy) return 1;
    }
    return *(const int *)a - *(const int *)b;
}

int *lo_comparison_worst(const lo_comparison *c, int *n) {
    int *idx = malloc((size_t)(c->n_rows + 1) * sizeof *idx);
    *n = 0;
    if (!idx) return NULL;
    for (int r = 0; r < c->n_rows; r++)
        if (c->rows[r].status <= LO_ROW_ERROR) idx[(*n)++] = r;
    qsort_r(idx, (size_t)*n, sizeof *idx, worse, (void *)c);
    return idx;
}
