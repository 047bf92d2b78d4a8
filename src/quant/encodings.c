/* AIMET encodings files: reading the three versions into one form, binding
 * them to a model's tensors, and applying them.
 *
 * The formats, as aimet-onnx 2.42 writes and reads them (aimet_onnx/_encoding.py,
 * quantsim.py _export_encodings):
 *  0.6.1  {"version", "activation_encodings": {name: [per-channel dicts]},
 *          "param_encodings": {...}}, each dict {bitwidth, dtype "int"|"float",
 *          is_symmetric "True"|"False", scale, offset (unsigned grid), min, max}
 *  1.0.0  the same sections as lists of {name, dtype "INT"|"FLOAT", enc_type
 *          PER_TENSOR|PER_CHANNEL|PER_BLOCK|LPBQ, bw, is_sym, scale[], offset[]
 *          (unsigned grid), block_size, zero_point_shift, compressed_bw,
 *          per_block_int_scale}
 *  2.0.0  {"encodings": [{name, output_dtype, y_scale, y_zero_point (= -offset
 *          on the dtype's own grid), axis, block_size, per_channel_float_scale,
 *          per_block_int_scale}]}, no param/activation split.
 * "excluded_layers" (any version) lists tensor or node names left unquantized. */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant.h"

#define AXIS_AUTO LO_AXIS_NONE /* the file leaves the axis to the consuming op */

typedef enum float_kind { NOT_FLOAT = 0, FLOAT16 = 1, BFLOAT16 = 2 } float_kind;

struct lo_encoding {
    char *name;
    char *where; /* "param_encodings[3]" and the like, for messages */
    lo_enc_kind kind;
    bool excluded;
    float_kind fp;
    int bitwidth;
    char dtype[16];
    const char *symmetry;
    lo_granularity gran;
    /* Scales and offsets on the unsigned grid (see quant.h); for LPBQ the
     * effective per-block scales once bound. */
    int n;
    double *scale;
    double *offset;
    /* Shape of a nested 2.0.0 y_scale / per_block_int_scale (rank 0 = flat). */
    int scale_rank;
    int64_t scale_dims[LO_MAX_RANK];
    int axis;       /* channel axis (AXIS_AUTO when the op decides) */
    int block_axis; /* AXIS_AUTO unless 2.0.0 says */
    int64_t block_size;
    bool transposed_blocks; /* 1.0.0 block scales listed channel-major for 2-D weights */
    /* LPBQ: per-channel float scales and their 2.0.0 nesting. */
    int n_channel_scales;
    double *channel_scale;
    int channel_scale_rank;
    int64_t channel_scale_dims[LO_MAX_RANK];
    /* Bound: the scale tensor's shape for a weight (fixed at load). */
    bool bound;
    int enc_rank;
    int64_t enc_dims[LO_MAX_RANK];
    int version; /* 61, 100, 200 */
};

struct lo_quant {
    char *path;
    char version[16];
    int n;
    lo_encoding *encs;
    int n_excluded;
    char **excluded;
    int n_active; /* activation encodings, sorted by name for lookup */
    lo_encoding **active;
    lo_encoding **by_name; /* every encoding, sorted by name */
    lo_rounding rounding;
    lo_aimet_set aimet; /* the model's top graph as aimet_onnx's sim sees it */
};

/* ---- parse errors ---------------------------------------------------------- */

typedef struct ctx {
    const char *path;
    const char *where;
    const char *name;
    lo_error *err;
} ctx;

static lo_status bad(const ctx *c, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static lo_status bad(const ctx *c, const char *field, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->name)
        return lo_fail(c->err, LO_ERR_ENCODINGS, "'%s': %s ('%s'), field '%s': %s", c->path, c->where,
                       c->name, field, msg);
    return lo_fail(c->err, LO_ERR_ENCODINGS, "'%s': %s, field '%s': %s", c->path, c->where, field, msg);
}

