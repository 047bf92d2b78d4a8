/* Matrix products: Gemm, MatMul, MatMulInteger, QLinearMatMul, Einsum (the
 * recurrent ops, mostly GEMMs, are in src/ops/rnn).
 *
 * float32 products go through oneDNN's dnnl_sgemm (its JIT kernels need no
 * per-node state, so nothing has to be cached); every other type, and
 * float32 whenever oneDNN refuses, goes through the plain reference loops
 * with double (or int64) accumulation. */
#include <dnnl.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"

/* ---- float32 GEMM: reference and fast path ------------------------------ */

/* C = alpha * op(A) op(B) + beta * C, row-major. beta == 0 never reads C, so
 * an uninitialized C is fine. */
static void gemm_f32_ref(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                         const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                         float *C, int64_t ldc) {
#pragma omp parallel for if (M * N * K > (1 << 16))
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double acc = 0;
            for (int64_t k = 0; k < K; k++) {
                float a = ta ? A[k * lda + i] : A[i * lda + k];
                float b = tb ? B[j * ldb + k] : B[k * ldb + j];
                acc += (double)a * (double)b;
            }
            float v = (float)(alpha * acc);
            C[i * ldc + j] = beta == 0 ? v : v + beta * C[i * ldc + j];
        }
}

void lo_gemm_f32(bool ref, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                     const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                     float *C, int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) C[i * ldc + j] = beta == 0 ? 0.0f : beta * C[i * ldc + j];
        return;
    }
    if (!ref &&
        dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) ==
            dnnl_success)
        return;
    gemm_f32_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* Any other type: element access through the generic getters, double
 * accumulation for floats and int64 (wrapping) for integers. Strides are in
 * elements; the result is alpha * A.B + beta * bias(i, j). */
typedef struct mat_view {
    const lo_tensor *t;
    int64_t off, row, col; /* element (i, j) is at off + i*row + j*col */
} mat_view;

static void gemm_generic(mat_view a, mat_view b, lo_tensor *y, int64_t y_off, int64_t M, int64_t N,
                         int64_t K, double alpha, double beta, const lo_tensor *bias,
                         const int64_t *bias_strides) {
    bool is_int = lo_dtype_is_int(y->dtype);
#pragma omp parallel for if (M * N * K > (1 << 14))
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            int64_t yi = y_off + i * N + j;
            if (is_int) {
                uint64_t acc = 0;
                for (int64_t k = 0; k < K; k++)
                    acc += (uint64_t)lo_get_i64(a.t, a.off + i * a.row + k * a.col) *
                           (uint64_t)lo_get_i64(b.t, b.off + k * b.row + j * b.col);
                if (alpha == 1 && (!bias || beta == 0)) {
                    lo_set_i64(y, yi, (int64_t)acc);
                } else {
                    double v = alpha * (double)(int64_t)acc;
                    if (bias && beta != 0)
                        v += beta * lo_get_f64(bias, i * bias_strides[0] + j * bias_strides[1]);
                    lo_set_f64(y, yi, v);
                }
            } else {
                double acc = 0;
                for (int64_t k = 0; k < K; k++)
                    acc += lo_get_f64(a.t, a.off + i * a.row + k * a.col) *
                           lo_get_f64(b.t, b.off + k * b.row + j * b.col);
                double v = alpha * acc;
                if (bias && beta != 0) v += beta * lo_get_f64(bias, i * bias_strides[0] + j * bias_strides[1]);
                lo_set_f64(y, yi, v);
            }
        }
}

static bool gemm_dtype_ok(lo_dtype d) {
    switch (d) {
    case LO_FLOAT: case LO_DOUBLE: case LO_FLOAT16: case LO_BFLOAT16: case LO_INT32:
    case LO_INT64: case LO_UINT32: case LO_UINT64: return true;
    default: return false;
    }
}

/* ---- Gemm --------------------------------------------------------------- */

typedef struct gemm_params {
    bool trans_a, trans_b;
    float alpha, beta;
} gemm_params;

static lo_status gemm_prepare(const lo_node *node, void **params, lo_error *err) {
    gemm_params *p = lo_calloc(1, sizeof *p, err);
    if (!p) return LO_ERR_NOMEM;
    p->trans_a = lo_attr_int(node, "transA", 0) != 0;
    p->trans_b = lo_attr_int(node, "transB", 0) != 0;
    p->alpha = lo_attr_float(node, "alpha", 1.0f);
    p->beta = lo_attr_float(node, "beta", 1.0f);
    *params = p;
    return LO_OK;
}

static lo_status gemm_run(lo_kernel_ctx *ctx) {
    const gemm_params *p = ctx->params;
    LO_CHECK(ctx, ctx->n_in >= 2 && ctx->in[0] && ctx->in[1], "needs inputs A and B");
    const lo_tensor *A = ctx->in[0], *B = ctx->in[1];
    const lo_tensor *C = ctx->n_in > 2 ? ctx->in[2] : NULL;
    LO_CHECK(ctx, A->rank == 2 && B->rank == 2, "A and B must be 2-D (got ranks %d and %d)", A->rank,
             B->rank);
    LO_CHECK(ctx, A->dtype == B->dtype && (!C || C->dtype == A->dtype),
             "A, B and C must share one element type");
    if (!gemm_dtype_ok(A->dtype))
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "element type %s", lo_dtype_name(A->dtype));
    int64_t M = p->trans_a ? A->dims[1] : A->dims[0], K = p->trans_a ? A->dims[0] : A->dims[1];
    int64_t Kb = p->trans_b ? B->dims[1] : B->dims[0], N = p->trans_b ? B->dims[0] : B->dims[1];
    LO_CHECK(ctx, K == Kb, "inner dimensions differ: %lld and %lld", (long long)K, (long long)Kb);
    int64_t cs[2] = {0, 0};
    if (C) {
        LO_CHECK(ctx, C->rank <= 2, "C must have rank <= 2");
        int64_t out[2] = {M, N};
        int64_t s = 1;
        for (int d = 1; d >= 0; d--) {
            int cd = d - (2 - C->rank);
            if (cd < 0) continue;
            LO_CHECK(ctx, C->dims[cd] == out[d] || C->dims[cd] == 1,
                     "C cannot be broadcast to %lldx%lld", (long long)M, (long long)N);
            cs[d] = C->dims[cd] == 1 ? 0 : s;
            s *= C->dims[cd];
        }
    }
    if (ctx->n_out < 1 || !ctx->out[0]) return LO_OK; /* nothing asked for */
    int64_t dims[2] = {M, N};
    LO_TRY(lo_output(ctx, 0, A->dtype, 2, dims));
    lo_tensor *Y = ctx->out[0];
    bool use_c = C && p->beta != 0;
    if (A->dtype == LO_FLOAT) {
        float *y = Y->data;
        if (use_c) {
            const float *c = C->data;
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < N; j++) y[i * N + j] = p->beta * c[i * cs[0] + j * cs[1]];
        }
        lo_gemm_f32(lo_use_ref(ctx), p->trans_a, p->trans_b, M, N, K, p->alpha, A->data, A->dims[1], B->data, B->dims[1],
                 use_c ? 1.0f : 0.0f, y, N);
        return LO_OK;
    }
    mat_view a = {A, 0, p->trans_a ? 1 : A->dims[1], p->trans_a ? A->dims[1] : 1};
    mat_view b = {B, 0, p->trans_b ? 1 : B->dims[1], p->trans_b ? B->dims[1] : 1};
    gemm_generic(a, b, Y, 0, M, N, K, p->alpha, p->beta, use_c ? C : NULL, cs);
    return LO_OK;
}

