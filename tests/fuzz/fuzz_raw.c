/* lo_read_tensor_file as the CLI calls it: the model's declared dtype and
 * shape against a file. The first bytes choose the file kind (raw, .npy,
 * .pb), the dtype and the expected shape (-1 = dynamic); the rest is the
 * file. */
#include "fuzz_common.h"
#include "dump/dump.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    static const char *const exts[] = {".raw", ".npy", ".pb", ""};
    const char *ext = exts[data[0] & 3];
    lo_dtype dtype = (lo_dtype)(data[1] % 26); /* beyond the last type too */
    int rank = (data[2] & 0x0f) - 1;           /* -1: the model declares none */
    if (rank > LO_MAX_RANK + 1) rank = LO_MAX_RANK + 1;
    data += 3;
    size -= 3;
    int64_t dims[LO_MAX_RANK + 2] = {0};
    for (int d = 0; d < rank && d < LO_MAX_RANK + 2; d++) {
        if (!size) return 0;
        /* small dims mostly, dynamic ones and a huge one sometimes */
        dims[d] = data[0] == 0xff ? -1 : data[0] == 0xfe ? INT64_MAX / 3 : data[0] & 0x1f;
        data++;
        size--;
    }
    if (rank > LO_MAX_RANK) rank = LO_MAX_RANK; /* the caller clamps as lo_model_input_rank does */
    char path[700];
    snprintf(path, sizeof path, "%s/input%s", fuzz_scratch("raw"), ext);
    fuzz_write(path, data, size);
    lo_tensor t;
    lo_error err;
    if (lo_read_tensor_file(path, dtype, rank, dims, &t, &err) == LO_OK) {
        size_t bytes;
        if (!lo_shape_bytes(t.dtype, t.rank, t.dims, &bytes, NULL) || bytes != t.nbytes) abort();
        if (dtype && t.dtype != dtype) abort();
        lo_tensor_free_data(&t);
    } else if (!err.message[0]) {
        abort();
    }
    return 0;
}
