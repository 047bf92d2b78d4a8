/* Range, NonZero, OneHot, Trilu, EyeLike. */
#include "copy.h"

/* ---- Range, NonZero, OneHot, EyeLike, Trilu ----------------------------- */

static lo_status range_run(lo_kernel_ctx *ctx) {
    for (int i = 0; i < 3; i++) LO_TRY(need_in(ctx, i, i == 0 ? "start" : i == 1 ? "limit" : "delta"));
    const lo_tensor *ts = ctx->in[0], *tl = ctx->in[1], *td = ctx->in[2];
    lo_dtype dt = ts->dtype;
    LO_CHECK(ctx, tl->dtype == dt && td->dtype == dt, "start, limit and delta differ in type");
    LO_CHECK(ctx, lo_numel(ts) == 1 && lo_numel(tl) == 1 && lo_numel(td) == 1,
             "start, limit and delta must be scalars");
    int64_t n;
    if (lo_dtype_is_float(dt)) {
        double start = lo_get_f64(ts, 0), limit = lo_get_f64(tl, 0), delta = lo_get_f64(td, 0);
        LO_CHECK(ctx, delta != 0 && isfinite(start) && isfinite(limit) && isfinite(delta),
                 "delta must be non-zero and all values finite");
        double count = ceil((limit - start) / delta);
        LO_CHECK(ctx, count < 9e15, "range of %g elements", count);
        n = count > 0 ? (int64_t)count : 0;
    } else {
        LO_CHECK(ctx, dt == LO_INT16 || dt == LO_INT32 || dt == LO_INT64 || lo_dtype_is_int(dt),
                 "type %s", lo_dtype_name(dt));
        int64_t start = lo_get_i64(ts, 0), limit = lo_get_i64(tl, 0), delta = lo_get_i64(td, 0);
        LO_CHECK(ctx, delta != 0, "delta is 0");
        double span = (double)limit - (double)start;
        LO_CHECK(ctx, fabs(span / (double)delta) < 9e15, "range is too long");
        if ((limit > start) != (delta > 0) || limit == start) n = 0;
        else if (delta > 0) n = (limit - start - 1) / delta + 1;
        else n = (start - limit - 1) / -delta + 1;
    }
    if (!has_out(ctx, 0)) return LO_OK;
    LO_TRY(lo_output(ctx, 0, dt, 1, &n));
    lo_tensor *out = ctx->out[0];
    /* Each value adds delta to the previous one in the output type, as the
     * spec's loop (and ONNX Runtime) does, rather than start + i * delta. */
    if (dt == LO_FLOAT) {
        float v = *(const float *)ts->data, d = *(const float *)td->data, *o = out->data;
        for (int64_t i = 0; i < n; i++, v += d) o[i] = v;
    } else if ((dt == LO_FLOAT16 || dt == LO_BFLOAT16) && ctx->node->opset >= 27 &&
               lo_attr_int(ctx->node, "stash_type", 1) == 1) {
        /* Range-27 stash_type 1 (the default): 16-bit ranges accumulate in float */
        float v = (float)lo_get_f64(ts, 0), d = (float)lo_get_f64(td, 0);
        for (int64_t i = 0; i < n; i++, v += d) lo_set_f64(out, i, v);
    } else if (lo_dtype_is_float(dt)) {
        double v = lo_get_f64(ts, 0), d = lo_get_f64(td, 0);
        for (int64_t i = 0; i < n; i++) {
            lo_set_f64(out, i, v);
            v = lo_get_f64(out, i) + d;
        }
    } else {
        int64_t v = lo_get_i64(ts, 0), d = lo_get_i64(td, 0);
        for (int64_t i = 0; i < n; i++) lo_set_i64(out, i, v + i * d);
    }
    return LO_OK;
}

static bool element_is_nonzero(lo_dtype dtype, const char *p, size_t esize) {
    switch (dtype) {
    case LO_FLOAT: case LO_DOUBLE: case LO_FLOAT16: case LO_BFLOAT16:
        return element_f64(dtype, p) != 0; /* -0.0 is zero, NaN is not */
    case LO_STRING: {
        const char *s = *(char *const *)p;
        return s && *s;
    }
    default:
        for (size_t i = 0; i < esize; i++)
            if (p[i]) return true;
        return false;
    }
}

