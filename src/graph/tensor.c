/* Errors, allocation and the tensor helpers everything else uses. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errno.h>
#include <sys/stat.h>

#include "graph.h"

lo_status lo_fail(lo_error *err, lo_status status, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return status;
}

void lo_assert_failed(const char *file, int line, const char *cond) {
    fprintf(stderr, "layerout: internal error at %s:%d: assertion '%s' failed\n", file, line, cond);
    abort();
}

void *lo_malloc(size_t size, lo_error *err) {
    void *p = malloc(size ? size : 1);
    if (!p) lo_fail(err, LO_ERR_NOMEM, "out of memory allocating %zu bytes", size);
    return p;
}

void *lo_calloc(size_t count, size_t size, lo_error *err) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) lo_fail(err, LO_ERR_NOMEM, "out of memory allocating %zu x %zu bytes", count, size);
    return p;
}

char *lo_strdup(const char *s) { return lo_strndup(s ? s : "", strlen(s ? s : "")); }

char *lo_strndup(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (!p) return NULL;
    if (n) memcpy(p, s, n); /* s may be NULL when n is 0 (empty protobuf bytes) */
    p[n] = 0;
    return p;
}

lo_status lo_read_file(const char *path, uint8_t **data, size_t *len, lo_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return lo_fail(err, LO_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return lo_fail(err, LO_ERR_IO, "'%s' is not a regular file", path);
    }
    size_t size = (size_t)st.st_size;
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) {
        fclose(f);
        return lo_fail(err, LO_ERR_NOMEM, "out of memory reading '%s' (%zu bytes)", path, size);
    }
    size_t got = size ? fread(buf, 1, size, f) : 0;
    int failed = ferror(f);
    fclose(f);
    if (got != size || failed) {
        free(buf);
        return lo_fail(err, LO_ERR_IO, "cannot read '%s'", path);
    }
    *data = buf;
    *len = size;
    return LO_OK;
}

bool lo_mul_size(size_t a, size_t b, size_t *out) {
    if (a && b > SIZE_MAX / a) return false;
    *out = a * b;
    return true;
}

const char *lo_version(void) { return LO_VERSION_STRING; }

const char *lo_status_name(lo_status status) {
    switch (status) {
    case LO_OK: return "ok";
    case LO_ERR_IO: return "i/o error";
    case LO_ERR_MODEL: return "bad model";
    case LO_ERR_UNSUPPORTED: return "unsupported";
    case LO_ERR_INPUT: return "bad input";
    case LO_ERR_ARGUMENT: return "bad argument";
    case LO_ERR_ENCODINGS: return "bad encodings";
    case LO_ERR_NOMEM: return "out of memory";
    case LO_ERR_INTERRUPTED: return "interrupted";
    case LO_ERR_RUNTIME: return "runtime error";
    }
    return "unknown status";
}

static const struct {
    const char *name;
    size_t size;
} dtype_table[] = {
    [LO_UNDEFINED] = {"undefined", 0},
    [LO_FLOAT] = {"float32", 4},
    [LO_UINT8] = {"uint8", 1},
    [LO_INT8] = {"int8", 1},
    [LO_UINT16] = {"uint16", 2},
    [LO_INT16] = {"int16", 2},
    [LO_INT32] = {"int32", 4},
    [LO_INT64] = {"int64", 8},
    [LO_STRING] = {"string", sizeof(char *)},
    [LO_BOOL] = {"bool", 1},
    [LO_FLOAT16] = {"float16", 2},
    [LO_DOUBLE] = {"float64", 8},
    [LO_UINT32] = {"uint32", 4},
    [LO_UINT64] = {"uint64", 8},
    [LO_COMPLEX64] = {"complex64", 8},
    [LO_COMPLEX128] = {"complex128", 16},
    [LO_BFLOAT16] = {"bfloat16", 2},
    [LO_FLOAT8E4M3FN] = {"float8e4m3fn", 1},
    [LO_FLOAT8E4M3FNUZ] = {"float8e4m3fnuz", 1},
    [LO_FLOAT8E5M2] = {"float8e5m2", 1},
    [LO_FLOAT8E5M2FNUZ] = {"float8e5m2fnuz", 1},
    [LO_UINT4] = {"uint4", 1},
    [LO_INT4] = {"int4", 1},
    [LO_FLOAT4E2M1] = {"float4e2m1", 1},
    [LO_FLOAT8E8M0] = {"float8e8m0", 1},
    [LO_UINT2] = {"uint2", 1},
    [LO_INT2] = {"int2", 1},
    [LO_FLOAT6E2M3] = {"float6e2m3", 1},
    [LO_FLOAT6E3M2] = {"float6e3m2", 1},
};
_Static_assert(sizeof dtype_table / sizeof dtype_table[0] == LO_FLOAT6E3M2 + 1,
               "one dtype_table row per lo_dtype");

