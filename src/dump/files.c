/* Tensor files and names: AIMET's name sanitizing, .npy encode/decode, raw
 * and .pb inputs, atomic file writes, and input_list.txt. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wchar.h>
#include <wctype.h>

#include "../onnx/onnx.h"
#include "dump.h"
#include "../util/util.h"

/* ---- names ---------------------------------------------------------------- */

static bool is_word_char(unsigned cp) {
    if (cp < 0x80) return isalnum((int)cp) || cp == '_';
    locale_t utf8 = lo_utf8_locale();
    /* Python's \w is Unicode alphanumerics; glibc's C.UTF-8 classifies them. */
    if (utf8) return iswalnum_l((wint_t)cp, utf8) != 0;
    return true;
}

#define NAME_LIMIT 200 /* leaves room for suffixes and extensions under NAME_MAX */

char *lo_sanitize_name(const char *name) {
    size_t n = strlen(name);
    char *out = malloc(n + 2 + 20);
    if (!out) return NULL;
    size_t len = 0;
    bool in_run = false;
    const unsigned char *s = (const unsigned char *)name;
    while (*s) {
        unsigned cp;
        int k = lo_utf8_decode(s, &cp);
        if (k && is_word_char(cp)) {
            memcpy(out + len, s, (size_t)k);
            len += (size_t)k;
            in_run = false;
            s += k;
        } else {
            if (!in_run) out[len++] = '_';
            in_run = true;
            s += k ? k : 1;
        }
    }
    out[len] = 0;
    if (len == 0) {
        strcpy(out, "_");
        len = 1;
    }
    if (len > NAME_LIMIT) {
        /* cut on a code point boundary and keep names distinct with a hash */
        size_t cut = NAME_LIMIT;
        while (cut > 0 && ((unsigned char)out[cut] & 0xc0) == 0x80) cut--;
        uint64_t h = lo_fnv1a64(name);
        snprintf(out + cut, n + 22 - cut, "_%016llx", (unsigned long long)h);
    }
    return out;
}

/* ---- .npy --------------------------------------------------------------------- */

static const struct {
    lo_dtype dtype;
    const char *descr;
    const char *numpy;
} npy_types[] = {
    {LO_FLOAT, "<f4", "float32"},   {LO_DOUBLE, "<f8", "float64"}, {LO_FLOAT16, "<f2", "float16"},
    {LO_UINT8, "|u1", "uint8"},     {LO_INT8, "|i1", "int8"},      {LO_UINT16, "<u2", "uint16"},
    {LO_INT16, "<i2", "int16"},     {LO_INT32, "<i4", "int32"},    {LO_UINT32, "<u4", "uint32"},
    {LO_INT64, "<i8", "int64"},     {LO_UINT64, "<u8", "uint64"},  {LO_BOOL, "|b1", "bool"},
    {LO_COMPLEX64, "<c8", "complex64"}, {LO_COMPLEX128, "<c16", "complex128"},
};

const char *lo_numpy_name(lo_dtype dtype) {
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
        if (npy_types[i].dtype == dtype) return npy_types[i].numpy;
    return lo_dtype_name(dtype);
}

size_t lo_npy_header(lo_dtype dtype, int rank, const int64_t *dims, char *buf, size_t size) {
    const char *descr = NULL;
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
        if (npy_types[i].dtype == dtype) descr = npy_types[i].descr;
    if (!descr || size < 128) return 0;
    char shape[LO_MAX_RANK * 24 + 8] = "";
    size_t sl = 0;
    for (int d = 0; d < rank; d++)
        sl += (size_t)snprintf(shape + sl, sizeof shape - sl, "%lld,%s", (long long)dims[d],
                               d + 1 < rank ? " " : "");
    if (rank > 1) shape[--sl] = 0; /* numpy writes (1,) for rank 1 only */
    char dict[512];
    int dl = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
                      descr, shape);
    size_t total = 10 + (size_t)dl + 1;
    size_t padded = (total + 63) / 64 * 64;
    if (padded > size) return 0;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    uint16_t hl = (uint16_t)(padded - 10);
    buf[8] = (char)(hl & 0xff);
    buf[9] = (char)(hl >> 8);
    memcpy(buf + 10, dict, (size_t)dl);
    memset(buf + 10 + dl, ' ', padded - 10 - (size_t)dl - 1);
    buf[padded - 1] = '\n';
    return padded;
}

