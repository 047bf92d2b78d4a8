/* The layer-output generator: AIMET's LayerOutputUtil layout, written so
 * that a sample is either complete or absent.
 *
 * A sample's files go to hidden ".partial" folders that are renamed into
 * place when the run succeeded; then layer_output_name_order.json and
 * manifest.json are replaced atomically. A dump whose manifest counts K
 * samples holds samples 0..K-1 complete. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <omp.h>
#include <openssl/evp.h>
#include <regex.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../exec/exec.h"
#include "../util/util.h"
#include "dump.h"

static bool would_save(void *user, const lo_layer_output *o);

enum { TRIAL_NONE, TRIAL_FEWER, TRIAL_DEFER }; /* adapt_threads */

/* The run loop's public side is all the generator needs. */

typedef struct saved_tensor {
    char *file; /* stem, without extension */
    char *name; /* ONNX name (with __iterN for loop bodies) */
    char *node;
    char *op_type;
    lo_dtype dtype;
    int rank;
    int64_t dims[LO_MAX_RANK];
    int iteration;
    char *encoding; /* the quantization applied, or NULL */
    char *note;     /* what the file holds under the naming scheme, or NULL */
    char *base;     /* the stem the scheme gave, before a clash suffix (for merge's check) */
    bool nested;    /* inside a control-flow or function body (--subgraphs) */
} saved_tensor;

struct lo_generator {
    lo_model *model;
    lo_session *session;
    char *dir;
    char *model_path;
    char sha256[65];
    lo_generator_options opt;
    lo_namer *namer;
    lo_writer *writer;
    bool has_layers;
    regex_t layers; /* --layers */
    char *op_types; /* --op-types, as ",A,B," for whole-word search */
    int samples; /* complete samples in the directory */
    int n_saved, cap_saved;
    saved_tensor *saved;
    /* per-run state */
    int dirfd;     /* the sample's partial outputs folder */
    bool *seen;    /* which saved entries this run wrote, to catch repeated names */
    lo_error *err;
    /* the folder protocol: the lock, and a sharded run's own samples */
    lo_folder_lock *lock;
    bool sharded;
    bool *shard_done;  /* per sample of the list: complete in the folder */
    int shard_complete; /* how many of this shard's samples are complete */
    size_t st_reserve;  /* the last safetensors header's size */
    int *sample_order; /* this sample's saved entries, in the order first seen */
    int n_sample_order;
    int timed_samples;                    /* samples adapt_threads has seen; -1 once it decided */
    int trial;                            /* what it tries: TRIAL_* */
    double seconds_default, seconds_trial; /* its timed samples, as the run started and in the trial */
    double seconds_writing;                /* the writing in the first timed samples */
    bool defer;                           /* the writer waits while a sample runs (lo_writer_begin) */
    int deferred_from;                    /* the first sample of those written so, kept; -1: none */
    /* The manifest as write_index last wrote it, without its sample count
     * (ending in "\n}"), while nothing it lists has changed since: a sample
     * that only adds one to the count rewrites the manifest from it instead
     * of building and dumping the whole index again (0.9 ms a sample for
     * vit_small's 202 tensors, the writer idle meanwhile), and leaves the
     * name-order file as it is. NULL: write both files in full. */
    char *index_text;
    size_t index_len;
    int saved_hint; /* where saved_entry looks first */
    int generated;  /* samples this generator wrote */
};

/* Forgets the cached index: something write_index lists changed. */
static void index_changed(lo_generator *g) {
    free(g->index_text);
    g->index_text = NULL;
}

/* A list of samples tries how it is written fastest, whole samples timed
 * (kernels, saving, waiting for the writer), and keeps the faster way.
 * Samples 1-2 are timed as the run starts: the writer thread writing beside
 * the kernels. Then one trial, on the next samples:
 * - with the default thread count, when writing took at least half their
 *   time, one kernel thread less (samples 4-5; sample 3 builds the kernels
 *   again for the new count: their caches are keyed by it). While every
 *   layer is saved the writer thread needs a core, and a kernel team as wide
 *   as the machine fights it for one: each member it displaces holds up
 *   every barrier. 32 samples, every layer saved, tmpfs, 2 cores, --threads
 *   1 against 2: mobilenet_v2 0.57-0.61 against 0.68-0.79 s, vit_small
 *   0.48-0.50 against 0.52-0.54, llama_small 0.25-0.26 against 0.31-0.40,
 *   efficientnet_b0 0.93-0.95 against 0.98-1.01;
 * - else, when the kernels take every core, the writer thread waiting while
 *   a sample runs and writing its files after it with the thread that ran
 *   it (lo_writer_begin's defer; samples 3-4): the kernels keep their cores, and the
 *   writing no longer overlaps them. resnet18, which writes a third of its
 *   time, with 2 threads: 0.89-0.98 s against 0.98-1.13, the kernels 20.2
 *   ms a sample against 30.2; vit_small with --threads 2 it would slow down
 *   (0.73 s against 0.50: the writing, 15 ms a sample, does not split over
 *   two threads), so the trial keeps it off there. */
static void adapt_threads(lo_generator *g, double sample_seconds, double writing_seconds) {
    if (g->timed_samples < 0) return;
    int k = g->timed_samples++;
    bool forced = g->opt.session.threads > 0;
    if (k == 1 || k == 2) {
        g->seconds_default += sample_seconds;
        g->seconds_writing += writing_seconds;
    }
    int threads = lo_session_threads(g->session);
    if (k == 2) {
        if (!forced && threads > 1 && g->seconds_writing >= 0.5 * g->seconds_default) {
            lo_session_set_threads(g->session, threads - 1);
            g->trial = TRIAL_FEWER;
        } else if (threads >= 2 && threads >= omp_get_num_procs() && g->seconds_writing > 0) {
            g->defer = true;
            g->trial = TRIAL_DEFER;
        } else {
            g->timed_samples = -1;
        }
        return;
    }
    if (g->trial == TRIAL_FEWER && (k == 4 || k == 5)) g->seconds_trial += sample_seconds;
    if (g->trial == TRIAL_DEFER && (k == 3 || k == 4)) g->seconds_trial += sample_seconds;
    if (g->trial == TRIAL_FEWER && k == 5) {
        if (g->seconds_trial >= g->seconds_default) lo_session_set_threads(g->session, threads + 1);
        g->timed_samples = -1;
    } else if (g->trial == TRIAL_DEFER && k == 4) {
        if (g->seconds_trial >= g->seconds_default) g->defer = false;
        else g->deferred_from = g->generated - 2; /* the trial's first sample */
        g->timed_samples = -1;
    }
}

/* The most tensor bytes the background writer holds at once: the memory a
 * dump needs beyond plain inference. */
#define WRITE_QUEUE_BYTES ((size_t)256 << 20)

static const char *const scheme_names[] = {"onnx", "qnn", "pytorch", "torchscript"};

/* ---- small file helpers ------------------------------------------------------ */

static lo_status make_dir(const char *path, lo_error *err) {
    if (mkdir(path, 0755) == 0 || errno == EEXIST) {
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return LO_OK;
        return lo_fail(err, LO_ERR_IO, "'%s' exists and is not a folder", path);
    }
    return lo_fail(err, LO_ERR_IO, "cannot create folder '%s': %s", path, strerror(errno));
}

static lo_status make_dirs(const char *path, lo_error *err) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return lo_fail(err, LO_ERR_IO, "path too long: '%s'", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return lo_fail(err, LO_ERR_IO, "cannot create folder '%s': %s", buf, strerror(errno));
            *p = '/';
        }
    return make_dir(buf, err);
}

