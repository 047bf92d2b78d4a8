/* Det. */
#include <ctype.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../helpers.h"

/* ---- Det ---------------------------------------------------------------------------------- */

static lo_status det_run(lo_kernel_ctx *ctx) {
    LO_TRY(need_float_in(ctx, 0, "X"));
    const lo_tensor *x = ctx->in[0];
    LO_CHECK(ctx, x->rank >= 2 && x->dims[x->rank - 1] == x->dims[x->rank - 2], "X must be [..., M, M]");
    int64_t m = x->dims[x->rank - 1], batch = 1;
    for (int i = 0; i < x->rank - 2; i++) batch *= x->dims[i];
    LO_TRY(lo_output(ctx, 0, x->dtype, x->rank - 2, x->dims));
    if (!has_out(ctx, 0)) return LO_OK;
    void *heap;
    double *a = work_buffer(ctx, (size_t)(m * m + 1) * sizeof(double), &heap);
    if (!a) return lo_kernel_fail(ctx, LO_ERR_NOMEM, "out of memory");
    for (int64_t b = 0; b < batch; b++) {
        for (int64_t i = 0; i < m * m; i++) a[i] = lo_get_f64(x, b * m * m + i);
        /* LU with partial pivoting */
        double det = 1;
        for (int64_t c = 0; c < m && det != 0; c++) {
            int64_t piv = c;
            for (int64_t r = c + 1; r < m; r++)
                if (fabs(a[r * m + c]) > fabs(a[piv * m + c])) piv = r;
            if (a[piv * m + c] == 0) {
                det = 0;
                break;
            }
            if (piv != c) {
                for (int64_t k = 0; k < m; k++) {
                    double t = a[c * m + k];
                    a[c * m + k] = a[piv * m + k];
                    a[piv * m + k] = t;
                }
                det = -det;
            }
            det *= a[c * m + c];
            for (int64_t r = c + 1; r < m; r++) {
                double f = a[r * m + c] / a[c * m + c];
                for (int64_t k = c; k < m; k++) a[r * m + k] -= f * a[c * m + k];
            }
        }
        lo_set_f64(ctx->out[0], b, det);
    }
    free(heap);
    return LO_OK;
}

const lo_op_def lo_ops_math_det[] = {
    {"", "Det", 11, LO_OPSET_MAX, NULL, det_run, NULL, 0},
    {0},
};
