/* Runs ONNX backend test cases (model.onnx + test_data_set_N/{input,output}_i.pb)
 * through the library and compares every output with the expected one, as
 * ONNX's own backend runner does: rtol 1e-3 (2^-6 for bfloat16), atol 1e-7
 * for floats, NaN where NaN is expected, exact for integers, bools and
 * strings.
 *
 * Sequence and optional inputs and outputs (SequenceProto / OptionalProto
 * files) are read by the library's reader (lo_read_container_file), the one
 * `layerout generate -i` uses. Which message a file holds comes from the
 * type the model declares for that input or output, read from model.onnx by
 * hand here.
 *
 * Four deviations from a plain comparison; the first and the third are
 * reported on the PASS line in parentheses, the last on UNDEFINED lines, so
 * the report lists them:
 * - Outputs of models holding a random operator (RandomNormal,
 *   RandomUniform, their *Like forms, Bernoulli, Multinomial, Dropout given
 *   a training_mode input) that differ in value are checked for dtype and
 *   shape only (with a zero dropout ratio the values match and count).
 * - Old test data stores bfloat16 tensors as UINT16; where the model
 *   declares bfloat16, the data is read as bfloat16.
 * - known_wrong[] lists cases whose expected data is wrong for the opset
 *   they declare; they are compared with corrected values instead.
 * - Elements whose result the specification leaves undefined (a Cast of an
 *   out-of-range float to an integer type, of a negative float to
 *   float8e8m0) are not compared: see undefined_elements().
 *
 * With --dump DIR, the outputs are not computed by the library but read
 * back from the dumps `layerout generate` wrote for each data set into
 * DIR/set_S (tests/conformance/run_cli.py): what the manifest says of a
 * graph output's file, dtype and shape. Outputs with no file (sequences,
 * empty optionals, Constant outputs) are counted on the PASS line.
 *
 * Usage: lo_run_case [-v] [--dump DIR] CASE_DIR...    or    lo_run_case --list-ops
 * Prints one line per case: PASS name [(note)] | FAIL name: reason | UNSUPPORTED name: reason,
 * after any "UNDEFINED set S output O 'NAME': elements and why" lines of that case,
 * and a closing line "N passed, N failed, N unsupported". */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "dump/dump.h"
#include "exec/exec.h"
#include "exec/internal.h"
#include "onnx/onnx.h"

static int verbose;
/* --dump DIR: the outputs are not computed here but read back from the dumps
 * `layerout generate` wrote, DIR/set_S for test_data_set_S (run_cli.py) */
static const char *dump_dir;

static bool file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static const char *base_name(const char *p) {
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/') n--;
    static char buf[1024];
    snprintf(buf, sizeof buf, "%.*s", (int)n, p);
    const char *s = strrchr(buf, '/');
    return s ? s + 1 : buf;
}

static uint8_t *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1 << 16;
            uint8_t *b = realloc(buf, cap);
            if (!b) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = b;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    fclose(f);
    *len = n;
    return buf;
}

/* ---- a minimal protobuf wire reader ------------------------------------------ */

typedef struct pb {
    const uint8_t *p, *end;
} pb;

typedef struct pb_field {
    uint32_t num;
    int wire;
    uint64_t v;        /* varint / fixed value */
    const uint8_t *b;  /* length-delimited bytes */
    size_t len;
} pb_field;

static bool pb_varint(pb *r, uint64_t *v) {
    *v = 0;
    for (int shift = 0; shift < 64 && r->p < r->end; shift += 7) {
        uint8_t c = *r->p++;
        *v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) return true;
    }
    return false;
}

/* Next field; false at the end or on malformed data. */
static bool pb_next(pb *r, pb_field *f) {
    if (r->p >= r->end) return false;
    uint64_t key;
    if (!pb_varint(r, &key)) return false;
    f->num = (uint32_t)(key >> 3);
    f->wire = (int)(key & 7);
    f->b = NULL;
    f->len = 0;
    switch (f->wire) {
    case 0: return pb_varint(r, &f->v);
    case 1:
        if (r->end - r->p < 8) return false;
        r->p += 8;
        return true;
    case 5:
        if (r->end - r->p < 4) return false;
        r->p += 4;
        return true;
    case 2: {
        uint64_t len;
        if (!pb_varint(r, &len) || len > (uint64_t)(r->end - r->p)) return false;
        f->b = r->p;
        f->len = (size_t)len;
        r->p += len;
        return true;
    }
    default: return false;
    }
}