/* ---- batched shapes shared by the MatMul family ------------------------- */

/* A [..., M, K] times B [..., K, N], numpy matmul rules: a 1-D A gains a
 * leading 1, a 1-D B a trailing 1, and both are dropped from the result. */
typedef struct batch_shape {
    int64_t M, N, K;
    int batch_rank;
    int64_t batch[LO_MAX_RANK];
    int64_t a_stride[LO_MAX_RANK], b_stride[LO_MAX_RANK]; /* in matrices */
    int64_t n_batch;
    int64_t a_batches, b_batches; /* matrices each really holds */
    int out_rank;
    int64_t out_dims[LO_MAX_RANK];
} batch_shape;

static lo_status matmul_shape(lo_kernel_ctx *ctx, const lo_tensor *A, const lo_tensor *B,
                              batch_shape *s) {
    LO_CHECK(ctx, A->rank >= 1 && B->rank >= 1, "inputs must have rank >= 1");
    s->M = A->rank == 1 ? 1 : A->dims[A->rank - 2];
    s->K = A->dims[A->rank - 1];
    int64_t kb = B->rank == 1 ? B->dims[0] : B->dims[B->rank - 2];
    s->N = B->rank == 1 ? 1 : B->dims[B->rank - 1];
    LO_CHECK(ctx, s->K == kb, "inner dimensions differ: %lld and %lld", (long long)s->K, (long long)kb);
    int ra = A->rank > 2 ? A->rank - 2 : 0, rb = B->rank > 2 ? B->rank - 2 : 0;
    s->batch_rank = ra > rb ? ra : rb;
    int r = s->batch_rank;
    s->a_batches = lo_numel_dims(ra, A->dims);
    s->b_batches = lo_numel_dims(rb, B->dims);
    int64_t sa = 1, sb = 1;
    for (int d = r - 1; d >= 0; d--) {
        int da = d - (r - ra), db = d - (r - rb);
        int64_t xa = da >= 0 ? A->dims[da] : 1, xb = db >= 0 ? B->dims[db] : 1;
        LO_CHECK(ctx, xa == xb || xa == 1 || xb == 1, "batch dimensions %lld and %lld cannot be broadcast",
                 (long long)xa, (long long)xb);
        s->batch[d] = xa == 1 ? xb : xa;
        s->a_stride[d] = xa == 1 ? 0 : sa;
        s->b_stride[d] = xb == 1 ? 0 : sb;
        sa *= xa;
        sb *= xb;
    }
    s->n_batch = lo_numel_dims(r, s->batch);
    s->out_rank = 0;
    for (int d = 0; d < r; d++) s->out_dims[s->out_rank++] = s->batch[d];
    if (A->rank > 1) s->out_dims[s->out_rank++] = s->M;
    if (B->rank > 1) s->out_dims[s->out_rank++] = s->N;
    return LO_OK;
}

/* Which matrix of A and of B the batch index bi reads. */
static void batch_offsets(const batch_shape *s, int64_t bi, int64_t *ia, int64_t *ib) {
    int64_t a = 0, b = 0;
    for (int d = s->batch_rank - 1; d >= 0; d--) {
        int64_t x = bi % s->batch[d];
        bi /= s->batch[d];
        a += x * s->a_stride[d];
        b += x * s->b_stride[d];
    }
    *ia = a;
    *ib = b;
}

/* ---- MatMul ------------------------------------------------------------- */

/* Batched float32 products that do not fold into one GEMM (attention's
 * Q.K^T and P.V, GQA's broadcast of K/V heads) go through oneDNN's matmul
 * primitive, one per node and shape, cached in the node's params. Measured
 * on ViT-small's shapes, 2 threads: [6,197,64]x[6,64,197] 0.103 ms as one
 * primitive against 0.110 ms as six sgemm calls in a row and 34 ms as six
 * sgemm calls split over an OpenMP loop on a loaded machine; [4,64,32]x
 * [4,32,64] 0.004 against 0.008 ms. Single products stay on sgemm, which
 * was as fast or faster (197x384x1152: 0.64 ms against 0.79 ms) and needs
 * no per-shape set-up (0.3-0.5 ms per primitive). */
static dnnl_engine_t mm_engine;
static int mm_engine_state; /* 1 usable, -1 failed */
static pthread_once_t mm_engine_once = PTHREAD_ONCE_INIT;

static void mm_engine_create(void) {
    mm_engine_state = dnnl_engine_create(&mm_engine, dnnl_cpu, 0) == dnnl_success ? 1 : -1;
}

#define MM_KEY (4 * LO_MAX_RANK + 2)

typedef struct matmul_params {
    bool built, refused;
    int64_t key[MM_KEY];
    dnnl_primitive_t prim;
    dnnl_memory_t a, b, c;
    dnnl_stream_t stream;
} matmul_params;

static void matmul_cache_clear(matmul_params *p) {
    if (p->prim) dnnl_primitive_destroy(p->prim);
    dnnl_memory_t m[] = {p->a, p->b, p->c};
    for (int i = 0; i < 3; i++)
        if (m[i]) dnnl_memory_destroy(m[i]);
    if (p->stream) dnnl_stream_destroy(p->stream);
    memset(p, 0, sizeof *p);
}

static void matmul_params_free(void *params) {
    if (!params) return;
    matmul_cache_clear(params);
    free(params);
}

static lo_status matmul_prepare(const lo_node *node, void **params, lo_error *err) {
    (void)node;
    matmul_params *p = lo_calloc(1, sizeof *p, err);
    if (!p) return LO_ERR_NOMEM;
    *params = p;
    return LO_OK;
}

/* The memory descriptor strides of an operand of rank r (its own rank
 * rank_t, batch dims before it of size 1): st (its element strides) or,
 * NULL, row-major. */
