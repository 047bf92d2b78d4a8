/* Kernels and the registry that maps (domain, op_type, opset) to them.
 *
 * A kernel has two parts. prepare runs once at load time: it reads the
 * node's attributes (ONNX defaults applied) into a plain params struct and
 * rejects what it cannot run, so unsupported attribute values fail before
 * anything runs. run gets resolved input tensors, asks lo_output() for each
 * output's buffer once it knows the output's dtype and shape (shapes depend
 * on the actual inputs), and computes. run does not allocate anything else
 * of a tensor's size; scratch memory comes from lo_scratch(). */
#ifndef LO_OPS_H
#define LO_OPS_H

#include "../graph/graph.h"

struct lo_frame;

/* Which implementation a kernel runs. Every fast path has a plain reference
 * it is checked against; the choice is data in the kernel context, set per
 * session (lo_session_options.reference_kernels) or by the op tests, never
 * read from the environment. */
typedef enum lo_kernels {
    LO_KERNELS_FAST = 0,      /* the fastest path for the shape and machine */
    LO_KERNELS_REFERENCE = 1, /* the reference loops */
    /* Conv's oneDNN variants, forced so tests reach each one: NCHW src/dst,
     * oneDNN's chosen (blocked) layouts, the integer GEMM without AVX-512. */
    LO_KERNELS_CONV_PLAIN = 2,
    LO_KERNELS_CONV_BLOCKED = 3,
    LO_KERNELS_CONV_PORTABLE = 4
} lo_kernels;

typedef struct lo_kernel_ctx {
    const lo_node *node;
    const void *params;
    const lo_tensor *const *in; /* in[i] is NULL for an omitted optional input */
    int n_in;
    lo_tensor *const *out; /* out[i] is NULL for an omitted optional output */
    int n_out;
    lo_error *err;
    struct lo_frame *frame; /* the running graph, for control flow */
    int threads;
    lo_kernels kernels;
    /* Runs a subgraph (If branch, Loop or Scan body) of the node being run:
     * inputs are bound to body->inputs in order, outer-scope names resolve
     * to the enclosing frames; outputs[0..body->n_outputs) receive the
     * body's outputs, owned by the caller (lo_tensor_free_data). iteration
     * (-1 for If) is what the observer reports for the body's tensors.
     * Given by the run loop, so kernels never include it; NULL outside a
     * session. */
    lo_status (*run_subgraph)(struct lo_kernel_ctx *ctx, const lo_graph *body, const lo_tensor *const *inputs,
                              int n_inputs, lo_tensor *outputs, int iteration);
    /* Fusion, set by the run loop only where no observer sees the tensor
     * skipped. MatMul: input k (0 or 1) is the input of a Transpose whose
     * output only this MatMul read; the kernel reads it through perm
     * fold_perm[k] (n_fold_perm[k] axes; 0: reversed, as Transpose's
     * default). NULL elsewhere. */
    const int64_t *fold_perm[2];
    int n_fold_perm[2];
    /* Reshape, Flatten, Squeeze, Unsqueeze, Identity, Transpose: input 0's block, which
     * this node is the last to read; lo_output hands it over as output 0
     * (donor_taken set) when the sizes match, so the kernel copies nothing. */
    lo_tensor *donor;
    bool donor_taken;
    /* Conv, GlobalAveragePool and a Mul by a per-channel gate, where the
     * run loop holds a value in oneDNN's nCx16c layout (lo_plan's vblk):
     * in_blocked says input blocked_arg arrives so (X for Conv and
     * pooling; the Mul's either); out_may_block lets a Conv or that Mul
     * write its output so, which it reports in out_blocked. */
    bool in_blocked, out_may_block, out_blocked;
    int blocked_arg;
} lo_kernel_ctx;

/* Whether the kernel must take its reference path. */
static inline bool lo_use_ref(const lo_kernel_ctx *ctx) { return ctx->kernels == LO_KERNELS_REFERENCE; }

/* Sets out[i]'s dtype and shape and gives it a buffer (zero-filled only for
 * LO_STRING). Omitted outputs (NULL) get a scratch buffer that is dropped. */
lo_status lo_output(lo_kernel_ctx *ctx, int i, lo_dtype dtype, int rank, const int64_t *dims);
/* Scratch memory valid until the kernel returns. Every call returns the
 * same session block (grown as needed): a second call invalidates the
 * first, so a kernel asks once and carves the block itself. */
