/* The public door to input files (layerout.h): one sample's inputs read
 * against a model, and input lists; what the command's generate and
 * analyze read their -i files and --input-list with. */
#include <stdlib.h>
#include <string.h>

#include "../exec/exec.h"
#include "dump.h"

struct lo_sample {
    const lo_model *model;
    int n;
    lo_tensor *tensors; /* in model input order */
};

lo_status lo_sample_read(const lo_model *m, int n_files, const char *const *names, const char *const *paths,
                         const lo_input_shape *shapes, int n_shapes, lo_sample **out, lo_error *err) {
    *out = NULL;
    int n = lo_model_input_count(m);
    if (n_files != n)
        return lo_fail(err, LO_ERR_INPUT, "the model takes %d input%s but %d file%s given", n,
                       n == 1 ? "" : "s", n_files, n_files == 1 ? " was" : "s were");
    if (n > 256) return lo_fail(err, LO_ERR_UNSUPPORTED, "more than 256 model inputs");
    int which[256];
    for (int i = 0; i < n; i++) which[i] = -1;
    for (int f = 0; f < n_files; f++) {
        int idx = f;
        if (names && names[f]) {
            idx = -1;
            for (int i = 0; i < n; i++)
                if (strcmp(names[f], lo_model_input_name(m, i)) == 0) idx = i;
            if (idx < 0) return lo_fail(err, LO_ERR_INPUT, "the model has no input named '%s'", names[f]);
        }
        if (which[idx] >= 0)
            return lo_fail(err, LO_ERR_INPUT, "input '%s' is given twice", lo_model_input_name(m, idx));
        which[idx] = f;
    }
    lo_sample *s = calloc(1, sizeof *s);
    lo_tensor *tensors = calloc((size_t)n + 1, sizeof *tensors);
    if (!s || !tensors) {
        free(s);
        free(tensors);
        return lo_fail(err, LO_ERR_NOMEM, "out of memory reading the inputs");
    }
    for (int i = 0; i < n; i++) {
        lo_status st = LO_OK;
        if (which[i] < 0) {
            st = lo_fail(err, LO_ERR_INPUT, "no file given for input '%s'", lo_model_input_name(m, i));
        } else {
            int rank = lo_model_input_rank(m, i);
            int64_t dims[LO_MAX_RANK];
            for (int d = 0; d < rank && d < LO_MAX_RANK; d++) dims[d] = lo_model_input_dim(m, i, d);
            for (int k = 0; k < n_shapes && st == LO_OK; k++)
                if (strcmp(shapes[k].name, lo_model_input_name(m, i)) == 0) {
                    if (rank >= 0 && rank != shapes[k].rank) {
                        st = lo_fail(err, LO_ERR_ARGUMENT, "--shape %s has rank %d; the input has rank %d",
                                     shapes[k].name, shapes[k].rank, rank);
                        break;
                    }
                    rank = shapes[k].rank;
                    memcpy(dims, shapes[k].dims, sizeof dims);
                }
            /* a sequence or optional input comes from a SequenceProto / OptionalProto file */
            const lo_graph *g = lo_model_graph(m)->graph;
            const lo_value *decl = &g->values[g->inputs[i]];
            if (st == LO_OK)
                st = decl->decl_container ? lo_read_container_file(paths[which[i]], decl->decl_container,
                                                                   decl->decl_elem_dtype, &tensors[i], err)
                                          : lo_read_tensor_file(paths[which[i]], lo_model_input_dtype(m, i), rank,
                                                                dims, &tensors[i], err);
        }
        if (st != LO_OK) {
            for (int k = 0; k < i; k++) lo_tensor_free_data(&tensors[k]);
            free(tensors);
            free(s);
            return st;
        }
    }
    s->model = m;
    s->n = n;
    s->tensors = tensors;
    *out = s;
    return LO_OK;
}

int lo_sample_view(const lo_sample *s, int i, lo_tensor_view *v) {
    const lo_tensor *t = &s->tensors[i];
    *v = (lo_tensor_view){lo_model_input_name(s->model, i), t->dtype, t->rank, t->dims, t->data, t->nbytes};
    return t->kind == LO_KIND_TENSOR;
}

lo_status lo_generator_generate_sample(lo_generator *g, const lo_sample *s, lo_error *err) {
    lo_tensor_view views[256];
    bool tensors_only = true;
    for (int i = 0; i < s->n; i++) tensors_only &= lo_sample_view(s, i, &views[i]) != 0;
    /* sequences and optionals take the run on values; plain tensors the
     * ordinary run, whose checks name a view's problems */
    if (!tensors_only) return lo_generator_generate_values(g, s->tensors, s->n, err);
    return lo_generator_generate(g, views, s->n, err);
}

void lo_sample_free(lo_sample *s) {
    if (!s) return;
    for (int i = 0; i < s->n; i++) lo_tensor_free_data(&s->tensors[i]);
    free(s->tensors);
    free(s);
}

lo_status lo_input_list_load(const char *path, lo_input_list **out, lo_error *err) {
    *out = NULL;
    lo_input_list *l = calloc(1, sizeof *l);
    if (!l) return lo_fail(err, LO_ERR_NOMEM, "out of memory reading '%s'", path);
    lo_status st = lo_input_list_parse(path, l, err);
    if (st != LO_OK) {
        free(l);
        return st;
    }
    *out = l;
    return LO_OK;
}

int lo_input_list_samples(const lo_input_list *l) { return l->n_samples; }

int lo_input_list_files(const lo_input_list *l, int k, const char *const **names, const char *const **paths) {
    if (k < 0 || k >= l->n_samples) return -1;
    *names = (const char *const *)l->names[k];
    *paths = (const char *const *)l->paths[k];
    return l->n_files[k];
}

void lo_input_list_free(lo_input_list *l) {
    if (!l) return;
    lo_input_list_clear(l);
    free(l);
}