static void operand_strides(int r, int rank_t, const int64_t *dims, const int64_t *st, int64_t *out) {
    int64_t dense[LO_MAX_RANK], acc = 1;
    for (int d = rank_t - 1; d >= 0; d--) {
        dense[d] = acc;
        acc *= dims[d];
    }
    for (int d = 0; d < r; d++) {
        int dt = d - (r - rank_t);
        out[d] = dt >= 0 ? (st ? st[dt] : dense[dt]) : acc;
    }
}

/* Builds the primitive for s; false when oneDNN refuses it. sa/sb: the
 * operands' element strides when read through a folded Transpose, else
 * NULL (row-major). */
static bool matmul_dnnl_build(matmul_params *p, const batch_shape *s, const lo_tensor *A, const lo_tensor *B,
                              const int64_t *sa, const int64_t *sb) {
    pthread_once(&mm_engine_once, mm_engine_create);
    if (mm_engine_state < 0) return false;
    int r = s->batch_rank + 2;
    if (r > DNNL_MAX_NDIMS) return false;
    dnnl_dims_t ad, bd, cd;
    int ra = A->rank - 2, rb = B->rank - 2;
    for (int d = 0; d < s->batch_rank; d++) {
        int da = d - (s->batch_rank - ra), db = d - (s->batch_rank - rb);
        ad[d] = da >= 0 ? A->dims[da] : 1;
        bd[d] = db >= 0 ? B->dims[db] : 1;
        cd[d] = s->batch[d];
    }
    ad[r - 2] = s->M, ad[r - 1] = s->K;
    bd[r - 2] = s->K, bd[r - 1] = s->N;
    cd[r - 2] = s->M, cd[r - 1] = s->N;
    dnnl_memory_desc_t amd, bmd, cmd;
    dnnl_matmul_desc_t md;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_dims_t ast, bst;
    operand_strides(r, A->rank, A->dims, sa, ast);
    operand_strides(r, B->rank, B->dims, sb, bst);
    bool ok = dnnl_memory_desc_init_by_strides(&amd, r, ad, dnnl_f32, ast) == dnnl_success &&
              dnnl_memory_desc_init_by_strides(&bmd, r, bd, dnnl_f32, bst) == dnnl_success &&
              dnnl_memory_desc_init_by_strides(&cmd, r, cd, dnnl_f32, NULL) == dnnl_success &&
              dnnl_matmul_desc_init(&md, &amd, &bmd, NULL, &cmd) == dnnl_success &&
              dnnl_primitive_desc_create(&pd, &md, NULL, mm_engine, NULL) == dnnl_success;
    /* oneDNN's own reference implementation is slower than sgemm per batch */
    const char *impl = NULL;
    ok = ok && dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl &&
         strstr(impl, "ref") == NULL;
    ok = ok && dnnl_primitive_create(&p->prim, pd) == dnnl_success &&
         dnnl_memory_create(&p->a, &amd, mm_engine, DNNL_MEMORY_NONE) == dnnl_success &&
         dnnl_memory_create(&p->b, &bmd, mm_engine, DNNL_MEMORY_NONE) == dnnl_success &&
         dnnl_memory_create(&p->c, &cmd, mm_engine, DNNL_MEMORY_NONE) == dnnl_success &&
         dnnl_stream_create(&p->stream, mm_engine, dnnl_stream_default_flags) == dnnl_success;
    if (pd) dnnl_primitive_desc_destroy(pd);
    return ok;
}

/* Y = A.B through the cached primitive; false (nothing promised written)
 * when oneDNN cannot. */
static bool matmul_dnnl(matmul_params *p, const batch_shape *s, const lo_tensor *A, const lo_tensor *B,
                        const int64_t *sa, const int64_t *sb, lo_tensor *Y) {
    if (!p || A->rank < 2 || B->rank < 2) return false;
    int64_t key[MM_KEY] = {0};
    /* with the thread count: the primitive splits its work for it */
    key[0] = A->rank + 64 * (int64_t)omp_get_max_threads(), key[1] = B->rank;
    for (int d = 0; d < A->rank; d++) key[2 + d] = A->dims[d];
    for (int d = 0; d < B->rank; d++) key[2 + LO_MAX_RANK + d] = B->dims[d];
    /* strides + 1, so that row-major (0) differs from any given stride */
    for (int d = 0; sa && d < A->rank; d++) key[2 + 2 * LO_MAX_RANK + d] = sa[d] + 1;
    for (int d = 0; sb && d < B->rank; d++) key[2 + 3 * LO_MAX_RANK + d] = sb[d] + 1;
    if (!p->built || memcmp(key, p->key, sizeof key) != 0) {
        matmul_cache_clear(p);
        p->built = true;
        p->refused = !matmul_dnnl_build(p, s, A, B, sa, sb);
        if (p->refused) {
            matmul_cache_clear(p);
            p->built = p->refused = true;
        }
        memcpy(p->key, key, sizeof key);
    }
    if (p->refused) return false;
    dnnl_memory_set_data_handle(p->a, A->data);
    dnnl_memory_set_data_handle(p->b, B->data);
    dnnl_memory_set_data_handle(p->c, Y->data);
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, p->a}, {DNNL_ARG_WEIGHTS, p->b}, {DNNL_ARG_DST, p->c}};
    return dnnl_primitive_execute(p->prim, p->stream, 3, args) == dnnl_success &&
           dnnl_stream_wait(p->stream) == dnnl_success;
}

/* An operand the run loop passes through a Transpose it folded (ctx's
 * fold_perm): the transposed shape over the source's data, with the
 * element strides to read it. */
typedef struct folded_operand {
    lo_tensor view;
    int64_t strides[LO_MAX_RANK];
} folded_operand;

static lo_status fold_operand(lo_kernel_ctx *ctx, int k, const lo_tensor *src, folded_operand *f) {
    int r = src->rank, perm[LO_MAX_RANK];
    bool seen[LO_MAX_RANK] = {0};
    const int64_t *given = ctx->fold_perm[k];
    int n = ctx->n_fold_perm[k];
    LO_CHECK(ctx, n == 0 || n == r, "the Transpose before input %d has a perm of %d axes for rank %d", k, n, r);
    for (int d = 0; d < r; d++) {
        int64_t a = n ? given[d] : r - 1 - d;
        LO_CHECK(ctx, a >= -r && a < r && !seen[(a + r) % r], "the Transpose before input %d has a perm that is "
                 "not a permutation of 0..%d", k, r - 1);
        perm[d] = (int)((a + r) % r);
        seen[perm[d]] = true;
    }
    int64_t st[LO_MAX_RANK], acc = 1;
    for (int d = r - 1; d >= 0; d--) {
        st[d] = acc;
        acc *= src->dims[d];
    }
    f->view = *src;
    for (int d = 0; d < r; d++) {
        f->view.dims[d] = src->dims[perm[d]];
        f->strides[d] = st[perm[d]];
    }
    return LO_OK;
}

