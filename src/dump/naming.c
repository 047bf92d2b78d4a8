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
 *      A module called K times gives K files: the last call the plain name
 *      (what a forward hook that overwrites its file leaves), earlier ones
 *      NAME__callN. A Conv the TorchScript exporter folded a BatchNorm into
 *      is NAME__folded: it holds the BatchNorm's output, not its own.
 * torchscript: names from a map made by tools/torchscript_names.py.
 * A name map (ONNX name -> name) overrides any scheme. */
#include <ctype.h>
#include <jansson.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

#include "../util/util.h"
#include "dump.h"

struct lo_namer {
    lo_naming scheme;
    bool all_tensors;
    const lo_graph *graph;
    json_t *map;     /* the name map, or NULL */
    char **stems;    /* pytorch: per top-graph value, its stem or NULL */
    char **notes;    /* pytorch: per value, what the file holds */
};

/* Whether a UTF-8 string starts with a letter, as Python's str.isalpha()
 * sees its first character: QNN's converter writes its rule in Python. */
static bool starts_with_letter(const char *s) {
    const unsigned char *u = (const unsigned char *)s;
    if (u[0] < 0x80) return isalpha(u[0]) != 0;
    unsigned cp;
    if (!lo_utf8_decode(u, &cp)) return false;
    /* the process locale may be "C", which knows no letters beyond ASCII */
    locale_t utf8 = lo_utf8_locale();
    return utf8 ? iswalpha_l((wint_t)cp, utf8) != 0 : true;
}

char *lo_sanitize_qnn(const char *name) {
    char *s = lo_sanitize_name(name);
    if (!s || starts_with_letter(s)) return s;
    char *p = malloc(strlen(s) + 2);
    if (p) {
        p[0] = '_';
        strcpy(p + 1, s);
    }
    free(s);
    return p;
}

/* aimet_onnx names a file re.sub(r"\W+", "_", name.replace("_updated", "")):
 * its QuantSim renames a quantized tensor NAME_updated and saves it as NAME,
 * and the replace applies to every name, so a float model's own
 * "x_updated_y" is saved as x_y too. */
char *lo_sanitize_onnx(const char *name) {
    static const char tag[] = "_updated";
    const size_t k = sizeof tag - 1;
    char *plain = malloc(strlen(name) + 1);
    if (!plain) return NULL;
    size_t n = 0;
    for (const char *p = name; *p;) {
        if (!strncmp(p, tag, k)) {
            p += k;
        } else {
            plain[n++] = *p++;
        }
    }
    plain[n] = 0;
    char *s = lo_sanitize_name(plain);
    free(plain);
    return s;
}

static char *scheme_sanitize(lo_naming scheme, const char *name) {
    if (scheme == LO_NAMING_QNN) return lo_sanitize_qnn(name);
    return scheme == LO_NAMING_ONNX ? lo_sanitize_onnx(name) : lo_sanitize_name(name);
}

/* ---- module recovery ------------------------------------------------------------ */

/* Where a node sits, as far as its name or metadata tells. */
typedef struct node_scope {
    bool known;   /* the exporter said where the node sits (possibly: in no module) */
    char *module; /* dotted module name, NULL at the top level */
    int call_hint; /* 1-based call the exporter spelled out in the name, else 0 */
    int call;
    bool folded;  /* a Conv whose weights the exporter computed (a BatchNorm folded in) */
} node_scope;

/* TorchScript exporter (PyTorch >= 1.13): "/layer1/layer1.0/conv1/Conv". Each
 * scope component is a module's name relative to the model, except that a
 * component repeating its parent with a suffix (layer1.0 under layer1)
 * extends it. The last component is the op. "/Flatten" is at the top level. */