/* Removes a file or a folder tree (no symlink is followed). */
lo_status lo_remove_tree(const char *path, lo_error *err) {
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? LO_OK : lo_fail(err, LO_ERR_IO, "cannot remove '%s': %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d) return lo_fail(err, LO_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
        struct dirent *e;
        lo_status s = LO_OK;
        while (s == LO_OK && (e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char child[4096];
            snprintf(child, sizeof child, "%s/%s", path, e->d_name);
            s = lo_remove_tree(child, err);
        }
        closedir(d);
        if (s != LO_OK) return s;
        if (rmdir(path) != 0) return lo_fail(err, LO_ERR_IO, "cannot remove '%s': %s", path, strerror(errno));
        return LO_OK;
    }
    if (unlink(path) != 0) return lo_fail(err, LO_ERR_IO, "cannot remove '%s': %s", path, strerror(errno));
    return LO_OK;
}

/* Whether a folder holds anything but the empty inputs/ and outputs/ folders
 * and hidden leftovers that a failed first sample leaves. Without either
 * JSON file no sample was ever complete (they are written after a sample is
 * moved into place), so a published first sample is a leftover too: a run
 * killed between the two can be started again, or resumed with --append. */
static bool dir_is_empty_at(const char *path, int depth, bool no_index) {
    DIR *d = opendir(path);
    if (!d) return true;
    struct dirent *e;
    bool empty = true;
    while (empty && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (depth == 1 && e->d_name[0] == '.' && strstr(e->d_name, ".partial")) continue;
        if (depth == 1 && no_index && lo_dump_is_sample_name(e->d_name)) continue;
        /* staged index files (and their own temporaries) of a killed run */
        /* the folder's lock, and a sharded run's state (looked at on its own) */
        if (depth == 0 && (!strcmp(e->d_name, ".layerout.lock") || !strcmp(e->d_name, LO_SHARD_STATE))) continue;
        if (depth == 0 && (!strncmp(e->d_name, LO_DUMP_MANIFEST ".tmp", sizeof LO_DUMP_MANIFEST ".tmp" - 1) ||
                           !strncmp(e->d_name, LO_DUMP_ORDER ".tmp", sizeof LO_DUMP_ORDER ".tmp" - 1)))
            continue;
        if (depth == 0 && (!strcmp(e->d_name, LO_DUMP_INPUTS) || !strcmp(e->d_name, LO_DUMP_OUTPUTS))) {
            char sub[4200];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            struct stat st;
            if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode) && dir_is_empty_at(sub, 1, no_index)) continue;
        }
        empty = false;
    }
    closedir(d);
    return empty;
}

static bool dir_is_empty(const char *path) {
    char manifest[4200], order[4200];
    snprintf(manifest, sizeof manifest, "%s/" LO_DUMP_MANIFEST, path);
    snprintf(order, sizeof order, "%s/" LO_DUMP_ORDER, path);
    struct stat st;
    bool no_index = lstat(manifest, &st) != 0 && lstat(order, &st) != 0;
    return dir_is_empty_at(path, 0, no_index);
}

static lo_status sha256_file(const char *path, char hex[65], lo_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return lo_fail(err, LO_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        fclose(f);
        EVP_MD_CTX_free(ctx);
        return lo_fail(err, LO_ERR_NOMEM, "cannot start SHA-256");
    }
    unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) EVP_DigestUpdate(ctx, buf, n);
    bool bad = ferror(f);
    fclose(f);
    unsigned char md[32];
    unsigned len = 0;
    EVP_DigestFinal_ex(ctx, md, &len);
    EVP_MD_CTX_free(ctx);
    if (bad) return lo_fail(err, LO_ERR_IO, "cannot read '%s'", path);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return LO_OK;
}

/* ---- manifest ------------------------------------------------------------------ */

static json_t *dims_json(int rank, const int64_t *dims) {
    json_t *a = json_array();
    for (int d = 0; d < rank; d++) json_array_append_new(a, json_integer(dims[d]));
    return a;
}

/* Writes dir/name.tmp complete (itself through a temporary, so it is whole
 * whenever it exists); commit_json moves it into place. Both index files are
 * staged before either is moved, so once the name-order file is replaced a
 * complete manifest is waiting beside it: a run killed between the two
 * renames is finished by the next one (recover_index). */
static lo_status stage_text(const char *dir, const char *name, char *text, lo_error *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.tmp", dir, name);
    size_t len = strlen(text);
    text[len] = '\n'; /* the file ends in a newline; the string is given back as it was */
    lo_status st = lo_write_file_atomic(path, text, len + 1, err);
    text[len] = 0;
    return st;
}

/* stage_text of root's dump (root is consumed). */
static lo_status stage_json(const char *dir, const char *name, json_t *root, lo_error *err) {
    char *text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!text) return lo_fail(err, LO_ERR_NOMEM, "out of memory writing %s", name);
    lo_status st = stage_text(dir, name, text, err);
    free(text);
    return st;
}

static lo_status commit_json(const char *dir, const char *name, lo_error *err) {
    char from[4200], to[4200];
    snprintf(from, sizeof from, "%s/%s.tmp", dir, name);
    snprintf(to, sizeof to, "%s/%s", dir, name);
    if (rename(from, to) != 0)
        return lo_fail(err, LO_ERR_IO, "cannot rename '%s' to '%s': %s", from, to, strerror(errno));
    return LO_OK;
}

/* A first sample's run killed between its two index renames leaves the
 * name-order file, no manifest, and the staged complete manifest. */
static lo_status recover_index(const char *dir, lo_error *err) {
    char manifest[4200], order[4200], staged[4200];
    snprintf(manifest, sizeof manifest, "%s/" LO_DUMP_MANIFEST, dir);
    snprintf(order, sizeof order, "%s/" LO_DUMP_ORDER, dir);
    snprintf(staged, sizeof staged, "%s/" LO_DUMP_MANIFEST ".tmp", dir);
    struct stat st;
    if (lstat(manifest, &st) == 0 || lstat(order, &st) != 0 || lstat(staged, &st) != 0) return LO_OK;
    return commit_json(dir, LO_DUMP_MANIFEST, err);
}

static const char *ext(const lo_generator *g) { return lo_dump_tensor_ext(g->opt.format); }
static bool container(const lo_generator *g) { return g->opt.format == LO_FORMAT_SAFETENSORS; }
/* A sample's inputs are one file (one input, or a container) or a folder. */
static bool input_folder(const lo_generator *g, int n_inputs) {
    return !container(g) && !(n_inputs == 1 && !g->opt.input_folder);
}
static const char *input_ext(const lo_generator *g) { return container(g) ? LO_DUMP_CONTAINER_EXT : ext(g); }

/* The manifest's fields before its tensor list; a sharded run keeps them in
 * its plan for merge. */
static json_t *manifest_head(const lo_generator *g) {
    json_t *m = json_object();
    json_object_set_new(m, "tool", json_string("layerout"));
    json_object_set_new(m, "schema", json_integer(LO_DUMP_SCHEMA));
    json_object_set_new(m, "version", json_string(lo_version()));
    json_t *model = json_object();
    json_object_set_new(model, "path", json_string(g->model_path));
    json_object_set_new(model, "sha256", json_string(g->sha256));
    json_object_set_new(m, "model", model);
    json_object_set_new(m, "format", json_string(lo_dump_format_name(g->opt.format)));
    json_object_set_new(m, "naming", json_string(scheme_names[g->opt.naming]));
    json_object_set_new(m, "subgraphs", json_boolean(g->opt.session.subgraphs != 0));
    json_t *inputs = json_array();
    for (int i = 0; i < lo_model_input_count(g->model); i++) {
        json_t *e = json_object();
        json_object_set_new(e, "name", json_string(lo_model_input_name(g->model, i)));
        json_object_set_new(e, "dtype", json_string(lo_numpy_name(lo_model_input_dtype(g->model, i))));
        json_array_append_new(inputs, e);
    }
    json_object_set_new(m, "inputs", inputs);
    return m;
}

