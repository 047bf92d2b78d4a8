/* Reading dumps for comparison: ours (manifest.json), AIMET's (only the
 * name-order file), and QNN output folders (Result_K/NAME.raw). Tensor files
 * are mapped, not read, so a pair costs one pass over the page cache. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compare.h"
#include "../dump/dump.h"

const char *lo_dump_kind_name(lo_dump_kind kind) {
    switch (kind) {
    case LO_DUMP_LAYEROUT: return "layerout dump";
    case LO_DUMP_AIMET: return "AIMET dump";
    case LO_DUMP_QNN: return "QNN output";
    }
    return "?";
}

/* ---- names ---------------------------------------------------------------------- */

char *lo_qnn_name_unprefix(const char *qnn_name) {
    return lo_strdup(qnn_name[0] == '_' && qnn_name[1] ? qnn_name + 1 : qnn_name);
}

char *lo_module_from_node(const char *node) {
    if (!node || !*node) return NULL;
    size_t n = strlen(node);
    char *out = malloc(n + 2);
    if (!out) return NULL;
    out[0] = 0;
    if (node[0] == '/') {
        /* torch.onnx.export: "/scope/scope/Op" where each scope is either a
         * child's attribute name or already the dotted path from its parent
         * ("layer1.0" under "layer1"). The last component is the op. */
        const char *p = node + 1;
        const char *last = strrchr(node, '/');
        while (p < last) {
            const char *slash = strchr(p, '/');
            size_t len = (size_t)(slash - p);
            size_t have = strlen(out);
            if (len == 0) {
            } else if (have && len > have && strncmp(p, out, have) == 0 && p[have] == '.') {
                memcpy(out, p, len);
                out[len] = 0;
            } else {
                if (have) out[have++] = '.';
                memcpy(out + have, p, len);
                out[have + len] = 0;
            }
            p = slash + 1;
        }
    } else if (strchr(node, '.') || strchr(node, '#')) {
        /* AIMET's exporter: "layer1.0.conv1", "layer1.0.conv1#2", "...end" */
        memcpy(out, node, n + 1);
        char *hash = strchr(out, '#');
        if (hash) *hash = 0;
        size_t len = strlen(out);
        if (len > 4 && strcmp(out + len - 4, ".end") == 0) out[len - 4] = 0;
    }
    if (!out[0]) {
        free(out);
        return NULL;
    }
    return out;
}

/* ---- helpers ---------------------------------------------------------------------- */

static bool is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static char *join(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s/%s", a, b);
    return s;
}

static lo_dtype dtype_from_numpy(const char *name) {
    if (!name) return LO_UNDEFINED;
    /* every known type has a size, so the loop stops past the last one */
    for (int d = 1; lo_dtype_size((lo_dtype)d); d++) {
        const char *n = lo_numpy_name((lo_dtype)d);
        if (n && strcmp(n, name) == 0) return (lo_dtype)d;
    }
    return LO_UNDEFINED;
}