/* Finds the value text after 'key': in a numpy header dict. */
static const char *npy_field(const char *hdr, const char *key) {
    char pat[32];
    snprintf(pat, sizeof pat, "'%s'", key);
    const char *p = strstr(hdr, pat);
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ') p++;
    if (*p != ':') return NULL;
    p++;
    while (*p == ' ') p++;
    return p;
}

lo_status lo_npy_parse(const uint8_t *b, size_t len, lo_npy_header_info *h, lo_error *err) {
    memset(h, 0, sizeof *h);
    if (len < 10 || memcmp(b, "\x93NUMPY", 6) != 0)
        return lo_fail(err, LO_ERR_INPUT, "not a .npy file (bad magic)");
    int major = b[6];
    size_t hl, start;
    if (major == 1) {
        hl = (size_t)b[8] | (size_t)b[9] << 8;
        start = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12) return lo_fail(err, LO_ERR_INPUT, "truncated .npy header");
        hl = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        start = 12;
    } else {
        return lo_fail(err, LO_ERR_INPUT, "unknown .npy version %d", major);
    }
    if (hl > len - start || hl > 65536) return lo_fail(err, LO_ERR_INPUT, "truncated .npy header");
    char hdr[65537];
    memcpy(hdr, b + start, hl);
    hdr[hl] = 0;
    const char *descr = npy_field(hdr, "descr");
    const char *fortran = npy_field(hdr, "fortran_order");
    const char *shape = npy_field(hdr, "shape");
    if (!descr || !fortran || !shape || (*descr != '\'' && *descr != '"') || *shape != '(')
        return lo_fail(err, LO_ERR_INPUT, "malformed .npy header: %.200s", hdr);
    if (strncmp(fortran, "False", 5) != 0)
        return lo_fail(err, LO_ERR_INPUT, ".npy array in Fortran order is not supported; save it "
                       "C-contiguous (numpy.ascontiguousarray)");
    char d[16] = {0};
    const char *q = strchr(descr + 1, *descr);
    if (!q || q - descr - 1 >= (long)sizeof d) return lo_fail(err, LO_ERR_INPUT, "malformed .npy dtype");
    memcpy(d, descr + 1, (size_t)(q - descr - 1));
    if (d[0] == '=') d[0] = '<';
    if (d[0] == '|' && d[1] != 'u' && d[1] != 'i' && d[1] != 'b') d[0] = '<';
    if ((d[1] == 'u' || d[1] == 'i' || d[1] == 'b') && d[2] == '1') d[0] = '|';
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
        if (strcmp(npy_types[i].descr, d) == 0) h->dtype = npy_types[i].dtype;
    if (!h->dtype)
        return lo_fail(err, LO_ERR_INPUT, ".npy dtype '%s' is not supported%s", d,
                       d[0] == '>' ? " (big-endian)" : "");
    const char *p = shape + 1;
    while (*p && *p != ')') {
        while (*p == ' ' || *p == ',') p++;
        if (*p == ')') break;
        if (!isdigit((unsigned char)*p)) return lo_fail(err, LO_ERR_INPUT, "malformed .npy shape");
        if (h->rank >= LO_MAX_RANK)
            return lo_fail(err, LO_ERR_INPUT, ".npy array has more than %d dimensions", LO_MAX_RANK);
        errno = 0;
        char *end;
        long long v = strtoll(p, &end, 10);
        if (errno) return lo_fail(err, LO_ERR_INPUT, "malformed .npy shape");
        h->dims[h->rank++] = v;
        p = end;
    }
    if (*p != ')') return lo_fail(err, LO_ERR_INPUT, "malformed .npy shape");
    if (!lo_shape_bytes(h->dtype, h->rank, h->dims, &h->nbytes, err)) return err->status;
    h->data_offset = start + hl;
    if (len - h->data_offset != h->nbytes)
        return lo_fail(err, LO_ERR_INPUT, ".npy data is %zu bytes, its header says %zu", len - h->data_offset,
                       h->nbytes);
    return LO_OK;
}

