/* layerout extract: the next step after a comparison has found the layer
 * that diverges. It cuts from the model the few nodes that compute that
 * tensor from tensors the dump holds, and packs them with those tensors'
 * values, the value expected, and the encodings of just those tensors: a
 * repro small enough to hand to whoever owns the kernel or the runtime.
 *
 * The model is written with protobuf-c from the original file's own
 * ModelProto: nodes, initializers and value_info are shared (shallow)
 * with the decoded original, only the lists and the new graph inputs and
 * outputs are ours. So the nodes are byte for byte the model's, names and
 * attributes included, and the pack computes what the dump computed. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "onnx/onnx.pb-c.h"

#include "compare.h"
#include "../dump/dump.h"

void lo_extract_options_init(lo_extract_options *o) {
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
}

/* ---- reading ------------------------------------------------------------------------ */

static lo_status slurp(const char *path, uint8_t **data, size_t *len, lo_error *err) {
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return lo_fail(err, LO_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return lo_fail(err, LO_ERR_IO, "'%s' is not a regular file", path);
    }
    *data = malloc((size_t)st.st_size + 1);
    if (!*data) {
        fclose(f);
        return lo_fail(err, LO_ERR_NOMEM, "out of memory reading '%s'", path);
    }
    *len = fread(*data, 1, (size_t)st.st_size, f);
    bool bad = ferror(f) || *len != (size_t)st.st_size;
    fclose(f);
    if (bad) {
        free(*data);
        *data = NULL;
        return lo_fail(err, LO_ERR_IO, "cannot read '%s'", path);
    }
    return LO_OK;
}

/* ---- the model's names ------------------------------------------------------------- */

typedef struct extract_ctx {
    const lo_extract_options *o;
    Onnx__ModelProto *model;
    Onnx__GraphProto *g;
    json_t *producer;    /* tensor name -> node index */
    json_t *initializer; /* name -> initializer index */
    json_t *sparse;      /* name -> sparse initializer index */
    json_t *declared;    /* name -> ValueInfoProto index (inputs, outputs, value_info) */
    lo_dump dump;
    bool dump_open;
    bool *node_in;    /* nodes in the pack */
    bool *region;     /* with --to: nodes downstream of tensor's producer */
    bool *init_in;    /* initializers in the pack */
    bool *sparse_in;
    json_t *leaves;   /* name -> dump tensor index: the pack's inputs */
    json_t *leaf_order;
    char err_name[256];
} extract_ctx;

static int lookup(json_t *map, const char *name) {
    json_t *v = json_object_get(map, name);
    return v ? (int)json_integer_value(v) : -1;
}

static Onnx__ValueInfoProto *declared_info(const extract_ctx *x, const char *name) {
    int i = lookup(x->declared, name);
    if (i < 0) return NULL;
    size_t k = (size_t)i;
    if (k < x->g->n_input) return x->g->input[k];
    k -= x->g->n_input;
    if (k < x->g->n_output) return x->g->output[k];
    k -= x->g->n_output;
    return k < x->g->n_value_info ? x->g->value_info[k] : NULL;
}

static void index_model(extract_ctx *x) {
    Onnx__GraphProto *g = x->g;
    x->producer = json_object();
    x->initializer = json_object();
    x->sparse = json_object();
    x->declared = json_object();
    for (size_t n = 0; n < g->n_node; n++)
        for (size_t o = 0; o < g->node[n]->n_output; o++)
            if (g->node[n]->output[o] && g->node[n]->output[o][0])
                json_object_set_new(x->producer, g->node[n]->output[o], json_integer((json_int_t)n));
    for (size_t i = 0; i < g->n_initializer; i++)
        if (g->initializer[i]->name) json_object_set_new(x->initializer, g->initializer[i]->name, json_integer((json_int_t)i));
    for (size_t i = 0; i < g->n_sparse_initializer; i++) {
        Onnx__SparseTensorProto *sp = g->sparse_initializer[i];
        if (sp->values && sp->values->name)
            json_object_set_new(x->sparse, sp->values->name, json_integer((json_int_t)i));
    }
    size_t k = 0;
    Onnx__ValueInfoProto **lists[3] = {g->input, g->output, g->value_info};
    size_t counts[3] = {g->n_input, g->n_output, g->n_value_info};
    for (int l = 0; l < 3; l++)
        for (size_t i = 0; i < counts[l]; i++, k++)
            if (lists[l][i]->name && !json_object_get(x->declared, lists[l][i]->name))
                json_object_set_new(x->declared, lists[l][i]->name, json_integer((json_int_t)k));
}

