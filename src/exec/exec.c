/* The run loop. Planning binds each node to a kernel (so an unsupported op
 * fails before anything runs) and counts readers; running walks the
 * topological order, asks each kernel for its outputs, shows every output to
 * the observer, and frees a tensor as soon as its last reader has run and the
 * observer has seen it. */
#include <malloc.h>
#include <omp.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "../onnx/onnx.h"
#include "../ops/math/fusion.h"
#include "../ops/nn/conv.h"
#include "../util/util.h"
#include "exec.h"
#include "internal.h"

/* ---- buffers ---------------------------------------------------------------- */

/* Small blocks are cheap to get from malloc; only large ones are pooled. */
#define POOL_MIN_BYTES (64 * 1024)

/* Takes the smallest pooled block that fits without wasting more than half. */
static void *pool_take(lo_pool *p, size_t bytes, size_t *capacity) {
    int best = -1;
    for (int i = 0; i < p->n; i++)
        if (p->size[i] >= bytes && p->size[i] / 2 <= bytes && (best < 0 || p->size[i] < p->size[best])) best = i;
    if (best < 0) return NULL;
    void *b = p->block[best];
    *capacity = p->size[best];
    p->bytes -= p->size[best];
    p->block[best] = p->block[--p->n];
    p->size[best] = p->size[p->n];
    return b;
}

/* Returns the bytes it had to free to make room (0 if none). */
static size_t pool_give(lo_pool *p, void *block, size_t size) {
    size_t freed = 0;
    if (p->n == LO_POOL_SLOTS) {
        /* full: drop the smallest block, the cheapest to allocate again */
        int smallest = 0;
        for (int i = 1; i < p->n; i++)
            if (p->size[i] < p->size[smallest]) smallest = i;
        if (p->size[smallest] >= size) {
            free(block);
            return size;
        }
        free(p->block[smallest]);
        freed = p->size[smallest];
        p->bytes -= p->size[smallest];
        p->block[smallest] = p->block[--p->n];
        p->size[smallest] = p->size[p->n];
    }
    p->block[p->n] = block;
    p->size[p->n++] = size;
    p->bytes += size;
    return freed;
}

static void pool_free(lo_pool *p) {
    for (int i = 0; i < p->n; i++) free(p->block[i]);
    memset(p, 0, sizeof *p);
}

/* A block goes back to the pool when large, else to malloc. Lock held. */
static void block_drop(lo_session *s, void *data, size_t capacity) {
    if (capacity >= POOL_MIN_BYTES) {
        s->arena_bytes -= pool_give(&s->pool, data, capacity);
    } else {
        free(data);
        s->arena_bytes -= capacity;
    }
}

static lo_held *held_find(lo_session *s, const void *data) {
    for (int i = 0; i < s->n_held; i++)
        if (s->held[i].data == data) return &s->held[i];
    return NULL;
}

/* Frees a tensor, giving a large plain block back to the session's pool;
 * a block an observer still holds is freed by its last release instead. */
static void tensor_release(lo_session *s, lo_tensor *t) {
    if (s && t->kind == LO_KIND_TENSOR && t->dtype != LO_STRING && t->capacity && t->data) {
        pthread_mutex_lock(&s->lock);
        lo_held *h = s->n_held ? held_find(s, t->data) : NULL;
        if (h) {
            h->dead = true;
            h->capacity = t->capacity;
        } else {
            block_drop(s, t->data, t->capacity);
        }
        pthread_mutex_unlock(&s->lock);
        t->data = NULL;
        t->nbytes = t->capacity = 0;
        return;
    }
    lo_tensor_free_data(t);
}

lo_hold *lo_block_hold(const lo_block *b) {
    lo_session *s = b->session;
    lo_hold *hold = malloc(sizeof *hold);
    if (!hold) return NULL;
    hold->block = *b;
    pthread_mutex_lock(&s->lock);
    lo_held *h = held_find(s, b->data);
    if (!h && s->n_held == s->cap_held) {
        int cap = s->cap_held ? s->cap_held * 2 : 64;
        lo_held *p = realloc(s->held, (size_t)cap * sizeof *p);
        if (!p) {
            pthread_mutex_unlock(&s->lock);
            free(hold);
            return NULL;
        }
        s->held = p;
        s->cap_held = cap;
    }
    if (!h) {
        h = &s->held[s->n_held++];
        *h = (lo_held){b->data, 0, 0, false};
    }
    h->count++;
    pthread_mutex_unlock(&s->lock);
    return hold;
}

void lo_hold_release(lo_hold *hold) {
    if (!hold) return;
    const lo_block *b = &hold->block;
    lo_session *s = b->session;
    pthread_mutex_lock(&s->lock);
    lo_held *h = held_find(s, b->data);
    LO_ASSERT(h != NULL && h->count > 0);
    if (--h->count == 0) {
        if (h->dead) block_drop(s, h->data, h->capacity);
        *h = s->held[--s->n_held];
    }
    pthread_mutex_unlock(&s->lock);
    free(hold);
}

lo_status lo_output(lo_kernel_ctx *ctx, int i, lo_dtype dtype, int rank, const int64_t *dims) {
    LO_ASSERT(i >= 0);
    if (i >= ctx->n_out || !ctx->out[i]) return LO_OK;
    lo_tensor *t = ctx->out[i];
    LO_ASSERT(t->data == NULL);
    size_t bytes;
    lo_error sub;
    if (!lo_shape_bytes(dtype, rank, dims, &bytes, &sub))
        return lo_kernel_fail(ctx, sub.status, "output %d: %s", i, sub.message);
    t->kind = LO_KIND_TENSOR;
    t->dtype = dtype;
    t->rank = rank;
    if (rank) memcpy(t->dims, dims, (size_t)rank * sizeof *dims);
    t->nbytes = bytes;
    if (i == 0 && ctx->donor && ctx->donor->data && ctx->donor->dtype == dtype && ctx->donor->nbytes == bytes &&
        dtype != LO_STRING) {
        t->data = ctx->donor->data;
        t->capacity = ctx->donor->capacity;
        ctx->donor_taken = true;
        return LO_OK;
    }
    size_t rounded = (bytes + 63) & ~(size_t)63;
    lo_session *s = ctx->frame ? ctx->frame->session : NULL;
    t->data = NULL;
    t->capacity = 0;
    if (dtype == LO_STRING || !s) {
        /* strings own their characters too: freed outside the arena */
        t->data = lo_buffer_alloc(bytes);
        if (!t->data) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory for output %d (%zu bytes)", i, bytes);
        if (dtype == LO_STRING) memset(t->data, 0, bytes);
        return LO_OK;
    }
    pthread_mutex_lock(&s->lock);
    if (rounded >= POOL_MIN_BYTES) t->data = pool_take(&s->pool, rounded, &t->capacity);
    if (!t->data && s->max_memory && s->arena_bytes + rounded > s->max_memory) {
        /* pooled blocks are the first to go when the bound is near */
        s->arena_bytes -= s->pool.bytes;
        pool_free(&s->pool);
    }
    size_t in_use = s->arena_bytes;
    bool over = !t->data && s->max_memory && in_use + rounded > s->max_memory;
    if (!t->data && !over) {
        t->data = lo_buffer_alloc(bytes);
        t->capacity = rounded;
        if (t->data) s->arena_bytes += rounded;
    }
    pthread_mutex_unlock(&s->lock);
    if (over)
        return lo_kernel_fail(ctx, LO_ERR_NOMEM,
                              "output %d needs %.1f MiB with %.1f MiB of tensors in use, beyond the "
                              "--max-memory bound of %.1f MiB",
                              i, rounded / 1048576.0, in_use / 1048576.0, s->max_memory / 1048576.0);
    if (!t->data) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory for output %d (%zu bytes)", i, bytes);
    return LO_OK;
}

