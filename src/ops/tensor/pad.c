/* Pad. */
#include "copy.h"

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

const lo_op_def lo_ops_pad[] = {
    {"", "Pad", 1, LO_OPSET_MAX, pad_prepare, pad_run, NULL, 0},
    {0},
};
