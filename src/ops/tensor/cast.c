/* Cast and CastLike: every pair of numeric types, with each target's own
 * rounding (the minifloats and float8e8m0 encoded here), saturation, and
 * strings parsed and formatted. */
#include <float.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <tgmath.h>

#include "../math/elementwise.h"

/* ---- Cast ------------------------------------------------------------------- */

/* Small float formats, described by their fields. IEEE formats have
 * infinities and a NaN per exponent-all-ones; "fn" formats use the all-ones
 * exponent for numbers except the one all-ones NaN pattern; "uz" formats
 * have no negative zero, their 0x80 is the only NaN. */
typedef struct minifloat {
    int exp_bits, man_bits, bias;
    bool ieee, fn, uz, no_nan;
} minifloat;

static const minifloat FMT_F16 = {5, 10, 15, true, false, false, false};
static const minifloat FMT_BF16 = {8, 7, 127, true, false, false, false};
static const minifloat FMT_E4M3FN = {4, 3, 7, false, true, false, false};
static const minifloat FMT_E4M3FNUZ = {4, 3, 8, false, false, true, false};
static const minifloat FMT_E5M2 = {5, 2, 15, true, false, false, false};
static const minifloat FMT_E5M2FNUZ = {5, 2, 16, false, false, true, false};
static const minifloat FMT_E2M1 = {2, 1, 1, false, false, false, true};
static const minifloat FMT_E2M3 = {2, 3, 1, false, false, false, true};
static const minifloat FMT_E3M2 = {3, 2, 3, false, false, false, true};

static const minifloat *minifloat_of(lo_dtype t) {
    switch (t) {
    case LO_FLOAT16: return &FMT_F16;
    case LO_BFLOAT16: return &FMT_BF16;
    case LO_FLOAT8E4M3FN: return &FMT_E4M3FN;
    case LO_FLOAT8E4M3FNUZ: return &FMT_E4M3FNUZ;
    case LO_FLOAT8E5M2: return &FMT_E5M2;
    case LO_FLOAT8E5M2FNUZ: return &FMT_E5M2FNUZ;
    case LO_FLOAT4E2M1: return &FMT_E2M1;
    case LO_FLOAT6E2M3: return &FMT_E2M3;
    case LO_FLOAT6E3M2: return &FMT_E3M2;
    default: return NULL;
    }
}

static double minifloat_max(const minifloat *f) {
    int top = (1 << f->exp_bits) - 1 - (f->ieee ? 1 : 0);
    double man = f->fn ? 2.0 - 2.0 / (1 << f->man_bits) : 2.0 - 1.0 / (1 << f->man_bits);
    return ldexp(man, top - f->bias);
}

static double minifloat_decode(uint32_t bits, const minifloat *f) {
    uint32_t sign = (bits >> (f->exp_bits + f->man_bits)) & 1;
    uint32_t exp = (bits >> f->man_bits) & ((1u << f->exp_bits) - 1);
    uint32_t man = bits & ((1u << f->man_bits) - 1);
    uint32_t exp_ones = (1u << f->exp_bits) - 1, man_ones = (1u << f->man_bits) - 1;
    if (f->uz && sign && exp == 0 && man == 0) return NAN;
    if (f->ieee && exp == exp_ones) return man ? NAN : sign ? -INFINITY : INFINITY;
    if (f->fn && exp == exp_ones && man == man_ones) return sign ? -NAN : NAN;
    int emin = 1 - f->bias;
    double v = exp == 0 ? ldexp((double)man, emin - f->man_bits)
                        : ldexp((double)((1u << f->man_bits) + man), (int)exp - f->bias - f->man_bits);
    return sign ? -v : v;
}

/* Rounds to nearest even in one step from double, so there is no double
 * rounding through float; out-of-range values follow Cast's saturate
 * tables (IEEE 16-bit formats always overflow to infinity). */