lo_status lo_npy_decode(const uint8_t *b, size_t len, lo_tensor *out, lo_error *err) {
    memset(out, 0, sizeof *out);
    lo_npy_header_info h;
    LO_TRY(lo_npy_parse(b, len, &h, err));
    out->kind = LO_KIND_TENSOR;
    out->dtype = h.dtype;
    out->rank = h.rank;
    memcpy(out->dims, h.dims, sizeof h.dims);
    out->nbytes = h.nbytes;
    out->data = malloc(out->nbytes ? out->nbytes : 1);
    if (!out->data) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    if (out->nbytes) memcpy(out->data, b + h.data_offset, out->nbytes);
    return LO_OK;
}

/* ---- reading input files ---------------------------------------------------------- */

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

lo_status lo_read_tensor_file(const char *path, lo_dtype want_dtype, int want_rank,
                              const int64_t *want_dims, lo_tensor *out, lo_error *err) {
    memset(out, 0, sizeof *out);
    char s1[160], s2[160];
    lo_error sub;
    if (ends_with(path, ".pb")) {
        char *name = NULL;
        LO_TRY(lo_onnx_read_tensor_file(path, out, &name, err));
        free(name);
    } else if (ends_with(path, ".npy")) {
        uint8_t *b;
        size_t len;
        LO_TRY(lo_read_file(path, &b, &len, err));
        lo_status st = lo_npy_decode(b, len, out, &sub);
        free(b);
        if (st != LO_OK) return lo_fail(err, st, "'%s': %s", path, sub.message);
    } else {
        /* raw: the bytes of the model's declared type and shape */
        if (want_rank < 0 || !want_dtype)
            return lo_fail(err, LO_ERR_INPUT, "'%s' is a raw file but the model declares no "
                           "type and shape for it; use .npy or .pb", path);
        for (int d = 0; d < want_rank; d++)
            if (want_dims[d] < 0)
                return lo_fail(err, LO_ERR_INPUT, "'%s' is a raw file but dimension %d of the "
                               "input is dynamic; give it with --shape NAME=%s", path, d,
                               lo_shape_str(want_rank, want_dims, s1, sizeof s1));
        out->kind = LO_KIND_TENSOR;
        out->dtype = want_dtype;
        out->rank = want_rank;
        memcpy(out->dims, want_dims, (size_t)want_rank * sizeof *want_dims);
        if (!lo_shape_bytes(want_dtype, want_rank, want_dims, &out->nbytes, &sub))
            return lo_fail(err, sub.status, "'%s': %s", path, sub.message);
        if (want_dtype == LO_STRING)
            return lo_fail(err, LO_ERR_INPUT, "'%s': string inputs cannot be raw files", path);
        uint8_t *b;
        size_t len;
        LO_TRY(lo_read_file(path, &b, &len, err));
        if (len != out->nbytes) {
            free(b);
            return lo_fail(err, LO_ERR_INPUT, "'%s' holds %zu bytes; a %s tensor of shape %s needs %zu",
                           path, len, lo_dtype_name(want_dtype), lo_shape_str(want_rank, want_dims, s1, sizeof s1),
                           out->nbytes);
        }
        out->data = b;
        return LO_OK;
    }
    /* ONNX's older test data (1.12 and before) stores bfloat16 tensors as
     * UINT16, and .npy has no bfloat16: the same 16 bits, taken as bfloat16 */
    if (want_dtype == LO_BFLOAT16 && out->dtype == LO_UINT16) out->dtype = LO_BFLOAT16;
    if (want_dtype && out->dtype != want_dtype) {
        lo_dtype got = out->dtype;
        lo_tensor_free_data(out);
        return lo_fail(err, LO_ERR_INPUT, "'%s' holds %s data; the model input is %s", path,
                       lo_dtype_name(got), lo_dtype_name(want_dtype));
    }
    bool ok = want_rank < 0 || want_rank == out->rank;
    for (int d = 0; ok && want_rank >= 0 && d < want_rank; d++)
        if (want_dims[d] >= 0 && want_dims[d] != out->dims[d]) ok = false;
    if (!ok) {
        lo_fail(err, LO_ERR_INPUT, "'%s' has shape %s; the model input is %s", path,
                lo_shape_str(out->rank, out->dims, s1, sizeof s1),
                lo_shape_str(want_rank, want_dims, s2, sizeof s2));
        lo_tensor_free_data(out);
        return LO_ERR_INPUT;
    }
    return LO_OK;
}