const char *lo_dtype_name(lo_dtype dtype) {
    if ((unsigned)dtype > LO_FLOAT6E3M2) return "unknown";
    return dtype_table[dtype].name;
}

size_t lo_dtype_size(lo_dtype dtype) {
    if ((unsigned)dtype > LO_FLOAT6E3M2) return 0;
    return dtype_table[dtype].size;
}

bool lo_dtype_is_float(lo_dtype d) {
    return d == LO_FLOAT || d == LO_DOUBLE || d == LO_FLOAT16 || d == LO_BFLOAT16;
}

bool lo_dtype_is_int(lo_dtype d) {
    switch (d) {
    case LO_UINT8: case LO_INT8: case LO_UINT16: case LO_INT16: case LO_INT32: case LO_INT64:
    case LO_UINT32: case LO_UINT64: case LO_UINT4: case LO_INT4: case LO_UINT2: case LO_INT2: return true;
    default: return false;
    }
}

int64_t lo_numel_dims(int rank, const int64_t *dims) {
    int64_t n = 1;
    for (int i = 0; i < rank; i++) n *= dims[i];
    return n;
}

int64_t lo_numel(const lo_tensor *t) { return lo_numel_dims(t->rank, t->dims); }

/* Nothing a CPU run can hold: keeps every later size product in range. */
#define LO_MAX_BYTES ((size_t)1 << 46)

bool lo_shape_bytes(lo_dtype dtype, int rank, const int64_t *dims, size_t *nbytes, lo_error *err) {
    char buf[160];
    if (rank < 0 || rank > LO_MAX_RANK) {
        lo_fail(err, LO_ERR_UNSUPPORTED, "rank %d is beyond the supported %d", rank, LO_MAX_RANK);
        return false;
    }
    size_t esize = lo_dtype_size(dtype);
    if (!esize && dtype != LO_UNDEFINED) {
        lo_fail(err, LO_ERR_UNSUPPORTED, "unknown element type %d", (int)dtype);
        return false;
    }
    size_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0) {
            lo_fail(err, LO_ERR_INPUT, "negative dimension in shape %s",
                    lo_shape_str(rank, dims, buf, sizeof buf));
            return false;
        }
        if (!lo_mul_size(n, (size_t)dims[i], &n) || n > LO_MAX_BYTES) {
            lo_fail(err, LO_ERR_NOMEM, "shape %s holds too many elements",
                    lo_shape_str(rank, dims, buf, sizeof buf));
            return false;
        }
    }
    size_t bytes;
    if (!lo_mul_size(n, esize, &bytes) || bytes > LO_MAX_BYTES) {
        lo_fail(err, LO_ERR_NOMEM, "a %s tensor of shape %s is too large", lo_dtype_name(dtype),
                lo_shape_str(rank, dims, buf, sizeof buf));
        return false;
    }
    *nbytes = bytes;
    return true;
}

