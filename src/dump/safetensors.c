/* safetensors containers: one file per sample holding every saved tensor,
 * so a sample costs one file creation instead of one per tensor.
 *
 * The format (Hugging Face's): an 8-byte little-endian header length N, N
 * bytes of JSON {key: {"dtype", "shape", "data_offsets": [begin, end]}, ...,
 * "__metadata__": {string: string}}, then the data, offsets counted from its
 * start, packed without holes.
 *
 * Tensors arrive one by one while the header must come first, so the data
 * is written after a reserved gap (the previous sample's header length plus
 * room, given by the caller) and the header is written last, padded with
 * spaces (which the format allows) to fill the gap. A header that outgrows
 * the gap moves the data up once (the first sample, usually). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dump.h"

/* The types safetensors names. Types it has no name for (strings,
 * complex128, the sub-byte integers and floats, whose packing would differ)
 * are refused rather than stored under a name that means something else. */
static const struct {
    lo_dtype dtype;
    const char *name;
} st_types[] = {
    {LO_DOUBLE, "F64"},          {LO_FLOAT, "F32"},           {LO_FLOAT16, "F16"},
    {LO_BFLOAT16, "BF16"},       {LO_INT64, "I64"},           {LO_UINT64, "U64"},
    {LO_INT32, "I32"},           {LO_UINT32, "U32"},          {LO_INT16, "I16"},
    {LO_UINT16, "U16"},          {LO_INT8, "I8"},             {LO_UINT8, "U8"},
    {LO_BOOL, "BOOL"},           {LO_COMPLEX64, "C64"},       {LO_FLOAT8E4M3FN, "F8_E4M3"},
    {LO_FLOAT8E5M2, "F8_E5M2"},  {LO_FLOAT8E4M3FNUZ, "F8_E4M3FNUZ"}, {LO_FLOAT8E5M2FNUZ, "F8_E5M2FNUZ"},
    {LO_FLOAT8E8M0, "F8_E8M0"},
};

const char *lo_st_dtype_name(lo_dtype dtype) {
    for (size_t i = 0; i < sizeof st_types / sizeof st_types[0]; i++)
        if (st_types[i].dtype == dtype) return st_types[i].name;
    return NULL;
}

static lo_dtype st_dtype_from_name(const char *name) {
    for (size_t i = 0; name && i < sizeof st_types / sizeof st_types[0]; i++)
        if (!strcmp(st_types[i].name, name)) return st_types[i].dtype;
    return LO_UNDEFINED;
}

/* ---- writing ------------------------------------------------------------------------ */

struct lo_st_writer {
    int fd;
    char path[4400]; /* for messages */
    uint64_t data_start; /* the reserved gap: data begins here until finish */
    uint64_t end;        /* data bytes reserved so far */
    json_t *header;
    json_t *metadata;
};

static lo_status pwrite_all(int fd, const void *data, size_t len, uint64_t at, const char *path, lo_error *err) {
    const char *p = data;
    while (len) {
        ssize_t w = pwrite(fd, p, len, (off_t)at);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            /* a write of 0 bytes is a full disk that did not say so */
            int e = w < 0 ? errno : ENOSPC;
            return lo_fail(err, LO_ERR_IO, "cannot write '%s': %s", path, strerror(e));
        }
        p += w;
        len -= (size_t)w;
        at += (uint64_t)w;
    }
    return LO_OK;
}