/* dst (row-major) = the folded operand's elements, as the Transpose would
 * have written them: rows of the innermost axis at a time. */
static void fold_gather(const folded_operand *f, void *dst) {
    size_t es = lo_dtype_size(f->view.dtype);
    int r = f->view.rank;
    int64_t n = lo_numel(&f->view), inner = r ? f->view.dims[r - 1] : 1, step = r ? f->strides[r - 1] : 1;
    int64_t idx[LO_MAX_RANK] = {0}, off = 0;
    const char *src = f->view.data;
    char *out = dst;
    if (inner <= 0) return;
    for (int64_t i = 0; i < n; i += inner) {
        if (step == 1) {
            memcpy(out + (size_t)i * es, src + (size_t)off * es, (size_t)inner * es);
        } else if (es == 4) {
            const float *s = (const float *)src + off;
            float *o = (float *)out + i;
            for (int64_t j = 0; j < inner; j++) o[j] = s[j * step];
        } else {
            for (int64_t j = 0; j < inner; j++)
                memcpy(out + (size_t)(i + j) * es, src + (size_t)(off + j * step) * es, es);
        }
        for (int d = r - 2; d >= 0; d--) {
            off += f->strides[d];
            if (++idx[d] < f->view.dims[d]) break;
            off -= f->strides[d] * idx[d];
            idx[d] = 0;
        }
    }
}

/* Whether the folded operand's elements are in row-major order anyway. */
static bool fold_is_dense(const folded_operand *f) {
    int64_t acc = 1;
    for (int d = f->view.rank - 1; d >= 0; d--) {
        if (f->view.dims[d] != 1 && f->strides[d] != acc) return false;
        acc *= f->view.dims[d];
    }
    return true;
}

static lo_status matmul_run(lo_kernel_ctx *ctx) {
    LO_CHECK(ctx, ctx->n_in >= 2 && ctx->in[0] && ctx->in[1], "needs inputs A and B");
    const lo_tensor *A = ctx->in[0], *B = ctx->in[1];
    LO_CHECK(ctx, A->dtype == B->dtype, "A and B must share one element type");
    if (!gemm_dtype_ok(A->dtype))
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "element type %s", lo_dtype_name(A->dtype));
    folded_operand fold[2];
    bool folded[2] = {ctx->fold_perm[0] != NULL, ctx->fold_perm[1] != NULL};
    for (int k = 0; k < 2; k++)
        if (folded[k]) LO_TRY(fold_operand(ctx, k, ctx->in[k], &fold[k]));
    if (folded[0]) A = &fold[0].view;
    if (folded[1]) B = &fold[1].view;
    batch_shape s;
    LO_TRY(matmul_shape(ctx, A, B, &s));
    if (ctx->n_out < 1 || !ctx->out[0]) return LO_OK; /* nothing asked for */
    LO_TRY(lo_output(ctx, 0, A->dtype, s.out_rank, s.out_dims));
    lo_tensor *Y = ctx->out[0];
    int64_t M = s.M, N = s.N, K = s.K;
    scratch_block fsb = {ctx, NULL};
    /* a Transpose that moved only axes of size 1 left the operand dense */
    for (int k = 0; k < 2; k++)
        if (folded[k] && fold_is_dense(&fold[k])) folded[k] = false;
    bool batch_dense = true; /* the folded operands' matrices lie one after the other */
    for (int k = 0; k < 2; k++)
        if (folded[k]) {
            const folded_operand *fo = &fold[k];
            int r = fo->view.rank;
            int64_t mat = fo->view.dims[r - 1] * fo->view.dims[r - 2];
            for (int d = r - 3; d >= 0; d--) {
                if (fo->view.dims[d] != 1) batch_dense = batch_dense && fo->strides[d] == mat;
                mat *= fo->view.dims[d];
            }
        }
    if (folded[0] || folded[1]) {
        /* oneDNN reads operands whose matrices lie one after the other
         * through their strides (K^T); otherwise, or when it will not, the
         * transposes are made after all, in scratch, and the product runs
         * as unfused. (One sgemm per head over a seq-first [L, H, d] was
         * measured 3-6% faster on ViT/BERT but is not bit for bit the
         * batched primitive's result, which a saved tensor must keep.) */
        if (A->dtype == LO_FLOAT && !lo_use_ref(ctx) && M * N * K > 0 && batch_dense &&
            matmul_dnnl((matmul_params *)ctx->params, &s, A, B, folded[0] ? fold[0].strides : NULL,
                        folded[1] ? fold[1].strides : NULL, Y)) {
            scratch_release(&fsb);
            return LO_OK;
        }
        size_t es = lo_dtype_size(A->dtype);
        size_t na = folded[0] ? align64((size_t)lo_numel(A) * es) : 0, nb = folded[1] ? (size_t)lo_numel(B) * es : 0;
        char *buf = scratch_take(&fsb, na + nb);
        if (!buf) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory for %zu bytes of scratch", na + nb);
        if (folded[0]) {
            fold_gather(&fold[0], buf);
            fold[0].view.data = buf;
        }
        if (folded[1]) {
            fold_gather(&fold[1], buf + na);
            fold[1].view.data = buf + na;
        }
    }
    lo_status st = LO_OK;
    if (A->dtype == LO_FLOAT) {
        const float *a = A->data, *b = B->data;
        float *y = Y->data;
        /* One B for every batch (a Linear layer over a sequence): the batch
         * folds into M and becomes one large GEMM. */
        if (s.b_batches == 1 && s.a_batches == s.n_batch) {
            lo_gemm_f32(lo_use_ref(ctx), false, false, s.n_batch * M, N, K, 1.0f, a, K, b, N, 0.0f, y, N);
        } else if (!lo_use_ref(ctx) && s.n_batch > 1 && M * N * K > 0 &&
                   matmul_dnnl((matmul_params *)ctx->params, &s, A, B, NULL, NULL, Y)) {
        } else {
            for (int64_t bi = 0; bi < s.n_batch; bi++) {
                int64_t ia, ib;
                batch_offsets(&s, bi, &ia, &ib);
                lo_gemm_f32(lo_use_ref(ctx), false, false, M, N, K, 1.0f, a + ia * M * K, K, b + ib * K * N, N, 0.0f,
                            y + bi * M * N, N);
            }
        }
        scratch_release(&fsb);
        return st;
    }
    for (int64_t bi = 0; bi < s.n_batch; bi++) {
        int64_t ia, ib;
        batch_offsets(&s, bi, &ia, &ib);
        mat_view a = {A, ia * M * K, K, 1}, b = {B, ib * K * N, N, 1};
        gemm_generic(a, b, Y, bi * M * N, M, N, K, 1.0, 0.0, NULL, NULL);
    }
    scratch_release(&fsb);
    return st;
}

/* ---- MatMulInteger and QLinearMatMul ------------------------------------ */