/* ---- SequenceProto and OptionalProto files -------------------------------------------- */
/* Debian's onnx.proto lacks onnx-data.proto, where these two messages are
 * defined, so they are read off the wire here; their tensors go through the
 * TensorProto decoder. Both messages number their fields alike: 1 name,
 * 2 elem_type, 3 tensors, 4 sparse tensors, 5 sequences, 6 maps,
 * 7 optionals (repeated in a sequence, at most one in an optional). */

typedef struct wire {
    const uint8_t *p, *end;
} wire;

typedef struct wire_field {
    uint32_t num;
    int type;
    const uint8_t *bytes; /* length-delimited payload */
    size_t len;
} wire_field;

static bool wire_varint(wire *w, uint64_t *v) {
    *v = 0;
    for (int shift = 0; shift < 64 && w->p < w->end; shift += 7) {
        uint8_t c = *w->p++;
        *v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) return true;
    }
    return false;
}

/* 1: a field read; 0: the end; -1: malformed. */
static int wire_next(wire *w, wire_field *f) {
    if (w->p >= w->end) return 0;
    uint64_t key, v;
    if (!wire_varint(w, &key) || (key >> 3) == 0 || (key >> 3) > 0x1fffffff) return -1;
    f->num = (uint32_t)(key >> 3);
    f->type = (int)(key & 7);
    f->bytes = NULL;
    f->len = 0;
    switch (f->type) {
    case 0: return wire_varint(w, &v) ? 1 : -1;
    case 1:
        if (w->end - w->p < 8) return -1;
        w->p += 8;
        return 1;
    case 5:
        if (w->end - w->p < 4) return -1;
        w->p += 4;
        return 1;
    case 2:
        if (!wire_varint(w, &v) || v > (uint64_t)(w->end - w->p)) return -1;
        f->bytes = w->p;
        f->len = (size_t)v;
        w->p += v;
        return 1;
    default: return -1;
    }
}

static lo_status decode_container(const uint8_t *b, size_t len, bool sequence, lo_dtype elem, lo_tensor *out,
                                  int depth, lo_error *err);

/* A tensor item: bfloat16 stored as uint16 (old data) is taken as bfloat16,
 * and its type must be the declared one. */
static lo_status decode_item(const uint8_t *b, size_t len, lo_dtype elem, lo_tensor *t, int index,
                             lo_error *err) {
    lo_error sub;
    if (lo_onnx_decode_tensor(b, len, t, NULL, &sub) != LO_OK) {
        lo_tensor_free_data(t);
        return index >= 0 ? lo_fail(err, sub.status, "item %d: %s", index, sub.message)
                          : lo_fail(err, sub.status, "%s", sub.message);
    }
    t->kind = LO_KIND_TENSOR;
    if (elem == LO_BFLOAT16 && t->dtype == LO_UINT16) t->dtype = LO_BFLOAT16;
    if (elem && t->dtype != elem) {
        lo_dtype got = t->dtype;
        lo_tensor_free_data(t);
        return index >= 0 ? lo_fail(err, LO_ERR_INPUT, "item %d holds %s data, the model declares %s", index,
                                    lo_dtype_name(got), lo_dtype_name(elem))
                          : lo_fail(err, LO_ERR_INPUT, "it holds %s data, the model declares %s",
                                    lo_dtype_name(got), lo_dtype_name(elem));
    }
    return LO_OK;
}