/* ---- declared types of the graph's inputs and outputs -------------------------- */

typedef enum decl_kind { DECL_TENSOR, DECL_SEQUENCE, DECL_OPTIONAL, DECL_OTHER } decl_kind;

typedef struct decl {
    char name[256];
    decl_kind kind;
    int elem_type; /* of the tensor, or of the sequence's / optional's tensors */
} decl;

typedef struct model_info {
    decl inputs[64], outputs[64];
    int n_inputs, n_outputs;
    bool random; /* holds an operator whose values are random */
} model_info;

/* The tensor element type inside a TypeProto (through sequences/optionals). */
static int type_elem(const uint8_t *b, size_t len, decl_kind *kind, bool top) {
    pb r = {b, b + len};
    pb_field f;
    while (pb_next(&r, &f)) {
        if (f.wire != 2) continue;
        if (f.num == 1) { /* tensor_type */
            if (top) *kind = DECL_TENSOR;
            pb t = {f.b, f.b + f.len};
            pb_field g;
            while (pb_next(&t, &g))
                if (g.num == 1 && g.wire == 0) return (int)g.v;
            return 0;
        }
        if (f.num == 4 || f.num == 9) { /* sequence_type, optional_type: elem_type is field 1 */
            if (top) *kind = f.num == 4 ? DECL_SEQUENCE : DECL_OPTIONAL;
            pb t = {f.b, f.b + f.len};
            pb_field g;
            while (pb_next(&t, &g))
                if (g.num == 1 && g.wire == 2) return type_elem(g.b, g.len, kind, false);
            return 0;
        }
        if (top) *kind = DECL_OTHER;
    }
    return 0;
}

static void read_value_info(const uint8_t *b, size_t len, decl *d) {
    pb r = {b, b + len};
    pb_field f;
    memset(d, 0, sizeof *d);
    d->kind = DECL_TENSOR;
    while (pb_next(&r, &f)) {
        if (f.num == 1 && f.wire == 2) snprintf(d->name, sizeof d->name, "%.*s", (int)f.len, (const char *)f.b);
        if (f.num == 2 && f.wire == 2) d->elem_type = type_elem(f.b, f.len, &d->kind, true);
    }
}

static bool is_random_op(const char *op) {
    static const char *const ops[] = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
                                      "Bernoulli", "Multinomial"};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(op, ops[i]) == 0) return true;
    return false;
}

/* Scans a GraphProto's nodes (and their subgraphs) for random operators. */
static bool graph_random(const uint8_t *b, size_t len) {
    pb r = {b, b + len};
    pb_field f;
    while (pb_next(&r, &f)) {
        if (f.num != 1 || f.wire != 2) continue;
        pb n = {f.b, f.b + f.len};
        pb_field g;
        char op[128] = "";
        int n_inputs = 0;
        bool sub = false;
        while (pb_next(&n, &g)) {
            if (g.num == 1 && g.wire == 2) n_inputs++;
            if (g.num == 4 && g.wire == 2) snprintf(op, sizeof op, "%.*s", (int)g.len, (const char *)g.b);
            if (g.num == 5 && g.wire == 2) { /* attribute: g = 6, graphs = 11 */
                pb a = {g.b, g.b + g.len};
                pb_field h;
                while (pb_next(&a, &h))
                    if ((h.num == 6 || h.num == 11) && h.wire == 2 && graph_random(h.b, h.len)) sub = true;
            }
        }
        /* Dropout given a training_mode input may drop at random */
        if (sub || is_random_op(op) || (strcmp(op, "Dropout") == 0 && n_inputs >= 3)) return true;
    }
    return false;
}