static lo_status add_tensor(lo_dump *d, int *cap, const char *file, lo_error *err) {
    if (d->n_tensors == *cap) {
        int nc = *cap ? *cap * 2 : 64;
        lo_dump_tensor *t = realloc(d->tensors, (size_t)nc * sizeof *t);
        if (!t) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
        d->tensors = t;
        *cap = nc;
    }
    lo_dump_tensor *t = &d->tensors[d->n_tensors++];
    memset(t, 0, sizeof *t);
    t->rank = -1;
    t->file = lo_strdup(file);
    if (!t->file) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    return LO_OK;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sample folders PREFIX0, PREFIX1, ... under dir, up to the first gap; or
 * (containers) files PREFIXK.safetensors, when the first sample is one. */
static lo_status find_samples(lo_dump *d, const char *dir, const char *prefix, bool containers, lo_error *err) {
    int cap = 0;
    for (int k = 0;; k++) {
        char name[64];
        snprintf(name, sizeof name, "%s%d", prefix, k);
        char *p = join(dir, name);
        if (!p) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
        if (containers && k == 0 && !is_dir(p)) {
            size_t n = strlen(p) + sizeof LO_DUMP_CONTAINER_EXT;
            char *f = malloc(n);
            if (f) snprintf(f, n, "%s" LO_DUMP_CONTAINER_EXT, p);
            d->container_files = f && is_file(f);
            free(f);
        }
        if (d->container_files) {
            size_t n = strlen(p) + sizeof LO_DUMP_CONTAINER_EXT;
            char *f = malloc(n);
            if (f) snprintf(f, n, "%s" LO_DUMP_CONTAINER_EXT, p);
            free(p);
            p = f;
            if (!p) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
        }
        if (d->container_files ? !is_file(p) : !is_dir(p)) {
            free(p);
            break;
        }
        if (d->n_samples == cap) {
            cap = cap ? cap * 2 : 8;
            char **s = realloc(d->sample_dirs, (size_t)cap * sizeof *s);
            if (!s) {
                free(p);
                return lo_fail(err, LO_ERR_NOMEM, "out of memory");
            }
            d->sample_dirs = s;
        }
        d->sample_dirs[d->n_samples++] = p;
    }
    return LO_OK;
}

/* Tensor stems of a folder of .raw/.npy files, sorted (no order is known). */
static lo_status list_stems(lo_dump *d, const char *dir, lo_error *err) {
    DIR *dh = opendir(dir);
    if (!dh) return lo_fail(err, LO_ERR_IO, "cannot read '%s': %s", dir, strerror(errno));
    char **names = NULL;
    int n = 0, cap = 0;
    lo_status st = LO_OK;
    struct dirent *e;
    while (st == LO_OK && (e = readdir(dh))) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len < 5) continue;
        const char *ext = e->d_name + len - 4;
        if (strcmp(ext, ".raw") != 0 && strcmp(ext, ".npy") != 0) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, (size_t)cap * sizeof *nn);
            if (!nn) {
                st = lo_fail(err, LO_ERR_NOMEM, "out of memory");
                break;
            }
            names = nn;
        }
        names[n] = lo_strndup(e->d_name, len - 4);
        if (!names[n]) st = lo_fail(err, LO_ERR_NOMEM, "out of memory");
        else n++;
    }
    closedir(dh);
    if (st == LO_OK && n > 0) qsort(names, (size_t)n, sizeof *names, cmp_str);
    int tcap = 0;
    for (int i = 0; i < n; i++)
        if (st == LO_OK && (i == 0 || strcmp(names[i], names[i - 1]) != 0))
            st = add_tensor(d, &tcap, names[i], err);
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    return st;
}

static char *json_dup(json_t *o, const char *key) {
    const char *s = json_string_value(json_object_get(o, key));
    return s ? lo_strdup(s) : NULL;
}

