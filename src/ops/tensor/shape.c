/* Reshape, Shape, Size, Squeeze, Unsqueeze, Flatten, ConstantOfShape, Identity, Dropout, Constant. */
#include "copy.h"

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
        int64_t training = 0; /* LO_TRY returns when it is not set; GCC cannot tell */
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

/* The value of a value_* attribute: a scalar (n < 0) or a list of n. */
static void constant_take(constant_params *p, lo_dtype dtype, int64_t n, const void *data, size_t size) {
    p->dtype = dtype;
    p->rank = n >= 0;
    p->dims[0] = n >= 0 ? n : 0;
    p->data = data;
    p->nbytes = (n >= 0 ? (size_t)n : 1) * size;
}

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
            p->f = a->f;
            constant_take(p, LO_FLOAT, -1, &p->f, sizeof p->f);
        } else if (!strcmp(name, "value_floats")) {
            constant_take(p, LO_FLOAT, a->n, a->floats, sizeof(float));
        } else if (!strcmp(name, "value_int")) {
            p->i = a->i;
            constant_take(p, LO_INT64, -1, &p->i, sizeof p->i);
        } else if (!strcmp(name, "value_ints")) {
            constant_take(p, LO_INT64, a->n, a->ints, sizeof(int64_t));
        } else if (!strcmp(name, "value_string")) {
            p->s = a->s ? a->s : "";
            constant_take(p, LO_STRING, -1, &p->s, sizeof p->s);
        } else if (!strcmp(name, "value_strings")) {
            constant_take(p, LO_STRING, a->n, a->strings, sizeof(char *));
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

const lo_op_def lo_ops_shape[] = {
    {"", "Reshape", 1, LO_OPSET_MAX, reshape_prepare, reshape_run, NULL, 0},
    {"", "Shape", 1, LO_OPSET_MAX, shape_prepare, shape_run, NULL, 0},
    {"", "Size", 1, LO_OPSET_MAX, NULL, size_run, NULL, 0},
    {"", "Squeeze", 1, LO_OPSET_MAX, axes_attr_prepare, squeeze_run, NULL, 0},
    {"", "Unsqueeze", 1, LO_OPSET_MAX, axes_attr_prepare, unsqueeze_run, NULL, 0},
    {"", "Flatten", 1, LO_OPSET_MAX, axis1_prepare, flatten_run, NULL, 0},
    {"", "ConstantOfShape", 9, LO_OPSET_MAX, constant_of_shape_prepare, constant_of_shape_run, NULL, 0},
    {"", "Identity", 1, LO_OPSET_MAX, NULL, identity_run, NULL, 0},
    {"", "Dropout", 1, LO_OPSET_MAX, dropout_prepare, dropout_run, NULL, 0},
    {"", "Constant", 1, LO_OPSET_MAX, constant_prepare, constant_run, NULL, 0},
    {0},
};