void *lo_scratch(lo_kernel_ctx *ctx, size_t bytes);
/* Whether input i is an initializer: its data and address stay the same for
 * the whole session, so a kernel may cache what it derives from it. */
bool lo_input_is_constant(const lo_kernel_ctx *ctx, int i);

typedef struct lo_op_def {
    const char *domain; /* "" for ai.onnx */
    const char *op_type;
    int since; /* first opset version served */
    int until; /* last opset version served, inclusive */
    lo_status (*prepare)(const lo_node *node, void **params, lo_error *err); /* may be NULL */
    lo_status (*run)(lo_kernel_ctx *ctx);
    void (*free_params)(void *params); /* NULL: free() */
    /* LO_OP_FAST: run has a fast path besides its reference, chosen by
     * ctx->kernels; tests/unit/test_ops.c runs every such op both ways. */
    unsigned flags;
} lo_op_def;

#define LO_OP_FAST 1u

#define LO_OPSET_MAX 28

/* Finds the kernel for a node's op at its opset. On failure err says whether
 * the op is unknown or known only at other versions. */
const lo_op_def *lo_op_lookup(const char *domain, const char *op_type, int opset);
/* A comma-separated description of the versions served, for messages. */
void lo_op_versions(const char *domain, const char *op_type, char *buf, size_t size);
/* Calls fn for every registered kernel (for docs and the conformance report). */
void lo_op_foreach(void (*fn)(const lo_op_def *def, void *user), void *user);

/* Shared helpers for kernels. */

/* Broadcast the shapes of n tensors per ONNX multidirectional rules. */
lo_status lo_broadcast_shape(int n, const lo_tensor *const *ts, int *rank, int64_t *dims,
                             lo_error *err);
/* Strides (in elements) for reading t as if broadcast to (rank, dims):
 * broadcast axes get stride 0. */
void lo_broadcast_strides(const lo_tensor *t, int rank, const int64_t *dims, int64_t *strides);
/* Reads an ints attribute of at most max values, each in [lo, 2^31], into
 * out (*count of them); an attribute beyond that is a bad model. */
lo_status lo_attr_ints_checked(const lo_node *node, const char *name, int max, int64_t lo, int *count,
                               int64_t *out, lo_error *err);