const char *lo_shape_str(int rank, const int64_t *dims, char *buf, size_t size) {
    if (!size) return buf;
    buf[0] = 0;
    if (rank == 0) {
        snprintf(buf, size, "scalar");
        return buf;
    }
    size_t len = 0;
    for (int i = 0; i < rank && len < size; i++) {
        int w = snprintf(buf + len, size - len, i ? "x%lld" : "%lld", (long long)dims[i]);
        if (w < 0) break;
        len += (size_t)w;
    }
    return buf;
}

float lo_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal: normalize */
            exp = 127 - 15 + 1;
            while (!(mant & 0x400)) {
                mant <<= 1;
                exp--;
            }
            mant &= 0x3ff;
            bits = sign | (exp << 23) | (mant << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000 | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t lo_float_to_half(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7fffffff;
    if (absx >= 0x7f800000) /* inf or nan */
        return (uint16_t)(sign | 0x7c00 | (absx > 0x7f800000 ? 0x200 | ((absx >> 13) & 0x3ff) : 0));
    if (absx >= 0x477ff000) return (uint16_t)(sign | 0x7c00); /* rounds to >= 65520: inf */
    if (absx < 0x38800000) {                                   /* subnormal half or zero */
        /* value = absx as float; half subnormal unit is 2^-24 */
        float a;
        memcpy(&a, &absx, 4);
        float scaled = a * 16777216.0f; /* / 2^-24, exact */
        /* round to nearest even */
        float r = nearbyintf(scaled);
        return (uint16_t)(sign | (uint32_t)r);
    }
    uint32_t mant = absx & 0x7fffff;
    uint32_t exp = (absx >> 23) - 127 + 15;
    uint32_t half = (exp << 10) | (mant >> 13);
    uint32_t rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (half & 1))) half++;
    return (uint16_t)(sign | half);
}

float lo_bfloat16_to_float(uint16_t b) {
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t lo_float_to_bfloat16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000) return (uint16_t)((x >> 16) | 0x40);
    uint32_t rounding = 0x7fff + ((x >> 16) & 1);
    return (uint16_t)((x + rounding) >> 16);
}

double lo_get_f64(const lo_tensor *t, int64_t i) {
    const void *d = t->data;
    switch (t->dtype) {
    case LO_FLOAT: return ((const float *)d)[i];
    case LO_DOUBLE: return ((const double *)d)[i];
    case LO_FLOAT16: return lo_half_to_float(((const uint16_t *)d)[i]);
    case LO_BFLOAT16: return lo_bfloat16_to_float(((const uint16_t *)d)[i]);
    case LO_UINT64: return (double)((const uint64_t *)d)[i];
    /* read here because it is QuantizeLinear's MX scale type; every code
     * is an exact power of two, so no rounding is involved */
    case LO_FLOAT8E8M0: {
        uint8_t e = ((const uint8_t *)d)[i];
        return e == 0xff ? NAN : ldexp(1.0, (int)e - 127);
    }
    default: return (double)lo_get_i64(t, i);
    }
}

int64_t lo_get_i64(const lo_tensor *t, int64_t i) {
    const void *d = t->data;
    switch (t->dtype) {
    case LO_UINT8: case LO_UINT4: case LO_UINT2: return ((const uint8_t *)d)[i];
    case LO_INT8: case LO_INT4: case LO_INT2: return ((const int8_t *)d)[i];
    case LO_BOOL: return ((const uint8_t *)d)[i] != 0;
    case LO_UINT16: return ((const uint16_t *)d)[i];
    case LO_INT16: return ((const int16_t *)d)[i];
    case LO_INT32: return ((const int32_t *)d)[i];
    case LO_INT64: return ((const int64_t *)d)[i];
    case LO_UINT32: return ((const uint32_t *)d)[i];
    case LO_UINT64: return (int64_t)((const uint64_t *)d)[i];
    case LO_FLOAT: case LO_DOUBLE: case LO_FLOAT16: case LO_BFLOAT16: case LO_FLOAT8E8M0: {
        double v = lo_get_f64(t, i);
        if (isnan(v)) return 0;
        if (v >= 9.2233720368547758e18) return INT64_MAX;
        if (v <= -9.2233720368547758e18) return INT64_MIN;
        return (int64_t)v;
    }
    default: return 0;
    }
}