bool lo_input_is_constant(const lo_kernel_ctx *ctx, int i) {
    if (!ctx->frame || i < 0 || i >= ctx->node->n_inputs || ctx->node->inputs[i] < 0) return false;
    const lo_graph *g = ctx->frame->graph;
    int v = ctx->node->inputs[i];
    /* an outer-scope name resolves to its defining graph's value */
    while (g && g->values[v].kind == LO_VALUE_OUTER) {
        v = g->values[v].outer_value;
        g = g->parent;
    }
    return g && g->values[v].kind == LO_VALUE_INITIALIZER;
}

void *lo_scratch(lo_kernel_ctx *ctx, size_t bytes) {
    lo_frame *f = ctx->frame;
    if (!f || !f->session) return NULL;
    lo_session *s = f->session;
    if (bytes > s->scratch_size) {
        free(s->scratch);
        s->scratch = lo_buffer_alloc(bytes);
        s->scratch_size = s->scratch ? bytes : 0;
    }
    return s->scratch;
}

/* ---- planning --------------------------------------------------------------- */

static lo_status plan_graph(lo_graph *g, lo_error *err) {
    for (int i = 0; i < g->n_nodes; i++) {
        lo_node *n = &g->nodes[i];
        for (int a = 0; a < n->n_attrs; a++) {
            if (n->attrs[a].type == LO_ATTR_GRAPH && n->attrs[a].graph)
                LO_TRY(plan_graph(n->attrs[a].graph, err));
            if (n->attrs[a].type == LO_ATTR_GRAPHS)
                for (int64_t k = 0; k < n->attrs[a].n; k++) LO_TRY(plan_graph(n->attrs[a].graphs[k], err));
        }
        if (n->def) continue;
        if (n->opset < 0)
            return lo_fail(err, LO_ERR_UNSUPPORTED,
                           "node '%s' uses op %s of domain '%s', which the model does not import",
                           n->name, n->op_type, n->domain[0] ? n->domain : "ai.onnx");
        const lo_op_def *def = lo_op_lookup(n->domain, n->op_type, n->opset);
        if (!def) {
            char versions[200];
            lo_op_versions(n->domain, n->op_type, versions, sizeof versions);
            if (versions[0])
                return lo_fail(err, LO_ERR_UNSUPPORTED,
                               "node '%s': op %s (domain '%s') at opset %d is not supported; "
                               "supported opsets: %s",
                               n->name, n->op_type, n->domain[0] ? n->domain : "ai.onnx", n->opset,
                               versions);
            return lo_fail(err, LO_ERR_UNSUPPORTED,
                           "node '%s': op %s (domain '%s', opset %d) is not supported",
                           n->name, n->op_type, n->domain[0] ? n->domain : "ai.onnx", n->opset);
        }
        n->def = def;
        if (def->prepare) {
            void *params = NULL;
            lo_error sub;
            sub.message[0] = 0;
            lo_status st = def->prepare(n, &params, &sub);
            if (st != LO_OK) {
                if (params) (def->free_params ? def->free_params : free)(params);
                n->def = NULL;
                if (strstr(sub.message, n->name)) return lo_fail(err, st, "%s", sub.message);
                return lo_fail(err, st, "node '%s' (%s): %s", n->name, n->op_type, sub.message);
            }
            n->params = params;
            n->params_free = def->free_params;
        }
    }
    return LO_OK;
}

/* ---- public model API --------------------------------------------------------- */

void lo_model_options_init(lo_model_options *o) {
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
}

lo_status lo_model_load(const char *path, lo_model **out, lo_error *err) {
    return lo_model_load_ex(path, NULL, out, err);
}

lo_status lo_model_load_ex(const char *path, const lo_model_options *given, lo_model **out, lo_error *err) {
    *out = NULL;
    lo_model_options taken, *opt = NULL;
    if (given) {
        lo_model_options_init(&taken);
        LO_TRY(lo_options_take(&taken, sizeof taken, given, "lo_model_options", err));
        opt = &taken;
    }
    lo_model *m = calloc(1, sizeof *m);
    if (!m) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    lo_status st = lo_onnx_load(path, &m->ir, err);
    if (st == LO_OK) st = plan_graph(m->ir->graph, err);
    if (st == LO_OK && opt && opt->encodings) {
        st = lo_quant_load(opt->encodings, &m->quant, err);
        if (st == LO_OK)
            st = lo_quant_bind(m->quant, m->ir,
                               opt->rounding,
                               opt->strict != 0, &m->warnings, err);
    }
    if (st != LO_OK) {
        lo_model_free(m);
        return st;
    }
    *out = m;
    return LO_OK;
}

const lo_model_ir *lo_model_graph(const lo_model *m) { return m->ir; }

const char *lo_model_warnings(const lo_model *m) { return m->warnings ? m->warnings : ""; }

void lo_model_free(lo_model *m) {
    if (!m) return;
    lo_quant_free(m->quant);
    lo_model_ir_free(m->ir);
    free(m->warnings);
    free(m);
}

static const lo_value *input_value(const lo_model *m, int i) {
    const lo_graph *g = m->ir->graph;
    return i >= 0 && i < g->n_inputs ? &g->values[g->inputs[i]] : NULL;
}

int lo_model_input_count(const lo_model *m) { return m->ir->graph->n_inputs; }
const char *lo_model_input_name(const lo_model *m, int i) {
    const lo_value *v = input_value(m, i);
    return v ? v->name : NULL;
}
lo_dtype lo_model_input_dtype(const lo_model *m, int i) {
    const lo_value *v = input_value(m, i);
    return v ? v->decl_dtype : LO_UNDEFINED;
}
int lo_model_input_rank(const lo_model *m, int i) {
    const lo_value *v = input_value(m, i);
    return v ? v->decl_rank : -1;
}
int64_t lo_model_input_dim(const lo_model *m, int i, int axis) {
    const lo_value *v = input_value(m, i);
    return v && axis >= 0 && axis < v->decl_rank ? v->decl_dims[axis] : -1;
}
int lo_model_output_count(const lo_model *m) { return m->ir->graph->n_outputs; }
const char *lo_model_output_name(const lo_model *m, int i) {
    const lo_graph *g = m->ir->graph;
    return i >= 0 && i < g->n_outputs ? g->values[g->outputs[i]].name : NULL;
}

int lo_session_threads(const lo_session *s) { return s->threads; }

void lo_session_set_threads(lo_session *s, int threads) {
    if (threads < 1 || threads == s->threads) return;
    if (s->n_thread_changes < 4) {
        if (s->n_thread_changes == 0) {
            s->thread_change_run[0] = 0;
            s->thread_change_to[0] = s->threads;
            s->n_thread_changes = 1;
        }
        s->thread_change_run[s->n_thread_changes] = s->runs;
        s->thread_change_to[s->n_thread_changes++] = threads;
    }
    s->threads = threads;
}

void lo_session_set_saved(lo_session *s, lo_saved_fn saved, void *user) {
    s->saved = saved;
    s->saved_user = user;
    lo_plan_free(&s->plans[0]);
}

/* ---- weights held once ---------------------------------------------------------- */