static uint32_t minifloat_encode(double v, const minifloat *f, bool saturate) {
    uint32_t sign_bit = 1u << (f->exp_bits + f->man_bits);
    uint32_t exp_ones = (1u << f->exp_bits) - 1;
    uint32_t sign = signbit(v) ? sign_bit : 0;
    uint32_t nan_bits = f->uz ? sign_bit
                        : f->ieee ? (exp_ones << f->man_bits) | (1u << (f->man_bits - 1))
                                  : sign_bit - 1;
    if (f->ieee && f != &FMT_E5M2) saturate = false;
    if (v != v) return f->no_nan ? sign_bit : (f->uz ? nan_bits : sign | nan_bits);
    double a = fabs(v), max = minifloat_max(f);
    uint32_t max_bits = f->ieee ? ((exp_ones - 1) << f->man_bits) | ((1u << f->man_bits) - 1)
                        : f->fn ? (exp_ones << f->man_bits) | ((1u << f->man_bits) - 2)
                                : (exp_ones << f->man_bits) | ((1u << f->man_bits) - 1);
    uint32_t over = f->no_nan || saturate ? sign | max_bits
                    : f->ieee             ? sign | (exp_ones << f->man_bits)
                    : f->uz               ? nan_bits
                                          : sign | nan_bits;
    if (isinf(a)) return over;
    int emin = 1 - f->bias, e;
    frexp(a, &e); /* a = m * 2^e, m in [0.5, 1) */
    int quantum_exp = (a < ldexp(1.0, emin) ? emin : e - 1) - f->man_bits;
    double r = nearbyint(ldexp(a, -quantum_exp));
    double rv = ldexp(r, quantum_exp);
    if (rv > max) return over;
    if (rv == 0) return f->uz ? 0 : sign;
    if (rv < ldexp(1.0, emin)) return sign | (uint32_t)r;
    frexp(rv, &e);
    int E = e - 1;
    uint32_t man = (uint32_t)ldexp(rv, f->man_bits - E) - (1u << f->man_bits);
    return sign | ((uint32_t)(E + f->bias) << f->man_bits) | man;
}

/* float8e8m0 is a bare biased exponent, 2^(code-127), with 0xff the NaN: no
 * sign, no zero, no mantissa. Casting to it rounds the float32 value to a
 * power of two as Cast's round_mode says. */
typedef enum { E8M0_UP, E8M0_DOWN, E8M0_NEAREST } e8m0_rounding;

static double e8m0_decode(uint8_t code) { return code == 0xff ? NAN : ldexp(1.0, (int)code - 127); }

/* Works on float32's bits as ONNX's reference does, so float32 subnormals
 * (exponent field 0) land on the codes exactly as the conformance data
 * has them; the sign is ignored (negative inputs are undefined). */
static uint8_t e8m0_encode(float x, e8m0_rounding mode, bool saturate) {
    uint32_t bits;
    memcpy(&bits, &x, 4);
    uint32_t exp = (bits >> 23) & 0xff, frac = bits & 0x7fffff;
    if (exp == 0xff) return 0xff; /* inf has no code of its own: NaN either way */
    bool up;
    switch (mode) {
    case E8M0_UP: up = frac != 0; break;
    case E8M0_DOWN: up = false; break;
    default:
        /* mantissa >= 1.5 goes up, ties included; on a subnormal the lone
         * top bit is the code's own value, not a tie, and stays */
        up = (frac & 0x400000) && ((frac & 0x3fffff) || exp > 0);
        break;
    }
    if (up && exp == 0xfe) return saturate ? 0xfe : 0xff;
    return (uint8_t)(exp + (up ? 1 : 0));
}

/* A value on its way through Cast: floats as double (float32 also kept
 * exactly for the float targets), integers as int64 with a flag for
 * uint64 values beyond INT64_MAX. */
typedef struct cast_value {
    bool is_float;
    bool is_unsigned;
    double f;
    int64_t i;
    float f32;
    bool have_f32;
} cast_value;

static cast_value cast_read(const void *d, lo_dtype t, int64_t i) {
    cast_value v = {0};
    const minifloat *mf;
    switch (t) {
    case LO_FLOAT:
        v.is_float = v.have_f32 = true;
        v.f32 = ((const float *)d)[i];
        v.f = v.f32;
        return v;
    case LO_DOUBLE: v.is_float = true; v.f = ((const double *)d)[i]; return v;
    case LO_FLOAT16: v.is_float = true; v.f = lo_half_to_float(((const uint16_t *)d)[i]); return v;
    case LO_BFLOAT16: v.is_float = true; v.f = lo_bfloat16_to_float(((const uint16_t *)d)[i]); return v;
    default: break;
    }
    if ((mf = minifloat_of(t))) {
        v.is_float = true;
        v.f = minifloat_decode(((const uint8_t *)d)[i] & 0xff, mf);
        return v;
    }
    if (t == LO_FLOAT8E8M0) {
        v.is_float = true;
        v.f = e8m0_decode(((const uint8_t *)d)[i]);
        return v;
    }
    v.i = load_i(d, t, i);
    v.is_unsigned = t == LO_UINT64;
    return v;
}

