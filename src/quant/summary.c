/* The public view of an encodings file (lo_encodings_*, layerout.h): what
 * `layerout encodings` prints, without the CLI reaching into the loader. */
#include <stdlib.h>

#include "../onnx/onnx.h"
#include "quant.h"

struct lo_encodings {
    lo_quant *quant;
    lo_model_ir *model; /* kept: bound encodings point into it */
    char *missing;
};

lo_status lo_encodings_load(const char *path, const char *model_path, lo_encodings **out, lo_error *err) {
    *out = NULL;
    lo_encodings *e = calloc(1, sizeof *e);
    if (!e) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    lo_status st = lo_quant_load(path, &e->quant, err);
    if (st == LO_OK && model_path) st = lo_onnx_load(model_path, &e->model, err);
    /* the rounding is irrelevant here: nothing is quantized */
    if (st == LO_OK && model_path)
        st = lo_quant_bind(e->quant, e->model, LO_ROUNDING_HALF_EVEN, false, &e->missing, err);
    if (st != LO_OK) {
        lo_encodings_free(e);
        return st;
    }
    *out = e;
    return LO_OK;
}

const char *lo_encodings_version(const lo_encodings *e) { return lo_quant_version(e->quant); }
int lo_encodings_count(const lo_encodings *e) { return lo_quant_count(e->quant); }

void lo_encodings_get(const lo_encodings *e, int index, lo_encoding_summary *s) {
    lo_encoding_info info;
    lo_quant_info(e->quant, index, &info);
    s->name = info.name;
    s->kind = (lo_encoding_kind)info.kind;
    s->dtype = info.dtype;
    s->symmetry = info.symmetry;
    s->bitwidth = info.bitwidth;
    s->is_float = info.is_float;
    s->granularity = (lo_encoding_granularity)info.granularity;
    s->n_scales = info.n_scales;
    s->excluded = info.excluded;
}

int lo_encodings_excluded_count(const lo_encodings *e) { return lo_quant_excluded_count(e->quant); }
const char *lo_encodings_excluded(const lo_encodings *e, int index) { return lo_quant_excluded(e->quant, index); }
const char *lo_encodings_missing(const lo_encodings *e) { return e->missing; }

void lo_encodings_free(lo_encodings *e) {
    if (!e) return;
    free(e->missing);
    lo_quant_free(e->quant);
    lo_model_ir_free(e->model);
    free(e);
}