static const char *json_kind(const json_t *j) {
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "a list";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

static lo_status need(const ctx *c, const json_t *obj, const char *field, const json_t **out) {
    *out = json_object_get(obj, field);
    if (!*out) return bad(c, field, "missing");
    return LO_OK;
}

static lo_status get_int(const ctx *c, const json_t *obj, const char *field, int64_t *out) {
    const json_t *j;
    LO_TRY(need(c, obj, field, &j));
    if (json_is_integer(j)) *out = json_integer_value(j);
    else if (json_is_real(j) && json_real_value(j) == floor(json_real_value(j)) && fabs(json_real_value(j)) < 1e15)
        *out = (int64_t)json_real_value(j);
    else return bad(c, field, "expected an integer, got %s", json_kind(j));
    return LO_OK;
}

static lo_status get_string(const ctx *c, const json_t *obj, const char *field, const char **out) {
    const json_t *j;
    LO_TRY(need(c, obj, field, &j));
    if (!json_is_string(j)) return bad(c, field, "expected a string, got %s", json_kind(j));
    *out = json_string_value(j);
    return LO_OK;
}

static lo_status check_bitwidth(const ctx *c, const char *field, int64_t bw) {
    if (bw < 2 || bw > 32) return bad(c, field, "bit width %lld is out of range (2 to 32)", (long long)bw);
    return LO_OK;
}

/* Flattens a number or a (nested, rectangular) list of numbers. */
static lo_status flatten(const ctx *c, const char *field, const json_t *j, double **values, int *count,
                         int *rank, int64_t *dims) {
    *values = NULL;
    *count = 0;
    *rank = 0;
    if (json_is_number(j)) {
        *values = malloc(sizeof(double));
        if (!*values) return lo_fail(c->err, LO_ERR_NOMEM, "out of memory");
        (*values)[0] = json_number_value(j);
        *count = 1;
        return LO_OK;
    }
    if (!json_is_array(j)) return bad(c, field, "expected a number or a list of numbers, got %s", json_kind(j));
    /* The shape from the first element at every depth; every list is then
     * checked against it. */
    const json_t *p = j;
    while (json_is_array(p)) {
        if (*rank == LO_MAX_RANK) return bad(c, field, "nested deeper than %d", LO_MAX_RANK);
        dims[(*rank)++] = (int64_t)json_array_size(p);
        if (json_array_size(p) == 0) return bad(c, field, "empty list");
        p = json_array_get(p, 0);
    }
    int64_t total = lo_numel_dims(*rank, dims);
    if (total > (1 << 28)) return bad(c, field, "too many values");
    double *v = malloc((size_t)total * sizeof(double));
    if (!v) return lo_fail(c->err, LO_ERR_NOMEM, "out of memory");
    int64_t idx[LO_MAX_RANK] = {0};
    for (int64_t k = 0; k < total; k++) {
        const json_t *e = j;
        for (int d = 0; d < *rank; d++) {
            if (!json_is_array(e) || (int64_t)json_array_size(e) != dims[d]) {
                free(v);
                return bad(c, field, "not a rectangular list of numbers");
            }
            e = json_array_get(e, (size_t)idx[d]);
        }
        if (!json_is_number(e)) {
            free(v);
            return bad(c, field, "element %lld: expected a number, got %s", (long long)k, json_kind(e));
        }
        v[k] = json_number_value(e);
        for (int d = *rank - 1; d >= 0; d--) {
            if (++idx[d] < dims[d]) break;
            idx[d] = 0;
        }
    }
    *values = v;
    *count = (int)total;
    return LO_OK;
}

static lo_status check_scales(const ctx *c, const char *field, const double *s, int n) {
    for (int i = 0; i < n; i++)
        if (!(s[i] > 0) || !isfinite(s[i]))
            return bad(c, field, "scale must be a finite number > 0, got %g%s", s[i],
                       n > 1 ? " (element shown)" : "");
    return LO_OK;
}

static lo_status check_finite(const ctx *c, const char *field, const double *v, int n) {
    for (int i = 0; i < n; i++)
        if (!isfinite(v[i])) return bad(c, field, "expected a finite number, got %g", v[i]);
    return LO_OK;
}

static const char *symmetry_of(bool declared_sym, const double *offset, int n, int bw) {
    double half = ldexp(1.0, bw - 1);
    bool all_sym = true, all_unsigned = true, all_strict = true;
    for (int i = 0; i < n; i++) {
        all_sym &= offset[i] == -half;
        all_unsigned &= offset[i] == 0;
        all_strict &= offset[i] == -(half - 1);
    }
    if (!declared_sym) return all_sym ? "sym" : "asym";
    if (all_unsigned) return "unsigned-sym";
    if (all_strict) return "strict-sym";
    return "sym";
}

/* ---- the three versions ------------------------------------------------------ */

static lo_status parse_061(const ctx *c, const json_t *list, lo_encoding *e) {
    if (!json_is_array(list) || json_array_size(list) == 0)
        return bad(c, "(entry)", "expected a non-empty list of encodings, got %s",
                   json_is_array(list) ? "an empty list" : json_kind(list));
    int n = (int)json_array_size(list);
    const char *dtype;
    int64_t bw;
    const json_t *first = json_array_get(list, 0);
    if (!json_is_object(first)) return bad(c, "(entry)", "expected an object, got %s", json_kind(first));
    LO_TRY(get_string(c, first, "dtype", &dtype));
    LO_TRY(get_int(c, first, "bitwidth", &bw));
    if (!strcmp(dtype, "float")) {
        if (bw != 16) return bad(c, "bitwidth", "float encodings must be 16-bit, got %lld", (long long)bw);
        e->fp = FLOAT16;
        e->bitwidth = 16;
        snprintf(e->dtype, sizeof e->dtype, "float16");
        return LO_OK;
    }
    if (strcmp(dtype, "int")) return bad(c, "dtype", "expected \"int\" or \"float\", got \"%s\"", dtype);
    LO_TRY(check_bitwidth(c, "bitwidth", bw));
    e->bitwidth = (int)bw;
    e->n = n;
    e->scale = calloc((size_t)n, sizeof(double));
    e->offset = calloc((size_t)n, sizeof(double));
    if (!e->scale || !e->offset) return lo_fail(c->err, LO_ERR_NOMEM, "out of memory");
    bool sym = false;
    for (int i = 0; i < n; i++) {
        const json_t *d = json_array_get(list, (size_t)i);
        char where[256];
        snprintf(where, sizeof where, "%s[%d]", c->where, i);
        ctx ci = {c->path, where, c->name, c->err};
        if (!json_is_object(d)) return bad(&ci, "(entry)", "expected an object, got %s", json_kind(d));
        const json_t *j;
        int64_t bwi;
        LO_TRY(get_int(&ci, d, "bitwidth", &bwi));
        if (bwi != bw) return bad(&ci, "bitwidth", "%lld differs from the first channel's %lld", (long long)bwi, (long long)bw);
        LO_TRY(need(&ci, d, "scale", &j));
        if (!json_is_number(j)) return bad(&ci, "scale", "expected a number, got %s", json_kind(j));
        e->scale[i] = json_number_value(j);
        LO_TRY(need(&ci, d, "offset", &j));
        if (!json_is_number(j)) return bad(&ci, "offset", "expected a number, got %s", json_kind(j));
        e->offset[i] = json_number_value(j);
        LO_TRY(need(&ci, d, "is_symmetric", &j));
        /* AIMET writes the strings "True"/"False"; a JSON boolean means the same. */
        if (json_is_boolean(j)) sym = json_is_true(j);
        else if (json_is_string(j) && !strcmp(json_string_value(j), "True")) sym = true;
        else if (json_is_string(j) && !strcmp(json_string_value(j), "False")) sym = false;
        else return bad(&ci, "is_symmetric", "expected \"True\" or \"False\", got %s", json_kind(j));
        LO_TRY(check_scales(&ci, "scale", &e->scale[i], 1));
        LO_TRY(check_finite(&ci, "offset", &e->offset[i], 1));
    }
    e->gran = n > 1 ? LO_GRAN_PER_CHANNEL : LO_GRAN_PER_TENSOR;
    snprintf(e->dtype, sizeof e->dtype, "%sint%d", sym ? "" : "u", e->bitwidth);
    e->symmetry = symmetry_of(sym, e->offset, n, e->bitwidth);
    return LO_OK;
}

static lo_status number_list(const ctx *c, const json_t *obj, const char *field, double **v, int *n) {
    const json_t *j;
    int rank;
    int64_t dims[LO_MAX_RANK];
    LO_TRY(need(c, obj, field, &j));
    LO_TRY(flatten(c, field, j, v, n, &rank, dims));
    if (rank > 1) return bad(c, field, "expected a flat list");
    return LO_OK;
}

static lo_status parse_100(const ctx *c, const json_t *d, lo_encoding *e) {
    const char *dtype, *enc_type;
    int64_t bw;
    LO_TRY(get_string(c, d, "dtype", &dtype));
    LO_TRY(get_string(c, d, "enc_type", &enc_type));
    LO_TRY(get_int(c, d, "bw", &bw));
    if (!strcmp(dtype, "FLOAT")) {
        if (bw != 16) return bad(c, "bw", "FLOAT encodings must be 16-bit, got %lld", (long long)bw);
        e->fp = FLOAT16;
        e->bitwidth = 16;
        snprintf(e->dtype, sizeof e->dtype, "float16");
        return LO_OK;
    }
    if (strcmp(dtype, "INT")) return bad(c, "dtype", "expected \"INT\" or \"FLOAT\", got \"%s\"", dtype);
    const json_t *j;
    LO_TRY(need(c, d, "is_sym", &j));
    if (!json_is_boolean(j)) return bad(c, "is_sym", "expected true or false, got %s", json_kind(j));
    bool sym = json_is_true(j);
    if (!strcmp(enc_type, "PER_TENSOR")) e->gran = LO_GRAN_PER_TENSOR;
    else if (!strcmp(enc_type, "PER_CHANNEL")) e->gran = LO_GRAN_PER_CHANNEL;
    else if (!strcmp(enc_type, "PER_BLOCK")) e->gran = LO_GRAN_PER_BLOCK;
    else if (!strcmp(enc_type, "LPBQ")) e->gran = LO_GRAN_LPBQ;
    else return bad(c, "enc_type", "expected PER_TENSOR, PER_CHANNEL, PER_BLOCK or LPBQ, got \"%s\"", enc_type);
    if (e->gran == LO_GRAN_PER_BLOCK || e->gran == LO_GRAN_LPBQ) {
        LO_TRY(get_int(c, d, "block_size", &e->block_size));
        if (e->block_size < 1) return bad(c, "block_size", "must be >= 1, got %lld", (long long)e->block_size);
    }
    if (e->gran == LO_GRAN_LPBQ) {
        /* The grid is the compressed bit width's signed one; "bw" is what the
         * per-block integer scales decompress to. */
        int64_t cbw;
        LO_TRY(get_int(c, d, "compressed_bw", &cbw));
        LO_TRY(check_bitwidth(c, "compressed_bw", cbw));
        LO_TRY(check_bitwidth(c, "bw", bw));
        e->bitwidth = (int)cbw;
        LO_TRY(number_list(c, d, "scale", &e->channel_scale, &e->n_channel_scales));
        LO_TRY(check_scales(c, "scale", e->channel_scale, e->n_channel_scales));
        LO_TRY(number_list(c, d, "per_block_int_scale", &e->scale, &e->n));
        LO_TRY(check_scales(c, "per_block_int_scale", e->scale, e->n));
        e->offset = malloc((size_t)e->n * sizeof(double));
        if (!e->offset) return lo_fail(c->err, LO_ERR_NOMEM, "out of memory");
        for (int i = 0; i < e->n; i++) e->offset[i] = -ldexp(1.0, e->bitwidth - 1);
        snprintf(e->dtype, sizeof e->dtype, "int%d", e->bitwidth);
        e->symmetry = "sym";
        return LO_OK;
    }
    LO_TRY(check_bitwidth(c, "bw", bw));
    e->bitwidth = (int)bw;
    int n_offset;
    LO_TRY(number_list(c, d, "scale", &e->scale, &e->n));
    LO_TRY(check_scales(c, "scale", e->scale, e->n));
    LO_TRY(number_list(c, d, "offset", &e->offset, &n_offset));
    LO_TRY(check_finite(c, "offset", e->offset, n_offset));
    if (n_offset != e->n)
        return bad(c, "offset", "%d values for %d scales", n_offset, e->n);
    if (e->gran == LO_GRAN_PER_TENSOR && e->n != 1)
        return bad(c, "scale", "PER_TENSOR takes one scale, got %d", e->n);
    /* zero_point_shift moves the grid by a fraction of a step (0.5 for
     * some unsigned-symmetric targets). */
    const json_t *zps = json_object_get(d, "zero_point_shift");
    if (zps) {
        double *shift;
        int n_shift;
        LO_TRY(number_list(c, d, "zero_point_shift", &shift, &n_shift));
        if (n_shift != 1 && n_shift != e->n) {
            free(shift);
            return bad(c, "zero_point_shift", "%d values for %d scales", n_shift, e->n);
        }
        for (int i = 0; i < e->n; i++) e->offset[i] += shift[n_shift == 1 ? 0 : i];
        free(shift);
    }
    snprintf(e->dtype, sizeof e->dtype, "%sint%d", sym ? "" : "u", e->bitwidth);
    e->symmetry = symmetry_of(sym, e->offset, e->n, e->bitwidth);
    e->transposed_blocks = true; /* decided at bind: only 2-D weights with channel axis 1 */
    return LO_OK;
}

static lo_status parse_200(const ctx *c, const json_t *d, lo_encoding *e) {
    const char *dtype;
    LO_TRY(get_string(c, d, "output_dtype", &dtype));
    snprintf(e->dtype, sizeof e->dtype, "%s", dtype);
    const json_t *j = json_object_get(d, "axis");
    e->axis = AXIS_AUTO;
    if (j) {
        if (!json_is_integer(j)) return bad(c, "axis", "expected an integer, got %s", json_kind(j));
        json_int_t axis = json_integer_value(j);
        if (axis < -LO_MAX_RANK || axis >= LO_MAX_RANK) return bad(c, "axis", "%lld is out of range", (long long)axis);
        e->axis = (int)axis;
    }
    if (json_object_get(d, "block_size")) {
        LO_TRY(get_int(c, d, "block_size", &e->block_size));
        if (e->block_size < 1) return bad(c, "block_size", "must be >= 1, got %lld", (long long)e->block_size);
        if (e->axis == AXIS_AUTO) return bad(c, "axis", "missing: a blockwise encoding must name its block axis");
        e->block_axis = e->axis;
        e->axis = AXIS_AUTO;
    }
    bool is_uint = !strncmp(dtype, "uint", 4);
    bool is_int = is_uint || !strncmp(dtype, "int", 3);
    if (!is_int) {
        if (!strcmp(dtype, "float16")) e->fp = FLOAT16;
        else if (!strcmp(dtype, "bfloat16")) e->fp = BFLOAT16;
        else return bad(c, "output_dtype", "\"%s\" is not supported (intN, uintN, float16, bfloat16)", dtype);
        if (json_object_get(d, "y_scale"))
            return bad(c, "y_scale", "scaled %s encodings are not supported", dtype);
        e->bitwidth = 16;
        return LO_OK;
    }
    char *end;
    long bw = strtol(dtype + (is_uint ? 4 : 3), &end, 10);
    if (*end || end == dtype + (is_uint ? 4 : 3)) return bad(c, "output_dtype", "\"%s\" is not an integer type", dtype);
    LO_TRY(check_bitwidth(c, "output_dtype", bw));
    e->bitwidth = (int)bw;
    double half = ldexp(1.0, e->bitwidth - 1);
    if (json_object_get(d, "per_block_int_scale")) {
        if (is_uint) return bad(c, "output_dtype", "LPBQ needs a signed type, got \"%s\"", dtype);
        if (!e->block_size) return bad(c, "block_size", "missing: LPBQ encodings are blockwise");
        e->gran = LO_GRAN_LPBQ;
        LO_TRY(need(c, d, "per_block_int_scale", &j));
        LO_TRY(flatten(c, "per_block_int_scale", j, &e->scale, &e->n, &e->scale_rank, e->scale_dims));
        LO_TRY(check_scales(c, "per_block_int_scale", e->scale, e->n));
        LO_TRY(need(c, d, "per_channel_float_scale", &j));
        LO_TRY(flatten(c, "per_channel_float_scale", j, &e->channel_scale, &e->n_channel_scales,
                       &e->channel_scale_rank, e->channel_scale_dims));
        LO_TRY(check_scales(c, "per_channel_float_scale", e->channel_scale, e->n_channel_scales));
        e->offset = malloc((size_t)e->n * sizeof(double));
        if (!e->offset) return lo_fail(c->err, LO_ERR_NOMEM, "out of memory");
        for (int i = 0; i < e->n; i++) e->offset[i] = -half;
        e->symmetry = "sym";
        return LO_OK;
    }
    LO_TRY(need(c, d, "y_scale", &j));
    LO_TRY(flatten(c, "y_scale", j, &e->scale, &e->n, &e->scale_rank, e->scale_dims));
    LO_TRY(check_scales(c, "y_scale", e->scale, e->n));
    e->offset = calloc((size_t)e->n, sizeof(double));
    if (!e->offset) return lo_fail(c->err, LO_ERR_NOMEM, "out of memory");
    j = json_object_get(d, "y_zero_point");
    if (j && !json_is_null(j)) {
        double *zp;
        int n_zp, zr;
        int64_t zd[LO_MAX_RANK];
        LO_TRY(flatten(c, "y_zero_point", j, &zp, &n_zp, &zr, zd));
        if (n_zp != 1 && n_zp != e->n) {
            free(zp);
            return bad(c, "y_zero_point", "%d values for %d scales", n_zp, e->n);
        }
        for (int i = 0; i < e->n; i++) e->offset[i] = -zp[n_zp == 1 ? 0 : i];
        free(zp);
        LO_TRY(check_finite(c, "y_zero_point", e->offset, e->n));
    }
    /* The dtype's own grid shifted onto the unsigned one. */
    bool sym = true;
    for (int i = 0; i < e->n; i++) {
        if (is_uint) sym &= e->offset[i] == -half;
        else sym &= e->offset[i] == 0;
        if (!is_uint) e->offset[i] -= half;
    }
    e->symmetry = symmetry_of(sym, e->offset, e->n, e->bitwidth);
    if (e->block_size) e->gran = LO_GRAN_PER_BLOCK;
    else if (e->axis != AXIS_AUTO) e->gran = LO_GRAN_PER_CHANNEL;
    else {
        if (e->n != 1) return bad(c, "axis", "missing: %d scales need an axis", e->n);
        e->gran = LO_GRAN_PER_TENSOR;
    }
    return LO_OK;
}

/* ---- loading ------------------------------------------------------------------ */

static void encoding_clear(lo_encoding *e) {
    free(e->name);
    free(e->where);
    free(e->scale);
    free(e->offset);
    free(e->channel_scale);
}

void lo_quant_free(lo_quant *q) {
    if (!q) return;
    for (int i = 0; i < q->n; i++) encoding_clear(&q->encs[i]);
    free(q->encs);
    for (int i = 0; i < q->n_excluded; i++) free(q->excluded[i]);
    free(q->excluded);
    free(q->active);
    free(q->by_name);
    lo_quant_aimet_set_free(&q->aimet);
    free(q->path);
    free(q);
}

static lo_status add_entry(lo_quant *q, const char *section, int index, const char *name, const json_t *entry,
                           int version, lo_enc_kind kind, lo_error *err) {
    char where[200];
    if (version == 61) snprintf(where, sizeof where, "%s['%s']", section, name);
    else snprintf(where, sizeof where, "%s[%d]", section, index);
    ctx c = {q->path, where, version == 61 ? NULL : name, err};
    lo_encoding *e = &q->encs[q->n];
    memset(e, 0, sizeof *e);
    q->n++; /* counted first so lo_quant_free releases a half-read entry */
    e->name = lo_strdup(name);
    e->where = lo_strdup(where);
    if (!e->name || !e->where) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    e->kind = kind;
    e->version = version;
    e->axis = AXIS_AUTO;
    e->block_axis = AXIS_AUTO;
    e->symmetry = "";
    if (version == 61) return parse_061(&c, entry, e);
    if (!json_is_object(entry)) return bad(&c, "(entry)", "expected an object, got %s", json_kind(entry));
    return version == 100 ? parse_100(&c, entry, e) : parse_200(&c, entry, e);
}

static lo_status read_section(lo_quant *q, const json_t *root, const char *section, int version,
                              lo_enc_kind kind, bool required, lo_error *err) {
    const json_t *s = json_object_get(root, section);
    if (!s) {
        if (required) return lo_fail(err, LO_ERR_ENCODINGS, "'%s': version %s file has no \"%s\"", q->path, q->version, section);
        return LO_OK;
    }
    if (version == 61) {
        if (!json_is_object(s))
            return lo_fail(err, LO_ERR_ENCODINGS, "'%s': \"%s\" must be an object (name -> encodings) in version 0.6.1, got %s",
                           q->path, section, json_kind(s));
        const char *name;
        const json_t *v;
        int i = 0;
        json_object_foreach((json_t *)s, name, v) LO_TRY(add_entry(q, section, i++, name, v, version, kind, err));
        return LO_OK;
    }
    if (!json_is_array(s))
        return lo_fail(err, LO_ERR_ENCODINGS, "'%s': \"%s\" must be a list in version %s, got %s", q->path, section,
                       q->version, json_kind(s));
    for (size_t i = 0; i < json_array_size(s); i++) {
        const json_t *v = json_array_get(s, i);
        const json_t *name = json_is_object(v) ? json_object_get(v, "name") : NULL;
        if (!json_is_object(v))
            return lo_fail(err, LO_ERR_ENCODINGS, "'%s': %s[%zu]: expected an object, got %s", q->path, section, i, json_kind(v));
        if (!json_is_string(name))
            return lo_fail(err, LO_ERR_ENCODINGS, "'%s': %s[%zu], field 'name': %s", q->path, section, i,
                           name ? "expected a string" : "missing");
        LO_TRY(add_entry(q, section, (int)i, json_string_value(name), v, version, kind, err));
    }
    return LO_OK;
}

static size_t section_size(const json_t *root, const char *section) {
    const json_t *s = json_object_get(root, section);
    return json_is_object(s) ? json_object_size(s) : json_is_array(s) ? json_array_size(s) : 0;
}

static int compare_names(const void *a, const void *b) {
    return strcmp((*(lo_encoding *const *)a)->name, (*(lo_encoding *const *)b)->name);
}

static lo_status load_root(lo_quant *q, const json_t *root, lo_error *err) {
    if (!json_is_object(root))
        return lo_fail(err, LO_ERR_ENCODINGS, "'%s': expected a JSON object at the top, got %s", q->path, json_kind(root));
    const json_t *v = json_object_get(root, "version");
    int version;
    if (!v) {
        /* AIMET before 1.x wrote 0.6.1 files without a version. */
        if (!json_is_object(json_object_get(root, "activation_encodings")) &&
            !json_is_object(json_object_get(root, "param_encodings")))
            return lo_fail(err, LO_ERR_ENCODINGS, "'%s': field 'version' is missing", q->path);
        snprintf(q->version, sizeof q->version, "0.6.1");
    } else if (!json_is_string(v)) {
        return lo_fail(err, LO_ERR_ENCODINGS, "'%s': field 'version': expected a string, got %s", q->path, json_kind(v));
    } else {
        snprintf(q->version, sizeof q->version, "%s", json_string_value(v));
    }
    if (!strcmp(q->version, "0.6.1")) version = 61;
    else if (!strcmp(q->version, "1.0.0")) version = 100;
    else if (!strcmp(q->version, "2.0.0")) version = 200;
    else
        return lo_fail(err, LO_ERR_ENCODINGS, "'%s': field 'version': unknown version \"%s\" (supported: 0.6.1, 1.0.0, 2.0.0)",
                       q->path, q->version);
    size_t total = section_size(root, "activation_encodings") + section_size(root, "param_encodings") +
                   section_size(root, "encodings");
    q->encs = calloc(total ? total : 1, sizeof *q->encs);
    if (!q->encs) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    if (version == 200) {
        LO_TRY(read_section(q, root, "encodings", version, LO_ENC_UNKNOWN, true, err));
    } else {
        bool any = json_object_get(root, "activation_encodings") || json_object_get(root, "param_encodings");
        if (!any)
            return lo_fail(err, LO_ERR_ENCODINGS, "'%s': version %s file has neither \"activation_encodings\" nor \"param_encodings\"",
                           q->path, q->version);
        LO_TRY(read_section(q, root, "param_encodings", version, LO_ENC_PARAM, false, err));
        LO_TRY(read_section(q, root, "activation_encodings", version, LO_ENC_ACTIVATION, false, err));
    }
    const json_t *ex = json_object_get(root, "excluded_layers");
    if (ex) {
        if (!json_is_array(ex))
            return lo_fail(err, LO_ERR_ENCODINGS, "'%s': field 'excluded_layers': expected a list of names, got %s", q->path, json_kind(ex));
        q->excluded = calloc(json_array_size(ex) + 1, sizeof(char *));
        if (!q->excluded) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < json_array_size(ex); i++) {
            const json_t *s = json_array_get(ex, i);
            if (!json_is_string(s))
                return lo_fail(err, LO_ERR_ENCODINGS, "'%s': excluded_layers[%zu]: expected a string, got %s", q->path, i, json_kind(s));
            q->excluded[q->n_excluded++] = lo_strdup(json_string_value(s));
        }
    }
    /* One tensor, one encoding: a second one would silently win or lose. */
    lo_encoding **sorted = malloc((size_t)(q->n ? q->n : 1) * sizeof *sorted);
    if (!sorted) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    for (int i = 0; i < q->n; i++) sorted[i] = &q->encs[i];
    qsort(sorted, (size_t)q->n, sizeof *sorted, compare_names);
    q->by_name = sorted;
    for (int i = 1; i < q->n; i++)
        if (!strcmp(sorted[i - 1]->name, sorted[i]->name))
            return lo_fail(err, LO_ERR_ENCODINGS, "'%s': %s and %s both encode '%s'", q->path,
                           sorted[i - 1]->where, sorted[i]->where, sorted[i]->name);
    for (int i = 0; i < q->n; i++)
        for (int k = 0; k < q->n_excluded; k++)
            if (!strcmp(q->encs[i].name, q->excluded[k])) q->encs[i].excluded = true;
    return LO_OK;
}