/* Names a subgraph reads from the graphs around it: what its nodes (at any
 * depth) read, less what it defines. */
static void subgraph_reads(const Onnx__GraphProto *sg, json_t *reads, json_t *defined) {
    for (size_t i = 0; i < sg->n_input; i++) json_object_set_new(defined, sg->input[i]->name ? sg->input[i]->name : "", json_true());
    for (size_t i = 0; i < sg->n_initializer; i++)
        if (sg->initializer[i]->name) json_object_set_new(defined, sg->initializer[i]->name, json_true());
    for (size_t n = 0; n < sg->n_node; n++) {
        const Onnx__NodeProto *nd = sg->node[n];
        for (size_t o = 0; o < nd->n_output; o++) json_object_set_new(defined, nd->output[o], json_true());
        for (size_t i = 0; i < nd->n_input; i++)
            if (nd->input[i][0]) json_object_set_new(reads, nd->input[i], json_true());
        for (size_t a = 0; a < nd->n_attribute; a++) {
            const Onnx__AttributeProto *at = nd->attribute[a];
            if (at->g) subgraph_reads(at->g, reads, defined);
            for (size_t k = 0; k < at->n_graphs; k++) subgraph_reads(at->graphs[k], reads, defined);
        }
    }
}

/* Every tensor a node needs: its inputs and what its subgraphs read from
 * outside. A json array of names. */
static json_t *node_needs(const Onnx__NodeProto *nd) {
    json_t *out = json_array();
    for (size_t i = 0; i < nd->n_input; i++)
        if (nd->input[i][0]) json_array_append_new(out, json_string(nd->input[i]));
    json_t *reads = json_object(), *defined = json_object();
    for (size_t a = 0; a < nd->n_attribute; a++) {
        const Onnx__AttributeProto *at = nd->attribute[a];
        if (at->g) subgraph_reads(at->g, reads, defined);
        for (size_t k = 0; k < at->n_graphs; k++) subgraph_reads(at->graphs[k], reads, defined);
    }
    const char *key;
    json_t *v;
    json_object_foreach(reads, key, v) {
        if (!json_object_get(defined, key)) json_array_append_new(out, json_string(key));
    }
    json_decref(reads);
    json_decref(defined);
    return out;
}

/* ---- the dump's tensors ------------------------------------------------------------- */

/* The dump's tensor for an ONNX name: by the manifest's name, else by
 * AIMET's file name for it. -1 when the dump has no such tensor. */
static int dump_index(const extract_ctx *x, const char *name) {
    for (int i = 0; i < x->dump.n_tensors; i++)
        if (x->dump.tensors[i].name && !strcmp(x->dump.tensors[i].name, name)) return i;
    char *stem = lo_sanitize_onnx(name);
    int found = -1;
    for (int i = 0; stem && i < x->dump.n_tensors && found < 0; i++)
        if (!x->dump.tensors[i].name && !strcmp(x->dump.tensors[i].file, stem)) found = i;
    free(stem);
    return found;
}

static bool dump_holds(const extract_ctx *x, int t) { return lo_dump_holds(&x->dump, x->o->sample, t); }

/* What the user named: an ONNX tensor name, else a file name of the dump. */
static const char *resolve_name(extract_ctx *x, const char *given) {
    if (lookup(x->producer, given) >= 0 || lookup(x->declared, given) >= 0 || lookup(x->initializer, given) >= 0)
        return given;
    for (int i = 0; i < x->dump.n_tensors; i++) {
        const lo_dump_tensor *t = &x->dump.tensors[i];
        if (strcmp(t->file, given)) continue;
        if (t->name) return t->name;
        /* AIMET's dump names files only: find the model tensor with that file name */
        const char *key;
        json_t *v;
        json_object_foreach(x->producer, key, v) {
            char *s = lo_sanitize_onnx(key);
            bool hit = s && !strcmp(s, given);
            free(s);
            if (hit) return key;
        }
    }
    return NULL;
}

/* ---- choosing the nodes --------------------------------------------------------------- */

