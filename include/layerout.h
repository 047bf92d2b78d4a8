/*
 * layerout.h — the public interface of liblayerout.
 *
 * layerout runs an ONNX model on the CPU, captures the output of every layer
 * for one input instance, and saves each under the name it has in the model,
 * in the layout AIMET's LayerOutputUtil uses.
 *
 * A short tour:
 *
 *     lo_error err;
 *     lo_generator_options opt;
 *     lo_generator_options_init(&opt);
 *     lo_generator *gen;
 *     if (lo_generator_create("model.onnx", "dump", &opt, &gen, &err) != LO_OK) {
 *         fprintf(stderr, "%s\n", err.message);
 *         return 1;
 *     }
 *     float pixels[1 * 3 * 224 * 224] = {0};
 *     int64_t dims[4] = {1, 3, 224, 224};
 *     lo_tensor_view input = {"input", LO_FLOAT, 4, dims, pixels, sizeof pixels};
 *     lo_generator_generate(gen, &input, 1, &err);   // writes sample 0
 *     lo_generator_generate(gen, &input, 1, &err);   // writes sample 1
 *     lo_generator_free(gen);
 *
 * To take the tensors in memory instead of files, load a model, create a
 * session and pass an observer to lo_session_run: it is called once for every
 * graph input and every top-level node output (outputs of Constant nodes
 * excepted; tensors inside control-flow and function bodies too with the
 * session option subgraphs), in graph order, while the tensor is alive. The data it points to is valid only
 * during the call.
 *
 * Every function that can fail returns an lo_status and, when given an
 * lo_error, fills it with a message naming what was wrong. The library never
 * exits or aborts on bad input. Every *_create / *_load is paired with a
 * *_free, which accepts NULL.
 *
 * Threads. The functions without an object (lo_version, lo_*_name,
 * lo_dtype_size, the *_options_init, lo_compare_dumps) may be called from
 * any thread at any time. An lo_model's queries (lo_model_input_*, ...) may
 * be called from any thread, but its kernels keep per-node caches (oneDNN
 * primitives): the sessions of one model run one at a time. To run in
 * parallel, load the model once per thread; separate models, sessions and
 * generators run in parallel freely. An lo_session or lo_generator is used
 * by one thread at a time, except lo_session_interrupt, which any thread or
 * a signal handler may call while a run is in progress; lo_hold_release may
 * be called from any thread. An lo_encodings is immutable once loaded. The
 * thread count of a run is the session's own: the caller's OpenMP settings
 * are the same after a run (and inside observer calls) as before it.
 *
 * Options structs start with struct_size, which their *_options_init sets:
 * a program built against an older, smaller struct keeps working when fields
 * are added at the end. An options struct embedded in another (the model and
 * session options in lo_generator_options) is read by its own struct_size,
 * so it too may grow without moving, for an older program, what follows it.
 */
#ifndef LAYEROUT_H
#define LAYEROUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "layerout_version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Only what this header declares is exported from liblayerout.so. */
#if defined(__GNUC__) || defined(__clang__)
#define LO_API __attribute__((visibility("default")))
#else
#define LO_API
#endif

typedef enum lo_status {
    LO_OK = 0,
    LO_ERR_IO = 1,          /* a file could not be read or written */
    LO_ERR_MODEL = 2,       /* the model is malformed or inconsistent */
    LO_ERR_UNSUPPORTED = 3, /* an operator, opset or dtype the engine does not run */
    LO_ERR_INPUT = 4,       /* an input tensor or file does not fit the model */
    LO_ERR_ARGUMENT = 5,    /* a bad option or argument from the caller */
    LO_ERR_ENCODINGS = 6,   /* a malformed encodings file */
    LO_ERR_NOMEM = 7,       /* out of memory, or a size beyond the limits */
    LO_ERR_INTERRUPTED = 8, /* stopped on request (observer or signal) */
    LO_ERR_RUNTIME = 9      /* a kernel found values it cannot process */
} lo_status;