static bool read_model_info(const char *path, model_info *mi) {
    memset(mi, 0, sizeof *mi);
    size_t len;
    uint8_t *buf = read_file(path, &len);
    if (!buf) return false;
    pb r = {buf, buf + len};
    pb_field f;
    while (pb_next(&r, &f)) {
        if (f.num != 7 || f.wire != 2) continue;
        pb g = {f.b, f.b + f.len};
        pb_field h;
        while (pb_next(&g, &h)) {
            if (h.num == 11 && h.wire == 2 && mi->n_inputs < 64) read_value_info(h.b, h.len, &mi->inputs[mi->n_inputs++]);
            if (h.num == 12 && h.wire == 2 && mi->n_outputs < 64) read_value_info(h.b, h.len, &mi->outputs[mi->n_outputs++]);
        }
        mi->random = graph_random(f.b, f.len);
    }
    free(buf);
    return true;
}

static const decl *find_decl(const decl *ds, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(ds[i].name, name) == 0) return &ds[i];
    return NULL;
}

/* ---- reading values ----------------------------------------------------------- */

/* Old test data stores bfloat16 as UINT16 (the same bits). */
static void fix_bfloat16(lo_tensor *t, int declared) {
    if (t->kind == LO_KIND_TENSOR && declared == LO_BFLOAT16 && t->dtype == LO_UINT16) t->dtype = LO_BFLOAT16;
}

