/* Unit tests of the shape family (src/ops/tensor/) and Resize/Upsample
 * (src/ops/tensor/resize.c): the copy engine against naive index arithmetic on
 * random shapes and dtypes, the Resize fast paths against the N-d reference
 * path, opset-specific forms, string ownership, and bad input reported as
 * errors rather than crashes. */

/* Two threads, so the kernels' parallel splits run too. */
#define HARNESS_THREADS 2
#include "harness.h"

/* ---- helpers of this file ------------------------------------------------ */

/* In [-1, 1], in steps of 1e-6. */
static float rnd_float(void) { return (float)((double)(rng_next() % 2000001) / 1000000.0 - 1.0); }

static lo_tensor make_i64(int n, const int64_t *v) {
    int64_t d = n;
    lo_tensor t = tensor_new(LO_INT64, 1, &d);
    if (n) memcpy(t.data, v, (size_t)n * sizeof *v);
    return t;
}

static lo_tensor make_f32(int rank, const int64_t *dims, const float *v) {
    lo_tensor t = tensor_new(LO_FLOAT, rank, dims);
    memcpy(t.data, v, t.nbytes);
    return t;
}

/* Random contents; strings get distinct short texts. */
static void fill_random(lo_tensor *t) {
    int64_t n = lo_numel(t);
    for (int64_t i = 0; i < n; i++) {
        if (t->dtype == LO_STRING) {
            char buf[32];
            snprintf(buf, sizeof buf, "s%llu", (unsigned long long)(rng_next() % 1000));
            ((char **)t->data)[i] = strdup(buf);
        } else if (t->dtype == LO_FLOAT) {
            ((float *)t->data)[i] = rnd_float();
        } else {
            unsigned char *p = (unsigned char *)t->data + (size_t)i * lo_dtype_size(t->dtype);
            for (size_t b = 0; b < lo_dtype_size(t->dtype); b++) p[b] = (unsigned char)rng_next();
        }
    }
}

static bool same_element(const lo_tensor *a, int64_t i, const lo_tensor *b, int64_t j) {
    if (a->dtype == LO_STRING) return !strcmp(((char **)a->data)[i], ((char **)b->data)[j]);
    size_t es = lo_dtype_size(a->dtype);
    return !memcmp((char *)a->data + (size_t)i * es, (char *)b->data + (size_t)j * es, es);
}

static void unravel(int64_t i, int rank, const int64_t *dims, int64_t *pos) {
    for (int d = rank - 1; d >= 0; d--) {
        pos[d] = dims[d] ? i % dims[d] : 0;
        i = dims[d] ? i / dims[d] : 0;
    }
}

static int64_t ravel(int rank, const int64_t *dims, const int64_t *pos) {
    int64_t i = 0;
    for (int d = 0; d < rank; d++) i = i * dims[d] + pos[d];
    return i;
}

static const lo_dtype some_types[] = {LO_UINT8, LO_FLOAT16, LO_FLOAT, LO_INT64, LO_STRING, LO_BOOL};

/* ---- the copy engine: Transpose, Expand, Tile, Slice, Pad ----------------- */

static void test_transpose_random(void) {
    for (int iter = 0; iter < 60; iter++) {
        int r = (int)rnd_range(1, 5);
        int64_t dims[LO_MAX_RANK], perm[LO_MAX_RANK];
        for (int d = 0; d < r; d++) {
            dims[d] = rnd_range(1, 5);
            perm[d] = d;
        }
        if (iter == 0) dims[0] = 300; /* large enough for the parallel loop */
        for (int d = r - 1; d > 0; d--) {
            int j = (int)rnd_range(0, d);
            int64_t t = perm[d];
            perm[d] = perm[j];
            perm[j] = t;
        }
        lo_dtype dt = some_types[iter % 6];
        lo_tensor x = tensor_new(dt, r, dims);
        fill_random(&x);
        lo_attr a[1] = {attr_ints("perm", r, perm)};
        const lo_tensor *in[1] = {&x};
        lo_tensor y;
        lo_status st = run_op("Transpose", 13, a, 1, in, 1, &y, 1, NULL);
        CHECK(st == LO_OK, "transpose: %s", last_err.message);
        bool ok = st == LO_OK && y.rank == r;
        for (int64_t i = 0; ok && i < lo_numel(&y); i++) {
            int64_t pos[LO_MAX_RANK], src[LO_MAX_RANK];
            unravel(i, r, y.dims, pos);
            for (int d = 0; d < r; d++) src[perm[d]] = pos[d];
            ok = same_element(&y, i, &x, ravel(r, dims, src));
        }
        CHECK(ok, "transpose rank %d dtype %s differs from the naive transpose", r, lo_dtype_name(dt));
        if (dt == LO_STRING && st == LO_OK)
            CHECK(((char **)y.data)[0] != ((char **)x.data)[0], "transpose must copy strings");
        free_all(&x, 1);
        if (st == LO_OK) free_all(&y, 1);
    }
}