/* A per-tensor, per-row (of A) or per-column (of B) quantization parameter:
 * a scalar, a vector of the row/column count, or a tensor shaped like the
 * operand with the reduced dimension set to 1. */
typedef struct qparam {
    const lo_tensor *t;
    int kind; /* 0 scalar/absent, 1 vector, 2 per matrix */
    int64_t len;
} qparam;

static lo_status qparam_init(lo_kernel_ctx *ctx, qparam *q, const lo_tensor *t, const lo_tensor *op,
                             bool rows, int64_t len, const char *what) {
    q->t = t;
    q->kind = 0;
    q->len = len;
    if (!t || lo_numel(t) == 1) {
        q->kind = 0;
        return LO_OK;
    }
    if (t->rank == 1 && t->dims[0] == len) {
        q->kind = 1;
        return LO_OK;
    }
    if (t->rank == op->rank && op->rank >= 2) {
        bool ok = true;
        for (int d = 0; d < op->rank - 2; d++) ok = ok && t->dims[d] == op->dims[d];
        if (rows)
            ok = ok && t->dims[op->rank - 2] == len && t->dims[op->rank - 1] == 1;
        else
            ok = ok && t->dims[op->rank - 2] == 1 && t->dims[op->rank - 1] == len;
        if (ok) {
            q->kind = 2;
            return LO_OK;
        }
    }
    char buf[128];
    return lo_kernel_fail(ctx, LO_ERR_INPUT, "%s of shape %s fits neither per-tensor nor per-%s use", what,
                          lo_shape_str(t->rank, t->dims, buf, sizeof buf), rows ? "row" : "column");
}

static double qparam_f64(const qparam *q, int64_t matrix, int64_t i, double dflt) {
    if (!q->t) return dflt;
    if (q->kind == 0) return lo_get_f64(q->t, 0);
    if (q->kind == 1) return lo_get_f64(q->t, i);
    return lo_get_f64(q->t, matrix * q->len + i);
}

static bool is_8bit(lo_dtype d) { return d == LO_UINT8 || d == LO_INT8; }

static inline int32_t load8(const void *p, bool is_signed, int64_t i) {
    return is_signed ? ((const int8_t *)p)[i] : ((const uint8_t *)p)[i];
}

/* acc[M*N] = (A - zp_a) . (B - zp_b) for one batch; int32 as the spec says. */
static void matmul_int8(const void *a, bool sa, const void *b, bool sb, int64_t M, int64_t N, int64_t K,
                        const qparam *za, int64_t ma, const qparam *zb, int64_t mb, int32_t *acc) {
    int32_t zb_all = (int32_t)qparam_f64(zb, mb, 0, 0);
#pragma omp parallel for if (M * N * K > (1 << 16))
    for (int64_t i = 0; i < M; i++) {
        int32_t zpa = (int32_t)qparam_f64(za, ma, i, 0);
        int32_t *row = acc + i * N;
        for (int64_t j = 0; j < N; j++) row[j] = 0;
        for (int64_t k = 0; k < K; k++) {
            int32_t av = load8(a, sa, i * K + k) - zpa;
            if (!av) continue;
            if (zb->kind == 0)
                for (int64_t j = 0; j < N; j++) row[j] += av * (load8(b, sb, k * N + j) - zb_all);
            else
                for (int64_t j = 0; j < N; j++)
                    row[j] += av * (load8(b, sb, k * N + j) - (int32_t)qparam_f64(zb, mb, j, 0));
        }
    }
}

static lo_status quant_inputs_check(lo_kernel_ctx *ctx, const lo_tensor *A, const lo_tensor *B) {
    if (!is_8bit(A->dtype) || !is_8bit(B->dtype))
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "element types %s x %s (uint8/int8 only)",
                              lo_dtype_name(A->dtype), lo_dtype_name(B->dtype));
    return LO_OK;
}

static lo_status matmul_integer_run(lo_kernel_ctx *ctx) {
    LO_CHECK(ctx, ctx->n_in >= 2 && ctx->in[0] && ctx->in[1], "needs inputs A and B");
    const lo_tensor *A = ctx->in[0], *B = ctx->in[1];
    const lo_tensor *ZA = ctx->n_in > 2 ? ctx->in[2] : NULL, *ZB = ctx->n_in > 3 ? ctx->in[3] : NULL;
    LO_TRY(quant_inputs_check(ctx, A, B));
    LO_CHECK(ctx, (!ZA || ZA->dtype == A->dtype) && (!ZB || ZB->dtype == B->dtype),
             "zero points must have their operand's element type");
    batch_shape s;
    LO_TRY(matmul_shape(ctx, A, B, &s));
    qparam za, zb;
    LO_TRY(qparam_init(ctx, &za, ZA, A, true, s.M, "a_zero_point"));
    LO_TRY(qparam_init(ctx, &zb, ZB, B, false, s.N, "b_zero_point"));
    if (ctx->n_out < 1 || !ctx->out[0]) return LO_OK; /* nothing asked for */
    LO_TRY(lo_output(ctx, 0, LO_INT32, s.out_rank, s.out_dims));
    int32_t *y = ctx->out[0]->data;
    for (int64_t bi = 0; bi < s.n_batch; bi++) {
        int64_t ia, ib;
        batch_offsets(&s, bi, &ia, &ib);
        matmul_int8((const uint8_t *)A->data + ia * s.M * s.K, A->dtype == LO_INT8,
                    (const uint8_t *)B->data + ib * s.K * s.N, B->dtype == LO_INT8, s.M, s.N, s.K, &za, ia,
                    &zb, ib, y + bi * s.M * s.N);
    }
    return LO_OK;
}

