/* Qualcomm's input_list.txt reader. */
#include "fuzz_common.h"
#include "dump/dump.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[700];
    snprintf(path, sizeof path, "%s/input_list.txt", fuzz_scratch("input_list"));
    fuzz_write(path, data, size);
    lo_input_list list;
    lo_error err;
    if (lo_input_list_parse(path, &list, &err) == LO_OK) {
        for (int s = 0; s < list.n_samples; s++)
            for (int i = 0; i < list.n_files[s]; i++)
                if (!list.paths[s][i] || !list.paths[s][i][0]) abort(); /* callers open these */
        lo_input_list_clear(&list);
    } else if (!err.message[0]) {
        abort();
    }
    return 0;
}
