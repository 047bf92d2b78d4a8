/* Maps (domain, op_type, opset) to a kernel. Each family file contributes a
 * table; the lookup walks them, which is cheap because it happens once per
 * node at plan time. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ops.h"

static const lo_op_def *const families[] = {
    lo_ops_control,
    lo_ops_generator_random,
    lo_ops_image_image_decoder,
    lo_ops_llm_attention,
    lo_ops_llm_flex_attention,
    lo_ops_llm_linear_attention,
    lo_ops_llm_rotary_embedding,
    lo_ops_llm_tensor_scatter,
    lo_ops_cumulative,
    lo_ops_math_det,
    lo_ops_elementwise,
    lo_ops_gemm,
    lo_ops_ml,
    lo_ops_nn_col2im,
    lo_ops_conv,
    lo_ops_conv_integer,
    lo_ops_deform_conv,
    lo_ops_loss,
    lo_ops_norm,
    lo_ops_pool,
    lo_ops_object_detection_non_max_suppression,
    lo_ops_quantize,
    lo_ops_reduce,
    lo_ops_rnn,
    lo_ops_sequence,
    lo_ops_signal_dft,
    lo_ops_signal_window,
    lo_ops_tensor_affine_grid,
    lo_ops_tensor_bitcast,
    lo_ops_cast,
    lo_ops_tensor_center_crop_pad,
    lo_ops_concat_split,
    lo_ops_expand_tile,
    lo_ops_gather,
    lo_ops_tensor_grid_sample,
    lo_ops_pad,
    lo_ops_range_nonzero_onehot,
    lo_ops_resize,
    lo_ops_reverse_sequence_compress,
    lo_ops_scatter,
    lo_ops_shape,
    lo_ops_slice,
    lo_ops_space_depth,
    lo_ops_transpose,
    lo_ops_unique,
    lo_ops_tensor_where,
    lo_ops_text_string_normalizer,
    lo_ops_text_strings,
    lo_ops_text_tfidf_vectorizer,
};

static bool same_domain(const char *a, const char *b) {
    if (!a || strcmp(a, "ai.onnx") == 0) a = "";
    if (!b || strcmp(b, "ai.onnx") == 0) b = "";
    return strcmp(a, b) == 0;
}

const lo_op_def *lo_op_lookup(const char *domain, const char *op_type, int opset) {
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        for (const lo_op_def *d = families[f]; d->op_type; d++)
            if (same_domain(d->domain, domain) && strcmp(d->op_type, op_type) == 0 &&
                opset >= d->since && opset <= d->until)
                return d;
    return NULL;
}

void lo_op_versions(const char *domain, const char *op_type, char *buf, size_t size) {
    size_t len = 0;
    buf[0] = 0;
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        for (const lo_op_def *d = families[f]; d->op_type; d++)
            if (same_domain(d->domain, domain) && strcmp(d->op_type, op_type) == 0 && len < size) {
                int w = snprintf(buf + len, size - len, "%s%d-%d", len ? ", " : "", d->since, d->until);
                if (w > 0) len += (size_t)w;
            }
}

void lo_op_foreach(void (*fn)(const lo_op_def *def, void *user), void *user) {
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        for (const lo_op_def *d = families[f]; d->op_type; d++) fn(d, user);
}

lo_status lo_kernel_fail(lo_kernel_ctx *ctx, lo_status status, const char *fmt, ...) {
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return lo_fail(ctx->err, status, "node '%s' (%s): %s", ctx->node->name, ctx->node->op_type, msg);
}

bool lo_norm_axis(int64_t axis, int rank, int *out) {
    if (axis < -rank || axis >= (rank ? rank : 1)) return false;
    *out = (int)(axis < 0 ? axis + rank : axis);
    return true;
}

lo_status lo_broadcast_shape(int n, const lo_tensor *const *ts, int *rank, int64_t *dims,
                             lo_error *err) {
    int r = 0;
    for (int i = 0; i < n; i++)
        if (ts[i] && ts[i]->rank > r) r = ts[i]->rank;
    for (int d = 0; d < r; d++) dims[d] = 1;
    for (int i = 0; i < n; i++) {
        if (!ts[i]) continue;
        int off = r - ts[i]->rank;
        for (int d = 0; d < ts[i]->rank; d++) {
            int64_t a = dims[off + d], b = ts[i]->dims[d];
            if (a == b || b == 1) continue;
            if (a == 1) {
                dims[off + d] = b;
                continue;
            }
            char s1[128], s2[128];
            return lo_fail(err, LO_ERR_INPUT, "shapes %s and %s cannot be broadcast",
                           lo_shape_str(ts[0]->rank, ts[0]->dims, s1, sizeof s1),
                           lo_shape_str(ts[i]->rank, ts[i]->dims, s2, sizeof s2));
        }
    }
    *rank = r;
    return LO_OK;
}

void lo_broadcast_strides(const lo_tensor *t, int rank, const int64_t *dims, int64_t *strides) {
    int off = rank - t->rank;
    int64_t s = 1;
    for (int d = rank - 1; d >= 0; d--) {
        if (d < off) {
            strides[d] = 0;
            continue;
        }
        int64_t td = t->dims[d - off];
        strides[d] = (td == 1 && dims[d] != 1) ? 0 : s;
        s *= td;
    }
}

lo_status lo_attr_ints_checked(const lo_node *node, const char *name, int max, int64_t lo, int *count,
                               int64_t *out, lo_error *err) {
    const int64_t limit = (int64_t)1 << 31; /* far past any real kernel, stride or pad */
    int64_t n = 0;
    const int64_t *v = lo_attr_ints(node, name, &n);
    if (n > max)
        return lo_fail(err, LO_ERR_MODEL, "node '%s' (%s): %s has %lld values, at most %d allowed",
                       node->name, node->op_type, name, (long long)n, max);
    for (int64_t i = 0; i < n; i++) {
        if (v[i] < lo || v[i] > limit)
            return lo_fail(err, LO_ERR_MODEL, "node '%s' (%s): %s[%lld] = %lld is out of range",
                           node->name, node->op_type, name, (long long)i, (long long)v[i]);
        out[i] = v[i];
    }
    *count = (int)n;
    return LO_OK;
}
