/* What aimet_onnx's QuantizationSimModel makes of a graph, as far as it
 * decides which tensors are parameters, on which axis a parameter is
 * per-channel, and which tensors its LayerOutputUtil saves. Read from
 * aimet-onnx 2.42 (meta/connectedgraph.py find_all_node_info, ir_utils.py
 * get_constant_value / get_weight_value, quantsim.py _get_quantization_axes
 * and _get_activations_to_quantize, graph_passes/fusions/matmul_add.py,
 * layer_output_utils.py) and checked by running it (tests/quant).
 *
 *  - A tensor is static when it is an initializer or a Constant node's
 *    output.
 *  - Parameters are the static inputs at the weight positions of Conv,
 *    ConvTranspose, Gemm, Instance/Layer/GroupNormalization (1, 2),
 *    BatchNormalization (1 to 4), RNN/LSTM/GRU (1 to 3) and
 *    RMSNormalization (1), reached directly or through a chain of Identity
 *    nodes (the static tensor at its head is the parameter); and of MatMul
 *    (1), directly or as the input of a Transpose, but not through Identity.
 *  - The sim fuses MatMul(x, W) + b (W static of rank 2, possibly through a
 *    2-D Transpose; b static of rank 1; the MatMul's output read only by the
 *    Add) into one Gemm: b becomes a parameter and the MatMul's output has
 *    no quantizer and no file. sim.export() writes the graph unfused.
 *  - Every other float tensor a node reads gets an activation quantizer;
 *    LayerOutputUtil then saves the quantizer's output under the tensor's
 *    name. For an initializer that is a file no node output accounts for;
 *    for a Constant node's output it is not (LayerOutputUtil skips them).
 *    Non-first inputs of Resize are left alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant.h"

static bool is_op(const lo_node *n, const char *op) { return n->domain[0] == 0 && !strcmp(n->op_type, op); }

static const lo_node *producer(const lo_graph *g, int v) {
    if (v < 0 || g->values[v].kind != LO_VALUE_NODE || g->values[v].producer < 0) return NULL;
    return &g->nodes[g->values[v].producer];
}

/* The tensor behind a Constant node's output, when it is held as a tensor. */
static lo_tensor *constant_tensor(const lo_node *n) {
    for (int a = 0; a < n->n_attrs; a++)
        if (!strcmp(n->attrs[a].name, "value") && n->attrs[a].tensor) return n->attrs[a].tensor;
    return NULL;
}

static bool directly_static(const lo_graph *g, int v) {
    if (v < 0) return false;
    if (g->values[v].kind == LO_VALUE_INITIALIZER) return true;
    const lo_node *p = producer(g, v);
    return p && is_op(p, "Constant");
}

int lo_quant_static_source(const lo_graph *g, int v, const lo_tensor **tensor) {
    if (tensor) *tensor = NULL;
    for (int guard = 0; v >= 0 && guard < g->n_nodes + 1; guard++) {
        if (g->values[v].kind == LO_VALUE_INITIALIZER) {
            if (tensor) *tensor = &g->values[v].init;
            return v;
        }
        const lo_node *p = producer(g, v);
        if (!p) return -1;
        if (is_op(p, "Constant")) {
            if (tensor) *tensor = constant_tensor(p);
            return v;
        }
        if (!is_op(p, "Identity") || p->n_inputs < 1) return -1;
        v = p->inputs[0];
    }
    return -1;
}

static int static_rank(const lo_graph *g, int v) {
    const lo_tensor *t;
    if (!directly_static(g, v)) return -1;
    lo_quant_static_source(g, v, &t);
    return t ? t->rank : -1;
}

/* ---- the axes a consumer gives a weight ------------------------------------- */

typedef struct opinion {
    int channel, block;
    const lo_node *node;
} opinion;

/* The (channel, block) axes of AIMET's _get_quantization_axes for a weight
 * read at input k of n, or false when n takes no weight there. */