/* After a first run, a Conv whose float32 weights are an initializer read by
 * that node alone, and that oneDNN holds reordered in its own layout, needs
 * the initializer's bytes no more: they are freed rather than held twice
 * (resnet18: 45 MB). Kept: weights with an encoding (aimet saves them),
 * weights in a mapped external-data file (the kernel cache reads those in
 * place), and the weights of a model another session may run. */
static bool in_mapping(const lo_model_ir *m, const void *p) {
    for (int i = 0; i < m->n_mappings; i++)
        if ((const char *)p >= (const char *)m->mappings[i].addr &&
            (const char *)p < (const char *)m->mappings[i].addr + m->mappings[i].size)
            return true;
    return false;
}

/* Called after node i of the top graph ran, in the session's first run:
 * the peak then holds each layer's weights about once too. */
static void release_conv_weights(lo_session *s, int i) {
    if (s->kernels == LO_KERNELS_REFERENCE || atomic_load(&s->model->sessions) != 1) return;
    lo_graph *g = s->model->ir->graph;
    const lo_quant *q = s->model->quant;
    lo_node *n = &g->nodes[i];
    if (n->domain[0] || (strcmp(n->op_type, "Conv") && strcmp(n->op_type, "ConvTranspose")) || n->n_inputs < 2 ||
        n->inputs[1] < 0)
        return;
    lo_value *w = &g->values[n->inputs[1]];
    if (w->kind != LO_VALUE_INITIALIZER || w->n_readers != 1 || w->is_graph_output || w->init.dtype != LO_FLOAT ||
        !w->init.data || (q && lo_quant_find(q, g, n->inputs[1])) || in_mapping(s->model->ir, w->init.data))
        return;
    if (!lo_conv_take_weights(n, w->init.data)) return;
    free(w->init.data);
    w->init.data = NULL;
    /* weights loaded into the brk heap stay resident when freed in its
     * middle; trimming gives their pages back */
    if (w->init.nbytes >= (1u << 20)) malloc_trim(0);
}

/* ---- running ------------------------------------------------------------------ */

void lo_session_options_init(lo_session_options *o) {
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->fusion = 1;
}

/* The default thread count: the cores we may run on, less those other
 * processes keep busy. A fork-join team with a member descheduled waits for
 * it at every barrier: with one other busy process on a 2-core machine ViT
 * ran 2-4x slower on 2 threads than on 1. A core counts as taken when both
 * the 1-minute load average and the runnable count right now say so (the
 * load average alone still remembers a process that just ended, the
 * snapshot alone catches a passing blip). When the machine has more cores
 * than we may use (a cpuset, a container) the load is someone else's and
 * all our cores are used. */
int lo_default_threads(void) {
    int cores = omp_get_num_procs();
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores <= 1 || online != cores) return cores > 0 ? cores : 1;
    /* The runnable count is read up to 5 times, 2 ms apart, and the least
     * taken: one reading caught a process that was only passing (a parent
     * between two children, a kernel worker) often enough to halve a
     * benchmark's 2-thread figures (efficientnet_b0 19.2 against 10.0 ms a
     * sample: the short spin chosen on a quiet machine). A process that
     * keeps a core busy is runnable at every reading. */
    double load1 = 0;
    int by_now = -1;
    for (int k = 0; k < 5 && by_now != 0; k++) {
        if (k) nanosleep(&(struct timespec){0, 2000000}, NULL);
        FILE *f = fopen("/proc/loadavg", "r");
        if (!f) return cores;
        int running = 0, total = 0;
        int got = fscanf(f, "%lf %*f %*f %d/%d", &load1, &running, &total);
        fclose(f);
        if (got != 3) return cores;
        if (by_now < 0 || running - 1 < by_now) by_now = running - 1; /* the reader itself runs */
    }
    int by_load = (int)(load1 + 0.5);
    int busy = by_load < by_now ? by_load : by_now;
    if (busy < 0) busy = 0;
    return cores - busy >= 1 ? cores - busy : 1;
}

lo_status lo_session_create(lo_model *model, const lo_session_options *given, lo_session **out,
                            lo_error *err) {
    *out = NULL;
    lo_session_options taken, *opt = NULL;
    if (given) {
        lo_session_options_init(&taken);
        LO_TRY(lo_options_take(&taken, sizeof taken, given, "lo_session_options", err));
        opt = &taken;
    }
    lo_session *s = calloc(1, sizeof *s);
    if (!s) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    s->model = model;
    atomic_fetch_add(&model->sessions, 1);
    pthread_mutex_init(&s->lock, NULL);
    atomic_init(&s->interrupt, 0);
    s->threads = opt && opt->threads > 0 ? opt->threads : lo_default_threads();
    s->max_memory = opt ? opt->max_memory : 0;
    s->subgraphs = opt && opt->subgraphs;
    s->kernels = opt && opt->reference_kernels ? LO_KERNELS_REFERENCE : LO_KERNELS_FAST;
    /* the reference loops are for checking kernels one node at a time */
    s->fusion = (!opt || opt->fusion) && s->kernels != LO_KERNELS_REFERENCE;
    if (opt && opt->profile) {
        int n = model->ir->graph->n_nodes;
        s->profile = true;
        s->node_seconds = calloc((size_t)n + 1, sizeof *s->node_seconds);
        s->node_flops = calloc((size_t)n + 1, sizeof *s->node_flops);
        if (!s->node_seconds || !s->node_flops) {
            lo_session_free(s);
            return lo_fail(err, LO_ERR_NOMEM, "out of memory");
        }
    }
    *out = s;
    return LO_OK;
}

/* Multiply-adds ×2 of the ops whose speed the profile reports. */
static double node_flops(const lo_node *n, const lo_tensor *const *in, lo_tensor *const *out) {
    if (n->domain[0] || n->n_inputs < 2 || !in[0] || !in[1] || !out[0] || out[0]->kind != LO_KIND_TENSOR) return 0;
    const lo_tensor *a = in[0], *w = in[1], *y = out[0];
    double per = 0;
    if (!strcmp(n->op_type, "Conv") && w->rank >= 2) {
        per = (double)lo_numel(w) / (double)w->dims[0]; /* C/group × kernel */
        return 2.0 * (double)lo_numel(y) * per;
    }
    if (!strcmp(n->op_type, "ConvTranspose") && w->rank >= 2) {
        per = (double)lo_numel(w) / (double)w->dims[0]; /* M/group × kernel */
        return 2.0 * (double)lo_numel(a) * per;
    }
    if (!strcmp(n->op_type, "Gemm") && a->rank == 2)
        return 2.0 * (double)lo_numel(y) * (double)(lo_attr_int(n, "transA", 0) ? a->dims[0] : a->dims[1]);
    if (!strcmp(n->op_type, "MatMul") && a->rank >= 1) return 2.0 * (double)lo_numel(y) * (double)a->dims[a->rank - 1];
    return 0;
}


void lo_session_free(lo_session *s) {
    if (!s) return;
    /* observers must have released every block by now */
    LO_ASSERT(s->n_held == 0);
    free(s->held);
    pthread_mutex_destroy(&s->lock);
    free(s->node_seconds);
    free(s->node_flops);
    pool_free(&s->pool);
    free(s->scratch);
    for (int k = 0; k < 2; k++) lo_plan_free(&s->plans[k]);
    free(s);
}

/* Whether value v is held blocked in bytes that differ from NCHW's (a
 * plane of one element, [N, C, 1, 1], is the same bytes either way). */