static json_t *tensor_json(const lo_generator *g, const saved_tensor *s) {
    json_t *e = json_object();
    char file[512];
    snprintf(file, sizeof file, "%s%s", s->file, ext(g));
    json_object_set_new(e, "file", json_string(file));
    json_object_set_new(e, "name", json_string(s->name));
    json_object_set_new(e, "node", json_string(s->node));
    json_object_set_new(e, "op_type", json_string(s->op_type));
    json_object_set_new(e, "dtype", json_string(lo_numpy_name(s->dtype)));
    json_object_set_new(e, "shape", dims_json(s->rank, s->dims));
    if (s->iteration >= 0) json_object_set_new(e, "iteration", json_integer(s->iteration));
    json_object_set_new(e, "encoding", s->encoding ? json_string(s->encoding) : json_null());
    if (s->note) json_object_set_new(e, "holds", json_string(s->note));
    if (s->nested) json_object_set_new(e, "nested", json_true());
    return e;
}

/* Both index files: order (consumed) and the manifest's dumped text. */
static lo_status write_index_files(const char *dir, json_t *order, char *manifest, lo_error *err) {
    LO_TRY(stage_json(dir, LO_DUMP_ORDER, order, err));
    LO_TRY(stage_text(dir, LO_DUMP_MANIFEST, manifest, err));
    LO_TRY(commit_json(dir, LO_DUMP_ORDER, err));
    return commit_json(dir, LO_DUMP_MANIFEST, err);
}