/* Reads a .pb file as the message its declared kind says. */
static lo_status read_value(const char *path, const decl *d, lo_tensor *out, lo_error *err) {
    memset(out, 0, sizeof *out);
    decl_kind kind = d ? d->kind : DECL_TENSOR;
    if (kind == DECL_OTHER) return lo_fail(err, LO_ERR_UNSUPPORTED, "maps are not supported");
    /* the library's reader, the one `layerout generate -i` uses */
    if (kind == DECL_SEQUENCE || kind == DECL_OPTIONAL)
        return lo_read_container_file(path, kind == DECL_SEQUENCE ? 's' : 'o', d ? (lo_dtype)d->elem_type : 0, out,
                                      err);
    size_t len;
    uint8_t *buf = read_file(path, &len);
    if (!buf) return lo_fail(err, LO_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    lo_status st = lo_onnx_decode_tensor(buf, len, out, NULL, err);
    free(buf);
    if (st != LO_OK) {
        lo_tensor_free_data(out);
        return st;
    }
    if (d) fix_bfloat16(out, d->elem_type);
    return LO_OK;
}

/* ---- known-wrong expected data ---------------------------------------------------- */

/* Cases whose expected data disagrees with the specification of the opset
 * they declare; they are compared with values the runner derives instead.
 * The reason is printed on the PASS line and so lands in CONFORMANCE.md. */
typedef enum fixup { FIX_BF16_RNE } fixup;
static const struct {
    const char *suite_path; /* a substring of the case directory */
    fixup fix;
    const char *reason;
} known_wrong[] = {
    {"libonnx-testdata/data/node/test_cast_FLOAT_to_BFLOAT16", FIX_BF16_RNE,
     "ONNX 1.12 data truncates float to bfloat16; Cast specifies round-to-nearest-even (ONNX >= 1.14, ONNX Runtime)"},
    {"libonnx-testdata/data/node/test_castlike_FLOAT_to_BFLOAT16", FIX_BF16_RNE,
     "ONNX 1.12 data truncates float to bfloat16; CastLike specifies round-to-nearest-even (ONNX >= 1.14, ONNX Runtime)"},
};

static int find_known_wrong(const char *dir) {
    char real[4096];
    const char *d = realpath(dir, real) ? real : dir;
    for (size_t i = 0; i < sizeof known_wrong / sizeof known_wrong[0]; i++) {
        const char *hit = strstr(d, known_wrong[i].suite_path);
        /* the whole final component must match (test_x, not test_x_expanded) */
        if (hit) {
            const char *rest = hit + strlen(known_wrong[i].suite_path);
            if (*rest == 0 || (rest[0] == '/' && rest[1] == 0) || strcmp(rest, "_expanded") == 0) return (int)i;
        }
    }
    return -1;
}

/* Rewrites the expected output from input 0 for the fix kinds above. */
static void apply_fix(fixup fix, const lo_tensor *in0, lo_tensor *want) {
    if (fix == FIX_BF16_RNE && in0->kind == LO_KIND_TENSOR && in0->dtype == LO_FLOAT &&
        want->kind == LO_KIND_TENSOR && (want->dtype == LO_BFLOAT16 || want->dtype == LO_UINT16) &&
        lo_numel(in0) == lo_numel(want)) {
        want->dtype = LO_BFLOAT16;
        for (int64_t i = 0; i < lo_numel(want); i++)
            ((uint16_t *)want->data)[i] = lo_float_to_bfloat16(((const float *)in0->data)[i]);
    }
}

/* ---- results the specification leaves undefined ----------------------------------- */

/* Cast (and CastLike) from floating point to fixed point is "undefined if
 * OOR": the expected data for such elements is whatever the generator's
 * library happened to do (ml_dtypes 0.5 wraps -9.0 to int4 7, 0.7 gives 0),
 * so they are not compared. An element is out of range when it is NaN, an
 * infinity, or its integral part does not fit the target type. Casting a
 * negative value (or -0) to float8e8m0 is likewise "undefined"/"Unspecified".
 * Only outputs computed by a Cast/CastLike straight from a graph input are
 * judged, where the element's input is known. */
static bool int_range(lo_dtype t, double *lo, double *hi) {
    switch (t) {
    case LO_INT2: *lo = -2; *hi = 1; return true;
    case LO_UINT2: *lo = 0; *hi = 3; return true;
    case LO_INT4: *lo = -8; *hi = 7; return true;
    case LO_UINT4: *lo = 0; *hi = 15; return true;
    case LO_INT8: *lo = INT8_MIN; *hi = INT8_MAX; return true;
    case LO_UINT8: *lo = 0; *hi = UINT8_MAX; return true;
    case LO_INT16: *lo = INT16_MIN; *hi = INT16_MAX; return true;
    case LO_UINT16: *lo = 0; *hi = UINT16_MAX; return true;
    case LO_INT32: *lo = INT32_MIN; *hi = INT32_MAX; return true;
    case LO_UINT32: *lo = 0; *hi = UINT32_MAX; return true;
    case LO_INT64: *lo = -0x1p63; *hi = 0x1p63 - 1024; return true; /* the largest double below 2^63 */
    case LO_UINT64: *lo = 0; *hi = 0x1p64 - 2048; return true;
    default: return false;
    }
}

/* A mask of the elements of output o whose value is undefined (NULL when
 * none); what describes them and why. */
static bool *undefined_elements(const lo_graph *g, int o, const lo_tensor *ins, int n_in, const lo_tensor *want,
                                char *what, size_t size) {
    int v = g->outputs[o];
    const lo_node *prod = NULL;
    for (int k = 0; k < g->n_nodes && !prod; k++)
        for (int j = 0; j < g->nodes[k].n_outputs; j++)
            if (g->nodes[k].outputs[j] == v) prod = &g->nodes[k];
    if (!prod || prod->domain[0] || (strcmp(prod->op_type, "Cast") && strcmp(prod->op_type, "CastLike")) ||
        prod->n_inputs < 1 || want->kind != LO_KIND_TENSOR)
        return NULL;
    const lo_tensor *x = NULL;
    for (int k = 0; k < g->n_inputs && k < n_in; k++)
        if (g->inputs[k] == prod->inputs[0]) x = &ins[k];
    if (!x || x->kind != LO_KIND_TENSOR || !lo_dtype_is_float(x->dtype) || lo_numel(x) != lo_numel(want)) return NULL;
    double lo = 0, hi = 0;
    bool to_int = int_range(want->dtype, &lo, &hi), to_e8m0 = want->dtype == LO_FLOAT8E8M0;
    if (!to_int && !to_e8m0) return NULL;
    int64_t n = lo_numel(want), count = 0;
    bool *mask = calloc((size_t)n + 1, 1);
    if (!mask) return NULL;
    size_t len = 0;
    what[0] = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = lo_get_f64(x, i);
        bool undef = to_int ? !isfinite(e) || trunc(e) < lo || trunc(e) > hi : e < 0 || (e == 0 && signbit(e));
        if (!undef) continue;
        mask[i] = true;
        if (count++ < 32 && len < size) len += (size_t)snprintf(what + len, size - len, "%s[%lld] %g", count > 1 ? ", " : "", (long long)i, e);
        else if (count == 33 && len < size) len += (size_t)snprintf(what + len, size - len, ", ...");
    }
    if (!count) {
        free(mask);
        return NULL;
    }
    char head[200];
    snprintf(head, sizeof head, "%lld of %lld elements (index and input: ", (long long)count, (long long)n);
    char body[1024];
    snprintf(body, sizeof body, "%s", what);
    snprintf(what, size, "%s%s): %s %s to %s, %s", head, body, prod->op_type, lo_dtype_name(x->dtype),
             lo_dtype_name(want->dtype), to_int ? "out of range" : "negative");
    return mask;
}