static lo_status walk(extract_ctx *x, const char *target, lo_error *err) {
    Onnx__GraphProto *g = x->g;
    int p = lookup(x->producer, target);
    json_t *seen = json_object();
    json_t *stack = json_array();
    lo_status st = LO_OK;
    x->node_in[p] = true;
    json_object_set_new(seen, target, json_true());
    json_t *needs = node_needs(g->node[p]);
    json_array_extend(stack, needs);
    json_decref(needs);
    while (json_array_size(stack) > 0 && st == LO_OK) {
        size_t last = json_array_size(stack) - 1;
        char *u = lo_strdup(json_string_value(json_array_get(stack, last)));
        json_array_remove(stack, last);
        if (!u) {
            st = lo_fail(err, LO_ERR_NOMEM, "out of memory");
            break;
        }
        if (json_object_get(seen, u)) {
            free(u);
            continue;
        }
        json_object_set_new(seen, u, json_true());
        int prod = lookup(x->producer, u);
        int ii = lookup(x->initializer, u), si = lookup(x->sparse, u);
        bool compute = false;
        if (ii >= 0) {
            x->init_in[ii] = true;
        } else if (si >= 0) {
            x->sparse_in[si] = true;
        } else if (prod >= 0 && !strcmp(g->node[prod]->op_type, "Constant")) {
            x->node_in[prod] = true; /* constants travel with the model, never the dump */
        } else if (prod >= 0 && x->region && x->region[prod]) {
            compute = true;
        } else {
            int t = dump_index(x, u);
            if (dump_holds(x, t)) {
                json_object_set_new(x->leaves, u, json_integer(t));
                json_array_append_new(x->leaf_order, json_string(u));
            } else if (prod >= 0) {
                compute = true;
            } else {
                st = lo_fail(err, LO_ERR_ARGUMENT, "'%s' needs the graph input '%s', which the dump '%s' does not "
                             "hold in sample %d", target, u, x->o->dump, x->o->sample);
            }
        }
        if (compute) {
            x->node_in[prod] = true;
            needs = node_needs(g->node[prod]);
            json_array_extend(stack, needs);
            json_decref(needs);
        }
        free(u);
    }
    json_decref(seen);
    json_decref(stack);
    return st;
}

/* With --to: the nodes downstream of tensor's producer (the model's nodes
 * are in topological order, as ONNX requires). */
static void mark_region(extract_ctx *x, int start) {
    Onnx__GraphProto *g = x->g;
    json_t *reached = json_object();
    x->region[start] = true;
    for (size_t o = 0; o < g->node[start]->n_output; o++)
        json_object_set_new(reached, g->node[start]->output[o], json_true());
    for (size_t n = (size_t)start + 1; n < g->n_node; n++) {
        json_t *needs = node_needs(g->node[n]);
        size_t i;
        json_t *v;
        bool hit = false;
        json_array_foreach(needs, i, v) hit = hit || json_object_get(reached, json_string_value(v));
        json_decref(needs);
        if (!hit) continue;
        x->region[n] = true;
        for (size_t o = 0; o < g->node[n]->n_output; o++)
            if (g->node[n]->output[o][0]) json_object_set_new(reached, g->node[n]->output[o], json_true());
    }
    json_decref(reached);
}

/* ---- writing the pack ---------------------------------------------------------------- */

/* A ValueInfoProto for a pack input or output: the dump's dtype and shape
 * when its manifest records them (the values are what the dump holds), else
 * the model's own declaration, else float32 of unknown shape. */
typedef struct vi_store {
    Onnx__ValueInfoProto vi;
    Onnx__TypeProto type;
    Onnx__TypeProto__Tensor tensor;
    Onnx__TensorShapeProto shape;
    Onnx__TensorShapeProto__Dimension dims[LO_MAX_RANK];
    Onnx__TensorShapeProto__Dimension *dimp[LO_MAX_RANK];
} vi_store;

static Onnx__ValueInfoProto *value_info(const extract_ctx *x, const char *name, int t, vi_store *s) {
    const lo_dump_tensor *dt = t >= 0 ? &x->dump.tensors[t] : NULL;
    Onnx__ValueInfoProto *decl = declared_info(x, name);
    if (decl && decl->type && (!dt || dt->dtype == LO_UNDEFINED || dt->rank < 0)) return decl;
    onnx__value_info_proto__init(&s->vi);
    onnx__type_proto__init(&s->type);
    onnx__type_proto__tensor__init(&s->tensor);
    onnx__tensor_shape_proto__init(&s->shape);
    s->vi.name = (char *)name;
    s->vi.type = &s->type;
    s->type.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    s->type.tensor_type = &s->tensor;
    s->tensor.has_elem_type = 1;
    s->tensor.elem_type = dt && dt->dtype ? (int32_t)dt->dtype : LO_FLOAT;
    if (dt && dt->rank >= 0) {
        for (int d = 0; d < dt->rank; d++) {
            onnx__tensor_shape_proto__dimension__init(&s->dims[d]);
            s->dims[d].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            s->dims[d].dim_value = dt->dims[d];
            s->dimp[d] = &s->dims[d];
        }
        s->shape.n_dim = (size_t)dt->rank;
        s->shape.dim = s->dimp;
        s->tensor.shape = &s->shape;
    }
    return &s->vi;
}