/* Element types; the numbers are ONNX's TensorProto.DataType. */
typedef enum lo_dtype {
    LO_UNDEFINED = 0,
    LO_FLOAT = 1,
    LO_UINT8 = 2,
    LO_INT8 = 3,
    LO_UINT16 = 4,
    LO_INT16 = 5,
    LO_INT32 = 6,
    LO_INT64 = 7,
    LO_STRING = 8,
    LO_BOOL = 9,
    LO_FLOAT16 = 10,
    LO_DOUBLE = 11,
    LO_UINT32 = 12,
    LO_UINT64 = 13,
    LO_COMPLEX64 = 14,
    LO_COMPLEX128 = 15,
    LO_BFLOAT16 = 16,
    LO_FLOAT8E4M3FN = 17,
    LO_FLOAT8E4M3FNUZ = 18,
    LO_FLOAT8E5M2 = 19,
    LO_FLOAT8E5M2FNUZ = 20,
    LO_UINT4 = 21,
    LO_INT4 = 22,
    LO_FLOAT4E2M1 = 23,
    LO_FLOAT8E8M0 = 24, /* exponent only: 2^(e-127), 0xff is NaN (the MX scale type) */
    LO_UINT2 = 25,
    LO_INT2 = 26,
    LO_FLOAT6E2M3 = 27,
    LO_FLOAT6E3M2 = 28
} lo_dtype;

#define LO_MAX_RANK 8

typedef struct lo_error {
    lo_status status;
    char message[1024];
} lo_error;

/* A tensor lent to or by the library. For LO_STRING, data is an array of
 * NUL-terminated `const char *`. 2-, 4- and 6-bit types hold one element per
 * byte, in the byte's low bits (signed ones sign-extended). */
typedef struct lo_tensor_view {
    const char *name;
    lo_dtype dtype;
    int rank;
    const int64_t *dims;
    const void *data;
    size_t nbytes;
} lo_tensor_view;

/* What the observer is told about a captured tensor. */
typedef struct lo_layer_output {
    const char *name;      /* the tensor's name in the model (ONNX name) */
    const char *node_name; /* producing node; "" for graph inputs */
    const char *op_type;   /* producing node's op_type; "" for graph inputs */
    int iteration;         /* Loop/Scan body iteration, or -1 */
    int is_graph_input;
    const char *encoding; /* the quantization applied to it, or NULL */
    lo_tensor_view tensor;
    /* Non-NULL when the observer may keep tensor.data past the call: take a
     * hold with lo_block_hold during the call and release it, from any
     * thread, when done. (Graph inputs stay valid until the run returns.) */
    const struct lo_block *block;
    /* Made inside an If/Loop/Scan body or a model-local function's body
     * (seen only with the session option subgraphs). */
    int nested;
} lo_layer_output;

typedef struct lo_block lo_block;
typedef struct lo_hold lo_hold;
/* NULL when out of memory: then the data is valid only during the call. */
LO_API lo_hold *lo_block_hold(const lo_block *block);
LO_API void lo_hold_release(lo_hold *hold);

/* Return LO_OK to go on; anything else stops the run with that status
 * (fill err to say why). */
typedef lo_status (*lo_observer_fn)(void *user, const lo_layer_output *output, lo_error *err);

LO_API const char *lo_version(void);
/* The thread count a session uses when its options leave threads 0: the
 * cores this process may run on, less those other processes keep busy
 * right now (README, --threads). */
LO_API int lo_default_threads(void);
LO_API const char *lo_status_name(lo_status status);
LO_API const char *lo_dtype_name(lo_dtype dtype);
/* Bytes of one element (1 for the 2-, 4- and 6-bit types, which are held unpacked;
 * sizeof(char *) for strings); 0 for an unknown type. */
LO_API size_t lo_dtype_size(lo_dtype dtype);

/* ---- models ----------------------------------------------------------- */

typedef struct lo_model lo_model;

