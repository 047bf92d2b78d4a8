/* Unique. */
#include "copy.h"

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

const lo_op_def lo_ops_unique[] = {
    {"", "Unique", 11, LO_OPSET_MAX, unique_prepare, unique_run, NULL, 0},
    {0},
};
