/* Quantization simulation from AIMET encodings files (0.6.1, 1.0.0, 2.0.0).
 *
 * The executor sees only this header: after loading a model it binds the
 * encodings to it (parameter encodings are applied to the initializers then,
 * once), and for every tensor it produces it asks for that tensor's
 * activation encoding and applies it in place before anyone reads it.
 *
 * Every integer encoding, whatever its version, symmetry or dtype, is held
 * as AIMET's libpymo holds it: an unsigned grid q in [0, 2^bw - 1] with
 * real = (q + offset) * scale, offset <= 0 for the usual grids. Symmetric,
 * unsigned symmetric and strict symmetric differ only in the offset (-2^(bw-1),
 * 0, -(2^(bw-1) - 1)); aimet_onnx 2.42 loads all three that way (its
 * AffineEncoding.to_TfEncoding), so a strict-symmetric int8 grid read from a
 * file spans [-127, 128] * scale there too. */
#ifndef LO_QUANT_H
#define LO_QUANT_H

#include "../graph/graph.h"

/* The public lo_rounding_mode (layerout.h), one enum for both sides:
 * LO_ROUNDING_HALF_EVEN rounds x / scale half to even, clamped on the integer
 * grid: torch's fake_quantize_*, aimet_torch v2 and ONNX QuantizeLinear.
 * LO_ROUNDING_HALF_AWAY is aimet_onnx's C++ kernel (libpymo
 * quantizeDequantizeCpu, still what aimet-onnx 2.42 runs): clamp x to
 * [min, max] in float, then roundf(x / scale - offset), i.e. half away from
 * zero on the unsigned grid, which is half up on the real line. */
typedef lo_rounding_mode lo_rounding;
/* The quantization code's short spellings of the same two values. */
#define LO_ROUND_HALF_EVEN LO_ROUNDING_HALF_EVEN
#define LO_ROUND_HALF_AWAY LO_ROUNDING_HALF_AWAY

typedef struct lo_encoding lo_encoding; /* one tensor's encoding */
typedef struct lo_quant lo_quant;       /* a parsed encodings file */

/* Parses an encodings file. Errors name the file, the entry and the field. */
lo_status lo_quant_load(const char *path, lo_quant **quant, lo_error *err);
void lo_quant_free(lo_quant *quant);

/* Binds the encodings to a model: resolves names, checks per-channel counts
 * against weight shapes, quantize-dequantizes the encoded initializers in
 * place (copying mapped external data first), and indexes activation
 * encodings by value. Names the model does not have are collected in
 * *missing (a malloc'd, newline-separated list, or NULL); with strict they
 * are an error. */
lo_status lo_quant_bind(lo_quant *quant, lo_model_ir *model, lo_rounding rounding, bool strict,
                        char **missing, lo_error *err);

/* The activation encoding of value v of graph g, or NULL. */
const lo_encoding *lo_quant_find(const lo_quant *quant, const lo_graph *g, int v);

/* The encoding of the tensor of that name, bound or not, or NULL. */
const lo_encoding *lo_quant_lookup(const lo_quant *quant, const char *name);

/* The index-th encoding of the file, in file order (for tests and tools). */
const lo_encoding *lo_quant_entry(const lo_quant *quant, int index);

/* Quantize-dequantizes a float tensor in place. */
lo_status lo_quant_apply(const lo_quant *quant, const lo_encoding *enc, lo_tensor *t, lo_error *err);

/* A one-line description of an encoding for the manifest
 * ("int8 asym per-tensor scale=0.0123 offset=-128"), into buf. */
const char *lo_encoding_describe(const lo_encoding *enc, char *buf, size_t size);

/* ---- aimet_onnx's view of the graph (aimet.c) ------------------------------ */

#define LO_AXIS_NONE (-1000) /* no axis given or implied */

/* The static tensor behind value v: v itself when it is an initializer or a
 * Constant node's output, else the one a chain of Identity nodes reads.
 * Returns its value index (or -1) and, when held as a tensor, the tensor. */
int lo_quant_static_source(const lo_graph *g, int v, const lo_tensor **tensor);

