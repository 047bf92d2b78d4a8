/* What the run loop needs from the kernels to fuse nodes whose intermediate
 * tensors nobody sees (src/exec plans it): elementwise chains evaluated in
 * cache-sized blocks over a producer's output. (MatMul reading an operand
 * through a Transpose it absorbed goes through lo_kernel_ctx's fold_perm.)
 * Each fused result is the same float32
 * arithmetic, in the same order, as the kernels run one by one: saved
 * tensors keep their exact values. */
#ifndef LO_OPS_MATH_FUSION_H
#define LO_OPS_MATH_FUSION_H

#include "../ops.h"

/* Whether node n (already bound to its kernel) can be a link of an
 * elementwise chain: a float32 unary op with a row loop, a binary Add, Sub,
 * Mul, Div or Pow (opset 7+), or Clip. */
bool lo_ew_fusable(const lo_node *n);

#define LO_CHAIN_MAX 12

/* One node of a chain. Its inputs are chain slots (slot 0: the head's
 * output, slot k: link k-1's output) or tensors from outside the chain. */
typedef struct lo_ew_link {
    const lo_node *node;
    int n_in;
    int slot[3];             /* >= 0: a chain slot; -1: ext[i]; -2: omitted (Clip's bounds) */
    const lo_tensor *ext[3]; /* filled by the caller for each run */
} lo_ew_link;

/* Runs links[0..n) over x (the head's float32 output, shape rank/dims) and
 * writes the last link's result to y (may be x: the chain then works in
 * place). Returns false, having written nothing, when an outside operand is
 * not float32 or does not broadcast as a scalar, a same-shaped tensor or a
 * trailing row (a bias): the caller then runs the nodes one by one. */
bool lo_ew_chain_run(const lo_kernel_ctx *ctx, const lo_ew_link *links, int n, const float *x, int rank,
                     const int64_t *dims, float *y);

/* Whether lo_ew_chain_run would take links[0..n) over a head output of
 * this dtype and shape (the run loop fuses the longest prefix that fits). */
bool lo_ew_chain_fits(const lo_ew_link *links, int n, lo_dtype head_dtype, int rank, const int64_t *dims);

#endif
