/* DepthToSpace, SpaceToDepth. */
#include "copy.h"

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

const lo_op_def lo_ops_space_depth[] = {
    {"", "DepthToSpace", 1, LO_OPSET_MAX, block_prepare, depth_to_space_run, NULL, 0},
    {"", "SpaceToDepth", 1, LO_OPSET_MAX, block_prepare, space_to_depth_run, NULL, 0},
    {0},
};