static bool axes_of(const lo_graph *g, const lo_node *n, int k, int rank, bool transposed, opinion *o) {
    (void)g;
    o->node = n;
    if (k != 1) return false;
    if (is_op(n, "Conv") && !transposed) {
        o->channel = 0;
        o->block = 1;
    } else if (is_op(n, "ConvTranspose") && !transposed) {
        o->channel = 1;
        o->block = 0;
    } else if (is_op(n, "Gemm") && !transposed) {
        bool t = lo_attr_int(n, "transB", 0) != 0;
        o->channel = t ? 0 : 1;
        o->block = t ? 1 : 0;
    } else if (is_op(n, "MatMul")) {
        o->channel = transposed ? rank - 2 : rank - 1;
        o->block = transposed ? rank - 1 : rank - 2;
    } else {
        return false;
    }
    return true;
}

/* Gathers the opinions of every node reading v, through Identity chains and
 * a Transpose of the last two axes in front of a MatMul. */
static int gather(const lo_graph *g, int v, int rank, bool transposed, opinion *out, int n_out, int cap, int depth) {
    if (depth > 64) return n_out;
    for (int i = 0; i < g->n_nodes && n_out < cap; i++) {
        const lo_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_inputs && n_out < cap; k++) {
            if (n->inputs[k] != v) continue;
            if (is_op(n, "Identity") && n->n_outputs > 0 && n->outputs[0] >= 0) {
                n_out = gather(g, n->outputs[0], rank, transposed, out, n_out, cap, depth + 1);
            } else if (is_op(n, "Transpose") && !transposed && rank >= 2 && n->n_outputs > 0 && n->outputs[0] >= 0) {
                /* W -> Transpose -> MatMul, the Transpose swapping the last two axes */
                int64_t cnt = 0;
                const int64_t *perm = lo_attr_ints(n, "perm", &cnt);
                bool swaps_last = perm ? cnt == rank : rank == 2;
                for (int d = 0; perm && swaps_last && d < rank; d++)
                    swaps_last = perm[d] == (d == rank - 1 ? rank - 2 : d == rank - 2 ? rank - 1 : d);
                if (swaps_last) n_out = gather(g, n->outputs[0], rank, true, out, n_out, cap, depth + 1);
            } else {
                opinion o;
                if (axes_of(g, n, k, rank, transposed, &o)) out[n_out++] = o;
            }
        }
    }
    return n_out;
}

lo_status lo_quant_weight_axes(const lo_graph *g, int v, int rank, const int64_t *dims, int n_scales,
                               bool need_axis, int *channel_axis, int *block_axis, char *why, size_t why_size) {
    opinion ops[32];
    int n = gather(g, v, rank, false, ops, 0, 32, 0);
    *channel_axis = LO_AXIS_NONE;
    *block_axis = LO_AXIS_NONE;
    if (why_size) why[0] = 0;
    if (n == 0) return LO_OK;
    int pick = 0;
    bool agree = true;
    for (int i = 1; i < n; i++)
        if (ops[i].channel != ops[0].channel || ops[i].block != ops[0].block) agree = false;
    if (!agree && n_scales > 1) {
        /* Consumers that disagree: the count of scales may still tell. */
        int fits = -1;
        bool unique = true;
        for (int i = 0; i < n; i++) {
            if (ops[i].channel < 0 || ops[i].channel >= rank || dims[ops[i].channel] != n_scales) continue;
            if (fits >= 0 && ops[fits].channel != ops[i].channel) unique = false;
            if (fits < 0) fits = i;
        }
        if (fits >= 0 && unique) {
            pick = fits;
            agree = true;
        }
    }
    if (!agree) {
        int other = 1;
        while (other < n && ops[other].channel == ops[0].channel && ops[other].block == ops[0].block) other++;
        if (need_axis) {
            snprintf(why, why_size,
                     "it is the weight of '%s' (%s, channel axis %d) and of '%s' (%s, channel axis %d): the channel "
                     "axis is ambiguous (a 2.0.0 entry's 'axis' would settle it)",
                     ops[0].node->name, ops[0].node->op_type, ops[0].channel, ops[other].node->name,
                     ops[other].node->op_type, ops[other].channel);
            return LO_ERR_ENCODINGS;
        }
        return LO_OK;
    }
    *channel_axis = ops[pick].channel;
    *block_axis = ops[pick].block;
    return LO_OK;
}