typedef enum lo_rounding_mode {
    /* roundf() on AIMET's unsigned grid, as aimet_onnx's quantize-dequantize
     * kernel does (the default: our input is what aimet_onnx exports) */
    LO_ROUNDING_HALF_AWAY = 0,
    LO_ROUNDING_HALF_EVEN = 1 /* torch.round, as aimet_torch v2 and ONNX QuantizeLinear do */
} lo_rounding_mode;

typedef struct lo_model_options {
    size_t struct_size;        /* sizeof(lo_model_options), set by lo_model_options_init */
    const char *encodings;     /* AIMET encodings file to simulate, or NULL */
    lo_rounding_mode rounding; /* how x/scale is rounded */
    int strict;                /* encodings naming tensors the model lacks: error, not warning */
} lo_model_options;

LO_API void lo_model_options_init(lo_model_options *options);
LO_API lo_status lo_model_load(const char *path, lo_model **model, lo_error *err);
LO_API lo_status lo_model_load_ex(const char *path, const lo_model_options *options, lo_model **model,
                                  lo_error *err);
/* Warnings from loading (e.g. encodings for tensors the model lacks), or "". */
LO_API const char *lo_model_warnings(const lo_model *model);
LO_API void lo_model_free(lo_model *model);

/* Graph inputs that are not initializers, in model order. A dim of -1 is
 * dynamic. */
LO_API int lo_model_input_count(const lo_model *model);
LO_API const char *lo_model_input_name(const lo_model *model, int index);
LO_API lo_dtype lo_model_input_dtype(const lo_model *model, int index);
LO_API int lo_model_input_rank(const lo_model *model, int index);
LO_API int64_t lo_model_input_dim(const lo_model *model, int index, int axis);
LO_API int lo_model_output_count(const lo_model *model);
LO_API const char *lo_model_output_name(const lo_model *model, int index);

/* ---- encodings files: what `layerout encodings` prints ---------------- */

typedef struct lo_encodings lo_encodings;

typedef enum lo_encoding_kind {
    LO_ENCODING_UNKNOWN = 0,   /* a 2.0.0 entry read without a model: the file does not say */
    LO_ENCODING_PARAM = 1,     /* a weight: an initializer, or listed under param_encodings */
    LO_ENCODING_ACTIVATION = 2 /* a tensor computed at run time, or a graph input */
} lo_encoding_kind;

typedef enum lo_encoding_granularity {
    LO_GRANULARITY_PER_TENSOR = 0,
    LO_GRANULARITY_PER_CHANNEL = 1,
    LO_GRANULARITY_PER_BLOCK = 2,
    LO_GRANULARITY_LPBQ = 3
} lo_encoding_granularity;

/* One encoding; the strings belong to the lo_encodings. */
typedef struct lo_encoding_summary {
    const char *name;     /* the tensor it is for */
    lo_encoding_kind kind;
    const char *dtype;    /* "int8", "uint4", "float16", ... */
    const char *symmetry; /* "sym", "asym", "unsigned-sym", "strict-sym"; "" for floats */
    int bitwidth;
    int is_float;         /* a float16/bfloat16 cast */
    lo_encoding_granularity granularity;
    int n_scales;
    int excluded;         /* named in excluded_layers: left as it is */
} lo_encoding_summary;

/* Reads an AIMET encodings file (0.6.1, 1.0.0, 2.0.0). With model_path
 * (else NULL) its encodings are checked against that model (per-channel
 * counts against weight shapes), which also tells a 2.0.0 file's parameters
 * from its activations. Immutable once loaded: readable from any thread. */
LO_API lo_status lo_encodings_load(const char *path, const char *model_path, lo_encodings **encodings,
                                   lo_error *err);