static lo_status write_bytes(const char *dir, const char *file, const void *data, size_t len, lo_error *err) {
    size_t n = strlen(dir) + strlen(file) + 2;
    char *path = malloc(n);
    if (!path) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    snprintf(path, n, "%s/%s", dir, file);
    lo_status st = lo_write_file_atomic(path, data, len, err);
    free(path);
    return st;
}

/* Copies the dump's file of tensor t (sample K) as DIR/SUB/FILE.raw: the
 * tensor's bytes, whatever the dump's format. */
static lo_status copy_tensor(const extract_ctx *x, int t, const char *dir, const char *sub, lo_error *err) {
    lo_mapped m;
    LO_TRY(lo_dump_map(&x->dump, x->o->sample, t, &m, err));
    char file[600];
    snprintf(file, sizeof file, "%s/%s.raw", sub, x->dump.tensors[t].file);
    lo_status st = write_bytes(dir, file, m.data ? m.data : "", m.nbytes, err);
    lo_unmap(&m);
    return st;
}

/* Keeps, of each encodings section, the entries naming tensors of the pack:
 * dict sections (0.6.1) by key, list sections (1.0.0, 2.0.0) by "name". */
static lo_status restrict_encodings(const char *path, json_t *keep, char **text, lo_error *err) {
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        return lo_fail(err, LO_ERR_ENCODINGS, "cannot read the encodings '%s': %s (line %d)", path, je.text, je.line);
    }
    const char *key;
    json_t *sec;
    json_object_foreach(root, key, sec) {
        if (json_is_object(sec) && strstr(key, "encodings")) {
            const char *name;
            json_t *v, *tmp;
            json_object_foreach_safe(sec, tmp, name, v) {
                if (!json_object_get(keep, name)) json_object_del(sec, name);
            }
        } else if (json_is_array(sec) && strstr(key, "encodings")) {
            for (size_t i = json_array_size(sec); i-- > 0;) {
                const char *name = json_string_value(json_object_get(json_array_get(sec, i), "name"));
                if (!name || !json_object_get(keep, name)) json_array_remove(sec, i);
            }
        }
    }
    *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    return *text ? LO_OK : lo_fail(err, LO_ERR_NOMEM, "out of memory");
}

/* Initializers kept in external files are read in, so the pack stands alone. */
static lo_status inline_external(const extract_ctx *x, Onnx__TensorProto *in, Onnx__TensorProto *out,
                                 uint8_t **owned, lo_error *err) {
    *out = *in;
    *owned = NULL;
    if (!in->has_data_location || in->data_location != ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) return LO_OK;
    const char *loc = NULL;
    long long offset = 0, length = -1;
    for (size_t i = 0; i < in->n_external_data; i++) {
        const Onnx__StringStringEntryProto *e = in->external_data[i];
        if (!e->key || !e->value) continue;
        if (!strcmp(e->key, "location")) loc = e->value;
        else if (!strcmp(e->key, "offset")) offset = atoll(e->value);
        else if (!strcmp(e->key, "length")) length = atoll(e->value);
    }
    if (!loc || strstr(loc, "..") || loc[0] == '/')
        return lo_fail(err, LO_ERR_MODEL, "initializer '%s': external data without a usable location", in->name);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", x->o->model);
    char *slash = strrchr(dir, '/');
    if (slash) slash[1] = 0;
    else dir[0] = 0;
    char path[8192];
    snprintf(path, sizeof path, "%s%s", dir, loc);
    uint8_t *data;
    size_t len;
    LO_TRY(slurp(path, &data, &len, err));
    if (offset < 0 || (size_t)offset > len || (length >= 0 && (size_t)length > len - (size_t)offset)) {
        free(data);
        return lo_fail(err, LO_ERR_MODEL, "initializer '%s': external data beyond the end of '%s'", in->name, path);
    }
    size_t n = length >= 0 ? (size_t)length : len - (size_t)offset;
    memmove(data, data + offset, n);
    out->has_raw_data = 1;
    out->raw_data.data = data;
    out->raw_data.len = n;
    out->n_external_data = 0;
    out->external_data = NULL;
    out->has_data_location = 0;
    out->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__DEFAULT;
    *owned = data;
    return LO_OK;
}

