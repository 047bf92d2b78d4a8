/* Metrics of a tensor pair in one pass over both: sums of squares, dot
 * product, absolute and relative error maxima, non-finite counts. All sums
 * are in double: float32 squares of up to 3.4e38 stay far from double's
 * range, and tiny values (denormals, 1e-45) square to 1e-90, still normal. */
#include <float.h>
#include <stdbool.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compare.h"
#include "../dump/dump.h"

/* Elements per work block. Blocks are the unit of parallel work and of the
 * fixed summation order: partials are combined block by block, so a result
 * is the same whatever the thread count. */
#define BLOCK 32768
/* Below this many elements a tensor is measured on one thread: starting a
 * team costs more than the work. */
#define PARALLEL_MIN (1 << 18)

void lo_metrics_init(lo_metrics *m) {
    memset(m, 0, sizeof *m);
    m->max_abs_index = -1;
    m->first_nan_ref = m->first_inf_ref = m->first_nan_test = m->first_inf_test = m->first_mismatch = -1;
}

/* The smallest rtol with |test - ref| <= rtol * |ref| evaluated as numpy's
 * isclose evaluates it: in float32 for a float32 pair (numpy keeps a Python
 * float rtol weak and computes in the array's type), else in double. The
 * quotient is only a first guess: its rounding can land one step short, so
 * it is walked to the exact boundary. */
static double rtol_f32(float r, float t) {
    float d = fabsf(t - r), ar = fabsf(r);
    if (d == 0) return 0;
    if (ar == 0) return INFINITY;
    float q = (float)((double)d / (double)ar);
    while (isfinite(q) && q * ar < d) q = nextafterf(q, INFINITY);
    while (q > 0 && nextafterf(q, 0) * ar >= d) q = nextafterf(q, 0);
    return q;
}

static double rtol_f64(double r, double t) {
    double d = fabs(t - r), ar = fabs(r);
    if (d == 0) return 0;
    if (ar == 0) return INFINITY;
    double q = d / ar;
    while (isfinite(q) && q * ar < d) q = nextafter(q, INFINITY);
    while (q > 0 && nextafter(q, 0) * ar >= d) q = nextafter(q, 0);
    return q;
}

/* One element pair; r and t in double (exact for float32 sources). */
static inline void accumulate(lo_metrics *m, double r, double t, int64_t index, bool f32) {
    if (isfinite(r) && isfinite(t)) {
        double e = t - r;
        double a = fabs(e);
        m->ref_sq += r * r;
        m->err_sq += e * e;
        m->test_sq += t * t;
        m->dot += r * t;
        m->abs_err_sum += a;
        m->finite++;
        if (a > m->max_abs_err || m->max_abs_index < 0) {
            m->max_abs_err = a;
            m->max_abs_index = index;
        }
        /* Only an element the current rtol does not cover needs the exact
         * search; the test is the one numpy makes. */
        if (f32) {
            float rf = (float)r, tf = (float)t;
            if (!((float)m->max_rel_err * fabsf(rf) >= fabsf(tf - rf))) {
                double q = rtol_f32(rf, tf);
                if (q > m->max_rel_err) m->max_rel_err = q;
            }
        } else if (!(m->max_rel_err * fabs(r) >= a)) {
            double q = rtol_f64(r, t);
            if (q > m->max_rel_err) m->max_rel_err = q;
        }
        return;
    }
    if (isnan(r)) {
        m->nan_ref++;
        if (m->first_nan_ref < 0) m->first_nan_ref = index;
    } else if (isinf(r)) {
        m->inf_ref++;
        if (m->first_inf_ref < 0) m->first_inf_ref = index;
    }
    if (isnan(t)) {
        m->nan_test++;
        if (m->first_nan_test < 0) m->first_nan_test = index;
    } else if (isinf(t)) {
        m->inf_test++;
        if (m->first_inf_test < 0) m->first_inf_test = index;
    }
    bool agree = (isnan(r) && isnan(t)) || (isinf(r) && r == t);
    if (!agree) {
        m->nonfinite_mismatch++;
        if (m->first_mismatch < 0) m->first_mismatch = index;
    }
}