/* ---- the saved set --------------------------------------------------------------- */

enum { FLAG_PARAM = 1, FLAG_SAVE = 2, FLAG_HIDDEN = 4 };

static void mark_param(const lo_graph *g, uint8_t *flags, int v) {
    int s = lo_quant_static_source(g, v, NULL);
    if (s >= 0) flags[s] |= FLAG_PARAM;
}

static void mark_inputs(const lo_graph *g, uint8_t *flags, const lo_node *n, int first, int last) {
    for (int k = first; k <= last && k < n->n_inputs; k++)
        if (n->inputs[k] >= 0) mark_param(g, flags, n->inputs[k]);
}

/* MatMul + Add fused by the sim into a Gemm: marks the bias a parameter and
 * hides the MatMul's output (and a Transpose only it read). */
static void matmul_add(const lo_graph *g, uint8_t *flags, const lo_node *mm, bool (*has_encoding)(const void *, const char *),
                       const void *user) {
    if (mm->n_inputs != 2 || mm->n_outputs != 1 || mm->outputs[0] < 0 || mm->inputs[1] < 0) return;
    int w = mm->inputs[1], out = mm->outputs[0], transpose_out = -1;
    if (static_rank(g, w) != 2) {
        const lo_node *t = producer(g, w);
        if (!t || !is_op(t, "Transpose") || t->n_inputs < 1 || static_rank(g, t->inputs[0]) != 2) return;
        int64_t cnt = 0;
        const int64_t *perm = lo_attr_ints(t, "perm", &cnt);
        if (cnt && !(cnt == 2 && perm[0] == 1 && perm[1] == 0)) return;
        transpose_out = w;
    }
    const lo_value *o = &g->values[out];
    if (o->n_readers != 1 || o->is_graph_output) return;
    /* A MatMul output the file encodes was not fused (the fused Gemm has no
     * tensor there to encode). */
    if (has_encoding(user, o->name)) return;
    const lo_node *add = NULL;
    int bias_k = -1;
    for (int i = 0; i < g->n_nodes && !add; i++) {
        const lo_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] == out) add = n;
    }
    if (!add || !is_op(add, "Add") || add->n_inputs != 2) return;
    bias_k = add->inputs[0] == out ? 1 : 0;
    if (add->inputs[bias_k] == out || static_rank(g, add->inputs[bias_k]) != 1) return;
    mark_param(g, flags, add->inputs[bias_k]);
    flags[out] |= FLAG_HIDDEN;
    if (transpose_out >= 0 && g->values[transpose_out].n_readers == 1 && !g->values[transpose_out].is_graph_output)
        flags[transpose_out] |= FLAG_HIDDEN;
}