/* A weight's (channel, block) axes from the ops that read it as a weight
 * (through Identity chains and a Transpose in front of MatMul): Conv (0, 1),
 * ConvTranspose (1, 0), Gemm (1, 0), or (0, 1) with transB, MatMul
 * (-1, -2), or (-2, -1) through a Transpose. LO_AXIS_NONE when no op reads it
 * as a weight. Readers that disagree are an error (why filled) only when
 * need_axis and the count of per-channel scales does not single one out. */
lo_status lo_quant_weight_axes(const lo_graph *g, int v, int rank, const int64_t *dims, int n_scales,
                               bool need_axis, int *channel_axis, int *block_axis, char *why, size_t why_size);

/* Which tensors of a graph aimet_onnx's sim quantizes as parameters, and so
 * which its LayerOutputUtil saves: see aimet.c. */
typedef struct lo_aimet_set {
    const lo_graph *graph;
    uint8_t *flags;   /* per value */
    int *emit_start;  /* per position in graph->order, into emit_values */
    int *emit_values; /* initializers saved, in the order they are first read */
} lo_aimet_set;

lo_status lo_quant_aimet_set(const lo_graph *g, bool (*has_encoding)(const void *user, const char *name),
                             const void *user, lo_aimet_set *set, lo_error *err);
void lo_quant_aimet_set_free(lo_aimet_set *set);
bool lo_aimet_set_is_param(const lo_aimet_set *set, const lo_graph *g, int v);
bool lo_aimet_set_hidden(const lo_aimet_set *set, const lo_graph *g, int v);
int lo_aimet_set_before(const lo_aimet_set *set, const lo_graph *g, int order_index, const int **values);

/* For the run loop, under encodings: whether node output v has no file in
 * aimet_onnx's set (a MatMul its sim fused with the Add after it), and the
 * initializers its set saves just before the node at order_index runs, with
 * their encodings (NULL when the file has none). */
bool lo_quant_hidden(const lo_quant *quant, const lo_graph *g, int v);
int lo_quant_saved_before(const lo_quant *quant, const lo_graph *g, int order_index, const int **values);

/* ---- what `layerout encodings` prints ------------------------------------ */

typedef enum lo_granularity {
    LO_GRAN_PER_TENSOR = 0,
    LO_GRAN_PER_CHANNEL = 1,
    LO_GRAN_PER_BLOCK = 2,
    LO_GRAN_LPBQ = 3
} lo_granularity;

typedef enum lo_enc_kind {
    LO_ENC_UNKNOWN = 0,   /* a 2.0.0 entry before binding: the file does not say */
    LO_ENC_PARAM = 1,     /* a weight: an initializer, or listed under param_encodings */
    LO_ENC_ACTIVATION = 2 /* a tensor computed at run time, or a graph input */
} lo_enc_kind;

typedef struct lo_encoding_info {
    const char *name;
    lo_enc_kind kind;
    const char *dtype;    /* "int8", "uint4", "float16", ... */
    const char *symmetry; /* "sym", "asym", "unsigned-sym", "strict-sym"; "" for floats */
    int bitwidth;
    bool is_float; /* a float16/bfloat16 cast */
    lo_granularity granularity;
    int n_scales;
    bool excluded; /* named in excluded_layers: left as it is */
} lo_encoding_info;

const char *lo_quant_version(const lo_quant *quant);
int lo_quant_count(const lo_quant *quant);
void lo_quant_info(const lo_quant *quant, int index, lo_encoding_info *info);
int lo_quant_excluded_count(const lo_quant *quant);
const char *lo_quant_excluded(const lo_quant *quant, int index);

/* ---- the arithmetic (qdq.c) ------------------------------------------------ */

/* Quantize-dequantizes a float32 tensor of the given shape in place on an
 * affine grid q in [0, qmax] with real = (q + offset) * scale. The scales
 * and offsets form a tensor of shape enc_dims (same rank as dims, each
 * enc_dims[d] dividing dims[d]); element i uses the scale at
 * i[d] / (dims[d] / enc_dims[d]) on every axis, which covers per-tensor
 * (all 1), per-channel and per-block layouts alike. */
void lo_qdq_affine(float *data, int rank, const int64_t *dims, const int64_t *enc_dims,
                   const double *scale, const double *offset, double qmax, lo_rounding rounding);
/* Rounds every element to the nearest float16 (bfloat16), ties to even. */
void lo_qdq_float16(float *data, int64_t n);
void lo_qdq_bfloat16(float *data, int64_t n);

#endif
