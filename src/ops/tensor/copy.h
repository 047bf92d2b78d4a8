/* Helpers the data-movement kernels (src/ops/tensor, and CumSum) share:
 * input checks, int lists read from tensors, strides, string ownership,
 * element copies and gathers, and the element arithmetic of Scatter
 * reductions, CumSum and Unique.
 *
 * Data movement is dtype-generic: elements are copied by their byte size.
 * STRING tensors are moved as their char * pointers and every pointer of the
 * output is then replaced by its own strdup copy (own_strings), so the output
 * owns its strings as the tensor contract requires. */
#ifndef LO_OPS_TENSOR_COPY_H
#define LO_OPS_TENSOR_COPY_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ops.h"

/* Static, as they were in the one file they came from (same code, same
 * inlining); unused is for the files that need only some. */
#define LO_TENSOR_HELPER static __attribute__((unused))

/* Below this many elements a copy loop is not worth waking threads for. */
#define PARALLEL_MIN_ELEMENTS ((int64_t)1 << 16)

/* ---- shared helpers ------------------------------------------------------ */

LO_TENSOR_HELPER lo_status prep_fail(const lo_node *node, lo_error *err, lo_status status, const char *fmt,
                           ...) __attribute__((format(printf, 4, 5)));
LO_TENSOR_HELPER lo_status prep_fail(const lo_node *node, lo_error *err, lo_status status, const char *fmt,
                           ...) {
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return lo_fail(err, status, "node '%s' (%s): %s", node->name ? node->name : "", node->op_type,
                   msg);
}

LO_TENSOR_HELPER void *alloc_params(size_t size, lo_error *err) { return lo_calloc(1, size, err); }

LO_TENSOR_HELPER bool has_in(const lo_kernel_ctx *ctx, int i) { return i < ctx->n_in && ctx->in[i]; }
LO_TENSOR_HELPER bool has_out(const lo_kernel_ctx *ctx, int i) { return i < ctx->n_out && ctx->out[i]; }

LO_TENSOR_HELPER lo_status need_in(lo_kernel_ctx *ctx, int i, const char *what) {
    if (!has_in(ctx, i)) return lo_kernel_fail(ctx, LO_ERR_MODEL, "input %d (%s) is missing", i, what);
    if (ctx->in[i]->kind != LO_KIND_TENSOR)
        return lo_kernel_fail(ctx, LO_ERR_INPUT, "input %d (%s) is not a tensor", i, what);
    return LO_OK;
}

LO_TENSOR_HELPER lo_status element_size(lo_kernel_ctx *ctx, lo_dtype dtype, size_t *size) {
    *size = lo_dtype_size(dtype);
    if (!*size || dtype == LO_UNDEFINED)
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "element type %d is not supported", (int)dtype);
    return LO_OK;
}

/* Reads a scalar or 1-D integer tensor such as Reshape's shape, Slice's
 * starts or Pad's pads. */
LO_TENSOR_HELPER lo_status read_int_list(lo_kernel_ctx *ctx, const lo_tensor *t, const char *what, int max,
                               int64_t *values, int *count) {
    LO_CHECK(ctx, lo_dtype_is_int(t->dtype), "%s must be an integer tensor, got %s", what,
             lo_dtype_name(t->dtype));
    LO_CHECK(ctx, t->rank <= 1, "%s must be 1-D, got rank %d", what, t->rank);
    int64_t n = lo_numel(t);
    if (n > max)
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "%s has %lld values, at most %d are supported",
                              what, (long long)n, max);
    for (int64_t i = 0; i < n; i++) values[i] = lo_get_i64(t, i);
    *count = (int)n;
    return LO_OK;
}

/* Reads the single value of a scalar or one-element tensor. */
LO_TENSOR_HELPER lo_status read_scalar_i64(lo_kernel_ctx *ctx, const lo_tensor *t, const char *what,
                                 int64_t *value) {
    LO_CHECK(ctx, lo_numel(t) == 1 && t->rank <= 1, "%s must hold exactly one value", what);
    LO_CHECK(ctx, t->dtype != LO_STRING, "%s must be numeric", what);
    *value = lo_get_i64(t, 0);
    return LO_OK;
}