static lo_status write_readme(const extract_ctx *x, const char *dir, const char *target, const char *target_file,
                              int n_nodes, bool quantized, const char *naming, lo_error *err) {
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (!f) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    fprintf(f, "# Repro pack: `%s`, sample %d\n\n", target, x->o->sample);
    fprintf(f, "Made by `layerout extract %s --dump %s --tensor %s --sample %d%s%s%s%s -o ...`.\n\n", x->o->model,
            x->o->dump, x->o->tensor, x->o->sample, x->o->to ? " --to " : "", x->o->to ? x->o->to : "",
            quantized ? " --encodings " : "", quantized ? x->o->encodings : "");
    fprintf(f, "- `model.onnx`: the %d node%s of the model that compute `%s` from tensors the dump holds "
               "(plus initializers and Constant nodes); every tensor keeps its name.\n",
            n_nodes, n_nodes == 1 ? "" : "s", target);
    fputs("- `inputs/`: the dump's values of the model's inputs, sample ", f);
    fprintf(f, "%d, as `.raw` files (the tensor's bytes, C order, little-endian, in the model's layout).\n",
            x->o->sample);
    fputs("- `input_list.txt`: one line, those files in model input order (qnn-net-run's format).\n", f);
    fprintf(f, "- `expected/%s.raw`: the dump's value of `%s`.\n", target_file, target);
    if (quantized) fputs("- `encodings.json`: the dump's encodings, restricted to the tensors of this model.\n", f);
    fputs("\n## Run it with layerout\n\n```sh\ncd THIS_FOLDER\n", f);
    fprintf(f, "layerout generate model.onnx --input-list input_list.txt -o out%s%s%s\n",
            quantized ? " --encodings encodings.json" : "", naming && strcmp(naming, "onnx") ? " --naming " : "",
            naming && strcmp(naming, "onnx") ? naming : "");
    fprintf(f, "cmp out/" LO_DUMP_OUTPUTS "/" LO_DUMP_SAMPLE_PREFIX "0/%s.raw expected/%s.raw && echo reproduced\n```\n\n", target_file,
            target_file);
    fputs("`out/" LO_DUMP_OUTPUTS "/" LO_DUMP_SAMPLE_PREFIX "0/` holds every tensor of the pack under the dump's file names, so the\n"
          "inputs come back unchanged and the target is compared byte for byte.\n\n", f);
    fputs("## Run it with qnn-net-run\n\n```sh\n", f);
    fprintf(f, "qnn-onnx-converter --input_network model.onnx%s -o model.cpp\n",
            quantized ? " --quantization_overrides encodings.json" : "");
    fputs("qnn-model-lib-generator -c model.cpp -b model.bin -o model_libs\n"
          "qnn-net-run --model model_libs/x86_64-linux-clang/libmodel.so --backend libQnnCpu.so \\\n"
          "    --input_list input_list.txt --debug --output_dir qnn_out\n"
          "layerout compare out qnn_out   # out: the layerout run above\n```\n\n", f);
    fputs("qnn-net-run reads the `.raw` inputs as the converted model's inputs; QNN keeps images\n"
          "channel-last, so for rank-4 image inputs convert the files or give the converter the layout\n"
          "(`--input_layout`). `layerout compare` transposes QNN's channel-last outputs itself.\n", f);
    bool bad = ferror(f);
    fclose(f);
    lo_status st = bad ? lo_fail(err, LO_ERR_NOMEM, "out of memory") : write_bytes(dir, "README.md", text, size, err);
    free(text);
    return st;
}

static lo_status make_dir(const char *path, lo_error *err) {
    if (mkdir(path, 0777) != 0) return lo_fail(err, LO_ERR_IO, "cannot create '%s': %s", path, strerror(errno));
    return LO_OK;
}

