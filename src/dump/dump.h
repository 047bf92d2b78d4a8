/* Dumps: file names for tensors, tensor files (.raw, .npy, .pb), input
 * lists, and the generator that writes AIMET's layer-output layout. */
#ifndef LO_DUMP_H
#define LO_DUMP_H

#include <jansson.h>

#include "../graph/graph.h"

/* AIMET's file-name rule, re.sub(r'\W+', '_', name): every run of characters
 * that are not letters, digits or '_' becomes one '_'. Letters beyond ASCII
 * count as word characters, as in Python. The result never holds '/', '.'
 * or a NUL, so it cannot leave the folder it is written in. Names longer
 * than a file system allows are cut and given a hash suffix. malloc'd. */
char *lo_sanitize_name(const char *name);
/* The file stem aimet_onnx gives an ONNX tensor name: "_updated" removed,
 * then sanitized (naming.c). */
char *lo_sanitize_onnx(const char *name);

/* QNN's converter rule: AIMET's, then a leading '_' unless the name starts
 * with a letter. malloc'd. */
char *lo_sanitize_qnn(const char *name);

/* ---- naming schemes ------------------------------------------------------------ */

typedef struct lo_namer lo_namer;

/* Prepares a naming scheme for a model (the pytorch scheme recovers module
 * names and calls from node names or metadata here). name_map may be NULL. */
lo_status lo_namer_create(const lo_model_ir *model, lo_naming scheme, const char *name_map,
                          bool all_tensors, lo_namer **namer, lo_error *err);
/* The file stem (malloc'd) for a captured tensor, or false when the scheme
 * leaves it out. *note, when set, says what the file holds beyond the
 * tensor's name (for the manifest), e.g. "module layer1.0.relu, call 1 of 2". */
bool lo_namer_stem(const lo_namer *namer, const char *tensor_name, int iteration, char **stem,
                   const char **note);
void lo_namer_free(lo_namer *namer);

/* ---- tensor files --------------------------------------------------------- */

/* Reads an input tensor. Format by extension: .npy, .pb, anything else raw.
 * A raw file needs dtype and shape (want_*); .npy and .pb files are checked
 * against them when want_rank >= 0 (dims of -1 match anything). For a
 * bfloat16 input, uint16 data is taken as bfloat16 (the same bits).
 * The tensor's data is malloc'd. */
lo_status lo_read_tensor_file(const char *path, lo_dtype want_dtype, int want_rank,
                              const int64_t *want_dims, lo_tensor *out, lo_error *err);

/* Reads an ONNX SequenceProto (container 's') or OptionalProto ('o') .pb
 * file into a sequence (LO_KIND_SEQUENCE), a tensor (an optional holding
 * one), or LO_KIND_NONE (an empty optional). elem, when not 0, is the
 * declared type of the tensors in it, which they must have (bfloat16 stored
 * as uint16 is taken as bfloat16). Sequences of tensors only. */
lo_status lo_read_container_file(const char *path, char container, lo_dtype elem, lo_tensor *out, lo_error *err);

/* A .npy file's header: what it holds and where its data starts. */
typedef struct lo_npy_header_info {
    lo_dtype dtype;
    int rank;
    int64_t dims[LO_MAX_RANK];
    size_t nbytes;      /* the data's size, which the file's length was checked against */
    size_t data_offset; /* the data starts here */
} lo_npy_header_info;

/* Parses and checks the header of a .npy image held in memory. */
lo_status lo_npy_parse(const uint8_t *bytes, size_t len, lo_npy_header_info *info, lo_error *err);
/* Parses a .npy image held in memory into a tensor (data copied). */
lo_status lo_npy_decode(const uint8_t *bytes, size_t len, lo_tensor *out, lo_error *err);
/* The .npy header for a tensor (v1.0), into buf; returns its length, 0 if
 * the dtype has no numpy equivalent. */
size_t lo_npy_header(lo_dtype dtype, int rank, const int64_t *dims, char *buf, size_t size);
/* numpy's name for a dtype ("float32", "int64", "bool", ...). */
const char *lo_numpy_name(lo_dtype dtype);

/* Writes bytes to path through path.tmp + fsync + rename, so the file is
 * either absent, the old one, or complete. */
lo_status lo_write_file_atomic(const char *path, const void *data, size_t len, lo_error *err);

/* Writes a whole tensor to dirfd/file (.raw bytes, or .npy with header),
 * reporting the OS error with dirpath/file. */
lo_status lo_write_tensor_at(int dirfd, const char *dirpath, const char *file, lo_format format,
                             const lo_tensor_view *t, lo_error *err);

/* Removes a file or a folder tree; symlinks are removed, not followed. */
lo_status lo_remove_tree(const char *path, lo_error *err);

/* ---- safetensors containers (safetensors.c) -------------------------------------- */