LO_TENSOR_HELPER int64_t row_major_strides(int rank, const int64_t *dims, int64_t *strides) {
    int64_t s = 1;
    for (int d = rank - 1; d >= 0; d--) {
        strides[d] = s;
        s *= dims[d];
    }
    return s;
}

/* Replaces every borrowed char * of a STRING output by its own copy; a NULL
 * (a zero-filled slot) becomes "". On failure the slots not yet copied are
 * cleared so that freeing the tensor stays safe. */
LO_TENSOR_HELPER lo_status own_strings(lo_kernel_ctx *ctx, lo_tensor *out) {
    if (out->dtype != LO_STRING) return LO_OK;
    char **s = out->data;
    int64_t n = (int64_t)(out->nbytes / sizeof(char *));
    for (int64_t i = 0; i < n; i++) {
        char *copy = lo_strdup(s[i] ? s[i] : "");
        if (!copy) {
            for (int64_t j = i; j < n; j++) s[j] = NULL;
            return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory copying strings");
        }
        s[i] = copy;
    }
    return LO_OK;
}

/* Output i with x's data under a new shape (Reshape, Flatten, Squeeze, ...). */
LO_TENSOR_HELPER lo_status copy_reshaped(lo_kernel_ctx *ctx, int i, const lo_tensor *x, int rank,
                               const int64_t *dims) {
    if (!has_out(ctx, i)) return LO_OK;
    LO_CHECK(ctx, lo_numel_dims(rank, dims) == lo_numel(x), "cannot view %lld elements as %lld",
             (long long)lo_numel(x), (long long)lo_numel_dims(rank, dims));
    LO_TRY(lo_output(ctx, i, x->dtype, rank, dims));
    lo_tensor *out = ctx->out[i];
    if (out->data == x->data) return LO_OK; /* the run loop handed input 0's block over */
    if (x->nbytes) memcpy(out->data, x->data, x->nbytes);
    return own_strings(ctx, out);
}

LO_TENSOR_HELPER inline void copy_element(char *dst, const char *src, size_t esize) {
    switch (esize) {
    case 1: *dst = *src; break;
    case 2: memcpy(dst, src, 2); break;
    case 4: memcpy(dst, src, 4); break;
    case 8: memcpy(dst, src, 8); break;
    default: memcpy(dst, src, esize);
    }
}

LO_TENSOR_HELPER void fill_elements(char *dst, const char *value, size_t esize, int64_t n) {
    for (int64_t i = 0; i < n; i++) copy_element(dst + (size_t)i * esize, value, esize);
}

/* Per-output-axis offset tables: one block holding sum(dims) int64 slots. */
LO_TENSOR_HELPER int64_t *alloc_tables(lo_kernel_ctx *ctx, int rank, const int64_t *dims, int64_t **tables) {
    int64_t total = 0;
    for (int d = 0; d < rank; d++) total += dims[d];
    int64_t *block = lo_malloc((size_t)(total ? total : 1) * sizeof(int64_t), ctx->err);
    if (!block) return NULL;
    int64_t at = 0;
    for (int d = 0; d < rank; d++) {
        tables[d] = block + at;
        at += dims[d];
    }
    return block;
}

/* The one copy loop behind Transpose, Slice, Expand, Tile, Pad and the
 * depth/space rearrangements: output element (i0, .., ir-1) reads source
 * element sum_d tables[d][i_d], or `fill` when any tables[d][i_d] is -1.
 * Consecutive runs in the innermost table become memcpy calls. */
