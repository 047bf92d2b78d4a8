/* Structures private to src/exec. */
#ifndef LO_EXEC_INTERNAL_H
#define LO_EXEC_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

#include "exec.h"

#include "../quant/quant.h"

struct lo_model {
    lo_model_ir *ir;
    atomic_int sessions; /* sessions created on it (never decreases) */
    lo_quant *quant; /* NULL for the float model */
    char *warnings;
};

/* Freed tensor blocks kept for reuse: a model allocates the same sizes for
 * every sample, and a reused block costs no page faults. */
#define LO_POOL_SLOTS 64
typedef struct lo_pool {
    void *block[LO_POOL_SLOTS];
    size_t size[LO_POOL_SLOTS];
    int n;
    size_t bytes; /* held in the pool */
} lo_pool;

/* A tensor block an observer holds past the run loop's own use of it. */
typedef struct lo_held {
    void *data;
    size_t capacity;
    int count; /* holds not yet released */
    bool dead; /* the run loop is done with it: the last release frees it */
} lo_held;

/* What the run loop fuses in the top graph (fusion.c): built once
 * per session for each way of running (with an observer, or without). */
typedef struct lo_fuse_group {
    int head;    /* the node whose output the chain starts from */
    int n_links; /* elementwise nodes evaluated over it, in order */
    int link[12];
    int slot[12][3]; /* per link input: chain slot, -1 outside value, -2 omitted */
    int values[13];  /* slot k's value: 0 the head's output, k link k-1's */
} lo_fuse_group;

/* Whether node n is the standard-domain operator op. */
static inline bool lo_is_op(const lo_node *n, const char *op) { return n->domain[0] == 0 && strcmp(n->op_type, op) == 0; }

/* LO_ROLE_EARLY: a Constant that a chain link reads but that comes after the
 * chain's head in the order (exporters put Clip's bounds right before the
 * Clip); it runs when the head does, so that the chain can use it. */
enum { LO_ROLE_NONE, LO_ROLE_HEAD, LO_ROLE_LINK, LO_ROLE_FOLDED, LO_ROLE_EARLY };

typedef struct lo_plan {
    bool built;
    unsigned char *role; /* per node: LO_ROLE_* */
    int *group;          /* per node: its group (head and links) */
    int (*fold)[2];      /* per node: the Transpose folded into MatMul input k, or -1 */
    bool *donor;         /* per node: a reshape that may take input 0's block */
    bool *alias;         /* per node: an Identity of a weight or input, output unseen */
    int n_groups;
    lo_fuse_group *groups;
    /* Per value: may be held in oneDNN's blocked layout (nCx16c) instead of
     * NCHW, from the Conv that makes it to the Convs that read it, through
     * the nodes between that take it so (fusion.c, "values held blocked";
     * docs/ARCHITECTURE.md, "The run plan"). Whether it is, each run
     * decides as it makes it (lo_frame.vblocked). */
    bool *vblk;
} lo_plan;

struct lo_block {
    struct lo_session *session;
    void *data;
};

struct lo_hold {
    struct lo_block block;
};

struct lo_session {
    lo_model *model;
    int threads;
    int n_thread_changes; /* lo_session_set_threads: from run thread_change_run[k], thread_change_to[k] threads */
    int thread_change_run[4], thread_change_to[4];
    bool subgraphs; /* show the observer tensors inside bodies too */
    lo_kernels kernels; /* which implementation every kernel runs */
    bool fusion;        /* plan and run fused chains (lo_session_options.fusion) */
    pthread_mutex_t lock; /* guards pool and held: observers release from other threads */
    lo_pool pool;
    size_t arena_bytes; /* tensor blocks allocated: in use, pooled or held */
    size_t max_memory;  /* bound on arena_bytes, 0 for none */
    int n_held, cap_held;
    lo_held *held;
    void *scratch;
    size_t scratch_size;
    atomic_int interrupt; /* lo_session_interrupt (any thread, or a signal handler):
                             the run stops before its next node */
    int caller_threads;   /* the caller's OpenMP thread count during a run,
                             restored around observer calls and at the end */
    /* profile: per top-graph node, seconds and FLOPs summed over runs */
    bool profile;
    double *node_seconds;
    double *node_flops;
    double observer_seconds;
    int runs;
    /* Which tensors the observer keeps (lo_session_set_saved): what is not
     * kept may be fused away. Without the callback every observed tensor
     * counts as kept. plans[0] with an observer, plans[1] without. */
    lo_saved_fn saved;
    void *saved_user;
    lo_plan plans[2];
    /* for the profile: nodes that ran fused into a chain, Transposes folded
     * into MatMul, reshapes that took their input's block (summed over runs) */
    long fused_links, folded_transposes, reshapes_in_place, blocked_passes;
    bool weights_released; /* release_conv_weights ran */
};

/* fusion.c: the plan of session s for runs with or without an observer
 * (what the observer keeps is s->saved's answer). */
lo_status lo_plan_build(const lo_session *s, lo_plan *p, bool observing, lo_error *err);
void lo_plan_free(lo_plan *p);

/* One running graph: the top level, or a subgraph invocation. */
typedef struct lo_frame {
    const lo_graph *graph;
    lo_tensor *vals;  /* runtime value of each graph value */
    bool *owned;      /* whether vals[v] is ours to free */
    int *remaining;   /* readers still to run */
    struct lo_frame *parent;
    lo_session *session;
    lo_observer_fn observer;
    void *user;
    lo_error *err;
    int iteration;
    /* called after each node ran, before its inputs may be freed */
    lo_status (*after_node)(struct lo_frame *f, int node, void *user);
    void *after_user;
    const lo_plan *plan; /* fusion in this frame; NULL for none */
    int *fused;          /* per plan group: how many of its links this run fused (0: none) */
    bool *vblocked;      /* per value: held blocked (nCx16c) in this run */
} lo_frame;

#endif