lo_status lo_st_create(int dirfd, const char *dirpath, const char *file, size_t reserve, lo_st_writer **out,
                       lo_error *err) {
    *out = NULL;
    lo_st_writer *w = calloc(1, sizeof *w);
    if (!w) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    snprintf(w->path, sizeof w->path, "%s/%s", dirpath, file);
    w->header = json_object();
    w->metadata = json_object();
    if (!w->header || !w->metadata) {
        lo_st_free(w);
        return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    }
    w->fd = openat(dirfd, file, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (w->fd < 0) {
        int e = errno;
        lo_st_free(w);
        return lo_fail(err, LO_ERR_IO, "cannot create '%s/%s': %s", dirpath, file, strerror(e));
    }
    reserve = (reserve + 7) / 8 * 8;
    w->data_start = reserve < 64 ? 64 : reserve;
    *out = w;
    return LO_OK;
}

lo_status lo_st_add(lo_st_writer *w, const char *key, const char *onnx_name, const lo_tensor_view *t, uint64_t *at,
                    lo_error *err) {
    const char *dt = lo_st_dtype_name(t->dtype);
    if (!dt)
        return lo_fail(err, LO_ERR_UNSUPPORTED, "cannot save %s tensor '%s' in a safetensors file (safetensors has "
                       "no %s type); use --format raw or npy", lo_dtype_name(t->dtype), onnx_name ? onnx_name : key,
                       lo_dtype_name(t->dtype));
    if (!strcmp(key, "__metadata__"))
        return lo_fail(err, LO_ERR_UNSUPPORTED, "cannot save tensor '%s' in a safetensors file: the format reserves the "
                       "name __metadata__; use --format raw or npy, or --name-map", onnx_name ? onnx_name : key);
    if (json_object_get(w->header, key))
        return lo_fail(err, LO_ERR_ARGUMENT, "'%s' holds a tensor named '%s' already", w->path, key);
    json_t *e = json_object(), *shape = json_array(), *offs = json_array();
    if (!e || !shape || !offs) {
        json_decref(e);
        json_decref(shape);
        json_decref(offs);
        return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    }
    for (int d = 0; d < t->rank; d++) json_array_append_new(shape, json_integer(t->dims[d]));
    json_array_append_new(offs, json_integer((json_int_t)w->end));
    json_array_append_new(offs, json_integer((json_int_t)(w->end + t->nbytes)));
    json_object_set_new(e, "dtype", json_string(dt));
    json_object_set_new(e, "shape", shape);
    json_object_set_new(e, "data_offsets", offs);
    if (json_object_set_new(w->header, key, e) != 0) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    if (onnx_name) json_object_set_new(w->metadata, key, json_string(onnx_name));
    *at = w->end;
    w->end += t->nbytes;
    return LO_OK;
}

lo_status lo_st_write(lo_st_writer *w, uint64_t at, const lo_tensor_view *t, lo_error *err) {
    return pwrite_all(w->fd, t->data, t->nbytes, w->data_start + at, w->path, err);
}

/* Moves the data from old to new (new > old) back to front, so the regions
 * may overlap. */
static lo_status move_data(lo_st_writer *w, uint64_t old_start, uint64_t new_start, lo_error *err) {
    size_t chunk = (size_t)1 << 20;
    char *buf = malloc(chunk);
    if (!buf) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    uint64_t left = w->end;
    lo_status st = LO_OK;
    while (left && st == LO_OK) {
        size_t n = left < chunk ? (size_t)left : chunk;
        uint64_t from = old_start + left - n;
        size_t got = 0;
        while (got < n) {
            ssize_t r = pread(w->fd, buf + got, n - got, (off_t)(from + got));
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                st = lo_fail(err, LO_ERR_IO, "cannot read back '%s': %s", w->path, r < 0 ? strerror(errno) : "short file");
                break;
            }
            got += (size_t)r;
        }
        if (st == LO_OK) st = pwrite_all(w->fd, buf, n, new_start + left - n, w->path, err);
        left -= n;
    }
    free(buf);
    return st;
}

