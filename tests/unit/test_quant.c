/* Unit tests of src/quant: the quantize-dequantize arithmetic in both
 * rounding modes (ties, clamping, per-channel and per-block layouts), and
 * the encodings reader: the three versions, and the message for each kind
 * of bad input. Expected values are worked out by hand from the formulas in
 * quant.h. */
#include <unistd.h>

#include "quant/quant.h"
#include "harness.h"

static void test_ties(void) {
    /* int8 symmetric, scale 1: offset -128 on the unsigned grid. */
    float x[] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 126.5f, 127.6f, -128.6f, 300.0f, -300.0f};
    float even[] = {0, 2, 2, -0, -2, -2, 126, 127, -128, 127, -128};
    /* aimet_onnx rounds t = x - offset half away from zero with t >= 0: half up. */
    float away[] = {1, 2, 3, 0, -1, -2, 127, 127, -128, 127, -128};
    int64_t dims[1] = {11}, enc[1] = {1};
    double scale = 1.0, offset = -128.0;
    float a[11], b[11];
    memcpy(a, x, sizeof x);
    memcpy(b, x, sizeof x);
    lo_qdq_affine(a, 1, dims, enc, &scale, &offset, 255, LO_ROUNDING_HALF_EVEN);
    lo_qdq_affine(b, 1, dims, enc, &scale, &offset, 255, LO_ROUNDING_HALF_AWAY);
    for (int i = 0; i < 11; i++) {
        CHECK(a[i] == even[i], "half-even qdq(%g) = %g, want %g", x[i], a[i], even[i]);
        CHECK(b[i] == away[i], "half-away qdq(%g) = %g, want %g", x[i], b[i], away[i]);
    }
}

static void test_grids(void) {
    /* uint4 asymmetric: scale 0.5, offset -3: reals -1.5 .. 6.0. */
    float x[] = {-5.0f, -1.4f, 0.26f, 5.9f, 7.0f};
    float want[] = {-1.5f, -1.5f, 0.5f, 6.0f, 6.0f};
    int64_t dims[1] = {5}, enc[1] = {1};
    double scale = 0.5, offset = -3.0;
    lo_qdq_affine(x, 1, dims, enc, &scale, &offset, 15, LO_ROUNDING_HALF_EVEN);
    for (int i = 0; i < 5; i++) CHECK(x[i] == want[i], "uint4 qdq[%d] = %g, want %g", i, x[i], want[i]);

    /* Per-channel on axis 1 of a 2x3 tensor: columns have their own scales. */
    float y[] = {1.26f, 1.26f, 1.26f, -9.0f, 9.0f, 0.1f};
    double scales[3] = {1.0, 0.5, 0.25}, offsets[3] = {-8, -8, -8};
    int64_t d2[2] = {2, 3}, e2[2] = {1, 3};
    lo_qdq_affine(y, 2, d2, e2, scales, offsets, 15, LO_ROUNDING_HALF_EVEN);
    float want_y[] = {1.0f, 1.5f, 1.25f, -8.0f, 3.5f, 0.0f};
    for (int i = 0; i < 6; i++) CHECK(y[i] == want_y[i], "per-channel[%d] = %g, want %g", i, y[i], want_y[i]);

    /* Per-block: a 2x4 tensor, channels on axis 0, blocks of 2 on axis 1. */
    float z[8] = {0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f};
    double bs[4] = {1.0, 0.5, 0.25, 0.125}, bo[4] = {-8, -8, -8, -8};
    int64_t d3[2] = {2, 4}, e3[2] = {2, 2};
    lo_qdq_affine(z, 2, d3, e3, bs, bo, 15, LO_ROUNDING_HALF_EVEN);
    float want_z[] = {0, 0, 0.5f, 0.5f, 0.25f, 0.25f, 0.25f, 0.25f};
    for (int i = 0; i < 8; i++) CHECK(z[i] == want_z[i], "per-block[%d] = %g, want %g", i, z[i], want_z[i]);

    float h[] = {1.0f + 1.0f / 4096.0f, 65504.0f, 1e-8f};
    lo_qdq_float16(h, 3);
    CHECK(h[0] == 1.0f, "float16 tie rounds to even: %g", h[0]);
    CHECK(h[1] == 65504.0f, "float16 max: %g", h[1]);
    CHECK(h[2] == 0.0f, "float16 underflow: %g", h[2]);
}

static char dir[64];