void lo_set_f64(lo_tensor *t, int64_t i, double v) {
    void *d = t->data;
    switch (t->dtype) {
    case LO_FLOAT: ((float *)d)[i] = (float)v; return;
    case LO_DOUBLE: ((double *)d)[i] = v; return;
    case LO_FLOAT16: ((uint16_t *)d)[i] = lo_float_to_half((float)v); return;
    case LO_BFLOAT16: ((uint16_t *)d)[i] = lo_float_to_bfloat16((float)v); return;
    case LO_BOOL: ((uint8_t *)d)[i] = v != 0; return;
    default: {
        int64_t iv;
        if (isnan(v)) iv = 0;
        else if (v >= 9.2233720368547758e18) iv = INT64_MAX;
        else if (v <= -9.2233720368547758e18) iv = INT64_MIN;
        else iv = (int64_t)v;
        if (t->dtype == LO_UINT64 && v >= 9.2233720368547758e18 && v < 1.8446744073709552e19) {
            ((uint64_t *)d)[i] = (uint64_t)v;
            return;
        }
        lo_set_i64(t, i, iv);
    }
    }
}

void lo_set_i64(lo_tensor *t, int64_t i, int64_t v) {
    void *d = t->data;
    switch (t->dtype) {
    case LO_UINT8: case LO_UINT4: ((uint8_t *)d)[i] = (uint8_t)v; return;
    case LO_INT8: case LO_INT4: ((int8_t *)d)[i] = (int8_t)v; return;
    /* wrapped to two bits so a held 2-bit element is always in range */
    case LO_UINT2: ((uint8_t *)d)[i] = (uint8_t)(v & 3); return;
    case LO_INT2: ((int8_t *)d)[i] = (int8_t)((int)((v & 3) ^ 2) - 2); return;
    case LO_BOOL: ((uint8_t *)d)[i] = v != 0; return;
    case LO_UINT16: ((uint16_t *)d)[i] = (uint16_t)v; return;
    case LO_INT16: ((int16_t *)d)[i] = (int16_t)v; return;
    case LO_INT32: ((int32_t *)d)[i] = (int32_t)v; return;
    case LO_INT64: ((int64_t *)d)[i] = v; return;
    case LO_UINT32: ((uint32_t *)d)[i] = (uint32_t)v; return;
    case LO_UINT64: ((uint64_t *)d)[i] = (uint64_t)v; return;
    case LO_FLOAT: case LO_DOUBLE: case LO_FLOAT16: case LO_BFLOAT16: lo_set_f64(t, i, (double)v); return;
    default: return;
    }
}

void lo_tensor_free_data(lo_tensor *t) {
    if (!t) return;
    if (t->kind == LO_KIND_SEQUENCE) {
        for (int i = 0; i < t->n_items; i++) lo_tensor_free_data(&t->items[i]);
        free(t->items);
        t->items = NULL;
        t->n_items = 0;
    }
    if (t->dtype == LO_STRING && t->data) {
        char **s = t->data;
        int64_t n = t->nbytes / sizeof(char *);
        for (int64_t i = 0; i < n; i++) free(s[i]);
    }
    free(t->data);
    t->data = NULL;
    t->nbytes = 0;
}

void *lo_buffer_alloc(size_t bytes) {
    void *p = NULL;
    size_t size = (bytes + 63) & ~(size_t)63;
    if (posix_memalign(&p, 64, size ? size : 64) != 0) return NULL;
    return p;
}