static lo_status qlinear_matmul_run(lo_kernel_ctx *ctx) {
    LO_CHECK(ctx, ctx->n_in >= 8, "needs 8 inputs");
    for (int i = 0; i < 8; i++)
        if (i != 2 && i != 5 && i != 7) LO_CHECK(ctx, ctx->in[i] != NULL, "input %d is required", i);
    const lo_tensor *A = ctx->in[0], *B = ctx->in[3], *YZ = ctx->in[7];
    LO_TRY(quant_inputs_check(ctx, A, B));
    lo_dtype ydt = YZ ? YZ->dtype : LO_UINT8;
    if (!is_8bit(ydt))
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "output type %s (uint8/int8 only)", lo_dtype_name(ydt));
    LO_CHECK(ctx, lo_numel(ctx->in[6]) == 1 && (!YZ || lo_numel(YZ) == 1),
             "y_scale and y_zero_point must be scalars");
    batch_shape s;
    LO_TRY(matmul_shape(ctx, A, B, &s));
    qparam za, zb, sa, sb;
    LO_TRY(qparam_init(ctx, &sa, ctx->in[1], A, true, s.M, "a_scale"));
    LO_TRY(qparam_init(ctx, &za, ctx->in[2], A, true, s.M, "a_zero_point"));
    LO_TRY(qparam_init(ctx, &sb, ctx->in[4], B, false, s.N, "b_scale"));
    LO_TRY(qparam_init(ctx, &zb, ctx->in[5], B, false, s.N, "b_zero_point"));
    if (ctx->n_out < 1 || !ctx->out[0]) return LO_OK; /* nothing asked for */
    LO_TRY(lo_output(ctx, 0, ydt, s.out_rank, s.out_dims));
    double ys = lo_get_f64(ctx->in[6], 0), yz = YZ ? (double)lo_get_i64(YZ, 0) : 0;
    double lo = ydt == LO_UINT8 ? 0 : -128, hi = ydt == LO_UINT8 ? 255 : 127;
    size_t bytes = (size_t)(s.M * s.N) * sizeof(int32_t);
    scratch_block sb_ = {ctx, NULL};
    int32_t *acc = scratch_take(&sb_, bytes);
    if (!acc) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory for %zu bytes of scratch", bytes);
    lo_tensor *Y = ctx->out[0];
    for (int64_t bi = 0; bi < s.n_batch; bi++) {
        int64_t ia, ib;
        batch_offsets(&s, bi, &ia, &ib);
        matmul_int8((const uint8_t *)A->data + ia * s.M * s.K, A->dtype == LO_INT8,
                    (const uint8_t *)B->data + ib * s.K * s.N, B->dtype == LO_INT8, s.M, s.N, s.K, &za, ia,
                    &zb, ib, acc);
        for (int64_t i = 0; i < s.M; i++) {
            double ra = qparam_f64(&sa, ia, i, 1);
            for (int64_t j = 0; j < s.N; j++) {
                double real = acc[i * s.N + j] * ra * qparam_f64(&sb, ib, j, 1);
                double q = nearbyint(real / ys) + yz;
                q = q < lo ? lo : q > hi ? hi : q;
                lo_set_i64(Y, bi * s.M * s.N + i * s.N + j, (int64_t)q);
            }
        }
    }
    scratch_release(&sb_);
    return LO_OK;
}

/* ---- Einsum ------------------------------------------------------------- */

/* Labels 0..51 are letters; 52.. are the ellipsis dims, right-aligned. */
#define EINSUM_LETTERS 52
#define EINSUM_MAX_LABELS (EINSUM_LETTERS + LO_MAX_RANK)
#define EINSUM_MAX_INPUTS 16

typedef struct einsum_term {
    int n;                  /* labels written, the ellipsis counted once */
    int labels[LO_MAX_RANK + 1];
    int ellipsis_at;        /* position of "..." among labels, or -1 */
} einsum_term;

typedef struct einsum_params {
    int n_terms;
    einsum_term in[EINSUM_MAX_INPUTS];
    bool explicit_out;
    einsum_term out;
} einsum_params;

static int letter_label(char c) {
    if (c >= 'a' && c <= 'z') return c - 'a';
    if (c >= 'A' && c <= 'Z') return 26 + c - 'A';
    return -1;
}

static const char *parse_term(const char *s, const char *end, einsum_term *t) {
    t->n = 0;
    t->ellipsis_at = -1;
    while (s < end) {
        if (*s == ' ') {
            s++;
            continue;
        }
        if (*s == '.') {
            if (end - s < 3 || s[1] != '.' || s[2] != '.' || t->ellipsis_at >= 0) return NULL;
            if (t->n > LO_MAX_RANK) return NULL;
            t->ellipsis_at = t->n;
            t->labels[t->n++] = -1;
            s += 3;
            continue;
        }
        int l = letter_label(*s);
        if (l < 0 || t->n > LO_MAX_RANK) return NULL;
        t->labels[t->n++] = l;
        s++;
    }
    return s;
}

static lo_status einsum_prepare(const lo_node *node, void **params, lo_error *err) {
    const char *eq = lo_attr_string(node, "equation", NULL);
    if (!eq) return lo_fail(err, LO_ERR_MODEL, "node '%s' (%s): no equation", node->name, node->op_type);
    einsum_params *p = lo_calloc(1, sizeof *p, err);
    if (!p) return LO_ERR_NOMEM;
    const char *arrow = strstr(eq, "->");
    const char *lhs_end = arrow ? arrow : eq + strlen(eq);
    const char *s = eq;
    for (;;) {
        const char *comma = memchr(s, ',', (size_t)(lhs_end - s));
        const char *e = comma ? comma : lhs_end;
        if (p->n_terms == EINSUM_MAX_INPUTS || !parse_term(s, e, &p->in[p->n_terms])) goto bad;
        p->n_terms++;
        if (!comma) break;
        s = comma + 1;
    }
    if (arrow) {
        p->explicit_out = true;
        if (!parse_term(arrow + 2, arrow + 2 + strlen(arrow + 2), &p->out)) goto bad;
    }
    *params = p;
    return LO_OK;
bad:
    free(p);
    return lo_fail(err, LO_ERR_MODEL, "node '%s' (%s): cannot parse equation '%s'", node->name,
                   node->op_type, eq);
}

/* Per-input strides indexed by label: a repeated label adds its strides
 * (a diagonal), a broadcast ellipsis dim gets 0. */
typedef struct einsum_plan {
    int n_out, n_sum;
    int out_labels[EINSUM_MAX_LABELS], sum_labels[EINSUM_MAX_LABELS];
    int64_t size[EINSUM_MAX_LABELS];
    int64_t stride[EINSUM_MAX_INPUTS][EINSUM_MAX_LABELS];
} einsum_plan;