lo_status lo_quant_load(const char *path, lo_quant **out, lo_error *err) {
    *out = NULL;
    lo_quant *q = calloc(1, sizeof *q);
    if (!q || !(q->path = lo_strdup(path))) {
        free(q);
        return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    }
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        lo_status st;
        FILE *f = fopen(path, "rb");
        if (!f) st = lo_fail(err, LO_ERR_IO, "'%s': cannot read the encodings file", path);
        else
            st = lo_fail(err, LO_ERR_ENCODINGS, "'%s': not valid JSON (line %d, column %d: %s)", path, je.line,
                         je.column, je.text);
        if (f) fclose(f);
        lo_quant_free(q);
        return st;
    }
    lo_status st = load_root(q, root, err);
    json_decref(root);
    if (st != LO_OK) {
        lo_quant_free(q);
        return st;
    }
    *out = q;
    return LO_OK;
}

/* ---- layout of the scales over a tensor -------------------------------------- */

static int norm_axis(int axis, int rank) { return axis < 0 ? axis + rank : axis; }

/* The scale tensor's shape for a tensor of shape dims. channel_axis and
 * block_axis are the defaults of the consuming op (AIMET's
 * _get_quantization_axes), used where the file leaves them out. */
static lo_status layout(const lo_quant *q, const lo_encoding *e, int rank, const int64_t *dims, int channel_axis,
                        int block_axis, int *enc_rank, int64_t *enc_dims, lo_error *err) {
    char shape[96];
    lo_shape_str(rank, dims, shape, sizeof shape);
    *enc_rank = rank;
    for (int d = 0; d < rank; d++) enc_dims[d] = 1;
    if (e->gran == LO_GRAN_PER_TENSOR || e->fp) return LO_OK;
    int ch = norm_axis(e->axis != AXIS_AUTO ? e->axis : channel_axis, rank);
    if (e->gran == LO_GRAN_PER_CHANNEL) {
        if (ch < 0 || ch >= rank)
            return lo_fail(err, LO_ERR_ENCODINGS, "'%s': %s ('%s'), field 'axis': channel axis %d does not fit the %s tensor",
                           q->path, e->where, e->name, ch, shape);
        if (dims[ch] != e->n)
            return lo_fail(err, LO_ERR_ENCODINGS,
                           "'%s': %s ('%s'), field '%s': %d per-channel scales, but the tensor (%s) has %lld channels on axis %d",
                           q->path, e->where, e->name, e->version == 200 ? "y_scale" : "scale", e->n, shape,
                           (long long)dims[ch], ch);
        enc_dims[ch] = dims[ch];
        return LO_OK;
    }
    const char *field = e->version == 200 ? (e->gran == LO_GRAN_LPBQ ? "per_block_int_scale" : "y_scale")
                        : e->gran == LO_GRAN_LPBQ ? "per_block_int_scale" : "scale";
    if (e->version == 200 && e->scale_rank == rank) {
        /* 2.0.0 nests the block scales in the tensor's own rank. */
        for (int d = 0; d < rank; d++) {
            if (e->scale_dims[d] < 1 || dims[d] % e->scale_dims[d])
                return lo_fail(err, LO_ERR_ENCODINGS, "'%s': %s ('%s'), field '%s': scale shape does not divide the tensor (%s) on axis %d",
                               q->path, e->where, e->name, field, shape, d);
            enc_dims[d] = e->scale_dims[d];
        }
        int ba = norm_axis(e->block_axis, rank);
        if (ba >= 0 && ba < rank && dims[ba] / enc_dims[ba] != e->block_size)
            return lo_fail(err, LO_ERR_ENCODINGS, "'%s': %s ('%s'), field 'block_size': %lld does not fit %lld blocks of the tensor (%s) on axis %d",
                           q->path, e->where, e->name, (long long)e->block_size, (long long)enc_dims[ba], shape, ba);
        return LO_OK;
    }
    int ba = norm_axis(e->block_axis != AXIS_AUTO ? e->block_axis : block_axis, rank);
    if (ch < 0 || ch >= rank || ba < 0 || ba >= rank || ch == ba)
        return lo_fail(err, LO_ERR_ENCODINGS, "'%s': %s ('%s'): cannot tell the channel and block axes of the %s tensor",
                       q->path, e->where, e->name, shape);
    if (dims[ba] % e->block_size)
        return lo_fail(err, LO_ERR_ENCODINGS, "'%s': %s ('%s'), field 'block_size': %lld does not divide %lld (axis %d of %s)",
                       q->path, e->where, e->name, (long long)e->block_size, (long long)dims[ba], ba, shape);
    enc_dims[ch] = dims[ch];
    enc_dims[ba] = dims[ba] / e->block_size;
    if (lo_numel_dims(rank, enc_dims) != e->n)
        return lo_fail(err, LO_ERR_ENCODINGS, "'%s': %s ('%s'), field '%s': %d block scales, but the tensor (%s) has %lld channels x %lld blocks",
                       q->path, e->where, e->name, field, e->n, shape, (long long)enc_dims[ch], (long long)enc_dims[ba]);
    return LO_OK;
}

