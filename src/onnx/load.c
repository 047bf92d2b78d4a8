/* Decodes an ONNX model with the protobuf-c code generated from onnx.proto,
 * copies what we need into the graph IR, and frees the protobuf. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "functions.h"
#include "onnx.h"
#include "onnx/onnx.pb-c.h"

typedef struct loader {
    lo_model_ir *model;
    char *dir; /* directory of the model file, for external data */
    lo_error *err;
    lo_fn_table *fns;  /* the model's local functions, NULL when it has none */
    lo_fn_scope *scope; /* the function call whose body is being converted, or NULL */
} loader;

/* ---- files ------------------------------------------------------------------ */

/* ---- tensors ------------------------------------------------------------------ */

static lo_status decode_shape(const int64_t *dims, size_t n_dims, lo_dtype dtype, lo_tensor *t,
                              const char *what, lo_error *err) {
    if (n_dims > LO_MAX_RANK)
        return lo_fail(err, LO_ERR_UNSUPPORTED, "%s has rank %zu; at most %d is supported", what,
                       n_dims, LO_MAX_RANK);
    t->kind = LO_KIND_TENSOR;
    t->dtype = dtype;
    t->rank = (int)n_dims;
    for (size_t i = 0; i < n_dims; i++) t->dims[i] = dims[i];
    lo_error sub;
    if (!lo_shape_bytes(dtype, t->rank, t->dims, &t->nbytes, &sub))
        return lo_fail(err, sub.status, "%s: %s", what, sub.message);
    return LO_OK;
}

static lo_status map_external(loader *L, const Onnx__TensorProto *tp, lo_tensor *t, const char *what) {
    lo_error *err = L->err;
    const char *location = NULL;
    int64_t offset = 0, length = -1;
    for (size_t i = 0; i < tp->n_external_data; i++) {
        const char *k = tp->external_data[i]->key, *v = tp->external_data[i]->value;
        if (!k || !v) continue;
        char *end;
        if (strcmp(k, "location") == 0) location = v;
        else if (strcmp(k, "offset") == 0 || strcmp(k, "length") == 0) {
            errno = 0;
            long long x = strtoll(v, &end, 10);
            if (errno || *end || x < 0)
                return lo_fail(err, LO_ERR_MODEL, "%s: external data %s '%s' is not a valid number",
                               what, k, v);
            if (k[0] == 'o') offset = x;
            else length = x;
        }
    }
    if (!location || !*location)
        return lo_fail(err, LO_ERR_MODEL, "%s: external data without a location", what);
    /* The location must stay inside the model's directory. */
    if (location[0] == '/' || strstr(location, "..") || strchr(location, '\\'))
        return lo_fail(err, LO_ERR_MODEL,
                       "%s: external data location '%s' points outside the model's directory", what,
                       location);
    if (!L->dir)
        return lo_fail(err, LO_ERR_MODEL, "%s: external data needs the model's directory", what);
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", L->dir, location) >= (int)sizeof path)
        return lo_fail(err, LO_ERR_MODEL, "%s: external data path too long", what);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return lo_fail(err, LO_ERR_IO, "%s: cannot open external data '%s': %s", what, path,
                       strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return lo_fail(err, LO_ERR_IO, "%s: external data '%s' is not a regular file", what, path);
    }
    size_t need = t->nbytes;
    if (length >= 0 && (size_t)length != need) {
        close(fd);
        return lo_fail(err, LO_ERR_MODEL,
                       "%s: external data length %lld does not match its shape (%zu bytes)", what,
                       (long long)length, need);
    }
    if ((uint64_t)offset > (uint64_t)st.st_size || need > (size_t)st.st_size - (size_t)offset) {
        close(fd);
        return lo_fail(err, LO_ERR_MODEL,
                       "%s: external data '%s' is %lld bytes, too short for %zu bytes at offset %lld",
                       what, location, (long long)st.st_size, need, (long long)offset);
    }
    if (need == 0) {
        close(fd);
        t->data = calloc(1, 1);
        return t->data ? LO_OK : lo_fail(err, LO_ERR_NOMEM, "out of memory");
    }
    long page = sysconf(_SC_PAGESIZE);
    size_t aligned = (size_t)offset - (size_t)offset % (size_t)page;
    size_t span = need + ((size_t)offset - aligned);
    void *addr = mmap(NULL, span, PROT_READ, MAP_PRIVATE, fd, (off_t)aligned);
    close(fd);
    if (addr == MAP_FAILED)
        return lo_fail(err, LO_ERR_IO, "%s: cannot map '%s': %s", what, path, strerror(errno));
    lo_model_ir *m = L->model;
    lo_mapping *mp = realloc(m->mappings, (size_t)(m->n_mappings + 1) * sizeof *mp);
    if (!mp) {
        munmap(addr, span);
        return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    }
    m->mappings = mp;
    mp[m->n_mappings++] = (lo_mapping){addr, span};
    t->data = (char *)addr + ((size_t)offset - aligned);
    return LO_OK;
}