static lo_status einsum_plan_make(lo_kernel_ctx *ctx, const einsum_params *p, einsum_plan *pl,
                                  int *out_rank, int64_t *out_dims) {
    int n = p->n_terms;
    int ell_rank = 0;
    bool used[EINSUM_MAX_LABELS] = {0};
    int count[EINSUM_MAX_LABELS] = {0};
    for (int l = 0; l < EINSUM_MAX_LABELS; l++) pl->size[l] = -1;
    for (int i = 0; i < n; i++) {
        const einsum_term *t = &p->in[i];
        const lo_tensor *x = ctx->in[i];
        int letters = t->n - (t->ellipsis_at >= 0);
        int er = x->rank - letters;
        LO_CHECK(ctx, er >= 0 && (er == 0 || t->ellipsis_at >= 0),
                 "input %d has rank %d, the equation gives it %d labels", i, x->rank, letters);
        if (er > ell_rank) ell_rank = er;
    }
    for (int i = 0; i < n; i++) {
        const einsum_term *t = &p->in[i];
        const lo_tensor *x = ctx->in[i];
        int er = x->rank - (t->n - (t->ellipsis_at >= 0));
        int64_t st[LO_MAX_RANK];
        int64_t acc = 1;
        for (int d = x->rank - 1; d >= 0; d--) {
            st[d] = acc;
            acc *= x->dims[d];
        }
        for (int l = 0; l < EINSUM_MAX_LABELS; l++) pl->stride[i][l] = 0;
        int d = 0;
        for (int k = 0; k < t->n; k++) {
            if (t->labels[k] < 0) {
                for (int e = 0; e < er; e++, d++) {
                    int l = EINSUM_LETTERS + ell_rank - er + e;
                    used[l] = true;
                    count[l]++;
                    int64_t sz = x->dims[d];
                    if (sz != 1) {
                        LO_CHECK(ctx, pl->size[l] <= 1 || pl->size[l] == sz,
                                 "ellipsis dimensions %lld and %lld cannot be broadcast",
                                 (long long)pl->size[l], (long long)sz);
                        pl->size[l] = sz;
                        pl->stride[i][l] += st[d];
                    } else if (pl->size[l] < 0) {
                        pl->size[l] = 1;
                    }
                }
                continue;
            }
            int l = t->labels[k];
            used[l] = true;
            count[l]++;
            LO_CHECK(ctx, pl->size[l] < 0 || pl->size[l] == x->dims[d],
                     "label '%c' has sizes %lld and %lld", l < 26 ? 'a' + l : 'A' + l - 26,
                     (long long)pl->size[l], (long long)x->dims[d]);
            pl->size[l] = x->dims[d];
            pl->stride[i][l] += st[d];
            d++;
        }
    }
    bool in_out[EINSUM_MAX_LABELS] = {0};
    pl->n_out = 0;
    if (p->explicit_out) {
        for (int k = 0; k < p->out.n; k++) {
            if (p->out.labels[k] < 0) {
                for (int e = 0; e < ell_rank; e++) {
                    pl->out_labels[pl->n_out++] = EINSUM_LETTERS + e;
                    in_out[EINSUM_LETTERS + e] = true;
                }
                continue;
            }
            int l = p->out.labels[k];
            LO_CHECK(ctx, used[l] && !in_out[l], "output label '%c' is repeated or not in any input",
                     l < 26 ? 'a' + l : 'A' + l - 26);
            in_out[l] = true;
            pl->out_labels[pl->n_out++] = l;
        }
    } else {
        for (int e = 0; e < ell_rank; e++) {
            pl->out_labels[pl->n_out++] = EINSUM_LETTERS + e;
            in_out[EINSUM_LETTERS + e] = true;
        }
        /* numpy's implicit order is by character code: upper case first */
        for (int c = 26; c < 52; c++)
            if (count[c] == 1) pl->out_labels[pl->n_out++] = c, in_out[c] = true;
        for (int c = 0; c < 26; c++)
            if (count[c] == 1) pl->out_labels[pl->n_out++] = c, in_out[c] = true;
    }
    LO_CHECK(ctx, pl->n_out <= LO_MAX_RANK, "output rank %d is beyond %d", pl->n_out, LO_MAX_RANK);
    pl->n_sum = 0;
    for (int l = 0; l < EINSUM_MAX_LABELS; l++)
        if (used[l] && !in_out[l]) pl->sum_labels[pl->n_sum++] = l;
    *out_rank = pl->n_out;
    for (int k = 0; k < pl->n_out; k++) out_dims[k] = pl->size[pl->out_labels[k]];
    return LO_OK;
}

static void einsum_compute(const einsum_plan *pl, const lo_tensor *const *in, int n_in, lo_tensor *y) {
    int64_t n_out = lo_numel(y), n_sum = 1;
    for (int k = 0; k < pl->n_sum; k++) n_sum *= pl->size[pl->sum_labels[k]];
    bool is_int = lo_dtype_is_int(y->dtype);
    bool f32 = y->dtype == LO_FLOAT;
#pragma omp parallel for if (n_out * n_sum * n_in > (1 << 15))
    for (int64_t o = 0; o < n_out; o++) {
        int64_t base[EINSUM_MAX_INPUTS] = {0};
        int64_t rem = o;
        for (int k = pl->n_out - 1; k >= 0; k--) {
            int l = pl->out_labels[k];
            int64_t x = rem % pl->size[l];
            rem /= pl->size[l];
            for (int i = 0; i < n_in; i++) base[i] += x * pl->stride[i][l];
        }
        int64_t idx[EINSUM_MAX_LABELS] = {0};
        int64_t off[EINSUM_MAX_INPUTS];
        memcpy(off, base, sizeof off);
        double acc = 0;
        int64_t iacc = 0;
        for (int64_t s = 0; s < n_sum; s++) {
            if (f32) {
                double v = 1;
                for (int i = 0; i < n_in; i++) v *= ((const float *)in[i]->data)[off[i]];
                acc += v;
            } else if (is_int) {
                uint64_t v = 1;
                for (int i = 0; i < n_in; i++) v *= (uint64_t)lo_get_i64(in[i], off[i]);
                iacc = (int64_t)((uint64_t)iacc + v);
            } else {
                double v = 1;
                for (int i = 0; i < n_in; i++) v *= lo_get_f64(in[i], off[i]);
                acc += v;
            }
            for (int k = pl->n_sum - 1; k >= 0; k--) {
                int l = pl->sum_labels[k];
                if (++idx[k] < pl->size[l]) {
                    for (int i = 0; i < n_in; i++) off[i] += pl->stride[i][l];
                    break;
                }
                for (int i = 0; i < n_in; i++) off[i] -= (idx[k] - 1) * pl->stride[i][l];
                idx[k] = 0;
            }
        }
        if (is_int)
            lo_set_i64(y, o, iacc);
        else
            lo_set_f64(y, o, acc);
    }
}

/* Walks dst linearly over the index space sizes[0..n) (C order) while src
 * follows strides: a transposing copy. */
static void strided_gather(const float *src, float *dst, int n, const int64_t *sizes, const int64_t *strides) {
    int64_t total = lo_numel_dims(n, sizes), idx[EINSUM_MAX_LABELS] = {0}, off = 0;
    for (int64_t e = 0; e < total; e++) {
        dst[e] = src[off];
        for (int k = n - 1; k >= 0; k--) {
            if (++idx[k] < sizes[k]) {
                off += strides[k];
                break;
            }
            off -= (idx[k] - 1) * strides[k];
            idx[k] = 0;
        }
    }
}

/* Two float32 operands without diagonals and without labels summed inside
 * one operand: every label is a batch (both operands and the output), a
 * contraction (both operands only), or belongs to one operand and the output.
 * Both operands are transposed into [batch, M, K] and [batch, K, N], one
 * batched GEMM runs, and the result is transposed into the output's order.
 * Returns false (nothing written) when the equation does not fit. */

