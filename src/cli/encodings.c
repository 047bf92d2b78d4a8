/* layerout encodings: what an AIMET encodings file holds, and (with a model)
 * which of its names the model lacks. Exit status 0, or 2 on any error. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "Usage: layerout encodings FILE [--model MODEL.onnx]\n"
    "\n"
    "Summarizes an AIMET encodings file (versions 0.6.1, 1.0.0, 2.0.0): its version,\n"
    "how many encodings are for parameters and for activations, their bit widths and\n"
    "types, how many are per-tensor, per-channel, per-block and LPBQ, and the names\n"
    "in excluded_layers. With --model, the encodings are checked against the model\n"
    "(per-channel counts against weight shapes) and the names it does not have are\n"
    "listed; a 2.0.0 file's entries are then told apart as parameters (initializers)\n"
    "and activations.\n"
    "\n"
    "Exit status: 0, or 2 when the file (or the model) cannot be read or does not fit.\n";

/* A small tally of labels in first-seen order. */
typedef struct tally {
    int n;
    char label[64][48];
    int count[64];
} tally;

static void tally_add(tally *t, const char *label) {
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->label[i], label)) {
            t->count[i]++;
            return;
        }
    if (t->n == 64) return;
    snprintf(t->label[t->n], sizeof t->label[0], "%s", label);
    t->count[t->n++] = 1;
}

static void tally_print(const char *title, const tally *t) {
    printf("%-13s", title);
    if (!t->n) printf(" none");
    for (int i = 0; i < t->n; i++) printf("%s %s: %d", i ? "," : "", t->label[i], t->count[i]);
    printf("\n");
}

int cli_encodings(int argc, char **argv) {
    static const struct option longopts[] = {{"model", required_argument, 0, 'm'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *model = NULL;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "m:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        fputs(usage, stderr);
        return cli_error("encodings: expected one encodings FILE");
    }
    const char *path = argv[optind];
    lo_error err;
    lo_encodings *e;
    if (lo_encodings_load(path, model, &e, &err) != LO_OK) return cli_fail(&err);
    int n = lo_encodings_count(e), params = 0, acts = 0, unknown = 0, excluded = 0;
    tally types = {0}, grans = {0};
    static const char *gran_names[] = {"per-tensor", "per-channel", "per-block", "lpbq"};
    for (int i = 0; i < n; i++) {
        lo_encoding_summary info;
        lo_encodings_get(e, i, &info);
        if (info.kind == LO_ENCODING_PARAM) params++;
        else if (info.kind == LO_ENCODING_ACTIVATION) acts++;
        else unknown++;
        excluded += info.excluded;
        char label[48];
        if (info.is_float) snprintf(label, sizeof label, "%s", info.dtype);
        else snprintf(label, sizeof label, "%s %s", info.dtype, info.symmetry);
        tally_add(&types, label);
        tally_add(&grans, info.is_float ? "float cast" : gran_names[info.granularity]);
    }
    printf("file:        %s\n", path);
    printf("version:     %s\n", lo_encodings_version(e));
    printf("encodings:   %d (param: %d, activation: %d", n, params, acts);
    if (unknown) printf(", not yet known: %d; give --model to tell them apart", unknown);
    printf(")\n");
    tally_print("types:", &types);
    tally_print("granularity:", &grans);
    int n_excluded = lo_encodings_excluded_count(e);
    printf("excluded:    %d name%s in excluded_layers", n_excluded, n_excluded == 1 ? "" : "s");
    for (int i = 0; i < n_excluded; i++) printf("%s %s", i ? "," : ":", lo_encodings_excluded(e, i));
    printf("; %d encoding%s left unapplied\n", excluded, excluded == 1 ? "" : "s");
    if (model) {
        const char *missing = lo_encodings_missing(e);
        if (missing) printf("model:       %s: %s\n", model, missing);
        else printf("model:       %s: has every tensor the encodings name\n", model);
    }
    lo_encodings_free(e);
    return 0;
}
