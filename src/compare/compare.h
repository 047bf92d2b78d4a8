/* Comparing two dumps layer by layer: reading dumps (ours, AIMET's, QNN
 * output folders), matching their tensors across naming schemes, metrics
 * per tensor and sample, and the reports (text, CSV, JSON, HTML).
 *
 * Data moves one way: dumps are opened (lo_dump_open), paired
 * (lo_compare_run matches, reads and measures), then the lo_comparison it
 * returns is rendered by the report writers. Nothing here runs a model.
 *
 * Rules, and why:
 * - Matching: same file stem first; then the same tensor once naming schemes
 *   are undone (AIMET-sanitized ONNX name from a manifest; a QNN stem loses
 *   the '_' QNN adds before names not starting with a letter); then PyTorch
 *   module names (aimet_torch's scheme) against the last tensor of that
 *   module, the module recovered from the node name. Unmatched tensors are
 *   rows of their own (only in REF / only in TEST), never dropped.
 * - Shapes: a manifest's, else the --model's value_info/graph inputs/outputs,
 *   else the shapes the model gives when run once (on REF's own copy of the
 *   graph inputs, else zeros of the inputs' declared shapes), else a .npy
 *   header, else the pair is compared flat (and the notes name it).
 * - Every sample of every pair is size-checked: a file of another size in
 *   any sample makes the row "not compared" with that reason.
 * - Layout: when exactly one side is a QNN folder and the shape is rank >= 3
 *   with more than one channel and more than one spatial element, both
 *   readings of the QNN data (as is, channel-last) are measured on every
 *   sample, and the one whose pooled error is smaller is kept for all of
 *   them (row->layout_decision says so and how many samples agreed): QNN
 *   stores images NHWC but not every rank-4 tensor is an image (reshapes,
 *   attention scores), and one broken sample must not decide for the rest.
 * - Threshold default 30 dB: an error norm 3.2% of the signal's. One 8-bit
 *   rounding of a well-calibrated tensor costs about 40-50 dB and float
 *   reorderings 100+ dB, so a tensor under 30 dB has lost much more than a
 *   rounding step: a bad encoding, a wrong kernel, a clipped range. A tensor
 *   passes when every sample is at or above the threshold.
 * - Sharp drop (default 20 dB = 10x the error amplitude): pooled SQNR below
 *   the inputs' pooled SQNR (their minimum) minus drop, when that is finite,
 *   and below threshold + drop. The inputs are the nearest compared
 *   ancestors through the --model's edges, else the previous compared
 *   tensor in graph order. Bit-exact inputs (inf dB) set no base: against
 *   them any rounding would be a "drop", and the threshold is what judges
 *   such a layer. A tensor at threshold + drop (50 dB) or better is clean
 *   whatever its inputs: float reorderings take 140 dB inputs to 110 dB.
 *   A drop can thus flag a tensor still above the threshold (60 dB inputs,
 *   35 dB output).
 * - First divergence: the first row in graph order below the threshold or
 *   with a sharp drop. */
#ifndef LO_COMPARE_H
#define LO_COMPARE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../graph/graph.h"

/* ---- dumps ---------------------------------------------------------------------- */

typedef enum lo_dump_kind {
    LO_DUMP_LAYEROUT = 0, /* ours: manifest.json with names, dtypes and shapes */
    LO_DUMP_AIMET = 1,    /* layer_output_name_order.json, no shapes or dtypes */
    LO_DUMP_QNN = 2       /* qnn-net-run output: Result_K/NAME.raw, float32, channel-last images */
} lo_dump_kind;

typedef struct lo_dump_tensor {
    char *file;    /* file stem, as on disk */
    char *name;    /* original ONNX tensor name, NULL when the dump does not say */
    char *node;    /* producing node's name, NULL when unknown */
    char *op_type; /* producing node's op_type, NULL when unknown */
    char *module;  /* PyTorch module name, when the manifest records it */
    char *encoding; /* the quantization the manifest records for it, NULL when none */
    lo_dtype dtype; /* LO_UNDEFINED when the dump does not say */
    int rank;       /* -1 when the dump does not say */
    int64_t dims[LO_MAX_RANK];
} lo_dump_tensor;

typedef struct lo_dump {
    char *path;
    lo_dump_kind kind;
    bool has_order; /* tensors[] are in graph order (name-order file or manifest) */
    int n_samples;
    char **sample_dirs; /* n_samples folders holding the tensor files, or safetensors files */
    bool container_files;           /* samples are safetensors files (sample_dirs name them) */
    struct lo_st_index *containers; /* then, per sample, the file's header */
    int first_sample;   /* the sample number of sample_dirs[0]: K for one Result_K folder
                           given directly, else 0 */
    char *naming;       /* the manifest's naming scheme, NULL when it does not say */
    bool quantized;     /* the manifest records an encoding for some tensor */
    int n_tensors;
    lo_dump_tensor *tensors;
} lo_dump;