/* safetensors' name for a dtype ("F32", "BF16", ...), NULL when it has none. */
const char *lo_st_dtype_name(lo_dtype dtype);

typedef struct lo_st_writer lo_st_writer;
/* Creates dirfd/file, its data starting after reserve bytes (the header's
 * expected size: it is padded to fill them, or the data moves up once). */
lo_status lo_st_create(int dirfd, const char *dirpath, const char *file, size_t reserve, lo_st_writer **w,
                       lo_error *err);
/* Records tensor key (onnx_name goes to __metadata__; NULL: none) and sets
 * *at to where its bytes go; refuses a dtype safetensors has no name for,
 * naming the tensor. One thread at a time. */
lo_status lo_st_add(lo_st_writer *w, const char *key, const char *onnx_name, const lo_tensor_view *t, uint64_t *at,
                    lo_error *err);
/* Writes a tensor's bytes at the place lo_st_add gave; any thread. */
lo_status lo_st_write(lo_st_writer *w, uint64_t at, const lo_tensor_view *t, lo_error *err);
/* Writes the header and closes the file; *header_size (may be NULL) is the
 * header's own size, for the next file's reserve. */
lo_status lo_st_finish(lo_st_writer *w, size_t *header_size, lo_error *err);
/* Frees (closing an unfinished file, which the caller removes). Accepts NULL. */
void lo_st_free(lo_st_writer *w);
/* A whole container of n tensors at once, tensor i under keys[i]. */
lo_status lo_st_write_file(int dirfd, const char *dirpath, const char *file, const lo_tensor_view *t,
                           const char *const *keys, int n, lo_error *err);

/* A safetensors file's header, checked against the file's size. */
typedef struct lo_st_entry {
    char *key;
    lo_dtype dtype;
    int rank;
    int64_t dims[LO_MAX_RANK];
    uint64_t begin, end; /* the data's offsets in the file */
} lo_st_entry;
typedef struct lo_st_index {
    int n;
    lo_st_entry *entries;
    json_t *by_key;   /* key -> entry index */
    json_t *metadata; /* __metadata__, or NULL */
} lo_st_index;
lo_status lo_st_read_index(const char *path, lo_st_index *index, lo_error *err);
const lo_st_entry *lo_st_find(const lo_st_index *index, const char *key);
void lo_st_index_free(lo_st_index *index);

/* ---- the background writer --------------------------------------------------------- */

typedef struct lo_writer lo_writer;

/* bound: the most tensor bytes held for writing at once. */
lo_status lo_writer_create(size_t bound, lo_writer **writer, lo_error *err);
/* Starts a sample: files go to dirfd (dirpath names it in messages).
 * defer: the writer thread waits while the sample runs (until
 * lo_writer_finish, or half the bound queued), the sample's files then
 * written by it and the finishing thread together: where the kernels take
 * every core, a writer writing beside them displaces a member of their team
 * at every barrier. */
void lo_writer_begin(lo_writer *w, int dirfd, const char *dirpath, lo_format format, bool defer);
/* With the safetensors format, after lo_writer_begin: the sample's tensors
 * go into st (keyed by their file names) until lo_writer_finish. */
void lo_writer_container(lo_writer *w, lo_st_writer *st);
/* Queues a captured tensor (or writes it now when it cannot be held). */
lo_status lo_writer_put(lo_writer *w, const char *file, const lo_layer_output *o, lo_error *err);
/* Waits until everything queued is written; the first write error, if any. */
lo_status lo_writer_finish(lo_writer *w, lo_error *err);
/* Seconds spent writing files so far, summed over the threads that did
 * (the writer's, and producers that write when it lags). */
double lo_writer_seconds(lo_writer *w);
void lo_writer_free(lo_writer *w);

/* ---- generators driven by another run ------------------------------------------ */

/* A run that feeds a generator: it must call observer(observer_user, ...)
 * for the tensors to save, as lo_session_run does. session is the
 * generator's own. */
typedef lo_status (*lo_run_fn)(void *run_user, lo_session *session, const lo_tensor_view *inputs, int n_inputs,
                               lo_observer_fn observer, void *observer_user, lo_error *err);
/* lo_generator_generate, with the tensors coming from run instead of a
 * plain run of the generator's model (analyze's isolated run). */
lo_status lo_generator_generate_run(lo_generator *g, const lo_tensor_view *inputs, int n_inputs, lo_run_fn run,
                                    void *run_user, lo_error *err);
lo_session *lo_generator_session(lo_generator *g);
/* lo_generator_generate for inputs (in model order) that may be sequences
 * or optionals (lo_tensor kinds), which lo_tensor_view cannot express. Only
 * tensor inputs get a file under inputs/. */
lo_status lo_generator_generate_values(lo_generator *g, const lo_tensor *inputs, int n_inputs, lo_error *err);

/* ---- the folder protocol (lock.c, merge.c) ---------------------------------------- */