static lo_status read_manifest(lo_dump *d, const char *path, lo_error *err) {
    json_error_t je;
    json_t *m = json_load_file(path, 0, &je);
    if (!m) return lo_fail(err, LO_ERR_IO, "cannot read '%s': %s (line %d)", path, je.text, je.line);
    json_t *tensors = json_object_get(m, "tensors");
    json_t *samples = json_object_get(m, "samples");
    json_t *schema = json_object_get(m, "schema");
    lo_status st = LO_OK;
    /* a newer schema may hold what this reader would misread; none is 1 */
    if (schema && (!json_is_integer(schema) || json_integer_value(schema) > LO_DUMP_SCHEMA)) {
        st = lo_fail(err, LO_ERR_IO, "'%s' has a schema this layerout does not know (it reads schema %d and older): "
                     "use the layerout that wrote it", path, LO_DUMP_SCHEMA);
        goto done;
    }
    if (!json_is_array(tensors) || !json_is_integer(samples)) {
        st = lo_fail(err, LO_ERR_IO, "'%s' is not a layerout manifest (no tensors or samples)", path);
        goto done;
    }
    int cap = 0;
    size_t i;
    json_t *e;
    json_array_foreach(tensors, i, e) {
        const char *file = json_string_value(json_object_get(e, "file"));
        if (!file) {
            st = lo_fail(err, LO_ERR_IO, "'%s': tensor %zu has no file", path, i);
            goto done;
        }
        /* a file name that leaves the sample folder is not ours to read */
        if (strchr(file, '/') || !strcmp(file, ".") || !strcmp(file, "..") || !file[0]) {
            st = lo_fail(err, LO_ERR_IO, "'%s': tensor %zu names the file '%s', which is not a file name in "
                         "the sample folder", path, i, file);
            goto done;
        }
        /* the manifest's file may carry an extension; stems are what we match */
        char *stem = lo_strdup(file);
        size_t len = strlen(stem);
        if (len > 4 && (!strcmp(stem + len - 4, ".raw") || !strcmp(stem + len - 4, ".npy")))
            stem[len - 4] = 0;
        st = add_tensor(d, &cap, stem, err);
        free(stem);
        if (st != LO_OK) goto done;
        lo_dump_tensor *t = &d->tensors[d->n_tensors - 1];
        t->name = json_dup(e, "name");
        t->node = json_dup(e, "node");
        t->op_type = json_dup(e, "op_type");
        t->module = json_dup(e, "module");
        t->encoding = json_dup(e, "encoding");
        if (t->encoding) d->quantized = true;
        t->dtype = dtype_from_numpy(json_string_value(json_object_get(e, "dtype")));
        json_t *shape = json_object_get(e, "shape");
        if (json_is_array(shape) && json_array_size(shape) <= LO_MAX_RANK) {
            t->rank = (int)json_array_size(shape);
            for (int k = 0; k < t->rank; k++) t->dims[k] = json_integer_value(json_array_get(shape, k));
        }
    }
    d->naming = json_dup(m, "naming");
    int want = (int)json_integer_value(samples);
    /* leftovers past the manifest are not whole */
    while (d->n_samples > want && d->n_samples > 0) free(d->sample_dirs[--d->n_samples]);
done:
    json_decref(m);
    return st;
}

static lo_status read_name_order(lo_dump *d, const char *path, lo_error *err) {
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) return lo_fail(err, LO_ERR_IO, "cannot read '%s': %s (line %d)", path, je.text, je.line);
    json_t *names = json_object_get(j, "layer_output_names");
    lo_status st = LO_OK;
    if (!json_is_array(names)) {
        st = lo_fail(err, LO_ERR_IO, "'%s' has no layer_output_names list", path);
    } else {
        int cap = 0;
        size_t i;
        json_t *e;
        json_array_foreach(names, i, e) {
            if (!json_is_string(e)) {
                st = lo_fail(err, LO_ERR_IO, "'%s': entry %zu is not a string", path, i);
                break;
            }
            if ((st = add_tensor(d, &cap, json_string_value(e), err)) != LO_OK) break;
        }
    }
    json_decref(j);
    return st;
}