/* Width of one element as ONNX packs it, for the types narrower than a
 * byte; 0 for the others. In memory each is unpacked to one byte. */
static int packed_bits(lo_dtype t) {
    switch (t) {
    case LO_UINT2: case LO_INT2: return 2;
    case LO_UINT4: case LO_INT4: case LO_FLOAT4E2M1: return 4;
    case LO_FLOAT6E2M3: case LO_FLOAT6E3M2: return 6;
    default: return 0;
    }
}

/* Elements one int32_data entry carries: 2- and 4-bit types are packed into
 * its low byte as into raw_data, float6 is not (one code per entry). */
static int per_int32(lo_dtype t) {
    int bits = packed_bits(t);
    return bits == 2 || bits == 4 ? 8 / bits : 1;
}

/* Stores an unpacked sub-byte code, sign-extending the signed integers so
 * the byte reads as their value. */
static void store_code(lo_tensor *t, int64_t i, unsigned code) {
    int bits = packed_bits(t->dtype);
    code &= (1u << bits) - 1;
    if ((t->dtype == LO_INT4 || t->dtype == LO_INT2) && (code >> (bits - 1)))
        ((int8_t *)t->data)[i] = (int8_t)((int)code - (1 << bits));
    else
        ((uint8_t *)t->data)[i] = (uint8_t)code;
}

/* Copies n typed values into t->data, converting to the tensor's element
 * type as ONNX stores each type in the typed fields. */
static lo_status decode_typed(const Onnx__TensorProto *tp, lo_tensor *t, const char *what,
                              lo_error *err) {
    int64_t n = lo_numel(t);
    size_t have = 0;
    switch (t->dtype) {
    case LO_FLOAT: have = tp->n_float_data; break;
    case LO_COMPLEX64: have = tp->n_float_data / 2; break;
    case LO_DOUBLE: have = tp->n_double_data; break;
    case LO_COMPLEX128: have = tp->n_double_data / 2; break;
    case LO_INT64: have = tp->n_int64_data; break;
    case LO_UINT32: case LO_UINT64: have = tp->n_uint64_data; break;
    case LO_STRING: have = tp->n_string_data; break;
    default: have = tp->n_int32_data * (size_t)per_int32(t->dtype); break;
    }
    /* packed entries may pad the last one, never more */
    if ((int64_t)have < n || (int64_t)have - n >= per_int32(t->dtype))
        return lo_fail(err, LO_ERR_MODEL, "%s: holds %zu values but its shape needs %lld", what,
                       have, (long long)n);
    t->data = malloc(t->nbytes ? t->nbytes : 1);
    if (!t->data) return lo_fail(err, LO_ERR_NOMEM, "out of memory decoding %s", what);
    for (int64_t i = 0; i < n; i++) {
        switch (t->dtype) {
        case LO_FLOAT: ((float *)t->data)[i] = tp->float_data[i]; break;
        case LO_COMPLEX64:
            ((float *)t->data)[2 * i] = tp->float_data[2 * i];
            ((float *)t->data)[2 * i + 1] = tp->float_data[2 * i + 1];
            break;
        case LO_DOUBLE: ((double *)t->data)[i] = tp->double_data[i]; break;
        case LO_COMPLEX128:
            ((double *)t->data)[2 * i] = tp->double_data[2 * i];
            ((double *)t->data)[2 * i + 1] = tp->double_data[2 * i + 1];
            break;
        case LO_INT64: ((int64_t *)t->data)[i] = tp->int64_data[i]; break;
        case LO_UINT32: ((uint32_t *)t->data)[i] = (uint32_t)tp->uint64_data[i]; break;
        case LO_UINT64: ((uint64_t *)t->data)[i] = tp->uint64_data[i]; break;
        case LO_STRING: {
            char *s = lo_strndup((const char *)tp->string_data[i].data, tp->string_data[i].len);
            if (!s) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
            ((char **)t->data)[i] = s;
            break;
        }
        case LO_FLOAT16: case LO_BFLOAT16: case LO_UINT16:
            ((uint16_t *)t->data)[i] = (uint16_t)tp->int32_data[i];
            break;
        case LO_INT16: ((int16_t *)t->data)[i] = (int16_t)tp->int32_data[i]; break;
        case LO_INT32: ((int32_t *)t->data)[i] = tp->int32_data[i]; break;
        case LO_UINT4: case LO_INT4: case LO_FLOAT4E2M1: case LO_UINT2: case LO_INT2:
        case LO_FLOAT6E2M3: case LO_FLOAT6E3M2: {
            int per = per_int32(t->dtype);
            store_code(t, i, (unsigned)tp->int32_data[i / per] >> (packed_bits(t->dtype) * (i % per)));
            break;
        }
        default: /* 1-byte types: uint8, int8, bool, float8 */
            ((uint8_t *)t->data)[i] = (uint8_t)tp->int32_data[i];
            if (t->dtype == LO_BOOL) ((uint8_t *)t->data)[i] = tp->int32_data[i] != 0;
            break;
        }
    }
    return LO_OK;
}

