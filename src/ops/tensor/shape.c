/* Kernels that move data without arithmetic on it (Reshape, Transpose,
 * Slice, Gather, Pad, ...) plus the few index-producing ops that sit with
 * them (Shape, NonZero, Range, Unique, CumSum ...).
 *
 * Data movement is dtype-generic: elements are copied by their byte size.
 * STRING tensors are moved as their char * pointers and every pointer of the
 * output is then replaced by its own strdup copy (own_strings), so the output
 * owns its strings as the tensor contract requires. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ops.h"

/* Below this many elements a copy loop is not worth waking threads for. */
#define PARALLEL_MIN_ELEMENTS ((int64_t)1 << 16)

/* ---- shared helpers ------------------------------------------------------ */

static lo_status prep_fail(const lo_node *node, lo_error *err, lo_status status, const char *fmt,
                           ...) __attribute__((format(printf, 4, 5)));
static lo_status prep_fail(const lo_node *node, lo_error *err, lo_status status, const char *fmt,
                           ...) {
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return lo_fail(err, status, "node '%s' (%s): %s", node->name ? node->name : "", node->op_type,
                   msg);
}

static void *alloc_params(size_t size, lo_error *err) { return lo_calloc(1, size, err); }

static bool has_in(const lo_kernel_ctx *ctx, int i) { return i < ctx->n_in && ctx->in[i]; }
static bool has_out(const lo_kernel_ctx *ctx, int i) { return i < ctx->n_out && ctx->out[i]; }

static lo_status need_in(lo_kernel_ctx *ctx, int i, const char *what) {
    if (!has_in(ctx, i)) return lo_kernel_fail(ctx, LO_ERR_MODEL, "input %d (%s) is missing", i, what);
    if (ctx->in[i]->kind != LO_KIND_TENSOR)
        return lo_kernel_fail(ctx, LO_ERR_INPUT, "input %d (%s) is not a tensor", i, what);
    return LO_OK;
}

static lo_status element_size(lo_kernel_ctx *ctx, lo_dtype dtype, size_t *size) {
    *size = lo_dtype_size(dtype);
    if (!*size || dtype == LO_UNDEFINED)
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "element type %d is not supported", (int)dtype);
    return LO_OK;
}

/* Reads a scalar or 1-D integer tensor such as Reshape's shape, Slice's
 * starts or Pad's pads. */
