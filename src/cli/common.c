#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dump/dump.h"
#include "exec/exec.h"

int cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("layerout: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 2;
}

int cli_fail(const lo_error *err) { return cli_error("%s", err->message); }

int cli_count_layers(const char *path) {
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    int n = j ? (int)json_array_size(json_object_get(j, "layer_output_names")) : -1;
    json_decref(j);
    return n;
}

bool cli_add_input(char *arg, char **names, char **paths, int *n) {
    if (*n >= CLI_MAX_INPUTS) return false;
    /* NAME=FILE is split in place: argv strings are ours to modify */
    char *eq = strchr(arg, '=');
    if (eq) *eq = 0;
    names[*n] = eq ? arg : NULL;
    paths[*n] = eq ? eq + 1 : arg;
    (*n)++;
    return true;
}

bool cli_parse_shape(char *arg, cli_shape *s) {
    const char *eq = strrchr(arg, '=');
    if (!eq || eq == arg) return false;
    s->rank = 0;
    const char *p = eq + 1;
    if (!*p) return false;
    while (*p) {
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v < 0 || s->rank >= LO_MAX_RANK) return false;
        s->dims[s->rank++] = v;
        p = end;
        if (*p == 'x' || *p == 'X' || *p == ',') p++;
        else if (*p) return false;
    }
    *(char *)eq = 0; /* split in place, once valid: argv strings are ours to modify */
    s->name = arg;
    return true;
}


/* Loads one sample's tensors in model input order. */
lo_status cli_load_sample(const lo_model *m, int n_files, char *const *names, char *const *paths,
                             const cli_shape *shapes, int n_shapes, lo_tensor *tensors, lo_error *err) {
    int n = lo_model_input_count(m);
    if (n_files != n)
        return lo_fail(err, LO_ERR_INPUT, "the model takes %d input%s but %d file%s given", n,
                       n == 1 ? "" : "s", n_files, n_files == 1 ? " was" : "s were");
    int which[256];
    for (int i = 0; i < n; i++) which[i] = -1;
    for (int f = 0; f < n_files; f++) {
        int idx = f;
        if (names[f]) {
            idx = -1;
            for (int i = 0; i < n; i++)
                if (strcmp(names[f], lo_model_input_name(m, i)) == 0) idx = i;
            if (idx < 0) return lo_fail(err, LO_ERR_INPUT, "the model has no input named '%s'", names[f]);
        }
        if (which[idx] >= 0)
            return lo_fail(err, LO_ERR_INPUT, "input '%s' is given twice", lo_model_input_name(m, idx));
        which[idx] = f;
    }
    for (int i = 0; i < n; i++) {
        if (which[i] < 0) return lo_fail(err, LO_ERR_INPUT, "no file given for input '%s'", lo_model_input_name(m, i));
        int rank = lo_model_input_rank(m, i);
        int64_t dims[LO_MAX_RANK];
        for (int d = 0; d < rank && d < LO_MAX_RANK; d++) dims[d] = lo_model_input_dim(m, i, d);
        for (int s = 0; s < n_shapes; s++)
            if (strcmp(shapes[s].name, lo_model_input_name(m, i)) == 0) {
                if (rank >= 0 && rank != shapes[s].rank)
                    return lo_fail(err, LO_ERR_ARGUMENT, "--shape %s has rank %d; the input has rank %d",
                                   shapes[s].name, shapes[s].rank, rank);
                rank = shapes[s].rank;
                memcpy(dims, shapes[s].dims, sizeof dims);
            }
        /* a sequence or optional input comes from a SequenceProto / OptionalProto file */
        const lo_graph *g = lo_model_graph(m)->graph;
        const lo_value *decl = &g->values[g->inputs[i]];
        lo_status st = decl->decl_container
                           ? lo_read_container_file(paths[which[i]], decl->decl_container, decl->decl_elem_dtype,
                                                    &tensors[i], err)
                           : lo_read_tensor_file(paths[which[i]], lo_model_input_dtype(m, i), rank, dims,
                                                 &tensors[i], err);
        if (st != LO_OK) {
            for (int k = 0; k < i; k++) lo_tensor_free_data(&tensors[k]);
            return st;
        }
    }
    return LO_OK;
}

bool cli_has_non_tensor(const lo_tensor *tensors, int n) {
    for (int i = 0; i < n; i++)
        if (tensors[i].kind != LO_KIND_TENSOR) return true;
    return false;
}