lo_status lo_dump_open(const char *path, lo_dump *d, lo_error *err) {
    memset(d, 0, sizeof *d);
    if (!is_dir(path)) return lo_fail(err, LO_ERR_IO, "'%s' is not a folder", path);
    d->path = lo_strdup(path);
    char *manifest = join(path, LO_DUMP_MANIFEST);
    char *order = join(path, LO_DUMP_ORDER);
    char *outputs = join(path, "outputs");
    char *result0 = join(path, "Result_0");
    lo_status st = LO_OK;
    if (!manifest || !order || !outputs || !result0) {
        st = lo_fail(err, LO_ERR_NOMEM, "out of memory");
    } else if (is_file(manifest) || is_file(order)) {
        st = find_samples(d, outputs, LO_DUMP_SAMPLE_PREFIX, true, err);
        if (st == LO_OK && is_file(manifest)) {
            d->kind = LO_DUMP_LAYEROUT;
            st = read_manifest(d, manifest, err);
        } else if (st == LO_OK) {
            d->kind = LO_DUMP_AIMET;
            st = read_name_order(d, order, err);
        }
        d->has_order = true;
    } else if (is_dir(result0)) {
        d->kind = LO_DUMP_QNN;
        st = find_samples(d, path, "Result_", false, err);
        if (st == LO_OK) st = list_stems(d, d->sample_dirs[0], err);
    } else {
        /* one Result_K folder given directly */
        d->kind = LO_DUMP_QNN;
        d->sample_dirs = malloc(sizeof *d->sample_dirs);
        if (!d->sample_dirs || !(d->sample_dirs[0] = lo_strdup(path))) {
            st = lo_fail(err, LO_ERR_NOMEM, "out of memory");
        } else {
            d->n_samples = 1;
            /* qnn-net-run's Result_K holds sample K: pair it with K, not 0 */
            size_t end = strlen(path);
            while (end > 1 && path[end - 1] == '/') end--;
            size_t start = end;
            while (start > 0 && path[start - 1] != '/') start--;
            if (end - start > 7 && !strncmp(path + start, "Result_", 7)) {
                int k = 0;
                bool digits = true;
                for (size_t i = start + 7; i < end && digits; i++) {
                    if (!isdigit((unsigned char)path[i]) || k > 100000000) digits = false;
                    else k = k * 10 + (path[i] - '0');
                }
                if (digits) d->first_sample = k;
            }
            st = list_stems(d, path, err);
            if (st == LO_OK && d->n_tensors == 0)
                st = lo_fail(err, LO_ERR_IO, "'%s' is not a dump: no " LO_DUMP_MANIFEST ", no "
                             LO_DUMP_ORDER ", no Result_0 folder and no .raw files", path);
        }
    }
    if (st == LO_OK && d->n_samples == 0)
        st = lo_fail(err, LO_ERR_IO, "'%s' holds no complete sample", path);
    if (st == LO_OK && d->container_files) {
        /* every sample's header once: a pair then costs no parsing */
        d->containers = calloc((size_t)d->n_samples, sizeof *d->containers);
        if (!d->containers) st = lo_fail(err, LO_ERR_NOMEM, "out of memory");
        for (int k = 0; st == LO_OK && k < d->n_samples; k++)
            st = lo_st_read_index(d->sample_dirs[k], &d->containers[k], err);
    }
    free(manifest);
    free(order);
    free(outputs);
    free(result0);
    /* a failed open holds nothing: callers need not close it */
    if (st != LO_OK) lo_dump_close(d);
    return st;
}

void lo_dump_close(lo_dump *d) {
    if (!d) return;
    for (int i = 0; i < d->n_tensors; i++) {
        lo_dump_tensor *t = &d->tensors[i];
        free(t->file);
        free(t->name);
        free(t->node);
        free(t->op_type);
        free(t->module);
        free(t->encoding);
    }
    free(d->naming);
    free(d->tensors);
    for (int k = 0; d->containers && k < d->n_samples; k++) lo_st_index_free(&d->containers[k]);
    free(d->containers);
    for (int k = 0; k < d->n_samples; k++) free(d->sample_dirs[k]);
    free(d->sample_dirs);
    free(d->path);
    memset(d, 0, sizeof *d);
}

/* ---- tensor files ---------------------------------------------------------------- */

/* The data offset, dtype and shape of a .npy image: enough of the header to
 * point into the mapping (lo_npy_decode would copy the data). */
static lo_status npy_locate(lo_mapped *m, const char *path, lo_error *err) {
    lo_npy_header_info h;
    lo_error sub;
    if (lo_npy_parse(m->map, m->map_size, &h, &sub) != LO_OK)
        return lo_fail(err, LO_ERR_IO, "'%s': %s", path, sub.message);
    m->npy_dtype = h.dtype;
    m->npy_rank = h.rank;
    memcpy(m->npy_dims, h.dims, sizeof h.dims);
    m->data = (const uint8_t *)m->map + h.data_offset;
    m->nbytes = h.nbytes;
    /* a header whose length breaks the data's alignment (numpy pads to 64,
     * a hand-made file may not): read from an aligned copy instead */
    size_t esize = lo_dtype_size(h.dtype);
    if (esize && (uintptr_t)m->data % esize) {
        m->copy = malloc(m->nbytes ? m->nbytes : 1);
        if (!m->copy) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
        memcpy(m->copy, m->data, m->nbytes);
        m->data = m->copy;
    }
    return LO_OK;
}

bool lo_dump_holds(const lo_dump *d, int sample, int t) {
    if (t < 0 || t >= d->n_tensors || sample < 0 || sample >= d->n_samples) return false;
    if (d->containers) return lo_st_find(&d->containers[sample], d->tensors[t].file) != NULL;
    const char *dir = d->sample_dirs[sample], *stem = d->tensors[t].file;
    size_t n = strlen(dir) + strlen(stem) + 8;
    char *path = malloc(n);
    if (!path) return false;
    snprintf(path, n, "%s/%s.raw", dir, stem);
    bool found = is_file(path);
    if (!found) {
        snprintf(path, n, "%s/%s.npy", dir, stem);
        found = is_file(path);
    }
    free(path);
    return found;
}

