/* Unit tests of src/dump/naming.c: the QNN sanitizer (expected strings are
 * Python's re.sub(r'\W+', '_', s), then '_' + s unless s[0].isalpha()) and
 * module recovery of the pytorch scheme from the names and metadata three
 * exporters write. */
#include "dump/dump.h"
#include "harness.h"

static void qnn_case(const char *in, const char *want) {
    char *got = lo_sanitize_qnn(in);
    CHECK(got && strcmp(got, want) == 0, "qnn(%s) = %s, want %s", in, got, want);
    free(got);
}

static void test_qnn(void) {
    qnn_case("conv1", "conv1");
    qnn_case("/layer1/conv1/Conv_output_0", "__layer1_conv1_Conv_output_0");
    qnn_case("1abc", "_1abc");
    qnn_case("_x", "__x");
    qnn_case("a.b:c", "a_b_c");
    qnn_case("é", "é");          /* a letter beyond ASCII needs no prefix */
    qnn_case("名字", "名字");
    qnn_case("../../x", "__x");
    qnn_case("", "__");            /* AIMET's rule gives "_", QNN's prefixes it */
}

/* A graph of single-output nodes, one per (name, op, weight name, metadata). */
typedef struct spec {
    const char *name, *op, *weight, *scopes;
} spec;

static lo_model_ir *make_model(const spec *s, int n) {
    lo_model_ir *m = calloc(1, sizeof *m);
    lo_graph *g = calloc(1, sizeof *g);
    m->graph = g;
    g->model = m;
    g->nodes = calloc((size_t)n, sizeof *g->nodes);
    int prev = lo_graph_add_value(g, "input", NULL);
    g->values[prev].kind = LO_VALUE_INPUT;
    for (int i = 0; i < n; i++) {
        lo_node *node = &g->nodes[g->n_nodes++];
        node->name = lo_strdup(s[i].name);
        node->op_type = lo_strdup(s[i].op);
        node->domain = lo_strdup("");
        node->n_inputs = s[i].weight ? 2 : 1;
        node->inputs = calloc(2, sizeof(int));
        node->inputs[0] = prev;
        if (s[i].weight) {
            int w = lo_graph_add_value(g, s[i].weight, NULL);
            g->values[w].kind = LO_VALUE_INITIALIZER;
            node->inputs[1] = w;
        }
        char out[32];
        snprintf(out, sizeof out, "t%d", i);
        prev = lo_graph_add_value(g, out, NULL);
        g->values[prev].kind = LO_VALUE_NODE;
        g->values[prev].producer = i;
        node->n_outputs = 1;
        node->outputs = malloc(sizeof(int));
        node->outputs[0] = prev;
        if (s[i].scopes) {
            node->n_meta = 1;
            node->meta_keys = malloc(sizeof(char *));
            node->meta_values = malloc(sizeof(char *));
            node->meta_keys[0] = lo_strdup("pkg.torch.onnx.name_scopes");
            node->meta_values[0] = lo_strdup(s[i].scopes);
        }
    }
    return m;
}

/* want[i]: the stem of node i's output, or NULL when the scheme leaves it out. */
static void expect_stems(const char *what, const spec *s, int n, const char *const *want) {
    lo_model_ir *m = make_model(s, n);
    lo_namer *nm = NULL;
    lo_error err;
    lo_status st = lo_namer_create(m, LO_NAMING_PYTORCH, NULL, false, &nm, &err);
    CHECK(st == LO_OK, "%s: namer: %s", what, st == LO_OK ? "" : err.message);
    for (int i = 0; nm && i < n; i++) {
        char out[32], *stem = NULL;
        const char *note = NULL;
        snprintf(out, sizeof out, "t%d", i);
        bool kept = lo_namer_stem(nm, out, -1, &stem, &note);
        if (want[i])
            CHECK(kept && strcmp(stem, want[i]) == 0, "%s: node %s -> %s, want %s", what, s[i].name,
                  kept ? stem : "(left out)", want[i]);
        else
            CHECK(!kept, "%s: node %s -> %s, want it left out", what, s[i].name, stem);
        free(stem);
    }
    lo_namer_free(nm);
    lo_model_ir_free(m);
}