/* Opens a dump folder: ours (manifest.json), AIMET's (name-order file and
 * outputs/layer_outputs_K), a QNN output folder (Result_K), or a single
 * folder of .raw files (one QNN Result_K given directly). */
lo_status lo_dump_open(const char *path, lo_dump *dump, lo_error *err);
void lo_dump_close(lo_dump *dump);
const char *lo_dump_kind_name(lo_dump_kind kind);

/* A tensor file mapped into memory; data points past any .npy header. */
typedef struct lo_mapped {
    void *map;
    size_t map_size;
    const void *data;
    size_t nbytes;
    lo_dtype npy_dtype; /* the .npy header's dtype, LO_UNDEFINED for raw files */
    int npy_rank;       /* the .npy header's rank, -1 for raw files */
    int64_t npy_dims[LO_MAX_RANK];
    void *copy; /* an aligned copy of misaligned .npy data, or NULL */
} lo_mapped;

/* Maps sample's file of tensor t (NAME.raw, else NAME.npy), or its bytes in
 * the sample's safetensors file (npy_* then give its dtype and shape).
 * LO_ERR_IO when it is missing. */
lo_status lo_dump_map(const lo_dump *dump, int sample, int t, lo_mapped *out, lo_error *err);
/* Whether sample holds tensor t. */
bool lo_dump_holds(const lo_dump *dump, int sample, int t);
void lo_unmap(lo_mapped *m);

/* ---- names ---------------------------------------------------------------------- */

/* The AIMET-sanitized name a QNN name (lo_sanitize_qnn) came from: QNN
 * names that start with '_' had it added, so it is dropped. malloc'd. */
char *lo_qnn_name_unprefix(const char *qnn_name);
/* The PyTorch module a node belongs to, from the exporter's node name:
 * "/layer1/layer1.0/conv1/Conv" -> "layer1.0.conv1"; AIMET's exporter
 * "layer1.0.conv1#2" or "layer1.0.conv1.end" -> "layer1.0.conv1".
 * NULL when the name carries no module scope. malloc'd. */
char *lo_module_from_node(const char *node_name);

/* ---- metrics ---------------------------------------------------------------------- */

/* Sums over one tensor pair (or several, pooled). Elements where either side
 * is NaN or ±Inf are left out of the sums and counted; a position where the
 * two sides do not hold the same non-finite value (NaN/NaN and Inf/Inf of one
 * sign agree) is a mismatch. */
typedef struct lo_metrics {
    int64_t count;  /* elements compared */
    int64_t finite; /* elements finite on both sides (the ones summed) */
    int64_t nan_ref, inf_ref, nan_test, inf_test;
    int64_t nonfinite_mismatch;
    double ref_sq, err_sq, test_sq, dot, abs_err_sum;
    double max_abs_err;       /* over finite pairs */
    int64_t max_abs_index;    /* flat index, in the reference's (model's) layout; -1 if none */
    int max_abs_sample;       /* for pooled metrics: the sample holding it */
    double max_rel_err;       /* the smallest rtol for which numpy's allclose(test, ref, rtol,
                                 atol=0) holds on the finite pairs, in numpy's arithmetic for
                                 the pair (float32 for a float32 pair, else double); Inf where
                                 ref==0!=test */
    /* First position (flat, model layout) of each kind of non-finite value,
     * and of a non-finite mismatch; -1 when none. For pooled metrics the
     * first sample holding one, in *_sample. */
    int64_t first_nan_ref, first_inf_ref, first_nan_test, first_inf_test, first_mismatch;
    int first_nan_ref_sample, first_inf_ref_sample, first_nan_test_sample, first_inf_test_sample,
        first_mismatch_sample;
} lo_metrics;

/* How to walk a pair: both sides hold the same numbers, either side may be
 * channel-last (NHWC for rank 4) while elements are visited in the model's
 * channel-first order. outer × channels × inner = element count. */
typedef struct lo_pair {
    const void *ref;
    lo_dtype ref_dtype;
    const void *test;
    lo_dtype test_dtype;
    int64_t outer, channels, inner;
    bool ref_channel_last, test_channel_last;
} lo_pair;

/* Measures a pair (single pass; OpenMP over blocks for large tensors, with
 * block partials combined in a fixed order so results do not depend on the
 * thread count). LO_ERR_UNSUPPORTED for dtypes that are not numbers. */
lo_status lo_metrics_compute(const lo_pair *pair, lo_metrics *out, lo_error *err);
void lo_metrics_init(lo_metrics *m);
/* Pools b into a (sums add, maxima keep their place); sample is b's sample. */
void lo_metrics_merge(lo_metrics *a, const lo_metrics *b, int sample);

/* Derived values. Conventions for degenerate cases (documented in README):
 * sqnr: +Inf when the error is zero (identical, incl. all-zero pairs);
 *       -Inf when the reference is all zero but the test is not, or when
 *       non-finite values mismatch.
 * cosine: 1 when both norms are zero, 0 when exactly one is.
 * rel_l2: 0 when the error is zero, +Inf when the reference is zero and the
 *       error is not. atol/rtol: +Inf on a non-finite mismatch. */