/* Blocks this large are taken over from the unpacked protobuf instead of
 * copied: a model's weights would otherwise be held twice while loading. */
#define STEAL_BYTES (64 * 1024)

static lo_status decode_raw(ProtobufCBinaryData *raw, lo_tensor *t, const char *what,
                            lo_error *err) {
    int64_t n = lo_numel(t);
    int bits = packed_bits(t->dtype);
    size_t expect = bits ? ((size_t)n * (size_t)bits + 7) / 8 : t->nbytes;
    if (t->dtype == LO_STRING)
        return lo_fail(err, LO_ERR_MODEL, "%s: a string tensor cannot use raw_data", what);
    if (raw->len != expect)
        return lo_fail(err, LO_ERR_MODEL, "%s: raw_data holds %zu bytes but its shape needs %zu",
                       what, raw->len, expect);
    if (!bits && t->dtype != LO_BOOL && raw->len >= STEAL_BYTES && raw->len == t->nbytes) {
        /* protobuf-c allocated it with malloc; it skips NULL when freeing */
        t->data = raw->data;
        raw->data = NULL;
        raw->len = 0;
        return LO_OK;
    }
    t->data = malloc(t->nbytes ? t->nbytes : 1);
    if (!t->data) return lo_fail(err, LO_ERR_NOMEM, "out of memory decoding %s", what);
    if (!bits) {
        if (raw->len) memcpy(t->data, raw->data, raw->len);
        if (t->dtype == LO_BOOL)
            for (int64_t i = 0; i < n; i++) ((uint8_t *)t->data)[i] = ((uint8_t *)t->data)[i] != 0;
        return LO_OK;
    }
    /* an LSB-first bit stream: a 6-bit code may straddle two bytes */
    for (int64_t i = 0; i < n; i++) {
        size_t bit = (size_t)i * (size_t)bits, byte = bit / 8;
        unsigned window = raw->data[byte];
        if (byte + 1 < raw->len) window |= (unsigned)raw->data[byte + 1] << 8;
        store_code(t, i, window >> (bit % 8));
    }
    return LO_OK;
}

static lo_status decode_tensor(loader *L, const Onnx__TensorProto *tp, lo_tensor *t,
                               const char *what) {
    lo_error *err = L->err;
    memset(t, 0, sizeof *t);
    if (!tp->has_data_type || tp->data_type <= 0 || tp->data_type > LO_FLOAT6E3M2)
        return lo_fail(err, LO_ERR_UNSUPPORTED, "%s has unknown data type %d", what,
                       (int)tp->data_type);
    if (tp->data_type == LO_COMPLEX64 || tp->data_type == LO_COMPLEX128) {
        /* kept as pairs of floats; nothing in the engine computes on them */
    }
    if (tp->segment)
        return lo_fail(err, LO_ERR_UNSUPPORTED, "%s is a segmented tensor, which is not supported",
                       what);
    LO_TRY(decode_shape(tp->dims, tp->n_dims, (lo_dtype)tp->data_type, t, what, err));
    if (tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        if (t->dtype == LO_STRING || packed_bits(t->dtype)) /* mapped bytes cannot be unpacked in place */
            return lo_fail(err, LO_ERR_UNSUPPORTED, "%s: external %s data is not supported", what,
                           lo_dtype_name(t->dtype));
        return map_external(L, tp, t, what);
    }
    /* the protobuf is ours until it is freed: its raw bytes may be taken */
    if (tp->has_raw_data) return decode_raw((ProtobufCBinaryData *)&tp->raw_data, t, what, err);
    return decode_typed(tp, t, what, err);
}