/* A lock on a dump folder (see lock.c): exclusive for a plain writer or a
 * merge, shared among the shards of one sharded run. */
typedef struct lo_folder_lock lo_folder_lock;
/* Takes it, or fails with a message naming the writer that holds it. what:
 * the command, for that message ("generate --append", "merge", ...).
 * take_over (exclusive only): an exclusive lock this process already holds
 * on the folder passes to the new one, and the old is revoked. */
lo_status lo_folder_lock_take(const char *dir, bool exclusive, bool take_over, const char *what,
                              lo_folder_lock **lock, lo_error *err);
/* Whether a newer lock of this process took this one over. */
bool lo_folder_lock_revoked(lo_folder_lock *lock);
/* The shards' short mutex around the plan (blocking). */
lo_status lo_folder_lock_mutex(lo_folder_lock *lock, bool on, lo_error *err);
/* Claims shard index of count for this process, or names its writer. */
lo_status lo_folder_lock_shard(lo_folder_lock *lock, int index, int count, lo_error *err);
/* Releases; the last holder removes the lock file. Accepts NULL. */
void lo_folder_lock_release(lo_folder_lock *lock);
/* "'layerout WHAT', pid P on host H, started T". */
void lo_folder_describe(const char *what, char *buf, size_t size);

/* A sharded run keeps its state in DIR/.layerout/: plan.json (what every
 * shard must agree on, and the manifest's head) and samples/L.json (sample
 * L's saved tensors, in the order it saw them, with each file's size). */
#define LO_SHARD_STATE ".layerout"
/* The shard count of a plan file, or 0. */
int lo_plan_shard_count(const char *plan_path);
/* Stages and commits DIR's layer_output_name_order.json and manifest.json
 * (both objects are consumed), the name-order file first. */
lo_status lo_dump_write_index(const char *dir, json_t *order, json_t *manifest, lo_error *err);

/* ---- the dump's layout (layout.c): every name in a dump folder ------------------ *
 *   DIR/layer_output_name_order.json   the tensors' file names in graph order (AIMET's)
 *   DIR/manifest.json                  what the dump holds (schema LO_DUMP_SCHEMA); last
 *   DIR/inputs/input_K[.raw|.npy]      sample K's input (a folder of files for several)
 *   DIR/outputs/layer_outputs_K/       sample K's tensors
 * or, with the safetensors format, one file for each:
 *   DIR/inputs/input_K.safetensors     sample K's inputs, under the model's input names
 *   DIR/outputs/layer_outputs_K.safetensors  sample K's tensors, under their file stems
 * A sample folder or input file is first composed as a hidden ".NAME.partial"
 * beside its final name, and an index file as NAME.tmp. */
#define LO_DUMP_ORDER "layer_output_name_order.json"
#define LO_DUMP_MANIFEST "manifest.json"
#define LO_DUMP_INPUTS "inputs"
#define LO_DUMP_OUTPUTS "outputs"
#define LO_DUMP_SAMPLE_PREFIX "layer_outputs_"
#define LO_DUMP_INPUT_PREFIX "input_"
/* The manifest's "schema" number: raised when a reader of the previous one
 * would misread it. A manifest without one is schema 1. */
#define LO_DUMP_SCHEMA 1
/* "outputs/layer_outputs_K" and "inputs/input_K" + ext (NULL: none) into
 * buf; false when it does not fit. */
bool lo_dump_sample_dir(char *buf, size_t size, int sample);
bool lo_dump_input_path(char *buf, size_t size, int sample, const char *ext);
/* Whether a name in inputs/ or outputs/ is sample K's published folder or input file. */
bool lo_dump_is_sample_name(const char *name);
#define LO_DUMP_CONTAINER_EXT ".safetensors"
/* Sample K's published outputs: the folder, or with the safetensors format
 * "outputs/layer_outputs_K.safetensors"; false when it does not fit. */
bool lo_dump_sample_path(char *buf, size_t size, int sample, lo_format format);
/* A tensor file's extension (".raw", ".npy"); "" for safetensors, whose
 * tensors are keyed by their bare stems. */
const char *lo_dump_tensor_ext(lo_format format);
/* The manifest's name of a format, and back (-1: unknown). */
const char *lo_dump_format_name(lo_format format);
int lo_dump_format_parse(const char *name);

/* ---- input lists (Qualcomm's input_list.txt) ------------------------------------ */

/* The public lo_input_list (layerout.h), whose contents the library reads. */
struct lo_input_list {
    int n_samples;
    int *n_files;   /* per sample */
    char ***names;  /* per sample: input name per file, or NULL entries */
    char ***paths;  /* per sample: file paths */
};

lo_status lo_input_list_parse(const char *path, lo_input_list *list, lo_error *err);
void lo_input_list_clear(lo_input_list *list);

#endif
