/* layerout compare: two dumps, layer by layer. Exit status 0 when every
 * compared tensor is at or above the threshold, 1 otherwise (or when a
 * matched pair could not be compared), 2 on error: usable in CI. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int parse_double(const char *opt, const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || isnan(v)) return cli_error("%s wants a number, not '%s'", opt, s);
    *out = v;
    return 0;
}

int cli_compare(int argc, char **argv) {
    const char *paths[2] = {NULL, NULL};
    const char *csv = NULL, *json = NULL, *html = NULL;
    int n_paths = 0, top = 20, quiet = 0;
    lo_compare_settings opt;
    lo_compare_settings_init(&opt);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return 0;
        }
        if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            quiet = 1;
            continue;
        }
        bool takes = !strcmp(a, "--model") || !strcmp(a, "--csv") || !strcmp(a, "--json") ||
                     !strcmp(a, "--html") || !strcmp(a, "--sqnr-min") || !strcmp(a, "--top") ||
                     !strcmp(a, "--drop-db");
        if (takes && !v) return cli_error("%s needs a value (see 'layerout compare --help')", a);
        if (!strcmp(a, "--model")) opt.model = v;
        else if (!strcmp(a, "--csv")) csv = v;
        else if (!strcmp(a, "--json")) json = v;
        else if (!strcmp(a, "--html")) html = v;
        else if (!strcmp(a, "--sqnr-min")) {
            if (parse_double(a, v, &opt.sqnr_min)) return 2;
        } else if (!strcmp(a, "--drop-db")) {
            if (parse_double(a, v, &opt.drop_db)) return 2;
            if (opt.drop_db < 0) return cli_error("--drop-db must not be negative");
        } else if (!strcmp(a, "--top")) {
            char *end;
            long t = strtol(v, &end, 10);
            if (end == v || *end || t < 0 || t > 1000000) return cli_error("--top wants a count, not '%s'", v);
            top = (int)t;
        } else if (a[0] == '-' && a[1]) {
            return cli_error("compare: unknown option '%s' (see 'layerout compare --help')", a);
        } else {
            if (n_paths == 2) return cli_error("compare takes two folders, REF and TEST; '%s' is a third", a);
            paths[n_paths++] = a;
            continue;
        }
        i++;
    }
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