/* 1.0.0 lists the block scales of a 2-D weight whose channel axis is 1
 * channel-major (AIMET's _should_permute_to_1_0_0_blockwise_ordering):
 * reorders them into the tensor's own C order. */
static lo_status untranspose(lo_encoding *e, int rank, const int64_t *enc_dims, int ch, lo_error *err) {
    if (e->version != 100 || rank != 2 || ch != 1 || e->gran < LO_GRAN_PER_BLOCK) return LO_OK;
    int64_t rows = enc_dims[0], cols = enc_dims[1]; /* blocks x channels */
    double *t = malloc((size_t)e->n * sizeof(double));
    if (!t) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) t[r * cols + c] = e->scale[c * rows + r];
    free(e->scale);
    e->scale = t;
    return LO_OK;
}

/* LPBQ: effective scale = per-block integer scale x its channel's float scale. */
static lo_status lpbq_scales(lo_quant *q, lo_encoding *e, int rank, const int64_t *enc_dims, int ch, lo_error *err) {
    if (e->gran != LO_GRAN_LPBQ) return LO_OK;
    int64_t ch_dims[LO_MAX_RANK];
    for (int d = 0; d < rank; d++) ch_dims[d] = 1;
    if (e->channel_scale_rank == rank) {
        for (int d = 0; d < rank; d++) {
            ch_dims[d] = e->channel_scale_dims[d];
            if (ch_dims[d] != 1 && ch_dims[d] != enc_dims[d])
                return lo_fail(err, LO_ERR_ENCODINGS, "'%s': %s ('%s'), field 'per_channel_float_scale': shape does not broadcast to the block scales",
                               q->path, e->where, e->name);
        }
    } else {
        if (ch < 0 || ch >= rank || enc_dims[ch] != e->n_channel_scales)
            return lo_fail(err, LO_ERR_ENCODINGS, "'%s': %s ('%s'), field '%s': %d channel scales do not match the weight's channels",
                           q->path, e->where, e->name, e->version == 200 ? "per_channel_float_scale" : "scale", e->n_channel_scales);
        ch_dims[ch] = enc_dims[ch];
    }
    if (lo_numel_dims(rank, ch_dims) != e->n_channel_scales)
        return lo_fail(err, LO_ERR_ENCODINGS, "'%s': %s ('%s'): %d channel scales do not match the block scales",
                       q->path, e->where, e->name, e->n_channel_scales);
    for (int64_t i = 0; i < e->n; i++) {
        int64_t rest = i, ci = 0, stride = 1;
        for (int d = rank - 1; d >= 0; d--) {
            int64_t k = rest % enc_dims[d];
            rest /= enc_dims[d];
            if (ch_dims[d] > 1) ci += k * stride;
            stride *= ch_dims[d];
        }
        e->scale[i] *= e->channel_scale[ci];
    }
    return LO_OK;
}

