/* AIMET encodings files (0.6.1, 1.0.0, 2.0.0): parsing, and, when
 * LOFUZZ_MODEL names a model, binding them to it as --encodings does
 * (which quantizes its parameters at load). */
#include "fuzz_common.h"
#include "layerout.h"
#include "quant/quant.h"

static const char *model_path;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    model_path = getenv("LOFUZZ_MODEL");
    if (model_path && !*model_path) model_path = NULL;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[700];
    snprintf(path, sizeof path, "%s/encodings.json", fuzz_scratch("encodings"));
    fuzz_write(path, data, size);
    lo_quant *q = NULL;
    lo_error err;
    if (lo_quant_load(path, &q, &err) == LO_OK) {
        for (int i = 0; i < lo_quant_count(q); i++) {
            lo_encoding_info info;
            lo_quant_info(q, i, &info);
        }
        for (int i = 0; i < lo_quant_excluded_count(q); i++) (void)lo_quant_excluded(q, i);
        lo_quant_free(q);
        if (model_path) {
            lo_model_options o;
            lo_model_options_init(&o);
            o.encodings = path;
            lo_model *m = NULL;
            if (lo_model_load_ex(model_path, &o, &m, &err) != LO_OK && !err.message[0]) abort();
            lo_model_free(m);
        }
    } else if (!err.message[0]) {
        abort();
    }
    return 0;
}