lo_status lo_dump_write_index(const char *dir, json_t *order, json_t *manifest, lo_error *err) {
    char *text = json_dumps(manifest, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(manifest);
    if (!text) {
        json_decref(order);
        return lo_fail(err, LO_ERR_NOMEM, "out of memory writing %s", LO_DUMP_MANIFEST);
    }
    lo_status st = write_index_files(dir, order, text, err);
    free(text);
    return st;
}

/* The manifest's text for g->samples samples from the cached index: the
 * count as its last member, where json_dumps puts it (write_index checks
 * that the two agree byte for byte before it keeps the cache). */
static char *manifest_with_count(const lo_generator *g, size_t *len) {
    char *t = malloc(g->index_len + 40);
    if (!t) return NULL;
    memcpy(t, g->index_text, g->index_len - 2);
    int k = snprintf(t + g->index_len - 2, 40, ",\n \"samples\": %d\n}\n", g->samples);
    *len = g->index_len - 2 + (size_t)k;
    return t;
}

static lo_status write_index(lo_generator *g, lo_error *err) {
    if (g->index_text) {
        /* only the count changed: the manifest alone, atomically */
        char path[4200];
        snprintf(path, sizeof path, "%s/" LO_DUMP_MANIFEST, g->dir);
        size_t len;
        char *text = manifest_with_count(g, &len);
        if (!text) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
        lo_status st = lo_write_file_atomic(path, text, len, err);
        free(text);
        return st;
    }
    json_t *order = json_object();
    json_t *names = json_array();
    json_t *m = manifest_head(g);
    json_t *tensors = json_array();
    /* Body tensors (--subgraphs) come after every top-level name, so the
     * list starts with exactly what AIMET's LayerOutputUtil lists; the
     * manifest keeps the same order. */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < g->n_saved; i++)
            if (g->saved[i].file && g->saved[i].nested == (pass == 1)) {
                json_array_append_new(names, json_string(g->saved[i].file));
                json_array_append_new(tensors, tensor_json(g, &g->saved[i]));
            }
    json_object_set_new(order, "layer_output_names", names);
    json_object_set_new(m, "tensors", tensors);
    /* the manifest without its count (the cache), then with it (the file) */
    char *head = json_dumps(m, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_object_set_new(m, "samples", json_integer(g->samples));
    char *full = json_dumps(m, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(m);
    if (!full) {
        free(head);
        json_decref(order);
        return lo_fail(err, LO_ERR_NOMEM, "out of memory writing %s", LO_DUMP_MANIFEST);
    }
    lo_status st = write_index_files(g->dir, order, full, err);
    size_t hl = head ? strlen(head) : 0;
    if (st == LO_OK && hl >= 2 && !strcmp(head + hl - 2, "\n}")) {
        g->index_text = head;
        g->index_len = hl;
        size_t len;
        char *again = manifest_with_count(g, &len);
        /* the cache serves only while it gives json_dumps' own bytes */
        if (!again || len != strlen(full) + 1 || memcmp(again, full, len - 1) != 0) g->index_text = NULL;
        else head = NULL;
        free(again);
    }
    free(head);
    free(full);
    return st;
}

/* Makes room for one more saved entry (and its seen flag). */
static lo_status grow_saved(lo_generator *g, lo_error *err) {
    if (g->n_saved < g->cap_saved) return LO_OK;
    int cap = g->cap_saved ? g->cap_saved * 2 : 256;
    saved_tensor *p = realloc(g->saved, (size_t)cap * sizeof *p);
    if (p) g->saved = p;
    bool *seen = realloc(g->seen, (size_t)cap * sizeof *seen);
    if (seen) g->seen = seen;
    int *order = realloc(g->sample_order, (size_t)cap * sizeof *order);
    if (order) g->sample_order = order;
    if (!p || !seen || !order) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    g->cap_saved = cap;
    return LO_OK;
}

static lo_dtype dtype_from_numpy(const char *name) {
    /* every known type has a size, so the loop stops past the last one */
    for (int d = 1; name && lo_dtype_size((lo_dtype)d); d++)
        if (strcmp(lo_numpy_name((lo_dtype)d), name) == 0) return (lo_dtype)d;
    return LO_UNDEFINED;
}

static void saved_free(saved_tensor *s) {
    free(s->file);
    free(s->name);
    free(s->node);
    free(s->op_type);
    free(s->encoding);
    free(s->note);
    free(s->base);
}

/* Reads an earlier run's manifest for --append. */
static lo_status load_manifest(lo_generator *g, lo_error *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/" LO_DUMP_MANIFEST, g->dir);
    json_error_t je;
    json_t *m = json_load_file(path, 0, &je);
    if (!m)
        return lo_fail(err, LO_ERR_IO, "cannot --append to '%s': no readable " LO_DUMP_MANIFEST " (%s)", g->dir,
                       je.text);
    lo_status st = LO_OK;
    const char *sha = json_string_value(json_object_get(json_object_get(m, "model"), "sha256"));
    const char *fmt = json_string_value(json_object_get(m, "format"));
    const char *naming = json_string_value(json_object_get(m, "naming"));
    json_t *samples = json_object_get(m, "samples");
    json_t *tensors = json_object_get(m, "tensors");
    if (!sha || !json_is_integer(samples) || !json_is_array(tensors) || !fmt)
        st = lo_fail(err, LO_ERR_IO, "cannot --append: '%s' is not a layerout manifest", path);
    else if (strcmp(sha, g->sha256) != 0)
        st = lo_fail(err, LO_ERR_ARGUMENT, "cannot --append: '%s' was written for another model "
                     "(SHA-256 %.12s..., this model %.12s...)", g->dir, sha, g->sha256);
    else if (strcmp(fmt, lo_dump_format_name(g->opt.format)) != 0)
        st = lo_fail(err, LO_ERR_ARGUMENT, "cannot --append: '%s' holds %s files", g->dir, fmt);
    else if (naming && strcmp(naming, scheme_names[g->opt.naming]) != 0)
        st = lo_fail(err, LO_ERR_ARGUMENT, "cannot --append: '%s' was named with the %s scheme", g->dir, naming);
    else if (json_is_true(json_object_get(m, "subgraphs")) != (g->opt.session.subgraphs != 0))
        /* its samples would hold different sets of tensors */
        st = lo_fail(err, LO_ERR_ARGUMENT, "cannot --append: '%s' was made %s --subgraphs", g->dir,
                     g->opt.session.subgraphs ? "without" : "with");
    if (st == LO_OK) {
        g->samples = (int)json_integer_value(samples);
        size_t i;
        json_t *e;
        json_array_foreach(tensors, i, e) {
            if ((st = grow_saved(g, err)) != LO_OK) break;
            saved_tensor *s = &g->saved[g->n_saved];
            memset(s, 0, sizeof *s);
            const char *file = json_string_value(json_object_get(e, "file"));
            const char *name = json_string_value(json_object_get(e, "name"));
            if (!file || !name) {
                st = lo_fail(err, LO_ERR_IO, "cannot --append: malformed tensor entry in '%s'", path);
                break;
            }
            size_t fl = strlen(file), el = strlen(ext(g));
            s->file = lo_strndup(file, fl > el && !strcmp(file + fl - el, ext(g)) ? fl - el : fl);
            s->name = lo_strdup(name);
            s->node = lo_strdup(json_string_value(json_object_get(e, "node")));
            s->op_type = lo_strdup(json_string_value(json_object_get(e, "op_type")));
            s->iteration = json_is_integer(json_object_get(e, "iteration"))
                               ? (int)json_integer_value(json_object_get(e, "iteration")) : -1;
            json_t *shape = json_object_get(e, "shape");
            s->rank = (int)json_array_size(shape);
            if (s->rank > LO_MAX_RANK) s->rank = LO_MAX_RANK;
            for (int d = 0; d < s->rank; d++) s->dims[d] = json_integer_value(json_array_get(shape, d));
            s->dtype = dtype_from_numpy(json_string_value(json_object_get(e, "dtype")));
            const char *holds = json_string_value(json_object_get(e, "holds"));
            s->note = holds ? lo_strdup(holds) : NULL;
            s->nested = json_is_true(json_object_get(e, "nested"));
            const char *enc = json_string_value(json_object_get(e, "encoding"));
            s->encoding = enc ? lo_strdup(enc) : NULL;
            g->seen[g->n_saved] = false;
            g->n_saved++;
        }
    }
    json_decref(m);
    return st;
}

/* ---- the generator ---------------------------------------------------------------- */

/* lo_options_take_embedding reads an embedded struct up to where the next
 * field begins: true while nothing pads between them. */
_Static_assert(offsetof(lo_generator_options, session) ==
                   offsetof(lo_generator_options, model) + sizeof(lo_model_options),
               "padding after lo_generator_options.model");
_Static_assert(offsetof(lo_generator_options, naming) ==
                   offsetof(lo_generator_options, session) + sizeof(lo_session_options),
               "padding after lo_generator_options.session");

void lo_generator_options_init(lo_generator_options *o) {
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    lo_model_options_init(&o->model);
    lo_session_options_init(&o->session);
    o->format = LO_FORMAT_RAW;
    o->mode = LO_DIR_NEW;
}

static bool path_exists(const char *dir, const char *name) {
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    struct stat st;
    return lstat(p, &st) == 0;
}

/* Creates outputs/ and inputs/ and checks that files can be written there,
 * so an unwritable folder fails before any model runs. */
static lo_status make_layout(lo_generator *g, lo_error *err) {
    char p[4200];
    snprintf(p, sizeof p, "%s/outputs", g->dir);
    LO_TRY(make_dir(p, err));
    snprintf(p, sizeof p, "%s/inputs", g->dir);
    LO_TRY(make_dir(p, err));
    snprintf(p, sizeof p, "%s/" LO_DUMP_OUTPUTS "/.layerout-write-test.%ld", g->dir, (long)getpid());
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return lo_fail(err, LO_ERR_IO, "cannot write in '%s/outputs': %s", g->dir, strerror(errno));
    close(fd);
    unlink(p);
    return LO_OK;
}

/* What every shard of a run must agree on beyond model, format and naming:
 * the options that change which files are written and what they hold. */
static lo_status shard_options(const lo_generator *g, char *buf, size_t size, lo_error *err) {
    char enc[65] = "-", map[65] = "-";
    if (g->opt.model.encodings) LO_TRY(sha256_file(g->opt.model.encodings, enc, err));
    if (g->opt.name_map) LO_TRY(sha256_file(g->opt.name_map, map, err));
    snprintf(buf, size, "encodings=%s rounding=%d strict=%d name_map=%s all_tensors=%d input_folder=%d "
             "layers=%s op_types=%s subgraphs=%d", enc, (int)g->opt.model.rounding, g->opt.model.strict, map,
             g->opt.all_tensors, g->opt.input_folder, g->opt.layers ? g->opt.layers : "-",
             g->opt.op_types ? g->opt.op_types : "-", g->opt.session.subgraphs != 0);
    return LO_OK;
}

int lo_plan_shard_count(const char *plan_path) {
    json_t *p = json_load_file(plan_path, 0, NULL);
    int n = p ? (int)json_integer_value(json_object_get(p, "shards")) : 0;
    json_decref(p);
    return n;
}

/* Reads the run's plan, or writes it when this is the run's first shard;
 * called under the shards' mutex, so two first shards cannot both write it. */
static lo_status join_plan(lo_generator *g, lo_error *err) {
    int N = g->opt.shard_count, K = g->opt.shard_index, total = g->opt.shard_samples;
    char options[1200], path[4200];
    LO_TRY(shard_options(g, options, sizeof options, err));
    snprintf(path, sizeof path, "%s/" LO_SHARD_STATE "/plan.json", g->dir);
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (path_exists(g->dir, LO_DUMP_MANIFEST) || !dir_is_empty(g->dir))
            return lo_fail(err, LO_ERR_ARGUMENT, "output folder '%s' holds a dump that is not a sharded "
                           "run's; shards write into an empty folder (or their own run's)", g->dir);
        json_t *plan = json_object();
        json_object_set_new(plan, "shards", json_integer(N));
        json_object_set_new(plan, "samples", json_integer(total));
        json_object_set_new(plan, "sha256", json_string(g->sha256));
        json_object_set_new(plan, "options", json_string(options));
        json_object_set_new(plan, "manifest", manifest_head(g));
        char *text = json_dumps(plan, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
        json_decref(plan);
        if (!text) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
        lo_status s = lo_write_file_atomic(path, text, strlen(text), err);
        free(text);
        return s;
    }
    json_error_t je;
    json_t *plan = json_load_file(path, 0, &je);
    if (!plan) return lo_fail(err, LO_ERR_IO, "cannot read the sharded run's plan '%s': %s", path, je.text);
    const char *sha = json_string_value(json_object_get(plan, "sha256"));
    const char *opts = json_string_value(json_object_get(plan, "options"));
    json_t *head = json_object_get(plan, "manifest");
    const char *fmt = json_string_value(json_object_get(head, "format"));
    const char *naming = json_string_value(json_object_get(head, "naming"));
    int pn = (int)json_integer_value(json_object_get(plan, "shards"));
    int ptotal = (int)json_integer_value(json_object_get(plan, "samples"));
    lo_status s = LO_OK;
    if (!sha || !opts || !fmt || !naming || pn < 1)
        s = lo_fail(err, LO_ERR_IO, "'%s' is not a layerout plan", path);
    else if (strcmp(sha, g->sha256) != 0)
        s = lo_fail(err, LO_ERR_ARGUMENT, "shard %d/%d: '%s' holds shards of another model (SHA-256 %.12s..., "
                    "this model %.12s...)", K, N, g->dir, sha, g->sha256);
    else if (pn != N)
        s = lo_fail(err, LO_ERR_ARGUMENT, "shard %d/%d: '%s' holds a run split into %d shards; shards of "
                    "another split would overlap its samples (use --shard K/%d)", K, N, g->dir, pn, pn);
    else if (ptotal != total)
        s = lo_fail(err, LO_ERR_ARGUMENT, "shard %d/%d: '%s' holds a run of %d samples, this input list has "
                    "%d: give every shard the same list", K, N, g->dir, ptotal, total);
    else if (strcmp(fmt, lo_dump_format_name(g->opt.format)) != 0 ||
             strcmp(naming, scheme_names[g->opt.naming]) != 0 || strcmp(opts, options) != 0)
        s = lo_fail(err, LO_ERR_ARGUMENT, "shard %d/%d: '%s' holds a run with other options (format %s, "
                    "naming %s, %s); give every shard the same options", K, N, g->dir, fmt, naming, opts);
    json_decref(plan);
    return s;
}

/* Sample L is complete in dir when its outputs folder is published (the
 * last rename of a sample) and its record exists (written before). */
static bool sample_complete(const lo_generator *g, const char *dir, int L) {
    char name[128];
    lo_dump_sample_path(name, sizeof name, L, g->opt.format);
    if (!path_exists(dir, name)) return false;
    snprintf(name, sizeof name, LO_SHARD_STATE "/samples/%d.json", L);
    return path_exists(dir, name);
}

static lo_status prepare_shard(lo_generator *g, lo_error *err) {
    int N = g->opt.shard_count, K = g->opt.shard_index, total = g->opt.shard_samples;
    if (N < 1 || K < 0 || K >= N)
        return lo_fail(err, LO_ERR_ARGUMENT, "a shard is K/N with 0 <= K < N, got %d/%d", K, N);
    if (total < 1) return lo_fail(err, LO_ERR_ARGUMENT, "a sharded run needs the number of samples of its list");
    if (g->opt.mode == LO_DIR_OVERWRITE)
        return lo_fail(err, LO_ERR_ARGUMENT, "--overwrite would remove the other shards' samples; remove the "
                       "folder first, or resume a shard with --append");
    g->sharded = true;
    char p[4200];
    snprintf(p, sizeof p, "%s/" LO_SHARD_STATE, g->dir);
    LO_TRY(make_dir(p, err));
    snprintf(p, sizeof p, "%s/" LO_SHARD_STATE "/samples", g->dir);
    LO_TRY(make_dir(p, err));
    LO_TRY(lo_folder_lock_mutex(g->lock, true, err));
    lo_status st = join_plan(g, err);
    if (st != LO_OK && !path_exists(g->dir, LO_SHARD_STATE "/plan.json")) {
        /* refused before the run began: leave no state behind (another
         * shard that shares it would have written the plan) */
        rmdir(p);
        snprintf(p, sizeof p, "%s/" LO_SHARD_STATE, g->dir);
        rmdir(p);
    }
    lo_error ignore;
    lo_folder_lock_mutex(g->lock, false, &ignore);
    if (st != LO_OK) return st;
    snprintf(p, sizeof p, "%s/" LO_SHARD_STATE "/samples", g->dir);
    LO_TRY(make_dirs(p, err)); /* again: a refused shard may have removed it before the plan existed */
    LO_TRY(lo_folder_lock_shard(g->lock, K, N, err));
    LO_TRY(make_layout(g, err));
    g->shard_done = calloc((size_t)total, sizeof *g->shard_done);
    if (!g->shard_done) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    int mine = 0;
    for (int L = K; L < total; L += N) {
        mine++;
        if ((g->shard_done[L] = sample_complete(g, g->dir, L))) g->shard_complete++;
    }
    if (g->shard_complete && g->opt.mode != LO_DIR_APPEND)
        return lo_fail(err, LO_ERR_ARGUMENT, "shard %d/%d already has %d of its %d samples in '%s'; rerun it "
                       "with --append to finish it", K, N, g->shard_complete, mine, g->dir);
    return LO_OK;
}

static lo_status prepare_dir(lo_generator *g, lo_error *err) {
    struct stat st;
    bool exists = stat(g->dir, &st) == 0;
    if (exists && !S_ISDIR(st.st_mode)) return lo_fail(err, LO_ERR_IO, "'%s' exists and is not a folder", g->dir);
    /* the folder must exist to hold its lock; nothing is looked at before the lock is held */
    LO_TRY(make_dirs(g->dir, err));
    char what[64];
    if (g->opt.shard_count) snprintf(what, sizeof what, "generate --shard %d/%d", g->opt.shard_index, g->opt.shard_count);
    else snprintf(what, sizeof what, "generate%s", g->opt.mode == LO_DIR_APPEND ? " --append"
                                                   : g->opt.mode == LO_DIR_OVERWRITE ? " --overwrite" : "");
    LO_TRY(lo_folder_lock_take(g->dir, g->opt.shard_count == 0, true, what, &g->lock, err));
    if (g->opt.shard_count) return prepare_shard(g, err);
    LO_TRY(recover_index(g->dir, err));
    bool shard_state = path_exists(g->dir, LO_SHARD_STATE "/plan.json");
    if (shard_state && path_exists(g->dir, LO_DUMP_MANIFEST) && !path_exists(g->dir, LO_DUMP_ORDER ".tmp") &&
        !path_exists(g->dir, LO_DUMP_MANIFEST ".tmp")) {
        /* a merge that stopped after writing its manifest: the state is done with */
        char p[4200];
        snprintf(p, sizeof p, "%s/" LO_SHARD_STATE, g->dir);
        LO_TRY(lo_remove_tree(p, err));
        shard_state = false;
    }
    if (!shard_state && path_exists(g->dir, LO_SHARD_STATE)) {
        /* the state of shards that never began (no plan): nothing of a run */
        char p[4200];
        snprintf(p, sizeof p, "%s/" LO_SHARD_STATE, g->dir);
        LO_TRY(lo_remove_tree(p, err));
    }
    if (shard_state && g->opt.mode != LO_DIR_OVERWRITE)
        return lo_fail(err, LO_ERR_ARGUMENT, "output folder '%s' holds the shards of a sharded run that is not "
                       "merged: run 'layerout merge %s', or resume a shard with --shard K/N --append", g->dir,
                       g->dir);
    if (shard_state || !dir_is_empty(g->dir)) {
        if (g->opt.mode == LO_DIR_NEW)
            return lo_fail(err, LO_ERR_ARGUMENT, "output folder '%s' is not empty; use --overwrite to "
                           "replace its dump or --append to add samples to it", g->dir);
        if (g->opt.mode == LO_DIR_OVERWRITE) {
            /* only what a dump consists of is removed; anything else stays */
            const char *ours[] = {LO_DUMP_INPUTS, LO_DUMP_OUTPUTS, LO_DUMP_ORDER, LO_DUMP_MANIFEST,
                                  LO_SHARD_STATE};
            for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++) {
                char p[4200];
                snprintf(p, sizeof p, "%s/%s", g->dir, ours[i]);
                LO_TRY(lo_remove_tree(p, err));
            }
        } else {
            LO_TRY(load_manifest(g, err));
        }
    }
    return make_layout(g, err);
}

lo_status lo_generator_create(const char *model_path, const char *dir, const lo_generator_options *opt,
                              lo_generator **out, lo_error *err) {
    *out = NULL;
    if (!model_path || !dir || !*dir) return lo_fail(err, LO_ERR_ARGUMENT, "a model path and a folder are required");
    lo_generator *g = calloc(1, sizeof *g);
    if (!g) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    g->deferred_from = -1;
    lo_generator_options_init(&g->opt);
    if (opt) {
        static const size_t off[] = {offsetof(lo_generator_options, model), offsetof(lo_generator_options, session)};
        static const size_t size_of[] = {sizeof(lo_model_options), sizeof(lo_session_options)};
        lo_status took = lo_options_take_embedding(&g->opt, sizeof g->opt, opt, 2, off, size_of,
                                                   "lo_generator_options", err);
        if (took != LO_OK) {
            free(g);
            return took;
        }
    }
    g->dir = lo_strdup(dir);
    g->model_path = lo_strdup(model_path);
    g->dirfd = -1;
    lo_status st = LO_OK;
    if ((unsigned)g->opt.format > LO_FORMAT_SAFETENSORS)
        st = lo_fail(err, LO_ERR_ARGUMENT, "unknown output format %d (raw 0, npy 1, safetensors 2)", (int)g->opt.format);
    if (st == LO_OK && g->opt.layers) {
        int rc = regcomp(&g->layers, g->opt.layers, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char msg[200];
            regerror(rc, &g->layers, msg, sizeof msg);
            st = lo_fail(err, LO_ERR_ARGUMENT, "--layers '%s' is not a valid regular expression: %s", g->opt.layers, msg);
        } else {
            g->has_layers = true;
        }
    }
    if (st == LO_OK && g->opt.op_types) {
        g->op_types = malloc(strlen(g->opt.op_types) + 3);
        if (!g->op_types) st = lo_fail(err, LO_ERR_NOMEM, "out of memory");
        else sprintf(g->op_types, ",%s,", g->opt.op_types);
    }
    if (st == LO_OK) st = lo_model_load_ex(model_path, &g->opt.model, &g->model, err);
    if (st == LO_OK) st = sha256_file(model_path, g->sha256, err);
    if (st == LO_OK)
        st = lo_namer_create(lo_model_graph(g->model), g->opt.naming, g->opt.name_map, g->opt.all_tensors != 0,
                             &g->namer, err);
    if (st == LO_OK) st = lo_session_create(g->model, &g->opt.session, &g->session, err);
    /* what --layers/--op-types or the naming scheme leave out may be fused away */
    if (st == LO_OK) lo_session_set_saved(g->session, would_save, g);
    if (st == LO_OK) st = lo_writer_create(WRITE_QUEUE_BYTES, &g->writer, err);
    if (st == LO_OK) st = prepare_dir(g, err);
    if (st != LO_OK) {
        lo_generator_free(g);
        return st;
    }
    *out = g;
    return LO_OK;
}

int lo_generator_sample_count(const lo_generator *g) { return g->sharded ? g->shard_complete : g->samples; }

int lo_generator_layer_count(const lo_generator *g) {
    int n = 0; /* what write_index lists */
    for (int i = 0; i < g->n_saved; i++) n += g->saved[i].file != NULL;
    return n;
}

int lo_generator_next_sample(const lo_generator *g) {
    if (!g->sharded) return g->samples;
    for (int L = g->opt.shard_index; L < g->opt.shard_samples; L += g->opt.shard_count)
        if (!g->shard_done[L]) return L;
    return -1;
}
/* The session's profile with the writing's time after its first line. */
char *lo_generator_profile(const lo_generator *g) {
    char *p = lo_session_profile(g->session);
    char *nl = p ? strchr(p, '\n') : NULL;
    int runs = g->generated > 0 ? g->generated : 1;
    char line[256];
    char when[96] = "";
    if (g->deferred_from >= 0)
        snprintf(when, sizeof when, "; from run %d on, after each run's kernels", g->deferred_from + 1);
    int n = snprintf(line, sizeof line, "writing files: %.3f ms per sample (the writer thread and the threads that "
                     "helped it%s)\n", 1e3 * lo_writer_seconds(g->writer) / runs, when);
    char *out = nl ? malloc(strlen(p) + (size_t)n + 1) : NULL;
    if (!out) return p;
    size_t head = (size_t)(nl + 1 - p);
    memcpy(out, p, head);
    memcpy(out + head, line, (size_t)n);
    strcpy(out + head + n, nl + 1);
    free(p);
    return out;
}
const lo_model *lo_generator_model(const lo_generator *g) { return g->model; }

void lo_generator_free(lo_generator *g) {
    if (!g) return;
    lo_writer_free(g->writer); /* releases its holds before the session goes */
    lo_session_free(g->session);
    lo_namer_free(g->namer);
    lo_model_free(g->model);
    if (g->has_layers) regfree(&g->layers);
    free(g->op_types);
    for (int i = 0; i < g->n_saved; i++) saved_free(&g->saved[i]);
    free(g->saved);
    free(g->index_text);
    free(g->seen);
    free(g->sample_order);
    free(g->shard_done);
    lo_folder_lock_release(g->lock);
    free(g->dir);
    free(g->model_path);
    free(g);
}

/* --layers and --op-types: whether a tensor is saved at all. */
static bool selected(const lo_generator *g, const lo_layer_output *o, const char *stem) {
    if (g->has_layers && regexec(&g->layers, o->name, 0, NULL, 0) != 0 && regexec(&g->layers, stem, 0, NULL, 0) != 0)
        return false;
    if (g->op_types) {
        char word[256];
        snprintf(word, sizeof word, ",%s,", o->op_type);
        if (!o->op_type[0] || !strstr(g->op_types, word)) return false;
    }
    return true;
}

/* Whether on_tensor would write the tensor: the session's fusion asks. */
static bool would_save(void *user, const lo_layer_output *o) {
    const lo_generator *g = user;
    char *stem = NULL;
    const char *note = NULL;
    bool keep = lo_namer_stem(g->namer, o->name, o->iteration, &stem, &note) && selected(g, o, stem);
    free(stem);
    return keep;
}

/* Finds or adds the entry of a captured tensor. The naming scheme decides
 * its file stem once; a tensor the scheme leaves out keeps an entry with no
 * file, so the decision is not made again. Stems stay unique: two names that
 * sanitize alike (a.b and a/b) get distinct files. */
static int saved_entry(lo_generator *g, const lo_layer_output *o, const char *key, lo_error *err) {
    /* every sample shows its tensors in the same order: the entry after the
     * last one found is looked at first */
    int hint = g->saved_hint < g->n_saved ? g->saved_hint : 0;
    for (int k = 0; k < g->n_saved; k++) {
        int i = (hint + k) % g->n_saved;
        if (strcmp(g->saved[i].name, key) == 0) {
            g->saved_hint = i + 1;
            return i;
        }
    }
    char *stem = NULL;
    const char *note = NULL;
    if (lo_namer_stem(g->namer, o->name, o->iteration, &stem, &note) && !selected(g, o, stem)) {
        free(stem);
        stem = NULL;
    }
    char *scheme_stem = NULL;
    if (stem) {
        scheme_stem = lo_strdup(stem);
        char *base = stem, *cand = stem;
        for (int k = 2;; k++) {
            bool clash = false;
            for (int i = 0; i < g->n_saved && !clash; i++)
                if (g->saved[i].file && strcmp(g->saved[i].file, cand) == 0) clash = true;
            if (!clash) break;
            if (cand != base) free(cand);
            size_t len = strlen(base) + 24;
            if (!(cand = malloc(len))) break;
            snprintf(cand, len, "%s__%d", base, k);
        }
        if (cand != base) free(base);
        stem = cand;
        if (!stem || !scheme_stem) {
            free(stem);
            free(scheme_stem);
            lo_fail(err, LO_ERR_NOMEM, "out of memory");
            return -1;
        }
    }
    if (grow_saved(g, err) != LO_OK) {
        free(stem);
        free(scheme_stem);
        return -1;
    }
    saved_tensor *s = &g->saved[g->n_saved];
    memset(s, 0, sizeof *s);
    s->file = stem;
    s->base = scheme_stem;
    s->name = lo_strdup(key);
    s->node = lo_strdup(o->node_name);
    s->op_type = lo_strdup(o->op_type);
    s->note = note ? lo_strdup(note) : NULL;
    s->iteration = o->iteration;
    s->nested = o->nested != 0;
    g->seen[g->n_saved] = false;
    index_changed(g);
    return g->n_saved++;
}

static lo_status on_tensor(void *user, const lo_layer_output *o, lo_error *err) {
    lo_generator *g = user;
    char full[1024];
    if (o->iteration >= 0) snprintf(full, sizeof full, "%s__iter%d", o->name, o->iteration);
    else snprintf(full, sizeof full, "%s", o->name);
    int i = saved_entry(g, o, full, err);
    if (i < 0) return err->status;
    saved_tensor *s = &g->saved[i];
    if (!s->file) return LO_OK; /* not saved under this naming scheme */
    if (s->dtype != o->tensor.dtype || s->rank != o->tensor.rank ||
        memcmp(s->dims, o->tensor.dims, (size_t)o->tensor.rank * sizeof(int64_t)) != 0)
        index_changed(g); /* the manifest gives the last sample's shape */
    s->dtype = o->tensor.dtype;
    s->rank = o->tensor.rank;
    memcpy(s->dims, o->tensor.dims, (size_t)o->tensor.rank * sizeof(int64_t));
    if (!g->seen[i]) g->sample_order[g->n_sample_order++] = i;
    g->seen[i] = true;
    if (o->encoding && (!s->encoding || strcmp(s->encoding, o->encoding) != 0)) {
        free(s->encoding);
        s->encoding = lo_strdup(o->encoding);
        index_changed(g);
    }
    char file[512];
    snprintf(file, sizeof file, "%s%s", s->file, ext(g));
    return lo_writer_put(g->writer, file, o, err);
}

/* The stand-in lo_generator_generate_values passes for a sequence or
 * optional input: no dtype, no rank. Such an input has no file under
 * inputs/, as sequences have none under outputs/. */
static bool is_tensor_view(const lo_tensor_view *v) { return v->dtype != LO_UNDEFINED || v->rank >= 0; }

/* Writes the sample's inputs under inputs/ (partial names first). */
static lo_status write_inputs(lo_generator *g, int K, const lo_tensor_view *inputs, int n, const int *order,
                              lo_error *err) {
    char p[4200];
    const char *e = ext(g);
    if (n == 0) return LO_OK; /* a model without inputs: nothing to keep */
    if (container(g)) {
        /* one file, the inputs under the model's names */
        lo_tensor_view views[256];
        const char *keys[256];
        int k = 0;
        for (int i = 0; i < n && i < 256; i++)
            if (is_tensor_view(&inputs[order[i]])) {
                views[k] = inputs[order[i]];
                keys[k++] = inputs[order[i]].name;
            }
        if (!k) return LO_OK;
        snprintf(p, sizeof p, "%s/" LO_DUMP_INPUTS, g->dir);
        int fd = open(p, O_RDONLY | O_DIRECTORY);
        if (fd < 0) return lo_fail(err, LO_ERR_IO, "cannot open '%s': %s", p, strerror(errno));
        char file[64];
        snprintf(file, sizeof file, "." LO_DUMP_INPUT_PREFIX "%d" LO_DUMP_CONTAINER_EXT ".partial", K);
        lo_status st = lo_st_write_file(fd, p, file, views, keys, k, err);
        close(fd);
        return st;
    }
    if (n == 1 && !g->opt.input_folder) {
        if (!is_tensor_view(&inputs[order[0]])) return LO_OK;
        snprintf(p, sizeof p, "%s/inputs", g->dir);
        int fd = open(p, O_RDONLY | O_DIRECTORY);
        if (fd < 0) return lo_fail(err, LO_ERR_IO, "cannot open '%s': %s", p, strerror(errno));
        char file[64];
        snprintf(file, sizeof file, "." LO_DUMP_INPUT_PREFIX "%d%s.partial", K, e);
        lo_status st = lo_write_tensor_at(fd, p, file, g->opt.format, &inputs[order[0]], err);
        close(fd);
        return st;
    }
    snprintf(p, sizeof p, "%s/" LO_DUMP_INPUTS "/." LO_DUMP_INPUT_PREFIX "%d.partial", g->dir, K);
    LO_TRY(lo_remove_tree(p, err));
    LO_TRY(make_dir(p, err));
    int fd = open(p, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return lo_fail(err, LO_ERR_IO, "cannot open '%s': %s", p, strerror(errno));
    lo_status st = LO_OK;
    for (int i = 0; i < n && st == LO_OK; i++) {
        char file[64];
        snprintf(file, sizeof file, "%d%s", i, e);
        if (is_tensor_view(&inputs[order[i]]))
            st = lo_write_tensor_at(fd, p, file, g->opt.format, &inputs[order[i]], err);
    }
    close(fd);
    return st;
}

static lo_status publish(const char *from, const char *to, lo_error *err) {
    LO_TRY(lo_remove_tree(to, err)); /* a leftover of a run that died before its manifest */
    if (rename(from, to) != 0)
        return lo_fail(err, LO_ERR_IO, "cannot rename '%s' to '%s': %s", from, to, strerror(errno));
    return LO_OK;
}

lo_status lo_generator_generate(lo_generator *g, const lo_tensor_view *inputs, int n_inputs, lo_error *err) {
    return lo_generator_generate_run(g, inputs, n_inputs, NULL, NULL, err);
}

lo_session *lo_generator_session(lo_generator *g) { return g->session; }

/* A sharded run's record of sample K (LO_SHARD_STATE/samples/K.json): its
 * saved tensors in the order the run saw them, as manifest entries plus the
 * stem the naming scheme gave (before a clash suffix) and each file's size,
 * and its input files. merge replays the records in sample order to build
 * the manifest one process would have written, and checks the files. */
static lo_status write_record(lo_generator *g, int K, const char *partial, const char *in_partial, int n_inputs,
                              lo_error *err) {
    json_t *r = json_object();
    json_object_set_new(r, "sample", json_integer(K));
    json_object_set_new(r, "shard", json_integer(g->opt.shard_index));
    /* the inputs as written: a model may have none, and an input that is a
     * sequence has no file */
    json_t *ins = json_array();
    struct stat in_st;
    bool folder = input_folder(g, n_inputs);
    char in_rel[128];
    lo_dump_input_path(in_rel, sizeof in_rel, K, folder ? NULL : input_ext(g));
    bool published = n_inputs > 0 && lstat(in_partial, &in_st) == 0;
    json_object_set_new(r, "input_path", published ? json_string(in_rel) : json_null());
    for (int i = 0; published && i < n_inputs; i++) {
        char rel[160], path[4400];
        struct stat st;
        if (!folder) {
            snprintf(rel, sizeof rel, "%s", in_rel);
            snprintf(path, sizeof path, "%s", in_partial);
        } else {
            snprintf(rel, sizeof rel, "%s/%d%s", in_rel, i, ext(g));
            snprintf(path, sizeof path, "%s/%d%s", in_partial, i, ext(g));
        }
        if (stat(path, &st) != 0) continue;
        json_t *e = json_object();
        json_object_set_new(e, "file", json_string(rel));
        json_object_set_new(e, "bytes", json_integer((json_int_t)st.st_size));
        json_array_append_new(ins, e);
    }
    json_object_set_new(r, "inputs", ins);
    json_t *tensors = json_array();
    for (int j = 0; j < g->n_sample_order; j++) {
        const saved_tensor *s = &g->saved[g->sample_order[j]];
        json_t *e = tensor_json(g, s);
        char path[4400];
        struct stat st;
        /* a container's tensors are checked by the container's size */
        if (container(g)) snprintf(path, sizeof path, "%s", partial);
        else snprintf(path, sizeof path, "%s/%s%s", partial, s->file, ext(g));
        json_object_set_new(e, "base", json_string(s->base ? s->base : s->file));
        json_object_set_new(e, "bytes", json_integer(stat(path, &st) == 0 ? (json_int_t)st.st_size : -1));
        json_array_append_new(tensors, e);
    }
    json_object_set_new(r, "tensors", tensors);
    char *text = json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(r);
    if (!text) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    char path[4200];
    snprintf(path, sizeof path, "%s/" LO_SHARD_STATE "/samples/%d.json", g->dir, K);
    lo_status st = lo_write_file_atomic(path, text, strlen(text), err);
    free(text);
    return st;
}

static lo_status generate_sample(lo_generator *g, const lo_tensor_view *inputs, int n_inputs, lo_run_fn run,
                                 void *run_user, lo_error *err) {
    if (lo_folder_lock_revoked(g->lock))
        return lo_fail(err, LO_ERR_ARGUMENT, "a newer generator of this process writes into '%s' now; this one "
                       "can no longer write there", g->dir);
    int K = lo_generator_next_sample(g);
    if (K < 0)
        return lo_fail(err, LO_ERR_ARGUMENT, "shard %d/%d of '%s' is complete: it has no sample left to write",
                       g->opt.shard_index, g->opt.shard_count, g->dir);
    int n_model = lo_model_input_count(g->model);
    if (n_inputs != n_model)
        return lo_fail(err, LO_ERR_INPUT, "the model takes %d input%s, given %d", n_model,
                       n_model == 1 ? "" : "s", n_inputs);
    /* inputs are written in model order; match by name when all are named */
    int order[256];
    if (n_inputs > 256) return lo_fail(err, LO_ERR_UNSUPPORTED, "more than 256 model inputs");
    for (int i = 0; i < n_inputs; i++) order[i] = i;
    bool by_name = true;
    for (int i = 0; i < n_inputs && by_name; i++) {
        int found = -1;
        for (int j = 0; j < n_inputs; j++)
            if (inputs[j].name && strcmp(inputs[j].name, lo_model_input_name(g->model, i)) == 0) found = j;
        if (found < 0) by_name = false;
        else order[i] = found;
    }
    if (!by_name)
        for (int i = 0; i < n_inputs; i++) order[i] = i;

    char partial[4200], final[4200];
    const char *cext = container(g) ? LO_DUMP_CONTAINER_EXT : "";
    snprintf(partial, sizeof partial, "%s/" LO_DUMP_OUTPUTS "/." LO_DUMP_SAMPLE_PREFIX "%d%s.partial", g->dir, K, cext);
    snprintf(final, sizeof final, "%s/" LO_DUMP_OUTPUTS "/" LO_DUMP_SAMPLE_PREFIX "%d%s", g->dir, K, cext);
    LO_TRY(lo_remove_tree(partial, err));
    lo_st_writer *stw = NULL;
    if (container(g)) {
        /* the sample's one file: its partial name in outputs/ */
        char outdir[4200], file[64];
        snprintf(outdir, sizeof outdir, "%s/" LO_DUMP_OUTPUTS, g->dir);
        snprintf(file, sizeof file, "." LO_DUMP_SAMPLE_PREFIX "%d" LO_DUMP_CONTAINER_EXT ".partial", K);
        g->dirfd = open(outdir, O_RDONLY | O_DIRECTORY);
        if (g->dirfd < 0) return lo_fail(err, LO_ERR_IO, "cannot open '%s': %s", outdir, strerror(errno));
        /* room for a header like the last one, and some growth */
        lo_status cs = lo_st_create(g->dirfd, outdir, file, g->st_reserve + g->st_reserve / 8 + 512, &stw, err);
        if (cs != LO_OK) {
            close(g->dirfd);
            g->dirfd = -1;
            return cs;
        }
    } else {
        LO_TRY(make_dir(partial, err));
        g->dirfd = open(partial, O_RDONLY | O_DIRECTORY);
        if (g->dirfd < 0) return lo_fail(err, LO_ERR_IO, "cannot open '%s': %s", partial, strerror(errno));
    }
    for (int i = 0; i < g->n_saved; i++) g->seen[i] = false;
    g->n_sample_order = 0;
    int saved_before = g->n_saved;

    lo_tensor_view ordered[256];
    for (int i = 0; i < n_inputs; i++) {
        ordered[i] = inputs[order[i]];
        ordered[i].name = lo_model_input_name(g->model, i);
    }
    lo_writer_begin(g->writer, g->dirfd, partial, g->opt.format, g->defer);
    if (stw) lo_writer_container(g->writer, stw);
    lo_status st = run ? run(run_user, g->session, ordered, n_inputs, on_tensor, g, err)
                       : lo_session_run(g->session, ordered, n_inputs, on_tensor, g, err);
    /* the sample is complete only when every file is written */
    lo_error werr;
    lo_status wst = lo_writer_finish(g->writer, &werr);
    if (st == LO_OK && wst != LO_OK) {
        *err = werr;
        st = wst;
    }
    if (stw) {
        size_t used = 0;
        if (st == LO_OK) st = lo_st_finish(stw, &used, err);
        if (st == LO_OK) g->st_reserve = used;
        lo_st_free(stw);
    }
    close(g->dirfd);
    g->dirfd = -1;
    int ident[256];
    for (int i = 0; i < n_inputs; i++) ident[i] = i;
    if (st == LO_OK) st = write_inputs(g, K, ordered, n_inputs, ident, err);
    char in_partial[4200], in_final[4200];
    if (!input_folder(g, n_inputs)) {
        snprintf(in_partial, sizeof in_partial, "%s/" LO_DUMP_INPUTS "/." LO_DUMP_INPUT_PREFIX "%d%s.partial", g->dir, K, input_ext(g));
        snprintf(in_final, sizeof in_final, "%s/" LO_DUMP_INPUTS "/" LO_DUMP_INPUT_PREFIX "%d%s", g->dir, K, input_ext(g));
    } else {
        snprintf(in_partial, sizeof in_partial, "%s/" LO_DUMP_INPUTS "/." LO_DUMP_INPUT_PREFIX "%d.partial", g->dir, K);
        snprintf(in_final, sizeof in_final, "%s/" LO_DUMP_INPUTS "/" LO_DUMP_INPUT_PREFIX "%d", g->dir, K);
    }
    /* a shard's record goes before the sample is published: a published
     * sample always has one */
    if (st == LO_OK && g->sharded) st = write_record(g, K, partial, in_partial, n_inputs, err);
    bool input_files = n_inputs > 1 || g->opt.input_folder || (n_inputs == 1 && is_tensor_view(&ordered[0]));
    if (container(g)) {
        input_files = false;
        for (int i = 0; i < n_inputs; i++) input_files |= is_tensor_view(&ordered[i]);
    }
    if (st == LO_OK && input_files) st = publish(in_partial, in_final, err);
    if (st == LO_OK) st = publish(partial, final, err);
    if (st != LO_OK) {
        lo_error ignore;
        lo_remove_tree(partial, &ignore);
        lo_remove_tree(in_partial, &ignore);
        /* names first seen in a failed sample are not part of the dump */
        for (int i = saved_before; i < g->n_saved; i++) saved_free(&g->saved[i]);
        if (g->n_saved != saved_before) index_changed(g);
        g->n_saved = saved_before;
        return st;
    }
    if (g->sharded) {
        /* merge writes the index once every shard is done */
        g->shard_done[K] = true;
        g->shard_complete++;
        return LO_OK;
    }
    g->samples = K + 1;
    st = write_index(g, err);
    if (st != LO_OK) g->samples = K;
    return st;
}

lo_status lo_generator_generate_run(lo_generator *g, const lo_tensor_view *inputs, int n_inputs, lo_run_fn run,
                                    void *run_user, lo_error *err) {
    double t0 = lo_seconds_now(), w0 = lo_writer_seconds(g->writer);
    lo_status st = generate_sample(g, inputs, n_inputs, run, run_user, err);
    if (st == LO_OK) g->generated++;
    if (st == LO_OK) adapt_threads(g, lo_seconds_now() - t0, lo_writer_seconds(g->writer) - w0);
    return st;
}

/* ---- inputs that are sequences or optionals ----------------------------------------- */

typedef struct values_run {
    const lo_tensor *values;
} values_run;

static lo_status run_values(void *user, lo_session *session, const lo_tensor_view *inputs, int n_inputs,
                            lo_observer_fn observer, void *observer_user, lo_error *err) {
    (void)inputs; /* the same values, in model order, as views */
    return lo_session_run_values(session, ((const values_run *)user)->values, n_inputs, observer, observer_user,
                                 NULL, err);
}

lo_status lo_generator_generate_values(lo_generator *g, const lo_tensor *values, int n_inputs, lo_error *err) {
    lo_tensor_view views[256];
    if (n_inputs > 256) return lo_fail(err, LO_ERR_UNSUPPORTED, "more than 256 model inputs");
    for (int i = 0; i < n_inputs; i++) {
        const lo_tensor *t = &values[i];
        if (t->kind == LO_KIND_TENSOR)
            views[i] = (lo_tensor_view){lo_model_input_name(g->model, i), t->dtype, t->rank, t->dims, t->data,
                                        t->nbytes};
        else
            views[i] = (lo_tensor_view){lo_model_input_name(g->model, i), LO_UNDEFINED, -1, NULL, NULL, 0};
    }
    values_run r = {values};
    return lo_generator_generate_run(g, views, n_inputs, run_values, &r, err);
}