/* ---- binding ---------------------------------------------------------------- */

typedef struct found {
    lo_graph *g;
    int v;
} found;

static bool find_value(lo_graph *g, const char *name, found *f) {
    int v = lo_graph_find(g, name);
    if (v >= 0 && g->values[v].kind != LO_VALUE_OUTER) {
        f->g = g;
        f->v = v;
        return true;
    }
    for (int i = 0; i < g->n_nodes; i++)
        for (int a = 0; a < g->nodes[i].n_attrs; a++) {
            lo_attr *at = &g->nodes[i].attrs[a];
            if (at->graph && find_value(at->graph, name, f)) return true;
            for (int k = 0; at->graphs && k < at->n; k++)
                if (find_value(at->graphs[k], name, f)) return true;
        }
    return false;
}

static const lo_node *find_node(const lo_graph *g, const char *name, const lo_graph **in) {
    for (int i = 0; i < g->n_nodes; i++) {
        const lo_node *n = &g->nodes[i];
        if (n->name && !strcmp(n->name, name)) {
            *in = g;
            return n;
        }
        for (int a = 0; a < n->n_attrs; a++) {
            const lo_attr *at = &n->attrs[a];
            const lo_node *r = at->graph ? find_node(at->graph, name, in) : NULL;
            for (int k = 0; !r && at->graphs && k < at->n; k++) r = find_node(at->graphs[k], name, in);
            if (r) return r;
        }
    }
    return NULL;
}