static void test_expand_tile_random(void) {
    for (int iter = 0; iter < 40; iter++) {
        int r = (int)rnd_range(1, 4);
        int64_t dims[LO_MAX_RANK], target[LO_MAX_RANK], reps[LO_MAX_RANK];
        for (int d = 0; d < r; d++) {
            dims[d] = rnd_range(1, 3);
            if (rng_next() % 2) dims[d] = 1;
            target[d] = dims[d] == 1 ? rnd_range(1, 4) : dims[d];
            reps[d] = rnd_range(0, 3);
        }
        lo_dtype dt = some_types[iter % 6];
        lo_tensor x = tensor_new(dt, r, dims);
        fill_random(&x);
        lo_tensor shape = make_i64(r, target), repeats = make_i64(r, reps), y;
        const lo_tensor *in[2] = {&x, &shape};
        lo_status st = run_op("Expand", 13, NULL, 0, in, 2, &y, 1, NULL);
        bool ok = st == LO_OK && y.rank == r;
        for (int64_t i = 0; ok && i < lo_numel(&y); i++) {
            int64_t pos[LO_MAX_RANK];
            unravel(i, r, y.dims, pos);
            for (int d = 0; d < r; d++) pos[d] = dims[d] == 1 ? 0 : pos[d];
            ok = y.dims[0] == target[0] && same_element(&y, i, &x, ravel(r, dims, pos));
        }
        CHECK(ok, "expand rank %d dtype %s: %s", r, lo_dtype_name(dt), last_err.message);
        if (st == LO_OK) free_all(&y, 1);
        in[1] = &repeats;
        st = run_op("Tile", 13, NULL, 0, in, 2, &y, 1, NULL);
        ok = st == LO_OK && y.rank == r;
        for (int64_t i = 0; ok && i < lo_numel(&y); i++) {
            int64_t pos[LO_MAX_RANK];
            unravel(i, r, y.dims, pos);
            for (int d = 0; d < r; d++) pos[d] %= dims[d];
            ok = same_element(&y, i, &x, ravel(r, dims, pos));
        }
        for (int d = 0; ok && d < r; d++) ok = y.dims[d] == dims[d] * reps[d];
        CHECK(ok, "tile rank %d dtype %s: %s", r, lo_dtype_name(dt), last_err.message);
        if (st == LO_OK) free_all(&y, 1);
        free_all(&x, 1);
        free_all(&shape, 1);
        free_all(&repeats, 1);
    }
}

/* Positions an ONNX slice of one axis visits, by walking it. */
static int64_t slice_positions(int64_t dim, int64_t s, int64_t e, int64_t step, int64_t *out) {
    if (s < 0) s += dim;
    if (e < 0) e += dim;
    int64_t n = 0;
    if (step > 0) {
        if (s < 0) s = 0;
        if (e > dim) e = dim;
        for (int64_t i = s; i < e; i += step) out[n++] = i;
    } else {
        if (s > dim - 1) s = dim - 1;
        if (s < 0) s = 0;
        if (e < -1) e = -1;
        for (int64_t i = s; i > e && i < dim; i += step) out[n++] = i;
    }
    return n;
}

static void test_slice_random(void) {
    for (int iter = 0; iter < 80; iter++) {
        int r = (int)rnd_range(1, 4);
        int64_t dims[LO_MAX_RANK], starts[LO_MAX_RANK], ends[LO_MAX_RANK], axes[LO_MAX_RANK],
            steps[LO_MAX_RANK], pos_table[LO_MAX_RANK][64], count[LO_MAX_RANK];
        for (int d = 0; d < r; d++) dims[d] = rnd_range(0, 6);
        for (int d = 0; d < r; d++) {
            axes[d] = d - (rng_next() % 2 ? r : 0);
            starts[d] = rnd_range(-dims[d] - 2, dims[d] + 2);
            ends[d] = rng_next() % 5 ? rnd_range(-dims[d] - 2, dims[d] + 2) : (rng_next() % 2 ? INT64_MAX : INT64_MIN);
            steps[d] = rng_next() % 2 ? rnd_range(1, 3) : -rnd_range(1, 3);
            count[d] = slice_positions(dims[d], starts[d], ends[d], steps[d], pos_table[d]);
        }
        lo_dtype dt = some_types[iter % 6];
        lo_tensor x = tensor_new(dt, r, dims);
        fill_random(&x);
        lo_tensor ts = make_i64(r, starts), te = make_i64(r, ends), ta = make_i64(r, axes),
                  tp = make_i64(r, steps), y;
        const lo_tensor *in[5] = {&x, &ts, &te, &ta, &tp};
        lo_status st = run_op("Slice", 13, NULL, 0, in, 5, &y, 1, NULL);
        bool ok = st == LO_OK && y.rank == r;
        for (int d = 0; ok && d < r; d++) ok = y.dims[d] == count[d];
        for (int64_t i = 0; ok && i < lo_numel(&y); i++) {
            int64_t pos[LO_MAX_RANK];
            unravel(i, r, y.dims, pos);
            for (int d = 0; d < r; d++) pos[d] = pos_table[d][pos[d]];
            ok = same_element(&y, i, &x, ravel(r, dims, pos));
        }
        CHECK(ok, "slice iteration %d rank %d: %s", iter, r, last_err.message);
        if (st == LO_OK) free_all(&y, 1);
        lo_tensor all[5] = {x, ts, te, ta, tp};
        free_all(all, 5);
    }
}

