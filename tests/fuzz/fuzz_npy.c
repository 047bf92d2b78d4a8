/* The .npy reader, straight from memory. */
#include "fuzz_common.h"
#include "dump/dump.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lo_tensor t;
    lo_error err;
    if (lo_npy_decode(data, size, &t, &err) == LO_OK) {
        size_t bytes;
        /* what was decoded must be self-consistent: later stages trust it */
        if (!lo_shape_bytes(t.dtype, t.rank, t.dims, &bytes, NULL) || bytes != t.nbytes) abort();
        lo_tensor_free_data(&t);
    } else if (!err.message[0]) {
        abort();
    }
    return 0;
}