static lo_status decode_container(const uint8_t *b, size_t len, bool sequence, lo_dtype elem, lo_tensor *out,
                                  int depth, lo_error *err) {
    memset(out, 0, sizeof *out);
    out->kind = sequence ? LO_KIND_SEQUENCE : LO_KIND_NONE;
    out->dtype = sequence ? elem : LO_UNDEFINED;
    wire w = {b, b + len};
    wire_field f;
    int r, cap = 0;
    bool have_value = false;
    while ((r = wire_next(&w, &f)) == 1) {
        /* a TensorProto has its dims (a number) in field 1 and its name,
         * raw_data, ... in fields 8 and up, none of which these messages have */
        if (f.num > 7 || (f.num == 1 && f.type != 2))
            return lo_fail(err, LO_ERR_INPUT, "field %u is not one of a %s (is it a TensorProto?)", f.num,
                           sequence ? "SequenceProto" : "OptionalProto");
        if (f.num == 1) continue; /* the name */
        if (f.num == 2) {
            if (f.type != 0) return lo_fail(err, LO_ERR_INPUT, "field elem_type is not a number");
            continue;
        }
        if (f.type != 2) return lo_fail(err, LO_ERR_INPUT, "field %u has the wrong wire type", f.num);
        if (f.num == 4 || f.num == 6)
            return lo_fail(err, LO_ERR_UNSUPPORTED, "%s of %s are not supported", sequence ? "sequences" : "optionals",
                           f.num == 4 ? "sparse tensors" : "maps");
        if (f.num == 5 || f.num == 7) {
            /* an optional may hold a sequence; deeper nesting the engine does not run */
            if (sequence || f.num == 7 || depth > 0)
                return lo_fail(err, LO_ERR_UNSUPPORTED, "%s of %s are not supported",
                               sequence ? "sequences" : "optionals", f.num == 5 ? "sequences" : "optionals");
            if (have_value) return lo_fail(err, LO_ERR_INPUT, "an optional holds more than one value");
            have_value = true;
            lo_error sub;
            if (decode_container(f.bytes, f.len, true, elem, out, depth + 1, &sub) != LO_OK) {
                lo_tensor_free_data(out);
                return lo_fail(err, sub.status, "its sequence: %s", sub.message);
            }
            continue;
        }
        /* f.num == 3: a tensor */
        if (!sequence) {
            if (have_value) return lo_fail(err, LO_ERR_INPUT, "an optional holds more than one value");
            have_value = true;
            LO_TRY(decode_item(f.bytes, f.len, elem, out, -1, err));
            continue;
        }
        if (out->n_items == cap) {
            cap = cap ? 2 * cap : 8;
            lo_tensor *items = realloc(out->items, (size_t)cap * sizeof *items);
            if (!items) {
                lo_tensor_free_data(out);
                return lo_fail(err, LO_ERR_NOMEM, "out of memory");
            }
            out->items = items;
        }
        lo_tensor *t = &out->items[out->n_items];
        if (decode_item(f.bytes, f.len, elem, t, out->n_items, err) != LO_OK) {
            lo_tensor_free_data(out);
            return err->status;
        }
        out->n_items++;
        if (!elem) out->dtype = t->dtype;
        else if (t->dtype != out->dtype) {
            lo_tensor_free_data(out);
            return lo_fail(err, LO_ERR_INPUT, "the sequence's items differ in type");
        }
    }
    if (r < 0) {
        lo_tensor_free_data(out);
        return lo_fail(err, LO_ERR_INPUT, "malformed protobuf data");
    }
    return LO_OK;
}

lo_status lo_read_container_file(const char *path, char container, lo_dtype elem, lo_tensor *out, lo_error *err) {
    memset(out, 0, sizeof *out);
    const char *what = container == 's' ? "SequenceProto" : "OptionalProto";
    if (container != 's' && container != 'o')
        return lo_fail(err, LO_ERR_UNSUPPORTED, "'%s': inputs of this type (a map) are not supported", path);
    if (!ends_with(path, ".pb"))
        return lo_fail(err, LO_ERR_INPUT, "'%s': the input is %s, which only an ONNX %s .pb file can give", path,
                       container == 's' ? "a sequence" : "an optional", what);
    uint8_t *b;
    size_t len;
    LO_TRY(lo_read_file(path, &b, &len, err));
    lo_error sub;
    lo_status st = decode_container(b, len, container == 's', elem, out, 0, &sub);
    free(b);
    if (st != LO_OK) return lo_fail(err, sub.status, "'%s' is not a %s the model can take: %s", path, what, sub.message);
    return LO_OK;
}