lo_status lo_st_finish(lo_st_writer *w, size_t *reserve_used, lo_error *err) {
    if (json_object_size(w->metadata)) json_object_set(w->header, "__metadata__", w->metadata);
    char *text = json_dumps(w->header, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    if (!text) return lo_fail(err, LO_ERR_NOMEM, "out of memory writing '%s'", w->path);
    size_t len = strlen(text);
    uint64_t need = (8 + len + 7) / 8 * 8; /* the data starts 8-aligned */
    lo_status st = LO_OK;
    uint64_t start = w->data_start;
    if (need > start) {
        st = move_data(w, start, need, err);
        start = need;
    }
    size_t hl = (size_t)start - 8;
    char *head = st == LO_OK ? malloc(start) : NULL;
    if (st == LO_OK && !head) st = lo_fail(err, LO_ERR_NOMEM, "out of memory writing '%s'", w->path);
    if (st == LO_OK) {
        for (int i = 0; i < 8; i++) head[i] = (char)((uint64_t)hl >> (8 * i) & 0xff);
        memcpy(head + 8, text, len);
        memset(head + 8 + len, ' ', hl - len);
        st = pwrite_all(w->fd, head, (size_t)start, 0, w->path, err);
    }
    free(head);
    free(text);
    if (st == LO_OK && close(w->fd) != 0) {
        w->fd = -1;
        st = lo_fail(err, LO_ERR_IO, "cannot write '%s': %s", w->path, strerror(errno));
    }
    if (st == LO_OK) w->fd = -1;
    if (reserve_used) *reserve_used = 8 + len;
    return st;
}

void lo_st_free(lo_st_writer *w) {
    if (!w) return;
    if (w->fd >= 0) close(w->fd);
    json_decref(w->header);
    json_decref(w->metadata);
    free(w);
}

lo_status lo_st_write_file(int dirfd, const char *dirpath, const char *file, const lo_tensor_view *t,
                           const char *const *keys, int n, lo_error *err) {
    lo_st_writer *w;
    LO_TRY(lo_st_create(dirfd, dirpath, file, 256, &w, err));
    lo_status st = LO_OK;
    for (int i = 0; i < n && st == LO_OK; i++) {
        uint64_t at;
        st = lo_st_add(w, keys[i], t[i].name, &t[i], &at, err);
        if (st == LO_OK) st = lo_st_write(w, at, &t[i], err);
    }
    if (st == LO_OK) st = lo_st_finish(w, NULL, err);
    lo_st_free(w);
    return st;
}

/* ---- reading -------------------------------------------------------------------------- */

/* The format's own bound on a header (the reference reader's). */
#define ST_MAX_HEADER ((uint64_t)100 << 20)

lo_status lo_st_read_index(const char *path, lo_st_index *out, lo_error *err) {
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return lo_fail(err, LO_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat sb;
    unsigned char lenb[8];
    lo_status st = LO_OK;
    char *text = NULL;
    json_t *h = NULL;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = lo_fail(err, LO_ERR_IO, "'%s' is not a regular file", path);
        goto done;
    }
    uint64_t size = (uint64_t)sb.st_size, hl = 0;
    if (size < 8 || pread(fd, lenb, 8, 0) != 8) {
        st = lo_fail(err, LO_ERR_IO, "'%s' is not a safetensors file: shorter than its 8-byte header length", path);
        goto done;
    }
    for (int i = 7; i >= 0; i--) hl = hl << 8 | lenb[i];
    if (hl < 2 || hl > ST_MAX_HEADER || hl > size - 8) {
        st = lo_fail(err, LO_ERR_IO, "'%s' is not a safetensors file: its header length %llu does not fit the "
                     "file's %llu bytes", path, (unsigned long long)hl, (unsigned long long)size);
        goto done;
    }
    text = malloc((size_t)hl);
    if (!text) {
        st = lo_fail(err, LO_ERR_NOMEM, "out of memory reading '%s'", path);
        goto done;
    }
    if (pread(fd, text, (size_t)hl, 8) != (ssize_t)hl) {
        st = lo_fail(err, LO_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
        goto done;
    }
    json_error_t je;
    h = json_loadb(text, (size_t)hl, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(h)) {
        st = lo_fail(err, LO_ERR_IO, "'%s': the safetensors header is not a JSON object (%s)", path,
                     h ? "another value" : je.text);
        goto done;
    }
    uint64_t data_start = 8 + hl, data_size = size - data_start;
    size_t n = json_object_size(h);
    out->entries = calloc(n ? n : 1, sizeof *out->entries);
    out->by_key = json_object();
    if (!out->entries || !out->by_key) {
        st = lo_fail(err, LO_ERR_NOMEM, "out of memory reading '%s'", path);
        goto done;
    }
    const char *key;
    json_t *v;
    json_object_foreach(h, key, v) {
        if (!strcmp(key, "__metadata__")) {
            out->metadata = json_incref(v);
            continue;
        }
        lo_st_entry *e = &out->entries[out->n];
        json_t *shape = json_object_get(v, "shape"), *offs = json_object_get(v, "data_offsets");
        const char *dt = json_string_value(json_object_get(v, "dtype"));
        e->dtype = st_dtype_from_name(dt);
        if (!e->dtype) {
            st = lo_fail(err, LO_ERR_UNSUPPORTED, "'%s': tensor '%s' has dtype '%s', which layerout does not read",
                         path, key, dt ? dt : "(none)");
            goto done;
        }
        if (!json_is_array(shape) || json_array_size(shape) > LO_MAX_RANK || !json_is_array(offs) ||
            json_array_size(offs) != 2) {
            st = lo_fail(err, LO_ERR_IO, "'%s': tensor '%s' has a malformed shape or data_offsets", path, key);
            goto done;
        }
        e->rank = (int)json_array_size(shape);
        for (int d = 0; d < e->rank; d++) {
            json_t *x = json_array_get(shape, (size_t)d);
            if (!json_is_integer(x) || json_integer_value(x) < 0) {
                st = lo_fail(err, LO_ERR_IO, "'%s': tensor '%s' has a malformed shape", path, key);
                goto done;
            }
            e->dims[d] = json_integer_value(x);
        }
        json_t *b = json_array_get(offs, 0), *en = json_array_get(offs, 1);
        size_t nbytes;
        lo_error sub;
        if (!json_is_integer(b) || !json_is_integer(en) || json_integer_value(b) < 0 ||
            json_integer_value(en) < json_integer_value(b) || (uint64_t)json_integer_value(en) > data_size ||
            !lo_shape_bytes(e->dtype, e->rank, e->dims, &nbytes, &sub) ||
            (uint64_t)(json_integer_value(en) - json_integer_value(b)) != nbytes) {
            st = lo_fail(err, LO_ERR_IO, "'%s': tensor '%s' has data_offsets that do not fit its shape or the "
                         "file (truncated?)", path, key);
            goto done;
        }
        e->begin = data_start + (uint64_t)json_integer_value(b);
        e->end = data_start + (uint64_t)json_integer_value(en);
        e->key = lo_strdup(key);
        if (!e->key || json_object_set_new(out->by_key, key, json_integer(out->n)) != 0) {
            free(e->key);
            st = lo_fail(err, LO_ERR_NOMEM, "out of memory reading '%s'", path);
            goto done;
        }
        out->n++;
    }
done:
    json_decref(h);
    free(text);
    close(fd);
    if (st != LO_OK) lo_st_index_free(out);
    return st;
}

const lo_st_entry *lo_st_find(const lo_st_index *x, const char *key) {
    json_t *i = x->by_key ? json_object_get(x->by_key, key) : NULL;
    return i ? &x->entries[json_integer_value(i)] : NULL;
}

void lo_st_index_free(lo_st_index *x) {
    if (!x) return;
    for (int i = 0; i < x->n; i++) free(x->entries[i].key);
    free(x->entries);
    json_decref(x->by_key);
    json_decref(x->metadata);
    memset(x, 0, sizeof *x);
}