static double cast_as_double(const cast_value *v) {
    if (v->is_float) return v->f;
    return v->is_unsigned ? (double)(uint64_t)v->i : (double)v->i;
}

typedef struct cast_mode {
    bool saturate;
    e8m0_rounding e8m0_round;
} cast_mode;

static void cast_write(void *d, lo_dtype t, int64_t i, const cast_value *v, const cast_mode *mode) {
    switch (t) {
    case LO_FLOAT:
        ((float *)d)[i] = v->have_f32      ? v->f32
                          : v->is_float    ? (float)v->f
                          : v->is_unsigned ? (float)(uint64_t)v->i
                                           : (float)v->i;
        return;
    case LO_DOUBLE: ((double *)d)[i] = cast_as_double(v); return;
    case LO_FLOAT16:
        ((uint16_t *)d)[i] = v->have_f32 ? lo_float_to_half(v->f32)
                                         : (uint16_t)minifloat_encode(cast_as_double(v), &FMT_F16, false);
        return;
    case LO_BFLOAT16:
        ((uint16_t *)d)[i] = v->have_f32 ? lo_float_to_bfloat16(v->f32)
                                         : (uint16_t)minifloat_encode(cast_as_double(v), &FMT_BF16, false);
        return;
    case LO_BOOL: ((uint8_t *)d)[i] = v->is_float ? v->f != 0 : v->i != 0; return;
    case LO_FLOAT8E8M0: {
        /* the rounding is defined on float32, so other inputs get there first */
        float x = v->have_f32 ? v->f32 : (float)cast_as_double(v);
        ((uint8_t *)d)[i] = e8m0_encode(x, mode->e8m0_round, mode->saturate);
        return;
    }
    default: break;
    }
    const minifloat *mf = minifloat_of(t);
    if (mf) {
        ((uint8_t *)d)[i] = (uint8_t)minifloat_encode(cast_as_double(v), mf, mode->saturate);
        return;
    }
    if (!v->is_float) {
        store_i(d, t, i, v->i);
        return;
    }
    store_f(d, t, i, v->f);
}

/* Shortest decimal that reads back as the same value, laid out like
 * numpy's str(): positional for 1e-4 <= |x| < 1e16, else d.ddde+XX. */