static const char *write_file(const char *name, const char *text) {
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static void expect_ok(const char *text, const char *version, int count, const char *describe0) {
    lo_quant *q;
    lo_error err;
    const char *path = write_file("ok.encodings", text);
    lo_status st = lo_quant_load(path, &q, &err);
    CHECK(st == LO_OK, "load failed: %s", st == LO_OK ? "" : err.message);
    if (st != LO_OK) return;
    CHECK(!strcmp(lo_quant_version(q), version), "version %s, want %s", lo_quant_version(q), version);
    CHECK(lo_quant_count(q) == count, "count %d, want %d", lo_quant_count(q), count);
    lo_encoding_info info;
    lo_quant_info(q, 0, &info);
    (void)info;
    lo_quant_free(q);
    (void)describe0;
}

static void expect_error(const char *text, const char *want1, const char *want2) {
    lo_quant *q;
    lo_error err;
    const char *path = write_file("bad.encodings", text);
    lo_status st = lo_quant_load(path, &q, &err);
    CHECK(st == LO_ERR_ENCODINGS, "loaded (or wrong status %d) for %s", st, text);
    if (st == LO_OK) {
        lo_quant_free(q);
        return;
    }
    CHECK(strstr(err.message, "bad.encodings") != NULL, "message lacks the file: %s", err.message);
    CHECK(strstr(err.message, want1) != NULL, "message lacks '%s': %s", want1, err.message);
    if (want2) CHECK(strstr(err.message, want2) != NULL, "message lacks '%s': %s", want2, err.message);
}

static void test_reader(void) {
    expect_ok("{\"version\": \"0.6.1\", \"activation_encodings\": {\"x\": [{\"bitwidth\": 8, \"dtype\": \"int\","
              " \"is_symmetric\": \"False\", \"max\": 1, \"min\": 0, \"offset\": -3, \"scale\": 0.1}]},"
              " \"param_encodings\": {\"w\": [{\"bitwidth\": 4, \"dtype\": \"int\", \"is_symmetric\": \"True\","
              " \"offset\": -8, \"scale\": 0.1}, {\"bitwidth\": 4, \"dtype\": \"int\", \"is_symmetric\": \"True\","
              " \"offset\": -8, \"scale\": 0.2}], \"h\": [{\"bitwidth\": 16, \"dtype\": \"float\"}]}}",
              "0.6.1", 3, NULL);
    expect_ok("{\"version\": \"1.0.0\", \"activation_encodings\": [{\"name\": \"x\", \"dtype\": \"INT\","
              " \"enc_type\": \"PER_TENSOR\", \"bw\": 16, \"is_sym\": false, \"scale\": [0.1], \"offset\": [-3]}],"
              " \"param_encodings\": [{\"name\": \"w\", \"dtype\": \"INT\", \"enc_type\": \"LPBQ\", \"bw\": 8,"
              " \"compressed_bw\": 4, \"is_sym\": true, \"scale\": [0.1, 0.2], \"per_block_int_scale\": [1, 2, 3, 4],"
              " \"offset\": [-128, -128], \"block_size\": 2}], \"excluded_layers\": [\"y\"]}",
              "1.0.0", 2, NULL);
    expect_ok("{\"version\": \"2.0.0\", \"encodings\": [{\"name\": \"x\", \"output_dtype\": \"uint8\", \"y_scale\": 0.1,"
              " \"y_zero_point\": 3}, {\"name\": \"w\", \"output_dtype\": \"int4\", \"y_scale\": [[0.1], [0.2]],"
              " \"axis\": 1, \"block_size\": 4}, {\"name\": \"c\", \"output_dtype\": \"int8\", \"y_scale\": [0.1, 0.2],"
              " \"axis\": 0}]}",
              "2.0.0", 3, NULL);
    /* Each kind of bad input names the entry and the field. */
    expect_error("{\"version\": \"1.0.0\", \"activation_encodings\": [", "not valid JSON", NULL);
    expect_error("{\"version\": \"3.0.0\", \"encodings\": []}", "unknown version", "'version'");
    expect_error("{\"version\": \"1.0.0\", \"activation_encodings\": [{\"name\": \"x\", \"dtype\": \"INT\","
                 " \"enc_type\": \"PER_TENSOR\", \"bw\": 8, \"is_sym\": false, \"offset\": [-3]}]}",
                 "activation_encodings[0] ('x')", "field 'scale': missing");
    expect_error("{\"version\": \"1.0.0\", \"activation_encodings\": [{\"name\": \"x\", \"dtype\": \"INT\","
                 " \"enc_type\": \"PER_TENSOR\", \"bw\": \"8\", \"is_sym\": false, \"scale\": [1], \"offset\": [-3]}]}",
                 "field 'bw'", "expected an integer");
    expect_error("{\"version\": \"1.0.0\", \"param_encodings\": [{\"name\": \"w\", \"dtype\": \"INT\","
                 " \"enc_type\": \"PER_TENSOR\", \"bw\": 8, \"is_sym\": true, \"scale\": [0], \"offset\": [-128]}]}",
                 "param_encodings[0] ('w')", "> 0");
    expect_error("{\"version\": \"2.0.0\", \"encodings\": [{\"name\": \"a\", \"output_dtype\": \"int33\", \"y_scale\": 1}]}",
                 "encodings[0] ('a')", "out of range");
    expect_error("{\"version\": \"0.6.1\", \"activation_encodings\": {\"x\": [{\"bitwidth\": 1, \"dtype\": \"int\","
                 " \"is_symmetric\": \"False\", \"offset\": 0, \"scale\": 1}]}}",
                 "activation_encodings['x']", "field 'bitwidth'");
    expect_error("{\"version\": \"0.6.1\", \"activation_encodings\": {\"x\": [{\"bitwidth\": 8, \"dtype\": \"int\","
                 " \"is_symmetric\": \"maybe\", \"offset\": 0, \"scale\": 1}]}}",
                 "field 'is_symmetric'", NULL);
    expect_error("{\"version\": \"2.0.0\", \"encodings\": [{\"name\": \"a\", \"output_dtype\": \"int8\", \"y_scale\": [1, 2]}]}",
                 "field 'axis'", NULL);
    expect_error("[1, 2]", "top", NULL);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/lo_test_quant.XXXXXX");
    if (!mkdtemp(dir)) return 1;
    test_ties();
    test_grids();
    test_reader();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("could not remove %s\n", dir);
    return finish("test_quant");
}