static bool held_blocked(const lo_frame *f, int v) {
    if (!f->vblocked || v < 0 || !f->vblocked[v]) return false;
    const lo_tensor *t = &f->vals[v];
    return t->kind == LO_KIND_TENSOR && t->rank >= 3 && lo_numel_dims(t->rank - 2, t->dims + 2) > 1;
}

static void view_of(const lo_tensor *t, const char *name, lo_tensor_view *v) {
    v->name = name;
    v->dtype = t->dtype;
    v->rank = t->rank;
    v->dims = t->dims;
    v->data = t->data;
    v->nbytes = t->nbytes;
}

/* The quantization step of an encoded tensor: the value every reader and
 * the observer see is the quantize-dequantized one. A borrowed tensor (a
 * caller's input) is copied first: the caller's data is never written. */
static lo_status quantize_value(lo_frame *f, const lo_graph *g, int value, const lo_encoding **enc) {
    *enc = NULL;
    const lo_quant *q = f->session->model->quant;
    if (!q) return LO_OK;
    const lo_encoding *e = lo_quant_find(q, g, value);
    if (!e || f->vals[value].kind != LO_KIND_TENSOR) return LO_OK;
    if (!f->owned[value]) {
        lo_tensor copy;
        LO_TRY(lo_tensor_clone(&f->vals[value], &copy, f->err));
        f->vals[value] = copy;
        f->owned[value] = true;
    }
    *enc = e;
    return lo_quant_apply(q, e, &f->vals[value], f->err);
}

static lo_status report(lo_frame *f, const lo_graph *g, int value, const lo_node *producer, const lo_encoding *enc);

static lo_status observe(lo_frame *f, const lo_graph *g, int value, const lo_node *producer) {
    const lo_encoding *enc;
    LO_TRY(quantize_value(f, g, value, &enc));
    return report(f, g, value, producer, enc);
}

/* Under encodings the saved set is aimet_onnx's: the initializers its sim
 * quantizes as activations have files too (already quantized at load),
 * each reported before the first node that reads it. */
static lo_status observe_initializers(lo_frame *f, const lo_graph *g, int order_index) {
    const lo_quant *q = f->session->model->quant;
    if (!q || !f->observer || f->parent) return LO_OK;
    const int *values;
    int n = lo_quant_saved_before(q, g, order_index, &values);
    for (int k = 0; k < n; k++) LO_TRY(report(f, g, values[k], NULL, lo_quant_lookup(q, g->values[values[k]].name)));
    return LO_OK;
}

static lo_status report(lo_frame *f, const lo_graph *g, int value, const lo_node *producer, const lo_encoding *enc) {
    if (!f->observer) return LO_OK;
    bool nested = f->parent || g->values[value].in_function;
    if (nested && !f->session->subgraphs) return LO_OK; /* AIMET sees only the top level */
    const lo_tensor *t = &f->vals[value];
    if (t->kind != LO_KIND_TENSOR) return LO_OK; /* sequences and empty optionals have no file */
    char desc[256];
    lo_layer_output out;
    memset(&out, 0, sizeof out);
    out.name = g->values[value].name;
    const lo_value *val = &g->values[value];
    out.node_name = val->call_node ? val->call_node : producer ? producer->name : "";
    out.op_type = val->call_op ? val->call_op : producer ? producer->op_type : "";
    out.iteration = f->iteration;
    out.nested = nested;
    out.is_graph_input = producer == NULL && g->values[value].kind == LO_VALUE_INPUT;
    out.encoding = enc ? lo_encoding_describe(enc, desc, sizeof desc) : NULL;
    view_of(t, out.name, &out.tensor);
    /* Only top-level blocks of the run loop's own can outlive the call:
     * those are freed through tensor_release, which respects holds. */
    lo_block block = {f->session, t->data};
    if (!f->parent && f->owned[value] && t->capacity && t->dtype != LO_STRING) out.block = &block;
    lo_error sub;
    sub.message[0] = 0;
    double t0 = f->session->profile ? lo_seconds_now() : 0;
    /* the observer is the caller's code: it sees the caller's OpenMP state */
    int ours = omp_get_max_threads();
    omp_set_num_threads(f->session->caller_threads);
    lo_status st = f->observer(f->user, &out, &sub);
    omp_set_num_threads(ours);
    if (f->session->profile) f->session->observer_seconds += lo_seconds_now() - t0;
    if (st != LO_OK) return lo_fail(f->err, st, "%s", sub.message[0] ? sub.message : "stopped by the observer");
    return LO_OK;
}

static void release(lo_frame *f, int v) {
    if (f->owned[v]) tensor_release(f->session, &f->vals[v]);
    f->owned[v] = false;
    if (f->vblocked) f->vblocked[v] = false;
    memset(&f->vals[v], 0, sizeof f->vals[v]);
}

static lo_status frame_init(lo_frame *f, const lo_graph *g, lo_error *err) {
    f->graph = g;
    f->vals = calloc((size_t)g->n_values + 1, sizeof *f->vals);
    f->owned = calloc((size_t)g->n_values + 1, sizeof *f->owned);
    f->remaining = calloc((size_t)g->n_values + 1, sizeof *f->remaining);
    if (!f->vals || !f->owned || !f->remaining) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    for (int v = 0; v < g->n_values; v++) {
        const lo_value *val = &g->values[v];
        f->remaining[v] = val->n_readers;
        if (val->kind == LO_VALUE_INITIALIZER) f->vals[v] = val->init; /* borrowed */
        else if (val->kind == LO_VALUE_OUTER) {
            LO_ASSERT(f->parent);
            f->vals[v] = f->parent->vals[val->outer_value]; /* borrowed */
        }
    }
    return LO_OK;
}

static void frame_free(lo_frame *f) {
    free(f->fused);
    free(f->vblocked);
    if (f->vals)
        for (int v = 0; v < f->graph->n_values; v++)
            if (f->owned[v]) tensor_release(f->session, &f->vals[v]);
    free(f->vals);
    free(f->owned);
    free(f->remaining);
}

/* How node n reads its inputs held blocked (the plan's vblk; each run's
 * vblocked): a Conv its X, average pooling its input, as they are (the
 * kernel told by in_blocked); an elementwise node whose other operands are
 * single values or blocked alike leaves its output blocked too, the kernel
 * unaware (*ew_blocked); a Mul with a per-channel gate on the other side
 * scales the blocks (in_blocked, blocked_arg). Anything else reads NCHW
 * copies, made here into *plain (freed by the caller). false: out of
 * memory. */