static lo_status decode_sparse(loader *L, const Onnx__SparseTensorProto *sp, lo_tensor *t,
                               const char *what) {
    lo_error *err = L->err;
    if (!sp->values || !sp->indices)
        return lo_fail(err, LO_ERR_MODEL, "%s: sparse tensor without values or indices", what);
    lo_tensor values, indices;
    LO_TRY(decode_tensor(L, sp->values, &values, what));
    lo_status st = decode_tensor(L, sp->indices, &indices, what);
    if (st != LO_OK) {
        lo_tensor_free_data(&values);
        return st;
    }
    memset(t, 0, sizeof *t);
    st = decode_shape(sp->dims, sp->n_dims, values.dtype, t, what, err);
    if (st == LO_OK && (values.dtype == LO_STRING || indices.dtype != LO_INT64))
        st = lo_fail(err, LO_ERR_UNSUPPORTED, "%s: sparse tensor of this kind is not supported", what);
    if (st == LO_OK && !(t->data = calloc(1, t->nbytes ? t->nbytes : 1)))
        st = lo_fail(err, LO_ERR_NOMEM, "out of memory");
    /* values must be [nnz]: its dims[0] is trusted as the count read below */
    if (st == LO_OK && values.rank != 1)
        st = lo_fail(err, LO_ERR_MODEL, "%s: sparse values must be 1-D, not rank %d", what, values.rank);
    int64_t nnz = values.rank == 1 ? values.dims[0] : 0, total = lo_numel(t);
    size_t esize = lo_dtype_size(values.dtype);
    const int64_t *ix = indices.data;
    /* indices are either [nnz] linear or [nnz, rank] coordinates */
    bool linear = indices.rank == 1;
    if (st == LO_OK && (linear ? indices.dims[0] != nnz
                               : indices.rank != 2 || indices.dims[0] != nnz || indices.dims[1] != t->rank))
        st = lo_fail(err, LO_ERR_MODEL, "%s: sparse indices do not match its values", what);
    for (int64_t k = 0; st == LO_OK && k < nnz; k++) {
        int64_t pos = 0;
        if (linear) pos = ix[k];
        else
            for (int d = 0; d < t->rank; d++) {
                int64_t c = ix[k * t->rank + d];
                if (c < 0 || c >= t->dims[d]) {
                    pos = -1;
                    break;
                }
                pos = pos * t->dims[d] + c;
            }
        if (pos < 0 || pos >= total) {
            st = lo_fail(err, LO_ERR_MODEL, "%s: sparse index out of range", what);
            break;
        }
        memcpy((char *)t->data + pos * esize, (char *)values.data + k * esize, esize);
    }
    lo_tensor_free_data(&values);
    lo_tensor_free_data(&indices);
    if (st != LO_OK) lo_tensor_free_data(t);
    return st;
}

/* ---- graphs ------------------------------------------------------------------ */

static lo_status convert_graph(loader *L, const Onnx__GraphProto *gp, lo_graph *parent,
                               lo_graph **out);

static void declare_type(lo_value *v, const Onnx__TypeProto *type) {
    if (!type) return;
    if (type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE) {
        if (type->value_case == ONNX__TYPE_PROTO__VALUE__NOT_SET) return;
        v->is_optional_type = true;
        v->decl_container = type->value_case == ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE   ? 's'
                            : type->value_case == ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE ? 'o'
                            : type->value_case == ONNX__TYPE_PROTO__VALUE_MAP_TYPE      ? 'm'
                                                                                        : '?';
        /* the tensor element type, through nested sequences and optionals */
        const Onnx__TypeProto *t = type;
        for (int depth = 0; t && depth < 8; depth++) {
            if (t->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE) {
                if (t->tensor_type && t->tensor_type->has_elem_type)
                    v->decl_elem_dtype = (lo_dtype)t->tensor_type->elem_type;
                break;
            }
            t = t->value_case == ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE && t->sequence_type
                    ? t->sequence_type->elem_type
                : t->value_case == ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE && t->optional_type
                    ? t->optional_type->elem_type
                    : NULL;
        }
        return;
    }
    const Onnx__TypeProto__Tensor *tt = type->tensor_type;
    if (!tt) return;
    if (tt->has_elem_type) v->decl_dtype = (lo_dtype)tt->elem_type;
    if (tt->shape && tt->shape->n_dim <= LO_MAX_RANK) {
        v->decl_rank = (int)tt->shape->n_dim;
        for (size_t d = 0; d < tt->shape->n_dim; d++) {
            const Onnx__TensorShapeProto__Dimension *dim = tt->shape->dim[d];
            v->decl_dims[d] = dim && dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE
                                  ? dim->dim_value
                                  : -1;
        }
    }
}

