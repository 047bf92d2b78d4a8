/* The TensorProto (.pb) reader, straight from memory. */
#include "fuzz_common.h"
#include "onnx/onnx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lo_tensor t;
    lo_error err;
    char *name = NULL;
    memset(&t, 0, sizeof t);
    if (lo_onnx_decode_tensor(data, size, &t, &name, &err) == LO_OK) {
        size_t bytes;
        if (!lo_shape_bytes(t.dtype, t.rank, t.dims, &bytes, NULL) || bytes != t.nbytes) abort();
        free(name);
    } else if (!err.message[0]) {
        abort();
    }
    /* a failed decode may leave part of the data behind; freeing must work */
    lo_tensor_free_data(&t);
    return 0;
}
