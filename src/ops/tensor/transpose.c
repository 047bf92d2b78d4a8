/* Transpose. */
#include "copy.h"

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
    /* Moving only axes of size 1 keeps every element in place: a reshape,
     * which may take the input's block (ViT's [1, 197, 192] -> [197, 1, 192]). */
    int last = -1;
    bool in_place = true;
    for (int d = 0; d < r && in_place; d++) {
        if (x->dims[perm[d]] == 1) continue;
        in_place = perm[d] > last;
        last = perm[d];
    }
    if (in_place) return copy_reshaped(ctx, 0, x, r, dims);
    ctx->donor = NULL; /* a real transpose cannot write over its input */
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

const lo_op_def lo_ops_transpose[] = {
    {"", "Transpose", 1, LO_OPSET_MAX, transpose_prepare, transpose_run, NULL, 0},
    {0},
};
