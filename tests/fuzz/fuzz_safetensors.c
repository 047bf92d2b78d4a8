/* The safetensors reader (compare's and extract's view of a --format
 * safetensors sample): what it accepts must point inside the file, with as
 * many bytes as dtype and shape say. */
#include "fuzz_common.h"
#include "dump/dump.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[700];
    snprintf(path, sizeof path, "%s/sample.safetensors", fuzz_scratch("safetensors"));
    fuzz_write(path, data, size);
    lo_st_index x;
    lo_error err;
    if (lo_st_read_index(path, &x, &err) != LO_OK) {
        if (!err.message[0]) abort();
        return 0;
    }
    for (int i = 0; i < x.n; i++) {
        const lo_st_entry *e = &x.entries[i];
        size_t bytes;
        if (!lo_shape_bytes(e->dtype, e->rank, e->dims, &bytes, NULL) || e->end < e->begin ||
            e->end - e->begin != bytes || e->end > size || e->begin < 8 || lo_st_find(&x, e->key) != e)
            abort();
    }
    lo_st_index_free(&x);
    return 0;
}