lo_status lo_quant_aimet_set(const lo_graph *g, bool (*has_encoding)(const void *, const char *), const void *user,
                             lo_aimet_set *set, lo_error *err) {
    memset(set, 0, sizeof *set);
    set->graph = g;
    set->flags = calloc((size_t)g->n_values + 1, 1);
    set->emit_start = calloc((size_t)g->n_nodes + 1, sizeof(int));
    set->emit_values = calloc((size_t)g->n_values + 1, sizeof(int));
    if (!set->flags || !set->emit_start || !set->emit_values) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    uint8_t *flags = set->flags;
    for (int i = 0; i < g->n_nodes; i++) {
        const lo_node *n = &g->nodes[i];
        if (n->domain[0]) continue;
        const char *op = n->op_type;
        if (!strcmp(op, "Conv") || !strcmp(op, "ConvTranspose") || !strcmp(op, "Gemm") ||
            !strcmp(op, "InstanceNormalization") || !strcmp(op, "LayerNormalization") ||
            !strcmp(op, "GroupNormalization"))
            mark_inputs(g, flags, n, 1, 2);
        else if (!strcmp(op, "BatchNormalization")) mark_inputs(g, flags, n, 1, 4);
        else if (!strcmp(op, "RNN") || !strcmp(op, "LSTM") || !strcmp(op, "GRU")) mark_inputs(g, flags, n, 1, 3);
        else if (!strcmp(op, "RMSNormalization")) mark_inputs(g, flags, n, 1, 1);
        else if (!strcmp(op, "MatMul") && n->n_inputs > 1 && n->inputs[1] >= 0) {
            int w = n->inputs[1];
            if (directly_static(g, w)) flags[w] |= FLAG_PARAM;
            else {
                const lo_node *t = producer(g, w);
                for (int k = 0; t && is_op(t, "Transpose") && k < t->n_inputs; k++)
                    if (directly_static(g, t->inputs[k])) flags[t->inputs[k]] |= FLAG_PARAM;
            }
        }
    }
    for (int i = 0; i < g->n_nodes; i++)
        if (is_op(&g->nodes[i], "MatMul")) matmul_add(g, flags, &g->nodes[i], has_encoding, user);
    /* Initializers with an activation quantizer, each emitted before the
     * first node (in run order) that reads it. */
    int *first = malloc(((size_t)g->n_values + 1) * sizeof(int));
    if (!first) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    for (int v = 0; v < g->n_values; v++) first[v] = -1;
    for (int oi = 0; oi < g->n_nodes; oi++) {
        const lo_node *n = &g->nodes[g->order[oi]];
        for (int k = 0; k < n->n_inputs; k++) {
            int v = n->inputs[k];
            if (v < 0 || g->values[v].kind != LO_VALUE_INITIALIZER) continue;
            if (is_op(n, "Resize") && k > 0) flags[v] |= FLAG_HIDDEN; /* never quantized */
            if (first[v] < 0) first[v] = oi;
        }
    }
    int count = 0;
    for (int oi = 0; oi < g->n_nodes; oi++) {
        set->emit_start[oi] = count;
        const lo_node *n = &g->nodes[g->order[oi]];
        for (int k = 0; k < n->n_inputs; k++) {
            int v = n->inputs[k];
            if (v < 0 || first[v] != oi || (flags[v] & (FLAG_PARAM | FLAG_HIDDEN | FLAG_SAVE))) continue;
            lo_dtype dt = g->values[v].init.dtype;
            if (g->values[v].init.kind != LO_KIND_TENSOR || (dt != LO_FLOAT && dt != LO_FLOAT16 && dt != LO_BFLOAT16))
                continue;
            flags[v] |= FLAG_SAVE;
            set->emit_values[count++] = v;
        }
    }
    set->emit_start[g->n_nodes] = count;
    free(first);
    return LO_OK;
}

void lo_quant_aimet_set_free(lo_aimet_set *set) {
    free(set->flags);
    free(set->emit_start);
    free(set->emit_values);
    memset(set, 0, sizeof *set);
}

bool lo_aimet_set_is_param(const lo_aimet_set *set, const lo_graph *g, int v) {
    return set->flags && g == set->graph && v >= 0 && (set->flags[v] & FLAG_PARAM);
}

bool lo_aimet_set_hidden(const lo_aimet_set *set, const lo_graph *g, int v) {
    return set->flags && g == set->graph && v >= 0 && (set->flags[v] & FLAG_HIDDEN) &&
           g->values[v].kind == LO_VALUE_NODE;
}

int lo_aimet_set_before(const lo_aimet_set *set, const lo_graph *g, int order_index, const int **values) {
    if (!set->flags || g != set->graph || order_index < 0 || order_index >= g->n_nodes) return 0;
    *values = set->emit_values + set->emit_start[order_index];
    return set->emit_start[order_index + 1] - set->emit_start[order_index];
}