LO_TENSOR_HELPER lo_status gather_copy(lo_kernel_ctx *ctx, void *dst_v, const void *src_v, size_t esize,
                             int rank, const int64_t *dims, int64_t *const *tables,
                             const void *fill) {
    char *dst = dst_v;
    const char *src = src_v;
    int64_t base = 0, kept_dims[2 * LO_MAX_RANK];
    const int64_t *kept_tables[2 * LO_MAX_RANK];
    int kept = 0;
    bool all_fill = false;
    int64_t total = 1;
    for (int d = 0; d < rank; d++) {
        if (dims[d] == 0) return LO_OK;
        total *= dims[d];
        if (dims[d] == 1) {
            if (tables[d][0] < 0) all_fill = true;
            else base += tables[d][0];
            continue;
        }
        kept_dims[kept] = dims[d];
        kept_tables[kept++] = tables[d];
    }
    if (all_fill) {
        LO_ASSERT(fill);
        fill_elements(dst, fill, esize, total);
        return LO_OK;
    }
    if (kept == 0) {
        copy_element(dst, src + (size_t)base * esize, esize);
        return LO_OK;
    }
    int64_t inner = kept_dims[kept - 1];
    const int64_t *inner_table = kept_tables[kept - 1];
    int64_t *run = lo_malloc((size_t)inner * sizeof(int64_t), ctx->err);
    if (!run) return ctx->err->status;
    run[inner - 1] = 1;
    for (int64_t i = inner - 2; i >= 0; i--) {
        bool both_fill = inner_table[i] < 0 && inner_table[i + 1] < 0;
        bool contiguous = inner_table[i] >= 0 && inner_table[i + 1] == inner_table[i] + 1;
        run[i] = (both_fill || contiguous) ? run[i + 1] + 1 : 1;
    }
    int64_t rows = total / inner;
#pragma omp parallel for schedule(static) if (total > PARALLEL_MIN_ELEMENTS)
    for (int64_t row = 0; row < rows; row++) {
        int64_t rest = row, offset = base;
        bool fill_row = false;
        for (int d = kept - 2; d >= 0; d--) {
            int64_t t = kept_tables[d][rest % kept_dims[d]];
            rest /= kept_dims[d];
            if (t < 0) fill_row = true;
            else offset += t;
        }
        char *o = dst + (size_t)(row * inner) * esize;
        if (fill_row) {
            fill_elements(o, fill, esize, inner);
            continue;
        }
        for (int64_t i = 0; i < inner;) {
            int64_t n = run[i];
            if (inner_table[i] < 0)
                fill_elements(o + (size_t)i * esize, fill, esize, n);
            else if (n == 1)
                copy_element(o + (size_t)i * esize, src + (size_t)(offset + inner_table[i]) * esize,
                             esize);
            else
                memcpy(o + (size_t)i * esize, src + (size_t)(offset + inner_table[i]) * esize,
                       (size_t)n * esize);
            i += n;
        }
    }
    free(run);
    return LO_OK;
}

/* Deep copy for Identity of sequences and optionals. */
LO_TENSOR_HELPER lo_status clone_value(lo_kernel_ctx *ctx, const lo_tensor *src, lo_tensor *dst) {
    memset(dst, 0, sizeof *dst);
    dst->kind = src->kind;
    dst->dtype = src->dtype;
    dst->rank = src->rank;
    memcpy(dst->dims, src->dims, sizeof dst->dims);
    if (src->kind == LO_KIND_SEQUENCE) {
        dst->items = lo_calloc((size_t)(src->n_items ? src->n_items : 1), sizeof(lo_tensor), ctx->err);
        if (!dst->items) return ctx->err->status;
        dst->n_items = src->n_items;
        for (int i = 0; i < src->n_items; i++) LO_TRY(clone_value(ctx, &src->items[i], &dst->items[i]));
        return LO_OK;
    }
    if (src->kind == LO_KIND_NONE) return LO_OK;
    dst->data = lo_malloc(src->nbytes, ctx->err);
    if (!dst->data) return ctx->err->status;
    dst->nbytes = src->nbytes;
    if (src->dtype == LO_STRING) memset(dst->data, 0, src->nbytes);
    if (src->nbytes) memcpy(dst->data, src->data, src->nbytes);
    return own_strings(ctx, dst);
}

/* ---- element arithmetic for Scatter reductions, CumSum, Unique ----------- */

/* Reads one element of any numeric type, by viewing it as a 1-element tensor. */
LO_TENSOR_HELPER double element_f64(lo_dtype dtype, const void *p) {
    lo_tensor t = {.dtype = dtype, .data = (void *)p};
    return lo_get_f64(&t, 0);
}

LO_TENSOR_HELPER int64_t element_i64(lo_dtype dtype, const void *p) {
    lo_tensor t = {.dtype = dtype, .data = (void *)p};
    return lo_get_i64(&t, 0);
}

LO_TENSOR_HELPER bool is_numeric(lo_dtype dtype) {
    return lo_dtype_is_float(dtype) || lo_dtype_is_int(dtype) || dtype == LO_BOOL;
}

typedef enum reduction { RED_NONE, RED_ADD, RED_MUL, RED_MAX, RED_MIN } reduction;