static bool in_mapping(const lo_model_ir *m, const void *p) {
    for (int i = 0; i < m->n_mappings; i++) {
        const char *a = m->mappings[i].addr;
        if ((const char *)p >= a && (const char *)p < a + m->mappings[i].size) return true;
    }
    return false;
}

static lo_status apply_layout(const lo_quant *q, const lo_encoding *e, lo_tensor *t, int enc_rank,
                              const int64_t *enc_dims, lo_error *err) {
    if (t->dtype != LO_FLOAT)
        return lo_fail(err, LO_ERR_ENCODINGS, "'%s': %s ('%s'): the tensor is %s; only float32 tensors can be quantized",
                       q->path, e->where, e->name, lo_dtype_name(t->dtype));
    float *x = t->data;
    int64_t n = lo_numel(t);
    if (e->fp == FLOAT16) lo_qdq_float16(x, n);
    else if (e->fp == BFLOAT16) lo_qdq_bfloat16(x, n);
    else lo_qdq_affine(x, enc_rank, t->dims, enc_dims, e->scale, e->offset, ldexp(1.0, e->bitwidth) - 1, q->rounding);
    return LO_OK;
}

/* Binds an encoding to a static tensor (st, the value of src): its layout
 * from the tensor's shape and the axes of the ops that read it, fixed now.
 * The tensor itself is quantized once, here, when the encoding names it
 * (an initializer, or a Constant node's tensor); an encoding on an Identity
 * of one is applied when the Identity runs (*at_run_time). */