static bool blocked_inputs(lo_frame *f, const lo_node *n, const lo_tensor **in, lo_kernel_ctx *ctx,
                           bool *ew_blocked, lo_tensor **plain) {
    int blocked = 0, other = 0, first = -1;
    bool alike = true;
    const lo_tensor *ref = NULL;
    for (int k = 0; k < n->n_inputs; k++) {
        int v = n->inputs[k];
        if (v < 0 || !in[k]) continue;
        if (held_blocked(f, v)) {
            blocked++;
            if (first < 0) first = k;
            if (ref && (ref->rank != in[k]->rank || memcmp(ref->dims, in[k]->dims, (size_t)ref->rank * sizeof ref->dims[0])))
                alike = false;
            ref = in[k];
        } else if (!(in[k]->kind == LO_KIND_TENSOR && lo_numel(in[k]) == 1)) {
            other++;
        }
    }
    if (!blocked) return true;
    /* single values of a higher rank would widen the output's shape */
    for (int k = 0; k < n->n_inputs; k++)
        if (n->inputs[k] >= 0 && in[k] && !held_blocked(f, n->inputs[k]) && in[k]->rank > ref->rank) alike = false;
    if (lo_is_op(n, "Conv") && blocked == 1 && first == 0) {
        ctx->in_blocked = true;
        ctx->blocked_arg = 0;
        return true;
    }
    if (lo_is_op(n, "GlobalAveragePool") && first == 0) {
        ctx->in_blocked = true;
        ctx->blocked_arg = 0;
        return true;
    }
    if (ctx->out_may_block && lo_ew_fusable(n) && other == 0 && alike && ref->dtype == LO_FLOAT) {
        *ew_blocked = true;
        return true;
    }
    if (lo_is_op(n, "Mul") && lo_ew_fusable(n) && blocked == 1 && other == 1) {
        ctx->in_blocked = true;
        ctx->blocked_arg = first;
        return true;
    }
    *plain = calloc((size_t)n->n_inputs, sizeof **plain);
    if (!*plain) return false;
    for (int k = 0; k < n->n_inputs; k++) {
        if (n->inputs[k] < 0 || !in[k] || !held_blocked(f, n->inputs[k])) continue;
        if (!lo_unblocked_copy(in[k], &(*plain)[k])) return false;
        in[k] = &(*plain)[k];
    }
    ctx->out_may_block = false;
    return true;
}

/* Runs one node's kernel on f->vals (run_node's first half). */
static lo_status run_kernel(lo_frame *f, int node_index) {
    const lo_graph *g = f->graph;
    const lo_node *n = &g->nodes[node_index];
    lo_error *err = f->err;
    if (f->plan && f->plan->alias[node_index]) {
        /* an Identity of a weight or input whose output nobody sees: the
         * same bytes, borrowed (not the run loop's block, so nothing writes
         * or frees it), instead of a copy every run */
        int vi = n->inputs[0], vo = n->outputs[0];
        const lo_tensor *x = &f->vals[vi];
        if (x->kind == LO_KIND_TENSOR && x->dtype != LO_STRING && (x->data || !x->nbytes)) {
            f->vals[vo] = *x;
            f->vals[vo].capacity = 0;
            f->owned[vo] = false;
            f->session->reshapes_in_place++;
            return LO_OK;
        }
    }
    const lo_tensor *in_buf[64];
    lo_tensor *out_buf[64];
    const lo_tensor **in = in_buf;
    lo_tensor **out = out_buf;
    if (n->n_inputs > 64 || n->n_outputs > 64) {
        in = calloc((size_t)n->n_inputs + 1, sizeof *in);
        out = calloc((size_t)n->n_outputs + 1, sizeof *out);
        if (!in || !out) {
            if (in != in_buf) free(in);
            if (out != out_buf) free(out);
            return lo_fail(err, LO_ERR_NOMEM, "out of memory");
        }
    }
    for (int k = 0; k < n->n_inputs; k++) {
        int v = n->inputs[k];
        in[k] = v < 0 ? NULL : &f->vals[v];
        /* an optional input whose producer gave nothing counts as omitted */
        if (v >= 0 && f->vals[v].kind == LO_KIND_TENSOR && !f->vals[v].data && g->values[v].kind == LO_VALUE_NODE)
            in[k] = NULL;
    }
    for (int k = 0; k < n->n_outputs; k++) {
        int v = n->outputs[k];
        out[k] = v < 0 ? NULL : &f->vals[v];
        if (v >= 0) {
            memset(&f->vals[v], 0, sizeof f->vals[v]);
            f->owned[v] = true;
        }
    }
    lo_kernel_ctx ctx = {
        .node = n, .params = n->params, .in = in, .n_in = n->n_inputs, .out = out,
        .n_out = n->n_outputs, .err = err, .frame = f, .threads = f->session->threads,
        .kernels = f->session->kernels, .run_subgraph = lo_exec_subgraph,
    };
    const lo_plan *plan = f->plan;
    int donor = -1;
    bool ew_blocked = false;
    lo_tensor *plain = NULL;
    if (plan) {
        for (int k = 0; k < 2; k++) {
            int t = plan->fold[node_index][k];
            if (t < 0) continue;
            /* the Transpose never ran: its input, read through its perm */
            const lo_node *tn = &g->nodes[t];
            in[k] = &f->vals[tn->inputs[0]];
            if (in[k]->kind != LO_KIND_TENSOR || (!in[k]->data && in[k]->nbytes)) in[k] = NULL; /* as omitted */
            static const int64_t reversed[1] = {0};
            int64_t np = 0;
            ctx.fold_perm[k] = lo_attr_ints(tn, "perm", &np);
            ctx.n_fold_perm[k] = ctx.fold_perm[k] && np <= LO_MAX_RANK ? (int)np : 0;
            if (!ctx.fold_perm[k] || np > LO_MAX_RANK) ctx.fold_perm[k] = reversed;
        }
        int vo = n->n_outputs == 1 ? n->outputs[0] : -1;
        ctx.out_may_block = vo >= 0 && plan->vblk[vo];
        if (!blocked_inputs(f, n, in, &ctx, &ew_blocked, &plain)) {
            for (int k = 0; plain && k < n->n_inputs; k++) free(plain[k].data);
            free(plain);
            if (in != in_buf) free(in);
            if (out != out_buf) free(out);
            return lo_fail(err, LO_ERR_NOMEM, "out of memory");
        }
        int v = n->n_inputs ? n->inputs[0] : -1;
        if (plan->donor[node_index] && v >= 0 && !f->vblocked[v] && f->owned[v] && f->remaining[v] == 1 && f->vals[v].capacity &&
            f->vals[v].kind == LO_KIND_TENSOR && f->vals[v].data) {
            ctx.donor = &f->vals[v];
            donor = v;
        }
    }
    bool timed = f->session->profile && !f->parent && f->session->model->ir->graph == g;
    double t0 = timed ? lo_seconds_now() : 0;
    lo_status st = n->def->run(&ctx);
    if (timed) {
        f->session->node_seconds[node_index] += lo_seconds_now() - t0;
        if (st == LO_OK) f->session->node_flops[node_index] += node_flops(n, in, out);
    }
    if (plain) {
        for (int k = 0; k < n->n_inputs; k++) free(plain[k].data);
        free(plain);
    }
    if (plan && n->n_outputs == 1 && n->outputs[0] >= 0) {
        bool b = st == LO_OK && (ew_blocked || (ctx.out_may_block && ctx.out_blocked));
        f->vblocked[n->outputs[0]] = b;
        f->session->blocked_passes += b;
    }
    if (donor >= 0 && ctx.donor_taken) {
        f->owned[donor] = false; /* the block is the output's now */
        f->session->reshapes_in_place++;
    }
    for (int k = 0; plan && k < 2; k++) f->session->folded_transposes += plan->fold[node_index][k] >= 0;
    if (in != in_buf) free(in);
    if (out != out_buf) free(out);
    return st;
}

/* run_node's second half: for each output of the node the quantization
 * step and the observer; outputs nobody reads are freed. */
static lo_status finish_node(lo_frame *f, int node_index) {
    const lo_graph *g = f->graph;
    const lo_node *n = &g->nodes[node_index];
    lo_error *err = f->err;
    bool is_constant = lo_is_op(n, "Constant");
    for (int k = 0; k < n->n_outputs; k++) {
        int v = n->outputs[k];
        if (v < 0) continue;
        if (f->vals[v].kind == LO_KIND_TENSOR && !f->vals[v].data)
            return lo_fail(err, LO_ERR_RUNTIME, "node '%s' (%s) produced no output %d", n->name, n->op_type, k);
        if (!is_constant && !lo_quant_hidden(f->session->model->quant, g, v)) LO_TRY(observe(f, g, v, n));
        else {
            const lo_encoding *enc;
            LO_TRY(quantize_value(f, g, v, &enc));
        }
        if (f->remaining[v] == 0 && !g->values[v].is_graph_output) release(f, v);
    }
    return LO_OK;
}