static lo_status read_int_list(lo_kernel_ctx *ctx, const lo_tensor *t, const char *what, int max,
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
static lo_status read_scalar_i64(lo_kernel_ctx *ctx, const lo_tensor *t, const char *what,
                                 int64_t *value) {
    LO_CHECK(ctx, lo_numel(t) == 1 && t->rank <= 1, "%s must hold exactly one value", what);
    LO_CHECK(ctx, t->dtype != LO_STRING, "%s must be numeric", what);
    *value = lo_get_i64(t, 0);
    return LO_OK;
}

static int64_t row_major_strides(int rank, const int64_t *dims, int64_t *strides) {
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
static lo_status own_strings(lo_kernel_ctx *ctx, lo_tensor *out) {
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
static lo_status copy_reshaped(lo_kernel_ctx *ctx, int i, const lo_tensor *x, int rank,
                               const int64_t *dims) {
    if (!has_out(ctx, i)) return LO_OK;
    LO_CHECK(ctx, lo_numel_dims(rank, dims) == lo_numel(x), "cannot view %lld elements as %lld",
             (long long)lo_numel(x), (long long)lo_numel_dims(rank, dims));
    LO_TRY(lo_output(ctx, i, x->dtype, rank, dims));
    lo_tensor *out = ctx->out[i];
    if (x->nbytes) memcpy(out->data, x->data, x->nbytes);
    return own_strings(ctx, out);
}

static inline void copy_element(char *dst, const char *src, size_t esize) {
    switch (esize) {
    case 1: *dst = *src; break;
    case 2: memcpy(dst, src, 2); break;
    case 4: memcpy(dst, src, 4); break;
    case 8: memcpy(dst, src, 8); break;
    default: memcpy(dst, src, esize);
    }
}

static void fill_elements(char *dst, const char *value, size_t esize, int64_t n) {
    for (int64_t i = 0; i < n; i++) copy_element(dst + (size_t)i * esize, value, esize);
}

/* Per-output-axis offset tables: one block holding sum(dims) int64 slots. */
static int64_t *alloc_tables(lo_kernel_ctx *ctx, int rank, const int64_t *dims, int64_t **tables) {
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
static lo_status gather_copy(lo_kernel_ctx *ctx, void *dst_v, const void *src_v, size_t esize,
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
static lo_status clone_value(lo_kernel_ctx *ctx, const lo_tensor *src, lo_tensor *dst) {
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

/* ---- Reshape --------------------------------------------------------------- */

typedef struct reshape_params {
    bool allowzero;
    bool shape_from_attr; /* Reshape-1..4 */
    int n_shape;
    int64_t shape[LO_MAX_RANK];
} reshape_params;

static lo_status reshape_prepare(const lo_node *node, void **params, lo_error *err) {
    reshape_params *p = alloc_params(sizeof *p, err);
    if (!p) return err->status;
    *params = p;
    p->allowzero = lo_attr_int(node, "allowzero", 0) != 0;
    if (node->opset < 5) {
        int64_t n;
        const int64_t *shape = lo_attr_ints(node, "shape", &n);
        if (n > LO_MAX_RANK)
            return prep_fail(node, err, LO_ERR_UNSUPPORTED, "shape of rank %lld is beyond %d",
                             (long long)n, LO_MAX_RANK);
        p->shape_from_attr = true;
        p->n_shape = (int)n;
        if (n) memcpy(p->shape, shape, (size_t)n * sizeof *shape);
    }
    return LO_OK;
}

static lo_status reshape_run(lo_kernel_ctx *ctx) {
    const reshape_params *p = ctx->params;
    LO_TRY(need_in(ctx, 0, "data"));
    const lo_tensor *x = ctx->in[0];
    int64_t req[LO_MAX_RANK];
    int n;
    if (p->shape_from_attr) {
        n = p->n_shape;
        memcpy(req, p->shape, sizeof req);
    } else {
        LO_TRY(need_in(ctx, 1, "shape"));
        LO_TRY(read_int_list(ctx, ctx->in[1], "shape", LO_MAX_RANK, req, &n));
    }
    int64_t dims[LO_MAX_RANK], known = 1;
    int infer = -1;
    for (int i = 0; i < n; i++) {
        if (req[i] == 0 && !p->allowzero) {
            LO_CHECK(ctx, i < x->rank, "shape[%d] is 0 (copy) but the input has rank %d", i, x->rank);
            dims[i] = x->dims[i];
        } else if (req[i] == -1) {
            LO_CHECK(ctx, infer < 0, "shape has more than one -1");
            infer = i;
            dims[i] = 1;
        } else {
            LO_CHECK(ctx, req[i] >= 0, "shape[%d] is %lld", i, (long long)req[i]);
            dims[i] = req[i];
        }
        /* a product past the input's element count can never match it */
        if (i != infer) {
            LO_CHECK(ctx, dims[i] == 0 || known <= INT64_MAX / dims[i], "shape holds too many elements");
            known *= dims[i];
        }
    }
    int64_t numel = lo_numel(x);
    if (infer >= 0) {
        LO_CHECK(ctx, known != 0, "cannot infer the -1 dimension next to a 0 dimension");
        LO_CHECK(ctx, numel % known == 0, "cannot reshape %lld elements: not a multiple of %lld",
                 (long long)numel, (long long)known);
        dims[infer] = numel / known;
    }
    char a[160], b[160];
    LO_CHECK(ctx, lo_numel_dims(n, dims) == numel, "cannot reshape %s into %s",
             lo_shape_str(x->rank, x->dims, a, sizeof a), lo_shape_str(n, dims, b, sizeof b));
    return copy_reshaped(ctx, 0, x, n, dims);
}

/* ---- Flatten, Squeeze, Unsqueeze ----------------------------------------- */

typedef struct axis_params {
    int64_t axis;
    bool has_axis;
} axis_params;

static lo_status axis_prepare_default(const lo_node *node, void **params, lo_error *err,
                                      int64_t dflt) {
    axis_params *p = alloc_params(sizeof *p, err);
    if (!p) return err->status;
    *params = p;
    p->has_axis = lo_attr_find(node, "axis") != NULL;
    p->axis = lo_attr_int(node, "axis", dflt);
    return LO_OK;
}

static lo_status axis0_prepare(const lo_node *node, void **params, lo_error *err) {
    return axis_prepare_default(node, params, err, 0);
}

static lo_status axis1_prepare(const lo_node *node, void **params, lo_error *err) {
    return axis_prepare_default(node, params, err, 1);
}

static lo_status flatten_run(lo_kernel_ctx *ctx) {
    const axis_params *p = ctx->params;
    LO_TRY(need_in(ctx, 0, "input"));
    const lo_tensor *x = ctx->in[0];
    int64_t axis = p->axis;
    LO_CHECK(ctx, axis >= -x->rank && axis <= x->rank, "axis %lld is out of range for rank %d",
             (long long)axis, x->rank);
    if (axis < 0) axis += x->rank;
    int64_t dims[2] = {lo_numel_dims((int)axis, x->dims),
                       lo_numel_dims(x->rank - (int)axis, x->dims + axis)};
    return copy_reshaped(ctx, 0, x, 2, dims);
}

typedef struct axes_params {
    bool has_axes; /* from the attribute (Squeeze/Unsqueeze before 13) */
    int n_axes;
    int64_t axes[LO_MAX_RANK];
} axes_params;

static lo_status axes_attr_prepare(const lo_node *node, void **params, lo_error *err) {
    axes_params *p = alloc_params(sizeof *p, err);
    if (!p) return err->status;
    *params = p;
    if (node->opset >= 13) return LO_OK;
    int64_t n;
    const int64_t *axes = lo_attr_ints(node, "axes", &n);
    if (!axes && !strcmp(node->op_type, "Unsqueeze"))
        return prep_fail(node, err, LO_ERR_MODEL, "attribute 'axes' is required");
    if (n > LO_MAX_RANK)
        return prep_fail(node, err, LO_ERR_UNSUPPORTED, "%lld axes, at most %d are supported",
                         (long long)n, LO_MAX_RANK);
    p->has_axes = axes != NULL;
    p->n_axes = (int)n;
    if (n) memcpy(p->axes, axes, (size_t)n * sizeof *axes);
    return LO_OK;
}

/* Axes of Squeeze/Unsqueeze from the attribute or (13+) the second input;
 * false in *present when neither gives any. */
static lo_status get_axes(lo_kernel_ctx *ctx, int64_t *axes, int *n, bool *present) {
    const axes_params *p = ctx->params;
    if (ctx->node->opset < 13) {
        *present = p->has_axes;
        *n = p->n_axes;
        memcpy(axes, p->axes, sizeof p->axes);
        return LO_OK;
    }
    *present = has_in(ctx, 1);
    *n = 0;
    if (*present) LO_TRY(read_int_list(ctx, ctx->in[1], "axes", LO_MAX_RANK, axes, n));
    return LO_OK;
}

static lo_status squeeze_run(lo_kernel_ctx *ctx) {
    LO_TRY(need_in(ctx, 0, "data"));
    const lo_tensor *x = ctx->in[0];
    int64_t axes[LO_MAX_RANK];
    int n;
    bool present;
    LO_TRY(get_axes(ctx, axes, &n, &present));
    bool drop[LO_MAX_RANK] = {0};
    if (!present) {
        for (int d = 0; d < x->rank; d++) drop[d] = x->dims[d] == 1;
    } else {
        for (int i = 0; i < n; i++) {
            int a;
            LO_CHECK(ctx, lo_norm_axis(axes[i], x->rank, &a) && x->rank > 0,
                     "axis %lld is out of range for rank %d", (long long)axes[i], x->rank);
            LO_CHECK(ctx, x->dims[a] == 1, "cannot squeeze axis %d of size %lld", a,
                     (long long)x->dims[a]);
            drop[a] = true;
        }
    }
    int64_t dims[LO_MAX_RANK];
    int r = 0;
    for (int d = 0; d < x->rank; d++)
        if (!drop[d]) dims[r++] = x->dims[d];
    return copy_reshaped(ctx, 0, x, r, dims);
}

static lo_status unsqueeze_run(lo_kernel_ctx *ctx) {
    LO_TRY(need_in(ctx, 0, "data"));
    const lo_tensor *x = ctx->in[0];
    int64_t axes[LO_MAX_RANK];
    int n;
    bool present;
    LO_TRY(get_axes(ctx, axes, &n, &present));
    LO_CHECK(ctx, present, "axes are required");
    int out_rank = x->rank + n;
    if (out_rank > LO_MAX_RANK)
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "output rank %d is beyond %d", out_rank,
                              LO_MAX_RANK);
    bool inserted[LO_MAX_RANK] = {0};
    for (int i = 0; i < n; i++) {
        int a;
        LO_CHECK(ctx, lo_norm_axis(axes[i], out_rank, &a), "axis %lld is out of range for rank %d",
                 (long long)axes[i], out_rank);
        LO_CHECK(ctx, !inserted[a], "axis %d is given twice", a);
        inserted[a] = true;
    }
    int64_t dims[LO_MAX_RANK];
    for (int d = 0, j = 0; d < out_rank; d++) dims[d] = inserted[d] ? 1 : x->dims[j++];
    return copy_reshaped(ctx, 0, x, out_rank, dims);
}

/* ---- Identity, Dropout, Constant, ConstantOfShape ------------------------ */

static lo_status identity_run(lo_kernel_ctx *ctx) {
    if (!has_in(ctx, 0)) return lo_kernel_fail(ctx, LO_ERR_MODEL, "input is missing");
    const lo_tensor *x = ctx->in[0];
    if (!has_out(ctx, 0)) return LO_OK;
    if (x->kind == LO_KIND_TENSOR) return copy_reshaped(ctx, 0, x, x->rank, x->dims);
    lo_tensor *out = ctx->out[0];
    lo_tensor_free_data(out);
    return clone_value(ctx, x, out);
}

typedef struct dropout_params {
    float ratio;
} dropout_params;

static lo_status dropout_prepare(const lo_node *node, void **params, lo_error *err) {
    dropout_params *p = alloc_params(sizeof *p, err);
    if (!p) return err->status;
    *params = p;
    p->ratio = lo_attr_float(node, "ratio", 0.5f);
    /* Dropout-1/6 say is_test=0 means training, but exporters leave it at
     * the default in inference graphs; this engine runs inference only. */
    return LO_OK;
}

/* Training mode: a random keep-mask (probability 1 - ratio) from a
 * splitmix64 stream seeded by the `seed` attribute; kept values are scaled
 * by 1 / (1 - ratio). Only the shapes and types are reproducible across
 * engines, as with every random operator. */
static lo_status dropout_train(lo_kernel_ctx *ctx, const lo_tensor *x, double ratio) {
    LO_CHECK(ctx, ratio >= 0 && ratio <= 1, "ratio %g outside [0, 1]", ratio);
    LO_CHECK(ctx, lo_dtype_is_float(x->dtype), "training-mode dropout of %s", lo_dtype_name(x->dtype));
    LO_TRY(lo_output(ctx, 0, x->dtype, x->rank, x->dims));
    LO_TRY(lo_output(ctx, 1, LO_BOOL, x->rank, x->dims));
    uint64_t state = (uint64_t)lo_attr_int(ctx->node, "seed", 0) + 0x9E3779B97F4A7C15ull;
    double scale = ratio < 1 ? 1.0 / (1.0 - ratio) : 0.0;
    int64_t n = lo_numel(x);
    for (int64_t i = 0; i < n; i++) {
        uint64_t z = (state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        bool keep = (double)(z >> 11) * 0x1.0p-53 >= ratio;
        if (has_out(ctx, 0)) lo_set_f64(ctx->out[0], i, keep ? lo_get_f64(x, i) * scale : 0.0);
        if (has_out(ctx, 1)) ((uint8_t *)ctx->out[1]->data)[i] = keep;
    }
    return LO_OK;
}

static lo_status dropout_run(lo_kernel_ctx *ctx) {
    LO_TRY(need_in(ctx, 0, "data"));
    const lo_tensor *x = ctx->in[0];
    if (ctx->node->opset >= 12 && has_in(ctx, 2)) {
        int64_t training;
        LO_TRY(read_scalar_i64(ctx, ctx->in[2], "training_mode", &training));
        double ratio = 0.5;
        if (has_in(ctx, 1)) {
            LO_CHECK(ctx, lo_numel(ctx->in[1]) == 1, "ratio must be a scalar");
            ratio = lo_get_f64(ctx->in[1], 0);
        }
        if (training && ratio != 0) return dropout_train(ctx, x, ratio);
    }
    LO_TRY(copy_reshaped(ctx, 0, x, x->rank, x->dims));
    if (!has_out(ctx, 1)) return LO_OK;
    lo_dtype mask_type = ctx->node->opset >= 10 ? LO_BOOL : x->dtype;
    LO_CHECK(ctx, mask_type == LO_BOOL || lo_dtype_is_float(mask_type) || lo_dtype_is_int(mask_type),
             "mask of type %s", lo_dtype_name(mask_type));
    LO_TRY(lo_output(ctx, 1, mask_type, x->rank, x->dims));
    int64_t n = lo_numel(x);
    for (int64_t i = 0; i < n; i++) lo_set_f64(ctx->out[1], i, 1.0);
    return LO_OK;
}

typedef struct constant_params {
    lo_dtype dtype;
    int rank;
    int64_t dims[LO_MAX_RANK];
    const void *data; /* borrowed from the node's attribute, or the scalars below */
    size_t nbytes;
    float f;
    int64_t i;
    const char *s;
} constant_params;

static lo_status constant_prepare(const lo_node *node, void **params, lo_error *err) {
    constant_params *p = alloc_params(sizeof *p, err);
    if (!p) return err->status;
    *params = p;
    int found = 0;
    for (int k = 0; k < node->n_attrs; k++) {
        const lo_attr *a = &node->attrs[k];
        const char *name = a->name;
        if (!strcmp(name, "value") || !strcmp(name, "sparse_value")) {
            if (!a->tensor || a->tensor->kind != LO_KIND_TENSOR)
                return prep_fail(node, err, LO_ERR_MODEL, "attribute '%s' holds no tensor", name);
            p->dtype = a->tensor->dtype;
            p->rank = a->tensor->rank;
            memcpy(p->dims, a->tensor->dims, sizeof p->dims);
            p->data = a->tensor->data;
            p->nbytes = a->tensor->nbytes;
        } else if (!strcmp(name, "value_float")) {
            p->dtype = LO_FLOAT;
            p->f = a->f;
            p->data = &p->f;
            p->nbytes = sizeof(float);
        } else if (!strcmp(name, "value_floats")) {
            p->dtype = LO_FLOAT;
            p->rank = 1;
            p->dims[0] = a->n;
            p->data = a->floats;
            p->nbytes = (size_t)a->n * sizeof(float);
        } else if (!strcmp(name, "value_int")) {
            p->dtype = LO_INT64;
            p->i = a->i;
            p->data = &p->i;
            p->nbytes = sizeof(int64_t);
        } else if (!strcmp(name, "value_ints")) {
            p->dtype = LO_INT64;
            p->rank = 1;
            p->dims[0] = a->n;
            p->data = a->ints;
            p->nbytes = (size_t)a->n * sizeof(int64_t);
        } else if (!strcmp(name, "value_string")) {
            p->dtype = LO_STRING;
            p->s = a->s ? a->s : "";
            p->data = &p->s;
            p->nbytes = sizeof(char *);
        } else if (!strcmp(name, "value_strings")) {
            p->dtype = LO_STRING;
            p->rank = 1;
            p->dims[0] = a->n;
            p->data = a->strings;
            p->nbytes = (size_t)a->n * sizeof(char *);
        } else {
            continue;
        }
        found++;
    }
    if (found != 1)
        return prep_fail(node, err, LO_ERR_MODEL, "exactly one value attribute is required, found %d",
                         found);
    return LO_OK;
}

static lo_status constant_run(lo_kernel_ctx *ctx) {
    const constant_params *p = ctx->params;
    if (!has_out(ctx, 0)) return LO_OK;
    LO_TRY(lo_output(ctx, 0, p->dtype, p->rank, p->dims));
    lo_tensor *out = ctx->out[0];
    LO_ASSERT(out->nbytes == p->nbytes);
    if (p->nbytes) memcpy(out->data, p->data, p->nbytes);
    return own_strings(ctx, out);
}

typedef struct constant_of_shape_params {
    lo_dtype dtype;
    unsigned char value[16];
} constant_of_shape_params;

static lo_status constant_of_shape_prepare(const lo_node *node, void **params, lo_error *err) {
    constant_of_shape_params *p = alloc_params(sizeof *p, err);
    if (!p) return err->status;
    *params = p;
    p->dtype = LO_FLOAT;
    const lo_attr *a = lo_attr_find(node, "value");
    if (!a) return LO_OK;
    const lo_tensor *t = a->tensor;
    if (!t || t->kind != LO_KIND_TENSOR || lo_numel(t) != 1)
        return prep_fail(node, err, LO_ERR_MODEL, "attribute 'value' must be a one-element tensor");
    if (t->dtype == LO_STRING || lo_dtype_size(t->dtype) == 0 ||
        lo_dtype_size(t->dtype) > sizeof p->value)
        return prep_fail(node, err, LO_ERR_UNSUPPORTED, "value of type %s",
                         lo_dtype_name(t->dtype));
    p->dtype = t->dtype;
    memcpy(p->value, t->data, lo_dtype_size(t->dtype));
    return LO_OK;
}

static lo_status constant_of_shape_run(lo_kernel_ctx *ctx) {
    const constant_of_shape_params *p = ctx->params;
    LO_TRY(need_in(ctx, 0, "input"));
    int64_t dims[LO_MAX_RANK];
    int n;
    LO_TRY(read_int_list(ctx, ctx->in[0], "shape", LO_MAX_RANK, dims, &n));
    for (int i = 0; i < n; i++) LO_CHECK(ctx, dims[i] >= 0, "shape[%d] is %lld", i, (long long)dims[i]);
    if (!has_out(ctx, 0)) return LO_OK;
    LO_TRY(lo_output(ctx, 0, p->dtype, n, dims));
    fill_elements(ctx->out[0]->data, (const char *)p->value, lo_dtype_size(p->dtype),
                  lo_numel(ctx->out[0]));
    return LO_OK;
}

/* ---- Shape, Size --------------------------------------------------------- */

typedef struct shape_params {
    int64_t start, end;
    bool has_end;
} shape_params;

static lo_status shape_prepare(const lo_node *node, void **params, lo_error *err) {
    shape_params *p = alloc_params(sizeof *p, err);
    if (!p) return err->status;
    *params = p;
    p->start = lo_attr_int(node, "start", 0);
    p->has_end = lo_attr_find(node, "end") != NULL;
    p->end = lo_attr_int(node, "end", 0);
    return LO_OK;
}

static lo_status shape_run(lo_kernel_ctx *ctx) {
    const shape_params *p = ctx->params;
    LO_TRY(need_in(ctx, 0, "data"));
    const lo_tensor *x = ctx->in[0];
    int64_t r = x->rank, start = p->start, end = p->has_end ? p->end : r;
    if (start < 0) start += r;
    if (end < 0) end += r;
    start = start < 0 ? 0 : start > r ? r : start;
    end = end < 0 ? 0 : end > r ? r : end;
    int64_t n = end > start ? end - start : 0;
    if (!has_out(ctx, 0)) return LO_OK;
    LO_TRY(lo_output(ctx, 0, LO_INT64, 1, &n));
    int64_t *o = ctx->out[0]->data;
    for (int64_t i = 0; i < n; i++) o[i] = x->dims[start + i];
    return LO_OK;
}

static lo_status size_run(lo_kernel_ctx *ctx) {
    LO_TRY(need_in(ctx, 0, "data"));
    if (!has_out(ctx, 0)) return LO_OK;
    LO_TRY(lo_output(ctx, 0, LO_INT64, 0, NULL));
    *(int64_t *)ctx->out[0]->data = lo_numel(ctx->in[0]);
    return LO_OK;
}

/* ---- Transpose ----------------------------------------------------------- */

typedef struct transpose_params {
    int n_perm; /* 0: reverse the axes */
    int64_t perm[LO_MAX_RANK];
} transpose_params;

static lo_status transpose_prepare(const lo_node *node, void **params, lo_error *err) {
    transpose_params *p = alloc_params(sizeof *p, err);
    if (!p) return err->status;
    *params = p;
    int64_t n;
    const int64_t *perm = lo_attr_ints(node, "perm", &n);
    if (n > LO_MAX_RANK)
        return prep_fail(node, err, LO_ERR_UNSUPPORTED, "perm of %lld axes", (long long)n);
    p->n_perm = (int)n;
    if (perm && n) memcpy(p->perm, perm, (size_t)n * sizeof *perm);
    return LO_OK;
}

static lo_status transpose_run(lo_kernel_ctx *ctx) {
    const transpose_params *p = ctx->params;
    LO_TRY(need_in(ctx, 0, "data"));
    const lo_tensor *x = ctx->in[0];
    int r = x->rank, perm[LO_MAX_RANK];
    bool seen[LO_MAX_RANK] = {0};
    if (p->n_perm == 0) {
        for (int d = 0; d < r; d++) perm[d] = r - 1 - d;
    } else {
        LO_CHECK(ctx, p->n_perm == r, "perm has %d axes, the input has rank %d", p->n_perm, r);
        for (int d = 0; d < r; d++) {
            LO_CHECK(ctx, p->perm[d] >= -r && p->perm[d] < r && !seen[(p->perm[d] + r) % r],
                     "perm is not a permutation of 0..%d", r - 1);
            perm[d] = (int)((p->perm[d] + r) % r);
            seen[perm[d]] = true;
        }
    }
    if (!has_out(ctx, 0)) return LO_OK;
    size_t esize;
    LO_TRY(element_size(ctx, x->dtype, &esize));
    int64_t dims[LO_MAX_RANK], strides[LO_MAX_RANK], *tables[LO_MAX_RANK];
    row_major_strides(r, x->dims, strides);
    for (int d = 0; d < r; d++) dims[d] = x->dims[perm[d]];
    LO_TRY(lo_output(ctx, 0, x->dtype, r, dims));
    int64_t *block = alloc_tables(ctx, r, dims, tables);
    if (!block) return ctx->err->status;
    for (int d = 0; d < r; d++)
        for (int64_t i = 0; i < dims[d]; i++) tables[d][i] = i * strides[perm[d]];
    lo_status st = gather_copy(ctx, ctx->out[0]->data, x->data, esize, r, dims, tables, NULL);
    free(block);
    LO_TRY(st);
    return own_strings(ctx, ctx->out[0]);
}

/* ---- Concat -------------------------------------------------------------- */

static lo_status concat_prepare(const lo_node *node, void **params, lo_error *err) {
    if (node->opset >= 4 && !lo_attr_find(node, "axis"))
        return prep_fail(node, err, LO_ERR_MODEL, "attribute 'axis' is required");
    return axis1_prepare(node, params, err);
}

static lo_status concat_run(lo_kernel_ctx *ctx) {
    const axis_params *p = ctx->params;
    LO_CHECK(ctx, ctx->n_in >= 1, "needs at least one input");
    const lo_tensor *first = NULL;
    for (int i = 0; i < ctx->n_in; i++) {
        LO_TRY(need_in(ctx, i, "input"));
        if (!first) first = ctx->in[i];
    }
    int r = first->rank, axis;
    LO_CHECK(ctx, r > 0, "cannot concatenate scalars");
    LO_CHECK(ctx, lo_norm_axis(p->axis, r, &axis), "axis %lld is out of range for rank %d",
             (long long)p->axis, r);
    int64_t dims[LO_MAX_RANK];
    memcpy(dims, first->dims, sizeof dims);
    dims[axis] = 0;
    for (int i = 0; i < ctx->n_in; i++) {
        const lo_tensor *t = ctx->in[i];
        LO_CHECK(ctx, t->dtype == first->dtype, "input %d is %s, input 0 is %s", i,
                 lo_dtype_name(t->dtype), lo_dtype_name(first->dtype));
        LO_CHECK(ctx, t->rank == r, "input %d has rank %d, input 0 has rank %d", i, t->rank, r);
        for (int d = 0; d < r; d++)
            LO_CHECK(ctx, d == axis || t->dims[d] == first->dims[d],
                     "input %d has size %lld on axis %d, input 0 has %lld", i,
                     (long long)t->dims[d], d, (long long)first->dims[d]);
        dims[axis] += t->dims[axis];
    }
    if (!has_out(ctx, 0)) return LO_OK;
    size_t esize;
    LO_TRY(element_size(ctx, first->dtype, &esize));
    LO_TRY(lo_output(ctx, 0, first->dtype, r, dims));
    lo_tensor *out = ctx->out[0];
    int64_t outer = lo_numel_dims(axis, dims);
    int64_t inner = lo_numel_dims(r - axis - 1, dims + axis + 1);
    size_t out_row = (size_t)(dims[axis] * inner) * esize;
    size_t at = 0;
    for (int i = 0; i < ctx->n_in; i++) {
        const lo_tensor *t = ctx->in[i];
        size_t row = (size_t)(t->dims[axis] * inner) * esize;
        if (row) {
#pragma omp parallel for schedule(static) if (outer * (int64_t)row > PARALLEL_MIN_ELEMENTS * 4)
            for (int64_t o = 0; o < outer; o++)
                memcpy((char *)out->data + (size_t)o * out_row + at,
                       (const char *)t->data + (size_t)o * row, row);
        }
        at += row;
    }
    return own_strings(ctx, out);
}

/* ---- Expand, Tile -------------------------------------------------------- */

static lo_status expand_run(lo_kernel_ctx *ctx) {
    LO_TRY(need_in(ctx, 0, "input"));
    LO_TRY(need_in(ctx, 1, "shape"));
    const lo_tensor *x = ctx->in[0];
    lo_tensor shape_as = {0};
    int n;
    LO_TRY(read_int_list(ctx, ctx->in[1], "shape", LO_MAX_RANK, shape_as.dims, &n));
    shape_as.rank = n;
    for (int i = 0; i < n; i++)
        LO_CHECK(ctx, shape_as.dims[i] >= 0, "shape[%d] is %lld", i, (long long)shape_as.dims[i]);
    const lo_tensor *both[2] = {x, &shape_as};
    int r;
    int64_t dims[LO_MAX_RANK], strides[LO_MAX_RANK], *tables[LO_MAX_RANK];
    LO_TRY(lo_broadcast_shape(2, both, &r, dims, ctx->err));
    if (!has_out(ctx, 0)) return LO_OK;
    size_t esize;
    LO_TRY(element_size(ctx, x->dtype, &esize));
    LO_TRY(lo_output(ctx, 0, x->dtype, r, dims));
    lo_broadcast_strides(x, r, dims, strides);
    int64_t *block = alloc_tables(ctx, r, dims, tables);
    if (!block) return ctx->err->status;
    for (int d = 0; d < r; d++)
        for (int64_t i = 0; i < dims[d]; i++) tables[d][i] = i * strides[d];
    lo_status st = gather_copy(ctx, ctx->out[0]->data, x->data, esize, r, dims, tables, NULL);
    free(block);
    LO_TRY(st);
    return own_strings(ctx, ctx->out[0]);
}

static lo_status tile_run(lo_kernel_ctx *ctx) {
    LO_TRY(need_in(ctx, 0, "input"));
    LO_TRY(need_in(ctx, 1, "repeats"));
    const lo_tensor *x = ctx->in[0];
    int r = x->rank;
    int64_t reps[LO_MAX_RANK];
    if (ctx->node->opset < 6) {
        /* Tile-1: a repeat count for one axis. */
        int64_t tiles, axis;
        LO_TRY(need_in(ctx, 2, "axis"));
        LO_TRY(read_scalar_i64(ctx, ctx->in[1], "tiles", &tiles));
        LO_TRY(read_scalar_i64(ctx, ctx->in[2], "axis", &axis));
        int a;
        LO_CHECK(ctx, lo_norm_axis(axis, r, &a) && r > 0, "axis %lld is out of range",
                 (long long)axis);
        for (int d = 0; d < r; d++) reps[d] = d == a ? tiles : 1;
    } else {
        int n;
        LO_TRY(read_int_list(ctx, ctx->in[1], "repeats", LO_MAX_RANK, reps, &n));
        LO_CHECK(ctx, n == r, "repeats has %d values, the input has rank %d", n, r);
    }
    int64_t dims[LO_MAX_RANK], strides[LO_MAX_RANK], *tables[LO_MAX_RANK];
    row_major_strides(r, x->dims, strides);
    for (int d = 0; d < r; d++) {
        LO_CHECK(ctx, reps[d] >= 0, "repeats[%d] is %lld", d, (long long)reps[d]);
        dims[d] = x->dims[d] * reps[d];
    }
    if (!has_out(ctx, 0)) return LO_OK;
    size_t esize;
    LO_TRY(element_size(ctx, x->dtype, &esize));
    LO_TRY(lo_output(ctx, 0, x->dtype, r, dims));
    int64_t *block = alloc_tables(ctx, r, dims, tables);
    if (!block) return ctx->err->status;
    for (int d = 0; d < r; d++)
        for (int64_t i = 0; i < dims[d]; i++) tables[d][i] = (i % x->dims[d]) * strides[d];
    lo_status st = gather_copy(ctx, ctx->out[0]->data, x->data, esize, r, dims, tables, NULL);
    free(block);
    LO_TRY(st);
    return own_strings(ctx, ctx->out[0]);
}

/* ---- Slice --------------------------------------------------------------- */

typedef struct slice_params {
    int n; /* Slice-1 attributes */
    bool has_axes;
    int64_t starts[LO_MAX_RANK], ends[LO_MAX_RANK], axes[LO_MAX_RANK];
} slice_params;

static lo_status slice_prepare(const lo_node *node, void **params, lo_error *err) {
    slice_params *p = alloc_params(sizeof *p, err);
    if (!p) return err->status;
    *params = p;
    if (node->opset >= 10) return LO_OK;
    int64_t ns, ne, na;
    const int64_t *starts = lo_attr_ints(node, "starts", &ns);
    const int64_t *ends = lo_attr_ints(node, "ends", &ne);
    const int64_t *axes = lo_attr_ints(node, "axes", &na);
    if (!starts || !ends)
        return prep_fail(node, err, LO_ERR_MODEL, "attributes 'starts' and 'ends' are required");
    if (ns != ne || (axes && na != ns))
        return prep_fail(node, err, LO_ERR_MODEL, "starts, ends and axes differ in length");
    if (ns > LO_MAX_RANK)
        return prep_fail(node, err, LO_ERR_UNSUPPORTED, "%lld sliced axes", (long long)ns);
    p->n = (int)ns;
    p->has_axes = axes != NULL;
    memcpy(p->starts, starts, (size_t)ns * sizeof(int64_t));
    memcpy(p->ends, ends, (size_t)ns * sizeof(int64_t));
    if (axes) memcpy(p->axes, axes, (size_t)ns * sizeof(int64_t));
    return LO_OK;
}

static lo_status slice_run(lo_kernel_ctx *ctx) {
    const slice_params *p = ctx->params;
    LO_TRY(need_in(ctx, 0, "data"));
    const lo_tensor *x = ctx->in[0];
    int r = x->rank, n;
    int64_t starts[LO_MAX_RANK], ends[LO_MAX_RANK], axes[LO_MAX_RANK], steps[LO_MAX_RANK];
    bool has_axes;
    if (ctx->node->opset < 10) {
        n = p->n;
        has_axes = p->has_axes;
        memcpy(starts, p->starts, sizeof starts);
        memcpy(ends, p->ends, sizeof ends);
        memcpy(axes, p->axes, sizeof axes);
        for (int i = 0; i < n; i++) steps[i] = 1;
    } else {
        int ne, na = 0, nst = 0;
        LO_TRY(need_in(ctx, 1, "starts"));
        LO_TRY(need_in(ctx, 2, "ends"));
        LO_TRY(read_int_list(ctx, ctx->in[1], "starts", LO_MAX_RANK, starts, &n));
        LO_TRY(read_int_list(ctx, ctx->in[2], "ends", LO_MAX_RANK, ends, &ne));
        LO_CHECK(ctx, ne == n, "starts has %d values, ends %d", n, ne);
        has_axes = has_in(ctx, 3);
        if (has_axes) {
            LO_TRY(read_int_list(ctx, ctx->in[3], "axes", LO_MAX_RANK, axes, &na));
            LO_CHECK(ctx, na == n, "axes has %d values, starts %d", na, n);
        }
        if (has_in(ctx, 4)) {
            LO_TRY(read_int_list(ctx, ctx->in[4], "steps", LO_MAX_RANK, steps, &nst));
            LO_CHECK(ctx, nst == n, "steps has %d values, starts %d", nst, n);
        } else {
            for (int i = 0; i < n; i++) steps[i] = 1;
        }
    }
    int64_t begin[LO_MAX_RANK], step[LO_MAX_RANK], dims[LO_MAX_RANK];
    bool seen[LO_MAX_RANK] = {0};
    for (int d = 0; d < r; d++) {
        begin[d] = 0;
        step[d] = 1;
        dims[d] = x->dims[d];
    }
    for (int i = 0; i < n; i++) {
        int a;
        int64_t axis = has_axes ? axes[i] : i;
        LO_CHECK(ctx, r > 0 && lo_norm_axis(axis, r, &a), "axis %lld is out of range for rank %d",
                 (long long)axis, r);
        LO_CHECK(ctx, !seen[a], "axis %d is sliced twice", a);
        seen[a] = true;
        int64_t dim = x->dims[a], s = starts[i], e = ends[i], st = steps[i], count;
        LO_CHECK(ctx, st != 0, "step of axis %d is 0", a);
        if (s < 0) s += dim;
        if (e < 0) e += dim;
        if (st > 0) {
            s = s < 0 ? 0 : s > dim ? dim : s;
            e = e < 0 ? 0 : e > dim ? dim : e;
            count = e > s ? (e - s - 1) / st + 1 : 0;
        } else {
            s = s > dim - 1 ? dim - 1 : s;
            s = s < 0 ? (dim > 0 ? 0 : -1) : s;
            e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
            int64_t magnitude = st == INT64_MIN ? INT64_MAX : -st;
            count = s > e ? (s - e - 1) / magnitude + 1 : 0;
        }
        begin[a] = s;
        step[a] = st;
        dims[a] = count;
    }
    if (!has_out(ctx, 0)) return LO_OK;
    size_t esize;
    LO_TRY(element_size(ctx, x->dtype, &esize));
    LO_TRY(lo_output(ctx, 0, x->dtype, r, dims));
    int64_t strides[LO_MAX_RANK], *tables[LO_MAX_RANK];
    row_major_strides(r, x->dims, strides);
    int64_t *block = alloc_tables(ctx, r, dims, tables);
    if (!block) return ctx->err->status;
    for (int d = 0; d < r; d++)
        for (int64_t i = 0; i < dims[d]; i++) tables[d][i] = (begin[d] + i * step[d]) * strides[d];
    lo_status st = gather_copy(ctx, ctx->out[0]->data, x->data, esize, r, dims, tables, NULL);
    free(block);
    LO_TRY(st);
    return own_strings(ctx, ctx->out[0]);
}

/* ---- Gather, GatherElements, GatherND ------------------------------------ */

/* Checks every index of `indices` against [-n, n). */
static lo_status check_indices(lo_kernel_ctx *ctx, const lo_tensor *indices, int64_t n) {
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

static int64_t index_at(const lo_tensor *indices, int64_t i, int64_t n) {
    int64_t v = indices->dtype == LO_INT64 ? ((const int64_t *)indices->data)[i]
                : indices->dtype == LO_INT32 ? ((const int32_t *)indices->data)[i]
                                             : lo_get_i64(indices, i);
    return v < 0 ? v + n : v;
}

static lo_status gather_run(lo_kernel_ctx *ctx) {
    const axis_params *p = ctx->params;
    LO_TRY(need_in(ctx, 0, "data"));
    LO_TRY(need_in(ctx, 1, "indices"));
    const lo_tensor *x = ctx->in[0], *ind = ctx->in[1];
    int r = x->rank, q = ind->rank, axis;
    LO_CHECK(ctx, r > 0 && lo_norm_axis(p->axis, r, &axis), "axis %lld is out of range for rank %d",
             (long long)p->axis, r);
    if (r - 1 + q > LO_MAX_RANK)
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "output rank %d is beyond %d", r - 1 + q,
                              LO_MAX_RANK);
    int64_t n = x->dims[axis];
    LO_TRY(check_indices(ctx, ind, n));
    int64_t dims[LO_MAX_RANK];
    int o_r = 0;
    for (int d = 0; d < axis; d++) dims[o_r++] = x->dims[d];
    for (int d = 0; d < q; d++) dims[o_r++] = ind->dims[d];
    for (int d = axis + 1; d < r; d++) dims[o_r++] = x->dims[d];
    if (!has_out(ctx, 0)) return LO_OK;
    size_t esize;
    LO_TRY(element_size(ctx, x->dtype, &esize));
    LO_TRY(lo_output(ctx, 0, x->dtype, o_r, dims));
    int64_t outer = lo_numel_dims(axis, x->dims), inner = lo_numel_dims(r - axis - 1, x->dims + axis + 1);
    int64_t count = lo_numel(ind);
    size_t block = (size_t)inner * esize;
    char *out = ctx->out[0]->data;
    const char *src = x->data;
#pragma omp parallel for schedule(static) if (outer * count * inner > PARALLEL_MIN_ELEMENTS)
    for (int64_t k = 0; k < outer * count; k++) {
        int64_t o = k / count, j = k % count;
        memcpy(out + (size_t)k * block, src + (size_t)(o * n + index_at(ind, j, n)) * block, block);
    }
    return own_strings(ctx, ctx->out[0]);
}

static lo_status gather_elements_run(lo_kernel_ctx *ctx) {
    const axis_params *p = ctx->params;
    LO_TRY(need_in(ctx, 0, "data"));
    LO_TRY(need_in(ctx, 1, "indices"));
    const lo_tensor *x = ctx->in[0], *ind = ctx->in[1];
    int r = x->rank, axis;
    LO_CHECK(ctx, r > 0 && lo_norm_axis(p->axis, r, &axis), "axis %lld is out of range for rank %d",
             (long long)p->axis, r);
    LO_CHECK(ctx, ind->rank == r, "indices have rank %d, data %d", ind->rank, r);
    for (int d = 0; d < r; d++)
        LO_CHECK(ctx, d == axis || ind->dims[d] <= x->dims[d],
                 "indices are larger than data on axis %d", d);
    int64_t n = x->dims[axis];
    LO_TRY(check_indices(ctx, ind, n));
    if (!has_out(ctx, 0)) return LO_OK;
    size_t esize;
    LO_TRY(element_size(ctx, x->dtype, &esize));
    LO_TRY(lo_output(ctx, 0, x->dtype, r, ind->dims));
    int64_t strides[LO_MAX_RANK];
    row_major_strides(r, x->dims, strides);
    int64_t count = lo_numel(ind);
    char *out = ctx->out[0]->data;
    const char *src = x->data;
#pragma omp parallel for schedule(static) if (count > PARALLEL_MIN_ELEMENTS)
    for (int64_t i = 0; i < count; i++) {
        int64_t rest = i, offset = 0;
        for (int d = r - 1; d >= 0; d--) {
            int64_t c = rest % ind->dims[d];
            rest /= ind->dims[d];
            offset += (d == axis ? index_at(ind, i, n) : c) * strides[d];
        }
        copy_element(out + (size_t)i * esize, src + (size_t)offset * esize, esize);
    }
    return own_strings(ctx, ctx->out[0]);
}

typedef struct gather_nd_params {
    int64_t batch_dims;
} gather_nd_params;

static lo_status batch_dims_prepare(const lo_node *node, void **params, lo_error *err) {
    gather_nd_params *p = alloc_params(sizeof *p, err);
    if (!p) return err->status;
    *params = p;
    p->batch_dims = lo_attr_int(node, "batch_dims", 0);
    if (p->batch_dims < 0)
        return prep_fail(node, err, LO_ERR_MODEL, "batch_dims is negative");
    return LO_OK;
}

/* Where GatherND and ScatterND find the slice each index tuple names:
 * offsets[t] in elements of data, for tuples in batch-major order. */
typedef struct nd_layout {
    int64_t n_batch, tuples_per_batch, k, slice, batch_stride;
} nd_layout;

static lo_status nd_tuple_offset(lo_kernel_ctx *ctx, const lo_tensor *data, const lo_tensor *ind,
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

static lo_status nd_check(lo_kernel_ctx *ctx, const lo_tensor *data, const lo_tensor *ind, int b,
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

static lo_status gather_nd_run(lo_kernel_ctx *ctx) {
    const gather_nd_params *p = ctx->params;
    LO_TRY(need_in(ctx, 0, "data"));
    LO_TRY(need_in(ctx, 1, "indices"));
    const lo_tensor *x = ctx->in[0], *ind = ctx->in[1];
    int b = (int)(p->batch_dims > LO_MAX_RANK ? LO_MAX_RANK : p->batch_dims);
    nd_layout l;
    LO_TRY(nd_check(ctx, x, ind, b, &l));
    int64_t dims[LO_MAX_RANK];
    int o_r = 0;
    if (ind->rank - 1 + x->rank - b - (int)l.k > LO_MAX_RANK)
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "output rank beyond %d", LO_MAX_RANK);
    for (int d = 0; d < ind->rank - 1; d++) dims[o_r++] = ind->dims[d];
    for (int d = b + (int)l.k; d < x->rank; d++) dims[o_r++] = x->dims[d];
    int64_t tuples = l.n_batch * l.tuples_per_batch;
    for (int64_t t = 0; t < tuples; t++) {
        int64_t off;
        LO_TRY(nd_tuple_offset(ctx, x, ind, &l, b, t, &off));
    }
    if (!has_out(ctx, 0)) return LO_OK;
    size_t esize;
    LO_TRY(element_size(ctx, x->dtype, &esize));
    LO_TRY(lo_output(ctx, 0, x->dtype, o_r, dims));
    size_t block = (size_t)l.slice * esize;
    for (int64_t t = 0; t < tuples; t++) {
        int64_t off;
        LO_TRY(nd_tuple_offset(ctx, x, ind, &l, b, t, &off));
        memcpy((char *)ctx->out[0]->data + (size_t)t * block,
               (const char *)x->data + (size_t)off * esize, block);
    }
    return own_strings(ctx, ctx->out[0]);
}

/* ---- Split --------------------------------------------------------------- */

typedef struct split_params {
    int64_t axis;
    int64_t num_outputs; /* 0: not given */
    bool has_split;      /* the attribute (before 13) */
    int64_t n_split;
    int64_t split[];
} split_params;

static lo_status split_prepare(const lo_node *node, void **params, lo_error *err) {
    int64_t n = 0;
    const int64_t *split = node->opset < 13 ? lo_attr_ints(node, "split", &n) : NULL;
    split_params *p = lo_calloc(1, sizeof *p + (size_t)n * sizeof(int64_t), err);
    if (!p) return err->status;
    *params = p;
    p->axis = lo_attr_int(node, "axis", 0);
    p->num_outputs = node->opset >= 18 ? lo_attr_int(node, "num_outputs", 0) : 0;
    if (lo_attr_find(node, "num_outputs") && p->num_outputs < 1 && node->opset >= 18)
        return prep_fail(node, err, LO_ERR_MODEL, "num_outputs must be positive");
    p->has_split = split != NULL;
    p->n_split = n;
    if (n) memcpy(p->split, split, (size_t)n * sizeof(int64_t));
    return LO_OK;
}

static lo_status split_run(lo_kernel_ctx *ctx) {
    const split_params *p = ctx->params;
    LO_TRY(need_in(ctx, 0, "input"));
    const lo_tensor *x = ctx->in[0];
    int r = x->rank, axis, n_out = ctx->n_out;
    LO_CHECK(ctx, r > 0 && lo_norm_axis(p->axis, r, &axis), "axis %lld is out of range for rank %d",
             (long long)p->axis, r);
    LO_CHECK(ctx, n_out >= 1, "has no outputs");
    int64_t dim = x->dims[axis];
    int64_t *sizes = lo_calloc((size_t)n_out, sizeof(int64_t), ctx->err);
    if (!sizes) return ctx->err->status;
    lo_status st = LO_OK;
    const lo_tensor *split_in = has_in(ctx, 1) ? ctx->in[1] : NULL;
    if (p->has_split || (split_in && lo_numel(split_in) > 0)) {
        int64_t n = p->has_split ? p->n_split : lo_numel(split_in), sum = 0;
        if (n != n_out) {
            st = lo_kernel_fail(ctx, LO_ERR_INPUT, "split lists %lld sizes for %d outputs",
                                (long long)n, n_out);
            goto done;
        }
        for (int i = 0; i < n_out; i++) {
            sizes[i] = p->has_split ? p->split[i] : lo_get_i64(split_in, i);
            if (sizes[i] < 0) {
                st = lo_kernel_fail(ctx, LO_ERR_INPUT, "split size %lld", (long long)sizes[i]);
                goto done;
            }
            sum += sizes[i];
        }
        if (sum != dim) {
            st = lo_kernel_fail(ctx, LO_ERR_INPUT, "split sizes add up to %lld, axis %d has %lld",
                                (long long)sum, axis, (long long)dim);
            goto done;
        }
    } else if (p->num_outputs) {
        if (p->num_outputs != n_out) {
            st = lo_kernel_fail(ctx, LO_ERR_MODEL, "num_outputs is %lld but the node has %d outputs",
                                (long long)p->num_outputs, n_out);
            goto done;
        }
        int64_t chunk = (dim + n_out - 1) / n_out, left = dim;
        for (int i = 0; i < n_out; i++) {
            sizes[i] = left < chunk ? left : chunk;
            left -= sizes[i];
        }
    } else {
        if (dim % n_out) {
            st = lo_kernel_fail(ctx, LO_ERR_INPUT, "axis %d of size %lld does not split into %d equal parts",
                                axis, (long long)dim, n_out);
            goto done;
        }
        for (int i = 0; i < n_out; i++) sizes[i] = dim / n_out;
    }
    size_t esize;
    st = element_size(ctx, x->dtype, &esize);
    if (st) goto done;
    int64_t outer = lo_numel_dims(axis, x->dims), inner = lo_numel_dims(r - axis - 1, x->dims + axis + 1);
    size_t in_row = (size_t)(dim * inner) * esize, at = 0;
    for (int i = 0; i < n_out; i++) {
        size_t row = (size_t)(sizes[i] * inner) * esize;
        if (has_out(ctx, i)) {
            int64_t dims[LO_MAX_RANK];
            memcpy(dims, x->dims, sizeof dims);
            dims[axis] = sizes[i];
            st = lo_output(ctx, i, x->dtype, r, dims);
            if (st) goto done;
            char *o = ctx->out[i]->data;
            if (row)
                for (int64_t k = 0; k < outer; k++)
                    memcpy(o + (size_t)k * row, (const char *)x->data + (size_t)k * in_row + at, row);
            st = own_strings(ctx, ctx->out[i]);
            if (st) goto done;
        }
        at += row;
    }
done:
    free(sizes);
    return st;
}

/* ---- Pad ----------------------------------------------------------------- */

typedef enum pad_mode { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP } pad_mode;

typedef struct pad_params {
    pad_mode mode;
    bool pads_from_attr; /* Pad-1/2 */
    int n_pads;
    int64_t pads[2 * LO_MAX_RANK];
    double value;
} pad_params;

static lo_status pad_prepare(const lo_node *node, void **params, lo_error *err) {
    pad_params *p = alloc_params(sizeof *p, err);
    if (!p) return err->status;
    *params = p;
    const char *mode = lo_attr_string(node, "mode", "constant");
    if (!strcmp(mode, "constant")) p->mode = PAD_CONSTANT;
    else if (!strcmp(mode, "reflect")) p->mode = PAD_REFLECT;
    else if (!strcmp(mode, "edge")) p->mode = PAD_EDGE;
    else if (!strcmp(mode, "wrap")) p->mode = PAD_WRAP;
    else return prep_fail(node, err, LO_ERR_UNSUPPORTED, "mode '%s'", mode);
    if (node->opset < 11) {
        int64_t n;
        const int64_t *pads = lo_attr_ints(node, node->opset < 2 ? "paddings" : "pads", &n);
        if (!pads) return prep_fail(node, err, LO_ERR_MODEL, "attribute 'pads' is required");
        if (n > 2 * LO_MAX_RANK)
            return prep_fail(node, err, LO_ERR_UNSUPPORTED, "%lld pads", (long long)n);
        p->pads_from_attr = true;
        p->n_pads = (int)n;
        memcpy(p->pads, pads, (size_t)n * sizeof *pads);
        p->value = lo_attr_float(node, "value", 0.0f);
    }
    return LO_OK;
}

/* Where output position i of one axis reads: a position of the input, or
 * -1 for the constant. The input is first cropped by negative pads. */
static int64_t pad_source(pad_mode mode, int64_t i, int64_t lead, int64_t crop, int64_t kept) {
    int64_t pos = i - lead;
    if (pos >= 0 && pos < kept) return crop + pos;
    switch (mode) {
    case PAD_CONSTANT: return -1;
    case PAD_EDGE: return crop + (pos < 0 ? 0 : kept - 1);
    case PAD_WRAP: return crop + ((pos % kept) + kept) % kept;
    case PAD_REFLECT: {
        if (kept == 1) return crop;
        int64_t period = 2 * (kept - 1), q = ((pos % period) + period) % period;
        return crop + (q >= kept ? period - q : q);
    }
    }
    return -1;
}

static lo_status pad_run(lo_kernel_ctx *ctx) {
    const pad_params *p = ctx->params;
    LO_TRY(need_in(ctx, 0, "data"));
    const lo_tensor *x = ctx->in[0];
    int r = x->rank, n;
    int64_t raw[2 * LO_MAX_RANK], axes[LO_MAX_RANK];
    if (p->pads_from_attr) {
        n = p->n_pads;
        memcpy(raw, p->pads, sizeof raw);
    } else {
        LO_TRY(need_in(ctx, 1, "pads"));
        LO_TRY(read_int_list(ctx, ctx->in[1], "pads", 2 * LO_MAX_RANK, raw, &n));
    }
    int n_axes = r;
    if (ctx->node->opset >= 18 && has_in(ctx, 3)) {
        LO_TRY(read_int_list(ctx, ctx->in[3], "axes", LO_MAX_RANK, axes, &n_axes));
    } else {
        for (int d = 0; d < r; d++) axes[d] = d;
    }
    LO_CHECK(ctx, n == 2 * n_axes, "pads has %d values for %d axes", n, n_axes);
    int64_t begin[LO_MAX_RANK] = {0}, end[LO_MAX_RANK] = {0};
    for (int i = 0; i < n_axes; i++) {
        int a;
        LO_CHECK(ctx, r > 0 && lo_norm_axis(axes[i], r, &a), "axis %lld is out of range",
                 (long long)axes[i]);
        begin[a] = raw[i];
        end[a] = raw[n_axes + i];
    }
    size_t esize;
    LO_TRY(element_size(ctx, x->dtype, &esize));
    /* The fill element, in the data's own type. */
    union {
        unsigned char bytes[16];
        const char *string;
    } fill;
    memset(&fill, 0, sizeof fill);
    if (p->pads_from_attr) {
        if (x->dtype != LO_STRING && esize <= sizeof fill.bytes) {
            lo_tensor one = {.dtype = x->dtype, .data = fill.bytes, .nbytes = esize};
            lo_set_f64(&one, 0, p->value);
        }
    } else if (has_in(ctx, 2) && lo_numel(ctx->in[2]) > 0) {
        const lo_tensor *cv = ctx->in[2];
        LO_CHECK(ctx, cv->dtype == x->dtype, "constant_value is %s, data is %s",
                 lo_dtype_name(cv->dtype), lo_dtype_name(x->dtype));
        LO_CHECK(ctx, esize <= sizeof fill.bytes, "element type too wide");
        memcpy(fill.bytes, cv->data, esize);
    }
    int64_t dims[LO_MAX_RANK], strides[LO_MAX_RANK], *tables[LO_MAX_RANK];
    for (int d = 0; d < r; d++) {
        dims[d] = x->dims[d] + begin[d] + end[d];
        LO_CHECK(ctx, dims[d] >= 0, "pads make axis %d negative", d);
        int64_t crop = begin[d] < 0 ? -begin[d] : 0;
        int64_t kept = x->dims[d] - crop - (end[d] < 0 ? -end[d] : 0);
        LO_CHECK(ctx, p->mode == PAD_CONSTANT || kept > 0 || dims[d] == 0,
                 "cannot pad an empty axis %d in this mode", d);
    }
    if (!has_out(ctx, 0)) return LO_OK;
    LO_TRY(lo_output(ctx, 0, x->dtype, r, dims));
    row_major_strides(r, x->dims, strides);
    int64_t *block = alloc_tables(ctx, r, dims, tables);
    if (!block) return ctx->err->status;
    for (int d = 0; d < r; d++) {
        int64_t crop = begin[d] < 0 ? -begin[d] : 0;
        int64_t kept = x->dims[d] - crop - (end[d] < 0 ? -end[d] : 0);
        int64_t lead = begin[d] > 0 ? begin[d] : 0;
        for (int64_t i = 0; i < dims[d]; i++) {
            int64_t s = pad_source(p->mode, i, lead, crop, kept);
            tables[d][i] = s < 0 ? -1 : s * strides[d];
        }
    }
    lo_status st = gather_copy(ctx, ctx->out[0]->data, x->data, esize, r, dims, tables, &fill);
    free(block);
    LO_TRY(st);
    return own_strings(ctx, ctx->out[0]);
}

/* ---- DepthToSpace, SpaceToDepth ------------------------------------------ */

typedef struct block_params {
    int64_t blocksize;
    bool crd;
} block_params;

static lo_status block_prepare(const lo_node *node, void **params, lo_error *err) {
    block_params *p = alloc_params(sizeof *p, err);
    if (!p) return err->status;
    *params = p;
    const lo_attr *a = lo_attr_find(node, "blocksize");
    if (!a) return prep_fail(node, err, LO_ERR_MODEL, "attribute 'blocksize' is required");
    p->blocksize = a->i;
    if (p->blocksize < 1)
        return prep_fail(node, err, LO_ERR_MODEL, "blocksize %lld", (long long)p->blocksize);
    const char *mode = lo_attr_string(node, "mode", "DCR");
    if (!strcmp(mode, "CRD")) p->crd = true;
    else if (strcmp(mode, "DCR")) return prep_fail(node, err, LO_ERR_UNSUPPORTED, "mode '%s'", mode);
    return LO_OK;
}

static lo_status depth_space_run(lo_kernel_ctx *ctx, bool to_space) {
    const block_params *p = ctx->params;
    LO_TRY(need_in(ctx, 0, "input"));
    const lo_tensor *x = ctx->in[0];
    LO_CHECK(ctx, x->rank == 4, "input must be 4-D, got rank %d", x->rank);
    int64_t b = p->blocksize, N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
    int64_t sN = C * H * W, sC = H * W, sH = W, dims[4];
    if (to_space) {
        LO_CHECK(ctx, C % (b * b) == 0, "channels %lld are not a multiple of blocksize^2",
                 (long long)C);
        dims[0] = N, dims[1] = C / (b * b), dims[2] = H * b, dims[3] = W * b;
    } else {
        LO_CHECK(ctx, H % b == 0 && W % b == 0, "spatial size %lldx%lld is not a multiple of %lld",
                 (long long)H, (long long)W, (long long)b);
        dims[0] = N, dims[1] = C * b * b, dims[2] = H / b, dims[3] = W / b;
    }
    if (!has_out(ctx, 0)) return LO_OK;
    size_t esize;
    LO_TRY(element_size(ctx, x->dtype, &esize));
    LO_TRY(lo_output(ctx, 0, x->dtype, 4, dims));
    int64_t *tables[4];
    int64_t *block = alloc_tables(ctx, 4, dims, tables);
    if (!block) return ctx->err->status;
    for (int64_t i = 0; i < dims[0]; i++) tables[0][i] = i * sN;
    if (to_space) {
        int64_t c_out = dims[1];
        for (int64_t c = 0; c < dims[1]; c++) tables[1][c] = (p->crd ? c * b * b : c) * sC;
        for (int64_t h = 0; h < dims[2]; h++)
            tables[2][h] = (h / b) * sH + (p->crd ? (h % b) * b : (h % b) * b * c_out) * sC;
        for (int64_t w = 0; w < dims[3]; w++)
            tables[3][w] = (w / b) + (p->crd ? (w % b) : (w % b) * c_out) * sC;
    } else {
        for (int64_t c = 0; c < dims[1]; c++) {
            /* DCR: channel = (bh * b + bw) * C + c; CRD: c * b * b + bh * b + bw */
            int64_t blk = p->crd ? c % (b * b) : c / C, src_c = p->crd ? c / (b * b) : c % C;
            tables[1][c] = src_c * sC + (blk / b) * sH + (blk % b);
        }
        for (int64_t h = 0; h < dims[2]; h++) tables[2][h] = h * b * sH;
        for (int64_t w = 0; w < dims[3]; w++) tables[3][w] = w * b;
    }
    lo_status st = gather_copy(ctx, ctx->out[0]->data, x->data, esize, 4, dims, tables, NULL);
    free(block);
    LO_TRY(st);
    return own_strings(ctx, ctx->out[0]);
}

static lo_status depth_to_space_run(lo_kernel_ctx *ctx) { return depth_space_run(ctx, true); }
static lo_status space_to_depth_run(lo_kernel_ctx *ctx) { return depth_space_run(ctx, false); }

/* ---- element arithmetic for Scatter reductions, CumSum, Unique ----------- */

/* Reads one element of any numeric type, by viewing it as a 1-element tensor. */
static double element_f64(lo_dtype dtype, const void *p) {
    lo_tensor t = {.dtype = dtype, .data = (void *)p};
    return lo_get_f64(&t, 0);
}

static int64_t element_i64(lo_dtype dtype, const void *p) {
    lo_tensor t = {.dtype = dtype, .data = (void *)p};
    return lo_get_i64(&t, 0);
}

static bool is_numeric(lo_dtype dtype) {
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

static double reduce_f64(reduction red, double a, double b) {
    switch (red) {
    case RED_ADD: return a + b;
    case RED_MUL: return a * b;
    case RED_MAX: return isnan(a) || isnan(b) ? NAN : a > b ? a : b;
    case RED_MIN: return isnan(a) || isnan(b) ? NAN : a < b ? a : b;
    default: return b;
    }
}

/* dst = dst (op) src for one element; RED_NONE overwrites. */
static void reduce_element(lo_dtype dtype, size_t esize, reduction red, char *dst, const char *src) {
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
static int compare_elements(lo_dtype dtype, const void *a, const void *b) {
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

/* ---- ScatterElements, Scatter, ScatterND --------------------------------- */

typedef struct scatter_params {
    int64_t axis;
    reduction red;
} scatter_params;

static lo_status scatter_prepare(const lo_node *node, void **params, lo_error *err) {
    scatter_params *p = alloc_params(sizeof *p, err);
    if (!p) return err->status;
    *params = p;
    p->axis = lo_attr_int(node, "axis", 0);
    const char *red = lo_attr_string(node, "reduction", "none");
    if (!strcmp(red, "none")) p->red = RED_NONE;
    else if (!strcmp(red, "add")) p->red = RED_ADD;
    else if (!strcmp(red, "mul")) p->red = RED_MUL;
    else if (!strcmp(red, "max")) p->red = RED_MAX;
    else if (!strcmp(red, "min")) p->red = RED_MIN;
    else return prep_fail(node, err, LO_ERR_UNSUPPORTED, "reduction '%s'", red);
    return LO_OK;
}

static lo_status scatter_check_reduction(lo_kernel_ctx *ctx, lo_dtype dtype, reduction red) {
    if (red != RED_NONE && !is_numeric(dtype))
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "reduction on %s", lo_dtype_name(dtype));
    return LO_OK;
}

static lo_status scatter_elements_run(lo_kernel_ctx *ctx) {
    const scatter_params *p = ctx->params;
    LO_TRY(need_in(ctx, 0, "data"));
    LO_TRY(need_in(ctx, 1, "indices"));
    LO_TRY(need_in(ctx, 2, "updates"));
    const lo_tensor *x = ctx->in[0], *ind = ctx->in[1], *upd = ctx->in[2];
    int r = x->rank, axis;
    LO_CHECK(ctx, r > 0 && lo_norm_axis(p->axis, r, &axis), "axis %lld is out of range for rank %d",
             (long long)p->axis, r);
    LO_CHECK(ctx, ind->rank == r && upd->rank == r, "data, indices and updates differ in rank");
    LO_CHECK(ctx, upd->dtype == x->dtype, "updates are %s, data %s", lo_dtype_name(upd->dtype),
             lo_dtype_name(x->dtype));
    for (int d = 0; d < r; d++) {
        LO_CHECK(ctx, ind->dims[d] == upd->dims[d], "indices and updates differ in shape");
        LO_CHECK(ctx, d == axis || ind->dims[d] <= x->dims[d],
                 "indices are larger than data on axis %d", d);
    }
    LO_TRY(check_indices(ctx, ind, x->dims[axis]));
    LO_TRY(scatter_check_reduction(ctx, x->dtype, p->red));
    if (!has_out(ctx, 0)) return LO_OK;
    size_t esize;
    LO_TRY(element_size(ctx, x->dtype, &esize));
    LO_TRY(lo_output(ctx, 0, x->dtype, r, x->dims));
    char *out = ctx->out[0]->data;
    if (x->nbytes) memcpy(out, x->data, x->nbytes);
    int64_t strides[LO_MAX_RANK], count = lo_numel(ind);
    row_major_strides(r, x->dims, strides);
    for (int64_t i = 0; i < count; i++) {
        int64_t rest = i, offset = 0;
        for (int d = r - 1; d >= 0; d--) {
            int64_t c = rest % ind->dims[d];
            rest /= ind->dims[d];
            offset += (d == axis ? index_at(ind, i, x->dims[axis]) : c) * strides[d];
        }
        reduce_element(x->dtype, esize, p->red, out + (size_t)offset * esize,
                       (const char *)upd->data + (size_t)i * esize);
    }
    return own_strings(ctx, ctx->out[0]);
}

static lo_status scatter_nd_run(lo_kernel_ctx *ctx) {
    const scatter_params *p = ctx->params;
    LO_TRY(need_in(ctx, 0, "data"));
    LO_TRY(need_in(ctx, 1, "indices"));
    LO_TRY(need_in(ctx, 2, "updates"));
    const lo_tensor *x = ctx->in[0], *ind = ctx->in[1], *upd = ctx->in[2];
    nd_layout l;
    LO_TRY(nd_check(ctx, x, ind, 0, &l));
    LO_CHECK(ctx, upd->dtype == x->dtype, "updates are %s, data %s", lo_dtype_name(upd->dtype),
             lo_dtype_name(x->dtype));
    int q = ind->rank;
    bool shape_ok = upd->rank == q - 1 + x->rank - (int)l.k;
    for (int d = 0; shape_ok && d < q - 1; d++) shape_ok = upd->dims[d] == ind->dims[d];
    for (int d = (int)l.k; shape_ok && d < x->rank; d++)
        shape_ok = upd->dims[q - 1 + d - l.k] == x->dims[d];
    LO_CHECK(ctx, shape_ok, "updates must have shape indices.shape[:-1] + data.shape[k:]");
    LO_TRY(scatter_check_reduction(ctx, x->dtype, p->red));
    int64_t tuples = l.n_batch * l.tuples_per_batch;
    for (int64_t t = 0; t < tuples; t++) {
        int64_t off;
        LO_TRY(nd_tuple_offset(ctx, x, ind, &l, 0, t, &off));
    }
    if (!has_out(ctx, 0)) return LO_OK;
    size_t esize;
    LO_TRY(element_size(ctx, x->dtype, &esize));
    LO_TRY(lo_output(ctx, 0, x->dtype, x->rank, x->dims));
    char *out = ctx->out[0]->data;
    if (x->nbytes) memcpy(out, x->data, x->nbytes);
    for (int64_t t = 0; t < tuples; t++) {
        int64_t off;
        LO_TRY(nd_tuple_offset(ctx, x, ind, &l, 0, t, &off));
        const char *u = (const char *)upd->data + (size_t)(t * l.slice) * esize;
        char *o = out + (size_t)off * esize;
        if (p->red == RED_NONE) {
            memcpy(o, u, (size_t)l.slice * esize);
            continue;
        }
        for (int64_t j = 0; j < l.slice; j++)
            reduce_element(x->dtype, esize, p->red, o + (size_t)j * esize, u + (size_t)j * esize);
    }
    return own_strings(ctx, ctx->out[0]);
}

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

/* ---- CumSum -------------------------------------------------------------- */

typedef struct cumsum_params {
    bool exclusive, reverse;
} cumsum_params;

static lo_status cumsum_prepare(const lo_node *node, void **params, lo_error *err) {
    cumsum_params *p = alloc_params(sizeof *p, err);
    if (!p) return err->status;
    *params = p;
    p->exclusive = lo_attr_int(node, "exclusive", 0) != 0;
    p->reverse = lo_attr_int(node, "reverse", 0) != 0;
    return LO_OK;
}

#define CUMSUM_LOOP(TYPE, ACC, ADD)                                                    \
    do {                                                                               \
        const TYPE *in = x->data;                                                      \
        TYPE *o = out->data;                                                           \
        for (int64_t b = 0; b < outer; b++)                                            \
            for (int64_t i = 0; i < inner; i++) {                                      \
                ACC acc = 0;                                                           \
                for (int64_t s = 0; s < n; s++) {                                      \
                    int64_t j = p->reverse ? n - 1 - s : s;                            \
                    size_t at = (size_t)((b * n + j) * inner + i);                     \
                    if (p->exclusive) {                                                \
                        o[at] = (TYPE)acc;                                             \
                        acc = ADD(acc, in[at]);                                        \
                    } else {                                                           \
                        acc = ADD(acc, in[at]);                                        \
                        o[at] = (TYPE)acc;                                             \
                    }                                                                  \
                }                                                                      \
            }                                                                          \
    } while (0)

#define ADD_PLAIN(a, b) ((a) + (b))
#define ADD_WRAP(a, b) ((uint64_t)(a) + (uint64_t)(b))

static lo_status cumsum_run(lo_kernel_ctx *ctx) {
    const cumsum_params *p = ctx->params;
    LO_TRY(need_in(ctx, 0, "x"));
    LO_TRY(need_in(ctx, 1, "axis"));
    const lo_tensor *x = ctx->in[0];
    int64_t axis_v;
    LO_TRY(read_scalar_i64(ctx, ctx->in[1], "axis", &axis_v));
    int axis;
    LO_CHECK(ctx, x->rank > 0 && lo_norm_axis(axis_v, x->rank, &axis),
             "axis %lld is out of range for rank %d", (long long)axis_v, x->rank);
    if (!has_out(ctx, 0)) return LO_OK;
    LO_TRY(lo_output(ctx, 0, x->dtype, x->rank, x->dims));
    lo_tensor *out = ctx->out[0];
    int64_t n = x->dims[axis], outer = lo_numel_dims(axis, x->dims);
    int64_t inner = lo_numel_dims(x->rank - axis - 1, x->dims + axis + 1);
    switch (x->dtype) {
    case LO_FLOAT: CUMSUM_LOOP(float, float, ADD_PLAIN); break;
    case LO_DOUBLE: CUMSUM_LOOP(double, double, ADD_PLAIN); break;
    case LO_INT32: CUMSUM_LOOP(int32_t, uint64_t, ADD_WRAP); break;
    case LO_INT64: CUMSUM_LOOP(int64_t, uint64_t, ADD_WRAP); break;
    case LO_UINT32: CUMSUM_LOOP(uint32_t, uint64_t, ADD_WRAP); break;
    case LO_UINT64: CUMSUM_LOOP(uint64_t, uint64_t, ADD_WRAP); break;
    case LO_INT8: CUMSUM_LOOP(int8_t, uint64_t, ADD_WRAP); break;
    case LO_UINT8: CUMSUM_LOOP(uint8_t, uint64_t, ADD_WRAP); break;
    case LO_INT16: CUMSUM_LOOP(int16_t, uint64_t, ADD_WRAP); break;
    case LO_UINT16: CUMSUM_LOOP(uint16_t, uint64_t, ADD_WRAP); break;
    case LO_FLOAT16: case LO_BFLOAT16:
        /* accumulate in the type itself, rounding after every step as a
         * float16 add does */
        for (int64_t b = 0; b < outer; b++)
            for (int64_t i = 0; i < inner; i++) {
                float acc = 0;
                for (int64_t s = 0; s < n; s++) {
                    int64_t j = p->reverse ? n - 1 - s : s;
                    int64_t at = (b * n + j) * inner + i;
                    float next = acc + (float)lo_get_f64(x, at);
                    next = x->dtype == LO_FLOAT16 ? lo_half_to_float(lo_float_to_half(next))
                                                  : lo_bfloat16_to_float(lo_float_to_bfloat16(next));
                    lo_set_f64(out, at, p->exclusive ? acc : next);
                    acc = next;
                }
            }
        break;
    default:
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "type %s", lo_dtype_name(x->dtype));
    }
    return LO_OK;
}

/* ---- ReverseSequence, Compress ------------------------------------------ */

typedef struct reverse_sequence_params {
    int64_t batch_axis, time_axis;
} reverse_sequence_params;

static lo_status reverse_sequence_prepare(const lo_node *node, void **params, lo_error *err) {
    reverse_sequence_params *p = alloc_params(sizeof *p, err);
    if (!p) return err->status;
    *params = p;
    p->batch_axis = lo_attr_int(node, "batch_axis", 1);
    p->time_axis = lo_attr_int(node, "time_axis", 0);
    if (!((p->batch_axis == 0 && p->time_axis == 1) || (p->batch_axis == 1 && p->time_axis == 0)))
        return prep_fail(node, err, LO_ERR_MODEL, "batch_axis and time_axis must be 0 and 1");
    return LO_OK;
}

static lo_status reverse_sequence_run(lo_kernel_ctx *ctx) {
    const reverse_sequence_params *p = ctx->params;
    LO_TRY(need_in(ctx, 0, "input"));
    LO_TRY(need_in(ctx, 1, "sequence_lens"));
    const lo_tensor *x = ctx->in[0], *lens = ctx->in[1];
    LO_CHECK(ctx, x->rank >= 2, "input must have rank >= 2");
    int64_t batch = x->dims[p->batch_axis], time = x->dims[p->time_axis];
    LO_CHECK(ctx, lo_dtype_is_int(lens->dtype) && lens->rank == 1 && lens->dims[0] == batch,
             "sequence_lens must be 1-D integers, one per batch entry");
    for (int64_t b = 0; b < batch; b++) {
        int64_t len = lo_get_i64(lens, b);
        LO_CHECK(ctx, len >= 0 && len <= time, "sequence length %lld is outside [0, %lld]",
                 (long long)len, (long long)time);
    }
    if (!has_out(ctx, 0)) return LO_OK;
    size_t esize;
    LO_TRY(element_size(ctx, x->dtype, &esize));
    LO_TRY(lo_output(ctx, 0, x->dtype, x->rank, x->dims));
    char *out = ctx->out[0]->data;
    const char *src = x->data;
    if (x->nbytes) memcpy(out, src, x->nbytes);
    int64_t inner = lo_numel_dims(x->rank - 2, x->dims + 2);
    size_t block = (size_t)inner * esize;
    for (int64_t b = 0; b < batch; b++) {
        int64_t len = lo_get_i64(lens, b);
        for (int64_t t = 0; t < len; t++) {
            int64_t to = p->batch_axis == 0 ? b * time + t : t * batch + b;
            int64_t from = p->batch_axis == 0 ? b * time + (len - 1 - t) : (len - 1 - t) * batch + b;
            memcpy(out + (size_t)to * block, src + (size_t)from * block, block);
        }
    }
    return own_strings(ctx, ctx->out[0]);
}

static lo_status compress_run(lo_kernel_ctx *ctx) {
    const axis_params *p = ctx->params;
    LO_TRY(need_in(ctx, 0, "input"));
    LO_TRY(need_in(ctx, 1, "condition"));
    const lo_tensor *x = ctx->in[0], *cond = ctx->in[1];
    LO_CHECK(ctx, cond->rank == 1 && is_numeric(cond->dtype), "condition must be a 1-D bool tensor");
    int64_t outer, n, inner;
    int axis = 0;
    if (p->has_axis) {
        LO_CHECK(ctx, x->rank > 0 && lo_norm_axis(p->axis, x->rank, &axis),
                 "axis %lld is out of range for rank %d", (long long)p->axis, x->rank);
        outer = lo_numel_dims(axis, x->dims);
        n = x->dims[axis];
        inner = lo_numel_dims(x->rank - axis - 1, x->dims + axis + 1);
    } else {
        outer = 1;
        n = lo_numel(x);
        inner = 1;
    }
    int64_t selected = 0, clen = cond->dims[0];
    for (int64_t i = 0; i < clen; i++) {
        if (lo_get_f64(cond, i) == 0) continue;
        LO_CHECK(ctx, i < n, "condition selects index %lld beyond %lld", (long long)i, (long long)n);
        selected++;
    }
    int64_t dims[LO_MAX_RANK];
    int r = 1;
    if (p->has_axis) {
        r = x->rank;
        memcpy(dims, x->dims, sizeof dims);
        dims[axis] = selected;
    } else {
        dims[0] = selected;
    }
    if (!has_out(ctx, 0)) return LO_OK;
    size_t esize;
    LO_TRY(element_size(ctx, x->dtype, &esize));
    LO_TRY(lo_output(ctx, 0, x->dtype, r, dims));
    char *out = ctx->out[0]->data;
    const char *src = x->data;
    size_t block = (size_t)inner * esize;
    int64_t at = 0;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < clen && i < n; i++)
            if (lo_get_f64(cond, i) != 0)
                memcpy(out + (size_t)(at++) * block, src + (size_t)(o * n + i) * block, block);
    return own_strings(ctx, ctx->out[0]);
}

/* ---- Unique -------------------------------------------------------------- */

typedef struct unique_params {
    bool sorted, has_axis;
    int64_t axis;
} unique_params;

static lo_status unique_prepare(const lo_node *node, void **params, lo_error *err) {
    unique_params *p = alloc_params(sizeof *p, err);
    if (!p) return err->status;
    *params = p;
    p->sorted = lo_attr_int(node, "sorted", 1) != 0;
    p->has_axis = lo_attr_find(node, "axis") != NULL;
    p->axis = lo_attr_int(node, "axis", 0);
    return LO_OK;
}

/* The slices Unique compares: slice j is elements (o, j, i) for all o, i. */
typedef struct slice_view {
    const char *data;
    lo_dtype dtype;
    size_t esize;
    int64_t outer, n, inner;
} slice_view;

static int compare_slices(const slice_view *v, int64_t a, int64_t b) {
    for (int64_t o = 0; o < v->outer; o++)
        for (int64_t i = 0; i < v->inner; i++) {
            int c = compare_elements(v->dtype, v->data + (size_t)((o * v->n + a) * v->inner + i) * v->esize,
                                     v->data + (size_t)((o * v->n + b) * v->inner + i) * v->esize);
            if (c) return c;
        }
    return 0;
}

/* Stable bottom-up merge sort of slice numbers, so that equal slices keep
 * their order and the first of each group is its first occurrence. */
static void sort_slices(const slice_view *v, int64_t *idx, int64_t *tmp, int64_t n) {
    for (int64_t width = 1; width < n; width *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * width) {
            int64_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            int64_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) tmp[k++] = compare_slices(v, idx[j], idx[i]) < 0 ? idx[j++] : idx[i++];
            while (i < mid) tmp[k++] = idx[i++];
            while (j < hi) tmp[k++] = idx[j++];
        }
        memcpy(idx, tmp, (size_t)n * sizeof *idx);
    }
}

static int compare_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static lo_status unique_run(lo_kernel_ctx *ctx) {
    const unique_params *p = ctx->params;
    LO_TRY(need_in(ctx, 0, "X"));
    const lo_tensor *x = ctx->in[0];
    slice_view v = {.data = x->data, .dtype = x->dtype};
    LO_TRY(element_size(ctx, x->dtype, &v.esize));
    LO_CHECK(ctx, x->dtype != LO_COMPLEX64 && x->dtype != LO_COMPLEX128, "complex input");
    int axis = 0;
    if (p->has_axis) {
        LO_CHECK(ctx, x->rank > 0 && lo_norm_axis(p->axis, x->rank, &axis),
                 "axis %lld is out of range for rank %d", (long long)p->axis, x->rank);
        v.outer = lo_numel_dims(axis, x->dims);
        v.n = x->dims[axis];
        v.inner = lo_numel_dims(x->rank - axis - 1, x->dims + axis + 1);
    } else {
        v.outer = 1;
        v.n = lo_numel(x);
        v.inner = 1;
    }
    int64_t n = v.n;
    /* order | tmp | group_of | first | count, n each */
    int64_t *work = lo_malloc((size_t)(5 * (n ? n : 1)) * sizeof(int64_t), ctx->err);
    if (!work) return ctx->err->status;
    int64_t *order = work, *tmp = work + n, *group_of = work + 2 * n, *first = work + 3 * n,
            *count = work + 4 * n;
    for (int64_t i = 0; i < n; i++) order[i] = i;
    sort_slices(&v, order, tmp, n);
    int64_t groups = 0;
    for (int64_t s = 0; s < n; s++) {
        if (s == 0 || compare_slices(&v, order[s - 1], order[s]) != 0) {
            first[groups] = order[s];
            count[groups++] = 0;
        }
        group_of[order[s]] = groups - 1;
        count[groups - 1]++;
    }
    /* rank[g]: where group g goes in the output. */
    int64_t *rank = tmp;
    if (p->sorted) {
        for (int64_t g = 0; g < groups; g++) rank[g] = g;
    } else {
        /* first occurrences are distinct: sort them, then look each up */
        int64_t *firsts = order;
        memcpy(firsts, first, (size_t)groups * sizeof *firsts);
        qsort(firsts, (size_t)groups, sizeof *firsts, compare_i64);
        for (int64_t g = 0; g < groups; g++) {
            int64_t *hit = bsearch(&first[g], firsts, (size_t)groups, sizeof *firsts, compare_i64);
            rank[g] = hit - firsts;
        }
    }
    lo_status st = LO_OK;
    if (has_out(ctx, 0)) {
        int64_t dims[LO_MAX_RANK];
        int r = 1;
        if (p->has_axis) {
            r = x->rank;
            memcpy(dims, x->dims, sizeof dims);
            dims[axis] = groups;
        } else {
            dims[0] = groups;
        }
        st = lo_output(ctx, 0, x->dtype, r, dims);
        if (st) goto done;
        char *out = ctx->out[0]->data;
        size_t block = (size_t)v.inner * v.esize;
        for (int64_t g = 0; g < groups; g++)
            for (int64_t o = 0; o < v.outer; o++)
                memcpy(out + (size_t)(o * groups + rank[g]) * block,
                       v.data + (size_t)(o * n + first[g]) * block, block);
        st = own_strings(ctx, ctx->out[0]);
        if (st) goto done;
    }
    for (int k = 1; k <= 3; k++) {
        if (!has_out(ctx, k)) continue;
        int64_t len = k == 2 ? n : groups;
        st = lo_output(ctx, k, LO_INT64, 1, &len);
        if (st) goto done;
        int64_t *o = ctx->out[k]->data;
        if (k == 2)
            for (int64_t i = 0; i < n; i++) o[i] = rank[group_of[i]];
        else
            for (int64_t g = 0; g < groups; g++) o[rank[g]] = k == 1 ? first[g] : count[g];
    }
done:
    free(work);
    return st;
}

/* ---- the table ----------------------------------------------------------- */

const lo_op_def lo_ops_shape[] = {
    {"", "Reshape", 1, LO_OPSET_MAX, reshape_prepare, reshape_run, NULL, 0},
    {"", "Transpose", 1, LO_OPSET_MAX, transpose_prepare, transpose_run, NULL, 0},
    {"", "Concat", 1, LO_OPSET_MAX, concat_prepare, concat_run, NULL, 0},
    {"", "Shape", 1, LO_OPSET_MAX, shape_prepare, shape_run, NULL, 0},
    {"", "Size", 1, LO_OPSET_MAX, NULL, size_run, NULL, 0},
    {"", "Gather", 1, LO_OPSET_MAX, axis0_prepare, gather_run, NULL, 0},
    {"", "GatherElements", 11, LO_OPSET_MAX, axis0_prepare, gather_elements_run, NULL, 0},
    {"", "GatherND", 11, LO_OPSET_MAX, batch_dims_prepare, gather_nd_run, NULL, 0},
    {"", "Slice", 1, LO_OPSET_MAX, slice_prepare, slice_run, NULL, 0},
    {"", "Squeeze", 1, LO_OPSET_MAX, axes_attr_prepare, squeeze_run, NULL, 0},
    {"", "Unsqueeze", 1, LO_OPSET_MAX, axes_attr_prepare, unsqueeze_run, NULL, 0},
    {"", "Flatten", 1, LO_OPSET_MAX, axis1_prepare, flatten_run, NULL, 0},
    {"", "ConstantOfShape", 9, LO_OPSET_MAX, constant_of_shape_prepare, constant_of_shape_run, NULL, 0},
    {"", "Expand", 8, LO_OPSET_MAX, NULL, expand_run, NULL, 0},
    {"", "Identity", 1, LO_OPSET_MAX, NULL, identity_run, NULL, 0},
    {"", "Dropout", 1, LO_OPSET_MAX, dropout_prepare, dropout_run, NULL, 0},
    {"", "Constant", 1, LO_OPSET_MAX, constant_prepare, constant_run, NULL, 0},
    {"", "Pad", 1, LO_OPSET_MAX, pad_prepare, pad_run, NULL, 0},
    {"", "Split", 1, LO_OPSET_MAX, split_prepare, split_run, NULL, 0},
    {"", "Tile", 1, LO_OPSET_MAX, NULL, tile_run, NULL, 0},
    {"", "Range", 11, LO_OPSET_MAX, NULL, range_run, NULL, 0},
    {"", "NonZero", 9, LO_OPSET_MAX, NULL, nonzero_run, NULL, 0},
    {"", "OneHot", 9, LO_OPSET_MAX, onehot_prepare, onehot_run, NULL, 0},
    {"", "ScatterElements", 11, LO_OPSET_MAX, scatter_prepare, scatter_elements_run, NULL, 0},
    /* Scatter is deprecated since 11 but still appears in exported models. */
    {"", "Scatter", 9, LO_OPSET_MAX, scatter_prepare, scatter_elements_run, NULL, 0},
    {"", "ScatterND", 11, LO_OPSET_MAX, scatter_prepare, scatter_nd_run, NULL, 0},
    {"", "DepthToSpace", 1, LO_OPSET_MAX, block_prepare, depth_to_space_run, NULL, 0},
    {"", "SpaceToDepth", 1, LO_OPSET_MAX, block_prepare, space_to_depth_run, NULL, 0},
    {"", "Trilu", 14, LO_OPSET_MAX, trilu_prepare, trilu_run, NULL, 0},
    {"", "EyeLike", 9, LO_OPSET_MAX, eyelike_prepare, eyelike_run, NULL, 0},
    {"", "CumSum", 11, LO_OPSET_MAX, cumsum_prepare, cumsum_run, NULL, 0},
    {"", "ReverseSequence", 10, LO_OPSET_MAX, reverse_sequence_prepare, reverse_sequence_run, NULL, 0},
    {"", "Compress", 9, LO_OPSET_MAX, axis0_prepare, compress_run, NULL, 0},
    {"", "Unique", 11, LO_OPSET_MAX, unique_prepare, unique_run, NULL, 0},
    {0},
};
