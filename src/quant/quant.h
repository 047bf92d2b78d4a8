/* Quantization simulation from AIMET encodings files (0.6.1, 1.0.0, 2.0.0).
 *
 * The executor sees only this header: after loading a model it binds the
 * encodings to it (parameter encodings are applied to the initializers then,
 * once), and for every tensor it produces it asks for that tensor's
 * activation encoding and applies it in place before anyone reads it. */
#ifndef LO_QUANT_H
#define LO_QUANT_H

#include "../graph/graph.h"

typedef enum lo_rounding {
    LO_ROUND_HALF_EVEN = 0, /* torch.round, aimet_torch v2 and aimet_onnx's current kernels */
    LO_ROUND_HALF_AWAY = 1  /* C round(): libpymo's legacy kernels */
} lo_rounding;

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

/* Quantize-dequantizes a float tensor in place. */
lo_status lo_quant_apply(const lo_quant *quant, const lo_encoding *enc, lo_tensor *t, lo_error *err);

/* A one-line description of an encoding for the manifest
 * ("int8 asym per-tensor scale=0.0123 offset=-128"), into buf. */
const char *lo_encoding_describe(const lo_encoding *enc, char *buf, size_t size);

#endif