/* Runs one node of a frame: its kernel on f->vals, then for each output
 * the quantization step and the observer; outputs nobody reads are freed. */
static lo_status run_node(lo_frame *f, int node_index) {
    LO_TRY(run_kernel(f, node_index));
    return finish_node(f, node_index);
}

/* After a group's head ran: its links over the head's output, in place,
 * the result becoming the last fused link's output. Returns how many links
 * were fused: the longest prefix this run's shapes and types allow (RMSNorm's
 * Add/Sqrt/Reciprocal fuse, the Mul that widens them back to the hidden size
 * does not); the links after it, if any, run one by one at their places. */
static int run_chain(lo_frame *f, const lo_fuse_group *grp) {
    const lo_graph *g = f->graph;
    int v0 = grp->values[0];
    lo_tensor *x = &f->vals[v0];
    if (!f->owned[v0] || x->kind != LO_KIND_TENSOR || x->dtype != LO_FLOAT || !x->data || !x->capacity) return 0;
    /* a block the observer still holds (a saved tensor whose block a reshape
     * passed on) must not be written: the chain then runs node by node */
    lo_session *s = f->session;
    pthread_mutex_lock(&s->lock);
    bool held = s->n_held && held_find(s, x->data);
    pthread_mutex_unlock(&s->lock);
    if (held) return 0;
    lo_ew_link links[LO_CHAIN_MAX];
    for (int l = 0; l < grp->n_links; l++) {
        const lo_node *m = &g->nodes[grp->link[l]];
        links[l].node = m;
        links[l].n_in = m->n_inputs;
        for (int i = 0; i < m->n_inputs; i++) {
            links[l].slot[i] = grp->slot[l][i];
            links[l].ext[i] = grp->slot[l][i] == -1 ? &f->vals[m->inputs[i]] : NULL;
            if (links[l].ext[i] && (links[l].ext[i]->kind != LO_KIND_TENSOR || !links[l].ext[i]->data)) return 0;
        }
    }
    int n = grp->n_links;
    while (n > 0 && !lo_ew_chain_fits(links, n, x->dtype, x->rank, x->dims)) n--;
    /* over a blocked head output only single values may join in, and a
     * blocked operand joins no chain: the links from there run by
     * themselves, each taking its inputs as it can */
    bool x_blocked = held_blocked(f, v0);
    for (int l = 0; l < n; l++)
        for (int i = 0; i < links[l].n_in; i++) {
            const lo_tensor *e = links[l].ext[i];
            if (!e) continue;
            bool e_blocked = held_blocked(f, g->nodes[grp->link[l]].inputs[i]);
            bool alike = e_blocked && e->rank == x->rank && !memcmp(e->dims, x->dims, (size_t)x->rank * sizeof x->dims[0]);
            if (x_blocked ? !(lo_numel(e) == 1 || alike) : e_blocked) n = l;
        }
    if (n == 0) return 0;
    lo_kernel_ctx ctx = {.err = f->err, .frame = f, .threads = f->session->threads, .kernels = f->session->kernels};
    if (!lo_ew_chain_run(&ctx, links, n, x->data, x->rank, x->dims, x->data)) return 0;
    int vf = grp->values[n];
    f->vals[vf] = *x;
    f->owned[vf] = true;
    memset(x, 0, sizeof *x);
    f->owned[v0] = false;
    if (f->vblocked) {
        f->vblocked[vf] = f->vblocked[v0];
        f->vblocked[v0] = false;
    }
    return n;
}

/* The Constants a group's links read that come after its head in the order
 * (LO_ROLE_EARLY), run now unless they already ran for another group. */
static lo_status run_early_constants(lo_frame *f, const lo_fuse_group *grp) {
    const lo_graph *g = f->graph;
    for (int l = 0; l < grp->n_links; l++) {
        const lo_node *m = &g->nodes[grp->link[l]];
        for (int j = 0; j < m->n_inputs; j++) {
            int v = m->inputs[j];
            if (grp->slot[l][j] != -1 || g->values[v].kind != LO_VALUE_NODE) continue;
            int pr = g->values[v].producer;
            if (f->plan->role[pr] == LO_ROLE_EARLY && !f->vals[v].data) LO_TRY(run_node(f, pr));
        }
    }
    return LO_OK;
}

static lo_status run_nodes(lo_frame *f) {
    const lo_graph *g = f->graph;
    const lo_plan *plan = f->plan;
    for (int oi = 0; oi < g->n_nodes; oi++) {
        int i = g->order[oi];
        const lo_node *n = &g->nodes[i];
        if (atomic_exchange(&f->session->interrupt, 0))
            return lo_fail(f->err, LO_ERR_INTERRUPTED, "interrupted");
        LO_TRY(observe_initializers(f, g, oi));
        int role = plan ? plan->role[i] : LO_ROLE_NONE;
        if (role == LO_ROLE_FOLDED) continue; /* its MatMul reads its input, and releases it */
        if (role == LO_ROLE_EARLY && f->vals[n->outputs[0]].data) {
            /* ran with the chain's head */
        } else if (role == LO_ROLE_HEAD) {
            const lo_fuse_group *grp = &plan->groups[plan->group[i]];
            LO_TRY(run_kernel(f, i));
            LO_TRY(run_early_constants(f, grp));
            bool timed = f->session->profile;
            double t0 = timed ? lo_seconds_now() : 0;
            int fused = f->fused[plan->group[i]] = run_chain(f, grp);
            f->session->fused_links += fused;
            if (timed) f->session->node_seconds[i] += lo_seconds_now() - t0;
            if (!fused) LO_TRY(finish_node(f, i));
        } else if (role == LO_ROLE_LINK) {
            const lo_fuse_group *grp = &plan->groups[plan->group[i]];
            int fused = f->fused[plan->group[i]], l = 0;
            while (grp->link[l] != i) l++;
            if (l >= fused) LO_TRY(run_node(f, i));
            else if (l == grp->n_links - 1) LO_TRY(finish_node(f, i)); /* the result, in its place */
        } else {
            LO_TRY(run_node(f, i));
        }
        if (f->after_node) LO_TRY(f->after_node(f, i, f->after_user));
        if (!f->session->weights_released && !f->parent && !f->after_node && g == f->session->model->ir->graph)
            release_conv_weights(f->session, i);
        for (int k = 0; k < n->n_inputs + n->n_implicit; k++) {
            int v = k < n->n_inputs ? n->inputs[k] : n->implicit_inputs[k - n->n_inputs];
            if (v < 0) continue;
            if (--f->remaining[v] == 0 && !g->values[v].is_graph_output) release(f, v);
        }
        for (int k = 0; plan && k < 2; k++) {
            int t = plan->fold[i][k];
            if (t < 0) continue;
            const lo_node *tn = &g->nodes[t];
            for (int j = 0; j < tn->n_inputs; j++) {
                int v = tn->inputs[j];
                if (v >= 0 && --f->remaining[v] == 0 && !g->values[v].is_graph_output) release(f, v);
            }
        }
    }
    return LO_OK;
}