/* ---- atomic writes ------------------------------------------------------------------ */

lo_status lo_write_file_atomic(const char *path, const void *data, size_t len, lo_error *err) {
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return lo_fail(err, LO_ERR_IO, "path too long: '%s'", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return lo_fail(err, LO_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return lo_fail(err, LO_ERR_IO, "cannot write '%s': %s", tmp, strerror(w < 0 ? e : ENOSPC));
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return lo_fail(err, LO_ERR_IO, "cannot write '%s': %s", tmp, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return lo_fail(err, LO_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(e));
    }
    return LO_OK;
}

/* ---- input_list.txt ------------------------------------------------------------------ */

void lo_input_list_clear(lo_input_list *l) {
    for (int s = 0; s < l->n_samples; s++) {
        for (int i = 0; i < l->n_files[s]; i++) {
            free(l->names[s][i]);
            free(l->paths[s][i]);
        }
        free(l->names[s]);
        free(l->paths[s]);
    }
    free(l->n_files);
    free(l->names);
    free(l->paths);
    memset(l, 0, sizeof *l);
}

lo_status lo_input_list_parse(const char *path, lo_input_list *l, lo_error *err) {
    memset(l, 0, sizeof *l);
    FILE *f = fopen(path, "r");
    if (!f) return lo_fail(err, LO_ERR_IO, "cannot open input list '%s': %s", path, strerror(errno));
    /* A relative path is taken from the current folder, as qnn-net-run does,
     * or else from the list's own folder. */
    char dir[4096];
    const char *slash = strrchr(path, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0;
    lo_status st = LO_OK;
    while (st == LO_OK && (n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (*p == '#' || *p == '\n' || *p == '\r' || *p == 0) continue;
        int s = l->n_samples;
        int *nf = realloc(l->n_files, (size_t)(s + 1) * sizeof *nf);
        char ***nm = realloc(l->names, (size_t)(s + 1) * sizeof *nm);
        char ***pt = nm ? realloc(l->paths, (size_t)(s + 1) * sizeof *pt) : NULL;
        if (nf) l->n_files = nf;
        if (nm) l->names = nm;
        if (pt) l->paths = pt;
        if (!nf || !nm || !pt) {
            st = lo_fail(err, LO_ERR_NOMEM, "out of memory");
            break;
        }
        l->n_files[s] = 0;
        l->names[s] = NULL;
        l->paths[s] = NULL;
        l->n_samples++;
        char *save = NULL;
        for (char *tok = strtok_r(p, " \t\r\n", &save); tok; tok = strtok_r(NULL, " \t\r\n", &save)) {
            char *name = NULL, *file = tok;
            char *sep = strstr(tok, ":=");
            if (sep) {
                *sep = 0;
                name = tok;
                file = sep + 2;
                if (!*name || !*file) {
                    st = lo_fail(err, LO_ERR_INPUT, "%s:%d: malformed entry '%s:=%s'", path, lineno,
                                 name, file);
                    break;
                }
            }
            int k = l->n_files[s];
            char **a = realloc(l->names[s], (size_t)(k + 1) * sizeof *a);
            if (a) l->names[s] = a;
            char **b = a ? realloc(l->paths[s], (size_t)(k + 1) * sizeof *b) : NULL;
            if (b) l->paths[s] = b;
            if (!a || !b) {
                st = lo_fail(err, LO_ERR_NOMEM, "out of memory");
                break;
            }
            char full[8192];
            struct stat st_file;
            if (file[0] == '/' || stat(file, &st_file) == 0) snprintf(full, sizeof full, "%s", file);
            else snprintf(full, sizeof full, "%s/%s", dir, file);
            l->names[s][k] = name ? lo_strdup(name) : NULL;
            l->paths[s][k] = lo_strdup(full);
            l->n_files[s]++;
        }
    }
    free(line);
    fclose(f);
    if (st == LO_OK && l->n_samples == 0)
        st = lo_fail(err, LO_ERR_INPUT, "input list '%s' names no sample", path);
    if (st != LO_OK) lo_input_list_clear(l);
    return st;
}