/* numpy.pad's index rules for one axis (non-negative pads). */
static int64_t pad_naive(const char *mode, int64_t i, int64_t before, int64_t dim) {
    int64_t p = i - before;
    if (p >= 0 && p < dim) return p;
    if (!strcmp(mode, "constant")) return -1;
    if (!strcmp(mode, "edge")) return p < 0 ? 0 : dim - 1;
    if (!strcmp(mode, "wrap")) return ((p % dim) + dim) % dim;
    /* reflect: bounce back and forth without repeating the edge */
    if (dim == 1) return 0;
    while (p < 0 || p >= dim) p = p < 0 ? -p : 2 * (dim - 1) - p;
    return p;
}

static void test_pad_random(void) {
    static const char *modes[] = {"constant", "reflect", "edge", "wrap"};
    for (int iter = 0; iter < 60; iter++) {
        const char *mode = modes[iter % 4];
        int r = (int)rnd_range(1, 4);
        int64_t dims[LO_MAX_RANK], pads[2 * LO_MAX_RANK];
        for (int d = 0; d < r; d++) {
            dims[d] = rnd_range(1, 4);
            pads[d] = rnd_range(0, 5);
            pads[r + d] = rnd_range(0, 5);
        }
        lo_tensor x = tensor_new(LO_FLOAT, r, dims), tp = make_i64(2 * r, pads), y;
        fill_random(&x);
        float cv_value = 7.5f;
        int64_t one = 1;
        lo_tensor cv = make_f32(0, &one, &cv_value);
        lo_attr a[1] = {attr_string("mode", mode)};
        const lo_tensor *in[3] = {&x, &tp, &cv};
        lo_status st = run_op("Pad", 19, a, 1, in, 3, &y, 1, NULL);
        bool ok = st == LO_OK && y.rank == r;
        for (int64_t i = 0; ok && i < lo_numel(&y); i++) {
            int64_t pos[LO_MAX_RANK];
            bool constant = false;
            unravel(i, r, y.dims, pos);
            for (int d = 0; d < r; d++) {
                pos[d] = pad_naive(mode, pos[d], pads[d], dims[d]);
                constant |= pos[d] < 0;
            }
            float want = constant ? cv_value : ((float *)x.data)[ravel(r, dims, pos)];
            ok = ((float *)y.data)[i] == want;
        }
        CHECK(ok, "pad mode %s rank %d: %s", mode, r, last_err.message);
        if (st == LO_OK) free_all(&y, 1);
        lo_tensor all[3] = {x, tp, cv};
        free_all(all, 3);
    }
    /* negative pads crop; Pad-2 takes pads and value from attributes */
    float v[6] = {1, 2, 3, 4, 5, 6};
    int64_t dims[2] = {2, 3}, pads[4] = {0, -1, 1, 1};
    lo_tensor x = make_f32(2, dims, v), y;
    lo_attr a[2] = {attr_ints("pads", 4, pads), attr_float("value", -1)};
    const lo_tensor *in[1] = {&x};
    lo_status st = run_op("Pad", 2, a, 2, in, 1, &y, 1, NULL);
    float want[9] = {2, 3, -1, 5, 6, -1, -1, -1, -1};
    CHECK(st == LO_OK && y.dims[0] == 3 && y.dims[1] == 3 && !memcmp(y.data, want, sizeof want),
          "Pad-2 with a negative pad: %s", last_err.message);
    if (st == LO_OK) free_all(&y, 1);
    free_all(&x, 1);
}

/* ---- gathers and scatters --------------------------------------------------- */