static char *module_from_scopes(const char *name) {
    char *copy = lo_strdup(name + 1);
    if (!copy) return NULL;
    char *parts[128];
    int n = 0;
    for (char *save, *tok = strtok_r(copy, "/", &save); tok && n < 128; tok = strtok_r(NULL, "/", &save))
        parts[n++] = tok;
    if (n < 2) {
        free(copy);
        return NULL;
    }
    char *full = calloc(1, strlen(name) + 2);
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

/* Splits a Python list literal of strings (as the dynamo exporter writes
 * metadata values: "['', 'layer1', 'layer1.0.relu', 'relu_1']") and returns
 * element k counted from the end (0 = last), malloc'd, or NULL. */
static char *python_list_item_from_end(const char *v, int k, int *count) {
    const char *starts[256];
    size_t lens[256];
    int n = 0;
    for (const char *p = v; *p && n < 256; p++) {
        if (*p != '\'' && *p != '"') continue;
        char q = *p;
        const char *s = ++p;
        while (*p && *p != q) p += (*p == '\\' && p[1]) ? 2 : 1;
        if (!*p) break;
        starts[n] = s;
        lens[n++] = (size_t)(p - s);
    }
    *count = n;
    if (k >= n) return NULL;
    return lo_strndup(starts[n - 1 - k], lens[n - 1 - k]);
}

/* PyTorch's dynamo exporter: pkg.torch.onnx.name_scopes lists the enclosing
 * modules, outermost (the model, '') first, and ends with the FX node's own
 * name (relu_1, add, ...), so the node's module is the one before last. Two
 * calls of one module carry the same name there; calls are told apart by
 * the run they form in the graph (see assign_calls). */
static bool scope_from_metadata(const lo_node *n, node_scope *sc) {
    for (int k = 0; k < n->n_meta; k++) {
        if (strcmp(n->meta_keys[k], "pkg.torch.onnx.name_scopes") != 0) continue;
        int count = 0;
        char *m = python_list_item_from_end(n->meta_values[k], 1, &count);
        sc->known = true;
        if (m && !m[0]) {
            free(m);
            m = NULL;
        }
        sc->module = m;
        return true;
    }
    return false;
}

static bool all_digits(const char *s) { return *s && strspn(s, "0123456789") == strlen(s); }

/* AIMET's exporter names the nodes of a leaf module after it: "conv1",
 * "layer1.0.act#1" (second node), "...#2.end" (its last node), and a reused
 * module's later calls "relu#0-1", "relu#1-1.end" (-N: call N+1). */
static char *module_from_aimet_name(const char *name, int *call) {
    if (!name[0] || name[0] == '#' || strchr(name, '/')) return NULL;
    char *m = lo_strdup(name);
    if (!m) return NULL;
    size_t l = strlen(m);
    if (l > 4 && strcmp(m + l - 4, ".end") == 0) m[l - 4] = 0;
    char *hash = strchr(m, '#');
    char *dash = strrchr(hash ? hash : m, '-');
    if (dash && all_digits(dash + 1)) {
        *call = atoi(dash + 1) + 1;
        *dash = 0;
    }
    if (hash) *hash = 0;
    /* op-type-like names of older exporters (Conv_12, Relu_3) are not modules */
    if (!m[0] || (!strchr(m, '.') && isupper((unsigned char)m[0]))) {
        free(m);
        return NULL;
    }
    return m;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted, de-duplicated copy of n strings (pointers shared, not copied). */
static char **sorted_unique(char **items, int n, int *out_n) {
    char **s = malloc(((size_t)n + 1) * sizeof *s);
    if (!s) return NULL;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (items[i]) s[k++] = items[i];
    qsort(s, (size_t)k, sizeof *s, cmp_str);
    int u = 0;
    for (int i = 0; i < k; i++)
        if (!u || strcmp(s[u - 1], s[i]) != 0) s[u++] = s[i];
    *out_n = u;
    return s;
}

static int find_sorted(char **sorted, int n, const char *key) {
    char **hit = n ? bsearch(&key, sorted, (size_t)n, sizeof *sorted, cmp_str) : NULL;
    return hit ? (int)(hit - sorted) : -1;
}

/* TorchScript's exporter names a module's second call by a suffixed scope
 * ("/layer1/layer1.0/relu_1/Relu": call 2 of layer1.0.relu). Only taken as a
 * call when the unsuffixed module also occurs, so a module really named
 * relu_1 stays itself. */
static char *call_suffix(const char *m, char **modules, int n_modules) {
    const char *dot = strrchr(m, '.');
    const char *us = strrchr(dot ? dot + 1 : m, '_');
    if (!us || !all_digits(us + 1)) return NULL;
    char *base = lo_strndup(m, (size_t)(us - m));
    bool base_exists = base && find_sorted(modules, n_modules, base) >= 0;
    free(base);
    return base_exists ? (char *)us : NULL;
}

/* The TorchScript exporter folds a BatchNorm that follows a Conv into the
 * Conv's weights and keeps the Conv's name, so its output is the
 * BatchNorm's; the folded weights are constants it made and names
 * "onnx::Conv_N" instead of "conv1.weight". */
static bool conv_weights_made_by_exporter(const lo_graph *g, const lo_node *n) {
    if (strcmp(n->op_type, "Conv") != 0 && strcmp(n->op_type, "ConvTranspose") != 0) return false;
    if (n->n_inputs < 2 || n->inputs[1] < 0) return false;
    const lo_value *w = &g->values[n->inputs[1]];
    return w->kind == LO_VALUE_INITIALIZER && strncmp(w->name, "onnx::", 6) == 0;
}

typedef struct call_key {
    int module; /* index in the sorted module list */
    int call;
    int node;
} call_key;

static int cmp_call_key(const void *a, const void *b) {
    const call_key *x = a, *y = b;
    if (x->module != y->module) return x->module < y->module ? -1 : 1;
    if (x->call != y->call) return x->call < y->call ? -1 : 1;
    return (x->node > y->node) - (x->node < y->node);
}

/* Numbers the calls of each module. Exporters write nodes in the order they
 * ran, so one call of a leaf module is one unbroken run of its nodes; a node
 * known to sit elsewhere ends the run, a node of unknown place (a Constant,
 * an optimizer's helper) does not. A call spelled out in the name wins. */
static void assign_calls(const lo_graph *g, node_scope *sc, char **modules, int n_modules, int *count) {
    const char *prev = NULL;
    int prev_call = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        node_scope *s = &sc[i];
        if (!s->known) continue;
        if (!s->module) {
            prev = NULL;
            continue;
        }
        int id = find_sorted(modules, n_modules, s->module);
        if (s->call_hint > 0) {
            s->call = s->call_hint;
            if (count[id] < s->call) count[id] = s->call;
        } else if (prev && strcmp(prev, s->module) == 0) {
            s->call = prev_call;
        } else {
            s->call = ++count[id];
        }
        prev = s->module;
        prev_call = s->call;
    }
}

static lo_status build_pytorch(lo_namer *nm, lo_error *err) {
    const lo_graph *g = nm->graph;
    int n = g->n_nodes;
    node_scope *sc = calloc((size_t)n + 1, sizeof *sc);
    char **mods = calloc((size_t)n + 1, sizeof *mods);
    call_key *keys = calloc((size_t)n + 1, sizeof *keys);
    char **modules = NULL, **parents = NULL, **prefixes = NULL;
    int *count = NULL;
    int n_modules = 0, n_parents = 0, n_prefixes = 0;
    lo_status st = sc && mods && keys ? LO_OK : lo_fail(err, LO_ERR_NOMEM, "out of memory");

    /* the dynamo exporter's metadata, when the model has it, is the only
     * trustworthy source: its node names (node_Conv_12) are not modules */
    bool dynamo = false;
    for (int i = 0; st == LO_OK && i < n && !dynamo; i++)
        for (int k = 0; k < g->nodes[i].n_meta; k++)
            if (strcmp(g->nodes[i].meta_keys[k], "pkg.torch.onnx.name_scopes") == 0) dynamo = true;
    for (int i = 0; st == LO_OK && i < n; i++) {
        const lo_node *node = &g->nodes[i];
        node_scope *s = &sc[i];
        /* Constants are never saved and may sit anywhere in the order */
        if (strcmp(node->op_type, "Constant") == 0) continue;
        /* An inlined function body: a call is one module call (what the
         * exporter exported as a function), told by the call node's name;
         * nodes inside the body are not modules of their own. */
        const char *call = NULL;
        bool inside = false, outside = false;
        for (int k = 0; k < node->n_outputs; k++) {
            int v = node->outputs[k];
            if (v < 0) continue;
            if (g->values[v].in_function) inside = true;
            else outside = true;
            if (g->values[v].call_node) call = g->values[v].call_node;
        }
        if (inside && !outside) continue;
        if (call && !dynamo) {
            s->known = call[0] == '/';
            s->module = s->known ? module_from_scopes(call) : module_from_aimet_name(call, &s->call_hint);
            s->known = s->known || s->module != NULL;
        } else if (dynamo) {
            scope_from_metadata(node, s);
        } else if (node->name[0] == '/') {
            s->known = true;
            s->module = module_from_scopes(node->name);
        } else {
            s->module = module_from_aimet_name(node->name, &s->call_hint);
            s->known = s->module != NULL;
        }
        if (s->module && !s->module[0]) {
            free(s->module);
            s->module = NULL;
        }
        if (s->module && !dynamo) s->folded = conv_weights_made_by_exporter(g, node);
    }
    for (int i = 0; st == LO_OK && i < n; i++) mods[i] = sc[i].module;
    if (st == LO_OK && !(modules = sorted_unique(mods, n, &n_modules))) st = lo_fail(err, LO_ERR_NOMEM, "out of memory");
    /* decided on the names as exported, then cut, so the lookup table stays sorted */
    char **cuts = st == LO_OK ? calloc((size_t)n + 1, sizeof *cuts) : NULL;
    if (st == LO_OK && !cuts) st = lo_fail(err, LO_ERR_NOMEM, "out of memory");
    for (int i = 0; st == LO_OK && !dynamo && i < n; i++)
        if (sc[i].module && !sc[i].call_hint) cuts[i] = call_suffix(sc[i].module, modules, n_modules);
    for (int i = 0; st == LO_OK && i < n; i++)
        if (cuts[i]) {
            sc[i].call_hint = atoi(cuts[i] + 1) + 1;
            *cuts[i] = 0;
        }
    free(cuts);
    if (st == LO_OK) {
        free(modules);
        modules = sorted_unique(mods, n, &n_modules); /* suffixes split off: names changed */
        if (!modules) st = lo_fail(err, LO_ERR_NOMEM, "out of memory");
    }

    /* A leaf module is one no other module is nested in: collect every
     * proper dotted prefix of every module, those are the parents. */
    size_t n_dots = 0;
    for (int i = 0; st == LO_OK && i < n_modules; i++)
        for (const char *p = modules[i]; *p; p++) n_dots += *p == '.';
    if (st == LO_OK) {
        prefixes = calloc(n_dots + 1, sizeof *prefixes);
        count = calloc((size_t)n_modules + 1, sizeof *count);
        if (!prefixes || !count) st = lo_fail(err, LO_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; st == LO_OK && i < n_modules; i++)
        for (const char *p = modules[i]; *p && st == LO_OK; p++)
            if (*p == '.' && !(prefixes[n_prefixes++] = lo_strndup(modules[i], (size_t)(p - modules[i]))))
                st = lo_fail(err, LO_ERR_NOMEM, "out of memory");
    if (st == LO_OK && !(parents = sorted_unique(prefixes, n_prefixes, &n_parents)))
        st = lo_fail(err, LO_ERR_NOMEM, "out of memory");

    if (st == LO_OK) assign_calls(g, sc, modules, n_modules, count);

    /* the last node of each call of each leaf module holds its output */
    int n_keys = 0;
    for (int i = 0; st == LO_OK && i < n; i++) {
        if (!sc[i].module || !sc[i].call || find_sorted(parents, n_parents, sc[i].module) >= 0) continue;
        keys[n_keys++] = (call_key){find_sorted(modules, n_modules, sc[i].module), sc[i].call, i};
    }
    if (st == LO_OK) qsort(keys, (size_t)n_keys, sizeof *keys, cmp_call_key);
    for (int k = 0; st == LO_OK && k < n_keys; k++) {
        bool folded = sc[keys[k].node].folded;
        while (k + 1 < n_keys && keys[k + 1].module == keys[k].module && keys[k + 1].call == keys[k].call) {
            k++;
            folded = folded || sc[keys[k].node].folded;
        }
        const lo_node *node = &g->nodes[keys[k].node];
        if (node->n_outputs < 1 || node->outputs[0] < 0) continue;
        int v = node->outputs[0];
        const char *module = modules[keys[k].module];
        int call = keys[k].call, calls = count[keys[k].module];
        char *base = lo_sanitize_name(module);
        char *stem = base ? malloc(strlen(base) + 48) : NULL;
        char *note = malloc(strlen(module) * 2 + 320);
        if (!stem || !note) {
            free(base);
            free(stem);
            free(note);
            st = lo_fail(err, LO_ERR_NOMEM, "out of memory");
            break;
        }
        /* The last call keeps the plain name: it is what a forward hook
         * that overwrites its file (as aimet_torch's does) leaves behind. */
        strcpy(stem, base);
        if (call < calls) sprintf(stem + strlen(stem), "__call%d", call);
        /* A folded Conv does not hold its own output; a distinct name keeps
         * it from being compared with the Conv's hook output. */
        if (folded) strcat(stem, "__folded");
        if (calls > 1) sprintf(note, "module %s, call %d of %d", module, call, calls);
        else sprintf(note, "module %s", module);
        if (folded)
            sprintf(note + strlen(note), "; its weights were computed by the exporter (a BatchNorm after it "
                    "folded in), so this holds that BatchNorm's output, not %s's own", module);
        free(base);
        free(nm->stems[v]);
        free(nm->notes[v]);
        nm->stems[v] = stem;
        nm->notes[v] = note;
    }

    for (int i = 0; sc && i < n; i++) free(sc[i].module);
    for (int i = 0; i < n_prefixes; i++) free(prefixes[i]);
    free(sc);
    free(mods);
    free(keys);
    free(modules);
    free(parents);
    free(prefixes);
    free(count);
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
    /* a mapped name is the name to use: only AIMET's own ONNX names lose "_updated" */
    char *s = mapped && nm->scheme == LO_NAMING_ONNX ? lo_sanitize_name(base) : scheme_sanitize(nm->scheme, base);
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