/* ---- comparing -------------------------------------------------------------------- */

/* ONNX's backend runner: rtol 1e-3, atol 1e-7, but rtol 2^-6 (two ulps) for
 * bfloat16 outputs. */
static bool close_enough(double a, double e, double rtol) {
    if (isnan(e)) return isnan(a);
    if (isinf(e)) return a == e;
    return fabs(a - e) <= 1e-7 + rtol * fabs(e);
}

/* 0 = equal; else writes the difference into why. shape_only: dtype and
 * shape (and item counts) only. */
static int compare(const lo_tensor *got, const lo_tensor *want, bool shape_only, const bool *skip, char *why,
                   size_t size) {
    char s1[128], s2[128];
    static const char *const kinds[] = {"a tensor", "a sequence", "an empty optional"};
    if (got->kind != want->kind) {
        snprintf(why, size, "output is %s, expected %s", kinds[got->kind], kinds[want->kind]);
        return 1;
    }
    if (want->kind == LO_KIND_NONE) return 0;
    if (want->kind == LO_KIND_SEQUENCE) {
        if (got->n_items != want->n_items) {
            snprintf(why, size, "sequence of %d items, expected %d", got->n_items, want->n_items);
            return 1;
        }
        if (want->n_items == 0 && want->dtype && got->dtype != want->dtype) {
            snprintf(why, size, "empty sequence of %s, expected %s", lo_dtype_name(got->dtype),
                     lo_dtype_name(want->dtype));
            return 1;
        }
        for (int i = 0; i < want->n_items; i++) {
            char sub[400];
            if (compare(&got->items[i], &want->items[i], shape_only, NULL, sub, sizeof sub)) {
                snprintf(why, size, "item %d: %s", i, sub);
                return 1;
            }
        }
        return 0;
    }
    if (got->dtype != want->dtype) {
        snprintf(why, size, "dtype %s, expected %s", lo_dtype_name(got->dtype), lo_dtype_name(want->dtype));
        return 1;
    }
    if (got->rank != want->rank || memcmp(got->dims, want->dims, (size_t)got->rank * sizeof(int64_t))) {
        snprintf(why, size, "shape %s, expected %s", lo_shape_str(got->rank, got->dims, s1, sizeof s1),
                 lo_shape_str(want->rank, want->dims, s2, sizeof s2));
        return 1;
    }
    if (shape_only) return 0;
    int64_t n = lo_numel(want), bad = 0, first = -1;
    for (int64_t i = 0; i < n; i++) {
        bool ok;
        if (skip && skip[i]) continue;
        if (want->dtype == LO_STRING)
            ok = strcmp(((char **)got->data)[i] ? ((char **)got->data)[i] : "",
                        ((char **)want->data)[i] ? ((char **)want->data)[i] : "") == 0;
        else if (lo_dtype_is_float(want->dtype))
            ok = close_enough(lo_get_f64(got, i), lo_get_f64(want, i), want->dtype == LO_BFLOAT16 ? 0x1p-6 : 1e-3);
        else if (want->dtype == LO_COMPLEX64)
            ok = close_enough(((float *)got->data)[2 * i], ((float *)want->data)[2 * i], 1e-3) &&
                 close_enough(((float *)got->data)[2 * i + 1], ((float *)want->data)[2 * i + 1], 1e-3);
        else if (want->dtype == LO_COMPLEX128)
            ok = close_enough(((double *)got->data)[2 * i], ((double *)want->data)[2 * i], 1e-3) &&
                 close_enough(((double *)got->data)[2 * i + 1], ((double *)want->data)[2 * i + 1], 1e-3);
        else if (want->dtype == LO_UINT64)
            ok = ((uint64_t *)got->data)[i] == ((uint64_t *)want->data)[i];
        else if (lo_dtype_size(want->dtype) == 1 && !lo_dtype_is_int(want->dtype) && want->dtype != LO_BOOL)
            ok = ((uint8_t *)got->data)[i] == ((uint8_t *)want->data)[i]; /* float8: bit-exact */
        else
            ok = lo_get_i64(got, i) == lo_get_i64(want, i);
        if (!ok) {
            if (first < 0) first = i;
            bad++;
        }
    }
    if (bad) {
        if (want->dtype == LO_STRING)
            snprintf(why, size, "%lld of %lld elements differ; first at %lld: got '%.40s', expected '%.40s'",
                     (long long)bad, (long long)n, (long long)first, ((char **)got->data)[first],
                     ((char **)want->data)[first]);
        else if (want->dtype == LO_COMPLEX64 || want->dtype == LO_COMPLEX128)
            snprintf(why, size, "%lld of %lld complex elements differ; first at %lld", (long long)bad, (long long)n,
                     (long long)first);
        else
            snprintf(why, size, "%lld of %lld elements differ; first at %lld: got %.9g, expected %.9g",
                     (long long)bad, (long long)n, (long long)first, lo_get_f64(got, first),
                     lo_get_f64(want, first));
        return 1;
    }
    return 0;
}