static void test_gathers(void) {
    float v[6] = {1, 2, 3, 4, 5, 6};
    int64_t dims[2] = {3, 2};
    lo_tensor x = make_f32(2, dims, v), y;
    int64_t idx[4] = {2, -3, 1, 2};
    int64_t idims[2] = {2, 2};
    lo_tensor ind = tensor_new(LO_INT64, 2, idims);
    memcpy(ind.data, idx, sizeof idx);
    const lo_tensor *in[2] = {&x, &ind};
    lo_status st = run_op("Gather", 13, NULL, 0, in, 2, &y, 1, NULL);
    float want[8] = {5, 6, 1, 2, 3, 4, 5, 6};
    CHECK(st == LO_OK && y.rank == 3 && !memcmp(y.data, want, sizeof want), "gather axis 0: %s",
          last_err.message);
    if (st == LO_OK) free_all(&y, 1);
    ((int64_t *)ind.data)[0] = 3;
    st = run_op("Gather", 13, NULL, 0, in, 2, &y, 1, NULL);
    CHECK(st == LO_ERR_INPUT, "gather must reject index 3 of 3");

    /* GatherElements axis 1 */
    int64_t ge[6] = {1, 0, 0, 0, 1, 1};
    memcpy(ind.data, ge, 4 * sizeof(int64_t));
    ind.dims[0] = 2;
    ind.dims[1] = 2;
    lo_attr a[1] = {attr_int("axis", 1)};
    st = run_op("GatherElements", 13, a, 1, in, 2, &y, 1, NULL);
    float want_ge[4] = {2, 1, 3, 3};
    CHECK(st == LO_OK && !memcmp(y.data, want_ge, sizeof want_ge), "gather_elements: %s", last_err.message);
    if (st == LO_OK) free_all(&y, 1);
    free_all(&ind, 1);

    /* GatherND with batch_dims 1: data [2,2,2], indices [2,1] */
    float d3[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    int64_t dd[3] = {2, 2, 2}, nd_dims[2] = {2, 1}, nd_idx[2] = {1, 0};
    lo_tensor x3 = make_f32(3, dd, d3), ind2 = tensor_new(LO_INT64, 2, nd_dims);
    memcpy(ind2.data, nd_idx, sizeof nd_idx);
    const lo_tensor *in3[2] = {&x3, &ind2};
    lo_attr b[1] = {attr_int("batch_dims", 1)};
    st = run_op("GatherND", 12, b, 1, in3, 2, &y, 1, NULL);
    float want_nd[4] = {2, 3, 4, 5};
    CHECK(st == LO_OK && y.rank == 2 && !memcmp(y.data, want_nd, sizeof want_nd), "gather_nd: %s",
          last_err.message);
    if (st == LO_OK) free_all(&y, 1);

    /* ScatterND with reduction max (18) and ScatterElements with mul (16) */
    lo_tensor ind3 = tensor_new(LO_INT64, 2, nd_dims);
    ((int64_t *)ind3.data)[0] = 1;
    ((int64_t *)ind3.data)[1] = 1;
    int64_t ud[3] = {2, 2, 2};
    float upd_v[8] = {10, -10, 10, -10, 0, 0, 0, 0};
    lo_tensor upd = make_f32(3, ud, upd_v);
    const lo_tensor *sin[3] = {&x3, &ind3, &upd};
    lo_attr red[1] = {attr_string("reduction", "max")};
    st = run_op("ScatterND", 18, red, 1, sin, 3, &y, 1, NULL);
    float want_sc[8] = {0, 1, 2, 3, 10, 5, 10, 7};
    CHECK(st == LO_OK && !memcmp(y.data, want_sc, sizeof want_sc), "scatter_nd max: %s", last_err.message);
    if (st == LO_OK) free_all(&y, 1);
    lo_attr red_bad[1] = {attr_string("reduction", "median")};
    st = run_op("ScatterND", 18, red_bad, 1, sin, 3, &y, 1, NULL);
    CHECK(st == LO_ERR_UNSUPPORTED, "scatter_nd must reject reduction 'median'");
    lo_tensor all[5] = {x, x3, ind2, ind3, upd};
    free_all(all, 5);
}

/* ---- opset forms, Split, Concat, Squeeze ------------------------------------ */

static void test_opset_forms(void) {
    float v[12];
    for (int i = 0; i < 12; i++) v[i] = (float)i;
    int64_t dims[3] = {1, 3, 4};
    lo_tensor x = make_f32(3, dims, v), y[4];
    const lo_tensor *in[2] = {&x, NULL};

    int64_t axes0[1] = {0};
    lo_attr sq[1] = {attr_ints("axes", 1, axes0)};
    lo_status st = run_op("Squeeze", 11, sq, 1, in, 1, y, 1, NULL);
    CHECK(st == LO_OK && y[0].rank == 2 && y[0].dims[0] == 3, "Squeeze-11 attribute: %s", last_err.message);
    if (st == LO_OK) free_all(y, 1);
    lo_tensor t_axes = make_i64(1, axes0);
    in[1] = &t_axes;
    st = run_op("Squeeze", 13, NULL, 0, in, 2, y, 1, NULL);
    CHECK(st == LO_OK && y[0].rank == 2, "Squeeze-13 input: %s", last_err.message);
    if (st == LO_OK) free_all(y, 1);
    ((int64_t *)t_axes.data)[0] = 1;
    st = run_op("Squeeze", 13, NULL, 0, in, 2, y, 1, NULL);
    CHECK(st == LO_ERR_INPUT, "squeezing an axis of size 3 must fail");
    ((int64_t *)t_axes.data)[0] = -1;
    st = run_op("Unsqueeze", 13, NULL, 0, in, 2, y, 1, NULL);
    CHECK(st == LO_OK && y[0].rank == 4 && y[0].dims[3] == 1, "Unsqueeze-13 axis -1: %s", last_err.message);
    if (st == LO_OK) free_all(y, 1);

    /* Slice-1 attributes */
    int64_t s[1] = {1}, e[1] = {1000}, ax[1] = {2};
    lo_attr sl[3] = {attr_ints("starts", 1, s), attr_ints("ends", 1, e), attr_ints("axes", 1, ax)};
    st = run_op("Slice", 1, sl, 3, in, 1, y, 1, NULL);
    CHECK(st == LO_OK && y[0].dims[2] == 3 && ((float *)y[0].data)[0] == 1, "Slice-1: %s", last_err.message);
    if (st == LO_OK) free_all(y, 1);

    /* Split: attribute (2), even default (13), num_outputs (18) */
    int64_t parts[2] = {1, 3};
    lo_attr sp[2] = {attr_int("axis", 2), attr_ints("split", 2, parts)};
    st = run_op("Split", 2, sp, 2, in, 1, y, 2, NULL);
    CHECK(st == LO_OK && y[0].dims[2] == 1 && y[1].dims[2] == 3 && ((float *)y[1].data)[0] == 1,
          "Split-2: %s", last_err.message);
    if (st == LO_OK) free_all(y, 2);
    lo_attr sp18[2] = {attr_int("axis", -1), attr_int("num_outputs", 3)};
    st = run_op("Split", 18, sp18, 2, in, 1, y, 3, NULL);
    CHECK(st == LO_OK && y[0].dims[2] == 2 && y[1].dims[2] == 2 && y[2].dims[2] == 0,
          "Split-18 num_outputs 3 of 4: %s", last_err.message);
    if (st == LO_OK) free_all(y, 3);
    lo_attr sp13[1] = {attr_int("axis", 1)};
    st = run_op("Split", 13, sp13, 1, in, 1, y, 2, NULL);
    CHECK(st == LO_ERR_INPUT, "splitting 3 into 2 equal parts must fail");

    /* Reshape with 0 and -1, allowzero, and a bad shape */
    int64_t shape[2] = {0, -1};
    lo_tensor t_shape = make_i64(2, shape);
    in[1] = &t_shape;
    st = run_op("Reshape", 14, NULL, 0, in, 2, y, 1, NULL);
    CHECK(st == LO_OK && y[0].rank == 2 && y[0].dims[0] == 1 && y[0].dims[1] == 12, "Reshape 0,-1: %s",
          last_err.message);
    if (st == LO_OK) free_all(y, 1);
    ((int64_t *)t_shape.data)[1] = 5;
    st = run_op("Reshape", 14, NULL, 0, in, 2, y, 1, NULL);
    CHECK(st == LO_ERR_INPUT, "reshaping 12 elements into 1x5 must fail");
    lo_attr az[1] = {attr_int("allowzero", 1)};
    ((int64_t *)t_shape.data)[1] = -1;
    st = run_op("Reshape", 14, az, 1, in, 2, y, 1, NULL);
    CHECK(st == LO_ERR_INPUT, "allowzero 0 next to -1 must fail");
    int64_t shape_attr[2] = {4, 3};
    lo_attr r1[1] = {attr_ints("shape", 2, shape_attr)};
    st = run_op("Reshape", 1, r1, 1, in, 1, y, 1, NULL);
    CHECK(st == LO_OK && y[0].dims[0] == 4, "Reshape-1 attribute: %s", last_err.message);
    if (st == LO_OK) free_all(y, 1);

    /* Transpose with a repeated axis must fail, not crash */
    int64_t bad_perm[3] = {0, 0, 1};
    lo_attr tp[1] = {attr_ints("perm", 3, bad_perm)};
    st = run_op("Transpose", 13, tp, 1, in, 1, y, 1, NULL);
    CHECK(st == LO_ERR_INPUT, "a perm with a repeated axis must fail");

    /* Concat of mismatched shapes must fail; Concat-4 needs axis */
    int64_t other_dims[3] = {1, 2, 5};
    lo_tensor other = tensor_new(LO_FLOAT, 3, other_dims);
    const lo_tensor *cin[2] = {&x, &other};
    lo_attr ca[1] = {attr_int("axis", 1)};
    st = run_op("Concat", 13, ca, 1, cin, 2, y, 1, NULL);
    CHECK(st == LO_ERR_INPUT, "concat of 1x3x4 and 1x2x5 on axis 1 must fail");
    st = run_op("Concat", 4, NULL, 0, cin, 2, y, 1, NULL);
    CHECK(st == LO_ERR_MODEL, "Concat-4 without axis must fail at prepare");
    other.dims[2] = 4;
    other.nbytes = 8 * sizeof(float);
    st = run_op("Concat", 13, ca, 1, cin, 2, y, 1, NULL);
    CHECK(st == LO_OK && y[0].dims[1] == 5 && ((float *)y[0].data)[12] == 0 &&
              ((float *)y[0].data)[11] == 11,
          "concat on axis 1: %s", last_err.message);
    if (st == LO_OK) free_all(y, 1);

    /* Dropout-7 mask is in the data type, Dropout-12 in bool */
    st = run_op("Dropout", 7, NULL, 0, in, 1, y, 2, NULL);
    CHECK(st == LO_OK && y[1].dtype == LO_FLOAT && ((float *)y[1].data)[5] == 1 &&
              !memcmp(y[0].data, v, sizeof v),
          "Dropout-7: %s", last_err.message);
    if (st == LO_OK) free_all(y, 2);
    st = run_op("Dropout", 13, NULL, 0, in, 1, y, 2, NULL);
    CHECK(st == LO_OK && y[1].dtype == LO_BOOL && ((uint8_t *)y[1].data)[3] == 1, "Dropout-13: %s",
          last_err.message);
    if (st == LO_OK) free_all(y, 2);

    /* Shape with start/end (15) */
    lo_attr sh[2] = {attr_int("start", -2), attr_int("end", 100)};
    st = run_op("Shape", 15, sh, 2, in, 1, y, 1, NULL);
    CHECK(st == LO_OK && y[0].dims[0] == 2 && ((int64_t *)y[0].data)[0] == 3, "Shape-15: %s",
          last_err.message);
    if (st == LO_OK) free_all(y, 1);

    lo_tensor all[4] = {x, t_axes, t_shape, other};
    free_all(all, 4);
}

/* ---- Constant, strings, Unique ------------------------------------------------ */

static void test_constant_and_strings(void) {
    lo_tensor y[4];
    float fl[3] = {1.5f, 2.5f, 3.5f};
    lo_attr c1[1] = {attr_floats("value_floats", 3, fl)};
    lo_status st = run_op("Constant", 13, c1, 1, NULL, 0, y, 1, NULL);
    CHECK(st == LO_OK && y[0].dtype == LO_FLOAT && y[0].dims[0] == 3 && ((float *)y[0].data)[2] == 3.5f,
          "Constant value_floats: %s", last_err.message);
    if (st == LO_OK) free_all(y, 1);
    lo_attr c2[1] = {attr_string("value_string", "hello")};
    st = run_op("Constant", 13, c2, 1, NULL, 0, y, 1, NULL);
    CHECK(st == LO_OK && y[0].dtype == LO_STRING && y[0].rank == 0 &&
              !strcmp(((char **)y[0].data)[0], "hello"),
          "Constant value_string: %s", last_err.message);
    if (st == LO_OK) free_all(y, 1);
    lo_attr c3[2] = {attr_int("value_int", 1), attr_float("value_float", 1)};
    st = run_op("Constant", 13, c3, 2, NULL, 0, y, 1, NULL);
    CHECK(st == LO_ERR_MODEL, "Constant with two values must fail");

    /* strings through Concat and Gather: outputs own their copies */
    int64_t d = 3;
    lo_tensor a = tensor_new(LO_STRING, 1, &d), b = tensor_new(LO_STRING, 1, &d);
    fill_random(&a);
    fill_random(&b);
    const lo_tensor *in[2] = {&a, &b};
    lo_attr ax[1] = {attr_int("axis", 0)};
    st = run_op("Concat", 13, ax, 1, in, 2, y, 1, NULL);
    bool ok = st == LO_OK && y[0].dims[0] == 6;
    for (int i = 0; ok && i < 6; i++) {
        char **got = y[0].data, **src = i < 3 ? a.data : b.data;
        ok = !strcmp(got[i], src[i % 3]) && got[i] != src[i % 3];
    }
    CHECK(ok, "concat of strings: %s", last_err.message);
    if (st == LO_OK) free_all(y, 1);

    /* Unique, sorted and in order of first occurrence */
    float u[8] = {2, 1, 1, 3, 4, 3, 2, 2};
    int64_t ud = 8;
    lo_tensor ux = make_f32(1, &ud, u);
    const lo_tensor *uin[1] = {&ux};
    st = run_op("Unique", 11, NULL, 0, uin, 1, y, 4, NULL);
    float want_y[4] = {1, 2, 3, 4};
    int64_t want_idx[4] = {1, 0, 3, 4}, want_inv[8] = {1, 0, 0, 2, 3, 2, 1, 1}, want_cnt[4] = {2, 3, 2, 1};
    CHECK(st == LO_OK && y[0].dims[0] == 4 && !memcmp(y[0].data, want_y, sizeof want_y) &&
              !memcmp(y[1].data, want_idx, sizeof want_idx) &&
              !memcmp(y[2].data, want_inv, sizeof want_inv) &&
              !memcmp(y[3].data, want_cnt, sizeof want_cnt),
          "Unique sorted: %s", last_err.message);
    if (st == LO_OK) free_all(y, 4);
    lo_attr us[1] = {attr_int("sorted", 0)};
    st = run_op("Unique", 11, us, 1, uin, 1, y, 4, NULL);
    float want_y2[4] = {2, 1, 3, 4};
    int64_t want_inv2[8] = {0, 1, 1, 2, 3, 2, 0, 0};
    CHECK(st == LO_OK && !memcmp(y[0].data, want_y2, sizeof want_y2) &&
              !memcmp(y[2].data, want_inv2, sizeof want_inv2),
          "Unique unsorted: %s", last_err.message);
    if (st == LO_OK) free_all(y, 4);

    /* CumSum exclusive reverse, Range, NonZero */
    lo_tensor axis = tensor_scalar_i64(0);
    const lo_tensor *cin[2] = {&ux, &axis};
    lo_attr cs[2] = {attr_int("exclusive", 1), attr_int("reverse", 1)};
    st = run_op("CumSum", 14, cs, 2, cin, 2, y, 1, NULL);
    float want_cs[8] = {16, 15, 14, 11, 7, 4, 2, 0};
    CHECK(st == LO_OK && !memcmp(y[0].data, want_cs, sizeof want_cs), "CumSum: %s", last_err.message);
    if (st == LO_OK) free_all(y, 1);
    lo_tensor r0 = tensor_scalar_i64(10), r1 = tensor_scalar_i64(-3), r2 = tensor_scalar_i64(-4);
    const lo_tensor *rin[3] = {&r0, &r1, &r2};
    st = run_op("Range", 11, NULL, 0, rin, 3, y, 1, NULL);
    CHECK(st == LO_OK && y[0].dims[0] == 4 && ((int64_t *)y[0].data)[3] == -2, "Range: %s", last_err.message);
    if (st == LO_OK) free_all(y, 1);
    *(int64_t *)r2.data = 0;
    st = run_op("Range", 11, NULL, 0, rin, 3, y, 1, NULL);
    CHECK(st == LO_ERR_INPUT, "Range with delta 0 must fail");
    lo_tensor all[6] = {a, b, ux, axis, r0, r1};
    free_all(all, 6);
    free_all(&r2, 1);
}

static void test_resize_forms(void) {
    /* Upsample-7 (attribute scales), nearest: repeats */
    float v[4] = {1, 2, 3, 4};
    int64_t dims[4] = {1, 1, 2, 2};
    lo_tensor x = make_f32(4, dims, v), y;
    float sc[4] = {1, 1, 2, 3};
    lo_attr a[2] = {attr_string("mode", "nearest"), attr_floats("scales", 4, sc)};
    const lo_tensor *in[4] = {&x, NULL, NULL, NULL};
    lo_status st = run_op("Upsample", 7, a, 2, in, 1, &y, 1, NULL);
    float want[24] = {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4};
    CHECK(st == LO_OK && y.dims[2] == 4 && y.dims[3] == 6 && !memcmp(y.data, want, sizeof want),
          "Upsample-7 nearest: %s", last_err.message);
    if (st == LO_OK) free_all(&y, 1);

    /* Resize-18 with axes and not_larger: 2x2 -> sizes (4, 8) keeps the aspect: 4x4 */
    int64_t sizes[2] = {4, 8}, axes[2] = {2, 3};
    lo_tensor tz = make_i64(2, sizes);
    in[3] = &tz;
    lo_attr b[3] = {attr_string("mode", "linear"), attr_ints("axes", 2, axes),
                    attr_string("keep_aspect_ratio_policy", "not_larger")};
    st = run_op("Resize", 18, b, 3, in, 4, &y, 1, NULL);
    CHECK(st == LO_OK && y.dims[2] == 4 && y.dims[3] == 4, "Resize-18 axes + not_larger: %s", last_err.message);
    if (st == LO_OK) {
        /* half_pixel linear upsampling by 2 of [[1,2],[3,4]]: first row 1, 1.25, 1.75, 2 */
        float *o = y.data;
        CHECK(fabsf(o[0] - 1) < 1e-6f && fabsf(o[1] - 1.25f) < 1e-6f && fabsf(o[2] - 1.75f) < 1e-6f,
              "Resize-18 linear values %g %g %g", o[0], o[1], o[2]);
        free_all(&y, 1);
    }

    /* cubic upsampling keeps a constant image constant; antialias downsampling too */
    float flat[64];
    for (int i = 0; i < 64; i++) flat[i] = 3.0f;
    int64_t fd[4] = {1, 1, 8, 8};
    lo_tensor xf = make_f32(4, fd, flat);
    float s_up[4] = {1, 1, 1.5f, 2}, s_down[4] = {1, 1, 0.3f, 0.5f};
    int64_t four = 4;
    lo_tensor tsu = tensor_new(LO_FLOAT, 1, &four), tsd = tensor_new(LO_FLOAT, 1, &four);
    memcpy(tsu.data, s_up, sizeof s_up);
    memcpy(tsd.data, s_down, sizeof s_down);
    const lo_tensor *cin[3] = {&xf, NULL, &tsu};
    lo_attr cub[2] = {attr_string("mode", "cubic"), attr_int("antialias", 1)};
    for (int pass = 0; pass < 2; pass++) {
        cin[2] = pass ? &tsd : &tsu;
        st = run_op("Resize", 18, cub, 2, cin, 3, &y, 1, NULL);
        bool ok = st == LO_OK;
        for (int64_t i = 0; ok && i < lo_numel(&y); i++) ok = fabsf(((float *)y.data)[i] - 3.0f) < 1e-5f;
        CHECK(ok, "antialiased cubic resize (%s) of a constant image: %s", pass ? "down" : "up", last_err.message);
        if (st == LO_OK) free_all(&y, 1);
    }

    /* bad input: both scales and sizes, and a string tensor */
    const lo_tensor *both[4] = {&xf, NULL, &tsu, &tz};
    st = run_op("Resize", 13, cub, 1, both, 4, &y, 1, NULL);
    CHECK(st == LO_ERR_INPUT, "Resize with both scales and sizes must fail");
    lo_attr badmode[1] = {attr_string("coordinate_transformation_mode", "sideways")};
    st = run_op("Resize", 13, badmode, 1, both, 4, &y, 1, NULL);
    CHECK(st == LO_ERR_UNSUPPORTED, "an unknown coordinate mode must be rejected at prepare");
    lo_tensor all[5] = {x, tz, xf, tsu, tsd};
    free_all(all, 5);
}

/* ---- Identity of sequences and optionals --------------------------------------- */

static void test_identity_values(void) {
    int64_t d = 2;
    lo_tensor items[2] = {tensor_new(LO_FLOAT, 1, &d), tensor_new(LO_STRING, 1, &d)};
    fill_random(&items[0]);
    fill_random(&items[1]);
    lo_tensor seq = {.kind = LO_KIND_SEQUENCE, .n_items = 2, .items = items, .dtype = LO_FLOAT};
    const lo_tensor *in[1] = {&seq};
    lo_tensor y;
    lo_status st = run_op("Identity", 16, NULL, 0, in, 1, &y, 1, NULL);
    bool ok = st == LO_OK && y.kind == LO_KIND_SEQUENCE && y.n_items == 2 && y.items != items &&
              !memcmp(y.items[0].data, items[0].data, items[0].nbytes) &&
              !strcmp(((char **)y.items[1].data)[1], ((char **)items[1].data)[1]) &&
              ((char **)y.items[1].data)[1] != ((char **)items[1].data)[1];
    CHECK(ok, "Identity of a sequence must deep-copy it: %s", last_err.message);
    if (st == LO_OK) lo_tensor_free_data(&y);
    free_all(items, 2);
    lo_tensor none = {.kind = LO_KIND_NONE};
    in[0] = &none;
    st = run_op("Identity", 16, NULL, 0, in, 1, &y, 1, NULL);
    CHECK(st == LO_OK && y.kind == LO_KIND_NONE, "Identity of an empty optional: %s", last_err.message);
}

/* ---- table coverage ------------------------------------------------------------ */

static void test_versions(void) {
    static const struct {
        const char *op;
        int first;
    } ops[] = {{"Reshape", 1},   {"Transpose", 1},       {"Concat", 1},         {"Shape", 1},
               {"Size", 1},      {"Gather", 1},          {"GatherElements", 11}, {"GatherND", 11},
               {"Slice", 1},     {"Squeeze", 1},         {"Unsqueeze", 1},      {"Flatten", 1},
               {"ConstantOfShape", 9}, {"Expand", 8},    {"Identity", 1},       {"Dropout", 1},
               {"Constant", 1},  {"Pad", 1},             {"Split", 1},          {"Tile", 1},
               {"Range", 11},    {"NonZero", 9},         {"OneHot", 9},         {"ScatterElements", 11},
               {"Scatter", 9},   {"ScatterND", 11},      {"DepthToSpace", 1},   {"SpaceToDepth", 1},
               {"Trilu", 14},    {"EyeLike", 9},         {"CumSum", 11},        {"ReverseSequence", 10},
               {"Compress", 9},  {"Unique", 11},         {"Resize", 10},        {"Upsample", 7}};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        bool ok = lo_op_lookup("", ops[i].op, ops[i].first - 1) == NULL;
        for (int v = ops[i].first; ok && v <= LO_OPSET_MAX; v++) ok = lo_op_lookup("", ops[i].op, v) != NULL;
        CHECK(ok, "%s must be served from opset %d to %d", ops[i].op, ops[i].first, LO_OPSET_MAX);
    }
}

int main(void) {
    test_transpose_random();
    test_expand_tile_random();
    test_slice_random();
    test_pad_random();
    test_gathers();
    test_opset_forms();
    test_constant_and_strings();
    test_resize_forms();
    test_identity_values();
    test_versions();
    return finish(NULL);
}