static lo_status nonzero_run(lo_kernel_ctx *ctx) {
    LO_TRY(need_in(ctx, 0, "X"));
    const lo_tensor *x = ctx->in[0];
    size_t esize;
    LO_TRY(element_size(ctx, x->dtype, &esize));
    LO_CHECK(ctx, x->dtype != LO_COMPLEX64 && x->dtype != LO_COMPLEX128, "complex input");
    int64_t count = lo_numel(x), nnz = 0;
    const char *data = x->data;
    for (int64_t i = 0; i < count; i++) nnz += element_is_nonzero(x->dtype, data + (size_t)i * esize, esize);
    /* A scalar is treated as a 1-element vector, as ONNX Runtime does. */
    int r = x->rank ? x->rank : 1;
    int64_t dims[2] = {r, nnz};
    if (!has_out(ctx, 0)) return LO_OK;
    LO_TRY(lo_output(ctx, 0, LO_INT64, 2, dims));
    int64_t *o = ctx->out[0]->data, j = 0;
    for (int64_t i = 0; i < count; i++) {
        if (!element_is_nonzero(x->dtype, data + (size_t)i * esize, esize)) continue;
        int64_t rest = i;
        for (int d = x->rank - 1; d >= 0; d--) {
            o[d * nnz + j] = rest % x->dims[d];
            rest /= x->dims[d];
        }
        if (x->rank == 0) o[j] = 0;
        j++;
    }
    return LO_OK;
}

static lo_status onehot_prepare(const lo_node *node, void **params, lo_error *err) {
    return axis_prepare_default(node, params, err, -1);
}

static lo_status onehot_run(lo_kernel_ctx *ctx) {
    const axis_params *p = ctx->params;
    LO_TRY(need_in(ctx, 0, "indices"));
    LO_TRY(need_in(ctx, 1, "depth"));
    LO_TRY(need_in(ctx, 2, "values"));
    const lo_tensor *ind = ctx->in[0], *tdepth = ctx->in[1], *values = ctx->in[2];
    LO_CHECK(ctx, is_numeric(ind->dtype), "indices must be numeric");
    LO_CHECK(ctx, lo_numel(tdepth) == 1 && is_numeric(tdepth->dtype), "depth must be one number");
    LO_CHECK(ctx, lo_numel(values) == 2 && values->rank <= 1, "values must hold [off, on]");
    int64_t depth = lo_dtype_is_float(tdepth->dtype) ? (int64_t)lo_get_f64(tdepth, 0)
                                                     : lo_get_i64(tdepth, 0);
    LO_CHECK(ctx, depth >= 0, "depth %lld is negative", (long long)depth);
    int r = ind->rank + 1;
    if (r > LO_MAX_RANK)
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "output rank %d is beyond %d", r, LO_MAX_RANK);
    int64_t axis = p->axis;
    LO_CHECK(ctx, axis >= -r && axis < r, "axis %lld is out of range for rank %d", (long long)axis, r);
    if (axis < 0) axis += r;
    int64_t dims[LO_MAX_RANK];
    for (int d = 0, j = 0; d < r; d++) dims[d] = d == axis ? depth : ind->dims[j++];
    if (!has_out(ctx, 0)) return LO_OK;
    size_t esize;
    LO_TRY(element_size(ctx, values->dtype, &esize));
    LO_TRY(lo_output(ctx, 0, values->dtype, r, dims));
    char *out = ctx->out[0]->data;
    const char *off = values->data, *on = off + esize;
    fill_elements(out, off, esize, lo_numel(ctx->out[0]));
    int64_t outer = lo_numel_dims((int)axis, ind->dims);
    int64_t inner = lo_numel_dims(ind->rank - (int)axis, ind->dims + axis);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t at = o * inner + i;
            int64_t v = lo_dtype_is_float(ind->dtype) ? (int64_t)lo_get_f64(ind, at) : lo_get_i64(ind, at);
            if (v < 0) v += depth;
            if (v < 0 || v >= depth) continue;
            copy_element(out + (size_t)((o * depth + v) * inner + i) * esize, on, esize);
        }
    return own_strings(ctx, ctx->out[0]);
}