static void first_of(int64_t *a, int *as, int64_t b, int bs) {
    if (*a < 0 && b >= 0) {
        *a = b;
        *as = bs;
    }
}

void lo_metrics_merge(lo_metrics *a, const lo_metrics *b, int sample) {
    if (b->max_abs_index >= 0 && (a->max_abs_index < 0 || b->max_abs_err > a->max_abs_err)) {
        a->max_abs_err = b->max_abs_err;
        a->max_abs_index = b->max_abs_index;
        a->max_abs_sample = sample;
    }
    if (b->max_rel_err > a->max_rel_err) a->max_rel_err = b->max_rel_err;
    first_of(&a->first_nan_ref, &a->first_nan_ref_sample, b->first_nan_ref, sample);
    first_of(&a->first_inf_ref, &a->first_inf_ref_sample, b->first_inf_ref, sample);
    first_of(&a->first_nan_test, &a->first_nan_test_sample, b->first_nan_test, sample);
    first_of(&a->first_inf_test, &a->first_inf_test_sample, b->first_inf_test, sample);
    first_of(&a->first_mismatch, &a->first_mismatch_sample, b->first_mismatch, sample);
    a->count += b->count;
    a->finite += b->finite;
    a->nan_ref += b->nan_ref;
    a->inf_ref += b->inf_ref;
    a->nan_test += b->nan_test;
    a->inf_test += b->inf_test;
    a->nonfinite_mismatch += b->nonfinite_mismatch;
    a->ref_sq += b->ref_sq;
    a->err_sq += b->err_sq;
    a->test_sq += b->test_sq;
    a->dot += b->dot;
    a->abs_err_sum += b->abs_err_sum;
}

/* Converts any numeric tensor to double, for the dtypes without a fast
 * path; the pair is then measured as double/double. */
static double *to_double(const void *data, lo_dtype dtype, int64_t n, lo_error *err) {
    double *out = lo_malloc((size_t)(n ? n : 1) * sizeof *out, err);
    if (!out) return NULL;
    lo_tensor view = {.kind = LO_KIND_TENSOR, .dtype = dtype, .rank = 1, .dims = {n},
                      .data = (void *)data, .nbytes = (size_t)n * lo_dtype_size(dtype)};
    for (int64_t i = 0; i < n; i++) out[i] = lo_get_f64(&view, i);
    return out;
}

/* Where element (o, c, s) of the channel-first order lives in a side's
 * buffer: channel-first offset (o*C + c)*S + s, channel-last (o*S + s)*C + c. */
static inline int64_t side_offset(bool channel_last, int64_t o, int64_t c, int64_t s, int64_t C,
                                  int64_t S) {
    return channel_last ? (o * S + s) * C + c : (o * C + c) * S + s;
}

/* One block: a run of `len` elements of one (outer, channel) row starting at
 * spatial position s0. Instantiated for float and double sources so the
 * inner loop has no per-element type switch. */
#define DEFINE_BLOCK(NAME, TYPE, F32)                                                          \
    static void NAME(const lo_pair *p, int64_t row, int64_t s0, int64_t len, lo_metrics *m) { \
        const TYPE *ref = p->ref, *test = p->test;                                          \
        int64_t C = p->channels, S = p->inner, o = row / C, c = row % C;                    \
        int64_t ri = side_offset(p->ref_channel_last, o, c, s0, C, S);                      \
        int64_t ti = side_offset(p->test_channel_last, o, c, s0, C, S);                     \
        int64_t rs = p->ref_channel_last ? C : 1, ts = p->test_channel_last ? C : 1;        \
        int64_t index = row * S + s0;                                                       \
        for (int64_t k = 0; k < len; k++, ri += rs, ti += ts)                               \
            accumulate(m, (double)ref[ri], (double)test[ti], index + k, F32);              \
        m->count += len;                                                                    \
    }