#define REDUCE_INT(TYPE)                                                                  \
    do {                                                                                  \
        TYPE a, b;                                                                        \
        memcpy(&a, dst, sizeof a);                                                        \
        memcpy(&b, src, sizeof b);                                                        \
        /* unsigned arithmetic wraps on overflow as numpy does */                        \
        TYPE r = red == RED_ADD   ? (TYPE)((uint64_t)a + (uint64_t)b)                      \
                 : red == RED_MUL ? (TYPE)((uint64_t)a * (uint64_t)b)                      \
                 : red == RED_MAX ? (a > b ? a : b)                                        \
                                  : (a < b ? a : b);                                       \
        memcpy(dst, &r, sizeof r);                                                        \
    } while (0)

LO_TENSOR_HELPER double reduce_f64(reduction red, double a, double b) {
    switch (red) {
    case RED_ADD: return a + b;
    case RED_MUL: return a * b;
    case RED_MAX: return isnan(a) || isnan(b) ? NAN : a > b ? a : b;
    case RED_MIN: return isnan(a) || isnan(b) ? NAN : a < b ? a : b;
    default: return b;
    }
}

/* dst = dst (op) src for one element; RED_NONE overwrites. */
LO_TENSOR_HELPER void reduce_element(lo_dtype dtype, size_t esize, reduction red, char *dst, const char *src) {
    if (red == RED_NONE) {
        copy_element(dst, src, esize);
        return;
    }
    switch (dtype) {
    case LO_FLOAT: {
        float a, b;
        memcpy(&a, dst, 4);
        memcpy(&b, src, 4);
        float r = red == RED_ADD ? a + b : red == RED_MUL ? a * b : (float)reduce_f64(red, a, b);
        memcpy(dst, &r, 4);
        return;
    }
    case LO_DOUBLE: {
        double a, b;
        memcpy(&a, dst, 8);
        memcpy(&b, src, 8);
        double r = reduce_f64(red, a, b);
        memcpy(dst, &r, 8);
        return;
    }
    case LO_FLOAT16: case LO_BFLOAT16: {
        lo_tensor t = {.dtype = dtype, .data = dst};
        lo_set_f64(&t, 0, (float)reduce_f64(red, element_f64(dtype, dst), element_f64(dtype, src)));
        return;
    }
    case LO_BOOL: {
        bool a = *dst != 0, b = *src != 0;
        *dst = (red == RED_ADD || red == RED_MAX) ? (a || b) : (a && b);
        return;
    }
    case LO_INT8: REDUCE_INT(int8_t); return;
    case LO_UINT8: REDUCE_INT(uint8_t); return;
    case LO_INT16: REDUCE_INT(int16_t); return;
    case LO_UINT16: REDUCE_INT(uint16_t); return;
    case LO_INT32: REDUCE_INT(int32_t); return;
    case LO_UINT32: REDUCE_INT(uint32_t); return;
    case LO_INT64: REDUCE_INT(int64_t); return;
    case LO_UINT64: REDUCE_INT(uint64_t); return;
    default: copy_element(dst, src, esize); return;
    }
}

/* Orders elements as numpy's sort does: NaN last, NaN equal to NaN. */
LO_TENSOR_HELPER int compare_elements(lo_dtype dtype, const void *a, const void *b) {
    switch (dtype) {
    case LO_STRING: {
        const char *x = *(char *const *)a, *y = *(char *const *)b;
        return strcmp(x ? x : "", y ? y : "");
    }
    case LO_FLOAT: case LO_DOUBLE: case LO_FLOAT16: case LO_BFLOAT16: {
        double x = element_f64(dtype, a), y = element_f64(dtype, b);
        if (isnan(x) || isnan(y)) return isnan(x) - isnan(y);
        return (x > y) - (x < y);
    }
    case LO_UINT64: {
        uint64_t x, y;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        return (x > y) - (x < y);
    }
    default: {
        int64_t x = element_i64(dtype, a), y = element_i64(dtype, b);
        return (x > y) - (x < y);
    }
    }
}

/* The axis attribute, read at prepare (default 0 or 1 by op). */
typedef struct axis_params {
    int64_t axis;
    bool has_axis;
} axis_params;