static void format_float(double x, lo_dtype t, char *buf, size_t size) {
    if (x != x) {
        snprintf(buf, size, "nan");
        return;
    }
    if (isinf(x)) {
        snprintf(buf, size, x < 0 ? "-inf" : "inf");
        return;
    }
    char sci[40];
    int max_digits = t == LO_DOUBLE ? 17 : t == LO_FLOAT ? 9 : 5;
    for (int p = 1; p <= max_digits; p++) {
        snprintf(sci, sizeof sci, "%.*e", p - 1, x);
        double back = strtod(sci, NULL);
        bool same;
        switch (t) {
        case LO_DOUBLE: same = back == x; break;
        case LO_FLOAT: same = strtof(sci, NULL) == (float)x; break;
        case LO_FLOAT16: same = minifloat_encode(back, &FMT_F16, false) == minifloat_encode(x, &FMT_F16, false); break;
        case LO_BFLOAT16: same = minifloat_encode(back, &FMT_BF16, false) == minifloat_encode(x, &FMT_BF16, false); break;
        case LO_FLOAT8E8M0:
            same = e8m0_encode((float)back, E8M0_NEAREST, true) == e8m0_encode((float)x, E8M0_NEAREST, true);
            break;
        default: {
            const minifloat *mf = minifloat_of(t);
            same = mf ? minifloat_encode(back, mf, true) == minifloat_encode(x, mf, true) : back == x;
        }
        }
        if (same) break;
    }
    /* sci is "-d.ddde±XX": split into sign, digits and exponent. */
    char digits[40];
    int nd = 0, exp10 = 0;
    bool neg = sci[0] == '-';
    const char *s = sci + neg;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9') digits[nd++] = *s;
    if (*s == 'e') exp10 = atoi(s + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = 0;
    size_t len = 0;
#define PUT(c)                                                                                   \
    do {                                                                                         \
        if (len + 1 < size) buf[len++] = (c);                                                    \
    } while (0)
    if (neg) PUT('-');
    if (exp10 >= -4 && exp10 < 16) {
        if (exp10 < 0) {
            PUT('0');
            PUT('.');
            for (int k = 0; k < -exp10 - 1; k++) PUT('0');
            for (int k = 0; k < nd; k++) PUT(digits[k]);
        } else {
            for (int k = 0; k <= exp10; k++) PUT(k < nd ? digits[k] : '0');
            PUT('.');
            if (nd > exp10 + 1)
                for (int k = exp10 + 1; k < nd; k++) PUT(digits[k]);
            else
                PUT('0');
        }
        buf[len] = 0;
    } else {
        PUT(digits[0]);
        if (nd > 1) {
            PUT('.');
            for (int k = 1; k < nd; k++) PUT(digits[k]);
        }
        buf[len] = 0;
        snprintf(buf + len, size - len, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
    }
#undef PUT
}

static char *cast_to_string(const void *d, lo_dtype t, int64_t i) {
    char buf[64];
    if (t == LO_STRING) return lo_strdup(((char *const *)d)[i]);
    if (t == LO_BOOL) return lo_strdup(((const uint8_t *)d)[i] ? "True" : "False");
    cast_value v = cast_read(d, t, i);
    if (v.is_float) format_float(v.f, t, buf, sizeof buf);
    else if (v.is_unsigned) snprintf(buf, sizeof buf, "%llu", (unsigned long long)(uint64_t)v.i);
    else snprintf(buf, sizeof buf, "%lld", (long long)v.i);
    return lo_strdup(buf);
}

/* "+INF", "INF", "-INF" and "NaN" in any case are what strtod takes too. */
static cast_value parse_string(const char *s, lo_dtype target) {
    cast_value v = {0};
    if (!s) s = "";
    while (*s == ' ' || *s == '\t') s++;
    if (target == LO_FLOAT) {
        v.is_float = v.have_f32 = true;
        v.f32 = strtof(s, NULL);
        v.f = v.f32;
        return v;
    }
    if (class_of(target) == CLASS_SIGNED || class_of(target) == CLASS_UNSIGNED || target == LO_BOOL) {
        char *end;
        if (target == LO_UINT64 && *s != '-') {
            v.i = (int64_t)strtoull(s, &end, 10);
            v.is_unsigned = true;
        } else {
            v.i = strtoll(s, &end, 10);
        }
        if (end != s && (*end == 0 || *end == ' ')) return v;
    }
    v.is_float = true;
    v.is_unsigned = false;
    v.f = strtod(s, NULL);
    return v;
}

static bool cast_target_ok(lo_dtype t) {
    return t == LO_STRING || t == LO_BOOL || class_of(t) == CLASS_FLOAT || class_of(t) == CLASS_SIGNED ||
           class_of(t) == CLASS_UNSIGNED || minifloat_of(t) != NULL || t == LO_FLOAT8E8M0 || t == LO_INT2 ||
           t == LO_UINT2;
}

static lo_status cast_compute(lo_kernel_ctx *ctx, lo_dtype to, const cast_mode *mode) {
    const lo_tensor *x = ctx->in[0];
    lo_dtype from = x->dtype;
    if (!cast_target_ok(from))
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "casting from %s is not supported", lo_dtype_name(from));
    if (!cast_target_ok(to))
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "casting to %s is not supported", lo_dtype_name(to));
    if (!output_wanted(ctx)) return LO_OK;
    LO_TRY(lo_output(ctx, 0, to, x->rank, x->dims));
    void *out = ctx->out[0]->data;
    int64_t n = lo_numel(x);
    if (to == LO_STRING) {
        for (int64_t i = 0; i < n; i++)
            if (!(((char **)out)[i] = cast_to_string(x->data, from, i)))
                return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory making strings");
        return LO_OK;
    }
    if (from == LO_STRING) {
        for (int64_t i = 0; i < n; i++) {
            cast_value v = parse_string(((char *const *)x->data)[i], to);
            cast_write(out, to, i, &v, mode);
        }
        return LO_OK;
    }
    if (from == to) {
        memcpy(out, x->data, x->nbytes);
        return LO_OK;
    }
    int threads = thread_count(ctx);
#pragma omp parallel for num_threads(threads) if (threads > 1 && n > PARALLEL_MIN_COSTLY)
    for (int64_t i = 0; i < n; i++) {
        cast_value v = cast_read(x->data, from, i);
        cast_write(out, to, i, &v, mode);
    }
    return LO_OK;
}

