/* Naming schemes: which captured tensor gets which file name.
 *
 * onnx: the tensor's name, sanitized as AIMET does.
 * qnn: as Qualcomm's converter renames tensors, so files line up with
 *      qnn-net-run --debug output.
 * pytorch: one file per call of a leaf module, named by the module's dotted
 *      name, holding the output of the last node of that call. Module names
 *      come from the exporter's traces: PyTorch's dynamo exporter records
 *      scopes in node metadata (pkg.torch.onnx.name_scopes); its TorchScript
 *      exporter names nodes by scope (/layer1/layer1.0/conv1/Conv); AIMET's
 *      own exporter names nodes by module (layer1.0.conv1, #N, .end, -N).
 * torchscript: names from a map made by tools/torchscript_names.py.
 * A name map (ONNX name -> name) overrides any scheme. */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

#include "dump.h"

typedef struct module_call {
    char *module; /* dotted module name */
    int call;     /* 1-based call of that module */
    int last_node; /* position in topological order of its last node */
    int n_calls;  /* calls of the module in the graph */
} module_call;

struct lo_namer {
    lo_naming scheme;
    bool all_tensors;
    const lo_graph *graph;
    json_t *map;     /* the name map, or NULL */
    char **stems;    /* pytorch: per top-graph value, its stem or NULL */
    char **notes;    /* pytorch: per value, what the file holds */
};

char *lo_sanitize_qnn(const char *name) {
    char *s = lo_sanitize_name(name);
    if (!s) return NULL;
    unsigned char c = (unsigned char)s[0];
    /* a letter: ASCII, or the start of a multi-byte (non-ASCII) letter */
    bool letter = isalpha(c) || (c >= 0xc0);
    if (letter) return s;
    char *p = malloc(strlen(s) + 2);
    if (p) {
        p[0] = '_';
        strcpy(p + 1, s);
    }
    free(s);
    return p;
}

static char *scheme_sanitize(lo_naming scheme, const char *name) {
    return scheme == LO_NAMING_QNN ? lo_sanitize_qnn(name) : lo_sanitize_name(name);
}

/* ---- module recovery ------------------------------------------------------------ */

/* The scope path of a TorchScript-exported node name "/a/a.0/conv1/Conv":
 * scope components joined into a dotted module name. A component that
 * repeats its parent's name with a suffix (a.0 under a) extends it. */
static char *module_from_scopes(const char *name) {
    if (name[0] != '/') return NULL;
    char *copy = lo_strdup(name + 1);
    if (!copy) return NULL;
    char *parts[64];
    int n = 0;
    for (char *save, *tok = strtok_r(copy, "/", &save); tok && n < 64; tok = strtok_r(NULL, "/", &save))
        parts[n++] = tok;
    /* the last component is the op itself (Conv, Conv_1, Add...) */
    if (n < 2) {
        free(copy);
        return NULL;
    }
    size_t cap = strlen(name) + 2;
    char *full = calloc(1, cap);
    const char *prev = NULL;
    for (int i = 0; i < n - 1 && full; i++) {
        const char *c = parts[i];
        size_t pl = prev ? strlen(prev) : 0;
        if (prev && strncmp(c, prev, pl) == 0 && c[pl] == '.') {
            strcat(full, c + pl);
        } else {
            if (full[0]) strcat(full, ".");
            strcat(full, c);
        }
        prev = c;
    }
    free(copy);
    return full;
}

/* pkg.torch.onnx.name_scopes is a list of module names, outermost first,
 * written as a Python list literal; the last one is the node's module. */
static char *module_from_metadata(const lo_node *n, int *call) {
    for (int k = 0; k < n->n_meta; k++) {
        if (strcmp(n->meta_keys[k], "pkg.torch.onnx.name_scopes") != 0) continue;
        const char *v = n->meta_values[k];
        const char *last = NULL, *last_end = NULL;
        for (const char *p = v; *p; p++) {
            if (*p != '\'' && *p != '"') continue;
            char q = *p;
            const char *end = strchr(p + 1, q);
            if (!end) break;
            last = p + 1;
            last_end = end;
            p = end;
        }
        if (!last || last_end == last) return NULL;
        char *m = lo_strndup(last, (size_t)(last_end - last));
        /* a repeated call shows as name_1, name_2 ... of the same module */
        *call = 0;
        return m;
    }
    return NULL;
}