LO_TENSOR_HELPER lo_status axis_prepare_default(const lo_node *node, void **params, lo_error *err,
                                      int64_t dflt) {
    axis_params *p = alloc_params(sizeof *p, err);
    if (!p) return err->status;
    *params = p;
    p->has_axis = lo_attr_find(node, "axis") != NULL;
    p->axis = lo_attr_int(node, "axis", dflt);
    return LO_OK;
}

LO_TENSOR_HELPER lo_status axis0_prepare(const lo_node *node, void **params, lo_error *err) {
    return axis_prepare_default(node, params, err, 0);
}

LO_TENSOR_HELPER lo_status axis1_prepare(const lo_node *node, void **params, lo_error *err) {
    return axis_prepare_default(node, params, err, 1);
}

/* Index checks and ND index tuples, shared by Gather* and Scatter*. */
/* Checks every index of `indices` against [-n, n). */
LO_TENSOR_HELPER lo_status check_indices(lo_kernel_ctx *ctx, const lo_tensor *indices, int64_t n) {
    LO_CHECK(ctx, lo_dtype_is_int(indices->dtype), "indices must be integers, got %s",
             lo_dtype_name(indices->dtype));
    int64_t count = lo_numel(indices);
    for (int64_t i = 0; i < count; i++) {
        int64_t v = lo_get_i64(indices, i);
        LO_CHECK(ctx, v >= -n && v < n, "index %lld is out of range [-%lld, %lld)", (long long)v,
                 (long long)n, (long long)n);
    }
    return LO_OK;
}

LO_TENSOR_HELPER int64_t index_at(const lo_tensor *indices, int64_t i, int64_t n) {
    int64_t v = indices->dtype == LO_INT64 ? ((const int64_t *)indices->data)[i]
                : indices->dtype == LO_INT32 ? ((const int32_t *)indices->data)[i]
                                             : lo_get_i64(indices, i);
    return v < 0 ? v + n : v;
}

/* Where GatherND and ScatterND find the slice each index tuple names:
 * offsets[t] in elements of data, for tuples in batch-major order. */
typedef struct nd_layout {
    int64_t n_batch, tuples_per_batch, k, slice, batch_stride;
} nd_layout;

LO_TENSOR_HELPER lo_status nd_tuple_offset(lo_kernel_ctx *ctx, const lo_tensor *data, const lo_tensor *ind,
                                 const nd_layout *l, int b, int64_t tuple, int64_t *offset) {
    int64_t strides[LO_MAX_RANK];
    row_major_strides(data->rank, data->dims, strides);
    int64_t off = (tuple / l->tuples_per_batch) * l->batch_stride;
    for (int64_t t = 0; t < l->k; t++) {
        int64_t dim = data->dims[b + t];
        int64_t v = lo_get_i64(ind, tuple * l->k + t);
        LO_CHECK(ctx, v >= -dim && v < dim, "index %lld is out of range for axis %lld of size %lld",
                 (long long)v, (long long)(b + t), (long long)dim);
        off += (v < 0 ? v + dim : v) * strides[b + t];
    }
    *offset = off;
    return LO_OK;
}

LO_TENSOR_HELPER lo_status nd_check(lo_kernel_ctx *ctx, const lo_tensor *data, const lo_tensor *ind, int b,
                          nd_layout *l) {
    int r = data->rank, q = ind->rank;
    LO_CHECK(ctx, lo_dtype_is_int(ind->dtype), "indices must be integers");
    LO_CHECK(ctx, q >= 1 && r >= 1, "data and indices must have rank >= 1");
    LO_CHECK(ctx, b < q && b < r, "batch_dims %d must be below both ranks (%d, %d)", b, r, q);
    for (int d = 0; d < b; d++)
        LO_CHECK(ctx, data->dims[d] == ind->dims[d], "batch dimension %d differs: %lld vs %lld", d,
                 (long long)data->dims[d], (long long)ind->dims[d]);
    l->k = ind->dims[q - 1];
    LO_CHECK(ctx, l->k >= 1 && l->k <= r - b, "index tuples of length %lld do not fit rank %d",
             (long long)l->k, r);
    l->n_batch = lo_numel_dims(b, ind->dims);
    l->tuples_per_batch = lo_numel_dims(q - 1 - b, ind->dims + b);
    l->slice = lo_numel_dims(r - b - (int)l->k, data->dims + b + l->k);
    l->batch_stride = lo_numel_dims(r - b, data->dims + b);
    return LO_OK;
}

#endif