lo_status lo_extract(const lo_extract_options *given, lo_extract_result *result, lo_error *err) {
    if (result) memset(result, 0, sizeof *result);
    lo_extract_options taken, *o = NULL;
    if (given) {
        lo_extract_options_init(&taken);
        LO_TRY(lo_options_take(&taken, sizeof taken, given, "lo_extract_options", err));
        o = &taken;
    }
    if (!o || !o->model || !o->dump || !o->tensor || !o->output)
        return lo_fail(err, LO_ERR_ARGUMENT, "extract needs a model, a dump, a tensor and an output folder");
    if (o->sample < 0) return lo_fail(err, LO_ERR_ARGUMENT, "sample %d is out of range", o->sample);
    extract_ctx x = {0};
    x.o = o;
    uint8_t *bytes = NULL;
    size_t len = 0;
    lo_status st = LO_OK;
    char *partial = NULL, *enc_text = NULL;
    Onnx__NodeProto **nodes = NULL;
    Onnx__TensorProto **inits = NULL, *init_copies = NULL;
    uint8_t **owned = NULL;
    Onnx__SparseTensorProto **sparse = NULL;
    Onnx__ValueInfoProto **ins = NULL, **vis = NULL, *outs[1];
    vi_store *stores = NULL;
    Onnx__TensorAnnotation **qa = NULL;
    size_t n_nodes = 0, n_inits = 0, n_sparse = 0, n_ins = 0, n_vis = 0, n_qa = 0;
    json_t *keep = json_object();
    x.leaves = json_object();
    x.leaf_order = json_array();
    bool created = false;

    if ((st = slurp(o->model, &bytes, &len, err)) != LO_OK) goto done;
    x.model = onnx__model_proto__unpack(NULL, len, bytes);
    if (!x.model || !x.model->graph) {
        st = lo_fail(err, LO_ERR_MODEL, "'%s' is not an ONNX model (cannot decode its ModelProto)", o->model);
        goto done;
    }
    x.g = x.model->graph;
    index_model(&x);
    if ((st = lo_dump_open(o->dump, &x.dump, err)) != LO_OK) goto done;
    x.dump_open = true;
    if (x.dump.kind == LO_DUMP_QNN) {
        st = lo_fail(err, LO_ERR_ARGUMENT, "'%s' is a QNN output folder: extract takes a dump of the model "
                     "(layerout generate's or AIMET's), whose tensors are in the model's layout", o->dump);
        goto done;
    }
    if (o->sample >= x.dump.n_samples) {
        st = lo_fail(err, LO_ERR_ARGUMENT, "sample %d is out of range: '%s' holds %d sample%s (0..%d)", o->sample,
                     o->dump, x.dump.n_samples, x.dump.n_samples == 1 ? "" : "s", x.dump.n_samples - 1);
        goto done;
    }
    const char *names[2] = {o->tensor, o->to};
    const char *resolved[2] = {NULL, NULL};
    for (int i = 0; i < 2; i++) {
        if (!names[i]) continue;
        resolved[i] = resolve_name(&x, names[i]);
        if (!resolved[i]) {
            st = lo_fail(err, LO_ERR_ARGUMENT, "no tensor '%s' in '%s' (neither a tensor name of the model nor a "
                         "file name of the dump)", names[i], o->model);
            goto done;
        }
        if (lookup(x.producer, resolved[i]) < 0) {
            st = lo_fail(err, LO_ERR_ARGUMENT, "'%s' is %s of '%s': no node computes it", resolved[i],
                         lookup(x.initializer, resolved[i]) >= 0 ? "an initializer" : "a graph input", o->model);
            goto done;
        }
    }
    const char *target = resolved[1] ? resolved[1] : resolved[0];
    int target_t = dump_index(&x, target);
    if (!dump_holds(&x, target_t)) {
        st = lo_fail(err, LO_ERR_ARGUMENT, "'%s' is not in the dump '%s' (sample %d): there is no value to "
                     "reproduce", target, o->dump, o->sample);
        goto done;
    }
    x.node_in = calloc(x.g->n_node + 1, sizeof *x.node_in);
    x.init_in = calloc(x.g->n_initializer + 1, sizeof *x.init_in);
    x.sparse_in = calloc(x.g->n_sparse_initializer + 1, sizeof *x.sparse_in);
    if (!x.node_in || !x.init_in || !x.sparse_in) {
        st = lo_fail(err, LO_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (resolved[1]) {
        x.region = calloc(x.g->n_node + 1, sizeof *x.region);
        if (!x.region) {
            st = lo_fail(err, LO_ERR_NOMEM, "out of memory");
            goto done;
        }
        mark_region(&x, lookup(x.producer, resolved[0]));
        if (!x.region[lookup(x.producer, resolved[1])]) {
            st = lo_fail(err, LO_ERR_ARGUMENT, "'%s' does not depend on '%s': --to wants a tensor downstream of "
                         "--tensor", resolved[1], resolved[0]);
            goto done;
        }
    }
    if ((st = walk(&x, target, err)) != LO_OK) goto done;
    if (x.dump.quantized && !o->encodings) {
        st = lo_fail(err, LO_ERR_ARGUMENT, "the dump '%s' was made with encodings (its manifest says so): give "
                     "them with --encodings so the pack reproduces it", o->dump);
        goto done;
    }

    /* the pack's model */
    nodes = calloc(x.g->n_node + 1, sizeof *nodes);
    inits = calloc(x.g->n_initializer + 1, sizeof *inits);
    init_copies = calloc(x.g->n_initializer + 1, sizeof *init_copies);
    owned = calloc(x.g->n_initializer + 1, sizeof *owned);
    sparse = calloc(x.g->n_sparse_initializer + 1, sizeof *sparse);
    size_t n_leaves = json_array_size(x.leaf_order);
    ins = calloc(n_leaves + x.g->n_initializer + 1, sizeof *ins);
    stores = calloc(n_leaves + 1, sizeof *stores);
    vis = calloc(x.g->n_value_info + 1, sizeof *vis);
    qa = calloc(x.g->n_quantization_annotation + 1, sizeof *qa);
    if (!nodes || !inits || !init_copies || !owned || !sparse || !ins || !stores || !vis || !qa) {
        st = lo_fail(err, LO_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t n = 0; n < x.g->n_node; n++) {
        if (!x.node_in[n]) continue;
        nodes[n_nodes++] = x.g->node[n];
        for (size_t k = 0; k < x.g->node[n]->n_output; k++) json_object_set_new(keep, x.g->node[n]->output[k], json_true());
        for (size_t k = 0; k < x.g->node[n]->n_input; k++) json_object_set_new(keep, x.g->node[n]->input[k], json_true());
    }
    for (size_t i = 0; i < x.g->n_initializer; i++) {
        if (!x.init_in[i]) continue;
        if ((st = inline_external(&x, x.g->initializer[i], &init_copies[n_inits], &owned[n_inits], err)) != LO_OK)
            goto done;
        inits[n_inits] = &init_copies[n_inits];
        n_inits++;
    }
    for (size_t i = 0; i < x.g->n_sparse_initializer; i++)
        if (x.sparse_in[i]) sparse[n_sparse++] = x.g->sparse_initializer[i];
    for (size_t i = 0; i < n_leaves; i++) {
        const char *name = json_string_value(json_array_get(x.leaf_order, i));
        ins[n_ins++] = value_info(&x, name, lookup(x.leaves, name), &stores[i]);
    }
    /* before IR 4 every initializer had to be a graph input too */
    if (x.model->has_ir_version && x.model->ir_version < 4)
        for (size_t i = 0; i < n_inits; i++) {
            Onnx__ValueInfoProto *decl = declared_info(&x, inits[i]->name);
            if (decl) ins[n_ins++] = decl;
        }
    vi_store out_store;
    outs[0] = value_info(&x, target, target_t, &out_store);
    for (size_t i = 0; i < x.g->n_value_info; i++) {
        const char *name = x.g->value_info[i]->name;
        if (name && json_object_get(keep, name) && !json_object_get(x.leaves, name) && strcmp(name, target))
            vis[n_vis++] = x.g->value_info[i];
    }
    for (size_t i = 0; i < x.g->n_quantization_annotation; i++) {
        const char *name = x.g->quantization_annotation[i]->tensor_name;
        if (name && json_object_get(keep, name)) qa[n_qa++] = x.g->quantization_annotation[i];
    }
    Onnx__GraphProto graph = *x.g;
    graph.n_node = n_nodes;
    graph.node = nodes;
    graph.n_initializer = n_inits;
    graph.initializer = inits;
    graph.n_sparse_initializer = n_sparse;
    graph.sparse_initializer = sparse;
    graph.n_input = n_ins;
    graph.input = ins;
    graph.n_output = 1;
    graph.output = outs;
    graph.n_value_info = n_vis;
    graph.value_info = vis;
    graph.n_quantization_annotation = n_qa;
    graph.quantization_annotation = qa;
    Onnx__ModelProto model = *x.model;
    model.graph = &graph;
    model.n_training_info = 0;
    model.training_info = NULL;
    size_t packed_len = onnx__model_proto__get_packed_size(&model);
    uint8_t *packed = malloc(packed_len ? packed_len : 1);
    if (!packed) {
        st = lo_fail(err, LO_ERR_NOMEM, "out of memory");
        goto done;
    }
    onnx__model_proto__pack(&model, packed);
    if (o->encodings) {
        /* the encodings name initializers too (param_encodings) */
        for (size_t i = 0; i < n_inits; i++) json_object_set_new(keep, inits[i]->name, json_true());
        if ((st = restrict_encodings(o->encodings, keep, &enc_text, err)) != LO_OK) {
            free(packed);
            goto done;
        }
    }

    /* the folder: composed beside the target, renamed when whole */
    struct stat sb;
    if (lstat(o->output, &sb) == 0 && !o->overwrite) {
        free(packed);
        st = lo_fail(err, LO_ERR_ARGUMENT, "'%s' already exists (give --overwrite to replace it)", o->output);
        goto done;
    }
    size_t pl = strlen(o->output) + 16;
    partial = malloc(pl);
    if (!partial) {
        free(packed);
        st = lo_fail(err, LO_ERR_NOMEM, "out of memory");
        goto done;
    }
    snprintf(partial, pl, "%s.partial", o->output);
    if (lstat(partial, &sb) == 0 && (st = lo_remove_tree(partial, err)) != LO_OK) {
        free(packed);
        goto done;
    }
    char sub[8192];
    st = make_dir(partial, err);
    created = st == LO_OK;
    if (st == LO_OK) st = write_bytes(partial, "model.onnx", packed, packed_len, err);
    free(packed);
    if (st == LO_OK) {
        snprintf(sub, sizeof sub, "%s/inputs", partial);
        st = make_dir(sub, err);
    }
    if (st == LO_OK) {
        snprintf(sub, sizeof sub, "%s/expected", partial);
        st = make_dir(sub, err);
    }
    char *list = NULL;
    size_t list_len = 0;
    FILE *lf = open_memstream(&list, &list_len);
    if (!lf && st == LO_OK) st = lo_fail(err, LO_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n_leaves && st == LO_OK; i++) {
        int t = lookup(x.leaves, json_string_value(json_array_get(x.leaf_order, i)));
        st = copy_tensor(&x, t, partial, "inputs", err);
        fprintf(lf, "%sinputs/%s.raw", i ? " " : "", x.dump.tensors[t].file);
    }
    if (lf) {
        fputc('\n', lf);
        fclose(lf);
    }
    if (st == LO_OK) st = write_bytes(partial, "input_list.txt", list, list_len, err);
    free(list);
    if (st == LO_OK) st = copy_tensor(&x, target_t, partial, "expected", err);
    if (st == LO_OK && enc_text) st = write_bytes(partial, "encodings.json", enc_text, strlen(enc_text), err);
    if (st == LO_OK)
        st = write_readme(&x, partial, target, x.dump.tensors[target_t].file, (int)n_nodes, o->encodings != NULL,
                          x.dump.naming, err);
    if (st == LO_OK && lstat(o->output, &sb) == 0) st = lo_remove_tree(o->output, err);
    if (st == LO_OK && rename(partial, o->output) != 0)
        st = lo_fail(err, LO_ERR_IO, "cannot rename '%s' to '%s': %s", partial, o->output, strerror(errno));
    if (st == LO_OK) {
        created = false;
        if (result) {
            result->n_nodes = (int)n_nodes;
            result->n_inputs = (int)n_leaves;
            result->n_initializers = (int)n_inits;
            snprintf(result->target_file, sizeof result->target_file, "%s", x.dump.tensors[target_t].file);
        }
    }
done:
    if (created && partial) {
        lo_error ignored;
        lo_remove_tree(partial, &ignored);
    }
    for (size_t i = 0; owned && i < n_inits; i++) free(owned[i]);
    free(owned);
    free(init_copies);
    free(inits);
    free(nodes);
    free(sparse);
    free(ins);
    free(stores);
    free(vis);
    free(qa);
    free(partial);
    free(enc_text);
    json_decref(keep);
    json_decref(x.leaves);
    json_decref(x.leaf_order);
    json_decref(x.producer);
    json_decref(x.initializer);
    json_decref(x.sparse);
    json_decref(x.declared);
    free(x.node_in);
    free(x.init_in);
    free(x.sparse_in);
    free(x.region);
    if (x.dump_open) lo_dump_close(&x.dump);
    if (x.model) onnx__model_proto__free_unpacked(x.model, NULL);
    free(bytes);
    return st;
}