/* AIMET's exporter: "layer1.0.conv1", "layer1.0.conv1#2", "....end", "relu-1". */
static char *module_from_aimet_name(const char *name, int *call) {
    if (!name[0] || name[0] == '/' || name[0] == '#' || strchr(name, '/')) return NULL;
    char *m = lo_strdup(name);
    if (!m) return NULL;
    char *hash = strchr(m, '#');
    if (hash) *hash = 0;
    size_t l = strlen(m);
    if (l > 4 && strcmp(m + l - 4, ".end") == 0) m[l - 4] = 0;
    char *dash = strrchr(m, '-');
    if (dash && dash[1] && strspn(dash + 1, "0123456789") == strlen(dash + 1)) {
        *call = atoi(dash + 1) + 1;
        *dash = 0;
    }
    /* op-type-like names from other exporters (Conv_12) are not modules */
    if (!strchr(m, '.') && isupper((unsigned char)m[0])) {
        free(m);
        return NULL;
    }
    return m;
}

/* "relu_1" next to "relu": the second call of relu. Splits the numeric
 * suffix off the last component when the base module also occurs. */
static void split_call(char *module, int *call, char **all, int n_all) {
    char *dot = strrchr(module, '.');
    char *last = dot ? dot + 1 : module;
    char *us = strrchr(last, '_');
    if (!us || !us[1] || strspn(us + 1, "0123456789") != strlen(us + 1)) return;
    size_t base_len = (size_t)(us - module);
    for (int i = 0; i < n_all; i++)
        if (all[i] && strlen(all[i]) == base_len && strncmp(all[i], module, base_len) == 0) {
            *call = atoi(us + 1) + 1;
            *us = 0;
            return;
        }
}

static lo_status build_pytorch(lo_namer *nm, lo_error *err) {
    const lo_graph *g = nm->graph;
    int n = g->n_nodes;
    char **mods = calloc((size_t)n + 1, sizeof *mods);
    int *calls = calloc((size_t)n + 1, sizeof *calls);
    if (!mods || !calls) {
        free(mods);
        free(calls);
        return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        const lo_node *node = &g->nodes[i];
        calls[i] = 0;
        mods[i] = module_from_metadata(node, &calls[i]);
        if (!mods[i]) mods[i] = module_from_scopes(node->name);
        if (!mods[i]) mods[i] = module_from_aimet_name(node->name, &calls[i]);
        if (mods[i] && !mods[i][0]) {
            free(mods[i]);
            mods[i] = NULL;
        }
    }
    for (int i = 0; i < n; i++)
        if (mods[i] && !calls[i]) split_call(mods[i], &calls[i], mods, n);
    for (int i = 0; i < n; i++)
        if (mods[i] && !calls[i]) calls[i] = 1;
    /* a leaf module is one that no other module is nested in */
    bool *leaf = calloc((size_t)n + 1, sizeof *leaf);
    int *last_of = calloc((size_t)n + 1, sizeof *last_of); /* per node: is it the last of its call */
    int *ncalls = calloc((size_t)n + 1, sizeof *ncalls);
    lo_status st = leaf && last_of && ncalls ? LO_OK : lo_fail(err, LO_ERR_NOMEM, "out of memory");
    for (int i = 0; st == LO_OK && i < n; i++) {
        if (!mods[i]) continue;
        size_t l = strlen(mods[i]);
        leaf[i] = true;
        for (int j = 0; j < n && leaf[i]; j++)
            if (mods[j] && strncmp(mods[j], mods[i], l) == 0 && mods[j][l] == '.') leaf[i] = false;
    }
    /* last node (in run order) of each module call, and the number of calls */
    for (int oi = n - 1; st == LO_OK && oi >= 0; oi--) {
        int i = g->order[oi];
        if (!mods[i] || !leaf[i]) continue;
        bool later = false;
        for (int oj = oi + 1; oj < n && !later; oj++) {
            int j = g->order[oj];
            if (mods[j] && calls[j] == calls[i] && strcmp(mods[j], mods[i]) == 0) later = true;
        }
        last_of[i] = !later;
    }
    for (int i = 0; st == LO_OK && i < n; i++) {
        if (!last_of[i]) continue;
        for (int j = 0; j < n; j++)
            if (last_of[j] && strcmp(mods[j], mods[i]) == 0 && calls[j] > ncalls[i]) ncalls[i] = calls[j];
    }
    for (int i = 0; st == LO_OK && i < n; i++) {
        const lo_node *node = &g->nodes[i];
        if (!last_of[i] || node->n_outputs < 1 || node->outputs[0] < 0) continue;
        int v = node->outputs[0];
        char *base = lo_sanitize_name(mods[i]);
        char *stem = base ? malloc(strlen(base) + 32) : NULL;
        char *note = malloc(strlen(mods[i]) + 64);
        if (!stem || !note) {
            free(base);
            free(stem);
            free(note);
            st = lo_fail(err, LO_ERR_NOMEM, "out of memory");
            break;
        }
        /* the last call keeps the plain name: it is what a forward hook
         * that overwrites its file (as aimet_torch's does) leaves behind */
        if (calls[i] < ncalls[i]) sprintf(stem, "%s__call%d", base, calls[i]);
        else strcpy(stem, base);
        if (ncalls[i] > 1) sprintf(note, "module %s, call %d of %d", mods[i], calls[i], ncalls[i]);
        else sprintf(note, "module %s", mods[i]);
        free(base);
        nm->stems[v] = stem;
        nm->notes[v] = note;
    }
    for (int i = 0; i < n; i++) free(mods[i]);
    free(mods);
    free(calls);
    free(leaf);
    free(last_of);
    free(ncalls);
    return st;
}