DEFINE_BLOCK(block_f32, float, true)
DEFINE_BLOCK(block_f64, double, false)

lo_status lo_metrics_compute(const lo_pair *pair, lo_metrics *out, lo_error *err) {
    lo_metrics_init(out);
    lo_dtype rd = pair->ref_dtype, td = pair->test_dtype;
    if (rd == LO_STRING || td == LO_STRING || !lo_dtype_size(rd) || !lo_dtype_size(td) ||
        rd == LO_COMPLEX64 || rd == LO_COMPLEX128 || td == LO_COMPLEX64 || td == LO_COMPLEX128)
        return lo_fail(err, LO_ERR_UNSUPPORTED, "%s vs %s tensors cannot be measured",
                       lo_dtype_name(rd), lo_dtype_name(td));
    int64_t rows = pair->outer * pair->channels, S = pair->inner, n = rows * S;
    if (n == 0) return LO_OK;
    lo_pair p = *pair;
    double *ref64 = NULL, *test64 = NULL;
    bool fast = rd == LO_FLOAT && td == LO_FLOAT;
    if (!fast) {
        if (rd != LO_DOUBLE && !(ref64 = to_double(p.ref, rd, n, err))) return err ? err->status : LO_ERR_NOMEM;
        if (td != LO_DOUBLE && !(test64 = to_double(p.test, td, n, err))) {
            free(ref64);
            return err ? err->status : LO_ERR_NOMEM;
        }
        if (ref64) p.ref = ref64;
        if (test64) p.test = test64;
    }
    int64_t per_row = (S + BLOCK - 1) / BLOCK;
    int64_t n_blocks = rows * per_row;
    lo_metrics *parts = lo_malloc((size_t)n_blocks * sizeof *parts, err);
    if (!parts) {
        free(ref64);
        free(test64);
        return err ? err->status : LO_ERR_NOMEM;
    }
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
    for (int64_t b = 0; b < n_blocks; b++) {
        int64_t row = b / per_row, s0 = (b % per_row) * BLOCK;
        int64_t len = S - s0 < BLOCK ? S - s0 : BLOCK;
        lo_metrics_init(&parts[b]);
        if (fast) block_f32(&p, row, s0, len, &parts[b]);
        else block_f64(&p, row, s0, len, &parts[b]);
    }
    /* In index order, so the first of equal maxima wins, as numpy's argmax. */
    for (int64_t b = 0; b < n_blocks; b++) lo_metrics_merge(out, &parts[b], 0);
    free(parts);
    free(ref64);
    free(test64);
    return LO_OK;
}

double lo_metrics_sqnr(const lo_metrics *m) {
    if (m->nonfinite_mismatch) return -INFINITY;
    if (m->err_sq == 0) return INFINITY;
    if (m->ref_sq == 0) return -INFINITY;
    return 10.0 * log10(m->ref_sq / m->err_sq);
}

double lo_metrics_cosine(const lo_metrics *m) {
    if (m->ref_sq == 0 && m->test_sq == 0) return 1.0;
    if (m->ref_sq == 0 || m->test_sq == 0) return 0.0;
    double c = m->dot / (sqrt(m->ref_sq) * sqrt(m->test_sq));
    return c > 1 ? 1 : c < -1 ? -1 : c;
}

double lo_metrics_mse(const lo_metrics *m) { return m->finite ? m->err_sq / (double)m->finite : 0; }

double lo_metrics_mean_abs(const lo_metrics *m) {
    return m->finite ? m->abs_err_sum / (double)m->finite : 0;
}

double lo_metrics_rel_l2(const lo_metrics *m) {
    if (m->err_sq == 0) return 0;
    if (m->ref_sq == 0) return INFINITY;
    return sqrt(m->err_sq) / sqrt(m->ref_sq);
}

double lo_metrics_atol(const lo_metrics *m) {
    return m->nonfinite_mismatch ? INFINITY : m->max_abs_err;
}

double lo_metrics_rtol(const lo_metrics *m) {
    return m->nonfinite_mismatch ? INFINITY : m->max_rel_err;
}