LO_API const char *lo_encodings_version(const lo_encodings *encodings);
LO_API int lo_encodings_count(const lo_encodings *encodings);
LO_API void lo_encodings_get(const lo_encodings *encodings, int index, lo_encoding_summary *summary);
/* The names under excluded_layers. */
LO_API int lo_encodings_excluded_count(const lo_encodings *encodings);
LO_API const char *lo_encodings_excluded(const lo_encodings *encodings, int index);
/* With a model: the names the encodings give that the model lacks (a
 * message), or NULL when it has them all. */
LO_API const char *lo_encodings_missing(const lo_encodings *encodings);
LO_API void lo_encodings_free(lo_encodings *encodings);

/* ---- sessions: run a model, observe every layer ----------------------- */

typedef struct lo_session lo_session;

typedef struct lo_session_options {
    size_t struct_size; /* sizeof(lo_session_options), set by lo_session_options_init */
    int threads; /* 0: the cores not kept busy by other processes (README, --threads) */
    int profile; /* time every node (see lo_session_profile) */
    size_t max_memory; /* bound on the bytes of tensors held at once; 0: none */
    /* 0 (default): the observer sees graph inputs and top-level node outputs
     * only, as AIMET saves them; 1: also the tensors made inside If/Loop/Scan
     * bodies and model-local function bodies (output->nested set) */
    int subgraphs;
    int reference_kernels; /* run every operator's plain reference loops instead of
                              its fast path (oneDNN, vectorised rows): slower, for
                              checking a fast kernel by comparing the two runs */
    /* 1 (default, set by lo_session_options_init): fuse what no observer
     * sees (README, "Fusion"); 0: run every node by itself, to compare or
     * time the two. reference_kernels implies 0. */
    int fusion;
} lo_session_options;

LO_API void lo_session_options_init(lo_session_options *options);
/* The session keeps a reference to the model: free the session first.
 * Sessions of one model share its kernels' caches: run them one at a time. */
LO_API lo_status lo_session_create(lo_model *model, const lo_session_options *options,
                            lo_session **session, lo_error *err);
/* inputs: one per model input, in model order, or matched by name when every
 * view has a name. observer may be NULL. */
LO_API lo_status lo_session_run(lo_session *session, const lo_tensor_view *inputs, int n_inputs,
                         lo_observer_fn observer, void *user, lo_error *err);
/* With options.profile: a report of the runs so far (time per node and per
 * op type, GFLOP/s of Conv, ConvTranspose, Gemm and MatMul), or NULL.
 * malloc'd; the caller frees it. */
LO_API char *lo_session_profile(const lo_session *session);
/* Asks the session's run in progress to stop before its next node: that run
 * returns LO_ERR_INTERRUPTED ("interrupted"). Callable from any thread and
 * from a signal handler; with no run in progress, the next run stops at its
 * start. */
LO_API void lo_session_interrupt(lo_session *session);
LO_API void lo_session_free(lo_session *session);

/* ---- generators: AIMET's LayerOutputUtil ------------------------------ */

/* RAW and NPY: one file per tensor per sample (AIMET's layout); SAFETENSORS:
 * one file per sample holding all its tensors (README, "Output format"). */
typedef enum lo_format { LO_FORMAT_RAW = 0, LO_FORMAT_NPY = 1, LO_FORMAT_SAFETENSORS = 2 } lo_format;
typedef enum lo_dir_mode {
    LO_DIR_NEW = 0,       /* refuse a non-empty directory */
    LO_DIR_OVERWRITE = 1, /* replace what a directory holds */
    LO_DIR_APPEND = 2     /* continue after the last complete sample */
} lo_dir_mode;

/* How saved files are named (see README, "Naming schemes"). */
typedef enum lo_naming {
    LO_NAMING_ONNX = 0,       /* ONNX tensor names, \W+ -> _ (AIMET's ONNX scheme) */
    LO_NAMING_QNN = 1,        /* as Qualcomm's QNN converter names tensors */
    LO_NAMING_PYTORCH = 2,    /* PyTorch leaf-module names, one file per module call */
    LO_NAMING_TORCHSCRIPT = 3 /* TorchScript value names, from a name map */
} lo_naming;

