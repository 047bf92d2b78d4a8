/* Unit tests of src/dump: AIMET's name sanitizing (expected strings are what
 * Python's re.sub(r'\W+', '_', name) gives), .npy headers as numpy writes
 * them, and input_list.txt parsing. */
#include <sys/stat.h>
#include <unistd.h>

#include "compare/compare.h"
#include "dump/dump.h"
#include "harness.h"

static void sanitize_case(const char *in, const char *want) {
    char *got = lo_sanitize_name(in);
    CHECK(got && strcmp(got, want) == 0, "sanitize(%s) = %s, want %s", in, got, want);
    free(got);
}

static void test_sanitize(void) {
    /* re.sub(r'\W+', '_', s) in Python 3 */
    sanitize_case("/layer1/layer1.0/conv1/Conv_output_0", "_layer1_layer1_0_conv1_Conv_output_0");
    sanitize_case("input", "input");
    sanitize_case("a.b", "a_b");
    sanitize_case("a..//b", "a_b");
    sanitize_case("onnx::Conv_123", "onnx_Conv_123");
    sanitize_case("../../etc/passwd", "_etc_passwd");
    sanitize_case("x y:z", "x_y_z");
    sanitize_case("__a__", "__a__");
    sanitize_case("é-ß", "é_ß");         /* Unicode letters are word characters */
    sanitize_case("a\xe2\x80\x94" "b", "a_b"); /* an em dash is not */
    sanitize_case("", "_");
    /* long names are cut with a distinguishing hash, staying short */
    char longname[600];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    char *a = lo_sanitize_name(longname);
    longname[10] = 'b';
    char *b = lo_sanitize_name(longname);
    CHECK(a && b && strlen(a) < 240 && strcmp(a, b) != 0, "long names cut and distinct");
    free(a);
    free(b);
}

static void test_npy(void) {
    char buf[256] = {0}; /* headers are not NUL-terminated: keep the tail zero for strstr */
    int64_t dims[4] = {1, 3, 224, 224};
    size_t n = lo_npy_header(LO_FLOAT, 4, dims, buf, sizeof buf);
    /* numpy 1.x writes exactly this header for np.zeros((1,3,224,224), np.float32) */
    const char *want = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 224, 224), }";
    CHECK(n == 128 && memcmp(buf, "\x93NUMPY\x01\x00", 8) == 0 && buf[n - 1] == '\n', "npy header framing");
    CHECK(memcmp(buf + 10, want, strlen(want)) == 0, "npy header dict: %.70s", buf + 10);
    int64_t one[1] = {5};
    memset(buf, 0, sizeof buf);
    n = lo_npy_header(LO_INT64, 1, one, buf, sizeof buf - 1);
    CHECK(n && strstr(buf + 10, "'shape': (5,)") != NULL, "rank-1 shape keeps its comma");
    memset(buf, 0, sizeof buf);
    n = lo_npy_header(LO_BOOL, 0, NULL, buf, sizeof buf - 1);
    CHECK(n && strstr(buf + 10, "'descr': '|b1'") && strstr(buf + 10, "'shape': ()"), "scalar bool");

    /* round trip through the decoder */
    uint8_t file[256 + 24];
    n = lo_npy_header(LO_FLOAT, 2, (int64_t[]){2, 3}, (char *)file, 256);
    float vals[6] = {1, 2, 3, 4, 5, 6};
    memcpy(file + n, vals, sizeof vals);
    lo_tensor t;
    lo_error err;
    CHECK(lo_npy_decode(file, n + sizeof vals, &t, &err) == LO_OK && t.dtype == LO_FLOAT && t.rank == 2 &&
              t.dims[1] == 3 && ((float *)t.data)[5] == 6,
          "npy round trip");
    lo_tensor_free_data(&t);
    CHECK(lo_npy_decode(file, n + sizeof vals - 1, &t, &err) == LO_ERR_INPUT, "short npy data is refused");
    CHECK(lo_npy_decode((const uint8_t *)"\x93NUMPY\x01\x00\xff\x7f{", 11, &t, &err) == LO_ERR_INPUT,
          "header length beyond the file is refused");
}

static void test_input_list(void) {
    char dir[] = "/tmp/lo_test_listXXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(false, "mkdtemp %s", dir);
        return;
    }
    char path[256];
    snprintf(path, sizeof path, "%s/list.txt", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "# comment\n\na.raw b.raw\n  \nimg:=c.raw mask:=/abs/d.raw\n");
    fclose(f);
    lo_input_list l;
    lo_error err;
    CHECK(lo_input_list_parse(path, &l, &err) == LO_OK, "input list parses: %s", err.message);
    CHECK(l.n_samples == 2 && l.n_files[0] == 2 && l.n_files[1] == 2, "two samples of two files");
    if (l.n_samples == 2) {
        char want[300];
        snprintf(want, sizeof want, "%s/a.raw", dir);
        CHECK(strcmp(l.paths[0][0], want) == 0 && l.names[0][0] == NULL, "relative path from the list's folder");
        CHECK(strcmp(l.names[1][0], "img") == 0 && strcmp(l.paths[1][1], "/abs/d.raw") == 0, "name:=path pairs");
    }
    lo_input_list_clear(&l);
    f = fopen(path, "w");
    fprintf(f, "# nothing\n\n");
    fclose(f);
    CHECK(lo_input_list_parse(path, &l, &err) == LO_ERR_INPUT, "an empty list is an error");
    f = fopen(path, "w");
    fprintf(f, "img:= b.raw\n");
    fclose(f);
    CHECK(lo_input_list_parse(path, &l, &err) == LO_ERR_INPUT, "a malformed pair is an error");
    unlink(path);
    rmdir(dir);
}

/* The layout's names as AIMET's LayerOutputUtil writes them (its
 * save_inp_out_data: outputs/layer_outputs_K, inputs/input_K), and a
 * manifest of a schema this reader does not know refused by name. */
static void test_layout(void) {
    char b[64];
    CHECK(lo_dump_sample_dir(b, sizeof b, 12) && !strcmp(b, "outputs/layer_outputs_12"), "sample dir %s", b);
    CHECK(lo_dump_input_path(b, sizeof b, 3, ".npy") && !strcmp(b, "inputs/input_3.npy"), "input path %s", b);
    CHECK(!lo_dump_sample_dir(b, 10, 12), "a sample dir that does not fit");
    CHECK(lo_dump_is_sample_name("layer_outputs_7") && lo_dump_is_sample_name("input_0.raw") &&
              !lo_dump_is_sample_name("layer_outputs_") && !lo_dump_is_sample_name("input_1.txt") &&
              !lo_dump_is_sample_name("notes"), "sample names");
    char dir[64], path[128];
    snprintf(dir, sizeof dir, "/tmp/layerout-test-layout-%d", (int)getpid());
    snprintf(path, sizeof path, "%s/" LO_DUMP_MANIFEST, dir);
    CHECK(mkdir(dir, 0755) == 0, "mkdir %s", dir);
    FILE *f = fopen(path, "w");
    if (f) fprintf(f, "{\"schema\": %d, \"tensors\": [], \"samples\": 0}\n", LO_DUMP_SCHEMA + 1), fclose(f);
    lo_dump d;
    lo_error err;
    CHECK(lo_dump_open(dir, &d, &err) == LO_ERR_IO && strstr(err.message, "schema"), "a newer schema: %s",
          err.message);
    lo_dump_close(&d);
    unlink(path);
    rmdir(dir);
}

int main(void) {
    test_sanitize();
    test_npy();
    test_input_list();
    test_layout();
    return finish("test_dump");
}