/* ---- outputs read back from a dump ------------------------------------------------- */

static lo_dtype dtype_of_numpy(const char *name) {
    for (int d = 1; d < 64; d++)
        if (strcmp(lo_numpy_name((lo_dtype)d), name) == 0) return (lo_dtype)d;
    return LO_UNDEFINED;
}

/* Output `name` of sample 0 of the dump in dir, as the manifest describes
 * it: 1 read, 0 not in the dump (sequences, empty optionals and Constant
 * outputs have no file), -1 an error (why). */
static int read_dump_output(const char *dir, const char *name, lo_tensor *out, char *why, size_t size) {
    char path[4200];
    memset(out, 0, sizeof *out);
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    json_error_t je;
    json_t *m = json_load_file(path, 0, &je);
    if (!m) {
        snprintf(why, size, "cannot read the dump's manifest %s: %s", path, je.text);
        return -1;
    }
    int found = 0;
    json_t *tensors = json_object_get(m, "tensors"), *e;
    size_t i;
    json_array_foreach(tensors, i, e) {
        const char *n = json_string_value(json_object_get(e, "name"));
        if (!n || strcmp(n, name) != 0 || json_object_get(e, "iteration")) continue;
        const char *file = json_string_value(json_object_get(e, "file"));
        const char *dt = json_string_value(json_object_get(e, "dtype"));
        json_t *shape = json_object_get(e, "shape");
        if (!file || !dt || !json_is_array(shape) || json_array_size(shape) > LO_MAX_RANK) {
            snprintf(why, size, "manifest entry of '%s' lacks file, dtype or shape", name);
            found = -1;
            break;
        }
        out->kind = LO_KIND_TENSOR;
        out->dtype = dtype_of_numpy(dt);
        out->rank = (int)json_array_size(shape);
        for (int d = 0; d < out->rank; d++) out->dims[d] = json_integer_value(json_array_get(shape, (size_t)d));
        snprintf(path, sizeof path, "%s/outputs/layer_outputs_0/%s", dir, file);
        size_t len;
        uint8_t *b = read_file(path, &len);
        if (!b) {
            snprintf(why, size, "cannot read %s", path);
            found = -1;
            break;
        }
        int64_t n_el = lo_numel(out);
        if (out->dtype == LO_STRING) {
            /* each string followed by a NUL */
            char **strs = calloc((size_t)n_el + 1, sizeof *strs);
            size_t at = 0;
            for (int64_t k = 0; strs && k < n_el; k++) {
                size_t l = strnlen((const char *)b + at, len - at);
                strs[k] = malloc(l + 1);
                if (strs[k]) {
                    memcpy(strs[k], b + at, l);
                    strs[k][l] = 0;
                }
                at += l + (at + l < len);
            }
            free(b);
            out->data = strs;
            out->nbytes = (size_t)n_el * sizeof(char *);
        } else {
            lo_error err;
            size_t want = 0;
            if (!out->dtype || !lo_shape_bytes(out->dtype, out->rank, out->dims, &want, &err) || want != len) {
                snprintf(why, size, "%s holds %zu bytes, its manifest entry (%s, rank %d) needs %zu", path, len, dt,
                         out->rank, want);
                free(b);
                found = -1;
                break;
            }
            out->data = b;
            out->nbytes = len;
        }
        found = 1;
        break;
    }
    json_decref(m);
    if (found < 0) lo_tensor_free_data(out);
    return found;
}