double lo_metrics_sqnr(const lo_metrics *m);
double lo_metrics_cosine(const lo_metrics *m);
double lo_metrics_mse(const lo_metrics *m);
double lo_metrics_mean_abs(const lo_metrics *m);
double lo_metrics_rel_l2(const lo_metrics *m);
double lo_metrics_atol(const lo_metrics *m);
double lo_metrics_rtol(const lo_metrics *m);

/* ---- comparing ---------------------------------------------------------------------- */

#define LO_COMPARE_DEFAULT_SQNR_MIN 30.0
#define LO_COMPARE_DEFAULT_DROP_DB 20.0

typedef struct lo_compare_options {
    const char *model_path; /* --model: shapes from value_info, producers for the drop rule */
    double sqnr_min;        /* threshold, dB */
    double drop_db;         /* sharp-drop size, dB */
    bool dumps_temporary;   /* the dumps are removed afterwards: reports offer no repro commands */
} lo_compare_options;

void lo_compare_options_init(lo_compare_options *options);

typedef enum lo_row_status {
    LO_ROW_PASS = 0,    /* compared, pooled and per-sample SQNR at or above the threshold */
    LO_ROW_BELOW = 1,   /* compared, some SQNR below the threshold */
    LO_ROW_ERROR = 2,   /* matched but not comparable (sizes differ, missing files, strings) */
    LO_ROW_ONLY_REF = 3,
    LO_ROW_ONLY_TEST = 4
} lo_row_status;

typedef struct lo_row {
    int ref, test;  /* tensor indices in each dump, -1 when absent */
    char *name;     /* display name: the ONNX name when known, else the file stem */
    lo_row_status status;
    char *error;    /* LO_ROW_ERROR: why */
    int rank;       /* shape used (model layout), -1 unknown (compared flat) */
    int64_t dims[LO_MAX_RANK];
    const char *shape_source; /* "ref manifest", "test manifest", "model", "model run", "npy",
                                 "flat" */
    char *layout_decision;    /* how the layout was chosen, NULL when it was not in question */
    lo_dtype ref_dtype, test_dtype;
    bool ref_channel_last, test_channel_last;
    int n_samples;          /* samples compared */
    lo_metrics *samples;    /* per sample */
    lo_metrics pooled;
    double sqnr;            /* pooled */
    double sqnr_min;        /* per-sample minimum */
    int worst_sample;
    int n_inputs;           /* rows whose SQNR this row's is held against (drop rule) */
    int *inputs;
    double input_sqnr;      /* min SQNR of those rows, NAN when none */
    bool below, drop;       /* flags: below threshold, sharp drop from inputs */
} lo_row;

typedef struct lo_comparison {
    lo_dump ref, test;
    lo_compare_options options;
    bool producers_from_model; /* drop rule used the model's edges, else graph order */
    int n_samples;             /* samples compared */
    int ref_sample0, test_sample0; /* the dumps' sample numbers paired with compared sample 0:
                                      compared sample k is REF's ref_sample0 + k */
    int n_rows;
    lo_row *rows;              /* graph order; unmatched ones are rows too */
    int n_compared, n_pass, n_below, n_error, n_only_ref, n_only_test;
    int first_divergence;      /* row index, -1 when none */
    char *notes;               /* warnings for the user ("" when none) */
    double *isolated;          /* analyze: per row, the layer's isolated SQNR (NAN when
                                  none); NULL for a plain comparison. Reports show it. */
} lo_comparison;

/* Opens both dumps, matches, measures every pair. Errors (status) only for
 * things that stop the whole comparison: unreadable dumps, no common tensor. */
lo_status lo_compare_run(const char *ref_path, const char *test_path,
                         const lo_compare_options *options, lo_comparison **out, lo_error *err);
void lo_comparison_free(lo_comparison *c);

/* Rows ordered worst first (lowest SQNR; errors first). malloc'd array of
 * n_rows indices of compared or error rows; *n receives its length. */
int *lo_comparison_worst(const lo_comparison *c, int *n);

/* ---- reports ------------------------------------------------------------------------ */

/* Terminal summary: table (worst first, top rows; top <= 0: all in graph
 * order), first divergence, unmatched, totals. */
void lo_report_text(const lo_comparison *c, FILE *out, int top);
/* Files, written atomically (tmp then rename). */
lo_status lo_report_csv(const lo_comparison *c, const char *path, lo_error *err);
lo_status lo_report_json(const lo_comparison *c, const char *path, lo_error *err);
lo_status lo_report_html(const lo_comparison *c, const char *path, lo_error *err);

/* Formats a dB value for people: "inf", "-inf", "nan", or "%.2f". */
const char *lo_format_db(double v, char *buf, size_t size);

#endif