static lo_status convert_attr(loader *L, lo_graph *g, const Onnx__NodeProto *np,
                              const Onnx__AttributeProto *ap, lo_attr *a) {
    lo_error *err = L->err;
    char what[512];
    snprintf(what, sizeof what, "attribute '%s' of node '%s' (%s)", ap->name ? ap->name : "",
             np->name ? np->name : "", np->op_type ? np->op_type : "");
    if (ap->ref_attr_name && *ap->ref_attr_name)
        return lo_fail(err, LO_ERR_UNSUPPORTED, "%s refers to a function attribute", what);
    a->name = lo_strdup(ap->name ? ap->name : "");
    a->type = ap->has_type ? (lo_attr_type)ap->type : LO_ATTR_UNDEFINED;
    if (a->type == LO_ATTR_UNDEFINED) {
        /* IR version 1 models leave the type out: infer it from what is set */
        if (ap->has_f) a->type = LO_ATTR_FLOAT;
        else if (ap->has_i) a->type = LO_ATTR_INT;
        else if (ap->has_s) a->type = LO_ATTR_STRING;
        else if (ap->t) a->type = LO_ATTR_TENSOR;
        else if (ap->g) a->type = LO_ATTR_GRAPH;
        else if (ap->n_floats) a->type = LO_ATTR_FLOATS;
        else if (ap->n_ints) a->type = LO_ATTR_INTS;
        else if (ap->n_strings) a->type = LO_ATTR_STRINGS;
        else if (ap->n_tensors) a->type = LO_ATTR_TENSORS;
        else if (ap->n_graphs) a->type = LO_ATTR_GRAPHS;
    }
    a->f = ap->f;
    a->i = ap->i;
    switch (a->type) {
    case LO_ATTR_FLOAT: case LO_ATTR_INT: break;
    case LO_ATTR_STRING:
        a->s = lo_strndup((const char *)ap->s.data, ap->s.len);
        a->s_len = ap->s.len;
        if (!a->s) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
        break;
    case LO_ATTR_FLOATS:
        a->n = (int64_t)ap->n_floats;
        a->floats = malloc(ap->n_floats * sizeof(float) + 1);
        if (!a->floats) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
        if (ap->n_floats) memcpy(a->floats, ap->floats, ap->n_floats * sizeof(float));
        break;
    case LO_ATTR_INTS:
        a->n = (int64_t)ap->n_ints;
        a->ints = malloc(ap->n_ints * sizeof(int64_t) + 1);
        if (!a->ints) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
        if (ap->n_ints) memcpy(a->ints, ap->ints, ap->n_ints * sizeof(int64_t));
        break;
    case LO_ATTR_STRINGS:
        a->n = (int64_t)ap->n_strings;
        a->strings = calloc(ap->n_strings + 1, sizeof(char *));
        if (!a->strings) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < ap->n_strings; i++)
            if (!(a->strings[i] = lo_strndup((const char *)ap->strings[i].data, ap->strings[i].len)))
                return lo_fail(err, LO_ERR_NOMEM, "out of memory");
        break;
    case LO_ATTR_TENSOR:
        if (!ap->t) return lo_fail(err, LO_ERR_MODEL, "%s has no tensor", what);
        if (!(a->tensor = calloc(1, sizeof *a->tensor))) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
        LO_TRY(decode_tensor(L, ap->t, a->tensor, what));
        break;
    case LO_ATTR_SPARSE_TENSOR:
        if (!ap->sparse_tensor) return lo_fail(err, LO_ERR_MODEL, "%s has no sparse tensor", what);
        if (!(a->tensor = calloc(1, sizeof *a->tensor))) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
        LO_TRY(decode_sparse(L, ap->sparse_tensor, a->tensor, what));
        break;
    case LO_ATTR_TENSORS:
        a->n = (int64_t)ap->n_tensors;
        if (!(a->tensors = calloc(ap->n_tensors + 1, sizeof *a->tensors)))
            return lo_fail(err, LO_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < ap->n_tensors; i++)
            LO_TRY(decode_tensor(L, ap->tensors[i], &a->tensors[i], what));
        break;
    case LO_ATTR_GRAPH:
        if (!ap->g) return lo_fail(err, LO_ERR_MODEL, "%s has no graph", what);
        LO_TRY(convert_graph(L, ap->g, g, &a->graph));
        break;
    case LO_ATTR_GRAPHS:
        if (!(a->graphs = calloc(ap->n_graphs + 1, sizeof *a->graphs)))
            return lo_fail(err, LO_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < ap->n_graphs; i++) {
            a->n = (int64_t)i + 1; /* counted first: a graph that fails halfway is freed too */
            LO_TRY(convert_graph(L, ap->graphs[i], g, &a->graphs[i]));
        }
        break;
    case LO_ATTR_TYPE_PROTO: case LO_ATTR_TYPE_PROTOS: case LO_ATTR_SPARSE_TENSORS:
        break; /* kept by name only; no kernel reads them */
    default:
        return lo_fail(err, LO_ERR_MODEL, "%s has unknown type %d", what, (int)a->type);
    }
    return LO_OK;
}

/* Debian's onnx.proto predates NodeProto.metadata_props (field 9), so
 * protobuf-c keeps it as an unknown field; decode it from there. */
static lo_status node_metadata(const Onnx__NodeProto *np, lo_node *n, lo_error *err) {
    const ProtobufCMessage *base = &np->base;
    for (unsigned i = 0; i < base->n_unknown_fields; i++) {
        const ProtobufCMessageUnknownField *u = &base->unknown_fields[i];
        if (u->tag != 9 || u->wire_type != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED) continue;
        /* protobuf-c keeps the field's length prefix (a varint) in data */
        size_t pre = 0;
        while (pre < u->len && (u->data[pre] & 0x80)) pre++;
        pre++;
        if (pre > u->len) continue;
        Onnx__StringStringEntryProto *e = onnx__string_string_entry_proto__unpack(NULL, u->len - pre, u->data + pre);
        if (!e) continue;
        char **k = realloc(n->meta_keys, (size_t)(n->n_meta + 1) * sizeof *k);
        if (k) n->meta_keys = k;
        char **v = realloc(n->meta_values, (size_t)(n->n_meta + 1) * sizeof *v);
        if (v) n->meta_values = v;
        if (!k || !v) {
            onnx__string_string_entry_proto__free_unpacked(e, NULL);
            return lo_fail(err, LO_ERR_NOMEM, "out of memory");
        }
        n->meta_keys[n->n_meta] = lo_strdup(e->key ? e->key : "");
        n->meta_values[n->n_meta] = lo_strdup(e->value ? e->value : "");
        n->n_meta++;
        onnx__string_string_entry_proto__free_unpacked(e, NULL);
    }
    return LO_OK;
}