typedef struct eyelike_params {
    int64_t dtype; /* 0: the input's */
    int64_t k;
} eyelike_params;

static lo_status eyelike_prepare(const lo_node *node, void **params, lo_error *err) {
    eyelike_params *p = alloc_params(sizeof *p, err);
    if (!p) return err->status;
    *params = p;
    p->dtype = lo_attr_int(node, "dtype", 0);
    p->k = lo_attr_int(node, "k", 0);
    if (p->dtype && !is_numeric((lo_dtype)p->dtype))
        return prep_fail(node, err, LO_ERR_UNSUPPORTED, "dtype %lld", (long long)p->dtype);
    return LO_OK;
}

static lo_status eyelike_run(lo_kernel_ctx *ctx) {
    const eyelike_params *p = ctx->params;
    LO_TRY(need_in(ctx, 0, "input"));
    const lo_tensor *x = ctx->in[0];
    LO_CHECK(ctx, x->rank == 2, "input must be 2-D, got rank %d", x->rank);
    lo_dtype dt = p->dtype ? (lo_dtype)p->dtype : x->dtype;
    if (!is_numeric(dt)) return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "type %s", lo_dtype_name(dt));
    if (!has_out(ctx, 0)) return LO_OK;
    LO_TRY(lo_output(ctx, 0, dt, 2, x->dims));
    lo_tensor *out = ctx->out[0];
    memset(out->data, 0, out->nbytes);
    for (int64_t i = 0; i < x->dims[0]; i++) {
        int64_t j = i + p->k;
        if (j >= 0 && j < x->dims[1]) lo_set_f64(out, i * x->dims[1] + j, 1.0);
    }
    return LO_OK;
}

typedef struct trilu_params {
    bool upper;
} trilu_params;

static lo_status trilu_prepare(const lo_node *node, void **params, lo_error *err) {
    trilu_params *p = alloc_params(sizeof *p, err);
    if (!p) return err->status;
    *params = p;
    p->upper = lo_attr_int(node, "upper", 1) != 0;
    return LO_OK;
}

static lo_status trilu_run(lo_kernel_ctx *ctx) {
    const trilu_params *p = ctx->params;
    LO_TRY(need_in(ctx, 0, "input"));
    const lo_tensor *x = ctx->in[0];
    LO_CHECK(ctx, x->rank >= 2, "input must have rank >= 2, got %d", x->rank);
    int64_t k = 0;
    if (has_in(ctx, 1)) LO_TRY(read_scalar_i64(ctx, ctx->in[1], "k", &k));
    if (!has_out(ctx, 0)) return LO_OK;
    size_t esize;
    LO_TRY(element_size(ctx, x->dtype, &esize));
    LO_TRY(lo_output(ctx, 0, x->dtype, x->rank, x->dims));
    int64_t rows = x->dims[x->rank - 2], cols = x->dims[x->rank - 1];
    int64_t mats = lo_numel_dims(x->rank - 2, x->dims);
    char *out = ctx->out[0]->data;
    const char *src = x->data;
    for (int64_t m = 0; m < mats; m++)
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < cols; j++) {
                size_t at = (size_t)((m * rows + i) * cols + j) * esize;
                bool keep = p->upper ? (j - i >= k) : (j - i <= k);
                if (keep) copy_element(out + at, src + at, esize);
                else memset(out + at, 0, esize);
            }
    return own_strings(ctx, ctx->out[0]);
}

const lo_op_def lo_ops_range_nonzero_onehot[] = {
    {"", "Range", 11, LO_OPSET_MAX, NULL, range_run, NULL, 0},
    {"", "NonZero", 9, LO_OPSET_MAX, NULL, nonzero_run, NULL, 0},
    {"", "OneHot", 9, LO_OPSET_MAX, onehot_prepare, onehot_run, NULL, 0},
    {"", "Trilu", 14, LO_OPSET_MAX, trilu_prepare, trilu_run, NULL, 0},
    {"", "EyeLike", 9, LO_OPSET_MAX, eyelike_prepare, eyelike_run, NULL, 0},
    {0},
};