static bool einsum_matmul_f32(lo_kernel_ctx *ctx, const einsum_params *p, const einsum_plan *pl, lo_tensor *y) {
    if (ctx->n_in != 2 || y->dtype != LO_FLOAT || lo_use_ref(ctx)) return false;
    for (int i = 0; i < 2; i++) {
        int seen[EINSUM_LETTERS] = {0};
        for (int k = 0; k < p->in[i].n; k++)
            if (p->in[i].labels[k] >= 0 && seen[p->in[i].labels[k]]++) return false;
    }
    bool in_out[EINSUM_MAX_LABELS] = {0};
    for (int k = 0; k < pl->n_out; k++) in_out[pl->out_labels[k]] = true;
    int batch[EINSUM_MAX_LABELS], m[EINSUM_MAX_LABELS], n[EINSUM_MAX_LABELS], kk[EINSUM_MAX_LABELS];
    int nb = 0, nm = 0, nn = 0, nk = 0;
    int64_t B = 1, M = 1, N = 1, K = 1;
    for (int l = 0; l < EINSUM_MAX_LABELS; l++)
        if (pl->size[l] == 0) return false;
    for (int l = 0; l < EINSUM_MAX_LABELS; l++) {
        if (pl->size[l] <= 1) continue; /* absent, or size 1: no effect on layout */
        bool a = pl->stride[0][l] != 0, b = pl->stride[1][l] != 0, o = in_out[l];
        if (a && b && o) batch[nb++] = l, B *= pl->size[l];
        else if (a && b) kk[nk++] = l, K *= pl->size[l];
        else if (a && o) m[nm++] = l, M *= pl->size[l];
        else if (b && o) n[nn++] = l, N *= pl->size[l];
        else return false;
    }
    int64_t sa[EINSUM_MAX_LABELS], sza[EINSUM_MAX_LABELS], sb[EINSUM_MAX_LABELS], szb[EINSUM_MAX_LABELS];
    int na = 0, nbb = 0;
    for (int k = 0; k < nb; k++) sza[na] = pl->size[batch[k]], sa[na++] = pl->stride[0][batch[k]];
    for (int k = 0; k < nm; k++) sza[na] = pl->size[m[k]], sa[na++] = pl->stride[0][m[k]];
    for (int k = 0; k < nk; k++) sza[na] = pl->size[kk[k]], sa[na++] = pl->stride[0][kk[k]];
    for (int k = 0; k < nb; k++) szb[nbb] = pl->size[batch[k]], sb[nbb++] = pl->stride[1][batch[k]];
    for (int k = 0; k < nk; k++) szb[nbb] = pl->size[kk[k]], sb[nbb++] = pl->stride[1][kk[k]];
    for (int k = 0; k < nn; k++) szb[nbb] = pl->size[n[k]], sb[nbb++] = pl->stride[1][n[k]];
    /* where each output label sits in the [batch, M, N] product */
    int64_t pos_stride[EINSUM_MAX_LABELS] = {0}, st = 1;
    for (int k = nn - 1; k >= 0; k--) pos_stride[n[k]] = st, st *= pl->size[n[k]];
    for (int k = nm - 1; k >= 0; k--) pos_stride[m[k]] = st, st *= pl->size[m[k]];
    for (int k = nb - 1; k >= 0; k--) pos_stride[batch[k]] = st, st *= pl->size[batch[k]];
    int64_t so[EINSUM_MAX_LABELS], szo[EINSUM_MAX_LABELS];
    for (int k = 0; k < pl->n_out; k++) szo[k] = pl->size[pl->out_labels[k]], so[k] = pos_stride[pl->out_labels[k]];
    size_t ba = align64((size_t)(B * M * K) * sizeof(float)), bb = align64((size_t)(B * K * N) * sizeof(float));
    size_t bc = align64((size_t)(B * M * N) * sizeof(float));
    scratch_block blk = {ctx, NULL};
    char *base = scratch_take(&blk, ba + bb + bc);
    if (!base) return false;
    float *a = (float *)base, *b = (float *)(base + ba), *c = (float *)(base + ba + bb);
    strided_gather(ctx->in[0]->data, a, na, sza, sa);
    strided_gather(ctx->in[1]->data, b, nbb, szb, sb);
    for (int64_t bi = 0; bi < B; bi++)
        lo_gemm_f32(lo_use_ref(ctx), false, false, M, N, K, 1.0f, a + bi * M * K, K, b + bi * K * N, N, 0.0f, c + bi * M * N, N);
    strided_gather(c, y->data, pl->n_out, szo, so);
    scratch_release(&blk);
    return true;
}

static lo_status einsum_run(lo_kernel_ctx *ctx) {
    const einsum_params *p = ctx->params;
    LO_CHECK(ctx, ctx->n_in == p->n_terms, "the equation has %d operands, the node %d inputs", p->n_terms,
             ctx->n_in);
    for (int i = 0; i < ctx->n_in; i++) {
        LO_CHECK(ctx, ctx->in[i], "input %d is missing", i);
        LO_CHECK(ctx, ctx->in[i]->dtype == ctx->in[0]->dtype, "inputs must share one element type");
    }
    lo_dtype dt = ctx->in[0]->dtype;
    if (!gemm_dtype_ok(dt) && !lo_dtype_is_int(dt))
        return lo_kernel_fail(ctx, LO_ERR_UNSUPPORTED, "element type %s", lo_dtype_name(dt));
    einsum_plan pl;
    int rank = 0;
    int64_t dims[LO_MAX_RANK];
    LO_TRY(einsum_plan_make(ctx, p, &pl, &rank, dims));
    if (ctx->n_out < 1 || !ctx->out[0]) return LO_OK; /* nothing asked for */
    LO_TRY(lo_output(ctx, 0, dt, rank, dims));
    if (lo_numel(ctx->out[0]) > 0 && einsum_matmul_f32(ctx, p, &pl, ctx->out[0])) return LO_OK;
    einsum_compute(&pl, ctx->in, ctx->n_in, ctx->out[0]);
    return LO_OK;
}

const lo_op_def lo_ops_gemm[] = {
    {"", "Gemm", 1, LO_OPSET_MAX, gemm_prepare, gemm_run, NULL, LO_OP_FAST},
    {"", "MatMul", 1, LO_OPSET_MAX, matmul_prepare, matmul_run, matmul_params_free, LO_OP_FAST},
    {"", "MatMulInteger", 10, LO_OPSET_MAX, NULL, matmul_integer_run, NULL, 0},
    {"", "QLinearMatMul", 10, LO_OPSET_MAX, NULL, qlinear_matmul_run, NULL, 0},
    {"", "Einsum", 12, LO_OPSET_MAX, einsum_prepare, einsum_run, NULL, LO_OP_FAST},
    {0},
    {0},
};