static lo_status convert_graph_nodes(loader *L, const Onnx__GraphProto *gp, lo_graph *parent, lo_graph **out,
                                     const lo_fn_node *xs, size_t nx) {
    lo_error *err = L->err;
    lo_graph *g = calloc(1, sizeof *g);
    if (!g) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    *out = g;
    g->parent = parent;
    g->model = L->model;
    g->name = lo_strdup(gp->name ? gp->name : "");
    const char *gname = g->name;
    /* A graph inside a function body speaks the body's names. */
    lo_fn_scope *gscope = L->scope;
#define MAPPED(name) lo_fn_map(L->fns, gscope, (name), NULL)

    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *tp = gp->initializer[i];
        const char *name = MAPPED(tp->name);
        if (!name) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
        if (lo_graph_find(g, name) >= 0)
            return lo_fail(err, LO_ERR_MODEL, "graph '%s': initializer '%s' is defined twice", gname, name);
        int v = lo_graph_add_value(g, name, err);
        if (v < 0) return err->status;
        g->values[v].kind = LO_VALUE_INITIALIZER;
        char what[400];
        snprintf(what, sizeof what, "initializer '%s'", name);
        LO_TRY(decode_tensor(L, tp, &g->values[v].init, what));
        g->values[v].decl_dtype = g->values[v].init.dtype;
        g->values[v].decl_rank = g->values[v].init.rank;
        memcpy(g->values[v].decl_dims, g->values[v].init.dims, sizeof g->values[v].init.dims);
    }
    for (size_t i = 0; i < gp->n_sparse_initializer; i++) {
        const Onnx__SparseTensorProto *sp = gp->sparse_initializer[i];
        const char *name = MAPPED(sp->values ? sp->values->name : NULL);
        if (!name) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
        if (lo_graph_find(g, name) >= 0)
            return lo_fail(err, LO_ERR_MODEL, "graph '%s': initializer '%s' is defined twice", gname, name);
        int v = lo_graph_add_value(g, name, err);
        if (v < 0) return err->status;
        g->values[v].kind = LO_VALUE_INITIALIZER;
        char what[400];
        snprintf(what, sizeof what, "sparse initializer '%s'", name);
        LO_TRY(decode_sparse(L, sp, &g->values[v].init, what));
    }
    g->inputs = calloc(gp->n_input + 1, sizeof *g->inputs);
    if (!g->inputs) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < gp->n_input; i++) {
        const char *name = MAPPED(gp->input[i]->name);
        if (!name) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
        int v = lo_graph_find(g, name);
        if (v >= 0 && g->values[v].kind != LO_VALUE_INITIALIZER)
            return lo_fail(err, LO_ERR_MODEL, "graph '%s': input '%s' is declared twice", gname, name);
        if (v >= 0) {
            /* an initializer listed as input: a default the caller may override; we use the data */
            declare_type(&g->values[v], gp->input[i]->type);
            continue;
        }
        v = lo_graph_add_value(g, name, err);
        if (v < 0) return err->status;
        g->values[v].kind = LO_VALUE_INPUT;
        declare_type(&g->values[v], gp->input[i]->type);
        g->inputs[g->n_inputs++] = v;
    }
    /* Every node output first, so inputs can be resolved in any file order. */
    g->nodes = calloc(nx + 1, sizeof *g->nodes);
    if (!g->nodes) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    g->n_nodes = (int)nx;
    int graph_depth = lo_fn_depth(gscope);
    for (size_t i = 0; i < nx; i++) {
        const Onnx__NodeProto *np = xs[i].np;
        lo_node *n = &g->nodes[i];
        n->op_type = lo_strdup(np->op_type ? np->op_type : "");
        n->domain = lo_strdup(np->domain && strcmp(np->domain, "ai.onnx") != 0 ? np->domain : "");
        if (xs[i].name) n->name = lo_strdup(xs[i].name);
        else {
            char buf[64];
            snprintf(buf, sizeof buf, "#%zu", i);
            n->name = lo_strdup(buf);
        }
        n->outputs = calloc((size_t)xs[i].n_outputs + 1, sizeof *n->outputs);
        n->inputs = calloc((size_t)xs[i].n_inputs + 1, sizeof *n->inputs);
        if (!n->op_type || !n->domain || !n->name || !n->outputs || !n->inputs)
            return lo_fail(err, LO_ERR_NOMEM, "out of memory");
        if (!*n->op_type) return lo_fail(err, LO_ERR_MODEL, "node '%s' has no op_type", n->name);
        n->n_outputs = xs[i].n_outputs;
        for (int o = 0; o < xs[i].n_outputs; o++) {
            const char *name = xs[i].outputs[o];
            if (!*name) {
                n->outputs[o] = -1;
                continue;
            }
            if (lo_graph_find(g, name) >= 0)
                return lo_fail(err, LO_ERR_MODEL,
                               "graph '%s': tensor '%s' (output of node '%s') is defined twice",
                               gname, name, n->name);
            int v = lo_graph_add_value(g, name, err);
            if (v < 0) return err->status;
            g->values[v].kind = LO_VALUE_NODE;
            g->values[v].producer = (int)i;
            /* a tensor of a function body, not one of the call's outputs */
            g->values[v].in_function = xs[i].output_depth[o] > graph_depth;
            if (!g->values[v].in_function && xs[i].scope != gscope) {
                /* the call's output: reported as the call node's, as ONNX Runtime and AIMET see it */
                g->values[v].call_node = lo_strdup(lo_fn_call_node(xs[i].scope, gscope));
                g->values[v].call_op = lo_strdup(lo_fn_call_op(xs[i].scope, gscope));
                if (!g->values[v].call_node || !g->values[v].call_op)
                    return lo_fail(err, LO_ERR_NOMEM, "out of memory");
            }
            n->outputs[o] = v;
        }
    }
    for (size_t i = 0; i < gp->n_value_info; i++) {
        const char *name = MAPPED(gp->value_info[i]->name);
        int v = name ? lo_graph_find(g, name) : -1;
        if (v >= 0) declare_type(&g->values[v], gp->value_info[i]->type);
    }
    for (size_t i = 0; i < nx; i++) {
        const Onnx__NodeProto *np = xs[i].np;
        lo_node *n = &g->nodes[i];
        n->opset = (int)lo_fn_opset(xs[i].scope, L->model, n->domain);
        n->n_inputs = xs[i].n_inputs;
        for (int k = 0; k < xs[i].n_inputs; k++) {
            const char *name = xs[i].inputs[k];
            if (!*name) {
                n->inputs[k] = -1;
                continue;
            }
            int v = lo_graph_resolve(g, name, err);
            if (v < 0 && xs[i].scope != gscope)
                return lo_fail(err, LO_ERR_MODEL,
                               "node '%s' (%s) of %s reads '%s', which is neither an input of the function "
                               "nor made in its body (a function body sees only its inputs and attributes)",
                               n->name, n->op_type, lo_fn_describe(xs[i].scope), xs[i].raw_inputs[k]);
            if (v < 0)
                return lo_fail(err, LO_ERR_MODEL,
                               "input '%s' of node '%s' (%s) is produced by no node, initializer or "
                               "graph input",
                               name, n->name, n->op_type);
            n->inputs[k] = v;
        }
        if (np->n_attribute) {
            n->attrs = calloc(np->n_attribute, sizeof *n->attrs);
            if (!n->attrs) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
        }
        for (size_t a = 0; a < np->n_attribute; a++) {
            Onnx__AttributeProto tmp;
            const Onnx__AttributeProto *ap = lo_fn_attr(xs[i].scope, np->attribute[a], &tmp);
            if (!ap) continue; /* refers to a function attribute the call leaves unset */
            n->n_attrs++;
            /* graphs in a body node are written in the body's names */
            L->scope = xs[i].scope;
            lo_status st = convert_attr(L, g, np, ap, &n->attrs[n->n_attrs - 1]);
            L->scope = gscope;
            if (st != LO_OK) return st;
        }
        LO_TRY(node_metadata(np, n, err));
    }
    g->outputs = calloc(gp->n_output + 1, sizeof *g->outputs);
    if (!g->outputs) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < gp->n_output; i++) {
        const char *name = MAPPED(gp->output[i]->name);
        if (!name) return lo_fail(err, LO_ERR_NOMEM, "out of memory");
        int v = lo_graph_resolve(g, name, err);
        if (v < 0)
            return lo_fail(err, LO_ERR_MODEL, "graph '%s': output '%s' is produced by nothing", gname,
                           name);
        declare_type(&g->values[v], gp->output[i]->type);
        g->values[v].is_graph_output = true;
        g->outputs[g->n_outputs++] = v;
    }
    return LO_OK;
