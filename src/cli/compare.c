/* layerout compare: two dumps, layer by layer. Exit status 0 when every
 * compared tensor is at or above the threshold, 1 otherwise (or when a
 * matched pair could not be compared), 2 on error: usable in CI. */
#include <stdio.h>

#include "cli.h"

static const char usage[] =
    "Usage: layerout compare REF TEST [options]\n"
    "\n"
    "Compares two dumps tensor by tensor. REF and TEST are folders written by\n"
    "'layerout generate', by AIMET's LayerOutputUtil, or by qnn-net-run (Result_K\n"
    "folders of float32 .raw files, or one Result_K folder, paired with the other\n"
    "side's sample K). Tensors are matched by name across the ONNX, QNN and PyTorch\n"
    "naming schemes; QNN's channel-last images are read in the model's layout, the\n"
    "layout chosen on all samples together. Every sample's files are size-checked: a\n"
    "short, empty or missing one makes its tensor 'not compared', with the reason.\n"
    "\n"
    "Options:\n"
    "  --model MODEL.onnx   shapes for dumps without a manifest (declared, else found by\n"
    "                       running the model once on REF's inputs), and the model's\n"
    "                       edges for the drop rule (else: the previous tensor)\n"
    "  --sqnr-min DB        threshold (default 30): a tensor passes when its pooled SQNR\n"
    "                       and its SQNR in every sample are at or above it\n"
    "  --drop-db DB         a sharp drop: pooled SQNR more than DB below its inputs'\n"
    "                       (when theirs is finite) and below threshold + DB; default 20\n"
    "  --top N              terminal table: the N worst tensors (default 20); 0 lists\n"
    "                       every tensor in graph order\n"
    "  --csv FILE           RFC 4180, full precision: one row per tensor and sample,\n"
    "                       plus a pooled row (sample 'all')\n"
    "  --json FILE          everything, per sample and pooled, with its conventions\n"
    "  --html FILE          a self-contained page: summary, SQNR chart, sortable table,\n"
    "                       the 'layerout extract' command of every row\n"
    "  --quiet              print nothing but errors\n"
    "\n"
    "Exit status: 0 every tensor passes, 1 some tensor is below the threshold or not\n"
    "comparable, 2 on error.\n";

int cli_compare(int argc, char **argv) {
    const char *paths[2] = {NULL, NULL};
    const char *csv = NULL, *json = NULL, *html = NULL;
    int n_paths, top = 20, quiet = 0;
    lo_compare_settings opt;
    lo_compare_settings_init(&opt);
    const cli_opt opts[] = {
        {"--model", NULL, CLI_TEXT, &opt.model, 0},
        {"--sqnr-min", NULL, CLI_NUMBER, &opt.sqnr_min, 0},
        {"--drop-db", NULL, CLI_NUMBER, &opt.drop_db, 0},
        {"--top", NULL, CLI_COUNT, &top, 1000000},
        {"--csv", NULL, CLI_TEXT, &csv, 0},
        {"--json", NULL, CLI_TEXT, &json, 0},
        {"--html", NULL, CLI_TEXT, &html, 0},
        {"--quiet", "-q", CLI_FLAG, &quiet, 0},
        {0},
    };
    int st = cli_parse(argc, argv, "compare", usage, opts, "two folders, REF and TEST", paths, 2, &n_paths);
    if (st >= 0) return st;
    if (opt.drop_db < 0) return cli_error("--drop-db must not be negative");
    if (n_paths != 2) {
        fputs(usage, stderr);
        return 2;
    }
    opt.top = top;
    opt.text = quiet ? NULL : stdout;
    lo_error err;
    int failing = 0;
    if (lo_compare_dumps(paths[0], paths[1], &opt, json, csv, html, &failing, &err) != LO_OK) return cli_fail(&err);
    return failing ? 1 : 0;
}
