/* The profile's report (lo_session_profile): the run loop only adds up
 * seconds and FLOPs per node; this turns them into text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct op_total {
    const char *op_type;
    int count;
    double seconds, flops, flop_seconds;
} op_total;

static int by_seconds(const void *a, const void *b) {
    double x = ((const op_total *)a)->seconds, y = ((const op_total *)b)->seconds;
    return x < y ? 1 : x > y ? -1 : 0;
}

char *lo_session_profile(const lo_session *s) {
    if (!s->profile || !s->runs) return NULL;
    const lo_graph *g = s->model->ir->graph;
    op_total *ops = calloc((size_t)g->n_nodes + 1, sizeof *ops);
    op_total *nodes = calloc((size_t)g->n_nodes + 1, sizeof *nodes);
    size_t cap = 4096 + (size_t)g->n_nodes * 160;
    char *out = malloc(cap);
    if (!ops || !nodes || !out) {
        free(ops);
        free(nodes);
        free(out);
        return NULL;
    }
    int n_ops = 0;
    double total = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const lo_node *n = &g->nodes[i];
        total += s->node_seconds[i];
        int k = 0;
        while (k < n_ops && strcmp(ops[k].op_type, n->op_type)) k++;
        if (k == n_ops) ops[n_ops++].op_type = n->op_type;
        ops[k].count++;
        ops[k].seconds += s->node_seconds[i];
        if (s->node_flops[i] > 0) {
            ops[k].flops += s->node_flops[i];
            ops[k].flop_seconds += s->node_seconds[i];
        }
        nodes[i] = (op_total){n->name, i, s->node_seconds[i], s->node_flops[i], s->node_seconds[i]};
    }
    qsort(ops, (size_t)n_ops, sizeof *ops, by_seconds);
    qsort(nodes, (size_t)g->n_nodes, sizeof *nodes, by_seconds);
    size_t len = 0;
#define EMIT(...) len += (size_t)snprintf(out + len, len < cap ? cap - len : 0, __VA_ARGS__)
    char threads[160];
    if (s->n_thread_changes > 1) {
        /* lo_session_set_threads: "threads 2 for runs 1-3, 1 for runs 4-6, 2 from run 7" */
        size_t n = (size_t)snprintf(threads, sizeof threads, "threads");
        for (int k = 0; k < s->n_thread_changes && n < sizeof threads; k++) {
            int from = s->thread_change_run[k] + 1;
            if (k + 1 < s->n_thread_changes)
                n += (size_t)snprintf(threads + n, sizeof threads - n, "%s %d for runs %d-%d", k ? "," : "",
                                      s->thread_change_to[k], from, s->thread_change_run[k + 1]);
            else
                n += (size_t)snprintf(threads + n, sizeof threads - n, ", %d from run %d", s->thread_change_to[k], from);
        }
    } else {
        snprintf(threads, sizeof threads, "%d threads", s->threads);
    }
    EMIT("profile: %d run%s, %s; kernels %.3f ms per run, observer (saving) %.3f ms per run\n", s->runs,
         s->runs == 1 ? "" : "s", threads, 1e3 * total / s->runs, 1e3 * s->observer_seconds / s->runs);
    EMIT("fusion per run: %.0f nodes run inside chains (their time is their head's), %.0f Transposes folded "
         "into MatMul, %.0f reshapes without a copy, %.0f outputs passed on blocked\n",
         (double)s->fused_links / s->runs, (double)s->folded_transposes / s->runs,
         (double)s->reshapes_in_place / s->runs, (double)s->blocked_passes / s->runs);
    EMIT("%-28s %6s %12s %7s %10s\n", "op type", "nodes", "ms per run", "share", "GFLOP/s");
    for (int k = 0; k < n_ops; k++) {
        char gf[32] = "";
        if (ops[k].flops > 0 && ops[k].flop_seconds > 0) snprintf(gf, sizeof gf, "%.1f", ops[k].flops / ops[k].flop_seconds * 1e-9);
        EMIT("%-28.28s %6d %12.3f %6.1f%% %10s\n", ops[k].op_type, ops[k].count, 1e3 * ops[k].seconds / s->runs,
             total > 0 ? 100 * ops[k].seconds / total : 0, gf);
    }
    int top = g->n_nodes < 15 ? g->n_nodes : 15;
    EMIT("slowest nodes:\n");
    for (int k = 0; k < top; k++) {
        const lo_node *n = &g->nodes[nodes[k].count];
        char gf[32] = "";
        if (nodes[k].flops > 0 && nodes[k].seconds > 0) snprintf(gf, sizeof gf, "%.1f GFLOP/s", nodes[k].flops / nodes[k].seconds * 1e-9);
        EMIT("  %10.3f ms  %-16.16s %s %s\n", 1e3 * nodes[k].seconds / s->runs, n->op_type, n->name, gf);
    }
#undef EMIT
    free(ops);
    free(nodes);
    return out;
}
