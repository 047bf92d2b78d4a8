/* Runs ONNX backend test cases (model.onnx + test_data_set_N/{input,output}_i.pb)
 * through the library and compares every output with the expected one, as
 * ONNX's own backend runner does: rtol 1e-3, atol 1e-7 for floats, NaN where
 * NaN is expected, exact for integers, bools and strings.
 *
 * Usage: lo_run_case [-v] CASE_DIR...
 * Prints one line per case: PASS name | FAIL name: reason | UNSUPPORTED name: reason
 * and a closing line "N passed, N failed, N unsupported". */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "exec/exec.h"
#include "exec/internal.h"
#include "onnx/onnx.h"

static int verbose;

static bool file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static const char *base_name(const char *p) {
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/') n--;
    static char buf[1024];
    snprintf(buf, sizeof buf, "%.*s", (int)n, p);
    const char *s = strrchr(buf, '/');
    return s ? s + 1 : buf;
}

static bool close_enough(double a, double e) {
    if (isnan(e)) return isnan(a);
    if (isinf(e)) return a == e;
    return fabs(a - e) <= 1e-7 + 1e-3 * fabs(e);
}

/* 0 = equal; else writes the difference into why. */
static int compare(const lo_tensor *got, const lo_tensor *want, char *why, size_t size) {
    char s1[128], s2[128];
    if (got->kind != LO_KIND_TENSOR) {
        snprintf(why, size, "output is not a plain tensor (kind %d)", got->kind);
        return 1;
    }
    if (got->dtype != want->dtype) {
        snprintf(why, size, "dtype %s, expected %s", lo_dtype_name(got->dtype), lo_dtype_name(want->dtype));
        return 1;
    }
    if (got->rank != want->rank || memcmp(got->dims, want->dims, (size_t)got->rank * sizeof(int64_t))) {
        snprintf(why, size, "shape %s, expected %s", lo_shape_str(got->rank, got->dims, s1, sizeof s1),
                 lo_shape_str(want->rank, want->dims, s2, sizeof s2));
        return 1;
    }
    int64_t n = lo_numel(want), bad = 0, first = -1;
    for (int64_t i = 0; i < n; i++) {
        bool ok;
        if (want->dtype == LO_STRING)
            ok = strcmp(((char **)got->data)[i] ? ((char **)got->data)[i] : "",
                        ((char **)want->data)[i] ? ((char **)want->data)[i] : "") == 0;
        else if (lo_dtype_is_float(want->dtype))
            ok = close_enough(lo_get_f64(got, i), lo_get_f64(want, i));
        else if (want->dtype == LO_COMPLEX64)
            ok = close_enough(((float *)got->data)[2 * i], ((float *)want->data)[2 * i]) &&
                 close_enough(((float *)got->data)[2 * i + 1], ((float *)want->data)[2 * i + 1]);
        else if (want->dtype == LO_UINT64)
            ok = ((uint64_t *)got->data)[i] == ((uint64_t *)want->data)[i];
        else if (lo_dtype_size(want->dtype) == 1 && !lo_dtype_is_int(want->dtype) && want->dtype != LO_BOOL)
            ok = ((uint8_t *)got->data)[i] == ((uint8_t *)want->data)[i]; /* float8: bit-exact */
        else
            ok = lo_get_i64(got, i) == lo_get_i64(want, i);
        if (!ok) {
            if (first < 0) first = i;
            bad++;
        }
    }
    if (bad) {
        if (want->dtype == LO_STRING)
            snprintf(why, size, "%lld of %lld elements differ; first at %lld", (long long)bad,
                     (long long)n, (long long)first);
        else
            snprintf(why, size, "%lld of %lld elements differ; first at %lld: got %.9g, expected %.9g",
                     (long long)bad, (long long)n, (long long)first, lo_get_f64(got, first),
                     lo_get_f64(want, first));
        return 1;
    }
    return 0;
}

/* Returns 0 pass, 1 fail, 2 unsupported. */
static int run_case(const char *dir, char *why, size_t size) {
    char path[2048];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    lo_error err;
    lo_model *model;
    lo_status st = lo_model_load(path, &model, &err);
    if (st != LO_OK) {
        snprintf(why, size, "%s", err.message);
        return st == LO_ERR_UNSUPPORTED ? 2 : 1;
    }
    lo_session *s;
    lo_session_create(model, NULL, &s, &err);
    int result = 0, sets = 0;
    const lo_graph *g = model->ir->graph;
    for (int set = 0; result == 0; set++) {
        char sd[2048];
        snprintf(sd, sizeof sd, "%s/test_data_set_%d", dir, set);
        if (!file_exists(sd)) break;
        sets++;
        int n_in = 0;
        lo_tensor ins[64];
        lo_tensor_view views[64];
        char *names[64];
        memset(ins, 0, sizeof ins);
        for (;; n_in++) {
            snprintf(path, sizeof path, "%s/input_%d.pb", sd, n_in);
            if (!file_exists(path) || n_in >= 64) break;
            names[n_in] = NULL;
            if (lo_onnx_read_tensor_file(path, &ins[n_in], &names[n_in], &err) != LO_OK) {
                snprintf(why, size, "reading %s: %s", path, err.message);
                result = 2;
                break;
            }
            views[n_in] = (lo_tensor_view){names[n_in], ins[n_in].dtype, ins[n_in].rank, ins[n_in].dims,
                                           ins[n_in].data, ins[n_in].nbytes};
        }
        lo_tensor outs[64];
        if (result == 0 && g->n_outputs > 64) {
            snprintf(why, size, "too many outputs");
            result = 2;
        }
        if (result == 0) {
            st = lo_session_run_outputs(s, views, n_in, NULL, NULL, outs, &err);
            if (st != LO_OK) {
                snprintf(why, size, "set %d: %s", set, err.message);
                result = st == LO_ERR_UNSUPPORTED ? 2 : 1;
            }
        }
        for (int o = 0; result == 0 && o < g->n_outputs; o++) {
            snprintf(path, sizeof path, "%s/output_%d.pb", sd, o);
            lo_tensor want;
            if (lo_onnx_read_tensor_file(path, &want, NULL, &err) != LO_OK) {
                snprintf(why, size, "reading %s: %s", path, err.message);
                result = 2;
                break;
            }
            char diff[512];
            if (compare(&outs[o], &want, diff, sizeof diff)) {
                snprintf(why, size, "set %d output %d '%s': %s", set, o, g->values[g->outputs[o]].name, diff);
                result = 1;
            }
            lo_tensor_free_data(&want);
        }
        if (st == LO_OK && result != 2)
            for (int o = 0; o < g->n_outputs; o++) lo_tensor_free_data(&outs[o]);
        for (int i = 0; i < n_in; i++) {
            lo_tensor_free_data(&ins[i]);
            free(names[i]);
        }
    }
    if (result == 0 && sets == 0) {
        snprintf(why, size, "no test_data_set_0");
        result = 2;
    }
    lo_session_free(s);
    lo_model_free(model);
    return result;
}

int main(int argc, char **argv) {
    int passed = 0, failed = 0, unsupported = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0) {
            verbose = 1;
            continue;
        }
        char why[1500] = "";
        int r = run_case(argv[i], why, sizeof why);
        const char *name = base_name(argv[i]);
        if (r == 0) {
            passed++;
            printf("PASS %s\n", name);
        } else if (r == 1) {
            failed++;
            printf("FAIL %s: %s\n", name, why);
        } else {
            unsupported++;
            printf("UNSUPPORTED %s: %s\n", name, why);
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed, %d unsupported\n", passed, failed, unsupported);
    return failed ? 1 : 0;
}
