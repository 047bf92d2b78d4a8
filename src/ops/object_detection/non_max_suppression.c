/* NonMaxSuppression. */
#include <ctype.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../helpers.h"

/* ---- NonMaxSuppression -------------------------------------------------------- */

typedef struct nms_cand {
    double score;
    int64_t idx;
} nms_cand;

static int nms_cmp(const void *a, const void *b) {
    const nms_cand *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Corners (ymin, xmin, ymax, xmax) of box i, from either encoding. */
static void nms_corners(const lo_tensor *boxes, int64_t base, bool center, double c[4]) {
    double a = lo_get_f64(boxes, base), b = lo_get_f64(boxes, base + 1), d = lo_get_f64(boxes, base + 2),
           e = lo_get_f64(boxes, base + 3);
    if (center) { /* x_center, y_center, width, height */
        c[0] = b - e / 2, c[2] = b + e / 2, c[1] = a - d / 2, c[3] = a + d / 2;
    } else { /* y1, x1, y2, x2 in either order */
        c[0] = fmin(a, d), c[2] = fmax(a, d), c[1] = fmin(b, e), c[3] = fmax(b, e);
    }
}

static bool nms_suppress(const double *p, const double *q, double thr) {
    double ix0 = fmax(p[1], q[1]), ix1 = fmin(p[3], q[3]);
    double iy0 = fmax(p[0], q[0]), iy1 = fmin(p[2], q[2]);
    if (ix1 <= ix0 || iy1 <= iy0) return false;
    double inter = (ix1 - ix0) * (iy1 - iy0);
    double a1 = (p[3] - p[1]) * (p[2] - p[0]), a2 = (q[3] - q[1]) * (q[2] - q[0]);
    double uni = a1 + a2 - inter;
    if (inter <= 0 || a1 <= 0 || a2 <= 0 || uni <= 0) return false;
    return inter / uni > thr;
}

static lo_status nms_run(lo_kernel_ctx *ctx) {
    bool center = lo_attr_int(ctx->node, "center_point_box", 0) != 0;
    LO_TRY(need_float_in(ctx, 0, "boxes"));
    LO_TRY(need_float_in(ctx, 1, "scores"));
    const lo_tensor *boxes = ctx->in[0], *scores = ctx->in[1];
    LO_CHECK(ctx, boxes->rank == 3 && boxes->dims[2] == 4, "boxes must have shape [batch, boxes, 4]");
    LO_CHECK(ctx, scores->rank == 3 && scores->dims[0] == boxes->dims[0] && scores->dims[2] == boxes->dims[1],
             "scores must have shape [batch, classes, boxes]");
    int64_t max_out = 0;
    double iou = 0, score_thr = 0;
    bool have_score_thr = has_in(ctx, 4) && lo_numel(ctx->in[4]) > 0;
    if (has_in(ctx, 2) && lo_numel(ctx->in[2]) > 0) max_out = lo_get_i64(ctx->in[2], 0);
    if (max_out < 0) max_out = 0;
    if (has_in(ctx, 3) && lo_numel(ctx->in[3]) > 0) iou = lo_get_f64(ctx->in[3], 0);
    if (have_score_thr) score_thr = lo_get_f64(ctx->in[4], 0);
    int64_t nb = boxes->dims[0], nc = scores->dims[1], n = boxes->dims[1];
    void *heap;
    double *corners = work_buffer(ctx, (size_t)(n + 1) * (4 * sizeof(double) + sizeof(nms_cand) + sizeof(int64_t)), &heap);
    nms_cand *cand = corners ? (nms_cand *)(corners + 4 * (n + 1)) : NULL;
    int64_t *sel = corners ? (int64_t *)(cand + n + 1) : NULL;
    int64_t cap = 64, count = 0;
    int64_t *res = malloc((size_t)cap * 3 * sizeof *res);
    lo_status st = corners && res ? LO_OK : lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
    for (int64_t b = 0; st == LO_OK && b < nb; b++) {
        for (int64_t i = 0; i < n; i++) nms_corners(boxes, (b * n + i) * 4, center, &corners[i * 4]);
        for (int64_t c = 0; st == LO_OK && c < nc; c++) {
            int64_t m = 0;
            for (int64_t i = 0; i < n; i++) {
                double s = lo_get_f64(scores, (b * nc + c) * n + i);
                if (!have_score_thr || s > score_thr) cand[m++] = (nms_cand){s, i};
            }
            qsort(cand, (size_t)m, sizeof *cand, nms_cmp);
            int64_t ns = 0;
            for (int64_t k = 0; k < m && ns < max_out; k++) {
                bool keep = true;
                for (int64_t j = 0; j < ns && keep; j++)
                    if (nms_suppress(&corners[cand[k].idx * 4], &corners[sel[j] * 4], iou)) keep = false;
                if (!keep) continue;
                sel[ns++] = cand[k].idx;
                if (count == cap) {
                    int64_t *r = realloc(res, (size_t)cap * 2 * 3 * sizeof *res);
                    if (!r) {
                        st = lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
                        break;
                    }
                    res = r;
                    cap *= 2;
                }
                res[count * 3] = b, res[count * 3 + 1] = c, res[count * 3 + 2] = cand[k].idx;
                count++;
            }
        }
    }
    if (st == LO_OK) {
        int64_t dims[2] = {count, 3};
        st = lo_output(ctx, 0, LO_INT64, 2, dims);
        if (st == LO_OK && has_out(ctx, 0) && count) memcpy(ctx->out[0]->data, res, (size_t)count * 3 * sizeof *res);
    }
    free(heap);
    free(res);
    return st;
}

const lo_op_def lo_ops_object_detection_non_max_suppression[] = {
    {"", "NonMaxSuppression", 10, LO_OPSET_MAX, NULL, nms_run, NULL, 0},
    {0},
};
