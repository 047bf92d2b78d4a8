/* ScatterElements, Scatter, ScatterND. */
#include "copy.h"

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

const lo_op_def lo_ops_scatter[] = {
    {"", "ScatterElements", 11, LO_OPSET_MAX, scatter_prepare, scatter_elements_run, NULL, 0},
    /* Scatter is deprecated since 11 but still appears in exported models. */
    {"", "Scatter", 9, LO_OPSET_MAX, scatter_prepare, scatter_elements_run, NULL, 0},
    {"", "ScatterND", 11, LO_OPSET_MAX, scatter_prepare, scatter_nd_run, NULL, 0},
    {0},
};