static lo_status run_cast(lo_kernel_ctx *ctx) {
    LO_CHECK(ctx, input_ok(ctx, 0), "input is missing or not a tensor");
    const ew_params *p = ctx->params;
    cast_mode mode = {p->saturate, (e8m0_rounding)p->e8m0_round};
    return cast_compute(ctx, p->to, &mode);
}

static lo_status run_castlike(lo_kernel_ctx *ctx) {
    LO_CHECK(ctx, input_ok(ctx, 0) && input_ok(ctx, 1), "needs two tensor inputs");
    const ew_params *p = ctx->params;
    cast_mode mode = {p->saturate, (e8m0_rounding)p->e8m0_round};
    return cast_compute(ctx, ctx->in[1]->dtype, &mode);
}

static const struct {
    const char *name;
    lo_dtype type;
} cast1_names[] = {
    {"FLOAT", LO_FLOAT},   {"UINT8", LO_UINT8},     {"INT8", LO_INT8},     {"UINT16", LO_UINT16},
    {"INT16", LO_INT16},   {"INT32", LO_INT32},     {"INT64", LO_INT64},   {"STRING", LO_STRING},
    {"BOOL", LO_BOOL},     {"FLOAT16", LO_FLOAT16}, {"DOUBLE", LO_DOUBLE}, {"UINT32", LO_UINT32},
    {"UINT64", LO_UINT64}, {"BFLOAT16", LO_BFLOAT16},
};

lo_status lo_cast_prepare_target(const lo_node *node, ew_params *p, lo_error *err) {
    const lo_attr *to = lo_attr_find(node, "to");
    if (!to) return lo_fail(err, LO_ERR_MODEL, "node '%s' (%s): attribute 'to' is missing", node->name, node->op_type);
    if (to->type == LO_ATTR_STRING) {
        for (size_t k = 0; k < sizeof cast1_names / sizeof cast1_names[0]; k++)
            if (strcasecmp(to->s, cast1_names[k].name) == 0) {
                p->to = cast1_names[k].type;
                return LO_OK;
            }
        return lo_fail(err, LO_ERR_UNSUPPORTED, "node '%s' (%s): unknown type name '%s'", node->name,
                       node->op_type, to->s);
    }
    int64_t t = to->i;
    if (t < 0 || t > LO_FLOAT6E3M2 || !cast_target_ok((lo_dtype)t))
        return lo_fail(err, LO_ERR_UNSUPPORTED, "node '%s' (%s): casting to type %lld is not supported",
                       node->name, node->op_type, (long long)t);
    p->to = (lo_dtype)t;
    return LO_OK;
}

/* Absent before opset 24, where casting to float8e8m0 does not exist. */
lo_status lo_cast_prepare_round_mode(const lo_node *node, ew_params *p, lo_error *err) {
    const char *m = lo_attr_string(node, "round_mode", "up");
    if (strcmp(m, "up") == 0) p->e8m0_round = E8M0_UP;
    else if (strcmp(m, "down") == 0) p->e8m0_round = E8M0_DOWN;
    else if (strcmp(m, "nearest") == 0) p->e8m0_round = E8M0_NEAREST;
    else
        return lo_fail(err, LO_ERR_MODEL, "node '%s' (%s): round_mode must be up, down or nearest, not '%s'",
                       node->name, node->op_type, m);
    return LO_OK;
}

static lo_status prep_CAST(const lo_node *node, void **params, lo_error *err) {
    return lo_ew_prepare(node, params, err, OP_CAST);
}
static lo_status prep_CASTLIKE(const lo_node *node, void **params, lo_error *err) {
    return lo_ew_prepare(node, params, err, OP_CASTLIKE);
}

const lo_op_def lo_ops_cast[] = {
    {"", "Cast", 1, LO_OPSET_MAX, prep_CAST, run_cast, NULL, 0},
    {"", "CastLike", 15, LO_OPSET_MAX, prep_CASTLIKE, run_castlike, NULL, 0},
    {0},
};