typedef struct lo_generator_options {
    size_t struct_size; /* sizeof(lo_generator_options), set by lo_generator_options_init */
    lo_format format;
    lo_dir_mode mode;
    lo_model_options model;     /* encodings to simulate */
    lo_session_options session; /* threads, profile (see lo_generator_profile), max_memory,
                                   subgraphs (--subgraphs: also save tensors inside
                                   If/Loop/Scan and function bodies), reference_kernels,
                                   fusion (--no-fusion turns it off) */
    lo_naming naming;
    const char *name_map; /* JSON object: ONNX tensor name -> name to use; or NULL */
    int all_tensors;      /* pytorch scheme: keep tensors of no module under ONNX names */
    const char *layers;   /* POSIX extended regex: save only tensors whose ONNX name or file
                             name matches; NULL saves all */
    const char *op_types; /* comma-separated op types: save only their outputs; NULL: all */
    int input_folder;     /* write inputs/input_K/0.raw even for one input, as AIMET does
                             when its caller passes a list */
    /* Sharding (see "shards" below): with shard_count > 0 this generator
     * writes only the samples L of a list of shard_samples with
     * L % shard_count == shard_index, each as sample L, beside the other
     * shards' in the same folder; lo_merge then writes the index files. */
    int shard_index;
    int shard_count;
    int shard_samples;
} lo_generator_options;

typedef struct lo_generator lo_generator;

LO_API void lo_generator_options_init(lo_generator_options *options);
LO_API lo_status lo_generator_create(const char *model_path, const char *dir,
                              const lo_generator_options *options, lo_generator **generator,
                              lo_error *err);
/* Runs one input instance and writes it as the next sample K. */
LO_API lo_status lo_generator_generate(lo_generator *generator, const lo_tensor_view *inputs,
                                int n_inputs, lo_error *err);
/* Number of complete samples in the directory (including earlier runs');
 * for a shard, its own complete samples. */
LO_API int lo_generator_sample_count(const lo_generator *generator);
/* Number of tensors each sample saves: the names layer_output_name_order.json
 * lists once a sample is written. */
LO_API int lo_generator_layer_count(const lo_generator *generator);
/* The number of the sample the next lo_generator_generate writes: the
 * sample count, or for a shard its next sample not yet complete (-1 when the
 * shard is done). */
LO_API int lo_generator_next_sample(const lo_generator *generator);
LO_API const lo_model *lo_generator_model(const lo_generator *generator);
/* With options.session.profile: the session's profile report plus the time spent
 * writing files; malloc'd, or NULL. */
LO_API char *lo_generator_profile(const lo_generator *generator);
LO_API void lo_generator_free(lo_generator *generator);

/* ---- input files: what `layerout generate -i` and --input-list read ---- */

/* The shape of a raw input file whose declared dims are dynamic. */
typedef struct lo_input_shape {
    const char *name; /* the model input */
    int rank;
    int64_t dims[LO_MAX_RANK];
} lo_input_shape;

/* One sample's inputs, read from files, in the model's input order. */
typedef struct lo_sample lo_sample;

/* Reads one file per model input: names[i] NULL takes paths[i] as the next
 * input by position, else as the input named names[i] (names may be NULL).
 * Files: .npy (dtype and shape checked), .pb (an ONNX TensorProto, or a
 * SequenceProto / OptionalProto for an input declared as a sequence or
 * optional), anything else raw bytes of the input's declared dtype and
 * shape, dynamic dims taken from shapes (the input named there). Fails
 * (LO_ERR_INPUT) on a count, name or file that does not fit the model;
 * nothing is left to free then. */
LO_API lo_status lo_sample_read(const lo_model *model, int n_files, const char *const *names,
                                const char *const *paths, const lo_input_shape *shapes, int n_shapes,
                                lo_sample **sample, lo_error *err);
/* Input i as a view, valid while the sample lives; returns 0 (and a view
 * without data) when the input is a sequence or optional, which a view
 * cannot express, else 1. */