/* ---- the namer ---------------------------------------------------------------------- */

lo_status lo_namer_create(const lo_model_ir *model, lo_naming scheme, const char *name_map, bool all_tensors,
                          lo_namer **out, lo_error *err) {
    *out = NULL;
    if ((unsigned)scheme > LO_NAMING_TORCHSCRIPT) return lo_fail(err, LO_ERR_ARGUMENT, "unknown naming scheme %d", (int)scheme);
    if (scheme == LO_NAMING_TORCHSCRIPT && !name_map)
        return lo_fail(err, LO_ERR_ARGUMENT, "the torchscript naming scheme needs --name-map FILE (write one "
                       "with tools/torchscript_names.py from the PyTorch model)");
    lo_namer *nm = calloc(1, sizeof *nm);
    if (!nm) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    nm->scheme = scheme;
    nm->all_tensors = all_tensors;
    nm->graph = model->graph;
    lo_status st = LO_OK;
    if (name_map) {
        json_error_t je;
        nm->map = json_load_file(name_map, 0, &je);
        if (!nm->map)
            st = lo_fail(err, LO_ERR_ARGUMENT, "name map '%s': %s (line %d)", name_map, je.text, je.line);
        else if (!json_is_object(nm->map))
            st = lo_fail(err, LO_ERR_ARGUMENT, "name map '%s' must be a JSON object of ONNX name -> name", name_map);
        const char *k;
        json_t *v;
        if (st == LO_OK)
            json_object_foreach(nm->map, k, v) {
                if (!json_is_string(v) || !json_string_value(v)[0]) {
                    st = lo_fail(err, LO_ERR_ARGUMENT, "name map '%s': the name for '%s' is not a non-empty string",
                                 name_map, k);
                    break;
                }
            }
    }
    if (st == LO_OK && scheme == LO_NAMING_PYTORCH) {
        nm->stems = calloc((size_t)nm->graph->n_values + 1, sizeof *nm->stems);
        nm->notes = calloc((size_t)nm->graph->n_values + 1, sizeof *nm->notes);
        st = nm->stems && nm->notes ? build_pytorch(nm, err) : lo_fail(err, LO_ERR_NOMEM, "out of memory");
    }
    if (st != LO_OK) {
        lo_namer_free(nm);
        return st;
    }
    *out = nm;
    return LO_OK;
}

void lo_namer_free(lo_namer *nm) {
    if (!nm) return;
    if (nm->stems)
        for (int v = 0; v < nm->graph->n_values; v++) {
            free(nm->stems[v]);
            free(nm->notes[v]);
        }
    free(nm->stems);
    free(nm->notes);
    json_decref(nm->map);
    free(nm);
}

bool lo_namer_stem(const lo_namer *nm, const char *name, int iteration, char **stem, const char **note) {
    *stem = NULL;
    *note = NULL;
    char suffix[32] = "";
    if (iteration >= 0) snprintf(suffix, sizeof suffix, "__iter%d", iteration);
    const char *mapped = nm->map ? json_string_value(json_object_get(nm->map, name)) : NULL;
    const char *base = NULL;
    if (mapped) {
        base = mapped;
    } else if (nm->scheme == LO_NAMING_ONNX || nm->scheme == LO_NAMING_QNN) {
        base = name;
    } else if (nm->scheme == LO_NAMING_PYTORCH && iteration < 0) {
        int v = lo_graph_find(nm->graph, name);
        if (v >= 0 && nm->stems[v]) {
            *stem = lo_strdup(nm->stems[v]);
            *note = nm->notes[v];
            return *stem != NULL;
        }
    }
    if (!base) {
        if (!nm->all_tensors) return false;
        base = name;
    }
    char *s = scheme_sanitize(nm->scheme, base);
    if (!s) return false;
    if (suffix[0]) {
        char *t = malloc(strlen(s) + sizeof suffix);
        if (t) sprintf(t, "%s%s", s, suffix);
        free(s);
        s = t;
    }
    *stem = s;
    return s != NULL;
}
