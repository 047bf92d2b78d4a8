/* Slice. */
#include "copy.h"

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

const lo_op_def lo_ops_slice[] = {
    {"", "Slice", 1, LO_OPSET_MAX, slice_prepare, slice_run, NULL, 0},
    {0},
};
