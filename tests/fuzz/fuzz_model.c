/* Model loading and planning: protobuf decoding, the graph IR, topological
 * order, external data (the location checks) and every kernel's prepare. */
#include "fuzz_common.h"
#include "layerout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[700];
    snprintf(path, sizeof path, "%s/model.onnx", fuzz_scratch("model"));
    fuzz_write(path, data, size);
    lo_model *m = NULL;
    lo_error err;
    if (lo_model_load(path, &m, &err) == LO_OK) {
        /* the accessors the CLI calls right after loading */
        for (int i = 0; i < lo_model_input_count(m); i++) {
            (void)lo_model_input_name(m, i);
            (void)lo_model_input_dtype(m, i);
            for (int d = 0; d < lo_model_input_rank(m, i); d++) (void)lo_model_input_dim(m, i, d);
        }
        lo_model_free(m);
    } else if (!err.message[0]) {
        abort(); /* every failure must say why */
    }
    return 0;
}