lo_status lo_exec_subgraph(lo_kernel_ctx *ctx, const lo_graph *body, const lo_tensor *const *inputs,
                           int n_inputs, lo_tensor *outputs, int iteration) {
    lo_frame *parent = ctx->frame;
    lo_frame f;
    memset(&f, 0, sizeof f);
    f.parent = parent;
    f.session = parent->session;
    f.observer = parent->observer;
    f.user = parent->user;
    f.err = ctx->err;
    f.iteration = iteration >= 0 ? iteration : parent->iteration;
    lo_status st = frame_init(&f, body, ctx->err);
    if (st == LO_OK && n_inputs > body->n_inputs)
        st = lo_kernel_fail(ctx, LO_ERR_MODEL, "subgraph '%s' takes %d inputs, given %d", body->name,
                            body->n_inputs, n_inputs);
    for (int i = 0; st == LO_OK && i < n_inputs; i++) {
        if (inputs[i]) f.vals[body->inputs[i]] = *inputs[i]; /* borrowed */
        else f.vals[body->inputs[i]].kind = LO_KIND_NONE;
    }
    if (st == LO_OK) st = run_nodes(&f);
    for (int o = 0; o < body->n_outputs; o++) memset(&outputs[o], 0, sizeof outputs[o]);
    for (int o = 0; st == LO_OK && o < body->n_outputs; o++) {
        int v = body->outputs[o];
        /* the first listing takes the tensor; a repeated one gets a copy */
        int earlier = -1;
        for (int p = 0; p < o && earlier < 0; p++)
            if (body->outputs[p] == v) earlier = p;
        if (earlier >= 0) {
            st = lo_tensor_clone(&outputs[earlier], &outputs[o], ctx->err);
        } else if (f.owned[v]) {
            outputs[o] = f.vals[v];
            f.owned[v] = false;
        } else {
            st = lo_tensor_clone(&f.vals[v], &outputs[o], ctx->err);
        }
    }
    if (st != LO_OK)
        for (int o = 0; o < body->n_outputs; o++) lo_tensor_free_data(&outputs[o]);
    frame_free(&f);
    return st;
}

static lo_status check_input(const lo_value *val, const lo_tensor_view *view, lo_error *err) {
    char s1[160], s2[160];
    if (val->decl_dtype && view->dtype != val->decl_dtype)
        return lo_fail(err, LO_ERR_INPUT, "input '%s' must be %s, got %s", val->name,
                       lo_dtype_name(val->decl_dtype), lo_dtype_name(view->dtype));
    if (view->rank < 0 || view->rank > LO_MAX_RANK)
        return lo_fail(err, LO_ERR_INPUT, "input '%s': rank %d is not supported", val->name, view->rank);
    bool ok = val->decl_rank < 0 || val->decl_rank == view->rank;
    for (int d = 0; ok && val->decl_rank >= 0 && d < view->rank; d++)
        if (val->decl_dims[d] >= 0 && val->decl_dims[d] != view->dims[d]) ok = false;
    if (!ok)
        return lo_fail(err, LO_ERR_INPUT, "input '%s' must have shape %s, got %s", val->name,
                       lo_shape_str(val->decl_rank, val->decl_dims, s1, sizeof s1),
                       lo_shape_str(view->rank, view->dims, s2, sizeof s2));
    size_t bytes;
    lo_error sub;
    if (!lo_shape_bytes(view->dtype, view->rank, view->dims, &bytes, &sub))
        return lo_fail(err, sub.status, "input '%s': %s", val->name, sub.message);
    if (view->nbytes != bytes)
        return lo_fail(err, LO_ERR_INPUT, "input '%s' of shape %s (%s) needs %zu bytes, given %zu",
                       val->name, lo_shape_str(view->rank, view->dims, s1, sizeof s1),
                       lo_dtype_name(view->dtype), bytes, view->nbytes);
    if (bytes && !view->data)
        return lo_fail(err, LO_ERR_INPUT, "input '%s' has no data", val->name);
    return LO_OK;
}

/* A caller's tensor, borrowed: kernels never write their inputs. */
static void tensor_of_view(const lo_tensor_view *view, lo_tensor *t) {
    memset(t, 0, sizeof *t);
    t->kind = LO_KIND_TENSOR;
    t->dtype = view->dtype;
    t->rank = view->rank;
    if (view->rank) memcpy(t->dims, view->dims, (size_t)view->rank * sizeof(int64_t));
    t->data = (void *)view->data;
    t->nbytes = view->nbytes;
}

/* A run's kernels and oneDNN take their thread count from the calling
 * thread's OpenMP state: the session's count is set for the run and the
 * caller's put back after it (and around observer calls), so the caller's
 * own parallel regions never see ours. */
static void threads_enter(lo_session *s) {
    s->caller_threads = omp_get_max_threads();
    omp_set_num_threads(s->threads);
}

static void threads_leave(lo_session *s) { omp_set_num_threads(s->caller_threads); }

void lo_session_interrupt(lo_session *s) {
    if (s) atomic_store(&s->interrupt, 1);
}

/* Runs the top graph on inputs already checked and in graph-input order
 * (borrowed), showing every tensor to the observer; outputs, when given,
 * receive copies of the graph's outputs. */
static lo_status run_graph(lo_session *s, const lo_tensor *inputs, lo_observer_fn observer, void *user,
                           lo_tensor *outputs, lo_error *err) {
    const lo_graph *g = s->model->ir->graph;
    threads_enter(s);
    lo_frame f;
    memset(&f, 0, sizeof f);
    f.session = s;
    f.observer = observer;
    f.user = user;
    f.err = err;
    f.iteration = -1;
    lo_status st = frame_init(&f, g, err);
    if (st == LO_OK && s->fusion) {
        lo_plan *plan = &s->plans[observer ? 0 : 1];
        if (!plan->built) st = lo_plan_build(s, plan, observer != NULL, err);
        if (st == LO_OK && (!(f.fused = calloc((size_t)plan->n_groups + 1, sizeof *f.fused)) ||
                            !(f.vblocked = calloc((size_t)g->n_values + 1, sizeof *f.vblocked))))
            st = lo_fail(err, LO_ERR_NOMEM, "out of memory");
        if (st == LO_OK) f.plan = plan;
    }
    for (int i = 0; st == LO_OK && i < g->n_inputs; i++) {
        int v = g->inputs[i];
        f.vals[v] = inputs[i];
        f.vals[v].capacity = 0; /* not the run loop's block */
        st = observe(&f, g, v, NULL);
    }
    if (st == LO_OK) st = run_nodes(&f);
    if (st == LO_OK) s->runs++;
    s->weights_released = true;
    if (outputs) {
        for (int o = 0; o < g->n_outputs; o++) memset(&outputs[o], 0, sizeof outputs[o]);
        for (int o = 0; st == LO_OK && o < g->n_outputs; o++)
            st = lo_tensor_clone(&f.vals[g->outputs[o]], &outputs[o], err);
        if (st != LO_OK)
            for (int o = 0; o < g->n_outputs; o++) lo_tensor_free_data(&outputs[o]);
    }
    frame_free(&f);
    threads_leave(s);
    return st;
}

lo_status lo_session_run(lo_session *s, const lo_tensor_view *inputs, int n_inputs,
                         lo_observer_fn observer, void *user, lo_error *err) {
    return lo_session_run_outputs(s, inputs, n_inputs, observer, user, NULL, err);
}