/* A tensor's bytes inside a sample's safetensors file: the pages that hold
 * them are mapped. */
static lo_status container_map(const lo_dump *d, int sample, int t, lo_mapped *out, lo_error *err) {
    const char *path = d->sample_dirs[sample];
    const lo_st_entry *e = lo_st_find(&d->containers[sample], d->tensors[t].file);
    if (!e) return lo_fail(err, LO_ERR_IO, "%s holds no tensor '%s'", path, d->tensors[t].file);
    out->npy_dtype = e->dtype;
    out->npy_rank = e->rank;
    memcpy(out->npy_dims, e->dims, sizeof e->dims);
    out->nbytes = (size_t)(e->end - e->begin);
    out->data = "";
    if (!out->nbytes) return LO_OK;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return lo_fail(err, LO_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), start = e->begin / page * page;
    out->map_size = (size_t)(e->end - start);
    out->map = mmap(NULL, out->map_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, (off_t)start);
    int merr = errno;
    close(fd);
    if (out->map == MAP_FAILED) {
        out->map = NULL;
        return lo_fail(err, LO_ERR_IO, "cannot map '%s': %s", path, strerror(merr));
    }
    madvise(out->map, out->map_size, MADV_SEQUENTIAL);
    out->data = (const uint8_t *)out->map + (e->begin - start);
    /* tensors are packed without padding: an odd-sized one before leaves
     * the next misaligned, so it is read from an aligned copy */
    size_t esize = lo_dtype_size(e->dtype);
    if (esize && (uintptr_t)out->data % esize) {
        out->copy = malloc(out->nbytes);
        if (!out->copy) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
        memcpy(out->copy, out->data, out->nbytes);
        out->data = out->copy;
    }
    return LO_OK;
}

lo_status lo_dump_map(const lo_dump *d, int sample, int t, lo_mapped *out, lo_error *err) {
    memset(out, 0, sizeof *out);
    out->npy_rank = -1;
    if (d->containers) {
        lo_status st = container_map(d, sample, t, out, err);
        if (st != LO_OK) lo_unmap(out);
        return st;
    }
    const char *stem = d->tensors[t].file;
    const char *dir = d->sample_dirs[sample];
    size_t n = strlen(dir) + strlen(stem) + 8;
    char *path = malloc(n);
    if (!path) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    bool npy = false;
    snprintf(path, n, "%s/%s.raw", dir, stem);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(path, n, "%s/%s.npy", dir, stem);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        npy = true;
    }
    if (fd < 0) {
        lo_status st = lo_fail(err, LO_ERR_IO, "%s/%s.raw is missing", dir, stem);
        free(path);
        return st;
    }
    struct stat st;
    lo_status status = LO_OK;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        status = lo_fail(err, LO_ERR_IO, "'%s' is not a regular file", path);
    } else if (st.st_size > 0) {
        out->map_size = (size_t)st.st_size;
        /* MAP_POPULATE: one bulk fault-in instead of a page fault per 4 KB,
         * which costs more than the metrics themselves on large tensors. */
        out->map = mmap(NULL, out->map_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
        if (out->map == MAP_FAILED) {
            out->map = NULL;
            status = lo_fail(err, LO_ERR_IO, "cannot map '%s': %s", path, strerror(errno));
        } else {
            /* one sequential pass follows */
            madvise(out->map, out->map_size, MADV_SEQUENTIAL);
        }
    }
    close(fd);
    if (status == LO_OK) {
        if (npy) status = npy_locate(out, path, err);
        else {
            out->data = out->map;
            out->nbytes = out->map_size;
        }
    }
    if (status != LO_OK) lo_unmap(out);
    free(path);
    return status;
}

void lo_unmap(lo_mapped *m) {
    if (m->map) munmap(m->map, m->map_size);
    free(m->copy);
    memset(m, 0, sizeof *m);
}