LO_API int lo_sample_view(const lo_sample *sample, int i, lo_tensor_view *view);
/* lo_generator_generate on a sample read for the generator's model; inputs
 * that are sequences or optionals are taken too (only tensor inputs get a
 * file under inputs/). */
LO_API lo_status lo_generator_generate_sample(lo_generator *generator, const lo_sample *sample, lo_error *err);
LO_API void lo_sample_free(lo_sample *sample);

/* Qualcomm's input_list.txt: one sample per line, paths in input order or
 * NAME:=PATH pairs, '#' comments and blank lines skipped; a relative path is
 * taken from the current folder, else from the list's folder. */
typedef struct lo_input_list lo_input_list;
LO_API lo_status lo_input_list_load(const char *path, lo_input_list **list, lo_error *err);
LO_API int lo_input_list_samples(const lo_input_list *list);
/* Sample k's files: returns their count and points *names (entries NULL
 * when given by position) and *paths at them, valid while the list lives;
 * -1 for a k out of range. */
LO_API int lo_input_list_files(const lo_input_list *list, int k, const char *const **names,
                               const char *const **paths);
LO_API void lo_input_list_free(lo_input_list *list);

/* ---- comparing two dumps: what `layerout compare` does ----------------- */

typedef struct lo_compare_settings {
    size_t struct_size; /* sizeof(lo_compare_settings), set by lo_compare_settings_init */
    const char *model;  /* the model both dumps come from (shapes, producers), or NULL */
    double sqnr_min;    /* dB: a layer below it fails (default 30) */
    double drop_db;     /* dB: a sharp drop from a layer's inputs is flagged (default 20) */
    FILE *text;         /* the terminal table `layerout compare` prints goes here, after the
                         * files are written (default NULL: not printed) */
    int top;            /* that table's N worst tensors; 0 lists all in graph order (default 20) */
} lo_compare_settings;

LO_API void lo_compare_settings_init(lo_compare_settings *settings);
/* Compares two dumps (layerout, AIMET or QNN output folders) tensor by
 * tensor and writes the report in each format given a path (NULL: not
 * written; files appear whole or not at all), then settings.text's table:
 * the JSON is what `layerout compare --json` writes. *failing (may be NULL) receives the number of
 * layers below sqnr_min or not comparable. Thread-safe: no shared state. */
LO_API lo_status lo_compare_dumps(const char *reference, const char *test, const lo_compare_settings *settings,
                                  const char *json_path, const char *csv_path, const char *html_path,
                                  int *failing, lo_error *err);

/* ---- analyze: where quantization loses accuracy (`layerout analyze`) --- */

typedef struct lo_analyze_options {
    size_t struct_size;              /* sizeof(lo_analyze_options), set by lo_analyze_options_init */
    const char *encodings;           /* the AIMET encodings (required) */
    lo_rounding_mode rounding;       /* as lo_model_options.rounding (default half-away) */
    int threads;                     /* kernel threads (0: the default of lo_session_options) */
    /* the samples: n_inputs files (as lo_sample_read takes them) or an input list */
    int n_inputs;
    const char *const *input_names;
    const char *const *input_paths;
    const char *input_list;
    const lo_input_shape *shapes;
    int n_shapes;
    const char *output;              /* keep the dumps: OUTPUT/float, OUTPUT/quant, OUTPUT/isolated
                                      * (NULL: a temporary folder, removed afterwards) */
    int overwrite;                   /* replace dumps already in OUTPUT */
    double sqnr_min;                 /* dB threshold (default 30) */
    const char *csv, *json, *html;   /* reports to write, or NULL */
    FILE *text;                      /* the terminal tables go here (default NULL: not printed) */
    int top;                         /* rows of those tables (default 20; 0: all) */
    FILE *warnings;                  /* the encodings' warnings go here (default NULL: not printed) */
} lo_analyze_options;