/* ---- running a case ---------------------------------------------------------------- */

/* Returns 0 pass, 1 fail, 2 unsupported; note receives a remark for a pass. */
static int run_case(const char *dir, char *why, size_t size, char *note, size_t note_size) {
    char path[2048];
    note[0] = 0;
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    model_info mi;
    if (!read_model_info(path, &mi)) {
        snprintf(why, size, "cannot read %s", path);
        return 1;
    }
    lo_error err;
    lo_model *model;
    lo_status st = lo_model_load(path, &model, &err);
    if (st != LO_OK) {
        snprintf(why, size, "%s", err.message);
        return st == LO_ERR_UNSUPPORTED ? 2 : 1;
    }
    lo_session *s;
    lo_session_create(model, NULL, &s, &err);
    int result = 0, sets = 0;
    const lo_graph *g = model->ir->graph;
    int fix = find_known_wrong(dir);
    bool shape_only = false;
    int not_in_dump = 0, compared = 0;
    for (int set = 0; result == 0; set++) {
        char sd[2048];
        snprintf(sd, sizeof sd, "%s/test_data_set_%d", dir, set);
        if (!file_exists(sd)) break;
        sets++;
        int n_in = 0;
        lo_tensor ins[64];
        memset(ins, 0, sizeof ins);
        for (; n_in < g->n_inputs && n_in < 64; n_in++) {
            snprintf(path, sizeof path, "%s/input_%d.pb", sd, n_in);
            if (!file_exists(path)) break;
            const char *name = g->values[g->inputs[n_in]].name;
            if (read_value(path, find_decl(mi.inputs, mi.n_inputs, name), &ins[n_in], &err) != LO_OK) {
                snprintf(why, size, "reading %s: %s", path, err.message);
                result = err.status == LO_ERR_UNSUPPORTED ? 2 : 1;
                break;
            }
        }
        lo_tensor outs[64];
        memset(outs, 0, sizeof outs);
        if (result == 0 && g->n_outputs > 64) {
            snprintf(why, size, "too many outputs");
            result = 2;
        }
        bool ran = false;
        bool in_dump[64];
        for (int o = 0; o < 64; o++) in_dump[o] = true;
        if (result == 0 && dump_dir) {
            char sub[2100];
            snprintf(sub, sizeof sub, "%s/set_%d", dump_dir, set);
            for (int o = 0; result == 0 && o < g->n_outputs; o++) {
                const lo_value *v = &g->values[g->outputs[o]];
                int r = read_dump_output(sub, v->name, &outs[o], why, size);
                if (r < 0) result = 1;
                in_dump[o] = r == 1;
                if (!in_dump[o]) not_in_dump++;
                /* only what the dump leaves out by design may be missing */
                const decl *d = find_decl(mi.outputs, mi.n_outputs, v->name);
                bool by_design = (d && d->kind != DECL_TENSOR) || v->kind == LO_VALUE_INITIALIZER ||
                                 (v->kind == LO_VALUE_NODE && v->producer >= 0 &&
                                  strcmp(g->nodes[v->producer].op_type, "Constant") == 0);
                if (r == 0 && !by_design) {
                    snprintf(why, size, "set %d output %d '%s' is not in the dump %s", set, o, v->name, sub);
                    result = 1;
                }
            }
            ran = true;
        } else if (result == 0) {
            st = lo_session_run_values(s, ins, n_in, NULL, NULL, outs, &err);
            if (st != LO_OK) {
                snprintf(why, size, "set %d: %s", set, err.message);
                result = st == LO_ERR_UNSUPPORTED ? 2 : 1;
            } else {
                ran = true;
            }
        }
        for (int o = 0; result == 0 && o < g->n_outputs; o++) {
            if (!in_dump[o]) continue;
            compared++;
            snprintf(path, sizeof path, "%s/output_%d.pb", sd, o);
            lo_tensor want;
            const char *name = g->values[g->outputs[o]].name;
            if (read_value(path, find_decl(mi.outputs, mi.n_outputs, name), &want, &err) != LO_OK) {
                snprintf(why, size, "reading %s: %s", path, err.message);
                result = err.status == LO_ERR_UNSUPPORTED ? 2 : 1;
                break;
            }
            if (fix >= 0 && n_in > 0) apply_fix(known_wrong[fix].fix, &ins[0], &want);
            char diff[512];
            /* elements the specification leaves undefined are listed, not compared */
            char undef[1500];
            bool *skip = undefined_elements(g, o, ins, n_in, &want, undef, sizeof undef);
            if (skip) printf("UNDEFINED set %d output %d '%s': %s\n", set, o, name, undef);
            /* random outputs: values where they happen to be deterministic
             * (a zero dropout ratio), else dtype and shape only */
            if (compare(&outs[o], &want, false, skip, diff, sizeof diff)) {
                if (mi.random && !compare(&outs[o], &want, true, NULL, diff, sizeof diff)) shape_only = true;
                else {
                    snprintf(why, size, "set %d output %d '%s': %s", set, o, name, diff);
                    result = 1;
                }
            }
            free(skip);
            lo_tensor_free_data(&want);
        }
        if (ran)
            for (int o = 0; o < g->n_outputs; o++) lo_tensor_free_data(&outs[o]);
        for (int i = 0; i < n_in; i++) lo_tensor_free_data(&ins[i]);
    }
    if (result == 0 && sets == 0) {
        snprintf(why, size, "no test_data_set_0");
        result = 2;
    }
    if (result == 0 && not_in_dump)
        snprintf(note, note_size, "%d of %d outputs compared; the others have no file in the dump (a sequence, "
                 "an empty optional or a Constant's output)", compared, compared + not_in_dump);
    else if (result == 0 && shape_only)
        snprintf(note, note_size, "dtype and shape only: random operator");
    else if (result == 0 && fix >= 0)
        snprintf(note, note_size, "expected data corrected: %s", known_wrong[fix].reason);
    lo_session_free(s);
    lo_model_free(model);
    return result;
}

static void print_op(const lo_op_def *d, void *user) {
    (void)user;
    printf("%s %s %d %d\n", d->domain && d->domain[0] ? d->domain : "ai.onnx", d->op_type, d->since, d->until);
}

int main(int argc, char **argv) {
    int passed = 0, failed = 0, unsupported = 0;
    if (argc == 2 && strcmp(argv[1], "--list-ops") == 0) { /* for the report: domain op since until */
        lo_op_foreach(print_op, NULL);
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0) {
            verbose = 1;
            continue;
        }
        if (strcmp(argv[i], "--dump") == 0 && i + 1 < argc) {
            dump_dir = argv[++i];
            continue;
        }
        char why[1500] = "", note[300] = "";
        int r = run_case(argv[i], why, sizeof why, note, sizeof note);
        const char *name = base_name(argv[i]);
        if (r == 0) {
            passed++;
            if (note[0]) printf("PASS %s (%s)\n", name, note);
            else printf("PASS %s\n", name);
        } else if (r == 1) {
            failed++;
            printf("FAIL %s: %s\n", name, why);
        } else {
            unsupported++;
            printf("UNSUPPORTED %s: %s\n", name, why);
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed, %d unsupported\n", passed, failed, unsupported);
    return failed ? 1 : 0;
}
