/* What the matrix products share with the recurrent ops (src/ops/rnn): the
 * float32 GEMM with its reference and oneDNN paths, and the scratch carving
 * both use. */
#ifndef LO_OPS_MATH_GEMM_H
#define LO_OPS_MATH_GEMM_H

#include <stdlib.h>

#include "../ops.h"

/* ---- scratch ------------------------------------------------------------ */

/* lo_scratch hands out one block per kernel call, so a kernel asks once for
 * everything and carves it. It may have nothing to give (no session, as under
 * a unit-test harness); the heap stands in and is freed when the kernel
 * returns. */
typedef struct scratch_block {
    lo_kernel_ctx *ctx;
    void *heap;
} scratch_block;

static inline size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

static inline void *scratch_take(scratch_block *s, size_t bytes) {
    s->heap = NULL;
    if (!bytes) bytes = 64;
    void *m = lo_scratch(s->ctx, bytes);
    if (m) return m;
    s->heap = m = malloc(bytes);
    return m;
}

static inline void scratch_release(scratch_block *s) {
    free(s->heap);
    s->heap = NULL;
}

/* C = alpha * op(A) op(B) + beta * C, row-major float32; beta == 0 never
 * reads C. ref: the kernel context's choice of the reference loops (double
 * accumulation); otherwise oneDNN's sgemm, falling back to them. */
void lo_gemm_f32(bool ref, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                 int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

#endif
