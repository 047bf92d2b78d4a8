/* compare's dump readers: a dump folder is built from the input, opened,
 * every tensor file mapped, then compared with itself (matching, shapes
 * from the manifest against the real file sizes, metrics) and reported.
 * Input parts, separated by a "----" line: manifest.json,
 * layer_output_name_order.json, outputs/layer_outputs_0/t.npy,
 * outputs/layer_outputs_0/u.raw; an empty part leaves its file out. */
#include "fuzz_common.h"
#include "compare/compare.h"

static void put(const char *dir, const char *name, const uint8_t *data, size_t size, size_t n_parts,
                size_t index) {
    char path[900];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (index < n_parts && size) fuzz_write(path, data, size);
    else unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *dir = fuzz_scratch("dump");
    char sample[700];
    snprintf(sample, sizeof sample, "%s/outputs/layer_outputs_0", dir);
    static int made;
    if (!made) {
        char outputs[700];
        snprintf(outputs, sizeof outputs, "%s/outputs", dir);
        mkdir(outputs, 0700);
        mkdir(sample, 0700);
        made = 1;
    }
    const uint8_t *parts[4];
    size_t lens[4];
    size_t n = fuzz_split(data, size, parts, lens, 4);
    static const char *const names[4] = {"manifest.json", "layer_output_name_order.json",
                                         "outputs/layer_outputs_0/t.npy",
                                         "outputs/layer_outputs_0/u.raw"};
    for (size_t i = 0; i < 4; i++) put(dir, names[i], i < n ? parts[i] : NULL, i < n ? lens[i] : 0, n, i);

    lo_dump d;
    lo_error err;
    if (lo_dump_open(dir, &d, &err) == LO_OK) {
        for (int s = 0; s < d.n_samples && s < 2; s++)
            for (int t = 0; t < d.n_tensors && t < 16; t++) {
                lo_mapped m;
                if (lo_dump_map(&d, s, t, &m, &err) == LO_OK) lo_unmap(&m);
            }
    } else if (!err.message[0]) {
        abort();
    }
    lo_dump_close(&d);

    lo_compare_options opt;
    lo_compare_options_init(&opt);
    lo_comparison *c = NULL;
    if (lo_compare_run(dir, dir, &opt, &c, &err) == LO_OK) {
        FILE *null = fopen("/dev/null", "w");
        if (null) {
            lo_report_text(c, null, 10);
            fclose(null);
        }
        lo_comparison_free(c);
    } else if (!err.message[0]) {
        abort();
    }
    return 0;
}
