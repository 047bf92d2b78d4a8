/* compare's dump readers over multi-sample dumps: two dump folders A and B
 * are built from the input, opened, every tensor file of every sample
 * mapped, then compared (A with itself, A with B, B with A) and reported in
 * every format: matching, shapes from the manifest against the real file
 * sizes of every sample, metrics. Later samples are where short, empty and
 * missing files hide, so both folders hold three samples whose files come
 * from different parts.
 *
 * Input parts, separated by a "----" line:
 *   0 manifest.json   1 layer_output_name_order.json
 *   2 sample 0 t.npy  3 sample 0 u.raw
 *   4 sample 1 t.npy  5 sample 1 u.raw  6 sample 2 u.raw
 *   7 flags: byte k, bit i set -> file i of folder k (0: A, 1: B) is written
 *     empty (0 bytes) instead of its part
 * An empty part leaves its file out (missing). A's samples 1 and 2 take
 * parts 4, 5, 6; B's take them crossed (sample 1 u.raw from part 6, sample
 * 2 u.raw from part 5), so the two disagree about sizes sample by sample.
 * Sample 2's t.npy is sample 0's. */
#include "fuzz_common.h"
#include "compare/compare.h"

#define N_PARTS 8

static void put(const char *dir, const char *name, const uint8_t *data, size_t size, bool empty) {
    char path[900];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (empty) fuzz_write(path, (const uint8_t *)"", 0);
    else if (data && size) fuzz_write(path, data, size);
    else unlink(path);
}

static void make_dirs(const char *dir) {
    char p[800];
    mkdir(dir, 0700);
    snprintf(p, sizeof p, "%s/outputs", dir);
    mkdir(p, 0700);
    for (int k = 0; k < 3; k++) {
        snprintf(p, sizeof p, "%s/outputs/layer_outputs_%d", dir, k);
        mkdir(p, 0700);
    }
}

static void build(const char *dir, const uint8_t *const *parts, const size_t *lens, uint8_t flags, bool crossed) {
    /* file i of the folder -> the part it takes */
    static const char *const names[] = {
        "manifest.json", "layer_output_name_order.json", "outputs/layer_outputs_0/t.npy",
        "outputs/layer_outputs_0/u.raw", "outputs/layer_outputs_1/t.npy", "outputs/layer_outputs_1/u.raw",
        "outputs/layer_outputs_2/u.raw", "outputs/layer_outputs_2/t.npy"};
    const int straight[] = {0, 1, 2, 3, 4, 5, 6, 2};
    const int cross[] = {0, 1, 2, 3, 4, 6, 5, 2};
    for (int i = 0; i < 8; i++) {
        int part = crossed ? cross[i] : straight[i];
        put(dir, names[i], parts[part], lens[part], (flags >> i) & 1);
    }
}

static void compare_and_report(const char *ref, const char *test, const char *reports) {
    lo_compare_options opt;
    lo_compare_options_init(&opt);
    lo_comparison *c = NULL;
    lo_error err;
    if (lo_compare_run(ref, test, &opt, &c, &err) == LO_OK) {
        FILE *null = fopen("/dev/null", "w");
        if (null) {
            lo_report_text(c, null, 10);
            lo_report_text(c, null, 0);
            fclose(null);
        }
        char path[900];
        snprintf(path, sizeof path, "%s/r.csv", reports);
        lo_report_csv(c, path, &err);
        snprintf(path, sizeof path, "%s/r.json", reports);
        lo_report_json(c, path, &err);
        snprintf(path, sizeof path, "%s/r.html", reports);
        lo_report_html(c, path, &err);
        lo_comparison_free(c);
    } else if (!err.message[0]) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *root = fuzz_scratch("dump");
    char a[700], b[700];
    snprintf(a, sizeof a, "%s/a", root);
    snprintf(b, sizeof b, "%s/b", root);
    static int made;
    if (!made) {
        make_dirs(a);
        make_dirs(b);
        made = 1;
    }
    const uint8_t *parts[N_PARTS] = {0};
    size_t lens[N_PARTS] = {0};
    size_t n = fuzz_split(data, size, parts, lens, N_PARTS);
    for (size_t i = n; i < N_PARTS; i++) {
        parts[i] = NULL;
        lens[i] = 0;
    }
    uint8_t flags_a = lens[7] > 0 ? parts[7][0] : 0, flags_b = lens[7] > 1 ? parts[7][1] : 0;
    build(a, parts, lens, flags_a, false);
    build(b, parts, lens, flags_b, true);

    lo_dump d;
    lo_error err;
    if (lo_dump_open(a, &d, &err) == LO_OK) {
        for (int s = 0; s < d.n_samples && s < 3; s++)
            for (int t = 0; t < d.n_tensors && t < 16; t++) {
                lo_mapped m;
                if (lo_dump_map(&d, s, t, &m, &err) == LO_OK) {
                    /* every byte the mapping claims is readable */
                    volatile uint8_t sum = 0;
                    for (size_t i = 0; i < m.nbytes; i++) sum ^= ((const uint8_t *)m.data)[i];
                    (void)sum;
                    lo_unmap(&m);
                }
            }
    } else if (!err.message[0]) {
        abort();
    }
    lo_dump_close(&d);
    compare_and_report(a, a, root);
    compare_and_report(a, b, root);
    compare_and_report(b, a, root);
    return 0;
}