static lo_status bind_static(lo_quant *q, lo_model_ir *m, lo_encoding *e, const found *f, int src, lo_tensor *st,
                             bool *at_run_time, lo_error *err) {
    *at_run_time = false;
    int rank = st->rank;
    bool need_axis = !e->fp && e->gran != LO_GRAN_PER_TENSOR && e->axis == AXIS_AUTO &&
                     !(e->version == 200 && e->scale_rank == rank && e->gran != LO_GRAN_LPBQ);
    int ch, ba;
    char why[512];
    if (lo_quant_weight_axes(f->g, f->v, rank, st->dims, e->n, need_axis, &ch, &ba, why, sizeof why) != LO_OK)
        return lo_fail(err, LO_ERR_ENCODINGS, "'%s': %s ('%s'): %s", q->path, e->where, e->name, why);
    if (ch == AXIS_AUTO) {
        /* No op reads it as a weight: a weight's channels lead, an
         * activation's follow the batch axis. */
        ch = e->kind == LO_ENC_ACTIVATION && rank > 1 ? 1 : 0;
        ba = rank > 1 ? (ch == 0 ? 1 : 0) : AXIS_AUTO;
    }
    /* 0.6.1 has no word for blocks: AIMET writes a blockwise weight as one
     * dict per block, the scale tensor (channels x blocks, in the weight's
     * own rank) flattened in C order. */
    int c61 = norm_axis(ch, rank), b61 = norm_axis(ba, rank);
    if (e->version == 61 && e->gran == LO_GRAN_PER_CHANNEL && c61 >= 0 && c61 < rank && b61 >= 0 && b61 < rank &&
        c61 != b61 && st->dims[c61] > 0 && e->n != st->dims[c61] && e->n % st->dims[c61] == 0 &&
        st->dims[b61] % (e->n / st->dims[c61]) == 0) {
        e->gran = LO_GRAN_PER_BLOCK;
        e->block_size = st->dims[b61] / (e->n / st->dims[c61]);
    }
    LO_TRY(layout(q, e, rank, st->dims, ch, ba, &e->enc_rank, e->enc_dims, err));
    int used_ch = norm_axis(e->axis != AXIS_AUTO ? e->axis : ch, rank);
    if (e->gran >= LO_GRAN_PER_BLOCK) LO_TRY(untranspose(e, rank, e->enc_dims, used_ch, err));
    LO_TRY(lpbq_scales(q, e, rank, e->enc_dims, used_ch, err));
    e->bound = true;
    if (st->dtype != LO_FLOAT)
        return lo_fail(err, LO_ERR_ENCODINGS, "'%s': %s ('%s'): the weight is %s; only float32 tensors can be quantized",
                       q->path, e->where, e->name, lo_dtype_name(st->dtype));
    bool is_init = f->g->values[f->v].kind == LO_VALUE_INITIALIZER;
    if (src != f->v || (!is_init && st->data && in_mapping(m, st->data))) {
        /* An Identity's output, or a Constant whose mapped data its kernel
         * already points at: quantized as it is produced. */
        *at_run_time = true;
        return LO_OK;
    }
    /* Mapped external data is read-only and shared with the file. */
    if (st->data && in_mapping(m, st->data)) {
        void *copy = lo_malloc(st->nbytes ? st->nbytes : 1, err);
        if (!copy) return LO_ERR_NOMEM;
        memcpy(copy, st->data, st->nbytes);
        st->data = copy;
    }
    return apply_layout(q, e, st, e->enc_rank, e->enc_dims, err);
}

static bool has_encoding(const void *user, const char *name) { return lo_quant_lookup(user, name) != NULL; }

const lo_encoding *lo_quant_lookup(const lo_quant *q, const char *name) {
    if (!q || !q->by_name || q->n == 0) return NULL;
    lo_encoding key;
    key.name = (char *)name;
    const lo_encoding *kp = &key;
    lo_encoding *const *r = bsearch(&kp, q->by_name, (size_t)q->n, sizeof *q->by_name, compare_names);
    return r ? *r : NULL;
}

bool lo_quant_hidden(const lo_quant *q, const lo_graph *g, int v) { return q && lo_aimet_set_hidden(&q->aimet, g, v); }

int lo_quant_saved_before(const lo_quant *q, const lo_graph *g, int order_index, const int **values) {
    return q ? lo_aimet_set_before(&q->aimet, g, order_index, values) : 0;
}

static lo_status append(char **list, size_t *len, const char *name) {
    size_t n = strlen(name);
    char *p = realloc(*list, *len + n + 3);
    if (!p) return LO_ERR_NOMEM;
    if (*len) {
        memcpy(p + *len, ", ", 2);
        *len += 2;
    }
    memcpy(p + *len, name, n + 1);
    *len += n;
    *list = p;
    return LO_OK;
}