static void test_torchscript_exporter(void) {
    /* resnet's block: relu called twice (relu, relu_1 scopes), a BatchNorm
     * folded into conv1 (weights onnx::Conv_N), conv2 kept (named weights) */
    const spec s[] = {
        {"/layer1/layer1.0/conv1/Conv", "Conv", "onnx::Conv_193", NULL},
        {"/layer1/layer1.0/relu/Relu", "Relu", NULL, NULL},
        {"/layer1/layer1.0/conv2/Conv", "Conv", "layer1.0.conv2.weight", NULL},
        {"/layer1/layer1.0/Add", "Add", NULL, NULL},
        {"/layer1/layer1.0/relu_1/Relu", "Relu", NULL, NULL},
        {"/features/features.1/conv/conv.0/conv.0.0/Conv", "Conv", "features.1.conv.0.0.weight", NULL},
        {"/act/Mul", "Mul", NULL, NULL}, /* a module of several nodes: its last one */
        {"/act/Sigmoid", "Sigmoid", NULL, NULL},
        {"/Flatten", "Flatten", NULL, NULL},
    };
    const char *want[] = {"layer1_0_conv1__folded", "layer1_0_relu__call1", "layer1_0_conv2", NULL, "layer1_0_relu",
                          "features_1_conv_0_0", NULL, "act", NULL};
    expect_stems("torchscript exporter", s, (int)(sizeof s / sizeof s[0]), want);
}

static void test_aimet_exporter(void) {
    const spec s[] = {
        {"conv1", "Conv", "conv1.weight", NULL},
        {"layer1.0.relu#0.0.end", "Relu", NULL, NULL},
        {"layer1.0.conv2", "Conv", "layer1.0.conv2.weight", NULL},
        {"/layer1/layer1.0/Add", "Add", NULL, NULL},
        {"layer1.0.relu#0-1.end", "Relu", NULL, NULL},
        {"act", "Sigmoid", NULL, NULL},
        {"act#1.end", "Mul", NULL, NULL},
        {"Flatten_3", "Flatten", NULL, NULL}, /* an older exporter's op name, not a module */
    };
    const char *want[] = {"conv1", "layer1_0_relu__call1", "layer1_0_conv2", NULL, "layer1_0_relu", NULL, "act", NULL};
    expect_stems("aimet exporter", s, (int)(sizeof s / sizeof s[0]), want);
}

static void test_dynamo_exporter(void) {
    /* calls share a scope name; a node of another module in between ends
     * the run. The fused Conv carries the BatchNorm's scope. Node names
     * (node_Conv_3) are never taken for modules. */
    const spec s[] = {
        {"node_Conv_3", "Conv", "conv1.weight", "['', 'bn1', '_native_batch_norm_legit_no_training']"},
        {"node_relu", "Relu", NULL, "['', 'layer1', 'layer1.0', 'layer1.0.relu', 'relu']"},
        {"node_Conv_5", "Conv", "w2", "['', 'layer1', 'layer1.0', 'layer1.0.bn2', '_native_batch_norm_2']"},
        {"node_add", "Add", NULL, "['', 'layer1', 'layer1.0', 'add']"},
        {"node_relu_1", "Relu", NULL, "['', 'layer1', 'layer1.0', 'layer1.0.relu', 'relu_1']"},
        {"node_Identity_9", "Identity", NULL, NULL},
        {"node_flatten", "Flatten", NULL, "['', 'flatten']"},
    };
    const char *want[] = {"bn1", "layer1_0_relu__call1", "layer1_0_bn2", NULL, "layer1_0_relu", NULL, NULL};
    expect_stems("dynamo exporter", s, (int)(sizeof s / sizeof s[0]), want);
}

int main(void) {
    test_qnn();
    test_torchscript_exporter();
    test_aimet_exporter();
    test_dynamo_exporter();
    return finish("test_naming");
}
