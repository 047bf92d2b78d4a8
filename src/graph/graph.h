/* The graph IR every later stage reads: tensors, values, nodes with parsed
 * attributes, nested graphs. Built by src/onnx from the protobuf, which is
 * freed afterwards; nothing here refers to protobuf types. */
#ifndef LO_GRAPH_H
#define LO_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layerout.h"

/* ---- errors and invariants --------------------------------------------- */

/* Fills err (if given) and returns status: bad input is reported, never fatal. */
lo_status lo_fail(lo_error *err, lo_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A broken internal invariant: a bug of ours, not bad input. */
#define LO_ASSERT(cond)                                                          \
    do {                                                                         \
        if (!(cond)) lo_assert_failed(__FILE__, __LINE__, #cond);                \
    } while (0)
_Noreturn void lo_assert_failed(const char *file, int line, const char *cond);

/* Returns from the calling function when a call fails. */
#define LO_TRY(expr)                                                              \
    do {                                                                          \
        lo_status lo_try_status_ = (expr);                                        \
        if (lo_try_status_ != LO_OK) return lo_try_status_;                      \
    } while (0)

/* Allocation that reports failure through err instead of crashing. */
void *lo_malloc(size_t size, lo_error *err);
void *lo_calloc(size_t count, size_t size, lo_error *err);
char *lo_strdup(const char *s);
char *lo_strndup(const char *s, size_t n);

/* Reads a whole regular file into malloc'd memory. */
lo_status lo_read_file(const char *path, uint8_t **data, size_t *len, lo_error *err);

/* Overflow-checked size arithmetic: false when the result would not fit. */
bool lo_mul_size(size_t a, size_t b, size_t *out);

/* ---- tensors ------------------------------------------------------------ */

typedef enum lo_tensor_kind {
    LO_KIND_TENSOR = 0,
    LO_KIND_SEQUENCE = 1, /* items[0..n_items) */
    LO_KIND_NONE = 2      /* an optional without a value */
} lo_tensor_kind;

typedef struct lo_tensor {
    lo_tensor_kind kind;
    int n_items;
    struct lo_tensor *items; /* LO_KIND_SEQUENCE elements (owned) */
    lo_dtype dtype;          /* for a sequence: its element type */
    int rank;
    int64_t dims[LO_MAX_RANK];
    void *data;    /* LO_STRING: char ** (each string owned with the tensor) */
    size_t nbytes; /* element count × lo_dtype_size(dtype) */
    size_t capacity; /* bytes of the block data points to, when the run loop
                        allocated it (0 otherwise); lets it reuse the block */
} lo_tensor;

int64_t lo_numel(const lo_tensor *t);
int64_t lo_numel_dims(int rank, const int64_t *dims);
/* Element count and byte size of a shape, checked against overflow and
 * against negative dims; false (and err filled) when the shape is absurd. */
bool lo_shape_bytes(lo_dtype dtype, int rank, const int64_t *dims, size_t *nbytes,
                    lo_error *err);
/* "1x3x224x224" (or "scalar") into buf. */
const char *lo_shape_str(int rank, const int64_t *dims, char *buf, size_t size);
bool lo_dtype_is_float(lo_dtype dtype); /* float16/bfloat16/float/double */
bool lo_dtype_is_int(lo_dtype dtype);   /* signed or unsigned integer, incl. 2- and 4-bit */

/* Reads element i of any numeric/bool tensor as double or int64. */
double lo_get_f64(const lo_tensor *t, int64_t i);
int64_t lo_get_i64(const lo_tensor *t, int64_t i);
/* Writes element i, converting as Cast does (saturating rules are Cast's job). */
void lo_set_f64(lo_tensor *t, int64_t i, double v);
void lo_set_i64(lo_tensor *t, int64_t i, int64_t v);

float lo_half_to_float(uint16_t h);
uint16_t lo_float_to_half(float f); /* round to nearest even */
float lo_bfloat16_to_float(uint16_t b);
uint16_t lo_float_to_bfloat16(float f); /* round to nearest even */

/* ---- attributes --------------------------------------------------------- */

typedef enum lo_attr_type {
    LO_ATTR_UNDEFINED = 0,
    LO_ATTR_FLOAT = 1,
    LO_ATTR_INT = 2,
    LO_ATTR_STRING = 3,
    LO_ATTR_TENSOR = 4,
    LO_ATTR_GRAPH = 5,
    LO_ATTR_FLOATS = 6,
    LO_ATTR_INTS = 7,
    LO_ATTR_STRINGS = 8,
    LO_ATTR_TENSORS = 9,
    LO_ATTR_GRAPHS = 10,
    LO_ATTR_SPARSE_TENSOR = 11,
    LO_ATTR_SPARSE_TENSORS = 12,
    LO_ATTR_TYPE_PROTO = 13,
    LO_ATTR_TYPE_PROTOS = 14
} lo_attr_type;

struct lo_graph;

typedef struct lo_attr {
    char *name;
    lo_attr_type type;
    float f;
    int64_t i;
    char *s; /* NUL-terminated copy; s_len holds the real length */
    size_t s_len;
    int64_t n; /* element count of the list kinds */
    float *floats;
    int64_t *ints;
    char **strings;
    lo_tensor *tensor;  /* TENSOR, and SPARSE_TENSOR densified */
    lo_tensor *tensors; /* TENSORS: n of them */
    struct lo_graph *graph;
    struct lo_graph **graphs; /* GRAPHS: n of them */
} lo_attr;

/* ---- nodes, values, graphs ---------------------------------------------- */

typedef enum lo_value_kind {
    LO_VALUE_INPUT,       /* a graph input that is not an initializer */
    LO_VALUE_INITIALIZER, /* constant data from the model */
    LO_VALUE_NODE,        /* a node's output */
    LO_VALUE_OUTER        /* a name a subgraph reads from an enclosing graph */
} lo_value_kind;

typedef struct lo_value {
    char *name;
    lo_value_kind kind;
    int producer;    /* node index for LO_VALUE_NODE, else -1 */
    int outer_value; /* LO_VALUE_OUTER: the value's index in the parent graph */
    /* Declared type from graph input/output/value_info: dtype 0 and rank -1
     * when unknown; dims of -1 are dynamic. */
    lo_dtype decl_dtype;
    int decl_rank;
    int64_t decl_dims[LO_MAX_RANK];
    bool is_graph_output;
    bool is_optional_type; /* declared as sequence/optional/map: not a tensor */
    /* For such a value, what it is declared as ('s' sequence, 'o' optional,
     * 'm' map, '?' other; 0 for a tensor), and the element type of the
     * tensors it holds (0 when not tensors or unknown): how an input file
     * for it is read. */
    char decl_container;
    lo_dtype decl_elem_dtype;
    bool in_function;      /* made inside an inlined model-local function's body
                              (the call's own outputs are not) */
    char *call_node;       /* an output of a function call: the call node's name */
    char *call_op;         /* ... and the function's name (NULL otherwise) */
    lo_tensor init;        /* LO_VALUE_INITIALIZER data (owned by the model) */
    int n_readers;         /* nodes (of this graph) reading it, subgraph reads included */
} lo_value;

typedef struct lo_node {
    char *name;
    char *op_type;
    char *domain; /* "" for ai.onnx */
    int n_inputs;
    int *inputs; /* value indices; -1 for an omitted optional input */
    int n_outputs;
    int *outputs; /* value indices; -1 for an omitted optional output */
    int n_attrs;
    lo_attr *attrs;
    int n_meta;
    char **meta_keys; /* metadata_props, when the model has them */
    char **meta_values;
    int opset; /* the opset version of the node's domain in this model */
    /* Outer-scope values its subgraphs read (indices in this graph). */
    int n_implicit;
    int *implicit_inputs;
    const struct lo_op_def *def; /* the kernel chosen at plan time */
    void *params;                /* that kernel's parsed attributes */
    void (*params_free)(void *); /* how to free them (NULL: free()) */
} lo_node;

typedef struct lo_opset {
    char *domain;
    int64_t version;
} lo_opset;

typedef struct lo_graph {
    char *name;
    int n_values, cap_values;
    lo_value *values;
    int n_nodes;
    lo_node *nodes;
    int n_inputs; /* non-initializer inputs, in declared order */
    int *inputs;
    int n_outputs;
    int *outputs;
    int *order; /* topological order of node indices */
    struct lo_graph *parent;
    struct lo_model_ir *model;
    void *name_index; /* hash map name -> value index */
} lo_graph;

typedef struct lo_mapping {
    void *addr;
    size_t size;
} lo_mapping;

typedef struct lo_model_ir {
    char *path;
    int64_t ir_version;
    char *producer_name;
    char *producer_version;
    int n_opsets;
    lo_opset *opsets;
    lo_graph *graph;
    int n_mappings; /* external data files mapped into memory */
    lo_mapping *mappings;
} lo_model_ir;

/* Value lookup and creation by name (this graph only). */
int lo_graph_find(const lo_graph *g, const char *name);
int lo_graph_add_value(lo_graph *g, const char *name, lo_error *err);
/* Like lo_graph_find, but a name from an enclosing graph is added here as
 * LO_VALUE_OUTER (recursively up the chain). -1 if no graph defines it. */
int lo_graph_resolve(lo_graph *g, const char *name, lo_error *err);

/* Sorts nodes topologically into g->order (and nested graphs), counts
 * readers, records implicit inputs; fails on cycles and undefined inputs. */
lo_status lo_graph_finalize(lo_graph *g, lo_error *err);

int64_t lo_model_opset(const lo_model_ir *m, const char *domain);
void lo_graph_free(lo_graph *g);
void lo_model_ir_free(lo_model_ir *m);

/* Attribute access with ONNX defaults. */
const lo_attr *lo_attr_find(const lo_node *n, const char *name);
int64_t lo_attr_int(const lo_node *n, const char *name, int64_t dflt);
float lo_attr_float(const lo_node *n, const char *name, float dflt);
const char *lo_attr_string(const lo_node *n, const char *name, const char *dflt);
/* Returns the list (and its length in *count), or NULL with *count = 0. */
const int64_t *lo_attr_ints(const lo_node *n, const char *name, int64_t *count);
const float *lo_attr_floats(const lo_node *n, const char *name, int64_t *count);

void lo_tensor_free_data(lo_tensor *t); /* frees strings of STRING tensors too */
/* A tensor buffer, 64-byte aligned for the vector kernels and oneDNN; free(). */
void *lo_buffer_alloc(size_t bytes);
/* A caller's options struct (its first field the size_t struct_size its
 * *_options_init set) copied over dst, which holds the defaults and is size
 * bytes: an older, smaller struct leaves the newer fields at their defaults.
 * A struct_size that is not a size this library could have set (0: not
 * initialised) is an argument error naming what (e.g. "lo_session_options"). */
lo_status lo_options_take(void *dst, size_t size, const void *src, const char *what, lo_error *err);
/* lo_options_take for an options struct that embeds n others (each with
 * its own leading struct_size) at the offsets off[], of sizes size_of[], in
 * increasing order: each embedded struct is read by its own struct_size and
 * what follows it in the caller's struct is taken from where it ends, so an
 * embedded struct that grew since the caller was built moves nothing. Each
 * embedded struct must end where the next field begins (no padding between),
 * which holds while its alignment is the outer struct's widest. */
lo_status lo_options_take_embedding(void *dst, size_t size, const void *src, int n, const size_t *off,
                                    const size_t *size_of, const char *what, lo_error *err);
/* Deep copy of a tensor or sequence into fresh memory. */
lo_status lo_tensor_clone(const lo_tensor *src, lo_tensor *dst, lo_error *err);

#endif