#undef MAPPED
}

static lo_status convert_graph(loader *L, const Onnx__GraphProto *gp, lo_graph *parent, lo_graph **out) {
    lo_fn_node *xs;
    size_t nx;
    LO_TRY(lo_fn_expand(L->fns, L->scope, gp->node, gp->n_node, &xs, &nx, L->err));
    lo_status st = convert_graph_nodes(L, gp, parent, out, xs, nx);
    lo_fn_nodes_free(xs, nx);
    return st;
}

/* ---- entry points -------------------------------------------------------------- */

lo_status lo_onnx_load(const char *path, lo_model_ir **out, lo_error *err) {
    *out = NULL;
    /* mapped, not read: the file's pages are decoded straight from the cache */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return lo_fail(err, LO_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return lo_fail(err, LO_ERR_IO, "'%s' is not a regular file", path);
    }
    size_t len = (size_t)sb.st_size;
    void *bytes = len ? mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
    close(fd);
    if (bytes == MAP_FAILED) return lo_fail(err, LO_ERR_IO, "cannot map '%s': %s", path, strerror(errno));
    if (bytes) madvise(bytes, len, MADV_SEQUENTIAL);
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, bytes ? bytes : (const void *)"");
    if (bytes) munmap(bytes, len);
    if (!mp)
        return lo_fail(err, LO_ERR_MODEL, "'%s' is not an ONNX model (the protobuf does not decode; "
                       "truncated or another kind of file)", path);
    if (!mp->graph) {
        onnx__model_proto__free_unpacked(mp, NULL);
        return lo_fail(err, LO_ERR_MODEL, "'%s' is not an ONNX model (it has no graph)", path);
    }
    lo_model_ir *m = calloc(1, sizeof *m);
    loader L = {m, NULL, err, NULL, NULL};
    lo_status st = LO_OK;
    if (!m) {
        onnx__model_proto__free_unpacked(mp, NULL);
        return lo_fail(err, LO_ERR_NOMEM, "out of memory");
    }
    m->path = lo_strdup(path);
    m->ir_version = mp->has_ir_version ? mp->ir_version : 0;
    m->producer_name = lo_strdup(mp->producer_name ? mp->producer_name : "");
    m->producer_version = lo_strdup(mp->producer_version ? mp->producer_version : "");
    m->opsets = calloc(mp->n_opset_import + 1, sizeof *m->opsets);
    if (!m->opsets) st = lo_fail(err, LO_ERR_NOMEM, "out of memory");
    for (size_t i = 0; st == LO_OK && i < mp->n_opset_import; i++) {
        const char *d = mp->opset_import[i]->domain ? mp->opset_import[i]->domain : "";
        m->opsets[m->n_opsets].domain = lo_strdup(strcmp(d, "ai.onnx") == 0 ? "" : d);
        m->opsets[m->n_opsets].version = mp->opset_import[i]->has_version ? mp->opset_import[i]->version : 1;
        m->n_opsets++;
    }
    if (st == LO_OK && lo_model_opset(m, "") < 0) {
        /* Models older than opset_import ran at opset 1. */
        m->opsets[m->n_opsets].domain = lo_strdup("");
        m->opsets[m->n_opsets].version = 1;
        m->n_opsets++;
    }
    if (st == LO_OK && mp->n_functions) st = lo_fn_table_create(mp, m, &L.fns, err);
    if (st == LO_OK) {
        const char *slash = strrchr(path, '/');
        L.dir = slash ? lo_strndup(path, (size_t)(slash - path)) : lo_strdup(".");
        if (slash == path) {
            free(L.dir);
            L.dir = lo_strdup("/");
        }
        st = convert_graph(&L, mp->graph, NULL, &m->graph);
    }
    lo_fn_table_free(L.fns);
    onnx__model_proto__free_unpacked(mp, NULL);
    free(L.dir);
    if (st == LO_OK) st = lo_graph_finalize(m->graph, err);
    if (st != LO_OK) {
        lo_model_ir_free(m);
        return st;
    }
    *out = m;
    return LO_OK;
}

lo_status lo_onnx_decode_tensor(const uint8_t *bytes, size_t len, lo_tensor *out, char **name,
                                lo_error *err) {
    Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, len, bytes);
    if (!tp) return lo_fail(err, LO_ERR_INPUT, "not a serialized ONNX TensorProto");
    loader L = {NULL, NULL, err, NULL, NULL};
    lo_status st;
    if (tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        st = lo_fail(err, LO_ERR_UNSUPPORTED, "a TensorProto file with external data is not supported");
    else
        st = decode_tensor(&L, tp, out, "tensor");
    if (st == LO_OK && name) *name = tp->name && *tp->name ? lo_strdup(tp->name) : NULL;
    onnx__tensor_proto__free_unpacked(tp, NULL);
    return st;
}

lo_status lo_onnx_read_tensor_file(const char *path, lo_tensor *out, char **name, lo_error *err) {
    uint8_t *bytes;
    size_t len;
    LO_TRY(lo_read_file(path, &bytes, &len, err));
    lo_error sub;
    lo_status st = lo_onnx_decode_tensor(bytes, len, out, name, &sub);
    free(bytes);
    if (st != LO_OK) return lo_fail(err, st, "'%s': %s", path, sub.message);
    return LO_OK;
}