lo_status lo_session_run_outputs(lo_session *s, const lo_tensor_view *inputs, int n_inputs,
                                 lo_observer_fn observer, void *user, lo_tensor *outputs,
                                 lo_error *err) {
    const lo_graph *g = s->model->ir->graph;
    if (n_inputs != g->n_inputs) {
        return lo_fail(err, LO_ERR_INPUT, "the model takes %d input%s (%s%s), given %d", g->n_inputs,
                       g->n_inputs == 1 ? "" : "s", g->n_inputs ? g->values[g->inputs[0]].name : "",
                       g->n_inputs > 1 ? ", ..." : "", n_inputs);
    }
    /* Match by name when every view names an input of the model. */
    int order[256];
    if (n_inputs > 256) return lo_fail(err, LO_ERR_UNSUPPORTED, "more than 256 model inputs");
    bool by_name = n_inputs > 0;
    for (int i = 0; i < n_inputs && by_name; i++)
        if (!inputs[i].name || lo_graph_find(g, inputs[i].name) < 0 ||
            g->values[lo_graph_find(g, inputs[i].name)].kind != LO_VALUE_INPUT)
            by_name = false;
    for (int i = 0; i < n_inputs; i++) order[i] = i;
    if (by_name) {
        for (int i = 0; i < n_inputs; i++) {
            order[i] = -1;
            for (int j = 0; j < n_inputs; j++)
                if (strcmp(inputs[j].name, g->values[g->inputs[i]].name) == 0) order[i] = j;
            if (order[i] < 0)
                return lo_fail(err, LO_ERR_INPUT, "no tensor given for input '%s'",
                               g->values[g->inputs[i]].name);
        }
    }
    for (int i = 0; i < n_inputs; i++)
        LO_TRY(check_input(&g->values[g->inputs[i]], &inputs[order[i]], err));

    lo_tensor bound[256];
    for (int i = 0; i < n_inputs; i++) tensor_of_view(&inputs[order[i]], &bound[i]);
    return run_graph(s, bound, observer, user, outputs, err);
}

/* ---- running with sequence and optional inputs ------------------------------------ */
/* For the conformance runner and the command line, which feed sequences and
 * optionals as graph inputs, which lo_tensor_view cannot express. inputs
 * are positional (the graph's input order) and borrowed. */

lo_status lo_session_run_values(lo_session *s, const lo_tensor *inputs, int n_inputs, lo_observer_fn observer,
                                void *user, lo_tensor *outputs, lo_error *err) {
    const lo_graph *g = s->model->ir->graph;
    if (n_inputs != g->n_inputs)
        return lo_fail(err, LO_ERR_INPUT, "the model takes %d inputs, given %d", g->n_inputs, n_inputs);
    for (int i = 0; i < n_inputs; i++) {
        if (inputs[i].kind != LO_KIND_TENSOR) continue;
        lo_tensor_view view;
        view_of(&inputs[i], g->values[g->inputs[i]].name, &view);
        /* as ONNX's backend runner: the declared shape is not enforced
         * (some cases feed a different one), the dtype and sizes are */
        lo_value loose = g->values[g->inputs[i]];
        loose.decl_rank = -1;
        LO_TRY(check_input(&loose, &view, err));
    }
    return run_graph(s, inputs, observer, user, outputs, err);
}

/* ---- isolated quantization error ---------------------------------------------------- */

typedef struct isolated_run {
    lo_frame *quant; /* frame of the quantized model's graph */
    lo_frame *flt;
} isolated_run;

/* Copies value v of the float run into the quantized frame and applies v's
 * own encoding there. */
static lo_status isolated_input(isolated_run *r, int v) {
    lo_frame *q = r->quant;
    const lo_graph *qg = q->graph;
    if (qg->values[v].kind != LO_VALUE_NODE && qg->values[v].kind != LO_VALUE_INPUT) return LO_OK;
    if (q->owned[v]) return LO_OK; /* read twice by one node */
    const lo_tensor *src = &r->flt->vals[v];
    if (src->kind == LO_KIND_TENSOR && !src->data) return LO_OK;
    LO_TRY(lo_tensor_clone(src, &q->vals[v], q->err));
    q->owned[v] = true;
    const lo_encoding *enc;
    return quantize_value(q, qg, v, &enc);
}

static lo_status isolated_after_node(lo_frame *f, int node, void *user) {
    isolated_run *r = user;
    lo_frame *q = r->quant;
    const lo_node *n = &q->graph->nodes[node];
    lo_status st = LO_OK;
    for (int k = 0; st == LO_OK && k < n->n_inputs + n->n_implicit; k++) {
        int v = k < n->n_inputs ? n->inputs[k] : n->implicit_inputs[k - n->n_inputs];
        if (v >= 0) st = isolated_input(r, v);
    }
    if (st == LO_OK) st = run_node(q, node);
    for (int k = 0; k < n->n_outputs; k++)
        if (n->outputs[k] >= 0) release(q, n->outputs[k]);
    for (int k = 0; k < n->n_inputs + n->n_implicit; k++) {
        int v = k < n->n_inputs ? n->inputs[k] : n->implicit_inputs[k - n->n_inputs];
        if (v >= 0 && q->graph->values[v].kind != LO_VALUE_INITIALIZER) release(q, v);
    }
    (void)f;
    return st;
}

lo_status lo_session_run_isolated(lo_session *flt, lo_session *quant, const lo_tensor_view *inputs, int n_inputs,
                                  lo_observer_fn float_observer, void *float_user, lo_observer_fn iso_observer,
                                  void *iso_user, lo_error *err) {
    const lo_graph *g = flt->model->ir->graph, *qg = quant->model->ir->graph;
    /* both sessions must run the same file: nodes and values line up by index */
    bool same = g->n_nodes == qg->n_nodes && g->n_values == qg->n_values;
    for (int i = 0; same && i < g->n_nodes; i++) same = !strcmp(g->nodes[i].op_type, qg->nodes[i].op_type);
    for (int v = 0; same && v < g->n_values; v++) same = !strcmp(g->values[v].name, qg->values[v].name);
    if (!same) return lo_fail(err, LO_ERR_ARGUMENT, "the float and quantized sessions run different models");
    if (n_inputs != g->n_inputs)
        return lo_fail(err, LO_ERR_INPUT, "the model takes %d inputs, given %d", g->n_inputs, n_inputs);
    for (int i = 0; i < n_inputs; i++) LO_TRY(check_input(&g->values[g->inputs[i]], &inputs[i], err));
    threads_enter(flt);
    quant->caller_threads = flt->caller_threads;
    lo_frame f, q;
    memset(&f, 0, sizeof f);
    memset(&q, 0, sizeof q);
    f.session = flt;
    f.observer = float_observer;
    f.user = float_user;
    f.err = err;
    f.iteration = -1;
    q.session = quant;
    q.observer = iso_observer;
    q.user = iso_user;
    q.err = err;
    q.iteration = -1;
    isolated_run r = {&q, &f};
    f.after_node = isolated_after_node;
    f.after_user = &r;
    lo_status st = frame_init(&f, g, err);
    if (st == LO_OK) st = frame_init(&q, qg, err);
    for (int i = 0; st == LO_OK && i < n_inputs; i++) {
        int v = g->inputs[i];
        tensor_of_view(&inputs[i], &f.vals[v]);
        st = observe(&f, g, v, NULL);
        /* the isolated side sees the input quantized with its own encoding */
        if (st == LO_OK) st = isolated_input(&r, v);
        if (st == LO_OK) st = observe(&q, qg, v, NULL);
        release(&q, v);
    }
    if (st == LO_OK) st = run_nodes(&f);
    frame_free(&q);
    frame_free(&f);
    threads_leave(flt);
    return st;
}