LO_API void lo_analyze_options_init(lo_analyze_options *options);
/* Runs the model as float, as quantized by options.encodings, and each
 * layer quantized on the float layer's inputs (isolated), on every sample,
 * and compares both quantized dumps with the float one layer by layer: the
 * cumulative SQNR says where accuracy is lost, the isolated one which
 * layer's encodings lose it. *failing (may be NULL) receives the number of
 * layers whose cumulative SQNR is below sqnr_min or not comparable. */
LO_API lo_status lo_analyze(const char *model, const lo_analyze_options *options, int *failing, lo_error *err);

/* ---- extract: a repro pack for one tensor of a dump ------------------- */

/* What lo_extract writes into options.output (a folder, made whole or not
 * at all: it is composed as OUTPUT.partial and renamed):
 *   model.onnx      the smallest model computing `tensor` (or, with `to`, the
 *                   subgraph from tensor's producer to `to`) from tensors the
 *                   dump holds, initializers and Constant nodes; original names
 *   inputs/F.raw    those tensors of sample `sample`, F the dump's file name
 *   input_list.txt  one line, the inputs' paths in model input order (QNN's format)
 *   expected/F.raw  the dump's value of the target
 *   encodings.json  options.encodings restricted to the pack's tensors
 *   README.md       how to run it with layerout generate and qnn-net-run */
typedef struct lo_extract_options {
    size_t struct_size;    /* sizeof(lo_extract_options), set by lo_extract_options_init */
    const char *model;     /* the model the dump was made from */
    const char *dump;      /* the dump folder (layerout's or AIMET's layout) */
    const char *tensor;    /* ONNX tensor name, or the dump's file name for it */
    const char *to;        /* NULL, or a tensor downstream of `tensor` */
    int sample;            /* the dump's sample to take (default 0) */
    const char *encodings; /* the encodings the dump was made with, or NULL */
    const char *output;    /* the pack folder */
    int overwrite;         /* replace an existing pack folder */
} lo_extract_options;

typedef struct lo_extract_result {
    int n_nodes, n_inputs, n_initializers;
    char target_file[512]; /* the target's file name in the dump (no extension) */
} lo_extract_result;

LO_API void lo_extract_options_init(lo_extract_options *options);
/* LO_ERR_ARGUMENT for an unknown tensor, one the dump does not hold, a sample
 * out of range or a pack folder already there; nothing is left behind on
 * any failure. result may be NULL. */
LO_API lo_status lo_extract(const lo_extract_options *options, lo_extract_result *result, lo_error *err);

/* ---- shards: one dataset over many processes or machines -------------- *
 *
 * Shard K of N of a list writes samples K, K+N, K+2N, ... (line L of the
 * list is sample L) into a folder that the other shards may write at the
 * same time: each sample appears whole, by a rename, and the shards share a
 * lock on the folder that plain writers respect (a plain generator and a
 * shard, or two processes on one shard, refuse each other with a message
 * naming the other's host and pid). A folder of shards has no manifest until
 * lo_merge writes one. A shard stopped midway is finished by running it
 * again with LO_DIR_APPEND. */

typedef struct lo_merge_result {
    int samples;   /* samples in the merged dump */
    int moved;     /* samples moved by a rename from another folder */
    int copied;    /* samples copied (the folders are on different file systems) */
} lo_merge_result;

/* Checks that the shards in dirs hold every sample of their run, whole, and
 * writes layer_output_name_order.json and manifest.json: the dump one process
 * would have written. out_dir NULL merges dirs[0] in place (n_dirs 1);
 * otherwise the samples are moved (renamed when on the same file system)
 * from every folder into out_dir. Missing samples fail with their numbers
 * and the shards to run again; the folders are left as they were. result
 * may be NULL. */
LO_API lo_status lo_merge(const char *const *dirs, int n_dirs, const char *out_dir, lo_merge_result *result,
                          lo_error *err);

#ifdef __cplusplus
}
#endif
#endif