lo_status lo_quant_bind(lo_quant *q, lo_model_ir *m, lo_rounding rounding, bool strict, char **missing,
                        lo_error *err) {
    *missing = NULL;
    q->rounding = rounding;
    char *list = NULL;
    size_t list_len = 0;
    int n_missing = 0;
    free(q->active);
    q->active = malloc((size_t)(q->n ? q->n : 1) * sizeof *q->active);
    q->n_active = 0;
    if (!q->active) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    lo_quant_aimet_set_free(&q->aimet);
    LO_TRY(lo_quant_aimet_set(m->graph, has_encoding, q, &q->aimet, err));
    for (int i = 0; i < q->n; i++) {
        lo_encoding *e = &q->encs[i];
        found f;
        if (!find_value(m->graph, e->name, &f)) {
            n_missing++;
            if (append(&list, &list_len, e->name) != LO_OK) {
                free(list);
                return lo_fail(err, LO_ERR_NOMEM, "out of memory");
            }
            continue;
        }
        lo_value *val = &f.g->values[f.v];
        /* A node listed in excluded_layers takes its outputs and weights with it. */
        for (int k = 0; k < q->n_excluded && !e->excluded; k++) {
            const lo_graph *ng;
            const lo_node *n = find_node(m->graph, q->excluded[k], &ng);
            for (int j = 0; n && j < n->n_inputs + n->n_outputs && !e->excluded; j++) {
                bool is_input = j < n->n_inputs;
                int w = is_input ? n->inputs[j] : n->outputs[j - n->n_inputs];
                if (w < 0 || strcmp(ng->values[w].name, e->name)) continue;
                if (!is_input || val->kind == LO_VALUE_INITIALIZER) e->excluded = true;
            }
        }
        const lo_tensor *src_tensor = NULL;
        int src = lo_quant_static_source(f.g, f.v, &src_tensor);
        if (e->kind == LO_ENC_UNKNOWN) {
            /* 2.0.0 has no sections: a static tensor is a parameter when
             * aimet_onnx's sim takes it as one (or it lives in a subgraph). */
            bool param = src >= 0 && (f.g != m->graph || lo_aimet_set_is_param(&q->aimet, f.g, src));
            e->kind = param ? LO_ENC_PARAM : LO_ENC_ACTIVATION;
        }
        if (e->excluded) continue;
        bool at_run_time = true;
        if (src >= 0 && src_tensor && src_tensor->kind == LO_KIND_TENSOR) {
            lo_status st = bind_static(q, m, e, &f, src, (lo_tensor *)src_tensor, &at_run_time, err);
            if (st != LO_OK) {
                free(list); /* the names gathered so far */
                return st;
            }
        }
        if (at_run_time) q->active[q->n_active++] = e;
    }
    qsort(q->active, (size_t)q->n_active, sizeof *q->active, compare_names);
    if (n_missing) {
        char head[160];
        snprintf(head, sizeof head, "encodings name %d tensor%s the model does not have: ", n_missing,
                 n_missing == 1 ? "" : "s");
        if (strict) {
            lo_status st = lo_fail(err, LO_ERR_ENCODINGS, "'%s': %s%s", q->path, head, list);
            free(list);
            return st;
        }
        char *w = malloc(strlen(head) + list_len + 1);
        if (!w) {
            free(list);
            return lo_fail(err, LO_ERR_NOMEM, "out of memory");
        }
        strcpy(w, head);
        strcat(w, list);
        *missing = w;
    }
    free(list);
    return LO_OK;
}

const lo_encoding *lo_quant_find(const lo_quant *q, const lo_graph *g, int v) {
    if (!q || v < 0 || v >= g->n_values || q->n_active == 0) return NULL;
    lo_encoding key;
    key.name = g->values[v].name;
    const lo_encoding *kp = &key;
    lo_encoding *const *r = bsearch(&kp, q->active, (size_t)q->n_active, sizeof *q->active, compare_names);
    return r ? *r : NULL;
}

lo_status lo_quant_apply(const lo_quant *q, const lo_encoding *e, lo_tensor *t, lo_error *err) {
    if (e->bound) return apply_layout(q, e, t, e->enc_rank, e->enc_dims, err);
    /* An activation: its shape is known only now. Per-channel activations
     * default to axis 1 (NCHW's channels) when the file does not say. */
    int enc_rank;
    int64_t enc_dims[LO_MAX_RANK];
    if (e->gran == LO_GRAN_LPBQ || (e->gran == LO_GRAN_PER_BLOCK && e->version != 200))
        return lo_fail(err, LO_ERR_ENCODINGS, "'%s': %s ('%s'): blockwise encodings apply to weights only", q->path,
                       e->where, e->name);
    LO_TRY(layout(q, e, t->rank, t->dims, t->rank > 1 ? 1 : 0, AXIS_AUTO, &enc_rank,
                  enc_dims, err));
    return apply_layout(q, e, t, enc_rank, enc_dims, err);
}

const char *lo_encoding_describe(const lo_encoding *e, char *buf, size_t size) {
    if (e->fp) {
        snprintf(buf, size, "%s", e->fp == FLOAT16 ? "float16" : "bfloat16");
        return buf;
    }
    switch (e->gran) {
    case LO_GRAN_PER_TENSOR:
        snprintf(buf, size, "%s %s per-tensor scale=%.9g offset=%.9g", e->dtype, e->symmetry, e->scale[0], e->offset[0]);
        break;
    case LO_GRAN_PER_CHANNEL:
        if (e->axis != AXIS_AUTO || !e->bound) {
            if (e->axis == AXIS_AUTO) snprintf(buf, size, "%s %s per-channel channels=%d", e->dtype, e->symmetry, e->n);
            else snprintf(buf, size, "%s %s per-channel axis=%d channels=%d", e->dtype, e->symmetry, e->axis, e->n);
        } else {
            int ax = 0;
            for (int d = 0; d < e->enc_rank; d++)
                if (e->enc_dims[d] > 1) ax = d;
            snprintf(buf, size, "%s %s per-channel axis=%d channels=%d", e->dtype, e->symmetry, ax, e->n);
        }
        break;
    case LO_GRAN_PER_BLOCK:
        snprintf(buf, size, "%s %s per-block block_size=%lld scales=%d", e->dtype, e->symmetry, (long long)e->block_size, e->n);
        break;
    case LO_GRAN_LPBQ:
        snprintf(buf, size, "%s lpbq block_size=%lld scales=%d channels=%d", e->dtype, (long long)e->block_size, e->n,
                 e->n_channel_scales);
        break;
    }
    return buf;
}

const char *lo_quant_version(const lo_quant *q) { return q->version; }
const lo_encoding *lo_quant_entry(const lo_quant *q, int i) { return i >= 0 && i < q->n ? &q->encs[i] : NULL; }
int lo_quant_count(const lo_quant *q) { return q->n; }
int lo_quant_excluded_count(const lo_quant *q) { return q->n_excluded; }
const char *lo_quant_excluded(const lo_quant *q, int i) { return q->excluded[i]; }

void lo_quant_info(const lo_quant *q, int i, lo_encoding_info *info) {
    const lo_encoding *e = &q->encs[i];
    info->name = e->name;
    info->kind = e->kind;
    info->dtype = e->dtype;
    info->symmetry = e->symmetry;
    info->bitwidth = e->bitwidth;
    info->is_float = e->fp != NOT_FLOAT;
    info->granularity = e->gran;
    info->n_scales = e->fp ? 0 : e->n;
    info->excluded = e->excluded;
}