/* Normalizes a possibly negative axis against rank; false if out of range. */
bool lo_norm_axis(int64_t axis, int rank, int *out);
/* Fails the kernel with a message that names the node and its op. */
lo_status lo_kernel_fail(lo_kernel_ctx *ctx, lo_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Returns LO_ERR_INPUT from the calling kernel unless cond holds. */
#define LO_CHECK(ctx, cond, ...)                                                  \
    do {                                                                          \
        if (!(cond)) return lo_kernel_fail((ctx), LO_ERR_INPUT, __VA_ARGS__);     \
    } while (0)


/* Tables of the kernel families, each ended by an entry with op_type NULL:
 * one per source file, which sits in the directory of its ONNX domain
 * (src/ops/<domain>/, after ONNX Runtime's providers/cpu layout). */
extern const lo_op_def lo_ops_control[]; /* controlflow/control.c */
extern const lo_op_def lo_ops_generator_random[]; /* generator/random.c */
extern const lo_op_def lo_ops_image_image_decoder[]; /* image/image_decoder.c */
extern const lo_op_def lo_ops_llm_attention[]; /* llm/attention.c */
extern const lo_op_def lo_ops_llm_flex_attention[]; /* llm/flex_attention.c */
extern const lo_op_def lo_ops_llm_linear_attention[]; /* llm/linear_attention.c */
extern const lo_op_def lo_ops_llm_rotary_embedding[]; /* llm/rotary_embedding.c */
extern const lo_op_def lo_ops_llm_tensor_scatter[]; /* llm/tensor_scatter.c */
extern const lo_op_def lo_ops_cumulative[]; /* math/cumulative.c */
extern const lo_op_def lo_ops_math_det[]; /* math/det.c */
extern const lo_op_def lo_ops_elementwise[]; /* math/elementwise.c */
extern const lo_op_def lo_ops_gemm[]; /* math/gemm.c */
extern const lo_op_def lo_ops_ml[]; /* ml/ml.c */
extern const lo_op_def lo_ops_nn_col2im[]; /* nn/col2im.c */
extern const lo_op_def lo_ops_conv[]; /* nn/conv.c */
extern const lo_op_def lo_ops_conv_integer[]; /* nn/conv_integer.c */
extern const lo_op_def lo_ops_deform_conv[]; /* nn/deform_conv.c */
extern const lo_op_def lo_ops_loss[]; /* nn/loss.c */
extern const lo_op_def lo_ops_norm[]; /* nn/normalization.c */
extern const lo_op_def lo_ops_pool[]; /* nn/pool.c */
extern const lo_op_def lo_ops_object_detection_non_max_suppression[]; /* object_detection/non_max_suppression.c */
extern const lo_op_def lo_ops_quantize[]; /* quantization/quantize.c */
extern const lo_op_def lo_ops_reduce[]; /* reduction/reduce.c */
extern const lo_op_def lo_ops_rnn[]; /* rnn/rnn.c */
extern const lo_op_def lo_ops_sequence[]; /* sequence/sequence.c */
extern const lo_op_def lo_ops_signal_dft[]; /* signal/dft.c */
extern const lo_op_def lo_ops_signal_window[]; /* signal/window.c */
extern const lo_op_def lo_ops_tensor_affine_grid[]; /* tensor/affine_grid.c */
extern const lo_op_def lo_ops_tensor_bitcast[]; /* tensor/bitcast.c */
extern const lo_op_def lo_ops_cast[]; /* tensor/cast.c */
extern const lo_op_def lo_ops_tensor_center_crop_pad[]; /* tensor/center_crop_pad.c */
extern const lo_op_def lo_ops_concat_split[]; /* tensor/concat_split.c */
extern const lo_op_def lo_ops_expand_tile[]; /* tensor/expand_tile.c */
extern const lo_op_def lo_ops_gather[]; /* tensor/gather.c */
extern const lo_op_def lo_ops_tensor_grid_sample[]; /* tensor/grid_sample.c */
extern const lo_op_def lo_ops_pad[]; /* tensor/pad.c */
extern const lo_op_def lo_ops_range_nonzero_onehot[]; /* tensor/range_nonzero_onehot.c */
extern const lo_op_def lo_ops_resize[]; /* tensor/resize.c */
extern const lo_op_def lo_ops_reverse_sequence_compress[]; /* tensor/reverse_sequence_compress.c */
extern const lo_op_def lo_ops_scatter[]; /* tensor/scatter.c */
extern const lo_op_def lo_ops_shape[]; /* tensor/shape.c */
extern const lo_op_def lo_ops_slice[]; /* tensor/slice.c */
extern const lo_op_def lo_ops_space_depth[]; /* tensor/space_depth.c */
extern const lo_op_def lo_ops_transpose[]; /* tensor/transpose.c */
extern const lo_op_def lo_ops_unique[]; /* tensor/unique.c */
extern const lo_op_def lo_ops_tensor_where[]; /* tensor/where.c */
extern const lo_op_def lo_ops_text_string_normalizer[]; /* text/string_normalizer.c */
extern const lo_op_def lo_ops_text_strings[]; /* text/strings.c */
extern const lo_op_def lo_ops_text_tfidf_vectorizer[]; /* text/tfidf_vectorizer.c */

/* The sum of n float32 values in double, vectorized in a fixed lane order
 * (reduce.c; GlobalAveragePool's too), and the same sums of 16 channels
 * held interleaved in oneDNN's nCx16c layout, bit for bit. */
double lo_sum_f32(const float *x, int64_t n);
void lo_sum16_f32(const float *x, int64_t n, double *out);
/* The same lanes over (double)x * x, and over the float deviation x - m
 * squared in double (LayerNormalization's and RMSNormalization's rows). */
double lo_sum_squares_f32(const float *x, int64_t n);
double lo_sum_deviations_f32(const float *x, int64_t n, float m);
/* NCHW from nCx16c: `ch` channels (a multiple of 16), `plane` positions
 * each (conv.c). */
void lo_unblock16(int64_t batch, int64_t ch, int64_t plane, const float *src, float *dst);
/* *plain = t (float32, rank >= 3, held in nCx16c) with its data copied in
 * NCHW order into a buffer of its own (the caller frees plain->data); false
 * when out of memory. */
bool lo_unblocked_copy(const lo_tensor *t, lo_tensor *plain);

#endif