lo_status lo_tensor_clone(const lo_tensor *src, lo_tensor *dst, lo_error *err) {
    *dst = *src;
    dst->data = NULL;
    dst->items = NULL;
    if (src->kind == LO_KIND_SEQUENCE) {
        dst->items = calloc((size_t)src->n_items + 1, sizeof *dst->items);
        if (!dst->items) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
        for (int i = 0; i < src->n_items; i++) {
            lo_status st = lo_tensor_clone(&src->items[i], &dst->items[i], err);
            if (st != LO_OK) {
                dst->n_items = i;
                lo_tensor_free_data(dst);
                return st;
            }
        }
        return LO_OK;
    }
    if (src->kind == LO_KIND_NONE) return LO_OK;
    dst->data = lo_buffer_alloc(src->nbytes);
    if (!dst->data) return lo_fail(err, LO_ERR_NOMEM, "out of memory (%zu bytes)", src->nbytes);
    if (src->dtype == LO_STRING) {
        size_t n = src->nbytes / sizeof(char *);
        for (size_t i = 0; i < n; i++) {
            const char *s = ((char *const *)src->data)[i];
            ((char **)dst->data)[i] = lo_strdup(s ? s : "");
        }
    } else if (src->nbytes) {
        memcpy(dst->data, src->data, src->nbytes);
    }
    return LO_OK;
}

lo_status lo_options_take(void *dst, size_t size, const void *src, const char *what, lo_error *err) {
    size_t given;
    memcpy(&given, src, sizeof given);
    if (given < sizeof given || given > size)
        return lo_fail(err, LO_ERR_ARGUMENT, "%s has struct_size %zu, not one %s_init sets (%zu here): "
                       "initialise it with %s_init", what, given, what, size, what);
    memcpy(dst, src, given);
    memcpy(dst, &size, sizeof size);
    return LO_OK;
}

lo_status lo_options_take_embedding(void *dst, size_t size, const void *src, int n, const size_t *off,
                                    const size_t *size_of, const char *what, lo_error *err) {
    unsigned char *d = dst;
    const unsigned char *s = src;
    size_t given;
    memcpy(&given, s, sizeof given);
    if (given < sizeof given)
        return lo_fail(err, LO_ERR_ARGUMENT, "%s has struct_size %zu, not one %s_init sets (%zu here): "
                       "initialise it with %s_init", what, given, what, size, what);
    size_t at = 0, from = 0; /* where the next part goes in dst, and comes from in src */
    for (int i = 0; i < n && from < given; i++) {
        size_t head = off[i] - at, inner;
        if (head > given - from) head = given - from;
        memcpy(d + at, s + from, head);
        at += head, from += head;
        if (from == given) break; /* the caller's struct ends before this embedded one */
        if (given - from < sizeof inner)
            return lo_fail(err, LO_ERR_ARGUMENT, "%s has struct_size %zu, which ends inside an embedded "
                           "options struct: initialise it with %s_init", what, given, what);
        memcpy(&inner, s + from, sizeof inner);
        if (inner < sizeof inner || inner > size_of[i] || inner > given - from)
            return lo_fail(err, LO_ERR_ARGUMENT, "%s embeds an options struct of struct_size %zu, not one "
                           "its _init sets (%zu here): initialise it with %s_init", what, inner, size_of[i],
                           what);
        memcpy(d + at, s + from, inner);
        memcpy(d + at, &size_of[i], sizeof size_of[i]); /* dst's embedded struct is whole */
        at += size_of[i], from += inner;
    }
    if (given - from > size - at)
        return lo_fail(err, LO_ERR_ARGUMENT, "%s has struct_size %zu, more than a %s this library knows "
                       "(%zu): initialise it with %s_init", what, given, what, size, what);
    memcpy(d + at, s + from, given - from);
    memcpy(d, &size, sizeof size);
    return LO_OK;
}
